//! `POST /api/auth/ext/token`: the authreply and the access token it buys (spec §5.7–§5.10;
//! the error order of §5.9).
//!
//! Every negative case starts from a fresh authreq and authenticator A's honest approval of it
//! and changes exactly one thing, re-signing properly unless the signature is the defect.

use hem_auth_core::codec;
use hem_auth_core::jwt::{self, Header};
use hem_auth_core::keys::SharedSecret;
use hem_auth_core::seal::ScopeKey;
use serde_json::{json, Value};

use super::{check_token_grant, near, negative, positive, status, token_detail_case, TokenDetail};
use crate::case::{Abort, Case, Check};
use crate::ctx::{Authreq, Ctx, APPROVAL_SECS};
use crate::proto::{self, Draft};
use crate::target::Auth;

const A: &[&str] = &["rtc/set", "ext-validate/pair-a"];
const AB: &[&str] = &["rtc/set", "ext-validate/pair-a", "ext-validate/pair-b"];
const RTC: &[&str] = &["rtc/set"];
const LIST: &[&str] = &["rtc/set", "ext-validate/pair-a", "ext-token/keymgmt-list"];

/// The firmware's fallback lifetime for an authreply `exp` of 0 (§5.10).
const ZERO_EXP_SECS: u64 = 8 * 3600;

const T400: &str = "§5.9: ext/token 400";

