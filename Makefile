# The two set-up commands of the README: `make main` and `make test`.
# Each creates or reuses .venv (scripts/bootstrap.sh is idempotent) before running.
PY := .venv/bin/python
# `make test` skips the tests marked slow (end-to-end runs; every module keeps fast tests);
# `make test SLOW=1` runs them all, as CI does (.ci/run).
PYTEST_MARK := $(if $(SLOW),,-m "not slow")

.PHONY: venv main test lint reproduce

venv:
	@bash scripts/bootstrap.sh

main: venv
	@bash scripts/main.sh

test: venv
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .
	@$(PY) -m pytest -q $(PYTEST_MARK) $(PYTEST_ARGS)

reproduce: venv  # everything in results/, pretraining included (hours; see scripts/reproduce.sh)
	@bash scripts/reproduce.sh

lint: venv
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .
