//! A device plus hand-built clients (user, broker, phone) made from the primitives only, so
//! the device can be tested before and independently of the broker and authenticator roles.
//! The device, its clock, RNG and keys are those of the one simulated world
//! ([`hem_auth_sim::World`]); only the messages are built here.

use std::borrow::Cow;

use hem_auth_core::claims::{
    AccessTokenClaims, AuthreplyClaims, AuthreqClaims, LoginClaims, PairingReplyClaims,
    PairingRequestClaims,
};
use hem_auth_core::codec;
use hem_auth_core::device::{
    ConsumedNonce, Device, DeviceConfig, DeviceError, DeviceSnapshot, Outcome, ScopePolicy,
};
use hem_auth_core::jwt::{self, Header, HeaderPolicy, UntrustedJwt};
use hem_auth_core::keys::{PublicKey, SecretKey};
use hem_auth_core::messages::{AuthChallenge, ExtInitResponse, ExtRequestResponse};
use hem_auth_core::seal::ScopeKey;
use hem_auth_sim::World;
use serde_json::{json, Value};

/// The time the rig's device clock is set to: the simulated world's start.
pub const T0: u64 = hem_auth_sim::START;

/// The seed of every rig's world.
const SEED: u64 = 7;

/// The simulated world, its device configured the rig's way; the hand-built clients are the
/// methods.
pub struct Rig {
    /// The device (`w.device`), clock (`w.now`), RNG (`w.rng`) and the user's, master's and
    /// backend's keys.
    pub w: World,
}

/// A paired phone: the simulated world's.
pub use hem_auth_sim::Phone;

/// An authreq as the broker received it.
pub struct Req {
    pub jti: [u8; 32],
    pub iat: u64,
    pub exp: u64,
    pub claims: Value,
}

impl Req {
    /// The sealed entry for `phone`, opened as the phone would.
    pub fn open_for(&self, phone: &Phone) -> String {
        let sealed = self.claims["scope"][phone.pid()].as_str().expect("entry");
        ScopeKey::derive(&phone.s1, &self.jti)
            .open(sealed)
            .expect("opens")
            .as_str()
            .to_owned()
    }
}

