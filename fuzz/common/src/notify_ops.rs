//! The notify broker's structure-aware harness: an `Arbitrary` sequence of broker calls on
//! simulated time. It runs on the one simulated world ([`hem_auth_sim::World`]): the world's
//! notify broker answers every call through `NotifyBroker::handle`, and the world's RNG and
//! clock are the harness's. Scripted steps play the device (from the world's identity key,
//! without calling the world's device), the client and the real authenticator role correctly;
//! raw steps send fuzzed methods, paths and bodies, and mutated steps replay a recorded valid
//! body with one byte changed. After every call:
//!
//! * `handle` answered a status the contract lists, with a JSON body;
//! * every subscriber was made by a scripted finalise (only the device's `code` makes one, and
//!   no fuzzed body can forge it), and a deleted one stays deleted;
//! * an event's first answer wins: once the harness saw an approval or a denial accepted,
//!   `event/check` never reports anything else (or pending) while the event lives;
//! * a call that failed left the snapshot (backend key and subscribers) as it was.

use hem_auth_core::{Access, Seconds, UnixTime};
use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use hem_auth_core::authenticator::{reply_to_pairing, Event, UnverifiedPairingRequest};
use hem_auth_core::claims::PairingRequestClaims;
use hem_auth_core::codec;
use hem_auth_core::device::Device;
use hem_auth_core::jwt::{self, Header};
use hem_auth_core::keys::{PublicKey, SecretKey};
use hem_auth_core::nonce::TimeNonce;
use hem_auth_core::notify::{Method, NotifyEvent, Request, Response};
use hem_auth_sim::{Keys, Phone, World, NOTIFY_BASE};
use serde_json::{json, Value};

use crate::fixture;

/// The seed of the world's RNG.
const SEED: u64 = 7;
/// Where every call comes from (the broker's rate limits are not under test here).
const PEER: &str = "10.0.0.1";
const STATUSES: [u16; 9] = [200, 202, 400, 401, 404, 405, 409, 410, 413];

/// A path for a raw request: fixed ones, and ones built from ids the broker handed out.
#[derive(Arbitrary, Debug, Clone)]
pub enum PathPick {
    /// A path the broker serves, or not.
    Fixed(u8),
    /// `/notify/event/check/<id>` of a known event.
    Check(u8),
    /// `/notify/event/<id>` of a known event.
    Event(u8),
    /// `/notify/event/data/<id>/<pidx>` of a known event and phone.
    Data(u8, u8),
    /// A known registration's link.
    Link(u8),
    /// `/notify/register/check/<rid>` or `/finalise/<rid>`.
    Register(u8, bool),
    /// Any text.
    Text(String),
}

/// One step.
#[derive(Arbitrary, Debug, Clone)]
pub enum Op {
    /// Time passes.
    Advance(u16),
    /// A whole registration: session {eid}, register/init, the phone answers, check, and
    /// (when `finalise`) the device's code.
    Register {
        /// The phone accepts (else refuses).
        accept: bool,
        /// The client finalises.
        finalise: bool,
    },
    /// A fresh anonymous session and an event naming the chosen phones (bit mask).
    Event {
        /// Which registered phones the scope map names.
        phones: u8,
        /// `iat` offset from now (positive is the broker's future: refused).
        iat_skew: i8,
    },
    /// A phone fetches an event and approves or denies it.
    Answer {
        /// Which event.
        event: u8,
        /// Which phone.
        phone: u8,
        /// Approve (else deny).
        approve: bool,
    },
    /// The client polls.
    Check(u8),
    /// The client cancels.
    Cancel(u8),
    /// `ext/mac` + `subscribers/list`, or `subscribers/delete` of a phone.
    Subscribers {
        /// Delete (else list).
        delete: Option<u8>,
    },
    /// Anything.
    Raw {
        /// GET, POST, DELETE or another.
        method: u8,
        /// Where.
        path: PathPick,
        /// The body.
        body: Vec<u8>,
    },
    /// A recorded valid request replayed with one byte changed.
    Mutate {
        /// Which recorded request.
        which: u8,
        /// Where in its body.
        at: u16,
        /// XOR mask (0 replays it unchanged).
        xor: u8,
    },
}

