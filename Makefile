# Everything a fresh machine needs: `make demo` runs the product, `make test` runs every suite.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NPM_DIR := tests/npm

.PHONY: install system-deps npm-deps demo test test-unit test-integration bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests need; installed only when we are root and they are missing.
system-deps:
	@if ! command -v npm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q nodejs npm; \
	  else echo "npm is missing: install Node.js and npm, then re-run"; exit 1; fi; \
	fi

$(NPM_DIR)/node_modules/.installed: $(NPM_DIR)/package.json $(NPM_DIR)/package-lock.json
	cd $(NPM_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

npm-deps: system-deps $(NPM_DIR)/node_modules/.installed

demo: $(STAMP)
	$(PY) -m mcp_acp.demo

test: $(STAMP) npm-deps
	$(VENV)/bin/pytest -q -p no:cacheprovider -n 4

bench: $(STAMP) npm-deps
	$(PY) bench/overhead.py

clean:
	rm -rf $(VENV) $(NPM_DIR)/node_modules
