//! The zero-allocation goals, counted by `allocation-counter` around exactly the
//! operations the benches time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hem_auth_benches::{access_token, unix_now, verify_hem, DeviceBench, TOKEN_KEY};

fn count<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let mut out = None;
    let info = allocation_counter::measure(|| out = Some(f()));
    (out.expect("closure ran"), info.count_total)
}

#[test]
fn the_counter_sees_allocations() {
    let (_, n) = count(|| std::hint::black_box(vec![1u8; 16]));
    assert_eq!(n, 1);
}

#[test]
fn token_verify_allocates_nothing() {
    let now = unix_now();
    let token = access_token(now);
    let (verdict, n) = count(|| verify_hem(&token, &TOKEN_KEY, unix_now()));
    assert!(verdict.is_ok());
    assert_eq!(n, 0);
}

/// What `Device::ext_token` allocates on success today (the goal is zero; see
/// benches/README.md "Allocations"): the approved scope and the `sub` text kept between the
/// check and the grant (2), the new token's `jti` text (1), the payload buffer and the token of
/// `jwt::sign` (2), the audit event's `sub` and `data` (2) and the `Vec` that carries it (1).
/// The last four are the owned values the `Outcome<TokenResponse<'static>>` API hands back.
const EXT_TOKEN_ALLOCATIONS: u64 = 8;

#[test]
fn ext_token_cached_allocates_no_more_than_its_outputs() {
    let mut fx = DeviceBench::new(1).unwrap();
    let body = fx.prepare_ext_token().unwrap();
    let (token, n) = count(|| fx.ext_token(body.as_bytes()));
    assert!(token.is_ok());
    assert!(n <= EXT_TOKEN_ALLOCATIONS, "ext_token allocated {n} times");
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
