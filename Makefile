# Two commands for a new user (see README.md):
#   make demo   set up .venv and convert the bundled PP-OCRv4 demo models
#   make test   set up .venv and run the test suite
# Every environment is installed from a lock with hashes in envs/locks/ (make lock refreshes them).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: setup demo test test-fast lint bench bench-large clean mo-env rvc2-env print-python310 containers slurm cluster-env browser lock lock-upgrade

LOCKS := envs/locks
# pip installs only what a lock names, at its version and sha256 (--require-hashes): every
# machine gets the same packages. The locks change only through `make lock` (see docs/reliability.md).
PIP_LOCKED := -m pip install --quiet --disable-pip-version-check --require-hashes -r

# The venv is made anew from the lock whenever the lock changes, so nothing unlocked stays in it.
$(VENV)/.installed: $(LOCKS)/main.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "error: edgeconv needs Python >= 3.11 (Snakemake 9); run make with PYTHON=python3.11")'
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python $(PIP_LOCKED) $(LOCKS)/main.txt
	# The project itself, without dependencies and with the build backend the lock installed.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m edgeconv.lockinfo write $(LOCKS)/main.txt
	touch $@

setup: $(VENV)/.installed

# The matrix of config/config.yaml: openvino, qnn_htp and RVC2 superblobs (the built-in OpenVINO
# 2021.4 compiler, make rvc2-env) of the three PP-OCRv4 models.
demo: setup rvc2-env
	$(BIN)/snakemake --cores $(CORES)
	@$(BIN)/python -m edgeconv.delivered

test: setup
	@if [ -n "$(PYTHON310)" ]; then $(MAKE) --no-print-directory mo-env; \
	else echo "note: no Python 3.10 found: the mo/POT tests will be skipped (see make mo-env)"; fi
	@if [ -n "$(PYTHON38)" ]; then $(MAKE) --no-print-directory rvc2-env; \
	else echo "note: no Python 3.8 found: the real RVC2 blob tests will be skipped (see make rvc2-env)"; fi
	$(BIN)/python -m pytest -q
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules

# The edit loop: unit tests only (about 10 s).
test-fast: setup
	$(BIN)/python -m pytest -q tests/unit

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

$(MO_ENV)/.installed: $(LOCKS)/openvino-2022.3.txt | $(VENV)/.installed
	@test -n "$(PYTHON310)" || (echo "error: make mo-env needs Python 3.10 (pyenv install 3.10, or set PYTHON310=...)" && exit 1)
	rm -rf $(MO_ENV)
	$(PYTHON310) -m venv $(MO_ENV)
	$(MO_ENV)/bin/python $(PIP_LOCKED) $(LOCKS)/openvino-2022.3.txt
	$(BIN)/python -m edgeconv.lockinfo write $(LOCKS)/openvino-2022.3.txt --prefix $(MO_ENV)
	touch $@

mo-env: $(MO_ENV)/.installed

# OpenVINO 2021.4 for RVC2 blobs, all from PyPI (docs/targets.md, "The `rvc2` target"): mo 2021.4 and the MYRIAD
# plugin in a Python 3.8 venv (pyenv's 3.8 when present), Debian's libusb-1.0 beside it when the
# system has none, and myriad_compile (our program over the plugin's public API) built with g++.
PYTHON38 ?= $(firstword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.8.*/bin/python) $(shell command -v python3.8 2>/dev/null))
RVC2_ENV := .venvs/openvino-2021.4

$(RVC2_ENV)/.installed: $(LOCKS)/openvino-2021.4.txt envs/openvino-2021.4/install.sh src/edgeconv/targets/myriad_compile/myriad_compile.cpp | $(VENV)/.installed
	@test -n "$(PYTHON38)" || (echo "error: make rvc2-env needs Python 3.8 (pyenv install 3.8, or set PYTHON38=...)" && exit 1)
	envs/openvino-2021.4/install.sh $(PYTHON38) $(RVC2_ENV)
	$(BIN)/python -m edgeconv.lockinfo write $(LOCKS)/openvino-2021.4.txt --prefix $(RVC2_ENV)
	touch $@

