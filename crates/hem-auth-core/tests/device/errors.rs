//! One test per cell of the device's error tables (spec §10.2): every status, every listed cause,
//! each asserting the exact error, its status, and that the device state did not change.

use hem_auth_core::device::{AuditKind, AuditResult, DeviceError as E, Malformed as M};
use hem_auth_core::jwt::{self, Header, JwtError};
use hem_auth_core::keys::SecretKey;
use hem_auth_core::seal::SealError;
use serde_json::{json, Value};

use crate::rig::{body, refused, Rig};

const LOW_ORDER: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const SHORT_KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQ==";

// ---------------------------------------------------------------- ext/request

#[test]
fn ext_request_403_rtc_unset() {
    let mut rig = Rig::new();
    rig.unset_clock();
    refused(&mut rig, E::RtcUnset, 403, |r| {
        r.ext_request_body(json!({"scope": "keymgmt:list"})).1
    });
    // RTC comes before everything: an uninitialised device with garbage input still says 403.
    let mut rig = Rig::with(|c| c.initialised = false);
    rig.unset_clock();
    refused(&mut rig, E::RtcUnset, 403, |r| {
        r.w.device.ext_request(b"garbage", r.w.time(), &mut r.w.rng)
    });
}

#[test]
fn ext_request_409_not_initialised() {
    let mut rig = Rig::with(|c| c.initialised = false);
    refused(&mut rig, E::NotInitialised, 409, |r| {
        r.ext_request_body(json!({"scope": "keymgmt:list"})).1
    });
    refused(&mut rig, E::NotInitialised, 409, |r| {
        r.w.device.ext_request(b"[]", r.w.time(), &mut r.w.rng)
    });
}

#[test]
fn ext_request_400() {
    let mut rig = Rig::new();
    let bad_bodies: [&[u8]; 4] = [
        b"[]",
        b"not json",
        b"\"x\"",
        br#"{"epk":"a","epk":"b","scope":"s"}"#,
    ];
    for b in bad_bodies {
        refused(&mut rig, E::Malformed(M::Body), 400, |r| {
            r.w.device.ext_request(b, r.w.time(), &mut r.w.rng)
        });
    }
    // epk missing, of the wrong type
    refused(&mut rig, E::Malformed(M::Body), 400, |r| {
        r.w.device.ext_request(
            &body(&json!({"scope": "keymgmt:list"})),
            r.w.time(),
            &mut r.w.rng,
        )
    });
    refused(&mut rig, E::Malformed(M::Body), 400, |r| {
        r.w.device.ext_request(
            &body(&json!({"epk": 5, "scope": "keymgmt:list"})),
            r.w.time(),
            &mut r.w.rng,
        )
    });
    // epk not 32 bytes, not base64, low-order
    for epk in [SHORT_KEY, "!!!", LOW_ORDER] {
        refused(&mut rig, E::Malformed(M::Epk), 400, |r| {
            r.ext_request_body(json!({"epk": epk, "scope": "keymgmt:list"}))
                .1
        });
    }
    // scope missing / wrong type
    refused(&mut rig, E::Malformed(M::Body), 400, |r| {
        r.ext_request_body(json!({})).1
    });
    refused(&mut rig, E::Malformed(M::Body), 400, |r| {
        r.ext_request_body(json!({"scope": 1})).1
    });
    // scope empty or too long
    for scope in [String::new(), "s".repeat(1024)] {
        refused(&mut rig, E::Malformed(M::Scope), 400, |r| {
            r.ext_request_body(json!({ "scope": scope })).1
        });
    }
    // 1023 is the limit, not an error
    assert!(rig
        .ext_request_body(json!({"scope": "s".repeat(1023)}))
        .1
        .result
        .is_ok());
}

#[test]
fn ext_request_413() {
    let mut rig = Rig::new();
    let big = vec![b' '; hem_auth_core::messages::MAX_BODY_BYTES + 1];
    refused(&mut rig, E::BodyTooLarge, 413, |r| {
        r.w.device.ext_request(&big, r.w.time(), &mut r.w.rng)
    });
}

// ---------------------------------------------------------------- ext/token

/// A rig with one paired phone and one pending authreq for `keymgmt:list`.
fn token_rig() -> (Rig, crate::rig::Phone, crate::rig::Req) {
    let mut rig = Rig::new();
    let phone = rig.pair("Pixel 8 (Android)");
    let req = rig.ext_request("keymgmt:list", None);
    (rig, phone, req)
}

#[test]
fn ext_token_403_rtc_unset() {
    let (mut rig, phone, req) = token_rig();
    let b = rig.approve_body(&phone, &req, "keymgmt:list", rig.w.now + 900);
    rig.unset_clock();
    refused(&mut rig, E::RtcUnset, 403, |r| r.ext_token(&b));
    refused(&mut rig, E::RtcUnset, 403, |r| r.ext_token(b"[]"));
}

