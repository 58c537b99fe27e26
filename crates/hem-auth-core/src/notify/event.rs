//! Remote login events (spec §12.4; §5.1, §5.7): `event/new`, `event/check`, `DELETE event`, and the
//! phone's `event/data/…`.

use crate::time::UnixTime;
use alloc::borrow::Cow;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::session::Binding;
use super::{
    fresh_id, make_room, parse, same_pid, Aging, Empty, IpInfo, NotifyBroker, NotifyError, Reply,
};
use crate::client::ExtAuthState;
use crate::codec;
use crate::jwt::UntrustedJwt;
use crate::keys::{PublicKey, SecretKey};
use crate::messages::ExtRequestResponse;
use crate::msg;

/// Where an event stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Pending,
    Approved { authreply: String, ip_aid: String },
    Denied,
    Cancelled,
}

/// One event: what `event/new` verified, and the answer so far.
pub(super) struct EventRecord {
    /// The session key the authreq was addressed to (kept: the session may be evicted).
    secret: SecretKey,
    epk: PublicKey,
    eid: PublicKey,
    jti: String,
    exp: u64,
    /// `(pid, sealed scope)` in the device's order.
    entries: Vec<(String, String)>,
    ip_eid: String,
    state: State,
    seq: u64,
}

impl Aging for EventRecord {
    fn seq(&self) -> u64 {
        self.seq
    }
    fn expired(&self, now: UnixTime) -> bool {
        now.as_secs() > self.exp
    }
}

impl EventRecord {
    /// The sealed scope of the pid named in a path (either base64 spelling).
    fn entry(&self, pidx: &str) -> Option<&(String, String)> {
        self.entries.iter().find(|(pid, _)| same_pid(pid, pidx))
    }
}

/// `200 {"eventid","sentcnt","ipinfo_you"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventCreated {
    /// The event id (32 lowercase hex characters).
    pub eventid: String,
    /// How many pids of the scope map are subscribers of the authreq's `iss`.
    pub sentcnt: usize,
    /// The caller's address.
    pub ipinfo_you: IpInfo,
}

impl Reply for EventCreated {
    fn body(&self) -> String {
        crate::messages::to_json(self)
    }
}

/// `event/check`: 202 `{}` pending, 200 `{"authreply","ipinfo_aid","ipinfo_eid"}` approved,
/// 200 `{"deny":true}` denied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventStatus {
    /// No phone has answered yet.
    Pending,
    /// A phone approved: its authreply, verbatim, for `ext/token`.
    Approved {
        /// The phone's JWT.
        authreply: String,
        /// The approving phone's address.
        ipinfo_aid: IpInfo,
        /// The address `event/new` came from.
        ipinfo_eid: IpInfo,
    },
    /// A phone denied.
    Denied,
}

impl Reply for EventStatus {
    fn status(&self) -> u16 {
        match self {
            EventStatus::Pending => 202,
            _ => 200,
        }
    }
    fn body(&self) -> String {
        #[derive(Serialize)]
        struct Approved<'a> {
            authreply: &'a str,
            ipinfo_aid: &'a IpInfo,
            ipinfo_eid: &'a IpInfo,
        }
        match self {
            EventStatus::Pending => String::from("{}"),
            EventStatus::Approved {
                authreply,
                ipinfo_aid,
                ipinfo_eid,
            } => crate::messages::to_json(&Approved {
                authreply,
                ipinfo_aid,
                ipinfo_eid,
            }),
            EventStatus::Denied => String::from(r#"{"deny":true}"#),
        }
    }
}

/// `allbypid`: event id → the asked pids its scope map names (`{"eventid":[]}` when empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EventsByPid {
    /// Event id → pids, as the scope map spells them.
    pub eventid: BTreeMap<String, Vec<String>>,
}

