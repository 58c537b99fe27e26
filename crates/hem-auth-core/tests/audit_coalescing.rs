//! Properties of the failed-scope coalescing (spec §11.3) over any sequence of events: every
//! failed check is counted in exactly one line, a key gets at most one line per window, a sub
//! at most 17 keys per window, and every other event passes through unchanged and in order.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use hem_auth_core::UnixTime;
use std::collections::BTreeMap;

use hem_auth_core::device::{
    AuditCoalescer, AuditEvent, AuditKind, AuditResult, AUDIT_OVERFLOW_SCOPE,
    AUDIT_WINDOWS_PER_SUB, AUDIT_WINDOW_SECS,
};
use proptest::prelude::*;

/// One step: seconds that pass (sometimes backwards, as a check-in can set the clock), then
/// a failed check of (sub, scope), a login, or a tick.
#[derive(Debug, Clone)]
enum Step {
    Failed { dt: i64, sub: u8, scope: u8 },
    Login { dt: i64 },
    Tick { dt: i64 },
}

fn step() -> impl Strategy<Value = Step> {
    let dt = prop_oneof![8 => 0i64..3, 2 => 0i64..200, 1 => -100i64..0];
    prop_oneof![
        8 => (dt.clone(), 0u8..3, 0u8..24).prop_map(|(dt, sub, scope)| Step::Failed { dt, sub, scope }),
        1 => dt.clone().prop_map(|dt| Step::Login { dt }),
        1 => dt.prop_map(|dt| Step::Tick { dt }),
    ]
}

proptest! {
    #[test]
    fn every_check_is_in_exactly_one_line(steps in proptest::collection::vec(step(), 1..600)) {
        let mut c = AuditCoalescer::new();
        let mut now: u64 = 1_000_000;
        let mut checks: BTreeMap<String, u64> = BTreeMap::new();
        let mut counted: BTreeMap<String, u64> = BTreeMap::new();
        // (time written, sub, scope) of each failed-scope line, and the logins seen.
        let mut lines: Vec<(u64, String, String)> = Vec::new();
        let (mut logins_in, mut logins_out) = (0u32, 0u32);
        for s in &steps {
            let dt = match s { Step::Failed { dt, .. } | Step::Login { dt } | Step::Tick { dt } => *dt };
            now = now.saturating_add_signed(dt);
            let mut write = |e: &AuditEvent| {
                if e.kind == AuditKind::FailedScopeCheck {
                    let (scope, n) = e.data().rsplit_once(' ').unwrap();
                    let n: u64 = n.parse().unwrap();
                    assert!(n > 0);
                    *counted.entry(e.sub().to_string()).or_default() += n;
                    lines.push((now, e.sub().to_string(), scope.to_string()));
                } else {
                    assert_eq!(e.data(), format!("login {logins_out}"));
                    logins_out += 1;
                }
            };
            match s {
                Step::Failed { sub, scope, .. } => {
                    let sub = ["U", "M", "a2lk"][usize::from(*sub)];
                    let event = AuditEvent::new(
                        now,
                        AuditKind::FailedScopeCheck,
                        AuditResult::Failed,
                        sub,
                        &format!("keymgmt:use:{scope}"),
                    );
                    *checks.entry(sub.to_string()).or_default() += 1;
                    c.record(&event, UnixTime::from_secs(now), &mut write);
                }
                Step::Login { .. } => {
                    let event = AuditEvent::new(
                        now,
                        AuditKind::AuthSuccessInternal,
                        AuditResult::Ok,
                        "U",
                        &format!("login {logins_in}"),
                    );
                    logins_in += 1;
                    c.record(&event, UnixTime::from_secs(now), &mut write);
                }
                Step::Tick { .. } => c.tick(UnixTime::from_secs(now), &mut write),
            }
        }
        c.flush(|e| {
            let n: u64 = e.data().rsplit_once(' ').unwrap().1.parse().unwrap();
            *counted.entry(e.sub().to_string()).or_default() += n;
        });
        prop_assert_eq!(counted, checks);
        prop_assert_eq!(logins_in, logins_out);
        prop_assert_eq!(c.open_windows(), 0);
        // While the clock only moves forward, a key's lines are a window apart, and a sub
        // writes at most 17 keys' lines in any window.
        if steps.iter().all(|s| !matches!(s, Step::Failed { dt, .. } | Step::Login { dt } | Step::Tick { dt } if *dt < 0)) {
            let mut by_key: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
            for (t, sub, scope) in &lines {
                by_key.entry((sub.clone(), scope.clone())).or_default().push(*t);
            }
            for times in by_key.values() {
                prop_assert!(times.windows(2).all(|w| w[1] - w[0] >= AUDIT_WINDOW_SECS), "{:?}", times);
            }
            for (i, (t, sub, _)) in lines.iter().enumerate() {
                let keys: std::collections::BTreeSet<&str> = lines[i..]
                    .iter()
                    .filter(|(u, s, _)| s == sub && *u < t + AUDIT_WINDOW_SECS)
                    .map(|(_, _, scope)| scope.as_str())
                    .collect();
                prop_assert!(keys.len() <= AUDIT_WINDOWS_PER_SUB + 1);
                prop_assert!(keys.len() <= AUDIT_WINDOWS_PER_SUB || keys.contains(AUDIT_OVERFLOW_SCOPE));
            }
        }
    }
}
