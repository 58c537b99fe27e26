//! Transport rules every endpoint shares (FACTS Appendix B, §1.1; DECISIONS Wire formats).

use hem_auth_core::messages::MAX_BODY_BYTES;
use serde_json::json;

use super::{negative, positive};
use crate::case::{Abort, Case, Check};
use crate::ctx::{read_authreq, Ctx};
use crate::proto;
use crate::target::{Auth, Response};

const RTC: &[&str] = &["rtc/set"];
const LOGIN: &[&str] = &["auth-token/login"];

pub(super) fn cases() -> Vec<Case> {
    vec![
        negative(
            "wire/body-too-large",
            "a 7301-byte ext/request body is refused before it is parsed",
            "DECISIONS Wire formats (body 7300 bytes, 413 above); FACTS Appendix B",
            413,
            &[],
            body_too_large,
        ),
        negative(
            "wire/body-too-large-token",
            "a 7301-byte ext/token body is refused before it is parsed",
            "DECISIONS Wire formats (body 7300 bytes, 413 above); FACTS Appendix B",
            413,
            &[],
            body_too_large_token,
        ),
        positive(
            "wire/body-at-limit",
            "a valid 7300-byte ext/request body (padded with whitespace) is accepted",
            "DECISIONS Wire formats (body 7300 bytes)",
            200,
            RTC,
            body_at_limit,
        ),
        negative(
            "wire/error-body-400",
            "a 400 answer has an empty body and Content-Type application/json",
            "FACTS Appendix B (error bodies are empty, Content-Type application/json)",
            400,
            RTC,
            error_400,
        ),
        negative(
            "wire/error-body-401",
            "a 401 answer has an empty body and Content-Type application/json",
            "FACTS Appendix B (error bodies are empty, Content-Type application/json)",
            401,
            &[],
            error_401,
        ),
        negative(
            "wire/error-body-403",
            "a 403 answer has an empty body and Content-Type application/json",
            "FACTS Appendix B (error bodies are empty, Content-Type application/json)",
            403,
            LOGIN,
            error_403,
        ),
        negative(
            "wire/error-body-406",
            "a 406 answer has an empty body and Content-Type application/json",
            "FACTS Appendix B (error bodies are empty, Content-Type application/json)",
            406,
            RTC,
            error_406,
        ),
        positive(
            "wire/json-content-type",
            "200 answers (challenge, status, version) carry Content-Type application/json",
            "FACTS Appendix B; issue 5 (JSON bodies with Content-Type application/json)",
            200,
            &[],
            json_content_type,
        ),
        positive(
            "wire/escaped-slash",
            "a body whose base64 slashes are written \\/ (as PHP's json_encode does) is accepted",
            "FACTS §1.1 (the device accepts \\/ escapes)",
            200,
            RTC,
            escaped_slash,
        ),
        positive(
            "wire/unknown-members",
            "unknown members in an ext/request body (a whole broker session object) are ignored",
            "FACTS §9 Q17 (extra body fields ignored)",
            200,
            RTC,
            unknown_members,
        ),
    ]
}

/// A JSON object `{"epk": …, "scope": …}` padded with spaces to exactly `len` bytes.
fn padded_request(len: usize) -> Vec<u8> {
    let core = json!({ "epk": proto::fresh_key().public_key().to_b64(), "scope": "keymgmt:list" })
        .to_string();
    let mut body = core.into_bytes();
    let close = body.pop().unwrap_or(b'}');
    body.resize(len.saturating_sub(1), b' ');
    body.push(close);
    body
}

fn body_too_large(ctx: &mut Ctx) -> Result<Check, Abort> {
    let r = ctx.target.post(
        "/api/auth/ext/request",
        &padded_request(MAX_BODY_BYTES + 1),
        Auth::None,
    )?;
    Ok(error_shape(r))
}

fn body_too_large_token(ctx: &mut Ctx) -> Result<Check, Abort> {
    let prefix = "{\"authreply\":\"";
    let fill = MAX_BODY_BYTES + 1 - prefix.len() - 2;
    let body = format!("{prefix}{}\"}}", "a".repeat(fill));
    let r = ctx
        .target
        .post("/api/auth/ext/token", body.as_bytes(), Auth::None)?;
    Ok(error_shape(r))
}

