//! Self-authenticating nonces (spec §4.1–§4.4, §4.6).
//!
//! The device issues a nonce without storing it and recognises it later from its bytes:
//!
//! ```text
//! jti[0..4]   = LE32(time of issue)
//! jti[4..16]  = 12 random bytes
//! jti[16..32] = tag
//! ```
//!
//! The tag is HMAC-SHA256 under `Kn`, a per-boot nonce key drawn with the other per-boot keys
//! ([`super::BootKeys`]) and never stored, of the purpose, the purpose's lifetime, the upper 32
//! bits of the issue time (the wire field holds the lower 32) and `jti[0..16]`. For an authreq
//! on a device with the `RequestedOnly` scope policy the tag is split: `jti[16..24]` is that MAC
//! and `jti[24..32]` a second MAC that binds the requested scope, so that `ext/token` can tell a
//! forged nonce (401, at the nonce check) from an approved scope that differs from the
//! requested one (406, after the scope opens). The verifier recomputes the tag (an authreq has
//! two possible lifetimes, 3600 s and 900 s, and both are tried), derives `exp` = time of issue
//! + lifetime, and refuses the nonce unless `now < exp`.
//!
//! What the device stores:
//!
//! * **nothing at issue**, so no flood of anonymous `GET /api/auth/token`, `ext/request` or
//!   `GET /api/system/checkin` can push another caller's nonce out;
//! * **the consumed set**: the nonces of successful verifications, each until its `exp`, so a
//!   nonce is accepted only once. It grows only with successes; its capacity is
//!   [`super::DeviceConfig::nonce_capacity`], and when it is full of unexpired nonces the
//!   device refuses the new success with 503 ([`super::DeviceError::NonceStoreFull`]) rather
//!   than forget one. Expired entries are dropped when the set is full; the latest time at
//!   which that happened is kept, and a nonce that had expired by then stays refused even if
//!   the clock is set back;
//! * **the `ctx` cache**: an `ext/request`'s `ctx`, which the verifier cannot recompute, in a
//!   bounded first-in first-out cache of [`CTX_CACHE_CAPACITY`] entries. Losing an entry drops
//!   only that `ctx` (the token then carries the authreply's `ctx`, or none);
//! * **explicit pending nonces**: arbitrary 32-byte values given "as if issued" by
//!   [`super::Device::insert_pending`] or a snapshot (the test vectors' `pending` entries),
//!   each accepted for its purpose until its `exp`, beside the nonces the tag proves.
//!
//! A reboot draws a new `Kn`: every issued nonce dies with it, as every access token does.

use crate::time::UnixTime;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use arrayvec::{ArrayString, ArrayVec};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::{
    AUTHREQ_LIFETIME_SECS, AUTHREQ_USE_LIFETIME_SECS, CHECKIN_LIFETIME_SECS,
    LOGIN_CHALLENGE_LIFETIME_SECS, PAIRING_REQUEST_LIFETIME_SECS,
};
use crate::mac::MacKey;
use crate::nonce::{TimeNonce, NONCE_BYTES};
use crate::scope::{self, MAX_REQUEST_SCOPE_CHARS};

/// Default capacity of the consumed set: nonces of successful verifications kept until they
/// expire (spec §4.3).
pub const DEFAULT_NONCE_CAPACITY: usize = 1024;
/// Largest consumed-set capacity a device accepts; a larger setting is clamped to it.
pub const MAX_NONCE_CAPACITY: usize = 65_536;
/// Entries of the `ext/request` `ctx` cache (spec §4.3).
pub const CTX_CACHE_CAPACITY: usize = 64;
/// Consumed entries reserved at boot: successes up to this many never allocate.
const PREALLOCATED: usize = 64;
/// Bytes of a nonce the tag covers (time and random part); they identify it in the consumed
/// set.
const HEAD: usize = 16;
/// Longest requested scope a tag can bind (the `ext/request` limit plus a `:rw`).
const MAX_BOUND_SCOPE: usize = MAX_REQUEST_SCOPE_CHARS + 3;

