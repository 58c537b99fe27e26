#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod b64;
pub mod check;
pub mod flag;
pub mod generate;
pub mod kind;
pub mod report;
pub mod schema;

pub use check::{load_path, load_str, verify_file, verify_path, verify_str};
pub use flag::{flag_note, FlagNote, FLAGS};
pub use kind::{Kind, KINDS};
pub use report::{CaseReport, Counts, FileReport, Outcome, RunReport};
pub use schema::{Case, Expect, Group, VectorFile, SCHEMA_ID};

/// Checks every file named and gathers the reports (`hem-vectors verify`).
pub fn verify_paths<P: AsRef<std::path::Path>>(paths: &[P], strict: bool) -> RunReport {
    RunReport {
        files: paths.iter().map(|p| verify_path(p.as_ref())).collect(),
        strict,
    }
}

/// An error and its sources, each layer once ("client: JWT refused: JWT signature does not
/// verify"): the core's errors display only their own layer.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
