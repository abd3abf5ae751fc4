# belonging_lib: two commands do all set-up.
#   make notebooks   execute every chapter on the sample data and build the book (build/site/index.html)
#   make test        run the whole test suite (library, R reference checks, notebooks, the book in a browser)
#   make lab         open the collection in JupyterLab (MyST chapters open as notebooks)
# Both create the virtual environment .venv on first use (needs only Python 3.11).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PYTHONHASHSEED := 0

.PHONY: help notebooks lab test test-fast lint format browser expected sample-data bench calibrate references clean

help:
	@echo "make notebooks   - execute all chapters on the sample data and build the book in build/site/"
	@echo "make lab         - open the collection in JupyterLab (chapters open as notebooks via jupytext)"
	@echo "make test        - run the whole test suite (notebooks included)"
	@echo "make test-fast   - tests without the notebooks and the browser"
	@echo "make lint        - ruff (lint and format check) and mypy, as CI runs them"
	@echo "make expected    - re-record the notebooks' key results (review the diff!)"
	@echo "make sample-data - regenerate data/sample/ from the seeded simulator"
	@echo "make bench       - run the speed benchmarks in bench/"
	@echo "make calibrate   - coverage of the course's 95% intervals over simulated samples (about 10 min)"
	@echo "make references  - rerun the R scripts that produce tests/reference/*.json (needs R)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[notebooks,test,dask]"
	@touch $(STAMP)

# Chapters are executed in parallel and cached in build/.cache (rerun when the chapter, the library
# or the data change); Sphinx then renders the book with warnings as errors.
notebooks: $(STAMP)
	$(BIN)/python -m belonging_lib.book --src notebooks --out build
	@echo "Open build/site/index.html in a browser."

# JupyterLab with the repository's own Jupyter config (jupyter-config/): jupytext is the default
# viewer of the MyST chapters, so they open as notebooks. Nothing in your home folder changes.
lab: $(STAMP)
	JUPYTER_CONFIG_DIR=$(CURDIR)/jupyter-config $(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR)/notebooks \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# The chapters are executed once, by `make notebooks`, with each key result compared with
# tests/notebook_expected/ (BELONGING_EXPECTED): a cell that raises or a key result that differs stops
# that step. tests/test_executed_chapters.py then checks that build/ holds every chapter, executed
# without an error output, from the current sources, library and data, under that comparison.
# Tests that execute sample chapters take them from the same cache when nothing has changed.
test: export BELONGING_EXPECTED := $(CURDIR)/tests/notebook_expected
test: export BELONGING_EXECUTED_BUILD := $(CURDIR)/build
test: $(STAMP) browser
	@env -u BELONGING_RECORD_DIR -u BELONGING_SAMPLE_DIR $(MAKE) --no-print-directory notebooks
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15 --doctest-modules belonging_lib tests

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15 --doctest-modules belonging_lib tests -m "not browser" --ignore=tests/test_other_seed.py

# ruff and mypy, configured in pyproject.toml (installed with the test extra); CI runs this before the tests.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Format the Python files ruff formats. Files written before the formatter was adopted are listed in
# [tool.ruff.format] exclude (pyproject.toml): delete that list, then run this once, to format them all.
format: $(STAMP)
	$(BIN)/ruff format .

# The book's browser test needs Debian's chromium; in CI (CI=true, root) it is installed here.
browser:
	@if [ "$$CI" = "true" ] && ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing chromium for the browser test of the book ..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "chromium could not be installed; the browser test will say so"; \
	fi

expected: $(STAMP)
	rm -f tests/notebook_expected/*.json
	BELONGING_RECORD_DIR=$(CURDIR)/tests/notebook_expected $(BIN)/python -m belonging_lib.book --src notebooks --out build/expected-run --no-book

sample-data: $(STAMP)
	$(BIN)/python -m belonging_lib.simulate --out data/sample

# Monte-Carlo coverage of every interval the course calls a 95% interval (calibration/calibrate.py):
# writes docs/calibration.json (the chapters glue their sentence on coverage from it) and the table
# bench/results/calibration.md, with the commit, the replicates and the seed. Two processes.
calibrate: $(STAMP)
	$(BIN)/python calibration/calibrate.py

# Every benchmark in one run (or those named: make bench BENCH=bench/bench_resampling.py); the output,
# with the commit, the date and the load average before and after, is kept in bench/results/.
BENCH ?= $(wildcard bench/bench_*.py)
bench: $(STAMP)
	@mkdir -p bench/results; \
	out=bench/results/$$(date -u +%Y%m%dT%H%M%SZ)-$$(git rev-parse --short HEAD 2>/dev/null || echo unknown).txt; \
	{ echo "commit: $$(git rev-parse HEAD 2>/dev/null)$$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"; \
	  echo "date: $$(date -u +%Y-%m-%dT%H:%M:%SZ)"; echo "cores: $$(nproc)"; \
	  echo "load average before: $$(cut -d' ' -f1-3 /proc/loadavg)"; } | tee $$out; \
	for b in $(BENCH); do echo "== $$b" | tee -a $$out; \
	  { $(BIN)/python $$b 2>&1; echo "exit status: $$?"; } | tee -a $$out; done; \
	echo "load average after: $$(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $$out; \
	echo "Recorded in $$out"; ! grep -q '^exit status: [1-9]' $$out

references:
	@for r in tests/reference/*.R; do echo "== $$r"; Rscript $$r || exit 1; done

clean:
	rm -rf build .pytest_cache .ruff_cache .mypy_cache
