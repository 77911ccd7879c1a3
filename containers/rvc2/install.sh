#!/bin/sh
# Installs RVC2's tools into the image; run inside it as root (Containerfile RUN, or
# containers/build-rootfs.sh). Pinned versions: versions.env beside this file.
#  - mo, pot: openvino-dev[onnx] from PyPI into /opt/openvino (Python 3.9 of Debian 11), from
#    envs/locks/openvino-2022.3.txt.
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
# What the image has, for the io.edgeconv.* labels (containers/build-rootfs.sh) and buildinfo.
mkdir -p /etc/edgeconv
for tool in mo pot compile_tool; do command -v "$tool" >/dev/null && printf '%s ' "$tool"; done >/etc/edgeconv/tools
{ grep -v '^#' "$HERE/versions.env"; echo "LOCK_SHA256=$(sha256sum "$LOCK" | cut -c1-64)"; } >/etc/edgeconv/versions
mo --version
