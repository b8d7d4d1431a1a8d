# followup: two commands matter — `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two stamps: `make run` needs only the runtime dependencies; everything else
# (lint, type-check, tests, benchmarks) adds the dev extras. Both are editable
# installs, so the checkout's templates/ and config/ are the ones used.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint typecheck pytest bench dovecot chromium clean help

help:
	@echo "make run        install the runtime into .venv and start the daemon on the demo data (SQLite, Maildir)"
	@echo "make test       install dev extras, then lint, type-check and run the whole test suite (wheel install included)"
	@echo "make lint       ruff check + ruff format --check + import layers (lint-imports)"
	@echo "make typecheck  mypy --strict on followup/"
	@echo "make bench      run the benchmarks and print their figures"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $(RUN_STAMP)

# The dev extras include the runtime, so this stamp satisfies `make run` too.
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(DEV_STAMP) $(RUN_STAMP)

# The daemon serves the web pages too (127.0.0.1:8080 unless configured) and
# prints their address; FOLLOWUP_WEB__ENABLED=false turns them off.
run: $(RUN_STAMP)
	$(BIN)/followup init
	$(BIN)/followup demo --if-empty
	FOLLOWUP_WEB__ENABLED=$${FOLLOWUP_WEB__ENABLED:-true} \
	FOLLOWUP_WEB__BASE_URL=$${FOLLOWUP_WEB__BASE_URL:-http://127.0.0.1:8080} $(BIN)/followup run

lint: $(DEV_STAMP)
	$(BIN)/ruff check followup tests $(wildcard bench)
	$(BIN)/ruff format --check followup tests $(wildcard bench)
	$(BIN)/lint-imports

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

# Dovecot serves the IMAP tests. Installed from Debian's packages when we can
# (root with apt-get); otherwise those tests skip with a visible reason.
dovecot:
	@if command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing dovecot-imapd for the IMAP tests"; \
	  (apt-get install -y -q dovecot-imapd >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null && apt-get install -y -q dovecot-imapd >/dev/null)) || \
	  echo "could not install dovecot-imapd: IMAP tests will skip"; \
	else echo "dovecot is not installed and cannot be installed here: IMAP tests will skip"; fi

# Debian's Chromium drives the browser test (through Playwright, never its own
# browser download). Installed like Dovecot; otherwise that test skips visibly.
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium for the browser test"; \
	  (apt-get install -y -q chromium >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) || \
	  echo "could not install chromium: the browser test will skip"; \
	else echo "chromium is not installed and cannot be installed here: the browser test will skip"; fi

pytest: $(DEV_STAMP) dovecot chromium
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
