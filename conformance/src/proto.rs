//! What the core's broker and authenticator roles deliberately cannot produce: messages with
//! one defect each, and the helpers to take device answers apart for inspection.
//!
//! Conforming messages come from `hem_auth_core::client` and `hem_auth_core::authenticator`
//! (see [`crate::ctx`]). A defective one starts from a [`Draft`] (header JSON, payload JSON and
//! key kept apart) so that each case changes exactly one thing and signs the result properly
//! unless the signature is the defect. [`authreply`] builds an approval with an arbitrary
//! granted scope and `exp`, which the phone role refuses to make.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use hem_auth_core::claims::AuthreplyClaims;
use hem_auth_core::codec;
use hem_auth_core::jwt::{self, Header};
use hem_auth_core::keys::{PublicKey, SecretKey, SharedSecret};
use serde_json::Value;

/// Host time, unix seconds.
pub fn host_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// X25519 with a key the device sent; a low-order key is a setup failure, not a panic.
pub fn shared(secret: &SecretKey, peer: &PublicKey) -> Result<SharedSecret, String> {
    secret
        .diffie_hellman(peer)
        .map_err(|e| format!("X25519 with {peer}: {e}"))
}

/// The access-token `sub` of an ext token: standard base64 of the kid's 16 bytes
/// (spec §2.6); empty for a kid that is not 32 hex characters.
pub fn sub_of_kid(kid: &str) -> String {
    hem_auth_core::device::kid_from_hex(kid).map_or_else(String::new, |k| codec::encode_std(&k))
}

/// A JWT taken apart: decoded header text, payload as JSON, and the token itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The compact token.
    pub token: String,
    /// The decoded header bytes as text.
    pub header: String,
    /// The decoded payload.
    pub claims: Value,
}

impl Decoded {
    /// A string claim.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// An integer claim.
    pub fn u64(&self, name: &str) -> Option<u64> {
        self.claims.get(name).and_then(Value::as_u64)
    }
}

/// Decodes a JWT without checking its signature (for access tokens, which only the device can
/// verify, and for reading what a device sent before checking it).
pub fn decode(token: &str) -> Result<Decoded, String> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("not a three-segment JWT: {token}"));
    };
    let mut hbuf = vec![0u8; h.len()];
    let header = codec::decode_segment(h.as_bytes(), &mut hbuf)
        .map_err(|e| format!("JWT header segment: {e}"))?;
    let header = String::from_utf8(header.to_vec()).map_err(|_| "JWT header is not UTF-8")?;
    let mut pbuf = vec![0u8; p.len()];
    let payload = codec::decode_segment(p.as_bytes(), &mut pbuf)
        .map_err(|e| format!("JWT payload segment: {e}"))?;
    let claims = serde_json::from_slice(payload).map_err(|e| format!("JWT payload: {e}"))?;
    Ok(Decoded {
        token: token.to_string(),
        header,
        claims,
    })
}

/// The member names of a JWT's payload, in the order the token carries them (a decoded
/// [`Value`] forgets the order; spec §8.1 fixes it for access tokens).
///
/// ```
/// # use hem_conformance::proto::claim_names;
/// // {"scope":"x","sub":"U"} as a payload segment, with any header and signature.
/// let token = "e30.eyJzY29wZSI6IngiLCJzdWIiOiJVIn0.c2ln";
/// assert_eq!(claim_names(token).unwrap(), ["scope", "sub"]);
/// assert!(claim_names("not a token").is_err());
/// ```
pub fn claim_names(token: &str) -> Result<Vec<String>, String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

    struct Names;
    impl<'de> Visitor<'de> for Names {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            let mut names = Vec::new();
            while let Some(name) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                names.push(name);
            }
            Ok(names)
        }
    }

    let payload = token
        .split('.')
        .nth(1)
        .filter(|_| token.split('.').count() == 3)
        .ok_or_else(|| format!("not a three-segment JWT: {token}"))?;
    let mut buf = vec![0u8; payload.len()];
    let bytes = codec::decode_segment(payload.as_bytes(), &mut buf)
        .map_err(|e| format!("JWT payload segment: {e}"))?;
    serde_json::Deserializer::from_slice(bytes)
        .deserialize_map(Names)
        .map_err(|e| format!("JWT payload: {e}"))
}

/// The phone's authreply in v1 claim order (spec §3.4, §5.7):
/// `aud, jti, exp, iat, pid, iss, scope`.
#[allow(clippy::too_many_arguments)]
pub fn authreply(
    s1: &SharedSecret,
    eid: &PublicKey,
    jti: &str,
    exp: u64,
    iat: u64,
    pid: &str,
    aid: &PublicKey,
    sealed: &str,
) -> String {
    let aud = eid.to_b64();
    let iss = aid.to_b64();
    let claims = AuthreplyClaims {
        aud: Some(Cow::Borrowed(&aud)),
        jti: Cow::Borrowed(jti),
        exp,
        iat: Some(iat),
        pid: Cow::Borrowed(pid),
        iss: Cow::Borrowed(&iss),
        scope: Cow::Borrowed(sealed),
        ctx: None,
    };
    jwt::sign(Header::App, &claims, s1.as_bytes())
}

/// A JWT before signing: header JSON, payload JSON and the HMAC key, each changeable.
#[derive(Clone)]
pub struct Draft {
    /// Header JSON text.
    pub header: String,
    /// Payload JSON text.
    pub payload: String,
    /// HMAC key.
    pub key: [u8; 32],
}

