//! Every endpoint over HTTP, driven by the core's broker and authenticator roles, and a
//! handful of cells of the error table.

mod support;

use hem_auth_core::claims::AuthreplyClaims;
use hem_auth_core::codec;
use hem_auth_core::jwt::{self, Header};
use hem_auth_core::keys::SecretKey;
use hem_auth_core::messages::MAX_BODY_BYTES;
use hem_auth_core::UnixTime;
use hem_emulator::EmulatorConfig;
use support::{config, host_now, start};

#[test]
fn version_status_and_unknown_paths() {
    let (_emu, c) = start(config());
    let v = c.get("/api/system/version", None);
    assert_eq!(v.status, 200);
    assert_eq!(v.content_type.as_deref(), Some("application/json"));
    assert!(v.json()["fwv"]
        .as_str()
        .unwrap()
        .starts_with("hem-emulator"));

    let s = c.get("/api/system/status", None).json();
    let time = s["time"].as_u64().expect("RTC set at boot: time present");
    assert!(time.abs_diff(host_now()) < 5);
    assert!(s["ts"].as_str().unwrap().ends_with('Z'));

    c.get("/api/no/such/path", None).assert_error(404);
    c.get("/api/auth/token/", None).assert_error(404);
    // A known path with another method: the device's dispatcher answers 404.
    c.delete("/api/auth/token", None).assert_error(404);
    c.get("/api/auth/ext/token", None).assert_error(404);
}

