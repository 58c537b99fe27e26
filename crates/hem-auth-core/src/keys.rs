//! X25519 keys and the raw shared secrets used as HMAC keys (spec §2.4).
//!
//! Secrets live in types that zeroize on drop and print as `<redacted>`. A Diffie-Hellman whose
//! result is all zero (the peer sent a low-order point) is refused: such a "shared" secret is
//! known to everybody, so any MAC keyed with it proves nothing.
//!
//! Every public key a role receives is decoded by [`PublicKey::from_b64`] (or
//! [`PublicKey::try_from_bytes`]), which accepts only the canonical encoding of a key that is
//! not low-order (spec §2.5): one key, one byte string, so keys are compared by their bytes.

use alloc::string::String;
use rand_core::CryptoRngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::codec::{self, CodecError};

/// Length of every X25519 key and shared secret, in bytes (RFC 7748).
pub const KEY_BYTES: usize = 32;

/// Why a key could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The key's text is not base64 of 32 bytes.
    Encoding(CodecError),
    /// The Diffie-Hellman result is all zero: the peer key is a low-order point.
    NonContributory,
    /// The 32 bytes are not the canonical encoding of an X25519 key: bit 255 is set, or the
    /// value u is not below p = 2^255 − 19 (spec §2.5).
    NonCanonical,
    /// The key is one of the five canonical low-order encodings (spec §2.5): X25519 with it is
    /// all zero for every private key.
    LowOrder,
}

impl core::fmt::Display for KeyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KeyError::Encoding(_) => f.write_str("key is not base64 of 32 bytes"),
            KeyError::NonContributory => f.write_str("X25519 result is all zero (low-order point)"),
            KeyError::NonCanonical => {
                f.write_str("not a canonical X25519 key (bit 255 set, or u not below 2^255 - 19)")
            }
            KeyError::LowOrder => f.write_str("X25519 key is a low-order point"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyError::Encoding(e) => Some(e),
            _ => None,
        }
    }
}

impl From<CodecError> for KeyError {
    fn from(e: CodecError) -> Self {
        KeyError::Encoding(e)
    }
}

/// An X25519 public key: eid, spk, epk, aid, user or master key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; KEY_BYTES]);

impl PublicKey {
    /// Wraps 32 raw bytes, unchecked: for keys the caller computed or stored itself. A key
    /// received from elsewhere goes through [`PublicKey::try_from_bytes`] or
    /// [`PublicKey::from_b64`].
    pub const fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        PublicKey(bytes)
    }

    /// Checks 32 received bytes (spec §2.5): the canonical encoding of an X25519 key (bit 255
    /// clear, u < p = 2^255 − 19, else [`KeyError::NonCanonical`]) that is not one of the five
    /// low-order encodings ([`KeyError::LowOrder`]).
    ///
    /// One X25519 key has exactly one accepted encoding, so keys can be compared by their
    /// bytes: the scalar multiplication ignores bit 255 and reduces u modulo p, so without this
    /// check `aid` and `aid` with bit 255 set would be two byte strings for one key. This is
    /// the check every role applies to a key it receives ([`PublicKey::from_b64`] calls it);
    /// [`PublicKey::from_bytes`] is for keys the caller computed itself.
    pub fn try_from_bytes(bytes: [u8; KEY_BYTES]) -> Result<Self, KeyError> {
        if !is_canonical(&bytes) {
            return Err(KeyError::NonCanonical);
        }
        if LOW_ORDER.contains(&bytes) {
            return Err(KeyError::LowOrder);
        }
        Ok(PublicKey(bytes))
    }

    /// Decodes the wire form of a received key: base64 of 32 bytes, either alphabet, padding
    /// optional ([`KeyError::Encoding`]), that [`PublicKey::try_from_bytes`] accepts.
    pub fn from_b64(text: &str) -> Result<Self, KeyError> {
        PublicKey::try_from_bytes(codec::decode_fixed(text)?)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    /// The wire form: standard base64 with padding (44 characters).
    pub fn to_b64(&self) -> String {
        codec::encode_std(&self.0)
    }

    /// Writes the wire form into `out` without allocating and returns it.
    pub fn to_b64_in<'o>(&self, out: &'o mut [u8; 44]) -> &'o str {
        use base64::Engine;
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(self.0, out)
            .unwrap_or(0);
        core::str::from_utf8(out.get(..n).unwrap_or_default()).unwrap_or_default()
    }
}

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut buf = [0u8; 44];
        write!(f, "PublicKey({})", self.to_b64_in(&mut buf))
    }
}

