//! The real device, the real notify broker and the real authenticator role together, in
//! memory, on simulated time. The client only forwards bodies: whatever one role answered is
//! what the next one reads, verbatim, except where the official clients add a member (the
//! session `epk` to `register/init` and `subscribers/*`, the `scope` to `ext/request`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hem_auth_core::authenticator::{
    reply_to_pairing, AuthenticatorPairing, Event, UnverifiedPairingRequest, PERIODS_SECS,
};
use hem_auth_core::client::{self, LoginChallenge, UnverifiableAccessToken};
use hem_auth_core::codec;
use hem_auth_core::device::{Device, DeviceConfig, DeviceError, Outcome, Requirement, Subject};
use hem_auth_core::keys::{PublicKey, SecretKey};
use hem_auth_core::messages;
use hem_auth_core::notify::{Method, NotifyBroker, NotifyConfig, NotifyEvent, Request, Response};
use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;
use serde_json::{json, Value};

#[path = "support/mod.rs"]
mod support;

const START: u64 = 1_784_767_764;
const BASE: &str = "http://hem.local:8080";

struct World {
    device: Device,
    broker: NotifyBroker,
    user: SecretKey,
    rng: ChaCha20Rng,
    now: u64,
}

/// A paired phone: what the authenticator keeps.
struct Phone {
    pairing: AuthenticatorPairing,
    kid: String,
}

