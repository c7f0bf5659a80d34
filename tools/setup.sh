#!/usr/bin/env bash
# Installs what capgate's tests use on a Debian machine: bubblewrap, podman
# with runc, squid, nftables, iproute2 (the runtime and escape tests run real
# sandboxes and a test-made network namespace), and python3-venv (the PyPI
# MCP servers live in a venv of Debian's python3), and nix-bin +
# nix-setup-systemd (Nix 2.8 builds the sandbox configs in its sandbox), and
# bazel-bootstrap + bazel-skylib (Bazel 4.2.3 runs the rules offline).
# Needs root for apt-get; without root it only reports what is missing.
set -euo pipefail

packages=(squid nftables bubblewrap podman runc catatonit socat iproute2 python3-venv git nix-bin nix-setup-systemd bazel-bootstrap bazel-skylib)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v cargo >/dev/null; then
  echo "setup: cargo is required (https://rustup.rs); this machine has none" >&2
  exit 1
fi
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2
    exit 0
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "setup: ok"
