#!/bin/sh
# Installs edgeconv into /opt/edgeconv inside an Apptainer image (Snakemake runs whole steps there),
# from the same lock as the host's .venv: envs/locks/main.txt, every package by version and sha256.
#   sh containers/install-edgeconv.sh SRC [PYTHON]     (SRC: the checkout copied into the image)
set -eu
src=${1:?usage: install-edgeconv.sh SRC [PYTHON]}
python=${2:-python3}
"$python" -m venv /opt/edgeconv
/opt/edgeconv/bin/python -m pip install --no-cache-dir --require-hashes -r "$src/envs/locks/main.txt"
/opt/edgeconv/bin/python -m pip install --no-cache-dir --no-deps --no-build-isolation "$src"
/opt/edgeconv/bin/python -m edgeconv.lockinfo write "$src/envs/locks/main.txt" --prefix /opt/edgeconv
