#!/usr/bin/env bash
# Builds the npm package into pkg/: the release .wasm (wasm32-unknown-unknown), then
# wasm-bindgen for Node (pkg/node, CommonJS), bundlers (pkg/bundler, ESM importing the .wasm)
# and browsers without a bundler (pkg/web, ESM with an async init).
#
# Installs what it needs, from registries only: the wasm32 target through rustup, and
# wasm-bindgen-cli through `cargo install --locked` at exactly the version of the wasm-bindgen
# crate in Cargo.lock (the two must match, or the generated glue does not fit the module).
# wasm-opt runs only if it is already on PATH (optional; not installed here).
#
#   bash build.sh            # release build into pkg/
#   HEM_WASM_PROFILE=dev bash build.sh   # unoptimised, faster to build (tests still pass)
set -euo pipefail
cd "$(dirname "$0")"
crate_dir=$PWD
root=$(cd ../.. && pwd)

version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' "$root/Cargo.lock")
if [ -z "$version" ]; then
  echo "build.sh: no wasm-bindgen in Cargo.lock" >&2
  exit 1
fi
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $version" ]; then
  echo "build.sh: installing wasm-bindgen-cli $version (once per machine: a few CPU-minutes)"
  # The CLI's release profile is fat LTO; a plainly optimised build runs as fast here.
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install --locked --quiet wasm-bindgen-cli --version "$version"
fi
if command -v rustup >/dev/null 2>&1; then
  rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
fi

profile=${HEM_WASM_PROFILE:-release}
target_dir=${CARGO_TARGET_DIR:-$root/target}

# Builds the module with the cargo feature arguments "$@" and prints its path.
build() {
  if [ "$profile" = release ]; then
    # Size and speed of the shipped module: whole-program LTO, one codegen unit, no debug
    # info (the workspace's release profile keeps line tables for the native tools). Only
    # this build sees these settings.
    CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_DEBUG=0 \
      cargo build --locked --quiet --release --target wasm32-unknown-unknown -p hem-auth-wasm "$@"
    echo "$target_dir/wasm32-unknown-unknown/release/hem_auth_wasm.wasm"
  else
    cargo build --locked --quiet --target wasm32-unknown-unknown -p hem-auth-wasm "$@"
    echo "$target_dir/wasm32-unknown-unknown/debug/hem_auth_wasm.wasm"
  fi
}

# Runs wasm-bindgen for target $1 on module $2 into $3 (and wasm-opt when there is one).
bindgen() {
  wasm-bindgen --target "$1" --out-dir "$3" "$2"
  if command -v wasm-opt >/dev/null 2>&1 && [ "$profile" = release ]; then
    wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-multivalue --enable-reference-types \
      --enable-mutable-globals -o "$3/hem_auth_wasm_bg.wasm" "$3/hem_auth_wasm_bg.wasm"
  fi
}

rm -rf pkg
# The package proper: the client and the phone, for Node, bundlers and browsers.
wasm=$(build --no-default-features)
for target in nodejs bundler web; do
  bindgen "$target" "$wasm" "pkg/${target/nodejs/node}"
done
# The device in process (`hem-auth-wasm/device`): the same API plus `Device` and
# `NotifyBroker`, for JS tests in Node.
wasm=$(build --features device)
bindgen nodejs "$wasm" pkg/device
# pkg/node and pkg/device are CommonJS inside a package whose .js files are ES modules.
printf '{ "type": "commonjs" }\n' > pkg/node/package.json
printf '{ "type": "commonjs" }\n' > pkg/device/package.json

size=$(wc -c < pkg/node/hem_auth_wasm_bg.wasm)
gz=$(gzip -9 -c pkg/node/hem_auth_wasm_bg.wasm | wc -c)
echo "build.sh: pkg/ ($profile, wasm-bindgen $version): .wasm $size bytes, $gz gzipped" \
  "($((gz / 1024)) KiB; budget 200 KiB)"
dsize=$(wc -c < pkg/device/hem_auth_wasm_bg.wasm)
dgz=$(gzip -9 -c pkg/device/hem_auth_wasm_bg.wasm | wc -c)
echo "build.sh: pkg/device (the device in process, for Node tests): .wasm $dsize bytes," \
  "$dgz gzipped ($((dgz / 1024)) KiB)"
if [ "$profile" = release ] && [ "$gz" -gt $((200 * 1024)) ]; then
  echo "build.sh: the gzipped .wasm is over its 200 KiB budget" >&2
  exit 1
fi
