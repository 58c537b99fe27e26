//! Broker sessions (spec §12.3; §12.1, §5.1, §6.1, §6.8): `GET /notify/session` (anonymous) and
//! `POST /notify/session {"eid"}` / `{"aid"}` (bound).

use crate::time::UnixTime;
use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::{
    make_room, parse, Aging, NotifyBroker, NotifyError, Reply, MAX_USED_NONCES, NONCE_WINDOW_SECS,
    SESSION_LIFETIME_SECS,
};
use crate::keys::{PublicKey, SecretKey};

/// Whom a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Binding {
    /// `GET /notify/session`: for `event/new`.
    Anonymous,
    /// `POST {"eid"}`: for `register/init` and `subscribers/*` (device form).
    Eid(PublicKey),
    /// `POST {"aid"}`: for `subscribers/delete` (phone form).
    Aid(PublicKey),
}

/// One session: the key pair the broker made, its binding and expiry, and the nonces its
/// subscriber calls have used.
pub(super) struct Session {
    pub(super) secret: SecretKey,
    pub(super) binding: Binding,
    pub(super) exp: u64,
    seq: u64,
    /// The nonces of this session's successful subscriber calls (spec §12.6): at most
    /// [`MAX_USED_NONCES`], kept as long as the session lives.
    used: Vec<UsedNonce>,
}

/// A nonce a subscriber call used.
struct UsedNonce {
    nonce: [u8; 32],
    /// The time inside a device-form (`ext/mac`) nonce; `None` for the phone form's random
    /// nonce, which is kept until the session dies.
    time: Option<u64>,
}

impl Session {
    /// Whether a subscriber call on this session has used `nonce` (spec §12.6: 401).
    pub(super) fn nonce_used(&self, nonce: &[u8; 32]) -> bool {
        self.used.iter().any(|u| u.nonce == *nonce)
    }

    /// Whether this session already remembers [`MAX_USED_NONCES`] nonces at `now`, so that
    /// one more success cannot be recorded (the broker then refuses it, 503, rather than
    /// forget a nonce). Device-form nonces whose window (their time + [`NONCE_WINDOW_SECS`])
    /// has passed are refused by the time check anyway, so they do not count.
    pub(super) fn nonces_full(&self, now: UnixTime) -> bool {
        self.used.iter().filter(|u| !u.forgettable(now)).count() >= MAX_USED_NONCES
    }

    /// Remembers `nonce` (once its call has passed every check, [`Session::nonces_full`]
    /// included),
    /// forgetting the device-form nonces whose window has passed.
    pub(super) fn use_nonce(&mut self, nonce: [u8; 32], time: Option<u64>, now: UnixTime) {
        self.used.retain(|u| !u.forgettable(now));
        self.used.push(UsedNonce { nonce, time });
    }
}

impl UsedNonce {
    /// Whether the time check alone now refuses this nonce (spec §12.6: it may be forgotten).
    fn forgettable(&self, now: UnixTime) -> bool {
        self.time
            .is_some_and(|t| t.saturating_add(NONCE_WINDOW_SECS) < now.as_secs())
    }
}

impl Aging for Session {
    fn seq(&self) -> u64 {
        self.seq
    }
    fn expired(&self, now: UnixTime) -> bool {
        now.as_secs() >= self.exp
    }
}

/// `{"epk","exp"[,"paired"]}`: a session as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session's public key (standard base64).
    pub epk: String,
    /// When it expires (unix seconds).
    pub exp: u64,
    /// Eid-bound sessions only: whether the broker has a subscriber for that eid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired: Option<bool>,
}

impl Reply for SessionInfo {
    fn body(&self) -> String {
        crate::messages::to_json(self)
    }
}

#[derive(Deserialize)]
struct BindBody<'a> {
    #[serde(borrow, default)]
    eid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    aid: Option<Cow<'a, str>>,
}

impl NotifyBroker {
    /// `GET /notify/session`: a new anonymous session, `exp` = now +
    /// [`SESSION_LIFETIME_SECS`]. Never fails.
    pub fn open_session(
        &mut self,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Result<SessionInfo, NotifyError> {
        let (epk, exp) = self.new_session(Binding::Anonymous, now, rng);
        Ok(SessionInfo {
            epk: epk.to_b64(),
            exp,
            paired: None,
        })
    }

    /// `POST /notify/session {"eid"}` or `{"aid"}` (`eid` wins when both are present).
    ///
    /// An eid-bound session is cached: while one for that eid is unexpired, its epk and exp
    /// are returned again, with `paired` = whether that eid has a subscriber. An aid-bound
    /// session is new every time (ours: nothing in the record says it is cached).
    /// 400 ([`NotifyError::BadBody`]) without either member or when it is not base64 of 32
    /// bytes.
    pub fn open_bound_session(
        &mut self,
        body: &[u8],
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Result<SessionInfo, NotifyError> {
        let b: BindBody<'_> = parse(body)?;
        let key = |text: &str| PublicKey::from_b64(text).map_err(|_| NotifyError::BadBody);
        if let Some(eid) = b.eid.as_deref() {
            let eid = key(eid)?;
            let paired = Some(self.subscribers.values().any(|s| s.eid == eid));
            let cached = self
                .sessions
                .iter()
                .find(|(_, s)| s.binding == Binding::Eid(eid) && !s.expired(now));
            let (epk, exp) = match cached {
                Some((epk, s)) => (PublicKey::from_bytes(*epk), s.exp),
                None => self.new_session(Binding::Eid(eid), now, rng),
            };
            return Ok(SessionInfo {
                epk: epk.to_b64(),
                exp,
                paired,
            });
        }
        let aid = key(b.aid.as_deref().ok_or(NotifyError::BadBody)?)?;
        let (epk, exp) = self.new_session(Binding::Aid(aid), now, rng);
        Ok(SessionInfo {
            epk: epk.to_b64(),
            exp,
            paired: None,
        })
    }

    /// Adds a session, evicting expired ones and then the oldest when the table is full.
    fn new_session(
        &mut self,
        binding: Binding,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> (PublicKey, u64) {
        make_room(&mut self.sessions, self.config.max_sessions, now);
        let secret = SecretKey::generate(rng);
        let epk = secret.public_key();
        let exp = now.as_secs().saturating_add(SESSION_LIFETIME_SECS);
        let seq = self.next_seq();
        self.sessions.insert(
            *epk.as_bytes(),
            Session {
                secret,
                binding,
                exp,
                seq,
                used: Vec::new(),
            },
        );
        (epk, exp)
    }

    /// The unexpired session of `epk` (text as received) with exactly this binding.
    pub(super) fn session(&self, epk: &str, binding: Binding, now: UnixTime) -> Option<&Session> {
        let epk = PublicKey::from_b64(epk).ok()?;
        self.sessions
            .get(epk.as_bytes())
            .filter(|s| s.binding == binding && !s.expired(now))
    }

    /// [`NotifyBroker::session`] by the epk's bytes, to change it.
    pub(super) fn session_mut(
        &mut self,
        epk: &[u8; 32],
        binding: Binding,
        now: UnixTime,
    ) -> Option<&mut Session> {
        self.sessions
            .get_mut(epk)
            .filter(|s| s.binding == binding && !s.expired(now))
    }
}
