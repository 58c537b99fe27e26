//! The checker itself: it fails what it must fail, skips what it does not know, and says why.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::process::Command;

use hem_auth_vectors::{verify_str, Outcome};
use serde_json::{json, Value};

fn vector_file(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../vectors")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A one-group file with the first test of `name` whose `result` is `result`, edited by `edit`.
fn one_test(name: &str, result: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut file = vector_file(name);
    let group = &mut file["groups"][0];
    let mut test = group["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["result"] == result)
        .unwrap()
        .clone();
    edit(&mut test);
    group["tests"] = json!([test]);
    file.to_string()
}

fn outcome(text: &str) -> Outcome {
    let report = verify_str("edited.json", text);
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.cases.len(), 1);
    report.cases[0].outcome.clone()
}

fn failed_with(text: &str, needle: &str) {
    match outcome(text) {
        Outcome::Failed { reason } => assert!(reason.contains(needle), "{reason}"),
        other => panic!("expected a failure mentioning {needle:?}, got {other:?}"),
    }
}

#[test]
fn unedited_tests_pass() {
    for name in [
        "x25519.json",
        "authreq.json",
        "ext-token.json",
        "access-token.json",
    ] {
        for result in ["valid", "invalid"] {
            assert!(
                matches!(
                    outcome(&one_test(name, result, |_| {})),
                    Outcome::Passed { .. }
                ),
                "{name} {result}"
            );
        }
    }
}

#[test]
fn a_wrong_expected_value_fails() {
    failed_with(
        &one_test("x25519.json", "valid", |t| {
            t["shared"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        }),
        "`shared`",
    );
    failed_with(
        &one_test("authreq.json", "valid", |t| t["exp"] = json!(1)),
        "`exp`",
    );
    failed_with(
        &one_test("authreply-build.json", "valid", |t| {
            t["mac"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        }),
        "`mac`",
    );
    failed_with(
        &one_test("ext-token.json", "valid", |t| t["token"]["exp"] = json!(7)),
        "`token`",
    );
    failed_with(
        &one_test("ext-validate.json", "valid", |t| {
            t["kid"] = json!("00000000000000000000000000000000")
        }),
        "`kid`",
    );
}

#[test]
fn a_valid_test_must_carry_its_expected_members() {
    failed_with(
        &one_test("x25519.json", "valid", |t| {
            t.as_object_mut().unwrap().remove("shared");
        }),
        "lacks the expected `shared`",
    );
}

#[test]
fn an_accepted_invalid_test_fails() {
    failed_with(
        &one_test("scope-seal.json", "valid", |t| {
            t["result"] = json!("invalid")
        }),
        "accepted",
    );
    failed_with(
        &one_test("login.json", "valid", |t| t["result"] = json!("invalid")),
        "accepted",
    );
}

#[test]
fn a_rejected_valid_test_fails() {
    failed_with(
        &one_test("x25519.json", "invalid", |t| t["result"] = json!("valid")),
        "rejected",
    );
}

#[test]
fn the_status_of_an_invalid_device_test_must_match() {
    // The replay test is a 401; claiming 406 must fail.
    failed_with(
        &one_test("ext-token.json", "invalid", |t| t["status"] = json!(406)),
        "expected status 406, got 401",
    );
    // Without a status any failure will do.
    let text = one_test("ext-token.json", "invalid", |t| {
        t.as_object_mut().unwrap().remove("status");
    });
    assert!(matches!(outcome(&text), Outcome::Passed { .. }));
}

#[test]
fn malformed_tests_fail_and_unknown_kinds_are_skipped() {
    failed_with(
        &one_test("pidx.json", "valid", |t| {
            t.as_object_mut().unwrap().remove("result");
        }),
        "no `result`",
    );
    failed_with(
        &one_test("pidx.json", "valid", |t| t["result"] = json!("acceptable")),
        "`result`",
    );
    failed_with(
        &one_test("ext-token.json", "valid", |t| {
            t["eid_private"] = json!("short")
        }),
        "`eid_private`",
    );
    let mut file: Value = serde_json::from_str(&one_test("pidx.json", "valid", |_| {})).unwrap();
    file["groups"][0]["kind"] = json!("ed25519");
    let report = verify_str("f.json", &file.to_string());
    assert!(matches!(report.cases[0].outcome, Outcome::Skipped { .. }));
    assert!(report.ok(false));
    assert!(!report.ok(true));
}

#[test]
fn file_level_problems() {
    let report = verify_str("f.json", r#"{"schema":"hem-auth-vectors/2","groups":[]}"#);
    assert!(report.error.unwrap().contains("hem-auth-vectors/2"));
    let report = verify_str("f.json", "[]");
    assert!(report.error.is_some());
    // Duplicate ids: the second one fails.
    let mut file: Value = serde_json::from_str(&one_test("pidx.json", "valid", |_| {})).unwrap();
    let t = file["groups"][0]["tests"][0].clone();
    file["groups"][0]["tests"] = json!([t, t]);
    let report = verify_str("f.json", &file.to_string());
    assert!(matches!(report.cases[0].outcome, Outcome::Passed { .. }));
    assert!(
        matches!(&report.cases[1].outcome, Outcome::Failed { reason } if reason.contains("not unique"))
    );
    // Unknown members are ignored at every level.
    let mut file: Value = serde_json::from_str(&one_test("pidx.json", "valid", |t| {
        t["future_member"] = json!({"x": 1})
    }))
    .unwrap();
    file["generator_version"] = json!(3);
    file["groups"][0]["notes"] = json!("ignored");
    let report = verify_str("f.json", &file.to_string());
    assert!(report.ok(true));
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hem-vectors-checker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_cli_reports_and_exits_as_documented() {
    let bin = env!("CARGO_BIN_EXE_hem-vectors");
    let bad = one_test("access-token.json", "invalid", |t| {
        t["status"] = json!(401);
        t["comment"] = json!("edited status");
    });
    let bad_path = temp_file("bad.json", &bad);
    let out = Command::new(bin)
        .arg("verify")
        .arg(&bad_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("access-token #"))
        .unwrap_or_else(|| panic!("no failure line in\n{stdout}"));
    assert!(line.contains("bad.json"), "{line}");
    assert!(line.contains("edited status"), "{line}");
    assert!(line.contains("expected status 401"), "{line}");

    let mut unknown: Value = serde_json::from_str(&one_test("pidx.json", "valid", |_| {})).unwrap();
    unknown["groups"][0]["kind"] = json!("ed25519");
    let unknown_path = temp_file("unknown.json", &unknown.to_string());
    let lenient = Command::new(bin)
        .arg("verify")
        .arg(&unknown_path)
        .output()
        .unwrap();
    assert!(lenient.status.success());
    assert!(String::from_utf8_lossy(&lenient.stdout).contains("skipped"));
    let strict = Command::new(bin)
        .args(["verify", "--strict"])
        .arg(&unknown_path)
        .output()
        .unwrap();
    assert!(!strict.status.success());
    std::fs::remove_dir_all(bad_path.parent().unwrap()).ok();
}
