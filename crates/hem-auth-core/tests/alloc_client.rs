//! `ExtAuthState::verify_authreq` allocates nothing: parsing the real device authreq,
//! verifying it and reading every accessor, counted by `allocation-counter` (per thread).
// Test code: helpers (and `support`) may unwrap and panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use hem_auth_core::client::ExtAuthState;
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::keys::{PublicKey, SecretKey};
use hem_auth_core::UnixTime;
use support::{hex_32, interop, s};

/// Runs `f` and returns how many allocations it made on this thread.
fn count<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let mut out = None;
    let info = allocation_counter::measure(|| out = Some(f()));
    (out.expect("closure ran"), info.count_total as usize)
}

#[test]
fn verify_authreq_allocates_nothing() {
    let c = interop("device-captures.json");
    let r = &c["real_device_authreq"];
    let authreq = s(r, "authreq").to_owned();
    let eid = PublicKey::from_bytes(hex_32(s(r, "eid_hex")));
    let iat = r["expected"]["iat"].as_u64().unwrap();
    let pid = s(r, "pid").to_owned();
    let state = ExtAuthState::from_secret(
        SecretKey::from_bytes(hex_32(s(r, "broker_private_hex"))),
        Some(eid),
    );

    // The counter sees allocations: a control.
    let (_, n) = count(|| std::hint::black_box(vec![1u8; 4]));
    assert_eq!(n, 1);

    let (summary, n) = count(|| {
        let untrusted = UntrustedJwt::parse(&authreq).map_err(|_| "parse")?;
        let v = state
            .verify_authreq(&untrusted, UnixTime::from_secs(iat + 10))
            .map_err(|_| "verify")?;
        let mut acc = v.iat().as_secs() ^ v.exp().as_secs() ^ u64::from(v.jti_nonce().time());
        acc ^= v.jti().len() as u64;
        acc ^= v.ctx().map_or(0, str::len) as u64;
        acc ^= v.note().map_or(0, str::len) as u64;
        acc ^= u64::from(v.eid().as_bytes()[0]);
        for (p, sealed) in v.entries() {
            acc ^= (p.len() + sealed.len()) as u64;
        }
        acc ^= v.entry(&pid).map_or(0, str::len) as u64;
        acc ^= v.claims().scope.len() as u64;
        let entries = v.entries().count();
        let ctx_ok = v.ctx() == Some("fixture-ctx");
        let eid_ok = v.eid() == eid;
        Ok::<_, &str>((std::hint::black_box(acc), entries, ctx_ok, eid_ok))
    });
    let (_, entries, ctx_ok, eid_ok) = summary.unwrap();
    assert_eq!((entries, ctx_ok, eid_ok), (1, true, true));
    assert_eq!(n, 0, "verify_authreq path allocated {n} times");
}
