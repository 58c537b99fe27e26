//! The three roles together, in memory, on simulated time: the device (`device`), the client
//! with its broker session (`client`) and the phone (`authenticator`), in the one simulated
//! world (`hem-auth-sim`). The notify broker in between is only a relay here
//! ([`World::pair`], [`World::ext_login`]): it assigns pids and turns an authreq entry into the
//! phone's event. `notify_harness.rs` runs the same world through the real notify broker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hem_auth_core::{Access, UnixTime};
use std::borrow::Cow;

use hem_auth_core::authenticator::{Event, PERIODS};
use hem_auth_core::client::{self, VerifiedAuthreq};
use hem_auth_core::codec;
use hem_auth_core::device::{
    AuditKind, Device, DeviceError, NoncePurpose, Requirement, Roles, ScopePolicy, Subject,
    AUTHREQ_LIFETIME_SECS, AUTHREQ_USE_LIFETIME_SECS, KEY_TYPE_X25519_PUBLIC,
};
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::messages::{self, CheckinRequest};
use hem_auth_core::notify::Method;
use hem_auth_sim::{SimError, World, EXT_LOGIN_CTX};

/// The world of these tests: seed 2024, the given scope policy, the clock set.
fn world(policy: ScopePolicy) -> World {
    let mut w = World::with(2024, |config| {
        config.scope_policy = policy;
        // the harness's device knows no master or backend key
        config.master_key = None;
        config.backend_key = None;
    });
    w.set_clock();
    w
}

