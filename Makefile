# The two commands a newcomer needs: `make up` and `make test`. Both create and reuse .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Migrates, starts an embedded Redis when REMINDERS_REDIS_URL is unset, then runs api + worker + beat.
up: $(STAMP)
	$(BIN)/reminders up

lint: $(STAMP)
	$(BIN)/ruff check reminders workers tests bench
	$(BIN)/ruff format --check reminders workers tests bench
	$(BIN)/mypy reminders workers bench

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.all

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
