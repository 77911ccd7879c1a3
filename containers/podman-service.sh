#!/usr/bin/env bash
# Starts podman's Docker-compatible API service (for toolchains.<target>.runtime: docker without a
# Docker engine) and prints the DOCKER_HOST to export. Idempotent: reuses a running service.
#   eval "$(containers/podman-service.sh)"        # sets DOCKER_HOST in this shell
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
dir=${EDGECONV_PODMAN_DIR:-${XDG_RUNTIME_DIR:-/tmp}/edgeconv-podman}
sock=$dir/podman.sock
mkdir -p "$dir"
if ! curl -sf --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then
    rm -f "$sock"
    nohup podman system service --time=0 "unix://$sock" >"$dir/service.log" 2>&1 &
    echo $! >"$dir/service.pid"
    for _ in $(seq 1 50); do
        curl -sf --unix-socket "$sock" http://d/_ping >/dev/null 2>&1 && break
        sleep 0.2
    done
    curl -sf --unix-socket "$sock" http://d/_ping >/dev/null 2>&1 \
        || { echo "error: podman system service did not start; see $dir/service.log" >&2; exit 1; }
fi
echo "export DOCKER_HOST=unix://$sock"
