//! The checker over every vector file in `vectors/`, and the generator against the committed
//! files; everything read here is in the repository.
#![allow(clippy::expect_used, clippy::panic)] // test code: a failure is a panic

use std::path::Path;

use hem_auth_vectors::{generate, Case, Expect, Kind};

mod support;

use support::{repo, vector_files};

#[test]
fn corpus_size_and_balance() {
    let mut own = Vec::new();
    for path in vector_files() {
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
    files.extend(
        generate::interop::files(&repo().join(generate::interop::PUBLISHED_DIR))
            .expect("the published artefacts convert")
            .into_iter()
            .map(|(name, f)| (format!("interop/{name}"), f)),
    );
    assert_eq!(files.len(), 15);
    for (name, file) in files {
        let committed = std::fs::read_to_string(dir.join(&name))
            .unwrap_or_else(|e| panic!("vectors/{name}: {e}"));
        assert!(
            committed == file.to_text(),
            "vectors/{name} differs from the generator's output: run \
             `cargo run -p hem-auth-vectors -- generate vectors`"
        );
    }
}

/// Every flag a vector file uses is explained by the file's `notes`, each note begins with the
/// spec ids of the flag's rule, and a note explains only flags the file uses.
#[test]
fn every_flag_used_has_a_note() {
    let mut problems = Vec::new();
    for path in vector_files() {
        let name = path
            .strip_prefix(repo())
            .unwrap_or(&path)
            .display()
            .to_string();
        let file = hem_auth_vectors::load_path(&path).expect("vector file loads");
        for flag in file.flags_without_notes() {
            problems.push(format!("{name}: flag {flag} has no `notes` entry"));
        }
        let used: std::collections::BTreeSet<String> = file
            .groups
            .iter()
            .flat_map(|g| &g.tests)
            .filter_map(|t| Case::from_value(t).ok())
            .flat_map(|c| c.flags)
            .collect();
        for (flag, note) in &file.notes {
            if !used.contains(flag) {
                problems.push(format!("{name}: note for {flag}, which no test uses"));
            }
            let ids = note.split(": ").next().unwrap_or_default();
            let well_formed = !ids.is_empty()
                && ids
                    .split(", ")
                    .all(|id| hem_auth_vectors::flag::section_number(id).is_some());
            if !well_formed {
                problems.push(format!(
                    "{name}: note for {flag} does not begin with §N.N ids: {note:?}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every group names its kind's spec sections, from the one table ([`Kind::spec_sections`]).
#[test]
fn every_group_cites_its_kinds_sections() {
    for path in vector_files() {
        let file = hem_auth_vectors::load_path(&path).expect("vector file loads");
        for group in &file.groups {
            let kind = Kind::from_name(&group.kind)
                .unwrap_or_else(|| panic!("{}: unknown kind {}", path.display(), group.kind));
            assert_eq!(
                group.spec,
                kind.spec_sections(),
                "{}: group {}",
                path.display(),
                kind
            );
        }
    }
}

/// The loader still reads a file without `notes` and groups without `spec` (as other
/// implementations write them), and the checker passes it.
#[test]
fn notes_and_spec_are_optional() {
    let text = std::fs::read_to_string(repo().join("vectors/ext-token.json")).expect("readable");
    let mut value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    value.as_object_mut().expect("object").remove("notes");
    for g in value["groups"].as_array_mut().expect("groups") {
        g.as_object_mut().expect("group").remove("spec");
    }
    let file = hem_auth_vectors::load_str(&value.to_string()).expect("loads without them");
    assert!(file.notes.is_empty());
    assert!(file.groups.iter().all(|g| g.spec.is_empty()));
    assert!(!file.flags_without_notes().is_empty());
    let report = hem_auth_vectors::verify_file("bare.json", &file);
    support::assert_passes(&hem_auth_vectors::RunReport {
        files: vec![report],
        strict: true,
    });
}

/// Each spec id the tables cite is a section heading of `docs/spec` (`### §N.M Title`), once
/// the spec is in the repository.
#[test]
fn cited_sections_are_in_docs_spec() {
    let dir = repo().join("docs/spec");
    // docs/spec is part of the repository: without it this test must fail, not pass unchecked.
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; the cited section ids cannot be checked",
            dir.display()
        )
    });
    let mut headings = std::collections::BTreeSet::new();
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            let text = std::fs::read_to_string(&path).expect("readable");
            for line in text.lines() {
                if let Some(rest) = line.strip_prefix("### ") {
                    if let Some(id) = rest.split_whitespace().next() {
                        headings.insert(id.to_string());
                    }
                }
            }
        }
    }
    let cited = Kind::ALL
        .iter()
        .flat_map(|k| k.spec_sections().iter())
        .chain(
            hem_auth_vectors::FLAGS
                .iter()
                .flat_map(|f| f.sections.iter()),
        );
    let missing: std::collections::BTreeSet<_> =
        cited.filter(|id| !headings.contains(**id)).collect();
    assert!(
        missing.is_empty(),
        "cited but not a heading of docs/spec: {missing:?}"
    );
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
    ("WrongAud", &["another client session", "audience"]),
    (
        "LowOrderPoint",
        &[
            "all zero",
            "Epk",
            "low-order point",
            // p, p + 1 and the top-bit forms are refused as non-canonical first (§2.5)
            "not a canonical X25519 key",
            "malformed request: Key",
        ],
    ),
    (
        "NonCanonicalKey",
        &["not a canonical X25519 key", "malformed request: Key"],
    ),
    ("NullClaim", &["wrong type", "Claims"]),
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
    let files = vector_files();
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
