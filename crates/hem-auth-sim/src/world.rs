//! The world: one device, one notify broker, the user's keys, a seeded RNG and a clock.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use hem_auth_core::authenticator::{Event, UnverifiedPairingRequest, PERIODS};
use hem_auth_core::client::{self, LoginChallenge, UnverifiableAccessToken, VerifiedAuthreq};
use hem_auth_core::codec;
use hem_auth_core::device::{
    self, AuditChain, AuditKey, AuditLine, Device, DeviceConfig, DeviceError, Effect, Outcome,
    Requirement, Subject,
};
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::keys::SecretKey;
use hem_auth_core::notify::{Method, NotifyBroker, NotifyConfig, NotifyEvent, Request, Response};
use hem_auth_core::{Access, Seconds, UnixTime};
use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::{rng, Phone, SimError, START};

/// The notify broker's base URL: the prefix of its registration links.
pub const NOTIFY_BASE: &str = "http://hem.local:8080";
/// The client's (the Manager's) address as the broker sees it.
pub const CLIENT_PEER: &str = "192.0.2.1";
/// The phones' address as the broker sees it.
pub const PHONE_PEER: &str = "198.51.100.7";
/// The `ctx` of [`World::ext_login`]'s requests.
pub const EXT_LOGIN_CTX: &str = "sim";
/// The lifetime the client asks for in [`World::login`]'s eJWT, in seconds.
pub const LOGIN_LIFETIME_SECS: u64 = 3600;
/// Mixed into the seed for the logger key's own RNG stream.
const LOGGER_KEY_STREAM: u64 = 0x6c6f_6767_6572;
/// The push token the simulated phones send.
pub const FID: &str = "fcm-token";

/// The device's answer to one request: what an HTTP client sees (status and body; the
/// device's errors have an empty body). The response's effects are applied by
/// [`World::device_call`] before it returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceReply {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body (empty on an error).
    pub body: String,
}

impl DeviceReply {
    /// The body when the status is 200, else [`SimError::Refused`] naming `path`.
    pub fn into_result(self, path: &str) -> Result<String, SimError> {
        if self.status == 200 {
            Ok(self.body)
        } else {
            Err(SimError::Refused {
                path: path.to_string(),
                status: self.status,
            })
        }
    }
}

/// The secret keys a [`World`] holds beside its device, for [`World::from_device`]: the
/// device's identity key and the keys its configuration names by their public halves.
pub struct Keys {
    /// The device's identity key (`eid_prv`).
    pub identity: SecretKey,
    /// The user's key (password-login role `U`).
    pub user: SecretKey,
    /// The master key (role `M`).
    pub master: SecretKey,
    /// The backend's check-in key (the notify broker's).
    pub backend: SecretKey,
}

/// Everything in one place: the device, the notify broker, the user's (and master's and
/// backend's) keys, the audit log and the clock. Fields are public: a test may reach in
/// (reboot the device, bend a body) and go on with the world.
pub struct World {
    /// The device.
    pub device: Device,
    /// The notify broker (api.encedo.com), with [`World::backend`] as its check-in backend.
    pub broker: NotifyBroker,
    /// The one RNG every role draws from.
    pub rng: ChaCha20Rng,
    /// Simulated time, unix seconds.
    pub now: u64,
    /// The device's identity key (`eid_prv`).
    pub identity: SecretKey,
    /// The user's key (password-login role `U`).
    pub user: SecretKey,
    /// The master key (role `M`).
    pub master: SecretKey,
    /// The backend's check-in key.
    pub backend: SecretKey,
    /// Every audit line the device emitted (through [`World::device_call`] and
    /// [`World::record`]), in order, the key line (counter 0) first: what the emulator stores.
    pub log: Vec<AuditLine>,
}

impl World {
    /// A world from `seed` with the default device configuration: see [`World::with`].
    pub fn new(seed: u64) -> Self {
        Self::with(seed, |_| {})
    }

