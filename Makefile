# Flowmatik: `make run` starts the platform on the embedded default; `make test` runs the suite.
SHELL := /bin/bash
# The first interpreter that really runs and is 3.11+ (pyenv shims may exist but fail).
PYTHON ?= $(shell for c in python3.11 python3.12 python3.13 python3; do \
	$$c -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { command -v $$c; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MANAGE := $(BIN)/python manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
export PYTHONUNBUFFERED := 1
APPS := flowmatik accounts ai billing usage webhooks_app dashboard notifications
# `make run` writes everything it prints here too (scripts/run-platform.sh)
LOG_FILE ?= var/log/platform.log

.DEFAULT_GOAL := help
.PHONY: help setup messages lock audit sysdeps run dev start-prod test test-watch test-cov lint type-check lint-fix format migrate seed \
	reset-db worker beat demo-llm bench bench-soak health-check logs-tail backup-db clean superuser check

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

sysdeps: ## Install the MySQL client headers mysqlclient needs (Debian), or say what to install
	@if pkg-config --exists mysqlclient 2>/dev/null || pkg-config --exists libmariadb 2>/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing default-libmysqlclient-dev and pkg-config..."; \
		(apt-get install -y -qq default-libmysqlclient-dev pkg-config >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null && apt-get install -y -qq default-libmysqlclient-dev pkg-config >/dev/null)) \
		|| { echo "error: could not install default-libmysqlclient-dev pkg-config"; exit 1; }; \
	else echo "error: install the MySQL client headers and pkg-config first (Debian/Ubuntu: sudo apt-get install default-libmysqlclient-dev pkg-config; macOS: brew install mysql-client pkg-config)"; exit 1; fi

$(STAMP): requirements.txt requirements-dev.txt
	@$(MAKE) --no-print-directory sysdeps
	@if [ -z "$(PYTHON)" ]; then echo "error: Python 3.11+ is required"; exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
		{ echo "error: Python 3.11+ is required (found $$($(PYTHON) --version))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --require-hashes -r requirements-dev.txt
	@touch $(STAMP)

# The front-end packages (package-lock.json), installed again only when the lock changes
NPM_STAMP := node_modules/.installed
$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm is required (Debian: sudo apt-get install npm)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NPM_STAMP)

# Compiled translations (locale/*/LC_MESSAGES/django.mo), rebuilt when a .po changes
MO_FILES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/django.po))
locale/%/LC_MESSAGES/django.mo: locale/%/LC_MESSAGES/django.po
	$(MANAGE) compilemessages --locale $* --ignore .venv --ignore node_modules

setup: $(STAMP) $(NPM_STAMP) $(MO_FILES) ## Create .venv, npm ci, compile translations (from the lock files)

LOCK := $(BIN)/uv pip compile --universal --python-version 3.11 --generate-hashes --quiet \
	--custom-compile-command "make lock"
lock: setup ## Re-pin requirements*.txt (with hashes) from the ranges in requirements*.in
	$(LOCK) requirements.in -o requirements.txt
	$(LOCK) requirements-dev.in -c requirements.txt -o requirements-dev.txt

