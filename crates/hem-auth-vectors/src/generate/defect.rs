//! One-defect mutations of compact JWTs and of JSON payload text.
//!
//! Each helper changes one thing and re-signs over the bytes as they will be sent whenever the
//! defect is not the signature itself, so that the named defect is the only one: a verifier
//! that ignored it would accept the token.

use hem_auth_core::codec;

/// A JWT's three segments as text.
pub(crate) fn segments(token: &str) -> [String; 3] {
    let mut it = token.splitn(3, '.');
    let mut next = || it.next().unwrap_or_default().to_string();
    [next(), next(), next()]
}

/// `h.p.` + base64url(HMAC(key, "h.p")): signs whatever segment text is given.
pub(crate) fn sign_text(header_seg: &str, payload_seg: &str, key: &[u8]) -> String {
    let signed = format!("{header_seg}.{payload_seg}");
    let tag = hem_auth_core::mac::mac(key, signed.as_bytes());
    format!("{signed}.{}", codec::encode_segment(&tag))
}

/// Signs arbitrary header and payload JSON text (canonical segments).
pub(crate) fn sign_raw(header_json: &str, payload_json: &str, key: &[u8]) -> String {
    sign_text(
        &codec::encode_segment(header_json.as_bytes()),
        &codec::encode_segment(payload_json.as_bytes()),
        key,
    )
}

/// The decoded bytes of segment `i`.
pub(crate) fn decode(token: &str, i: usize) -> Vec<u8> {
    let seg = segments(token)[i].clone();
    let mut buf = vec![0u8; seg.len()];
    codec::decode_segment(seg.as_bytes(), &mut buf)
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// Flips bit `bit` of decoded byte `at` of segment `i`; the signature is left as it was, so
/// the MAC no longer matches.
pub(crate) fn flip_bit(token: &str, i: usize, at: usize, bit: u8) -> String {
    let mut bytes = decode(token, i);
    if let Some(b) = bytes.get_mut(at) {
        *b ^= 1 << bit;
    }
    let mut segs = segments(token);
    segs[i] = codec::encode_segment(&bytes);
    segs.join(".")
}

/// The position of the first occurrence of `needle` in the decoded segment `i`.
pub(crate) fn find(token: &str, i: usize, needle: &str) -> usize {
    let bytes = decode(token, i);
    bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or(0)
}

/// Re-signs `token`'s payload under a different header text.
pub(crate) fn with_header(token: &str, header_json: &str, key: &[u8]) -> String {
    let payload = decode(token, 1);
    sign_text(
        &codec::encode_segment(header_json.as_bytes()),
        &codec::encode_segment(&payload),
        key,
    )
}

/// Re-signs `token`'s header under a different payload text.
pub(crate) fn with_payload(token: &str, payload_json: &str, key: &[u8]) -> String {
    let segs = segments(token);
    sign_text(
        &segs[0],
        &codec::encode_segment(payload_json.as_bytes()),
        key,
    )
}

/// The payload JSON text of `token`.
pub(crate) fn payload_text(token: &str) -> String {
    String::from_utf8(decode(token, 1)).unwrap_or_default()
}

/// Appends `=` padding to the header segment (re-signed over the padded text).
pub(crate) fn padded_header(token: &str, key: &[u8]) -> String {
    let segs = segments(token);
    let pad = match segs[0].len() % 4 {
        2 => "==",
        3 => "=",
        _ => "====",
    };
    sign_text(&format!("{}{pad}", segs[0]), &segs[1], key)
}

/// Replaces the first url-alphabet character (`-` or `_`) of the header or payload segment by
/// its standard-alphabet twin (re-signed), so a tolerant decoder would see the same bytes.
/// Falls back to the signature segment (nothing to re-sign) when neither has one.
pub(crate) fn non_url_char(token: &str, key: &[u8]) -> Option<String> {
    let mut segs = segments(token);
    for i in 0..3 {
        if let Some(pos) = segs[i].find(['-', '_']) {
            let twin = if segs[i].as_bytes()[pos] == b'-' {
                "+"
            } else {
                "/"
            };
            segs[i].replace_range(pos..=pos, twin);
            return Some(if i < 2 {
                sign_text(&segs[0], &segs[1], key)
            } else {
                segs.join(".")
            });
        }
    }
    None
}

const URL_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Sets an unused trailing bit in the signature segment (43 characters for 32 bytes: the last
/// one carries two unused bits, zero in the canonical form), so that a lenient decoder gets
/// the same 32 bytes.
pub(crate) fn non_canonical_signature(token: &str) -> String {
    let mut segs = segments(token);
    if let Some(last) = segs[2].pop() {
        let idx = URL_ALPHABET
            .iter()
            .position(|&c| c == last as u8)
            .unwrap_or(0);
        segs[2].push(URL_ALPHABET.get(idx | 1).copied().unwrap_or(b'B') as char);
    }
    segs.join(".")
}

/// `h.p` (the signature dropped).
pub(crate) fn two_segments(token: &str) -> String {
    let segs = segments(token);
    format!("{}.{}", segs[0], segs[1])
}

/// `h.p.s.s` (a fourth segment).
pub(crate) fn four_segments(token: &str) -> String {
    let segs = segments(token);
    format!("{token}.{}", segs[2])
}

/// Replaces the first `"name":value` of a flat JSON text by `"name":replacement`.
pub(crate) fn replace_member(json: &str, name: &str, replacement: &str) -> String {
    let key = format!("\"{name}\":");
    let Some(start) = json.find(&key) else {
        return json.to_string();
    };
    let value_start = start + key.len();
    let rest = &json[value_start..];
    let value_len = if let Some(text) = rest.strip_prefix('"') {
        text.find('"').map_or(rest.len(), |e| e + 2)
    } else if rest.starts_with('{') {
        rest.find('}').map_or(rest.len(), |e| e + 1)
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    format!(
        "{}{}{}",
        &json[..value_start],
        replacement,
        &json[value_start + value_len..]
    )
}

/// Removes the member `name` (and its comma) from a flat JSON text.
pub(crate) fn remove_member(json: &str, name: &str) -> String {
    let marked = replace_member(json, name, "\u{0}");
    let key = format!("\"{name}\":\u{0}");
    if let Some(s) = marked.find(&format!(",{key}")) {
        let mut out = marked.clone();
        out.replace_range(s..s + 1 + key.len(), "");
        return out;
    }
    if let Some(s) = marked.find(&format!("{key},")) {
        let mut out = marked.clone();
        out.replace_range(s..s + key.len() + 1, "");
        return out;
    }
    marked.replace(&key, "")
}

/// Inserts `"name":value` as the first member of a JSON object text.
pub(crate) fn prepend_member(json: &str, name: &str, value: &str) -> String {
    format!("{{\"{name}\":{value},{}", &json[1..])
}
