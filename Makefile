# labdb — two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.lock | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run serve test test-sqlite test-postgres test-deploy lint bench setup demo system-packages clean

$(STAMP): requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0

demo: setup
	$(PY) manage.py load_demo --demo-users

## run: create the environment, migrate, collect static files, load the demo data and serve
## http://$(HOST):$(PORT). The browser tests' `app_server` fixture runs exactly this target (with
## LABDB_VAR_DIR and PORT of its own), so what they test is what `make run` serves.
run: demo
	@$(MAKE) --no-print-directory serve

## serve: the one serving command. DEBUG stays as the environment says (off by default); static
## files come from collectstatic's hashed copies through WhiteNoise, never from runserver.
## --noreload: a served instance does not restart when a file in the tree is edited.
serve:
	@echo ""
	@echo "  labdb is starting on http://$(HOST):$(PORT)/   (admin: /admin/, API docs: /api/docs/)"
	@echo "  demo login:  user 'demo'  password 'demo-labdb'   (curator: 'curator' / 'curator-labdb')"
	@echo ""
	exec $(PY) manage.py runserver --noreload $(HOST):$(PORT)

## system-packages: PostgreSQL, Redis and Chromium from Debian (for the full test suite)
system-packages:
	bash scripts/system_packages.sh

## lint: ruff, the import contracts, mypy with django-stubs on analysis/ and the parsers
## (configuration in pyproject.toml [tool.mypy]), migrations in step with the models
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy analysis characterization/parsers
	$(PY) manage.py makemigrations --check --dry-run

test-sqlite: $(STAMP)
	$(VENV)/bin/pytest -q -n 2 --dist loadgroup

test-postgres: $(STAMP)
	bash scripts/with_postgres.sh $(VENV)/bin/pytest -q -n 2 --dist loadgroup -m "not browser"

## test-deploy: the README's deployment section run as an operator would (PostgreSQL, Redis,
## moto S3, gunicorn, Celery worker and beat as the user labdb-ci), then used over HTTP.
test-deploy: $(STAMP)
	LABDB_PG_PORT=$$($(PY) -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') \
	  bash scripts/with_postgres.sh $(VENV)/bin/pytest -q -m deploy tests/deploy

## test: lint, then the whole suite on SQLite, then again on a real PostgreSQL server, then the
## deployment test
test: system-packages lint test-sqlite test-postgres test-deploy

bench: setup
	$(PY) benchmarks/run_all.py

clean:
	rm -rf var/test-* var/screenshots
