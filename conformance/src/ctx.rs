//! State shared by the cases of one run: the target, the runner's keys as broker, user and
//! authenticators, the tokens it holds, and the flows every case builds on.

use hem_auth_core::{Access, Seconds, UnixTime};
use std::collections::HashMap;

use hem_auth_core::authenticator::{
    reply_to_pairing, Approval, AuthenticatorPairing, Event, UnverifiedPairingRequest,
};
use hem_auth_core::client::{self, ExtAuthState, LoginChallenge, PairingState};
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::keys::{PublicKey, SecretKey, SharedSecret};
use hem_auth_core::nonce::TimeNonce;
use hem_auth_core::seal::ScopeKey;
use serde_json::{json, Value};

use crate::case::Abort;
use crate::proto::{self, Decoded};
use crate::target::{Auth, Response, Target};

/// Lifetime asked for the user tokens the runner logs in for, in seconds.
pub const USER_TOKEN_SECS: u64 = 3600;
/// Approval period the runner's authenticator grants (the phone's default, 15 min).
pub const APPROVAL_SECS: u64 = hem_auth_core::authenticator::PERIODS[0].get();
/// The push token the runner's authenticators claim (the broker's MAC covers it; the device
/// never sees it).
const PUSH_TOKEN: &str = "hem-conformance";

/// What the runner knows about the target before it starts.
#[derive(Clone, Default)]
pub struct Settings {
    /// The user password (PBKDF2 login key, spec §7.2).
    pub password: Option<String>,
    /// The user's X25519 secret directly (skips the 600 000-round KDF; for tests).
    pub user_secret: Option<SecretKey>,
    /// The emulated check-in backend's private key (spec §9.5).
    pub backend_secret: Option<SecretKey>,
    /// Base URL of the target's control API (`hem-emulator --control`): the cases that need
    /// time advance the clock or reboot the device through it.
    pub control: Option<String>,
    /// Without a control API, let the cases that need time wait it out where that takes at
    /// most a minute or so (`--slow`).
    pub slow: bool,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("user_secret", &self.user_secret)
            .field("backend_secret", &self.backend_secret)
            .field("control", &self.control)
            .field("slow", &self.slow)
            .finish()
    }
}

/// An authenticator the runner paired with the device.
#[derive(Clone, Debug)]
pub struct Authenticator {
    /// The phone's private key.
    pub secret: SecretKey,
    /// Its public key.
    pub aid: PublicKey,
    /// The pairing id the (emulated) broker assigned.
    pub pid: String,
    /// The kid the device reported for the stored key.
    pub kid: String,
    /// The label sent in the reply.
    pub label: String,
}

impl Authenticator {
    /// The phone's view of this pairing (the core's authenticator role).
    pub fn pairing(&self, eid: PublicKey) -> Result<AuthenticatorPairing, Abort> {
        AuthenticatorPairing::new(&self.pid, eid, self.secret.clone())
            .map_err(|e| Abort::fail(format!("authenticator {}: {e}", self.label)))
    }
}

/// The login challenge of `GET /api/auth/token`.
#[derive(Clone, Debug)]
pub struct Challenge {
    /// The raw answer.
    pub response: Response,
    /// The parsed challenge (the core's broker role).
    pub parsed: LoginChallenge,
}

/// An authreq the device issued to the runner's broker session.
#[derive(Clone, Debug)]
pub struct Authreq {
    /// The broker session key the request was made with.
    pub epk_secret: SecretKey,
    /// The verified, decoded authreq.
    pub jwt: Decoded,
    /// `jti`.
    pub jti: String,
    /// `iat`.
    pub iat: u64,
    /// `exp`.
    pub exp: u64,
}

impl Authreq {
    /// The sealed entry for `pid`.
    pub fn entry(&self, pid: &str) -> Option<&str> {
        self.jwt
            .claims
            .get("scope")
            .and_then(|m| m.get(pid))
            .and_then(Value::as_str)
    }

