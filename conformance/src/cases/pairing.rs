//! Pairing: `POST /api/auth/ext/init` and `POST /api/auth/ext/validate` (spec §6).
//!
//! Two authenticators, "A" and "B", are paired here and used by the later groups. Cases that
//! need a pairing of their own (replay, limits) remove it again before they end.

use hem_auth_core::claims::MAX_PAIRINGS;
use hem_auth_core::client;
use hem_auth_core::device::{kid_of, kid_to_hex};
use hem_auth_core::jwt::Header;
use hem_auth_core::UnixTime;
use serde_json::{json, Value};

use super::{near, negative, nonce_time, positive, status};
use crate::case::{Abort, Case, Check};
use crate::ctx::{Authenticator, Ctx};
use crate::proto::{self, Draft};
use crate::target::Auth;

const LOGIN: &[&str] = &["auth-token/login"];
const PAIRED_A: &[&str] = &["auth-token/login", "ext-validate/pair-a"];
const PAIRED_AB: &[&str] = &["rtc/set", "ext-validate/pair-a", "ext-validate/pair-b"];

/// Lifetime of a pairing request, seconds (§4.4, §6.2: exp = now + 86400).
const PAIRING_REQUEST_SECS: u64 = 86_400;

pub(super) fn cases() -> Vec<Case> {
    vec![
        positive(
            "ext-init/request",
            "ext/init with an auth:ext:pair token returns {request, eid}; the request is a device JWT keyed X25519(eid, epk): jti nonce, exp = +86400, aud = epk, iss = eid, no iat",
            "§6.2: ext/init answers the pairing request",
            200,
            LOGIN,
            init_request,
        ),
        positive(
            "ext-init/system-config-scope",
            "a system:config token may start pairing too",
            "§6.2, §8.5: auth:ext:pair OR system:config",
            200,
            LOGIN,
            init_system_config,
        ),
        negative(
            "ext-init/no-bearer",
            "ext/init without a token is refused",
            "§8.2, §6.8: ext/init 401 (bearer missing)",
            401,
            &[],
            init_no_bearer,
        ),
        negative(
            "ext-init/garbage-bearer",
            "ext/init with a bearer that is not a JWT is refused",
            "§8.2, §6.8: ext/init 401 (bearer invalid)",
            401,
            &[],
            init_garbage_bearer,
        ),
        negative(
            "ext-init/forged-bearer",
            "ext/init with a device token whose signature has one bit flipped is refused",
            "§8.2, §6.8: ext/init 401 (bearer invalid)",
            401,
            LOGIN,
            init_forged_bearer,
        ),
        negative(
            "ext-init/wrong-scope",
            "ext/init with a valid U token for keymgmt:list is forbidden",
            "§8.2, §8.5: valid token without the scope 403",
            403,
            LOGIN,
            init_wrong_scope,
        ),
        negative(
            "ext-init/epk-missing",
            "ext/init without epk is malformed",
            "§6.8, §6.2: ext/init 400 (epk missing)",
            400,
            LOGIN,
            init_epk_missing,
        ),
        negative(
            "ext-init/epk-short",
            "ext/init with a 16-byte epk is malformed",
            "§6.8, §6.2: ext/init 400 (epk not 32 bytes)",
            400,
            LOGIN,
            init_epk_short,
        ),
        positive(
            "ext-validate/pair-a",
            "pairing authenticator A: ext/validate answers 200 with a kid",
            "§6.5, §6.6: ext/validate pairs the authenticator and names its kid",
            200,
            LOGIN,
            pair_a,
        ),
        // The answer's form, a case per detail, each with a pairing of its own (removed
        // again): a device wrong in one of them fails that case only.
        positive(
            "ext-validate/kid",
            "ext/validate's kid is SHA-1(aid)[..16] as lowercase hex",
            "§6.5, §2.6: kid = SHA-1(aid)[..16] hex",
            200,
            PAIRED_A,
            validate_kid,
        ),
        positive(
            "ext-validate/code",
            "ext/validate's code is HMAC(X25519(eid, epk), reply)",
            "§6.7, §6.5: code = HMAC(X25519(eid_prv, epk), reply)",
            200,
            PAIRED_A,
            validate_code,
        ),
        positive(
            "ext-validate/pair-b",
            "pairing a second authenticator B",
            "§6.5: a second pairing",
            200,
            PAIRED_A,
            pair_b,
        ),
        positive(
            "ext-validate/label-32",
            "a 32-character label is accepted (then unpaired)",
            "§6.6: ext/validate accepts a label of 1–32 printable ASCII",
            200,
            PAIRED_A,
            label_32,
        ),
        negative(
            "ext-validate/replay",
            "a second reply for an already used pairing request (new key) is refused",
            "§6.6, §4.2: ext/validate 401 (nonce not pending)",
            401,
            PAIRED_A,
            validate_replay,
        ),
        positive(
            "ext-validate/failure-keeps-nonce",
            "a reply refused for its MAC does not consume the request: the honest reply still pairs (then unpaired)",
            "§4.2, §6.6: a failed verification does not consume the nonce",
            200,
            PAIRED_A,
            validate_failure_keeps_nonce,
        ),
        negative(
            "ext-validate/duplicate-aid",
            "pairing A's key again under a new pid is refused",
            "§6.6, §6.5: ext/validate 406 (same aid already paired)",
            406,
            PAIRED_A,
            duplicate_aid,
        ),
        negative(
            "ext-validate/aid-bit-255",
            "pairing A's key again, spelled with bit 255 set (the same X25519 key, signed with the same S1), is refused",
            "§2.5, §6.6: ext/validate 400 (iss not a canonical key); one phone key cannot take two slots",
            400,
            PAIRED_A,
            aid_bit_255,
        )
        .advisory(),
        negative(
            "ext-validate/bad-mac",
            "a reply with one signature bit flipped is refused",
            "§6.6: ext/validate 401 (bad MAC)",
            401,
            LOGIN,
            validate_bad_mac,
        ),
        negative(
            "ext-validate/wrong-key",
            "a reply naming one aid but signed with another key's S1 is refused",
            "§6.6: ext/validate 401 (bad MAC)",
            401,
            LOGIN,
            validate_wrong_key,
        ),
        negative(
            "ext-validate/unknown-jti",
            "a reply echoing a nonce the device never issued is refused",
            "§6.6, §4.2: ext/validate 401 (nonce not pending)",
            401,
            LOGIN,
            validate_unknown_jti,
        ),
        negative(
            "ext-validate/login-jti",
            "a reply echoing a login-challenge nonce (wrong purpose) is refused",
            "§4.2, §6.6: a nonce is accepted only for its own purpose",
            401,
            LOGIN,
            validate_login_jti,
        ),
        negative(
            "ext-validate/label-33",
            "a 33-character label is malformed",
            "§6.6: ext/validate 400 (label not 1–32 printable ASCII)",
            400,
            LOGIN,
            label_33,
        ),
        negative(
            "ext-validate/label-empty",
            "an empty label is malformed",
            "§6.6: ext/validate 400 (label not 1–32 printable ASCII)",
            400,
            LOGIN,
            label_empty,
        ),
        negative(
            "ext-validate/label-non-ascii",
            "a label with a non-ASCII character is malformed",
            "§6.6: ext/validate 400 (label not 1–32 printable ASCII)",
            400,
            LOGIN,
            label_non_ascii,
        ),
        negative(
            "ext-validate/label-control",
            "a label with a control character is malformed",
            "§6.6: ext/validate 400 (label not 1–32 printable ASCII)",
            400,
            LOGIN,
            label_control,
        ),
        negative(
            "ext-validate/label-missing",
            "a reply without a label is malformed",
            "§6.6: ext/validate 400 (label missing)",
            400,
            LOGIN,
            label_missing,
        ),
        negative(
            "ext-validate/epk-short",
            "a reply whose epk is 16 bytes is malformed",
            "§6.6: ext/validate 400 (epk not 32 bytes)",
            400,
            LOGIN,
            reply_epk_short,
        ),
        negative(
            "ext-validate/reply-not-jwt",
            "a reply that is not a JWT is malformed",
            "§6.6: ext/validate 400 (JWT malformed)",
            400,
            LOGIN,
            reply_not_jwt,
        ),
        negative(
            "ext-validate/reply-missing",
            "a validate body without reply is malformed",
            "§6.6: ext/validate 400 (body malformed)",
            400,
            LOGIN,
            reply_missing,
        ),
        negative(
            "ext-validate/body-not-json",
            "a validate body that is not JSON is malformed",
            "§6.6: ext/validate 400 (body malformed)",
            400,
            LOGIN,
            validate_body_not_json,
        ),
        negative(
            "ext-validate/pid-short",
            "a pid that is not 32 bytes is malformed",
            "§6.6, §2.1: a pid that is not 32 bytes is 400 (exact lengths)",
            400,
            LOGIN,
            pid_short,
        )
        .advisory(),
        negative(
            "ext-validate/no-bearer",
            "ext/validate without a token is refused",
            "§8.2: no token 401",
            401,
            &[],
            validate_no_bearer,
        ),
        negative(
            "ext-validate/wrong-scope",
            "ext/validate with a keymgmt:list token is forbidden",
            "§8.2, §8.5: valid token without the scope 403",
            403,
            LOGIN,
            validate_wrong_scope,
        ),
        negative(
            "ext-validate/ninth-pairing",
            "with 8 authenticators paired, a ninth is refused (the extra pairings are removed again)",
            "§6.6, §6.5: ext/validate 406 (8 pairings already)",
            406,
            PAIRED_AB,
            ninth_pairing,
        ),
    ]
}