fn v(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

impl World {
    fn new() -> Self {
        let mut rng = support::rng(4242);
        let backend = SecretKey::generate(&mut rng);
        let broker = NotifyBroker::new(NotifyConfig::with_backend(backend));
        let user = SecretKey::generate(&mut rng);
        let mut config = DeviceConfig::new(SecretKey::generate(&mut rng));
        config.user_key = Some(user.public_key());
        config.backend_key = broker.backend_public();
        let device = Device::new(config, &mut rng);
        World {
            device,
            broker,
            user,
            rng,
            now: START,
        }
    }

    fn dev<T: serde::Serialize>(&mut self, out: Outcome<T>) -> Result<String, DeviceError> {
        let (result, _audit) = out.into_parts();
        result.map(|body| messages::to_json(&body))
    }

    fn notify(&mut self, method: Method, path: &str, body: &str, peer: &str) -> Response {
        let req = Request {
            method,
            path,
            body: body.as_bytes(),
            peer,
            base_url: BASE,
        };
        self.broker.handle(&req, self.now, &mut self.rng)
    }

    fn client(&mut self, method: Method, path: &str, body: &str) -> Response {
        self.notify(method, path, body, "192.0.2.1")
    }

    fn phone(&mut self, method: Method, path: &str, body: &str) -> Response {
        self.notify(method, path, body, "198.51.100.7")
    }

    /// GET check → POST /checkin (the broker's backend) → POST check: the device's clock is
    /// set to the broker's time.
    fn checkin(&mut self) {
        let out = self.device.checkin_challenge(self.now, &mut self.rng);
        let check = self.dev(out).unwrap();
        let r = self.client(Method::Post, "/checkin", &check);
        assert_eq!(r.status, 200, "{}", r.body);
        let (result, _) = self
            .device
            .checkin(r.body.as_bytes(), self.now)
            .into_parts();
        assert_eq!(result.unwrap().time, self.now);
        assert!(self.device.rtc_is_set());
    }

    /// Password-less login with the user key, as harness.rs does.
    fn login(&mut self, scope: &str) -> UnverifiableAccessToken {
        let out = self.device.auth_token_challenge(self.now, &mut self.rng);
        let challenge = self.dev(out).unwrap();
        let challenge = LoginChallenge::parse(challenge.as_bytes()).unwrap();
        let ejwt = client::build_login(
            &self.user,
            &challenge,
            scope,
            self.now,
            self.now + 3600,
            None,
        )
        .unwrap();
        let out = self.device.auth_token(
            client::login_body(&ejwt).as_bytes(),
            self.now,
            &mut self.rng,
        );
        let token = self.dev(out).unwrap();
        UnverifiableAccessToken::from_response(token.as_bytes()).unwrap()
    }

    /// `POST /notify/session {eid}`: the body, verbatim.
    fn eid_session(&mut self) -> String {
        let eid = self.device.eid().to_b64();
        let r = self.client(
            Method::Post,
            "/notify/session",
            &json!({ "eid": eid }).to_string(),
        );
        assert_eq!(r.status, 200);
        r.body
    }

    /// Registration: session {eid} → ext/init → register/init → phone GET/POST link →
    /// register/check → ext/validate (check body verbatim) → finalise (validate body verbatim).
    fn pair(&mut self, token: &UnverifiableAccessToken, label: &str) -> Phone {
        let session = self.eid_session();
        let out = self.device.ext_init(
            Some(token.token()),
            session.as_bytes(),
            self.now,
            &mut self.rng,
        );
        let init = v(&self.dev(out).unwrap());
        let body =
            json!({"epk": v(&session)["epk"], "eid": init["eid"], "request": init["request"]});
        let r = self.client(Method::Post, "/notify/register/init", &body.to_string());
        assert_eq!(r.status, 200, "{}", r.body);
        let rid = v(&r.body)["rid"].as_str().unwrap().to_owned();
        let [NotifyEvent::LinkRegistered { link, .. }] = r.events.as_slice() else {
            panic!("one LinkRegistered event: {:?}", r.events)
        };
        let link_path = link.strip_prefix(BASE).unwrap().to_owned();

        // the phone scans the QR code
        self.now += 3;
        let r = self.phone(Method::Get, &link_path, "");
        assert_eq!(r.status, 200);
        let request = v(&r.body)["request"].as_str().unwrap().to_owned();
        let seen = UnverifiedPairingRequest::parse(&request).unwrap();
        assert_eq!(seen.eid(), self.device.eid());
        let aid = SecretKey::generate(&mut self.rng);
        let reply = reply_to_pairing(&aid, &seen, label, "fcm-token").unwrap();
        let r = self.phone(Method::Post, &link_path, &reply.post_body("fcm-token"));
        assert_eq!(r.status, 200, "{}", r.body);
        let pid = v(&r.body)["pid"].as_str().unwrap().to_owned();

        // the client polls, then forwards
        self.now += 4;
        let check = self.client(Method::Get, &format!("/notify/register/check/{rid}"), "");
        assert_eq!(check.status, 200);
        let out = self
            .device
            .ext_validate(Some(token.token()), check.body.as_bytes(), self.now);
        let validated = self.dev(out).unwrap();
        let r = self.client(
            Method::Post,
            &format!("/notify/register/finalise/{rid}"),
            &validated,
        );
        assert_eq!(
            (r.status, r.events.as_slice()),
            (200, &[NotifyEvent::SubscribersChanged][..])
        );
        Phone {
            pairing: AuthenticatorPairing::new(&pid, *seen.eid(), aid).unwrap(),
            kid: v(&validated)["kid"].as_str().unwrap().to_owned(),
        }
    }

    /// GET session → ext/request (whole session object plus scope) → event/new (the answer
    /// verbatim): the event id.
    fn start_remote_login(&mut self, scope: &str) -> String {
        let r = self.client(Method::Get, "/notify/session", "");
        let mut session = v(&r.body);
        session["scope"] = json!(scope);
        let out = self
            .device
            .ext_request(session.to_string().as_bytes(), self.now, &mut self.rng);
        let authreq = self.dev(out).unwrap();
        let r = self.client(Method::Post, "/notify/event/new", &authreq);
        assert_eq!(r.status, 200, "{}", r.body);
        v(&r.body)["eventid"].as_str().unwrap().to_owned()
    }

    /// The phone finds its events (allbypid) and fetches this one.
    fn phone_fetch(&mut self, phone: &Phone, eventid: &str) -> String {
        let asked = json!({"pid": [phone.pairing.pid()]}).to_string();
        let r = self.phone(Method::Post, "/notify/event/data/allbypid", &asked);
        assert_eq!(
            v(&r.body)["eventid"][eventid],
            json!([phone.pairing.pid()]),
            "{}",
            r.body
        );
        let r = self.phone(Method::Get, &data_path(eventid, phone), "");
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    fn check(&mut self, eventid: &str) -> Response {
        self.client(Method::Get, &format!("/notify/event/check/{eventid}"), "")
    }
}

fn data_path(eventid: &str, phone: &Phone) -> String {
    format!("/notify/event/data/{eventid}/{}", phone.pairing.pidx())
}

#[test]
fn device_broker_and_phone_in_memory() {
    let mut w = World::new();

    // the device's clock is unset until check-in through the broker's backend
    let (body, _) = client::start_ext_auth("keymgmt:list", None, None, None, &mut w.rng).unwrap();
    let out = w.device.ext_request(body.as_bytes(), w.now, &mut w.rng);
    assert_eq!(w.dev(out).err(), Some(DeviceError::RtcUnset));
    w.checkin();

    // registration of two phones
    let config = w.login("system:config");
    let alice = w.pair(&config, "Pixel 8 (Android)");
    let bob = w.pair(&config, "iPhone (iOS)");
    assert_eq!(w.device.pairings().len(), 2);
    assert_eq!(w.broker.subscribers().count(), 2);
    assert_eq!(v(&w.eid_session())["paired"], true);

    // remote login approved by alice
    w.now += 10;
    let eventid = w.start_remote_login("keymgmt:list");
    let r = w.check(&eventid);
    assert_eq!(r.status, 202);
    w.now += 2;
    let data = w.phone_fetch(&alice, &eventid);
    let event = Event::parse(&data).unwrap();
    let opened = alice.pairing.open_event(&event, w.now).unwrap();
    assert_eq!(opened.scope(), "keymgmt:list");
    let approval = opened.approve(w.now, PERIODS_SECS[0], false).unwrap();
    let r = w.phone(
        Method::Post,
        &data_path(&eventid, &alice),
        &approval.post_body(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // bob is too late
    let r = w.phone(Method::Get, &data_path(&eventid, &bob), "");
    assert_eq!((r.status, r.body.as_str()), (410, "{}"));
    w.now += 1;
    let r = w.check(&eventid);
    assert_eq!(r.status, 200);
    let checked = v(&r.body);
    assert_eq!(checked["authreply"], json!(approval.authreply));
    let token_body = json!({"authreply": checked["authreply"]}).to_string();
    let out = w.device.ext_token(token_body.as_bytes(), w.now, &mut w.rng);
    let token = UnverifiableAccessToken::from_response(w.dev(out).unwrap().as_bytes()).unwrap();
    assert_eq!(token.scope(), "keymgmt:list");
    assert_eq!(token.sub_kid().map(hex::encode), Some(alice.kid.clone()));
    let (authorized, _) = w
        .device
        .authorize(
            Some(token.token()),
            &Requirement::any_of(&["keymgmt:list"]),
            w.now,
        )
        .into_parts();
    assert_eq!(
        authorized.unwrap().subject,
        Subject::External {
            kid: token.sub_kid().unwrap()
        }
    );

    // a deny: the client learns it, the device is never asked
    let eventid = w.start_remote_login("keymgmt:gen");
    let _ = w.phone_fetch(&bob, &eventid);
    let r = w.phone(Method::Delete, &data_path(&eventid, &bob), "");
    assert_eq!(r.status, 200);
    let r = w.check(&eventid);
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"deny":true}"#));

    // a cancel: the phone is told, the client's check is gone
    let eventid = w.start_remote_login("keymgmt:list");
    let r = w.client(Method::Delete, &format!("/notify/event/{eventid}"), "");
    assert_eq!(r.status, 200);
    let r = w.phone(Method::Get, &data_path(&eventid, &alice), "");
    assert_eq!(
        (r.status, r.body.as_str()),
        (410, r#"{"reason":"cancelled"}"#)
    );
    assert_eq!(w.check(&eventid).status, 404);

    // subscribers list and delete (bob), each with its own ext/mac (a nonce is accepted once
    // per session, spec §12.6), then the device key goes
    let pair_token = w.login("auth:ext:pair");
    let session = w.eid_session();
    let ext_mac = |w: &mut World| {
        let out = w.device.ext_mac(
            Some(pair_token.token()),
            session.as_bytes(),
            w.now,
            &mut w.rng,
        );
        let mut mac = v(&w.dev(out).unwrap());
        mac["epk"] = v(&session)["epk"].clone();
        mac
    };
    let mac = ext_mac(&mut w);
    let r = w.client(Method::Post, "/notify/subscribers/list", &mac.to_string());
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
            alice.pairing.pid().to_owned(),
            alice.kid.clone(),
            "Pixel 8 (Android)".to_owned(),
        ),
        (
            bob.pairing.pid().to_owned(),
            bob.kid.clone(),
            "iPhone (iOS)".to_owned(),
        ),
    ];
    expected.sort();
    assert_eq!(listed, expected);
    w.now += 5;
    let mut replay = mac.clone();
    replay["pid"] = json!(bob.pairing.pid());
    let r = w.client(
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
    let r = w.client(Method::Post, "/notify/subscribers/delete", &mac.to_string());
    assert_eq!(
        (r.status, r.events.as_slice()),
        (200, &[NotifyEvent::SubscribersChanged][..])
    );
    let del = w.login("keymgmt:del");
    let (gone, _) = w
        .device
        .unpair(Some(del.token()), &bob.kid, w.now)
        .into_parts();
    assert_eq!(gone.unwrap().pid, bob.pairing.pid());
    // a login now names alice only, and the broker sends it to her only
    let r = w.client(Method::Get, "/notify/session", "");
    let mut session = v(&r.body);
    session["scope"] = json!("keymgmt:list");
    let out = w
        .device
        .ext_request(session.to_string().as_bytes(), w.now, &mut w.rng);
    let authreq = w.dev(out).unwrap();
    let r = w.client(Method::Post, "/notify/event/new", &authreq);
    assert_eq!(v(&r.body)["sentcnt"], 1);

    // phone-initiated unpair (alice)
    let aid = alice.pairing.aid().to_b64();
    let r = w.phone(
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
    let r = w.phone(
        Method::Post,
        "/notify/subscribers/delete",
        &body.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(w.broker.subscribers().count(), 0);
    assert_eq!(v(&w.eid_session())["paired"], false);
}

#[test]
fn device_clock_ahead_of_the_broker() {
    // Spec §9.4: a device whose RTC runs ahead makes authreqs the broker refuses (401 with the
    // PHP library's message); a fresh check-in fixes it.
    let mut w = World::new();
    w.checkin();
    let r = w.client(Method::Get, "/notify/session", "");
    let mut session = v(&r.body);
    session["scope"] = json!("keymgmt:list");
    let ahead = w.now + 30;
    let out = w
        .device
        .ext_request(session.to_string().as_bytes(), ahead, &mut w.rng);
    let authreq = w.dev(out).unwrap();
    let r = w.client(Method::Post, "/notify/event/new", &authreq);
    assert_eq!(r.status, 401);
    assert_eq!(
        v(&r.body)["err"],
        json!(format!(
            "Cannot handle token prior to (iat {ahead}) {}",
            w.now
        ))
    );
    w.checkin();
    let out = w
        .device
        .ext_request(session.to_string().as_bytes(), w.now, &mut w.rng);
    let authreq = w.dev(out).unwrap();
    assert_eq!(
        w.client(Method::Post, "/notify/event/new", &authreq).status,
        200
    );
}
