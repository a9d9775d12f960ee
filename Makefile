# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files make installs idempotent: pip runs again only when pyproject.toml changes.
$(VENV)/.stamp-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.stamp-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,train]"
	touch $@ $(VENV)/.stamp-run

demo: $(VENV)/.stamp-run
	$(BIN)/salanalysis reproduce --out demo_output

test: $(VENV)/.stamp-test
	$(BIN)/ruff check salanalysis tests benchmarks
	$(BIN)/python -m pytest -q tests

lint: $(VENV)/.stamp-test
	$(BIN)/ruff check salanalysis tests benchmarks

clean:
	rm -rf $(VENV) demo_output
