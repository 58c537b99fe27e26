//! The JSON request and response bodies of the device API (spec §5–§7), shared by the device
//! (which parses requests and writes responses) and the clients (which do the reverse).
//!
//! Field order is the device's. Unknown members are ignored (spec §5.2: clients post whole
//! broker session objects); duplicate members and wrong JSON types are errors. Binary fields
//! stay as text here; the code that uses them decodes them (tolerantly, exact length).

use alloc::borrow::Cow;
use serde::{Deserialize, Serialize};

use crate::json::{self, JsonFault};

/// Largest request body the device accepts, in bytes (spec §10.1: 413 above).
pub const MAX_BODY_BYTES: usize = 7300;

/// Why a request body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// Larger than [`MAX_BODY_BYTES`] (the device's 413).
    TooLarge,
    /// Not a JSON object, or a duplicate member.
    NotObject,
    /// A required member is missing or has the wrong JSON type.
    Fields,
}

impl core::fmt::Display for BodyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            BodyError::TooLarge => "request body too large",
            BodyError::NotObject => "request body is not a JSON object",
            BodyError::Fields => "request body members missing or of the wrong type",
        };
        f.write_str(s)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for BodyError {}

/// Largest `ext/request` response body a client accepts, in bytes: `{"authreq","epk"}` around
/// the largest authreq a device can emit (spec §3.6: 17 593 bytes;
/// [`crate::jwt::MAX_AUTHREQ_BYTES`]). The one body a client reads that may exceed
/// [`MAX_BODY_BYTES`].
pub const MAX_EXT_REQUEST_RESPONSE_BYTES: usize = 17_593;

/// Parses a request body: size limit, one JSON object without duplicate members, then `T`.
pub fn parse_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, BodyError> {
    parse_body_within(body, MAX_BODY_BYTES)
}

/// [`parse_body`] with another size limit than [`MAX_BODY_BYTES`].
pub(crate) fn parse_body_within<'a, T: Deserialize<'a>>(
    body: &'a [u8],
    max: usize,
) -> Result<T, BodyError> {
    if body.len() > max {
        return Err(BodyError::TooLarge);
    }
    json::check_object(body).map_err(|f| match f {
        JsonFault::Syntax | JsonFault::NotObject | JsonFault::Duplicate => BodyError::NotObject,
        JsonFault::TooManyMembers => BodyError::NotObject,
    })?;
    serde_json::from_slice(body).map_err(|_| BodyError::Fields)
}

/// Serialises a body compactly.
pub fn to_json<T: Serialize>(body: &T) -> alloc::string::String {
    serde_json::to_string(body).unwrap_or_default()
}

/// `GET /api/auth/token` response: the login challenge (spec §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthChallenge<'a> {
    /// Response deadline: now + 60.
    pub exp: u64,
    /// Per-boot session public key.
    #[serde(borrow)]
    pub spk: Cow<'a, str>,
    /// Time nonce to echo.
    #[serde(borrow)]
    pub jti: Cow<'a, str>,
    /// User label.
    #[serde(borrow)]
    pub lbl: Cow<'a, str>,
    /// Identity key.
    #[serde(borrow)]
    pub eid: Cow<'a, str>,
}

/// `POST /api/auth/token` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthTokenRequest<'a> {
    /// The eJWT.
    #[serde(borrow)]
    pub auth: Cow<'a, str>,
}

/// Response carrying an access token (`auth/token`, `ext/token`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse<'a> {
    /// The access token.
    #[serde(borrow)]
    pub token: Cow<'a, str>,
}

/// `POST /api/auth/ext/request` request (spec §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtRequest<'a> {
    /// Broker session public key.
    #[serde(borrow)]
    pub epk: Cow<'a, str>,
    /// Requested scope.
    #[serde(borrow)]
    pub scope: Cow<'a, str>,
    /// Optional context (1–64 characters, else dropped).
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Cow<'a, str>>,
    /// Optional note (1–128 characters, else dropped).
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Cow<'a, str>>,
}

/// `POST /api/auth/ext/request` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtRequestResponse<'a> {
    /// The authreq JWT.
    #[serde(borrow)]
    pub authreq: Cow<'a, str>,
    /// Echo of the request's epk.
    #[serde(borrow)]
    pub epk: Cow<'a, str>,
}

