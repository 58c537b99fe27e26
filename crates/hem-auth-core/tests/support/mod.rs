//! Helpers shared by the integration tests: where the published artefacts are, deterministic
//! randomness, and base64 shorthands.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::path::PathBuf;

/// The published artefacts of the real system, kept in the repository as data:
/// `vectors/interop/published/` (see its README for each file's public source).
pub fn published_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../vectors/interop/published")
}

/// Loads one published artefact from `vectors/interop/published/`.
pub fn interop(name: &str) -> serde_json::Value {
    let path = published_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (the published artefacts are part of the repository, \
             in vectors/interop/published/)",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("interop file is JSON")
}

/// A deterministic CSPRNG for tests.
pub fn rng(seed: u64) -> rand_chacha::ChaCha20Rng {
    use rand_chacha::rand_core::SeedableRng;
    rand_chacha::ChaCha20Rng::seed_from_u64(seed)
}

/// Standard base64 → bytes (panics on bad test data).
pub fn b64(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("test data is base64")
}

/// Standard base64 → 32 bytes.
pub fn b64_32(text: &str) -> [u8; 32] {
    b64(text).try_into().expect("32 bytes")
}

/// Hex → 32 bytes.
pub fn hex_32(text: &str) -> [u8; 32] {
    hex::decode(text)
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

/// A JSON string field.
pub fn s<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("field {key} is a string"))
}
