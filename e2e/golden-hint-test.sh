#!/usr/bin/env bash
# The golden workflow of capgate_sandbox as a user meets it, in a scratch copy of e2e/smoke
# (capgate consumed as an external repository), with Debian's Bazel 4.2.3 offline:
#   - committed goldens pass; an edited manifest fails the golden test with a unified diff and
#     the exact `bazel run ...update` command; running it makes the test pass again;
#   - missing goldens fail with the same hint; the updater creates them;
#   - a manifest capgate rejects fails `bazel build` with capgate's diagnostic (code, span, hint).
# Prints one "PASS: <check>" or "FAIL: <check>" line per check; exits non-zero on any failure.
#
# Usage: e2e/golden-hint-test.sh     (from anywhere)
# Env:   CAPGATE_BIN (default: the static release binary in target/), BAZEL_OUTPUT_USER_ROOT
#        (default /tmp/capgate-bazel-$UID); the scratch workspace lives under it.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
root=${BAZEL_OUTPUT_USER_ROOT:-/tmp/capgate-bazel-$(id -u)}
ws=$root/scratch/golden-hint   # a fixed path, so a second run reuses its output base
export CAPGATE_BIN=${CAPGATE_BIN:-$repo/target/x86_64-unknown-linux-gnu/release/capgate}
failures=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

bz() { (cd "$ws" && bazel --output_user_root="$root" "$@") >"$log" 2>&1; }
pass() { echo "PASS: $1"; }
fail() {
  echo "FAIL: $1"
  sed 's/^/    | /' "$log" | tail -n 60
  failures=$((failures + 1))
}
has() { grep -qF -- "$1" "$log"; }

# A fresh copy of the smoke workspace (without convenience symlinks or its offline rc).
rm -rf "$ws"
mkdir -p "$ws"
(cd "$repo/e2e/smoke" && tar --exclude='./bazel-*' --exclude='./.bazelrc.offline' -cf - .) | (cd "$ws" && tar -xf -)
"$repo/tools/offline/write-bazelrc.sh" "$ws" >/dev/null
# The copy is not two levels below the checkout, so point @capgate at it explicitly.
echo "common --override_repository=capgate=$repo" >>"$ws/.bazelrc.offline"

update_cmd="bazel run //servers/bar:sandbox.update"
test_target=//servers/bar:sandbox_golden_test

# 1. The committed goldens match.
if bz test "$test_target"; then
  pass "golden-baseline: committed goldens of //servers/bar:sandbox match"
else
  fail "golden-baseline: committed goldens of //servers/bar:sandbox match"
fi

# 2. Edit the manifest: the golden test fails with a unified diff and the update command.
sed -i 's/dict\.example\.com:443/dict.example.org:443/' "$ws/servers/bar/capgate.json"
if bz test "$test_target"; then
  fail "golden-stale: an edited manifest fails the golden test (it passed)"
elif has "$update_cmd" && has "(committed)" && has "(bazel build)" && grep -q '^@@ ' "$log" &&
  grep -q '^+.*dict\.example\.org' "$log"; then
  pass "golden-stale: an edited manifest fails the golden test with a diff and '$update_cmd'"
else
  fail "golden-stale: the failure shows a unified diff and '$update_cmd'"
fi

# 3. The update command fixes it.
if bz run //servers/bar:sandbox.update && grep -q 'dict\.example\.org' "$ws/servers/bar/golden/egress/squid.conf" &&
  bz test "$test_target"; then
  pass "golden-update: '$update_cmd' rewrites the goldens and the test passes"
else
  fail "golden-update: '$update_cmd' rewrites the goldens and the test passes"
fi

# 4. Missing goldens (a new package) fail with the hint; the updater creates them.
rm -rf "$ws/servers/bar/golden"
if bz test "$test_target"; then
  fail "golden-missing: missing goldens fail the test (it passed)"
elif has "missing: servers/bar/golden/index.json" && has "$update_cmd"; then
  if bz run //servers/bar:sandbox.update && bz test "$test_target"; then
    pass "golden-missing: missing goldens fail with the hint; the updater creates them"
  else
    fail "golden-missing: the updater creates missing goldens"
  fi
else
  fail "golden-missing: the failure names the missing files and '$update_cmd'"
fi

# 5. A manifest capgate rejects fails the build with the diagnostic: code, span and hint.
sed -i 's/dict\.example\.org:443/dict.example.org:99999/' "$ws/servers/bar/capgate.json"
if bz build //servers/bar:sandbox; then
  fail "diagnostic: a rejected manifest fails the build (it built)"
elif grep -Eq 'error\[CG[0-9]{4}\]' "$log" && grep -Eq -- '--> servers/bar/capgate\.json:[0-9]+:[0-9]+' "$log" &&
  grep -q 'hint:' "$log" && has "99999"; then
  pass "diagnostic: a rejected manifest fails 'bazel build' with capgate's code, span and hint"
else
  fail "diagnostic: the build failure shows capgate's code, span and hint"
fi

(cd "$ws" && bazel --output_user_root="$root" shutdown >/dev/null 2>&1) || true
exit $((failures > 0))
