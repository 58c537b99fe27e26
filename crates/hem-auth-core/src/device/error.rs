//! The device's one error type and its HTTP status (spec §10.2).

use crate::jwt::JwtError;
use crate::seal::SealError;

/// What exactly was malformed in a request (every one of these is a 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// The body is not one JSON object, has a duplicate member, or a required member is missing
    /// or of the wrong JSON type.
    Body,
    /// A JWT in the body does not have the shape of one (see [`JwtError`]).
    Jwt(JwtError),
    /// A required claim of the JWT is missing or of the wrong JSON type.
    Claims,
    /// An `epk` is not base64 of 32 bytes, not the canonical encoding of a key, or is a
    /// low-order point (spec §2.5).
    Epk,
    /// A scope is empty or longer than the limit of its place.
    Scope,
    /// A requested scope has a character outside printable ASCII `0x21`–`0x7E` (a control
    /// character, a space, DEL, anything not ASCII) or a `#`, which only the device appends
    /// (spec §8.6).
    ScopeCharacter,
    /// An `epk` is the device's `eid`, its current `spk` or the `aid` of a pairing: refused at
    /// `ext/request`, `ext/init` and `ext/mac` to keep the device's secrets apart (spec §2.5).
    EpkInUse,
    /// A `pid` is not base64 of 32 bytes.
    Pid,
    /// A pairing label is missing, empty, longer than 32 or not printable ASCII.
    Label,
    /// A public key claim (the `iss` of a pairing reply, an authreply or an eJWT) is not base64
    /// of 32 bytes, not the canonical encoding of a key, or is a low-order point (spec §2.5).
    Key,
    /// A kid is not 32 lowercase hex characters.
    Kid,
}

/// Why the device refused a request. Every variant is one exact cause; [`DeviceError::status`]
/// is the single place that maps causes to HTTP statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceError {
    /// 403: the RTC is not set (check-in first).
    RtcUnset,
    /// 409: the device is not initialised.
    NotInitialised,
    /// 409: no check-in backend key is configured, so check-in cannot work.
    NoBackend,
    /// 413: the body is larger than [`crate::messages::MAX_BODY_BYTES`].
    BodyTooLarge,
    /// 400: the request is malformed.
    Malformed(Malformed),
    /// 406: the authreply's `pid` names no pairing.
    UnknownPairing,
    /// 406: the authreply's `iss` is not the aid paired under its `pid`.
    IssuerMismatch,
    /// 406: the sealed scope is not of scheme `A`.
    ScopeScheme,
    /// 406: the sealed scope does not open (base64, length, padding or tag).
    ScopeOpen(SealError),
    /// 406: under the `RequestedOnly` policy, the approved scope is not the requested one.
    ScopeMismatch,
    /// 406: the access token would be longer than
    /// [`super::MAX_ACCESS_TOKEN_BYTES`], the longest JWT the device accepts as a bearer (an
    /// approved scope of thousands of characters).
    TokenTooLarge,
    /// 406: eight authenticators are paired already.
    TooManyPairings,
    /// 406: this aid is paired already (under any pid).
    DuplicateAid,
    /// 406: this pid is in use by another pairing.
    DuplicatePid,
    /// 401: the JWT header breaks the policy (`alg`, `ecdh`, `crit`, duplicates).
    HeaderPolicy,
    /// 401: the HMAC does not verify.
    BadMac,
    /// 401: the authreply (or `checked`) carries an `aud` that is not this device's key.
    AudienceMismatch,
    /// 401: the `jti` is not a valid nonce of this device for this purpose: not 32 bytes,
    /// forged (its tag does not verify under this boot's nonce key), issued before the last
    /// reboot or for another purpose, expired, or already consumed (spec §4.2, §4.3).
    NonceNotPending,
    /// 401: the requested expiry is not after now.
    Expired,
    /// 401: the login `iss` is neither the user nor the master key (or the `checked` issuer
    /// is not the backend key).
    UnknownIssuer,
    /// 401: the endpoint needs a bearer token and none was given.
    MissingToken,
    /// 401: the bearer token is malformed or its signature does not verify (for example, it
    /// was issued before the last reboot).
    InvalidToken,
    /// 401: the bearer token has expired (valid while `now < exp`).
    TokenExpired,
    /// 403: the bearer token does not carry a scope the endpoint accepts.
    InsufficientScope,
    /// 403: the bearer token's subject may not use the endpoint.
    WrongRole,
    /// 404: no key (pairing) with this kid.
    UnknownKey,
    /// 503: the request passed every check, but the consumed-nonce set is full of unexpired
    /// nonces, so the device cannot record this success without forgetting one (which would
    /// reopen a replay). The last check of every endpoint that consumes a nonce; nothing
    /// changes (spec §4.3).
    NonceStoreFull,
}

