#!/usr/bin/env bash
# capgate's Nix tests, offline, with Debian's nix 2.8. Ends with one line "N passed, M failed"
# and exits non-zero when anything failed.
#
#   bash tools/nix-test.sh                       (from any directory)
#   CAPGATE_BIN=/abs/capgate bash tools/nix-test.sh
#
# Needs the static binary (default target/x86_64-unknown-linux-gnu/release/capgate, built with
#   RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu)
# and nix: `apt-get install -y nix-bin nix-setup-systemd`, run as root (the local store, no
# daemon needed) or as a user of a running nix-daemon. Installs nothing and edits no config:
# every option is passed on the command line (Debian's /etc/nix/nix.conf says sandbox = false;
# these tests always build with --option sandbox true and no binary cache). Without nix it
# prints a SKIPPED line, or fails when CI is set.
#
# Checks (each counted): the pure tests of nix/tests/eval.nix; nix-build of every example,
# test case and golden check in the sandbox, then again with --check; a golden mismatch that
# must fail with a diff; cross-builder equality (the sha256 of every artifact from nix-build,
# from `capgate compile`, and from a second compile elsewhere with another LC_ALL and TZ);
# `nix flake check` of flake.nix with the stub nixpkgs and capgate-bin overridden, and the
# flake's <example>-sandbox packages against the CLI; examples/nix-deployment (flake check,
# rebuild, artifacts, launcher, service and client config).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${CAPGATE_BIN:-$root/target/x86_64-unknown-linux-gnu/release/capgate}
system=x86_64-linux

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
finish() {
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
  exit
}

if ! command -v nix-build >/dev/null 2>&1 || ! command -v nix >/dev/null 2>&1; then
  if [[ -n ${CI:-} ]]; then
    echo "nix-test: nix is not installed, and CI is set: apt-get install -y nix-bin nix-setup-systemd"
    fail "nix is installed"
    finish
  fi
  echo "nix-test: SKIPPED: nix is not installed (apt-get install -y nix-bin nix-setup-systemd); no Nix test ran"
  finish
fi

case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
if [[ ! -x $bin ]]; then
  fail "static capgate binary at $bin (build it: cd $root && RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu)"
  finish
fi
# A dynamically linked builder fails in the Nix sandbox, which has no /lib64/ld-linux.
linkage=$(ldd "$bin" 2>&1 || true)
if grep -q '=>' <<<"$linkage"; then
  fail "$bin is statically linked (ldd lists shared libraries)"
  finish
fi
pass "capgate binary $bin is static ($("$bin" --version))"

work=$(mktemp -d)
mkdir -p "$work/cli" "$work/cli2"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
# Flake fetcher and evaluation caches of this run only.
export XDG_CACHE_HOME=$work/cache

opts=(--option sandbox true --option substituters '')
# Without nix-setup-systemd there is no nixbld group; root then builds without build users.
if [[ $(id -u) -eq 0 ]] && ! getent group nixbld >/dev/null 2>&1; then
  opts+=(--option build-users-group '')
fi
nixx=(nix --extra-experimental-features 'nix-command flakes')

# run LOG CMD...: run a command with its stdout in LOG and its stderr in LOG.err; on failure
# show the command and the tail of both.
run() {
  local log=$1
  shift
  if "$@" >"$log" 2>"$log.err"; then return 0; fi
  echo "  \$ $*" | cut -c1-400
  tail -n 25 "$log.err" | sed 's/^/  | /'
  tail -n 5 "$log" | sed 's/^/  > /'
  return 1
}

# sums DIR: "path sha256" of every file under DIR, byte-sorted; any entry that is neither a
# file nor a directory is listed as such (the artifact set is plain files only).
sums() {
  (
    cd "$1" || exit 1
    find . ! -type d ! -type f -printf 'NOT-A-FILE %P\n'
    find . -type f -printf '%P\n' | LC_ALL=C sort | while IFS= read -r f; do
      printf '%s %s\n' "$f" "$(sha256sum <"$f" | cut -d' ' -f1)"
    done
  )
}

