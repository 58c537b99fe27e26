//! The authenticator role (the phone, spec §5.7, §6.4): answer a pairing request, open a
//! login event, show its scope safely, approve or deny.

use hem_auth_core::{Access, Seconds, UnixTime};
use std::borrow::Cow;
use std::rc::Rc;

use hem_auth_core::authenticator::{
    self as core_auth, AuthenticatorPairing as CorePairing, Event, PairingReply,
    UnverifiedPairingRequest as CoreRequest, PERIODS,
};
use hem_auth_core::claims::PairingRequestClaims;
use hem_auth_core::keys::{PublicKey, SecretKey};
use hem_auth_core::scope::DisplayScope;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::error::{Failure, Outcome};
use crate::js::{self, IntoJs, JsResult};
use crate::random;

/// An event as the notify broker hands it to the phone: `{jti, scope, epk, exp}`.
#[derive(Serialize)]
pub(crate) struct EventData<'a> {
    pub(crate) jti: &'a str,
    pub(crate) scope: &'a str,
    pub(crate) epk: &'a str,
    pub(crate) exp: u64,
}

/// A pairing request as the phone reads it: **unverified** (spec §6.4), since the phone has no
/// key for it yet. A forged request gains nothing: the reply is keyed so that only the holder
/// of the claimed eid (and, for the MAC, of the claimed broker session) can check it.
#[wasm_bindgen]
pub struct UnverifiedPairingRequest {
    inner: CoreRequest,
}

#[wasm_bindgen]
impl UnverifiedPairingRequest {
    /// Reads a pairing request JWT without verifying it (the JWT's shape, `iss` and `aud`
    /// 32-byte keys, `jti` base64).
    pub fn parse(
        #[wasm_bindgen(unchecked_param_type = "string")] request: JsValue,
    ) -> JsResult<UnverifiedPairingRequest> {
        (|| {
            let text = js::string(&request, "request")?;
            Ok(UnverifiedPairingRequest {
                inner: CoreRequest::parse(&text)?,
            })
        })()
        .js()
    }

    /// Builds the request from its payload (`{jti, exp | eat, aud, iss}`), as JSON text or an
    /// object.
    #[wasm_bindgen(js_name = fromClaims)]
    pub fn from_claims(
        #[wasm_bindgen(unchecked_param_type = "string | PairingRequestClaims")] claims: JsValue,
    ) -> JsResult<UnverifiedPairingRequest> {
        (|| {
            let text = js::json_text(&claims, "claims")?;
            let claims: PairingRequestClaims<'_> = serde_json::from_str(&text).map_err(|e| {
                Failure::new("jwt.invalid_claims", format!("pairing request claims: {e}"))
            })?;
            Ok(UnverifiedPairingRequest {
                inner: CoreRequest::from_claims(&claims)?,
            })
        })()
        .js()
    }

    /// The device's identity key (`iss`).
    #[wasm_bindgen(getter, unchecked_return_type = "Base64")]
    pub fn eid(&self) -> String {
        self.inner.eid().to_b64()
    }

    /// The client's pairing session key (`aud`).
    #[wasm_bindgen(getter, unchecked_return_type = "Base64")]
    pub fn epk(&self) -> String {
        self.inner.epk().to_b64()
    }

    /// The device's nonce, verbatim.
    #[wasm_bindgen(getter)]
    pub fn jti(&self) -> String {
        self.inner.jti().to_string()
    }

    /// The expiry (`exp`, else the v1 vectors' `eat`), if the request has one.
    #[wasm_bindgen(getter, unchecked_return_type = "UnixSeconds | undefined")]
    pub fn expiry(&self) -> Option<f64> {
        self.inner.expiry().map(js::number)
    }

    /// Whether the request has an expiry and `now` is past it.
    #[wasm_bindgen(js_name = isExpired)]
    pub fn is_expired(
        &self,
        #[wasm_bindgen(unchecked_param_type = "UnixSeconds")] now: JsValue,
    ) -> JsResult<bool> {
        (|| {
            Ok(self
                .inner
                .is_expired(UnixTime::from_secs(js::seconds(&now, "now")?)))
        })()
        .js()
    }

    /// Answers the request with a fresh key pair for this pairing (WebCrypto randomness):
    /// `reply` for the device, `mac` over `reply ‖ fid` for the broker, `aid`. `label` is the
    /// phone's name (1–32 printable ASCII characters), `fid` its push token.
    pub fn reply(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] label: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] fid: JsValue,
    ) -> JsResult<PairingAnswer> {
        (|| {
            let aid = SecretKey::generate(&mut random::operation_rng()?);
            self.answer(aid, &label, &fid)
        })()
        .js()
    }

    /// `UnverifiedPairingRequest.reply` with a given private key (standard base64): test
    /// vectors, or a key made elsewhere.
    #[wasm_bindgen(js_name = replyWithKey)]
    pub fn reply_with_key(
        &self,
        #[wasm_bindgen(js_name = aidPrivateKey, unchecked_param_type = "Base64")]
        aid_private_key: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] label: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] fid: JsValue,
    ) -> JsResult<PairingAnswer> {
        (|| {
            let aid = SecretKey::from_b64(&js::string(&aid_private_key, "aidPrivateKey")?)?;
            self.answer(aid, &label, &fid)
        })()
        .js()
    }
}