    /// Number of entries in the scope map (one per pairing).
    pub fn entries(&self) -> usize {
        self.jwt
            .claims
            .get("scope")
            .and_then(Value::as_object)
            .map_or(0, |m| m.len())
    }
}

/// One run's shared state.
pub struct Ctx {
    /// The device under test.
    pub target: Target,
    settings: Settings,
    user: Option<SecretKey>,
    eid: Option<PublicKey>,
    tokens: HashMap<String, String>,
    ext_tokens: HashMap<String, String>,
    /// Authenticators paired by the run and not yet unpaired; the first is "A", the second "B".
    pub paired: Vec<Authenticator>,
    /// Device time minus host time, learnt from device nonces.
    skew: i64,
    /// Whether the device's RTC was seen unset at the start (learnt by the first status case).
    pub rtc_unset_at_start: Option<bool>,
    /// Whether the run set the device's clock by check-in.
    pub checked_in: bool,
    /// The notify broker of a `--via-broker` run.
    pub broker: Option<crate::via_broker::Broker>,
}

impl Ctx {
    /// A fresh context for `target`.
    pub fn new(target: Target, settings: Settings) -> Self {
        Ctx {
            target,
            settings,
            user: None,
            eid: None,
            tokens: HashMap::new(),
            ext_tokens: HashMap::new(),
            paired: Vec::new(),
            skew: 0,
            rtc_unset_at_start: None,
            checked_in: false,
            broker: None,
        }
    }

    /// The backend key, or a skip.
    pub fn backend_secret(&self) -> Result<SecretKey, Abort> {
        self.settings
            .backend_secret
            .clone()
            .ok_or_else(|| Abort::skip("no backend key given (--backend-key)"))
    }

    /// Whether `--slow` allows waiting out time on a target without a control API.
    pub fn slow(&self) -> bool {
        self.settings.slow
    }

    /// Whether the target has a control API.
    pub fn has_control(&self) -> bool {
        self.settings.control.is_some()
    }

    /// A client for the control API, or a skip saying the case is emulator-only.
    fn control(&self, what: &str) -> Result<Target, Abort> {
        let url = self.settings.control.as_deref().ok_or_else(|| {
            Abort::skip(format!(
                "emulator-only: {what} needs the target's control API (--control URL)"
            ))
        })?;
        Target::new(url, false).map_err(|e| Abort::fail(format!("control API {url}: {e}")))
    }

    /// `Ok` when the target has a control API, else a skip saying `what` is emulator-only.
    pub fn require_control(&self, what: &str) -> Result<(), Abort> {
        self.control(what).map(|_| ())
    }

    /// Moves the device clock `secs` ahead through the control API (a skip without one);
    /// the tokens the run holds are forgotten, since they may have expired.
    pub fn advance_clock(&mut self, secs: u64) -> Result<(), Abort> {
        let control = self.control(&format!("advancing the clock by {secs} s"))?;
        let r = control
            .post_json("/control/clock", &json!({ "advance": secs }), Auth::None)?
            .require("POST /control/clock", 200)?;
        let now = r.json("control clock")?["now"]
            .as_u64()
            .ok_or_else(|| Abort::fail("control clock answer has no `now`"))?;
        self.observe_device_time(now);
        self.forget_tokens();
        Ok(())
    }

    /// Reboots the device through the control API (a skip without one) and sets its clock
    /// again if the reboot left the RTC unset; the tokens the run holds are forgotten.
    pub fn reboot(&mut self) -> Result<(), Abort> {
        let control = self.control("a reboot")?;
        control
            .post("/control/reboot", b"{}", Auth::None)?
            .require("POST /control/reboot", 200)?;
        self.forget_tokens();
        let clock = control
            .get("/control/clock", Auth::None)?
            .require("GET /control/clock", 200)?
            .json("control clock")?;
        if clock["rtc_set"] != Value::Bool(true) {
            control
                .post_json(
                    "/control/clock",
                    &json!({ "set": self.device_now() }),
                    Auth::None,
                )?
                .require("POST /control/clock", 200)?;
        }
        Ok(())
    }

