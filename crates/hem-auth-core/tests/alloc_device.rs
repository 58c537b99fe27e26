//! Proves the device's hot paths allocate nothing: bearer verification of an access token
//! ([`Device::authorize`]) and opening a sealed scope ([`ScopeKey::open`]).
//!
//! The counting allocator comes from `stats_alloc` (the workspace forbids `unsafe`, which a
//! `GlobalAlloc` impl needs). Its counters are global, so this file holds a single test.

// The shared test support (outside #[test] functions) may unwrap and panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hem_auth_core::device::{Device, DeviceConfig, Requirement, Roles};
use hem_auth_core::jwt::{self, Header};
use hem_auth_core::keys::{PublicKey, SecretKey, SharedSecret};
use hem_auth_core::seal::ScopeKey;
use serde_json::json;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[path = "support/mod.rs"]
mod support;

/// Runs `f` and returns how many allocations (and reallocations) it made.
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let region = Region::new(GLOBAL);
    let r = f();
    let stats = region.change();
    (stats.allocations + stats.reallocations, r)
}

#[test]
fn hot_paths_allocate_nothing() {
    let mut rng = support::rng(1);
    let user = SecretKey::generate(&mut rng);
    let mut config = DeviceConfig::new(SecretKey::generate(&mut rng));
    config.user_key = Some(user.public_key());
    let mut dev = Device::new(config, &mut rng);
    let now = 1_700_000_000;

    // A real access token from a password login, with a ctx (an access-token-sized bearer).
    let c = dev.auth_token_challenge(now, &mut rng).result.unwrap();
    let spk = PublicKey::from_b64(&c.spk).unwrap();
    let claims = json!({"jti": c.jti, "aud": c.spk, "exp": now + 3600, "iat": now,
        "iss": user.public_key().to_b64(), "scope": "keymgmt:use:0123456789abcdef0123456789abcdef", "ctx": "some-context"});
    let auth = jwt::sign(
        Header::App,
        &claims,
        user.diffie_hellman(&spk).unwrap().as_bytes(),
    );
    let body = serde_json::to_vec(&json!({ "auth": auth })).unwrap();
    let token = dev
        .auth_token(&body, now, &mut rng)
        .result
        .unwrap()
        .token
        .into_owned();
    assert!(token.len() > 250, "{}", token.len());

    let prefix = ["keymgmt:list", "keymgmt:use"];
    let exact =
        Requirement::exact("keymgmt:use:0123456789abcdef0123456789abcdef").roles(Roles::NotMaster);
    let any = Requirement::any_of(&prefix);
    for requirement in [exact, any] {
        let (n, out) = allocations(|| dev.authorize(Some(&token), &requirement, now + 1));
        assert!(out.result.is_ok());
        assert_eq!(n, 0, "authorize allocated");
    }
    // the 401 paths allocate nothing either
    let (n, out) = allocations(|| dev.authorize(Some(&token), &any, now + 3600));
    assert!(out.result.is_err());
    assert_eq!(n, 0);
    let (n, out) = allocations(|| dev.authorize(Some("not.a.token"), &any, now));
    assert!(out.result.is_err());
    assert_eq!(n, 0);

    // Opening a sealed scope (the authenticator's and the device's ext/token step).
    let key = ScopeKey::derive(&SharedSecret::from_bytes([7; 32]), &[9; 32]);
    let sealed = key.seal("storage:disk0:rw").unwrap();
    let (n, opened) = allocations(|| key.open(&sealed).map(|o| o.as_str().len()));
    assert_eq!(opened, Ok(16));
    assert_eq!(n, 0, "ScopeKey::open allocated");
}