fn pair_token(ctx: &mut Ctx) -> Result<String, Abort> {
    ctx.token("auth:ext:pair")
}

fn init_request(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = pair_token(ctx)?;
    let eid = ctx.eid()?;
    let (body, state) = client::start_pairing(Some(eid), &mut rand_core::OsRng);
    let epk_text = state.epk().to_b64();
    let r = ctx
        .target
        .post("/api/auth/ext/init", body.as_bytes(), Auth::Bearer(&token))?;
    let mut c = Check::status(r.status);
    if r.status != 200 {
        return Ok(c);
    }
    // The broker role checks eid, iss = eid, the signature under X25519(epk, eid), aud = epk
    // and now < exp; the rest is checked here.
    let verified = state.verify_init_response(&r.body, UnixTime::from_secs(ctx.device_now()));
    match verified
        .map_err(|e| e.to_string())
        .and_then(|v| proto::decode(v.request()))
    {
        Ok(d) => {
            let header = Header::Device.json();
            c.expect(d.header == header, || {
                format!("header {} instead of {header}", d.header)
            });
            c.expect(d.str("aud") == Some(epk_text.as_str()), || {
                format!("aud {:?} is not the epk sent", d.str("aud"))
            });
            c.expect(d.str("iss") == Some(eid.to_b64().as_str()), || {
                format!("iss {:?} is not the eid", d.str("iss"))
            });
            c.expect(d.claims.get("iat").is_none(), || {
                "the request carries an iat".into()
            });
            if let Some(t) = nonce_time(&mut c, "request jti", d.str("jti")) {
                c.expect(d.u64("exp") == Some(t + PAIRING_REQUEST_SECS), || {
                    format!("exp {:?} is not nonce time {t} + 86400", d.u64("exp"))
                });
                c.expect(near(t, ctx.device_now()), || {
                    format!("nonce time {t} is not now")
                });
            }
        }
        Err(e) => c.problems.push(e),
    }
    Ok(c)
}

