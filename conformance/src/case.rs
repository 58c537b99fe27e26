//! What a conformance case is, and what running one yields.

use std::fmt;

use crate::ctx::Ctx;

/// Whether a case sends what a conforming peer sends (and expects success) or a defect (and
/// expects a rejection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Conforming input; the device must accept it and answer as specified.
    Positive,
    /// A defect; the device must reject it with the specified status.
    Negative,
}

impl Kind {
    /// The report spelling: `positive` or `negative`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Positive => "positive",
            Kind::Negative => "negative",
        }
    }
}

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// The device answered as specified.
    Pass,
    /// It did not (or the case could not run its own setup against it).
    Fail,
    /// Not run: filtered out, a prerequisite did not pass, or the target lacks what it needs.
    Skip,
    /// It failed, but the waivers file excuses it.
    Waived,
}

impl Outcome {
    /// The report spelling: `pass`, `fail`, `skip` or `waived`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Skip => "skip",
            Outcome::Waived => "waived",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a case saw: the status of the request under test, and every way the answer deviated
/// from the spec besides its status (shape, claims, side effects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// HTTP status of the request under test.
    pub status: u16,
    /// Deviations found in the answer; empty when it is as specified.
    pub problems: Vec<String>,
}

impl Check {
    /// Only the status is checked.
    pub fn status(status: u16) -> Self {
        Check {
            status,
            problems: Vec::new(),
        }
    }

    /// Records a deviation unless `ok`.
    pub fn expect(&mut self, ok: bool, problem: impl FnOnce() -> String) {
        if !ok {
            self.problems.push(problem());
        }
    }
}

/// Why a case stopped before it could compare a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Abort {
    /// The case cannot run against this target (a capability or option is missing).
    Skip(String),
    /// Something the case needed failed: a transport error, or a setup request the device
    /// should have accepted. `status` is that request's status when there was one.
    Fail {
        /// Status of the failing request, if it got an answer.
        status: Option<u16>,
        /// What went wrong.
        detail: String,
    },
}

impl Abort {
    /// A setup step failed without an HTTP status.
    pub fn fail(detail: impl Into<String>) -> Self {
        Abort::Fail {
            status: None,
            detail: detail.into(),
        }
    }

    /// A setup request got `status` instead of what the case needed.
    pub fn setup(what: &str, status: u16, expected: u16) -> Self {
        Abort::Fail {
            status: Some(status),
            detail: format!("setup: {what} answered {status}, expected {expected}"),
        }
    }

    /// The case does not apply to this target.
    pub fn skip(reason: impl Into<String>) -> Self {
        Abort::Skip(reason.into())
    }
}

/// The body of a case: it sends real requests to the target through `ctx` and reports what
/// it saw.
pub type CaseFn = fn(&mut Ctx) -> Result<Check, Abort>;

/// One entry of the catalogue.
#[derive(Clone, Copy)]
pub struct Case {
    /// Stable identifier, `group/name` (e.g. `ext-token/replay`).
    pub id: &'static str,
    /// One line saying what is checked.
    pub title: &'static str,
    /// The `docs/spec` section(s) the case checks: one or more `§N.N` ids first, then
    /// optionally `: ` and a short note (e.g. `§5.9, §4.2: a replayed authreply is 401`).
    pub spec: &'static str,
    /// Positive or negative.
    pub kind: Kind,
    /// Whether a failure makes the run fail. Cases that check behaviour the spec only
    /// implies (a generic status, an open question) are advisory.
    pub required: bool,
    /// The status the spec demands for the request under test.
    pub expected: u16,
    /// Cases that must have passed first (they establish state this case uses).
    pub needs: &'static [&'static str],
    /// The case body.
    pub run: CaseFn,
}

impl Case {
    /// The group part of the id (before the first `/`).
    pub fn group(&self) -> &'static str {
        self.id.split_once('/').map_or(self.id, |(g, _)| g)
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

/// The record of one case in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// Case id.
    pub id: String,
    /// Case title.
    pub title: String,
    /// Spec reference.
    pub spec: String,
    /// Positive or negative.
    pub kind: Kind,
    /// Whether a failure fails the run.
    pub required: bool,
    /// Expected status.
    pub expected: u16,
    /// The status seen, if a request under test (or a failing setup request) was answered.
    pub actual: Option<u16>,
    /// The outcome.
    pub outcome: Outcome,
    /// Why it failed, was skipped or waived; empty on a clean pass.
    pub detail: String,
    /// Wall time of the case body in milliseconds.
    pub millis: u64,
}
