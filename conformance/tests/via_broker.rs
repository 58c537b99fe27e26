//! The `--via-broker` catalogue against an in-process emulator serving the broker, with its
//! virtual phone approving (zero failures, both reports) and denying (the remote login fails
//! and names the deny; registration still passes).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hem_auth_core::keys::SecretKey;
use hem_conformance::cases::broker_catalogue;
use hem_conformance::embedded::{Embedded, Login};
use hem_conformance::via_broker::{BrokerSettings, Operator, Polling};
use hem_conformance::{run_via_broker, Outcome, Progress, Report, RunConfig};
use hem_emulator::AuthenticatorMode;

/// Runs the broker catalogue against a fresh emulator whose virtual phone acts as `mode`, at
/// the clients' polling pace.
fn run(mode: AuthenticatorMode) -> Report {
    // A user key instead of the password: PBKDF2's 600 000 rounds are for release builds.
    let emu = Embedded::start_broker(Login::Key(SecretKey::generate(&mut rand_core::OsRng)), mode)
        .expect("emulator starts");
    let target = emu.target().expect("target");
    let broker = BrokerSettings {
        url: target.base().to_string(),
        client: Default::default(),
        polling: Polling::CLIENTS,
        operator: Operator::Quiet,
    };
    let config = RunConfig {
        progress: Progress::Quiet,
        ..RunConfig::default()
    };
    run_via_broker(target, &broker, emu.settings.clone(), &config).expect("broker client")
}

fn outcome(report: &Report, id: &str) -> Outcome {
    report
        .case(id)
        .unwrap_or_else(|| panic!("{id} ran"))
        .outcome
}

#[test]
fn whole_broker_catalogue_passes_against_the_emulator() {
    let report = run(AuthenticatorMode::Approve {
        period_secs: 900,
        writable: false,
    });
    let summary = report.summary();
    assert_eq!(summary.fail, 0, "\n{}", report.summary_table());
    assert!(report.passed());
    assert_eq!(
        report.ids(Outcome::Pass).len(),
        broker_catalogue().len(),
        "every case passes, none skipped:\n{}",
        report.summary_table()
    );
    assert!(report.cases.iter().all(|c| c.id.starts_with("broker/")));

    // Both reports are written and say the same.
    let dir = std::env::temp_dir().join(format!("hem-conformance-broker-{}", std::process::id()));
    let (json, junit) = report.write(&dir).expect("reports written");
    let back: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("JSON");
    assert_eq!(back["summary"]["fail"], 0);
    assert_eq!(back["cases"].as_array().map(Vec::len), Some(summary.total));
    assert!(back["cases"][0]["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("broker/")));
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

#[test]
fn a_denying_phone_fails_the_remote_login_but_not_the_registration() {
    let report = run(AuthenticatorMode::Deny);
    for id in ["broker/checkin", "broker/register", "broker/finalise"] {
        assert_eq!(outcome(&report, id), Outcome::Pass, "{id}");
    }
    let login = report.case("broker/login").expect("broker/login ran");
    assert_eq!(login.outcome, Outcome::Fail);
    assert!(login.detail.contains("denied"), "{}", login.detail);
    assert!(!report.passed());
    // What builds on the login is skipped, naming it.
    let claims = report.case("broker/token-claims").expect("ran");
    assert_eq!(claims.outcome, Outcome::Skip);
    assert!(claims.detail.contains("broker/login"));
}
