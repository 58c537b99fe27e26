#!/usr/bin/env bash
# CI's fuzzing step: runs the fuzz workspace's own tests (the structure-aware harnesses replay
# their committed corpus and regressions), installs cargo-fuzz if missing, builds every target on the stable
# toolchain (RUSTC_BOOTSTRAP=1 unlocks the sanitizer flags cargo-fuzz passes), then runs each
# target for FUZZ_SECONDS (default 30) from a temporary copy of its committed corpus, so the
# repository's corpus is never changed. A crash, panic, leak, timeout or out-of-memory fails
# the step; the log tail, the reproducer's path and its base64 are printed, so the input can
# be taken from the CI log alone:
#   echo '<base64>' | base64 -d > crash && fuzz/target/<host>/release/<target> crash
set -euo pipefail
cd "$(dirname "$0")"
secs="${FUZZ_SECONDS:-30}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
echo "== harness tests (cargo test --workspace: the corpus and regressions replay to their scores)"
cargo test --workspace --quiet
export RUSTC_BOOTSTRAP=1
host="$(rustc -vV | sed -n 's/^host: //p')"
echo "== cargo fuzz build (address sanitizer)"
cargo fuzz build
bin="${CARGO_TARGET_DIR:-target}/$host/release"

artifacts="$(mktemp -d)"
passed=0
failed=()
for t in $(cargo fuzz list); do
  work="$(mktemp -d)"
  cp -r "corpus/$t/." "$work/" 2>/dev/null || true
  log="$artifacts/$t.log"
  if "$bin/$t" "$work" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/$t-" >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "fuzz $t: ok (${execs:-?} executions, ${rate:-?}/s)"
    passed=$((passed + 1))
  else
    echo "fuzz $t: FAILED"
    tail -n 80 "$log"
    for f in "$artifacts/$t"-*; do
      [ -f "$f" ] || continue
      case "$f" in *.log) continue ;; esac
      echo "reproducer: $f"
      echo "reproducer (base64): $(base64 -w0 "$f")"
    done
    failed+=("$t")
  fi
  rm -rf "$work"
done
echo "fuzz: $passed passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
