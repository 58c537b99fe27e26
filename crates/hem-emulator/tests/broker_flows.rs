//! `--broker` and the virtual authenticator, driven over HTTP exactly as the official clients
//! drive a device and the Encedo broker: check-in (spec §9.4), registration (§6.1),
//! remote login (§5.1), listing and unpairing (§6.8). The client forwards objects verbatim, as the
//! Manager does; nothing here builds a protocol message but the password-style login.

// Helpers fail loudly: a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use hem_auth_core::client;
use hem_emulator::{AuthenticatorMode, EmulatorConfig, EmulatorError, RunningEmulator};
use serde_json::{json, Value};
use support::{config, start, temp_dir, Client, Reply};

/// The Manager polls `register/check` every 4 s while its QR code lives 60 s (spec §6.1).
const REGISTER_POLL: Duration = Duration::from_secs(4);
const REGISTER_WAIT: Duration = Duration::from_secs(60);
/// The Manager polls `event/check` every ~900 ms for ~60 s (spec §5.1).
const EVENT_POLL: Duration = Duration::from_millis(900);
const EVENT_WAIT: Duration = Duration::from_secs(60);

const APPROVE: AuthenticatorMode = AuthenticatorMode::Approve {
    period_secs: 900,
    writable: false,
};

fn broker_config(mode: AuthenticatorMode) -> EmulatorConfig {
    EmulatorConfig {
        broker: true,
        authenticator: Some(mode),
        rtc_unset: true,
        ..config()
    }
}

fn post_json(c: &Client, path: &str, body: &Value, token: Option<&str>) -> Reply {
    c.post(path, body.to_string().as_bytes(), token)
}

/// Asserts a 200 JSON answer and returns its body.
fn ok_json(reply: Reply, what: &str) -> Value {
    assert_eq!(
        reply.status,
        200,
        "{what}: body {:?}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(
        reply.content_type.as_deref(),
        Some("application/json"),
        "{what}"
    );
    reply.json()
}

/// Check-in (spec §9.4): the device's check, the backend's answer, both verbatim.
fn check_in(c: &Client) {
    let check = c.get("/api/system/checkin", None).expect(200);
    let checked = c.post("/checkin", &check, None);
    let checked = ok_json(checked, "POST /checkin");
    assert!(checked["checked"].is_string(), "{checked}");
    ok_json(
        post_json(c, "/api/system/checkin", &checked, None),
        "POST /api/system/checkin",
    );
    let status = c.get("/api/system/status", None).json();
    assert!(status["time"].is_u64(), "the RTC is set: {status}");
}

/// What a finished registration leaves the client: the rid and the device's kid.
struct Registered {
    kid: String,
}

/// Registration as the Manager does it (spec §6.1), with a `system:config` token; the
/// virtual authenticator plays the phone.
fn register(c: &Client, token: &str) -> Registered {
    let (rid, check) = register_until_answered(c, token);
    assert_eq!(
        check.status,
        200,
        "register/check: {:?}",
        String::from_utf8_lossy(&check.body)
    );
    let accepted = check.json();
    assert!(accepted["pid"].is_string() && accepted["reply"].is_string());
    let validated = ok_json(
        post_json(c, "/api/auth/ext/validate", &accepted, Some(token)),
        "ext/validate",
    );
    ok_json(
        post_json(
            c,
            &format!("/notify/register/finalise/{rid}"),
            &validated,
            None,
        ),
        "register/finalise",
    );
    Registered {
        kid: validated["kid"].as_str().unwrap().to_string(),
    }
}

