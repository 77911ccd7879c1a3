#!/bin/sh
# Installs RVC2's tools into the image; run inside it as root (Containerfile RUN, or
# containers/build-rootfs.sh). Pinned versions: versions.env beside this file.
#  - mo, pot: openvino-dev[onnx] from PyPI into /opt/openvino (Python 3.9 of Debian 11), from
#    envs/locks/openvino-2022.3.txt.
#  - myriad_compile and mo 2021.4 (the built-in RVC2 compiler, OpenVINO 2021.4.2 from PyPI) into
#    /opt/openvino-2021.4, from envs/locks/openvino-2021.4.txt.
#  - compile_tool (MYRIAD): not on PyPI. If the OpenVINO 2022.3 Linux toolkit archive
#    (l_openvino_toolkit_*_2022.3.*.tgz, from storage.openvinotoolkit.org) was put in
#    vendor/ beside this file, its tools/compile_tool is installed into /opt/openvino-toolkit.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/versions.env"
export PIP_DISABLE_PIP_VERSION_CHECK=1
python3 -m venv /opt/openvino
# Every package by version and sha256 from the lock `make mo-env` uses too (envs/locks/).
LOCK="$HERE/../../envs/locks/openvino-2022.3.txt"
/opt/openvino/bin/python -m pip install --quiet --no-cache-dir --require-hashes -r "$LOCK"
ln -sf /opt/openvino/bin/mo /usr/local/bin/mo
ln -sf /opt/openvino/bin/pot /usr/local/bin/pot
for archive in "$HERE"/vendor/l_openvino_toolkit_*_2022.3.*.tgz; do
    [ -f "$archive" ] || continue
    mkdir -p /opt/openvino-toolkit
    tar -xzf "$archive" -C /opt/openvino-toolkit --strip-components=1
    ln -sf /opt/openvino-toolkit/tools/compile_tool/compile_tool /usr/local/bin/compile_tool
done
# RVC2 blobs from PyPI alone, as `make rvc2-env` builds them: OpenVINO 2021.4.2 (mo 2021.4 and the
# MYRIAD plugin) in /opt/openvino-2021.4 from envs/locks/openvino-2021.4.txt (its wheels cover Python
# 3.9), Debian's libusb-1.0-0, and myriad_compile built from our source with g++.
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends g++ libusb-1.0-0 >/dev/null
python3 -m venv /opt/openvino-2021.4
/opt/openvino-2021.4/bin/python -m pip install --quiet --no-cache-dir --no-deps --require-hashes \
    -r "$HERE/../../envs/locks/openvino-2021.4.txt"
OV21_LIBS=$(ls -d /opt/openvino-2021.4/lib/python3*/site-packages/openvino/libs)
g++ -std=c++17 -O2 -D_GLIBCXX_USE_CXX11_ABI=0 -o /opt/openvino-2021.4/bin/myriad_compile \
    "$HERE/../../src/edgeconv/targets/myriad_compile/myriad_compile.cpp" -L"$OV21_LIBS" -linference_engine -ldl \
    -Wl,-rpath,"$OV21_LIBS"
cp "$HERE/../../src/edgeconv/targets/myriad_compile/query_layers.py" /opt/openvino-2021.4/query_layers.py
ln -sf /opt/openvino-2021.4/bin/myriad_compile /usr/local/bin/myriad_compile
apt-get purge -y -q g++ >/dev/null && apt-get autoremove -y -q >/dev/null && rm -rf /var/lib/apt/lists/*
myriad_compile --version
# What the image has, for the io.edgeconv.* labels (containers/build-rootfs.sh) and buildinfo.
mkdir -p /etc/edgeconv
for tool in mo pot compile_tool myriad_compile; do command -v "$tool" >/dev/null && printf '%s ' "$tool"; done >/etc/edgeconv/tools
{ grep -v '^#' "$HERE/versions.env"; echo "LOCK_SHA256=$(sha256sum "$LOCK" | cut -c1-64)"
  echo "OPENVINO_2021_LOCK_SHA256=$(sha256sum "$HERE/../../envs/locks/openvino-2021.4.txt" | cut -c1-64)"; } >/etc/edgeconv/versions
mo --version
