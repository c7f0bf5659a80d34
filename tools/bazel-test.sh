#!/usr/bin/env bash
# Runs every Bazel check of capgate, offline, with Debian's Bazel 4.2.3, and ends with one line
# "N passed, M failed" (each Bazel test target and each scripted check counts once).
#
#   1. bazel test //...            in the repository (analysis tests, golden tests over
#                                  tests/cases/* and examples/*, the rules' own golden test)
#   2. e2e/smoke                   a user's workspace consuming capgate as an external
#                                  repository: bazel build //servers/bar:sandbox, bazel test //...
#   3. e2e/golden-hint-test.sh     edit a manifest in a scratch copy: diff + update hint, update,
#                                  missing goldens, a rejected manifest's diagnostic in the build
#   4. e2e/bazel-vs-cli-test.sh    bazel-bin out-dirs == `capgate compile --out-dir`, byte for byte
#   5. benches/bazel/bench.sh      --targets 40 --check: 0 actions on a no-change rebuild, 1 after
#                                  one manifest edit
#
# Usage: tools/bazel-test.sh     (from any directory; installs nothing)
# Needs: apt-get install bazel-bootstrap bazel-skylib, and the static capgate binary:
#   RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu
# Env:   CAPGATE_BIN             capgate binary (default target/x86_64-unknown-linux-gnu/release/capgate)
#        BAZEL_OUTPUT_USER_ROOT  Bazel's output root (default /tmp/capgate-bazel-$UID; safe to delete)
#        CI                      when set, a missing bazel is a failure instead of a skip
set -uo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
export CAPGATE_BIN=${CAPGATE_BIN:-$repo/target/x86_64-unknown-linux-gnu/release/capgate}
export BAZEL_OUTPUT_USER_ROOT=${BAZEL_OUTPUT_USER_ROOT:-/tmp/capgate-bazel-$(id -u)}
root=$BAZEL_OUTPUT_USER_ROOT

passed=0
failed=0
started=$SECONDS
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

if ! command -v bazel >/dev/null 2>&1; then
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  echo "SKIPPED: all Bazel checks: bazel is not installed (apt-get install bazel-bootstrap bazel-skylib)"
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  if [[ -n ${CI:-} ]]; then
    echo "CI is set: a missing bazel is a failure"
    echo "0 passed, 1 failed"
    exit 1
  fi
  echo "0 passed, 0 failed"
  exit 0
fi
if [[ ! -x $CAPGATE_BIN ]]; then
  echo "FAIL: no capgate binary at CAPGATE_BIN=$CAPGATE_BIN; build it with:"
  echo "  RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu"
  echo "0 passed, 1 failed"
  exit 1
fi

echo "=== bazel: $(command -v bazel); capgate: $CAPGATE_BIN ($("$CAPGATE_BIN" --version)); output root: $root"
mkdir -p "$root"
"$repo/tools/offline/write-bazelrc.sh"

bz() { bazel --output_user_root="$root" "$@"; }

# Bazel's convenience symlinks (bazel-bin, bazel-<dir>, ...) left by a build with another output
# root make `//...` descend into that other output base (external/bazel_tools/...) and fail.
# This run's build repoints them at its own output base anyway, so drop foreign ones first.
drop_foreign_symlinks() {
  local link target
  for link in "$1"/bazel-*; do
    [[ -L $link ]] || continue
    target=$(readlink "$link")
    if [[ $target != "$root"/* ]]; then
      echo "note: replacing $link (it points into another Bazel output root: $target)"
      rm -f "$link"
    fi
  done
}

# count_tests LOG RC NAME: add the per-target lines of a `bazel test` summary.
count_tests() {
  local out=$1 rc=$2 name=$3 p f
  read -r p f < <(awk '
    /^(@[^ ]*)?\/\/[^ ]+ +(\(cached\) )?[A-Z]/ {
      line = $0; sub(/^[^ ]+ +/, "", line); sub(/^\(cached\) /, "", line)
      if (line ~ /^PASSED/) p++; else f++
    }
    END { print p + 0, f + 0 }' "$out")
  if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi   # build or analysis failure before any test ran
  if [[ $p -eq 0 && $f -eq 0 ]]; then f=1; fi    # no test ran at all
  passed=$((passed + p))
  failed=$((failed + f))
  echo "--- $name: $p passed, $f failed (exit $rc)"
  if [[ $rc -ne 0 || $f -ne 0 ]]; then
    grep -vE '^(INFO: From |written )' "$out" | tail -n 80
  fi
}

# count_checks LOG RC NAME: add the PASS:/FAIL: lines of a check script.
count_checks() {
  local out=$1 rc=$2 name=$3 p f
  p=$(grep -c '^PASS: ' "$out" || true)
  f=$(grep -c '^FAIL: ' "$out" || true)
  if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi
  if [[ $p -eq 0 && $f -eq 0 ]]; then f=1; fi
  passed=$((passed + p))
  failed=$((failed + f))
  grep -E '^(PASS|FAIL): ' "$out" || true
  echo "--- $name: $p passed, $f failed (exit $rc)"
  if [[ $rc -ne 0 || $f -ne 0 ]]; then
    tail -n 80 "$out"
  fi
}

# check NAME COMMAND...: one scripted check, passed when COMMAND exits 0.
check() {
  local name=$1
  shift
  if "$@" >"$log/check.log" 2>&1; then
    echo "PASS: $name"
    passed=$((passed + 1))
  else
    echo "FAIL: $name"
    tail -n 60 "$log/check.log" | grep -vE '^(INFO: From |written )'
    failed=$((failed + 1))
  fi
}

step() {
  echo
  echo "=== $1 ($((SECONDS - started)) s so far)"
}

step "1. bazel test //... (repository)"
drop_foreign_symlinks "$repo"
(cd "$repo" && bz test //... --test_summary=short) >"$log/root.log" 2>&1
count_tests "$log/root.log" $? "bazel test //..."

step "2. e2e/smoke: capgate as an external repository"
drop_foreign_symlinks "$repo/e2e/smoke"
check "e2e-build: bazel build //servers/bar:sandbox (e2e/smoke)" \
  bash -c 'cd "$1" && bazel --output_user_root="$2" build //servers/bar:sandbox' _ "$repo/e2e/smoke" "$root"
(cd "$repo/e2e/smoke" && bz test //... --test_summary=short) >"$log/e2e.log" 2>&1
count_tests "$log/e2e.log" $? "bazel test //... (e2e/smoke)"

step "3. golden workflow and diagnostics in a scratch copy of e2e/smoke"
"$repo/e2e/golden-hint-test.sh" >"$log/hint.log" 2>&1
count_checks "$log/hint.log" $? "e2e/golden-hint-test.sh"

step "4. bazel build == capgate compile --out-dir, byte for byte"
"$repo/e2e/bazel-vs-cli-test.sh" >"$log/eq.log" 2>&1
count_checks "$log/eq.log" $? "e2e/bazel-vs-cli-test.sh"

step "5. incremental builds (small benchmark run)"
"$repo/benches/bazel/bench.sh" --targets 40 --check >"$log/bench.log" 2>&1
rc=$?
grep -vE '^(PASS|FAIL): ' "$log/bench.log" | tail -n 8
count_checks "$log/bench.log" $rc "benches/bazel/bench.sh --targets 40 --check"

# Leave no Bazel servers behind (each workspace has its own).
(cd "$repo" && bz shutdown) >/dev/null 2>&1 || true
(cd "$repo/e2e/smoke" && bz shutdown) >/dev/null 2>&1 || true

echo
echo "=== bazel checks took $((SECONDS - started)) s"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
