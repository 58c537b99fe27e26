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

#[test]
fn never_expire_nonces_is_caught() {
    assert_caught(
        Faults {
            never_expire_nonces: true,
            ..Faults::default()
        },
        &[
            "time/login-challenge-expired",
            "time/authreq-expired",
            "time/pairing-request-expired",
        ],
    );
}

#[test]
fn keep_boot_keys_is_caught() {
    assert_caught(
        Faults {
            keep_boot_keys: true,
            ..Faults::default()
        },
        &["time/reboot-kills-token", "time/reboot-kills-nonce"],
    );
}

#[test]
fn skip_expiry_check_is_caught_after_a_clock_jump() {
    assert_caught(
        Faults {
            skip_expiry_check: true,
            ..Faults::default()
        },
        &["time/ext-token-expired"],
    );
}

/// Without a control API the time cases are skipped, each saying why, and none fails.
#[test]
fn without_control_the_time_cases_are_emulator_only() {
    let emu = Embedded::start(
        Login::Key(SecretKey::generate(&mut rand_core::OsRng)),
        Faults::default(),
    )
    .expect("emulator starts");
    let mut settings = emu.settings.clone();
    settings.control = None;
    let config = RunConfig {
        only: Patterns::parse(&["time/*"]),
        progress: Progress::Quiet,
        ..RunConfig::default()
    };
    let report = run_suite(emu.target().expect("target"), settings, &config);
    assert!(report.passed(), "{}", report.summary_table());
    let login = report.case("time/login-challenge-expired").unwrap();
    assert_eq!(login.outcome, Outcome::Skip);
    assert!(login.detail.contains("--slow"), "{}", login.detail);
    for id in [
        "time/authreq-expired",
        "time/pairing-request-expired",
        "time/ext-token-expired",
        "time/reboot-kills-token",
        "time/reboot-kills-nonce",
        "time/reboot-keeps-pairing",
    ] {
        let case = report.case(id).unwrap();
        assert_eq!(case.outcome, Outcome::Skip, "{id}");
        assert!(
            case.detail.starts_with("emulator-only"),
            "{id}: {}",
            case.detail
        );
    }
}
