//! The authreply (spec §5.7): a JWT the **authenticator** builds when the user approves
//! ([`build`]; app header, claims `aud, jti, exp, iat, pid, iss, scope[, ctx]`, HS256 keyed
//! S1 = X25519(aid_prv, eid)); the **device** verifies it at `POST /api/auth/ext/token` (§5.8)
//! through [`read`] and [`crate::jwt::Untrusted::verify_with`]: one parse, the pid and `iss`
//! read unverified to find the pairing (and so S1), every other claim out of the
//! [`crate::jwt::Verified`] the MAC check returns. The **notify broker** holds no S1: it reads
//! `jti` and `pid` through [`read`] and [`crate::jwt::Untrusted::dangerous_unverified`], only
//! to file the answer under its event (§12.4), after checking the phone's `mac` over it.

use alloc::borrow::Cow;
use alloc::string::String;
use serde::{Deserialize, Serialize};

use crate::jwt::{self, Header, JwtError, Untrusted, UntrustedJwt};

/// Authentication reply, phone → device (spec §5.7, §5.8).
/// Order: `aud, jti, exp, iat, pid, iss, scope[, ctx]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthreplyClaims<'a> {
    /// The eid (optional; when present the device requires it to be its eid).
    #[serde(
        borrow,
        default,
        deserialize_with = "crate::claims::opt_borrowed",
        skip_serializing_if = "Option::is_none"
    )]
    pub aud: Option<Cow<'a, str>>,
    /// Echo of the authreq `jti`.
    #[serde(borrow)]
    pub jti: Cow<'a, str>,
    /// Token expiry chosen by the user (`0`: the device's 8 h default).
    pub exp: u64,
    /// Phone time (optional for the device).
    #[serde(
        default,
        deserialize_with = "crate::claims::present_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub iat: Option<u64>,
    /// The pairing id the notify broker assigned this phone at pairing (spec §6.4).
    #[serde(borrow)]
    pub pid: Cow<'a, str>,
    /// The phone's `aid`.
    #[serde(borrow)]
    pub iss: Cow<'a, str>,
    /// The granted scope, sealed.
    #[serde(borrow)]
    pub scope: Cow<'a, str>,
    /// Optional context.
    #[serde(
        borrow,
        default,
        deserialize_with = "crate::claims::opt_borrowed",
        skip_serializing_if = "Option::is_none"
    )]
    pub ctx: Option<Cow<'a, str>>,
}

/// Signs `claims` as the phone app does (app header, keyed `s1` = X25519(aid_prv, eid)).
pub fn build(claims: &AuthreplyClaims<'_>, s1: &[u8]) -> String {
    jwt::sign(Header::App, claims, s1)
}

/// Reads the claims of an authreply once, untrusted: the device verifies them with
/// [`Untrusted::verify_with`] under the pairing's S1; the notify broker, which cannot, reads
/// them with [`Untrusted::dangerous_unverified`].
pub fn read<'s, 'a>(
    jwt: &'s UntrustedJwt<'a>,
) -> Result<Untrusted<'s, 'a, AuthreplyClaims<'s>>, JwtError> {
    jwt.untrusted_claims()
}
