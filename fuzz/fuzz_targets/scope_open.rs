//! Sealed scopes (`seal::ScopeKey`) and the scope grammar (`scope`).
//!
//! Modes: 0, a sealed text to open; 1, a plaintext to seal and open again; 2, `[at: u16 LE]
//! [bit: u8]` then a plaintext: sealed, one bit of the sealed text flipped, opened; 3, a scope
//! through the grammar functions.
//! Checks: opening never panics; seal then open gives the plaintext back, and a wrong key
//! never opens it; a flipped sealed scope opens, if at all, to the sealed plaintext (anything
//! else is a forgery); `grant` is idempotent and a hint decodes back to itself; the
//! requested-scope grammar is exactly its character rule, the display of any text is
//! printable ASCII (spec §8.6), and a 32-byte prefix decodes as a public key only in its one
//! canonical encoding (spec §2.5).
#![no_main]

use hem_auth_core::keys::{PublicKey, SharedSecret};
use hem_auth_core::scope::{self, DisplayScope, Escaped, KeyHint};
use hem_auth_core::seal::ScopeKey;
use hem_auth_core::Access;
use hem_auth_fuzz_common::input;
use libfuzzer_sys::fuzz_target;

fn grammar(text: &str) {
    for max in [scope::MAX_REQUEST_SCOPE_CHARS, scope::MAX_LOGIN_SCOPE_CHARS] {
        let allowed = text
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'#');
        let ok = !text.is_empty() && allowed && text.len() <= max;
        assert_eq!(
            scope::check_requested(text, max).is_ok(),
            ok,
            "grammar of {text:?}"
        );
    }
    // Whatever the text, its display is printable ASCII (spec §8.6), and so is its escape.
    let shown = DisplayScope::new(text);
    for rendered in [shown.to_string(), Escaped(text).to_string()] {
        assert!(
            rendered.bytes().all(|b| (0x20..=0x7e).contains(&b)),
            "{text:?} shown as {rendered:?}"
        );
    }
    if text.bytes().any(|b| !(0x20..=0x7e).contains(&b)) {
        assert!(shown.is_suspicious(), "{text:?} not flagged");
    }
    // Its first 32 bytes as a received public key (spec §2.5): accepted only canonical, and
    // then the only encoding of that key.
    if let Some(bytes) = text.as_bytes().get(..32) {
        let mut key = [0u8; 32];
        key.copy_from_slice(bytes);
        if let Ok(pk) = PublicKey::try_from_bytes(key) {
            assert_eq!(key[31] & 0x80, 0, "bit 255 accepted");
            assert_eq!(PublicKey::from_b64(&pk.to_b64()), Ok(pk));
            key[31] |= 0x80;
            assert!(PublicKey::try_from_bytes(key).is_err(), "an alias accepted");
        }
    }
    let _ = scope::use_kid(text);
    let _ = scope::strip_hint(text);
    for writable in [false, true] {
        let once = scope::grant(text, Access::from_writable(writable));
        assert_eq!(
            scope::grant(&once, Access::from_writable(writable)),
            once,
            "grant is not idempotent"
        );
    }
    assert!(scope::approved_matches_request(text, text));
    assert!(
        scope::permits(text, text, scope::Match::Exact)
            && scope::permits(text, "", scope::Match::Prefix)
    );
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
