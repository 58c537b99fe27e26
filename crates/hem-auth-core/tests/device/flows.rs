//! Device behaviour beyond single errors: whole flows with hand-built clients, nonces, clock,
//! scope policy, the key-hint rewrite, snapshot/restore and reboot.

use hem_auth_core::codec;
use hem_auth_core::device::{
    AuditKind, AuditResult, BootKeys, Device, DeviceConfig, DeviceError as E, DeviceSnapshot,
    NoncePurpose, PairingSnapshot, Requirement, Roles, Subject, AUTHREQ_LIFETIME_SECS,
    AUTHREQ_USE_LIFETIME_SECS, EXT_TOKEN_DEFAULT_LIFETIME_SECS, KEY_TYPE_X25519_PUBLIC,
    LOGIN_CHALLENGE_LIFETIME_SECS, PAIRING_REQUEST_LIFETIME_SECS,
};
use hem_auth_core::jwt::{self, Header};
use hem_auth_core::keys::SecretKey;
use hem_auth_core::messages;
use hem_auth_core::scope::KeyHint;
use hem_auth_core::UnixTime;
use serde_json::json;

use crate::rig::{body, claims_of, refused, token_claims, Rig};

#[test]
fn login_pair_ext_auth_bearer_unpair() {
    let mut rig = Rig::new();
    // login
    let b = rig.login_body_with(&rig.w.user.clone(), "system:config", |_| {});
    let out = rig.w.device.auth_token(&b, rig.w.time(), &mut rig.w.rng);
    let ev = &out.events[0];
    assert_eq!(
        (ev.kind.code(), ev.result.code(), ev.sub(), ev.data()),
        (13, 0, "U", "system:config")
    );
    let config_token = out.result.unwrap().as_str().to_owned();

    // pairing
    let (init, jti) = rig.ext_init(&config_token);
    assert_eq!(init.eid, rig.eid_b64());
    let (reply, phone) = rig.reply_with(&jti, "Pixel 8 (Android)", |_| {});
    let out = rig.w.device.ext_validate(
        Some(&config_token),
        &Rig::validate_body(&phone, &reply),
        rig.w.time(),
    );
    let ev = out.events[0].clone();
    let r = out.result.unwrap();
    assert_eq!(r.kid, phone.kid);
    assert_eq!(
        (ev.kind, ev.sub(), ev.data()),
        (AuditKind::AuthPairedExternal, "U", phone.kid.as_str())
    );
    // code = HMAC(X25519(eid_prv, reply.epk), reply): checkable by the holder of reply.epk's
    // private key (the broker); the rig's reply used a throwaway epk, so check the length here
    // and the value in `ext_mac_and_code_are_checkable` below
    assert_eq!(crate::support::b64(&r.code).len(), 32);

    // ext auth, three scopes
    let use_scope = format!("keymgmt:use:{}", phone.kid);
    for (requested, approved, expected) in [
        (
            "keymgmt:list",
            "keymgmt:list".to_owned(),
            "keymgmt:list".to_owned(),
        ),
        (
            "storage:disk0",
            "storage:disk0:rw".to_owned(),
            "storage:disk0:rw".to_owned(),
        ),
        (use_scope.as_str(), String::new(), use_scope.clone()),
    ] {
        let req = rig.ext_request(requested, None);
        let offered = req.open_for(&phone);
        let approved = if approved.is_empty() {
            offered.clone()
        } else {
            approved
        };
        let out = rig.ext_token(&rig.approve_body(&phone, &req, &approved, rig.w.now + 900));
        let ev = out.events[0].clone();
        let token = out.result.unwrap().as_str().to_owned();
        let c = token_claims(&token);
        assert_eq!(c.scope, expected);
        assert_eq!(
            c.sub,
            codec::encode_std(
                &crate::support::hex_32(&format!("{}{}", phone.kid, "0".repeat(32)))[..16]
            )
        );
        assert_eq!(c.exp, rig.w.now + 900);
        assert_eq!(
            (ev.kind, ev.result, ev.sub(), ev.data()),
            (
                AuditKind::AuthSuccessExternal,
                AuditResult::Ok,
                c.sub.as_ref(),
                expected.as_str()
            )
        );

        // bearer use
        let exact = rig.w.device.authorize(
            Some(&token),
            &Requirement::exact(&expected).roles(Roles::NotMaster),
            rig.w.time(),
        );
        let a = exact.result.unwrap();
        assert!(matches!(a.subject, Subject::External { .. }));
        assert_eq!(a.matched, expected);
    }

    // unpairing
    let del = rig.login("keymgmt:del");
    let gone = rig
        .w
        .device
        .unpair(Some(&del), &phone.kid, rig.w.time())
        .result
        .unwrap();
    assert_eq!(
        (gone.kid.as_str(), gone.pid.as_str(), gone.label.as_str()),
        (phone.kid.as_str(), phone.pid(), "Pixel 8 (Android)")
    );
    assert!(rig.w.device.pairings().is_empty());
    let req = rig.ext_request("keymgmt:list", None);
    assert_eq!(req.claims["scope"], json!({}));
    refused(&mut rig, E::UnknownPairing, 406, |r| {
        let b = r.approve_body(&phone, &req, "keymgmt:list", r.w.now + 900);
        r.ext_token(&b)
    });
}

