//! Audit events (DECISIONS "Audit events", FACTS Appendix A). The core returns them as values
//! with every [`super::Outcome`]; the adapter persists them.

use alloc::string::String;
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

/// One audit-log entry, before the adapter numbers and MACs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Unix time of the event (for `RtcSet`, the time the clock was set to).
    pub time: u64,
    /// What happened.
    pub kind: AuditKind,
    /// How it ended.
    pub result: AuditResult,
    /// The subject: `U`, `M`, the std-b64 kid of an authenticator, or empty (FACTS §9 Q14).
    pub sub: String,
    /// Event data: the granted scope (logins), the kid (pairing), the required scope (failed
    /// scope check), the time in decimal (clock set).
    pub data: String,
}

impl AuditEvent {
    pub(crate) fn new(
        time: u64,
        kind: AuditKind,
        result: AuditResult,
        sub: &str,
        data: &str,
    ) -> Self {
        AuditEvent {
            time,
            kind,
            result,
            sub: String::from(sub),
            data: String::from(data),
        }
    }
}
