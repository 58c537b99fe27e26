//! The runner over HTTPS against `hem-emulator --tls` (a self-signed certificate, as a real
//! HEM has): the whole suite passes trusting the certificate (`--cacert`) and with
//! verification off (`--insecure`); the binary's flags do the same and refuse a target whose
//! certificate they do not trust. Also the report's format-2 members and `--strict`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use hem_auth_core::keys::SecretKey;
use hem_conformance::embedded::{Embedded, Login};
use hem_conformance::target::ClientOptions;
use hem_conformance::{run_suite, Progress, RunConfig, Target};
use hem_emulator::{EmulatorConfig, Faults, Tls};

mod support;
use support::temp_dir;

const BIN: &str = env!("CARGO_BIN_EXE_hem-conformance");

#[test]
fn whole_suite_passes_over_tls_with_cacert_and_with_insecure() {
    let emu = Embedded::start_with(
        Login::Key(SecretKey::generate(&mut rand_core::OsRng)),
        Faults::default(),
        Some(Tls::SelfSigned),
    )
    .unwrap();
    let url = emu.emulator.url();
    assert!(url.starts_with("https://"), "{url}");
    let config = RunConfig {
        progress: Progress::Quiet,
        ..RunConfig::default()
    };
    // Trusting the certificate (what --cacert does).
    let trusted = emu.target().unwrap();
    let report = run_suite(trusted, emu.settings.clone(), &config);
    assert_eq!(report.summary().fail, 0, "\n{}", report.summary_table());
    assert!(report.summary().pass > 150, "\n{}", report.summary_table());
    // Verification off (what --insecure does). The suite's check-in already set the RTC, so
    // the check-in cases skip where they need it unset; nothing fails.
    let insecure = ClientOptions {
        insecure: true,
        ..ClientOptions::default()
    };
    let target = Target::with_options(&url, &insecure).unwrap();
    let report = run_suite(target, emu.settings.clone(), &config);
    assert_eq!(report.summary().fail, 0, "\n{}", report.summary_table());
    assert!(report.summary().pass > 150, "\n{}", report.summary_table());
    // Neither: the built-in roots do not know a self-signed certificate.
    let strict = Target::with_options(&url, &ClientOptions::default()).unwrap();
    assert!(strict
        .get("/api/system/version", hem_conformance::target::Auth::None)
        .is_err());
}

fn runner(args: &[&str], user: &SecretKey, reports: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .args(["--no-bar", "--report-dir", reports.to_str().unwrap()])
        .env_remove("HEM_PASSWORD")
        .env_remove("HEM_BACKEND_KEY")
        .env(
            "HEM_USER_KEY",
            hem_auth_core::codec::encode_std(&*user.to_bytes()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn the_binary_reaches_a_tls_target_with_cacert_or_insecure() {
    let user = SecretKey::from_bytes([0x42; 32]);
    let emulator = hem_emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        user_key: Some(user.public_key()),
        tls: Some(Tls::SelfSigned),
        ..EmulatorConfig::default()
    })
    .unwrap();
    let url = emulator.url();
    let dir = temp_dir("tls-cli");
    let cacert = dir.join("cert.pem");
    std::fs::write(&cacert, emulator.certificate_pem().unwrap()).unwrap();
    let only = ["--only", "system/*,auth-token/login"];

    let reports = dir.join("cacert");
    let cacert_arg = ["--target", &url, "--cacert", cacert.to_str().unwrap()];
    let out = runner(&[&cacert_arg[..], &only[..]].concat(), &user, &reports);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["format"], "hem-conformance-report/2");
    assert_eq!(report["tool"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(report["target"], url.as_str());
    assert!(report["target_version"].is_object(), "{report}");
    let login = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "auth-token/login")
        .unwrap();
    assert_eq!(login["outcome"], "pass");
    assert_eq!(login["required"], true);

    let reports = dir.join("insecure");
    let out = runner(
        &[
            &["--target", &url, "--insecure", "--timeout", "5"][..],
            &only[..],
        ]
        .concat(),
        &user,
        &reports,
    );
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // Without either, the self-signed certificate is refused: a setup error (exit 2).
    let out = runner(
        &[&["--target", &url][..], &only[..]].concat(),
        &user,
        &reports,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("cannot reach the target"));

    // A --cacert file without a certificate is a clear error.
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "nothing here\n").unwrap();
    let out = runner(
        &["--target", &url, "--cacert", empty.to_str().unwrap()],
        &user,
        &reports,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--cacert"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--strict`: an advisory failure fails the run. The `leak_500` fault turns the 400 of the
/// advisory `auth-token/scope-control-character` into a 500: exit 0 without `--strict`, 1
/// with it.
#[test]
fn strict_makes_advisory_failures_count() {
    let user = SecretKey::from_bytes([0x43; 32]);
    let emulator = hem_emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        user_key: Some(user.public_key()),
        faults: Faults {
            leak_500: true,
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    })
    .unwrap();
    let url = emulator.url();
    let dir = temp_dir("strict");
    // An advisory case answered 400 by a sound device: 500 under the fault.
    let only = ["--only", "auth-token/scope-control-character"];
    let out = runner(&[&["--target", &url][..], &only[..]].concat(), &user, &dir);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["summary"]["fail"], 1, "{report}");
    assert_eq!(report["strict"], false);
    let out = runner(
        &[&["--target", &url, "--strict"][..], &only[..]].concat(),
        &user,
        &dir,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["strict"], true);
    assert_eq!(report["summary"]["required_failed"], 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
