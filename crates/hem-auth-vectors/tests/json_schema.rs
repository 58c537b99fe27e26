//! The JSON Schema of the format (`vectors/schema/`, draft 2020-12) against every vector file
//! of the repository, and against files with one defect it must catch.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code

use hem_auth_vectors::KINDS;
use jsonschema::Validator;
use serde_json::{json, Value};

mod support;

use support::{repo, vector_files};

const SCHEMA: &str = "vectors/schema/hem-auth-vectors-1.schema.json";

fn schema() -> Value {
    let text = std::fs::read_to_string(repo().join(SCHEMA)).expect("the schema is readable");
    serde_json::from_str(&text).expect("the schema is JSON")
}

fn validator() -> Validator {
    jsonschema::draft202012::new(&schema()).expect("the schema compiles")
}

/// The schema's complaints about `instance`, one line each (`/path: message`).
fn errors(validator: &Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn vector_file(name: &str) -> Value {
    let text = std::fs::read_to_string(repo().join("vectors").join(name)).expect("readable");
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn the_schema_is_a_draft_2020_12_schema_of_every_kind() {
    let schema = schema();
    jsonschema::draft202012::meta::validate(&schema)
        .unwrap_or_else(|e| panic!("not a valid draft 2020-12 schema: {e}"));
    let defs = schema["$defs"].as_object().expect("$defs");
    for kind in KINDS {
        assert!(defs.contains_key(kind), "no $defs entry for kind {kind}");
    }
    let branches = schema["$defs"]["group"]["allOf"].as_array().expect("allOf");
    for kind in KINDS {
        assert!(
            branches
                .iter()
                .any(|b| b["if"]["properties"]["kind"]["const"] == kind),
            "groups of kind {kind} are not checked against its $defs entry"
        );
    }
}

#[test]
fn every_vector_file_matches_the_schema() {
    let validator = validator();
    let files = vector_files();
    assert!(files.len() >= 15, "{} vector files", files.len());
    let mut problems = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable");
        let value: Value = serde_json::from_str(&text).expect("JSON");
        for e in errors(&validator, &value) {
            problems.push(format!("{}{e}", path.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `file` with the first test of its first group (whose result is `result`) edited by `edit`.
fn edited(name: &str, result: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut file = vector_file(name);
    let tests = file["groups"][0]["tests"].as_array_mut().unwrap();
    let test = tests.iter_mut().find(|t| t["result"] == result).unwrap();
    edit(test);
    file
}

fn rejected(validator: &Validator, file: &Value, needle: &str) {
    let errors = errors(validator, file);
    assert!(
        errors.iter().any(|e| e.contains(needle)),
        "expected a complaint mentioning {needle:?}, got {errors:?}"
    );
}

#[test]
fn a_misspelt_or_mistyped_member_fails_the_schema() {
    let v = validator();
    // A misspelt member of a known kind: the right one is then missing, the wrong one unknown.
    let file = edited("ext-token.json", "valid", |t| {
        let o = t.as_object_mut().unwrap();
        let value = o.remove("eid_private").unwrap();
        o.insert("eid_privat".into(), value);
    });
    rejected(&v, &file, "eid_privat");
    rejected(&v, &file, "eid_private");
    // A misspelt optional member (nothing required goes missing).
    let file = edited("access-token.json", "valid", |t| t["exakt"] = json!(true));
    rejected(&v, &file, "exakt");
    // Inside a nested object.
    let file = edited("ext-token.json", "valid", |t| {
        t["pending"][0]["expiry"] = json!(1)
    });
    rejected(&v, &file, "expiry");
    // A valid test without the expected output its kind requires.
    let file = edited("x25519.json", "valid", |t| {
        t.as_object_mut().unwrap().remove("shared");
    });
    rejected(&v, &file, "shared");
    // Wrong types and values.
    let file = edited("login.json", "invalid", |t| t["now"] = json!("1780062400"));
    rejected(&v, &file, "1780062400");
    let file = edited("ext-token.json", "valid", |t| t["status"] = json!(401));
    rejected(&v, &file, "200");
    let file = edited("pidx.json", "valid", |t| t["result"] = json!("acceptable"));
    rejected(&v, &file, "acceptable");
    // Envelope and group members.
    let mut file = vector_file("pidx.json");
    file["groups"][0]["coment"] = json!("typo");
    rejected(&v, &file, "coment");
    let mut file = vector_file("pidx.json");
    file["sorce"] = json!("typo");
    rejected(&v, &file, "sorce");
    let mut file = vector_file("pidx.json");
    file["groups"][0]["spec"] = json!(["5.6"]);
    rejected(&v, &file, "5.6");
    let mut file = vector_file("login.json");
    file["notes"]["Replay"] = json!("the nonce was consumed");
    rejected(&v, &file, "the nonce was consumed");
}

#[test]
fn what_the_schema_lets_through() {
    let v = validator();
    // Files without notes or spec (other implementations').
    let mut file = vector_file("ext-token.json");
    file.as_object_mut().unwrap().remove("notes");
    file["groups"][0].as_object_mut().unwrap().remove("spec");
    assert_eq!(errors(&v, &file), Vec::<String>::new());
    // Extension members named x-... at every level.
    let mut file = edited("ext-token.json", "valid", |t| t["x-origin"] = json!("lab"));
    file["x-generator"] = json!({"version": 3});
    file["groups"][0]["x-note"] = json!("kept");
    assert_eq!(errors(&v, &file), Vec::<String>::new());
    // A kind the schema does not know: only the common members are checked.
    let mut file = vector_file("pidx.json");
    file["groups"][0]["kind"] = json!("ed25519");
    file["groups"][0]["tests"][0]["signature"] = json!("AAAA");
    assert_eq!(errors(&v, &file), Vec::<String>::new());
    file["groups"][0]["tests"][0]["result"] = json!("acceptable");
    assert!(!errors(&v, &file).is_empty());
}