# same LABEL DIR...: all DIRs hold the same files with the same sha256.
same() {
  local label=$1 first=$2 d bad=0
  shift 2
  for d in "$first" "$@"; do
    if [[ -z $d || ! -d $d ]]; then
      fail "$label: '$d' is not a directory"
      return
    fi
  done
  sums "$first" >"$work/sums.a"
  if [[ ! -s $work/sums.a ]]; then
    fail "$label: $first holds no files"
    return
  fi
  for d in "$@"; do
    sums "$d" >"$work/sums.b"
    if ! cmp -s "$work/sums.a" "$work/sums.b"; then
      bad=1
      echo "  $first vs $d:"
      diff "$work/sums.a" "$work/sums.b" | sed 's/^/  | /'
    fi
  done
  if [[ $bad -eq 0 ]]; then pass "$label ($(wc -l <"$work/sums.a") files)"; else fail "$label"; fi
}

# compile_twice NAME DIR [ARGS...]: `capgate compile` of DIR/capgate.json (with DIR's
# capgate.params.json) from the repository root with LC_ALL=C TZ=UTC into $work/cli/NAME, and
# again from a copy in another directory with relative paths, another locale and time zone
# into $work/cli2/NAME.
compile_twice() {
  local name=$1 dir=$2 pf=()
  shift 2
  [[ -f $root/$dir/capgate.params.json ]] && pf=(--params-file "$dir/capgate.params.json")
  (cd "$root" && LC_ALL=C TZ=UTC "$bin" compile "$dir/capgate.json" --out-dir "$work/cli/$name" "${pf[@]}" "$@") \
    >"$work/log" 2>&1 || { cat "$work/log"; return 1; }
  mkdir -p "$work/elsewhere/$name"
  cp "$root/$dir/capgate.json" "$work/elsewhere/$name/"
  pf=()
  if [[ -f $root/$dir/capgate.params.json ]]; then
    cp "$root/$dir/capgate.params.json" "$work/elsewhere/$name/"
    pf=(--params-file capgate.params.json)
  fi
  (cd "$work/elsewhere/$name" && LC_ALL=tr_TR.UTF-8 LANG=ja_JP.UTF-8 TZ=Pacific/Chatham \
    "$bin" compile capgate.json --out-dir "../../cli2/$name" "${pf[@]}" "$@") >"$work/log" 2>&1 ||
    { cat "$work/log"; return 1; }
}

echo "=== the Nix sandbox is on: a build cannot read the host's files"
cp "$root/examples/quickstart/capgate.json" "$work/host-manifest.json"
if nix-build "$root/nix/tests/sandbox-canary.nix" --arg capgate "$bin" --argstr hostManifest "$work/host-manifest.json" \
  --argstr system "$system" --no-out-link "${opts[@]}" >"$work/canary.log" 2>&1; then
  fail "sandbox: a build read $work/host-manifest.json from the host (is the sandbox off?)"
elif grep -q "host-manifest.json" "$work/canary.log"; then
  pass "sandbox: a build cannot read a host file"
else
  fail "sandbox canary failed for another reason"
  tail -n 20 "$work/canary.log" | sed 's/^/  | /'
fi

echo "=== pure evaluation tests (nix/tests/eval.nix)"
if run "$work/eval.log" nix-instantiate --eval --strict --json --read-write-mode "$root/nix/tests/eval.nix"; then
  result=$(cat "$work/eval.log")
  n_ok=$(sed -n 's/.*"passed":\([0-9]*\).*/\1/p' <<<"$result")
  n_bad=$(grep -o '{"actual":' <<<"$result" | wc -l)
  passed=$((passed + ${n_ok:-0}))
  failed=$((failed + n_bad))
  echo "ok   $n_ok evaluation tests"
  if [[ $n_bad -ne 0 || -z $n_ok ]]; then
    [[ -z $n_ok ]] && fail "eval.nix result has no pass count"
    echo "FAIL $n_bad evaluation tests: $result"
  fi
