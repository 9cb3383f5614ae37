# Every command a developer or CI needs. `make demo` and `make test` each set up
# what they need on a fresh machine (a venv with Superset 6.1.0 and this package).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv services demo test bench mutate clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml requirements/superset-6.1.txt
	@echo "== creating $(VENV) with Superset 6.1.0 and superset-mcp-jwt (first run: about 2 minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/superset-6.1.txt -e '.[test]'
	touch $(STAMP)

demo: venv
	$(BIN)/python -m demo.run_demo

# Debian packages the tests drive: Chromium (token page), redis-server (revocation store).
services:
	@command -v chromium >/dev/null && command -v redis-server >/dev/null || { \
	  echo "== installing Debian's chromium and redis-server for the tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium redis-server >/dev/null; }

test: venv services
	$(BIN)/python -m pytest

# Prints the benchmark table (needs the demo's Superset home: built on first use).
bench: venv
	$(BIN)/python -m bench.run_bench

# Mutation testing of the core modules (tokens, keys, settings, identity,
# revocation) against the fast tests, with mutmut (configured in setup.cfg);
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
	rm -rf $(VENV) .demo .pytest_cache mutants mutants.log