pub(super) fn cases() -> Vec<Case> {
    vec![
        // --- positives ---
        positive(
            "ext-token/keymgmt-list",
            "A approves keymgmt:list: token scope keymgmt:list, sub = b64(kid of A), exp = authreply exp verbatim, and it opens keymgmt/list",
            "§5.10, §2.6, §8.5: token scope, sub = b64(kid), exp verbatim; the token works as a bearer",
            200,
            A,
            keymgmt_list,
        ),
        // The token's form, a case per detail (as for the password login's token).
        positive(
            "ext-token/token-header",
            "an external login's token has the header {\"typ\":\"JWT\",\"alg\":\"HS256\"}, byte for byte",
            "§8.1, §3.2: the access-token header is exactly {\"typ\":\"JWT\",\"alg\":\"HS256\"}",
            200,
            LIST,
            token_header,
        ),
        positive(
            "ext-token/token-claim-order",
            "an external login's token carries scope, sub, iat, exp, jti in this order",
            "§8.1, §3.4: the payload members, in this order, are scope, sub, iat, exp, jti",
            200,
            LIST,
            token_claim_order,
        ),
        positive(
            "ext-token/token-iat",
            "an external login's token has iat = the device's time of minting",
            "§8.1, §5.10: iat is the device's time when it minted the token",
            200,
            LIST,
            token_iat,
        ),
        positive(
            "ext-token/token-jti",
            "an external login's token has a jti that is a time nonce whose time is iat",
            "§8.1, §4.1: jti is a fresh device time nonce whose first four bytes, little-endian, equal iat",
            200,
            LIST,
            token_jti,
        ),
        positive(
            "ext-token/storage-rw",
            "storage:disk0 requested, approved with write permission: token scope storage:disk0:rw",
            "§5.7, §5.10, §5.11: the :rw rule; the token carries the approved scope",
            200,
            A,
            storage_rw,
        ),
        positive(
            "ext-token/use-kid",
            "keymgmt:use:<kid> approved as sealed (with its #hint): the token scope has the hint stripped",
            "§5.10: the # suffix is stripped from the token scope",
            200,
            A,
            use_kid,
        ),
        positive(
            "ext-token/authenticator-b",
            "B approves its own entry: the token's sub is B's kid",
            "§5.10, §2.6: the token's sub is the approver's kid",
            200,
            AB,
            authenticator_b,
        ),
        positive(
            "ext-token/exp-zero",
            "an authreply exp of 0 buys a token living 8 h",
            "§5.10: an authreply exp of 0 means now + 8 h",
            200,
            A,
            exp_zero,
        ),
        positive(
            "ext-token/minimal-claims",
            "an authreply with only jti, iss, pid, scope, exp (no aud, no iat) is accepted",
            "§5.8: aud and iat are not required",
            200,
            A,
            minimal_claims,
        ),
        positive(
            "ext-token/php-header",
            "an authreply whose header is in the PHP tester's member order is accepted",
            "§3.3, §3.2: header member order is ignored",
            200,
            A,
            php_header,
        ),
        positive(
            "ext-token/url-alphabet",
            "jti, pid, iss and aud in the URL alphabet without padding are accepted",
            "§2.1: binary JSON values in either alphabet, padding optional",
            200,
            A,
            url_alphabet,
        ),
        positive(
            "ext-token/as-approved",
            "keymgmt:list requested, logger:get approved: the token carries what was approved",
            "§5.11: default policy AsApproved",
            200,
            A,
            as_approved,
        ),
        positive(
            "ext-token/failure-keeps-nonce",
            "an authreply refused for its MAC does not consume the authreq: the honest one still succeeds",
            "§4.2, §5.9: a failed verification does not consume the nonce",
            200,
            A,
            failure_keeps_nonce,
        ),
        positive(
            "ext-token/flood-keeps-authreq",
            "an authreq issued before 200 anonymous ext/request calls, then approved, still buys its token",
            "§4.3, §4.2, §5.9: issuing an authreq stores nothing, so no flood of ext/request invalidates a pending one",
            200,
            A,
            flood_keeps_authreq,
        )
        .advisory(),
        // --- 400: body or JWT malformed, claims missing or of the wrong type ---
        negative("ext-token/body-not-json", "an ext/token body that is not JSON", T400, 400, RTC, body_not_json),
        negative("ext-token/authreply-missing", "an ext/token body without authreply", T400, 400, RTC, authreply_missing),
        negative("ext-token/authreply-wrong-type", "an authreply that is a number", T400, 400, RTC, authreply_wrong_type),
        negative("ext-token/empty-token", "an empty authreply string", T400, 400, RTC, empty_token),
        negative("ext-token/two-segments", "an authreply with two segments", T400, 400, A, two_segments),
        negative("ext-token/four-segments", "an authreply with a fourth segment", T400, 400, A, four_segments),
        negative("ext-token/padded-segment", "an authreply whose payload segment has base64 padding (re-signed)", "§2.1, §5.9: a segment with padding is rejected; ext/token 400", 400, A, padded_segment),
        negative("ext-token/standard-alphabet", "an authreply whose signature segment uses + or / for - or _", "§2.1, §5.9: characters outside the url alphabet are rejected; ext/token 400", 400, A, standard_alphabet),
        negative("ext-token/whitespace", "an authreply with a space inside a segment (re-signed)", "§2.1, §5.9: whitespace is rejected; ext/token 400", 400, A, whitespace),
        negative("ext-token/short-signature", "an authreply whose signature is 31 bytes", T400, 400, A, short_signature),
        negative("ext-token/oversized", "a properly signed authreply longer than 4096 bytes", "§3.6, §5.9: a received JWT is at most 4096 bytes; ext/token 400", 400, A, oversized),
        negative("ext-token/header-not-json", "an authreply whose header is not JSON", T400, 400, A, header_not_json),
        negative("ext-token/payload-not-object", "an authreply whose payload is a JSON array", T400, 400, A, payload_not_object),
        negative("ext-token/duplicate-claim", "an authreply with `exp` twice in its payload", "§2.2, §5.9: duplicate members are rejected; ext/token 400", 400, A, duplicate_claim),
        negative("ext-token/missing-jti", "an authreply without jti", "§5.9, §5.8: ext/token 400 (required claim missing)", 400, A, missing_jti),
        negative("ext-token/missing-pid", "an authreply without pid", "§5.9, §5.8: ext/token 400 (required claim missing)", 400, A, missing_pid),
        negative("ext-token/missing-iss", "an authreply without iss", "§5.9, §5.8: ext/token 400 (required claim missing)", 400, A, missing_iss),
        negative("ext-token/missing-scope", "an authreply without scope", "§5.9, §5.8: ext/token 400 (required claim missing)", 400, A, missing_scope),
        negative("ext-token/missing-exp", "an authreply without exp", "§5.9, §5.8: ext/token 400 (required claim missing)", 400, A, missing_exp),
        negative("ext-token/exp-string", "an authreply whose exp is a string", "§2.2, §5.9: a date as a string is malformed; ext/token 400", 400, A, exp_string),
        negative("ext-token/exp-float", "an authreply whose exp has a fraction", "§2.2, §5.9: a fractional date is malformed; ext/token 400", 400, A, exp_float),
        negative("ext-token/exp-negative", "an authreply whose exp is negative", "§2.2, §5.9: dates are u64; ext/token 400", 400, A, exp_negative),
        negative("ext-token/jti-wrong-type", "an authreply whose jti is a number", "§5.9, §2.2: ext/token 400 (claim of the wrong type)", 400, A, jti_wrong_type),
        negative("ext-token/pid-short", "an authreply whose pid is 16 bytes", "§5.9: ext/token 400 (pid not 32 bytes)", 400, A, pid_short),
        negative("ext-token/pid-not-base64", "an authreply whose pid is not base64", "§5.9: ext/token 400 (pid not 32 bytes)", 400, A, pid_not_base64),
        // --- 406: pairing lookup (before the MAC), then the sealed scope (after it) ---
        negative("ext-token/unknown-pid", "an authreply naming a pid that is not paired", "§5.9: ext/token 406 (pid not paired)", 406, A, unknown_pid),
        negative("ext-token/iss-mismatch", "A's pid with an iss that is not A's aid", "§5.9: ext/token 406 (iss ≠ the paired aid)", 406, A, iss_mismatch),
        negative("ext-token/iss-of-b", "B signs an approval naming A's pid with its own aid as iss", "§5.9: ext/token 406 (iss ≠ the paired aid)", 406, AB, iss_of_b),
        negative("ext-token/scheme-b", "a sealed scope whose scheme letter is B", "§5.9, §5.6: ext/token 406 (scope scheme not A)", 406, A, scheme_b),
        negative("ext-token/scope-empty", "an empty sealed scope", "§5.9, §5.6: ext/token 406 (scope scheme not A)", 406, A, scope_empty),
        negative("ext-token/truncated-ciphertext", "a sealed scope one byte short", "§5.9, §5.6: ext/token 406 (scope decrypt failure)", 406, A, truncated_ciphertext),
        negative("ext-token/bad-tag", "a sealed scope with one tag bit flipped", "§5.9, §5.6: ext/token 406 (scope tag failure)", 406, A, bad_tag),
        negative("ext-token/wrong-seal-key", "a scope sealed under K of another nonce", "§5.9, §5.6: ext/token 406 (scope padding or tag failure)", 406, A, wrong_seal_key),
        negative("ext-token/sealed-for-b", "A returns the entry sealed for B", "§5.9, §5.6: ext/token 406 (scope tag failure)", 406, AB, sealed_for_b),
        negative("ext-token/scope-not-base64", "a sealed scope that is not base64", "§5.9, §5.6: ext/token 406 (scope decrypt failure)", 406, A, scope_not_base64),
        // --- 401: header policy, MAC, aud, nonce, expiry ---
        negative("ext-token/replay", "the same approval posted twice: the second is refused", "§5.9, §4.2: a replayed authreply is 401 (nonce not pending)", 401, A, replay),
        negative("ext-token/bad-mac", "an approval with one signature bit flipped", "§5.9: ext/token 401 (bad MAC)", 401, A, bad_mac),
        negative("ext-token/payload-altered", "an approval whose exp was changed after signing", "§5.9: ext/token 401 (bad MAC)", 401, A, payload_altered),
        negative("ext-token/wrong-key", "an approval signed with a key other than S1", "§5.9: ext/token 401 (bad MAC)", 401, A, wrong_key),
        negative("ext-token/alg-none", "an approval whose header says alg none", "§5.9, §3.3: ext/token 401 (header policy)", 401, A, alg_none),
        negative("ext-token/alg-hs512", "an approval whose header says alg HS512", "§5.9, §3.3: ext/token 401 (header policy)", 401, A, alg_hs512),
        negative("ext-token/alg-missing", "an approval whose header has no alg", "§5.9, §3.3: ext/token 401 (header policy)", 401, A, alg_missing),
        negative("ext-token/ecdh-missing", "an approval whose header has no ecdh", "§5.9, §3.3: ext/token 401 (header policy)", 401, A, ecdh_missing),
        negative("ext-token/ecdh-other", "an approval whose header says ecdh p256", "§5.9, §3.3: ext/token 401 (header policy)", 401, A, ecdh_other),
        negative("ext-token/crit-header", "an approval whose header has a crit member", "§3.3, §5.9: a crit member is a rejection; ext/token 401", 401, A, crit_header),
        negative("ext-token/header-array", "an approval whose header is a JSON array", "§3.3, §5.9: a non-object header is a rejection; ext/token 401", 401, A, header_array),
        negative("ext-token/header-duplicate", "an approval whose header has alg twice", "§3.3, §5.9: a duplicate header member is a rejection; ext/token 401", 401, A, header_duplicate),
        negative("ext-token/aud-wrong", "an approval whose aud is not the eid", "§5.9, §5.8: ext/token 401 (aud present and ≠ eid)", 401, A, aud_wrong),
        negative("ext-token/unknown-jti", "an approval echoing a nonce the device never issued", "§5.9, §4.2: ext/token 401 (nonce not pending)", 401, A, unknown_jti),
        negative("ext-token/login-jti", "an approval echoing a login-challenge nonce (wrong purpose)", "§4.2, §5.9: a nonce is accepted only for its own purpose", 401, A, login_jti),
        negative("ext-token/pairing-jti", "an approval echoing a pairing-request nonce (wrong purpose)", "§4.2, §5.9: a nonce is accepted only for its own purpose", 401, A, pairing_jti),
        negative("ext-token/exp-past", "an approval whose exp is a minute ago", "§5.9: ext/token 401 (exp not after now)", 401, A, exp_past),
        negative("ext-token/exp-now", "an approval whose exp is the authreq's iat (≤ now)", "§5.9: ext/token 401 (exp not after now)", 401, A, exp_now),
    ]
}

