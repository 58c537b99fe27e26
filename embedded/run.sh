#!/usr/bin/env bash
# The device role on an emulated Cortex-M4F: builds the images (release, target dir
# embedded/target), prints their flash and static RAM from the ELF, runs the footprint image and
# the test image on QEMU's mps2-an386 under -icount, and ends with `N passed, M failed` (exit
# status 0 only when nothing failed). See README.md.
#
# Needs: rustup target thumbv7em-none-eabihf, qemu-system-arm (Debian: apt-get install -y
# qemu-system-arm), python3 (standard library only).
set -euo pipefail
cd "$(dirname "$0")"

TARGET=thumbv7em-none-eabihf
# 1 instruction = 2^7 ns of virtual time = 3.2 ticks of the 25 MHz timer: exact counts (README).
ICOUNT_SHIFT=${ICOUNT_SHIFT:-7}

for tool in qemu-system-arm python3 cargo; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "run.sh: $tool is required (see README.md)" >&2
    exit 1
  fi
done
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  echo "run.sh: the Rust target is missing: rustup target add $TARGET" >&2
  exit 1
fi

export CARGO_TARGET_DIR="$PWD/target"
bin="$CARGO_TARGET_DIR/$TARGET/release"
echo "== build (release, opt-level \"s\", fat LTO)"
cargo build --release --bins -q

qemu() {
  # Semihosting carries the output and the exit status; no serial, no monitor, no display.
  timeout 600 qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic -monitor none \
    -serial none -semihosting-config enable=on,target=native -icount shift="$ICOUNT_SHIFT" \
    -kernel "$1"
}

echo "== flash and static RAM (section headers and symbols of the ELF: tools/elfsize.py)"
echo "-- footprint image (the device role as a firmware links it: src/bin/footprint.rs)"
python3 tools/elfsize.py "$bin/footprint" --baseline "$bin/baseline"
echo "-- baseline image (runtime, heap, semihosting only)"
python3 tools/elfsize.py "$bin/baseline" --brief
echo "-- test image (vectors, flows, measurements, all three roles)"
python3 tools/elfsize.py "$bin/hem-auth-mcu" --brief
flash=$(python3 tools/elfsize.py "$bin/footprint" --brief | sed -n 's/^flash text+rodata \([0-9]*\) B.*/\1/p')
if ((flash <= 128 * 1024)); then verdict=met; else verdict="NOT met"; fi
echo "budget flash of the device role <= 128 KiB: footprint image $flash B ($((flash * 100 / 1024)) / 100 KiB) -> $verdict"

passed=0
failed=0
echo "== footprint image on QEMU"
if out=$(qemu "$bin/footprint" 2>&1) && grep -q '^footprint image: served' <<<"$out"; then
  echo "ok   footprint image boots and serves every endpoint: $out"
  passed=$((passed + 1))
else
  echo "FAIL footprint image: $out"
  failed=$((failed + 1))
fi

echo "== test image on QEMU (mps2-an386, Cortex-M4F, -icount shift=$ICOUNT_SHIFT)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
qemu "$bin/hem-auth-mcu" >"$log" 2>&1
status=$?
set -e
sed 's/^\([0-9]* passed, [0-9]* failed\)$/test image: \1/' "$log"
last=$(tail -n 1 "$log")
if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  passed=$((passed + BASH_REMATCH[1]))
  failed=$((failed + BASH_REMATCH[2]))
  if ((status != 0 && BASH_REMATCH[2] == 0)); then
    echo "FAIL the test image exited with status $status"
    failed=$((failed + 1))
  fi
else
  # A crash before the summary: count what was printed, and the crash.
  passed=$((passed + $(grep -c '^ok ' "$log" || true)))
  failed=$((failed + $(grep -c '^FAIL' "$log" || true) + 1))
  echo "FAIL the test image stopped before its summary (QEMU status $status)"
fi
echo "$passed passed, $failed failed"
((failed == 0))