impl Draft {
    /// Takes a signed token apart again (the key must be supplied; it is not in the token).
    pub fn from_token(token: &str, key: &SharedSecret) -> Result<Self, String> {
        let d = decode(token)?;
        let mut pbuf = vec![0u8; token.len()];
        let p = token.split('.').nth(1).unwrap_or_default();
        let payload =
            codec::decode_segment(p.as_bytes(), &mut pbuf).map_err(|e| format!("payload: {e}"))?;
        Ok(Draft {
            header: d.header,
            payload: String::from_utf8_lossy(payload).into_owned(),
            key: *key.as_bytes(),
        })
    }

    /// The payload as a JSON object, to edit claims.
    pub fn claims(&self) -> serde_json::Map<String, Value> {
        serde_json::from_str(&self.payload).unwrap_or_default()
    }

    /// Replaces the payload with `claims` (serialised compactly).
    pub fn set_claims(&mut self, claims: &serde_json::Map<String, Value>) {
        self.payload = Value::Object(claims.clone()).to_string();
    }

    /// Sets (or, with `None`, removes) one claim.
    pub fn claim(mut self, name: &str, value: Option<Value>) -> Self {
        let mut c = self.claims();
        match value {
            Some(v) => {
                c.insert(name.to_string(), v);
            }
            None => {
                c.remove(name);
            }
        }
        self.set_claims(&c);
        self
    }

    /// Signs header and payload exactly as they are.
    pub fn sign(&self) -> String {
        forge(&self.header, &self.payload, &self.key)
    }
}

/// `b64url(header) . b64url(payload) . b64url(HMAC(key, first two))` for arbitrary texts.
pub fn forge(header: &str, payload: &str, key: &[u8]) -> String {
    let mut t = codec::encode_segment(header.as_bytes());
    t.push('.');
    t.push_str(&codec::encode_segment(payload.as_bytes()));
    let tag = hem_auth_core::mac::mac(key, t.as_bytes());
    t.push('.');
    t.push_str(&codec::encode_segment(&tag));
    t
}

/// The token with one bit of its signature's first byte flipped (still canonical base64url).
pub fn flip_signature(token: &str) -> String {
    let Some(dot) = token.rfind('.') else {
        return token.to_string();
    };
    let mut out: Vec<char> = token.chars().collect();
    if let Some(c) = out.get_mut(dot + 1) {
        // The first character carries the six high bits of byte 0: moving between `A` and
        // `B` changes one bit and keeps the text canonical.
        *c = if *c == 'A' { 'B' } else { 'A' };
    }
    out.into_iter().collect()
}

/// A base64 text with its first character changed (`A` ↔ `B`): same length, still base64,
/// different bytes.
pub fn flip_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some('A') => format!("B{}", chars.as_str()),
        Some(_) => format!("A{}", chars.as_str()),
        None => String::from("A"),
    }
}

/// The token with its payload replaced by `payload` but the original signature kept.
pub fn swap_payload(token: &str, payload: &str) -> String {
    let mut parts = token.split('.');
    let (h, _, s) = (
        parts.next().unwrap_or_default(),
        parts.next(),
        parts.next().unwrap_or_default(),
    );
    format!("{h}.{}.{s}", codec::encode_segment(payload.as_bytes()))
}

/// 32 fresh random bytes as standard base64 (a pid, a nonce nobody issued).
pub fn random_b64_32() -> String {
    let mut b = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    codec::encode_std(&b)
}

/// A fresh X25519 key from the OS CSPRNG.
pub fn fresh_key() -> SecretKey {
    SecretKey::generate(&mut rand_core::OsRng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hem_auth_core::jwt::{HeaderPolicy, UntrustedJwt};

    #[test]
    fn flip_changes_one_bit_and_stays_parseable() {
        let k = [5u8; 32];
        let t = forge(Header::App.json(), r#"{"a":1}"#, &k);
        let f = flip_signature(&t);
        assert_ne!(t, f);
        assert_eq!(t.len(), f.len());
        let u = UntrustedJwt::parse(&f).unwrap();
        assert_eq!(
            u.verify(&k, HeaderPolicy::Ecdh).err(),
            Some(jwt::JwtError::BadSignature)
        );
    }

    #[test]
    fn flip_first_changes_one_character() {
        assert_eq!(flip_first("ABC="), "BBC=");
        assert_eq!(flip_first("xBC="), "ABC=");
        assert_eq!(flip_first(""), "A");
    }

    #[test]
    fn draft_round_trip_and_edits() {
        let s = SharedSecret::from_bytes([3u8; 32]);
        let t = forge(Header::App.json(), r#"{"exp":5,"jti":"x"}"#, s.as_bytes());
        let d = Draft::from_token(&t, &s).unwrap();
        assert_eq!(d.sign(), t);
        let d2 = d.clone().claim("exp", None);
        assert_eq!(d2.payload, r#"{"jti":"x"}"#);
        let swapped = swap_payload(&t, r#"{"exp":6,"jti":"x"}"#);
        let u = UntrustedJwt::parse(&swapped).unwrap();
        assert_eq!(
            u.verify(s.as_bytes(), HeaderPolicy::Ecdh).err(),
            Some(jwt::JwtError::BadSignature)
        );
    }

    #[test]
    fn kid_and_sub() {
        // DOCS example: sub `Qq/EGdvacmNrN6JFWVXglQ==` is the kid 42afc419…e095.
        assert_eq!(
            sub_of_kid("42afc419dbda72636b37a2455955e095"),
            "Qq/EGdvacmNrN6JFWVXglQ=="
        );
    }
}