    /// Forgets the cached user and ext tokens (after a reboot or a clock jump).
    pub fn forget_tokens(&mut self) {
        self.tokens.clear();
        self.ext_tokens.clear();
    }

    /// The device's estimated clock, unix seconds.
    pub fn device_now(&self) -> u64 {
        proto::host_now().saturating_add_signed(self.skew)
    }

    /// Learns the device clock from a time it just stamped.
    pub fn observe_device_time(&mut self, t: u64) {
        self.skew = t as i64 - proto::host_now() as i64;
    }

    /// The device's eid (from the first challenge).
    pub fn eid(&mut self) -> Result<PublicKey, Abort> {
        match self.eid {
            Some(e) => Ok(e),
            None => Ok(self.challenge()?.parsed.eid()),
        }
    }

    /// `GET /api/auth/token`, required to answer 200 with a usable challenge.
    pub fn challenge(&mut self) -> Result<Challenge, Abort> {
        let r = self
            .target
            .get("/api/auth/token", Auth::None)?
            .require("GET /api/auth/token", 200)?;
        let parsed = LoginChallenge::parse(&r.body).map_err(|e| Abort::Fail {
            status: Some(r.status),
            detail: format!("challenge: {e}: {}", r.body_text()),
        })?;
        if let Ok(n) = TimeNonce::from_b64(parsed.jti()) {
            self.observe_device_time(u64::from(n.time()));
        }
        self.eid = Some(parsed.eid());
        Ok(Challenge {
            response: r,
            parsed,
        })
    }

    /// The user's login key: given directly, or derived from the password and the eid text.
    pub fn user_key(&mut self, eid_text: &str) -> Result<SecretKey, Abort> {
        if let Some(k) = &self.user {
            return Ok(k.clone());
        }
        let key = if let Some(k) = &self.settings.user_secret {
            k.clone()
        } else if let Some(p) = &self.settings.password {
            client::derive_user_key(p, eid_text)
        } else {
            return Err(Abort::skip(
                "no login secret: give --password (or a user key)",
            ));
        };
        self.user = Some(key.clone());
        Ok(key)
    }

    /// A signed eJWT answering a fresh challenge: `(challenge, eJWT)`.
    pub fn login_jwt(&mut self, scope: &str, exp: u64) -> Result<(Challenge, String), Abort> {
        let c = self.challenge()?;
        let user = self.user_key(c.parsed.eid_text())?;
        let now = self.device_now();
        let token = client::build_login(
            &user,
            &c.parsed,
            scope,
            UnixTime::from_secs(now),
            UnixTime::from_secs(exp),
            None,
        )
        .map_err(|e| Abort::fail(format!("building the eJWT for {scope}: {e}")))?;
        Ok((c, token))
    }

    /// Posts an eJWT to `POST /api/auth/token`.
    pub fn post_login(&self, ejwt: &str) -> Result<Response, Abort> {
        self.target.post(
            "/api/auth/token",
            client::login_body(ejwt).as_bytes(),
            Auth::None,
        )
    }

    /// Logs in for `scope` with a token living until `exp`; required to succeed.
    pub fn login(&mut self, scope: &str, exp: u64) -> Result<String, Abort> {
        let (_, ejwt) = self.login_jwt(scope, exp)?;
        self.post_login(&ejwt)?
            .require(&format!("login for {scope}"), 200)?
            .field("login", "token")
    }

    /// A user token for `scope` (logged in once per run and cached).
    pub fn token(&mut self, scope: &str) -> Result<String, Abort> {
        if let Some(t) = self.tokens.get(scope) {
            return Ok(t.clone());
        }
        let exp = self.device_now() + USER_TOKEN_SECS;
        let t = self.login(scope, exp)?;
        self.tokens.insert(scope.to_string(), t.clone());
        Ok(t)
    }

