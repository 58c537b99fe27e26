//! Sealed scopes, scheme "A" (spec §5.6): how the device tells one paired authenticator, and
//! only it, which scope is requested, and how the authenticator answers with the granted one.
//!
//! ```text
//! S1  = X25519(eid_prv, aid) = X25519(aid_prv, eid)
//! K   = HMAC-SHA256(S1, jti_raw)           aes_key = K[..16], iv = K[16..]
//! ct  = AES-128-CBC(aes_key, iv, PKCS7(scope))
//! tag = HMAC-SHA256(K, scope)               (over the unpadded plaintext)
//! sealed = "A" ‖ base64(ct ‖ tag)
//! ```
//!
//! The IV is deterministic per (pairing, jti): sealing the same scope twice gives the same
//! string, which the published vectors rely on. Opening checks, in order: the scheme letter,
//! the base64, the length, the CBC padding (strict PKCS#7: a correct sealer always writes it;
//! the firmware is laxer, but only a broken sealer would notice), then the tag in constant
//! time. Opening allocates nothing.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use alloc::string::String;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::codec;
use crate::keys::SharedSecret;
use crate::mac::{self, MacKey};

/// Longest scope plaintext that can be sealed: a 1023-character request scope (spec §5.2)
/// plus the `#…` key-hint suffix, rounded up to whole AES blocks.
pub const MAX_SCOPE_BYTES: usize = 1152;
/// Longest sealed blob (ciphertext ‖ tag) in bytes.
pub const MAX_SEALED_BYTES: usize = MAX_SCOPE_BYTES + 16 + TAG_BYTES;
// The tolerant base64 decoder's bound is the base64 length of the longest sealed scope.
const _: () = assert!(codec::MAX_STD_B64_CHARS == 4 * MAX_SEALED_BYTES.div_ceil(3));
/// The scheme letter that prefixes every sealed scope.
pub const SCHEME_A: char = 'A';
const TAG_BYTES: usize = 32;
const BLOCK_BYTES: usize = 16;

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// Why a sealed scope could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    /// The blob does not start with `A`.
    UnsupportedScheme,
    /// The blob after `A` is not base64.
    Encoding,
    /// The blob is shorter than one block plus the tag, not whole blocks, or too long.
    Length,
    /// The CBC padding is wrong.
    Padding,
    /// The tag does not match the plaintext.
    Tag,
    /// The plaintext is not UTF-8.
    NotUtf8,
    /// The scope to seal is longer than [`MAX_SCOPE_BYTES`] - 1.
    TooLong,
}

impl core::fmt::Display for SealError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            SealError::UnsupportedScheme => "sealed scope: unsupported scheme",
            SealError::Encoding => "sealed scope: invalid base64",
            SealError::Length => "sealed scope: invalid length",
            SealError::Padding => "sealed scope: invalid padding",
            SealError::Tag => "sealed scope: tag mismatch",
            SealError::NotUtf8 => "sealed scope: plaintext is not UTF-8",
            SealError::TooLong => "scope too long to seal",
        };
        f.write_str(s)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SealError {}

/// The per-request sealing key K = HMAC-SHA256(S1, jti). Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ScopeKey([u8; 32]);

impl ScopeKey {
    /// Derives K for one pairing secret `s1` and one request nonce (the raw jti bytes).
    pub fn derive(s1: &SharedSecret, jti: &[u8]) -> Self {
        ScopeKey(mac::mac(s1.as_bytes(), jti))
    }

    /// [`ScopeKey::derive`] under S1 already prepared as an HMAC key (the same K, without
    /// the key schedule).
    pub(crate) fn derive_with(s1: &MacKey, jti: &[u8]) -> Self {
        ScopeKey(s1.mac(jti))
    }

