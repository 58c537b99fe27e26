//! The manual's count of unverified reads (`src/manual.rs`, "Unverified reads") is the count in
//! the source: every call of `dangerous_unverified` / `dangerous_unverified_claims` outside the
//! definitions in `jwt.rs` and outside unit-test modules. A new unverified read fails this test
//! until the manual names it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

/// The calls in one file's non-test code: lines that call the method, not comments.
fn calls_in(text: &str) -> usize {
    text.lines()
        // A unit-test module ends the code that ships (they sit at the end of each file).
        .take_while(|line| line.trim() != "#[cfg(test)]")
        .filter(|line| !line.trim_start().starts_with("//"))
        .filter(|line| line.contains(".dangerous_unverified"))
        .count()
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

const WORDS: [&str; 21] = [
    "no",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
];

#[test]
fn the_manual_counts_every_unverified_read() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let (mut normal, mut testing) = (Vec::new(), Vec::new());
    for file in &files {
        let relative = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if relative == "jwt.rs" {
            continue; // the definitions and their doc examples
        }
        let text = fs::read_to_string(file).unwrap();
        let n = calls_in(&text);
        let bucket = if relative == "device/testing.rs" {
            &mut testing
        } else {
            &mut normal
        };
        bucket.extend(std::iter::repeat_n(relative, n));
    }
    let manual = fs::read_to_string(src.join("manual.rs")).unwrap();
    let said = format!("There are {} such calls", WORDS[normal.len()]);
    assert!(
        manual.replace("\n//! ", " ").contains(&said),
        "the manual must say \"{said}\": {normal:?}"
    );
    let said = format!("{} more are in the `testing` feature", WORDS[testing.len()]);
    assert!(
        manual
            .replace("\n//! ", " ")
            .to_lowercase()
            .contains(&said.to_lowercase()),
        "the manual must say \"{said}\": {testing:?}"
    );
    // Every file with a call is named in the manual, by its path or by its module's path.
    for file in normal.iter().chain(&testing) {
        let module = file
            .trim_end_matches(".rs")
            .trim_end_matches("/mod")
            .replace('/', "::");
        assert!(
            manual.contains(&format!("`{file}`")) || manual.contains(&format!("crate::{module}")),
            "{file} reads unverified claims but the manual does not say where"
        );
    }
}