#[test]
fn ext_token_409_not_initialised() {
    let (mut rig, phone, req) = token_rig();
    let b = rig.approve_body(&phone, &req, "keymgmt:list", rig.w.now + 900);
    let mut snap = rig.w.device.snapshot_with_pending();
    snap.config.initialised = false;
    rig.w.device =
        hem_auth_core::device::Device::restore(snap, &mut crate::support::rng(1)).unwrap();
    let _ = rig.w.device.set_clock(rig.w.time());
    refused(&mut rig, E::NotInitialised, 409, |r| r.ext_token(&b));
}

#[test]
fn ext_token_400() {
    let (mut rig, phone, req) = token_rig();
    let good = rig.authreply_claims(&phone, &req, "keymgmt:list", rig.w.now + 900);
    // body malformed
    for b in [&b"[]"[..], b"{}", br#"{"authreply":1}"#, b"{"] {
        refused(&mut rig, E::Malformed(M::Body), 400, |r| r.ext_token(b));
    }
    // JWT malformed
    refused(
        &mut rig,
        E::Malformed(M::Jwt(JwtError::SegmentCount)),
        400,
        |r| r.ext_token(&body(&json!({"authreply": "a.b"}))),
    );
    refused(
        &mut rig,
        E::Malformed(M::Jwt(JwtError::Encoding)),
        400,
        |r| r.ext_token(&body(&json!({"authreply": "a.b.c"}))),
    );
    let dup = {
        let payload = r#"{"jti":"x","jti":"y","pid":"p","iss":"i","scope":"A","exp":1}"#;
        let mut t = hem_auth_core::codec::encode_segment(Header::App.json().as_bytes());
        t.push('.');
        t.push_str(&hem_auth_core::codec::encode_segment(payload.as_bytes()));
        t.push('.');
        t.push_str(&hem_auth_core::codec::encode_segment(
            &hem_auth_core::mac::mac(phone.s1.as_bytes(), t.as_bytes()),
        ));
        t
    };
    refused(
        &mut rig,
        E::Malformed(M::Jwt(JwtError::DuplicateMember)),
        400,
        |r| r.ext_token(&body(&json!({ "authreply": dup }))),
    );
    // each required claim missing, then of the wrong type
    for claim in ["jti", "pid", "iss", "scope", "exp"] {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(claim);
        refused(&mut rig, E::Malformed(M::Claims), 400, |r| {
            r.ext_token(&Rig::authreply_body(&phone, &c))
        });
        let mut c = good.clone();
        c[claim] = if claim == "exp" { json!("1") } else { json!(1) };
        refused(&mut rig, E::Malformed(M::Claims), 400, |r| {
            r.ext_token(&Rig::authreply_body(&phone, &c))
        });
    }
    let mut c = good.clone();
    c["exp"] = json!(1.5);
    refused(&mut rig, E::Malformed(M::Claims), 400, |r| {
        r.ext_token(&Rig::authreply_body(&phone, &c))
    });
    // pid not 32 bytes
    for pid in ["AAAA", "not base64!"] {
        let mut c = good.clone();
        c["pid"] = json!(pid);
        refused(&mut rig, E::Malformed(M::Pid), 400, |r| {
            r.ext_token(&Rig::authreply_body(&phone, &c))
        });
    }
    // and the good one still works afterwards
    assert!(rig
        .ext_token(&Rig::authreply_body(&phone, &good))
        .result
        .is_ok());
}

#[test]
fn ext_token_413() {
    let (mut rig, _, _) = token_rig();
    let big = vec![b' '; hem_auth_core::messages::MAX_BODY_BYTES + 1];
    refused(&mut rig, E::BodyTooLarge, 413, |r| r.ext_token(&big));
}

#[test]
fn ext_token_406_pid_and_iss_before_the_mac() {
    let (mut rig, phone, req) = token_rig();
    let good = rig.authreply_claims(&phone, &req, "keymgmt:list", rig.w.now + 900);
    // pid not paired (and signed with a wrong key: 406 comes first)
    let mut c = good.clone();
    c["pid"] = json!(hem_auth_core::codec::encode_std(&[9u8; 32]));
    refused(&mut rig, E::UnknownPairing, 406, |r| {
        r.ext_token(&Rig::authreply_body(&phone, &c))
    });
    let wrong_key = body(&json!({"authreply": jwt::sign(Header::App, &c, &[1u8; 32])}));
    refused(&mut rig, E::UnknownPairing, 406, |r| {
        r.ext_token(&wrong_key)
    });
    // iss not the paired aid: another key (an iss that is not a key at all is 400, step 8:
    // see `hardening::ext_token_400_non_canonical_iss_before_the_pairing_lookup`)
    let other = SecretKey::generate(&mut rig.w.rng).public_key().to_b64();
    let mut c = good.clone();
    c["iss"] = json!(other);
    refused(&mut rig, E::IssuerMismatch, 406, |r| {
        r.ext_token(&Rig::authreply_body(&phone, &c))
    });
    let wrong_key = body(&json!({"authreply": jwt::sign(Header::App, &c, &[1u8; 32])}));
    refused(&mut rig, E::IssuerMismatch, 406, |r| {
        r.ext_token(&wrong_key)
    });
}

