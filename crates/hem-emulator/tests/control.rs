//! The control API (`--control`): each endpoint over HTTP, its in-process twin, and that it
//! is never served on the device port.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use hem_emulator::{AuthenticatorMode, ControlError, EmulatorConfig};
use serde_json::{json, Value};
use support::{config, host_now, start, Client};

/// An emulator with its control API on a free port, and clients for both ports.
fn with_control(config: EmulatorConfig) -> (hem_emulator::RunningEmulator, Client, Client) {
    let (emu, device) = start(EmulatorConfig {
        control: Some("127.0.0.1:0".parse().unwrap()),
        ..config
    });
    let url = emu.control_url().expect("control URL");
    assert_ne!(url, emu.url(), "a port of its own");
    let control = Client::new(&url);
    (emu, device, control)
}

fn post(c: &Client, path: &str, body: Value) -> (u16, Value) {
    let r = c.post(path, body.to_string().as_bytes(), None);
    (r.status, r.json())
}

#[test]
fn clock_get_set_and_advance() {
    let (_emu, device, control) = with_control(config());
    let clock = control.get("/control/clock", None).json();
    assert_eq!(clock["rtc_set"], json!(true));
    let now = clock["now"].as_u64().unwrap();
    assert!(now.abs_diff(host_now()) < 5);

    let (status, body) = post(&control, "/control/clock", json!({"advance": 86_400}));
    assert_eq!(status, 200);
    let advanced = body["now"].as_u64().unwrap();
    assert!(
        advanced >= now + 86_400 && advanced < now + 86_410,
        "{body}"
    );
    // The device port's status shows the emulated clock.
    let status = device.get("/api/system/status", None).json();
    assert!(status["time"].as_u64().unwrap() >= now + 86_400);

    let (status, body) = post(&control, "/control/clock", json!({"set": 2_000_000_000}));
    assert_eq!(status, 200);
    assert!((2_000_000_000..2_000_000_005).contains(&body["now"].as_u64().unwrap()));

    for bad in [
        json!({}),
        json!({"set": 1, "advance": 1}),
        json!({"set": "x"}),
    ] {
        let (status, body) = post(&control, "/control/clock", bad.clone());
        assert_eq!(status, 400, "{bad}");
        assert!(body["error"].is_string());
    }
}

#[test]
fn setting_the_clock_sets_the_rtc() {
    let (emu, device, control) = with_control(EmulatorConfig {
        rtc_unset: true,
        ..config()
    });
    assert!(!emu.control().clock().rtc_set);
    assert!(device.get("/api/system/status", None).json()["time"].is_null());
    let (status, _) = post(&control, "/control/clock", json!({"set": host_now()}));
    assert_eq!(status, 200);
    assert!(emu.control().clock().rtc_set);
    assert!(device.get("/api/system/status", None).json()["time"].is_u64());
}

#[test]
fn control_is_never_on_the_device_port() {
    let (emu, device, control) = with_control(config());
    for path in ["/control/clock", "/control/requests"] {
        device.get(path, None).assert_error(404);
    }
    device
        .post("/control/reboot", b"{}", None)
        .assert_error(404);
    // and the device API is not on the control port
    assert_eq!(control.get("/api/system/version", None).status, 404);
    // the same address for both is refused
    let addr = emu.local_addr();
    drop(emu);
    let same = hem_emulator::start(EmulatorConfig {
        listen: addr,
        control: Some(addr),
        ..config()
    });
    assert!(matches!(same, Err(hem_emulator::EmulatorError::Config(_))));
}

#[test]
fn reboot_kills_tokens_and_nonces_but_keeps_pairings() {
    let (emu, device, control) = with_control(config());
    let token = device.login("auth:ext:pair|keymgmt:list");
    let phone = device.pair(&token, emu.eid(), "Pixel", 3);
    let challenge = device.get("/api/auth/token", None).expect(200);

    let (status, body) = post(&control, "/control/reboot", json!({}));
    assert_eq!((status, body), (200, json!({})));

    // the old token is dead (401 before routing), a new login works
    device
        .get("/api/keymgmt/list", Some(&token))
        .assert_error(401);
    let fresh = device.login("keymgmt:list");
    let list = device.get("/api/keymgmt/list", Some(&fresh)).json();
    assert_eq!(list["total"], json!(1), "the pairing stays: {list}");
    // the pending challenge died: a login answering it is 401
    let old = hem_auth_core::client::LoginChallenge::parse(&challenge).unwrap();
    let now = host_now();
    let ejwt = hem_auth_core::client::build_login(
        &support::user_key(),
        &old,
        "keymgmt:list",
        hem_auth_core::UnixTime::from_secs(now),
        hem_auth_core::UnixTime::from_secs(now + 60),
        None,
    )
    .unwrap();
    device
        .post(
            "/api/auth/token",
            hem_auth_core::client::login_body(&ejwt).as_bytes(),
            None,
        )
        .assert_error(401);
    // the paired phone still logs in
    let ext = device.ext_login(emu.eid(), &phone, "keymgmt:list", 9);
    assert_eq!(device.get("/api/keymgmt/list", Some(&ext)).status, 200);
}