    /// A world from `seed`: the keys are drawn in the order backend, user, master, identity;
    /// the device knows the user, master and backend keys and is labelled "Alice's HEM", then
    /// `adjust` edits its configuration. The clock reads [`START`]; the device's RTC is unset
    /// ([`World::set_clock`] or [`World::checkin`] sets it).
    pub fn with(seed: u64, adjust: impl FnOnce(&mut DeviceConfig)) -> Self {
        let mut rng = rng(seed);
        let backend = SecretKey::generate(&mut rng);
        let user = SecretKey::generate(&mut rng);
        let master = SecretKey::generate(&mut rng);
        let identity = SecretKey::generate(&mut rng);
        let broker = NotifyBroker::new(NotifyConfig::with_backend(backend.clone()));
        let mut config = DeviceConfig::new(identity.clone());
        config.user_key = Some(user.public_key());
        config.master_key = Some(master.public_key());
        config.backend_key = Some(backend.public_key());
        config.label = "Alice's HEM".into();
        adjust(&mut config);
        let mut device = Device::new(config, &mut rng);
        // The logger key comes from its own stream, so that the world's RNG draws stay those
        // of a world without audit lines.
        let mut key = Zeroizing::new([0u8; 32]);
        crate::rng(seed ^ LOGGER_KEY_STREAM).fill_bytes(&mut *key);
        let key = AuditKey::new(key);
        let key_line = AuditLine {
            counter: 0,
            kind: None,
            text: key.key_line(UnixTime::from_secs(START)),
        };
        device.set_audit_chain(AuditChain::new(key, 1));
        World {
            device,
            broker,
            rng,
            now: START,
            identity,
            user,
            master,
            backend,
            log: alloc::vec![key_line],
        }
    }

    /// A world around a device built elsewhere (a fixture restored from a snapshot with fixed
    /// per-boot keys, say), for harnesses that must not draw keys per run: the notify broker
    /// gets `keys.backend` as its check-in backend, the RNG is [`crate::rng`]`(seed)`, the
    /// clock reads [`START`] and the log is empty. Nothing is drawn from the RNG here, and
    /// nothing is checked: `keys.identity` must be the device's identity key and the other
    /// keys those its configuration names, or the world's flows fail. A device without an
    /// audit chain draws its logger key from the RNG at its first event, and
    /// [`World::device_call`] stores the key line like any other.
    ///
    /// ```
    /// use hem_auth_core::device::{Device, DeviceConfig};
    /// use hem_auth_core::keys::SecretKey;
    /// use hem_auth_sim::{Keys, World};
    ///
    /// let key = |b: u8| SecretKey::from_bytes([b; 32]);
    /// let mut config = DeviceConfig::new(key(1));
    /// config.user_key = Some(key(2).public_key());
    /// let device = Device::new(config, &mut hem_auth_sim::rng(9));
    /// let keys = Keys { identity: key(1), user: key(2), master: key(3), backend: key(4) };
    /// let mut w = World::from_device(device, keys, 5);
    /// w.set_clock();
    /// assert!(w.login("system:config").is_ok());
    /// assert_eq!(w.log.first().map(|l| l.counter), Some(0)); // the drawn key line
    /// ```
    pub fn from_device(device: Device, keys: Keys, seed: u64) -> Self {
        let Keys {
            identity,
            user,
            master,
            backend,
        } = keys;
        World {
            device,
            broker: NotifyBroker::new(NotifyConfig::with_backend(backend.clone())),
            rng: rng(seed),
            now: START,
            identity,
            user,
            master,
            backend,
            log: Vec::new(),
        }
    }

    /// Lets simulated time pass.
    pub fn advance(&mut self, secs: u64) {
        self.now += secs;
    }

    /// [`World::now`] as the core takes it.
    pub fn time(&self) -> UnixTime {
        UnixTime::from_secs(self.now)
    }

    /// For a typed method called directly (not through [`World::device_call`]): stores the
    /// outcome's audit lines in [`World::log`], made by the device's chain as
    /// [`Device::handle`] makes them, and returns its result, as an adapter would.
    pub fn record<T>(&mut self, outcome: Outcome<T>) -> Result<T, DeviceError> {
        let (result, events) = outcome.into_parts();
        let lines = self.device.audit_lines(&events, self.time(), &mut self.rng);
        self.log.extend(lines);
        result
    }

    /// Stores the lines of every open failed-scope window (spec §11.3) in [`World::log`], as
    /// the emulator does when it stops.
    pub fn flush_audit(&mut self) {
        let lines = self.device.flush_audit();
        self.log.extend(lines);
    }

    /// The emulator's set-clock: the device's RTC reads [`World::now`].
    pub fn set_clock(&mut self) {
        let out = self.device.set_clock(self.time());
        // Setting the clock cannot be refused; its audit event is kept.
        let _ = self.record(out);
    }

