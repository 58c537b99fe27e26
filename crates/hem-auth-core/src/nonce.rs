//! The device's time nonce: LE32(unix time) ‖ 28 random bytes (spec §4.1).
//! Used as the `jti` of login challenges, pairing requests and authreqs, and as the `ext/mac`
//! nonce.

use crate::time::UnixTime;
use alloc::string::String;
use rand_core::CryptoRngCore;

use crate::codec::{self, CodecError};

/// Length of a device nonce in bytes (spec §4.1: every captured value is 32 bytes).
pub const NONCE_BYTES: usize = 32;

/// A 32-byte time nonce.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeNonce([u8; NONCE_BYTES]);

impl TimeNonce {
    /// A fresh nonce stamped with `now` (unix seconds, truncated to 32 bits as the firmware
    /// does) and 28 bytes from the caller's CSPRNG.
    pub fn generate(now: UnixTime, rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = [0u8; NONCE_BYTES];
        rng.fill_bytes(&mut bytes);
        let stamp = (now.as_secs() as u32).to_le_bytes();
        bytes[..4].copy_from_slice(&stamp);
        TimeNonce(bytes)
    }

    /// Wraps raw bytes (as received).
    pub const fn from_bytes(bytes: [u8; NONCE_BYTES]) -> Self {
        TimeNonce(bytes)
    }

    /// Decodes the wire form (tolerant base64 of exactly 32 bytes).
    pub fn from_b64(text: &str) -> Result<Self, CodecError> {
        Ok(TimeNonce(codec::decode_fixed(text)?))
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; NONCE_BYTES] {
        &self.0
    }

    /// The unix time written in the first four bytes.
    pub const fn time(&self) -> u32 {
        u32::from_le_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }

    /// The wire form: standard base64 with padding.
    pub fn to_b64(&self) -> String {
        codec::encode_std(&self.0)
    }
}

impl core::fmt::Debug for TimeNonce {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "TimeNonce(t={}, {})", self.time(), self.to_b64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn stamps_time_little_endian() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let n = TimeNonce::generate(UnixTime::from_secs(1_647_871_117), &mut rng);
        assert_eq!(n.time(), 1_647_871_117);
        assert_eq!(&n.as_bytes()[..4], &1_647_871_117u32.to_le_bytes());
        let m = TimeNonce::generate(UnixTime::from_secs(1_647_871_117), &mut rng);
        assert_ne!(n, m, "28 random bytes differ");
        assert_eq!(TimeNonce::from_b64(&n.to_b64()), Ok(n));
    }

    #[test]
    fn documentation_nonces_carry_their_time() {
        for (b64, t) in [
            (
                "jYQ4YuM/QbrtGoDIQuCSQmsv7MzOl7+J3q1F7X3nB7k=",
                1_647_871_117,
            ),
            (
                "koQ4YsCf3L4iTrl2py6g7t3jvV9pwwsIr6//F96OfYI=",
                1_647_871_122,
            ),
            (
                "9ps4YirH7Te0tefpjyzCcP563F8S+gZxbBMX9TLEBvg=",
                1_647_877_110,
            ),
            (
                "XJ04YiV/Mh517cV0zqG+XEeCGbGNBt2PUnWcCtV7NVg=",
                1_647_877_468,
            ),
            (
                "1IU4Yont+/lZxh+HpgBwsc2sOWybfByFI+n8vAxWQzU=",
                1_647_871_444,
            ),
            (
                "FGVhapdad+8ap9x6t0UQB/2O1G/vabitisjZdQTxJ0M=",
                1_784_767_764,
            ),
        ] {
            assert_eq!(TimeNonce::from_b64(b64).unwrap().time(), t, "{b64}");
        }
    }
}
