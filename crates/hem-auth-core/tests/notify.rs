//! The notify broker (`hem_auth_core::notify`) against spec §12 (`docs/spec`): every success
//! path, every listed error with its exact variant and status, and that an error changes
//! nothing. The device side is made of primitives here (so that times and signatures can be
//! bent); the phone is the real authenticator role. `notify_harness.rs` runs the real device.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hem_auth_core::{Access, UnixTime};
use std::borrow::Cow;

use hem_auth_core::authenticator::{reply_to_pairing, Event, UnverifiedPairingRequest, PERIODS};
use hem_auth_core::claims::{AuthreqClaims, CheckClaims, PairingRequestClaims, ScopeMap};
use hem_auth_core::client::ExtAuthState;
use hem_auth_core::codec;
use hem_auth_core::jwt::{self, Header, UntrustedJwt};
use hem_auth_core::keys::{PublicKey, SecretKey};
use hem_auth_core::messages;
use hem_auth_core::nonce::TimeNonce;
use hem_auth_core::notify::{
    answer_check, is_notify_path, Method, NotifyBroker, NotifyConfig, NotifyError, NotifyEvent,
    NotifySnapshot, Response, MAX_BODY_BYTES, MAX_USED_NONCES, NONCE_WINDOW_SECS,
    SESSION_LIFETIME_SECS,
};
use hem_auth_core::seal::ScopeKey;
use hem_auth_sim::{Phone, World, CLIENT_PEER, NOTIFY_BASE, PHONE_PEER, START};
use serde_json::{json, Value};

#[path = "support/mod.rs"]
mod support;

/// The seed of every test's world.
const SEED: u64 = 77;

/// The simulated world: its notify broker (`w.broker`), clock (`w.now`) and RNG (`w.rng`);
/// the device side is made of primitives with the world's identity key (`w.identity`).
struct Env {
    w: World,
}

/// An event the tests opened: its id, jti and session key.
struct Ev {
    id: String,
    jti: String,
    epk: PublicKey,
}

fn json_of(r: &Response) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("body is JSON: {}", r.body))
}

impl Env {
    /// The world's broker, as the world configures it (with the world's check-in backend).
    fn new() -> Self {
        Env {
            w: World::new(SEED),
        }
    }

    /// The world with a broker configured by `config` instead.
    fn with(config: NotifyConfig) -> Self {
        let mut w = World::new(SEED);
        w.broker = NotifyBroker::new(config);
        Env { w }
    }

    fn eid(&self) -> PublicKey {
        self.w.identity.public_key()
    }

    fn call_from(&mut self, method: Method, path: &str, body: &[u8], peer: &str) -> Response {
        self.w.notify_call_bytes(method, path, body, peer)
    }

    fn call(&mut self, method: Method, path: &str, body: &Value) -> Response {
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        self.call_from(method, path, &body, CLIENT_PEER)
    }

    fn get(&mut self, path: &str) -> Response {
        self.call(Method::Get, path, &Value::Null)
    }

    fn post(&mut self, path: &str, body: Value) -> Response {
        self.call(Method::Post, path, &body)
    }

    /// Asserts an error response: the variant's status and body.
    fn refused(&mut self, r: Response, e: NotifyError) {
        assert_eq!(
            (r.status, r.body.as_str()),
            (e.status(), e.body().as_str()),
            "expected {e:?}"
        );
        assert!(r.events.is_empty());
    }

    fn anon_session(&mut self) -> PublicKey {
        let r = self.get("/notify/session");
        assert_eq!(r.status, 200);
        PublicKey::from_b64(json_of(&r)["epk"].as_str().unwrap()).unwrap()
    }

    fn eid_session(&mut self) -> PublicKey {
        let eid = self.eid().to_b64();
        let r = self.post("/notify/session", json!({ "eid": eid }));
        assert_eq!(r.status, 200);
        PublicKey::from_b64(json_of(&r)["epk"].as_str().unwrap()).unwrap()
    }

    /// A device pairing request for `epk` (as `ext/init` makes it).
    fn pairing_request(&mut self, epk: &PublicKey, exp: u64) -> String {
        let key = self.w.identity.diffie_hellman(epk).unwrap();
        let claims = PairingRequestClaims {
            jti: TimeNonce::generate(self.w.time(), &mut self.w.rng)
                .to_b64()
                .into(),
            exp: Some(exp),
            eat: None,
            aud: epk.to_b64().into(),
            iss: self.eid().to_b64().into(),
        };
        jwt::sign(Header::Device, &claims, key.as_bytes())
    }

    /// `register/init` with a valid request: returns (rid, link, request).
    fn init(&mut self) -> (String, String, String) {
        let epk = self.eid_session();
        let request = self.pairing_request(&epk, self.w.now + 86_400);
        let body = json!({"epk": epk.to_b64(), "eid": self.eid().to_b64(), "request": request});
        let r = self.post("/notify/register/init", body);
        assert_eq!(r.status, 200, "{}", r.body);
        let v = json_of(&r);
        let (rid, link) = (
            v["rid"].as_str().unwrap().to_owned(),
            v["link"].as_str().unwrap().to_owned(),
        );
        assert_eq!(
            r.events,
            [NotifyEvent::LinkRegistered {
                rid: rid.clone(),
                link: link.clone()
            }]
        );
        (rid, link, request)
    }

    fn link_path(link: &str) -> &str {
        link.strip_prefix(NOTIFY_BASE).unwrap()
    }

    /// The device's `ext/validate` code for a reply: HMAC(X25519(eid_prv, reply.epk), reply).
    fn code(&self, reply: &str, epk: &PublicKey) -> String {
        let key = self.w.identity.diffie_hellman(epk).unwrap();
        codec::encode_std(&hem_auth_core::mac::mac(key.as_bytes(), reply.as_bytes()))
    }