fn no_check(_: &VerifiedAuthreq<'_>, _: &str) {}

/// What a test sees of a refusal by the device: its HTTP status.
fn refused(e: DeviceError) -> Option<u16> {
    Some(e.status())
}

/// The device's status of a failed flow step.
fn status(e: SimError) -> Option<u16> {
    e.device_status()
}

#[test]
fn every_flow_on_simulated_time() {
    let mut w = world(ScopePolicy::AsApproved);

    // login
    let config = w.login("system:config").unwrap();
    assert_eq!((config.sub(), config.scope()), ("U", "system:config"));
    assert_eq!(config.exp().as_secs(), w.now + 3600);

    // pairing two phones
    let alice = w.pair(&config, "Pixel 8 (Android)").unwrap();
    let bob = w.pair(&config, "iPhone (iOS)").unwrap();
    assert_eq!(w.device.pairings().len(), 2);
    assert_eq!(w.device.pairings()[0].kid_hex(), alice.kid);

    // ext auth: keymgmt:list as requested
    let list = w
        .ext_login(&alice, "keymgmt:list", Access::ReadOnly, |v, offered| {
            assert_eq!(v.exp().since(v.iat()).get(), AUTHREQ_LIFETIME_SECS);
            assert_eq!(v.entries().count(), 2, "one sealed entry per pairing");
            assert_eq!(v.ctx(), Some(EXT_LOGIN_CTX));
            assert_eq!(offered, "keymgmt:list");
        })
        .unwrap();
    assert_eq!(list.scope(), "keymgmt:list");
    assert_eq!(list.sub_kid().map(hex::encode), Some(alice.kid.clone()));
    assert_eq!(
        list.exp().as_secs(),
        w.now - 1 + PERIODS[0].get(),
        "the phone's exp, verbatim"
    );
    assert_eq!(list.ctx(), Some(EXT_LOGIN_CTX));

    // ext auth: storage:disk0, approved with write access
    let disk = w
        .ext_login(&bob, "storage:disk0", Access::ReadWrite, no_check)
        .unwrap();
    assert_eq!(disk.scope(), "storage:disk0:rw");

    // ext auth: keymgmt:use:<kid> of an existing key gets the key hint and 15 minutes
    let use_scope = format!("keymgmt:use:{}", alice.kid);
    let crypto = w
        .ext_login(&alice, &use_scope, Access::ReadOnly, |v, offered| {
            assert_eq!(v.exp().since(v.iat()).get(), AUTHREQ_USE_LIFETIME_SECS);
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
    w.advance(PERIODS[0].get());
    assert_eq!(
        w.authorize(&list, &Requirement::any_of(&["keymgmt:list"])),
        Err(DeviceError::TokenExpired)
    );

    // unpairing bob
    let del = w.login("keymgmt:del").unwrap();
    let out = w
        .device
        .unpair(Some(del.token()), &bob.kid, UnixTime::from_secs(w.now));
    let gone = w.record(out).unwrap();
    assert_eq!(
        (gone.kid.as_str(), gone.pid.as_str()),
        (bob.kid.as_str(), bob.pid())
    );
    assert_eq!(w.device.pairings().len(), 1);
    // bob is no longer asked, alice still is
    assert_eq!(
        w.ext_login(&bob, "keymgmt:list", Access::ReadOnly, no_check)
            .err()
            .and_then(status),
        refused(DeviceError::UnknownPairing)
    );
    assert!(w
        .ext_login(&alice, "keymgmt:list", Access::ReadOnly, |v, _| assert_eq!(
            v.entries().count(),
            1
        ))
        .is_ok());

    // the audit log, in order
    // the lines of the failed scope checks' window too (spec §11.3)
    w.flush_audit();
    let kinds: Vec<(u8, &str)> = w
        .log
        .iter()
        .filter_map(|l| Some((l.kind?.code(), l.subject()?)))
        .collect();
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
    let mut w = world(ScopePolicy::RequestedOnly);
    let config = w.login("system:config").unwrap();
    let phone = w.pair(&config, "phone").unwrap();
    assert_eq!(
        w.ext_login(&phone, "storage:disk0", Access::ReadWrite, no_check)
            .unwrap()
            .scope(),
        "storage:disk0:rw"
    );
    assert_eq!(
        w.ext_login(&phone, "storage:disk1:rw", Access::ReadOnly, no_check)
            .unwrap()
            .scope(),
        "storage:disk1"
    );
    assert_eq!(
        w.ext_login(&phone, "keymgmt:list", Access::ReadOnly, no_check)
            .unwrap()
            .scope(),
        "keymgmt:list"
    );
    // a phone that widens a non-storage scope is refused (406) under the strict policy
    assert_eq!(
        w.ext_login(&phone, "keymgmt:list", Access::ReadWrite, no_check)
            .err()
            .and_then(status),
        refused(DeviceError::ScopeMismatch)
    );
    // and accepted as approved by default
    let mut w = world(ScopePolicy::AsApproved);
    let config = w.login("system:config").unwrap();
    let phone = w.pair(&config, "phone").unwrap();
    assert_eq!(
        w.ext_login(&phone, "keymgmt:list", Access::ReadWrite, no_check)
            .unwrap()
            .scope(),
        "keymgmt:list:rw"
    );
}

#[test]
fn denial_and_reboot() {
    let mut w = world(ScopePolicy::AsApproved);
    let config = w.login("system:config").unwrap();
    let phone = w.pair(&config, "phone").unwrap();

    // the phone denies: nothing reaches the device; the authreq nonce stays pending
    let (body, state) = client::start_ext_auth(
        "keymgmt:list",
        None,
        None,
        Some(*w.device.eid()),
        &mut w.rng,
    )
    .unwrap();
    let response = w
        .device_json(Method::Post, "/api/auth/ext/request", None, body.as_bytes())
        .unwrap();
    let authreq = state.authreq_from_response(response.as_bytes()).unwrap();
    let untrusted = UntrustedJwt::parse(&authreq).unwrap();
    let verified = state
        .verify_authreq(&untrusted, UnixTime::from_secs(w.now))
        .unwrap();
    let epk = state.epk().to_b64();
    let event = Event {
        jti: Cow::Borrowed(verified.jti()),
        scope: Cow::Borrowed(verified.entry(phone.pid()).unwrap()),
        epk: Cow::Borrowed(&epk),
        exp: verified.exp().as_secs(),
    };
    let denial = phone.deny(&event, UnixTime::from_secs(w.now)).unwrap();
    assert_eq!(denial.jti, verified.jti());
    let jti = verified.jti_nonce();
    assert!(w.device.is_pending(
        NoncePurpose::Authreq,
        jti.as_bytes(),
        UnixTime::from_secs(w.now)
    ));

    // reboot: the persistent state survives as JSON; tokens and the clock do not
    let list = w
        .ext_login(&phone, "keymgmt:list", Access::ReadOnly, no_check)
        .unwrap();
    let saved = serde_json::to_string(&w.device.snapshot()).unwrap();
    w.device = Device::restore(serde_json::from_str(&saved).unwrap(), &mut w.rng).unwrap();
    w.advance(30);
    assert_eq!(
        w.authorize(&list, &Requirement::any_of(&["keymgmt:list"])),
        Err(DeviceError::InvalidToken)
    );
    assert_eq!(
        w.authorize(&config, &Requirement::EXT_PAIRING),
        Err(DeviceError::InvalidToken)
    );
    let (body, _) = client::start_ext_auth("keymgmt:list", None, None, None, &mut w.rng).unwrap();
    assert_eq!(
        w.device_json(Method::Post, "/api/auth/ext/request", None, body.as_bytes())
            .err()
            .and_then(status),
        refused(DeviceError::RtcUnset)
    );

    // check-in with the emulated backend sets the clock; the pairing works without re-pairing
    let mut snapshot = w.device.snapshot();
    snapshot.config.backend_key = Some(w.backend.public_key());
    w.device = Device::restore(snapshot, &mut w.rng).unwrap();
    let out = w
        .device
        .checkin_challenge(UnixTime::from_secs(w.now), &mut w.rng);
    let check = w.record(out).unwrap().check.into_owned();
    // the backend (the core's emulated one) verifies the check and answers with its time
    let backend_time = w.now + 120;
    let checked =
        hem_auth_core::notify::answer_check(&w.backend, &check, UnixTime::from_secs(backend_time))
            .unwrap();
    let body = messages::to_json(&CheckinRequest {
        checked: checked.into(),
    });
    w.device_json(Method::Post, "/api/system/checkin", None, body.as_bytes())
        .unwrap();
    assert_eq!(w.now, backend_time, "the clock follows the device's");
    assert_eq!(w.log.last().and_then(|l| l.kind), Some(AuditKind::RtcSet));
    let again = w
        .ext_login(&phone, "keymgmt:list", Access::ReadOnly, no_check)
        .unwrap();
    assert_eq!(
        w.authorize(&again, &Requirement::any_of(&["keymgmt:list"]))
            .map(|_| ()),
        Ok(())
    );
}
