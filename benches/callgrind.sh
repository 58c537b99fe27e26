#!/usr/bin/env bash
# Instruction counts per operation of the hot paths, under valgrind's callgrind.
#
# Unlike wall time, an instruction count does not change when other jobs share the machine, so
# it is the figure CI can watch. `hem-bench-iter` runs each bench N times with every measured
# call inside one never-inlined function, and callgrind counts inside that function only
# (fixtures and single-use inputs are built outside it): the count divided by N is the cost of
# one operation.
#
#   benches/callgrind.sh                 all benches, a table on stdout
#   benches/callgrind.sh NAME...         only these (criterion ids, e.g. token_verify/hem-auth-core)
#   benches/callgrind.sh --check         all benches, compared with benches/callgrind-baseline.txt:
#                                        fails if one costs more than HEM_CALLGRIND_TOLERANCE
#                                        percent (default 5) above its baseline
#   benches/callgrind.sh --write-baseline  rewrites the baseline from this run
#
# Valgrind hides SHA-NI and AVX-512 from the program, so SHA-256 runs in software here: the
# counts weigh HMAC more heavily than the hardware does. Compare counts with counts only.
set -euo pipefail
cd "$(dirname "$0")/.."

iters=${HEM_CALLGRIND_ITERS:-200}
tolerance=${HEM_CALLGRIND_TOLERANCE:-5}
baseline=benches/callgrind-baseline.txt
mode=table
if [[ ${1:-} == --check ]]; then mode=check; shift; fi
if [[ ${1:-} == --write-baseline ]]; then mode=write; shift; fi

if ! command -v valgrind >/dev/null 2>&1; then
  echo "callgrind.sh: valgrind is required (Debian/Ubuntu: apt-get install -y valgrind)" >&2
  exit 1
fi
if ! valgrind --tool=callgrind --version >/dev/null 2>&1; then
  echo "callgrind.sh: this valgrind has no callgrind tool" >&2
  exit 1
fi
# Builds what it runs: the release driver (and so the whole package) from a clean clone.
cargo build --release -q -p hem-auth-benches --bin hem-bench-iter
bin="${CARGO_TARGET_DIR:-target}/release/hem-bench-iter"
[[ -x $bin ]] || { echo "callgrind.sh: $bin was not built" >&2; exit 1; }
start=$SECONDS

names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then mapfile -t names < <("$bin" --list); fi

# Instructions counted inside `timed` over N runs of bench $1; nothing (and the driver's
# message on stderr) when the bench is unknown or its operation fails.
ir() {
  local log
  if ! log=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no \
    '--toggle-collect=hem_bench_iter::timed*' "$bin" "$1" "$2" 2>&1); then
    grep -v '^==' <<<"$log" >&2
    return 0
  fi
  awk '/refs:/ { gsub(",", "", $NF); print $NF }' <<<"$log"
}

status=0
out=""
printf '%-30s %12s %10s\n' bench "Ir/op" "vs x25519"
x25519=""
for name in "${names[@]}"; do
  full=$(ir "$name" "$iters")
  if [[ -z $full ]]; then
    echo "callgrind.sh: no count for $name (unknown bench, or it failed: $bin $name 1)" >&2
    exit 1
  fi
  per=$(( full / iters ))
  [[ $name == x25519/diffie_hellman ]] && x25519=$per
  ratio="-"
  if [[ -n $x25519 ]]; then ratio=$(awk -v a="$per" -v b="$x25519" 'BEGIN { printf "%.4f", a / b }'); fi
  line=$(printf '%-30s %12d %10s' "$name" "$per" "$ratio")
  if [[ $mode == check ]]; then
    base=$(awk -v n="$name" '$1 == n { print $2 }' "$baseline")
    if [[ -z $base ]]; then
      line+="  (no baseline)"
    else
      pct=$(awk -v a="$per" -v b="$base" 'BEGIN { printf "%+.1f", (a - b) * 100 / b }')
      line+="  baseline $base ($pct%)"
      if awk -v a="$per" -v b="$base" -v t="$tolerance" 'BEGIN { exit !(a > b * (1 + t / 100)) }'; then
        line+="  REGRESSION"
        status=1
      fi
    fi
  fi
  echo "$line"
  out+="$name $per"$'\n'
done

if [[ $mode == write ]]; then
  {
    echo "# Instructions per operation under callgrind (benches/callgrind.sh --write-baseline)."
    printf '%s' "$out"
  } > "$baseline"
  echo "wrote $baseline" >&2
fi
echo "callgrind.sh: ${#names[@]} benches under valgrind in $((SECONDS - start)) s" >&2
if [[ $status -ne 0 ]]; then
  echo "callgrind.sh: a bench costs more than $tolerance % above benches/callgrind-baseline.txt;" \
    "if that is intended, record it with benches/callgrind.sh --write-baseline" >&2
fi
exit $status
