//! Issue 14, spec §13.5: the runner's secrets (`--password`, `--user-key`, `--backend-key`)
//! never need to be on its command line: the real binary reads them from `--*-file FILE` or
//! `HEM_PASSWORD` / `HEM_USER_KEY` / `HEM_BACKEND_KEY`, and then they are not in
//! `/proc/<pid>/cmdline`. A value on the command line still works and warns; a missing or
//! empty file is a clear error (exit 2).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use hem_auth_core::keys::SecretKey;
use hem_emulator::EmulatorConfig;

mod support;
use support::temp_dir;

const BIN: &str = env!("CARGO_BIN_EXE_hem-conformance");

fn command(args: &[&str], env: &[(&str, &str)], reports: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .args(["--no-bar", "--report-dir", reports.to_str().unwrap()])
        .env_remove("HEM_PASSWORD")
        .env_remove("HEM_USER_KEY")
        .env_remove("HEM_BACKEND_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs the runner; while it runs, checks that `secret` is not on its command line.
fn run_hiding(secret: &str, args: &[&str], env: &[(&str, &str)], reports: &Path) -> Output {
    let child = command(args, env, reports).spawn().unwrap();
    let shown = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
    let shown = String::from_utf8_lossy(&shown).replace('\0', " ");
    assert!(!shown.contains(secret), "the secret is in {shown}");
    child.wait_with_output().unwrap()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn the_user_key_from_a_file_or_the_environment_logs_in() {
    let user = SecretKey::from_bytes([0x77; 32]);
    let emulator = hem_emulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        user_key: Some(user.public_key()),
        ..Default::default()
    })
    .unwrap();
    let url = emulator.url();
    let dir = temp_dir("secrets");
    let secret = user.to_bytes();
    let b64 = hem_auth_core::codec::encode_std(&*secret);
    let file = dir.join("user-key");
    std::fs::write(&file, format!("{b64}\n")).unwrap();
    let reports = dir.join("reports");

    // auth-token/login passes only with the right user key
    let only = ["--target", &url, "--only", "auth-token/login"];
    let mut args = only.to_vec();
    args.extend(["--user-key-file", file.to_str().unwrap()]);
    let out = run_hiding(&b64, &args, &[], &reports);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(!text(&out.stderr).contains("warning: --user-key"));

    let out = run_hiding(&b64, &only, &[("HEM_USER_KEY", &b64)], &reports);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // a wrong key from the environment fails the case: the variable is what was used
    let wrong = hem_auth_core::codec::encode_std(&[0x11; 32]);
    let out = run_hiding(&b64, &only, &[("HEM_USER_KEY", &wrong)], &reports);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));

    // on the command line: works, and warns
    let mut args = only.to_vec();
    args.extend(["--user-key", &b64]);
    let out = command(&args, &[], &reports).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(
            "warning: --user-key puts a secret on the command line, where other local users \
             can read it"
        ),
        "{}",
        text(&out.stderr)
    );
    drop(emulator);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_or_empty_secret_file_is_a_clear_error() {
    let dir = temp_dir("secrets-bad");
    let reports = dir.join("reports");
    let missing = dir.join("missing");
    let empty = dir.join("empty");
    std::fs::write(&empty, "").unwrap();
    for (flag, path, error) in [
        ("--password-file", &missing, "No such file"),
        ("--user-key-file", &missing, "No such file"),
        ("--backend-key-file", &empty, "the file is empty"),
        ("--password-file", &dir, "--password-file"),
    ] {
        let path = path.to_str().unwrap();
        let out = command(&[flag, path], &[], &reports).output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {path}: {stderr}");
        assert!(
            stderr.contains(&format!("{flag} {path}")) && stderr.contains(error),
            "{stderr}"
        );
    }
    let out = command(&[], &[("HEM_PASSWORD", "")], &reports)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("HEM_PASSWORD is set but empty"));
    std::fs::remove_dir_all(&dir).unwrap();
}