#[test]
fn keymgmt_use_rewrite_and_lifetimes() {
    let mut rig = Rig::new();
    let phone = rig.pair("PGP phone");
    let other = rig.pair("second");
    // an existing kid: hint appended (for every pairing), 900 s
    let scope = format!("keymgmt:use:{}", other.kid);
    let req = rig.ext_request(&scope, None);
    assert_eq!(req.exp - req.iat, AUTHREQ_USE_LIFETIME_SECS);
    for p in [&phone, &other] {
        let opened = req.open_for(p);
        let (base, hint) = opened.split_once('#').unwrap();
        assert_eq!(base, scope);
        assert_eq!(
            KeyHint::decode(hint).unwrap(),
            KeyHint::new(KEY_TYPE_X25519_PUBLIC, "second")
        );
        assert_eq!(KeyHint::decode(hint).unwrap().t, "9814");
    }
    // the phone answers with the suffix; the token has it stripped
    let b = rig.approve_body(&phone, &req, &req.open_for(&phone), rig.w.now + 60);
    assert_eq!(
        token_claims(rig.ext_token(&b).result.unwrap().as_str()).scope,
        scope
    );
    // unknown kid, uppercase kid, longer kid: no rewrite, 3600 s
    for s in [
        "keymgmt:use:00000000000000000000000000000000".to_owned(),
        scope.to_uppercase(),
        format!("{scope}0"),
        "keymgmt:list".into(),
    ] {
        let req = rig.ext_request(&s, None);
        assert_eq!(req.exp - req.iat, AUTHREQ_LIFETIME_SECS);
        assert_eq!(req.open_for(&phone), s);
    }
}

#[test]
fn ext_request_details() {
    let mut rig = Rig::new();
    // zero pairings: an empty map, still 200
    let req = rig.ext_request("keymgmt:list", None);
    assert_eq!(req.claims["scope"], json!({}));
    // body exp and unknown members are ignored; ctx and note are copied when in range
    let (_, out) = rig.ext_request_body(
        json!({"scope": "keymgmt:list", "exp": 1, "extra": {"a": [1]},
        "ctx": "c".repeat(64), "note": "n".repeat(128)}),
    );
    let c = claims_of(&out.result.unwrap().authreq);
    assert_eq!(
        c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(),
        AUTHREQ_LIFETIME_SECS
    );
    assert_eq!(
        (
            c["ctx"].as_str().unwrap().len(),
            c["note"].as_str().unwrap().len()
        ),
        (64, 128)
    );
    // out of range: dropped silently
    let (_, out) =
        rig.ext_request_body(json!({"scope": "keymgmt:list", "ctx": "c".repeat(65), "note": ""}));
    let c = claims_of(&out.result.unwrap().authreq);
    assert!(c.get("ctx").is_none() && c.get("note").is_none());
    // epk in url alphabet without padding is accepted; the device echoes standard base64
    let broker = SecretKey::generate(&mut rig.w.rng).public_key();
    let url = codec::pid_to_pidx(&broker.to_b64());
    let (_, out) = rig.ext_request_body(json!({"scope": "keymgmt:list", "epk": url}));
    let r = out.result.unwrap();
    assert_eq!(r.epk, broker.to_b64());
    assert_eq!(claims_of(&r.authreq)["aud"], json!(broker.to_b64()));
}

