# Two commands on a fresh machine: `make demo` and `make test`; `make report-check` checks the
# report in a real browser (needs Chromium: apt-get install -y chromium).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test report-check chromium lint clean gpu-check gpu-wheels

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
	$(BIN)/python -m mypy
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
	$(BIN)/python -m mypy

# The GPU lane in one command (benchmarks/gpu.py; a tiny CPU version without CUDA), with .venv's Python
# (GPU_PY; the machine's python3 when there is no .venv; GPU_PY=python3 uses the machine's own torch). Modules the project needs and that Python lacks (pycocotools, typically)
# are installed into $(GPU_DEPS), from $(WHEELS) when that folder exists, else from the package index.
# A machine with no package index: run `make gpu-wheels GPU_PYVER=X.Y` where one is reachable and bring
# $(WHEELS) along. Results: the printed table, and $(GPU_OUT)/summary.md.
GPU_PY ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
GPU_DEPS := .venv/gpu-deps
WHEELS ?= .venv/wheels
GPU_PYVER ?= 3.12
GPU_OUT ?= /tmp/salanalysis-gpu-check
GPU_CHECK_ARGS ?=

gpu-check:
	$(GPU_PY) benchmarks/gpu.py --install-missing $(GPU_DEPS) --wheels $(WHEELS)
	PYTHONPATH=$(CURDIR):$(CURDIR)/$(GPU_DEPS) $(GPU_PY) benchmarks/gpu.py --out $(GPU_OUT) $(GPU_CHECK_ARGS)

gpu-wheels:
	$(PY) -m pip download --quiet --only-binary=:all: --no-deps --python-version $(GPU_PYVER) \
		--platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d $(WHEELS) pycocotools

clean:
	rm -rf $(VENV) demo_output
