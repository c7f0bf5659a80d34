#!/usr/bin/env python3
"""Write the seed corpus of the fuzz targets from the repo's manifests.

    fuzz/make-seeds.py            # writes fuzz/corpus/{manifest,capability,compile}/

Sources: tests/cases/*/capgate.json, examples/*/capgate.json,
examples/compat/*.json, tests/ui/*.json and tests/hostile/*.json (bad
manifests reach the error paths). The compile seeds carry the options trailer the compile target
reads: 0xFF, a flags byte (bit 0 --strict, bit 1 --deny-warnings, bits 2..
a target mask), then NAME=VALUE lines from capgate.params.json or .args.
The capability seeds are every capability string of those manifests.
The corpus directories are git-ignored; libFuzzer grows them.
"""
import glob
import hashlib
import json
import os
import sys

MAX_SEED = 12000
here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)


def manifests():
    pats = [
        "tests/cases/*/capgate.json",
        "examples/*/capgate.json",
        "examples/compat/*.json",
        "tests/ui/*.json",
        "tests/hostile/*.json",
    ]
    for pat in pats:
        for p in sorted(glob.glob(os.path.join(root, pat))):
            yield p


def params_of(path):
    d = os.path.dirname(path)
    pf = os.path.join(d, "capgate.params.json")
    out = {}
    if path.endswith("/capgate.json") and os.path.exists(pf):
        with open(pf) as f:
            out.update(json.load(f))
    args = path[: -len(".json")] + ".args"
    if os.path.exists(args):
        lines = open(args, encoding="utf-8").read().split("\n")
        for flag, val in zip(lines, lines[1:]):
            if flag == "--param" and "=" in val:
                k, v = val.split("=", 1)
                out[k] = v
    return out


def caps(v):
    """Every capability string in a parsed manifest (best effort)."""
    if isinstance(v, dict):
        for k, x in v.items():
            if k in ("capabilities", "serverCapabilities") and isinstance(x, list):
                for c in x:
                    if isinstance(c, str):
                        yield c
                    elif isinstance(c, dict) and isinstance(c.get("cap"), str):
                        yield c["cap"]
            else:
                yield from caps(x)
    elif isinstance(v, list):
        for x in v:
            yield from caps(x)


def write(dirname, data):
    os.makedirs(dirname, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(dirname, name), "wb") as f:
        f.write(data)


def main():
    corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    n = {"manifest": 0, "compile": 0, "capability": 0}
    seen_caps = set()
    for p in manifests():
        raw = open(p, "rb").read()
        if len(raw) > MAX_SEED:
            continue  # huge inputs (bwrap's option limit) would set libFuzzer's max_len
        write(os.path.join(corpus, "manifest"), raw)
        n["manifest"] += 1
        params = "".join(f"{k}={v}\n" for k, v in sorted(params_of(p).items())).encode()
        # default targets; then --strict over every target (mask 0b1111)
        for flags in (0x00, 0x3D):
            write(os.path.join(corpus, "compile"), raw + b"\xff" + bytes([flags]) + params)
            n["compile"] += 1
        try:
            parsed = json.loads(raw)
        except ValueError:
            continue
        for c in caps(parsed):
            if c not in seen_caps:
                seen_caps.add(c)
                write(os.path.join(corpus, "capability"), c.encode("utf-8", "surrogatepass"))
                n["capability"] += 1
    print(" ".join(f"{k}={v}" for k, v in n.items()), "seeds in", corpus)


main()
