//! A restart is a reboot: new per-boot keys, tokens die, pairings stay — after a clean stop
//! and after `kill -9` in the middle of a pairing.

// Helpers fail loudly: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use hem_auth_core::UnixTime;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hem_auth_core::authenticator::{reply_to_pairing, UnverifiedPairingRequest};
use hem_auth_core::client;
use hem_auth_core::keys::{PublicKey, SecretKey};
use hem_emulator::EmulatorConfig;
use serde_json::Value;
use support::{config, host_now, rng, start, temp_dir, user_key, Client};

/// The emulator binary, killed on drop.
struct Process {
    child: Child,
    url: String,
    eid: PublicKey,
}

impl Process {
    fn spawn(state: &Path) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hem-emulator"))
            .args(["--listen", "127.0.0.1:0", "--state"])
            .arg(state)
            .args(["--user-key", &user_key().public_key().to_b64()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().take(2) {
                let _ = tx.send(line.unwrap_or_default());
            }
        });
        let wait = Duration::from_secs(60);
        let ready = rx.recv_timeout(wait).expect("ready line");
        let url = ready
            .strip_prefix("hem-emulator listening on ")
            .expect("ready line format")
            .to_string();
        let eid = PublicKey::from_b64(&rx.recv_timeout(wait).expect("eid line")).unwrap();
        Process { child, url, eid }
    }

    /// SIGKILL: no shutdown code runs.
    fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The state files are whole: `state.json` parses and holds `pairings`, `audit.log` verifies
/// line by line, no temporary file is left.
fn check_state(dir: &Path, pairings: usize) {
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["format"].as_str(), Some("hem-emulator-state/1"));
    assert_eq!(
        state["device"]["pairings"].as_array().unwrap().len(),
        pairings
    );
    assert!(
        state["device"].get("pending").is_none(),
        "no nonce is saved"
    );
    let log = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    support::verify_log(&lines);
    assert!(!dir.join(".state.json.tmp").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("state.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn kill_9_mid_pairing_then_restart() {
    let dir = temp_dir("kill9");
    let first = Process::spawn(&dir);
    let c = Client::new(&first.url);
    let eid = first.eid;
    let config_token = c.login("system:config");
    let a = c.pair(&config_token, eid, "Phone A", 21);
    let old_list_token = c.login("keymgmt:list");
    assert_eq!(
        c.get("/api/keymgmt/list", Some(&old_list_token)).status,
        200
    );

    // Mid-pairing of B: ext/init answered, the phone has replied, validate not yet sent.
    let mut r = rng(22);
    let (body, pairing) = client::start_pairing(Some(eid), &mut r);
    let init = c
        .post("/api/auth/ext/init", body.as_bytes(), Some(&config_token))
        .expect(200);
    let request = pairing
        .verify_init_response(&init, UnixTime::from_secs(host_now()))
        .unwrap();
    let seen = UnverifiedPairingRequest::parse(request.request()).unwrap();
    let reply = reply_to_pairing(&SecretKey::generate(&mut r), &seen, "Phone B", "fcm").unwrap();
    let validate_b =
        pairing.validate_body("SmuPON3X1EeRh/rk2VtVFBsy6PRqZKlvMRgCNd6jnGk=", &reply.reply);
    first.kill_9();
    check_state(&dir, 1);

    let second = Process::spawn(&dir);
    assert_eq!(second.eid, eid, "the identity survives");
    let c = Client::new(&second.url);
    // Tokens died with the reboot, and so did the pending pairing request.
    c.get("/api/keymgmt/list", Some(&old_list_token))
        .assert_error(401);
    let config_token = c.login("system:config");
    c.post(
        "/api/auth/ext/validate",
        validate_b.as_bytes(),
        Some(&config_token),
    )
    .assert_error(401);
    // The pairing made before the crash still works end to end.
    let authreq = c.authreq(eid, "keymgmt:list", 23);
    assert!(authreq.entry(a.pairing.pid()).is_some());
    let ext_token = c.ext_login(eid, &a, "keymgmt:list", 24);
    assert_eq!(c.get("/api/keymgmt/list", Some(&ext_token)).status, 200);
    // And a new pairing can be made.
    let b = c.pair(&config_token, eid, "Phone B", 25);
    let list = c.get("/api/keymgmt/list", Some(&ext_token)).json();
    assert_eq!(list["total"].as_u64(), Some(2));
    assert_eq!(list["list"][1]["kid"].as_str(), Some(b.kid.as_str()));
    second.kill_9();
    check_state(&dir, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn clean_restart_keeps_pairings_and_log_and_kills_tokens() {
    let dir = temp_dir("restart");
    let with_state = || EmulatorConfig {
        state_dir: Some(dir.clone()),
        ..config()
    };
    let (emu, c) = start(with_state());
    let eid = emu.eid();
    let token = c.login("system:config");
    let phone = c.pair(&token, eid, "Phone", 31);
    let log_token = c.login("logger:get");
    let lines_before = c.log_lines(&log_token).len();
    // A second emulator cannot take the same directory.
    assert!(hem_emulator::start(EmulatorConfig {
        state_dir: Some(dir.clone()),
        ..config()
    })
    .is_err());
    emu.stop();

    let (emu, c) = start(with_state());
    assert_eq!(emu.eid(), eid);
    c.get("/api/logger/list", Some(&log_token))
        .assert_error(401);
    let ext_token = c.ext_login(eid, &phone, "logger:get", 32);
    let lines = c.log_lines(&ext_token);
    assert!(lines.len() > lines_before, "the log goes on");
    let events = support::verify_log(&lines);
    assert_eq!(
        events.iter().filter(|e| **e == 19).count(),
        2,
        "one RTC_SET per boot"
    );
    drop(emu);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn password_derives_the_user_key_from_the_eid_text() {
    // PBKDF2 with 600 000 rounds: once, on an identity the state directory fixes.
    let dir = temp_dir("password");
    let (emu, _) = start(EmulatorConfig {
        state_dir: Some(dir.clone()),
        ..config()
    });
    let eid = emu.eid();
    emu.stop();
    let (emu, c) = start(EmulatorConfig {
        state_dir: Some(dir.clone()),
        password: Some(String::from("correct horse")),
        user_key: None,
        ..config()
    });
    assert_eq!(emu.eid(), eid);
    let user = client::derive_user_key("correct horse", &eid.to_b64());
    let token = c.login_for(&user, "keymgmt:list", 60);
    assert_eq!(c.get("/api/keymgmt/list", Some(&token)).status, 200);
    drop(emu);
    std::fs::remove_dir_all(&dir).unwrap();
}
