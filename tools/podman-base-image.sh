#!/usr/bin/env bash
# Builds the minimal base image capgate exec uses for the docker target when a
# manifest names no image: an empty root with the merged-/usr symlinks, into
# which the profile's binds (/usr read-only) and the grants are mounted.
# No registry is needed (`podman import` of a hand-made rootfs).
# Usage: bash tools/podman-base-image.sh [IMAGE]   (default localhost/capgate-base:1)
set -euo pipefail
image=${1:-localhost/capgate-base:1}
podman=(podman)
if command -v runc >/dev/null; then podman+=(--runtime runc --cgroup-manager cgroupfs); fi
if "${podman[@]}" image exists "$image"; then
  echo "podman-base-image: $image exists"
  exit 0
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{usr,tmp,run,proc,dev,sys,etc,data}
chmod 1777 "$root/tmp"
ln -s usr/bin "$root/bin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
ln -s usr/sbin "$root/sbin"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name -C "$root" -cf - . |
  "${podman[@]}" import --change 'CMD ["/bin/false"]' - "$image" >/dev/null
echo "podman-base-image: built $image"