impl UnverifiedPairingRequest {
    fn answer(&self, aid: SecretKey, label: &JsValue, fid: &JsValue) -> Outcome<PairingAnswer> {
        let label = js::string(label, "label")?;
        let fid = js::string(fid, "fid")?;
        let reply = core_auth::reply_to_pairing(&aid, &self.inner, &label, &fid)?;
        Ok(PairingAnswer {
            reply,
            fid,
            aid,
            eid: *self.inner.eid(),
        })
    }
}

/// The phone's answer to a pairing request, and the key it made for the pairing.
#[wasm_bindgen]
pub struct PairingAnswer {
    reply: PairingReply,
    fid: String,
    aid: SecretKey,
    eid: PublicKey,
}

#[wasm_bindgen]
impl PairingAnswer {
    /// The reply JWT for the device (keyed X25519(aid, eid)).
    #[wasm_bindgen(getter)]
    pub fn reply(&self) -> String {
        self.reply.reply.clone()
    }

    /// HMAC-SHA256(X25519(aid, epk), reply ‖ fid), standard base64: for the broker.
    #[wasm_bindgen(getter, unchecked_return_type = "Base64")]
    pub fn mac(&self) -> String {
        self.reply.mac.clone()
    }

    /// The phone's public key for this pairing.
    #[wasm_bindgen(getter, unchecked_return_type = "Base64")]
    pub fn aid(&self) -> String {
        self.reply.aid.to_b64()
    }

    /// The push token the MAC covers.
    #[wasm_bindgen(getter)]
    pub fn fid(&self) -> String {
        self.fid.clone()
    }

    /// The body of `POST link` (accept) or `DELETE link` (refuse):
    /// `{"reply","fid","mac","aid"}`.
    #[wasm_bindgen(getter)]
    pub fn body(&self) -> String {
        self.reply.post_body(&self.fid)
    }

    /// The pairing to keep once the broker has assigned its `pid` (the `POST link` answer).
    pub fn pair(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] pid: JsValue,
    ) -> JsResult<AuthenticatorPairing> {
        (|| AuthenticatorPairing::make(&js::string(&pid, "pid")?, self.eid, self.aid.clone()))()
            .js()
    }
}

/// What the phone keeps per device: `pid`, the device's `eid`, and its own private key.
#[wasm_bindgen]
pub struct AuthenticatorPairing {
    inner: Rc<CorePairing>,
    aid: SecretKey,
}

impl AuthenticatorPairing {
    fn make(pid: &str, eid: PublicKey, aid: SecretKey) -> Outcome<AuthenticatorPairing> {
        Ok(AuthenticatorPairing {
            inner: Rc::new(CorePairing::new(pid, eid, aid.clone())?),
            aid,
        })
    }
}