fn init_with(ctx: &mut Ctx, token: &str, body: Value) -> Result<Check, Abort> {
    status(
        ctx.target
            .post_json("/api/auth/ext/init", &body, Auth::Bearer(token))?,
    )
}

fn epk_body() -> Value {
    json!({ "epk": proto::fresh_key().public_key().to_b64() })
}

fn init_system_config(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("system:config")?;
    init_with(ctx, &token, epk_body())
}

fn init_no_bearer(ctx: &mut Ctx) -> Result<Check, Abort> {
    status(
        ctx.target
            .post_json("/api/auth/ext/init", &epk_body(), Auth::None)?,
    )
}

fn init_garbage_bearer(ctx: &mut Ctx) -> Result<Check, Abort> {
    init_with(ctx, "not-a-token", epk_body())
}

fn init_forged_bearer(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = pair_token(ctx)?;
    init_with(ctx, &proto::flip_signature(&token), epk_body())
}

fn init_wrong_scope(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("keymgmt:list")?;
    init_with(ctx, &token, epk_body())
}

fn init_epk_missing(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = pair_token(ctx)?;
    init_with(ctx, &token, json!({ "scope": "x:y" }))
}

fn init_epk_short(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = pair_token(ctx)?;
    init_with(
        ctx,
        &token,
        json!({ "epk": hem_auth_core::codec::encode_std(&[7u8; 16]) }),
    )
}