#[test]
fn login_pairing_ext_auth_list_logger_and_unpair() {
    let (emu, c) = start(config());
    let eid = emu.eid();

    // Login, then the configuration the pairing needs.
    let config_token = c.login("system:config");
    let cfg = c.get("/api/system/config", Some(&config_token)).json();
    assert_eq!(cfg["eid"].as_str(), Some(eid.to_b64().as_str()));
    assert_eq!(cfg["user"].as_str(), Some("hem-emulator"));

    // Pair two phones; the key list shows both EXTAID keys.
    let a = c.pair(&config_token, eid, "Phone A", 1);
    let b = c.pair(&config_token, eid, "Phone B", 2);
    let list_token = c.login("keymgmt:list");
    let list = c.get("/api/keymgmt/list", Some(&list_token)).json();
    assert_eq!(
        (list["total"].as_u64(), list["listed"].as_u64()),
        (Some(2), Some(2))
    );
    let first = &list["list"][0];
    assert_eq!(first["kid"].as_str(), Some(a.kid.as_str()));
    assert_eq!(first["label"].as_str(), Some("Phone A"));
    assert_eq!(first["type"].as_str(), Some("ECDH,CURVE25519"));
    assert_eq!(
        first["descr"].as_str().unwrap(),
        format!("RVhUQUlE{}", a.pairing.pid())
    );
    let page = c.get("/api/keymgmt/list/1/5", Some(&list_token)).json();
    assert_eq!(page["offset"].as_u64(), Some(1));
    assert_eq!(page["list"][0]["kid"].as_str(), Some(b.kid.as_str()));
    let page = c.get("/api/keymgmt/list/1", Some(&list_token)).json();
    assert_eq!(page["listed"].as_u64(), Some(1));
    c.get("/api/keymgmt/list/x", Some(&list_token))
        .assert_error(400);
    c.get("/api/keymgmt/list/0/-1", Some(&list_token))
        .assert_error(400);

    // One key: keymgmt:get or :gen by prefix, keymgmt:use:<kid> only exactly (spec §8.4).
    let path = format!("/api/keymgmt/get/{}", a.kid);
    for scope in [
        format!("keymgmt:use:{}", a.kid),
        String::from("keymgmt:get"),
        String::from("keymgmt:gen"),
    ] {
        let key = c.get(&path, Some(&c.login(&scope)));
        assert_eq!(key.status, 200, "{scope}");
        let key = key.json();
        assert_eq!(key["kid"].as_str(), Some(a.kid.as_str()));
        assert_eq!(key["label"].as_str(), Some("Phone A"));
        assert_eq!(
            key["pubkey"].as_str(),
            Some(a.pairing.aid().to_b64().as_str())
        );
        assert!(key.get("descr").is_none(), "the firmware omits descr here");
    }
    for scope in [
        format!("keymgmt:use:{}x", a.kid),
        format!("keymgmt:use:{}", b.kid),
        String::from("keymgmt:list"),
    ] {
        c.get(&path, Some(&c.login(&scope))).assert_error(403);
    }
    let get_token = c.login("keymgmt:get");
    c.get("/api/keymgmt/get/nothex", Some(&get_token))
        .assert_error(400);
    c.get(
        &format!("/api/keymgmt/get/{}", "0".repeat(32)),
        Some(&get_token),
    )
    .assert_error(404);
    c.get(&path, None).assert_error(401);

    // ext/mac for the broker's subscriber calls.
    let epk = SecretKey::from_bytes([9; 32]);
    let body = format!(r#"{{"epk":"{}"}}"#, epk.public_key().to_b64());
    let mac = c
        .post("/api/auth/ext/mac", body.as_bytes(), Some(&config_token))
        .json();
    let nonce = codec::decode_fixed::<32>(mac["nonce"].as_str().unwrap()).unwrap();
    let key = epk.diffie_hellman(&eid).unwrap();
    assert_eq!(
        mac["mac"].as_str().unwrap(),
        codec::encode_std(&hem_auth_core::mac::mac(key.as_bytes(), &nonce))
    );

    // External login: both phones get an entry; A approves; the token works as a bearer.
    let authreq = c.authreq(eid, "keymgmt:list", 3);
    assert!(authreq.entry(a.pairing.pid()).is_some());
    assert!(authreq.entry(b.pairing.pid()).is_some());
    let ext_token = c.ext_login(eid, &a, "keymgmt:list", 4);
    let list = c.get("/api/keymgmt/list", Some(&ext_token));
    assert_eq!(list.status, 200);
    // …but not for more than its scope: 403, and a FAILED_SCOPE_CHECK event.
    c.get("/api/logger/list", Some(&ext_token))
        .assert_error(403);

    // Unpair B: its key and its authreq entry are gone, A's stay.
    let del_token = c.login("keymgmt:del");
    let gone = c.delete(&format!("/api/keymgmt/delete/{}", b.kid), Some(&del_token));
    assert_eq!((gone.status, gone.body.len()), (200, 0));
    c.delete(&format!("/api/keymgmt/delete/{}", b.kid), Some(&del_token))
        .assert_error(404);
    c.delete("/api/keymgmt/delete/not-a-kid", Some(&del_token))
        .assert_error(400);
    let list = c.get("/api/keymgmt/list", Some(&list_token)).json();
    assert_eq!(list["total"].as_u64(), Some(1));
    let authreq = c.authreq(eid, "keymgmt:list", 5);
    assert!(authreq.entry(a.pairing.pid()).is_some());
    assert!(authreq.entry(b.pairing.pid()).is_none());

    // The audit log: every event of the run, each line MAC-checked with the key line's key.
    let log_token = c.login("logger:get");
    let lines = c.log_lines(&log_token);
    let events = support::verify_log(&lines);
    for (event, what) in [
        (19, "RTC_SET"),
        (13, "AUTH_SUCCESS_INTERNAL"),
        (15, "AUTH_PAIRED_EXTERNAL"),
        (14, "AUTH_SUCCESS_EXTERNAL"),
        (12, "FAILED_SCOPE_CHECK"),
    ] {
        assert!(events.contains(&event), "no {what} in {lines:#?}");
    }
}

#[test]
fn bearer_rules() {
    let (_emu, c) = start(config());
    let list = "/api/keymgmt/list";
    c.get(list, None).assert_error(401);
    c.get(list, Some("garbage")).assert_error(401);
    // A present but invalid token is refused before routing, on any path (spec §8.2).
    c.get("/api/system/version", Some("garbage"))
        .assert_error(401);
    let narrow = c.login("keymgmt:get");
    c.get(list, Some(&narrow)).assert_error(403);
    c.get("/api/system/config", Some(&narrow)).assert_error(403);
    // Prefix match: keymgmt:list:extra starts with keymgmt:list.
    let wide = c.login("keymgmt:list:extra");
    assert_eq!(c.get(list, Some(&wide)).status, 200);
    // The master key is denied keymgmt.
    let master = SecretKey::from_bytes([0x66; 32]);
    let (_m, mc) = start(EmulatorConfig {
        master_key: Some(master.public_key()),
        ..config()
    });
    let token = mc.login_for(&master, "keymgmt:list", 3600);
    mc.get(list, Some(&token)).assert_error(403);
    // A token expires (valid while now < exp).
    let short = c.expired_token("keymgmt:list");
    c.get(list, Some(&short)).assert_error(401);
}

#[test]
fn transport_rules() {
    let (_emu, c) = start(config());
    // 413 above 7300 bytes, before the body is parsed; exactly 7300 is read.
    let epk = SecretKey::from_bytes([7; 32]).public_key().to_b64();
    let core = format!(r#"{{"epk":"{epk}","scope":"keymgmt:list"}}"#);
    let mut body = core.clone().into_bytes();
    body.pop();
    body.resize(MAX_BODY_BYTES - 1, b' ');
    body.push(b'}');
    assert_eq!(c.post("/api/auth/ext/request", &body, None).status, 200);
    body.insert(1, b' ');
    c.post("/api/auth/ext/request", &body, None)
        .assert_error(413);
    // 400s from the core, with the device's error shape.
    c.post("/api/auth/ext/request", b"{\"epk\":", None)
        .assert_error(400);
    c.post("/api/auth/ext/request", b"[]", None)
        .assert_error(400);
    c.post("/api/auth/ext/token", b"{\"authreply\":\"a.b.c\"}", None)
        .assert_error(400);
    c.post("/api/auth/token", b"", None).assert_error(400);
    // 406: an authreply naming a pid nobody paired (looked up before the MAC).
    let now = host_now();
    let claims = AuthreplyClaims {
        aud: None,
        jti: codec::encode_std(&[1; 32]).into(),
        exp: now + 900,
        iat: Some(now),
        pid: codec::encode_std(&[2; 32]).into(),
        iss: epk.clone().into(),
        scope: "Aabc".into(),
        ctx: None,
    };
    let authreply = jwt::sign(Header::App, &claims, &[0; 32]);
    let body = format!(r#"{{"authreply":"{authreply}"}}"#);
    c.post("/api/auth/ext/token", body.as_bytes(), None)
        .assert_error(406);
    // 411: a POST without Content-Length (here: chunked).
    let raw = support::raw(
        &c,
        b"POST /api/auth/ext/request HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    );
    assert!(raw.starts_with("HTTP/1.1 411"), "{raw}");
}

#[test]
fn rtc_unset_until_check_in() {
    let backend = SecretKey::from_bytes([0x42; 32]);
    let (_emu, c) = start(EmulatorConfig {
        rtc_unset: true,
        backend_key: Some(backend.public_key()),
        ..config()
    });
    let status = c.get("/api/system/status", None).json();
    assert!(status.get("time").is_none() && status.get("ts").is_none());
    let epk = SecretKey::from_bytes([8; 32]).public_key().to_b64();
    let request = format!(r#"{{"epk":"{epk}","scope":"keymgmt:list"}}"#);
    c.post("/api/auth/ext/request", request.as_bytes(), None)
        .assert_error(403);
    c.post("/api/auth/ext/token", b"{", None).assert_error(403);

    // Check-in: the test plays the backend (spec §9.5).
    let check = c.get("/api/system/checkin", None).json();
    let check = check["check"].as_str().unwrap().to_string();
    let iat = 1_900_000_000;
    let checked =
        hem_auth_core::notify::answer_check(&backend, &check, UnixTime::from_secs(iat)).unwrap();
    let body = format!(r#"{{"checked":"{checked}"}}"#);
    let answer = c.post("/api/system/checkin", body.as_bytes(), None).json();
    assert_eq!(answer["status"].as_str(), Some("OK"));
    // Replayed check-in: the nonce is spent.
    c.post("/api/system/checkin", body.as_bytes(), None)
        .assert_error(401);

    // The clock now follows the backend's time.
    let time = c.get("/api/system/status", None).json()["time"]
        .as_u64()
        .unwrap();
    assert!((iat..iat + 5).contains(&time));
    assert_eq!(
        c.post("/api/auth/ext/request", request.as_bytes(), None)
            .status,
        200
    );
}

#[test]
fn starts_and_stops_from_inside_an_async_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let emu = hem_emulator::start(config()).unwrap();
        let url = emu.url();
        let status = tokio::task::spawn_blocking(move || {
            support::Client::new(&url)
                .get("/api/system/version", None)
                .status
        })
        .await
        .unwrap();
        assert_eq!(status, 200);
        emu.stop();
    });
}

#[test]
fn stop_is_prompt_with_open_connections() {
    let (emu, c) = start(config());
    let url = emu.url();
    // A kept-alive connection, and one stuck half-way through a body.
    assert_eq!(c.get("/api/system/version", None).status, 200);
    let mut stuck = std::net::TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    std::io::Write::write_all(
        &mut stuck,
        b"POST /api/auth/ext/request HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
    )
    .unwrap();
    let started = std::time::Instant::now();
    emu.stop();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(std::net::TcpStream::connect(url.trim_start_matches("http://")).is_err());
}
