#!/usr/bin/env bash
# Bazel benchmark: a generated workspace with N capgate_sandbox targets (default 1,000), one
# package and one varied manifest each, consuming capgate as an external repository.
# Measures, with Debian's Bazel 4.2.3 offline:
#   cold build        `bazel clean --expunge`, then `bazel build //...` (server start included)
#   clean build       `bazel clean`, then `bazel build //...` (warm server)
#   no-change rebuild must run 0 CapgateCompile actions
#   one manifest edit must run exactly 1 CapgateCompile action
# Action counts come from --execution_log_json_file (spawns actually executed).
#
# Usage: benches/bazel/bench.sh [--targets N] [--check]
#   --check  exit 1 unless the no-change rebuild ran 0 actions and the edit ran exactly 1
# Env: CAPGATE_BIN (default: the static release binary in target/), BAZEL_OUTPUT_USER_ROOT
#      (default /tmp/capgate-bazel-$UID); the workspace is generated under it.
set -euo pipefail
export LC_ALL=C

n=1000
check=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --targets) n=$2; shift 2 ;;
    --check) check=1; shift ;;
    *) echo "usage: $0 [--targets N] [--check]" >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
root=${BAZEL_OUTPUT_USER_ROOT:-/tmp/capgate-bazel-$(id -u)}
ws=$root/scratch/bench-$n
export CAPGATE_BIN=${CAPGATE_BIN:-$repo/target/x86_64-unknown-linux-gnu/release/capgate}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bz() { (cd "$ws" && bazel --output_user_root="$root" "$@"); }

# manifest I [EXTRA_CAP]: a deterministic manifest that varies with I.
manifest() {
  local i=$1 extra=${2:-}
  local caps=("\"fs:read:/opt/mcp/bench-$i/**\"")
  ((i % 2 == 0)) && caps+=("{ \"cap\": \"fs:read,write,create:/srv/mcp/bench-$i/**\", \"why\": \"its data\" }")
  ((i % 3 == 0)) && caps+=("\"net:connect:api$((i % 97)).example.com:443\"")
  ((i % 5 == 0)) && caps+=("\"env:inject:BENCH_TOKEN_$i\"")
  ((i % 7 == 0)) && caps+=("\"net:connect:10.$((i % 250)).0.0/16:$((5000 + i))\"")
  ((i % 11 == 0)) && caps+=("\"clock:read:tzdata\"")
  caps+=("\"limit:set:memory=$((64 * (1 + i % 8)))MiB\"")
  [[ -n $extra ]] && caps+=("\"$extra\"")
  local joined
  joined=$(printf ',\n    %s' "${caps[@]}")
  cat <<JSON
{
  "grammar": "1",
  "name": "bench-$i",
  "version": "1.0.$i",
  "command": ["/usr/bin/node", "\${PKG}/dist/index.js"],
  "params": { "PKG": { "description": "package directory" } },
  "capabilities": [${joined:1}
  ],
  "tools": [
    { "name": "t$i", "capabilities": ["net:connect:svc$i.example.net:$((1000 + i % 60000))"] }
  ]
}
JSON
}

echo "bench: generating $n capgate_sandbox targets in $ws"
rm -rf "$ws"
mkdir -p "$ws/servers"
cat >"$ws/WORKSPACE" <<WS
workspace(name = "capgate_bench")

local_repository(name = "capgate", path = "$repo")

load("@capgate//rules:repositories.bzl", "capgate_register_toolchains")

capgate_register_toolchains()
WS
printf 'build --nosandbox_debug\nbuild --incompatible_strict_action_env\ntry-import %%workspace%%/.bazelrc.offline\n' >"$ws/.bazelrc"
"$repo/tools/offline/write-bazelrc.sh" "$ws" >/dev/null
for ((i = 0; i < n; i++)); do
  d=$(printf '%s/servers/s%04d' "$ws" "$i")
  mkdir -p "$d"
  manifest "$i" >"$d/capgate.json"
  printf 'load("@capgate//rules:defs.bzl", "capgate_sandbox")\n\ncapgate_sandbox(\n    name = "sandbox",\n    manifest = "capgate.json",\n    params = {"PKG": "/opt/mcp/bench-%d"},\n)\n' "$i" >"$d/BUILD.bazel"
done

# build LABEL: run `bazel build //...`, print seconds and executed CapgateCompile actions.
build() {
  local label=$1 start end secs actions
  start=$(date +%s.%N)
  if ! bz build //... --execution_log_json_file="$tmp/exec.json" >"$tmp/build.log" 2>&1; then
    echo "bench: $label build failed:" >&2
    tail -n 40 "$tmp/build.log" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  actions=$(grep -c '"mnemonic": "CapgateCompile"' "$tmp/exec.json" || true)
  local procs
  procs=$(grep -o 'INFO: [0-9]* process[^.]*' "$tmp/build.log" | tail -n 1 | sed 's/^INFO: //')
  printf '%-26s %7s s   %5s CapgateCompile actions   (%s)\n' "$label" "$secs" "$actions" "$procs"
  last_actions=$actions
}

echo "bench: $n targets, $(nproc) cores, $(bazel --version 2>/dev/null || echo bazel) ($(dpkg-query -W -f '${Version}' bazel-bootstrap 2>/dev/null || echo '?')), capgate $("$CAPGATE_BIN" --version)"
bz clean --expunge >/dev/null 2>&1 || true
build "cold build"
cold_actions=$last_actions
bz clean >/dev/null 2>&1
build "clean build (warm server)"
build "no-change rebuild"
nochange=$last_actions
edit=$(printf '%s/servers/s%04d/capgate.json' "$ws" $((n / 2)))
manifest $((n / 2)) "net:connect:edited.example.com:443" >"$edit"
build "one manifest changed"
onechange=$last_actions
# Leave nothing behind: the output base (this also stops the server) and the workspace.
bz clean --expunge >/dev/null 2>&1 || true
rm -rf "$ws"

echo "bench: cold=$cold_actions actions, no-change=$nochange, one-change=$onechange"
if [[ $check -eq 1 ]]; then
  if [[ $cold_actions -eq $n && $nochange -eq 0 && $onechange -eq 1 ]]; then
    echo "PASS: incremental: $n targets cold, 0 actions on a no-change rebuild, 1 after one manifest edit"
  else
    echo "FAIL: incremental: expected $n / 0 / 1 CapgateCompile actions, got $cold_actions / $nochange / $onechange"
    exit 1
  fi
fi
