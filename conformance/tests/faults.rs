//! The suite can fail: each test-only fault switch of the emulator makes the cases that
//! check the broken rule fail (and the same selection passes on a sound emulator).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hem_auth_core::keys::SecretKey;
use hem_conformance::embedded::{Embedded, Login};
use hem_conformance::select::Patterns;
use hem_conformance::{run_suite, Outcome, Progress, Report, RunConfig};
use hem_emulator::Faults;

fn run(faults: Faults, ids: &[&str]) -> Report {
    let emu = Embedded::start(
        Login::Key(SecretKey::generate(&mut rand_core::OsRng)),
        faults,
    )
    .expect("emulator starts");
    let config = RunConfig {
        // Only these cases, and the prerequisites they pull in.
        only: Patterns::parse(ids),
        progress: Progress::Quiet,
        ..RunConfig::default()
    };
    run_suite(emu.target().expect("target"), emu.settings.clone(), &config)
}

/// Runs `ids` with `faults` on and asserts every one of them fails (and only them).
fn assert_caught(faults: Faults, ids: &[&str]) -> Report {
    let report = run(faults, ids);
    for id in ids {
        let case = report.case(id).unwrap_or_else(|| panic!("no case {id}"));
        assert_eq!(
            case.outcome,
            Outcome::Fail,
            "{faults:?}: {id} did not fail ({:?})\n{}",
            case.actual,
            report.summary_table()
        );
    }
    for id in report.ids(Outcome::Fail) {
        assert!(
            ids.contains(&id),
            "{faults:?}: {id} failed too\n{}",
            report.summary_table()
        );
    }
    assert!(!report.passed());
    let clean = run(Faults::default(), ids);
    assert!(clean.passed(), "sound emulator:\n{}", clean.summary_table());
    report
}

#[test]
fn skip_replay_check_is_caught() {
    assert_caught(
        Faults {
            skip_replay_check: true,
            ..Faults::default()
        },
        &[
            "auth-token/replay",
            "ext-validate/replay",
            "ext-token/replay",
        ],
    );
}

#[test]
fn accept_bad_mac_is_caught() {
    assert_caught(
        Faults {
            accept_bad_mac: true,
            ..Faults::default()
        },
        &[
            "ext-token/bad-mac",
            "ext-token/wrong-key",
            "ext-token/payload-altered",
            "ext-validate/bad-mac",
        ],
    );
}

#[test]
fn leak_500_is_caught() {
    let report = assert_caught(
        Faults {
            leak_500: true,
            ..Faults::default()
        },
        &[
            "wire/error-body-400",
            "ext-request/body-not-json",
            "ext-token/missing-jti",
            "auth-token/auth-missing",
        ],
    );
    assert_eq!(
        report.case("wire/error-body-400").and_then(|c| c.actual),
        Some(500)
    );
}

#[test]
fn ignore_scope_is_caught() {
    assert_caught(
        Faults {
            ignore_scope: true,
            ..Faults::default()
        },
        &[
            "bearer/too-narrow",
            "bearer/user-too-narrow",
            "bearer/system-config-wrong-scope",
        ],
    );
}

#[test]
fn skip_expiry_check_is_caught() {
    assert_caught(
        Faults {
            skip_expiry_check: true,
            ..Faults::default()
        },
        &["bearer/expired"],
    );
}
