//! The checker over every file in `vectors/`, and the generator against the committed files.
#![allow(clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::path::{Path, PathBuf};

use hem_auth_vectors::{generate, Outcome};

/// Kinds whose role has not landed in hem-auth-core yet: their tests are reported as skipped
/// (never passed). Empty once every role is in; from then on the corpus is checked strictly.
const AWAITING_ROLE: &[&str] = &[
    "authreq",
    "login-build",
    "authreply-build",
    "pairing-reply-build",
    "ext-token",
    "ext-validate",
    "login",
    "access-token",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shared_interop() -> PathBuf {
    match std::env::var("HEM_SHARED_DIR") {
        Ok(dir) => PathBuf::from(dir).join("interop"),
        Err(_) => repo().join("../shared/interop"),
    }
}

/// Every `*.json` under `dir`, sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("vectors/ is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_vector_file_passes_the_checker() {
    let files = json_files(&repo().join("vectors"));
    assert!(files.len() >= 15, "vectors/ has {} files", files.len());
    let report = hem_auth_vectors::verify_paths(&files, true);
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
    assert!(problems.is_empty(), "{report}\n{}", problems.join("\n"));
}

#[test]
fn corpus_size_and_balance() {
    let files = json_files(&repo().join("vectors"));
    let report = hem_auth_vectors::verify_paths(&files, true);
    let own: Vec<_> = report
        .files
        .iter()
        .filter(|f| !f.file.contains("interop"))
        .flat_map(|f| f.cases.iter())
        .collect();
    let invalid = own.iter().filter(|c| c.valid == Some(false)).count();
    assert!(own.len() >= 200, "{} tests", own.len());
    assert!(
        invalid * 10 >= own.len() * 4,
        "{invalid} of {} invalid",
        own.len()
    );
    for kind in hem_auth_vectors::KINDS {
        assert!(own.iter().any(|c| c.kind == kind), "no test of {kind}");
    }
    // Every invalid test names its one defect.
    for c in own.iter().filter(|c| c.valid == Some(false)) {
        assert_eq!(c.flags.len(), 1, "{} #{:?} {}", c.kind, c.id, c.comment);
    }
}

#[test]
fn generator_reproduces_the_committed_files() {
    let dir = repo().join("vectors");
    let mut files = generate::files();
    let interop = shared_interop();
    if interop.is_dir() {
        files.extend(
            generate::interop::files(&interop)
                .expect("artefacts convert")
                .into_iter()
                .map(|(name, f)| (format!("interop/{name}"), f)),
        );
    } else {
        eprintln!(
            "{} not found: interop files not compared",
            interop.display()
        );
    }
    for (name, file) in files {
        let committed = std::fs::read_to_string(dir.join(&name))
            .unwrap_or_else(|e| panic!("vectors/{name}: {e}"));
        assert!(
            committed == file.to_text(),
            "vectors/{name} differs from the generator's output: run \
             `cargo run -p hem-auth-vectors -- generate vectors --interop ../shared/interop`"
        );
    }
}
