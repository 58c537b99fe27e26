//! The audit log: `GET /api/logger/list` (spec §11.1, §11.2, §11.4).

use hem_auth_core::codec;
use serde_json::Value;

use super::{negative, positive, status};
use crate::case::{Abort, Case, Check};
use crate::ctx::Ctx;
use crate::target::Auth;

/// Event numbers (§11.1, §11.2).
const FAILED_SCOPE_CHECK: u64 = 12;
const AUTH_SUCCESS_INTERNAL: u64 = 13;
const AUTH_SUCCESS_EXTERNAL: u64 = 14;
const AUTH_PAIRED_EXTERNAL: u64 = 15;
const RTC_SET: u64 = 19;

pub(super) fn cases() -> Vec<Case> {
    vec![
        positive(
            "logger/events",
            "the audit log holds the run's login (13), external login (14), pairing (15), failed scope check (12) and, after check-in, RTC set (19)",
            "§11.1, §11.2: audit events 13, 14, 15, 12 and 19; the line format",
            200,
            &[
                "auth-token/login",
                "ext-validate/pair-a",
                "ext-token/keymgmt-list",
                "bearer/too-narrow",
            ],
            events,
        ),
        positive(
            "logger/flood-keeps-login",
            "300 failed scope checks with a limited token are coalesced and leave the login made just before them in GET /api/logger/list",
            "§11.3, §11.1, §11.4: failed-scope lines are coalesced, one per (sub, required scope) per 60 s with their count; nothing else is dropped; the log is paged",
            200,
            &["logger/events"],
            flood_keeps_login,
        )
        .advisory(),
        negative(
            "logger/no-bearer",
            "GET /api/logger/list without a token is refused",
            "§8.2: no token 401",
            401,
            &[],
            no_bearer,
        ),
    ]
}

/// Event names as the core's `AuditKind` and spec §11.2 spell them, with their numbers.
const EVENT_NAMES: [(&str, u64); 5] = [
    ("failedscopecheck", FAILED_SCOPE_CHECK),
    ("authsuccessinternal", AUTH_SUCCESS_INTERNAL),
    ("authsuccessexternal", AUTH_SUCCESS_EXTERNAL),
    ("authpairedexternal", AUTH_PAIRED_EXTERNAL),
    ("rtcset", RTC_SET),
];

