//! `POST /api/auth/ext/token`: an authreply becomes an access token (spec §5.8–§5.10).

use crate::time::UnixTime;
use rand_core::CryptoRngCore;

use super::{
    bounded, claims_error, parse_body, parse_jwt, verify_error, Accepted, AccessToken, AuditKind,
    Device, DeviceError, Grant, Granted, Malformed, NoncePurpose, Outcome, ScopePolicy,
    MAX_CTX_CHARS,
};
use crate::codec;
use crate::jwt::{HeaderPolicy, UntrustedJwt};
use crate::keys::PublicKey;
use crate::messages::ExtTokenRequest;
use crate::msg::authreply;
use crate::scope;
use crate::seal::{ScopeKey, SealError};

/// Token lifetime when the authreply's `exp` is `0`: 8 h (the firmware's fallback,
/// spec §5.10).
pub const EXT_TOKEN_DEFAULT_LIFETIME_SECS: u64 = 28_800;

impl Device {
    /// `POST /api/auth/ext/token {"authreply": JWT}` → `{"token": …}`.
    ///
    /// Checks, in order (spec §5.9): 403 RTC unset; 409 not initialised; 413;
    /// 400 body, JWT shape, a required claim (`jti`, `pid`, `iss`, `scope`, `exp`) missing or
    /// mistyped (`null` included), pid not 32 bytes, `iss` not a canonical key or low-order
    /// (spec §2.5); 406 pid not paired, `iss` not the paired aid; 401 header
    /// policy, bad MAC (keyed with the stored S1: no Diffie-Hellman here), `aud` present and
    /// not the eid, `jti` not a pending authreq nonce, `exp` not after now (`0` excepted);
    /// 406 scope not scheme `A`, scope does not open, under `RequestedOnly` a scope other
    /// than the requested one, and a token that would exceed [`super::MAX_ACCESS_TOKEN_BYTES`]
    /// ([`DeviceError::TokenTooLarge`]); 503 the consumed-nonce set full (spec §4.3).
    ///
    /// The token: `scope` = the opened scope minus any `#…` hint, `sub` = std-b64 of the
    /// approving key's kid, `exp` = the authreply's verbatim (`0` → now + 8 h), `ctx` = the
    /// authreply's `ctx` when it has one, else the `ctx` of the `ext/request`.
    ///
    /// On success this allocates nothing (unless the authreply's strings carry JSON escapes):
    /// the token and its response body are inline in the [`AccessToken`], the audit event's
    /// text inline in the [`super::AuditEvent`].
    pub fn ext_token(
        &mut self,
        body: &[u8],
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Outcome<AccessToken> {
        let mut granted = Granted::new(AuditKind::AuthSuccessExternal);
        match self.check_ext_token(body, now, rng, &mut granted) {
            Ok(nonce) => {
                self.nonces.consume(&nonce, now);
                Outcome::ok_with(granted.token, granted.event)
            }
            Err(e) => Outcome::err(e),
        }
    }

    /// Every check, then the token (minted into `granted` while the approval's text is still borrowed from
    /// the request: nothing is copied to the heap); the caller commits.
    fn check_ext_token(
        &self,
        body: &[u8],
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
        granted: &mut Granted,
    ) -> Result<Accepted, DeviceError> {
        self.require_rtc()?;
        self.require_initialised()?;
        let req: ExtTokenRequest<'_> = parse_body(body)?;
        let mut jwt = UntrustedJwt::empty();
        parse_jwt(&req.authreply, &mut jwt)?;

        // The claims are read once, here; until the MAC is checked they serve only the key
        // lookup (the firmware finds the EXTAID key before it verifies anything).
        let untrusted = authreply::read(&jwt).map_err(claims_error)?;
        let lookup = untrusted.dangerous_unverified();
        let pid: [u8; 32] = codec::decode_fixed(&lookup.pid).map_err(|_| Malformed::Pid)?;
        // A key that is not canonical or is low-order is 400 (spec §2.5, §5.9 step 8).
        let iss = PublicKey::from_b64(&lookup.iss).map_err(|_| Malformed::Key)?;
        let pairing = self
            .pairing_by_pid(&pid)
            .ok_or(DeviceError::UnknownPairing)?;
        if iss != *pairing.aid() {
            return Err(DeviceError::IssuerMismatch);
        }

        // Everything below reads the claims out of the value the MAC check returns.
        let verified = untrusted
            .verify_with(pairing.s1_mac(), HeaderPolicy::Ecdh)
            .map_err(verify_error)?;
        let claims = verified.claims();
        if let Some(aud) = &claims.aud {
            match PublicKey::from_b64(aud) {
                Ok(aud) if aud == self.eid => {}
                _ => return Err(DeviceError::AudienceMismatch),
            }
        }
        let nonce = self.accept_nonce(NoncePurpose::Authreq, &claims.jti, now)?;
        if claims.exp != 0 && claims.exp <= now.as_secs() {
            return Err(DeviceError::Expired);
        }

        let opened = ScopeKey::derive_with(pairing.s1_mac(), nonce.jti())
            .open(&claims.scope)
            .map_err(|e| match e {
                SealError::UnsupportedScheme => DeviceError::ScopeScheme,
                other => DeviceError::ScopeOpen(other),
            })?;
        let approved = scope::strip_hint(opened.as_str());
        if self.config.scope_policy == ScopePolicy::RequestedOnly
            && !self.nonces.scope_matches(&nonce, approved)
        {
            return Err(DeviceError::ScopeMismatch);
        }

        let exp = if claims.exp == 0 {
            now.as_secs()
                .saturating_add(EXT_TOKEN_DEFAULT_LIFETIME_SECS)
        } else {
            claims.exp
        };
        let mut sub = [0u8; 24];
        let sub = codec::encode_std_into(pairing.kid(), &mut sub).unwrap_or_default();
        let grant = Grant {
            scope: approved,
            sub,
            exp,
            ctx: bounded(claims.ctx.as_deref(), MAX_CTX_CHARS).or(self.nonces.ctx(&nonce)),
        };
        self.grant_token(&grant, now, rng, granted)?;
        self.nonce_room(&nonce, now)?;
        Ok(nonce)
    }
}
