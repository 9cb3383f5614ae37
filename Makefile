# Every command a developer or CI needs. `make demo` and `make test` each set up
# what they need on a fresh machine (a venv with Superset 6.1.0 and this package).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv services demo test bench clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml requirements/superset-6.1.txt
	@echo "== creating $(VENV) with Superset 6.1.0 and superset-mcp-jwt (first run: about 2 minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/superset-6.1.txt -e '.[test]'
	touch $(STAMP)

demo: venv
	$(BIN)/python -m demo.run_demo

# Debian packages the tests drive: Chromium (token page), redis-server (revocation store),
# postgresql (a throw-away metadata DB the tests start themselves; the package's own
# cluster service is not needed). The server binaries live in /usr/lib/postgresql/<N>/bin.
services:
	@command -v chromium >/dev/null && command -v redis-server >/dev/null \
	  && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "== installing Debian's chromium, redis-server and postgresql for the tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium redis-server postgresql >/dev/null; }

test: venv services
	$(BIN)/python -m pytest

# Prints the benchmark table (needs the demo's Superset home: built on first use).
bench: venv
	$(BIN)/python -m bench.run_bench

clean:
	rm -rf $(VENV) .demo .pytest_cache