#[test]
fn factory_reset_forgets_identity_pairings_and_log() {
    let (emu, device, control) = with_control(config());
    let eid = emu.eid();
    let token = device.login("auth:ext:pair|logger:get");
    device.pair(&token, eid, "Pixel", 4);
    let (status, body) = post(&control, "/control/factory-reset", json!({}));
    assert_eq!((status, body), (200, json!({})));
    assert_ne!(emu.eid(), eid, "a new identity");
    device
        .get("/api/logger/list", Some(&token))
        .assert_error(401);
    let fresh = device.login("keymgmt:list");
    let list = device.get("/api/keymgmt/list", Some(&fresh)).json();
    assert_eq!(list["total"], json!(0), "no pairings: {list}");
    let lines = device.log_lines(&device.login("logger:get"));
    let counters = support::verify_log(&lines);
    assert!(
        counters.first().is_some_and(|&c| c <= 2),
        "the log starts again: {counters:?}"
    );
}

#[test]
fn requests_are_logged_newest_last_and_bounded() {
    let (emu, device, control) = with_control(config());
    device.get("/api/system/version", None).expect(200);
    device.get("/api/no/such", None).assert_error(404);
    let log = control.get("/control/requests", None).json();
    let log = log.as_array().unwrap();
    let last = &log[log.len() - 1];
    assert_eq!(last["method"], json!("GET"));
    assert_eq!(last["path"], json!("/api/no/such"));
    assert_eq!(last["status"], json!(404));
    assert!(last["at"].as_u64().unwrap().abs_diff(host_now()) < 5);
    assert_eq!(log[log.len() - 2]["path"], json!("/api/system/version"));
    // control requests are not in the device port's log
    assert!(log
        .iter()
        .all(|r| !r["path"].as_str().unwrap().starts_with("/control")));
    for _ in 0..hem_emulator::REQUEST_LOG_ENTRIES + 5 {
        device.get("/api/system/version", None).expect(200);
    }
    assert_eq!(
        emu.control().requests().len(),
        hem_emulator::REQUEST_LOG_ENTRIES
    );
}

#[test]
fn authenticator_mode_switch() {
    // Without a virtual authenticator: 404.
    let (emu, _device, control) = with_control(config());
    let (status, body) = post(&control, "/control/authenticator", json!({"mode": "deny"}));
    assert_eq!(status, 404, "{body}");
    assert!(matches!(
        emu.control()
            .set_authenticator_mode(AuthenticatorMode::Deny),
        Err(ControlError::NoAuthenticator)
    ));
    drop(emu);

    let (emu, _device, control) = with_control(EmulatorConfig {
        broker: true,
        authenticator: Some(AuthenticatorMode::Deny),
        ..config()
    });
    let (status, body) = post(
        &control,
        "/control/authenticator",
        json!({"mode": "approve:60:rw"}),
    );
    assert_eq!((status, body), (200, json!({})));
    let (status, body) = post(&control, "/control/authenticator", json!({"mode": "maybe"}));
    assert_eq!(status, 400, "{body}");
    emu.control()
        .set_authenticator_mode(AuthenticatorMode::Deny)
        .unwrap();
}

#[test]
fn trusted_ts_refuses_login_while_the_rtc_is_unset() {
    let (emu, device, _control) = with_control(EmulatorConfig {
        rtc_unset: true,
        trusted_ts: true,
        ..config()
    });
    device.get("/api/auth/token", None).assert_error(403);
    emu.control()
        .set_clock(hem_auth_core::UnixTime::from_secs(host_now()));
    device.get("/api/auth/token", None).expect(200);
}
