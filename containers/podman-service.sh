#!/usr/bin/env bash
# Starts podman's Docker-compatible API service (for toolchains.<target>.runtime: docker without a
# Docker engine) and prints the DOCKER_HOST to export. Restarts the service it started before, so a
# service left running from another checkout (whose directory may be gone) is never reused.
#   eval "$(containers/podman-service.sh)"        # sets DOCKER_HOST in this shell
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${EDGECONV_PODMAN_DIR:-${XDG_RUNTIME_DIR:-/tmp}/edgeconv-podman}
sock=$dir/podman.sock
mkdir -p "$dir"
if [ -z "${CONTAINERS_CONF:-}" ]; then
    cp "$here/containers.conf" "$dir/containers.conf"  # a stable copy: the checkout may move or go
    export CONTAINERS_CONF=$dir/containers.conf
fi
if [ -f "$dir/service.pid" ] && kill -0 "$(cat "$dir/service.pid")" 2>/dev/null; then
    kill "$(cat "$dir/service.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$(cat "$dir/service.pid")" 2>/dev/null || break; sleep 0.1; done
fi
if ! curl -sf --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; then
    rm -f "$sock"
    cd "$dir"  # the service must not hold on to the caller's directory
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
