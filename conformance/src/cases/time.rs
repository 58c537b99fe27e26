//! Cases that need time to pass or the device to reboot: nonce lifetimes (spec §4.4), token
//! expiry (§8.1) and what a reboot forgets (§4.6).
//!
//! Against a target with a control API (the embedded emulator; `--control URL` for an
//! external `hem-emulator --control`) they advance the clock or reboot at once. Without one,
//! `--slow` lets the login-challenge case wait out its 60 s; the others are skipped as
//! emulator-only (no real device can be told to skip a day or reboot). They run last: the
//! tokens the run held before are forgotten after each clock jump or reboot.

use std::time::Duration;

use serde_json::json;

use super::{negative, positive, status};
use crate::case::{Abort, Case, Check};
use crate::ctx::{Authenticator, Ctx};
use crate::target::Auth;

/// A login exists and the clock was set (by check-in or at start).
const LOGIN: &[&str] = &["rtc/set", "auth-token/login"];
/// The bearer path every token case reads.
const LIST: &str = "/api/keymgmt/list";
/// The label of the authenticator these cases pair (the earlier ones may be unpaired).
const PHONE: &str = "time-phone";

pub(super) fn cases() -> Vec<Case> {
    vec![
        negative(
            "time/login-challenge-expired",
            "a login answering a challenge more than 60 s old is refused (control API, or --slow waits 61 s)",
            "§7.1, §4.4, §4.2: a login challenge lives 60 s; an expired nonce is 401",
            401,
            LOGIN,
            login_challenge_expired,
        ),
        negative(
            "time/authreq-expired",
            "an authreply to an authreq past its exp is refused (emulator-only: advances the clock by the authreq's lifetime)",
            "§4.4, §5.9, §4.2: an authreq lives 3600 s (900 s for keymgmt:use of a key); an expired nonce is 401",
            401,
            LOGIN,
            authreq_expired,
        ),
        negative(
            "time/pairing-request-expired",
            "a pairing reply to a request more than 86 400 s old is refused (emulator-only: advances the clock a day)",
            "§4.4, §6.6, §4.2: a pairing request lives 86 400 s; an expired nonce is 401",
            401,
            LOGIN,
            pairing_request_expired,
        ),
        negative(
            "time/ext-token-expired",
            "an ext token used after the approved period is refused (emulator-only: advances the clock past its exp)",
            "§8.1, §8.2: a token is valid while now < exp",
            401,
            LOGIN,
            ext_token_expired,
        ),
        negative(
            "time/reboot-kills-token",
            "an access token issued before a reboot is refused after it (emulator-only: reboots)",
            "§4.6: the token key is drawn at every boot",
            401,
            LOGIN,
            reboot_kills_token,
        ),
        negative(
            "time/reboot-kills-nonce",
            "a login answering a challenge issued before a reboot is refused after it (emulator-only: reboots)",
            "§4.6, §4.2: the nonce key is drawn at every boot",
            401,
            LOGIN,
            reboot_kills_nonce,
        ),
        positive(
            "time/reboot-keeps-pairing",
            "a paired authenticator still logs in after a reboot (emulator-only: reboots)",
            "§4.6: pairings survive a reboot",
            200,
            LOGIN,
            reboot_keeps_pairing,
        ),
    ]
}

/// The authenticator these cases use, paired on first use.
fn phone(ctx: &mut Ctx) -> Result<usize, Abort> {
    if let Some(i) = ctx.paired.iter().position(|a| a.label == PHONE) {
        return Ok(i);
    }
    let a: Authenticator = ctx.pair(PHONE)?;
    ctx.paired.push(a);
    Ok(ctx.paired.len() - 1)
}

fn login_challenge_expired(ctx: &mut Ctx) -> Result<Check, Abort> {
    if !ctx.has_control() && !ctx.slow() {
        return Err(Abort::skip(
            "needs the control API (--control URL) or --slow (waits 61 s)",
        ));
    }
    let challenge = ctx.challenge()?;
    let user = ctx.user_key(challenge.parsed.eid_text())?;
    let lifetime = hem_auth_core::device::LOGIN_CHALLENGE_LIFETIME_SECS + 1;
    if ctx.has_control() {
        ctx.advance_clock(lifetime)?;
    } else {
        std::thread::sleep(Duration::from_secs(lifetime));
    }
    let now = ctx.device_now();
    let ejwt = hem_auth_core::client::build_login(
        &user,
        &challenge.parsed,
        "keymgmt:list",
        hem_auth_core::UnixTime::from_secs(now),
        hem_auth_core::UnixTime::from_secs(now + 60),
        None,
    )
    .map_err(|e| Abort::fail(format!("building the eJWT: {e}")))?;
    status(ctx.post_login(&ejwt)?)
}

