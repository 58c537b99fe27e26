//! The checker: every test of a file runs through the real code of its role; nothing here
//! decides a result on its own.
//!
//! Each kind has a runner that reads the kind's members, calls the role, and compares. The
//! conventions shared by all runners:
//!
//! * Material the role *receives* (JWTs, public keys, sealed scopes) is decoded by the role, so
//!   a decoding failure is the operation failing. Material the role *owns* (its private keys,
//!   its configuration, `now`) must be well formed; if it is not, the test itself is malformed
//!   and fails whatever its `result`.
//! * A `valid` test must succeed and every expected member present must match; members
//!   `docs/vectors.md` marks as expected of a valid test of the kind must be present. An `invalid` test must fail; where
//!   `status` is given the failure must map to it.

use std::collections::BTreeSet;
use std::path::Path;

use crate::kind::Kind;
use crate::report::{CaseReport, FileReport, Outcome};
use crate::schema::{Case, Expect, VectorFile, SCHEMA_ID};

mod authenticator;
mod broker;
mod device;
mod primitives;

/// The loader: reads one vector file's envelope (`schema`, `source`, `notes`, groups of raw
/// tests with their `kind`, `comment` and `spec`).
///
/// Fails on an unreadable file, on text that is not JSON of that shape (a `notes` that is not
/// an object of strings, a `spec` that is not an array of strings included), and on a `schema`
/// other than [`SCHEMA_ID`]. `notes` and `spec` are optional; unknown members are ignored.
/// Tests stay raw: [`Case::from_value`] reads each one.
pub fn load_path(path: &Path) -> Result<VectorFile, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read: {}", crate::chain(&e)))?;
    load_str(&text)
}

/// [`load_path`] on text.
pub fn load_str(text: &str) -> Result<VectorFile, String> {
    let file: VectorFile = serde_json::from_str(text)
        .map_err(|e| format!("not a {SCHEMA_ID} file: {}", crate::chain(&e)))?;
    if file.schema != SCHEMA_ID {
        return Err(format!(
            "schema is {:?}, this checker reads {SCHEMA_ID:?}",
            file.schema
        ));
    }
    Ok(file)
}

/// Reads and checks one file. Never fails: problems are in the report.
pub fn verify_path(path: &Path) -> FileReport {
    let name = path.display().to_string();
    match load_path(path) {
        Ok(file) => verify_file(&name, &file),
        Err(e) => file_error(&name, e),
    }
}

/// Checks the text of one file; `name` is how reports refer to it.
pub fn verify_str(name: &str, text: &str) -> FileReport {
    match load_str(text) {
        Ok(file) => verify_file(name, &file),
        Err(e) => file_error(name, e),
    }
}

/// Checks a parsed file.
pub fn verify_file(name: &str, file: &VectorFile) -> FileReport {
    if file.schema != SCHEMA_ID {
        return FileReport {
            file: name.to_string(),
            source: file.source.clone(),
            error: Some(format!(
                "schema is {:?}, this checker reads {SCHEMA_ID:?}",
                file.schema
            )),
            cases: Vec::new(),
        };
    }
    let mut ids = BTreeSet::new();
    let mut cases = Vec::new();
    for group in &file.groups {
        for raw in &group.tests {
            let report = match Case::from_value(raw) {
                Ok(case) => {
                    let outcome = if ids.insert(case.id) {
                        run_case(&group.kind, &case)
                    } else {
                        Outcome::Failed {
                            reason: format!("id {} is not unique in the file", case.id),
                        }
                    };
                    CaseReport {
                        kind: group.kind.clone(),
                        id: Some(case.id),
                        comment: case.comment,
                        flags: case.flags,
                        valid: Some(case.result == Expect::Valid),
                        outcome,
                    }
                }
                Err(reason) => CaseReport {
                    kind: group.kind.clone(),
                    id: raw.get("id").and_then(serde_json::Value::as_u64),
                    comment: raw
                        .get("comment")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    flags: Vec::new(),
                    valid: None,
                    outcome: Outcome::Failed { reason },
                },
            };
            cases.push(report);
        }
    }
    FileReport {
        file: name.to_string(),
        source: file.source.clone(),
        error: None,
        cases,
    }
}

fn file_error(name: &str, error: String) -> FileReport {
    FileReport {
        file: name.to_string(),
        source: String::new(),
        error: Some(error),
        cases: Vec::new(),
    }
}

/// Runs one test of `kind` through its role.
pub fn run_case(kind: &str, case: &Case) -> Outcome {
    let Some(known) = Kind::from_name(kind) else {
        return Outcome::Skipped {
            reason: format!("unknown kind `{kind}`"),
        };
    };
    let verdict = match known {
        Kind::X25519 => primitives::x25519(case),
        Kind::Hs256Jwt => primitives::hs256_jwt(case),
        Kind::Pidx => primitives::pidx(case),
        Kind::ScopeSeal => primitives::scope_seal(case),
        Kind::Authreq => broker::authreq(case),
        Kind::LoginBuild => broker::login_build(case),
        Kind::AuthreplyBuild => authenticator::authreply_build(case),
        Kind::PairingReplyBuild => authenticator::pairing_reply_build(case),
        Kind::ExtToken => device::ext_token(case),
        Kind::ExtValidate => device::ext_validate(case),
        Kind::Login => device::login(case),
        Kind::AccessToken => device::access_token(case),
    };
    match verdict {
        Ok(outcome) => outcome,
        Err(reason) => Outcome::Failed { reason },
    }
}

/// A runner's result: an outcome, or `Err` when the test itself is malformed.
type Verdict = Result<Outcome, String>;

/// Decides a test from the result of an operation that fails with a reason:
/// `valid` needs `Ok` and `check` to pass; `invalid` needs `Err`.
fn decide<T>(
    case: &Case,
    got: Result<T, String>,
    check: impl FnOnce(T) -> Result<(), String>,
) -> Outcome {
    match (case.result, got) {
        (Expect::Valid, Ok(v)) => match check(v) {
            Ok(()) => Outcome::passed(),
            Err(reason) => Outcome::Failed { reason },
        },
        (Expect::Valid, Err(e)) => Outcome::Failed {
            reason: format!("rejected a valid case: {e}"),
        },
        (Expect::Invalid, Ok(_)) => Outcome::Failed {
            reason: "accepted an invalid case".into(),
        },
        (Expect::Invalid, Err(e)) => Outcome::Passed { detail: Some(e) },
    }
}

/// Compares an expected member, when the test gives it, with what the role produced.
fn same<T: PartialEq + std::fmt::Debug>(
    member: &str,
    expected: Option<&T>,
    got: &T,
) -> Result<(), String> {
    match expected {
        Some(e) if e == got => Ok(()),
        Some(e) => Err(format!("`{member}`: expected {e:?}, got {got:?}")),
        None => Ok(()),
    }
}

/// Like [`same`], for a member a valid test of this kind must give.
fn required<T: PartialEq + std::fmt::Debug>(
    member: &str,
    expected: Option<&T>,
    got: &T,
) -> Result<(), String> {
    if expected.is_none() {
        return Err(format!("valid test lacks the expected `{member}`"));
    }
    same(member, expected, got)
}
