# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# axe-core for the page walk's accessibility checks (tests/pages/axe/package-lock.json pins it)
AXE    := tests/pages/axe/node_modules/axe-core/axe.min.js

NODE_DEPS := tests/independent/node_modules/.package-lock.json

.PHONY: demo test venv system-deps node-deps lint bench clean

$(STAMP): pyproject.toml setup.py constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $@

venv: $(STAMP)

## make demo: set up and run the whole product on the embedded defaults (SQLite + the Moodle emulator)
demo: $(STAMP)
	$(BIN)/credbridge demo $(DEMO_ARGS)

## make test: set up and pass the whole test suite (SQLite, PostgreSQL, headless Chromium, the npm verifiers, axe-core)
test: $(STAMP) node-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

$(AXE): tests/pages/axe/package.json tests/pages/axe/package-lock.json
	npm ci --prefix tests/pages/axe --ignore-scripts --no-audit --no-fund
	@touch $@

# Debian's PostgreSQL server and Chromium are installed when we are root; otherwise say what is missing.
system-deps:
	@bash deploy/scripts/system-deps.sh

# The independent verifiers (tests/independent): exactly the versions in package-lock.json.
$(NODE_DEPS): tests/independent/package.json tests/independent/package-lock.json
	npm ci --prefix tests/independent --no-audit --no-fund --loglevel=error

node-deps: system-deps $(NODE_DEPS) $(AXE)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache tests/independent/node_modules
