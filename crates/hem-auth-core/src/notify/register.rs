//! Registration (spec §12.5; §6.1, §6.4): `register/init`, the phone's link, `register/check` and
//! `register/finalise`.

use crate::time::UnixTime;
use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::event::check_mac;
use super::route::link;
use super::session::Binding;
use super::{
    fresh_id, make_room, parse, Aging, Empty, IpInfo, NotifyBroker, NotifyError, Reply, Subscriber,
    REGISTRATION_MAX_SECS,
};
use crate::codec;
use crate::jwt::UntrustedJwt;
use crate::keys::{PublicKey, SecretKey};
use crate::messages::ExtValidateResponse;
use crate::msg;

/// Where a registration stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Waiting,
    Accepted {
        pid: String,
        reply: String,
        aid: PublicKey,
        fid: String,
        label: String,
        finalised: bool,
    },
    Refused,
}

/// One registration: the verified pairing request and the phone's answer so far.
pub(super) struct Registration {
    /// The eid-bound session key the request was addressed to.
    secret: SecretKey,
    eid: PublicKey,
    request: String,
    jti: String,
    exp: u64,
    ip_eid: String,
    state: State,
    seq: u64,
}

impl Aging for Registration {
    fn seq(&self) -> u64 {
        self.seq
    }
    fn expired(&self, now: UnixTime) -> bool {
        now.as_secs() > self.exp
    }
}

/// `200 {"rid","link"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Registered {
    /// The registration id (32 lowercase hex characters).
    pub rid: String,
    /// `<base_url>/notify/register/challenge/<rid>`: what the QR code carries.
    pub link: String,
}

impl Reply for Registered {
    fn body(&self) -> String {
        crate::messages::to_json(self)
    }
}

/// `GET <link>`: `200 {"request","ipinfo_eid"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LinkRequest {
    /// The device's pairing request, verbatim.
    pub request: String,
    /// The address `register/init` came from.
    pub ipinfo_eid: IpInfo,
}

impl Reply for LinkRequest {
    fn body(&self) -> String {
        crate::messages::to_json(self)
    }
}

/// `POST <link>`: `200 {"pid"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LinkAccepted {
    /// The new pairing id: 32 random bytes, standard base64.
    pub pid: String,
}

impl Reply for LinkAccepted {
    fn body(&self) -> String {
        crate::messages::to_json(self)
    }
}

/// `register/check`: 202 `{}` waiting, 200 `{"pid","reply"}` accepted (refused is
/// [`NotifyError::Refused`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationStatus {
    /// The phone has not answered.
    Waiting,
    /// The phone accepted: the body for the device's `ext/validate`, verbatim.
    Accepted {
        /// The pairing id the broker drew when the phone accepted (spec §6.4).
        pid: String,
        /// The phone's reply JWT.
        reply: String,
    },
}

impl Reply for RegistrationStatus {
    fn status(&self) -> u16 {
        match self {
            RegistrationStatus::Waiting => 202,
            RegistrationStatus::Accepted { .. } => 200,
        }
    }
    fn body(&self) -> String {
        #[derive(Serialize)]
        struct Body<'a> {
            pid: &'a str,
            reply: &'a str,
        }
        match self {
            RegistrationStatus::Waiting => String::from("{}"),
            RegistrationStatus::Accepted { pid, reply } => {
                crate::messages::to_json(&Body { pid, reply })
            }
        }
    }
}

#[derive(Deserialize)]
struct InitBody<'a> {
    #[serde(borrow)]
    epk: Cow<'a, str>,
    #[serde(borrow)]
    eid: Cow<'a, str>,
    #[serde(borrow)]
    request: Cow<'a, str>,
}

#[derive(Deserialize)]
struct LinkBody<'a> {
    #[serde(borrow)]
    reply: Cow<'a, str>,
    #[serde(borrow)]
    fid: Cow<'a, str>,
    #[serde(borrow)]
    mac: Cow<'a, str>,
    #[serde(borrow)]
    aid: Cow<'a, str>,
}

/// What a checked link body yields.
struct PhoneAnswer {
    reply: String,
    aid: PublicKey,
    fid: String,
    label: String,
}

