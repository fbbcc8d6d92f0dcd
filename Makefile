# The two commands a newcomer needs: `make up` and `make test`. Both create and reuse .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The service alone (`make up`); the test and lint tools on top of it (`make test`).
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: up test lint bench clean python-version

# Before any virtual environment is made: an older Python would fail later, less clearly.
python-version:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "make: this project needs Python 3.11 or newer; '$(PYTHON)' is $$($(PYTHON) --version 2>&1 | head -n 1)." >&2; \
	  echo "      install one, then run e.g.: make PYTHON=python3.11 up" >&2; exit 1; }

$(BIN)/python: | python-version
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

# Migrates, starts an embedded Redis when REMINDERS_REDIS_URL is unset, then runs api + worker + beat.
up: $(STAMP)
	$(BIN)/reminders up

lint: $(TEST_STAMP)
	$(BIN)/ruff check reminders workers tests bench
	$(BIN)/ruff format --check reminders workers tests bench
	$(BIN)/mypy reminders workers bench

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(TEST_STAMP)
	$(BIN)/python -m bench.all

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