struct Ev {
    id: String,
    /// What the harness saw accepted: `Some(Some(authreply))` approved, `Some(None)` denied.
    decided: Option<Option<String>>,
    exp: u64,
    cancelled: bool,
}

/// The world (broker, RNG, clock, the device's identity key) and what the harness saw.
struct Harness {
    sim: World,
    phones: Vec<Phone>,
    events: Vec<Ev>,
    links: Vec<String>,
    rids: Vec<String>,
    recorded: Vec<(Method, String, Vec<u8>)>,
    /// pids a scripted finalise made.
    finalised: BTreeSet<String>,
    /// pids a scripted delete removed.
    deleted: BTreeSet<String>,
}

fn method(m: u8) -> Method {
    match m % 4 {
        0 => Method::Get,
        1 => Method::Post,
        2 => Method::Delete,
        _ => Method::Other,
    }
}

fn pick<T>(items: &[T], i: u8) -> Option<&T> {
    if items.is_empty() {
        None
    } else {
        items.get(usize::from(i) % items.len())
    }
}

impl Harness {
    fn new() -> Self {
        // The fixture's configuration with fixed per-boot keys: no key is drawn per run.
        let device = Device::with_boot_keys(fixture::snapshot().config, fixture::boot_keys());
        let keys = Keys {
            identity: fixture::identity(),
            user: fixture::user(),
            master: fixture::master(),
            backend: fixture::backend_secret(),
        };
        Harness {
            sim: World::from_device(device, keys, SEED),
            phones: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
            rids: Vec::new(),
            recorded: Vec::new(),
            finalised: BTreeSet::new(),
            deleted: BTreeSet::new(),
        }
    }

    fn eid(&self) -> PublicKey {
        *self.sim.device.eid()
    }

    /// Sends a request and checks what holds after any call.
    fn call(&mut self, method: Method, path: &str, body: &[u8]) -> Response {
        let before = serde_json::to_string(&self.sim.broker.snapshot()).expect("snapshot");
        // The broker's `handle` itself, not `World::notify_call`: a fuzzed body need not be
        // UTF-8.
        let req = Request {
            method,
            path,
            body,
            peer: PEER,
            base_url: NOTIFY_BASE,
        };
        let now = self.sim.time();
        let r = self.sim.broker.handle(&req, now, &mut self.sim.rng);
        assert!(
            STATUSES.contains(&r.status),
            "status {} for {path}",
            r.status
        );
        let parsed: Result<Value, _> = serde_json::from_str(&r.body);
        assert!(parsed.is_ok(), "body is not JSON: {}", r.body);
        if r.status >= 400 {
            assert!(r.events.is_empty(), "events on an error");
            let after = serde_json::to_string(&self.sim.broker.snapshot()).expect("snapshot");
            assert_eq!(before, after, "a failed call changed the snapshot");
        }
        for sub in self.sim.broker.subscribers() {
            assert!(
                self.finalised.contains(&sub.pid),
                "a subscriber no finalise made: {}",
                sub.pid
            );
            assert!(
                !self.deleted.contains(&sub.pid),
                "a deleted subscriber is back"
            );
        }
        r
    }

    fn json(&mut self, method: Method, path: &str, body: &Value) -> (Response, Value) {
        let bytes = body.to_string().into_bytes();
        self.recorded.push((method, path.to_owned(), bytes.clone()));
        if self.recorded.len() > 64 {
            self.recorded.remove(0);
        }
        let r = self.call(method, path, &bytes);
        let v = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        (r, v)
    }

    fn session(&mut self, body: Option<Value>) -> Option<PublicKey> {
        let (r, v) = match body {
            Some(b) => self.json(Method::Post, "/notify/session", &b),
            None => {
                let r = self.call(Method::Get, "/notify/session", b"");
                let v = serde_json::from_str(&r.body).unwrap_or(Value::Null);
                (r, v)
            }
        };
        assert_eq!(r.status, 200, "a session was refused: {}", r.body);
        PublicKey::from_b64(v["epk"].as_str()?).ok()
    }

