//! `POST /api/auth/ext/request`: the authreq (spec §5.2–§5.6).

use hem_auth_core::codec;
use hem_auth_core::device::kid_to_hex;
use hem_auth_core::jwt::Header;
use hem_auth_core::scope::KeyHint;
use serde_json::{json, Value};

use super::{negative, nonce_time, positive, status};
use crate::case::{Abort, Case, Check};
use crate::ctx::{read_authreq, Authreq, Ctx};
use crate::proto;
use crate::target::Auth;

const PAIRED_AB: &[&str] = &["rtc/set", "ext-validate/pair-a", "ext-validate/pair-b"];
const PAIRED_A: &[&str] = &["rtc/set", "ext-validate/pair-a"];
const RTC: &[&str] = &["rtc/set"];

/// authreq lifetime for ordinary scopes (§4.4).
const AUTHREQ_SECS: u64 = 3600;
/// authreq lifetime for `keymgmt:use:<kid>` of an existing key (§4.4, §5.4).
const AUTHREQ_USE_SECS: u64 = 900;

pub(super) fn cases() -> Vec<Case> {
    vec![
        positive(
            "ext-request/authreq",
            "ext/request returns {authreq, epk}: a device JWT keyed X25519(eid, epk), iss = eid, aud = epk, exp = iat + 3600, jti time = iat, one sealed entry per pairing",
            "§5.3, §5.6: the authreq's claims and key, one sealed entry per pairing",
            200,
            PAIRED_AB,
            authreq_shape,
        ),
        positive(
            "ext-request/ctx-note",
            "ctx and note from the body are echoed into the authreq",
            "§5.2, §5.3: ctx and note are echoed into the authreq",
            200,
            PAIRED_A,
            ctx_note,
        ),
        positive(
            "ext-request/body-exp-ignored",
            "an `exp` in the body is ignored: the authreq still lives 3600 s",
            "§4.4, §15.2: an exp in the ext/request body is ignored",
            200,
            PAIRED_A,
            body_exp_ignored,
        ),
        positive(
            "ext-request/use-kid-hint",
            "keymgmt:use:<kid of an existing key> lives 900 s and its sealed plaintext carries #b64({t, l})",
            "§5.4, §4.4: keymgmt:use:<kid> gets the key hint and 900 s",
            200,
            PAIRED_A,
            use_kid_hint,
        ),
        positive(
            "ext-request/use-unknown-kid",
            "keymgmt:use:<kid of no key> is not rewritten and lives 3600 s",
            "§5.4, §4.4: keymgmt:use:<kid of no key> is not rewritten",
            200,
            PAIRED_A,
            use_unknown_kid,
        ),
        positive(
            "ext-request/scope-1023",
            "a 1023-character scope is accepted and sealed whole",
            "§3.6, §5.2: scope ≤ 1023 in ext/request",
            200,
            PAIRED_A,
            scope_1023,
        ),
        positive(
            "ext-request/epk-url-alphabet",
            "an epk in the URL alphabet without padding is accepted (tolerant binary input)",
            "§2.1: binary values in either alphabet, padding optional",
            200,
            PAIRED_A,
            epk_url_alphabet,
        ),
        negative(
            "ext-request/epk-missing",
            "an ext/request without epk is malformed",
            "§5.5: ext/request 400 (epk missing)",
            400,
            RTC,
            epk_missing,
        ),
        negative(
            "ext-request/epk-short",
            "an epk of 31 bytes is malformed",
            "§5.5: ext/request 400 (epk not 32 bytes)",
            400,
            RTC,
            epk_short,
        ),
        negative(
            "ext-request/epk-long",
            "an epk of 33 bytes is malformed",
            "§5.5: ext/request 400 (epk not 32 bytes)",
            400,
            RTC,
            epk_long,
        ),
        negative(
            "ext-request/epk-low-order",
            "an all-zero (low-order) epk is refused",
            "§5.5, §2.5: ext/request 400 (epk low-order)",
            400,
            RTC,
            epk_low_order,
        ),
        negative(
            "ext-request/epk-bit-255",
            "a key with bit 255 set (another spelling of a key) is refused",
            "§2.5, §5.5: ext/request 400 (epk not canonical)",
            400,
            RTC,
            epk_bit_255,
        )
        .advisory(),
        negative(
            "ext-request/epk-is-eid",
            "the device's own eid as epk is refused",
            "§2.5, §5.5: ext/request 400 (epk is the eid, the spk or a paired aid)",
            400,
            RTC,
            epk_is_eid,
        )
        .advisory(),
        negative(
            "ext-request/epk-is-paired-aid",
            "a paired authenticator's aid as epk is refused (X25519(eid, aid) is its S1)",
            "§2.5, §5.5: ext/request 400 (epk is the eid, the spk or a paired aid)",
            400,
            PAIRED_A,
            epk_is_paired_aid,
        )
        .advisory(),
        negative(
            "ext-request/epk-not-base64",
            "an epk that is not base64 is malformed",
            "§5.5: ext/request 400 (epk not 32 bytes)",
            400,
            RTC,
            epk_not_base64,
        ),
        negative(
            "ext-request/epk-wrong-type",
            "an epk that is a number is malformed",
            "§2.2, §5.5: a wrong type is an error; ext/request 400",
            400,
            RTC,
            epk_wrong_type,
        ),
        negative(
            "ext-request/scope-missing",
            "an ext/request without scope is malformed",
            "§5.5: ext/request 400 (scope missing)",
            400,
            RTC,
            scope_missing,
        ),
        negative(
            "ext-request/scope-empty",
            "an empty scope is malformed",
            "§5.5: ext/request 400 (scope empty)",
            400,
            RTC,
            scope_empty,
        ),
        negative(
            "ext-request/scope-1024",
            "a 1024-character scope is malformed",
            "§5.5, §3.6: ext/request 400 (scope too long)",
            400,
            RTC,
            scope_1024,
        ),
        negative(
            "ext-request/scope-control-character",
            "a scope with a carriage return and terminal escapes (a spoofed approval prompt) is malformed",
            "§8.6, §5.5: ext/request 400 (a scope character outside 0x21–0x7E)",
            400,
            RTC,
            scope_control_character,
        )
        .advisory(),
        negative(
            "ext-request/scope-hash",
            "a scope carrying its own `#` key hint is malformed (only the device appends one)",
            "§8.6, §5.4, §5.5: ext/request 400 (a `#` in the scope)",
            400,
            PAIRED_A,
            scope_hash,
        )
        .advisory(),
        negative(
            "ext-request/scope-space",
            "a scope with a space is malformed",
            "§8.6, §5.5: ext/request 400 (a scope character outside 0x21–0x7E)",
            400,
            RTC,
            scope_space,
        )
        .advisory(),
        negative(
            "ext-request/scope-wrong-type",
            "a scope that is an array is malformed",
            "§2.2, §5.5: a wrong type is an error; ext/request 400",
            400,
            RTC,
            scope_wrong_type,
        ),
        negative(
            "ext-request/body-not-json",
            "an ext/request body that is not JSON is malformed",
            "§5.5: ext/request 400 (body not a JSON object)",
            400,
            RTC,
            body_not_json,
        ),
        negative(
            "ext-request/body-array",
            "an ext/request body that is a JSON array is malformed",
            "§5.5: ext/request 400 (body not a JSON object)",
            400,
            RTC,
            body_array,
        ),
        negative(
            "ext-request/body-empty",
            "an empty ext/request body is malformed",
            "§5.5: ext/request 400 (body not a JSON object)",
            400,
            RTC,
            body_empty,
        ),
        negative(
            "ext-request/duplicate-member",
            "an ext/request body with `scope` twice is malformed",
            "§2.2, §5.5: duplicate members are rejected; ext/request 400",
            400,
            RTC,
            duplicate_member,
        ),
    ]
}

