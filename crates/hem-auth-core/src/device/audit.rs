//! Audit events (spec §11.1, §11.2). The core returns them as values
//! with every [`super::Outcome`]; the adapter persists them, through an
//! [`AuditCoalescer`] that merges failed scope checks (spec §11.3).

use crate::time::UnixTime;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use arrayvec::ArrayString;
use serde::{Deserialize, Serialize};

/// The event types the device logs (firmware `LOG_TYPE_*` numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AuditKind {
    /// 12 `LOG_TYPE_FAILED_SCOPE_CHECK`: a valid bearer without the scope or role.
    FailedScopeCheck,
    /// 13 `LOG_TYPE_AUTH_SUCCESS_INTERNAL`: password (or master-key) login.
    AuthSuccessInternal,
    /// 14 `LOG_TYPE_AUTH_SUCCESS_EXTERNAL`: external-authenticator login.
    AuthSuccessExternal,
    /// 15 `LOG_TYPE_AUTH_PAIRED_EXTERNAL`: an authenticator was paired.
    AuthPairedExternal,
    /// 19 `LOG_TYPE_RTC_SET`: the clock was set.
    RtcSet,
}

impl AuditKind {
    /// The firmware's event number (audit-log field 3).
    pub const fn code(self) -> u8 {
        match self {
            AuditKind::FailedScopeCheck => 12,
            AuditKind::AuthSuccessInternal => 13,
            AuditKind::AuthSuccessExternal => 14,
            AuditKind::AuthPairedExternal => 15,
            AuditKind::RtcSet => 19,
        }
    }
}

/// The result field of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AuditResult {
    /// 0 `LOG_RESULT_OK`.
    Ok,
    /// 1 `LOG_RESULT_FAILED`.
    Failed,
}

impl AuditResult {
    /// The firmware's result number (audit-log field 4).
    pub const fn code(self) -> u8 {
        match self {
            AuditResult::Ok => 0,
            AuditResult::Failed => 1,
        }
    }
}

/// Longest `sub` of an event, in bytes: the standard base64 of a 16-byte kid.
pub const MAX_AUDIT_SUB_BYTES: usize = 24;

/// Longest `data` of an event, in bytes: the longest scope an access token can carry.
///
/// A token is at most [`super::MAX_ACCESS_TOKEN_BYTES`] long, so its payload is at most
/// 3011 bytes (the base64url expansion of what the header segment, the two dots and the
/// 43-character signature leave). The shortest claims around a scope,
/// `{"scope":"…","sub":"U","iat":0,"exp":0,"jti":"<44>"}`, take 91 of them, which leaves 2920
/// for the scope as JSON text; the scope itself is never longer than its JSON text. Every
/// other event's data is shorter: a 32-character kid, a decimal time, the device's own
/// requirement lists.
pub const MAX_AUDIT_DATA_BYTES: usize = 2920;

/// One audit-log entry, before the adapter numbers and MACs it.
///
/// A plain value with its text inline (no heap): the device returns one with an operation's
/// result without allocating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Unix time of the event (for `RtcSet`, the time the clock was set to).
    pub time: u64,
    /// What happened.
    pub kind: AuditKind,
    /// How it ended.
    pub result: AuditResult,
    sub: ArrayString<MAX_AUDIT_SUB_BYTES>,
    data: ArrayString<MAX_AUDIT_DATA_BYTES>,
}

impl AuditEvent {
    /// An event. `sub` is cut to [`MAX_AUDIT_SUB_BYTES`] and `data` to
    /// [`MAX_AUDIT_DATA_BYTES`] (at a character boundary); every event the device emits fits
    /// whole.
    pub fn new(time: u64, kind: AuditKind, result: AuditResult, sub: &str, data: &str) -> Self {
        let mut event = AuditEvent {
            time,
            kind,
            result,
            sub: ArrayString::new(),
            data: ArrayString::new(),
        };
        push_cut(&mut event.sub, sub);
        push_cut(&mut event.data, data);
        event
    }

    /// Rewrites this event in place (the device fills the event it will return without moving
    /// its 3 KB of text around).
    pub(super) fn set(
        &mut self,
        time: u64,
        kind: AuditKind,
        result: AuditResult,
        sub: &str,
        data: &str,
    ) {
        self.time = time;
        self.kind = kind;
        self.result = result;
        self.sub.clear();
        self.data.clear();
        push_cut(&mut self.sub, sub);
        push_cut(&mut self.data, data);
    }

    /// The subject: `U`, `M`, the std-b64 kid of an authenticator, or empty (spec §11.2).
    pub fn sub(&self) -> &str {
        &self.sub
    }

