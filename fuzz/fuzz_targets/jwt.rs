//! JWT parse and verify (`jwt::UntrustedJwt`), the claim sets behind it, and the two
//! unverified readers built on it.
//!
//! Modes (input format: `common::input`): 0, a token as text; 1, a header and payload that the
//! oracle signs with the right key, so the header policy and the claim readers are reached.
//! Checks: parsing never panics; a verified token carries the MAC an independent HMAC
//! computes; a token the oracle signed never fails with `BadSignature` under the right key and
//! always fails under a wrong one.
#![no_main]

use hem_auth_core::authenticator::UnverifiedPairingRequest;
use hem_auth_core::claims::{
    AccessTokenClaims, AuthreplyClaims, AuthreqClaims, CheckClaims, CheckedClaims, LoginClaims,
    PairingReplyClaims, PairingRequestClaims,
};
use hem_auth_core::client::UnverifiableAccessToken;
use hem_auth_core::jwt::{HeaderPolicy, JwtError, UntrustedJwt, VerifiedJwt};
use hem_auth_fuzz_common::{input, oracle};
use libfuzzer_sys::fuzz_target;

const KEY: [u8; 32] = [0x5a; 32];
const WRONG: [u8; 32] = [0x5b; 32];

fn read_all(v: &VerifiedJwt<'_>) {
    let _ = v.claims::<LoginClaims<'_>>();
    let _ = v.claims::<PairingRequestClaims<'_>>();
    let _ = v.claims::<PairingReplyClaims<'_>>();
    let _ = v.claims::<AuthreqClaims<'_>>();
    let _ = v.claims::<AuthreplyClaims<'_>>();
    let _ = v.claims::<AccessTokenClaims<'_>>();
    let _ = v.claims::<CheckClaims<'_>>();
    let _ = v.claims::<CheckedClaims<'_>>();
    let _ = v.claims::<serde_json::Value>();
}

fuzz_target!(|data: &[u8]| {
    let input = input::decode(data);
    let (token, signed_by_oracle) = match input.mode % 2 {
        0 => (input.text().into_owned(), false),
        _ => {
            let (header, payload) = oracle::split_header(input.message);
            (oracle::sign(&header, payload, &KEY), true)
        }
    };
    let _ = UnverifiableAccessToken::parse(&token);
    let _ = UnverifiedPairingRequest::parse(&token);
    let Ok(untrusted) = UntrustedJwt::parse(&token) else {
        return;
    };
    assert!(token.starts_with(untrusted.signed_part()));
    let _ = untrusted.dangerous_unverified_claims::<AuthreplyClaims<'_>>();
    for policy in [HeaderPolicy::Ecdh, HeaderPolicy::Plain] {
        match untrusted.verify(&KEY, policy) {
            Ok(verified) => {
                assert!(oracle::has_valid_mac(&token, &KEY), "verified a wrong MAC");
                read_all(&verified);
            }
            Err(e) => assert!(
                !(signed_by_oracle && e == JwtError::BadSignature),
                "the right key's MAC was refused"
            ),
        }
        assert!(
            untrusted.verify(&WRONG, policy).is_err(),
            "verified under a wrong key"
        );
    }
});
