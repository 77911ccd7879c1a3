#!/usr/bin/env bash
# The RVC2 toolchain from PyPI alone: OpenVINO 2021.4.2 (mo, and the MYRIAD plugin that compiles
# blobs with no device) in a Python 3.8 venv, Debian's libusb-1.0 beside it when the system has
# none, and myriad_compile built against the wheel's libraries. Called by `make rvc2-env`.
#   envs/openvino-2021.4/install.sh PYTHON38 ENV_DIR
set -euo pipefail
python38=${1:?usage: install.sh PYTHON38 ENV_DIR}
env=${2:?usage: install.sh PYTHON38 ENV_DIR}
repo=$(cd "$(dirname "$0")/../.." && pwd)
lock=$repo/envs/locks/openvino-2021.4.txt
source_cpp=$repo/src/edgeconv/targets/myriad_compile/myriad_compile.cpp
# Debian bookworm's libusb-1.0-0, pinned by version and sha256 (the MYRIAD plugin links it).
LIBUSB_DEB_VERSION=2:1.0.26-1
LIBUSB_DEB_SHA256=0a8a6c4a7d944538f2820cbde2a313f2fe6f94c21ffece9e6f372fc2ab8072e1

command -v g++ >/dev/null || { echo "error: make rvc2-env needs g++ to build myriad_compile (Debian: apt-get install g++)" >&2; exit 1; }
rm -rf "$env"
"$python38" -m venv "$env"
# --no-deps: the lock lists every package mo needs (see envs/locks/openvino-2021.4.in).
"$env/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r "$lock"

mkdir -p "$env/lib"
libusb="system"
if ! /sbin/ldconfig -p 2>/dev/null | grep -q "libusb-1.0.so.0 (libc6,x86-64)"; then
    command -v apt-get >/dev/null || { echo "error: the MYRIAD plugin needs libusb-1.0: install it (Debian/Ubuntu: libusb-1.0-0, Fedora: libusb1)" >&2; exit 1; }
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    # apt-get download needs no root: the package is unpacked into the environment, not installed.
    (cd "$work" && apt-get download -q "libusb-1.0-0=$LIBUSB_DEB_VERSION" >/dev/null)
    deb=$(ls "$work"/libusb-1.0-0_*.deb)
    echo "$LIBUSB_DEB_SHA256  $deb" | sha256sum --check --quiet
    dpkg-deb -x "$deb" "$work/root"
    cp -P "$work"/root/usr/lib/x86_64-linux-gnu/libusb-1.0.so.0* "$env/lib/"
    libusb="libusb-1.0-0 $LIBUSB_DEB_VERSION (sha256 $LIBUSB_DEB_SHA256)"
fi

libs=$(ls -d "$env"/lib/python3.8/site-packages/openvino/libs)
g++ -std=c++17 -O2 -D_GLIBCXX_USE_CXX11_ABI=0 -o "$env/bin/myriad_compile" "$source_cpp" \
    -L"$libs" -linference_engine -ldl -Wl,-rpath,'$ORIGIN/../lib/python3.8/site-packages/openvino/libs'
# What built it, for the build info of every blob (myriad_compile --version prints the OpenVINO build).
cat >"$env/myriad_compile.json" <<JSON
{"source_sha256": "$(sha256sum "$source_cpp" | cut -c1-64)", "compiler": "$(g++ --version | head -1)", "libusb": "$libusb"}
JSON
"$env/bin/myriad_compile" --version
