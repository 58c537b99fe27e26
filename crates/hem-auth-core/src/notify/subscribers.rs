//! Subscribers (spec §12.6, §6.8): `subscribers/list` and `subscribers/delete`, device and phone
//! forms.

use crate::time::UnixTime;
use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::event::check_mac;
use super::session::Binding;
use super::{parse, same_pid, Empty, NotifyBroker, NotifyError, Reply, NONCE_WINDOW_SECS};
use crate::keys::PublicKey;
use crate::nonce::TimeNonce;

/// One row of `subscribers/list`: `{"pid","kid","label","created"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SubscriberEntry {
    /// The pairing id the broker drew when the phone accepted (spec §6.4).
    pub pid: String,
    /// The device's kid for the phone's key.
    pub kid: String,
    /// The phone's name.
    pub label: String,
    /// When it was finalised (unix seconds).
    pub created: u64,
}

/// `200 [{"pid","kid","label","created"},…]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscriberList(pub Vec<SubscriberEntry>);

impl Reply for SubscriberList {
    fn body(&self) -> String {
        crate::messages::to_json(&self.0)
    }
}

/// Both forms of the subscriber bodies; which members are present decides the form.
#[derive(Deserialize)]
struct SubscriberBody<'a> {
    #[serde(borrow)]
    nonce: Cow<'a, str>,
    #[serde(borrow)]
    mac: Cow<'a, str>,
    #[serde(borrow)]
    epk: Cow<'a, str>,
    #[serde(borrow, default)]
    eid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    aid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pid: Option<Cow<'a, str>>,
}

/// A subscriber call that passed its session and MAC checks: what marks its nonce used.
struct Authenticated {
    /// The eid (device form) or aid (phone form) the call was made for.
    key: PublicKey,
    /// The session's epk, as its table key.
    epk: [u8; 32],
    binding: Binding,
    nonce: [u8; 32],
    /// The time in a device-form nonce.
    time: Option<u64>,
}

/// The table key of a session epk (text as received; the session check has decoded it).
fn session_key(epk: &str) -> Result<[u8; 32], NotifyError> {
    Ok(*PublicKey::from_b64(epk)
        .map_err(|_| NotifyError::WrongSession)?
        .as_bytes())
}

impl NotifyBroker {
    /// The device form's checks, in order: 401 epk not the unexpired eid-bound session of
    /// `eid` ([`NotifyError::WrongSession`]); 401 `mac` ≠ HMAC(X25519(epk_prv, eid), nonce)
    /// ([`NotifyError::BadMac`]); 401 the nonce's LE32 time more than [`NONCE_WINDOW_SECS`]
    /// from now ([`NotifyError::StaleNonce`]); 401 the nonce already used on this session
    /// ([`NotifyError::NonceUsed`]).
    fn check_device_mac(
        &self,
        b: &SubscriberBody<'_>,
        eid: &str,
        now: UnixTime,
    ) -> Result<Authenticated, NotifyError> {
        let eid = PublicKey::from_b64(eid).map_err(|_| NotifyError::WrongSession)?;
        let binding = Binding::Eid(eid);
        let session = self
            .session(&b.epk, binding, now)
            .ok_or(NotifyError::WrongSession)?;
        let nonce = TimeNonce::from_b64(&b.nonce).map_err(|_| NotifyError::BadMac)?;
        check_mac(&session.secret, &eid, &[nonce.as_bytes()], &b.mac)?;
        if u64::from(nonce.time()).abs_diff(now.as_secs()) > NONCE_WINDOW_SECS {
            return Err(NotifyError::StaleNonce);
        }
        if session.nonce_used(nonce.as_bytes()) {
            return Err(NotifyError::NonceUsed);
        }
        Ok(Authenticated {
            key: eid,
            epk: session_key(&b.epk)?,
            binding,
            nonce: *nonce.as_bytes(),
            time: Some(u64::from(nonce.time())),
        })
    }