impl DeviceError {
    /// The HTTP status the device answers with.
    pub const fn status(&self) -> u16 {
        match self {
            DeviceError::Malformed(_) => 400,
            DeviceError::HeaderPolicy
            | DeviceError::BadMac
            | DeviceError::AudienceMismatch
            | DeviceError::NonceNotPending
            | DeviceError::Expired
            | DeviceError::UnknownIssuer
            | DeviceError::MissingToken
            | DeviceError::InvalidToken
            | DeviceError::TokenExpired => 401,
            DeviceError::RtcUnset | DeviceError::InsufficientScope | DeviceError::WrongRole => 403,
            DeviceError::UnknownKey => 404,
            DeviceError::UnknownPairing
            | DeviceError::IssuerMismatch
            | DeviceError::ScopeScheme
            | DeviceError::ScopeOpen(_)
            | DeviceError::ScopeMismatch
            | DeviceError::TokenTooLarge
            | DeviceError::TooManyPairings
            | DeviceError::DuplicateAid
            | DeviceError::DuplicatePid => 406,
            DeviceError::NotInitialised | DeviceError::NoBackend => 409,
            DeviceError::BodyTooLarge => 413,
            DeviceError::NonceStoreFull => 503,
        }
    }
}

impl From<Malformed> for DeviceError {
    fn from(m: Malformed) -> Self {
        DeviceError::Malformed(m)
    }
}

impl core::fmt::Display for DeviceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            DeviceError::RtcUnset => "clock (RTC) not set",
            DeviceError::NotInitialised => "device not initialised",
            DeviceError::NoBackend => "no check-in backend configured",
            DeviceError::BodyTooLarge => "request body too large",
            DeviceError::Malformed(m) => return write!(f, "malformed request: {m:?}"),
            DeviceError::UnknownPairing => "unknown pairing",
            DeviceError::IssuerMismatch => "issuer is not the paired key",
            DeviceError::ScopeScheme => "sealed scope: unsupported scheme",
            DeviceError::ScopeOpen(_) => "sealed scope cannot be opened",
            DeviceError::ScopeMismatch => "approved scope is not the requested one",
            DeviceError::TokenTooLarge => "access token would be too large",
            DeviceError::TooManyPairings => "too many pairings",
            DeviceError::DuplicateAid => "authenticator key already paired",
            DeviceError::DuplicatePid => "pairing id already in use",
            DeviceError::HeaderPolicy => "JWT header rejected",
            DeviceError::BadMac => "JWT signature does not verify",
            DeviceError::AudienceMismatch => "audience is not this device",
            DeviceError::NonceNotPending => "nonce unknown, used or expired",
            DeviceError::Expired => "expiry not in the future",
            DeviceError::UnknownIssuer => "issuer is not a known key",
            DeviceError::MissingToken => "bearer token missing",
            DeviceError::InvalidToken => "bearer token invalid",
            DeviceError::TokenExpired => "bearer token expired",
            DeviceError::InsufficientScope => "bearer token lacks the required scope",
            DeviceError::WrongRole => "bearer token role not allowed",
            DeviceError::UnknownKey => "no such key",
            DeviceError::NonceStoreFull => "consumed-nonce store full, try again later",
        };
        f.write_str(s)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DeviceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DeviceError::ScopeOpen(e) => Some(e),
            _ => None,
        }
    }
}