impl core::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut buf = [0u8; 44];
        f.write_str(self.to_b64_in(&mut buf))
    }
}

impl core::str::FromStr for PublicKey {
    type Err = KeyError;

    /// [`PublicKey::from_b64`]: the inverse of `Display`.
    fn from_str(text: &str) -> Result<Self, KeyError> {
        PublicKey::from_b64(text)
    }
}

/// p = 2^255 − 19, little-endian.
const P: [u8; KEY_BYTES] = {
    let mut p = [0xff; KEY_BYTES];
    p[0] = 0xed;
    p[KEY_BYTES - 1] = 0x7f;
    p
};

/// The canonical encodings of the low-order points (spec §2.5): 0, 1, p − 1 and the two
/// points of order 8. X25519 of any of them with any private key is all zero.
const LOW_ORDER: [[u8; KEY_BYTES]; 5] = {
    let mut one = [0u8; KEY_BYTES];
    one[0] = 1;
    let mut p_minus_1 = P;
    p_minus_1[0] = 0xec;
    [
        [0u8; KEY_BYTES],
        one,
        p_minus_1,
        [
            0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f,
            0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16,
            0x5f, 0x49, 0xb8, 0x00,
        ],
        [
            0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83,
            0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd,
            0xd0, 0x9f, 0x11, 0x57,
        ],
    ]
};

/// Whether `bytes` is the canonical encoding of a field element: bit 255 clear and the
/// little-endian value below p. Public data: no constant-time need.
fn is_canonical(bytes: &[u8; KEY_BYTES]) -> bool {
    // Compare from the most significant byte down; the first difference decides.
    for (b, p) in bytes.iter().rev().zip(P.iter().rev()) {
        if b != p {
            return b < p;
        }
    }
    false // equal to p
}

/// An X25519 private key. Zeroized on drop; never printed.
///
/// Any 32 bytes are a valid secret: clamping happens inside the scalar multiplication, so the
/// clamped and unclamped forms of a seed are the same key (spec §2.4).
#[derive(Clone, ZeroizeOnDrop)]
pub struct SecretKey(x25519_dalek::StaticSecret);

impl SecretKey {
    /// Uses 32 bytes (a seed or a stored key) as the secret.
    ///
    /// The bytes are clamped (RFC 7748 §5) on the way in, so [`SecretKey::to_bytes`] returns
    /// the form the v1 app stores (`axlsign` keeps the clamped key). The scalar multiplication
    /// clamps anyway, so this changes no public key and no shared secret.
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        let mut bytes = bytes;
        clamp(&mut bytes);
        let key = SecretKey(x25519_dalek::StaticSecret::from(bytes));
        bytes.zeroize();
        key
    }

    /// Decodes a secret from base64 (either alphabet).
    pub fn from_b64(text: &str) -> Result<Self, KeyError> {
        let mut bytes: [u8; KEY_BYTES] = codec::decode_fixed(text)?;
        let key = SecretKey::from_bytes(bytes);
        bytes.zeroize();
        Ok(key)
    }

    /// Draws a fresh secret from the caller's CSPRNG.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        // The drawn seed is wiped when this returns (`from_bytes` wipes its own copy).
        let mut bytes = zeroize::Zeroizing::new([0u8; KEY_BYTES]);
        rng.fill_bytes(&mut *bytes);
        SecretKey::from_bytes(*bytes)
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(x25519_dalek::PublicKey::from(&self.0).to_bytes())
    }

    /// The secret's bytes (clamped, as `axlsign` stores them), for persisting it.
    ///
    /// The caller owns the copy and should zeroize it.
    pub fn to_bytes(&self) -> zeroize::Zeroizing<[u8; KEY_BYTES]> {
        zeroize::Zeroizing::new(self.0.to_bytes())
    }

    /// X25519 with `peer`; refuses an all-zero (non-contributory) result.
    pub fn diffie_hellman(&self, peer: &PublicKey) -> Result<SharedSecret, KeyError> {
        let shared = self
            .0
            .diffie_hellman(&x25519_dalek::PublicKey::from(peer.0));
        if !shared.was_contributory() {
            return Err(KeyError::NonContributory);
        }
        Ok(SharedSecret(*shared.as_bytes()))
    }
}

