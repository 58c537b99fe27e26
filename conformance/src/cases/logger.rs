//! The audit log: `GET /api/logger/list` (spec §11.1, §11.2, §11.4).

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
