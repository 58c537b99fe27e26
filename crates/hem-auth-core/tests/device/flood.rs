//! Spec §4.3: self-authenticating nonces. No flood of anonymous requests may invalidate a nonce
//! the device issued to someone else, and only successful verifications are remembered.

use hem_auth_core::UnixTime;
use std::cell::RefCell;

use hem_auth_core::codec;
use hem_auth_core::device::{DeviceError as E, NoncePurpose};
use hem_auth_core::jwt::{self, Header};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

use crate::rig::{body, claims_of, refused, Req, Rig};

const PURPOSES: [NoncePurpose; 4] = [
    NoncePurpose::Login,
    NoncePurpose::Pairing,
    NoncePurpose::Authreq,
    NoncePurpose::Checkin,
];

/// A fresh check-in challenge and the emulated backend's `checked` answer to it, as a body.
fn checkin_body(rig: &mut Rig) -> Vec<u8> {
    let check = rig
        .w
        .device
        .checkin_challenge(rig.w.time(), &mut rig.w.rng)
        .result
        .unwrap()
        .check
        .into_owned();
    checked_body(rig, &claims_of(&check)["jti"])
}

/// The backend's `checked` for the nonce `jti`, as a body.
fn checked_body(rig: &Rig, jti: &Value) -> Vec<u8> {
    let key = rig.w.backend.diffie_hellman(rig.w.device.spk()).unwrap();
    let checked = jwt::sign(
        Header::Device,
        &json!({"jti": jti, "iat": rig.w.now,
            "iss": rig.w.backend.public_key().to_b64(), "aud": rig.w.device.spk().to_b64(),
            "status": "OK"}),
        key.as_bytes(),
    );
    body(&json!({ "checked": checked }))
}

/// An authreq record for a nonce the device may never have issued as one.
fn req_for(jti: [u8; 32]) -> Req {
    Req {
        jti,
        iat: 0,
        exp: 0,
        claims: Value::Null,
    }
}

/// Anonymous issues of each purpose sent between the legitimate issue and its answer.
const FLOOD: usize = 10_000;

/// Issue 2 of issue 14: 64 anonymous `GET /api/auth/token`, `ext/request` or `GET
/// /api/system/checkin` pushed the user's pending challenge, the phone-approved authreq and the
/// check-in answer out of a bounded table (401). Each legitimate nonce is issued first, then
/// 10 000 anonymous (or, for pairing, merely authorised) issues of every purpose, then each
/// legitimate answer must still be accepted.
#[test]
fn a_flood_of_issues_invalidates_no_pending_nonce() {
    let mut rig = Rig::new();
    let phone = rig.pair("phone");
    let config = rig.login("system:config");

    // The legitimate requests, each answered only after the flood.
    let user = rig.w.user.clone();
    let login = rig.login_body_with(&user, "keymgmt:list", |_| {});
    let req = rig.ext_request("keymgmt:list", Some("before the flood"));
    let authreply = rig.approve_body(&phone, &req, "keymgmt:list", rig.w.now + 900);
    let (_, pairing_jti) = rig.ext_init(&config);
    let (reply, second) = rig.reply_with(&pairing_jti, "second", |_| {});
    let validate = Rig::validate_body(&second, &reply);
    let checkin = checkin_body(&mut rig);

    // The flood: one fixed anonymous ext/request body (no key generation per request).
    let broker = hem_auth_core::keys::SecretKey::generate(&mut rig.w.rng);
    let flood_request =
        body(&json!({"epk": broker.public_key().to_b64(), "scope": "keymgmt:list"}));
    let epk = body(&json!({"epk": broker.public_key().to_b64()}));
    let consumed = rig.w.device.consumed_nonces().count();
    for _ in 0..FLOOD {
        assert!(rig
            .w
            .device
            .auth_token_challenge(rig.w.time(), &mut rig.w.rng)
            .result
            .is_ok());
        assert!(rig
            .w
            .device
            .ext_request(&flood_request, rig.w.time(), &mut rig.w.rng)
            .result
            .is_ok());
        assert!(rig
            .w
            .device
            .checkin_challenge(rig.w.time(), &mut rig.w.rng)
            .result
            .is_ok());
        assert!(rig
            .w
            .device
            .ext_init(Some(&config), &epk, rig.w.time(), &mut rig.w.rng)
            .result
            .is_ok());
    }

    // the flood stored nothing
    assert_eq!(rig.w.device.consumed_nonces().count(), consumed);
    assert_eq!(rig.w.device.snapshot_with_pending().pending.len(), 0);

    let login = rig
        .w
        .device
        .auth_token(&login, rig.w.time(), &mut rig.w.rng)
        .result;
    let ext = rig.ext_token(&authreply).result;
    let pairing = rig
        .w
        .device
        .ext_validate(Some(&config), &validate, rig.w.time())
        .result;
    let checkin = rig.w.device.checkin(&checkin, rig.w.time()).result;
    let statuses = [
        (
            "login",
            login.as_ref().map(|_| 200).unwrap_or_else(|e| e.status()),
        ),
        (
            "ext/token",
            ext.as_ref().map(|_| 200).unwrap_or_else(|e| e.status()),
        ),
        (
            "ext/validate",
            pairing.map(|_| 200).unwrap_or_else(|e| e.status()),
        ),
        (
            "checkin",
            checkin.map(|_| 200).unwrap_or_else(|e| e.status()),
        ),
    ];
    assert_eq!(
        statuses,
        [
            ("login", 200),
            ("ext/token", 200),
            ("ext/validate", 200),
            ("checkin", 200)
        ],
        "after {FLOOD} anonymous issues of each purpose"
    );
    // the request's ctx survives a flood of requests without one
    let token = ext.unwrap();
    assert_eq!(
        crate::rig::token_claims(token.as_str()).ctx.as_deref(),
        Some("before the flood")
    );
}

