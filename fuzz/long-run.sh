#!/usr/bin/env bash
# The issue's long run: every target for SECONDS (default 600) from a temporary copy of its
# committed corpus, two at a time (one per core), with libFuzzer's final statistics in
# LOGDIR/<target>.log. Build first: RUSTC_BOOTSTRAP=1 cargo fuzz build.
# Usage: fuzz/long-run.sh [SECONDS] [LOGDIR] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-600}"
logdir="${2:-/tmp/hem-fuzz-long}"
shift $(( $# > 2 ? 2 : $# ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
bin=target/x86_64-unknown-linux-gnu/release
mkdir -p "$logdir"
run_one() {
  t="$1"
  work="$(mktemp -d)"
  cp -r "corpus/$t/." "$work/" 2>/dev/null || true
  "$bin/$t" "$work" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$logdir/$t-" >"$logdir/$t.log" 2>&1
  echo "$t exit $? $(grep -E 'stat::number_of_executed_units|stat::average_exec_per_sec' "$logdir/$t.log" | awk '{print $2}' | tr '\n' ' ')"
  rm -rf "$work"
}
export -f run_one
export secs logdir bin
printf '%s\n' "${targets[@]}" | xargs -P 2 -I{} bash -c 'run_one {}'
