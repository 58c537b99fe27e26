//! The three roles together, in memory, on simulated time: the device (`device`), the client
//! with its broker session (`broker`) and the phone (`authenticator`). No HTTP: every message
//! is the exact body one role produces and the next one reads. The notify broker in between
//! (api.encedo.com) is only a relay here: it assigns pids and turns an authreq entry into the
//! phone's event.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::borrow::Cow;

use hem_auth_core::authenticator::{
    reply_to_pairing, AuthenticatorPairing, Event, UnverifiedPairingRequest, PERIODS_SECS,
};
use hem_auth_core::client::{self, LoginChallenge, UnverifiableAccessToken};
use hem_auth_core::codec;
use hem_auth_core::device::{
    AuditEvent, AuditKind, Device, DeviceConfig, DeviceError, Requirement, Roles, ScopePolicy,
    Subject, AUTHREQ_LIFETIME_SECS, AUTHREQ_USE_LIFETIME_SECS, KEY_TYPE_X25519_PUBLIC,
};
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::keys::SecretKey;
use hem_auth_core::messages::{self, CheckinRequest};
use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;

#[path = "support/mod.rs"]
mod support;

const START: u64 = 1_784_767_764;

/// Everything in one place: the device, the user's key, the phones, the audit log and the clock.
struct World {
    device: Device,
    user: SecretKey,
    rng: ChaCha20Rng,
    now: u64,
    log: Vec<AuditEvent>,
}

/// A paired phone: what the authenticator keeps, plus the kid the client learnt.
struct Phone {
    pairing: AuthenticatorPairing,
    kid: String,
}

impl World {
    fn new(policy: ScopePolicy) -> Self {
        let mut rng = support::rng(2024);
        let user = SecretKey::generate(&mut rng);
        let mut config = DeviceConfig::new(SecretKey::generate(&mut rng));
        config.user_key = Some(user.public_key());
        config.label = "Alice's HEM".into();
        config.scope_policy = policy;
        let device = Device::new(config, &mut rng);
        let mut world = World {
            device,
            user,
            rng,
            now: START,
            log: Vec::new(),
        };
        let clock = world.device.set_clock(START);
        world.record(clock).unwrap();
        world
    }

    /// Lets simulated time pass.
    fn wait(&mut self, secs: u64) {
        self.now += secs;
    }

    /// Records an outcome's audit events and returns its result, as an adapter would.
    fn record<T>(&mut self, outcome: hem_auth_core::device::Outcome<T>) -> Result<T, DeviceError> {
        let (result, events) = outcome.into_parts();
        self.log.extend(events);
        result
    }

    /// Password login: challenge, eJWT, token.
    fn login(&mut self, scope: &str) -> UnverifiableAccessToken {
        let challenge = self.device.auth_token_challenge(self.now, &mut self.rng);
        let challenge = messages::to_json(&self.record(challenge).unwrap());
        let challenge = LoginChallenge::parse(challenge.as_bytes()).unwrap();
        self.wait(1);
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
        let response = messages::to_json(&self.record(out).unwrap());
        UnverifiableAccessToken::from_response(response.as_bytes()).unwrap()
    }

    /// Pairs a new phone: ext/init → QR → phone reply → (notify broker: pid) → ext/validate.
    fn pair(&mut self, token: &UnverifiableAccessToken, label: &str) -> Phone {
        let eid = *self.device.eid();
        let (init_body, state) = client::start_pairing(Some(eid), &mut self.rng);
        let out = self.device.ext_init(
            Some(token.token()),
            init_body.as_bytes(),
            self.now,
            &mut self.rng,
        );
        let init = messages::to_json(&self.record(out).unwrap());
        let request = state
            .verify_init_response(init.as_bytes(), self.now)
            .unwrap();
        let _qr = request.qr_payload(
            "https://notify.example/register/challenge/r1",
            "alice",
            "alice@example.com",
            "hem",
        );

        // the phone scans, fetches the request, replies
        self.wait(5);
        let seen = UnverifiedPairingRequest::parse(request.request()).unwrap();
        let aid = SecretKey::generate(&mut self.rng);
        let reply = reply_to_pairing(&aid, &seen, label, "fcm-token").unwrap();
        let mut pid = [0u8; 32];
        self.rng.fill_bytes(&mut pid);
        let pid = codec::encode_std(&pid);

        // the client polls register/check, gets {pid, reply}, and forwards it to the device
        self.wait(4);
        let body = state.validate_body(&pid, &reply.reply);
        let out = self
            .device
            .ext_validate(Some(token.token()), body.as_bytes(), self.now);
        let validated = messages::to_json(&self.record(out).unwrap());
        let kid = state
            .verify_validate_response(&request.eid(), &reply.reply, validated.as_bytes())
            .unwrap();
        let pairing = AuthenticatorPairing::new(&pid, *seen.eid(), aid).unwrap();
        Phone { pairing, kid }
    }

