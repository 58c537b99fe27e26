//! Runners of the broker role's kinds: `authreq` (then the authenticator opens its entry) and
//! `login-build`.

use hem_auth_core::UnixTime;
use std::borrow::Cow;

use hem_auth_core::authenticator::{AuthenticatorPairing, Event};
use hem_auth_core::client::{build_login_raw, derive_user_key, ExtAuthState};
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::keys::{PublicKey, SecretKey};

use super::{decide, required, same, Verdict};
use crate::schema::{AuthreqCase, Case, LoginBuildCase};

/// What the broker (and then the authenticator) read from an authreq.
#[derive(Debug)]
struct ReadAuthreq {
    jti: String,
    iat: u64,
    exp: u64,
    ctx: Option<String>,
    scope: Option<String>,
}

/// `authreq`: [`ExtAuthState::verify_authreq`] pinned to the expected eid; then, when the test
/// names an authenticator, [`AuthenticatorPairing::open_event`] on its entry, as the phone
/// receives it from the broker (`{jti, scope, epk, exp}` of this authreq).
pub(super) fn authreq(case: &Case) -> Verdict {
    let c: AuthreqCase = case.read()?;
    let epk_secret = SecretKey::from_b64(&c.epk_private)
        .map_err(|e| format!("`epk_private`: {}", crate::chain(&e)))?;
    // An eid that is no canonical key, or is low-order, is refused where it is decoded (spec
    // §2.5): that refusal is the role's answer to the test, not a malformed test.
    let eid =
        PublicKey::from_b64(&c.eid).map_err(|e| format!("broker: `eid`: {}", crate::chain(&e)));
    let authenticator = match (&c.aid_private, &c.pid) {
        (Some(aid), Some(pid)) => Some((
            SecretKey::from_b64(aid).map_err(|e| format!("`aid_private`: {}", crate::chain(&e)))?,
            pid.as_str(),
        )),
        (None, None) => None,
        _ => return Err("malformed test: `aid_private` and `pid` go together".into()),
    };
    let got = (|| {
        let state = ExtAuthState::from_secret(epk_secret, Some(eid?));
        let untrusted = UntrustedJwt::parse_authreq(&c.authreq)
            .map_err(|e| format!("broker: {}", crate::chain(&e)))?;
        let verified = state
            .verify_authreq(&untrusted, UnixTime::from_secs(c.now))
            .map_err(|e| crate::chain(&e))?;
        let mut read = ReadAuthreq {
            jti: verified.jti().to_string(),
            iat: verified.iat().as_secs(),
            exp: verified.exp().as_secs(),
            ctx: verified.ctx().map(str::to_string),
            scope: None,
        };
        if let Some((aid, pid)) = authenticator {
            let sealed = verified
                .entry(pid)
                .ok_or_else(|| format!("authreq has no entry for pid {pid}"))?;
            let pairing = AuthenticatorPairing::new(pid, verified.eid(), aid)
                .map_err(|e| crate::chain(&e))?;
            let epk = state.epk().to_b64();
            let event = Event {
                jti: Cow::Borrowed(verified.jti()),
                scope: Cow::Borrowed(sealed),
                epk: Cow::Borrowed(&epk),
                exp: verified.exp().as_secs(),
            };
            let opened = pairing
                .open_event(&event, UnixTime::from_secs(c.now))
                .map_err(|e| crate::chain(&e))?;
            read.scope = Some(opened.scope().to_string());
        }
        Ok(read)
    })();
    Ok(decide(case, got, |r| {
        required("jti", c.jti.as_ref(), &r.jti)?;
        required("iat", c.iat.as_ref(), &r.iat)?;
        required("exp", c.exp.as_ref(), &r.exp)?;
        if c.ctx.is_some() {
            same("ctx", Some(&c.ctx), &r.ctx)?;
        }
        if c.scope.is_some() {
            same("scope", Some(&c.scope), &r.scope)?;
        }
        Ok(())
    }))
}

/// `login-build`: [`derive_user_key`] (PBKDF2) and [`build_login_raw`].
pub(super) fn login_build(case: &Case) -> Verdict {
    let c: LoginBuildCase = case.read()?;
    let got = (|| {
        let user = derive_user_key(&c.password, &c.eid);
        let auth = build_login_raw(
            &user,
            &c.spk,
            &c.jti,
            &c.scope,
            UnixTime::from_secs(c.iat),
            UnixTime::from_secs(c.exp),
            None,
        )
        .map_err(|e| crate::chain(&e))?;
        Ok::<_, String>((user.public_key().to_b64(), auth))
    })();
    Ok(decide(case, got, |(iss, auth)| {
        required("iss", c.iss.as_ref(), &iss)?;
        required("auth", c.auth.as_ref(), &auth)
    }))
}
