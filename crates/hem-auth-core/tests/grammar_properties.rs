//! Properties of the two parsers of issue 14's part 3/4: the requested-scope grammar and its
//! display (spec §8.6), and the canonical decoding of X25519 public keys (spec §2.5).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use hem_auth_core::codec;
use hem_auth_core::keys::{KeyError, PublicKey};
use hem_auth_core::scope::{self, DisplayScope, Escaped, ScopeError};
use proptest::prelude::*;

/// Little-endian p = 2^255 − 19.
const P: [u8; 32] = {
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    p
};

/// The five canonical low-order encodings (spec §2.5).
fn low_order() -> [[u8; 32]; 5] {
    let b = |s: &str| codec::decode_fixed::<32>(s).unwrap();
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut p_minus_1 = P;
    p_minus_1[0] = 0xec;
    [
        [0u8; 32],
        one,
        p_minus_1,
        b("4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAA="),
        b("X5yVvKNQjCSx0LFVnIPvWwREXMRYHI6G2CJO3dCfEVc="),
    ]
}

/// u < p for a little-endian value with bit 255 clear, by comparing from the top byte.
fn below_p(bytes: &[u8; 32]) -> bool {
    for i in (0..32).rev() {
        if bytes[i] != P[i] {
            return bytes[i] < P[i];
        }
    }
    false
}

/// Any text: arbitrary Unicode, plus strings made mostly of the bytes that matter here.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\x00-\\x7f#\\\\\u{80}-\u{10ffff}]{0,40}",
        "[!-~]{0,40}",
        "keymgmt:use:[0-9a-f]{32}#[A-Za-z0-9+/=#\\x00-\\x20]{0,60}",
    ]
}

/// A key's bytes: uniform, or near the edges the rules care about.
fn key_bytes() -> impl Strategy<Value = [u8; 32]> {
    prop_oneof![
        any::<[u8; 32]>(),
        (any::<[u8; 32]>(), 0u8..=0xff).prop_map(|(mut b, low)| {
            b[1..31].fill(0xff);
            b[31] = 0x7f;
            b[0] = low;
            b
        }),
        (0usize..5, any::<bool>()).prop_map(|(i, top)| {
            let mut b = low_order()[i];
            if top {
                b[31] |= 0x80;
            }
            b
        }),
    ]
}

proptest! {
    #[test]
    fn requested_scope_grammar_is_exactly_the_character_rule(s in text(), max in 1usize..200) {
        let allowed = s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'#');
        let ok = !s.is_empty() && allowed && s.len() <= max;
        let got = scope::check_requested(&s, max);
        prop_assert_eq!(got.is_ok(), ok, "{:?} {:?}", s, got);
        if s.contains('#') && !s.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
            prop_assert!(matches!(got, Err(ScopeError::HintSeparator) | Err(ScopeError::TooLong)));
        }
    }

    #[test]
    fn display_of_any_text_is_printable_ascii(s in text()) {
        for shown in [format!("{}", Escaped(&s)), format!("{}", DisplayScope::new(&s))] {
            prop_assert!(
                shown.bytes().all(|b| (0x20..=0x7e).contains(&b)),
                "{:?} shown as {:?}", s, shown
            );
        }
        // A scope the requester could have asked for is shown verbatim (a backslash doubled),
        // and not flagged.
        if scope::check_requested(&s, scope::MAX_REQUEST_SCOPE_CHARS).is_ok() {
            let shown = DisplayScope::new(&s);
            prop_assert_eq!(format!("{shown}"), s.replace('\\', "\\\\"));
            prop_assert!(!shown.is_suspicious());
        }
        // Anything with a byte outside printable ASCII is flagged.
        if s.bytes().any(|b| !(0x20..=0x7e).contains(&b)) {
            prop_assert!(DisplayScope::new(&s).is_suspicious(), "{:?}", s);
        }
    }

    #[test]
    fn escaping_maps_back_to_exactly_one_string(s in text()) {
        let shown = format!("{}", Escaped(&s));
        let mut back = Vec::new();
        let mut bytes = shown.bytes();
        while let Some(b) = bytes.next() {
            if b != b'\\' {
                back.push(b);
                continue;
            }
            match bytes.next() {
                Some(b'\\') => back.push(b'\\'),
                Some(b'x') => {
                    let hex = [bytes.next().unwrap(), bytes.next().unwrap()];
                    let hex = std::str::from_utf8(&hex).unwrap();
                    prop_assert_eq!(hex, hex.to_lowercase());
                    back.push(u8::from_str_radix(hex, 16).unwrap());
                }
                other => prop_assert!(false, "stray escape {:?} in {:?}", other, shown),
            }
        }
        prop_assert_eq!(String::from_utf8(back).unwrap(), s);
    }

    #[test]
    fn public_keys_decode_only_when_canonical(bytes in key_bytes()) {
        let text = codec::encode_std(&bytes);
        let got = PublicKey::from_b64(&text);
        let canonical = bytes[31] & 0x80 == 0 && below_p(&bytes);
        let low = low_order().contains(&bytes);
        match got {
            Ok(key) => {
                prop_assert!(canonical && !low, "{} accepted", text);
                prop_assert_eq!(key.as_bytes(), &bytes);
                prop_assert_eq!(key.to_b64(), text.clone());
                prop_assert_eq!(PublicKey::try_from_bytes(bytes), Ok(key));
                // The same X25519 key with bit 255 set is never a second key.
                let mut aliased = bytes;
                aliased[31] |= 0x80;
                prop_assert_eq!(
                    PublicKey::try_from_bytes(aliased).err(),
                    Some(KeyError::NonCanonical)
                );
            }
            Err(KeyError::NonCanonical) => prop_assert!(!canonical, "{}", text),
            Err(KeyError::LowOrder) => prop_assert!(canonical && low, "{}", text),
            Err(e) => prop_assert!(false, "{}: {:?}", text, e),
        }
    }

    #[test]
    fn public_key_text_of_any_shape_never_panics(s in "[A-Za-z0-9+/=_-]{0,50}|\\PC{0,50}") {
        if let Ok(key) = PublicKey::from_b64(&s) {
            prop_assert_eq!(PublicKey::from_b64(&key.to_b64()), Ok(key));
        }
    }
}
