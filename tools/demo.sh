#!/usr/bin/env bash
# Builds capgate and compiles a shipped example (the filesystem server),
# then shows what it wrote and checks the result with `capgate verify`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --release --quiet
bin=target/release/capgate
out=${1:-out/filesystem}
mkdir -p "$(dirname "$out")"
example=examples/filesystem
"$bin" compile "$example/capgate.json" --params-file "$example/capgate.params.json" --out-dir "$out"
echo
echo "files:"
(cd "$out" && find . -type f | sort | sed 's|^\./|  |')
echo
echo "bwrap argv:"
tr '\0' ' ' <"$out/bwrap/args0" | fold -s -w 100 | sed 's/^/  /'
echo
"$bin" verify "$example/capgate.json" --params-file "$example/capgate.params.json" --golden-dir "$out"
