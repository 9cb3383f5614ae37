"""Nothing was lost when the README and SECURITY.md moved into the documentation site.

Reads both files as they were before the move (from git, at ``BEFORE``) and checks
that the site (docs/) holds: every section (each old heading, mapped to the page
and heading it now lives under), every inline code span (keys, values, commands,
paths, reason codes, test names), every line of every code block, and every number.

A fact may leave the site only by being listed in ``CHANGED`` with what replaced it.
Needs the repository's history: skipped in an unpacked sdist or a shallow clone.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: The last commit with the 1,230-line README and the full SECURITY.md.
BEFORE = "6da2f22fcb2d13303cac2eafbf1cb3d3588f8839"

#: Old heading -> "page" or "page#anchor" (its MkDocs anchor) where that section lives now.
SECTIONS = {
    "README.md": {
        "superset-mcp-jwt": "index.md#why-it-exists",
        "Two commands": "getting-started.md#two-commands",
        "Installing": "getting-started.md#install",
        "The official Docker image": "operators/docker-helm.md#the-official-docker-image",
        "The Helm chart": "operators/docker-helm.md#the-helm-chart",
        "Enabling it": "getting-started.md#enable-it",
        "OAuth: Superset as the authorization server": "operators/oauth.md",
        "Tokens": "operators/tokens.md",
        "From the command line": "operators/tokens.md#from-the-command-line",
        'From the Superset UI: the "MCP access" page': "operators/tokens.md#from-the-superset-ui-the-mcp-access-page",
        "Connecting an MCP client": "clients/index.md",
        "Claude.ai and Claude Desktop (custom connector)": "clients/claude-ai.md#what-you-click",
        "ChatGPT (connector / app in developer mode)": "clients/chatgpt.md#what-you-click",
        "Claude Code": "clients/claude-code.md#what-you-type",
        "Cursor and VS Code": "clients/cursor.md#what-you-do",
        "Claude Desktop's config file and other local-only clients: `mcp-remote`": "clients/mcp-remote.md#what-you-configure",
        "Running behind a reverse proxy": "operators/reverse-proxy.md",
        "What is checked, and what a client is told": "reference/errors.md#what-is-checked-and-what-a-client-is-told",
        "Audit": "reference/errors.md#audit",
        "Debug errors": "reference/errors.md#debug-errors",
        "Configuration": "reference/configuration.md",
        "OAuth keys": "reference/configuration.md#oauth-keys",
        "Start-up refuses unsafe configurations": "reference/configuration.md#start-up-refuses-unsafe-configurations",
        "Key modes": "operators/key-modes.md",
        "HS256/384/512 with a shared secret (Superset's documented setup)":
            "operators/key-modes.md#hs256384512-with-a-shared-secret-supersets-documented-setup",
        "RS256/384/512, PS256/384/512, ES256/384/512, EdDSA with a public key":
            "operators/key-modes.md#rs256384512-ps256384512-es256384512-eddsa-with-a-public-key",
        "An identity provider's JWKS (Keycloak, Okta, Entra ID, Auth0)":
            "operators/key-modes.md#an-identity-providers-jwks-keycloak-okta-entra-id-auth0",
        "Scopes": "operators/scopes.md",
        "Revocation": "operators/revocation.md",
        "When a dependency is down": "operators/outages.md",
        "Mapping tokens to users yourself": "operators/key-modes.md#mapping-tokens-to-users-yourself",
        "Public API": "reference/api.md",
        "How it works": "internals/how-it-works.md#modules",
        "Production": "operators/production.md",
        "Performance": "internals/performance.md",
        "Judgement calls": "judgement-calls.md",
        "Tests": "internals/testing.md",
        "Mutation testing: `make mutate`": "internals/testing.md#mutation-testing-make-mutate",
    },
    "SECURITY.md": {
        "Security": "security/index.md",
        "Reporting a vulnerability": "security/index.md#reporting-a-vulnerability",
        "Threat model": "security/threat-model.md",
        "Who attacks, what they hold, what we guarantee": "security/threat-model.md#who-attacks-what-they-hold-what-we-guarantee",
        "What we do not guarantee": "security/threat-model.md#what-we-do-not-guarantee",
        "RFC 8725 §3 checklist": "security/index.md#rfc-8725-3-checklist",
        "RFC 6750 and the MCP authorization specification":
            "security/index.md#rfc-6750-and-the-mcp-authorization-specification",
        "OAuth 2.1: Superset as the authorization server (`MCP_OAUTH_ENABLED`)":
            "security/index.md#oauth-21-superset-as-the-authorization-server-mcp_oauth_enabled",
        "The security test suite": "security/tested.md#the-security-test-suite",
        "Defects found by the suite": "security/tested.md#defects-found-by-the-suite",
    },
}

#: Old fact (a code span, a code line or a number) -> what replaced it, and why.
#: Add an entry when a change to the code makes an old fact untrue.
CHANGED: dict[str, str] = {
    "  superset_compat.py every touch of Superset internals, with version detection":
        "superset_compat/ became a package, a module per concern and Superset shape (how-it-works.md)",
    "superset_compat.py": "the superset_compat/ package",
    "    store.py           SQLAlchemy Core tables; single-winner codes and refresh tokens":
        "refresh tokens have a grace window since issue 17 (how-it-works.md: store.py's line says so)",
    '  access_page.py     the "MCP access" page /mcp-access/ (URL, connected apps, token minting)':
        "the page has an Activity section since issue 19 (how-it-works.md: access_page.py's line says so)",
    "    clients.py         RFC 7591 registration, Client ID Metadata Documents (SSRF-safe fetch)":
        "registration is public and confidential, and swept, since issue 17 (how-it-works.md: clients.py's line)",
}


def _old(name: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "show", f"{BEFORE}:{name}"],
                              capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"needs the git history (commit {BEFORE[:7]}): not in an sdist or a shallow clone")


def _site() -> str:
    return "\n".join(path.read_text() for path in sorted(DOCS.rglob("*.md")))


def _flat(text: str) -> str:
    return " ".join(text.split())


def _slug(heading: str) -> str:
    """Python-Markdown's toc anchor for a heading (MkDocs' default)."""
    text = re.sub(r"[^\w\s-]", "", heading.replace("`", "")).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _headings(text: str) -> list[str]:
    body = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return [line.lstrip("#").strip() for line in body.splitlines() if re.match(r"#{1,6} ", line)]


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_every_old_section_has_a_page(name):
    old = _headings(_old(name))
    assert sorted(old) == sorted(SECTIONS[name]), "map every heading of the old file"
    for heading, target in SECTIONS[name].items():
        page, _, anchor = target.partition("#")
        assert (DOCS / page).is_file(), target
        if anchor:
            assert anchor in {_slug(h) for h in _headings((DOCS / page).read_text())}, target


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_every_old_fact_is_on_the_site(name):
    old = _old(name)
    site = _flat(_site())
    fences = re.findall(r"^```[^\n]*\n(.*?)^```", old, re.M | re.S)
    prose = re.sub(r"^```.*?^```", "", old, flags=re.M | re.S)
    spans = set(re.findall(r"`([^`\n]+)`", prose))
    lines = {line for fence in fences for line in fence.splitlines() if line.strip()}
    numbers = set(re.findall(r"(?<![\w.])\d[\d,.]*\d(?!\w)|(?<![\w.])\d(?![\w.,])", prose))
    assert len(spans) > 250 and len(numbers) > 30  # the extraction found the old file's facts
    missing = sorted(fact for fact in spans | lines | numbers
                     if _flat(fact) not in site and fact not in CHANGED)
    assert missing == [], f"{name}: facts no longer on the site: {missing}"