    /// One request to the device, as its HTTP API receives it, answered by the core's
    /// [`Device::handle`]: `bearer` is the token of the `Authorization` header. Every device
    /// call of the world's flows goes through here, so this one function is where the world
    /// meets the device's HTTP behaviour. The response's effects are applied as the emulator
    /// applies them: audit lines go to [`World::log`], a check-in's time becomes
    /// [`World::now`], a `logger/list` body is completed from the log; the world keeps no
    /// store, so a state change needs nothing.
    pub fn device_call(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: &[u8],
    ) -> DeviceReply {
        let header = bearer.map(|token| format!("Bearer {token}"));
        let request = device::Request::new(method, path)
            .authorization(header.as_deref())
            .body(body);
        let response = self.device.handle(&request, self.time(), &mut self.rng);
        let mut body = response.body;
        for effect in response.effects {
            match effect {
                Effect::Audit(line) => self.log.push(line),
                Effect::ClockSet(time) => self.now = time.as_secs(),
                Effect::ReadLog { from, count } => body = self.log_page(from, count),
                // No store to save to; a newer core's follow-up: nothing to do.
                _ => {}
            }
        }
        DeviceReply {
            status: response.status,
            body,
        }
    }

    /// [`World::device_call`]'s body, or [`SimError::Refused`] with the device's status.
    pub fn device_json(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: &[u8],
    ) -> Result<String, SimError> {
        self.device_call(method, path, bearer, body)
            .into_result(path)
    }

    /// The `logger/list` page from counter `from`, at most `count` event lines: the key line
    /// first, as the emulator's log answers (spec §11.4).
    fn log_page(&self, from: u64, count: usize) -> String {
        let key = self.log.iter().find(|l| l.counter == 0);
        let events: Vec<&AuditLine> = self.log.iter().filter(|l| l.counter > 0).collect();
        let listed: Vec<&str> = key
            .into_iter()
            .chain(
                events
                    .iter()
                    .copied()
                    .filter(|l| l.counter >= from)
                    .take(count),
            )
            .map(|l| l.text.as_str())
            .collect();
        let last = events
            .iter()
            .filter(|l| l.counter >= from)
            .take(count)
            .last()
            .map(|l| l.counter);
        let next =
            last.and_then(|last| events.iter().any(|l| l.counter > last).then_some(last + 1));
        let total = u64::try_from(events.len()).unwrap_or(u64::MAX) + u64::from(key.is_some());
        device::logger_list_body(total, &listed, next)
    }

    /// The bearer check of an endpoint: whether `token` meets `need` now.
    pub fn authorize(
        &mut self,
        token: &UnverifiableAccessToken,
        need: &Requirement<'_>,
    ) -> Result<Subject, DeviceError> {
        let out = self
            .device
            .authorize(Some(token.token()), need, self.time());
        self.record(out).map(|a| a.subject)
    }

    /// One request to the notify broker from `peer`.
    pub fn notify_call(&mut self, method: Method, path: &str, body: &str, peer: &str) -> Response {
        self.notify_call_bytes(method, path, body.as_bytes(), peer)
    }

    /// A notify-broker request from the client ([`CLIENT_PEER`]).
    pub fn client_call(&mut self, method: Method, path: &str, body: &str) -> Response {
        self.notify_call(method, path, body, CLIENT_PEER)
    }

    /// A notify-broker request from a phone ([`PHONE_PEER`]).
    pub fn phone_call(&mut self, method: Method, path: &str, body: &str) -> Response {
        self.notify_call(method, path, body, PHONE_PEER)
    }

    /// A broker answer with status 200, else [`SimError::Notify`].
    fn notify_ok(
        &mut self,
        method: Method,
        path: &str,
        body: &str,
        peer: &str,
    ) -> Result<Response, SimError> {
        let r = self.notify_call(method, path, body, peer);
        if r.status == 200 {
            Ok(r)
        } else {
            Err(SimError::Notify {
                path: path.to_string(),
                status: r.status,
                body: r.body,
            })
        }
    }

    /// Check-in through the broker's backend: device `GET checkin` → broker `POST /checkin`
    /// → device `POST checkin`. The device's RTC, and [`World::now`] with it, are set to the
    /// broker's time, which is returned.
    pub fn checkin(&mut self) -> Result<u64, SimError> {
        let check = self.device_json(Method::Get, "/api/system/checkin", None, b"")?;
        let r = self.notify_ok(Method::Post, "/checkin", &check, CLIENT_PEER)?;
        self.device_json(Method::Post, "/api/system/checkin", None, r.body.as_bytes())?;
        Ok(self.now)
    }