#[test]
fn token_exp_and_ctx() {
    let mut rig = Rig::new();
    let phone = rig.pair("phone");
    // exp 0 → now + 8 h; ctx from the request when the authreply has none
    let req = rig.ext_request("keymgmt:list", Some("from-request"));
    let t = rig
        .ext_token(&rig.approve_body(&phone, &req, "keymgmt:list", 0))
        .result
        .unwrap()
        .as_str()
        .to_owned();
    let c = token_claims(&t);
    assert_eq!(c.exp, rig.w.now + EXT_TOKEN_DEFAULT_LIFETIME_SECS);
    assert_eq!(c.ctx.as_deref(), Some("from-request"));
    // exp verbatim, even beyond the authreq's; the authreply's ctx wins
    let req = rig.ext_request("keymgmt:list", Some("from-request"));
    let mut claims = rig.authreply_claims(&phone, &req, "keymgmt:list", rig.w.now + 86_400);
    claims["ctx"] = json!("from-reply");
    let t = rig
        .ext_token(&Rig::authreply_body(&phone, &claims))
        .result
        .unwrap()
        .as_str()
        .to_owned();
    let c = token_claims(&t);
    assert_eq!(
        (c.exp, c.ctx.as_deref()),
        (rig.w.now + 86_400, Some("from-reply"))
    );
    // no ctx anywhere: none in the token; the token jti carries its issue time
    let req = rig.ext_request("keymgmt:list", None);
    let t = rig
        .ext_token(&rig.approve_body(&phone, &req, "keymgmt:list", rig.w.now + 5))
        .result
        .unwrap()
        .as_str()
        .to_owned();
    let c = token_claims(&t);
    assert_eq!(c.ctx, None);
    assert_eq!(
        hem_auth_core::nonce::TimeNonce::from_b64(&c.jti)
            .unwrap()
            .time() as u64,
        c.iat
    );
}

#[test]
fn replay_is_refused_everywhere() {
    let mut rig = Rig::new();
    // login
    let b = rig.login_body_with(&rig.w.user.clone(), "system:config", |_| {});
    let token = rig
        .w
        .device
        .auth_token(&b, rig.w.time(), &mut rig.w.rng)
        .result
        .unwrap()
        .as_str()
        .to_owned();
    refused(&mut rig, E::NonceNotPending, 401, |r| {
        r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
    });
    // pairing reply (a second phone answering the same request)
    let (_, jti) = rig.ext_init(&token);
    let (reply, phone) = rig.reply_with(&jti, "phone", |_| {});
    assert!(rig
        .w
        .device
        .ext_validate(
            Some(&token),
            &Rig::validate_body(&phone, &reply),
            rig.w.time()
        )
        .result
        .is_ok());
    let (reply2, phone2) = rig.reply_with(&jti, "phone2", |_| {});
    refused(&mut rig, E::NonceNotPending, 401, |r| {
        r.w.device.ext_validate(
            Some(&token),
            &Rig::validate_body(&phone2, &reply2),
            r.w.time(),
        )
    });
    // authreply
    let req = rig.ext_request("keymgmt:list", None);
    let b = rig.approve_body(&phone, &req, "keymgmt:list", rig.w.now + 900);
    assert!(rig.ext_token(&b).result.is_ok());
    refused(&mut rig, E::NonceNotPending, 401, |r| r.ext_token(&b));
}

