//! dudect timing tests of the two secret-tag comparisons of the core: the JWT MAC check
//! (`UntrustedJwt::verify`) and the sealed-scope tag check (`ScopeKey::open`).
//!
//! Each bench times one operation on inputs of two classes, interleaved at random, and
//! dudect's Welch t-test says whether the two timing distributions differ; |t| above about 5
//! is evidence of a leak. Inputs of both classes have the same length and differ only in the
//! tag bytes.
//!
//! * `*_match_vs_mismatch`: the right tag against a random wrong one (the test). A
//!   success and a failure may legitimately take different paths *after* the comparison
//!   (building the verified value, or zeroizing the plaintext on failure); that difference
//!   tells an attacker nothing it does not learn from the answer itself.
//! * `mac_verify_match_vs_mismatch`: the comparison both checks end in,
//!   `hem_auth_core::mac::mac_verify` (HMAC-SHA256, then `subtle`'s constant-time equality), alone: right tag
//!   against a random wrong one, nothing else around it.
//! * `*_early_vs_late`: two wrong tags, one wrong in its first byte, one wrong only in its last
//!   byte. A comparison that stops at the first difference shows up here; a constant-time one
//!   does not.
//!
//! Run (outside CI; it takes minutes and wants a quiet machine):
//! `cargo run --release -p hem-auth-dudect -- [--continuous NAME]`.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dudect_bencher::rand::{Rng, RngExt};
use dudect_bencher::{ctbench_main, BenchRng, Class, CtRunner};
use hem_auth_core::codec;
use hem_auth_core::jwt::{self, Header, HeaderPolicy, UntrustedJwt};
use hem_auth_core::keys::SharedSecret;
use hem_auth_core::seal::ScopeKey;

/// Inputs per class and run. Kept small: every parsed JWT holds a 3 KiB payload buffer.
const SAMPLES: usize = 20_000;
const KEY: [u8; 32] = [0x42; 32];

/// The signed part of a fixed token and its right signature.
fn token() -> (String, [u8; 32]) {
    let token = jwt::sign(
        Header::AccessToken,
        &serde_json::json!({"scope":"keymgmt:list","sub":"U","iat":1,"exp":2,"jti":"x"}),
        &KEY,
    );
    let (signed, _) = token.rsplit_once('.').unwrap();
    (
        String::from(signed),
        hem_auth_core::mac::mac(&KEY, signed.as_bytes()),
    )
}

fn with_signature(signed: &str, sig: &[u8; 32]) -> String {
    format!("{signed}.{}", codec::encode_segment(sig))
}

/// Times `verify` on tokens of the two classes, built by `make(class, rng)`.
fn bench_jwt(
    runner: &mut CtRunner,
    rng: &mut BenchRng,
    make: impl Fn(bool, &mut BenchRng) -> [u8; 32],
) {
    let (signed, _) = token();
    let mut texts = Vec::with_capacity(SAMPLES);
    let mut classes = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let left = rng.random::<bool>();
        texts.push(with_signature(&signed, &make(left, rng)));
        classes.push(if left { Class::Left } else { Class::Right });
    }
    let parsed: Vec<UntrustedJwt<'_>> = texts
        .iter()
        .map(|t| UntrustedJwt::parse(t).unwrap())
        .collect();
    for (jwt, class) in parsed.iter().zip(classes) {
        runner.run_one(class, || jwt.verify(&KEY, HeaderPolicy::Plain).is_ok());
    }
}

fn jwt_mac_match_vs_mismatch(runner: &mut CtRunner, rng: &mut BenchRng) {
    let (_, right) = token();
    bench_jwt(runner, rng, |left, rng| {
        if left {
            right
        } else {
            let mut wrong = [0u8; 32];
            rng.fill_bytes(&mut wrong);
            wrong
        }
    });
}

fn jwt_mac_early_vs_late(runner: &mut CtRunner, rng: &mut BenchRng) {
    let (_, right) = token();
    bench_jwt(runner, rng, |left, _| {
        let mut wrong = right;
        if left {
            wrong[0] ^= 1;
        } else {
            wrong[31] ^= 1;
        }
        wrong
    });
}

/// A sealed scope split into its ciphertext and tag.
fn sealed() -> (ScopeKey, Vec<u8>) {
    let key = ScopeKey::derive(&SharedSecret::from_bytes([7; 32]), &[9; 32]);
    let text = key
        .seal("keymgmt:use:42afc419dbda72636b37a2455955e095")
        .unwrap();
    let mut blob = vec![0u8; 256];
    let n = codec::decode_std_into(&text[1..], &mut blob).unwrap().len();
    blob.truncate(n);
    (key, blob)
}

/// Times `open` on sealed scopes whose tag is changed by `change(class, tag, rng)`.
fn bench_seal(
    runner: &mut CtRunner,
    rng: &mut BenchRng,
    change: impl Fn(bool, &mut [u8], &mut BenchRng),
) {
    let (key, blob) = sealed();
    let mut inputs = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let left = rng.random::<bool>();
        let mut b = blob.clone();
        let tag_at = b.len() - 32;
        change(left, &mut b[tag_at..], rng);
        inputs.push((
            format!("A{}", codec::encode_std(&b)),
            if left { Class::Left } else { Class::Right },
        ));
    }
    for (text, class) in inputs {
        runner.run_one(class, || key.open(&text).is_ok());
    }
}

fn scope_tag_match_vs_mismatch(runner: &mut CtRunner, rng: &mut BenchRng) {
    bench_seal(runner, rng, |left, tag, rng| {
        if !left {
            rng.fill_bytes(tag);
        }
    });
}

fn scope_tag_early_vs_late(runner: &mut CtRunner, rng: &mut BenchRng) {
    bench_seal(runner, rng, |left, tag, _| {
        if left {
            tag[0] ^= 1;
        } else {
            tag[31] ^= 1;
        }
    });
}

fn mac_verify_match_vs_mismatch(runner: &mut CtRunner, rng: &mut BenchRng) {
    let (signed, right) = token();
    let mut inputs = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        if rng.random::<bool>() {
            inputs.push((right, Class::Left));
        } else {
            let mut wrong = [0u8; 32];
            rng.fill_bytes(&mut wrong);
            inputs.push((wrong, Class::Right));
        }
    }
    for (tag, class) in inputs {
        runner.run_one(class, || {
            hem_auth_core::mac::mac_verify(&KEY, &[signed.as_bytes()], &tag)
        });
    }
}

ctbench_main!(
    mac_verify_match_vs_mismatch,
    jwt_mac_early_vs_late,
    jwt_mac_match_vs_mismatch,
    scope_tag_early_vs_late,
    scope_tag_match_vs_mismatch
);