    /// Password login with the user key: see [`World::login_as`].
    pub fn login(&mut self, scope: &str) -> Result<UnverifiableAccessToken, SimError> {
        let user = self.user.clone();
        self.login_as(&user, scope)
    }

    /// Password login (spec §7) with `key`, the password-derived key of role U or M:
    /// challenge, eJWT valid for [`LOGIN_LIFETIME_SECS`], token.
    pub fn login_as(
        &mut self,
        key: &SecretKey,
        scope: &str,
    ) -> Result<UnverifiableAccessToken, SimError> {
        let challenge = self.device_json(Method::Get, "/api/auth/token", None, b"")?;
        let challenge = LoginChallenge::parse(challenge.as_bytes())?;
        let ejwt = client::build_login(
            key,
            &challenge,
            scope,
            self.time(),
            self.time() + Seconds::new(LOGIN_LIFETIME_SECS),
            None,
        )?;
        let body = client::login_body(&ejwt);
        let token = self.device_json(Method::Post, "/api/auth/token", None, body.as_bytes())?;
        Ok(UnverifiableAccessToken::from_response(token.as_bytes())?)
    }

    /// Pairs a new phone with the notify broker as a mere relay (spec §6): the client's own
    /// pairing session → `ext/init` → the phone reads the request and replies → the relay
    /// assigns a random pid → `ext/validate`, whose code the client checks.
    pub fn pair(
        &mut self,
        token: &UnverifiableAccessToken,
        label: &str,
    ) -> Result<Phone, SimError> {
        let eid = *self.device.eid();
        let (init_body, state) = client::start_pairing(Some(eid), &mut self.rng);
        let init = self.device_json(
            Method::Post,
            "/api/auth/ext/init",
            Some(token.token()),
            init_body.as_bytes(),
        )?;
        let request = state.verify_init_response(init.as_bytes(), self.time())?;
        let seen = UnverifiedPairingRequest::parse(request.request())?;
        let answered = Phone::answer(&seen, label, FID, &mut self.rng)?;
        let mut pid = [0u8; 32];
        self.rng.fill_bytes(&mut pid);
        let pid = codec::encode_std(&pid);
        let body = state.validate_body(&pid, &answered.reply.reply);
        let validated = self.device_json(
            Method::Post,
            "/api/auth/ext/validate",
            Some(token.token()),
            body.as_bytes(),
        )?;
        let kid = state.verify_validate_response(
            &request.eid(),
            &answered.reply.reply,
            validated.as_bytes(),
        )?;
        let phone = answered.paired(&pid)?;
        if kid != phone.kid {
            return Err(SimError::Unexpected("the device's kid is not the phone's"));
        }
        Ok(phone)
    }

