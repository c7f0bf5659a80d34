#!/usr/bin/env bash
# Run each cargo-fuzz target for a given number of executions and print one
# table: executions, wall seconds, executions per second, crashes.
#
#   benches/fuzz.sh                      # 2,000,000 executions per target
#   benches/fuzz.sh 500000               # N per target
#   benches/fuzz.sh 4000000 capability   # N for the named target(s) only
#   benches/fuzz.sh manifest=3000000 capability=4000000 compile=3000000
#
# Targets run one at a time, under nice (the cores are shared). Needs cargo-fuzz (`cargo install cargo-fuzz`); only a stable toolchain is
# required (RUSTC_BOOTSTRAP=1 is set here). Env:
#   FUZZ_SANITIZER  none (default) or address (about 6x slower here)
#   FUZZ_MAX_LEN    libFuzzer -max_len (default 8192)
# A crash (any panic: the targets assert their invariants) is saved under
# fuzz/artifacts/<target>/; the run then continues with the executions left
# (at most 5 restarts per target), so the crash column counts them. Turn
# each one into a regression case (docs/fuzzing.md). Exit 1 on any crash.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
fuzz="$root/fuzz"
san=${FUZZ_SANITIZER:-none}
max_len=${FUZZ_MAX_LEN:-8192}
all_targets=(manifest capability compile)
default_n=2000000

declare -A budget=()
order=()
n=$default_n
for a in "$@"; do
  case "$a" in
    *=*) budget[${a%%=*}]=${a#*=}; order+=("${a%%=*}") ;;
    [0-9]*) n=$a ;;
    *) order+=("$a") ;;
  esac
done
[ ${#order[@]} -eq 0 ] && order=("${all_targets[@]}")
for t in "${order[@]}"; do
  case " ${all_targets[*]} " in *" $t "*) ;; *) echo "unknown target: $t (targets: ${all_targets[*]})" >&2; exit 2 ;; esac
  [ -n "${budget[$t]:-}" ] || budget[$t]=$n
done

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2; exit 2; }
cd "$fuzz"
echo "building fuzz targets (sanitizer: $san)..." >&2
RUSTC_BOOTSTRAP=1 nice cargo fuzz build -s "$san" >&2
bin_dir="$fuzz/target/x86_64-unknown-linux-gnu/release"
for t in "${order[@]}"; do
  if [ ! -d "corpus/$t" ] || [ -z "$(ls -A "corpus/$t" 2>/dev/null)" ]; then
    python3 "$fuzz/make-seeds.py" >&2
    break
  fi
done

rows=()
total_execs=0
total_crashes=0
for t in "${order[@]}"; do
  mkdir -p "artifacts/$t"
  want=${budget[$t]}
  done_execs=0
  crashes=0
  restarts=0
  log=$(mktemp)
  start=$(date +%s.%N)
  while [ "$done_execs" -lt "$want" ]; do
    left=$((want - done_execs))
    set +e
    nice "$bin_dir/$t" "corpus/$t" -dict=capgate.dict -max_len="$max_len" -timeout=10 \
      -runs="$left" -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1
    rc=$?
    set -e
    ran=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    done_execs=$((done_execs + ${ran:-0}))
    if [ "$rc" -ne 0 ]; then
      crashes=$((crashes + 1))
      echo "--- $t crashed (exit $rc):" >&2
      grep -E "panicked|Test unit written|SUMMARY|ERROR" "$log" | head -5 >&2 || true
      restarts=$((restarts + 1))
      [ "$restarts" -ge 5 ] && break
      [ "${ran:-0}" -eq 0 ] && break
    fi
  done
  end=$(date +%s.%N)
  rm -f "$log"
  secs=$(echo "$end - $start" | bc -l)
  rate=$(echo "$done_execs / $secs" | bc -l)
  rows+=("$(printf '%-11s %12d %9.1f %10.0f %8d' "$t" "$done_execs" "$secs" "$rate" "$crashes")")
  total_execs=$((total_execs + done_execs))
  total_crashes=$((total_crashes + crashes))
done

printf '%-11s %12s %9s %10s %8s\n' target execs seconds "execs/s" crashes
for r in "${rows[@]}"; do echo "$r"; done
printf '%-11s %12d %9s %10s %8d\n' total "$total_execs" "" "" "$total_crashes"
echo "(sanitizer: $san, max_len $max_len; corpus in fuzz/corpus, crashes in fuzz/artifacts)"
[ "$total_crashes" -eq 0 ]
