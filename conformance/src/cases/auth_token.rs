//! Password login: `GET /api/auth/token` (challenge) and `POST /api/auth/token` (eJWT).

use hem_auth_core::client;
use hem_auth_core::jwt::Header;
use hem_auth_core::UnixTime;
use serde_json::{json, Value};

use super::{
    check_token_grant, key_field, near, negative, nonce_time, positive, status, token_detail_case,
    TokenDetail,
};
use crate::case::{Abort, Case, Check};
use crate::ctx::{Ctx, USER_TOKEN_SECS};
use crate::proto::{self, Draft};
use crate::target::Auth;

const LOGIN: &[&str] = &["auth-token/login"];

pub(super) fn cases() -> Vec<Case> {
    vec![
        positive(
            "auth-token/challenge",
            "the login challenge is {exp, spk, jti, lbl, eid}: 32-byte keys, a time nonce, exp = nonce time + 60",
            "§7.1, §4.1: the challenge's members; its jti is LE32 time ‖ 28 random bytes",
            200,
            &[],
            challenge,
        ),
        positive(
            "auth-token/challenge-fresh",
            "two challenges carry different nonces",
            "§4.1, §4.2: every challenge carries a fresh, single-use nonce",
            200,
            &[],
            challenge_fresh,
        ),
        positive(
            "auth-token/login",
            "password login for auth:ext:pair: a U token with the requested scope and exp verbatim that opens ext/init",
            "§7.3, §8.1, §8.3, §8.5: the eJWT buys a U token, scope and exp verbatim, that works as a bearer",
            200,
            &[],
            login,
        ),
        // The token's form, a case per detail: a device wrong in one of them fails that case
        // only, and everything that merely needs a working login still runs.
        positive(
            "auth-token/token-header",
            "a password login's token has the header {\"typ\":\"JWT\",\"alg\":\"HS256\"}, byte for byte",
            "§8.1, §3.2: the access-token header is exactly {\"typ\":\"JWT\",\"alg\":\"HS256\"}",
            200,
            LOGIN,
            token_header,
        ),
        positive(
            "auth-token/token-claim-order",
            "a password login's token carries scope, sub, iat, exp, jti in this order",
            "§8.1, §3.4: the payload members, in this order, are scope, sub, iat, exp, jti",
            200,
            LOGIN,
            token_claim_order,
        ),
        positive(
            "auth-token/token-iat",
            "a password login's token has iat = the device's time of minting",
            "§8.1: iat is the device's time when it minted the token",
            200,
            LOGIN,
            token_iat,
        ),
        positive(
            "auth-token/token-jti",
            "a password login's token has a jti that is a time nonce whose time is iat",
            "§8.1, §4.1: jti is a fresh device time nonce whose first four bytes, little-endian, equal iat",
            200,
            LOGIN,
            token_jti,
        ),
        negative(
            "auth-token/replay",
            "the same eJWT posted twice: the second is refused",
            "§7.4, §4.2: auth/token 401 (nonce not pending)",
            401,
            LOGIN,
            replay,
        ),
        negative(
            "auth-token/bad-mac",
            "an eJWT with one signature bit flipped is refused",
            "§7.4: auth/token 401 (bad MAC)",
            401,
            LOGIN,
            bad_mac,
        ),
        negative(
            "auth-token/payload-altered",
            "an eJWT whose scope was changed after signing is refused",
            "§7.4: auth/token 401 (bad MAC)",
            401,
            LOGIN,
            payload_altered,
        ),
        positive(
            "auth-token/failure-keeps-nonce",
            "a refused eJWT does not consume the challenge: the honest eJWT for it still logs in",
            "§4.2, §7.4: a failed verification does not consume the nonce",
            200,
            LOGIN,
            failure_keeps_nonce,
        ),
        positive(
            "auth-token/flood-keeps-challenge",
            "a login challenge fetched before 200 anonymous GET /api/auth/token still logs in",
            "§4.3, §4.2, §7.4: issuing a nonce stores nothing, so no flood of challenges invalidates a pending one",
            200,
            LOGIN,
            flood_keeps_challenge,
        )
        .advisory(),
        negative(
            "auth-token/unknown-key",
            "an eJWT from a key that is neither the user nor the master key is refused",
            "§7.4: auth/token 401 (iss not the user or master key)",
            401,
            LOGIN,
            unknown_key,
        ),
        negative(
            "auth-token/unknown-jti",
            "an eJWT echoing a nonce the device never issued is refused",
            "§7.4, §4.2: auth/token 401 (nonce not pending)",
            401,
            LOGIN,
            unknown_jti,
        ),
        negative(
            "auth-token/exp-past",
            "an eJWT asking for a token that expired a minute ago is refused",
            "§7.4: auth/token 401 (exp ≤ now)",
            401,
            LOGIN,
            exp_past,
        ),
        negative(
            "auth-token/exp-now",
            "an eJWT whose exp is the challenge's issue time (≤ now) is refused",
            "§7.4: auth/token 401 (exp ≤ now)",
            401,
            LOGIN,
            exp_now,
        ),
        negative(
            "auth-token/exp-zero",
            "an eJWT with exp 0 is refused (no 8 h default at login)",
            "§7.3, §7.4: an eJWT exp of 0 is rejected like any exp not after now",
            401,
            LOGIN,
            exp_zero,
        ),
        negative(
            "auth-token/alg-none",
            "an eJWT with alg \"none\" in its header is refused",
            "§3.3, §7.4: alg must be HS256",
            401,
            LOGIN,
            alg_none,
        ),
        negative(
            "auth-token/crit-null",
            "an eJWT header with \"crit\":null is refused (null is not absent)",
            "§3.3, §7.4: a crit member of any value, null included, is a refusal (401)",
            401,
            LOGIN,
            crit_null,
        )
        .advisory(),
        negative(
            "auth-token/scope-control-character",
            "a login scope with a carriage return and terminal escapes is malformed",
            "§8.6, §7.4: a scope character outside 0x21–0x7E is 400",
            400,
            LOGIN,
            login_scope_control,
        )
        .advisory(),
        negative(
            "auth-token/ecdh-missing",
            "an eJWT header without \"ecdh\":\"x25519\" is refused",
            "§3.3, §7.4: ECDH JWTs must carry ecdh x25519",
            401,
            LOGIN,
            ecdh_missing,
        ),
        negative(
            "auth-token/exp-string",
            "an eJWT whose exp is a string is malformed",
            "§2.2, §7.4: numeric dates are integers; auth/token 400",
            400,
            LOGIN,
            exp_string,
        ),
        negative(
            "auth-token/scope-too-long",
            "an eJWT asking for a 128-character scope is malformed",
            "§3.6, §7.4: scope ≤ 127 at login; auth/token 400",
            400,
            LOGIN,
            scope_too_long,
        ),
        negative(
            "auth-token/body-not-json",
            "a login body that is not JSON is malformed",
            "§7.4: auth/token 400 (malformed)",
            400,
            &[],
            body_not_json,
        ),
        negative(
            "auth-token/auth-missing",
            "a login body without `auth` is malformed",
            "§7.4: auth/token 400 (malformed)",
            400,
            &[],
            auth_missing,
        ),
        negative(
            "auth-token/auth-not-jwt",
            "a login `auth` that is not a JWT is malformed",
            "§7.4: auth/token 400 (malformed)",
            400,
            &[],
            auth_not_jwt,
        ),
        negative(
            "auth-token/auth-wrong-type",
            "a login `auth` that is a number is malformed",
            "§7.4: auth/token 400 (malformed)",
            400,
            &[],
            auth_wrong_type,
        ),
    ]
}