/// Registration up to the phone's answer: the rid and the first `register/check` answer that
/// is not 202.
fn register_until_answered(c: &Client, token: &str) -> (String, Reply) {
    let config = ok_json(c.get("/api/system/config", Some(token)), "system/config");
    let eid = config["eid"].as_str().unwrap();
    let session = ok_json(
        post_json(c, "/notify/session", &json!({ "eid": eid }), None),
        "POST /notify/session",
    );
    let epk = session["epk"].as_str().unwrap();
    let init = ok_json(
        post_json(c, "/api/auth/ext/init", &json!({ "epk": epk }), Some(token)),
        "ext/init",
    );
    let request = init["request"].as_str().unwrap();
    let registration = ok_json(
        post_json(
            c,
            "/notify/register/init",
            &json!({ "epk": epk, "eid": eid, "request": request }),
            None,
        ),
        "register/init",
    );
    let rid = registration["rid"].as_str().unwrap();
    let link = registration["link"].as_str().unwrap();
    assert!(
        link.ends_with(&format!("/notify/register/challenge/{rid}")),
        "{link}"
    );
    // On the emulator's own scheme: https:// links from an HTTPS emulator.
    let scheme = c.base.split_once("://").unwrap().0;
    assert!(link.starts_with(&format!("{scheme}://")), "{link}");
    // The QR code the Manager shows; the virtual authenticator got the link already.
    let qr = client::qr_payload(
        link,
        request,
        config["user"].as_str().unwrap(),
        config["email"].as_str().unwrap(),
        config["hostname"].as_str().unwrap(),
    );
    let qr: Value = serde_json::from_str(&qr).unwrap();
    assert_eq!(qr["link"].as_str(), Some(link));

    let started = Instant::now();
    loop {
        let check = c.get(&format!("/notify/register/check/{rid}"), None);
        if check.status != 202 {
            return (rid.to_string(), check);
        }
        assert!(
            started.elapsed() < REGISTER_WAIT,
            "the virtual authenticator did not answer the pairing within {REGISTER_WAIT:?}"
        );
        std::thread::sleep(REGISTER_POLL);
    }
}

/// A remote login up to the broker's verdict (spec §5.1): the `event/check` body.
fn remote_login_verdict(c: &Client, scope: &str) -> Value {
    let eventid = remote_login_event(c, scope).0;
    let started = Instant::now();
    loop {
        let check = c.get(&format!("/notify/event/check/{eventid}"), None);
        match check.status {
            200 => return check.json(),
            202 => {}
            s => panic!(
                "event/check answered {s}: {:?}",
                String::from_utf8_lossy(&check.body)
            ),
        }
        assert!(
            started.elapsed() < EVENT_WAIT,
            "the virtual authenticator did not answer within {EVENT_WAIT:?}"
        );
        std::thread::sleep(EVENT_POLL);
    }
}

/// Session, `ext/request`, `event/new`: the event id and the `event/new` answer.
fn remote_login_event(c: &Client, scope: &str) -> (String, Value) {
    let mut session = ok_json(c.get("/notify/session", None), "GET /notify/session");
    session["scope"] = json!(scope);
    let authreq = ok_json(
        post_json(c, "/api/auth/ext/request", &session, None),
        "ext/request",
    );
    let event = ok_json(
        post_json(c, "/notify/event/new", &authreq, None),
        "event/new",
    );
    let eventid = event["eventid"].as_str().unwrap().to_string();
    (eventid, event)
}

/// A whole remote login: the access token.
fn remote_login(c: &Client, scope: &str) -> String {
    let verdict = remote_login_verdict(c, scope);
    let authreply = verdict["authreply"]
        .as_str()
        .unwrap_or_else(|| panic!("approved: {verdict}"));
    let token = ok_json(
        post_json(
            c,
            "/api/auth/ext/token",
            &json!({ "authreply": authreply }),
            None,
        ),
        "ext/token",
    );
    token["token"].as_str().unwrap().to_string()
}

/// The device's `ext/mac` for a fresh eid-bound session, plus that session's epk: the body of
/// `subscribers/list` and `subscribers/delete` (spec §6.8).
fn subscriber_proof(c: &Client, token: &str, eid: &str) -> Value {
    let session = ok_json(
        post_json(c, "/notify/session", &json!({ "eid": eid }), None),
        "POST /notify/session",
    );
    let mut proof = ok_json(
        post_json(
            c,
            "/api/auth/ext/mac",
            &json!({ "epk": session["epk"] }),
            Some(token),
        ),
        "ext/mac",
    );
    proof["epk"] = session["epk"].clone();
    proof
}

