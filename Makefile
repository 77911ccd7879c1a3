# Two commands for a new user (see README.md):
#   make demo   set up .venv and convert the bundled PP-OCRv4 demo models
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: setup demo test lint bench bench-large clean mo-env print-python310 containers

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,qnn,tflite]'
	touch $@

setup: $(VENV)/.installed

# The matrix of config/config.yaml, plus RVC2's mo step (OpenVINO 2022.3) on PP-OCRv4 detection
# with its IR verified on CPU (the blob itself needs a compile_tool this machine cannot have).
demo: setup
	$(BIN)/snakemake --cores $(CORES)
	@if [ -n "$(PYTHON310)" ]; then \
		$(MAKE) --no-print-directory mo-env && \
		$(BIN)/snakemake --cores $(CORES) results/intermediate/ppocr_det/rvc2/ppocr_det.verify.json; \
	else echo "note: no Python 3.10 found: skipped RVC2's mo step (see make mo-env)"; fi

test: setup
	@if [ -n "$(PYTHON310)" ]; then $(MAKE) --no-print-directory mo-env; \
	else echo "note: no Python 3.10 found: the mo/POT tests will be skipped (see make mo-env)"; fi
	$(BIN)/python -m pytest -q
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules

lint: setup
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules

bench: setup
	$(BIN)/python bench/run_benchmarks.py

# An ONNX model over 2 GB through the ONNX chain and the openvino target (~15 GB disk, ~9 GB RAM).
bench-large: setup
	$(BIN)/python bench/large_onnx.py

print-python310:
	@echo $(PYTHON310)

clean:
	rm -rf results/intermediate results/openvino logs benchmarks .snakemake

# OpenVINO 2022.3 (mo, pot) for the rvc2 and rvc3 targets: Python 3.10 (pyenv's 3.10.13 when present).
PYTHON310 ?= $(firstword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.10.*/bin/python) $(shell command -v python3.10 2>/dev/null))
MO_ENV := .venvs/openvino-2022.3

$(MO_ENV)/.installed:
	@test -n "$(PYTHON310)" || (echo "error: make mo-env needs Python 3.10 (pyenv install 3.10, or set PYTHON310=...)" && exit 1)
	$(PYTHON310) -m venv $(MO_ENV)
	$(MO_ENV)/bin/python -m pip install --quiet --upgrade pip
	# POT 2022.3 calls scipy.stats.mode the pre-1.11 way.
	$(MO_ENV)/bin/python -m pip install --quiet 'openvino-dev[onnx]==2022.3.2' 'scipy<1.11'
	touch $@

mo-env: $(MO_ENV)/.installed

# The rvc2 image for toolchains.rvc2.runtime: docker, built without any registry (podman, runc and
# debootstrap are installed when missing; needs root), and podman's Docker API service started.
# Afterwards: eval "$$(containers/podman-service.sh)" sets DOCKER_HOST for snakemake and the tests.
containers:
	containers/install-podman.sh
	containers/build-rootfs.sh rvc2
	containers/podman-service.sh
