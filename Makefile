# Orders API: developer entry points. `make help` lists them.
#
# Python 3.12 is found by scripts/find-python (set PYTHON=/path to choose one).
# Every target that needs a database goes through scripts/with-db: it uses
# $DATABASE_URL when set and otherwise starts the project-local embedded
# PostgreSQL in .pgdata (scripts/devdb.py, unix socket only, no TCP port).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-print-directory

HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
BENCH_ARGS ?=
BENCH_QUICK ?=

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REQUIREMENTS := requirements.txt requirements-dev.txt
WITH_DB := DEVDB_PYTHON=$(PY) scripts/with-db
# stop/status need only the standard library: work even without the venv.
DEVDB_PY = $(if $(wildcard $(PY)),$(PY),python3)

.PHONY: help venv run serve relay bench bench-ab profile bench-relay test test-faults lint db-url db-status db-stop shell superuser clean

help: ## List the targets
	@echo "Usage: make TARGET [HOST=$(HOST)] [PORT=$(PORT)] [PYTEST_ARGS='-k ...']"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "DATABASE_URL, when set, is used instead of the embedded PostgreSQL (.pgdata)."

venv: $(STAMP) ## Create .venv (Python 3.12) and install requirements-dev.txt

# Re-run only when a requirements file changes. All output goes to stderr so
# that `make db-url` prints nothing but the URL, even on a first run.
$(STAMP): $(REQUIREMENTS)
	@{ \
	  if [ -e $(PY) ] && ! $(PY) -c 'import sys, pip; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then \
	    echo "$(VENV) is not a working Python 3.12 venv: recreating it"; \
	    rm -rf $(VENV); \
	  fi; \
	  if [ ! -e $(PY) ]; then \
	    python="$$(scripts/find-python)" || exit 1; \
	    echo "Creating $(VENV) with $$python"; \
	    "$$python" -m venv $(VENV); \
	  fi; \
	  $(PY) -m pip install --disable-pip-version-check --progress-bar off -r requirements-dev.txt; \
	  touch $@; \
	} >&2

run: $(STAMP) ## Migrate, then serve with gunicorn on HOST:PORT
	HOST='$(HOST)' PORT='$(PORT)' $(WITH_DB) $(SHELL) -c \
	  '$(PY) manage.py migrate --noinput && exec $(VENV)/bin/gunicorn -c gunicorn.conf.py orders_project.wsgi'

# HAProxy in front (deploy/haproxy/haproxy.cfg, deploy/serve.py); state in .serve/.
serve: $(STAMP) ## Migrate, then serve behind HAProxy on HOST:PORT (needs: apt-get install haproxy)
	@command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || { \
	  echo "make serve needs HAProxy 2.6 or later: apt-get install haproxy (Debian/Ubuntu)" >&2; exit 1; }
	HOST='$(HOST)' PORT='$(PORT)' $(WITH_DB) $(SHELL) -c \
	  '$(PY) manage.py migrate --noinput && exec $(PY) deploy/serve.py'

relay: $(STAMP) ## Migrate, then run the outbox relay (OUTBOX_BROKER_URL; unset prints events)
	$(WITH_DB) $(SHELL) -c \
	  '$(PY) manage.py migrate --noinput && exec $(PY) manage.py outbox_relay'

# Its own PostgreSQL (scripts/devdb.py), gunicorn and `make serve`'s stack: no DATABASE_URL
# needed. Never part of `make test`. Needs wrk and HAProxy (apt-get install wrk haproxy).
bench: $(STAMP) ## Production shape and direct at 8/64 connections vs the PostgreSQL ceiling, floors, depth (BENCH_QUICK=1: smoke)
	$(PY) -m pip install --disable-pip-version-check --progress-bar off -q -r requirements-bench.txt
	$(PY) benchmarks/run.py $(if $(BENCH_QUICK),--quick) $(BENCH_ARGS)

bench-ab: $(STAMP) ## Throughput of BEFORE=<git revision> and this checkout in alternating rounds
	@test -n '$(BEFORE)' || { echo "make bench-ab: name the revision to compare, e.g. BEFORE=HEAD~3" >&2; exit 2; }
	$(PY) benchmarks/ab.py --before '$(BEFORE)' $(BENCH_ARGS)

# In the embedded PostgreSQL (or DATABASE_URL), in a tenant of its own that it deletes afterwards.
profile: $(STAMP) ## CPU per request in process (OP=get|list|create|…; BENCH_ARGS=--profile: where it goes)
	$(WITH_DB) $(PY) benchmarks/cpu_profile.py --op '$(or $(OP),get)' $(BENCH_ARGS)

# Its own PostgreSQL, as `make bench`; the RabbitMQ at TEST_BROKER_URL (default: local guest).
bench-relay: $(STAMP) ## Events/s of one outbox relay with publisher confirms (BENCH_ARGS='--quick'); needs RabbitMQ
	$(PY) benchmarks/relay_bench.py $(BENCH_ARGS)

# Runs pytest; "collected no tests" (exit 5) is reported as the failure it is.
define run_pytest
	@$(1) || { \
	  rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make $@: pytest collected no tests (exit 5): that is a failure" >&2; fi; \
	  exit $$rc; \
	}
endef

test: $(STAMP) ## Run the test suite (PYTEST_ARGS='...' to pass options)
	$(call run_pytest,$(WITH_DB) $(PY) -m pytest $(PYTEST_ARGS))

# Its own PostgreSQL and gunicorn (faults/conftest.py): no DATABASE_URL needed.
test-faults: $(STAMP) ## Fault suite: real gunicorn + PostgreSQL under load, crashes, fuzzing
	$(call run_pytest,$(PY) -m pytest faults $(PYTEST_ARGS))

lint: $(STAMP) ## ruff check, ruff format --check, lint-imports, mypy, makemigrations --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-logo --no-cache
	$(PY) deploy/haproxy/render_errors.py --check
	$(WITH_DB) $(VENV)/bin/mypy .
	$(WITH_DB) $(PY) manage.py makemigrations --check --dry-run

db-url: $(STAMP) ## Print the DATABASE_URL the targets use (starts the embedded DB)
	@$(WITH_DB) printenv DATABASE_URL

db-status: ## Show whether the embedded PostgreSQL is running
	@$(DEVDB_PY) scripts/devdb.py status

db-stop: ## Stop the embedded PostgreSQL
	@$(DEVDB_PY) scripts/devdb.py stop

shell: $(STAMP) ## Django shell against the database
	$(WITH_DB) $(PY) manage.py shell

superuser: $(STAMP) ## Migrate, then create an admin login for /admin/ (asks for a password)
	$(WITH_DB) $(SHELL) -c '$(PY) manage.py migrate --noinput && $(PY) manage.py createsuperuser'

clean: ## Stop the embedded DB, remove .venv, .pgdata, .secrets and caches
	@if [ -d .pgdata ]; then DEVDB_DIR="$(CURDIR)/.pgdata" $(DEVDB_PY) scripts/devdb.py stop; fi
	rm -rf $(VENV) .pgdata .secrets .pytest_cache .mypy_cache .ruff_cache staticfiles