/// Every way a nonce can be wrong is the nonce check's 401 (spec §4.2), and leaves the state
/// unchanged: forged (any byte of the random part or the tag), issued for another purpose,
/// expired, replayed, issued before a reboot.
#[test]
fn forged_other_purpose_expired_replayed_and_rebooted_nonces_are_401() {
    let mut rig = Rig::new();
    let phone = rig.pair("phone");
    let user = rig.w.user.clone();

    // forged: one byte of a real challenge's random bytes or tag changed
    let c = rig.challenge();
    let jti: [u8; 32] = codec::decode_fixed(&c.jti).unwrap();
    for i in [4, 10, 15, 16, 20, 23, 24, 31] {
        let mut forged = jti;
        forged[i] ^= 0x20;
        let b = rig.login_body_with(&user, "keymgmt:list", |v| {
            v["jti"] = json!(codec::encode_std(&forged))
        });
        refused(&mut rig, E::NonceNotPending, 401, |r| {
            r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
        });
    }
    // forged time: the same bytes claiming to be older or newer
    for delta in [-1i64, 1, -3600] {
        let mut forged = jti;
        let t = (rig.w.now as i64 + delta) as u32;
        forged[..4].copy_from_slice(&t.to_le_bytes());
        let b = rig.login_body_with(&user, "keymgmt:list", |v| {
            v["jti"] = json!(codec::encode_std(&forged))
        });
        refused(&mut rig, E::NonceNotPending, 401, |r| {
            r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
        });
    }
    // the genuine one still logs in, once
    let b = rig.login_body_with(&user, "keymgmt:list", |v| v["jti"] = json!(c.jti));
    assert!(rig
        .w
        .device
        .auth_token(&b, rig.w.time(), &mut rig.w.rng)
        .result
        .is_ok());
    refused(&mut rig, E::NonceNotPending, 401, |r| {
        r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
    });

    // other purposes: an authreq nonce and a check-in nonce as a login challenge, a login
    // challenge and a check-in nonce in an authreply, an authreq nonce in a check-in
    let req = rig.ext_request("keymgmt:list", None);
    let check = rig
        .w
        .device
        .checkin_challenge(rig.w.time(), &mut rig.w.rng)
        .result
        .unwrap();
    let check_jti = claims_of(&check.check)["jti"].clone();
    for other in [json!(codec::encode_std(&req.jti)), check_jti.clone()] {
        let b = rig.login_body_with(&user, "keymgmt:list", |v| v["jti"] = other);
        refused(&mut rig, E::NonceNotPending, 401, |r| {
            r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
        });
    }
    let login_jti: [u8; 32] = codec::decode_fixed(&rig.challenge().jti).unwrap();
    let check_bytes: [u8; 32] = codec::decode_fixed(check_jti.as_str().unwrap()).unwrap();
    for other in [login_jti, check_bytes] {
        let b = rig.approve_body(&phone, &req_for(other), "keymgmt:list", rig.w.now + 900);
        refused(&mut rig, E::NonceNotPending, 401, |r| r.ext_token(&b));
    }
    let b = checked_body(&rig, &json!(codec::encode_std(&req.jti)));
    refused(&mut rig, E::NonceNotPending, 401, |r| {
        r.w.device.checkin(&b, r.w.time())
    });
    for purpose in PURPOSES {
        assert_eq!(
            rig.w.device.is_pending(purpose, &req.jti, rig.w.time()),
            purpose == NoncePurpose::Authreq,
            "{purpose:?}"
        );
    }

    // expired: a check-in nonce at its 300 s
    let b = checked_body(&rig, &check_jti);
    let start = rig.w.now;
    rig.w.now = start + 300;
    refused(&mut rig, E::NonceNotPending, 401, |r| {
        r.w.device.checkin(&b, r.w.time())
    });
    rig.w.now = start + 299;
    let b = checked_body(&rig, &check_jti);
    assert!(rig.w.device.checkin(&b, rig.w.time()).result.is_ok());
    refused(&mut rig, E::NonceNotPending, 401, |r| {
        r.w.device.checkin(&b, r.w.time())
    });

    // rebooted: the authreq issued before the restore is refused after it
    let a = rig.approve_body(&phone, &req, "keymgmt:list", rig.w.now + 900);
    rig.unset_clock();
    let _ = rig.w.device.set_clock(rig.w.time());
    assert!(!rig
        .w
        .device
        .is_pending(NoncePurpose::Authreq, &req.jti, rig.w.time()));
    refused(&mut rig, E::NonceNotPending, 401, |r| r.ext_token(&a));
}