fn authreq_expired(ctx: &mut Ctx) -> Result<Check, Abort> {
    ctx.require_control("an authreq's expiry (3600 s)")?;
    let index = phone(ctx)?;
    let a = ctx.authenticator(index)?;
    let authreq = ctx.authreq("keymgmt:list")?;
    let lifetime = authreq.exp.saturating_sub(authreq.iat);
    ctx.advance_clock(lifetime + 1)?;
    let exp = ctx.device_now() + 900;
    let authreply = ctx.approve(&a, &authreq, "keymgmt:list", exp)?;
    status(ctx.post_ext_token(&authreply)?)
}

fn pairing_request_expired(ctx: &mut Ctx) -> Result<Check, Abort> {
    ctx.require_control("a pairing request's expiry (86 400 s)")?;
    let token = ctx.token("auth:ext:pair")?;
    let (state, request) = ctx.ext_init(&token)?;
    let (_, reply) = ctx.reply_for(&request, "time-late-phone")?;
    ctx.advance_clock(hem_auth_core::device::PAIRING_REQUEST_LIFETIME_SECS + 1)?;
    // The first token has expired with the day; the new one is fresh.
    let token = ctx.token("auth:ext:pair")?;
    let pid = crate::proto::random_b64_32();
    let r = ctx.target.post(
        "/api/auth/ext/validate",
        state.validate_body(&pid, &reply).as_bytes(),
        Auth::Bearer(&token),
    )?;
    status(r)
}

fn ext_token_expired(ctx: &mut Ctx) -> Result<Check, Abort> {
    ctx.require_control("an ext token's expiry (900 s)")?;
    let index = phone(ctx)?;
    let token = ctx.ext_login(index, "keymgmt:list")?;
    ctx.target
        .get(LIST, Auth::Bearer(&token))?
        .require("the ext token before it expires", 200)?;
    let exp = crate::proto::decode(&token)
        .ok()
        .and_then(|d| d.claims.get("exp").and_then(serde_json::Value::as_u64))
        .ok_or_else(|| Abort::fail("the ext token has no exp"))?;
    let now = ctx.device_now();
    ctx.advance_clock(exp.saturating_sub(now) + 1)?;
    status(ctx.target.get(LIST, Auth::Bearer(&token))?)
}

fn reboot_kills_token(ctx: &mut Ctx) -> Result<Check, Abort> {
    ctx.require_control("a reboot")?;
    let token = ctx.token("keymgmt:list")?;
    ctx.target
        .get(LIST, Auth::Bearer(&token))?
        .require("the token before the reboot", 200)?;
    ctx.reboot()?;
    status(ctx.target.get(LIST, Auth::Bearer(&token))?)
}

fn reboot_kills_nonce(ctx: &mut Ctx) -> Result<Check, Abort> {
    ctx.require_control("a reboot")?;
    let (_, ejwt) = ctx.login_jwt("keymgmt:list", ctx.device_now() + 3600)?;
    ctx.reboot()?;
    status(ctx.post_login(&ejwt)?)
}

fn reboot_keeps_pairing(ctx: &mut Ctx) -> Result<Check, Abort> {
    ctx.require_control("a reboot")?;
    let index = phone(ctx)?;
    ctx.reboot()?;
    let token = ctx.ext_login(index, "keymgmt:list")?;
    let r = ctx.target.get(LIST, Auth::Bearer(&token))?;
    let mut c = Check::status(r.status);
    if r.status == 200 {
        let v = r.json("keymgmt/list")?;
        let kid = ctx.authenticator(index)?.kid;
        let listed = v["list"]
            .as_array()
            .is_some_and(|l| l.iter().any(|k| k["kid"] == json!(kid)));
        c.expect(listed, || format!("the pairing {kid} is not listed: {v}"));
    }
    Ok(c)
}