/// Runs `ext/request` for `scope` with `extra` body members and checks the common shape;
/// returns the check and the authreq when it verified.
fn request_checked(
    ctx: &mut Ctx,
    scope: &str,
    extra: &[(&str, Value)],
    lifetime: u64,
) -> Result<(Check, Option<Authreq>), Abort> {
    let eid = ctx.eid()?;
    let epk = proto::fresh_key();
    let r = ctx.post_ext_request(&epk, scope, extra)?;
    let mut c = Check::status(r.status);
    if r.status != 200 {
        return Ok((c, None));
    }
    // The broker role checks the echoed epk, iss = eid, the signature, aud = epk, exp > iat,
    // now < exp and the jti's form; the rest is checked here.
    let authreq = match read_authreq(epk, eid, &r.body, ctx.device_now()) {
        Ok(a) => a,
        Err(e) => {
            c.problems.push(format!("the authreq does not verify: {e}"));
            return Ok((c, None));
        }
    };
    let d = &authreq.jwt;
    let header = Header::Device.json();
    c.expect(d.header == header, || {
        format!("header {} instead of {header}", d.header)
    });
    let iat = d.u64("iat");
    let exp = d.u64("exp");
    c.expect(
        iat.is_some_and(|t| super::near(t, ctx.device_now())),
        || format!("iat {iat:?} is not now ({})", ctx.device_now()),
    );
    c.expect(iat.map(|t| t + lifetime) == exp, || {
        format!("exp {exp:?} is not iat {iat:?} + {lifetime}")
    });
    if let Some(t) = nonce_time(&mut c, "jti", d.str("jti")) {
        c.expect(Some(t) == iat, || {
            format!("jti time {t} is not iat {iat:?}")
        });
    }
    c.expect(d.claims.get("scope").is_some_and(Value::is_object), || {
        format!("scope is not an object: {:?}", d.claims.get("scope"))
    });
    Ok((c, Some(authreq)))
}

