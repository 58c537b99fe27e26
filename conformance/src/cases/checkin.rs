//! The RTC-unset phase and check-in (spec §4.5, §9.4, §9.5).
//!
//! A device whose clock is unset must refuse the external-authenticator endpoints with 403
//! before looking at anything else. The runner then plays the check-in backend with the key
//! it was given and sets the clock the documented way.

use hem_auth_core::claims::CheckedClaims;
use hem_auth_core::jwt::{self, Header};
use hem_auth_core::keys::PublicKey;
use serde_json::{json, Value};

use super::{key_field, negative, nonce_time, positive, status};
use crate::case::{Abort, Case, Check};
use crate::ctx::Ctx;
use crate::proto;
use crate::target::Auth;

pub(super) fn cases() -> Vec<Case> {
    vec![
        negative(
            "rtc/ext-request-unset",
            "with the RTC unset, ext/request answers 403",
            "§5.5, §4.5: ext/request 403 (RTC unset)",
            403,
            &["system/status"],
            ext_request_unset,
        ),
        negative(
            "rtc/ext-request-unset-malformed",
            "with the RTC unset, a malformed ext/request still answers 403 (RTC is checked first)",
            "§4.5: 403 first, before anything else is checked",
            403,
            &["system/status"],
            ext_request_unset_malformed,
        ),
        negative(
            "rtc/ext-token-unset",
            "with the RTC unset, ext/token answers 403 even for a garbage authreply",
            "§5.9, §4.5: ext/token 403 (RTC unset)",
            403,
            &["system/status"],
            ext_token_unset,
        ),
        positive(
            "checkin/get",
            "GET /api/system/checkin answers {check}: a device ECDH JWT with a nonce jti and iss = spk",
            "§9.4, §3.2: check-in step 1; the device ECDH header",
            200,
            &["system/status"],
            checkin_get,
        ),
        negative(
            "checkin/forged",
            "a `checked` signed by a key that is not the backend's is refused and sets no clock",
            "§9.5, §10.1: a checked not signed by the backend is 401 (failed proof)",
            401,
            &["system/status"],
            checkin_forged,
        )
        .advisory(),
        positive(
            "checkin/post",
            "the runner, as backend, answers the check; the device takes it and sets its RTC to `iat`",
            "§9.5, §9.4: check-in step 3; the RTC is set from iat",
            200,
            &["checkin/get"],
            checkin_post,
        ),
        positive(
            "checkin/flood-keeps-check",
            "a check fetched before 200 anonymous GET /api/system/checkin is still accepted when answered",
            "§4.3, §9.5: issuing a check-in nonce stores nothing, so no flood of checks invalidates a pending one",
            200,
            &["checkin/post"],
            checkin_flood_keeps_check,
        )
        .advisory(),
        positive(
            "rtc/set",
            "the device's RTC is set (it was, or check-in set it): the auth endpoints can work",
            "§9.4, §4.5: the RTC is needed for authentication",
            200,
            &["system/status"],
            rtc_set,
        ),
    ]
}

fn require_unset(ctx: &Ctx) -> Result<(), Abort> {
    match ctx.rtc_unset_at_start {
        Some(true) => Ok(()),
        _ => Err(Abort::skip(
            "the target's RTC was already set at the start (needs an RTC-unset device, e.g. the embedded emulator)",
        )),
    }
}

fn ext_request_unset(ctx: &mut Ctx) -> Result<Check, Abort> {
    require_unset(ctx)?;
    let epk = proto::fresh_key();
    status(ctx.post_ext_request(&epk, "keymgmt:list", &[])?)
}

fn ext_request_unset_malformed(ctx: &mut Ctx) -> Result<Check, Abort> {
    require_unset(ctx)?;
    status(
        ctx.target
            .post("/api/auth/ext/request", b"{\"epk\":", Auth::None)?,
    )
}

fn ext_token_unset(ctx: &mut Ctx) -> Result<Check, Abort> {
    require_unset(ctx)?;
    // A well-formed but unverifiable authreply: only the clock check can reject it first.
    let fake_eid = proto::fresh_key().public_key();
    let aid = proto::fresh_key();
    let s1 = proto::shared(&aid, &fake_eid).map_err(Abort::fail)?;
    let now = proto::host_now();
    let reply = proto::authreply(
        &s1,
        &fake_eid,
        &proto::random_b64_32(),
        now + 900,
        now,
        &proto::random_b64_32(),
        &aid.public_key(),
        "Aabc",
    );
    status(ctx.post_ext_token(&reply)?)
}

/// The `check` of `GET /api/system/checkin`, decoded, with its `spk`.
fn get_check(ctx: &mut Ctx) -> Result<(Value, proto::Decoded, PublicKey), Abort> {
    let r = ctx
        .target
        .get("/api/system/checkin", Auth::None)?
        .require("GET /api/system/checkin", 200)?;
    let body = r.json("checkin")?;
    let check = r.field("checkin", "check")?;
    let d = proto::decode(&check).map_err(Abort::fail)?;
    let spk = d
        .str("iss")
        .and_then(|s| PublicKey::from_b64(s).ok())
        .ok_or_else(|| Abort::fail(format!("check has no 32-byte iss: {}", d.claims)))?;
    Ok((body, d, spk))
}