/// What a device nonce was issued for; a nonce is only accepted for its own purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum NoncePurpose {
    /// The `jti` of a login challenge (`GET /api/auth/token`).
    Login,
    /// The `jti` of a pairing request (`ext/init`).
    Pairing,
    /// The `jti` of an authreq (`ext/request`).
    Authreq,
    /// The `jti` of a check-in `check`.
    Checkin,
}

impl NoncePurpose {
    const ALL: [NoncePurpose; 4] = [
        NoncePurpose::Login,
        NoncePurpose::Pairing,
        NoncePurpose::Authreq,
        NoncePurpose::Checkin,
    ];

    /// The byte that names the purpose in a tag's input.
    const fn code(self) -> u8 {
        match self {
            NoncePurpose::Login => 1,
            NoncePurpose::Pairing => 2,
            NoncePurpose::Authreq => 3,
            NoncePurpose::Checkin => 4,
        }
    }

    /// The lifetimes a nonce of this purpose may have (spec §4.4), most common first.
    const fn lifetimes(self) -> &'static [u64] {
        match self {
            NoncePurpose::Login => &[LOGIN_CHALLENGE_LIFETIME_SECS],
            NoncePurpose::Pairing => &[PAIRING_REQUEST_LIFETIME_SECS],
            NoncePurpose::Authreq => &[AUTHREQ_LIFETIME_SECS, AUTHREQ_USE_LIFETIME_SECS],
            NoncePurpose::Checkin => &[CHECKIN_LIFETIME_SECS],
        }
    }
}

/// A nonce in the consumed set: accepted once, refused again until (and after) its `exp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumedNonce {
    /// What it was issued for.
    pub purpose: NoncePurpose,
    /// The nonce.
    pub jti: [u8; NONCE_BYTES],
    /// Its expiry: the entry is kept while `now < exp`.
    pub exp: u64,
}

/// An explicit pending nonce and what the device remembers with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) purpose: NoncePurpose,
    pub(crate) jti: [u8; NONCE_BYTES],
    /// Accepted while `now < exp`.
    pub(crate) exp: u64,
    /// For an authreq: the scope as requested (without the key hint), for `RequestedOnly`.
    pub(crate) scope: Option<String>,
    /// For an authreq: the request's `ctx`, for the token when the authreply has none.
    pub(crate) ctx: Option<String>,
}

/// A nonce a verification accepted: what the endpoint needs to finish and to consume it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Accepted {
    purpose: NoncePurpose,
    jti: [u8; NONCE_BYTES],
    exp: u64,
    /// Given explicitly (consumed by removal) rather than proved by its tag (consumed by
    /// recording).
    explicit: bool,
}

impl Accepted {
    /// The nonce's bytes.
    pub(crate) fn jti(&self) -> &[u8; NONCE_BYTES] {
        &self.jti
    }
}

/// The consumed set: its entries in a dense vector, found through an open-addressing index
/// (linear probing) keyed by bytes of the nonce's tag. Those are MAC outputs under the
/// per-boot key, so no caller can aim nonces at one slot; lookups and insertions take constant
/// time whatever the number of entries.
#[derive(Debug)]
struct ConsumedSet {
    entries: Vec<ConsumedNonce>,
    /// Indices into `entries`, [`ConsumedSet::FREE`] when free; a power of two at least twice
    /// as long as `entries`.
    slots: Vec<u32>,
}

impl ConsumedSet {
    const FREE: u32 = u32::MAX;