/// Opens A's entry and compares it with `want`.
fn expect_plaintext(
    ctx: &mut Ctx,
    c: &mut Check,
    authreq: &Authreq,
    want: &str,
) -> Result<(), Abort> {
    let a = ctx.authenticator(0)?;
    match ctx.open_entry(&a, authreq) {
        Ok(p) => c.expect(p == want, || {
            format!("A's entry opens to {p:?}, not {want:?}")
        }),
        Err(Abort::Fail { detail, .. }) => c.problems.push(detail),
        Err(e) => return Err(e),
    }
    Ok(())
}

fn authreq_shape(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (mut c, authreq) = request_checked(ctx, "keymgmt:list", &[], AUTHREQ_SECS)?;
    if let Some(authreq) = authreq {
        expect_plaintext(ctx, &mut c, &authreq, "keymgmt:list")?;
        for a in ctx.paired.clone() {
            c.expect(authreq.entry(&a.pid).is_some(), || {
                format!("no scope entry for pid {} ({})", a.pid, a.label)
            });
        }
        // B's entry is sealed for B: A cannot open it.
        if let (Ok(a), Ok(b)) = (ctx.authenticator(0), ctx.authenticator(1)) {
            if let Some(sealed_b) = authreq.entry(&b.pid) {
                let k = ctx.scope_key(&a, &authreq)?;
                c.expect(k.open(sealed_b).is_err(), || {
                    "A's key opens B's entry".into()
                });
            }
        }
    }
    Ok(c)
}

fn ctx_note(ctx: &mut Ctx) -> Result<Check, Abort> {
    let extra = [
        ("ctx", json!("conformance-ctx")),
        ("note", json!("conformance note")),
    ];
    let (mut c, authreq) = request_checked(ctx, "keymgmt:list", &extra, AUTHREQ_SECS)?;
    if let Some(a) = authreq {
        c.expect(a.jwt.str("ctx") == Some("conformance-ctx"), || {
            format!("ctx {:?} not echoed", a.jwt.claims.get("ctx"))
        });
        c.expect(a.jwt.str("note") == Some("conformance note"), || {
            format!("note {:?} not echoed", a.jwt.claims.get("note"))
        });
    }
    Ok(c)
}

fn body_exp_ignored(ctx: &mut Ctx) -> Result<Check, Abort> {
    let extra = [("exp", json!(ctx.device_now() + 120))];
    Ok(request_checked(ctx, "keymgmt:list", &extra, AUTHREQ_SECS)?.0)
}

fn use_kid_hint(ctx: &mut Ctx) -> Result<Check, Abort> {
    let a = ctx.authenticator(0)?;
    let scope = format!("keymgmt:use:{}", a.kid);
    let (mut c, authreq) = request_checked(ctx, &scope, &[], AUTHREQ_USE_SECS)?;
    if let Some(authreq) = authreq {
        let plain = ctx.open_entry(&a, &authreq)?;
        match plain.split_once('#') {
            Some((base, hint)) => {
                c.expect(base == scope, || {
                    format!("plaintext base {base:?} is not {scope:?}")
                });
                match KeyHint::decode(hint) {
                    Ok(h) => {
                        c.expect(h.l == a.label, || {
                            format!("hint label {:?} is not the key's label {:?}", h.l, a.label)
                        });
                        c.expect(
                            h.t.len() == 4 && h.t.bytes().all(|b| b.is_ascii_hexdigit()),
                            || format!("hint type {:?} is not 4 hex digits", h.t),
                        );
                    }
                    Err(e) => c.problems.push(format!("hint {hint:?}: {e}")),
                }
            }
            None => c.problems.push(format!("plaintext {plain:?} has no #hint")),
        }
    }
    Ok(c)
}