/// What the approving authenticator grants.
#[derive(Clone, Copy)]
enum Grant<'a> {
    /// What the phone app grants: the requested scope, write access when asked, 15 minutes.
    Phone { writable: bool },
    /// Any scope text, valid until `exp` (0: the device's 8 h default).
    Custom { scope: &'a str, exp: u64 },
}

/// Authenticator `index` approves a fresh authreq for `scope`; returns the answer and the
/// approval's `exp`.
fn approve_post(
    ctx: &mut Ctx,
    index: usize,
    scope: &str,
    grant: Grant<'_>,
) -> Result<(crate::target::Response, u64), Abort> {
    let a = ctx.authenticator(index)?;
    let authreq = ctx.authreq(scope)?;
    let (authreply, exp) = match grant {
        Grant::Phone { writable } => {
            let approval = ctx.phone_approval(&a, &authreq, writable)?;
            (approval.authreply, approval.exp.as_secs())
        }
        Grant::Custom { scope, exp } => (ctx.approve(&a, &authreq, scope, exp)?, exp),
    };
    Ok((ctx.post_ext_token(&authreply)?, exp))
}

/// Runs an approval and checks the token it buys.
fn login_checked(
    ctx: &mut Ctx,
    index: usize,
    scope: &str,
    grant: Grant<'_>,
    want_scope: &str,
) -> Result<(Check, Option<String>), Abort> {
    let a = ctx.authenticator(index)?;
    let (r, exp) = approve_post(ctx, index, scope, grant)?;
    let mut c = Check::status(r.status);
    if r.status != 200 {
        return Ok((c, None));
    }
    let token = r.field("ext/token", "token")?;
    check_token_grant(
        &mut c,
        &token,
        want_scope,
        &proto::sub_of_kid(&a.kid),
        Some(exp),
    );
    Ok((c, Some(token)))
}

