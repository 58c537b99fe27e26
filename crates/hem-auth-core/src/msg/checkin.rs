//! Check-in (spec §9.4, §9.5): two JWTs between the device and its backend, both with the
//! device header and keyed X25519(spk_prv, backend) from either side.
//!
//! * `check`: the **device** builds it at `GET /api/system/checkin` ([`build_check`]; claims
//!   `jti, iss, qid, aud, fws, bls, uis, csn`); the **backend** (the notify broker's check-in
//!   backend, `POST /checkin`) reads it once with [`read_check`], takes `iss` (the device's
//!   `spk`) unverified to find the key, and verifies it with [`crate::jwt::Untrusted::verify`].
//! * `checked`: the **backend** answers with it ([`build_checked`]; claims `jti, iat, iss, aud,
//!   status`); the **device** verifies it at `POST /api/system/checkin` the same way
//!   ([`read_checked`]: `iss` must be its backend key before the MAC) and sets its clock to
//!   `iat`.

use alloc::borrow::Cow;
use alloc::string::String;
use serde::{Deserialize, Serialize};

use crate::jwt::{self, Header, JwtError, Untrusted, UntrustedJwt};

/// Check-in challenge, device → backend (spec §9.4).
/// Order: `jti, iss, qid, aud, fws, bls, uis, csn`; every member is a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckClaims<'a> {
    /// The device's time nonce.
    #[serde(borrow)]
    pub jti: Cow<'a, str>,
    /// The device's `spk`.
    #[serde(borrow)]
    pub iss: Cow<'a, str>,
    /// Query id (32 bytes, standard base64).
    #[serde(borrow)]
    pub qid: Cow<'a, str>,
    /// The backend's public key.
    #[serde(borrow)]
    pub aud: Cow<'a, str>,
    /// Firmware measurement (64 bytes, standard base64).
    #[serde(borrow)]
    pub fws: Cow<'a, str>,
    /// Bootloader measurement (64 bytes, standard base64).
    #[serde(borrow)]
    pub bls: Cow<'a, str>,
    /// UI measurement (32 bytes, standard base64).
    #[serde(borrow)]
    pub uis: Cow<'a, str>,
    /// Chip serial number (16 bytes, standard base64).
    #[serde(borrow)]
    pub csn: Cow<'a, str>,
}

/// Check-in answer, backend → device (spec §3.4, §9.5).
/// Order: `jti, iat, iss, aud, status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedClaims<'a> {
    /// Echo of the `check` jti.
    #[serde(borrow)]
    pub jti: Cow<'a, str>,
    /// Backend time: the device sets its clock to it.
    pub iat: u64,
    /// The backend's public key.
    #[serde(borrow)]
    pub iss: Cow<'a, str>,
    /// The device's `spk`.
    #[serde(borrow)]
    pub aud: Cow<'a, str>,
    /// `OK`, or a command (`L`, `W`, `R`, `B`, `U`).
    #[serde(borrow)]
    pub status: Cow<'a, str>,
}

/// Signs a `check` as the device does (device header, keyed X25519(spk_prv, backend)).
pub fn build_check(claims: &CheckClaims<'_>, key: &[u8]) -> String {
    jwt::sign(Header::Device, claims, key)
}

/// Reads the claims of a `check` once, untrusted: `iss` finds the key
/// ([`Untrusted::dangerous_unverified`]), then [`Untrusted::verify`].
pub fn read_check<'s, 'a>(
    jwt: &'s UntrustedJwt<'a>,
) -> Result<Untrusted<'s, 'a, CheckClaims<'s>>, JwtError> {
    jwt.untrusted_claims()
}

/// Signs a `checked` as the backend does (device header, keyed X25519(backend_prv, spk)).
pub fn build_checked(claims: &CheckedClaims<'_>, key: &[u8]) -> String {
    jwt::sign(Header::Device, claims, key)
}

/// Reads the claims of a `checked` once, untrusted: `iss` must be the backend's key
/// ([`Untrusted::dangerous_unverified`]), then [`Untrusted::verify`].
pub fn read_checked<'s, 'a>(
    jwt: &'s UntrustedJwt<'a>,
) -> Result<Untrusted<'s, 'a, CheckedClaims<'s>>, JwtError> {
    jwt.untrusted_claims()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::HeaderPolicy;

    #[test]
    fn checked_round_trips_and_a_check_is_not_a_checked() {
        let checked = CheckedClaims {
            jti: "j".into(),
            iat: 7,
            iss: "backend".into(),
            aud: "spk".into(),
            status: "OK".into(),
        };
        let token = build_checked(&checked, &[1; 32]);
        let jwt = UntrustedJwt::parse(&token).unwrap();
        let read = read_checked(&jwt).unwrap();
        assert_eq!(read.dangerous_unverified().iss, "backend");
        assert_eq!(
            *read.verify(&[1; 32], HeaderPolicy::Ecdh).unwrap().claims(),
            checked
        );
        // A `check` lacks `iat` and `status`: it never reads as an answer.
        let check = CheckClaims {
            jti: "j".into(),
            iss: "spk".into(),
            qid: "q".into(),
            aud: "backend".into(),
            fws: "f".into(),
            bls: "b".into(),
            uis: "u".into(),
            csn: "c".into(),
        };
        let token = build_check(&check, &[1; 32]);
        let jwt = UntrustedJwt::parse(&token).unwrap();
        assert!(read_checked(&jwt).is_err());
        assert_eq!(*read_check(&jwt).unwrap().dangerous_unverified(), check);
    }
}
