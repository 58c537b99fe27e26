//! Broker sessions (spec §12.3; §12.1, §5.1, §6.1, §6.8): `GET /notify/session` (anonymous) and
//! `POST /notify/session {"eid"}` / `{"aid"}` (bound).

use alloc::borrow::Cow;
use alloc::string::String;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::{make_room, parse, Aging, NotifyBroker, NotifyError, Reply, SESSION_LIFETIME_SECS};
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

/// One session: the key pair the broker made, its binding and expiry.
pub(super) struct Session {
    pub(super) secret: SecretKey,
    pub(super) binding: Binding,
    pub(super) exp: u64,
    seq: u64,
}

impl Aging for Session {
    fn seq(&self) -> u64 {
        self.seq
    }
    fn expired(&self, now: u64) -> bool {
        now >= self.exp
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
        now: u64,
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
        now: u64,
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
        now: u64,
        rng: &mut impl CryptoRngCore,
    ) -> (PublicKey, u64) {
        make_room(&mut self.sessions, self.config.max_sessions, now);
        let secret = SecretKey::generate(rng);
        let epk = secret.public_key();
        let exp = now.saturating_add(SESSION_LIFETIME_SECS);
        let seq = self.next_seq();
        self.sessions.insert(
            *epk.as_bytes(),
            Session {
                secret,
                binding,
                exp,
                seq,
            },
        );
        (epk, exp)
    }

    /// The unexpired session of `epk` (text as received) with exactly this binding.
    pub(super) fn session(&self, epk: &str, binding: Binding, now: u64) -> Option<&Session> {
        let epk = PublicKey::from_b64(epk).ok()?;
        self.sessions
            .get(epk.as_bytes())
            .filter(|s| s.binding == binding && !s.expired(now))
    }
}
