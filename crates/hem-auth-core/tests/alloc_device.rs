//! Bearer verification allocates nothing: [`Device::authorize`] on an access-token-sized
//! bearer from a real login (with a `ctx`), on the success and the 401 paths. Counted by
//! `allocation-counter`'s global allocator. (Opening a sealed scope, the other hot path of
//! `ext/token`, is proven allocation-free in `alloc_core.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hem_auth_core::device::{Device, DeviceConfig, Requirement, Roles};
use hem_auth_core::jwt::{self, Header};
use hem_auth_core::keys::{PublicKey, SecretKey};
use hem_auth_core::UnixTime;
use serde_json::json;

#[path = "support/mod.rs"]
mod support;

const NOW: u64 = 1_700_000_000;
const SCOPE: &str = "keymgmt:use:0123456789abcdef0123456789abcdef";

/// A device and a user token for [`SCOPE`] from a password login, valid for an hour.
fn device_and_token() -> (Device, String) {
    let mut rng = support::rng(1);
    let user = SecretKey::generate(&mut rng);
    let mut config = DeviceConfig::new(SecretKey::generate(&mut rng));
    config.user_key = Some(user.public_key());
    let mut dev = Device::new(config, &mut rng);
    let c = dev
        .auth_token_challenge(UnixTime::from_secs(NOW), &mut rng)
        .result
        .unwrap();
    let spk = PublicKey::from_b64(&c.spk).unwrap();
    let claims = json!({"jti": c.jti, "aud": c.spk, "exp": NOW + 3600, "iat": NOW,
        "iss": user.public_key().to_b64(), "scope": SCOPE, "ctx": "some-context"});
    let auth = jwt::sign(
        Header::App,
        &claims,
        user.diffie_hellman(&spk).unwrap().as_bytes(),
    );
    let body = serde_json::to_vec(&json!({ "auth": auth })).unwrap();
    let token = dev
        .auth_token(&body, UnixTime::from_secs(NOW), &mut rng)
        .result
        .unwrap()
        .as_str()
        .to_owned();
    // larger than the documentation's access token (it has a ctx and a long scope)
    assert!(token.len() > 250, "{}", token.len());
    (dev, token)
}

#[test]
fn authorize_allocates_nothing() {
    let (dev, token) = device_and_token();
    let prefix = ["keymgmt:list", "keymgmt:use"];
    let requirements = [
        Requirement::exact(SCOPE).roles(Roles::NotMaster),
        Requirement::any_of(&prefix),
    ];
    for requirement in requirements {
        let mut ok = false;
        let info = allocation_counter::measure(|| {
            ok = dev
                .authorize(Some(&token), &requirement, UnixTime::from_secs(NOW + 1))
                .result
                .is_ok();
        });
        assert!(ok);
        assert_eq!(info.count_total, 0, "{info:?}");
    }
}

#[test]
fn authorize_401_allocates_nothing() {
    let (dev, token) = device_and_token();
    let need = Requirement::any_of(&["keymgmt:use"]);
    for (bearer, now) in [
        (Some(token.as_str()), NOW + 3600),
        (Some("not.a.token"), NOW),
        (None, NOW),
    ] {
        let mut status = 0;
        let info = allocation_counter::measure(|| {
            status = dev
                .authorize(bearer, &need, UnixTime::from_secs(now))
                .result
                .unwrap_err()
                .status();
        });
        assert_eq!(status, 401);
        assert_eq!(info.count_total, 0, "{info:?}");
    }
}
