//! The verify paths allocate nothing: an access-token-sized HS256 verify with its claims read,
//! and opening a sealed scope. Counted by `allocation-counter`'s global allocator.
#![allow(clippy::unwrap_used)]

use hem_auth_core::claims::AccessTokenClaims;
use hem_auth_core::jwt::{self, Header, HeaderPolicy, UntrustedJwt};
use hem_auth_core::keys::SharedSecret;
use hem_auth_core::seal::ScopeKey;

#[test]
fn access_token_verify_allocates_nothing() {
    let key = [0x5au8; 32];
    let claims = AccessTokenClaims {
        scope: "keymgmt:list".into(),
        sub: "Qq/EGdvacmNrN6JFWVXglQ==".into(),
        iat: 1_647_871_122,
        exp: 1_647_872_020,
        jti: "koQ4YsCf3L4iTrl2py6g7t3jvV9pwwsIr6//F96OfYI=".into(),
        ctx: None,
    };
    let token = jwt::sign(Header::AccessToken, &claims, &key);
    // the size of the documentation's access token
    assert!((200..=300).contains(&token.len()), "{}", token.len());
    let mut exp = 0;
    let info = allocation_counter::measure(|| {
        let untrusted = UntrustedJwt::parse(&token).unwrap();
        let verified = untrusted.verify(&key, HeaderPolicy::Plain).unwrap();
        let read: AccessTokenClaims<'_> = verified.claims().unwrap();
        assert!(read.scope.starts_with("keymgmt:"));
        exp = read.exp;
    });
    assert_eq!(exp, 1_647_872_020);
    assert_eq!(info.count_total, 0, "{info:?}");
}

#[test]
fn scope_open_allocates_nothing() {
    let key = ScopeKey::derive(&SharedSecret::from_bytes([3u8; 32]), &[4u8; 32]);
    let sealed = key.seal("storage:disk0:rw").unwrap();
    let info = allocation_counter::measure(|| {
        let opened = key.open(&sealed).unwrap();
        assert_eq!(opened.as_str(), "storage:disk0:rw");
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}

#[test]
fn signing_allocates_the_payload_buffer_and_the_token_only() {
    let claims = AccessTokenClaims {
        scope: "keymgmt:list".into(),
        sub: "Qq/EGdvacmNrN6JFWVXglQ==".into(),
        iat: 1_647_871_122,
        exp: 1_647_872_020,
        jti: "koQ4YsCf3L4iTrl2py6g7t3jvV9pwwsIr6//F96OfYI=".into(),
        ctx: None,
    };
    let mut token = String::new();
    let info = allocation_counter::measure(|| {
        token = jwt::sign(Header::AccessToken, &claims, &[0x5au8; 32]);
    });
    assert!(UntrustedJwt::parse(&token).is_ok());
    assert_eq!(info.count_total, 2, "{info:?}");
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the two tests above against a counter that silently counts nothing.
    let info = allocation_counter::measure(|| {
        std::hint::black_box(vec![1u8; 16]);
    });
    assert_eq!(info.count_total, 1);
}