#[wasm_bindgen]
impl AuthenticatorPairing {
    /// A pairing from what the phone stored: the pid, the device's eid and the phone's
    /// private key (standard base64, see `AuthenticatorPairing.exportPrivateKey`).
    #[wasm_bindgen(js_name = fromPrivateKey)]
    pub fn from_private_key(
        #[wasm_bindgen(unchecked_param_type = "string")] pid: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Base64")] eid: JsValue,
        #[wasm_bindgen(js_name = aidPrivateKey, unchecked_param_type = "Base64")]
        aid_private_key: JsValue,
    ) -> JsResult<AuthenticatorPairing> {
        (|| {
            let pid = js::string(&pid, "pid")?;
            let eid = PublicKey::from_b64(&js::string(&eid, "eid")?)?;
            let aid = SecretKey::from_b64(&js::string(&aid_private_key, "aidPrivateKey")?)?;
            AuthenticatorPairing::make(&pid, eid, aid)
        })()
        .js()
    }

    /// The pairing id, as the broker assigned it.
    #[wasm_bindgen(getter)]
    pub fn pid(&self) -> String {
        self.inner.pid().to_string()
    }

    /// The pid's URL-path form (spec §2.1), for `/notify/event/data/<eventid>/<pidx>`.
    #[wasm_bindgen(getter)]
    pub fn pidx(&self) -> String {
        self.inner.pidx()
    }

    /// The device's identity key.
    #[wasm_bindgen(getter, unchecked_return_type = "Base64")]
    pub fn eid(&self) -> String {
        self.inner.eid().to_b64()
    }

    /// The phone's public key for this pairing.
    #[wasm_bindgen(getter, unchecked_return_type = "Base64")]
    pub fn aid(&self) -> String {
        self.inner.aid().to_b64()
    }

    /// The phone's private key, standard base64, to store the pairing (keep it secret).
    #[wasm_bindgen(js_name = exportPrivateKey, unchecked_return_type = "Base64")]
    pub fn export_private_key(&self) -> String {
        hem_auth_core::codec::encode_std(self.aid.to_bytes().as_slice())
    }

    /// Opens a login event (spec §5.7): the event body as the broker sent it (JSON text), or
    /// the object. Refuses an expired event first (`now > exp`), then a bad `jti` or `epk`,
    /// then a sealed scope that does not open under this pairing (tag checked in constant
    /// time).
    #[wasm_bindgen(js_name = openEvent)]
    pub fn open_event(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | AuthEvent")] event: JsValue,
        #[wasm_bindgen(unchecked_param_type = "UnixSeconds")] now: JsValue,
    ) -> JsResult<OpenedEvent> {
        (|| {
            let text = js::json_text(&event, "event")?;
            let now = js::seconds(&now, "now")?;
            let event = Event::parse(&text)?;
            let opened = self.inner.open_event(&event, UnixTime::from_secs(now))?;
            let scope = opened.scope().to_string();
            let event = Event {
                jti: Cow::Owned(event.jti.into_owned()),
                scope: Cow::Owned(event.scope.into_owned()),
                epk: Cow::Owned(event.epk.into_owned()),
                exp: event.exp,
            };
            Ok(OpenedEvent {
                pairing: Rc::clone(&self.inner),
                event,
                scope,
                answered: false,
            })
        })()
        .js()
    }
}

/// A scope as the phone shows it (spec §8.6).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DisplayedScopeJs {
    text: String,
    scope: String,
    hint_label: Option<String>,
    hint_type: Option<String>,
    suspicious: bool,
}

fn displayed(plaintext: &str) -> Outcome<JsValue> {
    let shown = DisplayScope::new(plaintext);
    js::to_js(&DisplayedScopeJs {
        text: shown.to_string(),
        scope: shown.scope().to_string(),
        hint_label: shown.hint_label().map(|l| l.to_string()),
        hint_type: shown.hint_type().map(|t| t.to_string()),
        suspicious: shown.is_suspicious(),
    })
}

/// A scope (an opened event's, or a granted one) as a person may see it (spec §8.6): every
/// character outside printable ASCII escaped, the device's key hint shown apart as a hint, and
/// `suspicious` when no device following the spec would have sealed it.
#[wasm_bindgen(js_name = displayScope, unchecked_return_type = "DisplayedScope")]
pub fn display_scope(
    #[wasm_bindgen(unchecked_param_type = "string")] plaintext: JsValue,
) -> JsResult<JsValue> {
    (|| displayed(&js::string(&plaintext, "plaintext")?))().js()
}

