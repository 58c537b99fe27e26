//! Points in time and durations of the protocol, in whole seconds.
//!
//! Every time-dependent call of the core takes the caller's clock reading as a [`UnixTime`]
//! (the core reads no clock of its own), and every lifetime or period is a [`Seconds`]. Both are
//! plain `u64` underneath (zero-cost); the claims structs keep bare `u64` fields because they
//! are wire data (`iat`, `exp`, … in JSON, spec §2.1).
//!
//! ```
//! use hem_auth_core::{Seconds, UnixTime};
//!
//! let now = UnixTime::from_secs(1_700_000_000);
//! let expiry = now + Seconds::new(300);
//! assert_eq!(expiry.as_secs(), 1_700_000_300);
//! assert_eq!(expiry.since(now), Seconds::new(300));
//! // Arithmetic saturates instead of wrapping: an absurd lifetime is "never", not "1970".
//! assert_eq!((UnixTime::from_secs(u64::MAX) + Seconds::new(1)).as_secs(), u64::MAX);
//! ```

use core::fmt;
use core::ops::Add;

/// A point in time: whole seconds since the Unix epoch (1970-01-01T00:00:00Z), the unit of
/// every `iat`/`exp`/`eat` claim.
///
/// Like `rustls_pki_types::UnixTime`: the core never reads a clock, so the caller builds one
/// with [`UnixTime::from_secs`] (a device's RTC, a simulated clock) or, with the `std`
/// feature, [`UnixTime::now`] (the host clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(u64);

impl UnixTime {
    /// The epoch itself (second 0).
    pub const EPOCH: Self = Self(0);

    /// The time `secs` seconds after the epoch.
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// Seconds since the epoch.
    #[must_use]
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// The host clock now, in whole seconds (the epoch if the host clock is set before 1970).
    /// For adapters only: nothing in the core calls it.
    #[cfg(feature = "std")]
    #[cfg_attr(docsrs, doc(cfg(feature = "std")))]
    #[must_use]
    pub fn now() -> Self {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(Self::EPOCH, |d| Self(d.as_secs()))
    }

    /// How long after `earlier` this time is (zero if it is not after it).
    #[must_use]
    pub const fn since(self, earlier: UnixTime) -> Seconds {
        Seconds(self.0.saturating_sub(earlier.0))
    }

    /// This time moved `by` seconds earlier, stopping at the epoch.
    #[must_use]
    pub const fn saturating_sub(self, by: Seconds) -> Self {
        Self(self.0.saturating_sub(by.0))
    }
}

/// `time + duration`, saturating at `u64::MAX` seconds (a lifetime too long to represent is
/// "never expires", never a wrap into the past).
impl Add<Seconds> for UnixTime {
    type Output = UnixTime;

    fn add(self, rhs: Seconds) -> UnixTime {
        UnixTime(self.0.saturating_add(rhs.0))
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A duration in whole seconds: a lifetime (of a nonce, a token, an authreq) or a period (of
/// access granted, of a clock's tolerance).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seconds(u64);

impl Seconds {
    /// No time at all.
    pub const ZERO: Self = Self(0);

    /// A duration of `secs` seconds.
    #[must_use]
    pub const fn new(secs: u64) -> Self {
        Self(secs)
    }

    /// The number of seconds.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// `a + b`, saturating at `u64::MAX` seconds.
impl Add for Seconds {
    type Output = Seconds;

    fn add(self, rhs: Seconds) -> Seconds {
        Seconds(self.0.saturating_add(rhs.0))
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} s", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = UnixTime::from_secs(10);
        assert_eq!((t + Seconds::new(5)).as_secs(), 15);
        assert_eq!(t.since(UnixTime::from_secs(20)), Seconds::ZERO);
        assert_eq!(t.saturating_sub(Seconds::new(11)), UnixTime::EPOCH);
        assert_eq!(
            Seconds::new(u64::MAX) + Seconds::new(1),
            Seconds::new(u64::MAX)
        );
    }
}