#[test]
fn ext_token_401() {
    let (mut rig, phone, req) = token_rig();
    let good = rig.authreply_claims(&phone, &req, "keymgmt:list", rig.w.now + 900);
    // header policy: a header without `ecdh`, one with alg none
    for header in [
        r#"{"alg":"HS256","typ":"JWT"}"#,
        r#"{"alg":"none","ecdh":"x25519"}"#,
    ] {
        let t = forge(header, &good, phone.s1.as_bytes());
        refused(&mut rig, E::HeaderPolicy, 401, |r| {
            r.ext_token(&body(&json!({ "authreply": t })))
        });
    }
    // bad MAC: wrong key; one flipped signature character
    let wrong = body(&json!({"authreply": jwt::sign(Header::App, &good, &[3u8; 32])}));
    refused(&mut rig, E::BadMac, 401, |r| r.ext_token(&wrong));
    let mut t = jwt::sign(Header::App, &good, phone.s1.as_bytes());
    let last = t.pop().unwrap();
    t.push(if last == 'A' { 'Q' } else { 'A' });
    refused(&mut rig, E::BadMac, 401, |r| {
        r.ext_token(&body(&json!({ "authreply": t })))
    });
    // aud present and not the eid (another key, garbage); absent is fine (checked below)
    for aud in [
        SecretKey::generate(&mut rig.w.rng).public_key().to_b64(),
        "x".into(),
    ] {
        let mut c = good.clone();
        c["aud"] = json!(aud);
        refused(&mut rig, E::AudienceMismatch, 401, |r| {
            r.ext_token(&Rig::authreply_body(&phone, &c))
        });
    }
    // nonce not pending: unknown, not 32 bytes, a login nonce (wrong purpose)
    let login_jti = rig.challenge().jti.into_owned();
    for jti in [
        hem_auth_core::codec::encode_std(&[5u8; 32]),
        "AAAA".into(),
        login_jti,
    ] {
        let mut c = good.clone();
        c["jti"] = json!(jti);
        refused(&mut rig, E::NonceNotPending, 401, |r| {
            r.ext_token(&Rig::authreply_body(&phone, &c))
        });
    }
    // exp not after now: equal, earlier
    for exp in [rig.w.now, rig.w.now - 1] {
        let mut c = good.clone();
        c["exp"] = json!(exp);
        refused(&mut rig, E::Expired, 401, |r| {
            r.ext_token(&Rig::authreply_body(&phone, &c))
        });
    }
    // the nonce survived every failure: the good authreply (without aud) still works
    let mut c = good.clone();
    c.as_object_mut().unwrap().remove("aud");
    assert!(rig
        .ext_token(&Rig::authreply_body(&phone, &c))
        .result
        .is_ok());
    // …once: a replay is 401
    refused(&mut rig, E::NonceNotPending, 401, |r| {
        r.ext_token(&Rig::authreply_body(&phone, &good))
    });
}

#[test]
fn ext_token_406_scope_after_the_mac() {
    let (mut rig, phone, req) = token_rig();
    let good = rig.authreply_claims(&phone, &req, "keymgmt:list", rig.w.now + 900);
    let sealed = good["scope"].as_str().unwrap().to_owned();
    let raw = crate::support::b64(&sealed[1..]);
    let reseal = |bytes: &[u8]| format!("A{}", hem_auth_core::codec::encode_std(bytes));
    let mut bad_tag = raw.clone();
    *bad_tag.last_mut().unwrap() ^= 1;
    let other_key = hem_auth_core::seal::ScopeKey::derive(&phone.s1, &[7u8; 32])
        .seal("keymgmt:list")
        .unwrap();
    let cases: Vec<(String, E)> = vec![
        (sealed.replacen('A', "B", 1), E::ScopeScheme),
        (String::new(), E::ScopeScheme),
        ("A!!!".into(), E::ScopeOpen(SealError::Encoding)),
        (
            reseal(&raw[..raw.len() - 1]),
            E::ScopeOpen(SealError::Length),
        ),
        (reseal(&raw[16..]), E::ScopeOpen(SealError::Length)),
        (reseal(&bad_tag), E::ScopeOpen(SealError::Tag)),
    ];
    for (scope, err) in cases {
        let mut c = good.clone();
        c["scope"] = json!(scope);
        refused(&mut rig, err.clone(), 406, |r| {
            r.ext_token(&Rig::authreply_body(&phone, &c))
        });
        // the MAC is checked before the scope: a bad MAC with a bad scope is 401
        let wrong = body(&json!({"authreply": jwt::sign(Header::App, &c, &[3u8; 32])}));
        refused(&mut rig, E::BadMac, 401, |r| r.ext_token(&wrong));
    }
    // sealed under another jti: padding or tag failure
    let mut c = good.clone();
    c["scope"] = json!(other_key);
    let before = rig.state();
    let err = rig
        .ext_token(&Rig::authreply_body(&phone, &c))
        .result
        .unwrap_err();
    assert!(
        matches!(err, E::ScopeOpen(SealError::Padding | SealError::Tag)),
        "{err:?}"
    );
    assert_eq!(err.status(), 406);
    assert_eq!(rig.state(), before);
}

