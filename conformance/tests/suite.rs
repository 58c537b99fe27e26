//! The whole catalogue against an in-process emulator: zero failures, and both reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hem_auth_core::keys::SecretKey;
use hem_conformance::embedded::{Embedded, Login};
use hem_conformance::{run_suite, Kind, Outcome, Progress, RunConfig};
use hem_emulator::Faults;

/// Cases the emulator cannot run, with the reason the runner gives.
const EXPECTED_SKIPS: &[&str] = &[
    // The emulator serves no GET /api/keymgmt/get/{kid}, the only endpoint here that demands
    // an exact keymgmt:use:<kid> scope.
    "bearer/use-exact",
];

#[test]
fn whole_suite_passes_against_the_embedded_emulator() {
    // A user key instead of the password: PBKDF2's 600 000 rounds are for release builds.
    let emu = Embedded::start(
        Login::Key(SecretKey::generate(&mut rand_core::OsRng)),
        Faults::default(),
    )
    .expect("emulator starts");
    let config = RunConfig {
        progress: Progress::Quiet,
        ..RunConfig::default()
    };
    let report = run_suite(emu.target().expect("target"), emu.settings.clone(), &config);

    let summary = report.summary();
    assert_eq!(summary.fail, 0, "\n{}", report.summary_table());
    assert!(report.passed());
    let skipped = report.ids(Outcome::Skip);
    for id in &skipped {
        assert!(
            EXPECTED_SKIPS.contains(id),
            "{id} was skipped: {}",
            report
                .case(id)
                .map(|c| c.detail.as_str())
                .unwrap_or_default()
        );
    }
    assert!(summary.total >= 60, "{} cases", summary.total);
    let negatives = report
        .cases
        .iter()
        .filter(|c| c.kind == Kind::Negative)
        .count();
    assert!(negatives >= 40, "{negatives} negative cases");

    // Both reports are written and say the same.
    let dir = std::env::temp_dir().join(format!("hem-conformance-suite-{}", std::process::id()));
    let (json, junit) = report.write(&dir).expect("reports written");
    let back: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("JSON");
    assert_eq!(back["summary"]["fail"], 0);
    assert_eq!(back["cases"].as_array().map(Vec::len), Some(summary.total));
    let xml = std::fs::read_to_string(&junit).expect("junit");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed JUnit XML");
    let root = doc.root_element();
    assert_eq!(
        root.attribute("tests"),
        Some(summary.total.to_string().as_str())
    );
    assert_eq!(root.attribute("failures"), Some("0"));
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
