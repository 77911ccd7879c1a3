#!/usr/bin/env bash
# Builds a target's image without any image registry: a Debian 11 rootfs from debootstrap,
# the target's install.sh run inside it with podman, then `podman import` with the labels
# edgeconv checks (io.edgeconv.target, io.edgeconv.tools, io.edgeconv.versions).
#   containers/build-rootfs.sh rvc2 [IMAGE]      (default IMAGE: localhost/edgeconv-rvc2:<version>)
# Needs root, debootstrap, podman and runc (apt-get install podman runc debootstrap).
set -euo pipefail
target=${1:?usage: containers/build-rootfs.sh TARGET [IMAGE]}
here=$(cd "$(dirname "$0")" && pwd)
recipe=$here/$target
[ -f "$recipe/install.sh" ] || { echo "error: no recipe $recipe/install.sh" >&2; exit 2; }
. "$recipe/versions.env"
version=$(grep -m1 -o '=.*' "$recipe/versions.env" | tr -d '=')
image=${2:-localhost/edgeconv-$target:$version}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
# An image built from the same recipe files is kept; any change to them rebuilds it.
repo=$(dirname "$here")
recipe_hash=$(cat "$0" "$here"/*/install.sh "$here"/*/versions.env "$repo"/envs/locks/*.txt \
    "$repo"/src/edgeconv/targets/myriad_compile/* | sha256sum | cut -c1-16)
built=$(podman image inspect --format '{{index .Labels "io.edgeconv.recipe"}}' "$image" 2>/dev/null || true)
if [ "${EDGECONV_REBUILD:-0}" != 1 ] && [ "$built" = "$recipe_hash" ]; then
    echo "[build-rootfs] $image is up to date with its recipe ($recipe_hash; EDGECONV_REBUILD=1 rebuilds it)"
    exit 0
fi
# pip inside the build container needs the host's CA bundle (what `pip config list` calls cert).
cert=$(python3 -m pip config list 2>/dev/null | sed -n "s/^global.cert='\(.*\)'$/\1/p" | head -1)
cert=${cert:-/etc/ssl/certs/ca-certificates.crt}
work=$(mktemp -d "${TMPDIR:-/tmp}/edgeconv-rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "[build-rootfs] debootstrap bullseye -> $work/rootfs"
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip bullseye "$work/rootfs" \
    http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; exit 1; }
echo "[build-rootfs] $target/install.sh inside the rootfs"
podman run --rm --network host --rootfs \
    -v "$repo/containers:/src/containers:ro" -v "$repo/envs/locks:/src/envs/locks:ro" \
    -v "$repo/src/edgeconv/targets/myriad_compile:/src/src/edgeconv/targets/myriad_compile:ro" \
    -v "$cert:/etc/edgeconv-build-ca.crt:ro" \
    -e PIP_CERT=/etc/edgeconv-build-ca.crt -e HOME=/root \
    "$work/rootfs" /bin/sh "/src/containers/$target/install.sh"
rm -rf "$work/rootfs/src" 2>/dev/null || true
rm -f "$work/rootfs/etc/edgeconv-build-ca.crt"
tools=$(sed "s/ *$//" "$work/rootfs/etc/edgeconv/tools")
echo "[build-rootfs] podman import -> $image"
tar -C "$work/rootfs" --numeric-owner -c . | podman import \
    --change "ENV PATH=/usr/local/bin:/usr/bin:/bin" \
    --change "LABEL io.edgeconv.target=$target" \
    --change "LABEL io.edgeconv.recipe=$recipe_hash" \
    --change "LABEL io.edgeconv.tools=$tools" \
    --change "LABEL io.edgeconv.versions=$(tr '\n' ' ' <"$work/rootfs/etc/edgeconv/versions" | sed 's/ *$//')" \
    - "$image"
podman image inspect --format '{{.Id}} {{.Config.Labels}}' "$image"
