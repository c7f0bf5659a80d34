#!/usr/bin/env python3
"""Validate JSON files against a JSON Schema (draft 2020-12) with the `jsonschema` package.

Usage: validate-json-schema.py SCHEMA.json [--invalid] FILE...

Prints `ok <file>` for each file that validates, `FAIL <file>: <first error>` otherwise.
With --invalid the expectation is reversed: each file must be rejected by the schema
(negative controls), and a file the schema accepts is a FAIL.
"""
import json
import sys

import jsonschema


def main():
    args = sys.argv[1:]
    schema = json.load(open(args.pop(0), encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    invalid = False
    if args and args[0] == "--invalid":
        invalid = True
        args.pop(0)
    failed = 0
    for path in args:
        try:
            doc = json.load(open(path, encoding="utf-8"))
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"FAIL {path}: not JSON: {e}")
            continue
        errors = list(validator.iter_errors(doc))
        if invalid and errors:
            print(f"ok {path} (rejected: {errors[0].message})")
        elif invalid:
            failed += 1
            print(f"FAIL {path}: the schema accepts a file capgate rejects")
        elif errors:
            failed += 1
            e = errors[0]
            print(f"FAIL {path}: /{'/'.join(map(str, e.absolute_path))}: {e.message}")
        else:
            print(f"ok {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