    fn with_capacity(entries: usize) -> Self {
        ConsumedSet {
            entries: Vec::with_capacity(entries),
            slots: alloc::vec![Self::FREE; (2 * entries).next_power_of_two().max(8)],
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    /// The slot that holds `jti` (`Ok`) or where it would go (`Err`).
    fn slot(&self, jti: &[u8; NONCE_BYTES]) -> Result<usize, usize> {
        let mask = self.slots.len().saturating_sub(1);
        let tag = [
            jti[16], jti[17], jti[18], jti[19], jti[20], jti[21], jti[22], jti[23],
        ];
        let mut at = (u64::from_le_bytes(tag) as usize) & mask;
        // At most half the slots are taken, so a free one ends every probe.
        for _ in 0..self.slots.len() {
            match self.slots.get(at).copied() {
                None | Some(Self::FREE) => return Err(at),
                Some(i) => {
                    let same = self
                        .entries
                        .get(i as usize)
                        .is_some_and(|c| c.jti[..HEAD] == jti[..HEAD]);
                    if same {
                        return Ok(at);
                    }
                }
            }
            at = (at + 1) & mask;
        }
        Err(at)
    }

    fn contains(&self, jti: &[u8; NONCE_BYTES]) -> bool {
        self.slot(jti).is_ok()
    }

    fn insert(&mut self, entry: ConsumedNonce) {
        if self.contains(&entry.jti) {
            return;
        }
        if (self.entries.len() + 1) * 2 > self.slots.len() {
            let len = self.slots.len() * 2;
            self.slots = alloc::vec![Self::FREE; len];
            self.reindex();
        }
        if let Err(at) = self.slot(&entry.jti) {
            if let Some(slot) = self.slots.get_mut(at) {
                *slot = self.entries.len() as u32;
            }
            self.entries.push(entry);
        }
    }

    /// Drops the entries that have expired at `now`.
    fn retain_live(&mut self, now: UnixTime) {
        self.entries.retain(|c| now.as_secs() < c.exp);
        self.reindex();
    }

    fn reindex(&mut self) {
        self.slots.fill(Self::FREE);
        for i in 0..self.entries.len() {
            let Some(jti) = self.entries.get(i).map(|c| c.jti) else {
                break;
            };
            let (Ok(at) | Err(at)) = self.slot(&jti);
            if let Some(slot) = self.slots.get_mut(at) {
                *slot = i as u32;
            }
        }
    }
}

/// A cached `ctx` of an authreq.
#[derive(Debug, Clone)]
struct CtxEntry {
    head: [u8; HEAD],
    exp: u64,
    ctx: String,
}

/// Everything the device keeps about nonces (see the module docs).
pub(crate) struct Nonces {
    /// `Kn`, prepared for HMAC.
    key: MacKey,
    /// Whether authreq tags bind the requested scope (the `RequestedOnly` policy).
    bind_scope: bool,
    capacity: usize,
    consumed: ConsumedSet,
    /// The latest `now` at which expired consumed entries were dropped: a nonce whose `exp`
    /// is not after it is refused, whatever the clock says later.
    floor: u64,
    explicit: Vec<Pending>,
    ctx: VecDeque<CtxEntry>,
    /// The `never_expire_nonces` fault ([`super::testing::Faults`]).
    #[cfg(feature = "testing")]
    pub(crate) never_expire: bool,
}

impl core::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Nonces")
            .field("consumed", &self.consumed.len())
            .field("capacity", &self.capacity)
            .field("explicit", &self.explicit.len())
            .field("ctx", &self.ctx.len())
            .finish_non_exhaustive()
    }
}

/// The issue time of a nonce whose wire field holds its lower 32 bits: the value nearest
/// `now` (the tag binds the upper bits, so a wrong guess fails the tag rather than accepting
/// a nonce from another epoch).
fn issued_at(field: u32, now: UnixTime) -> u64 {
    const EPOCH: u64 = 1 << 32;
    let now = now.as_secs();
    let t = (now & !(EPOCH - 1)) | u64::from(field);
    if t > now && t - now > EPOCH / 2 {
        t.checked_sub(EPOCH).unwrap_or(t)
    } else if t < now && now - t > EPOCH / 2 {
        t.saturating_add(EPOCH)
    } else {
        t
    }
}

impl Nonces {
    /// An empty store keyed with the per-boot nonce key `key`.
    pub(crate) fn new(key: &[u8; 32], capacity: usize, bind_scope: bool) -> Self {
        let capacity = capacity.clamp(1, MAX_NONCE_CAPACITY);
        Nonces {
            key: MacKey::new(key),
            bind_scope,
            capacity,
            consumed: ConsumedSet::with_capacity(capacity.min(PREALLOCATED)),
            floor: 0,
            explicit: Vec::new(),
            ctx: VecDeque::new(),
            #[cfg(feature = "testing")]
            never_expire: false,
        }
    }

