#!/usr/bin/env bash
# Runs every test suite of capgate and ends with one line "N passed, M failed".
# Usage: bash tools/test.sh        (from anywhere; installs test tools when root)
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh || exit 1

passed=0
failed=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

# count_cargo FILE: add the "test result:" lines of a cargo test log.
count_cargo() {
  awk '/^test result:/ {
      for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }
    } END { print p + 0, f + 0 }' "$1"
}

# count_plain FILE: the last "N passed, M failed" line of a suite script.
count_plain() {
  grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1 | awk '{ print $1 + 0, $3 + 0 }'
}

# suite NAME KIND COMMAND...: KIND is "cargo" (count test results), "counted"
# (a script ending with "N passed, M failed") or "check" (one pass/fail).
suite() {
  local name=$1 kind=$2
  shift 2
  local start=$SECONDS out="$log/$name.log" rc
  echo "=== $name: $*"
  "$@" >"$out" 2>&1
  rc=$?
  if [[ $kind == cargo || $kind == counted ]]; then
    if [[ $kind == cargo ]]; then
      read -r p f < <(count_cargo "$out")
    else
      read -r p f < <(count_plain "$out")
      p=${p:-0} f=${f:-0}
    fi
    if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi   # build failure or crash
    passed=$((passed + p))
    failed=$((failed + f))
  elif [[ $rc -eq 0 ]]; then
    p=1 f=0
    passed=$((passed + 1))
  else
    p=0 f=1
    failed=$((failed + 1))
  fi
  if [[ $rc -ne 0 ]]; then tail -n 60 "$out"; fi
  grep -E 'SKIPPED' "$out" || true
  echo "--- $name: $p passed, $f failed, exit $rc, $((SECONDS - start)) s"
}

# The six real MCP servers (npm, PyPI) and fixtures for the runtime tests.
lab_log="$log/lab-path"
suite runtime-setup check bash -c "bash tools/runtime-setup.sh > '$lab_log'"
CAPGATE_LAB=$(tail -n 1 "$lab_log" 2>/dev/null)
export CAPGATE_LAB

suite cargo-test cargo cargo test --locked --all-features --no-fail-fast
suite rustfmt check cargo fmt --all -- --check
suite clippy check cargo clippy --locked --all-targets -- -D warnings
suite static-binary check bash -c '
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --locked --release --target x86_64-unknown-linux-gnu &&
  bin=target/x86_64-unknown-linux-gnu/release/capgate &&
  test "$($bin --version)" = "$(cargo metadata --no-deps --format-version 1 | grep -o "\"version\":\"[^\"]*\"" | head -1 | cut -d\" -f4)" &&
  ldd "$bin" 2>&1 | grep -qE "statically linked|not a dynamic executable"'
suite bazel counted bash tools/bazel-test.sh
suite demo check bash tools/demo.sh
suite attestation counted bash tools/attestation-test.sh
suite review-schemas counted bash tools/review-test.sh
suite nix counted bash tools/nix-test.sh
suite escape-suite counted python3 tools/escape-suite.py --capgate target/x86_64-unknown-linux-gnu/release/capgate

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