messages: setup ## Update locale/es/LC_MESSAGES/django.po from the code, fill it from scripts/translations/*.es.json, compile
	$(MANAGE) makemessages --locale es --no-obsolete --add-location file --ignore ".venv/*" --ignore "node_modules/*" \
		--ignore "staticfiles/*" --ignore "var/*" --ignore "*/tests/*"
	@for map in scripts/translations/*.es.json; do \
		$(BIN)/python scripts/po_fill.py locale/es/LC_MESSAGES/django.po $$map; done
	$(MANAGE) compilemessages --locale es --ignore .venv --ignore node_modules

migrate: setup ## Apply database migrations
	$(MANAGE) migrate --noinput

seed: migrate ## Load seed data (plans, AI models) — done by data migrations, idempotent
	$(MANAGE) seed

run: seed ## Start the platform (ASGI server + Celery worker/beat + demo model) and print the URL
	@./scripts/run-platform.sh "$(HOST)" "$(PORT)"

dev: run ## Alias of run (the design document's `dev`)

start-prod: setup ## Start the ASGI server with production settings (needs the environment set)
	DJANGO_SETTINGS_MODULE=flowmatik.settings.production $(MANAGE) collectstatic --noinput
	DJANGO_SETTINGS_MODULE=flowmatik.settings.production $(BIN)/uvicorn flowmatik.asgi:application \
		--host 0.0.0.0 --port $(PORT) --workers "$${WEB_CONCURRENCY:-$$(nproc 2>/dev/null || echo 2)}" \
		--loop uvloop --http httptools --lifespan on --proxy-headers \
		--forwarded-allow-ips "$${FORWARDED_ALLOW_IPS:-127.0.0.1}" \
		--ws-per-message-deflate false --no-access-log

superuser: migrate ## Create a demo admin (admin@example.com / ADMIN_PASSWORD or "admin-demo-password")
	DJANGO_SUPERUSER_PASSWORD=$${ADMIN_PASSWORD:-admin-demo-password} $(MANAGE) createsuperuser \
		--noinput --email $${ADMIN_EMAIL:-admin@example.com} || true

worker: setup ## Run a Celery worker
	$(BIN)/celery -A flowmatik worker --loglevel=INFO --concurrency=$${CELERY_CONCURRENCY:-2}

beat: setup ## Run Celery beat (periodic tasks)
	$(BIN)/celery -A flowmatik beat --loglevel=INFO

demo-llm: setup ## Run the local demo AI model server alone
	$(MANAGE) demo_llm

test: setup ## Run the whole test suite
	$(BIN)/pytest $(PYTEST_ARGS)

test-watch: setup ## Run the tests again on every change of a .py file (PYTEST_ARGS narrows them)
	$(BIN)/watchfiles --filter python "$(BIN)/pytest -x -q -p no:cacheprovider $(PYTEST_ARGS)" $(APPS)

test-cov: setup ## Run the suite with coverage
	$(BIN)/pytest --cov --cov-report=term-missing:skip-covered $(PYTEST_ARGS)

lint: setup ## ruff format --check + ruff check + import contracts + mypy
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	@$(MAKE) --no-print-directory type-check

type-check: setup ## mypy (django-stubs, DRF stubs): strict on services/selectors/providers
	$(BIN)/mypy

lint-fix: setup ## Fix what ruff can
	$(BIN)/ruff check --fix .

format: setup ## Format the code
	$(BIN)/ruff format .

audit: setup ## pip-audit the lock files (skips, saying why, where its service is unreachable)
	@./scripts/audit-dependencies.sh

check: setup ## Django checks: migrations up to date, deploy checks on production settings
	$(MANAGE) makemigrations --check --dry-run
	SECRET_KEY=ci-dummy-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG \
	JWT_SECRET=ci-dummy-jwt-secret-0123456789-abcdefghijklmnopqrstuvwxyz ALLOWED_HOSTS=flowmatik.example \
	DJANGO_SETTINGS_MODULE=flowmatik.settings.production $(MANAGE) check --deploy --fail-level WARNING

reset-db: setup ## Drop every table (SQLite or MySQL/MariaDB: DATABASE_URL), migrate and seed again
	$(MANAGE) reset_db $(RESET_ARGS)
	$(MAKE) --no-print-directory seed

bench: setup ## Platform vs bare upstream (and LiteLLM), pass/fail table; BENCH_ARGS=--quick ...
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-soak: setup ## Steady load for MINUTES (10), reports the web workers' RSS growth slope
	$(BIN)/python -m bench --soak --minutes $(or $(MINUTES),10) $(BENCH_ARGS)

logs-tail: ## Follow the JSON log of `make run`, readable; LEVEL=warning, REQUEST_ID=... filter it
	@$(BIN)/python scripts/logs_tail.py $(LOG_FILE) --level $(or $(LEVEL),debug) \
		$(if $(REQUEST_ID),--request-id $(REQUEST_ID))

health-check: ## Ask a running platform for /health
	@curl -fsS http://$(HOST):$(PORT)/health && echo

backup-db: setup ## Dump the database to var/backups/
	$(MANAGE) backup_db

clean: ## Remove caches and temporary files (keeps .venv and the database)
	find . -path ./.venv -prune -o -name __pycache__ -type d -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache .mypy_cache htmlcov .coverage staticfiles var/celery