/// RFC 7748 §5 `decodeScalar25519` bit fixing: clear the three low bits and the top bit, set
/// bit 254.
fn clamp(bytes: &mut [u8; KEY_BYTES]) {
    bytes[0] &= 0b1111_1000;
    bytes[KEY_BYTES - 1] &= 0b0111_1111;
    bytes[KEY_BYTES - 1] |= 0b0100_0000;
}

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// A raw 32-byte X25519 output, used directly as an HMAC key (spec §2.4: no KDF).
///
/// Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SharedSecret([u8; KEY_BYTES]);

impl SharedSecret {
    /// Wraps 32 bytes that are already a shared secret (for example a cached pairing secret or
    /// a published test vector). Prefer [`SecretKey::diffie_hellman`].
    pub const fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        SharedSecret(bytes)
    }

    /// The secret bytes, to key an HMAC with.
    pub const fn as_bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }
}

impl core::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SharedSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_order_point_is_refused() {
        let sk = SecretKey::from_bytes([7u8; 32]);
        assert_eq!(
            sk.diffie_hellman(&PublicKey::from_bytes([0u8; 32])).err(),
            Some(KeyError::NonContributory)
        );
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(
            sk.diffie_hellman(&PublicKey::from_bytes(one)).err(),
            Some(KeyError::NonContributory)
        );
    }

    #[test]
    fn received_keys_must_be_canonical() {
        let valid = SecretKey::from_bytes([7u8; 32]).public_key();
        assert_eq!(PublicKey::try_from_bytes(*valid.as_bytes()), Ok(valid));
        assert_eq!(PublicKey::from_b64(&valid.to_b64()), Ok(valid));
        // bit 255 set: the same key to X25519, refused as a second encoding
        let mut high = *valid.as_bytes();
        high[31] |= 0x80;
        assert_eq!(PublicKey::try_from_bytes(high), Err(KeyError::NonCanonical));
        // u >= p: p itself (a non-canonical 0), p + 1, 2^255 - 1
        for low in [0xed, 0xee, 0xff] {
            let mut u = P;
            u[0] = low;
            assert_eq!(PublicKey::try_from_bytes(u), Err(KeyError::NonCanonical));
        }
        // the largest canonical value, p - 2, is fine; p - 1 is low-order
        let mut u = P;
        u[0] = 0xeb;
        assert!(PublicKey::try_from_bytes(u).is_ok());
        for key in LOW_ORDER {
            assert_eq!(PublicKey::try_from_bytes(key), Err(KeyError::LowOrder));
            // and X25519 with each really is all zero
            let sk = SecretKey::from_bytes([9u8; 32]);
            assert_eq!(
                sk.diffie_hellman(&PublicKey::from_bytes(key)).err(),
                Some(KeyError::NonContributory)
            );
        }
        assert_eq!(
            PublicKey::from_b64("4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAA="),
            Err(KeyError::LowOrder)
        );
        assert_eq!(
            PublicKey::from_b64("X5yVvKNQjCSx0LFVnIPvWwREXMRYHI6G2CJO3dCfEVc="),
            Err(KeyError::LowOrder)
        );
    }

    #[test]
    fn stored_form_is_clamped() {
        // v1 vector: seed 3zC7…2cI= is stored by the app as 2DC7…2UI= (spec §2.4).
        let mut seed = [0u8; 32];
        seed[0] = 0xdf;
        seed[31] = 0xc2;
        let sk = SecretKey::from_bytes(seed);
        let stored = sk.to_bytes();
        assert_eq!(stored[0], 0xd8);
        assert_eq!(stored[31], 0x42);
        assert_eq!(SecretKey::from_bytes(*stored).public_key(), sk.public_key());
    }

    #[test]
    fn debug_does_not_leak() {
        let sk = SecretKey::from_bytes([0x41u8; 32]);
        let s = alloc::format!("{sk:?}");
        assert!(s.contains("redacted"));
        let ss = sk
            .diffie_hellman(&SecretKey::from_bytes([3u8; 32]).public_key())
            .unwrap();
        assert!(!alloc::format!("{ss:?}").contains("65"));
    }
}
