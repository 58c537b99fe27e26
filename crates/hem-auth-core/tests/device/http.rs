//! `Device::handle`: the device's HTTP behaviour as values (routing, bearer before routing,
//! body limit, every body the emulator serves, audit lines and effects). What an HTTP client
//! sees (status and body) goes through the simulated world's `World::device_call`; the
//! effects are read from the [`Response`] of `Device::handle` itself.

use hem_auth_core::device::{
    logger_list_body, AuditChain, AuditKey, AuditKind, Device, Effect, Head, Request, Response,
    VersionBanner, LOGGER_MAX_PAGE_LINES,
};
use hem_auth_core::http::Method;
use hem_auth_core::messages::MAX_BODY_BYTES;
use hem_auth_core::{Seconds, UnixTime};
use hem_auth_sim::DeviceReply;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::rig::{body, Rig, T0};

/// `Device::handle`'s answer with its effects, as an adapter receives it.
fn send(rig: &mut Rig, req: &Request<'_>) -> Response {
    rig.w.device.handle(req, rig.w.time(), &mut rig.w.rng)
}

/// A GET with `bearer`, through the world, as a client sees it (the effects applied).
fn get(rig: &mut Rig, path: &str, bearer: Option<&str>) -> DeviceReply {
    rig.w.device_call(Method::Get, path, bearer, b"")
}

/// A POST of `body` with `bearer`, through the world, as a client sees it.
fn post(rig: &mut Rig, path: &str, bearer: Option<&str>, body: &[u8]) -> DeviceReply {
    rig.w.device_call(Method::Post, path, bearer, body)
}

/// A GET with `bearer` answered by `Device::handle`, its effects as values.
fn get_effects(rig: &mut Rig, path: &str, bearer: Option<&str>) -> Response {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    send(
        rig,
        &Request::new(Method::Get, path).authorization(auth.as_deref()),
    )
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

/// The audit lines among a response's effects.
fn lines(r: &Response) -> Vec<&str> {
    r.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Audit(line) => Some(line.text.as_str()),
            _ => None,
        })
        .collect()
}

fn keyed(rig: &mut Rig) -> AuditKey {
    let key = AuditKey::new(Zeroizing::new([9u8; 32]));
    rig.w
        .device
        .set_audit_chain(AuditChain::new(key.clone(), 1));
    key
}

#[test]
fn unknown_paths_and_other_methods_are_404() {
    let mut rig = Rig::new();
    for (method, path) in [
        (Method::Get, "/"),
        (Method::Get, "/api/auth/tokens"),
        (Method::Get, "/api/auth/token/"),
        (Method::Get, "/api/keymgmt/list/1/2/3"),
        (Method::Get, "/api/keymgmt/list/"),
        (Method::Get, "/api/logger/key"),
        (Method::Get, "/notify/session"),
        // Known paths, another method: the device's dispatcher knows no 405.
        (Method::Get, "/api/auth/ext/token"),
        (Method::Delete, "/api/auth/token"),
        (Method::Post, "/api/system/version"),
        (Method::Get, "/api/keymgmt/delete/00"),
        (Method::Other, "/api/system/status"),
    ] {
        let r = send(&mut rig, &Request::new(method, path));
        assert_eq!((r.status, r.body.as_str()), (404, ""), "{method:?} {path}");
        assert!(r.effects.is_empty());
    }
}

#[test]
fn a_bad_bearer_is_401_on_any_path_before_routing() {
    let mut rig = Rig::new();
    let expired = {
        let token = rig.login("system:config");
        rig.w.now += 9 * 3600;
        token
    };
    for path in ["/nowhere", "/api/system/version", "/api/auth/ext/token"] {
        for auth in [
            "Bearer x.y.z",
            "Basic abc",
            "",
            &format!("Bearer {expired}"),
        ] {
            let req = Request::new(Method::Post, path)
                .authorization(Some(auth))
                .body(&[b'x'; MAX_BODY_BYTES + 1]);
            let r = send(&mut rig, &req);
            assert_eq!(r.status, 401, "{path} {auth}");
            // The head says the same, before any body is read.
            match rig.w.device.head(&req, rig.w.time(), &mut rig.w.rng) {
                Head::Answer(head) => assert_eq!(head.status, 401),
                other => panic!("{other:?}"),
            }
        }
    }
    // A valid bearer on a public path passes the dispatcher.
    let token = rig.login("logger:get");
    assert_eq!(
        get(&mut rig, "/api/system/version", Some(&token)).status,
        200
    );
}