pub fn body(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

impl Rig {
    pub fn new() -> Self {
        Rig::with(|_| {})
    }

    /// The world from [`SEED`], its device labelled "My device" (then `adjust`ed), with user,
    /// master and backend keys and its clock set at [`T0`].
    pub fn with(adjust: impl FnOnce(&mut DeviceConfig)) -> Self {
        let mut w = World::with(SEED, |c| {
            c.label = "My device".into();
            adjust(c);
        });
        w.set_clock();
        Rig { w }
    }

    pub fn unset_clock(&mut self) {
        // A reboot forgets the clock; keep everything else. The world's audit chain goes
        // with the old device: the next `handle` draws a new one from the world's RNG.
        let snap = self.w.device.snapshot_with_pending();
        self.w.device = Device::restore(snap, &mut self.w.rng).unwrap();
    }

    /// Persistent state, explicit pending nonces, the RTC and the consumed-nonce set.
    pub fn state(&self) -> (DeviceSnapshot, bool, Vec<ConsumedNonce>) {
        (
            self.w.device.snapshot_with_pending(),
            self.w.device.rtc_is_set(),
            self.w.device.consumed_nonces().collect(),
        )
    }

    pub fn eid_b64(&self) -> String {
        self.w.device.eid().to_b64()
    }

    pub fn challenge(&mut self) -> AuthChallenge<'static> {
        self.w
            .device
            .auth_token_challenge(self.w.time(), &mut self.w.rng)
            .result
            .unwrap()
    }

    /// A login eJWT body for `key` over a fresh challenge, with claims adjusted by `edit`.
    pub fn login_body_with(
        &mut self,
        key: &SecretKey,
        scope: &str,
        edit: impl FnOnce(&mut Value),
    ) -> Vec<u8> {
        let c = self.challenge();
        let claims = LoginClaims {
            jti: c.jti.clone(),
            aud: c.spk.clone(),
            exp: self.w.now + 3600,
            iat: self.w.now,
            iss: Cow::Owned(key.public_key().to_b64()),
            scope: Cow::Owned(scope.into()),
            ctx: None,
        };
        let mut v = serde_json::to_value(&claims).unwrap();
        edit(&mut v);
        let spk = PublicKey::from_b64(&c.spk).unwrap();
        let shared = key.diffie_hellman(&spk).unwrap();
        body(&json!({ "auth": jwt::sign(Header::App, &v, shared.as_bytes()) }))
    }

    pub fn login_as(&mut self, key: &SecretKey, scope: &str) -> String {
        let b = self.login_body_with(&key.clone(), scope, |_| {});
        let out = self.w.device.auth_token(&b, self.w.time(), &mut self.w.rng);
        out.result.unwrap().as_str().to_owned()
    }

    pub fn login(&mut self, scope: &str) -> String {
        let user = self.w.user.clone();
        self.login_as(&user, scope)
    }

    /// `ext/init` with a fresh broker key: (request JWT, its jti).
    pub fn ext_init(&mut self, token: &str) -> (ExtInitResponse<'static>, String) {
        let broker = SecretKey::generate(&mut self.w.rng);
        let b = body(&json!({ "epk": broker.public_key().to_b64() }));
        let r = self
            .w
            .device
            .ext_init(Some(token), &b, self.w.time(), &mut self.w.rng)
            .result
            .unwrap();
        let u = UntrustedJwt::parse(&r.request).unwrap();
        let c: PairingRequestClaims<'_> = u.dangerous_unverified_claims().unwrap();
        let jti = c.jti.into_owned();
        (r, jti)
    }

    /// A phone's pairing reply (claims adjustable) for a request jti: (reply, phone).
    pub fn reply_with(
        &mut self,
        jti: &str,
        label: &str,
        edit: impl FnOnce(&mut Value),
    ) -> (String, Phone) {
        let aid_sk = SecretKey::generate(&mut self.w.rng);
        let reply_epk = SecretKey::generate(&mut self.w.rng).public_key();
        let s1 = aid_sk.diffie_hellman(self.w.device.eid()).unwrap();
        // the phone's own S1 is the same
        let claims = PairingReplyClaims {
            jti: Cow::Owned(jti.into()),
            eat: None,
            iss: Cow::Owned(aid_sk.public_key().to_b64()),
            aud: Some(Cow::Owned(self.eid_b64())),
            epk: Cow::Owned(reply_epk.to_b64()),
            label: Cow::Owned(label.into()),
        };
        let mut v = serde_json::to_value(&claims).unwrap();
        edit(&mut v);
        let reply = jwt::sign(Header::App, &v, s1.as_bytes());
        let mut pid = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut self.w.rng, &mut pid);
        let phone = Phone::new(
            &codec::encode_std(&pid),
            *self.w.device.eid(),
            aid_sk,
            label,
        )
        .unwrap();
        (reply, phone)
    }

    pub fn validate_body(phone: &Phone, reply: &str) -> Vec<u8> {
        body(&json!({ "pid": phone.pid(), "reply": reply }))
    }

    /// A complete pairing with a fresh `system:config` login.
    pub fn pair(&mut self, label: &str) -> Phone {
        let token = self.login("system:config");
        let (_, jti) = self.ext_init(&token);
        let (reply, phone) = self.reply_with(&jti, label, |_| {});
        let out = self.w.device.ext_validate(
            Some(&token),
            &Rig::validate_body(&phone, &reply),
            self.w.time(),
        );
        let r = out.result.unwrap();
        assert_eq!(r.kid, phone.kid);
        phone
    }

    pub fn ext_request_body(
        &mut self,
        v: Value,
    ) -> (SecretKey, Outcome<ExtRequestResponse<'static>>) {
        let broker = SecretKey::generate(&mut self.w.rng);
        let mut v = v;
        if v.get("epk").is_none() {
            v["epk"] = json!(broker.public_key().to_b64());
        }
        let out = self
            .w
            .device
            .ext_request(&body(&v), self.w.time(), &mut self.w.rng);
        (broker, out)
    }

    /// `ext/request` for `scope` (and optional ctx); the broker verifies the authreq.
    pub fn ext_request(&mut self, scope: &str, ctx: Option<&str>) -> Req {
        let mut v = json!({ "scope": scope });
        if let Some(ctx) = ctx {
            v["ctx"] = json!(ctx);
        }
        let (broker, out) = self.ext_request_body(v);
        let r = out.result.unwrap();
        let u = UntrustedJwt::parse(&r.authreq).unwrap();
        let key = broker.diffie_hellman(self.w.device.eid()).unwrap();
        let verified = u.verify(key.as_bytes(), HeaderPolicy::Ecdh).unwrap();
        let c: AuthreqClaims<'_> = verified.claims().unwrap();
        let claims: Value = serde_json::from_slice(verified.payload_json()).unwrap();
        Req {
            jti: codec::decode_fixed(&c.jti).unwrap(),
            iat: c.iat,
            exp: c.exp,
            claims,
        }
    }

    /// The phone's authreply claims for `req`, approving `plaintext` until `exp`.
    pub fn authreply_claims(&self, phone: &Phone, req: &Req, plaintext: &str, exp: u64) -> Value {
        let sealed = ScopeKey::derive(&phone.s1, &req.jti)
            .seal(plaintext)
            .unwrap();
        let claims = AuthreplyClaims {
            aud: Some(Cow::Owned(self.eid_b64())),
            jti: Cow::Owned(codec::encode_std(&req.jti)),
            exp,
            iat: Some(self.w.now),
            pid: Cow::Borrowed(phone.pid()),
            iss: Cow::Owned(phone.aid().to_b64()),
            scope: Cow::Owned(sealed),
            ctx: None,
        };
        serde_json::to_value(&claims).unwrap()
    }

    pub fn authreply_body(phone: &Phone, claims: &Value) -> Vec<u8> {
        body(&json!({ "authreply": jwt::sign(Header::App, claims, phone.s1.as_bytes()) }))
    }

    pub fn approve_body(&self, phone: &Phone, req: &Req, plaintext: &str, exp: u64) -> Vec<u8> {
        Rig::authreply_body(phone, &self.authreply_claims(phone, req, plaintext, exp))
    }

    pub fn ext_token(&mut self, body: &[u8]) -> Outcome<hem_auth_core::device::AccessToken> {
        self.w
            .device
            .ext_token(body, self.w.time(), &mut self.w.rng)
    }
}