    /// Event data: the granted scope (logins), the kid (pairing), the required scope (failed
    /// scope check), the time in decimal (clock set).
    pub fn data(&self) -> &str {
        &self.data
    }
}

/// The longest prefix of `text` that fits in `N` bytes and ends at a character boundary.
pub(super) fn cut<const N: usize>(text: &str) -> ArrayString<N> {
    let mut out = ArrayString::new();
    push_cut(&mut out, text);
    out
}

/// Appends as much of `text` as fits, ending at a character boundary; `false` if it was cut.
pub(super) fn push_cut<const N: usize>(out: &mut ArrayString<N>, text: &str) -> bool {
    let mut end = text.len().min(out.remaining_capacity());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(text.get(..end).unwrap_or_default());
    end == text.len()
}

/// The audit events of one operation, in order: none or one today.
///
/// Reads as a slice of [`AuditEvent`] (`events.is_empty()`, `events[0]`, `events.iter()`) and
/// iterates by value; holds its event inline (no heap).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditEvents(Option<AuditEvent>);

impl AuditEvents {
    /// No event.
    pub const fn none() -> Self {
        AuditEvents(None)
    }

    /// One event.
    pub const fn one(event: AuditEvent) -> Self {
        AuditEvents(Some(event))
    }

    /// The events as a slice.
    pub fn as_slice(&self) -> &[AuditEvent] {
        self.0.as_slice()
    }
}

impl From<Option<AuditEvent>> for AuditEvents {
    fn from(event: Option<AuditEvent>) -> Self {
        AuditEvents(event)
    }
}

impl core::ops::Deref for AuditEvents {
    type Target = [AuditEvent];

    fn deref(&self) -> &[AuditEvent] {
        self.as_slice()
    }
}