    /// A whole registration: init, phone accepts, check, finalise.
    fn register(&mut self, label: &str) -> Phone {
        let (rid, link, request) = self.init();
        let seen = UnverifiedPairingRequest::parse(&request).unwrap();
        let aid = SecretKey::generate(&mut self.w.rng);
        let reply = reply_to_pairing(&aid, &seen, label, "fcm").unwrap();
        let r = self.call_from(
            Method::Post,
            Self::link_path(&link),
            reply.post_body("fcm").as_bytes(),
            PHONE_PEER,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let pid = json_of(&r)["pid"].as_str().unwrap().to_owned();
        let r = self.get(&format!("/notify/register/check/{rid}"));
        assert_eq!(json_of(&r), json!({"pid": pid, "reply": reply.reply}));
        let code = self.code(&reply.reply, seen.epk());
        let r = self.post(
            &format!("/notify/register/finalise/{rid}"),
            json!({"kid": "00112233445566778899aabbccddeeff", "code": code}),
        );
        assert_eq!((r.status, r.body.as_str()), (200, "{}"));
        assert_eq!(r.events, [NotifyEvent::SubscribersChanged]);
        Phone::new(&pid, self.eid(), aid, label).unwrap()
    }

    /// An authreq for `epk` naming `phones` (scope sealed for each), as `ext/request` makes it.
    fn authreq(
        &mut self,
        epk: &PublicKey,
        phones: &[&Phone],
        iat: u64,
        exp: u64,
    ) -> (String, String) {
        self.w
            .authreq_from_identity(
                epk,
                phones,
                "keymgmt:list",
                UnixTime::from_secs(iat),
                UnixTime::from_secs(exp),
            )
            .expect("an authreq")
    }

    /// A fresh anonymous session and an event naming `phones`.
    fn event(&mut self, phones: &[&Phone]) -> Ev {
        let epk = self.anon_session();
        let (authreq, jti) = self.authreq(&epk, phones, self.w.now, self.w.now + 3600);
        let r = self.post(
            "/notify/event/new",
            json!({"authreq": authreq, "epk": epk.to_b64()}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let v = json_of(&r);
        Ev {
            id: v["eventid"].as_str().unwrap().to_owned(),
            jti,
            epk,
        }
    }

    /// The phone fetches and approves: returns the POST body.
    fn approval(&mut self, phone: &Phone, ev: &Ev) -> String {
        let r = self.call_from(
            Method::Get,
            &format!("/notify/event/data/{}/{}", ev.id, phone.pairing.pidx()),
            b"",
            PHONE_PEER,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let event = Event::parse(&r.body).unwrap();
        let opened = phone.pairing.open_event(&event, self.w.time()).unwrap();
        opened
            .approve(self.w.time(), PERIODS[0], Access::ReadOnly)
            .unwrap()
            .post_body()
    }

    /// The device's `ext/mac` answer for `epk` at time `t`.
    fn ext_mac(&mut self, epk: &PublicKey, t: u64) -> Value {
        let nonce = TimeNonce::generate(UnixTime::from_secs(t), &mut self.w.rng);
        let key = self.w.identity.diffie_hellman(epk).unwrap();
        let mac = codec::encode_std(&hem_auth_core::mac::mac(key.as_bytes(), nonce.as_bytes()));
        json!({"nonce": nonce.to_b64(), "mac": mac, "eid": self.eid().to_b64()})
    }

    fn snapshot_json(&self) -> String {
        serde_json::to_string(&self.w.broker.snapshot()).unwrap()
    }
}

fn data_path(ev: &Ev, phone: &Phone) -> String {
    format!("/notify/event/data/{}/{}", ev.id, phone.pairing.pidx())
}

#[test]
fn paths_methods_and_sizes() {
    assert!(is_notify_path("/checkin"));
    assert!(is_notify_path("/notify"));
    assert!(is_notify_path("/notify/session"));
    assert!(!is_notify_path("/notifyx"));
    assert!(!is_notify_path("/api/auth/token"));
    assert!(!is_notify_path("/checkin/x"));

    let mut env = Env::new();
    for path in [
        "/notify",
        "/notify/",
        "/notify/nope",
        "/notify/session/x",
        "/notify/event/check",
        "/notify/event/check/",
        "/notify/event/data",
        "/notify/event/data/a/b/c",
        "/notify/register/challenge",
        "/api/auth/token",
    ] {
        let r = env.get(path);
        env.refused(r, NotifyError::NoSuchPath);
    }
    for (m, path) in [
        (Method::Delete, "/notify/session"),
        (Method::Other, "/notify/session"),
        (Method::Get, "/notify/event/new"),
        (Method::Delete, "/notify/event/new"),
        (Method::Post, "/notify/event/check/abc"),
        (Method::Get, "/notify/event/abc"),
        (Method::Get, "/notify/event/data/allbypid"),
        (Method::Get, "/notify/register/init"),
        (Method::Post, "/notify/register/check/abc"),
        (Method::Get, "/notify/register/finalise/abc"),
        (Method::Other, "/notify/register/challenge/abc"),
        (Method::Get, "/notify/subscribers/list"),
        (Method::Delete, "/notify/subscribers/delete"),
        (Method::Get, "/checkin"),
    ] {
        let r = env.call(m, path, &Value::Null);
        env.refused(r, NotifyError::MethodNotAllowed);
    }
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    let r = env.call_from(Method::Post, "/notify/session", &big, CLIENT_PEER);
    env.refused(r, NotifyError::TooLarge);
    assert_eq!(NotifyError::TooLarge.status(), 413);
    // exactly the limit is read (and is then not JSON)
    let r = env.call_from(Method::Post, "/notify/session", &big[1..], CLIENT_PEER);
    env.refused(r, NotifyError::BadBody);
}

#[test]
fn sessions() {
    let mut env = Env::new();
    let r = env.get("/notify/session");
    let v = json_of(&r);
    assert_eq!(r.status, 200);
    assert_eq!(v["exp"], START + SESSION_LIFETIME_SECS);
    assert!(v.get("paired").is_none());
    assert_eq!(
        codec::decode_fixed::<32>(v["epk"].as_str().unwrap()).map(|_| ()),
        Ok(())
    );
    assert_ne!(
        env.anon_session(),
        env.anon_session(),
        "anonymous: new each time"
    );

    // eid-bound: cached while unexpired, with `paired`
    let eid = env.eid().to_b64();
    let r = env.post("/notify/session", json!({ "eid": eid, "extra": 1 }));
    let first = json_of(&r);
    assert_eq!(first["paired"], false);
    env.w.now += 100;
    let again = json_of(&env.post("/notify/session", json!({ "eid": eid })));
    assert_eq!(first, again, "same epk and exp while unexpired");
    env.w.now = START + SESSION_LIFETIME_SECS;
    let renewed = json_of(&env.post("/notify/session", json!({ "eid": eid })));
    assert_ne!(renewed["epk"], first["epk"]);
    assert_eq!(renewed["exp"], env.w.now + SESSION_LIFETIME_SECS);

    // aid-bound
    let aid = SecretKey::generate(&mut env.w.rng).public_key().to_b64();
    let r = env.post("/notify/session", json!({ "aid": aid }));
    assert_eq!(r.status, 200);
    assert!(json_of(&r).get("paired").is_none());

    // 400: neither member, a value that is not 32 bytes, not an object, a wrong type
    for body in [
        json!({}),
        json!({"eid": "AAAA"}),
        json!({"aid": "not base64!"}),
        json!({"eid": 5}),
        json!([1]),
    ] {
        let r = env.post("/notify/session", body);
        env.refused(r, NotifyError::BadBody);
    }
    let r = env.call_from(Method::Post, "/notify/session", b"{\"eid\":", CLIENT_PEER);
    env.refused(r, NotifyError::BadBody);
    let r = env.call_from(Method::Post, "/notify/session", b"", CLIENT_PEER);
    env.refused(r, NotifyError::BadBody);

    // paired after a registration
    let _phone = env.register("Pixel");
    let v = json_of(&env.post("/notify/session", json!({ "eid": eid })));
    assert_eq!(v["paired"], true);
}

#[test]
fn registration_errors_change_nothing() {
    let mut env = Env::new();
    let eid = env.eid().to_b64();

    // register/init: 400, then 401 for the session, then 401 for the request
    let anon = env.anon_session();
    let bound = env.eid_session();
    let good = env.pairing_request(&bound, env.w.now + 86_400);
    let r = env.post(
        "/notify/register/init",
        json!({"epk": bound.to_b64(), "eid": eid}),
    );
    env.refused(r, NotifyError::BadBody);
    let anon_req = env.pairing_request(&anon, env.w.now + 86_400);
    let r = env.post(
        "/notify/register/init",
        json!({"epk": anon.to_b64(), "eid": eid, "request": anon_req}),
    );
    env.refused(r, NotifyError::WrongSession);
    let other = SecretKey::generate(&mut env.w.rng).public_key().to_b64();
    let r = env.post(
        "/notify/register/init",
        json!({"epk": bound.to_b64(), "eid": other, "request": good}),
    );
    env.refused(r, NotifyError::WrongSession);
    let forged = {
        let mut t = good.clone();
        t.pop();
        t.push(if good.ends_with('A') { 'B' } else { 'A' });
        t
    };
    let expired = env.pairing_request(&bound, env.w.now);
    let wrong_aud = env.pairing_request(&anon, env.w.now + 60);
    for request in [
        forged.as_str(),
        expired.as_str(),
        wrong_aud.as_str(),
        "junk",
    ] {
        let r = env.post(
            "/notify/register/init",
            json!({"epk": bound.to_b64(), "eid": eid, "request": request}),
        );
        env.refused(r, NotifyError::BadToken);
    }

    // a registration; the phone's errors
    let (rid, link, request) = env.init();
    assert_eq!(
        link,
        format!("{NOTIFY_BASE}/notify/register/challenge/{rid}")
    );
    assert_eq!(rid.len(), 32);
    assert!(rid
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    let path = Env::link_path(&link).to_owned();
    let r = env.get(&path);
    assert_eq!(
        json_of(&r),
        json!({"request": request, "ipinfo_eid": {"ip": CLIENT_PEER, "city": "", "country": ""}})
    );
    let check = format!("/notify/register/check/{rid}");
    let r = env.get(&check);
    assert_eq!((r.status, r.body.as_str()), (202, "{}"));
    let finalise = format!("/notify/register/finalise/{rid}");
    let r = env.post(&finalise, json!({"kid": "k", "code": "AAAA"}));
    env.refused(r, NotifyError::NotAccepted);

    let seen = UnverifiedPairingRequest::parse(&request).unwrap();
    let aid = SecretKey::generate(&mut env.w.rng);
    let reply = reply_to_pairing(&aid, &seen, "Pixel", "fcm").unwrap();
    let mut body: Value = serde_json::from_str(&reply.post_body("fcm")).unwrap();
    // 401: the mac covers reply ‖ fid
    body["fid"] = json!("other-fcm");
    let r = env.call(Method::Post, &path, &body);
    env.refused(r, NotifyError::BadMac);
    let r = env.call(Method::Delete, &path, &body);
    env.refused(r, NotifyError::BadMac);
    body["fid"] = json!("fcm");
    body["aid"] = json!("AAAA");
    let r = env.call(Method::Post, &path, &body);
    env.refused(r, NotifyError::BadMac);
    // 400: a reply for another request, correctly MACed by a phone
    let other_request = env.pairing_request(&seen.epk().clone(), env.w.now + 60);
    let other_seen = UnverifiedPairingRequest::parse(&other_request).unwrap();
    let stray = reply_to_pairing(&aid, &other_seen, "Pixel", "fcm").unwrap();
    let r = env.call_from(
        Method::Post,
        &path,
        stray.post_body("fcm").as_bytes(),
        PHONE_PEER,
    );
    env.refused(r, NotifyError::Mismatch);
    // 400: not a body
    let r = env.call(Method::Post, &path, &json!({"reply": reply.reply}));
    env.refused(r, NotifyError::BadBody);
    // nothing changed
    let r = env.get(&check);
    assert_eq!(r.status, 202);

    // accept
    let r = env.call_from(
        Method::Post,
        &path,
        reply.post_body("fcm").as_bytes(),
        PHONE_PEER,
    );
    assert_eq!(r.status, 200);
    let pid = json_of(&r)["pid"].as_str().unwrap().to_owned();
    assert_eq!(codec::decode_fixed::<32>(&pid).map(|_| ()), Ok(()));
    // answered: the link answers 410 {} (GET, POST and DELETE)
    let r = env.get(&path);
    env.refused(r, NotifyError::AlreadyAnswered);
    assert_eq!(
        (
            NotifyError::AlreadyAnswered.status(),
            NotifyError::AlreadyAnswered.body()
        ),
        (410, "{}".into())
    );
    let r = env.call_from(
        Method::Post,
        &path,
        reply.post_body("fcm").as_bytes(),
        PHONE_PEER,
    );
    env.refused(r, NotifyError::AlreadyAnswered);
    let r = env.call_from(
        Method::Delete,
        &path,
        reply.post_body("fcm").as_bytes(),
        PHONE_PEER,
    );
    env.refused(r, NotifyError::AlreadyAnswered);
    let r = env.get(&check);
    assert_eq!(json_of(&r), json!({"pid": pid, "reply": reply.reply}));

    // finalise: 400, 401 (no subscriber made), then 200, then 409
    let before = env.snapshot_json();
    let r = env.post(&finalise, json!({"code": "x"}));
    env.refused(r, NotifyError::BadBody);
    let wrong = env.code(&stray.reply, seen.epk());
    let r = env.post(&finalise, json!({"kid": "k", "code": wrong}));
    env.refused(r, NotifyError::BadMac);
    let r = env.post(&finalise, json!({"kid": "k", "code": "!!"}));
    env.refused(r, NotifyError::BadMac);
    assert_eq!(env.snapshot_json(), before);
    assert_eq!(env.w.broker.subscribers().count(), 0);
    let code = env.code(&reply.reply, seen.epk());
    let r = env.post(
        &finalise,
        json!({"kid": "42afc419dbda72636b37a2455955e095", "code": code}),
    );
    assert_eq!((r.status, r.body.as_str()), (200, "{}"));
    assert_eq!(r.events, [NotifyEvent::SubscribersChanged]);
    let subs: Vec<_> = env.w.broker.subscribers().collect();
    assert_eq!(subs.len(), 1);
    let s = subs[0];
    assert_eq!(
        (
            s.pid.as_str(),
            s.eid,
            s.aid,
            s.fid.as_str(),
            s.kid.as_str(),
            s.label.as_str(),
            s.created
        ),
        (
            pid.as_str(),
            env.eid(),
            aid.public_key(),
            "fcm",
            "42afc419dbda72636b37a2455955e095",
            "Pixel",
            env.w.now
        )
    );
    let r = env.post(&finalise, json!({"kid": "k", "code": code}));
    env.refused(r, NotifyError::NotAccepted);
    // check still answers the pid after finalise
    assert_eq!(env.get(&check).status, 200);

    // refusal
    let (rid2, link2, request2) = env.init();
    let seen2 = UnverifiedPairingRequest::parse(&request2).unwrap();
    let reply2 = reply_to_pairing(&aid, &seen2, "Pixel", "fcm").unwrap();
    let path2 = Env::link_path(&link2).to_owned();
    let r = env.call_from(
        Method::Delete,
        &path2,
        reply2.post_body("fcm").as_bytes(),
        PHONE_PEER,
    );
    assert_eq!((r.status, r.body.as_str()), (200, "{}"));
    let r = env.get(&format!("/notify/register/check/{rid2}"));
    env.refused(r, NotifyError::Refused);
    assert_eq!(
        (NotifyError::Refused.status(), NotifyError::Refused.body()),
        (410, "{}".into())
    );
    let r = env.post(
        &format!("/notify/register/finalise/{rid2}"),
        json!({"kid": "k", "code": code}),
    );
    env.refused(r, NotifyError::NotAccepted);

    // unknown and expired
    for p in [
        "/notify/register/check/0123",
        "/notify/register/challenge/0123",
    ] {
        let r = env.get(p);
        env.refused(r, NotifyError::UnknownRegistration);
    }
    let r = env.post(
        "/notify/register/finalise/0123",
        json!({"kid": "k", "code": code}),
    );
    env.refused(r, NotifyError::UnknownRegistration);
    let (rid3, link3, _) = env.init();
    env.w.now += hem_auth_core::notify::REGISTRATION_MAX_SECS;
    assert_eq!(
        env.get(&format!("/notify/register/check/{rid3}")).status,
        202
    );
    env.w.now += 1;
    let r = env.get(&format!("/notify/register/check/{rid3}"));
    env.refused(r, NotifyError::UnknownRegistration);
    let r = env.get(Env::link_path(&link3));
    env.refused(r, NotifyError::UnknownRegistration);
}

#[test]
fn events_approve_and_errors() {
    let mut env = Env::new();
    let alice = env.register("alice");
    let bob = env.register("bob");
    // event/new: 400, 404 (unknown, eid-bound), 401 (signature, aud, exp), 401 iat, 409
    let epk = env.anon_session();
    let (authreq, _) = env.authreq(&epk, &[&alice, &bob], env.w.now, env.w.now + 3600);
    let r = env.post("/notify/event/new", json!({"authreq": authreq}));
    env.refused(r, NotifyError::BadBody);
    let bound = env.eid_session();
    let (bound_req, _) = env.authreq(&bound, &[&alice], env.w.now, env.w.now + 3600);
    let r = env.post(
        "/notify/event/new",
        json!({"authreq": bound_req, "epk": bound.to_b64()}),
    );
    env.refused(r, NotifyError::UnknownSession);
    let stranger = SecretKey::generate(&mut env.w.rng).public_key();
    let r = env.post(
        "/notify/event/new",
        json!({"authreq": authreq, "epk": stranger.to_b64()}),
    );
    env.refused(r, NotifyError::UnknownSession);
    let r = env.post(
        "/notify/event/new",
        json!({"authreq": authreq, "epk": "AAAA"}),
    );
    env.refused(r, NotifyError::UnknownSession);
    let other = env.anon_session();
    let (to_other, _) = env.authreq(&other, &[&alice], env.w.now, env.w.now + 3600);
    let (expired, _) = env.authreq(&epk, &[&alice], env.w.now - 3600, env.w.now);
    let mut forged = authreq.clone();
    forged.insert(forged.len() - 5, 'x');
    for bad in [
        to_other.as_str(),
        expired.as_str(),
        forged.as_str(),
        "a.b.c",
    ] {
        let r = env.post(
            "/notify/event/new",
            json!({"authreq": bad, "epk": epk.to_b64()}),
        );
        env.refused(r, NotifyError::BadToken);
    }
    let (future, _) = env.authreq(&epk, &[&alice], env.w.now + 1, env.w.now + 3600);
    let r = env.post(
        "/notify/event/new",
        json!({"authreq": future, "epk": epk.to_b64()}),
    );
    let e = NotifyError::NotYetValid {
        iat: UnixTime::from_secs(env.w.now + 1),
        now: env.w.time(),
    };
    assert_eq!(r.status, 401);
    assert_eq!(
        json_of(&r),
        json!({"err": format!("Cannot handle token prior to (iat {}) {}", START + 1, START)})
    );
    env.refused(r, e);
    let all = env.post(
        "/notify/event/data/allbypid",
        json!({"pid": [alice.pairing.pid(), bob.pairing.pid()]}),
    );
    assert_eq!(
        all.body, r#"{"eventid":[]}"#,
        "no event was made by an error"
    );

    let r = env.post(
        "/notify/event/new",
        json!({"authreq": authreq, "epk": epk.to_b64()}),
    );
    assert_eq!(r.status, 200);
    let v = json_of(&r);
    assert_eq!(v["sentcnt"], 2);
    assert_eq!(
        v["ipinfo_you"],
        json!({"ip": CLIENT_PEER, "city": "", "country": ""})
    );
    let id = v["eventid"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    let r = env.post(
        "/notify/event/new",
        json!({"authreq": authreq, "epk": epk.to_b64()}),
    );
    env.refused(r, NotifyError::DuplicateEvent);
    let jti = UntrustedJwt::parse(&authreq)
        .unwrap()
        .dangerous_unverified_claims::<AuthreqClaims<'_>>()
        .unwrap()
        .jti
        .into_owned();
    let ev = Ev { id, jti, epk };

    // the phone side
    let r = env.post("/notify/event/data/allbypid", json!({"pid": "x"}));
    env.refused(r, NotifyError::BadBody);
    let r = env.post("/notify/event/data/allbypid", json!({"pid": [1]}));
    env.refused(r, NotifyError::BadBody);
    let r = env.post(
        "/notify/event/data/allbypid",
        json!({"pid": [alice.pairing.pidx(), "nobody"]}),
    );
    assert_eq!(
        json_of(&r),
        json!({"eventid": {ev.id.clone(): [alice.pairing.pid()]}})
    );
    let r = env.get(&data_path(&ev, &alice));
    assert_eq!(
        json_of(&r),
        json!({"jti": ev.jti, "scope": json_of(&r)["scope"], "epk": ev.epk.to_b64(),
               "exp": env.w.now + 3600, "ipinfo_eid": {"ip": CLIENT_PEER, "city": "", "country": ""}})
    );
    for p in [
        format!("/notify/event/data/{}/nobody", ev.id),
        format!("/notify/event/data/0000/{}", alice.pairing.pidx()),
    ] {
        let r = env.get(&p);
        env.refused(r, NotifyError::UnknownEvent);
    }
    let check = format!("/notify/event/check/{}", ev.id);
    let r = env.get(&check);
    assert_eq!((r.status, r.body.as_str()), (202, "{}"));

    // POST errors leave the event pending
    let approval = env.approval(&alice, &ev);
    let mut body: Value = serde_json::from_str(&approval).unwrap();
    let path = data_path(&ev, &alice);
    let r = env.call(Method::Post, &path, &json!({"mac": body["mac"]}));
    env.refused(r, NotifyError::BadBody);
    // bob's path with alice's MAC: the MAC is keyed with bob's aid
    let r = env.call(Method::Post, &data_path(&ev, &bob), &body);
    env.refused(r, NotifyError::BadMac);
    let good_mac = body["mac"].clone();
    body["mac"] = json!(codec::encode_std(&[0u8; 32]));
    let r = env.call(Method::Post, &path, &body);
    env.refused(r, NotifyError::BadMac);
    // a MAC-valid body whose authreply is not for this event
    let junk = "e30.e30.AAAA";
    let key = alice.aid_prv.diffie_hellman(&ev.epk).unwrap();
    let junk_mac = codec::encode_std(&hem_auth_core::mac::mac(key.as_bytes(), junk.as_bytes()));
    let r = env.call(
        Method::Post,
        &path,
        &json!({"authreply": junk, "mac": junk_mac}),
    );
    env.refused(r, NotifyError::Mismatch);
    body["mac"] = good_mac;
    let r = env.get(&check);
    assert_eq!(r.status, 202);

    // a pid in the map that is not a subscriber
    let ghost_aid = SecretKey::generate(&mut env.w.rng);
    let ghost = Phone::new(
        &codec::encode_std(&[7u8; 32]),
        env.eid(),
        ghost_aid,
        "ghost",
    )
    .unwrap();
    let ev2 = env.event(&[&ghost]);
    let ghost_body = env.approval(&ghost, &ev2);
    let r = env.call_from(
        Method::Post,
        &data_path(&ev2, &ghost),
        ghost_body.as_bytes(),
        PHONE_PEER,
    );
    env.refused(r, NotifyError::NotSubscriber);
    assert_eq!(
        env.get(&format!("/notify/event/check/{}", ev2.id)).status,
        202
    );

    // approve: first answer wins
    let r = env.call_from(Method::Post, &path, approval.as_bytes(), PHONE_PEER);
    assert_eq!((r.status, r.body.as_str()), (200, "{}"));
    let r = env.call_from(Method::Post, &path, approval.as_bytes(), PHONE_PEER);
    env.refused(r, NotifyError::AlreadyAnswered);
    let r = env.get(&data_path(&ev, &bob));
    env.refused(r, NotifyError::AlreadyAnswered);
    let r = env.call(Method::Delete, &data_path(&ev, &bob), &Value::Null);
    env.refused(r, NotifyError::AlreadyAnswered);
    let r = env.get(&check);
    assert_eq!(r.status, 200);
    assert_eq!(
        json_of(&r),
        json!({"authreply": body["authreply"],
               "ipinfo_aid": {"ip": PHONE_PEER, "city": "", "country": ""},
               "ipinfo_eid": {"ip": CLIENT_PEER, "city": "", "country": ""}})
    );
    let r = env.post(
        "/notify/event/data/allbypid",
        json!({"pid": [alice.pairing.pid()]}),
    );
    assert!(!json_of(&r)["eventid"]
        .as_object()
        .is_some_and(|m| m.contains_key(&ev.id)));

    // expiry: check and data answer 404 after the authreq's exp
    env.w.now += 3600;
    assert_eq!(env.get(&check).status, 200);
    env.w.now += 1;
    let r = env.get(&check);
    env.refused(r, NotifyError::UnknownEvent);
    let r = env.get(&data_path(&ev2, &ghost));
    env.refused(r, NotifyError::UnknownEvent);
}

#[test]
fn deny_and_cancel() {
    let mut env = Env::new();
    let alice = env.register("alice");

    let ev = env.event(&[&alice]);
    let r = env.call(
        Method::Delete,
        &format!("/notify/event/data/{}/nobody", ev.id),
        &Value::Null,
    );
    env.refused(r, NotifyError::UnknownEvent);
    let r = env.call(Method::Delete, &data_path(&ev, &alice), &Value::Null);
    assert_eq!((r.status, r.body.as_str()), (200, "{}"));
    let r = env.get(&format!("/notify/event/check/{}", ev.id));
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"deny":true}"#));
    let approval = env.approval_after_answer(&alice, &ev);
    let r = env.call_from(
        Method::Post,
        &data_path(&ev, &alice),
        approval.as_bytes(),
        PHONE_PEER,
    );
    env.refused(r, NotifyError::AlreadyAnswered);

    let ev = env.event(&[&alice]);
    let approval = env.approval(&alice, &ev);
    let r = env.call(Method::Delete, "/notify/event/00", &Value::Null);
    env.refused(r, NotifyError::UnknownEvent);
    let r = env.call(
        Method::Delete,
        &format!("/notify/event/{}", ev.id),
        &Value::Null,
    );
    assert_eq!((r.status, r.body.as_str()), (200, "{}"));
    let r = env.get(&data_path(&ev, &alice));
    env.refused(r, NotifyError::Cancelled);
    assert_eq!(NotifyError::Cancelled.body(), r#"{"reason":"cancelled"}"#);
    let r = env.call_from(
        Method::Post,
        &data_path(&ev, &alice),
        approval.as_bytes(),
        PHONE_PEER,
    );
    env.refused(r, NotifyError::Cancelled);
    let r = env.call(Method::Delete, &data_path(&ev, &alice), &Value::Null);
    env.refused(r, NotifyError::Cancelled);
    let r = env.get(&format!("/notify/event/check/{}", ev.id));
    env.refused(r, NotifyError::UnknownEvent);
    let r = env.post(
        "/notify/event/data/allbypid",
        json!({"pid": [alice.pairing.pid()]}),
    );
    assert_eq!(r.body, r#"{"eventid":[]}"#);
}

impl Env {
    /// A body whose MAC is valid for `phone` but whose authreply is junk: an answered or
    /// cancelled event must be refused before the MAC or the authreply is looked at.
    fn approval_after_answer(&mut self, phone: &Phone, ev: &Ev) -> String {
        let key = phone.aid_prv.diffie_hellman(&ev.epk).unwrap();
        let authreply = "e30.e30.AAAA";
        let mac = codec::encode_std(&hem_auth_core::mac::mac(
            key.as_bytes(),
            authreply.as_bytes(),
        ));
        json!({"authreply": authreply, "mac": mac}).to_string()
    }
}

#[test]
fn subscribers_list_and_delete() {
    let mut env = Env::new();
    let alice = env.register("alice");
    env.w.now += 10;
    let bob = env.register("bob");
    let epk = env.eid_session();

    let mut good = env.ext_mac(&epk, env.w.now);
    good["epk"] = json!(epk.to_b64());
    let r = env.post("/notify/subscribers/list", good.clone());
    assert_eq!(r.status, 200);
    let list = json_of(&r);
    let pids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pid"].as_str().unwrap())
        .collect();
    let mut expected = vec![alice.pairing.pid(), bob.pairing.pid()];
    expected.sort();
    assert_eq!(pids, expected);
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["pid"] == alice.pairing.pid())
        .unwrap();
    assert_eq!(
        row,
        &json!({"pid": alice.pairing.pid(), "kid": "00112233445566778899aabbccddeeff",
                "label": "alice", "created": START})
    );

    // 401 wrong session (anonymous epk, another eid's session), 401 mac, 401 stale nonce
    let anon = env.anon_session();
    let mut b = env.ext_mac(&anon, env.w.now);
    b["epk"] = json!(anon.to_b64());
    let r = env.post("/notify/subscribers/list", b);
    env.refused(r, NotifyError::WrongSession);
    let mut b = good.clone();
    b["eid"] = json!(SecretKey::generate(&mut env.w.rng).public_key().to_b64());
    let r = env.post("/notify/subscribers/list", b);
    env.refused(r, NotifyError::WrongSession);
    let mut b = good.clone();
    b["mac"] = json!(codec::encode_std(&[1u8; 32]));
    let r = env.post("/notify/subscribers/list", b);
    env.refused(r, NotifyError::BadMac);
    let mut b = good.clone();
    b["nonce"] = json!("AAAA");
    let r = env.post("/notify/subscribers/list", b);
    env.refused(r, NotifyError::BadMac);
    for t in [env.w.now - 301, env.w.now + 301] {
        let mut b = env.ext_mac(&epk, t);
        b["epk"] = json!(epk.to_b64());
        let r = env.post("/notify/subscribers/list", b);
        env.refused(r, NotifyError::StaleNonce);
    }
    for t in [env.w.now - 300, env.w.now + 300] {
        let mut b = env.ext_mac(&epk, t);
        b["epk"] = json!(epk.to_b64());
        assert_eq!(env.post("/notify/subscribers/list", b).status, 200);
    }
    let r = env.post(
        "/notify/subscribers/list",
        json!({"nonce": "x", "mac": "y", "epk": "z"}),
    );
    env.refused(r, NotifyError::BadBody);

    // device-form delete (a fresh ext/mac: a nonce is accepted once per session): errors
    // change nothing, then it deletes bob
    let before = env.snapshot_json();
    let mut good = env.ext_mac(&epk, env.w.now);
    good["epk"] = json!(epk.to_b64());
    let mut b = good.clone();
    let r = env.post("/notify/subscribers/delete", b.clone());
    env.refused(r, NotifyError::BadBody);
    b["pid"] = json!(codec::encode_std(&[9u8; 32]));
    let r = env.post("/notify/subscribers/delete", b.clone());
    env.refused(r, NotifyError::NotSubscriber);
    b["pid"] = json!(bob.pairing.pid());
    b["mac"] = json!(codec::encode_std(&[1u8; 32]));
    let r = env.post("/notify/subscribers/delete", b.clone());
    env.refused(r, NotifyError::BadMac);
    assert_eq!(env.snapshot_json(), before);
    b["mac"] = good["mac"].clone();
    let r = env.post("/notify/subscribers/delete", b.clone());
    assert_eq!((r.status, r.body.as_str()), (200, "{}"));
    assert_eq!(r.events, [NotifyEvent::SubscribersChanged]);
    let r = env.post("/notify/subscribers/delete", b);
    env.refused(r, NotifyError::NonceUsed);
    assert_eq!(
        env.w
            .broker
            .subscribers()
            .map(|s| s.pid.as_str())
            .collect::<Vec<_>>(),
        [alice.pairing.pid()]
    );

    // phone-form delete
    let aid = alice.pairing.aid().to_b64();
    let r = env.post("/notify/session", json!({ "aid": aid }));
    let pepk = PublicKey::from_b64(json_of(&r)["epk"].as_str().unwrap()).unwrap();
    let nonce = [5u8; 32];
    let mac = codec::encode_std(&alice.pairing.unpair_mac(&pepk, &nonce).unwrap());
    let good = json!({"pid": alice.pairing.pid(), "epk": pepk.to_b64(),
                      "nonce": codec::encode_std(&nonce), "mac": mac, "aid": aid});
    let before = env.snapshot_json();
    let mut b = good.clone();
    b["epk"] = json!(epk.to_b64());
    let r = env.post("/notify/subscribers/delete", b);
    env.refused(r, NotifyError::WrongSession);
    let mut b = good.clone();
    b["aid"] = json!(bob.pairing.aid().to_b64());
    let r = env.post("/notify/subscribers/delete", b);
    env.refused(r, NotifyError::WrongSession);
    let mut b = good.clone();
    b["nonce"] = json!(codec::encode_std(&[6u8; 32]));
    let r = env.post("/notify/subscribers/delete", b);
    env.refused(r, NotifyError::BadMac);
    let mut b = good.clone();
    b["pid"] = json!(bob.pairing.pid());
    let r = env.post("/notify/subscribers/delete", b);
    env.refused(r, NotifyError::NotSubscriber);
    let mut b = good.clone();
    b.as_object_mut().unwrap().remove("aid");
    let r = env.post("/notify/subscribers/delete", b);
    env.refused(r, NotifyError::BadBody);
    assert_eq!(env.snapshot_json(), before);
    let r = env.post("/notify/subscribers/delete", good);
    assert_eq!((r.status, r.events.len()), (200, 1));
    assert_eq!(env.w.broker.subscribers().count(), 0);
    let v = json_of(&env.post("/notify/session", json!({ "eid": env.eid().to_b64() })));
    assert_eq!(v["paired"], false);
}

/// Issue 14: a captured subscriber call could be replayed while its session lived. Each
/// nonce is now accepted once per session (spec §12.6): the replay is 401
/// `{"err":"nonce already used"}`, before the 404 of a pid that is gone, and changes nothing.
#[test]
fn subscriber_call_nonces_are_accepted_once_per_session() {
    let mut env = Env::new();
    let alice = env.register("alice");
    let bob = env.register("bob");
    let epk = env.eid_session();

    // device form: one ext/mac answer lists once; neither list nor delete takes it again
    let mut mac = env.ext_mac(&epk, env.w.now);
    mac["epk"] = json!(epk.to_b64());
    assert_eq!(
        env.post("/notify/subscribers/list", mac.clone()).status,
        200
    );
    let before = env.snapshot_json();
    env.w.now += 1;
    let r = env.post("/notify/subscribers/list", mac.clone());
    env.refused(r, NotifyError::NonceUsed);
    assert_eq!(
        (
            NotifyError::NonceUsed.status(),
            NotifyError::NonceUsed.body().as_str()
        ),
        (401, r#"{"err":"nonce already used"}"#)
    );
    let mut del = mac.clone();
    del["pid"] = json!(bob.pairing.pid());
    let r = env.post("/notify/subscribers/delete", del);
    env.refused(r, NotifyError::NonceUsed);
    assert_eq!(env.snapshot_json(), before);

    // a fresh ext/mac deletes bob once; the replay is refused as used, not as an unknown pid
    let mut del = env.ext_mac(&epk, env.w.now);
    del["epk"] = json!(epk.to_b64());
    del["pid"] = json!(bob.pairing.pid());
    let r = env.post("/notify/subscribers/delete", del.clone());
    assert_eq!((r.status, r.body.as_str()), (200, "{}"));
    let r = env.post("/notify/subscribers/delete", del.clone());
    env.refused(r, NotifyError::NonceUsed);
    // a refused call did not use its nonce: a delete of a pid that is not there keeps it
    let mut other = env.ext_mac(&epk, env.w.now);
    other["epk"] = json!(epk.to_b64());
    other["pid"] = json!(codec::encode_std(&[9u8; 32]));
    let r = env.post("/notify/subscribers/delete", other.clone());
    env.refused(r, NotifyError::NotSubscriber);
    other.as_object_mut().unwrap().remove("pid");
    assert_eq!(env.post("/notify/subscribers/list", other).status, 200);

    // phone form: the random nonce is accepted once on its aid-bound session
    let aid = alice.pairing.aid().to_b64();
    let r = env.post("/notify/session", json!({ "aid": aid }));
    let pepk = PublicKey::from_b64(json_of(&r)["epk"].as_str().unwrap()).unwrap();
    let nonce = [5u8; 32];
    let mac = codec::encode_std(&alice.pairing.unpair_mac(&pepk, &nonce).unwrap());
    let body = json!({"pid": alice.pairing.pid(), "epk": pepk.to_b64(),
                      "nonce": codec::encode_std(&nonce), "mac": mac, "aid": aid});
    let r = env.post("/notify/subscribers/delete", body.clone());
    assert_eq!((r.status, r.events.len()), (200, 1));
    let before = env.snapshot_json();
    let r = env.post("/notify/subscribers/delete", body);
    env.refused(r, NotifyError::NonceUsed);
    assert_eq!(env.snapshot_json(), before);
}

/// The used nonces of a session are bounded (spec §12.6): at [`MAX_USED_NONCES`] the broker
/// refuses the next subscriber call with 503 rather than forget one; a device-form nonce whose
/// window has passed no longer counts.
#[test]
fn a_session_remembers_a_bounded_number_of_nonces() {
    let mut env = Env::new();
    let epk = env.eid_session();
    let list = |env: &mut Env| {
        let mut b = env.ext_mac(&epk, env.w.now);
        b["epk"] = json!(epk.to_b64());
        env.post("/notify/subscribers/list", b)
    };
    for _ in 0..MAX_USED_NONCES {
        assert_eq!(list(&mut env).status, 200);
    }
    let r = list(&mut env);
    env.refused(r, NotifyError::NonceStoreFull);
    assert_eq!(NotifyError::NonceStoreFull.status(), 503);
    // still refused at the edge of the window: those nonces could still be replayed
    env.w.now += NONCE_WINDOW_SECS;
    let r = list(&mut env);
    env.refused(r, NotifyError::NonceStoreFull);
    // past it, the time check refuses them by itself: they are forgotten
    env.w.now += 1;
    assert_eq!(list(&mut env).status, 200);
}

/// The largest authreq a device can emit (spec §3.6): 8 pairings, a 1023-character scope,
/// a 64-character `ctx` and a 128-character `note` of control characters (escaped as
/// `\u00XX`), 20-digit dates, addressed to `epk`.
fn largest_authreq(env: &mut Env, epk: &PublicKey, phones: &[&Phone], scope: &str) -> String {
    let iat = env.w.now;
    let jti = TimeNonce::generate(UnixTime::from_secs(iat), &mut env.w.rng);
    let mut map = ScopeMap::new();
    for p in phones {
        let s1 = env.w.identity.diffie_hellman(&p.pairing.aid()).unwrap();
        let sealed = ScopeKey::derive(&s1, jti.as_bytes()).seal(scope).unwrap();
        assert!(map.push(Cow::Owned(p.pairing.pid().to_owned()), Cow::Owned(sealed)));
    }
    let ctx = "\u{1}".repeat(64);
    let note = "\u{2}".repeat(128);
    let claims = AuthreqClaims {
        iss: env.eid().to_b64().into(),
        aud: epk.to_b64().into(),
        iat,
        exp: iat + 3600,
        jti: jti.to_b64().into(),
        ctx: Some(ctx.into()),
        note: Some(note.into()),
        scope: map,
    };
    let key = env.w.identity.diffie_hellman(epk).unwrap();
    jwt::sign(Header::Device, &claims, key.as_bytes())
}

/// Issue 14 / spec §3.6, §12.2: an authreq for 8 pairings and a 1023-character scope, with
/// `ctx` and `note`, is 17 526 bytes; the client role verifies it (from an `ext/request`
/// answer of 17 593 bytes) and the notify broker's `event/new` accepts it. Both refused
/// anything over 4096 bytes, and the broker any body over 16 384.
#[test]
fn the_largest_authreq_is_received() {
    let mut env = Env::new();
    // 20-digit dates
    env.w.now = 10_000_000_000_000_000_000;
    let phones: Vec<Phone> = (0..8)
        .map(|i| env.register(&format!("phone {i}")))
        .collect();
    let phones: Vec<&Phone> = phones.iter().collect();
    let scope = format!("keymgmt:list:{}", "x".repeat(1023 - 13));

    // the client role, with the session key it drew for ext/request
    let client = SecretKey::generate(&mut env.w.rng);
    let authreq = largest_authreq(&mut env, &client.public_key(), &phones, &scope);
    assert_eq!(authreq.len(), jwt::MAX_AUTHREQ_BYTES);
    let response = json!({"authreq": authreq, "epk": client.public_key().to_b64()}).to_string();
    assert_eq!(response.len(), messages::MAX_EXT_REQUEST_RESPONSE_BYTES);
    let state = ExtAuthState::from_secret(client, Some(env.eid()));
    let text = state.authreq_from_response(response.as_bytes()).unwrap();
    let untrusted = UntrustedJwt::parse_authreq(&text).unwrap();
    let verified = state.verify_authreq(&untrusted, env.w.time()).unwrap();
    assert_eq!(verified.entries().count(), 8);
    assert_eq!(verified.note().map(|n| n.chars().count()), Some(128));
    assert_eq!(
        UntrustedJwt::parse(&text).err(),
        Some(jwt::JwtError::TooLarge),
        "other JWTs stay within 4096 bytes"
    );
    let over = "a".repeat(jwt::MAX_AUTHREQ_BYTES + 1);
    assert_eq!(
        UntrustedJwt::parse_authreq(&over).err(),
        Some(jwt::JwtError::TooLarge)
    );

    // the notify broker, with the anonymous session the client forwards it under
    let epk = env.anon_session();
    let authreq = largest_authreq(&mut env, &epk, &phones, &scope);
    let body = json!({"authreq": authreq, "epk": epk.to_b64()}).to_string();
    assert_eq!(body.len(), 17_593);
    assert!(body.len() <= MAX_BODY_BYTES);
    let r = env.call_from(
        Method::Post,
        "/notify/event/new",
        body.as_bytes(),
        CLIENT_PEER,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(json_of(&r)["sentcnt"], 8);
    // and the last phone opens its 1023-character entry
    let id = json_of(&r)["eventid"].as_str().unwrap().to_owned();
    let phone = phones[7];
    let r = env.call_from(
        Method::Get,
        &format!("/notify/event/data/{id}/{}", phone.pairing.pidx()),
        b"",
        PHONE_PEER,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let event = Event::parse(&r.body).unwrap();
    let opened = phone.pairing.open_event(&event, env.w.time()).unwrap();
    assert_eq!(opened.scope(), scope);
}

#[test]
fn checkin_backend() {
    let mut env = Env::with(NotifyConfig::default());
    let r = env.post("/checkin", json!({"check": "x"}));
    env.refused(r, NotifyError::NoBackend);
    assert_eq!(env.w.broker.backend_public(), None);

    // the world's broker has the world's backend key
    let mut env = Env::new();
    let backend = env.w.backend.clone();
    assert_eq!(env.w.broker.backend_public(), Some(backend.public_key()));
    let mut rng = support::rng(5);

    // a check as the device makes it
    let spk = SecretKey::generate(&mut rng);
    let make_check = |aud: &PublicKey, key_with: &SecretKey| {
        let claims = CheckClaims {
            jti: codec::encode_std(&[3u8; 32]).into(),
            iss: spk.public_key().to_b64().into(),
            qid: codec::encode_std(&[4u8; 32]).into(),
            aud: aud.to_b64().into(),
            fws: codec::encode_std(&[0u8; 64]).into(),
            bls: codec::encode_std(&[0u8; 64]).into(),
            uis: codec::encode_std(&[0u8; 32]).into(),
            csn: codec::encode_std(&[0u8; 16]).into(),
        };
        let key = key_with.diffie_hellman(aud).unwrap();
        jwt::sign(Header::Device, &claims, key.as_bytes())
    };
    let check = make_check(&backend.public_key(), &spk);
    let r = env.post("/checkin", json!({"check": check}));
    assert_eq!(r.status, 200);
    let checked = json_of(&r)["checked"].as_str().unwrap().to_owned();
    assert_eq!(
        checked,
        answer_check(&backend, &check, env.w.time()).unwrap()
    );
    let untrusted = UntrustedJwt::parse(&checked).unwrap();
    assert_eq!(
        untrusted.signed_part().split('.').next(),
        Some(Header::Device.segment())
    );
    let key = spk.diffie_hellman(&backend.public_key()).unwrap();
    let claims: hem_auth_core::claims::CheckedClaims<'_> = untrusted
        .verify(key.as_bytes(), jwt::HeaderPolicy::Ecdh)
        .unwrap()
        .claims()
        .unwrap();
    assert_eq!(
        (
            claims.jti.as_ref(),
            claims.iat,
            claims.iss.as_ref(),
            claims.aud.as_ref(),
            claims.status.as_ref()
        ),
        (
            codec::encode_std(&[3u8; 32]).as_str(),
            env.w.now,
            backend.public_key().to_b64().as_str(),
            spk.public_key().to_b64().as_str(),
            "OK"
        )
    );

    // 401: addressed to another backend, or keyed by someone else; 400: no check
    let other = SecretKey::generate(&mut rng).public_key();
    let to_other = make_check(&other, &spk);
    let r = env.post("/checkin", json!({"check": to_other}));
    env.refused(r, NotifyError::BadCheck);
    let mut forged = check.clone();
    forged.insert(forged.len() - 3, 'A');
    for bad in [forged.as_str(), "junk"] {
        let r = env.post("/checkin", json!({"check": bad}));
        env.refused(r, NotifyError::BadCheck);
        assert_eq!(
            answer_check(&backend, bad, env.w.time()),
            Err(NotifyError::BadCheck)
        );
    }
    let r = env.post("/checkin", json!({"checked": check}));
    env.refused(r, NotifyError::BadBody);
}

#[test]
fn snapshot_round_trip() {
    let mut rng = support::rng(9);
    let backend = SecretKey::generate(&mut rng);
    let mut env = Env::with(NotifyConfig::with_backend(backend.clone()));
    let alice = env.register("alice");
    let _bob = env.register("bob");
    let _session = env.anon_session();

    let saved = env.snapshot_json();
    assert!(saved.contains(&codec::encode_std(&*backend.to_bytes())));
    let snapshot: NotifySnapshot = serde_json::from_str(&saved).unwrap();
    let restored = NotifyBroker::restore(snapshot.clone(), NotifyConfig::default()).unwrap();
    assert_eq!(restored.backend_public(), Some(backend.public_key()));
    assert_eq!(
        restored.subscribers().collect::<Vec<_>>(),
        env.w.broker.subscribers().collect::<Vec<_>>()
    );
    assert_eq!(serde_json::to_string(&restored.snapshot()).unwrap(), saved);

    // the restored broker serves the subscribers (an event names them), sessions are gone
    env.w.broker = restored;
    let ev = env.event(&[&alice]);
    let body = env.approval(&alice, &ev);
    let r = env.call_from(
        Method::Post,
        &data_path(&ev, &alice),
        body.as_bytes(),
        PHONE_PEER,
    );
    assert_eq!(r.status, 200);

    // no backend in the snapshot: config's; a pid twice: refused
    let mut s2 = snapshot.clone();
    s2.backend = None;
    let other = SecretKey::generate(&mut rng);
    let b = NotifyBroker::restore(s2, NotifyConfig::with_backend(other.clone())).unwrap();
    assert_eq!(b.backend_public(), Some(other.public_key()));
    let mut s3 = snapshot;
    let first = s3.subscribers[0].clone();
    s3.subscribers.push(first);
    assert_eq!(
        NotifyBroker::restore(s3, NotifyConfig::default()).err(),
        Some(NotifyError::BadSnapshot)
    );
    let empty: NotifySnapshot = serde_json::from_str("{}").unwrap();
    let b = NotifyBroker::restore(empty, NotifyConfig::default()).unwrap();
    assert_eq!((b.backend_public(), b.subscribers().count()), (None, 0));
}

#[test]
fn tables_are_bounded() {
    let mut config = NotifyConfig::default();
    config.max_sessions = 2;
    config.max_events = 2;
    config.max_registrations = 1;
    let mut env = Env::with(config);
    let alice = env.register("alice");

    // sessions: the oldest goes first
    let s1 = env.anon_session();
    let s2 = env.anon_session();
    let s3 = env.anon_session();
    for (s, status) in [(s1, 404), (s2, 200), (s3, 200)] {
        let (authreq, _) = env.authreq(&s, &[&alice], env.w.now, env.w.now + 3600);
        let r = env.post(
            "/notify/event/new",
            json!({"authreq": authreq, "epk": s.to_b64()}),
        );
        assert_eq!(r.status, status, "{}", r.body);
    }
    // events: two kept, a third evicts the oldest
    let ids: Vec<String> = (0..3).map(|_| env.event(&[&alice]).id).collect();
    let statuses: Vec<u16> = ids
        .iter()
        .map(|id| env.get(&format!("/notify/event/check/{id}")).status)
        .collect();
    assert_eq!(statuses, [404, 202, 202]);
    // registrations: one kept
    let (rid1, _, _) = env.init();
    let (rid2, _, _) = env.init();
    assert_eq!(
        env.get(&format!("/notify/register/check/{rid1}")).status,
        404
    );
    assert_eq!(
        env.get(&format!("/notify/register/check/{rid2}")).status,
        202
    );
}

#[test]
fn subscribers_are_bounded() {
    // A device holds at most 8 pairings: a ninth finalise drops its oldest (stale) subscriber.
    let mut env = Env::new();
    let mut pids = Vec::new();
    for i in 0..9 {
        env.w.now += 1;
        pids.push(env.register(&format!("phone {i}")).pairing.pid().to_owned());
    }
    let kept: Vec<&str> = env.w.broker.subscribers().map(|s| s.pid.as_str()).collect();
    assert_eq!(kept.len(), 8);
    assert!(!kept.contains(&pids[0].as_str()), "the oldest is dropped");
    assert!(pids[1..].iter().all(|p| kept.contains(&p.as_str())));

    // The whole table is bounded too: a full table refuses, and changes nothing.
    let mut config = NotifyConfig::default();
    config.max_subscribers = 2;
    let mut env = Env::with(config);
    env.register("one");
    env.register("two");
    let (rid, link, request) = env.init();
    let seen = UnverifiedPairingRequest::parse(&request).unwrap();
    let aid = SecretKey::generate(&mut env.w.rng);
    let reply = reply_to_pairing(&aid, &seen, "three", "fcm").unwrap();
    let r = env.call_from(
        Method::Post,
        Env::link_path(&link),
        reply.post_body("fcm").as_bytes(),
        PHONE_PEER,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let before = env.snapshot_json();
    let code = env.code(&reply.reply, seen.epk());
    let finalise = format!("/notify/register/finalise/{rid}");
    let body = json!({"kid": "00112233445566778899aabbccddeeff", "code": code});
    let r = env.post(&finalise, body.clone());
    env.refused(r, NotifyError::TooManySubscribers);
    assert_eq!(env.snapshot_json(), before);
    assert_eq!(
        env.get(&format!("/notify/register/check/{rid}")).status,
        200
    );
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn method() -> impl Strategy<Value = Method> {
        prop_oneof![
            Just(Method::Get),
            Just(Method::Post),
            Just(Method::Delete),
            Just(Method::Other)
        ]
    }

    fn path() -> impl Strategy<Value = String> {
        let prefix = prop_oneof![
            Just("/checkin"),
            Just("/notify"),
            Just("/notify/session"),
            Just("/notify/event/new"),
            Just("/notify/event/check/"),
            Just("/notify/event/"),
            Just("/notify/event/data/allbypid"),
            Just("/notify/event/data/"),
            Just("/notify/register/init"),
            Just("/notify/register/check/"),
            Just("/notify/register/finalise/"),
            Just("/notify/register/challenge/"),
            Just("/notify/subscribers/list"),
            Just("/notify/subscribers/delete"),
        ];
        (prefix, "[a-z0-9/_=+-]{0,40}").prop_map(|(p, s)| format!("{p}{s}"))
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            "\\{(\"(eid|aid|epk|pid|authreq|request|nonce|mac|reply|fid|kid|code|check|authreply)\":(\"[A-Za-z0-9+/=.]{0,60}\"|\\[\\]|1|null),?){0,6}\\}"
                .prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn handle_never_panics(calls in proptest::collection::vec((method(), path(), body()), 1..8)) {
            let mut env = Env::new();
            let _phone = env.register("p");
            let _ev = env.event(&[&_phone]);
            for (m, p, b) in calls {
                let r = env.call_from(m, &p, &b, "peer");
                prop_assert!([200, 202, 400, 401, 404, 405, 409, 410, 413].contains(&r.status), "{} {}", r.status, p);
                prop_assert!(serde_json::from_str::<Value>(&r.body).is_ok());
            }
        }
    }

    #[test]
    fn ids_and_paths_from_a_live_broker() {
        // paths built from real ids, with every method and assorted bodies
        let mut env = Env::new();
        let phone = env.register("p");
        let ev = env.event(&[&phone]);
        let (rid, _, _) = env.init();
        let paths = [
            format!("/notify/event/check/{}", ev.id),
            format!("/notify/event/{}", ev.id),
            data_path(&ev, &phone),
            format!("/notify/register/check/{rid}"),
            format!("/notify/register/finalise/{rid}"),
            format!("/notify/register/challenge/{rid}"),
        ];
        for p in &paths {
            for m in [Method::Get, Method::Post, Method::Delete, Method::Other] {
                for b in [&b""[..], b"{}", b"[]", b"{\"a\":1,\"a\":2}", b"\xff"] {
                    let r = env.call_from(m, p, b, "peer");
                    assert!([200, 202, 400, 401, 404, 405, 409, 410].contains(&r.status));
                }
            }
        }
    }
}

#[test]
fn the_phone_reads_allbypid_answers() {
    use hem_auth_core::notify::EventsByPid;
    // Both shapes the broker sends (spec §5.1), from a live broker too.
    assert_eq!(
        EventsByPid::parse(br#"{"eventid":[]}"#).unwrap(),
        EventsByPid::default()
    );
    let listed = EventsByPid::parse(br#"{"eventid":{"ab12":["p1","p2"],"../x":["p3"]}}"#).unwrap();
    let pairs: Vec<(&str, &str)> = listed.pairs().collect();
    assert_eq!(
        pairs,
        [("ab12", "p1"), ("ab12", "p2")],
        "path-unsafe ids dropped"
    );
    for bad in [
        &b"not json"[..],
        br#"{"eventid":["x"]}"#,
        br#"{"eventid":{"a":"p"}}"#,
        br#"{}"#,
    ] {
        assert_eq!(EventsByPid::parse(bad), Err(NotifyError::BadBody));
    }
    let mut env = Env::new();
    let alice = env.register("alice");
    let ev = env.event(&[&alice]);
    let pid = alice.pairing.pid().to_owned();
    let r = env.post(
        "/notify/event/data/allbypid",
        json!({ "pid": [pid.clone()] }),
    );
    let listed = EventsByPid::parse(r.body.as_bytes()).unwrap();
    assert_eq!(
        listed.pairs().collect::<Vec<_>>(),
        [(ev.id.as_str(), pid.as_str())]
    );
}