/// One pairing of a new authenticator key, as far as the device's answer to ext/validate.
struct Pairing {
    response: crate::target::Response,
    state: client::PairingState,
    eid: hem_auth_core::keys::PublicKey,
    reply: String,
    secret: hem_auth_core::keys::SecretKey,
    pid: String,
}

fn pair_once(ctx: &mut Ctx, label: &str) -> Result<Pairing, Abort> {
    let token = pair_token(ctx)?;
    let eid = ctx.eid()?;
    let (state, request) = ctx.ext_init(&token)?;
    let (secret, reply) = ctx.reply_for(&request, label)?;
    let pid = proto::random_b64_32();
    let response = ctx.post_validate(&token, &pid, &reply)?;
    Ok(Pairing {
        response,
        state,
        eid,
        reply,
        secret,
        pid,
    })
}

/// Pairs a new authenticator; returns the check and, on success, the authenticator. Checks
/// only what later cases rely on (200 and a `kid`); the form of `kid` and `code` are the
/// cases `ext-validate/kid` and `ext-validate/code`.
fn pair_checked(ctx: &mut Ctx, label: &str) -> Result<(Check, Option<Authenticator>), Abort> {
    let p = pair_once(ctx, label)?;
    let c = Check::status(p.response.status);
    if p.response.status != 200 {
        return Ok((c, None));
    }
    let kid = p.response.field("ext/validate", "kid")?;
    Ok((
        c,
        Some(Authenticator {
            aid: p.secret.public_key(),
            secret: p.secret,
            pid: p.pid,
            kid,
            label: label.to_string(),
        }),
    ))
}

/// A pairing made (and removed again) to check one detail of the ext/validate answer.
fn pairing_detail(
    ctx: &mut Ctx,
    label: &str,
    detail: impl FnOnce(&mut Check, &Pairing, &str),
) -> Result<Check, Abort> {
    let p = pair_once(ctx, label)?;
    if p.response.status != 200 {
        return Err(Abort::setup("ext/validate", p.response.status, 200));
    }
    let kid = p.response.field("ext/validate", "kid")?;
    let mut c = Check::status(200);
    detail(&mut c, &p, &kid);
    ctx.unpair(&kid)?;
    Ok(c)
}

fn validate_kid(ctx: &mut Ctx) -> Result<Check, Abort> {
    pairing_detail(ctx, "Conformance (kid)", |c, p, kid| {
        let want = kid_to_hex(&kid_of(&p.secret.public_key()));
        c.expect(kid == want, || {
            format!("kid {kid} is not SHA-1(aid)[..16] = {want}")
        });
    })
}

fn validate_code(ctx: &mut Ctx) -> Result<Check, Abort> {
    pairing_detail(ctx, "Conformance (code)", |c, p, _| {
        // The broker role checks code = HMAC(X25519(eid, epk), reply) and the kid's form.
        if let Err(e) = p
            .state
            .verify_validate_response(&p.eid, &p.reply, &p.response.body)
        {
            c.problems.push(format!("{e}: {}", p.response.body_text()));
        }
    })
}

fn pair_a(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (c, a) = pair_checked(ctx, "Conformance A (runner)")?;
    if let Some(a) = a {
        ctx.paired.insert(0, a);
    }
    Ok(c)
}

fn pair_b(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (c, b) = pair_checked(ctx, "Conformance B (runner)")?;
    if let Some(b) = b {
        ctx.paired.insert(1.min(ctx.paired.len()), b);
    }
    Ok(c)
}

fn label_32(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (c, a) = pair_checked(ctx, &"L".repeat(32))?;
    if let Some(a) = a {
        ctx.unpair(&a.kid)?;
    }
    Ok(c)
}