#[test]
fn expiry_at_the_boundary() {
    let mut rig = Rig::new();
    let phone = rig.pair("phone");
    // access token: valid at exp - 1, not at exp
    let token = rig.login("keymgmt:list");
    let exp = token_claims(&token).exp;
    let need = Requirement::any_of(&["keymgmt:list"]);
    assert!(rig
        .w
        .device
        .authorize(Some(&token), &need, UnixTime::from_secs(exp - 1))
        .result
        .is_ok());
    assert_eq!(
        rig.w
            .device
            .authorize(Some(&token), &need, UnixTime::from_secs(exp))
            .result
            .unwrap_err(),
        E::TokenExpired
    );

    // authreq nonce: accepted at exp - 1, not at exp (authreply exp 0 so only the nonce decides)
    let req = rig.ext_request("keymgmt:list", None);
    let b = rig.approve_body(&phone, &req, "keymgmt:list", 0);
    rig.w.now = req.exp;
    refused(&mut rig, E::NonceNotPending, 401, |r| r.ext_token(&b));
    rig.w.now = req.exp - 1;
    assert!(rig.ext_token(&b).result.is_ok());

    // authreply exp == now
    let req = rig.ext_request("keymgmt:list", None);
    let b = rig.approve_body(&phone, &req, "keymgmt:list", rig.w.now);
    refused(&mut rig, E::Expired, 401, |r| r.ext_token(&b));

    // login challenge: 60 s
    let c = rig.challenge();
    assert_eq!(c.exp, rig.w.now + LOGIN_CHALLENGE_LIFETIME_SECS);
    let start = rig.w.now;
    let b = rig.login_body_with(&rig.w.user.clone(), "x:y", |v| {
        v["jti"] = json!(c.jti);
        v["exp"] = json!(start + 7200);
    });
    rig.w.now = c.exp;
    refused(&mut rig, E::NonceNotPending, 401, |r| {
        r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
    });
    rig.w.now = c.exp - 1;
    assert!(rig
        .w
        .device
        .auth_token(&b, rig.w.time(), &mut rig.w.rng)
        .result
        .is_ok());

    // pairing request: 24 h
    let config = rig.login("system:config");
    let (init, jti) = rig.ext_init(&config);
    let exp = claims_of(&init.request)["exp"].as_u64().unwrap();
    assert_eq!(exp, rig.w.now + PAIRING_REQUEST_LIFETIME_SECS);
    let (reply, p) = rig.reply_with(&jti, "late", |_| {});
    let b = Rig::validate_body(&p, &reply);
    let config = {
        // a token that outlives the pairing request
        let user = rig.w.user.clone();
        let lb = rig.login_body_with(&user, "system:config", |v| v["exp"] = json!(exp + 10));
        rig.w
            .device
            .auth_token(&lb, rig.w.time(), &mut rig.w.rng)
            .result
            .unwrap()
            .as_str()
            .to_owned()
    };
    rig.w.now = exp;
    refused(&mut rig, E::NonceNotPending, 401, |r| {
        r.w.device.ext_validate(Some(&config), &b, r.w.time())
    });
    rig.w.now = exp - 1;
    assert!(rig
        .w
        .device
        .ext_validate(Some(&config), &b, rig.w.time())
        .result
        .is_ok());
}

#[test]
fn scope_policy_default_vs_strict() {
    for strict in [false, true] {
        let mut rig = if strict {
            Rig::with(crate::rig::policy_strict)
        } else {
            Rig::new()
        };
        let phone = rig.pair("phone");
        let cases = [
            ("storage:disk0", "storage:disk0:rw", true),
            ("storage:disk1:rw", "storage:disk1", true),
            ("keymgmt:list", "keymgmt:list", true),
            ("keymgmt:list", "system:config", false),
            ("keymgmt:list", "keymgmt:list:rw", false),
        ];
        for (requested, approved, strict_ok) in cases {
            let req = rig.ext_request(requested, None);
            let out = rig.ext_token(&rig.approve_body(&phone, &req, approved, rig.w.now + 60));
            if strict && !strict_ok {
                assert_eq!(out.result.unwrap_err(), E::ScopeMismatch);
            } else {
                assert_eq!(
                    token_claims(out.result.unwrap().as_str()).scope,
                    approved,
                    "strict={strict}"
                );
            }
        }
    }
}

