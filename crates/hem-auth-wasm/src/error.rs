//! Every failure as one value: a stable `code` derived from the core's error variant, the
//! message the core writes, and the HTTP status where one applies.
//!
//! In JavaScript it becomes an `Error` whose `name` is `"HemError"`, with `code` and (only
//! when there is one) `status` as own properties ([`Failure::into_js`]). The codes are the
//! package's contract: they never change meaning; new ones may be added. The list is
//! [`CODES`], and the `.d.ts` type `HemErrorCode` is checked against it by the tests.

use hem_auth_core::authenticator::AuthenticatorError;
use hem_auth_core::client::ClientError;
use hem_auth_core::codec::CodecError;
use hem_auth_core::jwt::JwtError;
use hem_auth_core::keys::KeyError;
use hem_auth_core::messages::BodyError;
use hem_auth_core::scope::ScopeError;
use hem_auth_core::seal::SealError;

/// A failure on its way to JavaScript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Stable, dotted: `<area>.<what>` (one of [`CODES`]).
    pub code: &'static str,
    /// What happened, for people (the core's `Display` text, or ours for argument errors).
    pub message: String,
    /// The HTTP status this failure stands for, where one applies (the device's errors, once
    /// the device is exported; none of the client's or the authenticator's have one).
    pub status: Option<u16>,
}

impl Failure {
    /// A failure with no HTTP status.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            status: None,
        }
    }

    /// An argument of the wrong JavaScript type (`input.type`).
    pub fn input_type(name: &str, expected: &str) -> Self {
        Failure::new("input.type", format!("`{name}` must be {expected}"))
    }

    /// An argument of the right type with a value out of range (`input.value`).
    pub fn input_value(name: &str, why: &str) -> Self {
        Failure::new("input.value", format!("`{name}` {why}"))
    }
}

/// Every `code` a [`Failure`] can carry, in the order of the `.d.ts` union.
pub const CODES: &[&str] = &[
    "input.type",
    "input.value",
    "input.consumed",
    "random.unavailable",
    "internal.conversion",
    "jwt.too_large",
    "jwt.segment_count",
    "jwt.encoding",
    "jwt.header_not_json",
    "jwt.payload_not_object",
    "jwt.duplicate_member",
    "jwt.too_many_members",
    "jwt.header_policy",
    "jwt.bad_signature",
    "jwt.invalid_claims",
    "jwt.other",
    "key.encoding",
    "key.non_contributory",
    "key.non_canonical",
    "key.low_order",
    "key.other",
    "encoding.invalid_base64",
    "encoding.wrong_length",
    "encoding.too_long",
    "encoding.other",
    "body.too_large",
    "body.not_object",
    "body.fields",
    "body.other",
    "scope.empty",
    "scope.too_long",
    "scope.bad_character",
    "scope.bad_hint",
    "scope.hint_separator",
    "scope.other",
    "seal.unsupported_scheme",
    "seal.encoding",
    "seal.length",
    "seal.padding",
    "seal.tag",
    "seal.too_long",
    "seal.other",
    "client.wrong_issuer",
    "client.wrong_audience",
    "client.expired",
    "client.invalid_lifetime",
    "client.bad_code",
    "client.bad_kid",
    "client.bad_context",
    "client.bad_note",
    "client.other",
    "authenticator.expired",
    "authenticator.label",
    "authenticator.period",
    "authenticator.other",
    "device.clock",
    "device.snapshot",
];

fn jwt_code(e: &JwtError) -> &'static str {
    match e {
        JwtError::TooLarge => "jwt.too_large",
        JwtError::SegmentCount => "jwt.segment_count",
        JwtError::Encoding => "jwt.encoding",
        JwtError::HeaderNotJson => "jwt.header_not_json",
        JwtError::PayloadNotObject => "jwt.payload_not_object",
        JwtError::DuplicateMember => "jwt.duplicate_member",
        JwtError::TooManyMembers => "jwt.too_many_members",
        JwtError::HeaderPolicy => "jwt.header_policy",
        JwtError::BadSignature => "jwt.bad_signature",
        JwtError::InvalidClaims => "jwt.invalid_claims",
        _ => "jwt.other",
    }
}

fn codec_code(e: &CodecError) -> &'static str {
    match e {
        CodecError::InvalidBase64 => "encoding.invalid_base64",
        CodecError::WrongLength { .. } => "encoding.wrong_length",
        CodecError::TooLong => "encoding.too_long",
        _ => "encoding.other",
    }
}

fn key_code(e: &KeyError) -> &'static str {
    match e {
        KeyError::Encoding(_) => "key.encoding",
        KeyError::NonContributory => "key.non_contributory",
        KeyError::NonCanonical => "key.non_canonical",
        KeyError::LowOrder => "key.low_order",
        _ => "key.other",
    }
}