    /// The phone form's checks, in order: 401 epk not the unexpired aid-bound session of
    /// `aid` ([`NotifyError::WrongSession`]); 401 `mac` ≠ HMAC(X25519(epk_prv, aid), nonce)
    /// ([`NotifyError::BadMac`]); 401 the nonce already used on this session
    /// ([`NotifyError::NonceUsed`]).
    fn check_phone_mac(
        &self,
        b: &SubscriberBody<'_>,
        aid: &str,
        now: UnixTime,
    ) -> Result<Authenticated, NotifyError> {
        let aid = PublicKey::from_b64(aid).map_err(|_| NotifyError::WrongSession)?;
        let binding = Binding::Aid(aid);
        let session = self
            .session(&b.epk, binding, now)
            .ok_or(NotifyError::WrongSession)?;
        let nonce: [u8; 32] =
            crate::codec::decode_fixed(&b.nonce).map_err(|_| NotifyError::BadMac)?;
        check_mac(&session.secret, &aid, &[&nonce], &b.mac)?;
        if session.nonce_used(&nonce) {
            return Err(NotifyError::NonceUsed);
        }
        Ok(Authenticated {
            key: aid,
            epk: session_key(&b.epk)?,
            binding,
            nonce,
            time: None,
        })
    }

    /// The last check of a subscriber call, and its one change to the session: 503
    /// ([`NotifyError::NonceStoreFull`]) when the session cannot remember one more nonce;
    /// otherwise the nonce is remembered.
    fn use_nonce(&mut self, call: &Authenticated, now: UnixTime) -> Result<(), NotifyError> {
        let session = self
            .session_mut(&call.epk, call.binding, now)
            .ok_or(NotifyError::WrongSession)?;
        if session.nonces_full(now) {
            return Err(NotifyError::NonceStoreFull);
        }
        session.use_nonce(call.nonce, call.time, now);
        Ok(())
    }

    /// `POST /notify/subscribers/list {"nonce","mac","eid","epk"}` (the device's `ext/mac`
    /// answer plus the session epk): the subscribers of `eid`. 400 body, then the checks of
    /// the device form (see [`NotifyBroker::subscribers_delete`]). A nonce is accepted once
    /// per session (spec §12.6): listing and then deleting takes two `ext/mac` answers.
    pub fn subscribers_list(
        &mut self,
        body: &[u8],
        now: UnixTime,
    ) -> Result<SubscriberList, NotifyError> {
        let b: SubscriberBody<'_> = parse(body)?;
        let eid = b.eid.as_deref().ok_or(NotifyError::BadBody)?;
        let call = self.check_device_mac(&b, eid, now)?;
        self.use_nonce(&call, now)?;
        Ok(SubscriberList(
            self.subscribers
                .values()
                .filter(|s| s.eid == call.key)
                .map(|s| SubscriberEntry {
                    pid: s.pid.clone(),
                    kid: s.kid.clone(),
                    label: s.label.clone(),
                    created: s.created,
                })
                .collect(),
        ))
    }

    /// `POST /notify/subscribers/delete`: removes one subscriber.
    ///
    /// Device form `{"nonce","mac","eid","epk","pid"}` (chosen when `eid` is present): 400
    /// body; 401 epk not the eid-bound session of `eid`; 401 `mac` ≠ HMAC(X25519(epk_prv,
    /// eid), nonce); 401 nonce time more than [`NONCE_WINDOW_SECS`] from now; 401 nonce
    /// already used on this session; 404 `pid` not a subscriber of `eid`.
    ///
    /// Phone form `{"pid","epk","nonce","mac","aid"}`: 400 body; 401 epk not the aid-bound
    /// session of `aid`; 401 `mac` ≠ HMAC(X25519(epk_prv, aid), nonce) (`nonce` is base64 of
    /// 32 random bytes, no time in it); 401 nonce already used on this session; 404 `pid`
    /// not a subscriber with that aid.
    ///
    /// Both: 503 when the session already remembers [`super::MAX_USED_NONCES`] nonces. On success
    /// the nonce is remembered for as long as the session lives.
    pub fn subscribers_delete(&mut self, body: &[u8], now: UnixTime) -> Result<Empty, NotifyError> {
        let b: SubscriberBody<'_> = parse(body)?;
        let pid = b.pid.as_deref().ok_or(NotifyError::BadBody)?;
        let call = if let Some(eid) = b.eid.as_deref() {
            self.check_device_mac(&b, eid, now)?
        } else {
            let aid = b.aid.as_deref().ok_or(NotifyError::BadBody)?;
            self.check_phone_mac(&b, aid, now)?
        };
        let key = self
            .subscribers
            .values()
            .find(|s| {
                same_pid(&s.pid, pid)
                    && match call.binding {
                        Binding::Aid(_) => s.aid == call.key,
                        _ => s.eid == call.key,
                    }
            })
            .ok_or(NotifyError::NotSubscriber)?
            .pid
            .clone();
        self.use_nonce(&call, now)?;
        self.subscribers.remove(&key);
        Ok(Empty)
    }
}
