//! Property tests of the primitives: round trips, and that any single-bit change of a signed
//! JWT or a sealed scope is rejected.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use hem_auth_core::codec;
use hem_auth_core::jwt::{self, Header, HeaderPolicy, UntrustedJwt};
use hem_auth_core::keys::SharedSecret;
use hem_auth_core::seal::{ScopeKey, MAX_SCOPE_BYTES};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Claims {
    scope: String,
    sub: String,
    iat: u64,
    exp: u64,
}

fn claims() -> impl Strategy<Value = Claims> {
    ("[ -~]{0,200}", "[ -~]{0,50}", any::<u64>(), any::<u64>()).prop_map(
        |(scope, sub, iat, exp)| Claims {
            scope,
            sub,
            iat,
            exp,
        },
    )
}

fn header() -> impl Strategy<Value = (Header, HeaderPolicy)> {
    prop_oneof![
        Just((Header::App, HeaderPolicy::Ecdh)),
        Just((Header::Device, HeaderPolicy::Ecdh)),
        Just((Header::Php, HeaderPolicy::Ecdh)),
        Just((Header::AccessToken, HeaderPolicy::Plain)),
    ]
}

/// Flips bit `bit` of the byte at `pos` of `text`; `None` if the result is not UTF-8.
fn flip(text: &str, pos: usize, bit: u8) -> Option<String> {
    let mut bytes = text.as_bytes().to_vec();
    bytes[pos] ^= 1 << bit;
    String::from_utf8(bytes).ok()
}

proptest! {
    #[test]
    fn sign_verify_round_trip(c in claims(), key in any::<[u8; 32]>(), (h, policy) in header()) {
        let token = jwt::sign(h, &c, &key);
        let untrusted = UntrustedJwt::parse(&token).unwrap();
        let verified = untrusted.verify(&key, policy).unwrap();
        prop_assert_eq!(verified.claims::<Claims>().unwrap(), c);
        let mut other = key;
        other[0] ^= 1;
        prop_assert!(untrusted.verify(&other, policy).is_err());
    }

    #[test]
    fn any_single_bit_flip_of_a_jwt_is_rejected(
        c in claims(), key in any::<[u8; 32]>(), (h, policy) in header(),
        pos in any::<prop::sample::Index>(), bit in 0u8..8,
    ) {
        let token = jwt::sign(h, &c, &key);
        let pos = pos.index(token.len());
        if let Some(bad) = flip(&token, pos, bit) {
            let accepted = UntrustedJwt::parse(&bad)
                .and_then(|u| u.verify(&key, policy).map(|_| ()));
            prop_assert!(accepted.is_err(), "flip at {} bit {} accepted", pos, bit);
        }
    }

    #[test]
    fn seal_open_round_trip(scope in "[!-~]{0,1100}", s1 in any::<[u8; 32]>(), jti in any::<[u8; 32]>()) {
        prop_assume!(scope.len() < MAX_SCOPE_BYTES);
        let k = ScopeKey::derive(&SharedSecret::from_bytes(s1), &jti);
        let sealed = k.seal(&scope).unwrap();
        prop_assert!(sealed.starts_with('A'));
        let opened = k.open(&sealed).unwrap();
        prop_assert_eq!(opened.as_str(), scope.as_str());
        // deterministic per (pairing, jti)
        prop_assert_eq!(k.seal(&scope).unwrap(), sealed);
    }

    #[test]
    fn any_single_bit_flip_of_a_sealed_scope_is_rejected(
        scope in "[!-~]{1,80}", s1 in any::<[u8; 32]>(), jti in any::<[u8; 32]>(),
        pos in any::<prop::sample::Index>(), bit in 0u8..8,
    ) {
        let k = ScopeKey::derive(&SharedSecret::from_bytes(s1), &jti);
        let sealed = k.seal(&scope).unwrap();
        // flip a bit of the binary blob, so that the text stays base64
        let mut blob = codec::decode_std_into(&sealed[1..], &mut [0u8; 256]).unwrap().to_vec();
        let pos = pos.index(blob.len());
        blob[pos] ^= 1 << bit;
        let bad = format!("A{}", codec::encode_std(&blob));
        prop_assert!(k.open(&bad).is_err(), "blob flip at {} bit {} accepted", pos, bit);
        // and any bit of the text itself
        let tpos = pos % sealed.len();
        if let Some(bad_text) = flip(&sealed, tpos, bit) {
            if bad_text != sealed {
                let reopened = k.open(&bad_text);
                // A flip inside a base64 character's unused bits cannot exist in canonical
                // text; any accepted text must decode to the same blob, which is impossible
                // for a changed canonical string.
                prop_assert!(reopened.is_err(), "text flip at {} bit {} accepted", tpos, bit);
            }
        }
    }
}
