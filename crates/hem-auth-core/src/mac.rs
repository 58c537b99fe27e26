//! HMAC-SHA256: the MAC of every flow (spec §2.4): JWT signatures (§3.1, §3.5), sealed scopes
//! (§5.6), self-authenticating nonces (§4.3), the pairing code and `mac` fields (§6.4, §6.7),
//! and the audit chain (§11.2).
//!
//! [`mac`] and [`mac_verify`] take key bytes for a one-off use; [`MacKey`] prepares a
//! long-lived key once and wipes its copies. Verification always compares in constant time.
//!
//! ```
//! use hem_auth_core::mac::{self, MacKey};
//!
//! let tag = mac::mac(b"key", b"message");
//! assert!(mac::mac_verify(b"key", &[b"mess", b"age"], &tag));
//! assert_eq!(MacKey::new(b"key").mac(b"message"), tag);
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The keyed HMAC-SHA256 state of the `hmac` crate.
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// An HMAC-SHA256 key prepared once: the `hmac` crate's keyed state, after the key schedule
/// (the inner and outer padded key blocks). Verifying or signing with it skips those two
/// SHA-256 blocks. Build one per long-lived key (a server's token key), not per message.
///
/// The keyed state is as secret as the key, and so is every copy of it. The `hmac` 0.12 and
/// `sha2` 0.10 used here offer no zeroizing (their successors, `hmac` 0.13 and `sha2` 0.11,
/// have a `zeroize` feature), and their state cannot be written to byte by byte by safe code
/// (this crate forbids any other). So each state is overwritten with a **non-secret** state of the same type, the
/// state of the all-zero key, made once per `MacKey` when it is built:
///
/// * the prepared state, when the `MacKey` (or a clone of it) is dropped;
/// * the per-message copy that [`MacKey::mac`] and [`crate::jwt::UntrustedJwt::verify_with`] work on,
///   as soon as its tag is out: it lives in a guard whose `Drop` overwrites it.
///
/// Each overwrite goes through [`core::hint::black_box`], so that it is not removed as a dead
/// store (best effort, as `black_box` documents). What remains (spec §13.5): copies the
/// compiler makes when a value is moved, and the temporaries inside `hmac`'s finalisation (the
/// outer hash state it clones on its own stack); both live on the stack and are overwritten by
/// later calls. The one-shot functions [`mac`], [`mac_verify`] and [`crate::jwt::UntrustedJwt::verify`]
/// make a state from key bytes and drop it unwiped: wiping it would cost a second key
/// schedule per call; the key bytes they borrow are the caller's to wipe. `Debug` does not
/// print the state.
#[derive(Clone)]
pub struct MacKey {
    /// The prepared state of the key.
    state: HmacSha256,
    /// The prepared state of the all-zero key: not secret, what every copy is overwritten with.
    blank: HmacSha256,
}

impl Drop for MacKey {
    fn drop(&mut self) {
        wipe(&mut self.state, &self.blank);
    }
}

/// Overwrites a keyed HMAC state with the non-secret `blank` one, in a way the optimiser
/// keeps.
fn wipe(state: &mut HmacSha256, blank: &HmacSha256) {
    state.clone_from(blank);
    core::hint::black_box(state);
    #[cfg(all(test, feature = "std"))]
    tests::WIPES.with(|w| w.set(w.get() + 1));
}

/// A working copy of a [`MacKey`]'s state, overwritten when it goes out of scope, whatever
/// path leaves the scope.
pub(crate) struct Scratch<'k> {
    pub(crate) state: HmacSha256,
    blank: &'k HmacSha256,
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        wipe(&mut self.state, self.blank);
    }
}

