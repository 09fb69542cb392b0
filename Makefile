# The two set-up commands of the README: `make main` and `make test`.
# Each creates or reuses .venv (scripts/bootstrap.sh is idempotent) before running.
PY := .venv/bin/python

.PHONY: venv main test lint

venv:
	@bash scripts/bootstrap.sh

main: venv
	@bash scripts/main.sh

test: venv
	@$(PY) -m ruff check .
	@$(PY) -m pytest -q $(PYTEST_ARGS)

lint: venv
	@$(PY) -m ruff check .
