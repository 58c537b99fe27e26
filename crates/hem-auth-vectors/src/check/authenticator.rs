//! Runners of the authenticator role's kinds: `authreply-build` and `pairing-reply-build`.

use hem_auth_core::{Access, Seconds, UnixTime};
use std::borrow::Cow;

use hem_auth_core::authenticator::{
    reply_to_pairing, AuthenticatorPairing, Event, UnverifiedPairingRequest,
};
use hem_auth_core::claims::PairingRequestClaims;
use hem_auth_core::keys::{PublicKey, SecretKey};
use serde_json::Value;

use super::{decide, required, Verdict};
use crate::schema::{AuthreplyBuildCase, Case, PairingReplyBuildCase};

/// `authreply-build`: [`AuthenticatorPairing::new`], [`AuthenticatorPairing::open_event`],
/// [`hem_auth_core::authenticator::OpenedEvent::approve`]; compared byte for byte.
pub(super) fn authreply_build(case: &Case) -> Verdict {
    let c: AuthreplyBuildCase = case.read()?;
    let aid = SecretKey::from_b64(&c.aid_private)
        .map_err(|e| format!("`aid_private`: {}", crate::chain(&e)))?;
    // An eid that is no canonical key, or is low-order, is refused where it is decoded (spec
    // §2.5): that refusal is the role's answer to the test, not a malformed test.
    let eid = PublicKey::from_b64(&c.eid).map_err(|e| format!("`eid`: {}", crate::chain(&e)));
    let got = (|| {
        let pairing = AuthenticatorPairing::new(&c.pid, eid?, aid).map_err(|e| crate::chain(&e))?;
        let event = Event {
            jti: Cow::Borrowed(&c.event.jti),
            scope: Cow::Borrowed(&c.event.scope),
            epk: Cow::Borrowed(&c.event.epk),
            exp: c.event.exp,
        };
        let opened = pairing
            .open_event(&event, UnixTime::from_secs(c.now))
            .map_err(|e| crate::chain(&e))?;
        opened
            .approve(
                UnixTime::from_secs(c.now),
                Seconds::new(c.period),
                Access::from_writable(c.writable),
            )
            .map_err(|e| crate::chain(&e))
    })();
    Ok(decide(case, got, |a| {
        required("scope", c.scope.as_ref(), &a.scope)?;
        required("authreply", c.authreply.as_ref(), &a.authreply)?;
        required("mac", c.mac.as_ref(), &a.mac)
    }))
}

/// `pairing-reply-build`: [`UnverifiedPairingRequest::parse`] (a JWT) or
/// [`UnverifiedPairingRequest::from_claims`] (a payload object), then [`reply_to_pairing`].
pub(super) fn pairing_reply_build(case: &Case) -> Verdict {
    let c: PairingReplyBuildCase = case.read()?;
    let aid = SecretKey::from_b64(&c.aid_private)
        .map_err(|e| format!("`aid_private`: {}", crate::chain(&e)))?;
    let payload_text = match &c.request {
        Value::String(_) => None,
        Value::Object(_) => Some(c.request.to_string()),
        other => {
            return Err(format!(
                "malformed test: `request` is neither a JWT nor an object: {other}"
            ))
        }
    };
    let got = (|| {
        let request = match (&c.request, &payload_text) {
            (Value::String(jwt), _) => UnverifiedPairingRequest::parse(jwt),
            (_, Some(text)) => {
                let claims: PairingRequestClaims<'_> = serde_json::from_str(text)
                    .map_err(|e| format!("request payload: {}", crate::chain(&e)))?;
                UnverifiedPairingRequest::from_claims(&claims)
            }
            _ => return Err("unreachable request shape".to_string()),
        }
        .map_err(|e| crate::chain(&e))?;
        reply_to_pairing(&aid, &request, &c.label, &c.fid).map_err(|e| crate::chain(&e))
    })();
    Ok(decide(case, got, |r| {
        required("reply", c.reply.as_ref(), &r.reply)?;
        required("mac", c.mac.as_ref(), &r.mac)?;
        required("aid", c.aid.as_ref(), &r.aid.to_b64())
    }))
}
