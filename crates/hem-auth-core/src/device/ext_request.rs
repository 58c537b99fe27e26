//! `POST /api/auth/ext/request`: the authreq (spec §5.2–§5.6).

use crate::time::UnixTime;
use alloc::borrow::Cow;
use alloc::string::String;
use rand_core::CryptoRngCore;

use super::{bounded, parse_body, Device, DeviceError, Malformed, NoncePurpose, Outcome};
use crate::claims::{AuthreqClaims, ScopeMap};
use crate::messages::{ExtRequest, ExtRequestResponse};
use crate::scope::{self, KeyHint, MAX_REQUEST_SCOPE_CHARS};
use crate::seal::ScopeKey;

use super::pairing::KEY_TYPE_X25519_PUBLIC;

/// Lifetime of an authreq: `exp = iat + 3600` (spec §4.4).
pub const AUTHREQ_LIFETIME_SECS: u64 = 3600;
/// Lifetime of an authreq for exactly `keymgmt:use:<kid>` of an existing key: 900 s
/// (spec §4.4, §5.4, live-measured by the C client).
pub const AUTHREQ_USE_LIFETIME_SECS: u64 = 900;
/// Longest `ctx` kept, in characters; longer or empty ones are dropped (spec §5.2).
pub const MAX_CTX_CHARS: usize = 64;
/// Longest `note` kept, in characters; longer or empty ones are dropped (spec §5.2).
pub const MAX_NOTE_CHARS: usize = 128;

impl Device {
    /// `POST /api/auth/ext/request {epk, scope[, ctx][, note]}` → `{authreq, epk}`.
    ///
    /// Checks (spec §5.5): 403 RTC unset, 409 not initialised, 413, 400 (body; `epk` not a
    /// canonical 32-byte key, low-order, or the eid, spk or a paired aid; scope missing, empty,
    /// over 1023, or with a character outside `0x21`–`0x7E` or a `#`, spec §8.6). The body's
    /// `exp` and any other member
    /// are ignored (spec §5.2). The authreq carries one sealed entry per pairing, keyed by
    /// pid (an empty map when nothing is paired). A request for exactly `keymgmt:use:<kid>` of
    /// a paired authenticator key gets the key hint and 900 s; any other scope (including
    /// an unknown kid, spec §5.4) is sealed as is with 3600 s.
    pub fn ext_request(
        &mut self,
        body: &[u8],
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Outcome<ExtRequestResponse<'static>> {
        let plan = match self.check_ext_request(body) {
            Ok(p) => p,
            Err(e) => return Outcome::err(e),
        };
        let exp = now.as_secs().saturating_add(plan.lifetime);
        let jti = self.issue_nonce(
            NoncePurpose::Authreq,
            plan.lifetime,
            Some(&plan.requested),
            plan.ctx.clone(),
            now,
            rng,
        );
        let mut map = ScopeMap::new();
        for pairing in &self.pairings {
            let key = ScopeKey::derive_with(pairing.s1_mac(), jti.as_bytes());
            // The plaintext is at most 1023 + a short hint, below the sealing limit.
            let sealed = key.seal(&plan.plaintext).unwrap_or_default();
            map.push(Cow::Borrowed(pairing.pid_b64()), Cow::Owned(sealed));
        }
        let epk_b64 = plan.epk_b64;
        let claims = AuthreqClaims {
            iss: Cow::Borrowed(&self.eid_b64),
            aud: Cow::Borrowed(&epk_b64),
            iat: now.as_secs(),
            exp,
            jti: Cow::Owned(jti.to_b64()),
            ctx: plan.ctx.as_deref().map(Cow::Borrowed),
            note: plan.note.as_deref().map(Cow::Borrowed),
            scope: map,
        };
        let authreq = crate::msg::authreq::build(&claims, plan.key.as_bytes());
        Outcome::ok(ExtRequestResponse {
            authreq: Cow::Owned(authreq),
            epk: Cow::Owned(epk_b64),
        })
    }

    fn check_ext_request(&self, body: &[u8]) -> Result<AuthreqPlan, DeviceError> {
        self.require_rtc()?;
        self.require_initialised()?;
        let req: ExtRequest<'_> = parse_body(body)?;
        let (epk, key) = self.session_epk_secret(&req.epk)?;
        let requested: &str = &req.scope;
        scope::check_requested(requested, MAX_REQUEST_SCOPE_CHARS).map_err(scope_error)?;
        let hinted_key = scope::use_kid(requested).and_then(|kid| {
            self.pairings
                .iter()
                .find(|p| super::pairing::kid_from_hex(kid).as_ref() == Some(p.kid()))
        });
        let (plaintext, lifetime) = match hinted_key {
            Some(p) => {
                let mut text = String::from(requested);
                text.push_str(&KeyHint::new(KEY_TYPE_X25519_PUBLIC, p.label()).to_suffix());
                (text, AUTHREQ_USE_LIFETIME_SECS)
            }
            None => (String::from(requested), AUTHREQ_LIFETIME_SECS),
        };
        Ok(AuthreqPlan {
            epk_b64: epk.to_b64(),
            key,
            requested: String::from(requested),
            plaintext,
            lifetime,
            ctx: bounded(req.ctx.as_deref(), MAX_CTX_CHARS).map(String::from),
            note: bounded(req.note.as_deref(), MAX_NOTE_CHARS).map(String::from),
        })
    }
}

/// A checked `ext/request`.
struct AuthreqPlan {
    epk_b64: String,
    key: crate::keys::SharedSecret,
    requested: String,
    plaintext: String,
    lifetime: u64,
    ctx: Option<String>,
    note: Option<String>,
}

/// The device's 400 for a requested scope outside the grammar (spec §8.6): the length, or a
/// character.
pub(super) fn scope_error(e: scope::ScopeError) -> DeviceError {
    match e {
        scope::ScopeError::Empty | scope::ScopeError::TooLong => Malformed::Scope.into(),
        _ => Malformed::ScopeCharacter.into(),
    }
}
