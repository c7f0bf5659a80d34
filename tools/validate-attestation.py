#!/usr/bin/env python3
"""Validate `capgate attest` output with the in-toto attestation reference bindings.

Usage: validate-attestation.py STATEMENT.json...

Parses each statement strictly into the in-toto Statement v1 protobuf (unknown fields are
errors), runs the bindings' own validation, and parses the predicate strictly into the SLSA
Provenance v1 protobuf, then checks the fields capgate promises (subjects with sha256 digests,
a resolved dependency with a digest, a builder id). Needs `pip install in-toto-attestation`.
"""
import json
import sys

from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2


def check(path):
    text = open(path, encoding="utf-8").read()
    pb = json_format.Parse(text, statement_pb2.Statement(), ignore_unknown_fields=False)
    Statement.copy_from_pb(pb).validate()
    doc = json.loads(text)
    assert doc["predicateType"] == "https://slsa.dev/provenance/v1", "predicateType"
    prov = json_format.ParseDict(doc["predicate"], provenance_pb2.Provenance(), ignore_unknown_fields=False)
    assert prov.build_definition.build_type, "buildType"
    assert prov.run_details.builder.id.startswith("https://"), "builder.id"
    deps = prov.build_definition.resolved_dependencies
    assert len(deps) >= 1 and all(d.digest.get("sha256") for d in deps), "resolvedDependencies digests"
    for s in pb.subject:
        sha = s.digest.get("sha256", "")
        assert len(sha) == 64 and all(c in "0123456789abcdef" for c in sha), f"subject {s.name} sha256"
    names = [s.name for s in pb.subject]
    assert "index.json" in names, "index.json is a subject"
    return len(names)


def main():
    failed = 0
    for path in sys.argv[1:]:
        try:
            n = check(path)
            print(f"ok {path}: {n} subjects")
        except Exception as e:  # report every file, then fail
            failed += 1
            print(f"FAIL {path}: {type(e).__name__}: {e}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
