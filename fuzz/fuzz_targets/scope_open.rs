//! Sealed scopes (`seal::ScopeKey`) and the scope grammar (`scope`).
//!
//! Modes: 0, a sealed text to open; 1, a plaintext to seal and open again; 2, `[at: u16 LE]
//! [bit: u8]` then a plaintext: sealed, one bit of the sealed text flipped, opened; 3, a scope
//! through the grammar functions.
//! Checks: opening never panics; seal then open gives the plaintext back, and a wrong key
//! never opens it; a flipped sealed scope opens, if at all, to the sealed plaintext (anything
//! else is a forgery); `grant` is idempotent and a hint decodes back to itself.
#![no_main]

use hem_auth_core::keys::SharedSecret;
use hem_auth_core::scope::{self, KeyHint};
use hem_auth_core::seal::ScopeKey;
use hem_auth_fuzz_common::input;
use libfuzzer_sys::fuzz_target;

fn grammar(text: &str) {
    let _ = scope::validate(text, scope::MAX_REQUEST_SCOPE_CHARS);
    let _ = scope::validate(text, scope::MAX_LOGIN_SCOPE_CHARS);
    let _ = scope::use_kid(text);
    let _ = scope::strip_hint(text);
    for writable in [false, true] {
        let once = scope::grant(text, writable);
        assert_eq!(
            scope::grant(&once, writable),
            once,
            "grant is not idempotent"
        );
    }
    assert!(scope::approved_matches_request(text, text));
    assert!(scope::permits(text, text, true) && scope::permits(text, "", false));
    if let (_, Some(hint)) = scope::split_hint(text) {
        if let Ok(h) = KeyHint::decode(hint) {
            let suffix = h.to_suffix();
            assert_eq!(
                KeyHint::decode(&suffix[1..]),
                Ok(h),
                "a hint does not round-trip"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let input = input::decode(data);
    let key = ScopeKey::derive(&SharedSecret::from_bytes([0x33; 32]), &[0x44; 32]);
    let other = ScopeKey::derive(&SharedSecret::from_bytes([0x33; 32]), &[0x45; 32]);
    match input.mode % 4 {
        0 => {
            let text = input.text();
            if let Ok(opened) = key.open(&text) {
                let again = key.seal(opened.as_str()).expect("an opened scope seals");
                assert_eq!(
                    key.open(&again)
                        .map(|o| String::from(o.as_str()))
                        .ok()
                        .as_deref(),
                    Some(opened.as_str())
                );
                grammar(opened.as_str());
            }
        }
        1 => {
            let plain = input.text();
            if let Ok(sealed) = key.seal(&plain) {
                let opened = key.open(&sealed).expect("a sealed scope opens");
                assert_eq!(opened.as_str(), plain);
                assert!(other.open(&sealed).is_err(), "opened with the wrong key");
            }
        }
        2 => {
            let (Some(at), Some(bit)) = (input.message.get(..2), input.message.get(2)) else {
                return;
            };
            let plain = String::from_utf8_lossy(input.message.get(3..).unwrap_or_default());
            let Ok(sealed) = key.seal(&plain) else { return };
            let mut bytes = sealed.into_bytes();
            let at = usize::from(u16::from_le_bytes([at[0], at[1]])) % bytes.len();
            bytes[at] ^= 1 << (bit % 8);
            let Ok(flipped) = String::from_utf8(bytes) else {
                return;
            };
            if let Ok(opened) = key.open(&flipped) {
                assert_eq!(opened.as_str(), plain, "a forged sealed scope opened");
            }
        }
        _ => grammar(&input.text()),
    }
});
