//! An HS256 signer that does not use the core: a fuzzed payload signed with the right key
//! reaches the claim checks behind the MAC, and the MAC the core computes can be checked
//! against an independent one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// HMAC-SHA256 with the `hmac` crate.
pub fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// `b64url(header) "." b64url(payload) "." b64url(HMAC(key, …))`, for any bytes.
pub fn sign(header: &[u8], payload: &[u8], key: &[u8]) -> String {
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(payload));
    let tag = hmac(key, token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(tag));
    token
}

/// Whether `token` has three segments and its third is the HMAC under `key` of the first two
/// (decoded leniently: this is the oracle's own reading, not the core's).
pub fn has_valid_mac(token: &str, key: &[u8]) -> bool {
    let Some((signed, sig)) = token.rsplit_once('.') else {
        return false;
    };
    let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
        return false;
    };
    sig == hmac(key, signed.as_bytes())
}

/// Splits an oracle message into `(header, payload)`: the first byte picks one of the four
/// real headers (spec §3.2), or, from 4 on, the header is the bytes up to the first NUL.
pub fn split_header(message: &[u8]) -> (Vec<u8>, &[u8]) {
    use hem_auth_core::jwt::Header;
    let Some((&pick, rest)) = message.split_first() else {
        return (Header::App.json().as_bytes().to_vec(), &[]);
    };
    let known = [
        Header::App,
        Header::Device,
        Header::AccessToken,
        Header::Php,
    ];
    match known.get(usize::from(pick)) {
        Some(h) => (h.json().as_bytes().to_vec(), rest),
        None => match rest.iter().position(|&b| b == 0) {
            Some(i) => (rest[..i].to_vec(), &rest[i + 1..]),
            None => (Vec::new(), rest),
        },
    }
}
