#!/bin/bash -eu
# Builds every cargo-fuzz target of fuzz/ into $OUT, each with its committed seed corpus as
# <target>_seed_corpus.zip (ClusterFuzzLite and OSS-Fuzz pick that name up).
cd "$SRC/hem-auth/fuzz"
cargo fuzz build -O --debug-assertions
release="target/x86_64-unknown-linux-gnu/release"
for target in $(cargo fuzz list); do
  cp "$release/$target" "$OUT/"
  if [ -d "corpus/$target" ]; then
    (cd "corpus/$target" && zip -q -r "$OUT/${target}_seed_corpus.zip" .)
  fi
done
