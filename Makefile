# Quick start: `make run` (serve on SQLite with demo data), `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install run test lint screenshots

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi methodologies sync
	$(BIN)/flask --app wsgi seed-demo
	$(BIN)/gunicorn -c gunicorn.conf.py --bind $(HOST):$(PORT) --workers 2 wsgi:app

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .

# The README's console screenshots (docs/screenshots/), needs Chromium like tests/browser.
screenshots: install
	$(BIN)/python scripts/screenshots.py
