#!/usr/bin/env bash
# Installs the six real MCP servers the runtime tests use into a scratch lab
# directory and creates the fixtures (pinned versions; npm and PyPI only):
#   npm:  @modelcontextprotocol/server-filesystem, -everything, -memory @ 2026.8.31
#   PyPI: mcp-server-time 2026.10.19, mcp-server-fetch 2026.10.24, mcp-server-git 2026.10.19
# The venv is made from Debian's /usr/bin/python3 so its interpreter lies under
# /usr, which the sandbox binds. Also builds the podman base image.
# Usage: bash tools/runtime-setup.sh [LAB]   (default: $CAPGATE_LAB or /tmp/capgate-lab)
# Prints the lab path on its last line. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
lab=${1:-${CAPGATE_LAB:-/tmp/capgate-lab}}
mkdir -p "$lab"
chmod 755 "$lab"

if [[ ! -f $lab/npm/.done ]]; then
  mkdir -p "$lab/npm"
  (cd "$lab/npm" && npm init -y >/dev/null &&
    npm install --no-audit --no-fund --loglevel=error \
      @modelcontextprotocol/server-filesystem@2026.8.31 \
      @modelcontextprotocol/server-everything@2026.8.31 \
      @modelcontextprotocol/server-memory@2026.8.31 >/dev/null)
  touch "$lab/npm/.done"
fi

if [[ ! -f $lab/venv/.done ]]; then
  /usr/bin/python3 -m venv "$lab/venv"
  "$lab/venv/bin/pip" install -q --disable-pip-version-check \
    mcp-server-time==2026.10.19 mcp-server-fetch==2026.10.24 mcp-server-git==2026.10.19
  touch "$lab/venv/.done"
fi

# Fixtures. Writable ones belong to the sandbox uid (capgate never chowns binds).
mkdir -p "$lab/data/fsroot" "$lab/data/outside" "$lab/data/memdir" "$lab/data/www"
echo "hello from fsroot" >"$lab/data/fsroot/hello.txt"
echo "top secret outside the binds" >"$lab/data/outside/secret.txt"
ln -sfn ../outside/secret.txt "$lab/data/fsroot/link-out"
echo "hello from the allowed page" >"$lab/data/www/index.html"
chown -R 65534:65534 "$lab/data/fsroot" "$lab/data/memdir" 2>/dev/null || true
if [[ ! -d $lab/data/repo/.git ]]; then
  mkdir -p "$lab/data/repo"
  git -C "$lab/data/repo" init -q
  echo "readme" >"$lab/data/repo/README.md"
  git -C "$lab/data/repo" add README.md
  git -C "$lab/data/repo" -c user.name=lab -c user.email=lab@example.com commit -qm init
  chown -R 65534:65534 "$lab/data/repo" 2>/dev/null || true
fi

if command -v podman >/dev/null; then
  bash tools/podman-base-image.sh >/dev/null
fi
echo "$lab"
