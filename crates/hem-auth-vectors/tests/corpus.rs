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

/// What the role's rejection says for each defect flag of the project's own files: an invalid
/// test must fail *because of* its one defect, not because of something else.
const REJECTIONS: &[(&str, &[&str])] = &[
    (
        "BitFlip",
        &[
            "does not verify",
            "tag mismatch",
            "invalid padding",
            "bearer token invalid",
        ],
    ),
    (
        "WrongKey",
        &[
            "does not verify",
            "tag mismatch",
            "invalid padding",
            "bearer token invalid",
        ],
    ),
    ("AlgNone", &["header rejected", "bearer token invalid"]),
    ("WrongAlg", &["header rejected"]),
    ("MissingAlg", &["header rejected"]),
    ("MissingEcdh", &["header rejected"]),
    ("WrongEcdh", &["header rejected"]),
    ("Crit", &["header rejected"]),
    ("DuplicateMember", &["header rejected"]),
    ("MalformedHeader", &["header is not JSON"]),
    ("PayloadNotObject", &["not a JSON object"]),
    ("DuplicateClaim", &["duplicate member", "DuplicateMember"]),
    ("Padding", &["not canonical base64url", "Jwt(Encoding)"]),
    (
        "NonUrlCharacter",
        &["not canonical base64url", "Jwt(Encoding)"],
    ),
    ("Whitespace", &["not canonical base64url"]),
    (
        "NonCanonicalBase64",
        &["not canonical base64url", "Jwt(Encoding)"],
    ),
    ("BadSignatureLength", &["not canonical base64url"]),
    (
        "SegmentCount",
        &["three segments", "SegmentCount", "bearer token invalid"],
    ),
    ("Oversized", &["too large", "TooLarge"]),
    ("ExpString", &["wrong type", "Claims"]),
    ("ExpFloat", &["wrong type", "Claims"]),
    ("MissingClaim", &["wrong type", "Claims"]),
    ("Expired", &["expired", "expiry not in the future"]),
    ("WrongIss", &["not the expected device"]),
    ("WrongAud", &["another broker session", "audience"]),
    ("LowOrderPoint", &["all zero", "Epk", "does not verify"]),
    ("UnsupportedScheme", &["unsupported scheme"]),
    (
        "Truncated",
        &["invalid length", "tag mismatch", "invalid padding"],
    ),
    ("Encoding", &["invalid base64"]),
    ("BadPadding", &["invalid padding"]),
    ("UnknownPid", &["no entry for pid", "unknown pairing"]),
    ("Replay", &["nonce unknown"]),
    ("UnknownNonce", &["nonce unknown"]),
    ("ExpiredNonce", &["nonce unknown"]),
    ("IssMismatch", &["not the paired key"]),
    ("ScopeMismatch", &["not the requested one"]),
    ("BadPidLength", &["Pid"]),
    ("TooManyPairings", &["too many pairings"]),
    ("DuplicateAid", &["already paired"]),
    ("LabelTooLong", &["Label", "label"]),
    ("EmptyLabel", &["Label"]),
    ("LabelCharacter", &["Label"]),
    ("BadKeyLength", &["Epk", "32 bytes"]),
    ("UnknownKey", &["not a known key"]),
    ("ScopeTooLong", &["Scope"]),
    ("ScopeTooNarrow", &["lacks the required scope"]),
    ("UseExactness", &["lacks the required scope"]),
];

/// The checker over every file in `vectors/`, strictly; then every invalid test of the
/// project's own files must have been rejected for its named defect.
#[test]
fn every_vector_file_passes_and_fails_for_the_right_reason() {
    let files = json_files(&repo().join("vectors"));
    assert!(files.len() >= 15, "vectors/ has {} files", files.len());
    let report = hem_auth_vectors::verify_paths(&files, true);
    support::assert_passes(&report);
    let mut wrong = Vec::new();
    let own = report.files.iter().filter(|f| {
        !Path::new(&f.file)
            .components()
            .any(|c| c.as_os_str() == "interop")
    });
    for f in own {
        for c in f.cases.iter().filter(|c| c.valid == Some(false)) {
            let flag = c.flags.first().map(String::as_str).unwrap_or_default();
            let Some((_, needles)) = REJECTIONS.iter().find(|(f, _)| *f == flag) else {
                wrong.push(format!(
                    "{} #{:?}: flag {flag:?} has no entry",
                    c.kind, c.id
                ));
                continue;
            };
            let detail = match &c.outcome {
                hem_auth_vectors::Outcome::Passed { detail } => detail.clone().unwrap_or_default(),
                other => format!("{other:?}"),
            };
            if !needles.iter().any(|n| detail.contains(n)) {
                wrong.push(format!(
                    "{} #{:?} [{flag}] {}: rejected with {detail:?}",
                    c.kind, c.id, c.comment
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