/// Spec §4.3: the consumed set grows only with successes; when it is full of unexpired nonces
/// the device refuses the success with 503, the last check of every endpoint that consumes a
/// nonce, and changes nothing; once entries expire there is room again.
#[test]
fn a_full_consumed_set_refuses_the_success_with_503() {
    let mut rig = Rig::with(|c| c.nonce_capacity = 3);
    let phone = rig.pair("phone"); // a system:config login and a pairing: 2 consumed
    let config = rig.login("system:config"); // 3: full
    assert_eq!(rig.w.device.consumed_nonces().count(), 3);
    let user = rig.w.user.clone();

    // login
    let login = rig.login_body_with(&user, "keymgmt:list", |v| {
        v["exp"] = json!(T_LATE);
    });
    refused(&mut rig, E::NonceStoreFull, 503, |r| {
        r.w.device.auth_token(&login, r.w.time(), &mut r.w.rng)
    });
    // every earlier check still decides first (503 is the last one)
    let expired = rig.login_body_with(&user, "keymgmt:list", |v| v["exp"] = json!(1));
    refused(&mut rig, E::Expired, 401, |r| {
        r.w.device.auth_token(&expired, r.w.time(), &mut r.w.rng)
    });
    // ext/token
    let req = rig.ext_request("keymgmt:list", None);
    let authreply = rig.approve_body(&phone, &req, "keymgmt:list", rig.w.now + 900);
    refused(&mut rig, E::NonceStoreFull, 503, |r| {
        r.ext_token(&authreply)
    });
    let wrong = rig.approve_body(&phone, &req, "keymgmt:list", 1);
    refused(&mut rig, E::Expired, 401, |r| r.ext_token(&wrong));
    // ext/validate
    let (_, jti) = rig.ext_init(&config);
    let (reply, second) = rig.reply_with(&jti, "second", |_| {});
    let validate = Rig::validate_body(&second, &reply);
    refused(&mut rig, E::NonceStoreFull, 503, |r| {
        r.w.device
            .ext_validate(Some(&config), &validate, r.w.time())
    });
    // check-in
    let checkin = checkin_body(&mut rig);
    refused(&mut rig, E::NonceStoreFull, 503, |r| {
        r.w.device.checkin(&checkin, r.w.time())
    });

    // an explicit pending nonce needs no room: it is removed when consumed
    let explicit = [7u8; 32];
    rig.w
        .device
        .insert_pending(NoncePurpose::Login, explicit, rig.w.now + 60, None);
    let b = rig.login_body_with(&user, "keymgmt:list", |v| {
        v["jti"] = json!(codec::encode_std(&explicit))
    });
    assert!(rig
        .w
        .device
        .auth_token(&b, rig.w.time(), &mut rig.w.rng)
        .result
        .is_ok());
    assert_eq!(rig.w.device.consumed_nonces().count(), 3);
    assert!(!rig
        .w
        .device
        .is_pending(NoncePurpose::Login, &explicit, rig.w.time()));

    // 61 s later the two login nonces have expired: two successes fit again, and the refused
    // requests were left usable
    rig.w.now += 61;
    assert!(rig.ext_token(&authreply).result.is_ok());
    assert!(rig.w.device.checkin(&checkin, rig.w.time()).result.is_ok());
    refused(&mut rig, E::NonceStoreFull, 503, |r| {
        r.w.device
            .ext_validate(Some(&config), &validate, r.w.time())
    });
    assert_eq!(E::NonceStoreFull.status(), 503);
}

