# Everything a fresh machine needs: `make demo` runs the product, `make test` runs every suite.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NPM_DIR := tests/npm
CONFORMANCE := tests/conformance
WEB     := web
STATIC  := src/mcp_acp/web/static

.PHONY: install system-deps npm-deps web web-deps web-check demo lint test test-keychain test-unit test-integration bench clean

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
	@if ! command -v gnome-keyring-daemon >/dev/null 2>&1 || ! command -v dbus-run-session >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q --no-install-recommends gnome-keyring dbus; \
	  else echo "gnome-keyring or dbus is missing (the keychain tests need a Secret Service): install both, then re-run"; exit 1; fi; \
	fi
	@if ! test -x /usr/bin/chromium; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q --no-install-recommends chromium; \
	  else echo "Debian's chromium is missing (the browser tests drive /usr/bin/chromium): apt-get install chromium, then re-run"; exit 1; fi; \
	fi
# The shared-state, replica and export tests start their own redis-server, haproxy and rsyslogd (with
# its TLS module) on free ports, and the replicas' bench loads them with wrk; a policy-rc.d keeps the
# packages from starting the system services.
	@if ! test -x /usr/bin/redis-server || ! test -x /usr/sbin/haproxy || ! test -x /usr/sbin/rsyslogd \
	    || ! ls /usr/lib/*-linux-gnu/rsyslog/lmnsd_gtls.so >/dev/null 2>&1 || ! command -v wrk >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    own_policy=; if ! test -e /usr/sbin/policy-rc.d; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1; fi; \
	    apt-get update -q && apt-get install -y -q --no-install-recommends redis-server haproxy rsyslog rsyslog-gnutls wrk; status=$$?; \
	    if [ -n "$$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $$status; \
	  else echo "redis-server, haproxy, rsyslog, rsyslog-gnutls or wrk is missing (the shared-state, replica, export and bench tests start them): apt-get install redis-server haproxy rsyslog rsyslog-gnutls wrk, then re-run"; exit 1; fi; \
	fi

$(NPM_DIR)/node_modules/.installed: $(NPM_DIR)/package.json $(NPM_DIR)/package-lock.json
	cd $(NPM_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The official conformance suite, with the Node >= 22 it needs taken from the npm registry.
$(CONFORMANCE)/node_modules/.installed: $(CONFORMANCE)/package.json $(CONFORMANCE)/package-lock.json
	cd $(CONFORMANCE) && npm ci --no-audit --no-fund --loglevel=error
	test -x $(CONFORMANCE)/node_modules/.bin/node
	touch $@

npm-deps: system-deps $(NPM_DIR)/node_modules/.installed $(CONFORMANCE)/node_modules/.installed

$(WEB)/node_modules/.installed: $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

web-deps: system-deps $(WEB)/node_modules/.installed

# Rebuild the UI into the package (commit the result: pip installs need no Node).
web: web-deps
	cd $(WEB) && npm run build

# The UI's unit tests, then a fresh build compared with the committed one: a stale build fails.
web-check: web-deps
	cd $(WEB) && npm test
	@fresh=$$(mktemp -d) && trap 'rm -rf "$$fresh"' EXIT && \
	(cd $(WEB) && npx tsc -b && npx vite build --logLevel warn --emptyOutDir --outDir "$$fresh") && \
	diff -rq "$$fresh" $(STATIC) || { echo "The committed UI build in $(STATIC) is stale: run 'make web' and commit it." >&2; exit 1; }

demo: $(STAMP)
	$(PY) -m mcp_acp.demo

# The gates (also run by .pre-commit-config.yaml): formatting, lint, types, and the layering contracts.
# pyright comes from PyPI with the checker bundled and runs on the system's Node; the variable
# stops it asking PyPI for a newer version on every run.
LINT_PATHS := src tests bench
lint: $(STAMP)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	PYRIGHT_PYTHON_IGNORE_WARNINGS=1 $(VENV)/bin/pyright
	$(VENV)/bin/lint-imports

test: $(STAMP) system-deps lint npm-deps web-check test-keychain
	$(VENV)/bin/pytest -q -p no:cacheprovider -n 4 -m "not keychain"

# The keychain tests talk to a real Secret Service: gnome-keyring, unlocked, in a private D-Bus
# session, its keyrings in a throwaway folder (never the user's own keychain). Fails when the
# daemon does not start, and pytest fails (exit 5) if no keychain test ran.
test-keychain: $(STAMP) system-deps
	@keyrings=$$(mktemp -d) && trap 'rm -rf "$$keyrings"' EXIT && \
	XDG_DATA_HOME="$$keyrings" XDG_RUNTIME_DIR="$$keyrings" MCP_ACP_REQUIRE_KEYCHAIN=1 dbus-run-session -- sh -c ' \
	  printf secret | gnome-keyring-daemon --unlock --components=secrets >/dev/null \
	    || { echo "gnome-keyring-daemon did not start: the keychain tests cannot run" >&2; exit 1; }; \
	  exec $(VENV)/bin/pytest -q -p no:cacheprovider -m keychain tests/test_secret_store.py'

bench: $(STAMP) npm-deps
	$(PY) bench/overhead.py

clean:
	rm -rf $(VENV) $(NPM_DIR)/node_modules $(CONFORMANCE)/node_modules $(WEB)/node_modules