#[test]
fn ext_token_406_requested_only_policy() {
    let mut rig = Rig::with(crate::rig::policy_strict);
    let phone = rig.pair("phone");
    let req = rig.ext_request("keymgmt:list", None);
    for approved in ["keymgmt:del", "keymgmt:list:rw", "keymgmt:lis"] {
        let b = rig.approve_body(&phone, &req, approved, rig.w.now + 900);
        refused(&mut rig, E::ScopeMismatch, 406, |r| r.ext_token(&b));
    }
    let b = rig.approve_body(&phone, &req, "keymgmt:list", rig.w.now + 900);
    assert!(rig.ext_token(&b).result.is_ok());
}

#[test]
fn ext_token_406_token_too_large() {
    use hem_auth_core::device::{MAX_ACCESS_TOKEN_BYTES, MAX_AUDIT_DATA_BYTES};
    use hem_auth_core::messages::to_json;
    use hem_auth_core::seal::MAX_SCOPE_BYTES;
    let mut rig = Rig::new();
    let phone = rig.pair("phone");
    // The longest scope a sealer can seal, printable: the token fits, whole in the event.
    let req = rig.ext_request("keymgmt:list", None);
    let longest = format!("keymgmt:{}", "l".repeat(MAX_SCOPE_BYTES - 1 - 8));
    let b = rig.approve_body(&phone, &req, &longest, rig.w.now + 900);
    let out = rig.ext_token(&b);
    let token = out.result.unwrap();
    assert!(token.as_str().len() <= MAX_ACCESS_TOKEN_BYTES);
    assert_eq!(token.response_json(), to_json(&token));
    assert_eq!(crate::rig::token_claims(token.as_str()).scope, longest);
    assert_eq!(out.events[0].data(), longest);
    // Control characters are escaped six bytes each: this one would exceed the bearer limit.
    let req = rig.ext_request("keymgmt:list", None);
    let escaped = "\u{1}".repeat(600);
    assert!(6 * escaped.len() > MAX_AUDIT_DATA_BYTES);
    let b = rig.approve_body(&phone, &req, &escaped, rig.w.now + 900);
    let events = refused(&mut rig, E::TokenTooLarge, 406, |r| r.ext_token(&b));
    assert!(events.is_empty());
}

fn forge(header: &str, claims: &Value, key: &[u8]) -> String {
    let mut t = hem_auth_core::codec::encode_segment(header.as_bytes());
    t.push('.');
    t.push_str(&hem_auth_core::codec::encode_segment(
        &serde_json::to_vec(claims).unwrap(),
    ));
    let tag = hem_auth_core::mac::mac(key, t.as_bytes());
    t.push('.');
    t.push_str(&hem_auth_core::codec::encode_segment(&tag));
    t
}

// ---------------------------------------------------------------- ext/init, ext/mac

fn epk_body(rig: &mut Rig) -> Vec<u8> {
    body(&json!({"epk": SecretKey::generate(&mut rig.w.rng).public_key().to_b64()}))
}

#[test]
fn ext_init_and_mac_400() {
    let mut rig = Rig::new();
    let token = rig.login("auth:ext:pair");
    for b in [body(&json!({})), body(&json!({"epk": 1})), b"[]".to_vec()] {
        refused(&mut rig, E::Malformed(M::Body), 400, |r| {
            r.w.device
                .ext_init(Some(&token), &b, r.w.time(), &mut r.w.rng)
        });
        refused(&mut rig, E::Malformed(M::Body), 400, |r| {
            r.w.device
                .ext_mac(Some(&token), &b, r.w.time(), &mut r.w.rng)
        });
    }
    for epk in [SHORT_KEY, "!!", LOW_ORDER] {
        let b = body(&json!({ "epk": epk }));
        refused(&mut rig, E::Malformed(M::Epk), 400, |r| {
            r.w.device
                .ext_init(Some(&token), &b, r.w.time(), &mut r.w.rng)
        });
        refused(&mut rig, E::Malformed(M::Epk), 400, |r| {
            r.w.device
                .ext_mac(Some(&token), &b, r.w.time(), &mut r.w.rng)
        });
    }
}

