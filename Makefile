# Every target creates its own environment on first use (Python 3.11; ~7 GB, a few minutes).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo lint test test-fast bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	TF_CPP_MIN_LOG_LEVEL=2 $(VENV)/bin/readlx demo --force  # replaces the folder of an earlier demo

# mypy's files and strictness are configured in pyproject.toml.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check readlx tests benchmarks
	$(VENV)/bin/mypy

test: $(VENV)/.installed
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest --durations=30  # the slowest tests, to keep the suite short

test-fast: $(VENV)/.installed
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -m "not slow"

bench: $(VENV)/.installed
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) benchmarks/campaign_speed.py

clean:
	rm -rf runs .pytest_cache
