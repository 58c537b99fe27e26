//! One rule for every error of the core (issue 19): `Display` says only its own layer and
//! `source()` returns the inner error, so a report that walks the chain prints each layer once.

use std::error::Error;

use hem_auth_core::authenticator::AuthenticatorError;
use hem_auth_core::client::{ClientError, LoginChallenge, UnverifiableAccessToken};
use hem_auth_core::codec::{self, CodecError};
use hem_auth_core::device::DeviceError;
use hem_auth_core::ids::{IdError, Pid};
use hem_auth_core::jwt::JwtError;
use hem_auth_core::keys::{KeyError, PublicKey};
use hem_auth_core::messages::BodyError;
use hem_auth_core::scope::{self, ScopeError};
use hem_auth_core::seal::SealError;

/// The layers of an error chain, outermost first.
fn layers(e: &dyn Error) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut source = e.source();
    while let Some(inner) = source {
        out.push(inner.to_string());
        source = inner.source();
    }
    out
}

/// No layer's text contains the text of a layer below it.
fn assert_each_layer_once(e: &dyn Error) -> Vec<String> {
    let l = layers(e);
    for (i, outer) in l.iter().enumerate() {
        for inner in l.iter().skip(i + 1) {
            assert!(
                !outer.contains(inner.as_str()),
                "{outer:?} repeats its source {inner:?}"
            );
        }
    }
    l
}

#[test]
fn every_wrapping_error_displays_its_layer_and_sources_the_inner() {
    let chains: Vec<Box<dyn Error>> = vec![
        Box::new(ClientError::Jwt(JwtError::BadSignature)),
        Box::new(ClientError::Key(KeyError::Encoding(
            CodecError::InvalidBase64,
        ))),
        Box::new(ClientError::Encoding(CodecError::WrongLength {
            expected: 32,
        })),
        Box::new(ClientError::Body(BodyError::Missing("token"))),
        Box::new(ClientError::Scope(ScopeError::BadCharacter)),
        Box::new(KeyError::Encoding(CodecError::TooLong)),
        Box::new(AuthenticatorError::Request(JwtError::SegmentCount)),
        Box::new(AuthenticatorError::Key(KeyError::LowOrder)),
        Box::new(AuthenticatorError::Seal(SealError::Tag)),
        Box::new(AuthenticatorError::Encoding(CodecError::InvalidBase64)),
        Box::new(AuthenticatorError::Body(BodyError::WrongType("exp"))),
        Box::new(DeviceError::ScopeOpen(SealError::Padding)),
        Box::new(IdError::Pid(CodecError::InvalidBase64)),
    ];
    for e in chains {
        let l = assert_each_layer_once(e.as_ref());
        assert!(l.len() >= 2, "{l:?} has no source");
    }
}

#[test]
fn a_real_chain_prints_each_layer_once() {
    let e = UnverifiableAccessToken::from_response(br#"{"tok":"x"}"#).unwrap_err();
    assert_eq!(
        assert_each_layer_once(&e),
        [
            "client: response body refused",
            "body lacks the member \"token\""
        ]
    );
    let e = LoginChallenge::parse(
        br#"{"exp":1,"spk":"AQEB!AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB","jti":"j","lbl":"l","eid":"x"}"#,
    )
    .unwrap_err();
    assert_eq!(
        assert_each_layer_once(&e),
        [
            "client: public key refused",
            "key is not base64 of 32 bytes",
            "invalid base64"
        ]
    );
}

#[test]
fn text_that_is_not_base64_is_invalid_base64_whatever_its_length() {
    // A bad character in a text too long for 32 bytes used to be reported as a wrong length.
    let long_bad = format!("{}!", "A".repeat(60));
    assert_eq!(
        PublicKey::from_b64(&long_bad),
        Err(KeyError::Encoding(CodecError::InvalidBase64))
    );
    assert_eq!(
        codec::decode_fixed::<32>(&"A".repeat(2000)),
        Err(CodecError::WrongLength { expected: 32 })
    );
    assert_eq!(
        codec::decode_fixed::<32>(&format!("{}*", "A".repeat(2000))),
        Err(CodecError::InvalidBase64)
    );
    assert_eq!(
        PublicKey::from_b64(&"A".repeat(64)),
        Err(KeyError::Encoding(CodecError::WrongLength { expected: 32 }))
    );
    assert_eq!(
        "not-a-pid".parse::<Pid>(),
        Err(IdError::Pid(CodecError::InvalidBase64))
    );
    // Display and FromStr are inverses.
    let key = PublicKey::from_bytes([9; 32]);
    assert_eq!(key.to_string().parse::<PublicKey>(), Ok(key));
}

#[test]
fn a_space_is_not_called_non_printable() {
    let e = scope::check_requested("keymgmt list", 1023).unwrap_err();
    assert_eq!(e, ScopeError::BadCharacter);
    let text = e.to_string();
    assert!(text.contains("a space"), "{text}");
    assert!(text.contains("0x21-0x7E"), "{text}");
    assert!(!text.contains("printable"), "{text}");
}