#[test]
fn ext_init_and_mac_401_bearer() {
    let mut rig = Rig::new();
    let token = rig.login("system:config");
    let b = epk_body(&mut rig);
    refused(&mut rig, E::MissingToken, 401, |r| {
        r.w.device.ext_init(None, &b, r.w.time(), &mut r.w.rng)
    });
    refused(&mut rig, E::MissingToken, 401, |r| {
        r.w.device.ext_mac(None, &b, r.w.time(), &mut r.w.rng)
    });
    let mut tampered = token.clone();
    tampered.insert(tampered.find('.').unwrap() + 2, 'x');
    let other_device = jwt::sign(
        Header::AccessToken,
        &crate::rig::token_claims(&token),
        &[0u8; 32],
    );
    for t in ["", "junk", tampered.as_str(), other_device.as_str()] {
        refused(&mut rig, E::InvalidToken, 401, |r| {
            r.w.device.ext_init(Some(t), &b, r.w.time(), &mut r.w.rng)
        });
        refused(&mut rig, E::InvalidToken, 401, |r| {
            r.w.device.ext_mac(Some(t), &b, r.w.time(), &mut r.w.rng)
        });
    }
    // the bearer comes before the body
    refused(&mut rig, E::MissingToken, 401, |r| {
        r.w.device.ext_init(None, b"[]", r.w.time(), &mut r.w.rng)
    });
    // expired: valid while now < exp
    let exp = crate::rig::token_claims(&token).exp;
    rig.w.now = exp;
    refused(&mut rig, E::TokenExpired, 401, |r| {
        r.w.device
            .ext_init(Some(&token), &b, r.w.time(), &mut r.w.rng)
    });
    rig.w.now = exp - 1;
    assert!(rig
        .w
        .device
        .ext_init(Some(&token), &b, rig.w.time(), &mut rig.w.rng)
        .result
        .is_ok());
}

#[test]
fn ext_init_and_mac_403_scope_or_role_is_audited() {
    let mut rig = Rig::new();
    let b = epk_body(&mut rig);
    let wrong_scope = rig.login("system:wrong");
    let master = rig.w.master.clone();
    let master_token = rig.login_as(&master, "system:config");
    // an authenticator-issued token with the right scope but sub = kid
    let phone = rig.pair("phone");
    let req = rig.ext_request("system:config", None);
    let ext = rig.approve_body(&phone, &req, "system:config", rig.w.now + 900);
    let ext_token = rig.ext_token(&ext).result.unwrap().as_str().to_owned();

    for (token, err) in [
        (wrong_scope.as_str(), E::InsufficientScope),
        (master_token.as_str(), E::WrongRole),
        (ext_token.as_str(), E::WrongRole),
    ] {
        let sub = crate::rig::token_claims(token).sub.into_owned();
        for events in [
            refused(&mut rig, err.clone(), 403, |r| {
                r.w.device
                    .ext_init(Some(token), &b, r.w.time(), &mut r.w.rng)
            }),
            refused(&mut rig, err.clone(), 403, |r| {
                r.w.device
                    .ext_mac(Some(token), &b, r.w.time(), &mut r.w.rng)
            }),
        ] {
            assert_eq!(events.len(), 1);
            let e = &events[0];
            assert_eq!(
                (e.kind, e.kind.code(), e.result, e.result.code()),
                (AuditKind::FailedScopeCheck, 12, AuditResult::Failed, 1)
            );
            assert_eq!(
                (e.time, e.sub(), e.data()),
                (rig.w.now, sub.as_str(), "auth:ext:pair|system:config")
            );
        }
    }
}

// ---------------------------------------------------------------- ext/validate

#[test]
fn ext_validate_400() {
    let mut rig = Rig::new();
    let token = rig.login("auth:ext:pair");
    let (_, jti) = rig.ext_init(&token);
    let (reply, phone) = rig.reply_with(&jti, "phone", |_| {});
    let validate = |r: &mut Rig, b: &[u8]| r.w.device.ext_validate(Some(&token), b, r.w.time());
    for b in [
        b"[]".to_vec(),
        body(&json!({"pid": phone.pid()})),
        body(&json!({"reply": reply})),
        body(&json!({"pid": 1, "reply": reply})),
    ] {
        refused(&mut rig, E::Malformed(M::Body), 400, |r| validate(r, &b));
    }
    refused(&mut rig, E::Malformed(M::Pid), 400, |r| {
        validate(r, &body(&json!({"pid": "AAAA", "reply": reply})))
    });
    refused(
        &mut rig,
        E::Malformed(M::Jwt(JwtError::SegmentCount)),
        400,
        |r| validate(r, &body(&json!({"pid": phone.pid(), "reply": "x"}))),
    );
    // claims missing / mistyped
    for claim in ["jti", "iss", "epk", "label"] {
        let (reply, p) = rig.reply_with(&jti, "phone", |v| {
            v.as_object_mut().unwrap().remove(claim);
        });
        refused(&mut rig, E::Malformed(M::Claims), 400, |r| {
            validate(r, &Rig::validate_body(&p, &reply))
        });
    }
    // label: empty, too long, not printable ASCII
    for label in ["", &"x".repeat(33), "tab\there", "żółw"] {
        let (reply, p) = rig.reply_with(&jti, label, |_| {});
        refused(&mut rig, E::Malformed(M::Label), 400, |r| {
            validate(r, &Rig::validate_body(&p, &reply))
        });
    }
    // epk not 32 bytes / low-order
    for epk in [SHORT_KEY, LOW_ORDER] {
        let (reply, p) = rig.reply_with(&jti, "phone", |v| v["epk"] = json!(epk));
        refused(&mut rig, E::Malformed(M::Epk), 400, |r| {
            validate(r, &Rig::validate_body(&p, &reply))
        });
    }
    // iss not a key
    let (reply, p) = rig.reply_with(&jti, "phone", |v| v["iss"] = json!("AAAA"));
    refused(&mut rig, E::Malformed(M::Key), 400, |r| {
        validate(r, &Rig::validate_body(&p, &reply))
    });
    // the nonce is still usable
    let again = reply_again(&mut rig, &jti, &phone);
    assert!(validate(&mut rig, &Rig::validate_body(&phone, &again))
        .result
        .is_ok());
}