fn challenge(ctx: &mut Ctx) -> Result<Check, Abort> {
    let r = ctx.target.get("/api/auth/token", Auth::None)?;
    let mut c = Check::status(r.status);
    if r.status != 200 {
        return Ok(c);
    }
    let v = r.json("challenge")?;
    c.expect(r.is_json_type(), || {
        format!("Content-Type {:?}", r.content_type)
    });
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    key_field(&mut c, "spk", s("spk"));
    key_field(&mut c, "eid", s("eid"));
    c.expect(s("lbl").is_some(), || format!("no string lbl in {v}"));
    let exp = v.get("exp").and_then(Value::as_u64);
    if let Some(t) = nonce_time(&mut c, "jti", s("jti")) {
        c.expect(exp == Some(t + 60), || {
            format!("exp {exp:?} is not the nonce time {t} + 60")
        });
        c.expect(near(t, ctx.device_now()), || {
            format!("nonce time {t} is not now ({})", ctx.device_now())
        });
    }
    Ok(c)
}

fn challenge_fresh(ctx: &mut Ctx) -> Result<Check, Abort> {
    let a = ctx.challenge()?;
    let b = ctx.challenge()?;
    let mut c = Check::status(b.response.status);
    c.expect(a.parsed.jti() != b.parsed.jti(), || {
        format!("both challenges carry jti {}", a.parsed.jti())
    });
    Ok(c)
}