fn checkin_get(ctx: &mut Ctx) -> Result<Check, Abort> {
    let r = ctx.target.get("/api/system/checkin", Auth::None)?;
    let mut c = Check::status(r.status);
    if r.status != 200 {
        return Ok(c);
    }
    let check = r.field("checkin", "check")?;
    match proto::decode(&check) {
        Ok(d) => {
            let header = Header::Device.json();
            c.expect(d.header == header, || {
                format!("check header {} instead of {header}", d.header)
            });
            nonce_time(&mut c, "check jti", d.str("jti"));
            key_field(&mut c, "check iss", d.str("iss"));
            if let Ok(ch) = ctx.challenge() {
                c.expect(d.str("iss") == Some(ch.parsed.spk_text()), || {
                    format!(
                        "check iss {:?} is not the spk {}",
                        d.str("iss"),
                        ch.parsed.spk_text()
                    )
                });
            }
        }
        Err(e) => c.problems.push(format!("check: {e}")),
    }
    Ok(c)
}

fn checked_for(
    check: &proto::Decoded,
    backend: &hem_auth_core::keys::SecretKey,
    spk: &PublicKey,
    iat: u64,
) -> Result<String, Abort> {
    let key = proto::shared(backend, spk).map_err(Abort::fail)?;
    let iss = backend.public_key().to_b64();
    let aud = spk.to_b64();
    let claims = CheckedClaims {
        jti: check.str("jti").unwrap_or_default().into(),
        iat,
        iss: iss.into(),
        aud: aud.into(),
        status: "OK".into(),
    };
    Ok(jwt::sign(Header::Device, &claims, key.as_bytes()))
}

fn rtc_time(ctx: &Ctx) -> Result<Option<u64>, Abort> {
    let r = ctx
        .target
        .get("/api/system/status", Auth::None)?
        .require("GET /api/system/status", 200)?;
    Ok(r.json("status")?.get("time").and_then(Value::as_u64))
}

fn checkin_forged(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (_, check, spk) = get_check(ctx)?;
    let impostor = proto::fresh_key();
    let checked = checked_for(&check, &impostor, &spk, proto::host_now())?;
    let before = rtc_time(ctx)?;
    let r = ctx.target.post_json(
        "/api/system/checkin",
        &json!({ "checked": checked }),
        Auth::None,
    )?;
    let mut c = Check::status(r.status);
    if before.is_none() {
        let after = rtc_time(ctx)?;
        c.expect(after.is_none(), || {
            format!("a forged check-in set the RTC to {after:?}")
        });
    }
    Ok(c)
}

/// The whole check-in as the runner plays it: fetch the check, answer it as the backend
/// (with `iat` = host time), post the answer. Returns that answer's response and the `iat`.
fn check_in(ctx: &mut Ctx) -> Result<(crate::target::Response, u64), Abort> {
    let backend = ctx.backend_secret()?;
    let (_, check, spk) = get_check(ctx)?;
    let iat = proto::host_now();
    let checked = checked_for(&check, &backend, &spk, iat)?;
    let r = ctx.target.post_json(
        "/api/system/checkin",
        &json!({ "checked": checked }),
        Auth::None,
    )?;
    Ok((r, iat))
}

fn checkin_flood_keeps_check(ctx: &mut Ctx) -> Result<Check, Abort> {
    let backend = ctx.backend_secret()?;
    let (_, check, spk) = get_check(ctx)?;
    for i in 0..super::auth_token::FLOOD {
        ctx.target
            .get("/api/system/checkin", Auth::None)?
            .require(&format!("anonymous check {}", i + 1), 200)?;
    }
    let checked = checked_for(&check, &backend, &spk, proto::host_now())?;
    status(ctx.target.post_json(
        "/api/system/checkin",
        &json!({ "checked": checked }),
        Auth::None,
    )?)
}

fn checkin_post(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (r, iat) = check_in(ctx)?;
    let mut c = Check::status(r.status);
    if r.status != 200 {
        c.problems.push(format!("body: {}", r.body_text()));
        return Ok(c);
    }
    let v = r.json("checkin")?;
    c.expect(
        v.get("status").and_then(Value::as_str) == Some("OK"),
        || format!("check-in answer has no status \"OK\": {v}"),
    );
    match rtc_time(ctx)? {
        Some(t) => {
            c.expect(t >= iat && t <= iat + 5, || {
                format!("RTC is {t} after a check-in at iat {iat}")
            });
            ctx.observe_device_time(t);
            ctx.checked_in = true;
        }
        None => c
            .problems
            .push("status shows no `time` after check-in".into()),
    }
    Ok(c)
}

fn rtc_set(ctx: &mut Ctx) -> Result<Check, Abort> {
    let mut time = rtc_time(ctx)?;
    // Not set, and check-in/post did not run (filtered out): set it now if we can.
    if time.is_none() && ctx.backend_secret().is_ok() {
        check_in(ctx)?.0.require("check-in", 200)?;
        ctx.checked_in = true;
        time = rtc_time(ctx)?;
    }
    let mut c = Check::status(200);
    c.expect(time.is_some(), || {
        "the RTC is not set (no `time` in status): give --backend-key so check-in can set it".into()
    });
    if let Some(t) = time {
        ctx.observe_device_time(t);
    }
    Ok(c)
}