impl NotifyBroker {
    /// `POST /notify/register/init {"epk","eid","request"}` (the device's `ext/init` answer
    /// plus the session epk).
    ///
    /// In order: 400 body; 401 epk not the unexpired eid-bound session of that eid
    /// ([`NotifyError::WrongSession`]); 401 `request` not an ECDH JWT with `iss` = eid, `aud` =
    /// epk, keyed X25519(epk_prv, eid), without an expiry, or expired (`exp`, or the v1 `eat`,
    /// ≤ now) ([`NotifyError::BadToken`]): the pairing request's one verifier,
    /// [`crate::msg::pairing_request::verify`] (spec §6.2). The registration lives until the request's expiry, at most
    /// [`REGISTRATION_MAX_SECS`].
    pub fn register_init(
        &mut self,
        body: &[u8],
        peer: &str,
        base_url: &str,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Registered, NotifyError> {
        let b: InitBody<'_> = parse(body)?;
        let eid = PublicKey::from_b64(&b.eid).map_err(|_| NotifyError::WrongSession)?;
        let session = self
            .session(&b.epk, Binding::Eid(eid), now)
            .ok_or(NotifyError::WrongSession)?;
        let secret = session.secret.clone();
        let jwt = UntrustedJwt::parse(&b.request).map_err(|_| NotifyError::BadToken)?;
        let verified = msg::pairing_request::verify(&jwt, &secret, &secret.public_key(), &eid, now)
            .map_err(|_| NotifyError::BadToken)?;
        let claims = verified.claims();
        let exp = claims
            .expiry()
            .map_err(|_| NotifyError::BadToken)?
            .min(now.as_secs().saturating_add(REGISTRATION_MAX_SECS));
        let jti = String::from(claims.jti.as_ref());
        make_room(&mut self.registrations, self.config.max_registrations, now);
        let rid = fresh_id(&self.registrations, rng);
        let seq = self.next_seq();
        self.registrations.insert(
            rid.clone(),
            Registration {
                secret,
                eid,
                request: String::from(b.request.as_ref()),
                jti,
                exp,
                ip_eid: String::from(peer),
                state: State::Waiting,
                seq,
            },
        );
        Ok(Registered {
            link: link(base_url, &rid),
            rid,
        })
    }

    /// The unexpired registration `rid` (404 [`NotifyError::UnknownRegistration`]).
    fn registration(&self, rid: &str, now: UnixTime) -> Result<&Registration, NotifyError> {
        self.registrations
            .get(rid)
            .filter(|r| !r.expired(now))
            .ok_or(NotifyError::UnknownRegistration)
    }

    /// The unexpired, unanswered registration `rid`: 404, then 410 `{}`
    /// ([`NotifyError::AlreadyAnswered`]).
    fn waiting(&self, rid: &str, now: UnixTime) -> Result<&Registration, NotifyError> {
        let r = self.registration(rid, now)?;
        match r.state {
            State::Waiting => Ok(r),
            _ => Err(NotifyError::AlreadyAnswered),
        }
    }

    /// `GET <link>`: the pairing request (404 unknown/expired; 410 `{}` already answered).
    pub fn register_link(&self, rid: &str, now: UnixTime) -> Result<LinkRequest, NotifyError> {
        let r = self.waiting(rid, now)?;
        Ok(LinkRequest {
            request: r.request.clone(),
            ipinfo_eid: IpInfo::of(&r.ip_eid),
        })
    }

    /// The checks of `POST` and `DELETE <link>`, in order: 400 body; 404 unknown/expired; 410
    /// `{}` already answered; 401 `mac` ≠ HMAC(X25519(epk_prv, aid), reply ‖ fid); 400 the
    /// reply is not a JWT whose unverified `jti` is the request's and `iss` is `aid`.
    fn check_link_body(
        &self,
        rid: &str,
        body: &[u8],
        now: UnixTime,
    ) -> Result<PhoneAnswer, NotifyError> {
        let b: LinkBody<'_> = parse(body)?;
        let r = self.waiting(rid, now)?;
        let aid = PublicKey::from_b64(&b.aid).map_err(|_| NotifyError::BadMac)?;
        check_mac(
            &r.secret,
            &aid,
            &[b.reply.as_bytes(), b.fid.as_bytes()],
            &b.mac,
        )?;
        let jwt = UntrustedJwt::parse(&b.reply).map_err(|_| NotifyError::Mismatch)?;
        let read = msg::pairing_reply::read(&jwt).map_err(|_| NotifyError::Mismatch)?;
        // Unverified read: the broker holds no S1 (spec §12.5); `jti` and `iss` only match the
        // reply to its registration, after the phone's `mac` over it checked above.
        let claims = read.dangerous_unverified();
        if claims.jti != r.jti || PublicKey::from_b64(&claims.iss).ok() != Some(aid) {
            return Err(NotifyError::Mismatch);
        }
        Ok(PhoneAnswer {
            reply: String::from(b.reply.as_ref()),
            aid,
            fid: String::from(b.fid.as_ref()),
            label: String::from(claims.label.as_ref()),
        })
    }

    /// `POST <link> {"reply","fid","mac","aid"}`: the phone accepts; answers a fresh pid
    /// (checks as described on `DELETE`, [`NotifyBroker::register_refuse`]).
    pub fn register_answer(
        &mut self,
        rid: &str,
        body: &[u8],
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Result<LinkAccepted, NotifyError> {
        let answer = self.check_link_body(rid, body, now)?;
        let mut raw = [0u8; 32];
        rng.fill_bytes(&mut raw);
        let pid = codec::encode_std(&raw);
        if let Some(r) = self.registrations.get_mut(rid) {
            r.state = State::Accepted {
                pid: pid.clone(),
                reply: answer.reply,
                aid: answer.aid,
                fid: answer.fid,
                label: answer.label,
                finalised: false,
            };
        }
        Ok(LinkAccepted { pid })
    }

    /// `DELETE <link>` (same body as `POST`): the phone refuses.
    ///
    /// In order: 400 body; 404 unknown/expired; 410 `{}` already answered; 401 `mac` ≠
    /// HMAC(X25519(epk_prv, aid), reply ‖ fid) ([`NotifyError::BadMac`]); 400 the reply is not
    /// a JWT whose unverified `jti` is the request's and `iss` is `aid`
    /// ([`NotifyError::Mismatch`]).
    pub fn register_refuse(
        &mut self,
        rid: &str,
        body: &[u8],
        now: UnixTime,
    ) -> Result<Empty, NotifyError> {
        self.check_link_body(rid, body, now)?;
        if let Some(r) = self.registrations.get_mut(rid) {
            r.state = State::Refused;
        }
        Ok(Empty)
    }

    /// `GET /notify/register/check/{rid}`: 404 unknown/expired; 202 waiting; 200
    /// `{"pid","reply"}` accepted (also after finalise); 410 `{}` refused
    /// ([`NotifyError::Refused`]).
    pub fn register_check(
        &self,
        rid: &str,
        now: UnixTime,
    ) -> Result<RegistrationStatus, NotifyError> {
        let r = self.registration(rid, now)?;
        match &r.state {
            State::Waiting => Ok(RegistrationStatus::Waiting),
            State::Accepted { pid, reply, .. } => Ok(RegistrationStatus::Accepted {
                pid: pid.clone(),
                reply: reply.clone(),
            }),
            State::Refused => Err(NotifyError::Refused),
        }
    }

    /// `POST /notify/register/finalise/{rid} {"kid","code"}` (the device's `ext/validate`
    /// answer): the pid becomes a subscriber.
    ///
    /// In order: 400 body; 404 unknown/expired; 409 not accepted, refused or already
    /// finalised ([`NotifyError::NotAccepted`]); 401 `code` ≠ HMAC(X25519(epk_prv, eid), reply)
    /// ([`NotifyError::BadMac`]).
    pub fn register_finalise(
        &mut self,
        rid: &str,
        body: &[u8],
        now: UnixTime,
    ) -> Result<Empty, NotifyError> {
        let b: ExtValidateResponse<'_> = parse(body)?;
        let r = self.registration(rid, now)?;
        let State::Accepted {
            pid,
            reply,
            aid,
            fid,
            label,
            finalised: false,
        } = &r.state
        else {
            return Err(NotifyError::NotAccepted);
        };
        check_mac(&r.secret, &r.eid, &[reply.as_bytes()], &b.code)?;
        // A device holds at most SUBSCRIBERS_PER_DEVICE pairings: its oldest subscriber beyond
        // that is stale and makes room. Decide before changing anything.
        let mut of_device: Vec<(u64, &String)> = self
            .subscribers
            .values()
            .filter(|s| s.eid == r.eid)
            .map(|s| (s.created, &s.pid))
            .collect();
        of_device.sort();
        let stale = (of_device.len() >= super::SUBSCRIBERS_PER_DEVICE)
            .then(|| of_device.first().map(|(_, pid)| (*pid).clone()))
            .flatten();
        let after = self.subscribers.len() - usize::from(stale.is_some()) + 1;
        if !self.subscribers.contains_key(pid) && after > self.config.max_subscribers {
            return Err(NotifyError::TooManySubscribers);
        }
        let sub = Subscriber {
            pid: pid.clone(),
            eid: r.eid,
            aid: *aid,
            fid: fid.clone(),
            kid: String::from(b.kid.as_ref()),
            label: label.clone(),
            created: now.as_secs(),
        };
        if let Some(stale) = &stale {
            self.subscribers.remove(stale);
        }
        self.subscribers.insert(sub.pid.clone(), sub);
        if let Some(State::Accepted { finalised, .. }) =
            self.registrations.get_mut(rid).map(|r| &mut r.state)
        {
            *finalised = true;
        }
        Ok(Empty)
    }
}