/// `POST /api/auth/ext/token` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtTokenRequest<'a> {
    /// The authreply JWT.
    #[serde(borrow)]
    pub authreply: Cow<'a, str>,
}

/// Body carrying only an `epk`: `ext/init` and `ext/mac` requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpkRequest<'a> {
    /// Broker session public key.
    #[serde(borrow)]
    pub epk: Cow<'a, str>,
}

/// `POST /api/auth/ext/init` response (spec §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtInitResponse<'a> {
    /// The pairing request JWT.
    #[serde(borrow)]
    pub request: Cow<'a, str>,
    /// The device's eid.
    #[serde(borrow)]
    pub eid: Cow<'a, str>,
}

/// `POST /api/auth/ext/validate` request (spec §6.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtValidateRequest<'a> {
    /// Pairing id from the broker.
    #[serde(borrow)]
    pub pid: Cow<'a, str>,
    /// The phone's reply JWT.
    #[serde(borrow)]
    pub reply: Cow<'a, str>,
}

/// `POST /api/auth/ext/validate` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtValidateResponse<'a> {
    /// kid of the stored authenticator key, 32 lowercase hex.
    #[serde(borrow)]
    pub kid: Cow<'a, str>,
    /// HMAC(X25519(eid_prv, reply.epk), reply), standard base64.
    #[serde(borrow)]
    pub code: Cow<'a, str>,
}

/// `POST /api/auth/ext/mac` response (spec §6.8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtMacResponse<'a> {
    /// Fresh time nonce.
    #[serde(borrow)]
    pub nonce: Cow<'a, str>,
    /// HMAC(X25519(eid_prv, epk), nonce bytes).
    #[serde(borrow)]
    pub mac: Cow<'a, str>,
    /// The device's eid.
    #[serde(borrow)]
    pub eid: Cow<'a, str>,
}

/// `GET /api/system/checkin` response (spec §9.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinChallenge<'a> {
    /// The device's `check` JWT, to forward to the backend verbatim.
    #[serde(borrow)]
    pub check: Cow<'a, str>,
}

/// `POST /api/system/checkin` request: the backend's answer, verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinRequest<'a> {
    /// The backend's `checked` JWT.
    #[serde(borrow)]
    pub checked: Cow<'a, str>,
}

/// `POST /api/system/checkin` response (the optional `newfws`, `newuis`, `newcrt` are not
/// produced by the emulator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinResponse<'a> {
    /// The backend's status (`OK`, …).
    #[serde(borrow)]
    pub status: Cow<'a, str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let ok: ExtRequest<'_> =
            parse_body(br#"{"epk":"x","scope":"keymgmt:list","exp":123,"extra":{}}"#).unwrap();
        assert_eq!(ok.scope, "keymgmt:list");
        assert_eq!(
            parse_body::<ExtRequest<'_>>(br#"{"epk":"x"}"#),
            Err(BodyError::Fields)
        );
        assert_eq!(
            parse_body::<ExtRequest<'_>>(br#"{"epk":1,"scope":"s"}"#),
            Err(BodyError::Fields)
        );
        assert_eq!(
            parse_body::<ExtRequest<'_>>(b"[]"),
            Err(BodyError::NotObject)
        );
        assert_eq!(
            parse_body::<ExtRequest<'_>>(br#"{"epk":"x","epk":"y","scope":"s"}"#),
            Err(BodyError::NotObject)
        );
        let big = alloc::vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse_body::<ExtRequest<'_>>(&big), Err(BodyError::TooLarge));
        let challenge = r#"{"exp":1647871504,"spk":"0kRmCliUQvRwfxi7T1ek2GtbSERzMFRGLeyO1r1tEXo=","jti":"1IU4Yont+/lZxh+HpgBwsc2sOWybfByFI+n8vAxWQzU=","lbl":"My device","eid":"ff6/rpgprw6OjcPbedIB5LbsxjZqmnf43J1zeK1x82I="}"#;
        let c: AuthChallenge<'_> = parse_body(challenge.as_bytes()).unwrap();
        assert_eq!(to_json(&c), challenge);
    }
}
