#!/usr/bin/env bash
# Runs the core's `client` example (crates/hem-auth-core/examples/client.rs) against a started
# hem-emulator: password login, pairing, external-authenticator login and a bearer call over
# HTTP. Used by .ci/run; runs as is on a developer machine too.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q -p hem-emulator
cargo build -q -p hem-auth-core --example client
export HEM_PASSWORD="example-password-$$"
log=$(mktemp)
./target/debug/hem-emulator --listen 127.0.0.1:0 >"$log" 2>&1 &
emulator=$!
trap 'kill "$emulator" 2>/dev/null || true; rm -f "$log"' EXIT

# The emulator prints its address once it listens (port 0: a free one).
url=""
for _ in $(seq 1 100); do
  url=$(sed -n 's/^hem-emulator listening on \(http:[^ ]*\).*/\1/p' "$log" | head -n 1)
  [ -n "$url" ] && break
  kill -0 "$emulator" 2>/dev/null || { cat "$log" >&2; echo "example-client: the emulator exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { cat "$log" >&2; echo "example-client: the emulator did not start" >&2; exit 1; }

./target/debug/examples/client "$url"