fn use_unknown_kid(ctx: &mut Ctx) -> Result<Check, Abort> {
    let scope = format!("keymgmt:use:{}", kid_to_hex(&[0x5au8; 16]));
    let (mut c, authreq) = request_checked(ctx, &scope, &[], AUTHREQ_SECS)?;
    if let Some(authreq) = authreq {
        expect_plaintext(ctx, &mut c, &authreq, &scope)?;
    }
    Ok(c)
}

fn scope_1023(ctx: &mut Ctx) -> Result<Check, Abort> {
    // With two pairings the authreq carries two ~1.4 kB sealed entries and exceeds the 4096
    // bytes §3.6 allows an *incoming* JWT, so the broker role (rightly) will not parse
    // it. Nothing caps what the device emits, so the runner checks this one by hand: the
    // HMAC under X25519(epk, eid) over the received bytes, then A's entry.
    let scope = format!("storage:{}", "d".repeat(1023 - "storage:".len()));
    let eid = ctx.eid()?;
    let epk = proto::fresh_key();
    let r = ctx.post_ext_request(&epk, &scope, &[])?;
    let mut c = Check::status(r.status);
    if r.status != 200 {
        return Ok(c);
    }
    let token = r.field("ext/request", "authreq")?;
    let key = proto::shared(&epk, &eid).map_err(Abort::fail)?;
    let (signed, sig) = token.rsplit_once('.').unwrap_or_default();
    let mut tag = [0u8; 33];
    let sig_ok = codec::decode_segment(sig.as_bytes(), &mut tag)
        .is_ok_and(|t| hem_auth_core::mac::mac_verify(key.as_bytes(), &[signed.as_bytes()], t));
    c.expect(sig_ok, || "the authreq's HMAC does not verify".into());
    let jwt = proto::decode(&token).map_err(Abort::fail)?;
    let authreq = Authreq {
        epk_secret: epk,
        jti: jwt.str("jti").unwrap_or_default().to_string(),
        iat: jwt.u64("iat").unwrap_or_default(),
        exp: jwt.u64("exp").unwrap_or_default(),
        jwt,
    };
    expect_plaintext(ctx, &mut c, &authreq, &scope)?;
    Ok(c)
}

fn epk_url_alphabet(ctx: &mut Ctx) -> Result<Check, Abort> {
    let eid = ctx.eid()?;
    // A key whose base64 shows both alphabet differences and padding.
    let epk = loop {
        let k = proto::fresh_key();
        let t = k.public_key().to_b64();
        if t.contains('+') || t.contains('/') {
            break k;
        }
    };
    let url = codec::pid_to_pidx(&epk.public_key().to_b64());
    let r = ctx.target.post_json(
        "/api/auth/ext/request",
        &json!({ "epk": url, "scope": "keymgmt:list" }),
        Auth::None,
    )?;
    let mut c = Check::status(r.status);
    if r.status == 200 {
        if let Err(e) = read_authreq(epk, eid, &r.body, ctx.device_now()) {
            c.problems.push(format!("the authreq does not verify: {e}"));
        }
    }
    Ok(c)
}

fn post_body(ctx: &mut Ctx, body: &[u8]) -> Result<Check, Abort> {
    status(ctx.target.post("/api/auth/ext/request", body, Auth::None)?)
}

fn post_value(ctx: &mut Ctx, body: Value) -> Result<Check, Abort> {
    status(
        ctx.target
            .post_json("/api/auth/ext/request", &body, Auth::None)?,
    )
}

fn epk_of_len(n: usize) -> String {
    codec::encode_std(&vec![0x42u8; n])
}

fn epk_missing(ctx: &mut Ctx) -> Result<Check, Abort> {
    post_value(ctx, json!({ "scope": "keymgmt:list" }))
}

fn epk_short(ctx: &mut Ctx) -> Result<Check, Abort> {
    post_value(
        ctx,
        json!({ "epk": epk_of_len(31), "scope": "keymgmt:list" }),
    )
}

