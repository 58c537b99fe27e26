//! The eJWT of a password (or master-key) login (spec §7.3): a JWT the **client** builds from
//! the device's `GET /api/auth/token` challenge ([`build`], through
//! [`crate::client::PasswordLogin`] and [`crate::client::build_login_raw`]; app header, claims
//! `jti, aud, exp, iat, iss, scope[, ctx]`, HS256 keyed X25519(user_prv, spk)); the **device**
//! verifies it at `POST /api/auth/token` (§7.4) through [`read`] and
//! [`crate::jwt::Untrusted::verify`]: one parse, `iss` read unverified to find the key, every
//! other claim out of the [`crate::jwt::Verified`] the MAC check returns. Nobody else reads it.

use alloc::borrow::Cow;
use alloc::string::String;
use serde::{Deserialize, Serialize};

use crate::jwt::{self, Header, JwtError, Untrusted, UntrustedJwt};

/// eJWT of a password (or master-key) login, client → device (spec §7.3).
/// Order: `jti, aud, exp, iat, iss, scope[, ctx]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginClaims<'a> {
    /// Echo of the challenge `jti`.
    #[serde(borrow)]
    pub jti: Cow<'a, str>,
    /// The challenge `spk`, verbatim.
    #[serde(borrow)]
    pub aud: Cow<'a, str>,
    /// Requested token expiry (becomes the token's `exp` verbatim).
    pub exp: u64,
    /// Client time.
    pub iat: u64,
    /// The user (or master) public key, standard base64.
    #[serde(borrow)]
    pub iss: Cow<'a, str>,
    /// Requested scope.
    #[serde(borrow)]
    pub scope: Cow<'a, str>,
    /// The client's own context text (optional, under 64 bytes), copied into the token.
    #[serde(
        borrow,
        default,
        deserialize_with = "crate::claims::opt_borrowed",
        skip_serializing_if = "Option::is_none"
    )]
    pub ctx: Option<Cow<'a, str>>,
}

/// Signs `claims` as the client does (app header, keyed `key` = X25519(user_prv, spk)).
/// Checks nothing: [`crate::client::build_login_raw`] checks the scope, lifetime, `ctx` and key
/// first.
pub fn build(claims: &LoginClaims<'_>, key: &[u8]) -> String {
    jwt::sign(Header::App, claims, key)
}

/// Reads the claims of an eJWT once, untrusted: the device takes `iss` from
/// [`Untrusted::dangerous_unverified`] to find the key, then verifies them with
/// [`Untrusted::verify`] under X25519(spk_prv, `iss`).
pub fn read<'s, 'a>(
    jwt: &'s UntrustedJwt<'a>,
) -> Result<Untrusted<'s, 'a, LoginClaims<'s>>, JwtError> {
    jwt.untrusted_claims()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::HeaderPolicy;

    #[test]
    fn build_then_read_and_verify_round_trips() {
        let claims = LoginClaims {
            jti: "j".into(),
            aud: "spk".into(),
            exp: 20,
            iat: 10,
            iss: "user".into(),
            scope: "keymgmt:list".into(),
            ctx: Some("c".into()),
        };
        let token = build(&claims, &[3; 32]);
        let jwt = UntrustedJwt::parse(&token).unwrap();
        let read_ = read(&jwt).unwrap();
        assert_eq!(read_.dangerous_unverified().iss, "user");
        let verified = read_.verify(&[3; 32], HeaderPolicy::Ecdh).unwrap();
        assert_eq!(*verified.claims(), claims);
        let read_ = read(&jwt).unwrap();
        assert_eq!(
            read_.verify(&[4; 32], HeaderPolicy::Ecdh),
            Err(JwtError::BadSignature)
        );
    }
}