rvc2-env: $(RVC2_ENV)/.installed

# The rvc2 image for toolchains.rvc2.runtime: docker, built without any registry (podman, runc and
# debootstrap are installed when missing; needs root), and podman's Docker API service started.
# Afterwards: eval "$$(containers/podman-service.sh)" sets DOCKER_HOST for snakemake and the tests.
containers:
	containers/install-podman.sh
	containers/build-rootfs.sh rvc2
	containers/podman-service.sh

# A one-node Slurm cluster on this machine (slurm-wlm and munge are installed when missing; needs
# root), for profiles/slurm and its tests: docs/batches.md, "Run on a cluster (Slurm)".
slurm: cluster-env
	profiles/slurm/single-node.sh

# The Slurm executor plugin, from its own lock (envs/locks/cluster.in says why it is not in main.txt).
cluster-env: $(VENV)/.cluster-installed

$(VENV)/.cluster-installed: $(LOCKS)/cluster.txt $(VENV)/.installed
	$(BIN)/python $(PIP_LOCKED) $(LOCKS)/cluster.txt
	touch $@

# Headless Chromium and its WebDriver (Debian packages; needs root) for the report's browser test.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
		|| { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
		|| { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }; }
	@chromium --version

# Refresh the locks on purpose (docs/reliability.md, "Locked environments"): `make lock` after editing
# pyproject.toml or envs/locks/*.in keeps every other pin; `make lock-upgrade` moves every
# package to its newest release allowed by the ranges. Commit the changed envs/locks/*.txt.
UV_ENV := .venvs/uv
UV := $(UV_ENV)/bin/uv
UV_COMPILE = $(UV) pip compile --quiet --generate-hashes --custom-compile-command "make lock" $(UV_UPGRADE)

$(UV): $(LOCKS)/uv.txt
	rm -rf $(UV_ENV)
	$(PYTHON) -m venv $(UV_ENV)
	$(UV_ENV)/bin/python $(PIP_LOCKED) $(LOCKS)/uv.txt

lock: $(UV)
	$(UV_COMPILE) --universal --python-version 3.11 pyproject.toml $(LOCKS)/bootstrap.in \
		--extra test --extra qnn --extra tflite --extra ldf --extra rvc2 -c $(LOCKS)/constraints.txt -o $(LOCKS)/main.txt
	$(UV_COMPILE) --universal --python-version 3.11 $(LOCKS)/cluster.in -c $(LOCKS)/main.txt -o $(LOCKS)/cluster.txt
	$(UV_COMPILE) --universal --python-version 3.9 $(LOCKS)/openvino-2022.3.in -o $(LOCKS)/openvino-2022.3.txt
	$(UV_COMPILE) --python-version 3.10 --python-platform x86_64-manylinux_2_35 $(LOCKS)/rvc4-image.in -o $(LOCKS)/rvc4-image.txt
	$(UV_COMPILE) --python-version 3.10 --python-platform x86_64-manylinux_2_35 $(LOCKS)/hailo-image.in -o $(LOCKS)/hailo-image.txt
	$(UV_COMPILE) --universal $(LOCKS)/uv.in -o $(LOCKS)/uv.txt
	$(UV_COMPILE) --python-version 3.10 --python-platform x86_64-manylinux_2_35 bench/locks/modelconv-0.6.2.in -o bench/locks/modelconv-0.6.2.txt
	$(UV_COMPILE) --no-deps --python-version 3.8 --python-platform x86_64-manylinux_2_17 $(LOCKS)/openvino-2021.4.in -o $(LOCKS)/openvino-2021.4.txt

lock-upgrade:
	$(MAKE) --no-print-directory lock UV_UPGRADE=--upgrade