    /// The raw key (for published-vector checks).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn split(&self) -> (&[u8; 16], &[u8; 16]) {
        let (k, iv) = self.0.split_at(16);
        // Both halves are exactly 16 bytes of a 32-byte array.
        (
            k.try_into().unwrap_or(&[0u8; 16]),
            iv.try_into().unwrap_or(&[0u8; 16]),
        )
    }

    /// Seals `scope`: `"A" ‖ base64(ct ‖ tag)`.
    pub fn seal(&self, scope: &str) -> Result<String, SealError> {
        let plain = scope.as_bytes();
        if plain.len() >= MAX_SCOPE_BYTES {
            return Err(SealError::TooLong);
        }
        let mut buf = [0u8; MAX_SCOPE_BYTES + TAG_BYTES];
        buf.get_mut(..plain.len())
            .ok_or(SealError::TooLong)?
            .copy_from_slice(plain);
        let (key, iv) = self.split();
        let ct_len = Aes128CbcEnc::new(key.into(), iv.into())
            .encrypt_padded_mut::<Pkcs7>(&mut buf[..MAX_SCOPE_BYTES], plain.len())
            .map_err(|_| SealError::TooLong)?
            .len();
        let tag = mac::mac(&self.0, plain);
        buf.get_mut(ct_len..ct_len + TAG_BYTES)
            .ok_or(SealError::TooLong)?
            .copy_from_slice(&tag);
        let sealed = buf.get_mut(..ct_len + TAG_BYTES).unwrap_or_default();
        let mut out = String::with_capacity(1 + sealed.len().div_ceil(3) * 4);
        out.push(SCHEME_A);
        codec::append_std(sealed, &mut out);
        // Only this prefix was ever written (the plaintext, encrypted in place, and the tag);
        // zeroizing the whole 1 KiB buffer byte by byte cost more than the sealing.
        sealed.zeroize();
        Ok(out)
    }

    /// Opens a sealed scope (see the module docs for the order of checks).
    pub fn open(&self, sealed: &str) -> Result<OpenedScope, SealError> {
        let b64 = sealed
            .strip_prefix(SCHEME_A)
            .ok_or(SealError::UnsupportedScheme)?;
        let mut opened = OpenedScope {
            buf: [0u8; MAX_SEALED_BYTES],
            len: 0,
        };
        let blob_len = match codec::decode_std_into(b64, &mut opened.buf) {
            Ok(d) => d.len(),
            Err(codec::CodecError::TooLong) => return Err(SealError::Length),
            Err(_) => return Err(SealError::Encoding),
        };
        if blob_len < BLOCK_BYTES + TAG_BYTES || !(blob_len - TAG_BYTES).is_multiple_of(BLOCK_BYTES)
        {
            return Err(SealError::Length);
        }
        let ct_len = blob_len - TAG_BYTES;
        let (ct, rest) = opened.buf.split_at_mut(ct_len);
        let tag = rest.get(..TAG_BYTES).ok_or(SealError::Length)?;
        let (key, iv) = self.split();
        let plain_len = Aes128CbcDec::new(key.into(), iv.into())
            .decrypt_padded_mut::<Pkcs7>(ct)
            .map_err(|_| SealError::Padding)?
            .len();
        let plain = ct.get(..plain_len).ok_or(SealError::Padding)?;
        if !mac::mac_verify(&self.0, &[plain], tag) {
            opened.buf.zeroize();
            return Err(SealError::Tag);
        }
        if core::str::from_utf8(plain).is_err() {
            return Err(SealError::NotUtf8);
        }
        opened.len = plain_len;
        Ok(opened)
    }
}

impl core::fmt::Debug for ScopeKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ScopeKey(<redacted>)")
    }
}

/// The plaintext of an opened sealed scope, held inline (no heap).
#[derive(Clone)]
pub struct OpenedScope {
    buf: [u8; MAX_SEALED_BYTES],
    len: usize,
}

impl OpenedScope {
    /// The scope text, exactly as sealed (it may carry a `#…` key-hint suffix).
    pub fn as_str(&self) -> &str {
        // Checked to be UTF-8 when opened.
        core::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

impl core::fmt::Debug for OpenedScope {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("OpenedScope").field(&self.as_str()).finish()
    }
}

impl PartialEq<str> for OpenedScope {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ScopeKey {
        ScopeKey::derive(&SharedSecret::from_bytes([9u8; 32]), &[1u8; 32])
    }

    #[test]
    fn round_trip_and_lengths() {
        let k = key();
        for len in [0usize, 1, 15, 16, 17, 1023, MAX_SCOPE_BYTES - 1] {
            let scope = "s".repeat(len);
            let sealed = k.seal(&scope).unwrap();
            let blob = codec::decode_std_into(&sealed[1..], &mut [0u8; MAX_SEALED_BYTES])
                .unwrap()
                .len();
            assert_eq!(blob, 16 * (len / 16 + 1) + 32);
            assert_eq!(k.open(&sealed).unwrap().as_str(), scope);
        }
        assert_eq!(
            k.seal(&"s".repeat(MAX_SCOPE_BYTES)),
            Err(SealError::TooLong)
        );
    }

    #[test]
    fn faults() {
        let k = key();
        let sealed = k.seal("keymgmt:list").unwrap();
        assert_eq!(
            k.open(&sealed.replacen('A', "B", 1)).err(),
            Some(SealError::UnsupportedScheme)
        );
        assert_eq!(k.open("A!!!!").err(), Some(SealError::Encoding));
        // truncated: drop the last block of ciphertext+tag
        let raw = codec::decode_std_into(&sealed[1..], &mut [0u8; 128])
            .unwrap()
            .to_vec();
        let short = alloc::format!("A{}", codec::encode_std(&raw[..raw.len() - 1]));
        assert_eq!(k.open(&short).err(), Some(SealError::Length));
        let tag_only = alloc::format!("A{}", codec::encode_std(&raw[16..]));
        assert_eq!(k.open(&tag_only).err(), Some(SealError::Length));
        let mut bad_tag = raw.clone();
        *bad_tag.last_mut().unwrap() ^= 1;
        assert_eq!(
            k.open(&alloc::format!("A{}", codec::encode_std(&bad_tag)))
                .err(),
            Some(SealError::Tag)
        );
        let other = ScopeKey::derive(&SharedSecret::from_bytes([9u8; 32]), &[2u8; 32]);
        assert!(matches!(
            other.open(&sealed).err(),
            Some(SealError::Padding | SealError::Tag)
        ));
    }
}