    fn register(&mut self, accept: bool, finalise: bool) {
        let eid = self.eid();
        let Some(epk) = self.session(Some(json!({ "eid": eid.to_b64() }))) else {
            return;
        };
        let key = self
            .sim
            .identity
            .diffie_hellman(&epk)
            .expect("a broker key");
        let claims = PairingRequestClaims {
            jti: TimeNonce::generate(UnixTime::from_secs(self.sim.now), &mut self.sim.rng)
                .to_b64()
                .into(),
            exp: Some(self.sim.now + 86_400),
            eat: None,
            aud: epk.to_b64().into(),
            iss: eid.to_b64().into(),
        };
        let request = jwt::sign(Header::Device, &claims, key.as_bytes());
        let (r, v) = self.json(
            Method::Post,
            "/notify/register/init",
            &json!({"epk": epk.to_b64(), "eid": eid.to_b64(), "request": request}),
        );
        assert_eq!(r.status, 200, "register/init refused: {}", r.body);
        let (Some(rid), Some(link)) = (v["rid"].as_str(), v["link"].as_str()) else {
            panic!("register/init answer: {}", r.body)
        };
        let (rid, link) = (rid.to_owned(), link.to_owned());
        assert!(matches!(
            r.events.as_slice(),
            [NotifyEvent::LinkRegistered { .. }]
        ));
        let path = link
            .strip_prefix(NOTIFY_BASE)
            .expect("link under the base")
            .to_owned();
        self.rids.push(rid.clone());
        self.links.push(path.clone());
        let seen = UnverifiedPairingRequest::parse(&request).expect("our request");
        let aid = SecretKey::generate(&mut self.sim.rng);
        let reply = reply_to_pairing(&aid, &seen, "fuzz phone", "fid").expect("a reply");
        let body = reply.post_body("fid");
        let m = if accept { Method::Post } else { Method::Delete };
        let (r, v) = self.json(m, &path, &serde_json::from_str(&body).expect("JSON"));
        assert_eq!(r.status, 200, "the phone's answer was refused: {}", r.body);
        let (r, check) = self.json(
            Method::Get,
            &format!("/notify/register/check/{rid}"),
            &Value::Null,
        );
        if !accept {
            assert_eq!(r.status, 410, "a refused registration: {}", r.body);
            return;
        }
        let Some(pid) = v["pid"].as_str().map(str::to_owned) else {
            panic!("link answer without a pid: {v}")
        };
        assert_eq!(check["pid"].as_str(), Some(pid.as_str()));
        if !finalise {
            return;
        }
        let key = self.sim.identity.diffie_hellman(seen.epk()).expect("a key");
        let code = codec::encode_std(&hem_auth_core::mac::mac(
            key.as_bytes(),
            reply.reply.as_bytes(),
        ));
        self.finalised.insert(pid.clone());
        let (r, _) = self.json(
            Method::Post,
            &format!("/notify/register/finalise/{rid}"),
            &json!({"kid": "00112233445566778899aabbccddeeff", "code": code}),
        );
        if r.status == 200 {
            self.deleted.remove(&pid);
            self.phones
                .push(Phone::new(&pid, self.eid(), aid, "phone").expect("a pairing"));
        } else {
            assert_eq!(r.status, 409, "finalise refused: {}", r.body);
            self.finalised.remove(&pid);
        }
    }

