//! Paired authenticators: the device's `EXTAID` keys (spec §6.5, §2.6).

use alloc::string::String;
use sha1::{Digest, Sha1};

use crate::codec;
use crate::keys::{KeyError, PublicKey, SecretKey, SharedSecret};

/// Length of a kid in bytes (spec §2.6).
pub const KID_BYTES: usize = 16;
/// The firmware key-type word of an imported X25519 public key: 0x8000 asymmetric | 0x1000
/// public | 0x0800 ECDH | 20 (CURVE25519), written in the `keymgmt:use:<kid>` key hint
/// (spec §5.4; the bit table is the authenticator's `base.js`).
pub const KEY_TYPE_X25519_PUBLIC: u16 = 0x9814;

/// The prefix of a paired authenticator key's descriptor (spec §6.5).
pub const EXTAID_PREFIX: &[u8; 6] = b"EXTAID";
/// Length of that descriptor: the prefix and the 32-byte pid.
pub const EXTAID_DESCRIPTOR_BYTES: usize = EXTAID_PREFIX.len() + 32;

/// The kid of an authenticator key: SHA-1(aid)[0..16] (spec §2.6).
pub fn kid_of(aid: &PublicKey) -> [u8; KID_BYTES] {
    let digest = Sha1::digest(aid.as_bytes());
    let mut kid = [0u8; KID_BYTES];
    for (dst, src) in kid.iter_mut().zip(digest.iter()) {
        *dst = *src;
    }
    kid
}

/// The API form of a kid: 32 lowercase hex characters.
pub fn kid_to_hex(kid: &[u8; KID_BYTES]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * KID_BYTES);
    for b in kid {
        for nibble in [b >> 4, b & 0x0f] {
            out.push(char::from(*HEX.get(usize::from(nibble)).unwrap_or(&b'0')));
        }
    }
    out
}

/// Parses the API form of a kid: exactly 32 lowercase hex characters.
pub fn kid_from_hex(text: &str) -> Option<[u8; KID_BYTES]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if bytes.len() != 2 * KID_BYTES {
        return None;
    }
    let mut kid = [0u8; KID_BYTES];
    for (dst, pair) in kid.iter_mut().zip(bytes.chunks_exact(2)) {
        let (&hi, &lo) = (pair.first()?, pair.get(1)?);
        *dst = (nibble(hi)? << 4) | nibble(lo)?;
    }
    Some(kid)
}

/// One paired authenticator: its pid, public key, kid and label, and the pairing secret
/// S1 = X25519(eid_prv, aid), computed once when the pairing is made or restored and kept
/// prepared as an HMAC key: S1 keys only HMACs (the authreply's MAC and the sealing key K),
/// so `ext/token` and `ext/request` skip its key schedule each time.
#[derive(Clone)]
pub struct Pairing {
    pid: [u8; 32],
    pid_b64: String,
    aid: PublicKey,
    kid: [u8; KID_BYTES],
    label: String,
    /// S1 prepared for HMAC (see [`crate::mac::MacKey`]). The raw S1 is zeroized once this is made;
    /// the keyed state is overwritten when the pairing is dropped, as [`crate::mac::MacKey`] says.
    s1_mac: crate::mac::MacKey,
}

impl Pairing {
    /// Computes S1 and the kid; fails if `aid` is a low-order point.
    pub(crate) fn new(
        identity: &SecretKey,
        pid: [u8; 32],
        aid: PublicKey,
        label: String,
    ) -> Result<Self, KeyError> {
        let s1 = identity.diffie_hellman(&aid)?;
        Ok(Pairing::with_secret(pid, aid, label, s1))
    }

    /// Builds a pairing whose S1 the caller has already computed.
    pub(crate) fn with_secret(
        pid: [u8; 32],
        aid: PublicKey,
        label: String,
        s1: SharedSecret,
    ) -> Self {
        Pairing {
            pid,
            pid_b64: codec::encode_std(&pid),
            kid: kid_of(&aid),
            aid,
            label,
            s1_mac: crate::mac::MacKey::new(s1.as_bytes()),
        }
    }

    /// The pairing id (32 bytes).
    pub fn pid(&self) -> &[u8; 32] {
        &self.pid
    }

    /// The pairing id as the device writes it: standard base64 (the authreq scope-map key).
    pub fn pid_b64(&self) -> &str {
        &self.pid_b64
    }

    /// The authenticator's public key.
    pub fn aid(&self) -> &PublicKey {
        &self.aid
    }

    /// The kid of the stored key.
    pub fn kid(&self) -> &[u8; KID_BYTES] {
        &self.kid
    }

    /// The kid in its API form (32 lowercase hex).
    pub fn kid_hex(&self) -> String {
        kid_to_hex(&self.kid)
    }

    /// The descriptor of the stored key, `"EXTAID" ‖ pid` (spec §6.5); the key list shows
    /// it as `descr`, standard base64 (`"RVhUQUlE"` followed by the pid's base64).
    pub fn descriptor(&self) -> [u8; EXTAID_DESCRIPTOR_BYTES] {
        let mut descr = [0u8; EXTAID_DESCRIPTOR_BYTES];
        for (dst, src) in descr
            .iter_mut()
            .zip(EXTAID_PREFIX.iter().chain(self.pid.iter()))
        {
            *dst = *src;
        }
        descr
    }

    /// The key label (the phone's name).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// S1 prepared as an HMAC key.
    pub(crate) fn s1_mac(&self) -> &crate::mac::MacKey {
        &self.s1_mac
    }
}

impl core::fmt::Debug for Pairing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pairing")
            .field("pid", &self.pid_b64)
            .field("aid", &self.aid)
            .field("kid", &self.kid_hex())
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_hex_round_trip() {
        let kid = [
            0x42, 0xaf, 0xc4, 0x19, 0xdb, 0xda, 0x72, 0x63, 0x6b, 0x37, 0xa2, 0x45, 0x59, 0x55,
            0xe0, 0x95,
        ];
        assert_eq!(kid_to_hex(&kid), "42afc419dbda72636b37a2455955e095");
        assert_eq!(kid_from_hex("42afc419dbda72636b37a2455955e095"), Some(kid));
        assert_eq!(kid_from_hex("42AFC419DBDA72636B37A2455955E095"), None);
        assert_eq!(kid_from_hex("42afc4"), None);
        assert_eq!(kid_from_hex("42afc419dbda72636b37a2455955e09é"), None);
    }

    #[test]
    fn descriptor_is_extaid_then_pid() {
        let identity = SecretKey::from_bytes([5; 32]);
        let aid = SecretKey::from_bytes([6; 32]).public_key();
        let pid = [0x4a; 32];
        let pairing = Pairing::new(&identity, pid, aid, String::from("phone")).unwrap();
        let descr = pairing.descriptor();
        assert_eq!(&descr[..6], b"EXTAID");
        assert_eq!(&descr[6..], &pid);
        // The clients' form (MGR build.js): "RVhUQUlE" + pid.
        assert_eq!(
            codec::encode_std(&descr),
            alloc::format!("RVhUQUlE{}", pairing.pid_b64())
        );
    }

    #[test]
    fn key_type_word_is_the_bit_sum() {
        assert_eq!(KEY_TYPE_X25519_PUBLIC, 0x8000 | 0x1000 | 0x0800 | 20);
    }
}
