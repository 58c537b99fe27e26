//! State shared by the cases of one run: the target, the runner's keys as broker, user and
//! authenticators, the tokens it holds, and the flows every case builds on.

use std::collections::HashMap;

use hem_auth_core::keys::{PublicKey, SecretKey, SharedSecret};
use hem_auth_core::nonce::TimeNonce;
use hem_auth_core::seal::ScopeKey;
use serde_json::{json, Value};

use crate::case::Abort;
use crate::proto::{self, Decoded};
use crate::target::{Auth, Response, Target};

/// Lifetime asked for the user tokens the runner logs in for, in seconds.
pub const USER_TOKEN_SECS: u64 = 3600;
/// Approval period the runner's authenticator grants by default (the phone's default, 15 min).
pub const APPROVAL_SECS: u64 = 900;

/// What the runner knows about the target before it starts.
#[derive(Clone, Default)]
pub struct Settings {
    /// The user password (PBKDF2 login key, FACTS §5.2).
    pub password: Option<String>,
    /// The user's X25519 secret directly (skips the 600 000-round KDF; for tests).
    pub user_secret: Option<SecretKey>,
    /// The emulated check-in backend's private key (DECISIONS "Check-in (emulated backend)").
    pub backend_secret: Option<SecretKey>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("user_secret", &self.user_secret)
            .field("backend_secret", &self.backend_secret)
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

/// The login challenge of `GET /api/auth/token`.
#[derive(Clone, Debug)]
pub struct Challenge {
    /// The raw answer.
    pub response: Response,
    /// `spk` as sent.
    pub spk_text: String,
    /// `spk`.
    pub spk: PublicKey,
    /// `jti` as sent.
    pub jti: String,
    /// `eid` as sent.
    pub eid_text: String,
    /// `exp`.
    pub exp: u64,
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
        }
    }

    /// The backend key, or a skip.
    pub fn backend_secret(&self) -> Result<SecretKey, Abort> {
        self.settings
            .backend_secret
            .clone()
            .ok_or_else(|| Abort::skip("no backend key given (--backend-key)"))
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
            None => Ok(self.challenge()?.response_eid()?),
        }
    }

    /// `GET /api/auth/token`, required to answer 200 with a usable challenge.
    pub fn challenge(&mut self) -> Result<Challenge, Abort> {
        let r = self
            .target
            .get("/api/auth/token", Auth::None)?
            .require("GET /api/auth/token", 200)?;
        let spk_text = r.field("challenge", "spk")?;
        let jti = r.field("challenge", "jti")?;
        let eid_text = r.field("challenge", "eid")?;
        let exp = r
            .json("challenge")?
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or_else(|| Abort::fail("challenge: no integer `exp`"))?;
        let spk = PublicKey::from_b64(&spk_text)
            .map_err(|e| Abort::fail(format!("challenge spk: {e}")))?;
        let eid = PublicKey::from_b64(&eid_text)
            .map_err(|e| Abort::fail(format!("challenge eid: {e}")))?;
        if let Ok(n) = TimeNonce::from_b64(&jti) {
            self.observe_device_time(u64::from(n.time()));
        }
        self.eid = Some(eid);
        Ok(Challenge {
            response: r,
            spk_text,
            spk,
            jti,
            eid_text,
            exp,
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
            proto::user_key_from_password(p, eid_text)
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
        let user = self.user_key(&c.eid_text)?;
        let key = proto::shared(&user, &c.spk).map_err(Abort::fail)?;
        let now = self.device_now();
        let token = proto::login_jwt(&user, &key, &c.jti, &c.spk_text, scope, now, exp);
        Ok((c, token))
    }

    /// Posts an eJWT to `POST /api/auth/token`.
    pub fn post_login(&self, ejwt: &str) -> Result<Response, Abort> {
        self.target
            .post_json("/api/auth/token", &json!({ "auth": ejwt }), Auth::None)
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

    /// `POST /api/auth/ext/init` with a fresh broker key; returns the key, the request JWT
    /// (verified with X25519(epk, eid)) and the raw answer.
    pub fn ext_init(&mut self, token: &str) -> Result<(SecretKey, Decoded, Response), Abort> {
        let eid = self.eid()?;
        let epk = proto::fresh_key();
        let r = self
            .target
            .post_json(
                "/api/auth/ext/init",
                &json!({ "epk": epk.public_key().to_b64() }),
                Auth::Bearer(token),
            )?
            .require("ext/init", 200)?;
        let request = r.field("ext/init", "request")?;
        let key = proto::shared(&epk, &eid).map_err(Abort::fail)?;
        let jwt = proto::verify_ecdh(&request, &key).map_err(|e| Abort::Fail {
            status: Some(200),
            detail: format!("ext/init: {e}"),
        })?;
        Ok((epk, jwt, r))
    }

    /// A pairing reply for `request` from a new authenticator key: `(aid secret, reply)`.
    pub fn reply_for(
        &mut self,
        request: &Decoded,
        label: &str,
    ) -> Result<(SecretKey, String), Abort> {
        let aid = proto::fresh_key();
        let reply = self.reply_with(&aid, request, label)?;
        Ok((aid, reply))
    }

    /// A pairing reply for `request` signed by the authenticator key `aid`.
    pub fn reply_with(
        &mut self,
        aid: &SecretKey,
        request: &Decoded,
        label: &str,
    ) -> Result<String, Abort> {
        let eid = self.eid()?;
        let s1 = proto::shared(aid, &eid).map_err(Abort::fail)?;
        let jti = request
            .str("jti")
            .ok_or_else(|| Abort::fail("pairing request has no jti"))?;
        let epk = request
            .str("aud")
            .ok_or_else(|| Abort::fail("pairing request has no aud"))?;
        Ok(proto::pairing_reply(aid, &s1, jti, &eid, epk, label))
    }

    /// `POST /api/auth/ext/validate {pid, reply}` with `token`.
    pub fn post_validate(&self, token: &str, pid: &str, reply: &str) -> Result<Response, Abort> {
        self.target.post_json(
            "/api/auth/ext/validate",
            &json!({ "pid": pid, "reply": reply }),
            Auth::Bearer(token),
        )
    }

    /// Pairs a new authenticator end to end (init, reply, validate); required to succeed.
    pub fn pair(&mut self, label: &str) -> Result<Authenticator, Abort> {
        let token = self.token("auth:ext:pair")?;
        let (_, request, _) = self.ext_init(&token)?;
        let (secret, reply) = self.reply_for(&request, label)?;
        let pid = proto::random_b64_32();
        let r = self
            .post_validate(&token, &pid, &reply)?
            .require("ext/validate", 200)?;
        let kid = r.field("ext/validate", "kid")?;
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
        self.authreq_with(scope, &[])
    }

    /// As [`Ctx::authreq`] with extra body members.
    pub fn authreq_with(&mut self, scope: &str, extra: &[(&str, Value)]) -> Result<Authreq, Abort> {
        let eid = self.eid()?;
        let epk = proto::fresh_key();
        let r = self
            .post_ext_request(&epk, scope, extra)?
            .require("ext/request", 200)?;
        let token = r.field("ext/request", "authreq")?;
        let key = proto::shared(&epk, &eid).map_err(Abort::fail)?;
        let jwt = proto::verify_ecdh(&token, &key).map_err(|e| Abort::Fail {
            status: Some(200),
            detail: format!("ext/request: {e}"),
        })?;
        let jti = jwt
            .str("jti")
            .ok_or_else(|| Abort::fail("authreq has no jti"))?
            .to_string();
        let iat = jwt
            .u64("iat")
            .ok_or_else(|| Abort::fail("authreq has no integer iat"))?;
        let exp = jwt
            .u64("exp")
            .ok_or_else(|| Abort::fail("authreq has no integer exp"))?;
        self.observe_device_time(iat);
        Ok(Authreq {
            epk_secret: epk,
            jwt,
            jti,
            iat,
            exp,
        })
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

    /// Opens `a`'s entry of `authreq` as the authenticator does.
    pub fn open_entry(&mut self, a: &Authenticator, authreq: &Authreq) -> Result<String, Abort> {
        let sealed = authreq
            .entry(&a.pid)
            .ok_or_else(|| Abort::fail(format!("authreq has no entry for pid {}", a.pid)))?
            .to_string();
        let k = self.scope_key(a, authreq)?;
        k.open(&sealed)
            .map(|o| o.as_str().to_string())
            .map_err(|e| Abort::fail(format!("opening the authreq entry: {e}")))
    }

    /// `a`'s approval of `authreq`, granting `granted` until `exp` (authreply, v1 order).
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
        let asked = self.open_entry(&a, &authreq)?;
        let exp = self.device_now() + APPROVAL_SECS;
        let reply = self.approve(&a, &authreq, &asked, exp)?;
        self.post_ext_token(&reply)?
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
        let asked = self.open_entry(&a, &authreq)?;
        let exp = self.device_now() + APPROVAL_SECS;
        let reply = self.approve(&a, &authreq, &asked, exp)?;
        let s1 = self.s1(&a)?;
        let draft = proto::Draft::from_token(&reply, &s1).map_err(Abort::fail)?;
        Ok((draft, authreq))
    }
}

impl Challenge {
    fn response_eid(&self) -> Result<PublicKey, Abort> {
        PublicKey::from_b64(&self.eid_text).map_err(|e| Abort::fail(format!("challenge eid: {e}")))
    }
}
