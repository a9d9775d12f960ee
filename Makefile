# Two commands on a fresh machine: `make demo` and `make test`; `make report-check` checks the
# report in a real browser (needs Chromium: apt-get install -y chromium).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test report-check chromium lint clean

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

$(VENV)/.stamp-browser: pyproject.toml $(VENV)/.stamp-test
	$(BIN)/python -m pip install --quiet -e ".[test,train,browser]"
	touch $@

demo: $(VENV)/.stamp-run
	$(BIN)/salanalysis reproduce --out demo_output

# The suite without a browser (the browser check is `make report-check`).
test: $(VENV)/.stamp-test
	$(BIN)/ruff check salanalysis tests benchmarks
	$(BIN)/python -m pytest -q -m "not browser" --ignore=tests/test_report_browser.py tests

# The report rendered in headless Chromium (tests/test_report_browser.py): fails when there is no browser.
report-check: chromium $(VENV)/.stamp-browser
	SALANALYSIS_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q -m browser tests/test_report_browser.py

# $CHROMIUM (a name or path) when set, else chromium or chromium-browser on PATH.
chromium:
	@if [ -n "$${CHROMIUM:-}" ]; then command -v "$$CHROMIUM" >/dev/null 2>&1; \
	else command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; fi || \
		{ echo "make report-check: no Chromium found; install it with: apt-get install -y chromium" >&2; exit 1; }

lint: $(VENV)/.stamp-test
	$(BIN)/ruff check salanalysis tests benchmarks

clean:
	rm -rf $(VENV) demo_output