/// Event numbers found in a log listing, whatever its layout: `|`-separated log lines (field
/// 3, hex, §11.2), numeric `event`/`type`/`kind` members, and event names
/// (`AuthSuccessExternal`, `AUTH_SUCCESS_EXTERNAL`, `auth-success-external`, …).
pub(crate) fn event_numbers(v: &Value, out: &mut Vec<u64>) {
    match v {
        Value::String(s) => {
            let folded: String = s
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .map(|c| c.to_ascii_lowercase())
                .collect();
            if let Some((_, n)) = EVENT_NAMES.iter().find(|(name, _)| *name == folded) {
                out.push(*n);
            }
            for line in s.lines() {
                let fields: Vec<&str> = line.split('|').collect();
                if fields.len() >= 7 {
                    if let Some(n) = fields.get(2).and_then(|f| u64::from_str_radix(f, 16).ok()) {
                        out.push(n);
                    }
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| event_numbers(x, out)),
        Value::Object(m) => {
            for key in ["event", "type", "event_type", "kind", "code"] {
                if let Some(n) = m.get(key).and_then(Value::as_u64) {
                    out.push(n);
                }
            }
            m.values().for_each(|x| event_numbers(x, out));
        }
        _ => {}
    }
}

fn events(ctx: &mut Ctx) -> Result<Check, Abort> {
    let token = ctx.token("logger:get")?;
    let r = ctx.target.get("/api/logger/list", Auth::Bearer(&token))?;
    let mut c = Check::status(r.status);
    if r.status != 200 {
        return Ok(c);
    }
    let v = r.json("logger/list")?;
    let mut found = Vec::new();
    event_numbers(&v, &mut found);
    let mut want = vec![
        (AUTH_SUCCESS_INTERNAL, "AUTH_SUCCESS_INTERNAL"),
        (AUTH_SUCCESS_EXTERNAL, "AUTH_SUCCESS_EXTERNAL"),
        (AUTH_PAIRED_EXTERNAL, "AUTH_PAIRED_EXTERNAL"),
        (FAILED_SCOPE_CHECK, "FAILED_SCOPE_CHECK"),
    ];
    if ctx.checked_in {
        want.push((RTC_SET, "RTC_SET"));
    }
    for (n, name) in want {
        c.expect(found.contains(&n), || {
            format!("no {name} ({n}) event in the log (found {found:?})")
        });
    }
    Ok(c)
}

/// Failed scope checks in [`flood_keeps_login`].
const FLOOD_CHECKS: usize = 300;

/// A login with a scope no other case asks for, then [`FLOOD_CHECKS`] refused
/// `GET /api/logger/list` with its token; the log, paged through `next` (§11.4), must still
/// hold that login's line (event 13, data the scope) and at most a couple of failed-scope lines
/// for (`U`, `logger:get`) after it (§11.3).
fn flood_keeps_login(ctx: &mut Ctx) -> Result<Check, Abort> {
    const SCOPE: &str = "keymgmt:get:audit-flood";
    let exp = ctx.device_now() + 600;
    let limited = ctx.login(SCOPE, exp)?;
    let started = std::time::Instant::now();
    for n in 0..FLOOD_CHECKS {
        let r = ctx.target.get("/api/logger/list", Auth::Bearer(&limited))?;
        if r.status != 403 {
            return Err(Abort::Fail {
                status: Some(r.status),
                detail: format!("failed scope check {n}: {} instead of 403", r.status),
            });
        }
    }
    let minutes = started.elapsed().as_secs() / 60;
    let token = ctx.token("logger:get")?;
    let mut lines: Vec<String> = Vec::new();
    let mut path = String::from("/api/logger/list");
    let mut last = 0;
    for _ in 0..1000 {
        let r = ctx.target.get(&path, Auth::Bearer(&token))?;
        last = r.status;
        if r.status != 200 {
            break;
        }
        let v = r.json("logger/list")?;
        let page = v.get("lines").and_then(Value::as_array);
        // Every page starts with the key line.
        lines.extend(
            page.into_iter()
                .flatten()
                .skip(1)
                .filter_map(Value::as_str)
                .map(String::from),
        );
        match v.get("next").and_then(Value::as_u64) {
            Some(next) => path = format!("/api/logger/list/{next}"),
            None => break,
        }
    }
    let mut c = Check::status(last);
    if last != 200 {
        return Ok(c);
    }
    let fields: Vec<(u64, String, String)> = lines
        .iter()
        .filter_map(|line| {
            let f: Vec<&str> = line.split('|').collect();
            let event = u64::from_str_radix(f.get(2)?, 16).ok()?;
            let mut buf = vec![0u8; f.get(5)?.len()];
            let data = codec::decode_segment(f.get(5)?.as_bytes(), &mut buf).ok()?;
            Some((
                event,
                f.get(4)?.to_string(),
                String::from_utf8_lossy(data).into_owned(),
            ))
        })
        .collect();
    let login = fields.iter().rposition(|(event, sub, data)| {
        *event == AUTH_SUCCESS_INTERNAL && sub == "U" && data == SCOPE
    });
    c.expect(login.is_some(), || {
        format!(
            "the login line (13, U, {SCOPE}) is gone after {FLOOD_CHECKS} failed scope checks ({} lines listed)",
            lines.len()
        )
    });
    if let Some(at) = login {
        let failed = fields[at..]
            .iter()
            .filter(|(event, sub, data)| {
                *event == FAILED_SCOPE_CHECK
                    && sub == "U"
                    && (data == "logger:get" || data.starts_with("logger:get "))
            })
            .count();
        c.expect(failed as u64 <= 2 + minutes, || {
            format!("{failed} FAILED_SCOPE_CHECK lines for (U, logger:get) after {FLOOD_CHECKS} checks: not coalesced")
        });
    }
    Ok(c)
}

fn no_bearer(ctx: &mut Ctx) -> Result<Check, Abort> {
    status(ctx.target.get("/api/logger/list", Auth::None)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_events_in_lines_and_objects() {
        let v = json!({
            "lines": ["1|62396a|d|0|U||abc", "2|62396b|13|0|||def\n3|62396c|f|0|x|y|z"],
            "events": [{"event": 14, "result": 0}],
            "audit": [{"kind": "FailedScopeCheck"}, {"kind": "RTC_SET"}, {"kind": "other"}],
        });
        let mut found = Vec::new();
        event_numbers(&v, &mut found);
        found.sort();
        assert_eq!(found, vec![12, 13, 14, 15, 19, 19]);
    }
}