else
  fail "nix/tests/eval.nix evaluates"
fi

echo "=== nix-build of every example and case (nix/tests/build.nix), sandboxed, then --check"
build=(nix-build "$root/nix/tests/build.nix" --arg capgate "$bin" --argstr system "$system" --no-out-link "${opts[@]}")
if ! run "$work/list.log" "${nixx[@]}" eval --raw --impure --expr "
    let s = import $root/nix/tests/build.nix { capgate = $bin; system = \"$system\"; };
    in builtins.concatStringsSep \"\" (map (n: n + \" \" + s.\${n}.outPath + \"\n\") (builtins.attrNames s))"; then
  fail "nix/tests/build.nix evaluates"
  finish
fi
declare -A out=()
while read -r attr path; do out[$attr]=$path; done <"$work/list.log"

# nix/repo.nix must find exactly what is on disk.
expected=$(
  cd "$root" || exit
  for m in examples/*/capgate.json; do [[ -f $m ]] && echo "example-$(basename "$(dirname "$m")")"; done
  for m in tests/cases/*/capgate.json; do
    c=$(basename "$(dirname "$m")")
    echo "case-$c"
    echo "golden-$c"
  done
  echo narrow-quickstart-bwrap
)
if [[ $(LC_ALL=C sort <<<"$expected") == $(cut -d' ' -f1 "$work/list.log" | LC_ALL=C sort) ]]; then
  pass "build.nix has every example and case ($(wc -l <"$work/list.log") derivations)"
else
  fail "build.nix has every example and case"
  diff <(LC_ALL=C sort <<<"$expected") <(cut -d' ' -f1 "$work/list.log" | LC_ALL=C sort) | sed 's/^/  | /'
fi

for attr in $(printf '%s\n' "${!out[@]}" | LC_ALL=C sort); do
  if run "$work/build.log" "${build[@]}" -A "$attr" && [[ $(tail -n 1 "$work/build.log") == "${out[$attr]}" ]]; then
    pass "nix-build $attr"
  else
    fail "nix-build $attr"
    continue
  fi
  if run "$work/check.log" "${build[@]}" -A "$attr" --check; then
    pass "nix-build --check $attr (bit-for-bit rebuild)"
  else
    fail "nix-build --check $attr"
  fi
done

echo "=== golden checks write the key; a wrong golden fails with a diff"
for attr in $(printf '%s\n' "${!out[@]}" | grep '^golden-' | LC_ALL=C sort); do
  c=${attr#golden-}
  pf=()
  [[ -f $root/tests/cases/$c/capgate.params.json ]] && pf=(--params-file "$root/tests/cases/$c/capgate.params.json")
  # capgate.targets.json opts a case in to every target (tests/golden.rs checks it lists all four).
  [[ -f $root/tests/cases/$c/capgate.targets.json ]] && pf+=(--target bwrap --target docker --target egress --target oci)
  if [[ -f ${out[$attr]} && "$(cat "${out[$attr]}")" == "$("$bin" key "$root/tests/cases/$c/capgate.json" "${pf[@]}")" ]]; then
    pass "$attr: the stamp is capgate key"
  else
    fail "$attr: the stamp is capgate key"
  fi
done
mismatch=(nix-build "$root/nix/tests/golden-mismatch.nix" --arg capgate "$bin" --argstr system "$system" --no-out-link "${opts[@]}")
if "${mismatch[@]}" >"$work/mismatch.log" 2>&1; then
  fail "checkGolden with a wrong golden fails"
elif grep -q '^--- golden/' "$work/mismatch.log" && grep -q '^+++ compiled/' "$work/mismatch.log"; then
  pass "checkGolden with a wrong golden fails with a unified diff"
else
  fail "checkGolden with a wrong golden fails with a unified diff"
  tail -n 20 "$work/mismatch.log" | sed 's/^/  | /'
fi

echo "=== cross-builder equality: nix-build, capgate compile, compile elsewhere (LC_ALL, TZ)"
for attr in $(printf '%s\n' "${!out[@]}" | grep -v '^golden-' | LC_ALL=C sort); do
  case $attr in
    example-*) dir=examples/${attr#example-} args=() ;;
    case-*) dir=tests/cases/${attr#case-} args=()
      [[ -f $root/$dir/capgate.targets.json ]] && args=(--target bwrap --target docker --target egress --target oci) ;;
    narrow-quickstart-bwrap) dir=examples/quickstart args=(--target bwrap) ;;
    *) fail "cross-builder: unknown attribute $attr"; continue ;;
  esac
  if compile_twice "$attr" "$dir" "${args[@]}"; then
    same "same bytes: $attr (nix-build = capgate compile = compile elsewhere)" "$work/cli/$attr" "${out[$attr]}" "$work/cli2/$attr"
  else
    fail "capgate compile $dir"
  fi