/// The same phone's reply to `jti` (its original reply, rebuilt).
fn reply_again(rig: &mut Rig, jti: &str, phone: &crate::rig::Phone) -> String {
    let claims = json!({"jti": jti, "iss": phone.aid().to_b64(), "aud": rig.eid_b64(),
        "epk": SecretKey::generate(&mut rig.w.rng).public_key().to_b64(), "label": phone.label});
    jwt::sign(Header::App, &claims, phone.s1.as_bytes())
}

#[test]
fn ext_validate_406_ninth_pairing_and_duplicate_aid() {
    let mut rig = Rig::new();
    let phones: Vec<_> = (0..8).map(|i| rig.pair(&format!("phone {i}"))).collect();
    assert_eq!(rig.w.device.pairings().len(), 8);
    let token = rig.login("system:config");
    let (_, jti) = rig.ext_init(&token);
    // the ninth: 406, and before the MAC (a wrong-key reply is 406 too)
    let (reply, ninth) = rig.reply_with(&jti, "ninth", |_| {});
    refused(&mut rig, E::TooManyPairings, 406, |r| {
        r.w.device.ext_validate(
            Some(&token),
            &Rig::validate_body(&ninth, &reply),
            r.w.time(),
        )
    });

    // duplicate aid, even under a new pid
    let mut rig = Rig::new();
    let first = rig.pair("first");
    let token = rig.login("system:config");
    let (_, jti) = rig.ext_init(&token);
    let again = reply_again(&mut rig, &jti, &first);
    let eid = *rig.w.device.eid();
    let new_pid = crate::rig::Phone::new(
        &hem_auth_core::codec::encode_std(&[0x77; 32]),
        eid,
        first.aid_prv.clone(),
        &first.label,
    )
    .unwrap();
    refused(&mut rig, E::DuplicateAid, 406, |r| {
        r.w.device.ext_validate(
            Some(&token),
            &Rig::validate_body(&new_pid, &again),
            r.w.time(),
        )
    });
    // and a pid already in use by another aid
    let (reply, other) = rig.reply_with(&jti, "other", |_| {});
    let other =
        crate::rig::Phone::new(first.pid(), eid, other.aid_prv.clone(), &other.label).unwrap();
    refused(&mut rig, E::DuplicatePid, 406, |r| {
        r.w.device.ext_validate(
            Some(&token),
            &Rig::validate_body(&other, &reply),
            r.w.time(),
        )
    });
    // the nonce is still usable for a genuinely new phone
    let (reply, fresh) = rig.reply_with(&jti, "fresh", |_| {});
    assert!(rig
        .w
        .device
        .ext_validate(
            Some(&token),
            &Rig::validate_body(&fresh, &reply),
            rig.w.time()
        )
        .result
        .is_ok());
    drop(phones);
}

