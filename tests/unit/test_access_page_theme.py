"""The theme values the MCP access page splices into its CSS."""

from superset_mcp_jwt.access_page import _CSS_DEFAULTS, _theme_css


def test_superset_theme_values_are_used():
    tokens = {"colorPrimary": "#123abc", "fontFamily": "'Open Sans', Arial, sans-serif"}
    css = _theme_css({"theme_tokens": tokens})
    assert css["colorPrimary"] == "#123abc" and css["fontFamily"] == "'Open Sans', Arial, sans-serif"
    assert css["fontFamilyCode"] == _CSS_DEFAULTS["fontFamilyCode"]


def test_values_that_could_leave_the_style_element_fall_back_to_the_defaults():
    hostile = {"colorPrimary": "red;}</style><script>alert(1)</script>",
               "fontFamily": "Arial /* x */", "fontFamilyCode": ["not", "a", "string"]}
    assert _theme_css({"theme_tokens": hostile}) == _CSS_DEFAULTS
    assert _theme_css(None) == _CSS_DEFAULTS  # outside Superset