done

echo "=== nix flake check (stub nixpkgs, capgate-bin = the static binary)"
# A copy of the repository without build outputs: `path:` copies the whole directory into
# the store, and a git flake would see only committed files.
mkdir -p "$work/src" "$work/capgate-bin"
tar -C "$root" --exclude=./target --exclude=./.git --exclude='bazel-*' --exclude=./fuzz/target \
  --exclude=./fuzz/corpus --exclude=./fuzz/artifacts --exclude=node_modules --exclude='./result*' \
  --exclude='*.capgate-new-*' -cf - . | tar -C "$work/src" -xf -
cp "$bin" "$work/capgate-bin/capgate"
src=path:$work/src
over=(--override-input nixpkgs "path:$work/src/nix/tests/fake-nixpkgs" --override-input capgate-bin "path:$work/capgate-bin" --no-write-lock-file)
if run "$work/flake.log" "${nixx[@]}" flake check "$src" "${over[@]}" "${opts[@]}"; then
  pass "nix flake check (lib, mkLib, packages, checks, overlays.default)"
else
  fail "nix flake check"
fi

# shellcheck disable=SC2016 # ${n} is Nix's
if run "$work/pkgs.log" "${nixx[@]}" eval --raw "$src#packages.$system" "${over[@]}" "${opts[@]}" \
  --apply 'ps: builtins.concatStringsSep "" (map (n: n + " " + ps.${n}.outPath + "\n") (builtins.attrNames ps))'; then
  while read -r attr path; do
    [[ $attr == *-sandbox ]] || continue
    ex=example-${attr%-sandbox}
    if run "$work/fb.log" "${nixx[@]}" build --no-link "$src#packages.$system.$attr" "${over[@]}" "${opts[@]}" &&
      run "$work/fbr.log" "${nixx[@]}" build --no-link --rebuild "$src#packages.$system.$attr" "${over[@]}" "${opts[@]}" &&
      [[ -d $work/cli/$ex ]]; then
      same "same bytes: flake packages.$system.$attr = capgate compile" "$work/cli/$ex" "$path"
    else
      fail "flake packages.$system.$attr builds, rebuilds identically and has a CLI counterpart"
    fi
  done <"$work/pkgs.log"
  if grep -q '^capgate /nix/store/[a-z0-9]\{32\}-capgate-[0-9.]*$' "$work/pkgs.log"; then
    pass "flake packages.$system.capgate evaluates (rustPlatform, stub nixpkgs)"
  else
    fail "flake packages.$system.capgate evaluates"
  fi
else
  fail "flake packages.$system evaluate"
fi

# packages.capgate cannot be built offline; check that its filtered source is complete by
# building it with cargo the way rustPlatform.buildRustPackage would (offline, locked).
capgate_src=$("${nixx[@]}" eval --raw "$src#packages.$system.capgate.src" "${over[@]}" "${opts[@]}" 2>/dev/null)
if ! command -v cargo >/dev/null 2>&1; then
  echo "nix-test: SKIPPED: cargo is not installed; packages.capgate's source is not test-built"
