#!/bin/sh
# Installs the Hailo Dataflow Compiler into /opt/hailo (toolchains.hailo.python: /opt/hailo/bin/python)
# from the wheel the user downloads from Hailo's Developer Zone into vendor/.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/versions.env"
wheel=$(ls "$HERE"/vendor/hailo_dataflow_compiler-"${HAILO_DFC_VERSION}"-*.whl 2>/dev/null | head -1)
[ -n "$wheel" ] || { echo "error: put hailo_dataflow_compiler-${HAILO_DFC_VERSION}-*.whl in containers/hailo/vendor/" >&2; exit 1; }
apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-pip python3-dev graphviz
python3 -m venv /opt/hailo
# numpy (and pip) from the lock; the DFC wheel pins its own dependencies.
LOCK="$HERE/../../envs/locks/hailo-image.txt"
/opt/hailo/bin/python -m pip install --no-cache-dir --require-hashes -r "$LOCK"
/opt/hailo/bin/python -m pip install --no-cache-dir "$wheel"
mkdir -p /etc/edgeconv
echo "/opt/hailo/bin/python" >/etc/edgeconv/tools
{ grep -v '^#' "$HERE/versions.env"; echo "LOCK_SHA256=$(sha256sum "$LOCK" | cut -c1-64)"
  echo "DFC_WHEEL_SHA256=$(sha256sum "$wheel" | cut -c1-64)"; } >/etc/edgeconv/versions
