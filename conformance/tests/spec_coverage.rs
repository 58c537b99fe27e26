//! The spec (`docs/spec`) is what every case, vector and doc cites: each cited `§` id exists
//! (`spec_ids.rs` checks that each case begins with one), every vector group and flag cites one, and `docs/spec/coverage.md` is what
//! `hem-conformance spec-coverage` generates today.

use hem_conformance::spec_coverage::{
    dangling_citations, generate, read_spec, read_vectors, repo_root, COVERAGE_FILE,
};

const KINDS: [&str; 4] = ["observed", "chosen", "observed + chosen", "informative"];

#[test]
fn every_section_has_an_id_and_a_kind() {
    let sections = read_spec(&repo_root()).expect("docs/spec reads");
    assert!(
        sections.iter().filter(|s| !s.is_chapter()).count() >= 50,
        "docs/spec has too few sections: {}",
        sections.len()
    );
    let bad: Vec<String> = sections
        .iter()
        .filter(|s| !s.is_chapter() && !KINDS.contains(&s.kind.as_str()))
        .map(|s| format!("{} ({}): kind {:?}", s.id, s.file, s.kind))
        .collect();
    assert!(
        bad.is_empty(),
        "sections without a `> Kind:` line of {KINDS:?}:\n{}",
        bad.join("\n")
    );
}

#[test]
fn every_vector_group_and_flag_cites_the_spec() {
    let root = repo_root();
    let vectors = read_vectors(&root).expect("vector files read");
    assert!(!vectors.is_empty());
    let mut bad = Vec::new();
    for file in &vectors {
        for (kind, ids) in &file.groups {
            if ids.is_empty() {
                bad.push(format!("{}: group {kind} has no `spec` ids", file.path));
            }
        }
        for (flag, ids) in &file.notes {
            if ids.is_empty() {
                bad.push(format!("{}: note of flag {flag} cites no § id", file.path));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn no_file_cites_a_section_the_spec_lacks() {
    let root = repo_root();
    let sections = read_spec(&root).expect("docs/spec reads");
    let bad = dangling_citations(&root, &sections).expect("repository reads");
    assert!(
        bad.is_empty(),
        "citations of sections docs/spec does not have:\n{}",
        bad.join("\n")
    );
}

#[test]
fn coverage_file_is_current() {
    let root = repo_root();
    let want = generate(&root).expect("coverage generates");
    let have = std::fs::read_to_string(root.join(COVERAGE_FILE)).unwrap_or_default();
    assert!(
        have == want,
        "{COVERAGE_FILE} is out of date: run `cargo run -p hem-conformance -- spec-coverage`"
    );
}