    /// Keeps a token for `scope` that a case obtained itself, for later cases.
    pub fn remember_token(&mut self, scope: &str, token: &str) {
        self.tokens.insert(scope.to_string(), token.to_string());
    }

    /// `POST /api/auth/ext/init` with a fresh broker session (the core's broker role); the
    /// answer is required to be 200 and to verify. Returns the session and the pairing
    /// request, decoded.
    pub fn ext_init(&mut self, token: &str) -> Result<(PairingState, Decoded), Abort> {
        let eid = self.eid()?;
        let (body, state) = client::start_pairing(Some(eid), &mut rand_core::OsRng);
        let r = self
            .target
            .post("/api/auth/ext/init", body.as_bytes(), Auth::Bearer(token))?
            .require("ext/init", 200)?;
        let request = state
            .verify_init_response(&r.body, UnixTime::from_secs(self.device_now()))
            .map_err(|e| Abort::Fail {
                status: Some(200),
                detail: format!("ext/init answer does not verify: {e}"),
            })?;
        let decoded = proto::decode(request.request()).map_err(Abort::fail)?;
        Ok((state, decoded))
    }

    /// A pairing reply to `request` from a new authenticator key: `(aid secret, reply)`.
    pub fn reply_for(
        &mut self,
        request: &Decoded,
        label: &str,
    ) -> Result<(SecretKey, String), Abort> {
        let aid = proto::fresh_key();
        let reply = self.reply_with(&aid, request, label)?;
        Ok((aid, reply))
    }

    /// The reply of the authenticator key `aid` to `request` (the core's authenticator role).
    pub fn reply_with(
        &mut self,
        aid: &SecretKey,
        request: &Decoded,
        label: &str,
    ) -> Result<String, Abort> {
        let unverified = UnverifiedPairingRequest::parse(&request.token)
            .map_err(|e| Abort::fail(format!("reading the pairing request: {e}")))?;
        let answer = reply_to_pairing(aid, &unverified, label, PUSH_TOKEN)
            .map_err(|e| Abort::fail(format!("replying to the pairing request: {e}")))?;
        Ok(answer.reply)
    }

    /// `POST /api/auth/ext/validate {pid, reply}` with `token`.
    pub fn post_validate(&self, token: &str, pid: &str, reply: &str) -> Result<Response, Abort> {
        self.target.post_json(
            "/api/auth/ext/validate",
            &json!({ "pid": pid, "reply": reply }),
            Auth::Bearer(token),
        )
    }

    /// Pairs a new authenticator end to end (init, reply, validate, code check); required
    /// to succeed.
    pub fn pair(&mut self, label: &str) -> Result<Authenticator, Abort> {
        let token = self.token("auth:ext:pair")?;
        let eid = self.eid()?;
        let (state, request) = self.ext_init(&token)?;
        let (secret, reply) = self.reply_for(&request, label)?;
        let pid = proto::random_b64_32();
        let r = self
            .target
            .post(
                "/api/auth/ext/validate",
                state.validate_body(&pid, &reply).as_bytes(),
                Auth::Bearer(&token),
            )?
            .require("ext/validate", 200)?;
        let kid = state
            .verify_validate_response(&eid, &reply, &r.body)
            .map_err(|e| Abort::Fail {
                status: Some(200),
                detail: format!("ext/validate answer: {e}"),
            })?;
        Ok(Authenticator {
            aid: secret.public_key(),
            secret,
            pid,
            kid,
            label: label.to_string(),
        })
    }

    /// Unpairs `kid` with `DELETE /api/keymgmt/delete/{kid}`; required to succeed.
    pub fn unpair(&mut self, kid: &str) -> Result<(), Abort> {
        let token = self.token("keymgmt:del")?;
        self.target
            .delete(&format!("/api/keymgmt/delete/{kid}"), Auth::Bearer(&token))?
            .require(&format!("unpair {kid}"), 200)?;
        self.paired.retain(|a| a.kid != kid);
        Ok(())
    }

