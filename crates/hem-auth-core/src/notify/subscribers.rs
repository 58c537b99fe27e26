//! Subscribers (spec §12.6, §6.8): `subscribers/list` and `subscribers/delete`, device and phone
//! forms.

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
    /// The pairing id.
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

impl NotifyBroker {
    /// The device form's checks, in order: 401 epk not the unexpired eid-bound session of
    /// `eid` ([`NotifyError::WrongSession`]); 401 `mac` ≠ HMAC(X25519(epk_prv, eid), nonce)
    /// ([`NotifyError::BadMac`]); 401 the nonce's LE32 time more than [`NONCE_WINDOW_SECS`]
    /// from now ([`NotifyError::StaleNonce`]). Returns the eid.
    fn check_device_mac(
        &self,
        b: &SubscriberBody<'_>,
        eid: &str,
        now: u64,
    ) -> Result<PublicKey, NotifyError> {
        let eid = PublicKey::from_b64(eid).map_err(|_| NotifyError::WrongSession)?;
        let session = self
            .session(&b.epk, Binding::Eid(eid), now)
            .ok_or(NotifyError::WrongSession)?;
        let nonce = TimeNonce::from_b64(&b.nonce).map_err(|_| NotifyError::BadMac)?;
        check_mac(&session.secret, &eid, &[nonce.as_bytes()], &b.mac)?;
        if u64::from(nonce.time()).abs_diff(now) > NONCE_WINDOW_SECS {
            return Err(NotifyError::StaleNonce);
        }
        Ok(eid)
    }

    /// `POST /notify/subscribers/list {"nonce","mac","eid","epk"}` (the device's `ext/mac`
    /// answer plus the session epk): the subscribers of `eid`. 400 body, then the checks of
    /// the device form (see [`NotifyBroker::subscribers_delete`]). A nonce may be used again
    /// within the window (the Manager lists, then deletes, with one `ext/mac`).
    pub fn subscribers_list(&self, body: &[u8], now: u64) -> Result<SubscriberList, NotifyError> {
        let b: SubscriberBody<'_> = parse(body)?;
        let eid = b.eid.as_deref().ok_or(NotifyError::BadBody)?;
        let eid = self.check_device_mac(&b, eid, now)?;
        Ok(SubscriberList(
            self.subscribers
                .values()
                .filter(|s| s.eid == eid)
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
    /// eid), nonce); 401 nonce time more than [`NONCE_WINDOW_SECS`] from now; 404 `pid` not a
    /// subscriber of `eid`.
    ///
    /// Phone form `{"pid","epk","nonce","mac","aid"}`: 400 body; 401 epk not the aid-bound
    /// session of `aid`; 401 `mac` ≠ HMAC(X25519(epk_prv, aid), nonce) (`nonce` is base64 of
    /// 32 random bytes, no time in it); 404 `pid` not a subscriber with that aid.
    pub fn subscribers_delete(&mut self, body: &[u8], now: u64) -> Result<Empty, NotifyError> {
        let b: SubscriberBody<'_> = parse(body)?;
        let pid = b.pid.as_deref().ok_or(NotifyError::BadBody)?;
        let found = if let Some(eid) = b.eid.as_deref() {
            let eid = self.check_device_mac(&b, eid, now)?;
            self.subscribers
                .values()
                .find(|s| s.eid == eid && same_pid(&s.pid, pid))
        } else {
            let aid = b.aid.as_deref().ok_or(NotifyError::BadBody)?;
            let aid = PublicKey::from_b64(aid).map_err(|_| NotifyError::WrongSession)?;
            let session = self
                .session(&b.epk, Binding::Aid(aid), now)
                .ok_or(NotifyError::WrongSession)?;
            let nonce: [u8; 32] =
                crate::codec::decode_fixed(&b.nonce).map_err(|_| NotifyError::BadMac)?;
            check_mac(&session.secret, &aid, &[&nonce], &b.mac)?;
            self.subscribers
                .values()
                .find(|s| s.aid == aid && same_pid(&s.pid, pid))
        };
        let key = found.ok_or(NotifyError::NotSubscriber)?.pid.clone();
        self.subscribers.remove(&key);
        Ok(Empty)
    }
}
