//! The two identifiers of a pairing: the `pid` the notify broker assigns and the `kid` the
//! device assigns (spec §1, §2.2).
//!
//! * [`Pid`]: the **pairing id**, 32 random bytes written as standard base64 (44 characters).
//!   The notify broker makes it when the phone accepts a pairing (the answer to `POST link`,
//!   spec §6.4) and hands it to the client in `register/check` (§6.5); the client sends it to the
//!   device in `ext/validate` (§6.6), which keeps it as the pairing's name: it keys the authreq's
//!   scope map (§5.3) and the phone writes it into every authreply (§5.7). A client that works
//!   without a notify broker (a test, the `client` example) draws it itself with
//!   [`Pid::generate`]; the device refuses a pid already in use (406, §6.6).
//! * [`Kid`]: the **key id** of the pairing key in the device's repository, 16 bytes written as
//!   32 lowercase hex characters (§2.6). The device makes it (derived from the phone's key) and
//!   returns it from `ext/validate`; the client keeps it to unpair later
//!   (`DELETE /api/keymgmt/delete/<kid>`).
//!
//! Both parse with [`core::str::FromStr`] (or `TryFrom<&str>`) and print their wire form with
//! `Display`.
//!
//! ```
//! use hem_auth_core::ids::{Kid, Pid};
//! use rand_chacha::rand_core::SeedableRng;
//!
//! let pid = Pid::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(1));
//! assert_eq!(pid.to_string().len(), 44);
//! assert_eq!(pid.to_string().parse::<Pid>(), Ok(pid));
//! assert!("not-a-pid".parse::<Pid>().is_err());
//!
//! let kid: Kid = "42afc419dbda72636b37a2455955e095".parse()?;
//! assert_eq!(kid.to_string(), "42afc419dbda72636b37a2455955e095");
//! assert!("42AFC419DBDA72636B37A2455955E095".parse::<Kid>().is_err());
//! # Ok::<(), hem_auth_core::ids::IdError>(())
//! ```

use rand_core::CryptoRngCore;

use crate::codec::{self, CodecError};

/// Length of a pid, in bytes (spec §2.2).
pub const PID_BYTES: usize = 32;
/// Length of a kid, in bytes (spec §2.6).
pub const KID_BYTES: usize = 16;

/// Why a text is not a [`Pid`] or a [`Kid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdError {
    /// Not base64 (either alphabet, padding optional) of 32 bytes; the source says which.
    Pid(CodecError),
    /// Not 32 lowercase hex characters.
    Kid,
}

impl core::fmt::Display for IdError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IdError::Pid(_) => f.write_str("not a pid (base64 of 32 bytes)"),
            IdError::Kid => f.write_str("not a kid (32 lowercase hex characters)"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for IdError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IdError::Pid(e) => Some(e),
            IdError::Kid => None,
        }
    }
}

/// A pairing id: 32 bytes the notify broker draws when a phone accepts a pairing (see the
/// [module docs](self)). Prints as standard base64 with padding, the form the broker and the
/// device write.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid([u8; PID_BYTES]);

impl Pid {
    /// A fresh random pid, as the notify broker draws one.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut bytes = [0u8; PID_BYTES];
        rng.fill_bytes(&mut bytes);
        Pid(bytes)
    }

    /// A fresh random pid from the operating system ([`rand_core::OsRng`]; feature
    /// `getrandom`).
    #[cfg(feature = "getrandom")]
    #[cfg_attr(docsrs, doc(cfg(feature = "getrandom")))]
    pub fn generate_os() -> Self {
        Self::generate(&mut rand_core::OsRng)
    }

    /// Wraps 32 bytes.
    pub const fn from_bytes(bytes: [u8; PID_BYTES]) -> Self {
        Pid(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; PID_BYTES] {
        &self.0
    }

    /// The URL-path form `pidx` (spec §2.1) for the notify broker's event paths.
    pub fn pidx(&self) -> alloc::string::String {
        codec::pid_to_pidx(&alloc::string::ToString::to_string(self))
    }
}