fn subscribers(c: &Client, token: &str, eid: &str) -> Vec<Value> {
    let proof = subscriber_proof(c, token, eid);
    let list = ok_json(
        post_json(c, "/notify/subscribers/list", &proof, None),
        "subscribers/list",
    );
    list.as_array().unwrap().clone()
}

/// Waits (bounded) until the virtual authenticator holds `n` pairings.
fn wait_for_pairings(emulator: &RunningEmulator, n: usize) {
    let started = Instant::now();
    while emulator.authenticator_pairings() != n {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the virtual authenticator holds {} pairings, not {n}",
            emulator.authenticator_pairings()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", path.display());
}

#[test]
fn check_in_register_remote_login_list_and_unpair() {
    let (emulator, c) = start(broker_config(APPROVE));
    let eid = emulator.eid().to_b64();
    // RTC unset: remote login is refused until the check-in through the broker.
    let mut session = ok_json(c.get("/notify/session", None), "GET /notify/session");
    session["scope"] = json!("keymgmt:list");
    post_json(&c, "/api/auth/ext/request", &session, None).assert_error(403);
    check_in(&c);

    let config_token = c.login("system:config");
    let paired = ok_json(
        post_json(&c, "/notify/session", &json!({ "eid": eid }), None),
        "POST /notify/session",
    );
    assert_eq!(paired["paired"], json!(false));
    let registered = register(&c, &config_token);
    assert_eq!(emulator.authenticator_pairings(), 1);
    let paired = ok_json(
        post_json(&c, "/notify/session", &json!({ "eid": eid }), None),
        "POST /notify/session",
    );
    assert_eq!(paired["paired"], json!(true));

    // Remote login, as the Manager does it: a check-in first.
    check_in(&c);
    let (_, event) = remote_login_event(&c, "keymgmt:list");
    assert_eq!(event["sentcnt"], json!(1), "{event}");
    let token = remote_login(&c, "keymgmt:list");
    let keys = ok_json(c.get("/api/keymgmt/list", Some(&token)), "keymgmt/list");
    assert_eq!(
        keys["list"][0]["kid"].as_str(),
        Some(registered.kid.as_str())
    );
    assert_eq!(
        keys["list"][0]["label"].as_str(),
        Some("hem-virtual-authenticator")
    );

    // The broker lists the pairing under the kid the device gave.
    let list = subscribers(&c, &config_token, &eid);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["kid"].as_str(), Some(registered.kid.as_str()));
    let pid = list[0]["pid"].as_str().unwrap().to_string();

    // The phone refuses a second registration of the same device ("already paired").
    let (_, refused) = register_until_answered(&c, &config_token);
    assert_eq!(refused.status, 410);
    assert_eq!(emulator.authenticator_pairings(), 1);

    // Unpair as the Manager does: broker first, then the device key.
    let pair_token = c.login("auth:ext:pair");
    let mut proof = subscriber_proof(&c, &pair_token, &eid);
    proof["pid"] = json!(pid);
    ok_json(
        post_json(&c, "/notify/subscribers/delete", &proof, None),
        "subscribers/delete",
    );
    let del_token = c.login("keymgmt:del");
    let deleted = c.delete(
        &format!("/api/keymgmt/delete/{}", registered.kid),
        Some(&del_token),
    );
    assert_eq!(deleted.status, 200);
    assert!(subscribers(&c, &config_token, &eid).is_empty());
    // The broker told the phone (the DELETED push).
    wait_for_pairings(&emulator, 0);
    let (_, event) = remote_login_event(&c, "keymgmt:list");
    assert_eq!(event["sentcnt"], json!(0), "{event}");
}

/// `--broker --tls`: registration links are `https://` and the virtual authenticator pairs
/// over HTTPS (trusting the emulator's certificate); the client turns verification off.
#[test]
fn over_https_links_are_https_and_the_phone_pairs() {
    let emulator = hem_emulator::start(EmulatorConfig {
        tls: Some(hem_emulator::Tls::SelfSigned),
        ..broker_config(APPROVE)
    })
    .unwrap();
    assert!(emulator.url().starts_with("https://"), "{}", emulator.url());
    let c = Client::insecure(&emulator.url());
    check_in(&c);
    let token = c.login("system:config");
    let registered = register(&c, &token);
    assert_eq!(emulator.authenticator_pairings(), 1);
    assert!(!registered.kid.is_empty());
}

