#!/usr/bin/env bash
# Regenerate the golden artifacts under tests/cases/*/out/ from the current
# compiler, then show what changed so the author can review it before
# committing. Works from any directory.
set -euo pipefail

repo_root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

CAPGATE_UPDATE_GOLDEN=1 cargo test --test golden -- --nocapture

echo
echo "Changed golden files (review them before committing):"
git status --short tests/cases examples
