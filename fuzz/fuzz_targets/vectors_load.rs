//! The vector-file loader and checker of `hem-auth-vectors` (`load_str`, `verify_file`), on
//! untrusted files: a vector file written by anyone must be read and checked without a
//! panic, a hang or unbounded allocation.
//!
//! The input is the file's text. Groups of kind `login-build` are left out: each of their
//! cases derives a key with PBKDF2 (600 000 rounds), seconds per case by design, which would
//! only time the fuzzer out.
//! Checks: nothing panics; every case of the file gets exactly one report; a file that loads
//! also serialises back to JSON that loads to the same file.
#![no_main]

use hem_auth_vectors::{load_str, verify_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut file) = load_str(text) else {
        return;
    };
    file.groups.retain(|g| g.kind != "login-build");
    let cases: usize = file.groups.iter().map(|g| g.tests.len()).sum();
    let report = verify_file("fuzz", &file);
    assert_eq!(report.cases.len(), cases, "a case without a report, or two");
    let json = serde_json::to_string(&file).expect("a loaded file serialises");
    let again = load_str(&json).expect("and loads again");
    assert_eq!(again.groups.len(), file.groups.len());
});
