# The two commands a newcomer needs: `make up` and `make test`. Both create and reuse .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The service alone (`make up`); the test and lint tools on top of it (`make test`).
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# Every version the tests ran, pinned (pip-compile); `make lock` refreshes it after a change to
# pyproject.toml. Installs use it as constraints, so each installs only its own extras.
LOCK := requirements.lock
LOWEST := .venv-lowest
# A fast subset touching every dependency, for the lower bounds of pyproject.toml.
LOWEST_TESTS ?= tests/webhooks tests/test_migrations.py tests/test_settings.py \
	tests/test_planner.py tests/test_twilio_channel.py tests/test_smtp_channel.py \
	tests/test_secrets_at_rest.py tests/test_operator_accounts.py tests/test_redaction.py

.PHONY: up test test-lowest lint lock bench clean python-version

# Before any virtual environment is made: an older Python would fail later, less clearly.
python-version:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "make: this project needs Python 3.11 or newer; '$(PYTHON)' is $$($(PYTHON) --version 2>&1 | head -n 1)." >&2; \
	  echo "      install one, then run e.g.: make PYTHON=python3.11 up" >&2; exit 1; }

$(BIN)/python: | python-version
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/pip install --quiet -c $(LOCK) -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -c $(LOCK) -e '.[test]'
	touch $(TEST_STAMP)

lock: | $(BIN)/python
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		--extra test --extra ops --output-file $(LOCK) pyproject.toml

# The lower bounds of pyproject.toml, installed in their own venv, on a fast subset of the suite
# (.ci/run runs it, so a bound that no longer works fails CI).
test-lowest: | python-version
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/pip install --quiet --upgrade pip
	$(LOWEST)/bin/python .ci/lowest.py pyproject.toml > $(LOWEST)/constraints.txt
	$(LOWEST)/bin/pip install --quiet -c $(LOWEST)/constraints.txt -e '.[test]'
	$(LOWEST)/bin/pytest -q -p no:cacheprovider $(LOWEST_TESTS)

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
	rm -rf $(VENV) $(LOWEST) var .pytest_cache .mypy_cache .ruff_cache