/// A fresh pairing request and an honest reply for it from a new key, as a draft to spoil.
fn reply_draft(ctx: &mut Ctx) -> Result<(String, Draft), Abort> {
    let token = pair_token(ctx)?;
    let eid = ctx.eid()?;
    let (_, request) = ctx.ext_init(&token)?;
    let (aid, reply) = ctx.reply_for(&request, "Conformance (defect)")?;
    let s1 = proto::shared(&aid, &eid).map_err(Abort::fail)?;
    Ok((token, Draft::from_token(&reply, &s1).map_err(Abort::fail)?))
}

fn post_reply(ctx: &mut Ctx, token: &str, reply: &str) -> Result<Check, Abort> {
    status(ctx.post_validate(token, &proto::random_b64_32(), reply)?)
}

fn validate_replay(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = pair_token(ctx)?;
    let (_, request) = ctx.ext_init(&token)?;
    let (_, first) = ctx.reply_for(&request, "Conformance (replay 1)")?;
    let r = ctx
        .post_validate(&token, &proto::random_b64_32(), &first)?
        .require("the first reply", 200)?;
    let kid = r.field("ext/validate", "kid")?;
    let (_, second) = ctx.reply_for(&request, "Conformance (replay 2)")?;
    let r = ctx.post_validate(&token, &proto::random_b64_32(), &second)?;
    let outcome = Check::status(r.status);
    if r.status == 200 {
        if let Ok(k) = r.field("ext/validate", "kid") {
            ctx.unpair(&k)?;
        }
    }
    ctx.unpair(&kid)?;
    Ok(outcome)
}

fn validate_failure_keeps_nonce(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = pair_token(ctx)?;
    let (_, request) = ctx.ext_init(&token)?;
    let (_, reply) = ctx.reply_for(&request, "Conformance (retry)")?;
    let pid = proto::random_b64_32();
    ctx.post_validate(&token, &pid, &proto::flip_signature(&reply))?
        .require("the tampered reply", 401)?;
    let r = ctx.post_validate(&token, &pid, &reply)?;
    if r.status == 200 {
        let kid = r.field("ext/validate", "kid")?;
        ctx.unpair(&kid)?;
    }
    status(r)
}

fn duplicate_aid(ctx: &mut Ctx) -> Result<Check, Abort> {
    let a = ctx.authenticator(0)?;
    let token = pair_token(ctx)?;
    let (_, request) = ctx.ext_init(&token)?;
    let reply = ctx.reply_with(&a.secret, &request, "Conformance A again")?;
    let r = ctx.post_validate(&token, &proto::random_b64_32(), &reply)?;
    status(r)
}

fn aid_bit_255(ctx: &mut Ctx) -> Result<Check, Abort> {
    let a = ctx.authenticator(0)?;
    let eid = ctx.eid()?;
    let token = pair_token(ctx)?;
    let (_, request) = ctx.ext_init(&token)?;
    let reply = ctx.reply_with(&a.secret, &request, "Conformance A, bit 255")?;
    let mut high = *a.aid.as_bytes();
    high[31] |= 0x80;
    let s1 = proto::shared(&a.secret, &eid).map_err(Abort::fail)?;
    let d = Draft::from_token(&reply, &s1)
        .map_err(Abort::fail)?
        .claim("iss", Some(json!(hem_auth_core::codec::encode_std(&high))));
    let r = ctx.post_validate(&token, &proto::random_b64_32(), &d.sign())?;
    if r.status == 200 {
        // A device that took it holds the key twice: remove the second slot again.
        if let Ok(kid) = r.field("ext/validate", "kid") {
            ctx.unpair(&kid)?;
        }
    }
    status(r)
}

fn validate_bad_mac(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (token, d) = reply_draft(ctx)?;
    post_reply(ctx, &token, &proto::flip_signature(&d.sign()))
}

fn validate_wrong_key(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (token, mut d) = reply_draft(ctx)?;
    let eid = ctx.eid()?;
    let other = proto::fresh_key();
    d.key = *proto::shared(&other, &eid).map_err(Abort::fail)?.as_bytes();
    post_reply(ctx, &token, &d.sign())
}

fn validate_unknown_jti(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (token, d) = reply_draft(ctx)?;
    let d = d.claim("jti", Some(json!(proto::random_b64_32())));
    post_reply(ctx, &token, &d.sign())
}

