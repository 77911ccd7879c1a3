#!/usr/bin/env bash
# Installs what the registry-free container path needs on Debian/Ubuntu: podman, runc (crun fails
# in some sandboxes; containers.conf selects runc) and debootstrap. Needs root; skips what is there.
set -euo pipefail
missing=()
for cmd in podman runc debootstrap; do command -v "$cmd" >/dev/null || missing+=("$cmd"); done
[ ${#missing[@]} -eq 0 ] && { echo "[install-podman] podman, runc and debootstrap are installed"; exit 0; }
if [ "$(id -u)" != 0 ]; then
    echo "error: ${missing[*]} missing; install them as root: apt-get install -y podman runc debootstrap" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
echo "[install-podman] installed ${missing[*]}"
