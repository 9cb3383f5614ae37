"""The documentation site: built by MkDocs from docs/, reachable from the README,
in step with the code, and its diagrams drawn by a real browser with no CDN.

The site is built once per module in strict mode (about 2 s) into a temporary
directory, served on loopback, and opened in Debian's Chromium.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import click
import pytest
import yaml

from superset_mcp_jwt import Reason
from superset_mcp_jwt.cli import mcp_jwt, standalone
from superset_mcp_jwt.oauth import metadata as oauth_metadata
from superset_mcp_jwt.oauth.resource import WELL_KNOWN

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text()
#: Where the README's links point: the pages as GitHub shows them (the README is
#: also PyPI's project description, where relative links would break).
BLOB = "https://github.com/superset-mcp-jwt/superset-mcp-jwt/blob/main/"
#: Where its images come from: the files themselves, as GitHub serves them.
RAW = "https://raw.githubusercontent.com/superset-mcp-jwt/superset-mcp-jwt/main/"
MERMAID = DOCS / "assets" / "vendor" / "mermaid.min.js"


class _Loader(yaml.SafeLoader):
    """mkdocs.yml's one Python tag (the Mermaid fence's formatter) read as plain text."""


_Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: suffix)
CONFIG = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_Loader)


def _nav_pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return [page for item in nav for page in _nav_pages(item)]


NAV = _nav_pages(CONFIG["nav"])


def _mkdocs(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True, text=True, timeout=120, env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )


def test_every_page_is_in_nav_and_every_nav_entry_is_a_page():
    pages = sorted(str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md"))
    assert sorted(NAV) == pages
    assert len(NAV) == len(set(NAV))
    for page in NAV:  # one title per page, on its first line
        lines = re.sub(r"^```.*?^```", "", (DOCS / page).read_text(), flags=re.M | re.S).splitlines()
        assert lines[0].startswith("# "), page
        assert not [line for line in lines[1:] if line.startswith("# ")], page


def test_the_readme_is_a_front_page_that_links_to_every_page():
    assert len(README.splitlines()) < 200
    targets = re.findall(r"\]\(([^)\s]+)\)", README)
    assert all(target.startswith("https://") for target in targets), [
        t for t in targets if not t.startswith("https://")
    ]
    linked = {target[len(BLOB) + len("docs/"):].split("#")[0]
              for target in targets if target.startswith(BLOB + "docs/")}
    assert set(NAV) <= linked, f"not linked from the README: {sorted(set(NAV) - linked)}"
    assert linked <= set(NAV), f"README links to no such page: {sorted(linked - set(NAV))}"
    for target in targets:  # every other file it links to, or shows, exists in the repository
        for prefix in (BLOB, RAW):
            if target.startswith(prefix):
                assert (ROOT / target[len(prefix):].split("#")[0]).is_file(), target
    images = re.findall(r"!\[[^\]]+\]\(([^)\s]+)\)", README)
    assert images and all(image.startswith(RAW + "docs/images/") for image in images), images


def test_the_readme_has_the_two_commands_and_the_one_line_enablement():
    assert "make demo" in README and "make test" in README
    assert "FLASK_APP_MUTATOR = superset_mcp_jwt.init_app" in README


def test_every_reason_code_is_documented_with_its_answer():
    page = (DOCS / "reference" / "errors.md").read_text()
    rows = {m.group(1): m.groups()[1:] for m in re.finditer(
        r"^\| `(\w+)` \| (\d{3}) \| (.+?) \| (yes|no) \|", page, re.M)}
    assert set(rows) == {reason.code for reason in Reason}
    for reason in Reason:
        status, error, signed = rows[reason.code]
        assert int(status) == reason.status, reason
        assert (error.strip("`") if reason.error else None) == reason.error or (
            reason.error is None and "bare challenge" in error), reason
        assert (signed == "yes") == reason.signed, reason


def _commands(group: click.Group, prefix: str) -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}", command


def test_the_cli_reference_lists_every_command_and_option():
    page = (DOCS / "reference" / "cli.md").read_text()
    sections = dict(re.findall(r"^### `([^`]+)`\n(.*?)(?=^##)", page + "\n##", re.M | re.S))
    commands = dict(_commands(mcp_jwt, "superset mcp-jwt")) | dict(_commands(standalone, "superset-mcp-jwt"))
    assert set(sections) == set(commands)
    for name, command in commands.items():
        options = {opt for param in command.params if isinstance(param, click.Option)
                   for opt in param.opts if opt.startswith("--")}
        documented = set(re.findall(r"^\| `(--[\w-]+)", sections[name], re.M))
        assert documented == options, name


def test_every_url_path_the_server_serves_is_documented():
    site = "\n".join(path.read_text() for path in DOCS.rglob("*.md"))
    paths = [value for name, value in vars(oauth_metadata).items() if name.endswith("_PATH")]
    assert len(paths) == 6
    for path in [*paths, WELL_KNOWN, WELL_KNOWN + "/mcp", "/mcp-access/", "/mcp-token/"]:
        assert f"`{path}`" in site, path


def test_strict_mode_fails_on_a_broken_link(tmp_path):
    shutil.copytree(DOCS, tmp_path / "docs", ignore=shutil.ignore_patterns("vendor"))
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "getting-started.md"
    page.write_text(page.read_text() + "\nSee [nowhere](no-such-page.md).\n")
    result = _mkdocs(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-page.md" in result.stderr


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[str]:
    """The site built in strict mode, served on a free loopback port."""
    assert MERMAID.is_file(), "mermaid is vendored by `make docs`: run it first"
    out = tmp_path_factory.mktemp("site")
    result = _mkdocs(ROOT / "mkdocs.yml", out)
    assert result.returncode == 0, result.stderr
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _pages_with_diagrams() -> dict[str, int]:
    counts = {page: len(re.findall(r"^```mermaid$", (DOCS / page).read_text(), re.M)) for page in NAV}
    return {page: count for page, count in counts.items() if count}


def _rendered_svgs(cdp: Any) -> list[dict[str, str]]:
    """The <svg> inside each diagram: the theme draws them in closed shadow roots, which only
    the DevTools protocol (pierce) can see into."""
    root = cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"]
    found: list[dict[str, str]] = []

    def walk(node: dict[str, Any], in_diagram: bool) -> None:
        attributes = dict(zip(node.get("attributes", [])[::2], node.get("attributes", [])[1::2]))
        if in_diagram and node.get("nodeName") == "svg":
            found.append(attributes)
            return
        diagram = node.get("nodeName") == "DIV" and "mermaid" in attributes.get("class", "").split()
        for child in node.get("children", []) + node.get("shadowRoots", []):
            walk(child, in_diagram or diagram)

    walk(root, False)
    return found


def test_every_diagram_renders_to_svg_in_chromium_without_leaving_the_site(site):
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import sync_playwright

    from demo.browser import launch

    pages = _pages_with_diagrams()
    assert {"operators/oauth.md", "internals/how-it-works.md"} <= set(pages)
    outside: list[str] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)

            def only_the_site(route: Any) -> None:
                if urlsplit(route.request.url).hostname == "127.0.0.1":
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", only_the_site)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            cdp = page.context.new_cdp_session(page)
            for source, count in pages.items():
                page.goto(f"{site}/{source[:-3]}.html")
                try:  # the theme swaps each <pre class="mermaid"> for a drawn <div class="mermaid">
                    page.wait_for_function(
                        "n => document.querySelectorAll('div.mermaid').length >= n"
                        " && !document.querySelector('pre.mermaid')", arg=count, timeout=30_000)
                except PlaywrightTimeoutError:
                    pytest.fail(f"{source}: diagrams not drawn; page errors: {errors}")
                svgs = _rendered_svgs(cdp)
                assert len(svgs) == count, source
                for svg in svgs:
                    kind = svg.get("aria-roledescription", "")
                    assert kind in ("sequence", "flowchart-v2"), (source, kind)  # "error" on a syntax error
                    assert float(svg["viewBox"].split()[2]) > 300, (source, svg["viewBox"])
            assert errors == [], errors
        finally:
            browser.close()
    assert outside == [], f"the site asked for files from elsewhere: {outside}"