    /// Authenticator "A" (the first paired), or a failure naming the missing prerequisite.
    pub fn authenticator(&self, index: usize) -> Result<Authenticator, Abort> {
        self.paired
            .get(index)
            .cloned()
            .ok_or_else(|| Abort::fail(format!("no paired authenticator #{index}")))
    }

    /// `POST /api/auth/ext/request` with a fresh broker key and `extra` body members.
    pub fn post_ext_request(
        &self,
        epk: &SecretKey,
        scope: &str,
        extra: &[(&str, Value)],
    ) -> Result<Response, Abort> {
        let mut body = json!({ "epk": epk.public_key().to_b64(), "scope": scope });
        for (k, v) in extra {
            body[*k] = v.clone();
        }
        self.target
            .post_json("/api/auth/ext/request", &body, Auth::None)
    }

    /// A fresh authreq for `scope`, verified with X25519(epk, eid); required to succeed.
    pub fn authreq(&mut self, scope: &str) -> Result<Authreq, Abort> {
        let eid = self.eid()?;
        let epk = proto::fresh_key();
        let r = self
            .post_ext_request(&epk, scope, &[])?
            .require("ext/request", 200)?;
        let authreq =
            read_authreq(epk, eid, &r.body, self.device_now()).map_err(|e| Abort::Fail {
                status: Some(200),
                detail: format!("ext/request answer does not verify: {e}"),
            })?;
        self.observe_device_time(authreq.iat);
        Ok(authreq)
    }

    /// The pairing secret S1 of authenticator `a` with the device.
    pub fn s1(&mut self, a: &Authenticator) -> Result<SharedSecret, Abort> {
        let eid = self.eid()?;
        proto::shared(&a.secret, &eid).map_err(Abort::fail)
    }

    /// The scope key K of `a` for `authreq`.
    pub fn scope_key(&mut self, a: &Authenticator, authreq: &Authreq) -> Result<ScopeKey, Abort> {
        let s1 = self.s1(a)?;
        let jti = TimeNonce::from_b64(&authreq.jti)
            .map_err(|e| Abort::fail(format!("authreq jti: {e}")))?;
        Ok(ScopeKey::derive(&s1, jti.as_bytes()))
    }