#[test]
fn ext_validate_401() {
    let mut rig = Rig::new();
    let token = rig.login("system:config");
    let (_, jti) = rig.ext_init(&token);
    let (reply, phone) = rig.reply_with(&jti, "phone", |_| {});
    // bad MAC: signed with another key
    let claims = crate::rig::claims_of(&reply);
    let forged = jwt::sign(Header::App, &claims, &[9u8; 32]);
    refused(&mut rig, E::BadMac, 401, |r| {
        r.w.device.ext_validate(
            Some(&token),
            &Rig::validate_body(&phone, &forged),
            r.w.time(),
        )
    });
    // header policy
    let no_ecdh = forge(r#"{"alg":"HS256"}"#, &claims, phone.s1.as_bytes());
    refused(&mut rig, E::HeaderPolicy, 401, |r| {
        r.w.device.ext_validate(
            Some(&token),
            &Rig::validate_body(&phone, &no_ecdh),
            r.w.time(),
        )
    });
    // nonce not pending: unknown jti, a login nonce
    let login_jti = rig.challenge().jti.into_owned();
    for j in [hem_auth_core::codec::encode_std(&[1u8; 32]), login_jti] {
        let (reply, p) = rig.reply_with(&j, "phone", |_| {});
        refused(&mut rig, E::NonceNotPending, 401, |r| {
            r.w.device
                .ext_validate(Some(&token), &Rig::validate_body(&p, &reply), r.w.time())
        });
    }
    // success once, then a replay (new pid, same reply) is 401 — the aid check would be 406,
    // so replay with a fresh phone answering the consumed jti
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
    let (reply, p) = rig.reply_with(&jti, "late", |_| {});
    refused(&mut rig, E::NonceNotPending, 401, |r| {
        r.w.device
            .ext_validate(Some(&token), &Rig::validate_body(&p, &reply), r.w.time())
    });
}

#[test]
fn ext_validate_bearer_rules() {
    let mut rig = Rig::new();
    let token = rig.login("auth:ext:pair");
    let (_, jti) = rig.ext_init(&token);
    let (reply, phone) = rig.reply_with(&jti, "phone", |_| {});
    let b = Rig::validate_body(&phone, &reply);
    refused(&mut rig, E::MissingToken, 401, |r| {
        r.w.device.ext_validate(None, &b, r.w.time())
    });
    let master = rig.w.master.clone();
    let m = rig.login_as(&master, "auth:ext:pair");
    let ev = refused(&mut rig, E::WrongRole, 403, |r| {
        r.w.device.ext_validate(Some(&m), &b, r.w.time())
    });
    assert_eq!(ev[0].kind, AuditKind::FailedScopeCheck);
    let wrong = rig.login("keymgmt:list");
    refused(&mut rig, E::InsufficientScope, 403, |r| {
        r.w.device.ext_validate(Some(&wrong), &b, r.w.time())
    });
}

// ---------------------------------------------------------------- auth/token

#[test]
fn auth_token_403_only_with_trusted_time() {
    let mut rig = Rig::with(|c| c.trusted_time = true);
    let b = rig.login_body_with(&rig.w.user.clone(), "keymgmt:list", |_| {});
    rig.unset_clock();
    refused(&mut rig, E::RtcUnset, 403, |r| {
        r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
    });
    refused(&mut rig, E::RtcUnset, 403, |r| {
        r.w.device.auth_token_challenge(r.w.time(), &mut r.w.rng)
    });
    // trusted time off: the RTC does not matter for login
    let mut rig = Rig::new();
    rig.unset_clock();
    assert!(!rig.w.device.rtc_is_set());
    let t = rig.login("keymgmt:list");
    assert_eq!(crate::rig::token_claims(&t).sub, "U");
}

#[test]
fn auth_token_409_not_initialised() {
    let mut rig = Rig::with(|c| c.initialised = false);
    refused(&mut rig, E::NotInitialised, 409, |r| {
        r.w.device.auth_token_challenge(r.w.time(), &mut r.w.rng)
    });
    refused(&mut rig, E::NotInitialised, 409, |r| {
        r.w.device.auth_token(b"{}", r.w.time(), &mut r.w.rng)
    });
}

#[test]
fn auth_token_400() {
    let mut rig = Rig::new();
    let user = rig.w.user.clone();
    for b in [b"[]".to_vec(), b"{}".to_vec(), body(&json!({"auth": 1}))] {
        refused(&mut rig, E::Malformed(M::Body), 400, |r| {
            r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
        });
    }
    refused(
        &mut rig,
        E::Malformed(M::Jwt(JwtError::SegmentCount)),
        400,
        |r| {
            r.w.device
                .auth_token(&body(&json!({"auth": "x"})), r.w.time(), &mut r.w.rng)
        },
    );
    for claim in ["jti", "aud", "exp", "iat", "iss", "scope"] {
        let b = rig.login_body_with(&user, "keymgmt:list", |v| {
            v.as_object_mut().unwrap().remove(claim);
        });
        refused(&mut rig, E::Malformed(M::Claims), 400, |r| {
            r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
        });
    }
    for scope in [String::new(), "a".repeat(128)] {
        let b = rig.login_body_with(&user, &scope, |_| {});
        refused(&mut rig, E::Malformed(M::Scope), 400, |r| {
            r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
        });
    }
    let b = rig.login_body_with(&user, &"a".repeat(127), |_| {});
    assert!(rig
        .w
        .device
        .auth_token(&b, rig.w.time(), &mut rig.w.rng)
        .result
        .is_ok());
    let big = vec![b' '; hem_auth_core::messages::MAX_BODY_BYTES + 1];
    refused(&mut rig, E::BodyTooLarge, 413, |r| {
        r.w.device.auth_token(&big, r.w.time(), &mut r.w.rng)
    });
}

#[test]
fn auth_token_401() {
    let mut rig = Rig::new();
    let user = rig.w.user.clone();
    // bad MAC: iss is the user key but the MAC is keyed by someone else
    let stranger = SecretKey::generate(&mut rig.w.rng);
    let b = rig.login_body_with(&stranger, "keymgmt:list", |v| {
        v["iss"] = json!(user.public_key().to_b64())
    });
    refused(&mut rig, E::BadMac, 401, |r| {
        r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
    });
    // header policy
    let c = rig.challenge();
    let claims = json!({"jti": c.jti, "aud": c.spk, "exp": rig.w.now + 60, "iat": rig.w.now, "iss": user.public_key().to_b64(), "scope": "x:y"});
    let key = user.diffie_hellman(rig.w.device.spk()).unwrap();
    let t = forge(r#"{"alg":"HS256"}"#, &claims, key.as_bytes());
    refused(&mut rig, E::HeaderPolicy, 401, |r| {
        r.w.device
            .auth_token(&body(&json!({"auth": t})), r.w.time(), &mut r.w.rng)
    });
    // iss neither user nor master (correctly signed by its own key); garbage iss
    let b = rig.login_body_with(&stranger, "keymgmt:list", |_| {});
    refused(&mut rig, E::UnknownIssuer, 401, |r| {
        r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
    });
    // (an iss that is not a canonical key is 400, step 8: see
    // `hardening::auth_token_400_non_canonical_iss`)
    // nonce not pending: unknown, an authreq nonce
    let req = rig.ext_request("keymgmt:list", None);
    for jti in [
        hem_auth_core::codec::encode_std(&[4u8; 32]),
        hem_auth_core::codec::encode_std(&req.jti),
    ] {
        let b = rig.login_body_with(&user, "keymgmt:list", |v| v["jti"] = json!(jti));
        refused(&mut rig, E::NonceNotPending, 401, |r| {
            r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
        });
    }
    // exp ≤ now: equal, earlier, zero
    for exp in [rig.w.now, rig.w.now - 1, 0] {
        let b = rig.login_body_with(&user, "keymgmt:list", |v| v["exp"] = json!(exp));
        refused(&mut rig, E::Expired, 401, |r| {
            r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
        });
    }
    // replay of a used login
    let b = rig.login_body_with(&user, "keymgmt:list", |_| {});
    assert!(rig
        .w
        .device
        .auth_token(&b, rig.w.time(), &mut rig.w.rng)
        .result
        .is_ok());
    refused(&mut rig, E::NonceNotPending, 401, |r| {
        r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
    });
}

// ---------------------------------------------------------------- unpair, check-in

#[test]
fn unpair_errors() {
    let mut rig = Rig::new();
    let phone = rig.pair("phone");
    let del = rig.login("keymgmt:del");
    let master = rig.w.master.clone();
    let m = rig.login_as(&master, "keymgmt:del");
    let list = rig.login("keymgmt:list");
    refused(&mut rig, E::MissingToken, 401, |r| {
        r.w.device.unpair(None, &phone.kid, r.w.time())
    });
    refused(&mut rig, E::WrongRole, 403, |r| {
        r.w.device.unpair(Some(&m), &phone.kid, r.w.time())
    });
    refused(&mut rig, E::InsufficientScope, 403, |r| {
        r.w.device.unpair(Some(&list), &phone.kid, r.w.time())
    });
    refused(&mut rig, E::Malformed(M::Kid), 400, |r| {
        r.w.device
            .unpair(Some(&del), &phone.kid.to_uppercase(), r.w.time())
    });
    refused(&mut rig, E::UnknownKey, 404, |r| {
        r.w.device.unpair(Some(&del), &"0".repeat(32), r.w.time())
    });
}

#[test]
fn checkin_errors() {
    let mut rig = Rig::new();
    rig.unset_clock();
    let check = rig
        .w
        .device
        .checkin_challenge(rig.w.time(), &mut rig.w.rng)
        .result
        .unwrap()
        .check
        .into_owned();
    let jti = crate::rig::claims_of(&check)["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    let spk = rig.w.device.spk().to_b64();
    let backend = rig.w.backend.clone();
    let good = json!({"jti": jti, "iat": 1_800_000_000u64, "iss": backend.public_key().to_b64(), "aud": spk, "status": "OK"});
    let key = backend.diffie_hellman(rig.w.device.spk()).unwrap();
    let post = |r: &mut Rig, claims: &Value, key: &[u8]| {
        let b = body(&json!({"checked": jwt::sign(Header::Device, claims, key)}));
        r.w.device.checkin(&b, r.w.time())
    };
    refused(&mut rig, E::Malformed(M::Body), 400, |r| {
        r.w.device.checkin(b"[]", r.w.time())
    });
    let mut c = good.clone();
    c["iss"] = json!(spk);
    refused(&mut rig, E::UnknownIssuer, 401, |r| {
        post(r, &c, key.as_bytes())
    });
    refused(&mut rig, E::BadMac, 401, |r| post(r, &good, &[1u8; 32]));
    let mut c = good.clone();
    c["aud"] = json!(backend.public_key().to_b64());
    refused(&mut rig, E::AudienceMismatch, 401, |r| {
        post(r, &c, key.as_bytes())
    });
    let mut c = good.clone();
    c["jti"] = json!(hem_auth_core::codec::encode_std(&[2u8; 32]));
    refused(&mut rig, E::NonceNotPending, 401, |r| {
        post(r, &c, key.as_bytes())
    });
    let ok = post(&mut rig, &good, key.as_bytes());
    assert!(ok.result.is_ok());
    refused(&mut rig, E::NonceNotPending, 401, |r| {
        post(r, &good, key.as_bytes())
    });
    // no backend configured
    let mut rig = Rig::with(|c| c.backend_key = None);
    refused(&mut rig, E::NoBackend, 409, |r| {
        r.w.device.checkin_challenge(r.w.time(), &mut r.w.rng)
    });
    refused(&mut rig, E::NoBackend, 409, |r| {
        r.w.device.checkin(b"{}", r.w.time())
    });
}
