#!/bin/sh
# Installs SNPE (Qualcomm AI Runtime) from the archive the user downloads from Qualcomm
# (qpm.qualcomm.com / softwarecenter.qualcomm.com: v${QAIRT_VERSION}.zip) into vendor/.
# Base: Ubuntu 22.04 (Python 3.10), the platform QAIRT supports.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/versions.env"
archive="$HERE/vendor/v${QAIRT_VERSION}.zip"
[ -f "$archive" ] || { echo "error: put Qualcomm's QAIRT archive v${QAIRT_VERSION}.zip in containers/rvc4/vendor/" >&2; exit 1; }
apt-get update && apt-get install -y --no-install-recommends unzip python3 python3-venv python3-pip
# The archive unpacks to qairt/<version>/ (bin/, lib/, ...).
unzip -q "$archive" -d /opt
ln -sfn "/opt/qairt/${QAIRT_VERSION}" /opt/snpe
# The converters are Python programs: their dependencies (per the SDK's check-python-dependency),
# every package by version and sha256 (envs/locks/rvc4-image.txt).
LOCK="$HERE/../../envs/locks/rvc4-image.txt"
python3 -m pip install --no-cache-dir --require-hashes -r "$LOCK"
for tool in snpe-onnx-to-dlc snpe-dlc-quant snpe-dlc-graph-prepare snpe-dlc-info snpe-tflite-to-dlc; do
    ln -sf /opt/snpe/bin/x86_64-linux-clang/$tool /usr/local/bin/$tool
done
mkdir -p /etc/edgeconv
echo "snpe-onnx-to-dlc snpe-dlc-quant snpe-dlc-graph-prepare snpe-dlc-info" >/etc/edgeconv/tools
{ grep -v '^#' "$HERE/versions.env"; echo "LOCK_SHA256=$(sha256sum "$LOCK" | cut -c1-64)"; } >/etc/edgeconv/versions
