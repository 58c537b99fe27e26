//! The pairing request (spec §6.2): a JWT the **device** builds at `POST /api/auth/ext/init`
//! (device header, claims `jti, exp, aud, iss`, HS256 keyed X25519(eid_prv, epk)); the
//! **client** verifies it on the `ext/init` answer and the **notify broker** at
//! `register/init` (§12.5), both with [`verify`]; the **authenticator** reads it without a key
//! (§6.4, [`crate::authenticator::UnverifiedPairingRequest`]) but by the same expiry rule,
//! [`PairingRequestClaims::expiry`].
//!
//! The expiry rule (§6.2): a request carries `exp` (what devices send) or, in the phone app's v1
//! vectors' shape, `eat`; a request with neither is not a pairing request and is refused
//! ([`JwtError::InvalidClaims`]), by every role. Vector: `pairing-reply-build`, "request payload
//! with neither exp nor eat".

use crate::time::UnixTime;
use alloc::borrow::Cow;
use alloc::string::String;
use serde::{Deserialize, Serialize};

use crate::client::ClientError;
use crate::jwt::{self, Header, HeaderPolicy, JwtError, UntrustedJwt, Verified};
use crate::keys::{PublicKey, SecretKey, SharedSecret};

/// Pairing request, device → phone via the broker (spec §6.2).
/// Real order: `jti, exp, aud, iss`; the v1 vectors use `eat` instead of `exp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingRequestClaims<'a> {
    /// The device's time nonce.
    #[serde(borrow)]
    pub jti: Cow<'a, str>,
    /// Expiry (the device sends this).
    #[serde(
        default,
        deserialize_with = "crate::claims::present_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub exp: Option<u64>,
    /// Expiry under the v1 app's name (synthetic vectors only).
    #[serde(
        default,
        deserialize_with = "crate::claims::present_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub eat: Option<u64>,
    /// The broker's pairing epk.
    #[serde(borrow)]
    pub aud: Cow<'a, str>,
    /// The device's eid.
    #[serde(borrow)]
    pub iss: Cow<'a, str>,
}

impl PairingRequestClaims<'_> {
    /// When the request expires: `exp`, else the v1 vectors' `eat`; a request with neither is
    /// refused ([`JwtError::InvalidClaims`], spec §6.2).
    pub fn expiry(&self) -> Result<u64, JwtError> {
        self.exp.or(self.eat).ok_or(JwtError::InvalidClaims)
    }
}

/// Builds the request as the device does (spec §6.2): device header, claims `jti, exp, aud,
/// iss`, keyed `key` = X25519(eid_prv, epk).
pub fn build(jti: &str, exp: UnixTime, epk: &str, eid: &str, key: &SharedSecret) -> String {
    let claims = PairingRequestClaims {
        jti: Cow::Borrowed(jti),
        exp: Some(exp.as_secs()),
        eat: None,
        aud: Cow::Borrowed(epk),
        iss: Cow::Borrowed(eid),
    };
    jwt::sign(Header::Device, &claims, key.as_bytes())
}

/// `iss` alone, read only to check it before any cryptography.
#[derive(Deserialize)]
struct Issuer<'a> {
    #[serde(borrow)]
    iss: Cow<'a, str>,
}

/// Verifies a pairing request for the holder of the session key `epk_secret` (the client, or
/// the notify broker on its behalf), whose public key is `epk`, from the device `eid`.
///
/// In order (spec §6.2, §12.5): the request's `iss`, read unverified, must be `eid`
/// ([`ClientError::WrongIssuer`], before any cryptography); the header must be HS256 +
/// `ecdh: x25519` and the HMAC must verify under X25519(epk_prv, eid); then, from the verified
/// claims: `aud` must be the session's epk ([`ClientError::WrongAudience`]), the request must
/// have an expiry ([`PairingRequestClaims::expiry`]) and `now` must be before it
/// ([`ClientError::Expired`]).
pub fn verify<'u>(
    request: &'u UntrustedJwt<'_>,
    epk_secret: &SecretKey,
    epk: &PublicKey,
    eid: &PublicKey,
    now: UnixTime,
) -> Result<Verified<PairingRequestClaims<'u>>, ClientError> {
    {
        // Unverified read: the issuer, to refuse another device's request before any
        // cryptography; the MAC below is keyed with `eid`, so a lie here fails there.
        let unverified: Issuer<'_> = request.dangerous_unverified_claims()?;
        if PublicKey::from_b64(&unverified.iss)? != *eid {
            return Err(ClientError::WrongIssuer);
        }
    }
    let key = epk_secret.diffie_hellman(eid)?;
    let verified = request
        .verify(key.as_bytes(), HeaderPolicy::Ecdh)?
        .verified_claims::<PairingRequestClaims<'u>>()?;
    let claims = verified.claims();
    if PublicKey::from_b64(&claims.aud).ok() != Some(*epk) {
        return Err(ClientError::WrongAudience);
    }
    if now.as_secs() >= claims.expiry()? {
        return Err(ClientError::Expired);
    }
    Ok(verified)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    /// Issue 13: the client refused a request with neither `exp` nor `eat` while the notify
    /// broker accepted it. One verifier, one rule (spec §6.2): refused.
    #[test]
    fn a_request_without_expiry_is_refused() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(13);
        let eid_sk = SecretKey::generate(&mut rng);
        let epk_sk = SecretKey::generate(&mut rng);
        let (eid, epk) = (eid_sk.public_key(), epk_sk.public_key());
        let key = eid_sk.diffie_hellman(&epk).unwrap();
        let sign = |exp: Option<u64>, eat: Option<u64>| {
            let claims = PairingRequestClaims {
                jti: Cow::Borrowed("AA"),
                exp,
                eat,
                aud: Cow::Owned(epk.to_b64()),
                iss: Cow::Owned(eid.to_b64()),
            };
            jwt::sign(Header::Device, &claims, key.as_bytes())
        };
        let check = |token: &str| {
            let jwt = UntrustedJwt::parse(token).unwrap();
            verify(&jwt, &epk_sk, &epk, &eid, UnixTime::from_secs(100)).map(|v| v.claims().expiry())
        };
        assert_eq!(check(&sign(Some(200), None)), Ok(Ok(200)));
        assert_eq!(check(&sign(None, Some(300))), Ok(Ok(300)));
        assert_eq!(check(&sign(Some(100), None)), Err(ClientError::Expired));
        assert_eq!(
            check(&sign(None, None)),
            Err(ClientError::Jwt(JwtError::InvalidClaims))
        );
        let built = build(
            "AA",
            UnixTime::from_secs(200),
            &epk.to_b64(),
            &eid.to_b64(),
            &key,
        );
        assert_eq!(built, sign(Some(200), None));
    }
}