#[test]
fn deny_mode_denies_and_a_cancelled_event_is_gone() {
    let (emulator, c) = start(broker_config(AuthenticatorMode::Deny));
    check_in(&c);
    let token = c.login("system:config");
    register(&c, &token);
    assert_eq!(
        emulator.authenticator_pairings(),
        1,
        "deny mode still pairs"
    );
    check_in(&c);
    let verdict = remote_login_verdict(&c, "keymgmt:list");
    assert_eq!(verdict, json!({ "deny": true }));
}

#[test]
fn cancel_makes_check_404() {
    // No pairing: nobody answers, so the event is pending until cancelled.
    let (emulator, c) = start(broker_config(APPROVE));
    check_in(&c);
    let (eventid, event) = remote_login_event(&c, "keymgmt:list");
    assert_eq!(event["sentcnt"], json!(0));
    assert_eq!(
        c.get(&format!("/notify/event/check/{eventid}"), None)
            .status,
        202
    );
    let cancelled = c.delete(&format!("/notify/event/{eventid}"), None);
    ok_json(cancelled, "DELETE /notify/event");
    let check = c.get(&format!("/notify/event/check/{eventid}"), None);
    assert_eq!(check.status, 404);
    assert!(check.json()["err"].is_string());
    assert_eq!(emulator.authenticator_pairings(), 0);
}

