//! The access token (spec §8.1): a JWT the **device** mints when a login or an authreply
//! passes (`auth/token`, `ext/token`; access-token header `{"alg":"HS256","typ":"JWT"}`,
//! claims `scope, sub, iat, exp, jti[, ctx]`, HS256 under a key only the device holds, drawn
//! at each boot); the **device** verifies it as a bearer on every protected call (§8.2) with
//! [`verify`]. The **client** cannot verify it (the key never leaves the device): it reads the
//! claims through [`read`] and [`crate::jwt::Untrusted::dangerous_unverified`] only to show
//! them and to know when to log in again ([`crate::client::UnverifiableAccessToken`]).

use alloc::borrow::Cow;
use alloc::string::String;
use arrayvec::ArrayString;
use serde::{Deserialize, Serialize};

use crate::jwt::{self, Header, HeaderPolicy, JwtError, Untrusted, UntrustedJwt, Verified};
use crate::mac::MacKey;

/// Access token issued by the device (spec §8.1). Order: `scope, sub, iat, exp, jti[, ctx]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims<'a> {
    /// Granted scope.
    #[serde(borrow)]
    pub scope: Cow<'a, str>,
    /// `U`, `M`, or the std-b64 kid of the approving authenticator.
    #[serde(borrow)]
    pub sub: Cow<'a, str>,
    /// Issue time.
    pub iat: u64,
    /// Expiry; valid while `now < exp`.
    pub exp: u64,
    /// The device's time nonce.
    #[serde(borrow)]
    pub jti: Cow<'a, str>,
    /// The `ctx` the client sent with its login or `ext/request` (its own text), echoed.
    #[serde(
        borrow,
        default,
        deserialize_with = "crate::claims::opt_borrowed",
        skip_serializing_if = "Option::is_none"
    )]
    pub ctx: Option<Cow<'a, str>>,
}

/// Signs `claims` as the device does (access-token header, keyed `key`): for another device
/// implementation, and for tests that need a token of a known key.
pub fn build(claims: &AccessTokenClaims<'_>, key: &[u8]) -> String {
    jwt::sign(Header::AccessToken, claims, key)
}

/// [`build`] into `out` (appended) without touching the heap: the device's minting
/// ([`crate::device::AccessToken`]). `None` when it does not fit.
pub(crate) fn build_inline<const N: usize>(
    claims: &AccessTokenClaims<'_>,
    key: &MacKey,
    out: &mut ArrayString<N>,
) -> Option<()> {
    jwt::sign_inline(Header::AccessToken, claims, key, out)
}

/// Verifies a bearer: the header policy [`HeaderPolicy::Plain`] (`alg` HS256, no `crit`), the
/// MAC under `key`,
/// then the claims, read once from the verified payload. Expiry and scope are the caller's
/// (the device's bearer check, spec §8.2). Allocates nothing (unless the claims carry JSON
/// escapes, which the device does not write).
pub fn verify<'s, const N: usize>(
    jwt: &'s UntrustedJwt<'_, N>,
    key: &MacKey,
) -> Result<Verified<AccessTokenClaims<'s>>, JwtError> {
    jwt.verify_with(key, HeaderPolicy::Plain)?.verified_claims()
}

/// Reads the claims of a token once, untrusted: for the client, which holds no key
/// ([`Untrusted::dangerous_unverified`]).
pub fn read<'s, 'a>(
    jwt: &'s UntrustedJwt<'a>,
) -> Result<Untrusted<'s, 'a, AccessTokenClaims<'s>>, JwtError> {
    jwt.untrusted_claims()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> AccessTokenClaims<'static> {
        AccessTokenClaims {
            scope: "keymgmt:list".into(),
            sub: "U".into(),
            iat: 1,
            exp: 2,
            jti: "j".into(),
            ctx: None,
        }
    }

    #[test]
    fn build_then_verify_round_trips() {
        let token = build(&claims(), &[9; 32]);
        let jwt = UntrustedJwt::parse(&token).unwrap();
        let key = MacKey::new(&[9; 32]);
        assert_eq!(*verify(&jwt, &key).unwrap().claims(), claims());
        assert_eq!(
            verify(&jwt, &MacKey::new(&[8; 32])),
            Err(JwtError::BadSignature)
        );
        assert_eq!(*read(&jwt).unwrap().dangerous_unverified(), claims());
    }

    #[test]
    fn inline_build_is_the_same_token() {
        let mut out = ArrayString::<512>::new();
        build_inline(&claims(), &MacKey::new(&[9; 32]), &mut out).unwrap();
        assert_eq!(out.as_str(), build(&claims(), &[9; 32]));
    }
}
