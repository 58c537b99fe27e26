#!/usr/bin/env bash
# Regenerates the committed seed corpora (fuzz/corpus/<target>/) from the roles' own messages,
# the published artefacts in ../shared/interop and the vector files in vectors/, then adds the
# kept reproducers of fuzz/regressions/<target>/ so every CI run replays them.
# Deterministic: running it twice changes nothing.
set -euo pipefail
cd "$(dirname "$0")"
shared="${HEM_SHARED_DIR:-../../shared}"
cargo run --release -q -p hem-auth-corpus-gen --bin make-corpus -- corpus "$shared" ../vectors
for dir in regressions/*/; do
  target="$(basename "$dir")"
  mkdir -p "corpus/$target"
  cp "$dir"* "corpus/$target/"
done
