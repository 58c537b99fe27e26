//! X25519 keys and the raw shared secrets used as HMAC keys (spec §2.4).
//!
//! Secrets live in types that zeroize on drop and print as `<redacted>`. A Diffie-Hellman whose
//! result is all zero (the peer sent a low-order point) is refused: such a "shared" secret is
//! known to everybody, so any MAC keyed with it proves nothing.

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
}

impl core::fmt::Display for KeyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KeyError::Encoding(e) => write!(f, "key encoding: {e}"),
            KeyError::NonContributory => f.write_str("X25519 result is all zero (low-order point)"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for KeyError {}

impl From<CodecError> for KeyError {
    fn from(e: CodecError) -> Self {
        KeyError::Encoding(e)
    }
}

/// An X25519 public key: eid, spk, epk, aid, user or master key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; KEY_BYTES]);

impl PublicKey {
    /// Wraps 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        PublicKey(bytes)
    }

    /// Decodes the wire form: base64 of 32 bytes, either alphabet, padding optional.
    pub fn from_b64(text: &str) -> Result<Self, KeyError> {
        Ok(PublicKey(codec::decode_fixed(text)?))
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
        let mut bytes = [0u8; KEY_BYTES];
        rng.fill_bytes(&mut bytes);
        SecretKey::from_bytes(bytes)
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