fn login(ctx: &mut Ctx) -> Result<Check, Abort> {
    let scope = "auth:ext:pair";
    let exp = ctx.device_now() + USER_TOKEN_SECS;
    let (_, ejwt) = ctx.login_jwt(scope, exp)?;
    let r = ctx.post_login(&ejwt)?;
    let mut c = Check::status(r.status);
    if r.status == 200 {
        let token = r.field("login", "token")?;
        check_token_grant(&mut c, &token, scope, "U", Some(exp));
        // Works as a bearer: auth:ext:pair opens ext/init (§8.5).
        let body = json!({ "epk": proto::fresh_key().public_key().to_b64() });
        let used = ctx
            .target
            .post_json("/api/auth/ext/init", &body, Auth::Bearer(&token))?;
        c.expect(used.status == 200, || {
            format!(
                "the token does not open ext/init: status {} instead of 200",
                used.status
            )
        });
        if c.problems.is_empty() {
            ctx.remember_token(scope, &token);
        }
    }
    Ok(c)
}

/// A fresh password login's token, for the token-detail cases.
fn detail_login(ctx: &mut Ctx) -> Result<String, Abort> {
    let exp = ctx.device_now() + USER_TOKEN_SECS;
    ctx.login("keymgmt:list", exp)
}

fn token_header(ctx: &mut Ctx) -> Result<Check, Abort> {
    token_detail_case(ctx, TokenDetail::Header, detail_login)
}

fn token_claim_order(ctx: &mut Ctx) -> Result<Check, Abort> {
    token_detail_case(ctx, TokenDetail::ClaimOrder, detail_login)
}

fn token_iat(ctx: &mut Ctx) -> Result<Check, Abort> {
    token_detail_case(ctx, TokenDetail::Iat, detail_login)
}

fn token_jti(ctx: &mut Ctx) -> Result<Check, Abort> {
    token_detail_case(ctx, TokenDetail::Jti, detail_login)
}

fn fresh_login(ctx: &mut Ctx) -> Result<String, Abort> {
    let exp = ctx.device_now() + USER_TOKEN_SECS;
    Ok(ctx.login_jwt("keymgmt:list", exp)?.1)
}

fn replay(ctx: &mut Ctx) -> Result<Check, Abort> {
    let ejwt = fresh_login(ctx)?;
    ctx.post_login(&ejwt)?.require("first login", 200)?;
    status(ctx.post_login(&ejwt)?)
}

fn bad_mac(ctx: &mut Ctx) -> Result<Check, Abort> {
    let ejwt = fresh_login(ctx)?;
    status(ctx.post_login(&proto::flip_signature(&ejwt))?)
}

fn payload_altered(ctx: &mut Ctx) -> Result<Check, Abort> {
    let ejwt = fresh_login(ctx)?;
    let d = proto::decode(&ejwt).map_err(Abort::fail)?;
    let mut claims = d.claims.clone();
    claims["scope"] = json!("system:config");
    status(ctx.post_login(&proto::swap_payload(&ejwt, &claims.to_string()))?)
}

fn failure_keeps_nonce(ctx: &mut Ctx) -> Result<Check, Abort> {
    let ejwt = fresh_login(ctx)?;
    ctx.post_login(&proto::flip_signature(&ejwt))?
        .require("the tampered eJWT", 401)?;
    status(ctx.post_login(&ejwt)?)
}

/// An eJWT for a fresh challenge with its claims edited, signed with `user` (the real user
/// key unless another is given).
fn edited_login(
    ctx: &mut Ctx,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
    header: Option<&str>,
) -> Result<String, Abort> {
    let (ch, ejwt) = ctx.login_jwt("keymgmt:list", ctx.device_now() + USER_TOKEN_SECS)?;
    let user = ctx.user_key(ch.parsed.eid_text())?;
    let key = proto::shared(&user, &ch.parsed.spk()).map_err(Abort::fail)?;
    let mut draft = Draft::from_token(&ejwt, &key).map_err(Abort::fail)?;
    let mut claims = draft.claims();
    edit(&mut claims);
    draft.set_claims(&claims);
    if let Some(h) = header {
        draft.header = h.to_string();
    }
    Ok(draft.sign())
}

fn unknown_key(ctx: &mut Ctx) -> Result<Check, Abort> {
    let ch = ctx.challenge()?;
    let stranger = proto::fresh_key();
    let now = ctx.device_now();
    let ejwt = client::build_login(
        &stranger,
        &ch.parsed,
        "keymgmt:list",
        UnixTime::from_secs(now),
        UnixTime::from_secs(now + USER_TOKEN_SECS),
        None,
    )
    .map_err(|e| Abort::fail(format!("building the eJWT: {e}")))?;
    status(ctx.post_login(&ejwt)?)
}

fn unknown_jti(ctx: &mut Ctx) -> Result<Check, Abort> {
    let ejwt = edited_login(
        ctx,
        |c| {
            c.insert("jti".into(), json!(proto::random_b64_32()));
        },
        None,
    )?;
    status(ctx.post_login(&ejwt)?)
}