    fn event(&mut self, mask: u8, skew: i8) {
        let Some(epk) = self.session(None) else {
            return;
        };
        let iat = self.sim.now.saturating_add_signed(i64::from(skew));
        let exp = iat + 3600;
        let phones: Vec<&Phone> = self
            .phones
            .iter()
            .enumerate()
            .take(8)
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, p)| p)
            .collect();
        let (authreq, _jti) = self
            .sim
            .authreq_from_identity(
                &epk,
                &phones,
                "keymgmt:list",
                UnixTime::from_secs(iat),
                UnixTime::from_secs(exp),
            )
            .expect("an authreq");
        let (r, v) = self.json(
            Method::Post,
            "/notify/event/new",
            &json!({"authreq": authreq, "epk": epk.to_b64()}),
        );
        if skew > 0 {
            assert_eq!(r.status, 401, "an authreq from the future: {}", r.body);
            return;
        }
        assert_eq!(r.status, 200, "event/new refused: {}", r.body);
        if let Some(id) = v["eventid"].as_str() {
            self.events.push(Ev {
                id: id.to_owned(),
                decided: None,
                exp,
                cancelled: false,
            });
        }
    }

    fn answer(&mut self, e: u8, p: u8, approve: bool) {
        let (Some(ei), Some(pi)) = (
            (!self.events.is_empty()).then(|| usize::from(e) % self.events.len()),
            (!self.phones.is_empty()).then(|| usize::from(p) % self.phones.len()),
        ) else {
            return;
        };
        let id = self.events[ei].id.clone();
        let path = format!("/notify/event/data/{id}/{}", self.phones[pi].pairing.pidx());
        let r = self.call(Method::Get, &path, b"");
        if r.status != 200 {
            return;
        }
        let Ok(event) = Event::parse(&r.body) else {
            panic!("event data the phone cannot read: {}", r.body)
        };
        let Ok(opened) = self.phones[pi]
            .pairing
            .open_event(&event, UnixTime::from_secs(self.sim.now))
        else {
            return;
        };
        if approve {
            let approval = opened
                .approve(
                    UnixTime::from_secs(self.sim.now),
                    Seconds::new(900),
                    Access::ReadOnly,
                )
                .expect("approval");
            let body: Value = serde_json::from_str(&approval.post_body()).expect("JSON");
            let (r, _) = self.json(Method::Post, &path, &body);
            if r.status == 200 {
                let ev = &mut self.events[ei];
                assert!(ev.decided.is_none(), "a second answer was accepted");
                ev.decided = Some(Some(approval.authreply));
            }
        } else {
            let r = self.call(Method::Delete, &path, b"");
            if r.status == 200 {
                let ev = &mut self.events[ei];
                assert!(ev.decided.is_none(), "a second answer was accepted");
                ev.decided = Some(None);
            }
        }
    }

    fn check(&mut self, e: u8) {
        let Some(ei) = (!self.events.is_empty()).then(|| usize::from(e) % self.events.len()) else {
            return;
        };
        let id = self.events[ei].id.clone();
        let r = self.call(Method::Get, &format!("/notify/event/check/{id}"), b"");
        let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        let ev = &self.events[ei];
        if ev.cancelled || self.sim.now > ev.exp {
            assert_eq!(r.status, 404, "a cancelled or expired event: {}", r.body);
            return;
        }
        match (&ev.decided, r.status) {
            (Some(Some(authreply)), 200) => {
                assert_eq!(v["authreply"].as_str(), Some(authreply.as_str()))
            }
            (Some(None), 200) => assert_eq!(v["deny"], Value::Bool(true)),
            // evicted from a full table
            (_, 404) => {}
            (None, 202) => {}
            (d, s) => panic!("event/check {s} {} after {d:?}", r.body),
        }
    }

    fn cancel(&mut self, e: u8) {
        let Some(ei) = (!self.events.is_empty()).then(|| usize::from(e) % self.events.len()) else {
            return;
        };
        let id = self.events[ei].id.clone();
        let r = self.call(Method::Delete, &format!("/notify/event/{id}"), b"");
        if r.status == 200 {
            self.events[ei].cancelled = true;
        }
    }

    fn subscribers(&mut self, delete: Option<u8>) {
        let eid = self.eid();
        let Some(epk) = self.session(Some(json!({ "eid": eid.to_b64() }))) else {
            return;
        };
        let nonce = TimeNonce::generate(UnixTime::from_secs(self.sim.now), &mut self.sim.rng);
        let key = self.sim.identity.diffie_hellman(&epk).expect("key");
        let mac = codec::encode_std(&hem_auth_core::mac::mac(key.as_bytes(), nonce.as_bytes()));
        let mut body =
            json!({"nonce": nonce.to_b64(), "mac": mac, "eid": eid.to_b64(), "epk": epk.to_b64()});
        match delete.and_then(|d| pick(&self.phones, d).map(|p| p.pairing.pid().to_owned())) {
            Some(pid) => {
                body["pid"] = Value::String(pid.clone());
                let (r, _) = self.json(Method::Post, "/notify/subscribers/delete", &body);
                if r.status == 200 {
                    self.deleted.insert(pid.clone());
                    self.phones.retain(|p| p.pairing.pid() != pid);
                }
            }
            None => {
                let (r, v) = self.json(Method::Post, "/notify/subscribers/list", &body);
                assert_eq!(r.status, 200, "subscribers/list refused: {}", r.body);
                let listed: BTreeMap<&str, ()> = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s["pid"].as_str())
                            .map(|p| (p, ()))
                            .collect()
                    })
                    .unwrap_or_default();
                let kept: Vec<String> = self
                    .sim
                    .broker
                    .subscribers()
                    .map(|s| s.pid.clone())
                    .collect();
                assert_eq!(listed.len(), kept.len(), "list and table differ");
            }
        }
    }

    fn raw(&mut self, m: u8, path_pick: &PathPick, body: &[u8]) {
        let ev = |h: &Self, i: u8| pick(&h.events, i).map(|e| e.id.clone()).unwrap_or_default();
        let path = match path_pick {
            PathPick::Fixed(i) => [
                "/notify/session",
                "/notify/event/new",
                "/notify/event/data/allbypid",
                "/notify/register/init",
                "/notify/subscribers/list",
                "/notify/subscribers/delete",
                "/checkin",
                "/notify",
                "/notify/",
                "/notify/event/check/",
            ][usize::from(*i) % 10]
                .to_owned(),
            PathPick::Check(i) => format!("/notify/event/check/{}", ev(self, *i)),
            PathPick::Event(i) => format!("/notify/event/{}", ev(self, *i)),
            PathPick::Data(i, p) => format!(
                "/notify/event/data/{}/{}",
                ev(self, *i),
                pick(&self.phones, *p)
                    .map(|p| p.pairing.pidx())
                    .unwrap_or_default()
            ),
            PathPick::Link(i) => pick(&self.links, *i).cloned().unwrap_or_default(),
            PathPick::Register(i, check) => format!(
                "/notify/register/{}/{}",
                if *check { "check" } else { "finalise" },
                pick(&self.rids, *i).cloned().unwrap_or_default()
            ),
            PathPick::Text(t) => t.clone(),
        };
        let r = self.call(method(m), &path, body);
        // A phone's DELETE needs no MAC, and a client's cancel none either: the model follows.
        if r.status == 200 && method(m) == Method::Delete {
            let ei =
                |i: &u8| (!self.events.is_empty()).then(|| usize::from(*i) % self.events.len());
            match path_pick {
                PathPick::Data(i, _) => {
                    if let Some(ev) = ei(i).and_then(|i| self.events.get_mut(i)) {
                        assert!(ev.decided.is_none(), "a second answer was accepted");
                        ev.decided = Some(None);
                    }
                }
                PathPick::Event(i) => {
                    if let Some(ev) = ei(i).and_then(|i| self.events.get_mut(i)) {
                        ev.cancelled = true;
                    }
                }
                _ => {}
            }
        }
    }

    fn mutate(&mut self, which: u8, at: u16, xor: u8) {
        let Some((m, path, mut body)) = pick(&self.recorded, which).cloned() else {
            return;
        };
        if !body.is_empty() {
            let i = usize::from(at) % body.len();
            body[i] ^= xor;
        }
        self.call(m, &path, &body);
    }
}

/// Plays `ops` against a fresh broker, checking the invariants after every call.
pub fn run(ops: &[Op]) {
    let mut h = Harness::new();
    for op in ops.iter().take(64) {
        match op {
            Op::Advance(s) => h.sim.now += u64::from(*s),
            Op::Register { accept, finalise } => h.register(*accept, *finalise),
            Op::Event { phones, iat_skew } => h.event(*phones, *iat_skew),
            Op::Answer {
                event,
                phone,
                approve,
            } => h.answer(*event, *phone, *approve),
            Op::Check(e) => h.check(*e),
            Op::Cancel(e) => h.cancel(*e),
            Op::Subscribers { delete } => h.subscribers(*delete),
            Op::Raw { method, path, body } => h.raw(*method, path, body),
            Op::Mutate { which, at, xor } => h.mutate(*which, *at, *xor),
        }
    }
}
