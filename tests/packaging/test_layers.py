"""The import graph reads top-down: core, then faces, then the composition root; no circles.

Read from the installed package's sources (lazy imports inside functions count;
``if TYPE_CHECKING:`` blocks do not). The layers:

* core — knows neither Flask nor FastMCP (nor Superset, Starlette, MCP, WTForms):
  settings, keys, tokens, identity, revocation, authn, and the OAuth core in ``oauth/``;
* faces — the Flask guard, the MCP-server provider, the OAuth endpoints, the pages, the CLI,
  and every touch of Superset (``superset_compat/``); they find the manager through
  ``registry`` at request time, never by importing the root;
* root — ``manager`` (and the package's ``__init__``), which wires faces to the core.
"""

from __future__ import annotations

import ast
from pathlib import Path

import superset_mcp_jwt

PACKAGE = Path(superset_mcp_jwt.__file__).resolve().parent
NAME = "superset_mcp_jwt"

CORE = {"errors", "values", "bounded", "keys", "settings", "tokens", "identity", "revocation", "authn",
        "oauth"}
FACES = {"registry", "flask_guard", "mcp_server", "oauth_views", "access_page", "pages", "cli",
         "superset_compat"}
ROOT = {"manager", ""}
#: What the core may not import: web frameworks, MCP, Superset and their form/UI libraries.
FRAMEWORKS = {"flask", "flask_appbuilder", "flask_login", "flask_wtf", "flask_caching", "werkzeug",
              "wtforms", "fastmcp", "mcp", "starlette", "anyio", "uvicorn", "superset", "jinja2",
              "markupsafe"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(module: str) -> tuple[set[str], set[str]]:
    """(modules of the package, top-level third-party packages) that ``module`` imports at run time."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
        for statement in branch.body
        for node in ast.walk(statement)
    }
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    internal: set[str] = set()
    external: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                (internal if alias.name.split(".")[0] == NAME else external).add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module.split(".")[0] == NAME:
                    internal.add(node.module)
                else:
                    external.add(node.module.split(".")[0])
                continue
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            # `from . import name`: the submodule `name`, when there is one.
            submodules = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
            internal.update(submodules or [target])
    return internal, external


def layer(module: str) -> str:
    top = module.removeprefix(NAME).lstrip(".").split(".")[0]
    for name, members in (("core", CORE), ("face", FACES), ("root", ROOT)):
        if top in members:
            return name
    raise AssertionError(f"{module} belongs to no layer: add it to CORE, FACES or ROOT in {__file__}")


def test_every_module_has_a_layer():
    assert {layer(module) for module in MODULES} == {"core", "face", "root"}


def test_the_core_imports_neither_faces_nor_frameworks():
    for module in MODULES:
        if layer(module) != "core":
            continue
        internal, external = imports(module)
        assert {layer(target) for target in internal} <= {"core"}, (module, internal)
        assert not external & FRAMEWORKS, (module, external & FRAMEWORKS)


def test_faces_never_import_the_composition_root():
    for module in MODULES:
        if layer(module) == "face":
            internal, _ = imports(module)
            assert {layer(target) for target in internal} <= {"core", "face"}, (module, internal)


def test_there_are_no_import_circles():
    graph = {module: {t for t in imports(module)[0] if t in MODULES and t != module} for module in MODULES}
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                circles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_the_checks_see_real_edges():
    """Controls: edges known to exist are found, lazy imports included."""
    assert f"{NAME}.mcp_server" in imports(f"{NAME}.superset_compat.permissions")[0]  # inside a function
    assert f"{NAME}.superset_compat" in imports(f"{NAME}.manager")[0]
    assert "flask" in imports(f"{NAME}.flask_guard")[1]
    assert "authlib" in imports(f"{NAME}.oauth.grants")[1]
