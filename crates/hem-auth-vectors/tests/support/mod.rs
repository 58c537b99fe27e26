//! What the integration tests share.
#![allow(dead_code, unreachable_pub, clippy::panic)]

use std::path::{Path, PathBuf};

use hem_auth_vectors::{Outcome, RunReport};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every vector file under `vectors/`, sorted: each `*.json` except the JSON Schema
/// (`vectors/schema/`) and the raw published artefacts (`vectors/interop/published/`).
pub fn vector_files() -> Vec<PathBuf> {
    let root = repo().join("vectors");
    let skip = [root.join("schema"), root.join("interop").join("published")];
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("vectors/ is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                if !skip.contains(&path) {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Kinds whose role has not landed in hem-auth-core yet: their tests are reported as skipped
/// (never passed). Empty once every role is in; from then on everything is checked strictly.
pub const AWAITING_ROLE: &[&str] = &[];

/// Panics with the checker's report unless nothing failed and the only skips are of kinds in
/// [`AWAITING_ROLE`].
pub fn assert_passes(report: &RunReport) {
    let mut problems = Vec::new();
    for f in &report.files {
        if let Some(e) = &f.error {
            problems.push(format!("{}: {e}", f.file));
        }
        for c in &f.cases {
            match &c.outcome {
                Outcome::Passed { .. } => {}
                Outcome::Skipped { .. } if AWAITING_ROLE.contains(&c.kind.as_str()) => {}
                other => problems.push(format!("{} {} #{:?}: {other:?}", f.file, c.kind, c.id)),
            }
        }
    }
    if !problems.is_empty() {
        panic!("{report}\n{}", problems.join("\n"));
    }
}