    /// The MAC that proves a nonce: purpose, lifetime, upper bits of the issue time, head.
    fn proof(&self, purpose: NoncePurpose, lifetime: u64, issued: u64, head: &[u8]) -> [u8; 32] {
        let mut input = [0u8; 2 + 4 + 4 + HEAD];
        input[0] = b'N';
        input[1] = purpose.code();
        input[2..6].copy_from_slice(&(lifetime as u32).to_le_bytes());
        input[6..10].copy_from_slice(&((issued >> 32) as u32).to_le_bytes());
        input[10..].copy_from_slice(head.get(..HEAD).unwrap_or_default());
        self.key.mac(&input)
    }

    /// The MAC that binds an authreq's requested scope to its head; `None` for a scope longer
    /// than any request may be.
    fn scope_binding(&self, head: &[u8], scope: &str) -> Option<[u8; 32]> {
        let mut input = ArrayVec::<u8, { 2 + HEAD + MAX_BOUND_SCOPE }>::new();
        input
            .try_extend_from_slice(&[b'S', NoncePurpose::Authreq.code()])
            .ok()?;
        input.try_extend_from_slice(head.get(..HEAD)?).ok()?;
        input.try_extend_from_slice(scope.as_bytes()).ok()?;
        Some(self.key.mac(&input))
    }

    /// Whether this purpose's tags are split (8 bytes of proof, 8 of scope binding).
    fn split(&self, purpose: NoncePurpose) -> bool {
        self.bind_scope && purpose == NoncePurpose::Authreq
    }