impl MacKey {
    /// Prepares `key` (any length).
    pub fn new(key: &[u8]) -> Self {
        let blank = <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default());
        // HMAC takes keys of any length: `new_from_slice` cannot fail here.
        let state = HmacSha256::new_from_slice(key).unwrap_or_else(|_| blank.clone());
        MacKey { state, blank }
    }

    /// A copy of the prepared state to feed one message into; overwritten on drop.
    pub(crate) fn scratch(&self) -> Scratch<'_> {
        Scratch {
            state: self.state.clone(),
            blank: &self.blank,
        }
    }

    /// HMAC-SHA256 of `msg`.
    pub fn mac(&self, msg: &[u8]) -> [u8; 32] {
        let mut m = self.scratch();
        m.state.update(msg);
        // `finalize_reset` leaves the copy in place for the guard to overwrite (`finalize`
        // would move it out of reach).
        m.state.finalize_reset().into_bytes().into()
    }
}

impl core::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MacKey(<redacted>)")
    }
}

/// HMAC-SHA256 of `msg` under `key`: the MAC of every flow.
pub fn mac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut m = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm is unreachable.
        Err(_) => return [0u8; 32],
    };
    m.update(msg);
    m.finalize().into_bytes().into()
}

/// Checks an HMAC-SHA256 tag over the concatenation of `parts` in constant time.
pub fn mac_verify(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    let Ok(mut m) = HmacSha256::new_from_slice(key) else {
        return false;
    };
    for p in parts {
        m.update(p);
    }
    m.verify_slice(tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::{sign, Header, HeaderPolicy, JwtError, UntrustedJwt};

    #[cfg(feature = "std")]
    std::thread_local! {
        /// How many keyed states this thread has overwritten (see `wipe`).
        pub(super) static WIPES: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
    }

    /// Issue 14: the per-message copies of a prepared key were dropped unwiped. Each use of a
    /// `MacKey` now overwrites its copy once; a clone and the key itself once each on drop.
    #[cfg(feature = "std")]
    #[test]
    fn mac_key_copies_are_wiped() {
        let wipes = || WIPES.with(core::cell::Cell::get);
        let key = MacKey::new(b"a prepared key");
        let start = wipes();
        let tag = key.mac(b"message");
        assert_eq!(tag, mac(b"a prepared key", b"message"));
        assert_eq!(wipes() - start, 1, "the copy mac() worked on");
        let token = sign(
            Header::AccessToken,
            &serde_json::json!({"a": 1}),
            b"a prepared key",
        );
        let untrusted = UntrustedJwt::parse(&token).unwrap();
        let start = wipes();
        assert!(untrusted.verify_with(&key, HeaderPolicy::Plain).is_ok());
        assert_eq!(wipes() - start, 1, "the copy verify_with() worked on");
        let forged = sign(
            Header::AccessToken,
            &serde_json::json!({"a": 1}),
            b"another key",
        );
        let untrusted = UntrustedJwt::parse(&forged).unwrap();
        let start = wipes();
        assert_eq!(
            untrusted.verify_with(&key, HeaderPolicy::Plain).err(),
            Some(JwtError::BadSignature)
        );
        assert_eq!(wipes() - start, 1, "a failed verification wipes too");
        let start = wipes();
        let clone = key.clone();
        assert_eq!(clone.mac(b"message"), tag);
        drop(clone);
        drop(key);
        assert_eq!(wipes() - start, 3, "the clone's copy, the clone, the key");
    }

    /// What a wiped state holds: the all-zero key's, which keys nothing secret.
    #[test]
    fn a_wiped_state_is_the_zero_key_state() {
        let key = MacKey::new(b"secret");
        let mut state = key.state.clone();
        wipe(&mut state, &key.blank);
        state.update(b"m");
        let out: [u8; 32] = state.finalize().into_bytes().into();
        assert_eq!(out, mac(&[0u8; 64], b"m"));
        assert_ne!(out, mac(b"secret", b"m"));
    }

    #[test]
    fn mac_verify_reads_the_parts_as_one_message() {
        let tag = mac(b"k", b"abc");
        assert!(mac_verify(b"k", &[b"a", b"bc"], &tag));
        assert!(!mac_verify(b"k", &[b"a", b"bd"], &tag));
        assert!(!mac_verify(b"k", &[b"abc"], &tag[..31]));
    }
}