/// The access periods the phone app offers, in seconds: 15 min (the default), 1 h, 8 h, 24 h.
#[wasm_bindgen(js_name = accessPeriods, unchecked_return_type = "number[]")]
pub fn access_periods() -> js_sys::Array {
    PERIODS
        .iter()
        .map(|&p| JsValue::from_f64(js::number(p.get())))
        .collect()
}

/// A login event whose sealed scope opened: it awaits the person's decision, and is answered
/// once (`OpenedEvent.approve` or `OpenedEvent.deny`).
#[wasm_bindgen]
pub struct OpenedEvent {
    pairing: Rc<CorePairing>,
    event: Event<'static>,
    scope: String,
    answered: bool,
}

#[derive(Serialize)]
struct ApprovalJs<'a> {
    scope: &'a str,
    authreply: &'a str,
    mac: &'a str,
    exp: u64,
    body: String,
}

#[wasm_bindgen]
impl OpenedEvent {
    /// The event's jti, verbatim.
    #[wasm_bindgen(getter)]
    pub fn jti(&self) -> String {
        self.event.jti.to_string()
    }

    /// The event's expiry.
    #[wasm_bindgen(getter, unchecked_return_type = "UnixSeconds")]
    pub fn exp(&self) -> f64 {
        js::number(self.event.exp)
    }

    /// The requested scope exactly as sealed, key hint included. **Not for display**: it may
    /// hold anything a requester managed to have sealed, control characters included; show
    /// `OpenedEvent.display`.
    #[wasm_bindgen(getter, js_name = rawScope)]
    pub fn raw_scope(&self) -> String {
        self.scope.clone()
    }

    /// The scope as the person sees it: see `displayScope`.
    #[wasm_bindgen(getter, unchecked_return_type = "DisplayedScope")]
    pub fn display(&self) -> JsResult<JsValue> {
        displayed(&self.scope).js()
    }

    /// Whether the event has been approved or denied.
    #[wasm_bindgen(getter)]
    pub fn answered(&self) -> bool {
        self.answered
    }

    /// Approves for `periodSecs` (normally one of `accessPeriods`), with write access
    /// (`:rw`, for `storage:*`) when `writable` (spec §5.7). Returns the authreply for the
    /// device, the broker MAC, and `body` for `POST /notify/event/data/<eventid>/<pidx>`.
    /// Refuses `now > exp`, a zero period, and a second answer (`input.consumed`).
    #[wasm_bindgen(unchecked_return_type = "Approval")]
    pub fn approve(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "UnixSeconds")] now: JsValue,
        #[wasm_bindgen(js_name = periodSecs, unchecked_param_type = "number")] period_secs: JsValue,
        #[wasm_bindgen(unchecked_param_type = "boolean")] writable: JsValue,
    ) -> JsResult<JsValue> {
        (|| {
            self.unanswered()?;
            let now = js::seconds(&now, "now")?;
            let period = js::seconds(&period_secs, "periodSecs")?;
            let writable = js::boolean(&writable, "writable")?;
            // The core's opened event borrows the pairing; this one owns the event, so it is
            // opened again (same checks, same key) for the answer.
            let approval = self
                .pairing
                .open_event(&self.event, UnixTime::from_secs(now))?
                .approve(
                    UnixTime::from_secs(now),
                    Seconds::new(period),
                    Access::from_writable(writable),
                )?;
            self.answered = true;
            js::to_js(&ApprovalJs {
                scope: &approval.scope,
                authreply: &approval.authreply,
                mac: &approval.mac,
                exp: approval.exp.as_secs(),
                body: approval.post_body(),
            })
        })()
        .js()
    }

    /// Denies: nothing is signed, the phone answers `DELETE
    /// /notify/event/data/<eventid>/<pidx>`. Returns the denied event's jti.
    pub fn deny(&mut self) -> JsResult<String> {
        (|| {
            self.unanswered()?;
            self.answered = true;
            Ok(self.event.jti.to_string())
        })()
        .js()
    }
}

impl OpenedEvent {
    fn unanswered(&self) -> Outcome<()> {
        if self.answered {
            return Err(Failure::new(
                "input.consumed",
                "this event has already been answered",
            ));
        }
        Ok(())
    }
}
