#!/usr/bin/env bash
# Byte equality of `bazel build` and `capgate compile --out-dir`: for every golden case
# (tests/cases/*), every example (examples/*) and the rules' own test subjects, the directory
# Bazel produced (bazel-bin/<package>/<name>/) must hold exactly the files the CLI writes for
# the same manifest, params and flags, byte for byte. Uses the same binary as the toolchain.
# Prints "PASS: ..." or "FAIL: ..." (one check); exits non-zero on failure.
#
# The smoke workspace's //servers/bar targets are compared too (capgate as an external repo).
#
# Usage: e2e/bazel-vs-cli-test.sh     (from anywhere)
# Env:   CAPGATE_BIN (default: the static release binary in target/), BAZEL_OUTPUT_USER_ROOT
set -uo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
root=${BAZEL_OUTPUT_USER_ROOT:-/tmp/capgate-bazel-$(id -u)}
bin=${CAPGATE_BIN:-$repo/target/x86_64-unknown-linux-gnu/release/capgate}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$repo"

bz() { bazel --output_user_root="$root" "$@"; }

if ! bz build //tests/cases:all //examples:all //rules/tests:subject //rules/tests:subject_subset >"$tmp/build.log" 2>&1; then
  echo "FAIL: bazel-vs-cli: bazel build failed"
  tail -n 40 "$tmp/build.log" | sed 's/^/    | /'
  exit 1
fi
bazel_bin=$(bz info bazel-bin 2>/dev/null)

compared=0
bad=0
# compare NAME BAZEL_DIR CLI_ARGS...: compile with the CLI into a fresh dir, diff the trees.
compare() {
  local name=$1 bdir=$2
  shift 2
  local cdir=$tmp/cli/$name
  mkdir -p "$(dirname "$cdir")"
  if ! "$bin" compile "$@" --out-dir "$cdir" >"$tmp/cli.log" 2>&1; then
    echo "    $name: capgate compile failed:"
    sed 's/^/    | /' "$tmp/cli.log"
    bad=$((bad + 1))
    return
  fi
  compared=$((compared + 1))
  if ! diff <(cd "$cdir" && find . ! -type d | sort) <(cd "$bdir" && find . ! -type d | sort) >"$tmp/list.diff"; then
    echo "    $name: different file sets (< CLI, > Bazel):"
    sed 's/^/    | /' "$tmp/list.diff"
    bad=$((bad + 1))
    return
  fi
  local f
  while IFS= read -r f; do
    if ! cmp -s "$cdir/$f" "$bdir/$f"; then
      echo "    $name: $f differs between the CLI and Bazel"
      bad=$((bad + 1))
    fi
  done < <(cd "$cdir" && find . ! -type d | sort)
}

for dir in tests/cases/*/ examples/*/; do
  dir=${dir%/}
  [[ -f $dir/capgate.json ]] || continue
  args=("$dir/capgate.json")
  [[ -f $dir/capgate.params.json ]] && args+=(--params-file "$dir/capgate.params.json")
  # capgate.targets.json opts a case in to every target, oci included (tests/golden.rs checks it).
  [[ -f $dir/capgate.targets.json ]] && args+=(--target bwrap --target docker --target egress --target oci)
  compare "$dir" "$bazel_bin/$dir" "${args[@]}"
done
# The subjects of rules/tests: --param from a dict, and a target subset with flags.
compare rules/tests/subject "$bazel_bin/rules/tests/subject" rules/tests/testdata/capgate.json \
  --param DATA=/srv/mcp/data --param PKG=/opt/mcp/subject
compare rules/tests/subject_subset "$bazel_bin/rules/tests/subject_subset" rules/tests/testdata/capgate.json \
  --target egress --target bwrap --params-file rules/tests/testdata/capgate.params.json --deny-warnings

# The smoke workspace, where capgate is an external repository.
if (cd "$repo/e2e/smoke" && bz build //servers/bar:all) >"$tmp/e2e.log" 2>&1; then
  e2e_bin=$(cd "$repo/e2e/smoke" && bz info bazel-bin 2>/dev/null)
  compare e2e/smoke/servers/bar/sandbox "$e2e_bin/servers/bar/sandbox" e2e/smoke/servers/bar/capgate.json \
    --param PKG=/opt/mcp/bar
  compare e2e/smoke/servers/bar/sandbox_bwrap "$e2e_bin/servers/bar/sandbox_bwrap" e2e/smoke/servers/bar/capgate.json \
    --target bwrap --params-file e2e/smoke/servers/bar/capgate.params.json
else
  echo "    e2e/smoke: bazel build //servers/bar:all failed:"
  tail -n 40 "$tmp/e2e.log" | sed 's/^/    | /'
  bad=$((bad + 1))
fi

if [[ $bad -eq 0 && $compared -gt 0 ]]; then
  echo "PASS: bazel-vs-cli: $compared bazel-bin out-dirs are byte-identical to capgate compile --out-dir"
  exit 0
fi
echo "FAIL: bazel-vs-cli: $bad difference(s) in $compared out-dirs"
exit 1
