# The two set-up commands: `make run` (the platform on the embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install install-run run test lint format bench bench-quick clean

# `make run` installs only what running needs (the project's dependencies); `make test`, `lint`
# and `format` add the `dev` extra (pytest, Playwright, the SDKs the tests verify with, ruff).
$(VENV)/.installed-run: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e .
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.installed-run
	$(VENV)/bin/pip install --quiet -e ".[dev]"
	touch $@

install-run: $(VENV)/.installed-run

install: $(VENV)/.installed

run: install-run
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo
	$(PY) manage.py run_platform

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run --verbosity 0
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

$(VENV)/.bench-installed: pyproject.toml $(VENV)/.installed
	$(VENV)/bin/pip install --quiet -e ".[dev,bench]"
	touch $@

# The delivery benchmark (bench/run.py): PostgreSQL and Redis on 127.0.0.1, results and plots
# under bench/results/. bench-quick uses tiny sizes and finishes in under a minute.
bench: $(VENV)/.bench-installed
	$(PY) -m bench.run $(BENCH_ARGS)

bench-quick: $(VENV)/.bench-installed
	$(PY) -m bench.run --quick $(BENCH_ARGS)

clean:
	rm -rf var/test
