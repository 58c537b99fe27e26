//! Diagnosis, not avalanches: a device wrong in one detail of its access tokens fails the
//! case of that detail and nothing else. The prerequisites (`auth-token/login`,
//! `ext-token/keymgmt-list`) depend only on the working outcome — a token with the requested
//! grant that opens an endpoint — so every case that needs a login still runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hem_auth_core::keys::SecretKey;
use hem_conformance::embedded::{Embedded, Login};
use hem_conformance::{run_suite, Outcome, Progress, Report, RunConfig};
use hem_emulator::Faults;

/// The whole catalogue against a fresh embedded emulator with `faults`.
fn whole_suite(faults: Faults) -> Report {
    let emu = Embedded::start(
        Login::Key(SecretKey::generate(&mut rand_core::OsRng)),
        faults,
    )
    .expect("emulator starts");
    let config = RunConfig {
        progress: Progress::Quiet,
        ..RunConfig::default()
    };
    run_suite(emu.target().expect("target"), emu.settings.clone(), &config)
}

#[test]
fn a_random_token_jti_fails_only_the_jti_cases_and_skips_nothing() {
    let detail_cases = ["auth-token/token-jti", "ext-token/token-jti"];
    let sound = whole_suite(Faults::default());
    let faulty = whole_suite(Faults {
        random_token_jti: true,
        ..Faults::default()
    });
    let table = faulty.summary_table();

    // Exactly the jti cases fail, and they pass against the sound emulator.
    for id in detail_cases {
        let case = faulty.case(id).unwrap_or_else(|| panic!("no case {id}"));
        assert_eq!(case.outcome, Outcome::Fail, "{id} did not fail\n{table}");
        assert!(case.detail.contains("jti"), "{id}: {}", case.detail);
        let clean = sound.case(id).expect("the same catalogue");
        assert_eq!(clean.outcome, Outcome::Pass, "sound emulator: {id}");
    }
    assert_eq!(faulty.ids(Outcome::Fail), detail_cases, "\n{table}");

    // Every other case ends as against the sound emulator: the logins still pass, and
    // nothing is skipped for a prerequisite.
    assert_eq!(faulty.cases.len(), sound.cases.len());
    for (f, s) in faulty.cases.iter().zip(&sound.cases) {
        assert_eq!(f.id, s.id);
        if !detail_cases.contains(&f.id.as_str()) {
            assert_eq!(
                f.outcome, s.outcome,
                "{}: {} with the fault ({}), {} without\n{table}",
                f.id, f.outcome, f.detail, s.outcome
            );
        }
        assert!(
            !(f.outcome == Outcome::Skip && f.detail.contains("prerequisite")),
            "{} was skipped: {}\n{table}",
            f.id,
            f.detail
        );
    }
    assert!(
        faulty.summary().skip <= 1,
        "only bearer/use-exact (a target limitation) may be skipped\n{table}"
    );
}
