//! Endpoints that need no authentication: version, status, and the router itself.

use serde_json::Value;

use super::{negative, positive, status};
use crate::case::{Abort, Case, Check};
use crate::ctx::Ctx;
use crate::target::Auth;

pub(super) fn cases() -> Vec<Case> {
    vec![
        positive(
            "system/version",
            "GET /api/system/version answers 200 with a JSON object, no token needed",
            "§9.1, §8.5: no token needed",
            200,
            &[],
            version,
        ),
        positive(
            "system/status",
            "GET /api/system/status answers 200; `ts` and `time` appear together, only when the RTC is set",
            "§9.2, §9.4: ts and time only when the RTC is set",
            200,
            &[],
            system_status,
        ),
        negative(
            "system/unknown-path",
            "a path the API does not have answers 404",
            "§10.1: 404 no such path",
            404,
            &[],
            unknown_path,
        ),
    ]
}

fn version(ctx: &mut Ctx) -> Result<Check, Abort> {
    let r = ctx.target.get("/api/system/version", Auth::None)?;
    let mut c = Check::status(r.status);
    if r.status == 200 {
        let v = r.json("version")?;
        c.expect(v.is_object(), || format!("body is not an object: {v}"));
        c.expect(r.is_json_type(), || {
            format!("Content-Type {:?}", r.content_type)
        });
    }
    Ok(c)
}

fn system_status(ctx: &mut Ctx) -> Result<Check, Abort> {
    let r = ctx.target.get("/api/system/status", Auth::None)?;
    let mut c = Check::status(r.status);
    if r.status != 200 {
        return Ok(c);
    }
    let v = r.json("status")?;
    c.expect(v.is_object(), || format!("body is not an object: {v}"));
    let time = v.get("time").and_then(Value::as_u64);
    let ts = v.get("ts").and_then(Value::as_str);
    c.expect(time.is_some() == ts.is_some(), || {
        format!("`ts` and `time` must come together: {v}")
    });
    ctx.rtc_unset_at_start = Some(time.is_none());
    if let Some(t) = time {
        ctx.observe_device_time(t);
    }
    Ok(c)
}

fn unknown_path(ctx: &mut Ctx) -> Result<Check, Abort> {
    status(ctx.target.get("/api/no/such/endpoint", Auth::None)?)
}
