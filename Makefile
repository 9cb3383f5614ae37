# Every command a developer or CI needs. `make demo` and `make test` each set up
# what they need on a fresh machine: a venv with Superset 6.1.0 and this package
# installed from the wheel built here (never from the checkout, never editable).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DIST := dist

.PHONY: venv dist install dist-check services demo test docs bench mutate screenshots clean

# Superset 6.1.0, the test and build tools, and the package's dependencies
# (from setup.cfg). Redone when one of those lists changes.
$(STAMP): setup.cfg pyproject.toml requirements/superset-6.1.txt requirements/dist.txt requirements/docs.txt
	@echo "== creating $(VENV) with Superset 6.1.0 and superset-mcp-jwt's dependencies (first run: about 2 minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/superset-6.1.txt -r requirements/dist.txt -r requirements/docs.txt '.[test]'
	touch $(STAMP)

# The sdist, then the wheel built from the unpacked sdist: a file missing from
# the sdist breaks the build here rather than for a user.
dist: $(STAMP)
	rm -rf $(DIST)
	$(BIN)/python -m build --outdir $(DIST) . >$(VENV)/build.log 2>&1 || { cat $(VENV)/build.log; exit 1; }
	rm -rf superset_mcp_jwt.egg-info build
	@ls $(DIST)

# The wheel just built replaces whatever is installed (on every run, so the
# tests always see the current sources as shipped).
install: dist
	$(BIN)/pip install --quiet --no-deps --force-reinstall $(DIST)/*.whl

venv: install

# What CI checks on the artifacts: metadata and README render (twine), and the
# sdist holding every file under version control that it should (check-manifest).
dist-check: dist
	$(BIN)/twine check --strict $(DIST)/*
	$(BIN)/check-manifest

demo: venv services
	$(BIN)/python -m demo.run_demo

# Debian packages the tests drive: Chromium (token page), redis-server (revocation store),
# postgresql (a throw-away metadata DB the tests start themselves; the package's own
# cluster service is not needed). The server binaries live in /usr/lib/postgresql/<N>/bin.
services:
	@command -v chromium >/dev/null && command -v redis-server >/dev/null \
	  && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "== installing Debian's chromium, redis-server and postgresql for the tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium redis-server postgresql >/dev/null; }

# The official MCP TypeScript SDK client the step-up tests run (pinned by its package-lock).
TS_CLIENT := tests/ts_client
$(TS_CLIENT)/node_modules/.installed: $(TS_CLIENT)/package.json $(TS_CLIENT)/package-lock.json
	@command -v npm >/dev/null || { echo "== installing Debian's nodejs and npm for the TypeScript SDK client"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	npm ci --prefix $(TS_CLIENT) --no-audit --no-fund --loglevel=error
	touch $@

# $(BIN)/pytest, not `python -m pytest`: the latter puts the checkout first on
# sys.path, and the tests would import ./superset_mcp_jwt instead of the wheel.
test: venv services docs $(TS_CLIENT)/node_modules/.installed
	$(BIN)/pytest

# Mermaid's minified browser build, for the site's diagrams without a CDN: taken
# from the npm registry with npm (Debian's package if missing), version pinned and
# the file checked against its SHA-256; its MIT licence is kept beside it. Not in
# git (3.6 MB of minified JavaScript) and not in the sdist; the built site holds it.
# Fetched again only when the version changes (the .version-* stamp).
MERMAID_VERSION := 11.17.2
MERMAID_SHA256 := 581ed7d74bd9048d0e3a91363927d72ef22942d7722546b27f7cc29e35390eb8
MERMAID_DIR := docs/assets/vendor
MERMAID_STAMP := $(MERMAID_DIR)/.version-$(MERMAID_VERSION)

# The documentation site, from docs/ and mkdocs.yml into site/ (git-ignored), in
# strict mode: a broken link or anchor, or a page missing from nav, fails.
# `$(BIN)/mkdocs serve` previews it while editing.
docs: $(STAMP) $(MERMAID_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	@echo "== the site is in site/ (open site/index.html)"

$(MERMAID_STAMP):
	@command -v npm >/dev/null || { echo "== installing Debian's npm (to fetch mermaid)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
	rm -rf $(MERMAID_DIR) && mkdir -p $(MERMAID_DIR)/.pack
	cd $(MERMAID_DIR)/.pack && npm pack --silent mermaid@$(MERMAID_VERSION) >/dev/null
	tar -xzf $(MERMAID_DIR)/.pack/mermaid-$(MERMAID_VERSION).tgz -C $(MERMAID_DIR)/.pack package/dist/mermaid.min.js package/LICENSE
	echo "$(MERMAID_SHA256)  $(MERMAID_DIR)/.pack/package/dist/mermaid.min.js" | sha256sum --check --quiet
	mv $(MERMAID_DIR)/.pack/package/LICENSE $(MERMAID_DIR)/mermaid.LICENSE
	mv $(MERMAID_DIR)/.pack/package/dist/mermaid.min.js $(MERMAID_DIR)/mermaid.min.js
	rm -rf $(MERMAID_DIR)/.pack
	touch $(MERMAID_STAMP)

# Prints the benchmark table (needs the demo's Superset home: built on first use).
bench: venv
	$(BIN)/python -m bench.run_bench

# The documentation's screenshots (docs/images/*.png) from a real `superset run` in headless Chromium.
screenshots: venv services
	$(BIN)/python -m demo.screenshots

# Mutation testing of the core modules (tokens, keys, settings, identity,
# revocation, and the OAuth core in oauth/) against the fast tests, with mutmut (configured in setup.cfg);
# prints the score per module. Not run in CI: about an hour on two idle cores.
# A fresh run each time (mutmut would otherwise reuse mutants/ from the last).
MUTMUT ?= mutmut==3.8.1
MUTATE_JOBS ?= 2
mutate: venv
	$(BIN)/pip install --quiet "$(MUTMUT)"
	rm -rf mutants
	nice -n 10 $(BIN)/mutmut run --max-children $(MUTATE_JOBS) > mutants.log 2>&1 || { tail -c 3000 mutants.log; exit 1; }
	$(BIN)/python tests/mutation_score.py


clean:
	rm -rf $(VENV) $(DIST) build superset_mcp_jwt.egg-info .demo .pytest_cache mutants mutants.log site $(MERMAID_DIR) $(TS_CLIENT)/node_modules