const PHONE: Grant<'static> = Grant::Phone { writable: false };

fn keymgmt_list(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (mut c, token) = login_checked(ctx, 0, "keymgmt:list", PHONE, "keymgmt:list")?;
    if let Some(t) = token {
        // Works as a bearer: keymgmt:list opens keymgmt/list (§8.5).
        let used = ctx.target.get("/api/keymgmt/list", Auth::Bearer(&t))?;
        c.expect(used.status == 200, || {
            format!(
                "the token does not open keymgmt/list: status {} instead of 200",
                used.status
            )
        });
        if c.problems.is_empty() {
            ctx.remember_ext_token("keymgmt:list", &t);
        }
    }
    Ok(c)
}

/// A fresh token from A's approval of keymgmt:list, for the token-detail cases.
fn detail_login(ctx: &mut Ctx) -> Result<String, Abort> {
    let (r, _) = approve_post(ctx, 0, "keymgmt:list", PHONE)?;
    r.require("ext/token", 200)?.field("ext/token", "token")
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

fn storage_rw(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (c, _) = login_checked(
        ctx,
        0,
        "storage:disk0",
        Grant::Phone { writable: true },
        "storage:disk0:rw",
    )?;
    Ok(c)
}

fn use_kid(ctx: &mut Ctx) -> Result<Check, Abort> {
    // The phone grants the plaintext as sealed, #hint included (ext-request/use-kid-hint
    // checks that the hint is there).
    let a = ctx.authenticator(0)?;
    let want = format!("keymgmt:use:{}", a.kid);
    Ok(login_checked(ctx, 0, &want, PHONE, &want)?.0)
}

fn authenticator_b(ctx: &mut Ctx) -> Result<Check, Abort> {
    Ok(login_checked(ctx, 1, "keymgmt:list", PHONE, "keymgmt:list")?.0)
}

fn exp_zero(ctx: &mut Ctx) -> Result<Check, Abort> {
    let grant = Grant::Custom {
        scope: "keymgmt:list",
        exp: 0,
    };
    let (r, _) = approve_post(ctx, 0, "keymgmt:list", grant)?;
    let mut c = Check::status(r.status);
    if r.status == 200 {
        let token = r.field("ext/token", "token")?;
        let d = proto::decode(&token).map_err(Abort::fail)?;
        let now = ctx.device_now();
        let exp = d.u64("exp");
        c.expect(exp.is_some_and(|e| near(e, now + ZERO_EXP_SECS)), || {
            format!(
                "token exp {exp:?} is not now + 8 h ({})",
                now + ZERO_EXP_SECS
            )
        });
    }
    Ok(c)
}

fn minimal_claims(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (d, _) = ctx.approval_draft(0)?;
    let c = d.claims();
    let get = |k: &str| c.get(k).cloned().unwrap_or(Value::Null);
    // The C simulator's order: jti, iss, pid, scope, exp.
    let payload = format!(
        r#"{{"jti":{},"iss":{},"pid":{},"scope":{},"exp":{}}}"#,
        get("jti"),
        get("iss"),
        get("pid"),
        get("scope"),
        get("exp")
    );
    status(ctx.post_ext_token(&proto::forge(Header::App.json(), &payload, &d.key))?)
}

fn php_header(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil(ctx, |_, mut d, _| {
        d.header = Header::Php.json().to_string();
        Ok(d.sign())
    })
}

fn url_alphabet(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil(ctx, |_, d, _| {
        let mut c = d.claims();
        for k in ["jti", "pid", "iss", "aud"] {
            if let Some(Value::String(s)) = c.get(k).cloned() {
                c.insert(k.to_string(), json!(codec::pid_to_pidx(&s)));
            }
        }
        let mut d = d;
        d.set_claims(&c);
        Ok(d.sign())
    })
}

fn as_approved(ctx: &mut Ctx) -> Result<Check, Abort> {
    let exp = ctx.device_now() + APPROVAL_SECS;
    let grant = Grant::Custom {
        scope: "logger:get",
        exp,
    };
    Ok(login_checked(ctx, 0, "keymgmt:list", grant, "logger:get")?.0)
}

fn failure_keeps_nonce(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (d, _) = ctx.approval_draft(0)?;
    let honest = d.sign();
    ctx.post_ext_token(&proto::flip_signature(&honest))?
        .require("the tampered approval", 401)?;
    status(ctx.post_ext_token(&honest)?)
}

fn flood_keeps_authreq(ctx: &mut Ctx) -> Result<Check, Abort> {
    let a = ctx.authenticator(0)?;
    let authreq = ctx.authreq("keymgmt:list")?;
    let approval = ctx.phone_approval(&a, &authreq, false)?;
    let epk = proto::fresh_key();
    for i in 0..super::auth_token::FLOOD {
        ctx.post_ext_request(&epk, "keymgmt:list", &[])?
            .require(&format!("anonymous ext/request {}", i + 1), 200)?;
    }
    let r = ctx.post_ext_token(&approval.authreply)?;
    let mut c = Check::status(r.status);
    if r.status == 200 {
        let token = r.field("ext/token", "token")?;
        let sub = proto::sub_of_kid(&a.kid);
        check_token_grant(
            &mut c,
            &token,
            "keymgmt:list",
            &sub,
            Some(approval.exp.as_secs()),
        );
    }
    Ok(c)
}

// --- building blocks of the negative cases ---

/// A's honest approval of a fresh authreq, changed by `edit`, posted.
fn spoil(
    ctx: &mut Ctx,
    edit: impl FnOnce(&mut Ctx, Draft, &Authreq) -> Result<String, Abort>,
) -> Result<Check, Abort> {
    let (draft, authreq) = ctx.approval_draft(0)?;
    let token = edit(ctx, draft, &authreq)?;
    status(ctx.post_ext_token(&token)?)
}

fn spoil_claim(ctx: &mut Ctx, name: &str, value: Option<Value>) -> Result<Check, Abort> {
    spoil(ctx, |_, d, _| Ok(d.claim(name, value).sign()))
}

fn spoil_header(ctx: &mut Ctx, header: &str) -> Result<Check, Abort> {
    spoil(ctx, |_, mut d, _| {
        d.header = header.to_string();
        Ok(d.sign())
    })
}

/// Edits the compact text of A's approval: `edit` gets the token's three segments and its
/// key and returns the spoilt token, or `None` when this token gives it nothing to work on.
/// The (unchecked) `iat` is then varied, in value and length, until one does; 64 tries are
/// plenty for every edit used here.
fn spoil_text(
    ctx: &mut Ctx,
    edit: impl Fn([&str; 3], &[u8; 32]) -> Option<String>,
) -> Result<Check, Abort> {
    spoil(ctx, |_, d, _| {
        for i in 0..64u32 {
            let iat = 10u64.pow(i % 12) + u64::from(i / 12);
            let token = d.clone().claim("iat", Some(json!(iat))).sign();
            let mut parts = token.split('.');
            let segments = [(); 3].map(|()| parts.next().unwrap_or_default());
            if let Some(spoilt) = edit(segments, &d.key) {
                return Ok(spoilt);
            }
        }
        Err(Abort::fail("could not build the defect"))
    })
}

/// `header.payload` signed as they stand.
fn resign(header: &str, payload: &str, key: &[u8; 32]) -> String {
    let signed = format!("{header}.{payload}");
    let tag = hem_auth_core::mac::mac(key, signed.as_bytes());
    format!("{signed}.{}", codec::encode_segment(&tag))
}

/// Replaces the sealed scope.
fn spoil_scope(ctx: &mut Ctx, edit: impl FnOnce(&str) -> String) -> Result<Check, Abort> {
    spoil(ctx, |_, d, _| {
        let sealed = d
            .claims()
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok(d.claim("scope", Some(json!(edit(&sealed)))).sign())
    })
}

/// The raw bytes of a sealed scope (after the scheme letter).
fn blob(sealed: &str) -> Vec<u8> {
    let mut buf = vec![0u8; sealed.len()];
    codec::decode_std_into(sealed.get(1..).unwrap_or_default(), &mut buf)
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

fn post_raw_body(ctx: &mut Ctx, body: &[u8]) -> Result<Check, Abort> {
    status(ctx.target.post("/api/auth/ext/token", body, Auth::None)?)
}

// --- 400 ---

fn body_not_json(ctx: &mut Ctx) -> Result<Check, Abort> {
    post_raw_body(ctx, b"{\"authreply\":")
}

fn authreply_missing(ctx: &mut Ctx) -> Result<Check, Abort> {
    post_raw_body(ctx, b"{\"reply\":\"a.b.c\"}")
}

fn authreply_wrong_type(ctx: &mut Ctx) -> Result<Check, Abort> {
    post_raw_body(ctx, b"{\"authreply\":7}")
}

fn empty_token(ctx: &mut Ctx) -> Result<Check, Abort> {
    status(ctx.post_ext_token("")?)
}

fn two_segments(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil(ctx, |_, d, _| {
        let t = d.sign();
        Ok(t.rsplit_once('.')
            .map(|(hp, _)| hp.to_string())
            .unwrap_or(t))
    })
}

fn four_segments(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil(ctx, |_, d, _| Ok(format!("{}.e30", d.sign())))
}

fn padded_segment(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_text(ctx, |[h, p, _], key| {
        let pad = (4 - p.len() % 4) % 4;
        (pad > 0).then(|| resign(h, &format!("{p}{}", "=".repeat(pad)), key))
    })
}

fn standard_alphabet(ctx: &mut Ctx) -> Result<Check, Abort> {
    // In the signature, so the signed bytes stay as they are: `+`//` decode to the very same
    // bytes in the standard alphabet, and only the alphabet is wrong.
    spoil_text(ctx, |[h, p, s], _| {
        let i = s.find(['-', '_'])?;
        let mut t = s.to_string();
        let std = if s.as_bytes().get(i) == Some(&b'-') {
            "+"
        } else {
            "/"
        };
        t.replace_range(i..=i, std);
        Some(format!("{h}.{p}.{t}"))
    })
}

fn whitespace(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_text(ctx, |[h, p, _], key| {
        let mid = p.len() / 2;
        Some(resign(h, &format!("{} {}", &p[..mid], &p[mid..]), key))
    })
}

fn short_signature(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil(ctx, |_, d, _| {
        let t = d.sign();
        let (hp, _) = t.rsplit_once('.').unwrap_or((&t, ""));
        let tag = hem_auth_core::mac::mac(&d.key, hp.as_bytes());
        Ok(format!("{hp}.{}", codec::encode_segment(&tag[..31])))
    })
}

fn oversized(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil(ctx, |_, d, _| {
        let t = d.claim("x", Some(json!("a".repeat(3600)))).sign();
        if t.len() <= jwt::MAX_JWT_BYTES {
            return Err(Abort::fail("oversized token came out too short"));
        }
        Ok(t)
    })
}

fn header_not_json(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_header(ctx, "HS256 x25519")
}

fn payload_not_object(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil(ctx, |_, mut d, _| {
        d.payload = format!("[{}]", d.payload);
        Ok(d.sign())
    })
}

fn duplicate_claim(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil(ctx, |_, mut d, _| {
        let exp = d.claims().get("exp").cloned().unwrap_or(Value::Null);
        d.payload = d.payload.replacen('{', &format!("{{\"exp\":{exp},"), 1);
        Ok(d.sign())
    })
}

fn missing_jti(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_claim(ctx, "jti", None)
}

fn missing_pid(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_claim(ctx, "pid", None)
}

fn missing_iss(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_claim(ctx, "iss", None)
}

fn missing_scope(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_claim(ctx, "scope", None)
}

fn missing_exp(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_claim(ctx, "exp", None)
}

fn exp_string(ctx: &mut Ctx) -> Result<Check, Abort> {
    let exp = (ctx.device_now() + APPROVAL_SECS).to_string();
    spoil_claim(ctx, "exp", Some(json!(exp)))
}

fn exp_float(ctx: &mut Ctx) -> Result<Check, Abort> {
    let exp = (ctx.device_now() + APPROVAL_SECS) as f64 + 0.5;
    spoil_claim(ctx, "exp", Some(json!(exp)))
}

fn exp_negative(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_claim(ctx, "exp", Some(json!(-1)))
}

fn jti_wrong_type(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_claim(ctx, "jti", Some(json!(1234)))
}

fn pid_short(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_claim(ctx, "pid", Some(json!(codec::encode_std(&[3u8; 16]))))
}

fn pid_not_base64(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_claim(ctx, "pid", Some(json!("%".repeat(44))))
}

// --- 406 ---

fn unknown_pid(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_claim(ctx, "pid", Some(json!(proto::random_b64_32())))
}

fn iss_mismatch(ctx: &mut Ctx) -> Result<Check, Abort> {
    let stranger = proto::fresh_key().public_key().to_b64();
    spoil_claim(ctx, "iss", Some(json!(stranger)))
}

fn iss_of_b(ctx: &mut Ctx) -> Result<Check, Abort> {
    let b = ctx.authenticator(1)?;
    let s1_b = ctx.s1(&b)?;
    spoil(ctx, |_, d, _| {
        let mut d = d.claim("iss", Some(json!(b.aid.to_b64())));
        d.key = *s1_b.as_bytes();
        Ok(d.sign())
    })
}

fn scheme_b(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_scope(ctx, |s| format!("B{}", s.get(1..).unwrap_or_default()))
}

fn scope_empty(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_scope(ctx, |_| String::new())
}

fn truncated_ciphertext(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_scope(ctx, |s| {
        let b = blob(s);
        format!("A{}", codec::encode_std(&b[..b.len().saturating_sub(1)]))
    })
}

fn bad_tag(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_scope(ctx, |s| {
        let mut b = blob(s);
        if let Some(last) = b.last_mut() {
            *last ^= 0x01;
        }
        format!("A{}", codec::encode_std(&b))
    })
}

fn wrong_seal_key(ctx: &mut Ctx) -> Result<Check, Abort> {
    let a = ctx.authenticator(0)?;
    let s1 = ctx.s1(&a)?;
    spoil_scope(ctx, |_| {
        let other = ScopeKey::derive(&s1, &[0x77u8; 32]);
        other.seal("keymgmt:list").unwrap_or_default()
    })
}

fn sealed_for_b(ctx: &mut Ctx) -> Result<Check, Abort> {
    let b = ctx.authenticator(1)?;
    spoil(ctx, |_, d, authreq| {
        let theirs = authreq
            .entry(&b.pid)
            .ok_or_else(|| Abort::fail("authreq has no entry for B"))?
            .to_string();
        Ok(d.claim("scope", Some(json!(theirs))).sign())
    })
}

fn scope_not_base64(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_scope(ctx, |_| "A!!!!not-base64!!!!".to_string())
}

// --- 401 ---

fn replay(ctx: &mut Ctx) -> Result<Check, Abort> {
    let (d, _) = ctx.approval_draft(0)?;
    let honest = d.sign();
    ctx.post_ext_token(&honest)?
        .require("the first approval", 200)?;
    status(ctx.post_ext_token(&honest)?)
}

fn bad_mac(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil(ctx, |_, d, _| Ok(proto::flip_signature(&d.sign())))
}

fn payload_altered(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil(ctx, |_, d, _| {
        let honest = d.sign();
        let exp = d
            .claims()
            .get("exp")
            .and_then(Value::as_u64)
            .unwrap_or_default();
        let altered = d.claim("exp", Some(json!(exp + 3600)));
        Ok(proto::swap_payload(&honest, &altered.payload))
    })
}

fn wrong_key(ctx: &mut Ctx) -> Result<Check, Abort> {
    let eid = ctx.eid()?;
    let other: SharedSecret = proto::shared(&proto::fresh_key(), &eid).map_err(Abort::fail)?;
    spoil(ctx, |_, mut d, _| {
        d.key = *other.as_bytes();
        Ok(d.sign())
    })
}

fn alg_none(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_header(ctx, r#"{"ecdh":"x25519","alg":"none","typ":"JWT"}"#)
}

fn alg_hs512(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_header(ctx, r#"{"ecdh":"x25519","alg":"HS512","typ":"JWT"}"#)
}

fn alg_missing(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_header(ctx, r#"{"ecdh":"x25519","typ":"JWT"}"#)
}

fn ecdh_missing(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_header(ctx, Header::AccessToken.json())
}

fn ecdh_other(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_header(ctx, r#"{"ecdh":"p256","alg":"HS256","typ":"JWT"}"#)
}

fn crit_header(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_header(
        ctx,
        r#"{"ecdh":"x25519","alg":"HS256","typ":"JWT","crit":["exp"]}"#,
    )
}

fn header_array(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_header(ctx, r#"["ecdh","x25519","alg","HS256"]"#)
}

fn header_duplicate(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_header(
        ctx,
        r#"{"ecdh":"x25519","alg":"HS256","alg":"HS256","typ":"JWT"}"#,
    )
}

fn aud_wrong(ctx: &mut Ctx) -> Result<Check, Abort> {
    let stranger = proto::fresh_key().public_key().to_b64();
    spoil_claim(ctx, "aud", Some(json!(stranger)))
}

fn unknown_jti(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil_claim(ctx, "jti", Some(json!(proto::random_b64_32())))
}

fn login_jti(ctx: &mut Ctx) -> Result<Check, Abort> {
    let ch = ctx.challenge()?;
    spoil_claim(ctx, "jti", Some(json!(ch.parsed.jti())))
}

fn pairing_jti(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("auth:ext:pair")?;
    let (_, request) = ctx.ext_init(&token)?;
    let jti = request
        .str("jti")
        .ok_or_else(|| Abort::fail("pairing request has no jti"))?
        .to_string();
    spoil_claim(ctx, "jti", Some(json!(jti)))
}

fn exp_past(ctx: &mut Ctx) -> Result<Check, Abort> {
    let past = ctx.device_now().saturating_sub(60);
    spoil_claim(ctx, "exp", Some(json!(past)))
}

fn exp_now(ctx: &mut Ctx) -> Result<Check, Abort> {
    spoil(ctx, |_, d, authreq| {
        Ok(d.claim("exp", Some(json!(authreq.iat))).sign())
    })
}