impl IntoIterator for AuditEvents {
    type Item = AuditEvent;
    type IntoIter = core::option::IntoIter<AuditEvent>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a AuditEvents {
    type Item = &'a AuditEvent;
    type IntoIter = core::slice::Iter<'a, AuditEvent>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

/// How long a failed-scope window stays open, in seconds (spec §11.3).
pub const AUDIT_WINDOW_SECS: u64 = 60;

/// How many (sub, required scope) keys of one `sub` may have an open window; the checks of
/// further keys go to that sub's overflow window (spec §11.3).
pub const AUDIT_WINDOWS_PER_SUB: usize = 16;

/// The data of an overflow window's lines, before the count (spec §11.3).
pub const AUDIT_OVERFLOW_SCOPE: &str = "*";

/// Bytes of a required-scope text kept in a window's key and line: the rest of
/// [`MAX_AUDIT_DATA_BYTES`] holds a space and the count (at most 20 digits).
const MAX_WINDOW_SCOPE_BYTES: usize = MAX_AUDIT_DATA_BYTES - 21;

/// Turns the events the device returns into the lines to write: every event but a failed
/// scope check passes through unchanged; `FAILED_SCOPE_CHECK` events are coalesced (spec
/// §11.3).
///
/// The key of a failed check is (`sub`, required-scope text). The first check of a key
/// writes a line at once and opens a window of [`AUDIT_WINDOW_SECS`]; further checks within
/// the window only count. When a window is found ended with a non-zero count, one line
/// carries that count (its time is the first counted check's) and a new window opens at once,
/// so a key's lines are written at least a window apart; a window that ends with no count is
/// forgotten. A window that starts after `now` (a clock set back) has ended. A `sub` has at most [`AUDIT_WINDOWS_PER_SUB`] keys with a window; a check of
/// any further key counts in the sub's overflow window (data [`AUDIT_OVERFLOW_SCOPE`]).
/// The data of a failed-scope line is the required-scope text, a space and the count.
///
/// Windows end when the coalescer is next used at or after their end: [`record`] and
/// [`tick`] write them first. [`flush`] writes every counted window (when the adapter stops).
/// Sans-IO: the caller gives the time and writes the lines.
///
/// [`record`]: AuditCoalescer::record
/// [`tick`]: AuditCoalescer::tick
/// [`flush`]: AuditCoalescer::flush
#[derive(Debug)]
pub struct AuditCoalescer {
    subs: BTreeMap<ArrayString<MAX_AUDIT_SUB_BYTES>, SubWindows>,
    /// No window has ended while `earliest_end > now >= latest_start` (a clock set back ends
    /// every window that starts after it).
    earliest_end: u64,
    latest_start: u64,
}

impl Default for AuditCoalescer {
    fn default() -> Self {
        AuditCoalescer::new()
    }
}

#[derive(Debug, Default)]
struct SubWindows {
    scoped: Vec<Window>,
    overflow: Option<Window>,
}

#[derive(Debug)]
struct Window {
    /// The required-scope text (empty for the overflow window).
    scope: String,
    start: u64,
    /// Time of the first check counted and not yet written.
    first: u64,
    /// Checks counted and not yet written.
    count: u64,
}

impl Window {
    fn open(scope: &str, now: UnixTime) -> Self {
        Window {
            scope: String::from(scope),
            start: now.as_secs(),
            first: 0,
            count: 0,
        }
    }

    fn end(&self) -> u64 {
        self.start.saturating_add(AUDIT_WINDOW_SECS)
    }

    fn has_ended(&self, now: UnixTime) -> bool {
        now.as_secs() >= self.end() || now.as_secs() < self.start
    }

    fn count(&mut self, now: UnixTime) {
        if self.count == 0 {
            self.first = now.as_secs();
        }
        self.count = self.count.saturating_add(1);
    }

    /// Once it has ended: writes its count, if any, and then goes on as a new window from
    /// `now` (`true`), so the key's next line comes a window later at the earliest; a window
    /// with no count is closed (`false`).
    fn close(
        &mut self,
        sub: &str,
        overflow: bool,
        now: UnixTime,
        write: &mut impl FnMut(&AuditEvent),
    ) -> bool {
        if self.count == 0 {
            return false;
        }
        let scope = if overflow {
            AUDIT_OVERFLOW_SCOPE
        } else {
            &self.scope
        };
        write(&failed_line(self.first, sub, scope, self.count));
        self.count = 0;
        self.start = now.as_secs();
        true
    }
}

/// A `FAILED_SCOPE_CHECK` line's event: data `<scope> <count>`.
fn failed_line(time: u64, sub: &str, scope: &str, count: u64) -> AuditEvent {
    let mut data = ArrayString::<MAX_AUDIT_DATA_BYTES>::new();
    push_cut(&mut data, prefix(scope, MAX_WINDOW_SCOPE_BYTES));
    // Cannot fail: 21 bytes are left for " " and a u64.
    let _ = write!(data, " {count}");
    AuditEvent::new(
        time,
        AuditKind::FailedScopeCheck,
        AuditResult::Failed,
        sub,
        &data,
    )
}

/// The longest prefix of `text` of at most `max` bytes that ends at a character boundary.
fn prefix(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

impl AuditCoalescer {
    /// No window open.
    pub const fn new() -> Self {
        AuditCoalescer {
            subs: BTreeMap::new(),
            earliest_end: u64::MAX,
            latest_start: 0,
        }
    }

    /// Takes one event the device returned at `now`, and calls `write` with each line to
    /// write, in order: the lines of windows that have ended, then `event` itself unless it
    /// is a failed scope check that a window counts. Allocates only to open a window.
    pub fn record(
        &mut self,
        event: &AuditEvent,
        now: UnixTime,
        mut write: impl FnMut(&AuditEvent),
    ) {
        self.tick(now, &mut write);
        if event.kind != AuditKind::FailedScopeCheck {
            write(event);
            return;
        }
        let scope = prefix(event.data(), MAX_WINDOW_SCOPE_BYTES);
        let windows = self.subs.entry(event.sub).or_default();
        if let Some(w) = windows.scoped.iter_mut().find(|w| w.scope == scope) {
            w.count(now);
            return;
        }
        let overflow = windows.scoped.len() >= AUDIT_WINDOWS_PER_SUB;
        if overflow {
            if let Some(w) = windows.overflow.as_mut() {
                w.count(now);
                return;
            }
            windows.overflow = Some(Window::open("", now));
        } else {
            windows.scoped.push(Window::open(scope, now));
        }
        let written = if overflow {
            AUDIT_OVERFLOW_SCOPE
        } else {
            scope
        };
        write(&failed_line(event.time, event.sub(), written, 1));
        self.earliest_end = self
            .earliest_end
            .min(now.as_secs().saturating_add(AUDIT_WINDOW_SECS));
        self.latest_start = self.latest_start.max(now.as_secs());
    }

    /// Writes the lines of the windows that have ended by `now` (spec §11.3): an adapter
    /// calls it before it reads the log, so that the counts of ended windows are in it.
    pub fn tick(&mut self, now: UnixTime, mut write: impl FnMut(&AuditEvent)) {
        if self.subs.is_empty()
            || (now.as_secs() < self.earliest_end && now.as_secs() >= self.latest_start)
        {
            return;
        }
        let (mut earliest_end, mut latest_start) = (u64::MAX, 0);
        self.subs.retain(|sub, windows| {
            windows.scoped.retain_mut(|w| {
                let kept = !w.has_ended(now) || w.close(sub, false, now, &mut write);
                if kept {
                    earliest_end = earliest_end.min(w.end());
                    latest_start = latest_start.max(w.start);
                }
                kept
            });
            if let Some(w) = windows.overflow.as_mut() {
                if w.has_ended(now) && !w.close(sub, true, now, &mut write) {
                    windows.overflow = None;
                } else {
                    earliest_end = earliest_end.min(w.end());
                    latest_start = latest_start.max(w.start);
                }
            }
            !windows.scoped.is_empty() || windows.overflow.is_some()
        });
        self.earliest_end = earliest_end;
        self.latest_start = latest_start;
    }

    /// Writes every window's count and forgets all windows: what an adapter does when it
    /// stops, so that every failed check is in exactly one line.
    pub fn flush(&mut self, mut write: impl FnMut(&AuditEvent)) {
        for (sub, windows) in core::mem::take(&mut self.subs) {
            for w in &windows.scoped {
                if w.count > 0 {
                    write(&failed_line(w.first, &sub, &w.scope, w.count));
                }
            }
            if let Some(w) = windows.overflow.filter(|w| w.count > 0) {
                write(&failed_line(w.first, &sub, AUDIT_OVERFLOW_SCOPE, w.count));
            }
        }
        self.earliest_end = u64::MAX;
        self.latest_start = 0;
    }

    /// How many windows are open (the overflow windows included).
    pub fn open_windows(&self) -> usize {
        self.subs
            .values()
            .map(|w| w.scoped.len() + usize::from(w.overflow.is_some()))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;

    use super::*;

    fn failed(time: u64, sub: &str, scope: &str) -> AuditEvent {
        AuditEvent::new(
            time,
            AuditKind::FailedScopeCheck,
            AuditResult::Failed,
            sub,
            scope,
        )
    }

    /// (time, sub, data) of the lines written.
    fn lines(c: &mut AuditCoalescer, events: &[(u64, &str, &str)]) -> Vec<(u64, String, String)> {
        let mut out = Vec::new();
        for (t, sub, scope) in events {
            c.record(&failed(*t, sub, scope), UnixTime::from_secs(*t), |e| {
                out.push((e.time, e.sub().to_string(), e.data().to_string()));
            });
        }
        out
    }

    fn line(t: u64, sub: &str, data: &str) -> (u64, String, String) {
        (t, sub.to_string(), data.to_string())
    }

    #[test]
    fn one_line_per_key_per_window_with_its_count() {
        let mut c = AuditCoalescer::new();
        let mut events = vec![(1000, "U", "keymgmt:list")];
        events.extend((1001..1060).map(|t| (t, "U", "keymgmt:list")));
        events.push((1010, "U", "logger:get"));
        events.push((1020, "a2lk", "keymgmt:list"));
        events.push((1021, "a2lk", "keymgmt:list"));
        assert_eq!(
            lines(&mut c, &events),
            [
                line(1000, "U", "keymgmt:list 1"),
                line(1010, "U", "logger:get 1"),
                line(1020, "a2lk", "keymgmt:list 1"),
            ]
        );
        assert_eq!(c.open_windows(), 3);
        // At 1060 the first window ends with 59 counted; a new window runs to 1120, so the
        // check at 1060 is counted, not written.
        assert_eq!(
            lines(&mut c, &[(1060, "U", "keymgmt:list")]),
            [line(1001, "U", "keymgmt:list 59")]
        );
        // The other windows end with no count (logger:get) or one (a2lk at 1021).
        let mut out = Vec::new();
        c.tick(UnixTime::from_secs(1080), |e| {
            out.push(e.data().to_string())
        });
        assert_eq!(out, ["keymgmt:list 1"]);
        // Then nothing until the (U, keymgmt:list) window ends at 1120.
        c.tick(UnixTime::from_secs(1119), |_| panic!("no line"));
        c.flush(|e| out.push(format!("{} {}", e.time, e.data())));
        assert_eq!(out[1..], ["1060 keymgmt:list 1"]);
        assert_eq!(c.open_windows(), 0);
        // A new window after a quiet minute starts with a line at once.
        assert_eq!(
            lines(&mut c, &[(2000, "U", "keymgmt:list")]),
            [line(2000, "U", "keymgmt:list 1")]
        );
    }

    /// Found by the property test: a window found ended late (here at 119, by another key's
    /// check) reopens then, so the key's next check (at 120) is counted, not written a
    /// second after the count line.
    #[test]
    fn a_window_found_ended_late_reopens_then() {
        let mut c = AuditCoalescer::new();
        let written = lines(
            &mut c,
            &[
                (0, "U", "a"),
                (0, "U", "a"),
                (119, "U", "b"),
                (120, "U", "a"),
            ],
        );
        assert_eq!(
            written,
            [
                line(0, "U", "a 1"),
                line(0, "U", "a 1"),
                line(119, "U", "b 1")
            ]
        );
        let mut out = Vec::new();
        c.tick(UnixTime::from_secs(178), |_| {
            panic!("a's window runs from 119")
        });
        c.tick(UnixTime::from_secs(179), |e| {
            out.push((e.time, e.data().to_string()))
        });
        assert_eq!(out, [(120, "a 1".to_string())]);
    }

    #[test]
    fn every_check_is_in_exactly_one_line() {
        let mut c = AuditCoalescer::new();
        let mut total = 0u64;
        let mut count = |e: &AuditEvent| {
            let n: u64 = e.data().rsplit_once(' ').unwrap().1.parse().unwrap();
            total += n;
        };
        // When each key's lines were written.
        let mut written = BTreeMap::<String, Vec<u64>>::new();
        for t in 0..10_000u64 {
            // 7 checks a second, over three keys.
            for k in 0..7 {
                let scope = ["a", "b", "c"][k % 3];
                c.record(&failed(t, "U", scope), UnixTime::from_secs(t), |e| {
                    let key = e.data().split(' ').next().unwrap().to_string();
                    written.entry(key).or_default().push(t);
                    count(e);
                });
            }
        }
        c.flush(&mut count);
        assert_eq!(total, 70_000);
        assert_eq!(written.len(), 3);
        for times in written.values() {
            assert!(times.windows(2).all(|w| w[1] - w[0] >= AUDIT_WINDOW_SECS));
            assert!(times.len() as u64 <= 1 + 10_000 / AUDIT_WINDOW_SECS);
        }
    }

    #[test]
    fn a_sub_has_at_most_sixteen_keys_then_its_overflow_window() {
        let mut c = AuditCoalescer::new();
        let events: Vec<(u64, String)> = (0..40)
            .map(|i| (100 + i / 20, format!("keymgmt:use:{i}")))
            .collect();
        let events: Vec<(u64, &str, &str)> =
            events.iter().map(|(t, s)| (*t, "U", s.as_str())).collect();
        let written = lines(&mut c, &events);
        assert_eq!(written.len(), AUDIT_WINDOWS_PER_SUB + 1);
        assert_eq!(written[16], line(100, "U", "* 1"));
        // Another sub is not affected.
        assert_eq!(lines(&mut c, &[(101, "M", "keymgmt:use:0")]).len(), 1);
        let mut out = Vec::new();
        c.flush(|e| out.push((e.sub().to_string(), e.data().to_string())));
        assert_eq!(out, [("U".to_string(), "* 23".to_string())]);
    }

    #[test]
    fn other_events_pass_through_and_long_scopes_keep_their_count() {
        let mut c = AuditCoalescer::new();
        let login = AuditEvent::new(5, AuditKind::AuthSuccessInternal, AuditResult::Ok, "U", "x");
        let mut out = Vec::new();
        for _ in 0..3 {
            c.record(&login, UnixTime::from_secs(5), |e| out.push(e.clone()));
        }
        assert_eq!(out, [login.clone(), login.clone(), login]);
        let long = "é".repeat(MAX_AUDIT_DATA_BYTES);
        let mut data = String::new();
        c.record(&failed(5, "U", &long), UnixTime::from_secs(5), |e| {
            data = e.data().to_string()
        });
        assert!(data.ends_with(" 1") && data.len() <= MAX_AUDIT_DATA_BYTES);
        // A clock set back ends the window: its count is written and a new one opens.
        c.record(&failed(6, "U", &long), UnixTime::from_secs(6), |_| {
            panic!("counted")
        });
        let mut back = Vec::new();
        c.record(&failed(2, "U", &long), UnixTime::from_secs(2), |e| {
            back.push((e.time, e.data().to_string()))
        });
        assert_eq!(back.len(), 1);
        assert!(back[0].0 == 6 && back[0].1.ends_with(" 1"));
        c.tick(UnixTime::from_secs(61), |_| {
            panic!("the new window runs from 2")
        });
        c.tick(UnixTime::from_secs(62), |e| {
            back.push((e.time, e.data().to_string()))
        });
        assert!(back[1].0 == 2 && back[1].1.ends_with(" 1"));
    }
}