#[test]
fn restart_keeps_the_authenticator_pairing_and_the_subscribers() {
    let dir = temp_dir("broker-restart");
    let with_state = || EmulatorConfig {
        state_dir: Some(dir.clone()),
        ..broker_config(APPROVE)
    };
    let (emulator, c) = start(with_state());
    let eid = emulator.eid().to_b64();
    check_in(&c);
    let token = c.login("system:config");
    let registered = register(&c, &token);
    emulator.stop();
    for file in ["notify.json", "authenticator.json", "state.json"] {
        assert_private(&dir.join(file));
    }

    let (emulator, c) = start(with_state());
    assert_eq!(emulator.eid().to_b64(), eid);
    assert_eq!(emulator.authenticator_pairings(), 1, "reloaded at start");
    // A restart is a reboot: the RTC is unset again, and the same backend key answers.
    check_in(&c);
    let token = remote_login(&c, "keymgmt:list");
    let keys = ok_json(c.get("/api/keymgmt/list", Some(&token)), "keymgmt/list");
    assert_eq!(
        keys["list"][0]["kid"].as_str(),
        Some(registered.kid.as_str())
    );
    let config_token = c.login("system:config");
    let list = subscribers(&c, &config_token, &eid);
    assert_eq!(list.len(), 1, "{list:?}");
    drop(emulator);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn broker_off_body_limit_and_config_errors() {
    // Without --broker the broker paths are the device's 404.
    let (_emulator, c) = start(config());
    c.post("/notify/session", br#"{"eid":"x"}"#, None)
        .assert_error(404);
    c.post("/checkin", b"{}", None).assert_error(404);

    let (_emulator, c) = start(EmulatorConfig {
        broker: true,
        ..config()
    });
    let limit = hem_auth_core::notify::MAX_BODY_BYTES;
    // At the limit: read and answered by the broker (a bad body, not a large one).
    let at_limit = format!("{{\"pad\":\"{}\"}}", "x".repeat(limit - 10));
    assert_eq!(at_limit.len(), limit);
    let reply = c.post("/notify/session", at_limit.as_bytes(), None);
    assert_eq!(reply.status, 400);
    // Over it: 413 before the body is read.
    let over = format!("{{\"pad\":\"{}\"}}", "x".repeat(limit - 9));
    let reply = c.post("/notify/session", over.as_bytes(), None);
    assert_eq!(reply.status, 413);
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    assert!(reply.json()["err"].is_string());
    // The device's own limit is unchanged.
    c.post("/api/auth/ext/request", &vec![b' '; 7301], None)
        .assert_error(413);

    let refused = |config: EmulatorConfig| match hem_emulator::start(config) {
        Err(EmulatorError::Config(why)) => why,
        other => panic!("started: {other:?}"),
    };
    let why = refused(EmulatorConfig {
        authenticator: Some(APPROVE),
        ..config()
    });
    assert!(why.contains("--broker"), "{why}");
    let why = refused(EmulatorConfig {
        broker: true,
        backend_key: Some(support::user_key().public_key()),
        ..config()
    });
    assert!(why.contains("--backend-key"), "{why}");
}

#[test]
fn cli_flags() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hem-emulator"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = run(&["--authenticator", "approve"]);
    assert!(!ok && err.contains("--broker"), "{err}");
    let (ok, err) = run(&["--broker", "--authenticator", "approve:0"]);
    assert!(!ok && err.contains("at least 1 second"), "{err}");
    let key = support::user_key().public_key().to_b64();
    let (ok, err) = run(&["--broker", "--backend-key", &key]);
    assert!(!ok && err.contains("--backend-key"), "{err}");
    let (ok, help) = {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hem-emulator"))
            .arg("--help")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert!(ok && help.contains("--authenticator <MODE>") && help.contains("--broker"));
}

/// `--authenticator prompt` on the binary: questions on stderr, answers from stdin, typed
/// ahead here (`y` to the pairing, `y` to the first login, `n` to the second); at end of
/// input every question is a no.
#[test]
fn prompt_mode_reads_the_terminal() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    use std::sync::mpsc;

    let mut child = Command::new(env!("CARGO_BIN_EXE_hem-emulator"))
        .args(["--listen", "127.0.0.1:0", "--broker", "--rtc-unset"])
        .args(["--authenticator", "prompt"])
        .args(["--user-key", &support::user_key().public_key().to_b64()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let child = Kill(child);
    let (lines_tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut ready = String::new();
    BufReader::new(stdout).read_line(&mut ready).unwrap();
    let url = ready
        .trim()
        .strip_prefix("hem-emulator listening on ")
        .expect("ready line")
        .to_string();
    let c = Client::new(&url);
    stdin.write_all(b"y\ny\nn\n").unwrap();
    stdin.flush().unwrap();

    check_in(&c);
    let token = c.login("system:config");
    register(&c, &token);
    check_in(&c);
    let approved = remote_login(&c, "keymgmt:list");
    assert_eq!(c.get("/api/keymgmt/list", Some(&approved)).status, 200);
    assert_eq!(
        remote_login_verdict(&c, "keymgmt:list"),
        json!({ "deny": true })
    );
    drop(stdin);
    assert_eq!(
        remote_login_verdict(&c, "logger:get"),
        json!({ "deny": true }),
        "end of input denies"
    );
    drop(child);
    reader.join().unwrap();
    let said: Vec<String> = lines.try_iter().collect();
    let said = said.join("\n");
    for expected in [
        "pair with the device",
        "asks for keymgmt:list",
        "approved keymgmt:list for 900 s",
        "denied keymgmt:list",
        "(end of input: no)",
        "denied logger:get",
    ] {
        assert!(
            said.contains(expected),
            "{expected:?} not in stderr:\n{said}"
        );
    }
}

/// A pairing the phone accepted but the client never finalised is not a subscriber, and
/// registrations do not survive a restart: the virtual authenticator drops it at the next
/// start instead of refusing that device forever as "already paired".
#[test]
fn an_unfinalised_pairing_is_dropped_at_restart() {
    let dir = temp_dir("broker-unfinalised");
    let with_state = || EmulatorConfig {
        state_dir: Some(dir.clone()),
        ..broker_config(APPROVE)
    };
    let (emulator, c) = start(with_state());
    check_in(&c);
    let token = c.login("system:config");
    let (_, accepted) = register_until_answered(&c, &token);
    assert_eq!(accepted.status, 200);
    assert_eq!(emulator.authenticator_pairings(), 1);
    emulator.stop();

    let (emulator, c) = start(with_state());
    wait_for_pairings(&emulator, 0);
    check_in(&c);
    let token = c.login("system:config");
    register(&c, &token);
    assert_eq!(emulator.authenticator_pairings(), 1);
    drop(emulator);
    std::fs::remove_dir_all(&dir).unwrap();
}