fn exp_past(ctx: &mut Ctx) -> Result<Check, Abort> {
    let past = ctx.device_now().saturating_sub(60);
    let ejwt = edited_login(
        ctx,
        |c| {
            c.insert("exp".into(), json!(past));
        },
        None,
    )?;
    status(ctx.post_login(&ejwt)?)
}

fn exp_now(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (ch, ejwt) = ctx.login_jwt("keymgmt:list", ctx.device_now() + USER_TOKEN_SECS)?;
    // The challenge nonce carries the device's time of issue: the device's `now` when it
    // checks the eJWT is at least that.
    let issued = hem_auth_core::nonce::TimeNonce::from_b64(ch.parsed.jti())
        .map_err(|e| Abort::fail(format!("challenge jti: {e}")))?
        .time();
    let user = ctx.user_key(ch.parsed.eid_text())?;
    let key = proto::shared(&user, &ch.parsed.spk()).map_err(Abort::fail)?;
    let draft = Draft::from_token(&ejwt, &key)
        .map_err(Abort::fail)?
        .claim("exp", Some(json!(issued)));
    status(ctx.post_login(&draft.sign())?)
}

fn exp_zero(ctx: &mut Ctx) -> Result<Check, Abort> {
    let ejwt = edited_login(
        ctx,
        |c| {
            c.insert("exp".into(), json!(0));
        },
        None,
    )?;
    status(ctx.post_login(&ejwt)?)
}

fn alg_none(ctx: &mut Ctx) -> Result<Check, Abort> {
    let ejwt = edited_login(
        ctx,
        |_| {},
        Some(r#"{"ecdh":"x25519","alg":"none","typ":"JWT"}"#),
    )?;
    status(ctx.post_login(&ejwt)?)
}

fn crit_null(ctx: &mut Ctx) -> Result<Check, Abort> {
    let ejwt = edited_login(
        ctx,
        |_| {},
        Some(r#"{"ecdh":"x25519","alg":"HS256","typ":"JWT","crit":null}"#),
    )?;
    status(ctx.post_login(&ejwt)?)
}

fn login_scope_control(ctx: &mut Ctx) -> Result<Check, Abort> {
    let ejwt = edited_login(
        ctx,
        |c| {
            c.insert(
                "scope".into(),
                Value::from("system:config\r\u{1b}[2Kkeymgmt:list"),
            );
        },
        None,
    )?;
    status(ctx.post_login(&ejwt)?)
}

fn ecdh_missing(ctx: &mut Ctx) -> Result<Check, Abort> {
    let ejwt = edited_login(ctx, |_| {}, Some(Header::AccessToken.json()))?;
    status(ctx.post_login(&ejwt)?)
}

fn exp_string(ctx: &mut Ctx) -> Result<Check, Abort> {
    let exp = (ctx.device_now() + USER_TOKEN_SECS).to_string();
    let ejwt = edited_login(
        ctx,
        |c| {
            c.insert("exp".into(), json!(exp));
        },
        None,
    )?;
    status(ctx.post_login(&ejwt)?)
}

fn scope_too_long(ctx: &mut Ctx) -> Result<Check, Abort> {
    let scope = format!("keymgmt:{}", "l".repeat(128 - "keymgmt:".len()));
    let ejwt = edited_login(
        ctx,
        |c| {
            c.insert("scope".into(), json!(scope));
        },
        None,
    )?;
    status(ctx.post_login(&ejwt)?)
}

fn body_not_json(ctx: &mut Ctx) -> Result<Check, Abort> {
    status(
        ctx.target
            .post("/api/auth/token", b"{\"auth\":", Auth::None)?,
    )
}

fn auth_missing(ctx: &mut Ctx) -> Result<Check, Abort> {
    status(
        ctx.target
            .post_json("/api/auth/token", &json!({}), Auth::None)?,
    )
}

fn auth_not_jwt(ctx: &mut Ctx) -> Result<Check, Abort> {
    status(
        ctx.target
            .post_json("/api/auth/token", &json!({"auth": "not-a-jwt"}), Auth::None)?,
    )
}

fn auth_wrong_type(ctx: &mut Ctx) -> Result<Check, Abort> {
    status(
        ctx.target
            .post_json("/api/auth/token", &json!({"auth": 12345}), Auth::None)?,
    )
}

/// Anonymous requests sent between a nonce's issue and its use by the flood cases (§4.3).
pub(super) const FLOOD: usize = 200;

fn flood_keeps_challenge(ctx: &mut Ctx) -> Result<Check, Abort> {
    let ejwt = fresh_login(ctx)?;
    for i in 0..FLOOD {
        ctx.target
            .get("/api/auth/token", Auth::None)?
            .require(&format!("anonymous challenge {}", i + 1), 200)?;
    }
    status(ctx.post_login(&ejwt)?)
}