elif [[ -d $capgate_src ]] && cp -r "$capgate_src" "$work/capgate-src" && chmod -R u+w "$work/capgate-src" &&
  run "$work/cargo.log" env -C "$work/capgate-src" CARGO_TARGET_DIR="$work/cargo-target" cargo build --release --offline --locked &&
  [[ $("$work/cargo-target/release/capgate" --version) == "$("$bin" --version)" ]]; then
  pass "packages.capgate's source ($(basename "$capgate_src")) builds with cargo --offline --locked"
else
  fail "packages.capgate's source builds with cargo --offline --locked"
fi

echo "=== examples/nix-deployment"
dep=path:$work/src/examples/nix-deployment
dover=(--override-input capgate "$src" --override-input capgate/nixpkgs "path:$work/src/nix/tests/fake-nixpkgs"
  --override-input capgate/capgate-bin "path:$work/capgate-bin" --no-write-lock-file)
if run "$work/dep.log" "${nixx[@]}" flake check "$dep" "${dover[@]}" "${opts[@]}"; then
  pass "nix flake check examples/nix-deployment (builds its sandbox config)"
else
  fail "nix flake check examples/nix-deployment"
fi
depeval() { "${nixx[@]}" eval "$@" "${dover[@]}" "${opts[@]}" 2>"$work/depeval.log" || cat "$work/depeval.log" >&2; }
sandbox=$(depeval --raw "$dep#packages.$system.mcp-server-time-sandbox.outPath")
capgate_pkg=$("${nixx[@]}" eval --raw "$src#packages.$system.capgate.outPath" "${over[@]}" "${opts[@]}" 2>/dev/null)
if run "$work/depb.log" "${nixx[@]}" build --no-link --rebuild "$dep#packages.$system.mcp-server-time-sandbox" "${dover[@]}" "${opts[@]}" &&
  compile_twice deployment examples/nix-deployment/mcp-server-time; then
  same "same bytes: examples/nix-deployment sandbox (nix build --rebuild = capgate compile = compile elsewhere)" \
    "$work/cli/deployment" "$sandbox" "$work/cli2/deployment"
else
  fail "examples/nix-deployment sandbox rebuilds and compiles"
fi
server=/nix/store/00000000000000000000000000000000-mcp-server-time-2026.10.19/bin/mcp-server-time
exec_line="$capgate_pkg/bin/capgate exec $sandbox -- $server"
want='{"mcp-server-time":{"args":["exec","'$sandbox'","--","'$server'"],"command":"'$capgate_pkg'/bin/capgate"}}'
got=$(depeval --json "$dep#mcpServers.$system")
if [[ -n $sandbox && -n $capgate_pkg && $got == "$want" ]]; then
  pass "examples/nix-deployment mcpServers runs capgate exec <sandbox> -- <server>"
else
  fail "examples/nix-deployment mcpServers: got $got, want $want"
fi
got=$(depeval --raw "$dep#packages.$system.default.text")
if [[ $got == "exec $exec_line \"\$@\"" ]]; then
  pass "examples/nix-deployment launcher: exec capgate exec <sandbox> -- <server> \"\$@\""
else
  fail "examples/nix-deployment launcher: got $got"
fi
got=$(depeval --json "$dep#nixosModules.default" --apply "m: let c = m { pkgs.stdenv.hostPlatform.system = \"$system\"; }; in
  [ c.systemd.services.\"mcp-server-time@\".serviceConfig c.systemd.sockets.mcp-server-time.listenStreams c.systemd.sockets.mcp-server-time.socketConfig.Accept ]")
want='[{"ExecStart":"'$exec_line'","StandardError":"journal","StandardInput":"socket","StandardOutput":"socket"},["/run/mcp/mcp-server-time.sock"],true]'
if [[ $got == "$want" ]]; then
  pass "examples/nix-deployment nixosModules.default: socket-activated capgate exec"
else
  fail "examples/nix-deployment nixosModules.default: got $got, want $want"
fi

finish