impl EventsByPid {
    /// The phone's reading of an `allbypid` answer: `{"eventid":{"<id>":["<pid>",…]}}`, or
    /// `{"eventid":[]}` when there is nothing (spec §5.1, §12.4). Event ids that could not be a path
    /// segment (anything but 1 to 64 ASCII letters, digits, `-` and `_`) are dropped, so a
    /// hostile broker cannot steer the phone's next request elsewhere.
    ///
    /// Rejects anything else with [`NotifyError::BadBody`] (a non-empty list included).
    pub fn parse(body: &[u8]) -> Result<Self, NotifyError> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Ids {
            Map(BTreeMap<String, Vec<String>>),
            List(Vec<serde::de::IgnoredAny>),
        }
        #[derive(Deserialize)]
        struct Body {
            eventid: Ids,
        }
        let b: Body = parse(body)?;
        let eventid = match b.eventid {
            Ids::Map(map) => map
                .into_iter()
                .filter(|(id, _)| {
                    (1..=64).contains(&id.len())
                        && id
                            .bytes()
                            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
                })
                .collect(),
            Ids::List(list) if list.is_empty() => BTreeMap::new(),
            Ids::List(_) => return Err(NotifyError::BadBody),
        };
        Ok(EventsByPid { eventid })
    }

    /// Every `(eventid, pid)` pair, in id order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.eventid
            .iter()
            .flat_map(|(id, pids)| pids.iter().map(move |p| (id.as_str(), p.as_str())))
    }
}

impl Reply for EventsByPid {
    fn body(&self) -> String {
        if self.eventid.is_empty() {
            // Spec §5.1: the real broker answers an empty list, not an empty object.
            return String::from(r#"{"eventid":[]}"#);
        }
        #[derive(Serialize)]
        struct Body<'a> {
            eventid: &'a BTreeMap<String, Vec<String>>,
        }
        crate::messages::to_json(&Body {
            eventid: &self.eventid,
        })
    }
}

/// `200 {"jti","scope","epk","exp","ipinfo_eid"}`: one phone's view of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventData {
    /// The authreq's nonce.
    pub jti: String,
    /// This pid's sealed scope.
    pub scope: String,
    /// The session key (keys the approval MAC).
    pub epk: String,
    /// The authreq's expiry.
    pub exp: u64,
    /// The address `event/new` came from.
    pub ipinfo_eid: IpInfo,
}

impl Reply for EventData {
    fn body(&self) -> String {
        crate::messages::to_json(self)
    }
}

#[derive(Deserialize)]
struct PidList {
    pid: Vec<String>,
}

#[derive(Deserialize)]
struct AnswerBody<'a> {
    #[serde(borrow)]
    authreply: Cow<'a, str>,
    #[serde(borrow)]
    mac: Cow<'a, str>,
}