#[test]
fn post_bodies_above_the_limit_are_413_after_routing() {
    let mut rig = Rig::new();
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    for path in [
        "/api/auth/token",
        "/api/auth/ext/request",
        "/api/system/checkin",
    ] {
        assert_eq!(post(&mut rig, path, None, &big).status, 413, "{path}");
    }
    // Before the endpoint's own checks: with the RTC unset, `ext/request` itself answers 403
    // (spec §10.2), but a body over the limit is 413 first, as the transport refused it.
    rig.unset_clock();
    let typed = rig.w.device.ext_request(&big, rig.w.time(), &mut rig.w.rng);
    assert_eq!(typed.result.unwrap_err().status(), 403);
    let r = post(&mut rig, "/api/auth/ext/request", None, &big);
    assert_eq!(r.status, 413);
    // Routing first: an unknown path stays 404; a GET ignores its body.
    assert_eq!(post(&mut rig, "/nowhere", None, &big).status, 404);
    let r = rig
        .w
        .device_call(Method::Get, "/api/system/version", None, &big);
    assert_eq!(r.status, 200);
    let head = |rig: &mut Rig, m, p| {
        rig.w
            .device
            .head(&Request::new(m, p), UnixTime::from_secs(T0), &mut rig.w.rng)
    };
    assert_eq!(
        head(&mut rig, Method::Post, "/api/auth/token"),
        Head::ReadBody
    );
    assert_eq!(head(&mut rig, Method::Get, "/api/auth/token"), Head::NoBody);
    assert_eq!(
        head(&mut rig, Method::Delete, "/api/keymgmt/delete/x"),
        Head::NoBody
    );
}

#[test]
fn the_version_banner_has_the_members_clients_require() {
    // Spec §9.1: hwv, blv, fwv, fws always, in this order; uis only with a UI.
    let mut rig = Rig::new();
    let r = get(&mut rig, "/api/system/version", None);
    let zeros = hem_auth_core::codec::encode_std(&[0u8; 64]);
    assert_eq!(
        r.body,
        format!(
            r#"{{"hwv":"hem-emulator","blv":"hem-emulator","fwv":"hem-emulator v{}","fws":"{zeros}"}}"#,
            env!("CARGO_PKG_VERSION")
        )
    );
    // Values the core cannot know come from the configuration.
    let mut rig = Rig::with(|c| {
        c.version = VersionBanner::new("PPA-1.0", "bl", "1.2.2", "x");
        c.version.uis = Some("1.0".into());
    });
    let v = json_of(&get(&mut rig, "/api/system/version", None).body);
    assert_eq!(
        v,
        json!({"hwv": "PPA-1.0", "blv": "bl", "fwv": "1.2.2", "fws": "x", "uis": "1.0"})
    );
    // and survive a snapshot
    let snap = rig.w.device.snapshot();
    let mut restored = hem_auth_core::device::Device::restore(snap, &mut rig.w.rng).unwrap();
    assert_eq!(restored.config().version.fwv, "1.2.2");
    let r = restored.handle(
        &Request::new(Method::Get, "/api/system/version"),
        hem_auth_core::UnixTime::from_secs(T0),
        &mut rig.w.rng,
    );
    assert_eq!(json_of(&r.body)["blv"], "bl");
}

#[test]
fn status_says_inited_false_only_when_not_initialised() {
    // Spec §9.2: `"inited":false` last on a device that is not initialised, absent otherwise.
    let mut rig = Rig::with(|c| c.initialised = false);
    let r = get(&mut rig, "/api/system/status", None);
    assert_eq!(
        r.body,
        format!(
            r#"{{"uptime":0,"ts":"2026-07-23T00:49:24Z","time":{T0},"fls_state":0,"inited":false}}"#
        )
    );
    let mut rig = Rig::new();
    assert!(json_of(&get(&mut rig, "/api/system/status", None).body)
        .get("inited")
        .is_none());
}