    /// Issues a nonce for `purpose` living `lifetime` seconds. Stores nothing, except an
    /// authreq's `ctx` in the bounded cache.
    pub(crate) fn issue(
        &mut self,
        purpose: NoncePurpose,
        lifetime: u64,
        requested_scope: Option<&str>,
        ctx: Option<String>,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> TimeNonce {
        let mut bytes = [0u8; NONCE_BYTES];
        bytes[..4].copy_from_slice(&(now.as_secs() as u32).to_le_bytes());
        rng.fill_bytes(&mut bytes[4..HEAD]);
        let proof = self.proof(purpose, lifetime, now.as_secs(), &bytes[..HEAD]);
        if self.split(purpose) {
            let scope = requested_scope.unwrap_or_default();
            let binding = self.scope_binding(&bytes[..HEAD], scope);
            bytes[HEAD..24].copy_from_slice(&proof[..8]);
            bytes[24..].copy_from_slice(&binding.unwrap_or(proof)[8..16]);
        } else {
            bytes[HEAD..].copy_from_slice(&proof[..16]);
        }
        if let Some(ctx) = ctx {
            self.cache_ctx(&bytes, now.as_secs().saturating_add(lifetime), ctx, now);
        }
        TimeNonce::from_bytes(bytes)
    }

    fn cache_ctx(&mut self, jti: &[u8; NONCE_BYTES], exp: u64, ctx: String, now: UnixTime) {
        if self.ctx.len() >= CTX_CACHE_CAPACITY {
            self.ctx.retain(|e| now.as_secs() < e.exp);
        }
        while self.ctx.len() >= CTX_CACHE_CAPACITY {
            self.ctx.pop_front();
        }
        let mut head = [0u8; HEAD];
        head.copy_from_slice(&jti[..HEAD]);
        self.ctx.push_back(CtxEntry { head, exp, ctx });
    }

    fn find_explicit(&self, purpose: NoncePurpose, jti: &[u8]) -> Option<&Pending> {
        self.explicit
            .iter()
            .find(|p| p.purpose == purpose && p.jti.as_slice() == jti)
    }

    /// The nonce check (spec §4.2, §4.3): `jti` is an explicit pending nonce of `purpose`
    /// before its `exp`, or a nonce this boot issued for `purpose` whose tag verifies, before
    /// its `exp` and not consumed. Changes nothing.
    pub(crate) fn accept(
        &self,
        purpose: NoncePurpose,
        jti: &[u8; NONCE_BYTES],
        now: UnixTime,
    ) -> Option<Accepted> {
        if let Some(p) = self.find_explicit(purpose, jti) {
            return (now.as_secs() < p.exp).then_some(Accepted {
                purpose,
                jti: *jti,
                exp: p.exp,
                explicit: true,
            });
        }
        let field = u32::from_le_bytes([jti[0], jti[1], jti[2], jti[3]]);
        let issued = issued_at(field, now);
        let split = self.split(purpose);
        let lifetime = purpose.lifetimes().iter().copied().find(|&lifetime| {
            let proof = self.proof(purpose, lifetime, issued, &jti[..HEAD]);
            let equal = if split {
                proof[..8].ct_eq(&jti[HEAD..24])
            } else {
                proof[..16].ct_eq(&jti[HEAD..])
            };
            bool::from(equal)
        })?;
        let exp = issued.saturating_add(lifetime);
        #[cfg(feature = "testing")]
        let now = if self.never_expire {
            UnixTime::from_secs(issued)
        } else {
            now
        };
        if now.as_secs() >= exp || exp <= self.floor || self.consumed.contains(jti) {
            return None;
        }
        Some(Accepted {
            purpose,
            jti: *jti,
            exp,
            explicit: false,
        })
    }

    /// Whether `jti` would pass [`Nonces::accept`] for `purpose` at `now`.
    pub(crate) fn is_pending(&self, purpose: NoncePurpose, jti: &[u8], now: UnixTime) -> bool {
        <&[u8; NONCE_BYTES]>::try_from(jti).is_ok_and(|j| self.accept(purpose, j, now).is_some())
    }

    /// Under `RequestedOnly` (spec §5.11): whether `approved` is the scope the accepted
    /// authreq requested, or differs from it only by the `:rw` of a `storage:diskN` scope.
    pub(crate) fn scope_matches(&self, accepted: &Accepted, approved: &str) -> bool {
        if accepted.explicit {
            let requested = self
                .find_explicit(accepted.purpose, &accepted.jti)
                .and_then(|p| p.scope.as_deref())
                .unwrap_or_default();
            return scope::approved_matches_request(requested, approved);
        }
        if !self.split(accepted.purpose) {
            return false;
        }
        // The requested scope is one of these (the `:rw` rule), and its MAC is in the tag.
        let base = approved.strip_suffix(":rw").unwrap_or(approved);
        let mut with_rw = ArrayString::<MAX_BOUND_SCOPE>::new();
        let with_rw = match (with_rw.try_push_str(base), with_rw.try_push_str(":rw")) {
            (Ok(()), Ok(())) => Some(with_rw),
            _ => None,
        };
        let head = &accepted.jti[..HEAD];
        let bound = &accepted.jti[24..];
        let matched = [Some(approved), Some(base), with_rw.as_deref()]
            .into_iter()
            .flatten()
            .any(|requested| {
                self.scope_binding(head, requested).is_some_and(|mac| {
                    bool::from(mac[8..16].ct_eq(bound))
                        && scope::approved_matches_request(requested, approved)
                })
            });
        matched
    }

    /// The `ctx` of the accepted authreq's `ext/request`, if still known.
    pub(crate) fn ctx(&self, accepted: &Accepted) -> Option<&str> {
        if accepted.explicit {
            return self
                .find_explicit(accepted.purpose, &accepted.jti)
                .and_then(|p| p.ctx.as_deref());
        }
        self.ctx
            .iter()
            .find(|e| e.head == accepted.jti[..HEAD])
            .map(|e| e.ctx.as_str())
    }

    /// The last check of every endpoint that consumes a nonce: whether the consumed set can
    /// take this one at `now` (an explicit nonce needs no room).
    pub(crate) fn has_room(&self, accepted: &Accepted, now: UnixTime) -> bool {
        accepted.explicit
            || self.consumed.len() < self.capacity
            || self
                .consumed
                .entries
                .iter()
                .filter(|c| now.as_secs() < c.exp)
                .count()
                < self.capacity
    }

    /// Consumes an accepted nonce, after the whole request succeeded: an explicit one is
    /// removed, a proved one recorded until its `exp`. Drops its cached `ctx`.
    pub(crate) fn consume(&mut self, accepted: &Accepted, now: UnixTime) {
        if let Some(i) = self.ctx.iter().position(|e| e.head == accepted.jti[..HEAD]) {
            self.ctx.remove(i);
        }
        if accepted.explicit {
            self.explicit
                .retain(|p| !(p.purpose == accepted.purpose && p.jti == accepted.jti));
            return;
        }
        if self.consumed.len() >= self.capacity {
            self.consumed.retain_live(now);
            self.floor = self.floor.max(now.as_secs());
        }
        // `has_room` was checked: the set never forgets a consumed nonce to make room.
        self.consumed.insert(ConsumedNonce {
            purpose: accepted.purpose,
            jti: accepted.jti,
            exp: accepted.exp,
        });
    }

    /// Records an explicit pending nonce (replacing one with the same purpose and bytes).
    pub(crate) fn insert_explicit(&mut self, pending: Pending) {
        self.explicit
            .retain(|p| !(p.purpose == pending.purpose && p.jti == pending.jti));
        self.explicit.push(pending);
    }

    /// The explicit pending nonces, grouped by purpose, oldest first within each.
    pub(crate) fn explicit(&self) -> impl Iterator<Item = &Pending> + '_ {
        NoncePurpose::ALL
            .into_iter()
            .flat_map(move |purpose| self.explicit.iter().filter(move |p| p.purpose == purpose))
    }

