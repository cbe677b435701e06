# radbill: `make run` starts the whole system, `make test` runs the suite. Both install what is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# fonts-lohit-beng-bengali (160 KB): the Bengali font of the Bangla receipts and invoices (radbill/documents.py);
# fonts-noto-core would bring Noto Sans Bengali too, but as 42 MB of fonts radbill does not use
APT_PACKAGES := postgresql postgresql-contrib freeradius freeradius-python3 freeradius-utils freeradius-postgresql \
                python3-venv fonts-dejavu-core fonts-lohit-beng-bengali
# the browser tests drive Debian's Chromium through Playwright; nothing is downloaded from elsewhere
TEST_APT_PACKAGES := chromium
# bench/radload.c (the C load generator of `make bench-radius`): a compiler and libcrypto's MD5
BENCH_APT_PACKAGES := gcc libc6-dev libssl-dev wrk
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := $(VENV)/.installed-$(shell cat setup.cfg 2>/dev/null | sha1sum | cut -c1-12)

.PHONY: help messages messages-templates messages-python deps test-deps apt-install venv run test lint migrate psql schema bench-radius bench-hooks bench-visibility bench-fold bench-dashboard bench-imports bench-billing bench-customers bench-outbox bench-snapshot bench-troubleshoot bench-i18n bench-payments bench-alerts bench-portal bench-reports bench-api bench-accounting-size bench-journal-insert bench-radius-mixed bench-radius-memory bench-admin-scale bench-deps

help:
	@echo "make run      start radbill (embedded Postgres under var/ unless DATABASE_URL is set)"
	@echo "make test     run the test suite (throwaway Postgres, real FreeRADIUS)"
	@echo "make lint     ruff + the pure-core import check"
	@echo "make migrate  apply pending migrations      make psql   open psql on the configured database"
	@echo "make schema   rewrite sql/schema.sql from a database migrated from zero"
	@echo "make messages extract the .pot catalogs and update radbill/locale/bn/LC_MESSAGES/*.po"

# Debian packages: installed only when one is missing, so a second run installs nothing.
deps:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES)"

test-deps: deps
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(TEST_APT_PACKAGES)"

apt-install:
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:" $$missing; \
	    $(SUDO) apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing || exit 1; \
	    if echo " $$missing " | grep -q ' freeradius ' && [ -d /run/systemd/system ]; then \
	        echo "disabling Debian's own freeradius service (radbill runs its own on the same ports)"; \
	        $(SUDO) systemctl disable --now freeradius >/dev/null 2>&1 || true; \
	    fi; \
	fi

# The venv is built from Debian's /usr/bin/python3: the interpreter FreeRADIUS's rlm_python3 embeds.
$(STAMP): setup.cfg pyproject.toml | deps
	@test -x $(PY) || /usr/bin/python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-*; touch $@

venv: deps $(STAMP)

run: venv
	$(VENV)/bin/radbill run

# One worker per core plus one (at most 6), each with its own throwaway Postgres; a test file stays on one worker
# (its module fixtures are shared). Tests spend part of their time waiting on servers they started, so the extra
# worker fills the gaps: on 2 cores the suite took 468 s with 3 workers, against 552 s with 2 earlier the same
# day on an idle box (before cuts worth ~12 s). `make test PYTEST_WORKERS=0` runs in one process, e.g. with -x.
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n + 1 < 6 ? n + 1 : 6 )))
test: test-deps venv
	$(VENV)/bin/pytest $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q tests/test_layering.py

migrate: venv
	$(VENV)/bin/radbill migrate

psql: venv
	$(VENV)/bin/radbill psql

schema: venv
	$(VENV)/bin/pytest -q tests/db/test_schema_dump.py --write-schema

bench-customers: venv
	$(VENV)/bin/python -m bench.customers

bench-troubleshoot: venv
	$(VENV)/bin/python -m bench.troubleshoot

bench-payments: venv
	$(VENV)/bin/python -m bench.payments --runs 200

bench-alerts: venv
	$(VENV)/bin/python -m bench.alerts

bench-api: venv bench-deps
	$(VENV)/bin/python -m bench.api --customers 10000 --concurrency 32 --seconds 20 --workers 1 2

bench-portal: venv
	$(VENV)/bin/python -m bench.portal --customers 10000 --radacct 200000 --runs 200

bench-admin-scale: venv
	$(VENV)/bin/python -m bench.admin_scale --customers 100000 1000000

bench-billing: venv
	$(VENV)/bin/python -m bench.billing --customers 100000

bench-imports: venv
	$(VENV)/bin/python -m bench.imports

bench-dashboard: venv
	$(VENV)/bin/python -m bench.dashboard

bench-reports: venv
	$(VENV)/bin/python -m bench.reports --customers 100000 --radacct 300000 --runs 5

bench-deps:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(BENCH_APT_PACKAGES)"

# the C closed-loop generator: cheap enough per request not to hold back the fastest server (bench/cloadgen.py)
bench/radload: bench/radload.c | bench-deps
	gcc -O2 -Wall -Wextra -Wno-deprecated-declarations -o $@ $< -lcrypto

bench-radius: venv bench/radload
	$(VENV)/bin/python -m bench.radius

bench-visibility: venv
	$(VENV)/bin/python -m bench.visibility --tries 200

bench-accounting-size: venv
	$(VENV)/bin/python -m bench.accounting_size

bench-journal-insert: venv
	$(VENV)/bin/python -m bench.journal_insert

bench-radius-mixed: venv bench/radload
	$(VENV)/bin/python -m bench.radius_mixed

bench-radius-memory: venv
	$(VENV)/bin/python -m bench.radius_memory --stock

bench-fold: venv
	$(VENV)/bin/python -m bench.fold --rounds 5

bench-hooks: venv
	$(VENV)/bin/python -m bench.hooks

bench-outbox: venv
	$(VENV)/bin/python -m bench.outbox

bench-snapshot: venv
	$(VENV)/bin/python -m bench.snapshot

bench-i18n: venv
	$(VENV)/bin/python -m bench.i18n --rounds 5

# Translations (README "Translating radbill"): radbill/catalogs.py extracts templates.pot and python.pot with Babel
# and updates radbill/locale/bn/LC_MESSAGES/{templates,python}.po; radbill.i18n reads every .po at start.
messages: venv
	$(PY) -m radbill.catalogs templates python

messages-templates: venv
	$(PY) -m radbill.catalogs templates

messages-python: venv
	$(PY) -m radbill.catalogs python
