//! Transport rules every endpoint shares (spec §2.1, §2.2, §3.6, §10.1).

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
            "§3.6, §10.1: body 7300 bytes, 413 above",
            413,
            &[],
            body_too_large,
        ),
        negative(
            "wire/body-too-large-token",
            "a 7301-byte ext/token body is refused before it is parsed",
            "§3.6, §10.1: body 7300 bytes, 413 above",
            413,
            &[],
            body_too_large_token,
        ),
        positive(
            "wire/body-at-limit",
            "a valid 7300-byte ext/request body (padded with whitespace) is accepted",
            "§3.6: body 7300 bytes",
            200,
            RTC,
            body_at_limit,
        ),
        negative(
            "wire/error-body-400",
            "a 400 answer has an empty body and Content-Type application/json",
            "§10.1: error bodies are empty, Content-Type application/json",
            400,
            RTC,
            error_400,
        ),
        negative(
            "wire/error-body-401",
            "a 401 answer has an empty body and Content-Type application/json",
            "§10.1: error bodies are empty, Content-Type application/json",
            401,
            &[],
            error_401,
        ),
        negative(
            "wire/error-body-403",
            "a 403 answer has an empty body and Content-Type application/json",
            "§10.1: error bodies are empty, Content-Type application/json",
            403,
            LOGIN,
            error_403,
        ),
        negative(
            "wire/error-body-406",
            "a 406 answer has an empty body and Content-Type application/json",
            "§10.1: error bodies are empty, Content-Type application/json",
            406,
            RTC,
            error_406,
        ),
        positive(
            "wire/json-content-type",
            "200 answers (challenge, status, version) carry Content-Type application/json",
            "§10.1: JSON bodies with Content-Type application/json (issue 5)",
            200,
            &[],
            json_content_type,
        ),
        positive(
            "wire/escaped-slash",
            "a body whose base64 slashes are written \\/ (as PHP's json_encode does) is accepted",
            "§2.2: the device accepts \\/ escapes",
            200,
            RTC,
            escaped_slash,
        ),
        positive(
            "wire/keep-alive-after-early-401",
            "after a 401 sent before the body arrived (invalid bearer), the connection still serves the next request, or the 401 said Connection: close",
            "§9.6, §8.2: an invalid bearer is 401 before routing; a server that closes says Connection: close (RFC 9112, section 9.6)",
            200,
            &[],
            keep_alive_after_early_401,
        )
        .advisory(),
        positive(
            "wire/unknown-members",
            "unknown members in an ext/request body (a whole broker session object) are ignored",
            "§5.2: extra body fields are ignored",
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

/// One HTTP/1.1 answer read off a raw socket: status, lower-cased headers, body.
struct RawAnswer {
    status: u16,
    headers: Vec<(String, String)>,
}

impl RawAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one answer (headers, then `Content-Length` bytes of body) from `stream`.
fn read_answer(stream: &mut std::net::TcpStream) -> std::io::Result<RawAnswer> {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let answer = RawAnswer { status, headers };
    let length: usize = answer
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body)?;
    Ok(answer)
}

fn keep_alive_after_early_401(ctx: &mut Ctx) -> Result<Check, Abort> {
    use std::io::Write;
    let Some(authority) = ctx.target.base().strip_prefix("http://") else {
        return Err(Abort::skip(
            "this raw-socket case speaks plain http:// only",
        ));
    };
    let io = |what: &str, e: std::io::Error| Abort::fail(format!("{what}: {e}"));
    let connect = || -> Result<std::net::TcpStream, Abort> {
        let s = std::net::TcpStream::connect(authority).map_err(|e| io("connect", e))?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .map_err(|e| io("timeout", e))?;
        Ok(s)
    };
    let mut s = connect()?;
    let body = json!({ "epk": proto::fresh_key().public_key().to_b64() }).to_string();
    let head = format!(
        "POST /api/auth/ext/init HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer not-a-token\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).map_err(|e| io("send", e))?;
    // Does the device answer before the body arrives? That is what this case is about; a
    // device that waits for the body is just as fine.
    s.set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .map_err(|e| io("timeout", e))?;
    let early = s.peek(&mut [0u8; 1]).is_ok_and(|n| n > 0);
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .map_err(|e| io("timeout", e))?;
    let first = if early {
        let first = read_answer(&mut s).map_err(|e| io("first answer", e))?;
        // The body is still owed on this connection; a close makes this write fail later.
        let _ = s.write_all(body.as_bytes());
        first
    } else {
        s.write_all(body.as_bytes())
            .map_err(|e| io("send the body", e))?;
        read_answer(&mut s).map_err(|e| io("first answer", e))?
    };
    if first.status != 401 {
        return Err(Abort::Fail {
            status: Some(first.status),
            detail: format!(
                "setup: the invalid bearer got {}, expected 401",
                first.status
            ),
        });
    }
    let announced = first
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    if announced {
        // The close was announced: a client opens a new connection, as it should.
        s = connect()?;
    }
    let next = format!("GET /api/system/version HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    let second = s
        .write_all(next.as_bytes())
        .and_then(|()| read_answer(&mut s));
    match second {
        Ok(a) => Ok(Check::status(a.status)),
        Err(e) => Err(Abort::fail(format!(
            "the connection was closed after the 401 without Connection: close; the next request on it failed: {e}"
        ))),
    }
}