fn body_at_limit(ctx: &mut Ctx) -> Result<Check, Abort> {
    let body = padded_request(MAX_BODY_BYTES);
    let mut c = Check::status(0);
    c.expect(body.len() == MAX_BODY_BYTES, || {
        format!("built {} bytes", body.len())
    });
    c.status = ctx
        .target
        .post("/api/auth/ext/request", &body, Auth::None)?
        .status;
    Ok(c)
}

/// The status, plus the error-body rules.
fn error_shape(r: Response) -> Check {
    let mut c = Check::status(r.status);
    c.expect(r.body.is_empty(), || {
        format!("error body is not empty: {}", r.body_text())
    });
    c.expect(r.is_json_type(), || {
        format!(
            "error Content-Type is {:?}, not application/json",
            r.content_type
        )
    });
    c
}

fn error_400(ctx: &mut Ctx) -> Result<Check, Abort> {
    Ok(error_shape(ctx.target.post(
        "/api/auth/ext/request",
        b"[]",
        Auth::None,
    )?))
}

fn error_401(ctx: &mut Ctx) -> Result<Check, Abort> {
    Ok(error_shape(
        ctx.target.get("/api/keymgmt/list", Auth::None)?,
    ))
}

fn error_403(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("auth:ext:pair")?;
    Ok(error_shape(
        ctx.target.get("/api/keymgmt/list", Auth::Bearer(&token))?,
    ))
}

fn error_406(ctx: &mut Ctx) -> Result<Check, Abort> {
    // A well-formed approval for a pid nobody paired: refused at the pairing lookup.
    let eid = ctx.eid()?;
    let aid = proto::fresh_key();
    let s1 = proto::shared(&aid, &eid).map_err(Abort::fail)?;
    let now = ctx.device_now();
    let reply = proto::authreply(
        &s1,
        &eid,
        &proto::random_b64_32(),
        now + 900,
        now,
        &proto::random_b64_32(),
        &aid.public_key(),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    );
    Ok(error_shape(ctx.post_ext_token(&reply)?))
}

fn json_content_type(ctx: &mut Ctx) -> Result<Check, Abort> {
    let mut c = Check::status(200);
    for path in [
        "/api/auth/token",
        "/api/system/status",
        "/api/system/version",
    ] {
        let r = ctx.target.get(path, Auth::None)?;
        if r.status != 200 {
            c.status = r.status;
        }
        c.expect(r.is_json_type(), || {
            format!("GET {path}: Content-Type {:?}", r.content_type)
        });
    }
    Ok(c)
}

fn escaped_slash(ctx: &mut Ctx) -> Result<Check, Abort> {
    let epk = loop {
        let k = proto::fresh_key();
        if k.public_key().to_b64().contains('/') {
            break k;
        }
    };
    let text = epk.public_key().to_b64().replace('/', "\\/");
    let body = format!(r#"{{"epk":"{text}","scope":"keymgmt\/list"}}"#);
    let r = ctx
        .target
        .post("/api/auth/ext/request", body.as_bytes(), Auth::None)?;
    let mut c = Check::status(r.status);
    if r.status == 200 {
        let eid = ctx.eid()?;
        if let Err(e) = read_authreq(epk, eid, &r.body, ctx.device_now()) {
            c.problems.push(format!("the authreq does not verify: {e}"));
        }
    }
    Ok(c)
}

fn unknown_members(ctx: &mut Ctx) -> Result<Check, Abort> {
    let body = json!({
        "epk": proto::fresh_key().public_key().to_b64(),
        "exp": ctx.device_now() + 86_400,
        "paired": true,
        "session": { "id": 7, "tags": ["a", "b"] },
        "scope": "keymgmt:list",
    });
    let r = ctx
        .target
        .post_json("/api/auth/ext/request", &body, Auth::None)?;
    Ok(Check::status(r.status))
}
