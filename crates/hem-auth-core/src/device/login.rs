//! Password (or master-key) login: `GET` and `POST /api/auth/token` (spec §7.1, §7.3).

use crate::time::UnixTime;
use alloc::borrow::Cow;
use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;

use super::{
    bounded, claims_error, parse_body, parse_jwt, verify_error, Accepted, AccessToken, AuditKind,
    Device, DeviceError, Grant, Granted, Malformed, NoncePurpose, Outcome, MAX_CTX_CHARS,
};
use crate::jwt::{HeaderPolicy, UntrustedJwt};
use crate::keys::PublicKey;
use crate::messages::{AuthChallenge, AuthTokenRequest};
use crate::msg::login;
use crate::scope::{self, MAX_LOGIN_SCOPE_CHARS};

/// Lifetime of a login challenge: its `exp` is now + 60 (spec §7.1, §4.4).
pub const LOGIN_CHALLENGE_LIFETIME_SECS: u64 = 60;

impl Device {
    fn login_gate(&self) -> Result<(), DeviceError> {
        if self.config.trusted_time {
            self.require_rtc()?;
        }
        self.require_initialised()
    }

    /// `GET /api/auth/token`: a login challenge `{exp, spk, jti, lbl, eid}`.
    ///
    /// 403 when trusted time is on and the RTC is unset; 409 when not initialised.
    pub fn auth_token_challenge(
        &mut self,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Outcome<AuthChallenge<'static>> {
        if let Err(e) = self.login_gate() {
            return Outcome::err(e);
        }
        let exp = now.as_secs().saturating_add(LOGIN_CHALLENGE_LIFETIME_SECS);
        let jti = self.issue_nonce(
            NoncePurpose::Login,
            LOGIN_CHALLENGE_LIFETIME_SECS,
            None,
            None,
            now,
            rng,
        );
        Outcome::ok(AuthChallenge {
            exp,
            spk: Cow::Owned(self.spk_b64.clone()),
            jti: Cow::Owned(jti.to_b64()),
            lbl: Cow::Owned(self.config.label.clone()),
            eid: Cow::Owned(self.eid_b64.clone()),
        })
    }

    /// `POST /api/auth/token {"auth": eJWT}`: a token for the user (`sub` `U`) or master
    /// (`sub` `M`) key, with the eJWT's scope and `exp` verbatim.
    ///
    /// Checks, in order: 403 (trusted time and RTC unset), 409, 413, 400 (body, JWT, claims,
    /// scope 1..=127 characters of `0x21`–`0x7E` without `#` (spec §8.6), `iss` not a canonical
    /// key or low-order (spec §2.5)), then 401: header policy, MAC under X25519(spk_prv,
    /// `iss`), `iss` is
    /// the user or master key (constant-time compare), `jti` a pending login nonce, `exp`
    /// after now (so `0` is refused, spec §7.3); 406 a token too large; 503 the consumed-nonce
    /// set full (spec §4.3).
    pub fn auth_token(
        &mut self,
        body: &[u8],
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Outcome<AccessToken> {
        let request: AuthTokenRequest<'_> = match self.login_gate().and_then(|()| parse_body(body))
        {
            Ok(r) => r,
            Err(e) => return Outcome::err(e),
        };
        let mut granted = Granted::new(AuditKind::AuthSuccessInternal);
        match self.check_login(&request.auth, now, rng, &mut granted) {
            Ok(nonce) => {
                self.nonces.consume(&nonce, now);
                Outcome::ok_with(granted.token, granted.event)
            }
            Err(e) => Outcome::err(e),
        }
    }

    /// Every check, then the token (into `granted`); the caller commits.
    fn check_login(
        &self,
        auth: &str,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
        granted: &mut Granted,
    ) -> Result<Accepted, DeviceError> {
        let mut jwt = UntrustedJwt::empty();
        parse_jwt(auth, &mut jwt)?;
        // The claims are read once, here; until the MAC is checked they serve only the scope's
        // shape (400 before 401, as the firmware) and the key lookup.
        let untrusted = login::read(&jwt).map_err(claims_error)?;
        let lookup = untrusted.dangerous_unverified();
        scope::check_requested(&lookup.scope, MAX_LOGIN_SCOPE_CHARS)
            .map_err(super::ext_request::scope_error)?;
        // A key that is not canonical or is low-order is 400 (spec §2.5, §7.4 step 8).
        let iss = PublicKey::from_b64(&lookup.iss).map_err(|_| Malformed::Key)?;
        let key = self
            .session
            .diffie_hellman(&iss)
            .map_err(|_| Malformed::Key)?;
        // Everything below reads the claims out of the value the MAC check returns.
        let verified = untrusted
            .verify(key.as_bytes(), HeaderPolicy::Ecdh)
            .map_err(verify_error)?;
        let claims = verified.claims();
        let is = |k: &Option<PublicKey>| {
            k.as_ref()
                .is_some_and(|k| bool::from(k.as_bytes().ct_eq(iss.as_bytes())))
        };
        let sub = if is(&self.config.user_key) {
            "U"
        } else if is(&self.config.master_key) {
            "M"
        } else {
            return Err(DeviceError::UnknownIssuer);
        };
        let nonce = self.accept_nonce(NoncePurpose::Login, &claims.jti, now)?;
        if claims.exp <= now.as_secs() {
            return Err(DeviceError::Expired);
        }
        let grant = Grant {
            scope: &claims.scope,
            sub,
            exp: claims.exp,
            ctx: bounded(claims.ctx.as_deref(), MAX_CTX_CHARS),
        };
        self.grant_token(&grant, now, rng, granted)?;
        self.nonce_room(&nonce, now)?;
        Ok(nonce)
    }
}
