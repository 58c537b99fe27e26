//! Audit events (spec §11.1, §11.2). The core returns them as values
//! with every [`super::Outcome`]; the adapter persists them.

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