impl NotifyBroker {
    /// `POST /notify/event/new {"authreq","epk"}` (the device's `ext/request` answer).
    ///
    /// In order: 400 body; 404 epk not an anonymous unexpired session
    /// ([`NotifyError::UnknownSession`]); 401 the authreq is not an ECDH JWT from `iss` keyed
    /// X25519(epk_prv, iss), its `aud` is not the epk, `exp` ≤ `iat` or `exp` ≤ now, or `jti`
    /// is not a 32-byte nonce ([`NotifyError::BadToken`]); 401 `iat` > now
    /// ([`NotifyError::NotYetValid`]); 409 an event with that `jti` exists.
    pub fn event_new(
        &mut self,
        body: &[u8],
        peer: &str,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Result<EventCreated, NotifyError> {
        let b: ExtRequestResponse<'_> = parse(body)?;
        let session = self
            .session(&b.epk, Binding::Anonymous, now)
            .ok_or(NotifyError::UnknownSession)?;
        let secret = session.secret.clone();
        // Up to the largest authreq a device emits (spec §3.6), not the 4096 of other JWTs.
        let untrusted =
            UntrustedJwt::parse_authreq(&b.authreq).map_err(|_| NotifyError::BadToken)?;
        let state = ExtAuthState::from_secret(secret.clone(), None);
        let verified = state
            .verify_authreq(&untrusted, now)
            .map_err(|_| NotifyError::BadToken)?;
        if verified.iat() > now {
            return Err(NotifyError::NotYetValid {
                iat: verified.iat(),
                now,
            });
        }
        if self.events.values().any(|e| e.jti == verified.jti()) {
            return Err(NotifyError::DuplicateEvent);
        }
        let eid = verified.eid();
        let entries: Vec<(String, String)> = verified
            .entries()
            .map(|(p, s)| (String::from(p), String::from(s)))
            .collect();
        let sentcnt = entries
            .iter()
            .filter(|(pid, _)| {
                self.subscribers
                    .values()
                    .any(|s| s.eid == eid && same_pid(&s.pid, pid))
            })
            .count();
        let record = EventRecord {
            epk: state.epk(),
            secret,
            eid,
            jti: String::from(verified.jti()),
            exp: verified.exp().as_secs(),
            entries,
            ip_eid: String::from(peer),
            state: State::Pending,
            seq: 0,
        };
        make_room(&mut self.events, self.config.max_events, now);
        let eventid = fresh_id(&self.events, rng);
        let seq = self.next_seq();
        self.events
            .insert(eventid.clone(), EventRecord { seq, ..record });
        Ok(EventCreated {
            eventid,
            sentcnt,
            ipinfo_you: IpInfo::of(peer),
        })
    }

    /// `GET /notify/event/check/{eventid}`. 404 ([`NotifyError::UnknownEvent`]) when the
    /// event is unknown, expired (now > the authreq's `exp`) or cancelled.
    pub fn event_check(&self, eventid: &str, now: UnixTime) -> Result<EventStatus, NotifyError> {
        let e = self
            .events
            .get(eventid)
            .filter(|e| !e.expired(now))
            .ok_or(NotifyError::UnknownEvent)?;
        Ok(match &e.state {
            State::Pending => EventStatus::Pending,
            State::Approved { authreply, ip_aid } => EventStatus::Approved {
                authreply: authreply.clone(),
                ipinfo_aid: IpInfo::of(ip_aid),
                ipinfo_eid: IpInfo::of(&e.ip_eid),
            },
            State::Denied => EventStatus::Denied,
            State::Cancelled => return Err(NotifyError::UnknownEvent),
        })
    }

    /// `DELETE /notify/event/{eventid}`: cancels the event (404 when unknown). The phone's
    /// calls then answer 410 `{"reason":"cancelled"}` and `check` 404.
    pub fn event_cancel(&mut self, eventid: &str) -> Result<Empty, NotifyError> {
        let e = self
            .events
            .get_mut(eventid)
            .ok_or(NotifyError::UnknownEvent)?;
        e.state = State::Cancelled;
        Ok(Empty)
    }

    /// `POST /notify/event/data/allbypid {"pid":[…]}`: the pending, unexpired events whose
    /// scope map names one of the pids. 400 when `pid` is not an array of strings.
    pub fn events_by_pid(&self, body: &[u8], now: UnixTime) -> Result<EventsByPid, NotifyError> {
        let b: PidList = parse(body)?;
        let mut out = EventsByPid::default();
        for (id, e) in &self.events {
            if e.state != State::Pending || e.expired(now) {
                continue;
            }
            let named: Vec<String> = e
                .entries
                .iter()
                .filter(|(pid, _)| b.pid.iter().any(|asked| same_pid(pid, asked)))
                .map(|(pid, _)| pid.clone())
                .collect();
            if !named.is_empty() {
                out.eventid.insert(id.clone(), named);
            }
        }
        Ok(out)
    }

    /// The checks every phone call on an event makes, in order: 404 unknown or expired event,
    /// or pid not in its map; 410 cancelled; 410 `{}` already answered.
    fn open_event(
        &self,
        eventid: &str,
        pidx: &str,
        now: UnixTime,
    ) -> Result<(&EventRecord, &(String, String)), NotifyError> {
        let e = self
            .events
            .get(eventid)
            .filter(|e| !e.expired(now))
            .ok_or(NotifyError::UnknownEvent)?;
        let entry = e.entry(pidx).ok_or(NotifyError::UnknownEvent)?;
        match e.state {
            State::Pending => Ok((e, entry)),
            State::Cancelled => Err(NotifyError::Cancelled),
            State::Approved { .. } | State::Denied => Err(NotifyError::AlreadyAnswered),
        }
    }

    /// `GET /notify/event/data/{eventid}/{pidx}`: the phone's view of the event (checks as
    /// [`NotifyBroker::event_answer`] up to the subscriber check).
    pub fn event_data(
        &self,
        eventid: &str,
        pidx: &str,
        now: UnixTime,
    ) -> Result<EventData, NotifyError> {
        let (e, (_, sealed)) = self.open_event(eventid, pidx, now)?;
        Ok(EventData {
            jti: e.jti.clone(),
            scope: sealed.clone(),
            epk: e.epk.to_b64(),
            exp: e.exp,
            ipinfo_eid: IpInfo::of(&e.ip_eid),
        })
    }

    /// `POST /notify/event/data/{eventid}/{pidx} {"authreply","mac"}`: approves; the first
    /// answer wins.
    ///
    /// In order: 400 body; 404 unknown/expired event or pid not in its map; 410 cancelled;
    /// 410 `{}` already answered; 404 pid not a subscriber of the event's device
    /// ([`NotifyError::NotSubscriber`]); 401 `mac` ≠ HMAC(X25519(epk_prv, aid), authreply)
    /// ([`NotifyError::BadMac`]); 400 the authreply is not a JWT whose unverified `jti` and
    /// `pid` are the event's and the path's ([`NotifyError::Mismatch`]).
    pub fn event_answer(
        &mut self,
        eventid: &str,
        pidx: &str,
        body: &[u8],
        peer: &str,
        now: UnixTime,
    ) -> Result<Empty, NotifyError> {
        let b: AnswerBody<'_> = parse(body)?;
        let (e, (pid, _)) = self.open_event(eventid, pidx, now)?;
        let sub = self
            .subscribers
            .values()
            .find(|s| s.eid == e.eid && same_pid(&s.pid, pid))
            .ok_or(NotifyError::NotSubscriber)?;
        check_mac(&e.secret, &sub.aid, &[b.authreply.as_bytes()], &b.mac)?;
        let jwt = UntrustedJwt::parse(&b.authreply).map_err(|_| NotifyError::Mismatch)?;
        let read = msg::authreply::read(&jwt).map_err(|_| NotifyError::Mismatch)?;
        // Unverified read: the broker holds no S1 (spec §12.4); `jti` and `pid` only file the
        // answer under its event, after the phone's `mac` over the authreply checked above.
        let claims = read.dangerous_unverified();
        if claims.jti != e.jti || !same_pid(&claims.pid, pid) {
            return Err(NotifyError::Mismatch);
        }
        let state = State::Approved {
            authreply: String::from(b.authreply.as_ref()),
            ip_aid: String::from(peer),
        };
        if let Some(e) = self.events.get_mut(eventid) {
            e.state = state;
        }
        Ok(Empty)
    }

    /// `DELETE /notify/event/data/{eventid}/{pidx}`: denies (checks as
    /// [`NotifyBroker::event_data`]).
    pub fn event_deny(
        &mut self,
        eventid: &str,
        pidx: &str,
        now: UnixTime,
    ) -> Result<Empty, NotifyError> {
        self.open_event(eventid, pidx, now)?;
        if let Some(e) = self.events.get_mut(eventid) {
            e.state = State::Denied;
        }
        Ok(Empty)
    }
}

/// Checks a phone or device MAC: `mac` (standard base64 of 32 bytes) = HMAC-SHA256 under
/// X25519(`secret`, `peer`) over the concatenation of `parts`, in constant time. A `mac` that
/// does not decode, or a low-order peer key, fails like a wrong MAC.
pub(super) fn check_mac(
    secret: &SecretKey,
    peer: &PublicKey,
    parts: &[&[u8]],
    mac: &str,
) -> Result<(), NotifyError> {
    let tag: [u8; 32] = codec::decode_fixed(mac).map_err(|_| NotifyError::BadMac)?;
    let key = secret
        .diffie_hellman(peer)
        .map_err(|_| NotifyError::BadMac)?;
    if crate::mac::mac_verify(key.as_bytes(), parts, &tag) {
        Ok(())
    } else {
        Err(NotifyError::BadMac)
    }
}
