#!/usr/bin/env bash
# Regenerates the committed seed corpora (fuzz/corpus/<target>/) from the roles' own messages,
# the published artefacts in vectors/interop/published and the vector files in vectors/, then
# adds the kept reproducers of fuzz/regressions/<target>/ so every CI run replays them.
# Every input is part of the repository. If one is missing, the script stops before it
# removes or rewrites any seed (and so does the generator itself).
# Deterministic: running it twice changes nothing.
set -euo pipefail
cd "$(dirname "$0")"
published=../vectors/interop/published
vectors=../vectors
for input in "$published" "$vectors"; do
  if ! compgen -G "$input/*.json" >/dev/null; then
    echo "make-corpus.sh: no JSON file in $input (run from a full checkout); corpus/ left as it is" >&2
    exit 1
  fi
done
cargo run --release -q -p hem-auth-corpus-gen --bin make-corpus -- corpus "$published" "$vectors"
for dir in regressions/*/; do
  target="$(basename "$dir")"
  mkdir -p "corpus/$target"
  cp "$dir"* "corpus/$target/"
done
