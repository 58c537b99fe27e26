//! The real device, the real notify broker and the real authenticator role together, in
//! memory, on simulated time: the one simulated world (`hem-auth-sim`) driven through
//! [`NotifyBroker::handle`](hem_auth_core::notify::NotifyBroker::handle). The client only
//! forwards bodies: whatever one role answered is what the next one reads, verbatim, except
//! where the official clients add a member (the session `epk` to `register/init` and
//! `subscribers/*`, the `scope` to `ext/request`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hem_auth_core::authenticator::{Event, PERIODS};
use hem_auth_core::client::{self, UnverifiableAccessToken};
use hem_auth_core::codec;
use hem_auth_core::device::{DeviceError, Requirement, Subject};
use hem_auth_core::keys::PublicKey;
use hem_auth_core::messages;
use hem_auth_core::notify::{Method, NotifyEvent};
use hem_auth_core::{Access, UnixTime};
use hem_auth_sim::{event_path as data_path, World};
use rand_core::RngCore;
use serde_json::{json, Value};

fn v(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

/// The world of these tests: seed 4242, the device's clock unset until a check-in.
fn world() -> World {
    World::new(4242)
}

/// The broker's `event/check` for `eventid`, from the client.
fn check(w: &mut World, eventid: &str) -> hem_auth_core::notify::Response {
    w.client_call(Method::Get, &format!("/notify/event/check/{eventid}"), "")
}

#[test]
fn device_broker_and_phone_in_memory() {
    let mut w = world();

    // the device's clock is unset until check-in through the broker's backend
    let (body, _) = client::start_ext_auth("keymgmt:list", None, None, None, &mut w.rng).unwrap();
    assert_eq!(
        w.device_json(Method::Post, "/api/auth/ext/request", None, body.as_bytes())
            .err()
            .and_then(|e| e.device_status()),
        Some(DeviceError::RtcUnset.status())
    );
    let broker_time = w.now;
    assert_eq!(
        w.checkin().unwrap(),
        broker_time,
        "the RTC is set to the broker's time"
    );
    assert!(w.device.rtc_is_set());

    // registration of two phones
    let config = w.login("system:config").unwrap();
    let alice = w.pair_via_broker(&config, "Pixel 8 (Android)").unwrap();
    let bob = w.pair_via_broker(&config, "iPhone (iOS)").unwrap();
    assert_eq!(w.device.pairings().len(), 2);
    assert_eq!(w.broker.subscribers().count(), 2);
    assert_eq!(v(&w.eid_session().unwrap())["paired"], true);

    // remote login approved by alice
    w.now += 10;
    let eventid = w.start_remote_login("keymgmt:list").unwrap();
    let r = check(&mut w, &eventid);
    assert_eq!(r.status, 202);
    w.now += 2;
    let data = w.phone_fetch(&alice, &eventid).unwrap();
    let event = Event::parse(&data).unwrap();
    let opened = alice
        .pairing
        .open_event(&event, UnixTime::from_secs(w.now))
        .unwrap();
    assert_eq!(opened.scope(), "keymgmt:list");
    let approval = opened
        .approve(UnixTime::from_secs(w.now), PERIODS[0], Access::ReadOnly)
        .unwrap();
    let r = w.phone_call(
        Method::Post,
        &data_path(&eventid, &alice),
        &approval.post_body(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // bob is too late
    let r = w.phone_call(Method::Get, &data_path(&eventid, &bob), "");
    assert_eq!((r.status, r.body.as_str()), (410, "{}"));
    w.now += 1;
    let r = check(&mut w, &eventid);
    assert_eq!(r.status, 200);
    let checked = v(&r.body);
    assert_eq!(checked["authreply"], json!(approval.authreply));
    let token_body = json!({"authreply": checked["authreply"]}).to_string();
    let token = w
        .device_json(
            Method::Post,
            "/api/auth/ext/token",
            None,
            token_body.as_bytes(),
        )
        .unwrap();
    let token = UnverifiableAccessToken::from_response(token.as_bytes()).unwrap();
    assert_eq!(token.scope(), "keymgmt:list");
    assert_eq!(token.sub_kid().map(hex::encode), Some(alice.kid.clone()));
    assert_eq!(
        w.authorize(&token, &Requirement::any_of(&["keymgmt:list"]))
            .unwrap(),
        Subject::External {
            kid: token.sub_kid().unwrap()
        }
    );

    // a deny: the client learns it, the device is never asked
    let eventid = w.start_remote_login("keymgmt:gen").unwrap();
    let _ = w.phone_fetch(&bob, &eventid).unwrap();
    let r = w.phone_call(Method::Delete, &data_path(&eventid, &bob), "");
    assert_eq!(r.status, 200);
    let r = check(&mut w, &eventid);
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"deny":true}"#));

    // a cancel: the phone is told, the client's check is gone
    let eventid = w.start_remote_login("keymgmt:list").unwrap();
    let r = w.client_call(Method::Delete, &format!("/notify/event/{eventid}"), "");
    assert_eq!(r.status, 200);
    let r = w.phone_call(Method::Get, &data_path(&eventid, &alice), "");
    assert_eq!(
        (r.status, r.body.as_str()),
        (410, r#"{"reason":"cancelled"}"#)
    );
    assert_eq!(check(&mut w, &eventid).status, 404);

    // subscribers list and delete (bob), each with its own ext/mac (a nonce is accepted once
    // per session, spec §12.6), then the device key goes
    let pair_token = w.login("auth:ext:pair").unwrap();
    let session = w.eid_session().unwrap();
    let ext_mac = |w: &mut World| {
        let mac = w.device_json(
            Method::Post,
            "/api/auth/ext/mac",
            Some(pair_token.token()),
            session.as_bytes(),
        );
        let mut mac = v(&mac.unwrap());
        mac["epk"] = v(&session)["epk"].clone();
        mac
    };
    let mac = ext_mac(&mut w);
    let r = w.client_call(Method::Post, "/notify/subscribers/list", &mac.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    let listed: Vec<(String, String, String)> = v(&r.body)
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["pid"].as_str().unwrap().to_owned(),
                e["kid"].as_str().unwrap().to_owned(),
                e["label"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut expected = vec![
        (
            alice.pid().to_owned(),
            alice.kid.clone(),
            "Pixel 8 (Android)".to_owned(),
        ),
        (
            bob.pid().to_owned(),
            bob.kid.clone(),
            "iPhone (iOS)".to_owned(),
        ),
    ];
    expected.sort();
    assert_eq!(listed, expected);
    w.now += 5;
    let mut replay = mac.clone();
    replay["pid"] = json!(bob.pairing.pid());
    let r = w.client_call(
        Method::Post,
        "/notify/subscribers/delete",
        &replay.to_string(),
    );
    assert_eq!(
        (r.status, r.body.as_str()),
        (401, r#"{"err":"nonce already used"}"#)
    );
    let mut mac = ext_mac(&mut w);
    mac["pid"] = json!(bob.pairing.pid());
    let r = w.client_call(Method::Post, "/notify/subscribers/delete", &mac.to_string());
    assert_eq!(
        (r.status, r.events.as_slice()),
        (200, &[NotifyEvent::SubscribersChanged][..])
    );
    let del = w.login("keymgmt:del").unwrap();
    let out = w
        .device
        .unpair(Some(del.token()), &bob.kid, UnixTime::from_secs(w.now));
    assert_eq!(w.record(out).unwrap().pid, bob.pid());
    // a login now names alice only, and the broker sends it to her only
    let r = w.client_call(Method::Get, "/notify/session", "");
    let mut session = v(&r.body);
    session["scope"] = json!("keymgmt:list");
    let authreq = w
        .device_json(
            Method::Post,
            "/api/auth/ext/request",
            None,
            session.to_string().as_bytes(),
        )
        .unwrap();
    let r = w.client_call(Method::Post, "/notify/event/new", &authreq);
    assert_eq!(v(&r.body)["sentcnt"], 1);

    // phone-initiated unpair (alice)
    let aid = alice.pairing.aid().to_b64();
    let r = w.phone_call(
        Method::Post,
        "/notify/session",
        &json!({ "aid": aid }).to_string(),
    );
    let epk = PublicKey::from_b64(v(&r.body)["epk"].as_str().unwrap()).unwrap();
    let mut nonce = [0u8; 32];
    w.rng.fill_bytes(&mut nonce);
    let mac = codec::encode_std(&alice.pairing.unpair_mac(&epk, &nonce).unwrap());
    let body = json!({"pid": alice.pairing.pid(), "epk": epk.to_b64(),
                      "nonce": codec::encode_std(&nonce), "mac": mac, "aid": aid});
    let r = w.phone_call(
        Method::Post,
        "/notify/subscribers/delete",
        &body.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(w.broker.subscribers().count(), 0);
    assert_eq!(v(&w.eid_session().unwrap())["paired"], false);
}

#[test]
fn device_clock_ahead_of_the_broker() {
    // Spec §9.4: a device whose RTC runs ahead makes authreqs the broker refuses (401 with the
    // PHP library's message); a fresh check-in fixes it.
    let mut w = world();
    w.checkin().unwrap();
    let r = w.client_call(Method::Get, "/notify/session", "");
    let mut session = v(&r.body);
    session["scope"] = json!("keymgmt:list");
    let ahead = w.now + 30;
    // the device's RTC runs 30 s ahead of the world's clock
    let out = w.device.ext_request(
        session.to_string().as_bytes(),
        UnixTime::from_secs(ahead),
        &mut w.rng,
    );
    let authreq = messages::to_json(&w.record(out).unwrap());
    let r = w.client_call(Method::Post, "/notify/event/new", &authreq);
    assert_eq!(r.status, 401);
    assert_eq!(
        v(&r.body)["err"],
        json!(format!(
            "Cannot handle token prior to (iat {ahead}) {}",
            w.now
        ))
    );
    w.checkin().unwrap();
    let authreq = w
        .device_json(
            Method::Post,
            "/api/auth/ext/request",
            None,
            session.to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!(
        w.client_call(Method::Post, "/notify/event/new", &authreq)
            .status,
        200
    );
}
