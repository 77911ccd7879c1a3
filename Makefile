# Two commands for a new user (see README.md):
#   make demo   set up .venv and convert the bundled PP-OCRv4 demo models
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: setup demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,qnn]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/snakemake --cores $(CORES)

test: setup
	$(BIN)/python -m pytest -q
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules

lint: setup
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules

bench: setup
	$(BIN)/python bench/run_benchmarks.py

clean:
	rm -rf results/intermediate results/openvino logs benchmarks .snakemake
