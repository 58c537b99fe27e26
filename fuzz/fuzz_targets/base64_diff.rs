//! The codec (`codec`) against the `base64` crate, used the plain way.
//!
//! The input is used whole, both as text to decode and as bytes to encode.
//! Checks: the encoders agree with the crate's engines and round-trip; the strict JWT segment
//! decoder accepts exactly what URL_SAFE_NO_PAD accepts, with the same bytes; the tolerant
//! field decoder accepts a text of either alphabet exactly when the crate's engine of that
//! alphabet (padding optional) does, with the same bytes; `decode_fixed` accepts exactly the
//! texts of 32 bytes; `pidx_to_pid` undoes `pid_to_pidx` on every standard pid.
#![no_main]

use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use hem_auth_core::codec::{self, CodecError, MAX_STD_B64_CHARS};
use libfuzzer_sys::fuzz_target;

const INDIFFERENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STD_ANY_PAD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, INDIFFERENT);
const URL_ANY_PAD: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, INDIFFERENT);

fuzz_target!(|data: &[u8]| {
    // Encoders.
    let seg = codec::encode_segment(data);
    assert_eq!(seg, URL_SAFE_NO_PAD.encode(data));
    let std = codec::encode_std(data);
    assert_eq!(std, STANDARD.encode(data));
    let mut out = vec![0u8; data.len() + 3];
    assert_eq!(
        codec::decode_segment(seg.as_bytes(), &mut out).ok(),
        Some(data)
    );
    if std.len() <= MAX_STD_B64_CHARS {
        assert_eq!(codec::decode_std_into(&std, &mut out).ok(), Some(data));
    }

    // The strict segment decoder.
    let mut big = vec![0u8; data.len() + 3];
    let ours = codec::decode_segment(data, &mut big).map(<[u8]>::to_vec);
    let theirs = URL_SAFE_NO_PAD.decode(data);
    assert_eq!(ours.as_ref().ok(), theirs.as_ref().ok(), "decode_segment");

    // The tolerant decoder: one alphabet at a time against the crate.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = codec::decode_std_into(text, &mut big).map(<[u8]>::to_vec);
    if text.len() > MAX_STD_B64_CHARS {
        assert_eq!(ours, Err(CodecError::TooLong));
        return;
    }
    let has_std = text.contains(['+', '/']);
    let has_url = text.contains(['-', '_']);
    if !has_url {
        assert_eq!(
            ours.as_ref().ok(),
            STD_ANY_PAD.decode(text).as_ref().ok(),
            "standard alphabet"
        );
    }
    if !has_std {
        assert_eq!(
            ours.as_ref().ok(),
            URL_ANY_PAD.decode(text).as_ref().ok(),
            "url alphabet"
        );
    }
    let fixed = codec::decode_fixed::<32>(text);
    match &ours {
        Ok(bytes) if bytes.len() == 32 => {
            assert_eq!(fixed.ok().as_ref().map(|b| &b[..]), Some(&bytes[..]))
        }
        _ => assert!(fixed.is_err()),
    }
    if ours.is_ok() && !has_url {
        let pidx = codec::pid_to_pidx(text);
        assert!(!pidx.contains(['+', '/', '=']));
        let back = codec::pidx_to_pid(&pidx);
        assert_eq!(STD_ANY_PAD.decode(&back).ok(), ours.ok(), "pidx round trip");
    }
});