/// The claims of a device-issued access token (read without the per-boot key).
pub fn token_claims(token: &str) -> AccessTokenClaims<'static> {
    let u = UntrustedJwt::parse(token).unwrap();
    let c: AccessTokenClaims<'_> = u.dangerous_unverified_claims().unwrap();
    AccessTokenClaims {
        scope: Cow::Owned(c.scope.into_owned()),
        sub: Cow::Owned(c.sub.into_owned()),
        iat: c.iat,
        exp: c.exp,
        jti: Cow::Owned(c.jti.into_owned()),
        ctx: c.ctx.map(|c| Cow::Owned(c.into_owned())),
    }
}

/// Runs `op`, expects exactly `expected` with `status`, and checks that the device state
/// (persistent state, pending and consumed nonces, RTC) did not change. Returns the audit
/// events.
pub fn refused<T: std::fmt::Debug>(
    rig: &mut Rig,
    expected: DeviceError,
    status: u16,
    op: impl FnOnce(&mut Rig) -> Outcome<T>,
) -> Vec<hem_auth_core::device::AuditEvent> {
    let before = rig.state();
    let out = op(rig);
    assert_eq!(
        out.result.as_ref().err(),
        Some(&expected),
        "{:?}",
        out.result
    );
    assert_eq!(expected.status(), status, "{expected:?}");
    assert_eq!(
        rig.state(),
        before,
        "state changed by a refused {expected:?}"
    );
    out.events.to_vec()
}

pub fn policy_strict(c: &mut DeviceConfig) {
    c.scope_policy = ScopePolicy::RequestedOnly;
}

/// The payload of any JWT as JSON (unverified).
pub fn claims_of(token: &str) -> Value {
    let u = UntrustedJwt::parse(token).unwrap();
    u.dangerous_unverified_claims().unwrap()
}