fn epk_long(ctx: &mut Ctx) -> Result<Check, Abort> {
    post_value(
        ctx,
        json!({ "epk": epk_of_len(33), "scope": "keymgmt:list" }),
    )
}

fn epk_low_order(ctx: &mut Ctx) -> Result<Check, Abort> {
    post_value(
        ctx,
        json!({ "epk": codec::encode_std(&[0u8; 32]), "scope": "keymgmt:list" }),
    )
}

fn epk_bit_255(ctx: &mut Ctx) -> Result<Check, Abort> {
    let mut key = *proto::fresh_key().public_key().as_bytes();
    key[31] |= 0x80;
    post_value(
        ctx,
        json!({ "epk": codec::encode_std(&key), "scope": "keymgmt:list" }),
    )
}

fn epk_is_eid(ctx: &mut Ctx) -> Result<Check, Abort> {
    let eid = ctx.eid()?.to_b64();
    post_value(ctx, json!({ "epk": eid, "scope": "keymgmt:list" }))
}

fn epk_is_paired_aid(ctx: &mut Ctx) -> Result<Check, Abort> {
    let aid = ctx.authenticator(0)?.aid.to_b64();
    post_value(ctx, json!({ "epk": aid, "scope": "keymgmt:list" }))
}

fn epk_not_base64(ctx: &mut Ctx) -> Result<Check, Abort> {
    post_value(
        ctx,
        json!({ "epk": "!".repeat(44), "scope": "keymgmt:list" }),
    )
}

fn epk_wrong_type(ctx: &mut Ctx) -> Result<Check, Abort> {
    post_value(ctx, json!({ "epk": 42, "scope": "keymgmt:list" }))
}

fn fresh_epk() -> String {
    proto::fresh_key().public_key().to_b64()
}

fn scope_missing(ctx: &mut Ctx) -> Result<Check, Abort> {
    post_value(ctx, json!({ "epk": fresh_epk() }))
}

fn scope_empty(ctx: &mut Ctx) -> Result<Check, Abort> {
    post_value(ctx, json!({ "epk": fresh_epk(), "scope": "" }))
}

fn scope_1024(ctx: &mut Ctx) -> Result<Check, Abort> {
    let scope = format!("storage:{}", "d".repeat(1024 - "storage:".len()));
    post_value(ctx, json!({ "epk": fresh_epk(), "scope": scope }))
}

fn scope_control_character(ctx: &mut Ctx) -> Result<Check, Abort> {
    // Issue 14's attack: the prompt line is wiped and rewritten to name another scope.
    let scope = "system:config\r\u{1b}[2K\u{1b}[1A\u{1b}[2K\u{2026}asks for logger:get";
    post_value(ctx, json!({ "epk": fresh_epk(), "scope": scope }))
}

fn scope_hash(ctx: &mut Ctx) -> Result<Check, Abort> {
    // A requester's own hint naming a label it chose, after a real paired key's kid.
    let kid = ctx.authenticator(0)?.kid;
    let hint = KeyHint::new(0x9814, "Trusted key").to_suffix();
    let scope = format!("keymgmt:use:{kid}{hint}");
    post_value(ctx, json!({ "epk": fresh_epk(), "scope": scope }))
}

fn scope_space(ctx: &mut Ctx) -> Result<Check, Abort> {
    post_value(
        ctx,
        json!({ "epk": fresh_epk(), "scope": "keymgmt:list logger:get" }),
    )
}

fn scope_wrong_type(ctx: &mut Ctx) -> Result<Check, Abort> {
    post_value(
        ctx,
        json!({ "epk": fresh_epk(), "scope": ["keymgmt:list"] }),
    )
}

fn body_not_json(ctx: &mut Ctx) -> Result<Check, Abort> {
    post_body(ctx, b"epk=abc&scope=keymgmt:list")
}

fn body_array(ctx: &mut Ctx) -> Result<Check, Abort> {
    post_value(ctx, json!([fresh_epk(), "keymgmt:list"]))
}

fn body_empty(ctx: &mut Ctx) -> Result<Check, Abort> {
    post_body(ctx, b"")
}

fn duplicate_member(ctx: &mut Ctx) -> Result<Check, Abort> {
    let body = format!(
        r#"{{"epk":"{}","scope":"keymgmt:list","scope":"system:config"}}"#,
        fresh_epk()
    );
    post_body(ctx, body.as_bytes())
}