/// An expiry later than every test's clock.
const T_LATE: u64 = 4_000_000_000;

/// Random 32-byte values (and the same with the current time in their first four bytes) are
/// never a nonce of this device, for any purpose.
#[test]
fn random_jti_bytes_are_never_accepted() {
    let rig = RefCell::new(Rig::new());
    {
        // live nonces of every purpose, so that the device has something to confuse them with
        let mut r = rig.borrow_mut();
        r.challenge();
        r.ext_request("keymgmt:list", None);
        let _ = checkin_body(&mut r);
    }
    let user = rig.borrow().w.user.clone();
    let base = rig
        .borrow_mut()
        .login_body_with(&user, "keymgmt:list", |_| {});
    let base: Value = serde_json::from_slice(&base).unwrap();
    let ejwt = base["auth"].as_str().unwrap().to_owned();
    let (spk, now) = {
        let r = rig.borrow();
        (*r.w.device.spk(), r.w.now)
    };
    let key = user.diffie_hellman(&spk).unwrap();
    let claims = claims_of(&ejwt);
    let mut runner = TestRunner::new(Config::with_cases(256));
    runner
        .run(&(any::<[u8; 32]>(), any::<bool>()), |(mut jti, stamped)| {
            if stamped {
                jti[..4].copy_from_slice(&(now as u32).to_le_bytes());
            }
            let mut r = rig.borrow_mut();
            for purpose in PURPOSES {
                prop_assert!(
                    !r.w.device
                        .is_pending(purpose, &jti, UnixTime::from_secs(now)),
                    "{purpose:?}"
                );
            }
            let mut claims = claims.clone();
            claims["jti"] = json!(codec::encode_std(&jti));
            let b = body(&json!({"auth": jwt::sign(Header::App, &claims, key.as_bytes())}));
            let rng = &mut r.w.rng.clone();
            let out = r.w.device.auth_token(&b, UnixTime::from_secs(now), rng);
            prop_assert_eq!(out.result.err(), Some(E::NonceNotPending));
            Ok(())
        })
        .unwrap();
}