    /// The broker event for `a` of `authreq`, as the notify broker would hand it to the phone.
    fn event<'e>(&self, a: &Authenticator, authreq: &'e Authreq) -> Result<Event<'e>, Abort> {
        let sealed = authreq
            .entry(&a.pid)
            .ok_or_else(|| Abort::fail(format!("authreq has no entry for pid {}", a.pid)))?;
        let epk = authreq
            .jwt
            .str("aud")
            .ok_or_else(|| Abort::fail("authreq has no aud"))?;
        Ok(Event {
            jti: authreq.jti.as_str().into(),
            scope: sealed.into(),
            epk: epk.into(),
            exp: authreq.exp,
        })
    }

    /// Opens `a`'s entry of `authreq` as the phone does (the core's authenticator role).
    pub fn open_entry(&mut self, a: &Authenticator, authreq: &Authreq) -> Result<String, Abort> {
        let pairing = a.pairing(self.eid()?)?;
        let event = self.event(a, authreq)?;
        let opened = pairing
            .open_event(&event, UnixTime::from_secs(self.device_now()))
            .map_err(|e| Abort::fail(format!("opening the authreq entry: {e}")))?;
        Ok(opened.scope().to_string())
    }

    /// `a`'s approval of `authreq` as the phone app makes it (the core's authenticator role):
    /// the requested scope, write access for storage when `writable`, valid 15 minutes.
    pub fn phone_approval(
        &mut self,
        a: &Authenticator,
        authreq: &Authreq,
        writable: bool,
    ) -> Result<Approval, Abort> {
        let pairing = a.pairing(self.eid()?)?;
        let event = self.event(a, authreq)?;
        let now = self.device_now();
        pairing
            .open_event(&event, UnixTime::from_secs(now))
            .and_then(|opened| {
                opened.approve(
                    UnixTime::from_secs(now),
                    Seconds::new(APPROVAL_SECS),
                    Access::from_writable(writable),
                )
            })
            .map_err(|e| Abort::fail(format!("approving as the phone: {e}")))
    }

    /// An approval by `a` of `authreq` granting `granted` (any text) until `exp` (any value):
    /// what a non-conforming or hostile phone could send.
    pub fn approve(
        &mut self,
        a: &Authenticator,
        authreq: &Authreq,
        granted: &str,
        exp: u64,
    ) -> Result<String, Abort> {
        let eid = self.eid()?;
        let s1 = self.s1(a)?;
        let sealed = self
            .scope_key(a, authreq)?
            .seal(granted)
            .map_err(|e| Abort::fail(format!("sealing: {e}")))?;
        Ok(proto::authreply(
            &s1,
            &eid,
            &authreq.jti,
            exp,
            self.device_now(),
            &a.pid,
            &a.aid,
            &sealed,
        ))
    }

    /// `POST /api/auth/ext/token {authreply}`.
    pub fn post_ext_token(&self, authreply: &str) -> Result<Response, Abort> {
        self.target.post_json(
            "/api/auth/ext/token",
            &json!({ "authreply": authreply }),
            Auth::None,
        )
    }

    /// A complete external login through authenticator `index` approving `scope` as asked;
    /// required to succeed. Returns the access token.
    pub fn ext_login(&mut self, index: usize, scope: &str) -> Result<String, Abort> {
        let a = self.authenticator(index)?;
        let authreq = self.authreq(scope)?;
        let approval = self.phone_approval(&a, &authreq, false)?;
        self.post_ext_token(&approval.authreply)?
            .require(&format!("ext/token for {scope}"), 200)?
            .field("ext/token", "token")
    }

    /// An ext token for `scope` approved by authenticator A (obtained once per run and cached).
    pub fn ext_token(&mut self, scope: &str) -> Result<String, Abort> {
        if let Some(t) = self.ext_tokens.get(scope) {
            return Ok(t.clone());
        }
        let t = self.ext_login(0, scope)?;
        self.ext_tokens.insert(scope.to_string(), t.clone());
        Ok(t)
    }

    /// Keeps an ext token for `scope` that a case obtained itself.
    pub fn remember_ext_token(&mut self, scope: &str, token: &str) {
        self.ext_tokens.insert(scope.to_string(), token.to_string());
    }

    /// A fresh authreq for `keymgmt:list` and `a`'s honest approval of it, as a [`proto::Draft`]
    /// to spoil, plus the authreq.
    pub fn approval_draft(&mut self, index: usize) -> Result<(proto::Draft, Authreq), Abort> {
        let a = self.authenticator(index)?;
        let authreq = self.authreq("keymgmt:list")?;
        let approval = self.phone_approval(&a, &authreq, false)?;
        let s1 = self.s1(&a)?;
        let draft = proto::Draft::from_token(&approval.authreply, &s1).map_err(Abort::fail)?;
        Ok((draft, authreq))
    }
}

/// Reads an `ext/request` answer with the core's broker role: the echoed epk, then the
/// authreq's issuer (must be `eid`), signature, audience, lifetime and nonce.
pub fn read_authreq(
    epk: SecretKey,
    eid: PublicKey,
    body: &[u8],
    now: u64,
) -> Result<Authreq, String> {
    let state = ExtAuthState::from_secret(epk.clone(), Some(eid));
    let token = state
        .authreq_from_response(body)
        .map_err(|e| e.to_string())?;
    let untrusted = UntrustedJwt::parse_authreq(&token).map_err(|e| e.to_string())?;
    let verified = state
        .verify_authreq(&untrusted, UnixTime::from_secs(now))
        .map_err(|e| e.to_string())?;
    Ok(Authreq {
        epk_secret: epk,
        jti: verified.jti().to_string(),
        iat: verified.iat().as_secs(),
        exp: verified.exp().as_secs(),
        jwt: proto::decode(&token)?,
    })
}
