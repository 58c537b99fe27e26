//! The checker over every file in `vectors/`, and the generator against the committed files.
#![allow(clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::path::{Path, PathBuf};

use hem_auth_vectors::{generate, Case, Expect};

mod support;

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
    support::assert_passes(&report);
}

#[test]
fn corpus_size_and_balance() {
    let mut own = Vec::new();
    for path in json_files(&repo().join("vectors")) {
        if path.components().any(|c| c.as_os_str() == "interop") {
            continue;
        }
        let file = hem_auth_vectors::load_path(&path).expect("vector file loads");
        for group in &file.groups {
            for raw in &group.tests {
                let case = Case::from_value(raw).expect("test reads");
                own.push((group.kind.clone(), case));
            }
        }
    }
    let invalid: Vec<_> = own
        .iter()
        .filter(|(_, c)| c.result == Expect::Invalid)
        .collect();
    assert!(own.len() >= 200, "{} tests", own.len());
    assert!(
        invalid.len() * 10 >= own.len() * 4,
        "{} of {} invalid",
        invalid.len(),
        own.len()
    );
    for kind in hem_auth_vectors::KINDS {
        assert!(own.iter().any(|(k, _)| k == kind), "no test of {kind}");
    }
    // Every invalid test names its one defect.
    for (kind, c) in invalid {
        assert_eq!(c.flags.len(), 1, "{kind} #{} {}", c.id, c.comment);
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
