//! The table of nonces the device issued and still accepts (spec §4.2).
//!
//! One bounded queue per purpose. A nonce is accepted only for its own purpose, only while
//! `now < exp`, and only once: the operation that accepts it removes it, and only on success.
//! When a queue is full, issuing a new nonce evicts the oldest one. This bounded table is the
//! design that spec §4.3 replaces with self-authenticating nonces (nothing stored at issue);
//! this table does not implement §4.3.

use alloc::collections::VecDeque;
use alloc::string::String;
use serde::{Deserialize, Serialize};

use crate::nonce::NONCE_BYTES;

/// Default number of pending nonces kept per purpose.
pub const DEFAULT_NONCE_CAPACITY: usize = 64;

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

    const fn index(self) -> usize {
        match self {
            NoncePurpose::Login => 0,
            NoncePurpose::Pairing => 1,
            NoncePurpose::Authreq => 2,
            NoncePurpose::Checkin => 3,
        }
    }
}

/// One issued nonce and what the device remembers with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) jti: [u8; NONCE_BYTES],
    /// Accepted while `now < exp`.
    pub(crate) exp: u64,
    /// For an authreq: the scope as requested (without the key hint), for `RequestedOnly`.
    pub(crate) scope: Option<String>,
    /// For an authreq: the request's `ctx`, for the token when the authreply has none.
    pub(crate) ctx: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct NonceTable {
    capacity: usize,
    queues: [VecDeque<Pending>; 4],
}

impl NonceTable {
    pub(crate) fn new(capacity: usize) -> Self {
        NonceTable {
            capacity: capacity.max(1),
            queues: [const { VecDeque::new() }; 4],
        }
    }

    fn queue(&self, purpose: NoncePurpose) -> Option<&VecDeque<Pending>> {
        self.queues.get(purpose.index())
    }

    /// Records a nonce. With `now`, entries that have expired are dropped first; then the
    /// oldest entries are evicted until there is room.
    pub(crate) fn insert(&mut self, purpose: NoncePurpose, pending: Pending, now: Option<u64>) {
        let capacity = self.capacity;
        let Some(queue) = self.queues.get_mut(purpose.index()) else {
            return;
        };
        queue.retain(|p| p.jti != pending.jti && now.is_none_or(|now| now < p.exp));
        while queue.len() >= capacity {
            queue.pop_front();
        }
        queue.push_back(pending);
    }

    /// The pending nonce `jti` of `purpose`, if it is still accepted at `now`.
    pub(crate) fn find(&self, purpose: NoncePurpose, jti: &[u8], now: u64) -> Option<&Pending> {
        self.queue(purpose)?
            .iter()
            .find(|p| p.jti.as_slice() == jti && now < p.exp)
    }

    /// Removes `jti` (after a successful verification).
    pub(crate) fn consume(&mut self, purpose: NoncePurpose, jti: &[u8]) {
        if let Some(queue) = self.queues.get_mut(purpose.index()) {
            queue.retain(|p| p.jti.as_slice() != jti);
        }
    }

    /// Every pending entry, oldest first within each purpose.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (NoncePurpose, &Pending)> + '_ {
        NoncePurpose::ALL.into_iter().flat_map(move |purpose| {
            self.queue(purpose)
                .into_iter()
                .flatten()
                .map(move |p| (purpose, p))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(b: u8, exp: u64) -> Pending {
        Pending {
            jti: [b; NONCE_BYTES],
            exp,
            scope: None,
            ctx: None,
        }
    }

    #[test]
    fn purpose_expiry_and_eviction() {
        let mut t = NonceTable::new(2);
        t.insert(NoncePurpose::Login, entry(1, 100), Some(0));
        assert!(t.find(NoncePurpose::Login, &[1; 32], 99).is_some());
        assert!(t.find(NoncePurpose::Login, &[1; 32], 100).is_none());
        assert!(t.find(NoncePurpose::Authreq, &[1; 32], 0).is_none());
        t.insert(NoncePurpose::Login, entry(2, 100), Some(0));
        t.insert(NoncePurpose::Login, entry(3, 100), Some(0));
        assert!(
            t.find(NoncePurpose::Login, &[1; 32], 0).is_none(),
            "evicted"
        );
        assert!(t.find(NoncePurpose::Login, &[3; 32], 0).is_some());
        // another purpose has its own room
        t.insert(NoncePurpose::Pairing, entry(4, 100), Some(0));
        assert!(t.find(NoncePurpose::Login, &[2; 32], 0).is_some());
        t.consume(NoncePurpose::Login, &[2; 32]);
        assert!(t.find(NoncePurpose::Login, &[2; 32], 0).is_none());
        // expired entries are purged when a new one is issued
        t.insert(NoncePurpose::Login, entry(5, 300), Some(200));
        assert_eq!(
            t.iter().filter(|(p, _)| *p == NoncePurpose::Login).count(),
            1
        );
    }
}
