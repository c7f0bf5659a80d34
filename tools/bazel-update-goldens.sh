#!/usr/bin/env bash
# Regenerates the golden artifacts that only the Bazel tests use, after an intended change of
# capgate's output (tools/update-goldens.sh covers tests/cases/*/out):
#   rules/tests/testdata/golden         bazel run //rules/tests:subject.update
#   e2e/smoke/servers/bar/golden        bazel run //servers/bar:sandbox.update   (in e2e/smoke)
# With --examples, also writes examples/<server>/out for every example.
# Review the diff before committing. Works from any directory; same env as tools/bazel-test.sh.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
export CAPGATE_BIN=${CAPGATE_BIN:-$repo/target/x86_64-unknown-linux-gnu/release/capgate}
root=${BAZEL_OUTPUT_USER_ROOT:-/tmp/capgate-bazel-$(id -u)}
bz() { bazel --output_user_root="$root" "$@"; }

"$repo/tools/offline/write-bazelrc.sh" >/dev/null
cd "$repo"
bz run //rules/tests:subject.update 2>/dev/null
if [[ ${1:-} == --examples ]]; then
  for m in examples/*/capgate.json; do
    s=${m#examples/}
    bz run "//examples:${s%/capgate.json}.update" 2>/dev/null
  done
fi
bz shutdown
cd "$repo/e2e/smoke"
bz run //servers/bar:sandbox.update 2>/dev/null
bz shutdown
