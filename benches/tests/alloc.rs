//! The zero-allocation goals, counted by `allocation-counter` around exactly the
//! operations the benches time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hem_auth_benches::{access_token, unix_now, verify_hem, DeviceBench, TOKEN_KEY};

fn count<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let mut out = None;
    let info = allocation_counter::measure(|| out = Some(f()));
    (out.expect("closure ran"), info.count_total)
}

/// The control: the counter sees an allocation made inside `count`, so the zeros below are
/// measured, not a counter that counts nothing.
#[test]
fn the_counter_sees_allocations() {
    let (_, n) = count(|| std::hint::black_box(vec![1u8; 16]));
    assert_eq!(n, 1);
}

#[test]
fn token_verify_allocates_nothing() {
    let now = unix_now();
    let token = access_token(now);
    let key = hem_auth_benches::hem_key();
    let (verdict, n) = count(|| verify_hem(&token, &key, unix_now()));
    assert!(verdict.is_ok());
    assert_eq!(n, 0);
}

/// `Device::ext_token` on success, S1 cached: the token and its response body are inline in
/// the `AccessToken`, the audit event's text inline in the `AuditEvent`, and the outcome
/// carries at most one event inline (`AuditEvents`). It made 8 allocations before.
#[test]
fn ext_token_cached_allocates_nothing() {
    let mut fx = DeviceBench::new(1).unwrap();
    for _ in 0..3 {
        let body = fx.prepare_ext_token().unwrap();
        let (token, n) = count(|| fx.ext_token(body.as_bytes()));
        assert!(token.unwrap() > 200);
        assert_eq!(n, 0, "ext_token allocated {n} times");
    }
}

/// The same with S1 computed per call (the X25519 allocates nothing either).
#[test]
fn ext_token_cold_allocates_nothing() {
    let mut fx = DeviceBench::new(1).unwrap();
    let body = fx.prepare_ext_token().unwrap();
    let (token, n) = count(|| fx.ext_token_cold(body.as_bytes()));
    assert!(token.is_ok());
    assert_eq!(n, 0, "ext_token (cold) allocated {n} times");
}

/// The device side of a password login (`auth/token`) mints through the same code.
#[test]
fn login_verify_allocates_nothing() {
    let mut fx = DeviceBench::new(1).unwrap();
    let body = fx.prepare_login().unwrap();
    let (token, n) = count(|| fx.login(body.as_bytes()));
    assert!(token.is_ok());
    assert_eq!(n, 0, "auth_token allocated {n} times");
}

/// For the README's comparison: the peers allocate on every verify (9 and 11 times with
/// jsonwebtoken 12.0.0 and jwt-simple 0.15.0).
#[test]
fn peers_allocate() {
    let token = access_token(unix_now());
    let peers = hem_auth_benches::Peers::new(&TOKEN_KEY);
    let (a, n) = count(|| peers.verify_jsonwebtoken(&token));
    let (b, m) = count(|| peers.verify_jwt_simple(&token));
    assert!(a.is_ok() && b.is_ok());
    assert!(n > 0 && m > 0);
}