    /// External-authenticator login (spec §5) approved by `phone` for [`PERIODS`]`[0]`,
    /// with `access` for storage, the notify broker a mere relay: the client's session
    /// → `ext/request` → the client verifies the authreq and `check`s it with the scope the
    /// phone opened → the phone approves → `ext/token`. Time passes as on a real login (3 s to
    /// the phone, 7 s to decide, 1 s back). A phone the authreq has no entry for gives
    /// [`DeviceError::UnknownPairing`].
    pub fn ext_login(
        &mut self,
        phone: &Phone,
        scope: &str,
        access: Access,
        check: impl FnOnce(&VerifiedAuthreq<'_>, &str),
    ) -> Result<UnverifiableAccessToken, SimError> {
        let (request_body, state) = client::start_ext_auth(
            scope,
            Some(EXT_LOGIN_CTX),
            None,
            Some(*self.device.eid()),
            &mut self.rng,
        )?;
        let response = self.device_json(
            Method::Post,
            "/api/auth/ext/request",
            None,
            request_body.as_bytes(),
        )?;
        let authreq = state.authreq_from_response(response.as_bytes())?;
        let untrusted = UntrustedJwt::parse(&authreq)?;
        let verified = state.verify_authreq(&untrusted, self.time())?;

        // the relay turns this phone's entry into its event
        let entry = verified
            .entry(phone.pid())
            .ok_or(SimError::Device(DeviceError::UnknownPairing))?;
        let epk = state.epk().to_b64();
        let event = Event {
            jti: Cow::Borrowed(verified.jti()),
            scope: Cow::Borrowed(entry),
            epk: Cow::Borrowed(&epk),
            exp: verified.exp().as_secs(),
        };
        self.advance(3);
        let opened = phone.pairing.open_event(&event, self.time())?;
        check(&verified, opened.scope());
        self.advance(7);
        let approval = opened.approve(self.time(), PERIODS[0], access)?;

        // the client polls, gets {authreply}, and forwards it to the device
        self.advance(1);
        let body = state.ext_token_body(&approval.authreply);
        let token = self.device_json(Method::Post, "/api/auth/ext/token", None, body.as_bytes())?;
        Ok(state.finish(token.as_bytes())?)
    }

    /// `DELETE /api/keymgmt/delete/<kid>`: unpairs `kid` (spec §6.7).
    pub fn unpair(&mut self, token: &UnverifiableAccessToken, kid: &str) -> Result<(), SimError> {
        let path = format!("/api/keymgmt/delete/{kid}");
        self.device_json(Method::Delete, &path, Some(token.token()), b"")
            .map(|_| ())
    }

    /// `POST /notify/session {eid}` from the client: the body, verbatim.
    pub fn eid_session(&mut self) -> Result<String, SimError> {
        let eid = self.device.eid().to_b64();
        let body = json!({ "eid": eid }).to_string();
        Ok(self
            .notify_ok(Method::Post, "/notify/session", &body, CLIENT_PEER)?
            .body)
    }

    /// Pairs a new phone through the notify broker (spec §6, §12): session {eid} → `ext/init`
    /// → `register/init` → the phone GETs and POSTs the link → `register/check` →
    /// `ext/validate` (the check body verbatim) → `register/finalise` (the validate body
    /// verbatim). 3 s pass before the phone scans, 4 s before the client polls.
    pub fn pair_via_broker(
        &mut self,
        token: &UnverifiableAccessToken,
        label: &str,
    ) -> Result<Phone, SimError> {
        let session = self.eid_session()?;
        let init = self.device_json(
            Method::Post,
            "/api/auth/ext/init",
            Some(token.token()),
            session.as_bytes(),
        )?;
        let init = parse(&init)?;
        let body =
            json!({"epk": parse(&session)?["epk"], "eid": init["eid"], "request": init["request"]});
        let r = self.notify_ok(
            Method::Post,
            "/notify/register/init",
            &body.to_string(),
            CLIENT_PEER,
        )?;
        let rid = json_str(&r.body, "rid")?;
        let [NotifyEvent::LinkRegistered { link, .. }] = r.events.as_slice() else {
            return Err(SimError::Unexpected(
                "register/init without one LinkRegistered",
            ));
        };
        let link_path = link
            .strip_prefix(NOTIFY_BASE)
            .ok_or(SimError::Unexpected("a link outside the broker"))?
            .to_string();

        // the phone scans the QR code
        self.advance(3);
        let r = self.notify_ok(Method::Get, &link_path, "", PHONE_PEER)?;
        let request = json_str(&r.body, "request")?;
        let seen = UnverifiedPairingRequest::parse(&request)?;
        if seen.eid() != self.device.eid() {
            return Err(SimError::Unexpected("the request names another device"));
        }
        let answered = Phone::answer(&seen, label, FID, &mut self.rng)?;
        let body = answered.reply.post_body(FID);
        let r = self.notify_ok(Method::Post, &link_path, &body, PHONE_PEER)?;
        let pid = json_str(&r.body, "pid")?;

        // the client polls, then forwards
        self.advance(4);
        let check = self.notify_ok(
            Method::Get,
            &format!("/notify/register/check/{rid}"),
            "",
            CLIENT_PEER,
        )?;
        let validated = self.device_json(
            Method::Post,
            "/api/auth/ext/validate",
            Some(token.token()),
            check.body.as_bytes(),
        )?;
        let r = self.notify_ok(
            Method::Post,
            &format!("/notify/register/finalise/{rid}"),
            &validated,
            CLIENT_PEER,
        )?;
        if r.events != [NotifyEvent::SubscribersChanged] {
            return Err(SimError::Unexpected("finalise without SubscribersChanged"));
        }
        let phone = answered.paired(&pid)?;
        if json_str(&validated, "kid")? != phone.kid {
            return Err(SimError::Unexpected("the device's kid is not the phone's"));
        }
        Ok(phone)
    }

    /// A remote login through the broker: `GET /notify/session` → `ext/request` (the whole
    /// session object plus `scope`) → `event/new` (the device's answer verbatim). Returns the
    /// event id.
    pub fn start_remote_login(&mut self, scope: &str) -> Result<String, SimError> {
        let r = self.notify_ok(Method::Get, "/notify/session", "", CLIENT_PEER)?;
        let mut session = parse(&r.body)?;
        session["scope"] = json!(scope);
        let authreq = self.device_json(
            Method::Post,
            "/api/auth/ext/request",
            None,
            session.to_string().as_bytes(),
        )?;
        let r = self.notify_ok(Method::Post, "/notify/event/new", &authreq, CLIENT_PEER)?;
        json_str(&r.body, "eventid")
    }

    /// The phone lists its events (`allbypid`), finds `eventid` among them, and fetches it:
    /// the event's body.
    pub fn phone_fetch(&mut self, phone: &Phone, eventid: &str) -> Result<String, SimError> {
        let asked = json!({"pid": [phone.pid()]}).to_string();
        let r = self.notify_ok(
            Method::Post,
            "/notify/event/data/allbypid",
            &asked,
            PHONE_PEER,
        )?;
        if parse(&r.body)?["eventid"][eventid] != json!([phone.pid()]) {
            return Err(SimError::Unexpected(
                "the event is not listed for the phone",
            ));
        }
        let r = self.notify_ok(Method::Get, &event_path(eventid, phone), "", PHONE_PEER)?;
        Ok(r.body)
    }
}

/// The phone's path of one event: `/notify/event/data/<eventid>/<pidx>`.
pub fn event_path(eventid: &str, phone: &Phone) -> String {
    format!("/notify/event/data/{eventid}/{}", phone.pairing.pidx())
}

fn parse(body: &str) -> Result<Value, SimError> {
    serde_json::from_str(body).map_err(|_| SimError::Unexpected("a body that is not JSON"))
}

fn json_str(body: &str, key: &'static str) -> Result<String, SimError> {
    parse(body)?[key]
        .as_str()
        .map(String::from)
        .ok_or(SimError::Unexpected("a string member is missing"))
}

impl World {
    /// [`World::notify_call`] with a body of any bytes, not only UTF-8 text: for the tests
    /// and fuzz targets that send the broker what no client would (spec §12).
    pub fn notify_call_bytes(
        &mut self,
        method: Method,
        path: &str,
        body: &[u8],
        peer: &str,
    ) -> Response {
        let request = Request {
            method,
            path,
            body,
            peer,
            base_url: NOTIFY_BASE,
        };
        self.broker.handle(&request, self.time(), &mut self.rng)
    }
}

impl World {
    /// An authreq for the session `epk`, signed with the device's identity key the way
    /// `ext/request` signs one, with `scope` sealed for each of `phones` — but made here, not
    /// by the device, so that a broker test or fuzz target can give it any `iat` and `exp`
    /// (a skewed clock, an expired request) without the device's own rules. Returns the JWT
    /// and its `jti` (standard base64). `None` only when a phone's key is low-order or a scope
    /// is too long to seal.
    pub fn authreq_from_identity(
        &mut self,
        epk: &hem_auth_core::keys::PublicKey,
        phones: &[&Phone],
        scope: &str,
        iat: UnixTime,
        exp: UnixTime,
    ) -> Option<(String, String)> {
        use hem_auth_core::claims::{AuthreqClaims, ScopeMap};
        use hem_auth_core::nonce::TimeNonce;
        use hem_auth_core::seal::ScopeKey;

        let jti = TimeNonce::generate(iat, &mut self.rng);
        let mut map = ScopeMap::new();
        for phone in phones {
            let s1 = self.identity.diffie_hellman(&phone.pairing.aid()).ok()?;
            let sealed = ScopeKey::derive(&s1, jti.as_bytes()).seal(scope).ok()?;
            map.push(
                Cow::Owned(String::from(phone.pairing.pid())),
                Cow::Owned(sealed),
            );
        }
        let (eid, epk_text) = (self.identity.public_key().to_b64(), epk.to_b64());
        let claims = AuthreqClaims {
            iss: Cow::Borrowed(&eid),
            aud: Cow::Borrowed(&epk_text),
            iat: iat.as_secs(),
            exp: exp.as_secs(),
            jti: Cow::Owned(jti.to_b64()),
            ctx: None,
            note: None,
            scope: map,
        };
        let key = self.identity.diffie_hellman(epk).ok()?;
        Some((
            hem_auth_core::msg::authreq::build(&claims, key.as_bytes()),
            jti.to_b64(),
        ))
    }
}