fn validate_login_jti(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (token, d) = reply_draft(ctx)?;
    let ch = ctx.challenge()?;
    let d = d.claim("jti", Some(json!(ch.parsed.jti())));
    post_reply(ctx, &token, &d.sign())
}

fn with_label(ctx: &mut Ctx, label: Option<&str>) -> Result<Check, Abort> {
    let (token, d) = reply_draft(ctx)?;
    let d = d.claim("label", label.map(|l| json!(l)));
    post_reply(ctx, &token, &d.sign())
}

fn label_33(ctx: &mut Ctx) -> Result<Check, Abort> {
    with_label(ctx, Some(&"L".repeat(33)))
}

fn label_empty(ctx: &mut Ctx) -> Result<Check, Abort> {
    with_label(ctx, Some(""))
}

fn label_non_ascii(ctx: &mut Ctx) -> Result<Check, Abort> {
    with_label(ctx, Some("Pixel \u{e9}t\u{e9}"))
}

fn label_control(ctx: &mut Ctx) -> Result<Check, Abort> {
    with_label(ctx, Some("Pixel\t8"))
}

fn label_missing(ctx: &mut Ctx) -> Result<Check, Abort> {
    with_label(ctx, None)
}

fn reply_epk_short(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (token, d) = reply_draft(ctx)?;
    let d = d.claim(
        "epk",
        Some(json!(hem_auth_core::codec::encode_std(&[9u8; 16]))),
    );
    post_reply(ctx, &token, &d.sign())
}

fn reply_not_jwt(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = pair_token(ctx)?;
    post_reply(ctx, &token, "this.is-not")
}

fn reply_missing(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = pair_token(ctx)?;
    status(ctx.target.post_json(
        "/api/auth/ext/validate",
        &json!({ "pid": proto::random_b64_32() }),
        Auth::Bearer(&token),
    )?)
}

fn validate_body_not_json(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = pair_token(ctx)?;
    status(ctx.target.post(
        "/api/auth/ext/validate",
        b"pid=1&reply=2",
        Auth::Bearer(&token),
    )?)
}

fn pid_short(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (token, d) = reply_draft(ctx)?;
    let r = ctx.post_validate(
        &token,
        &hem_auth_core::codec::encode_std(&[1u8; 16]),
        &d.sign(),
    )?;
    if r.status == 200 {
        if let Ok(kid) = r.field("ext/validate", "kid") {
            ctx.unpair(&kid)?;
        }
    }
    status(r)
}

fn validate_no_bearer(ctx: &mut Ctx) -> Result<Check, Abort> {
    status(ctx.target.post_json(
        "/api/auth/ext/validate",
        &json!({ "pid": proto::random_b64_32(), "reply": "a.b.c" }),
        Auth::None,
    )?)
}

fn validate_wrong_scope(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (_, d) = reply_draft(ctx)?;
    let token = ctx.token("keymgmt:list")?;
    post_reply(ctx, &token, &d.sign())
}

/// Counts the pairings the device has: the entries of a fresh authreq's scope map.
fn pairing_count(ctx: &mut Ctx) -> Result<usize, Abort> {
    Ok(ctx.authreq("keymgmt:list")?.entries())
}

fn ninth_pairing(ctx: &mut Ctx) -> Result<Check, Abort> {
    let have = pairing_count(ctx)?;
    let mut extra: Vec<String> = Vec::new();
    let mut result = Ok(Check::status(0));
    for i in have..MAX_PAIRINGS {
        match ctx.pair(&format!("Conformance filler {i}")) {
            Ok(a) => extra.push(a.kid),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    if result.is_ok() {
        result = (|| {
            let token = pair_token(ctx)?;
            let (_, request) = ctx.ext_init(&token)?;
            let (_, reply) = ctx.reply_for(&request, "Conformance ninth")?;
            let r = ctx.post_validate(&token, &proto::random_b64_32(), &reply)?;
            if r.status == 200 {
                extra.push(r.field("ext/validate", "kid")?);
            }
            Ok(Check::status(r.status))
        })();
    }
    // Restore the device to A and B only, whatever happened above.
    for kid in &extra {
        ctx.unpair(kid)?;
    }
    let mut c = result?;
    let left = pairing_count(ctx)?;
    c.expect(left == have, || {
        format!("{left} pairings after cleanup, {have} before")
    });
    Ok(c)
}