#[test]
fn rtc_unset_until_checkin_or_set_clock() {
    let mut rig = Rig::new();
    rig.unset_clock();
    assert!(!rig.w.device.rtc_is_set());
    refused(&mut rig, E::RtcUnset, 403, |r| {
        r.ext_request_body(json!({"scope": "keymgmt:list"})).1
    });

    // check-in with the emulated backend
    let check = rig
        .w
        .device
        .checkin_challenge(rig.w.time(), &mut rig.w.rng)
        .result
        .unwrap();
    let c = claims_of(&check.check);
    assert_eq!(c["iss"], json!(rig.w.device.spk().to_b64()));
    assert_eq!(c["aud"], json!(rig.w.backend.public_key().to_b64()));
    assert!(check
        .check
        .starts_with("eyJlY2RoIjoieDI1NTE5IiwidHlwIjoiSldUIiwiYWxnIjoiSFMyNTYifQ."));
    let key = rig.w.backend.diffie_hellman(rig.w.device.spk()).unwrap();
    // the backend verifies the check with X25519(backend_prv, spk)
    let u = jwt::UntrustedJwt::parse(&check.check).unwrap();
    assert!(u.verify(key.as_bytes(), jwt::HeaderPolicy::Ecdh).is_ok());
    let checked = jwt::sign(
        Header::Device,
        &json!({"jti": c["jti"], "iat": 1_900_000_000u64,
        "iss": rig.w.backend.public_key().to_b64(), "aud": rig.w.device.spk().to_b64(), "status": "OK"}),
        key.as_bytes(),
    );
    let out = rig
        .w
        .device
        .checkin(&body(&json!({ "checked": checked })), rig.w.time());
    let ev = out.events[0].clone();
    let done = out.result.unwrap();
    assert_eq!(done.time.as_secs(), 1_900_000_000);
    assert_eq!(messages::to_json(&done.response), r#"{"status":"OK"}"#);
    assert_eq!(
        (ev.kind.code(), ev.time, ev.data()),
        (19, 1_900_000_000, "1900000000")
    );
    assert!(rig.w.device.rtc_is_set());
    rig.w.now = done.time.as_secs();
    assert!(rig
        .ext_request_body(json!({"scope": "keymgmt:list"}))
        .1
        .result
        .is_ok());

    // the emulator's explicit set-clock
    rig.unset_clock();
    let out = rig.w.device.set_clock(UnixTime::from_secs(42));
    assert_eq!(
        (out.events[0].kind, out.events[0].time),
        (AuditKind::RtcSet, 42)
    );
    assert!(rig.w.device.rtc_is_set());
}

#[test]
fn reboot_invalidates_tokens_and_keeps_pairings() {
    let mut rig = Rig::new();
    let phone = rig.pair("phone");
    let token = rig.login("keymgmt:list");
    let need = Requirement::any_of(&["keymgmt:list"]);
    assert!(rig
        .w
        .device
        .authorize(Some(&token), &need, rig.w.time())
        .result
        .is_ok());
    let old_spk = *rig.w.device.spk();
    let pending_req = rig.ext_request("keymgmt:list", None);

    // persist as JSON, reboot
    let json = serde_json::to_string(&rig.w.device.snapshot()).unwrap();
    assert!(!json.contains("pending"));
    let snap: DeviceSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(snap, rig.w.device.snapshot());
    rig.w.device = Device::restore(snap, &mut rig.w.rng).unwrap();

    assert_ne!(*rig.w.device.spk(), old_spk, "new per-boot session key");
    assert!(!rig.w.device.rtc_is_set(), "the clock is lost");
    assert_eq!(
        rig.w
            .device
            .authorize(Some(&token), &need, rig.w.time())
            .result
            .unwrap_err(),
        E::InvalidToken
    );
    assert_eq!(rig.w.device.pairings().len(), 1);
    assert_eq!(rig.w.device.pairings()[0].kid_hex(), phone.kid);
    // pending nonces were not in the snapshot
    assert!(!rig
        .w
        .device
        .is_pending(NoncePurpose::Authreq, &pending_req.jti, rig.w.time()));

    // after check-in (here: set-clock), the restored pairing works without re-pairing
    let _ = rig.w.device.set_clock(rig.w.time());
    let req = rig.ext_request("keymgmt:list", None);
    let t = rig
        .ext_token(&rig.approve_body(&phone, &req, "keymgmt:list", rig.w.now + 60))
        .result
        .unwrap()
        .as_str()
        .to_owned();
    assert!(rig
        .w
        .device
        .authorize(Some(&t), &need, rig.w.time())
        .result
        .is_ok());

    // Nonces the device issued die with the reboot even in a snapshot "with pending" (their
    // tags are keyed with the per-boot nonce key, spec §4.6); explicit ones survive it.
    let req = rig.ext_request("keymgmt:list", None);
    let explicit = rig.ext_request("keymgmt:list", None);
    rig.w
        .device
        .insert_pending(NoncePurpose::Authreq, explicit.jti, explicit.exp, None);
    let snap = rig.w.device.snapshot_with_pending();
    assert_eq!(snap.pending.len(), 1);
    assert_eq!(snap.pending[0].jti, explicit.jti);
    assert!(serde_json::to_string(&snap).unwrap().contains("authreq"));
    rig.w.device = Device::restore(snap, &mut rig.w.rng).unwrap();
    let _ = rig.w.device.set_clock(rig.w.time());
    refused(&mut rig, E::NonceNotPending, 401, |r| {
        r.ext_token(&r.approve_body(&phone, &req, "keymgmt:list", r.w.now + 60))
    });
    assert!(rig
        .ext_token(&rig.approve_body(&phone, &explicit, "keymgmt:list", rig.w.now + 60))
        .result
        .is_ok());
}

#[test]
fn snapshot_secrets_and_bad_snapshots() {
    let rig = Rig::new();
    let snap = rig.w.device.snapshot();
    let secret_b64 = codec::encode_std(&*snap.config.identity.to_bytes());
    let json = serde_json::to_string(&snap).unwrap();
    assert!(json.contains(&secret_b64), "identity serialised as base64");
    assert!(
        !format!("{snap:?}").contains(&secret_b64),
        "Debug never prints it"
    );
    assert!(!format!("{:?}", rig.w.device).contains(&secret_b64));

    let pairing = |b: u8| {
        let aid = SecretKey::from_bytes([b; 32]).public_key();
        PairingSnapshot {
            pid: [b; 32],
            aid,
            label: "p".into(),
        }
    };
    let mut rng = crate::support::rng(3);
    let mut s = snap.clone();
    s.pairings = (1..=9).map(pairing).collect();
    assert_eq!(Device::restore(s, &mut rng).err(), Some(E::TooManyPairings));
    let mut s = snap.clone();
    s.pairings = vec![
        pairing(1),
        PairingSnapshot {
            pid: [2; 32],
            ..pairing(1)
        },
    ];
    assert_eq!(Device::restore(s, &mut rng).err(), Some(E::DuplicateAid));
    let mut s = snap.clone();
    s.pairings = vec![
        pairing(1),
        PairingSnapshot {
            pid: [1; 32],
            ..pairing(2)
        },
    ];
    assert_eq!(Device::restore(s, &mut rng).err(), Some(E::DuplicatePid));
    let mut s = snap.clone();
    s.pairings = vec![PairingSnapshot {
        aid: hem_auth_core::keys::PublicKey::from_bytes([0; 32]),
        ..pairing(1)
    }];
    assert!(matches!(
        Device::restore(s, &mut rng).err(),
        Some(E::Malformed(_))
    ));
    assert!(serde_json::from_str::<DeviceSnapshot>(r#"{"config":{"identity":"AAAA"}}"#).is_err());
}

#[test]
fn vector_checker_hooks() {
    // A device built from vector inputs: fixed per-boot keys, pairings via a snapshot, a
    // pending authreq nonce inserted directly.
    let mut rng = crate::support::rng(11);
    let eid_sk = SecretKey::generate(&mut rng);
    let spk_sk = SecretKey::generate(&mut rng);
    let aid_sk = SecretKey::generate(&mut rng);
    let mut snap = DeviceSnapshot::new(DeviceConfig::new(eid_sk.clone()));
    snap.pairings.push(PairingSnapshot {
        pid: [7; 32],
        aid: aid_sk.public_key(),
        label: "vector".into(),
    });
    let mut dev =
        Device::restore_with_boot_keys(snap, BootKeys::from_parts(spk_sk.clone(), [5; 32]))
            .unwrap();
    assert_eq!(*dev.spk(), spk_sk.public_key());
    let _ = dev.set_clock(UnixTime::from_secs(1000));
    let jti = [9u8; 32];
    dev.insert_pending(NoncePurpose::Authreq, jti, 2000, Some("keymgmt:list"));
    let s1 = aid_sk.diffie_hellman(&eid_sk.public_key()).unwrap();
    let sealed = hem_auth_core::seal::ScopeKey::derive(&s1, &jti)
        .seal("keymgmt:list")
        .unwrap();
    let claims = json!({"jti": codec::encode_std(&jti), "exp": 1500, "pid": codec::encode_std(&[7; 32]),
        "iss": aid_sk.public_key().to_b64(), "scope": sealed});
    let b = body(&json!({"authreply": jwt::sign(Header::App, &claims, s1.as_bytes())}));
    let before = dev.snapshot_with_pending();
    let t = dev
        .ext_token(&b, UnixTime::from_secs(1000), &mut rng)
        .result
        .unwrap()
        .as_str()
        .to_owned();
    assert_ne!(
        dev.snapshot_with_pending(),
        before,
        "success consumed the nonce"
    );
    assert!(!dev.is_pending(NoncePurpose::Authreq, &jti, UnixTime::from_secs(1000)));
    // the token verifies under the fixed token key
    let u = jwt::UntrustedJwt::parse(&t).unwrap();
    assert!(u.verify(&[5; 32], jwt::HeaderPolicy::Plain).is_ok());
}

#[test]
fn authorize_rules() {
    let mut rig = Rig::new();
    let user = rig.login("keymgmt:use:0123456789abcdef0123456789abcdef");
    let master = rig.w.master.clone();
    let m = rig.login_as(&master, "system:config");
    let now = rig.w.now;
    let dev = &rig.w.device;
    // prefix vs exact
    let prefix = ["keymgmt:use"];
    assert_eq!(
        dev.authorize(
            Some(&user),
            &Requirement::any_of(&prefix),
            UnixTime::from_secs(now)
        )
        .result
        .unwrap()
        .matched,
        "keymgmt:use"
    );
    assert_eq!(
        dev.authorize(
            Some(&user),
            &Requirement::exact("keymgmt:use:0123456789abcdef0123456789abcde"),
            UnixTime::from_secs(now)
        )
        .result
        .unwrap_err(),
        E::InsufficientScope
    );
    assert!(dev
        .authorize(
            Some(&user),
            &Requirement::exact("keymgmt:use:0123456789abcdef0123456789abcdef"),
            UnixTime::from_secs(now)
        )
        .result
        .is_ok());
    // any token; several accepted scopes, first match reported
    assert_eq!(
        dev.authorize(
            Some(&m),
            &Requirement::any_token(),
            UnixTime::from_secs(now)
        )
        .result
        .unwrap()
        .subject,
        Subject::Master
    );
    let cfg = ["logger:get", "system:config"];
    assert_eq!(
        dev.authorize(
            Some(&m),
            &Requirement::any_of(&cfg),
            UnixTime::from_secs(now)
        )
        .result
        .unwrap()
        .matched,
        "system:config"
    );
    // roles
    assert_eq!(
        dev.authorize(
            Some(&m),
            &Requirement::any_of(&cfg).roles(Roles::NotMaster),
            UnixTime::from_secs(now)
        )
        .result
        .unwrap_err(),
        E::WrongRole
    );
    assert_eq!(
        dev.authorize(
            Some(&m),
            &Requirement::EXT_PAIRING,
            UnixTime::from_secs(now)
        )
        .result
        .unwrap_err(),
        E::WrongRole
    );
    assert_eq!(
        dev.authorize(
            Some(&user),
            &Requirement::any_of(&prefix).roles(Roles::UserOnly),
            UnixTime::from_secs(now)
        )
        .result
        .unwrap()
        .subject,
        Subject::User
    );
}

#[test]
fn ext_mac_and_code_are_checkable() {
    let mut rig = Rig::new();
    let token = rig.login("auth:ext:pair");
    // ext/mac: HMAC(X25519(eid_prv, epk), nonce), checked with X25519(epk_prv, eid)
    let broker = SecretKey::generate(&mut rig.w.rng);
    let b = body(&json!({"epk": broker.public_key().to_b64()}));
    let before = rig.state();
    let mac = rig
        .w
        .device
        .ext_mac(Some(&token), &b, rig.w.time(), &mut rig.w.rng)
        .result
        .unwrap();
    assert_eq!(rig.state(), before, "ext/mac is stateless");
    let key = broker.diffie_hellman(rig.w.device.eid()).unwrap();
    let nonce = crate::support::b64(&mac.nonce);
    assert!(hem_auth_core::mac::mac_verify(
        key.as_bytes(),
        &[&nonce],
        &crate::support::b64(&mac.mac)
    ));
    assert_eq!(mac.eid, rig.eid_b64());
    // ext/validate: code = HMAC(X25519(eid_prv, reply.epk), reply)
    let (_, jti) = rig.ext_init(&token);
    let reply_broker = SecretKey::generate(&mut rig.w.rng);
    let (reply, phone) = rig.reply_with(&jti, "phone", |v| {
        v["epk"] = json!(reply_broker.public_key().to_b64())
    });
    let r = rig
        .w
        .device
        .ext_validate(
            Some(&token),
            &Rig::validate_body(&phone, &reply),
            rig.w.time(),
        )
        .result
        .unwrap();
    let key = reply_broker.diffie_hellman(rig.w.device.eid()).unwrap();
    assert!(hem_auth_core::mac::mac_verify(
        key.as_bytes(),
        &[reply.as_bytes()],
        &crate::support::b64(&r.code)
    ));
}