impl core::str::FromStr for Pid {
    type Err = IdError;

    /// Base64 of 32 bytes, either alphabet, padding optional (the tolerant rule of spec §2.2).
    fn from_str(text: &str) -> Result<Self, IdError> {
        codec::decode_fixed(text).map(Pid).map_err(IdError::Pid)
    }
}

impl TryFrom<&str> for Pid {
    type Error = IdError;

    fn try_from(text: &str) -> Result<Self, IdError> {
        text.parse()
    }
}

impl core::fmt::Display for Pid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut buf = [0u8; 44];
        f.write_str(codec::encode_std_into(&self.0, &mut buf).unwrap_or_default())
    }
}

impl core::fmt::Debug for Pid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Pid({self})")
    }
}

/// A key id: the 16-byte name the device gives the pairing key (see the [module docs](self)).
/// Prints as 32 lowercase hex characters, the form of API bodies and paths.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kid([u8; KID_BYTES]);

impl Kid {
    /// Wraps 16 bytes.
    pub const fn from_bytes(bytes: [u8; KID_BYTES]) -> Self {
        Kid(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; KID_BYTES] {
        &self.0
    }

    /// The `sub` of an access token this authenticator approved: standard base64 of the bytes
    /// (spec §2.6).
    pub fn to_sub(&self) -> alloc::string::String {
        codec::encode_std(&self.0)
    }
}

impl core::str::FromStr for Kid {
    type Err = IdError;

    /// Exactly 32 lowercase hex characters, as the device writes them (spec §2.6).
    fn from_str(text: &str) -> Result<Self, IdError> {
        fn nibble(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            }
        }
        if text.len() != 2 * KID_BYTES {
            return Err(IdError::Kid);
        }
        let mut bytes = [0u8; KID_BYTES];
        for (out, pair) in bytes.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
            let [hi, lo] = pair else {
                return Err(IdError::Kid);
            };
            *out = (nibble(*hi).ok_or(IdError::Kid)? << 4) | nibble(*lo).ok_or(IdError::Kid)?;
        }
        Ok(Kid(bytes))
    }
}

impl TryFrom<&str> for Kid {
    type Error = IdError;

    fn try_from(text: &str) -> Result<Self, IdError> {
        text.parse()
    }
}

impl core::fmt::Display for Kid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl core::fmt::Debug for Kid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Kid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn pids_round_trip_and_refuse_other_text() {
        let pid: Pid = "SmuPON3X1EeRh/rk2VtVFBsy6PRqZKlvMRgCNd6jnGk="
            .parse()
            .unwrap();
        assert_eq!(
            pid.to_string(),
            "SmuPON3X1EeRh/rk2VtVFBsy6PRqZKlvMRgCNd6jnGk="
        );
        assert_eq!(pid.pidx(), "SmuPON3X1EeRh_rk2VtVFBsy6PRqZKlvMRgCNd6jnGk");
        assert_eq!(
            Pid::try_from("not-a-pid"),
            Err(IdError::Pid(CodecError::InvalidBase64))
        );
        assert_eq!(
            Pid::try_from("cGlk"),
            Err(IdError::Pid(CodecError::WrongLength { expected: 32 }))
        );
    }

    #[test]
    fn kids_are_lowercase_hex_of_16_bytes() {
        let kid: Kid = "42afc419dbda72636b37a2455955e095".parse().unwrap();
        assert_eq!(kid.to_string(), "42afc419dbda72636b37a2455955e095");
        assert_eq!(kid.to_sub(), "Qq/EGdvacmNrN6JFWVXglQ==");
        for bad in [
            "",
            "42afc419dbda72636b37a2455955e09",
            "42afc419dbda72636b37a2455955e0950",
            "42AFC419DBDA72636B37A2455955E095",
            "42afc419dbda72636b37a2455955e09g",
            "42afc419dbda72636b37a2455955e0é",
        ] {
            assert_eq!(Kid::try_from(bad), Err(IdError::Kid), "{bad:?}");
        }
    }
}