#[test]
fn reboot_kills_tokens_and_nonces_and_keeps_pairings() {
    // Spec §4.6.
    let mut rig = Rig::new();
    let phone = rig.pair("Pixel");
    let token = rig.login("keymgmt:list");
    let challenge = get(&mut rig, "/api/auth/token", None);
    assert_eq!(challenge.status, 200);
    let spk = *rig.w.device.spk();
    let before = get(&mut rig, "/api/keymgmt/list", Some(&token));
    assert_eq!(before.status, 200);

    rig.w.device.reboot(&mut rig.w.rng);
    assert_ne!(*rig.w.device.spk(), spk, "a new spk");
    assert!(!rig.w.device.rtc_is_set(), "the RTC is unset again");
    rig.w.set_clock();
    assert_eq!(get(&mut rig, "/api/keymgmt/list", Some(&token)).status, 401);
    // A login answering the old challenge: 401 (its nonce died).
    let parsed: Value = serde_json::from_str(&challenge.body).unwrap();
    let old = hem_auth_core::client::LoginChallenge::parse(challenge.body.as_bytes()).unwrap();
    assert_eq!(parsed["spk"], json!(spk.to_b64()));
    let ejwt = hem_auth_core::client::build_login(
        &rig.w.user,
        &old,
        "keymgmt:list",
        rig.w.time(),
        rig.w.time() + Seconds::new(60),
        None,
    )
    .unwrap();
    let body = hem_auth_core::client::login_body(&ejwt);
    let login = post(&mut rig, "/api/auth/token", None, body.as_bytes());
    assert_eq!(login.status, 401);
    // The pairing stays.
    assert_eq!(rig.w.device.pairings().len(), 1);
    assert_eq!(*rig.w.device.pairings()[0].pid(), phone.pid_bytes());
    let fresh = rig.login("keymgmt:list");
    let list = json_of(&get(&mut rig, "/api/keymgmt/list", Some(&fresh)).body);
    assert_eq!(list["total"], 1);
}

