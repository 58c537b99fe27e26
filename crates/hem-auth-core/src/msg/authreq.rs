//! The authreq (spec §5.3): a JWT the **device** builds at `POST /api/auth/ext/request`
//! ([`build`]; device header, claims `iss, aud, iat, exp, jti, [ctx], [note], scope`, HS256 keyed
//! X25519(eid_prv, epk)); the **client** verifies it on the `ext/request` answer and the
//! **notify broker** at `event/new` (§12.4), both with [`verify`] (through
//! [`crate::client::ExtAuthState::verify_authreq`]). Nobody reads it unverified but for `iss`,
//! the key lookup inside [`verify`].

use crate::time::UnixTime;
use alloc::borrow::Cow;
use serde::{Deserialize, Serialize};

use crate::claims::ScopeMap;
use crate::client::ClientError;
use crate::jwt::{HeaderPolicy, UntrustedJwt};
use crate::keys::{PublicKey, SecretKey};
use crate::nonce::TimeNonce;

pub use crate::client::VerifiedAuthreq;

/// Authentication request, device → broker (spec §5.3).
/// Order: `iss, aud, iat, exp, jti, [ctx], [note], scope`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthreqClaims<'a> {
    /// The device's eid.
    #[serde(borrow)]
    pub iss: Cow<'a, str>,
    /// The broker session's epk.
    #[serde(borrow)]
    pub aud: Cow<'a, str>,
    /// Device time.
    pub iat: u64,
    /// Expiry: `iat` + 3600, or + 900 for `keymgmt:use:<kid>`.
    pub exp: u64,
    /// The device's time nonce.
    #[serde(borrow)]
    pub jti: Cow<'a, str>,
    /// The caller's own context text from `ext/request`, echoed.
    #[serde(
        borrow,
        default,
        deserialize_with = "crate::claims::opt_borrowed",
        skip_serializing_if = "Option::is_none"
    )]
    pub ctx: Option<Cow<'a, str>>,
    /// Caller note, echoed.
    #[serde(
        borrow,
        default,
        deserialize_with = "crate::claims::opt_borrowed",
        skip_serializing_if = "Option::is_none"
    )]
    pub note: Option<Cow<'a, str>>,
    /// pid → sealed scope, one entry per pairing.
    #[serde(borrow)]
    pub scope: ScopeMap<'a>,
}

/// `iss` alone, read only to find the key.
#[derive(Deserialize)]
struct Issuer<'a> {
    #[serde(borrow)]
    iss: Cow<'a, str>,
}

/// Signs `claims` as the device does (device header, keyed X25519(eid_prv, epk)).
pub fn build(claims: &AuthreqClaims<'_>, key: &[u8]) -> alloc::string::String {
    crate::jwt::sign(crate::jwt::Header::Device, claims, key)
}

/// Verifies an authreq for the holder of the session key `epk_secret`, whose public key is
/// `epk` (passed in: deriving it again would cost a scalar multiplication per authreq). Allocates nothing
/// (unless its JSON strings contain escapes, which the device does not write).
///
/// In order (spec §5.3, §12.4): `iss` is read unverified, only to find the key, and must be
/// `expected_eid` when one is given ([`ClientError::WrongIssuer`], before any cryptography);
/// the header must be HS256 + `ecdh: x25519` and the HMAC must verify under
/// X25519(epk_prv, `iss`); then, from the verified claims: `aud` must be the session's epk
/// ([`ClientError::WrongAudience`]), `exp` after `iat` ([`ClientError::InvalidLifetime`]),
/// `now < exp` ([`ClientError::Expired`]) and `jti` a 32-byte time nonce. `iat` is not
/// compared with `now`: the device's clock is its own (set by check-in).
pub fn verify<'u, const N: usize>(
    authreq: &'u UntrustedJwt<'_, N>,
    epk_secret: &SecretKey,
    epk: &PublicKey,
    expected_eid: Option<PublicKey>,
    now: UnixTime,
) -> Result<VerifiedAuthreq<'u>, ClientError> {
    let eid = {
        // Unverified read: the issuer, to find the key (the MAC is keyed with it).
        let unverified: Issuer<'_> = authreq.dangerous_unverified_claims()?;
        PublicKey::from_b64(&unverified.iss)?
    };
    if expected_eid.is_some_and(|expected| expected != eid) {
        return Err(ClientError::WrongIssuer);
    }
    let key = epk_secret.diffie_hellman(&eid)?;
    let verified = authreq
        .verify(key.as_bytes(), HeaderPolicy::Ecdh)?
        .verified_claims::<AuthreqClaims<'u>>()?;
    let claims = verified.claims();
    if PublicKey::from_b64(&claims.aud).ok() != Some(*epk) {
        return Err(ClientError::WrongAudience);
    }
    if claims.exp <= claims.iat {
        return Err(ClientError::InvalidLifetime);
    }
    if now.as_secs() >= claims.exp {
        return Err(ClientError::Expired);
    }
    let jti = TimeNonce::from_b64(&claims.jti)?;
    Ok(VerifiedAuthreq::new(verified, eid, jti))
}