fn body_code(e: &BodyError) -> &'static str {
    match e {
        BodyError::TooLarge => "body.too_large",
        BodyError::NotObject => "body.not_object",
        BodyError::Fields | BodyError::Missing(_) | BodyError::WrongType(_) => "body.fields",
        _ => "body.other",
    }
}

fn scope_code(e: &ScopeError) -> &'static str {
    match e {
        ScopeError::Empty => "scope.empty",
        ScopeError::TooLong => "scope.too_long",
        ScopeError::BadCharacter => "scope.bad_character",
        ScopeError::BadHint => "scope.bad_hint",
        ScopeError::HintSeparator => "scope.hint_separator",
        _ => "scope.other",
    }
}

fn seal_code(e: &SealError) -> &'static str {
    match e {
        SealError::UnsupportedScheme => "seal.unsupported_scheme",
        SealError::Encoding => "seal.encoding",
        SealError::Length => "seal.length",
        SealError::Padding => "seal.padding",
        SealError::Tag => "seal.tag",
        SealError::TooLong => "seal.too_long",
        _ => "seal.other",
    }
}

macro_rules! from_core {
    ($ty:ty, $code:expr) => {
        impl From<$ty> for Failure {
            fn from(e: $ty) -> Self {
                #[allow(clippy::redundant_closure_call)]
                let code = ($code)(&e);
                Failure::new(code, chain_text(&e))
            }
        }
    };
}

/// An error and its sources, each layer once (the core's errors display only their own
/// layer): "client: response body refused: body lacks the member \"token\"".
fn chain_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

from_core!(JwtError, jwt_code);
from_core!(KeyError, key_code);
from_core!(CodecError, codec_code);
from_core!(BodyError, body_code);
from_core!(ScopeError, scope_code);
from_core!(SealError, seal_code);
from_core!(ClientError, |e: &ClientError| match e {
    // The wrapped errors keep their own area: a bad signature is `jwt.bad_signature` whichever
    // role found it.
    ClientError::Jwt(inner) => jwt_code(inner),
    ClientError::Key(inner) => key_code(inner),
    ClientError::Encoding(inner) => codec_code(inner),
    ClientError::Body(inner) => body_code(inner),
    ClientError::Scope(inner) => scope_code(inner),
    ClientError::WrongIssuer => "client.wrong_issuer",
    ClientError::WrongAudience => "client.wrong_audience",
    ClientError::Expired => "client.expired",
    ClientError::InvalidLifetime => "client.invalid_lifetime",
    ClientError::BadCode => "client.bad_code",
    ClientError::BadKid => "client.bad_kid",
    ClientError::BadContext => "client.bad_context",
    ClientError::BadNote => "client.bad_note",
    _ => "client.other",
});
from_core!(AuthenticatorError, |e: &AuthenticatorError| match e {
    AuthenticatorError::Request(inner) => jwt_code(inner),
    AuthenticatorError::Key(inner) => key_code(inner),
    AuthenticatorError::Seal(inner) => seal_code(inner),
    AuthenticatorError::Encoding(inner) => codec_code(inner),
    AuthenticatorError::Body(inner) => body_code(inner),
    AuthenticatorError::Expired => "authenticator.expired",
    AuthenticatorError::Label => "authenticator.label",
    AuthenticatorError::Period => "authenticator.period",
    _ => "authenticator.other",
});

/// The package's `Result`.
pub type Outcome<T> = Result<T, Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mapped_code_is_listed_once() {
        let mut seen = std::collections::BTreeSet::new();
        for code in CODES {
            assert!(seen.insert(*code), "{code} twice");
            let (area, what) = code.split_once('.').unwrap_or_default();
            assert!(!area.is_empty() && !what.is_empty(), "{code}");
        }
        let samples: Vec<Failure> = vec![
            JwtError::BadSignature.into(),
            KeyError::LowOrder.into(),
            CodecError::WrongLength { expected: 32 }.into(),
            BodyError::Fields.into(),
            ScopeError::HintSeparator.into(),
            SealError::Tag.into(),
            ClientError::WrongIssuer.into(),
            ClientError::Jwt(JwtError::Encoding).into(),
            AuthenticatorError::Period.into(),
            AuthenticatorError::Seal(SealError::Padding).into(),
        ];
        for f in samples {
            assert!(CODES.contains(&f.code), "{} is not listed", f.code);
            assert!(!f.message.is_empty());
            assert_eq!(f.status, None);
        }
    }

    #[test]
    fn wrapped_errors_keep_their_area() {
        let f: Failure = ClientError::Jwt(JwtError::BadSignature).into();
        assert_eq!(f.code, "jwt.bad_signature");
        let f: Failure = AuthenticatorError::Expired.into();
        assert_eq!(f.code, "authenticator.expired");
        assert_eq!(f.message, "authenticator: event expired");
        let f: Failure = ClientError::Body(BodyError::Missing("token")).into();
        assert_eq!(
            f.message,
            "client: response body refused: body lacks the member \"token\""
        );
    }
}