    /// External-authenticator login approved by `phone`: ext/request → notify broker event →
    /// phone approval → ext/token. Returns the token, or the device's refusal of the authreply.
    fn ext_login(
        &mut self,
        phone: &Phone,
        scope: &str,
        writable: bool,
        check: impl FnOnce(&hem_auth_core::client::VerifiedAuthreq<'_>, &str),
    ) -> Result<UnverifiableAccessToken, DeviceError> {
        let (request_body, state) = client::start_ext_auth(
            scope,
            Some("harness"),
            None,
            Some(*self.device.eid()),
            &mut self.rng,
        )
        .unwrap();
        let out = self
            .device
            .ext_request(request_body.as_bytes(), self.now, &mut self.rng);
        let response = messages::to_json(&self.record(out)?);
        let authreq = state.authreq_from_response(response.as_bytes()).unwrap();
        let untrusted = UntrustedJwt::parse(&authreq).unwrap();
        let verified = state.verify_authreq(&untrusted, self.now).unwrap();

        // the notify broker turns this phone's entry into its event
        let entry = verified
            .entry(phone.pairing.pid())
            .ok_or(DeviceError::UnknownPairing)?;
        let epk = state.epk().to_b64();
        let event = Event {
            jti: Cow::Borrowed(verified.jti()),
            scope: Cow::Borrowed(entry),
            epk: Cow::Borrowed(&epk),
            exp: verified.exp(),
        };
        self.wait(3);
        let opened = phone.pairing.open_event(&event, self.now).unwrap();
        check(&verified, opened.scope());
        self.wait(7);
        let approval = opened.approve(self.now, PERIODS_SECS[0], writable).unwrap();

        // the client polls event/check, gets {authreply}, and forwards it to the device
        self.wait(1);
        let out = self.device.ext_token(
            state.ext_token_body(&approval.authreply).as_bytes(),
            self.now,
            &mut self.rng,
        );
        let token = messages::to_json(&self.record(out)?);
        Ok(state.finish(token.as_bytes()).unwrap())
    }

    fn authorize(
        &mut self,
        token: &UnverifiableAccessToken,
        need: &Requirement<'_>,
    ) -> Result<Subject, DeviceError> {
        let out = self.device.authorize(Some(token.token()), need, self.now);
        self.record(out).map(|a| a.subject)
    }
}

fn no_check(_: &hem_auth_core::client::VerifiedAuthreq<'_>, _: &str) {}

#[test]
fn every_flow_on_simulated_time() {
    let mut w = World::new(ScopePolicy::AsApproved);

    // login
    let config = w.login("system:config");
    assert_eq!((config.sub(), config.scope()), ("U", "system:config"));
    assert_eq!(config.exp(), w.now + 3600);

    // pairing two phones
    let alice = w.pair(&config, "Pixel 8 (Android)");
    let bob = w.pair(&config, "iPhone (iOS)");
    assert_eq!(w.device.pairings().len(), 2);
    assert_eq!(w.device.pairings()[0].kid_hex(), alice.kid);

    // ext auth: keymgmt:list as requested
    let list = w
        .ext_login(&alice, "keymgmt:list", false, |v, offered| {
            assert_eq!(v.exp() - v.iat(), AUTHREQ_LIFETIME_SECS);
            assert_eq!(v.entries().count(), 2, "one sealed entry per pairing");
            assert_eq!(v.ctx(), Some("harness"));
            assert_eq!(offered, "keymgmt:list");
        })
        .unwrap();
    assert_eq!(list.scope(), "keymgmt:list");
    assert_eq!(list.sub_kid().map(hex::encode), Some(alice.kid.clone()));
    assert_eq!(
        list.exp(),
        w.now - 1 + PERIODS_SECS[0],
        "the phone's exp, verbatim"
    );
    assert_eq!(list.ctx(), Some("harness"));

    // ext auth: storage:disk0, approved with write access
    let disk = w.ext_login(&bob, "storage:disk0", true, no_check).unwrap();
    assert_eq!(disk.scope(), "storage:disk0:rw");

    // ext auth: keymgmt:use:<kid> of an existing key gets the key hint and 15 minutes
    let use_scope = format!("keymgmt:use:{}", alice.kid);
    let crypto = w
        .ext_login(&alice, &use_scope, false, |v, offered| {
            assert_eq!(v.exp() - v.iat(), AUTHREQ_USE_LIFETIME_SECS);
            let (base, hint) = offered.split_once('#').unwrap();
            assert_eq!(base, use_scope);
            let hint = hem_auth_core::scope::KeyHint::decode(hint).unwrap();
            assert_eq!(
                (hint.key_type(), hint.l.as_str()),
                (Some(KEY_TYPE_X25519_PUBLIC), "Pixel 8 (Android)")
            );
        })
        .unwrap();
    assert_eq!(crypto.scope(), use_scope, "the #… hint is not in the token");

    // bearer use
    let ext = Subject::External {
        kid: list.sub_kid().unwrap(),
    };
    assert_eq!(
        w.authorize(
            &list,
            &Requirement::any_of(&["keymgmt:list"]).roles(Roles::NotMaster)
        ),
        Ok(ext)
    );
    assert_eq!(
        w.authorize(&disk, &Requirement::any_of(&["storage:disk0"]))
            .map(|_| ()),
        Ok(())
    );
    assert_eq!(
        w.authorize(
            &crypto,
            &Requirement::exact(&use_scope).roles(Roles::NotMaster)
        ),
        Ok(ext)
    );
    assert_eq!(
        w.authorize(&crypto, &Requirement::exact("keymgmt:use:0")),
        Err(DeviceError::InsufficientScope)
    );
    assert_eq!(
        w.authorize(&list, &Requirement::EXT_PAIRING),
        Err(DeviceError::WrongRole)
    );
    assert_eq!(
        w.authorize(&config, &Requirement::EXT_PAIRING),
        Ok(Subject::User)
    );
    w.wait(PERIODS_SECS[0]);
    assert_eq!(
        w.authorize(&list, &Requirement::any_of(&["keymgmt:list"])),
        Err(DeviceError::TokenExpired)
    );

    // unpairing bob
    let del = w.login("keymgmt:del");
    let out = w.device.unpair(Some(del.token()), &bob.kid, w.now);
    let gone = w.record(out).unwrap();
    assert_eq!(
        (gone.kid.as_str(), gone.pid.as_str()),
        (bob.kid.as_str(), bob.pairing.pid())
    );
    assert_eq!(w.device.pairings().len(), 1);
    // bob is no longer asked, alice still is
    assert_eq!(
        w.ext_login(&bob, "keymgmt:list", false, no_check).err(),
        Some(DeviceError::UnknownPairing)
    );
    assert!(w
        .ext_login(&alice, "keymgmt:list", false, |v, _| assert_eq!(
            v.entries().count(),
            1
        ))
        .is_ok());

    // the audit log, in order
    let kinds: Vec<(u8, &str)> = w.log.iter().map(|e| (e.kind.code(), e.sub())).collect();
    let alice_sub = codec::encode_std(&list.sub_kid().unwrap());
    let bob_sub = codec::encode_std(&disk.sub_kid().unwrap());
    assert_eq!(
        kinds,
        [
            (19, ""),
            (13, "U"),
            (15, "U"),
            (15, "U"),
            (14, alice_sub.as_str()),
            (14, bob_sub.as_str()),
            (14, alice_sub.as_str()),
            (12, alice_sub.as_str()),
            (12, alice_sub.as_str()),
            (13, "U"),
            (14, alice_sub.as_str()),
        ]
    );
}

#[test]
fn strict_policy_with_the_real_phone() {
    // The phone's :rw rule is exactly what RequestedOnly tolerates.
    let mut w = World::new(ScopePolicy::RequestedOnly);
    let config = w.login("system:config");
    let phone = w.pair(&config, "phone");
    assert_eq!(
        w.ext_login(&phone, "storage:disk0", true, no_check)
            .unwrap()
            .scope(),
        "storage:disk0:rw"
    );
    assert_eq!(
        w.ext_login(&phone, "storage:disk1:rw", false, no_check)
            .unwrap()
            .scope(),
        "storage:disk1"
    );
    assert_eq!(
        w.ext_login(&phone, "keymgmt:list", false, no_check)
            .unwrap()
            .scope(),
        "keymgmt:list"
    );
    // a phone that widens a non-storage scope is refused (406) under the strict policy
    assert_eq!(
        w.ext_login(&phone, "keymgmt:list", true, no_check).err(),
        Some(DeviceError::ScopeMismatch)
    );
    // and accepted as approved by default
    let mut w = World::new(ScopePolicy::AsApproved);
    let config = w.login("system:config");
    let phone = w.pair(&config, "phone");
    assert_eq!(
        w.ext_login(&phone, "keymgmt:list", true, no_check)
            .unwrap()
            .scope(),
        "keymgmt:list:rw"
    );
}

#[test]
fn denial_and_reboot() {
    let mut w = World::new(ScopePolicy::AsApproved);
    let config = w.login("system:config");
    let phone = w.pair(&config, "phone");

    // the phone denies: nothing reaches the device; the authreq nonce stays pending
    let (body, state) = client::start_ext_auth(
        "keymgmt:list",
        None,
        None,
        Some(*w.device.eid()),
        &mut w.rng,
    )
    .unwrap();
    let out = w.device.ext_request(body.as_bytes(), w.now, &mut w.rng);
    let response = messages::to_json(&w.record(out).unwrap());
    let authreq = state.authreq_from_response(response.as_bytes()).unwrap();
    let untrusted = UntrustedJwt::parse(&authreq).unwrap();
    let verified = state.verify_authreq(&untrusted, w.now).unwrap();
    let epk = state.epk().to_b64();
    let event = Event {
        jti: Cow::Borrowed(verified.jti()),
        scope: Cow::Borrowed(verified.entry(phone.pairing.pid()).unwrap()),
        epk: Cow::Borrowed(&epk),
        exp: verified.exp(),
    };
    let denial = phone.pairing.open_event(&event, w.now).unwrap().deny();
    assert_eq!(denial.jti, verified.jti());
    let jti = verified.jti_nonce();
    assert!(w.device.is_pending(
        hem_auth_core::device::NoncePurpose::Authreq,
        jti.as_bytes(),
        w.now
    ));

    // reboot: the persistent state survives as JSON; tokens and the clock do not
    let list = w
        .ext_login(&phone, "keymgmt:list", false, no_check)
        .unwrap();
    let saved = serde_json::to_string(&w.device.snapshot()).unwrap();
    w.device = Device::restore(serde_json::from_str(&saved).unwrap(), &mut w.rng).unwrap();
    w.wait(30);
    assert_eq!(
        w.authorize(&list, &Requirement::any_of(&["keymgmt:list"])),
        Err(DeviceError::InvalidToken)
    );
    assert_eq!(
        w.authorize(&config, &Requirement::EXT_PAIRING),
        Err(DeviceError::InvalidToken)
    );
    let (body, _) = client::start_ext_auth("keymgmt:list", None, None, None, &mut w.rng).unwrap();
    let out = w.device.ext_request(body.as_bytes(), w.now, &mut w.rng);
    assert_eq!(w.record(out).err(), Some(DeviceError::RtcUnset));

    // check-in with the emulated backend sets the clock; the pairing works without re-pairing
    let backend = SecretKey::generate(&mut w.rng);
    let mut snapshot = w.device.snapshot();
    snapshot.config.backend_key = Some(backend.public_key());
    w.device = Device::restore(snapshot, &mut w.rng).unwrap();
    let out = w.device.checkin_challenge(w.now, &mut w.rng);
    let check = w.record(out).unwrap().check.into_owned();
    // the backend (the core's emulated one) verifies the check and answers with its time
    let backend_time = w.now + 120;
    let checked = hem_auth_core::notify::answer_check(&backend, &check, backend_time).unwrap();
    let body = messages::to_json(&CheckinRequest {
        checked: checked.into(),
    });
    let out = w.device.checkin(body.as_bytes(), w.now);
    let done = w.record(out).unwrap();
    assert_eq!(done.time, backend_time);
    assert_eq!(w.log.last().map(|e| e.kind), Some(AuditKind::RtcSet));
    w.now = done.time;
    let again = w
        .ext_login(&phone, "keymgmt:list", false, no_check)
        .unwrap();
    assert_eq!(
        w.authorize(&again, &Requirement::any_of(&["keymgmt:list"]))
            .map(|_| ()),
        Ok(())
    );
}
