#!/bin/sh
# Installs RVC3's tools: mo and POT as for rvc2, plus the compile_tool with the VPUX plugin,
# which is not on PyPI: put the OpenVINO 2022.3 toolkit archive with VPUX support (the one the
# reference's RVC3 image is built from, l_openvino_toolkit_*vpux*_2022.3*.tgz) in vendor/.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
sh "$HERE/../rvc2/install.sh"
for archive in "$HERE"/vendor/l_openvino_toolkit_*2022.3*.tgz; do
    [ -f "$archive" ] || continue
    mkdir -p /opt/openvino-vpux
    tar -xzf "$archive" -C /opt/openvino-vpux --strip-components=1
    ln -sf /opt/openvino-vpux/tools/compile_tool/compile_tool /usr/local/bin/compile_tool
done
for tool in mo pot compile_tool; do command -v "$tool" >/dev/null && printf '%s ' "$tool"; done >/etc/edgeconv/tools
{ grep -v '^#' "$HERE/versions.env"; grep '^LOCK_SHA256=' /etc/edgeconv/versions; } >/etc/edgeconv/versions.new
mv /etc/edgeconv/versions.new /etc/edgeconv/versions