#[test]
fn version_status_and_config_bodies() {
    let mut rig = Rig::new();
    let v = json_of(&get(&mut rig, "/api/system/version", None).body);
    assert_eq!(v["hwv"], "hem-emulator");
    assert!(v["fwv"].as_str().unwrap().starts_with("hem-emulator v"));
    let r = send(
        &mut rig,
        &Request::new(Method::Get, "/api/system/status").uptime(Seconds::new(42)),
    );
    assert_eq!(
        r.body,
        format!(r#"{{"uptime":42,"ts":"2026-07-23T00:49:24Z","time":{T0},"fls_state":0}}"#)
    );
    rig.unset_clock();
    let r = get(&mut rig, "/api/system/status", None);
    assert_eq!(r.body, r#"{"uptime":0,"fls_state":0}"#);

    let mut rig = Rig::new();
    assert_eq!(get(&mut rig, "/api/system/config", None).status, 401);
    let narrow = rig.login("keymgmt:list");
    assert_eq!(
        get(&mut rig, "/api/system/config", Some(&narrow)).status,
        403
    );
    for scope in ["system:config", "logger:get", "auth:ext:pair"] {
        let token = rig.login(scope);
        let r = get(&mut rig, "/api/system/config", Some(&token));
        assert_eq!(r.status, 200, "{scope}");
        assert_eq!(
            json_of(&r.body),
            json!({
                "eid": rig.eid_b64(), "user": "My device", "email": "", "hostname": "",
                "trusted_ts": false, "trusted_backend": true, "spk": rig.w.device.spk().to_b64(),
            })
        );
    }
}

#[test]
fn key_list_get_and_delete() {
    let mut rig = Rig::new();
    let a = rig.pair("Pixel 8 (Android)");
    let b = rig.pair("iPhone");
    let list = rig.login("keymgmt:list");
    let r = get(&mut rig, "/api/keymgmt/list", Some(&list));
    let v = json_of(&r.body);
    assert_eq!(
        (v["offset"].clone(), v["total"].clone(), v["listed"].clone()),
        (json!(0), json!(2), json!(2))
    );
    assert_eq!(
        v["list"][0],
        json!({
            "kid": a.kid, "type": "ECDH,CURVE25519", "label": "Pixel 8 (Android)",
            "descr": format!("RVhUQUlE{}", a.pid()),
        })
    );
    let v = json_of(&get(&mut rig, "/api/keymgmt/list/1", Some(&list)).body);
    assert_eq!(
        (v["offset"].clone(), v["listed"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(v["list"][0]["kid"], b.kid);
    let v = json_of(&get(&mut rig, "/api/keymgmt/list/0/1", Some(&list)).body);
    assert_eq!(v["listed"], 1);
    for bad in [
        "/api/keymgmt/list/x",
        "/api/keymgmt/list/1/-1",
        "/api/keymgmt/list/+1",
    ] {
        assert_eq!(get(&mut rig, bad, Some(&list)).status, 400, "{bad}");
    }
    // The bearer before the path: a bad page without a token is 401.
    assert_eq!(get(&mut rig, "/api/keymgmt/list/x", None).status, 401);
    let master = rig.w.master.clone();
    let m = rig.login_as(&master, "keymgmt:list");
    assert_eq!(get(&mut rig, "/api/keymgmt/list", Some(&m)).status, 403);

    let path = format!("/api/keymgmt/get/{}", a.kid);
    let exact = rig.login(&format!("keymgmt:use:{}", a.kid));
    let r = get(&mut rig, &path, Some(&exact));
    assert_eq!(
        json_of(&r.body),
        json!({ "kid": a.kid, "type": "ECDH,CURVE25519", "label": "Pixel 8 (Android)", "pubkey": a.aid().to_b64() })
    );
    let other = format!("/api/keymgmt/get/{}", b.kid);
    assert_eq!(get(&mut rig, &other, Some(&exact)).status, 403);
    let get_token = rig.login("keymgmt:get");
    assert_eq!(
        get(&mut rig, "/api/keymgmt/get/XYZ", Some(&get_token)).status,
        400
    );
    let unknown = "/api/keymgmt/get/00000000000000000000000000000000";
    assert_eq!(get(&mut rig, unknown, Some(&get_token)).status, 404);

    let del = rig.login("keymgmt:del");
    let unknown = "/api/keymgmt/delete/00000000000000000000000000000000";
    let r = rig.w.device_call(Method::Delete, unknown, Some(&del), b"");
    assert_eq!(r.status, 404);
    let auth = format!("Bearer {del}");
    let path = format!("/api/keymgmt/delete/{}", a.kid);
    let r = send(
        &mut rig,
        &Request::new(Method::Delete, &path).authorization(Some(&auth)),
    );
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert_eq!(r.effects, [Effect::StateChanged]);
    assert_eq!(rig.w.device.pairings().len(), 1);
}

#[test]
fn logins_pairings_and_checkins_emit_their_effects() {
    let mut rig = Rig::new();
    let key = keyed(&mut rig);
    // A login through handle: its token body and one audit line (counter 1).
    let login = rig.login_body_with(&rig.w.user.clone(), "system:config", |_| {});
    let r = send(
        &mut rig,
        &Request::new(Method::Post, "/api/auth/token").body(&login),
    );
    assert_eq!(r.status, 200);
    let token = json_of(&r.body)["token"].as_str().unwrap().to_owned();
    let l = lines(&r);
    assert_eq!(l.len(), 1);
    let fields = key.verify(l[0]).unwrap();
    assert_eq!((fields.counter, fields.event, fields.result), (1, "d", "0"));

    // A pairing: StateChanged after its audit line.
    let (_, jti) = rig.ext_init(&token);
    let (reply, phone) = rig.reply_with(&jti, "Pixel", |_| {});
    let auth = format!("Bearer {token}");
    let r = send(
        &mut rig,
        &Request::new(Method::Post, "/api/auth/ext/validate")
            .authorization(Some(&auth))
            .body(&Rig::validate_body(&phone, &reply)),
    );
    assert_eq!(r.status, 200);
    assert!(
        matches!(&r.effects[..], [Effect::Audit(l), Effect::StateChanged] if l.counter == 2 && l.kind == Some(AuditKind::AuthPairedExternal))
    );

    // A refused request changes nothing and asks for nothing.
    let r = send(
        &mut rig,
        &Request::new(Method::Post, "/api/auth/ext/token").body(b"{}"),
    );
    assert_eq!((r.status, r.effects.len()), (400, 0));

    // A check-in sets the clock.
    let challenge = send(&mut rig, &Request::new(Method::Get, "/api/system/checkin"));
    assert_eq!(challenge.status, 200);
    let check = json_of(&challenge.body)["check"]
        .as_str()
        .unwrap()
        .to_owned();
    let backend = rig.w.backend.clone();
    let answer =
        hem_auth_core::notify::answer_check(&backend, &check, UnixTime::from_secs(T0 + 5)).unwrap();
    let r = send(
        &mut rig,
        &Request::new(Method::Post, "/api/system/checkin")
            .body(&body(&json!({ "checked": answer }))),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r
        .effects
        .contains(&Effect::ClockSet(UnixTime::from_secs(T0 + 5))));
}

#[test]
fn logger_list_pages_and_coalesced_failures() {
    let mut rig = Rig::new();
    let key = keyed(&mut rig);
    let narrow = rig.login("keymgmt:list");
    // Two failed checks of one (sub, scope): one line now, the count when the window ends.
    let first = get_effects(&mut rig, "/api/system/config", Some(&narrow));
    assert_eq!(first.status, 403);
    assert_eq!(lines(&first).len(), 1);
    let second = get_effects(&mut rig, "/api/system/config", Some(&narrow));
    assert_eq!((second.status, second.effects.len()), (403, 0));

    let logger = rig.login("logger:get");
    rig.w.now += 61;
    let r = get_effects(&mut rig, "/api/logger/list", Some(&logger));
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    // The ended window's line first, then the page to read.
    assert_eq!(lines(&r).len(), 1);
    assert_eq!(
        r.effects.last(),
        Some(&Effect::ReadLog {
            from: 0,
            count: LOGGER_MAX_PAGE_LINES
        })
    );
    let r = get_effects(&mut rig, "/api/logger/list/5/2", Some(&logger));
    assert_eq!(r.effects, [Effect::ReadLog { from: 5, count: 2 }]);
    let r = get_effects(&mut rig, "/api/logger/list/5/5000", Some(&logger));
    assert_eq!(
        r.effects,
        [Effect::ReadLog {
            from: 5,
            count: 1000
        }]
    );
    for bad in [
        "/api/logger/list/5/0",
        "/api/logger/list/x",
        "/api/logger/list/1/-2",
    ] {
        assert_eq!(get(&mut rig, bad, Some(&logger)).status, 400, "{bad}");
    }
    // The body the adapter completes.
    let key_line = key.key_line(UnixTime::from_secs(T0));
    assert_eq!(
        logger_list_body(2, &[key_line.as_str(), "1|x"], Some(2)),
        format!(r#"{{"total":2,"lines":["{key_line}","1|x"],"next":2}}"#)
    );
    assert_eq!(
        logger_list_body::<&str>(1, &[], None),
        r#"{"total":1,"lines":[]}"#
    );
}

#[test]
fn a_device_without_a_chain_draws_one_and_emits_its_key_line() {
    let mut rig = Rig::new();
    // The world installs a chain; a device restored from its snapshot has none until its
    // adapter installs one.
    let snapshot = rig.w.device.snapshot();
    rig.w.device = Device::restore(snapshot, &mut rig.w.rng).unwrap();
    let _ = rig.w.device.set_clock(rig.w.time());
    assert!(rig.w.device.audit_chain().is_none());
    let login = rig.login_body_with(&rig.w.user.clone(), "logger:get", |_| {});
    let r = send(
        &mut rig,
        &Request::new(Method::Post, "/api/auth/token").body(&login),
    );
    let l = lines(&r);
    assert_eq!(l.len(), 2);
    assert!(l[0].starts_with("0|") && l[1].starts_with("1|"));
    assert_eq!(rig.w.device.audit_chain().unwrap().next_counter(), 2);
    assert!(rig
        .w
        .device
        .audit_chain()
        .unwrap()
        .key()
        .verify(l[1])
        .is_some());
}

#[test]
fn handle_answers_as_the_typed_method_does() {
    let mut rig = Rig::new();
    let epk = hem_auth_core::keys::SecretKey::generate(&mut rig.w.rng).public_key();
    let body_ok = body(&json!({ "scope": "keymgmt:list", "epk": epk.to_b64() }));
    let r = post(&mut rig, "/api/auth/ext/request", None, &body_ok);
    assert_eq!(r.status, 200);
    assert!(json_of(&r.body)["authreq"].is_string());
    let r = post(&mut rig, "/api/auth/ext/request", None, b"{");
    assert_eq!((r.status, r.body.as_str()), (400, ""));
}

/// The test-only faults act inside `handle` and nowhere else.
#[cfg(feature = "testing")]
#[test]
fn faults_bend_handle_but_not_the_typed_methods() {
    use hem_auth_core::device::testing::Faults;
    let mut rig = Rig::new();
    let narrow = rig.login("keymgmt:list");
    rig.w.device.set_faults(Faults {
        leak_500: true,
        ignore_scope: true,
        ..Faults::default()
    });
    let r = post(&mut rig, "/api/auth/ext/request", None, b"{");
    assert_eq!(r.status, 500);
    assert_eq!(
        get(&mut rig, "/api/system/config", Some(&narrow)).status,
        200
    );
    let typed = rig.w.device.ext_request(b"{", rig.w.time(), &mut rig.w.rng);
    assert_eq!(typed.result.unwrap_err().status(), 400);
    rig.w.device.set_faults(Faults::default());
    assert_eq!(
        get(&mut rig, "/api/system/config", Some(&narrow)).status,
        403
    );
}