    /// The consumed set, in no particular order.
    pub(crate) fn consumed(&self) -> impl Iterator<Item = ConsumedNonce> + '_ {
        self.consumed.entries.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    const NOW: u64 = 1_784_767_764;

    fn rng() -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::seed_from_u64(4)
    }

    #[test]
    fn issued_nonces_prove_purpose_lifetime_and_expiry() {
        let mut n = Nonces::new(&[1; 32], 4, false);
        let mut rng = rng();
        let login = n.issue(
            NoncePurpose::Login,
            60,
            None,
            None,
            UnixTime::from_secs(NOW),
            &mut rng,
        );
        let jti = login.as_bytes();
        assert_eq!(login.time(), NOW as u32);
        let a = n
            .accept(NoncePurpose::Login, jti, UnixTime::from_secs(NOW + 59))
            .unwrap();
        assert_eq!(a.exp, NOW + 60);
        assert!(n
            .accept(NoncePurpose::Login, jti, UnixTime::from_secs(NOW + 60))
            .is_none());
        for other in [
            NoncePurpose::Pairing,
            NoncePurpose::Authreq,
            NoncePurpose::Checkin,
        ] {
            assert!(
                n.accept(other, jti, UnixTime::from_secs(NOW)).is_none(),
                "{other:?}"
            );
        }
        // every bit of the nonce matters
        for i in 0..NONCE_BYTES * 8 {
            let mut forged = *jti;
            forged[i / 8] ^= 1 << (i % 8);
            assert!(
                n.accept(NoncePurpose::Login, &forged, UnixTime::from_secs(NOW))
                    .is_none(),
                "bit {i}"
            );
        }
        // another boot's key
        let other = Nonces::new(&[2; 32], 4, false);
        assert!(other
            .accept(NoncePurpose::Login, jti, UnixTime::from_secs(NOW))
            .is_none());
        // nothing was stored
        assert!(n.consumed.len() == 0 && n.ctx.is_empty() && n.explicit.is_empty());
    }

    #[test]
    fn authreq_lifetimes_and_scope_binding() {
        let mut rng = rng();
        for bind in [false, true] {
            let mut n = Nonces::new(&[3; 32], 4, bind);
            let long = n.issue(
                NoncePurpose::Authreq,
                3600,
                Some("a:b"),
                None,
                UnixTime::from_secs(NOW),
                &mut rng,
            );
            let short = n.issue(
                NoncePurpose::Authreq,
                900,
                Some("storage:disk1"),
                None,
                UnixTime::from_secs(NOW),
                &mut rng,
            );
            let a = n
                .accept(
                    NoncePurpose::Authreq,
                    long.as_bytes(),
                    UnixTime::from_secs(NOW),
                )
                .unwrap();
            assert_eq!(a.exp, NOW + 3600);
            let b = n
                .accept(
                    NoncePurpose::Authreq,
                    short.as_bytes(),
                    UnixTime::from_secs(NOW),
                )
                .unwrap();
            assert_eq!(b.exp, NOW + 900);
            assert!(n
                .accept(
                    NoncePurpose::Authreq,
                    short.as_bytes(),
                    UnixTime::from_secs(NOW + 900)
                )
                .is_none());
            if bind {
                assert!(n.scope_matches(&a, "a:b"));
                assert!(!n.scope_matches(&a, "a:bc"));
                assert!(!n.scope_matches(&a, "a"));
                assert!(n.scope_matches(&b, "storage:disk1"));
                assert!(n.scope_matches(&b, "storage:disk1:rw"));
                assert!(!n.scope_matches(&b, "storage:disk2"));
            }
        }
    }

    #[test]
    fn consumed_once_full_set_and_clock_rewind() {
        let mut rng = rng();
        let mut n = Nonces::new(&[5; 32], 2, false);
        let issue = |n: &mut Nonces, rng: &mut _, now| {
            *n.issue(NoncePurpose::Login, 60, None, None, now, rng)
                .as_bytes()
        };
        let first = issue(&mut n, &mut rng, UnixTime::from_secs(NOW));
        let second = issue(&mut n, &mut rng, UnixTime::from_secs(NOW));
        let third = issue(&mut n, &mut rng, UnixTime::from_secs(NOW + 10));
        for jti in [&first, &second] {
            let a = n
                .accept(NoncePurpose::Login, jti, UnixTime::from_secs(NOW))
                .unwrap();
            assert!(n.has_room(&a, UnixTime::from_secs(NOW)));
            n.consume(&a, UnixTime::from_secs(NOW));
            assert!(
                n.accept(NoncePurpose::Login, jti, UnixTime::from_secs(NOW))
                    .is_none(),
                "replay"
            );
        }
        // full of unexpired nonces: the third success has no room
        let a = n
            .accept(NoncePurpose::Login, &third, UnixTime::from_secs(NOW + 20))
            .unwrap();
        assert!(!n.has_room(&a, UnixTime::from_secs(NOW + 20)));
        // once the first two expire, it has
        assert!(n.has_room(&a, UnixTime::from_secs(NOW + 60)));
        n.consume(&a, UnixTime::from_secs(NOW + 60));
        assert_eq!(n.consumed.len(), 1);
        // the clock set back: the purged nonces stay refused
        assert!(n
            .accept(NoncePurpose::Login, &first, UnixTime::from_secs(NOW + 1))
            .is_none());
        assert!(n
            .accept(NoncePurpose::Login, &third, UnixTime::from_secs(NOW + 11))
            .is_none());
    }

    #[test]
    fn a_large_consumed_set_grows_and_drops_expired_entries() {
        let mut rng = rng();
        let mut n = Nonces::new(&[8; 32], 1000, false);
        let mut used = Vec::new();
        for i in 0..1000u64 {
            let now = NOW + i;
            let jti = *n
                .issue(
                    NoncePurpose::Authreq,
                    3600,
                    None,
                    None,
                    UnixTime::from_secs(now),
                    &mut rng,
                )
                .as_bytes();
            let a = n
                .accept(NoncePurpose::Authreq, &jti, UnixTime::from_secs(now))
                .unwrap();
            assert!(n.has_room(&a, UnixTime::from_secs(now)));
            n.consume(&a, UnixTime::from_secs(now));
            used.push((jti, now));
        }
        assert_eq!(n.consumed.len(), 1000);
        assert!(n.consumed.slots.len() >= 2000);
        for (jti, at) in &used {
            assert!(
                n.accept(NoncePurpose::Authreq, jti, UnixTime::from_secs(*at))
                    .is_none(),
                "replay"
            );
        }
        // full until the first ones expire; then a success drops every expired entry
        let later = n.issue(
            NoncePurpose::Authreq,
            3600,
            None,
            None,
            UnixTime::from_secs(NOW + 3600),
            &mut rng,
        );
        let a = n
            .accept(
                NoncePurpose::Authreq,
                later.as_bytes(),
                UnixTime::from_secs(NOW + 3600),
            )
            .unwrap();
        assert!(n.has_room(&a, UnixTime::from_secs(NOW + 3600)));
        n.consume(&a, UnixTime::from_secs(NOW + 3600 + 499));
        assert_eq!(n.consumed.len(), 501);
        for (jti, at) in &used {
            assert!(
                n.accept(NoncePurpose::Authreq, jti, UnixTime::from_secs(*at))
                    .is_none(),
                "replay"
            );
            assert!(
                n.accept(NoncePurpose::Authreq, jti, UnixTime::from_secs(NOW))
                    .is_none(),
                "clock set back"
            );
        }
        let a = n
            .accept(
                NoncePurpose::Authreq,
                later.as_bytes(),
                UnixTime::from_secs(NOW + 3600),
            )
            .map(|_| ());
        assert_eq!(a, None);
    }

    #[test]
    fn capacity_is_clamped() {
        assert_eq!(Nonces::new(&[0; 32], 0, false).capacity, 1);
        let huge = Nonces::new(&[0; 32], usize::MAX, false);
        assert_eq!(huge.capacity, MAX_NONCE_CAPACITY);
        assert!(huge.consumed.entries.capacity() >= PREALLOCATED);
        assert_eq!(huge.consumed.slots.len(), 2 * PREALLOCATED);
    }

    #[test]
    fn explicit_nonces_and_ctx_cache() {
        let mut rng = rng();
        let mut n = Nonces::new(&[6; 32], 1, true);
        n.insert_explicit(Pending {
            purpose: NoncePurpose::Authreq,
            jti: [9; 32],
            exp: NOW + 5,
            scope: Some("x:y".into()),
            ctx: Some("c".into()),
        });
        let a = n
            .accept(NoncePurpose::Authreq, &[9; 32], UnixTime::from_secs(NOW))
            .unwrap();
        assert!(n
            .accept(NoncePurpose::Login, &[9; 32], UnixTime::from_secs(NOW))
            .is_none());
        assert!(n
            .accept(
                NoncePurpose::Authreq,
                &[9; 32],
                UnixTime::from_secs(NOW + 5)
            )
            .is_none());
        assert!(n.scope_matches(&a, "x:y") && !n.scope_matches(&a, "x:z"));
        assert_eq!(n.ctx(&a), Some("c"));
        n.consume(&a, UnixTime::from_secs(NOW));
        assert!(n
            .accept(NoncePurpose::Authreq, &[9; 32], UnixTime::from_secs(NOW))
            .is_none());
        assert!(
            n.consumed.len() == 0,
            "an explicit nonce is removed, not recorded"
        );

        // the ctx cache keeps the newest CTX_CACHE_CAPACITY entries
        let first = n.issue(
            NoncePurpose::Authreq,
            3600,
            Some("s"),
            Some("first".into()),
            UnixTime::from_secs(NOW),
            &mut rng,
        );
        let a = n
            .accept(
                NoncePurpose::Authreq,
                first.as_bytes(),
                UnixTime::from_secs(NOW),
            )
            .unwrap();
        assert_eq!(n.ctx(&a), Some("first"));
        for _ in 0..CTX_CACHE_CAPACITY {
            n.issue(
                NoncePurpose::Authreq,
                3600,
                Some("s"),
                Some("flood".into()),
                UnixTime::from_secs(NOW),
                &mut rng,
            );
        }
        assert_eq!(n.ctx(&a), None, "only the ctx is lost");
        assert!(n
            .accept(
                NoncePurpose::Authreq,
                first.as_bytes(),
                UnixTime::from_secs(NOW)
            )
            .is_some());
        assert_eq!(n.ctx.len(), CTX_CACHE_CAPACITY);
    }

    #[test]
    fn issue_time_beyond_32_bits() {
        let mut rng = rng();
        let mut n = Nonces::new(&[7; 32], 1, false);
        for now in [(1u64 << 32) - 10, 1 << 32, (5 << 32) + 7] {
            let jti = *n
                .issue(
                    NoncePurpose::Login,
                    60,
                    None,
                    None,
                    UnixTime::from_secs(now),
                    &mut rng,
                )
                .as_bytes();
            assert_eq!(
                n.accept(NoncePurpose::Login, &jti, UnixTime::from_secs(now + 30))
                    .map(|a| a.exp),
                Some(now + 60)
            );
            // the same low 32 bits one epoch later: refused
            assert!(n
                .accept(
                    NoncePurpose::Login,
                    &jti,
                    UnixTime::from_secs(now + (1 << 32))
                )
                .is_none());
        }
        assert_eq!(issued_at(5, UnixTime::from_secs(3)), 5);
        assert_eq!(
            issued_at(u32::MAX, UnixTime::from_secs((1 << 32) + 3)),
            u64::from(u32::MAX)
        );
    }
}
