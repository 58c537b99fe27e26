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

/// Why a JSON body was refused. The body may be a request (the device's) or a response (a
/// client's): the error of the layer that parsed it says which ([`crate::client::ClientError`]
/// "response body", the device's 400/413, [`crate::authenticator::AuthenticatorError`] "event
/// body"); this one says what is wrong with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// Larger than the limit of the place it is read ([`MAX_BODY_BYTES`] for a request: the
    /// device's 413).
    TooLarge,
    /// Not one JSON object, or a member is there twice.
    NotObject,
    /// A required member is missing or has the wrong JSON type, and which one could not be
    /// told.
    Fields,
    /// This required member is missing.
    Missing(&'static str),
    /// This member has the wrong JSON type (or an impossible value: a negative or fractional
    /// number where an unsigned integer belongs).
    WrongType(&'static str),
}

impl core::fmt::Display for BodyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BodyError::TooLarge => f.write_str("body too large"),
            BodyError::NotObject => f.write_str("body is not one JSON object without duplicates"),
            BodyError::Fields => f.write_str("body members missing or of the wrong type"),
            BodyError::Missing(m) => write!(f, "body lacks the member \"{m}\""),
            BodyError::WrongType(m) => write!(f, "body member \"{m}\" has the wrong type"),
        }
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
    serde_json::from_slice(body).map_err(|e| member_error::<T>(&e, body))
}

/// Names the member a failed deserialisation of `T` stumbled on (error path only): a missing
/// member from serde's message, a mistyped one from the error's position.
fn member_error<'a, T: Deserialize<'a>>(e: &serde_json::Error, body: &[u8]) -> BodyError {
    let mut fields = None;
    let _ = T::deserialize(FieldNames(&mut fields));
    let Some(fields) = fields else {
        return BodyError::Fields;
    };
    if e.classify() != serde_json::error::Category::Data {
        return BodyError::Fields;
    }
    // serde's text for a missing member is "missing field `name`".
    let mut text = arrayvec::ArrayString::<128>::new();
    let _ = core::fmt::write(&mut text, format_args!("{e}"));
    if let Some(rest) = text.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        return fields
            .iter()
            .find(|f| **f == name)
            .map_or(BodyError::Fields, |f| BodyError::Missing(f));
    }
    // Otherwise the value at the error's position is mistyped: the member is the last of
    // `T`'s names written as a key before that position.
    let offset = body
        .split(|&b| b == b'\n')
        .take(e.line().saturating_sub(1))
        .map(|line| line.len() + 1)
        .sum::<usize>()
        + e.column();
    let before = body.get(..offset.min(body.len())).unwrap_or_default();
    fields
        .iter()
        .filter_map(|f| last_key_at(before, f).map(|at| (at, *f)))
        .max_by_key(|(at, _)| *at)
        .map_or(BodyError::Fields, |(_, f)| BodyError::WrongType(f))
}

/// Where `"name"` last stands as a key (followed by `:`) in `text`.
fn last_key_at(text: &[u8], name: &str) -> Option<usize> {
    let n = name.len() + 2;
    (0..text.len().saturating_sub(n - 1)).rev().find(|&i| {
        text.get(i..i + n).is_some_and(|w| {
            w.first() == Some(&b'"')
                && w.last() == Some(&b'"')
                && w.get(1..n - 1) == Some(name.as_bytes())
        }) && text
            .get(i + n..)
            .unwrap_or_default()
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            == Some(&b':')
    })
}

/// A deserializer that only records the member names a derived struct asks for.
struct FieldNames<'f>(&'f mut Option<&'static [&'static str]>);

impl<'de> serde::Deserializer<'de> for FieldNames<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("names only"))
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(serde::de::Error::custom("names only"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
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
            Err(BodyError::Missing("scope"))
        );
        assert_eq!(
            parse_body::<ExtRequest<'_>>(br#"{"epk":1,"scope":"s"}"#),
            Err(BodyError::WrongType("epk"))
        );
        assert_eq!(
            parse_body::<ExtRequest<'_>>(b"[]"),
            Err(BodyError::NotObject)
        );
        assert_eq!(
            parse_body::<ExtRequest<'_>>(br#"{"epk":"x","epk":"y","scope":"s"}"#),
            Err(BodyError::NotObject)
        );
        // Each member named, wherever it stands, whatever the layout.
        assert_eq!(
            parse_body::<ExtRequest<'_>>(
                b"{\n  \"scope\": \"s\",\n  \"epk\" : \"x\",\n  \"ctx\": 5\n}"
            ),
            Err(BodyError::WrongType("ctx"))
        );
        assert_eq!(
            parse_body::<ExtRequest<'_>>(br#"{"note":"epk","epk":"x","scope":["scope"]}"#),
            Err(BodyError::WrongType("scope"))
        );
        assert_eq!(
            parse_body::<AuthChallenge<'_>>(br#"{"exp":-1,"spk":"","jti":"","lbl":"","eid":""}"#),
            Err(BodyError::WrongType("exp"))
        );
        assert_eq!(
            parse_body::<TokenResponse<'_>>(br#"{"tokens":"t"}"#),
            Err(BodyError::Missing("token"))
        );
        assert_eq!(
            alloc::format!("{}", BodyError::Missing("token")),
            "body lacks the member \"token\""
        );
        let big = alloc::vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse_body::<ExtRequest<'_>>(&big), Err(BodyError::TooLarge));
        let challenge = r#"{"exp":1647871504,"spk":"0kRmCliUQvRwfxi7T1ek2GtbSERzMFRGLeyO1r1tEXo=","jti":"1IU4Yont+/lZxh+HpgBwsc2sOWybfByFI+n8vAxWQzU=","lbl":"My device","eid":"ff6/rpgprw6OjcPbedIB5LbsxjZqmnf43J1zeK1x82I="}"#;
        let c: AuthChallenge<'_> = parse_body(challenge.as_bytes()).unwrap();
        assert_eq!(to_json(&c), challenge);
    }
}
