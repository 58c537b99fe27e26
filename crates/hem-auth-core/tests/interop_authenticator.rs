//! The authenticator role against the published artefacts: every case of the phone app's v1
//! vectors (`phone-app-v1.json`, spec §14.1) and the real-device authreq capture
//! (`device-captures.json`, spec §14.2), byte for byte. Both are in the repository, in
//! `vectors/interop/published/`.
// A test crate: helpers (here and in `support`) fail loudly on bad test data, which clippy's
// in-test allowances do not cover outside `#[test]` functions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use hem_auth_core::{Access, Seconds, UnixTime};
use std::borrow::Cow;

use hem_auth_core::authenticator::{
    reply_to_pairing, AuthenticatorError, AuthenticatorPairing, Event, UnverifiedPairingRequest,
    PERIODS,
};
use hem_auth_core::claims::{AuthreplyClaims, AuthreqClaims, PairingRequestClaims};
use hem_auth_core::codec;
use hem_auth_core::jwt::{self, Header, HeaderPolicy, UntrustedJwt};
use hem_auth_core::keys::{KeyError, PublicKey, SecretKey, SharedSecret};
use hem_auth_core::scope::KeyHint;
use hem_auth_core::seal::{ScopeKey, SealError};
use proptest::prelude::*;
use serde_json::Value;
use support::{b64, b64_32, hex_32, interop, s};

fn v1() -> Value {
    interop("phone-app-v1.json")
}

fn secret(text: &str) -> SecretKey {
    SecretKey::from_bytes(b64_32(text))
}

fn public(text: &str) -> PublicKey {
    PublicKey::from_bytes(b64_32(text))
}

/// The decoded payload of a JWT, as JSON text (no verification).
fn payload_text(token: &str) -> String {
    let seg = token.split('.').nth(1).expect("payload segment");
    let mut buf = vec![0u8; seg.len()];
    let json = codec::decode_segment(seg.as_bytes(), &mut buf).expect("base64url");
    String::from_utf8(json.to_vec()).expect("utf8")
}

/// A low-order point (the identity's u-coordinate 1): every X25519 with it is all zero.
fn low_order() -> PublicKey {
    let mut one = [0u8; 32];
    one[0] = 1;
    PublicKey::from_bytes(one)
}

// ---------------------------------------------------------------------------------------------
// x25519, jwt, pid

#[test]
fn x25519_seed_clamps_to_the_stored_key_and_the_published_public_key() {
    let v = v1();
    let case = &v["x25519"][0];
    let seed = secret(s(case, "seed"));
    assert_eq!(
        codec::encode_std(&*seed.to_bytes()),
        s(case, "private_clamped")
    );
    assert_eq!(seed.public_key().to_b64(), s(case, "public"));
    assert_eq!(
        secret(s(case, "private_clamped")).public_key().to_b64(),
        s(case, "public")
    );
}

#[test]
fn x25519_shared_secret_both_directions() {
    let v = v1();
    for case in v["x25519"].as_array().unwrap().iter().skip(1) {
        let shared = secret(s(case, "private"))
            .diffie_hellman(&public(s(case, "peer_public")))
            .unwrap();
        assert_eq!(
            codec::encode_std(shared.as_bytes()),
            s(case, "shared"),
            "{}",
            s(case, "name")
        );
    }
    assert_eq!(
        s(&v["x25519"][1], "shared"),
        s(&v["x25519"][2], "shared"),
        "the vector pair is symmetric"
    );
}

#[test]
fn x25519_low_order_points_are_refused_everywhere() {
    let v = v1();
    let ev = &v["events"][0]["inputs"];
    let aid = secret(s(ev, "aid_prv"));
    for point in [PublicKey::from_bytes([0u8; 32]), low_order()] {
        assert_eq!(
            aid.diffie_hellman(&point).err(),
            Some(KeyError::NonContributory)
        );
        assert_eq!(
            AuthenticatorPairing::new("pid", point, aid.clone()).err(),
            Some(AuthenticatorError::Key(KeyError::NonContributory))
        );
    }
    let pairing =
        AuthenticatorPairing::new(s(ev, "pid"), public(s(ev, "eid")), aid.clone()).unwrap();
    assert_eq!(
        pairing.unpair_mac(&low_order(), b"nonce").err(),
        Some(AuthenticatorError::Key(KeyError::NonContributory))
    );
    assert_eq!(
        pairing
            .token_refresh_mac(&low_order(), b"nonce", "fid")
            .err(),
        Some(AuthenticatorError::Key(KeyError::NonContributory))
    );
}

#[test]
fn jwt_vector_signs_byte_exact_and_verifies() {
    let v = v1();
    let case = &v["jwt"][0];
    assert_eq!(case["header_in"], serde_json::json!({"ecdh": "x25519"}));
    let key = b64(s(case, "secret"));
    // serde_json's map keeps keys sorted, which is the vector's order a, b, c.
    let token = jwt::sign(Header::App, &case["payload"], &key);
    assert_eq!(token, s(case, "jwt"));
    let untrusted = UntrustedJwt::parse(s(case, "jwt")).unwrap();
    let verified = untrusted.verify(&key, HeaderPolicy::Ecdh).unwrap();
    assert_eq!(verified.claims::<Value>().unwrap(), case["payload"]);
    let mut wrong = key.clone();
    wrong[0] ^= 1;
    assert!(untrusted.verify(&wrong, HeaderPolicy::Ecdh).is_err());
}

#[test]
fn pid_to_pidx_vectors() {
    let v = v1();
    let cases = v["pid"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        assert_eq!(codec::pid_to_pidx(s(case, "pid")), s(case, "pidx"));
    }
    let ev = &v["events"][0]["inputs"];
    let pairing =
        AuthenticatorPairing::new(s(ev, "pid"), public(s(ev, "eid")), secret(s(ev, "aid_prv")))
            .unwrap();
    assert_eq!(pairing.pidx(), "MTIzNDU2Nzg5MA");
}

// ---------------------------------------------------------------------------------------------
// pairing

#[test]
fn pairing_reply_is_byte_exact() {
    let v = v1();
    let p = &v["pairing"];
    let inputs = &p["inputs"];
    let request_json = serde_json::to_string(&inputs["request_payload"]).unwrap();
    let claims: PairingRequestClaims<'_> = serde_json::from_str(&request_json).unwrap();
    let request = UnverifiedPairingRequest::from_claims(&claims).unwrap();
    assert_eq!(request.jti(), "kS5ckK/OAxWsebrzlBf7mg==");
    assert_eq!(request.expiry(), Some(1_757_260_000));
    assert_eq!(request.eid().to_b64(), s(&inputs["request_payload"], "iss"));
    assert_eq!(request.epk().to_b64(), s(&inputs["request_payload"], "aud"));

    let aid = secret(s(inputs, "aid_seed"));
    let fid = s(inputs, "fid");
    let answer = reply_to_pairing(&aid, &request, s(inputs, "label"), fid).unwrap();
    let expected = &p["expected"];
    assert_eq!(answer.reply, s(expected, "reply"));
    assert_eq!(answer.mac, s(expected, "mac"));
    assert_eq!(answer.aid.to_b64(), s(&p["derived"], "aid"));

    let body: Value = serde_json::from_str(&answer.post_body(fid)).unwrap();
    assert_eq!(body, expected["post_body"]);
    assert_eq!(
        answer.post_body(fid),
        format!(
            r#"{{"reply":"{}","fid":"{fid}","mac":"{}","aid":"{}"}}"#,
            s(expected, "reply"),
            s(expected, "mac"),
            s(&p["derived"], "aid")
        )
    );

    // Derived secrets: S1 with the eid, the broker key with the epk.
    let derived = &p["derived"];
    assert_eq!(codec::encode_std(&*aid.to_bytes()), s(derived, "aid_prv"));
    let s1 = aid.diffie_hellman(request.eid()).unwrap();
    assert_eq!(codec::encode_std(s1.as_bytes()), s(derived, "s1"));
    let s_epk = aid.diffie_hellman(request.epk()).unwrap();
    assert_eq!(codec::encode_std(s_epk.as_bytes()), s(derived, "s_epk"));
    assert!(hem_auth_core::mac::mac_verify(
        s_epk.as_bytes(),
        &[answer.reply.as_bytes(), fid.as_bytes()],
        &b64(&answer.mac)
    ));
    // The device verifies the reply with S1.
    UntrustedJwt::parse(&answer.reply)
        .unwrap()
        .verify(s1.as_bytes(), HeaderPolicy::Ecdh)
        .unwrap();
}

#[test]
fn pairing_request_parses_from_a_jwt_too() {
    let v = v1();
    let inputs = &v["pairing"]["inputs"];
    let token = jwt::sign(Header::Device, &inputs["request_payload"], &[9u8; 32]);
    let from_jwt = UnverifiedPairingRequest::parse(&token).unwrap();
    let json = serde_json::to_string(&inputs["request_payload"]).unwrap();
    let claims: PairingRequestClaims<'_> = serde_json::from_str(&json).unwrap();
    assert_eq!(
        from_jwt,
        UnverifiedPairingRequest::from_claims(&claims).unwrap()
    );
    let aid = secret(s(inputs, "aid_seed"));
    let answer = reply_to_pairing(&aid, &from_jwt, s(inputs, "label"), s(inputs, "fid")).unwrap();
    assert_eq!(answer.reply, s(&v["pairing"]["expected"], "reply"));
}

#[test]
fn reply_to_a_real_shaped_request_has_no_eat() {
    // The documented ext/init request payload: exp, no eat, 32-byte jti (spec §14.4).
    let captures = interop("device-captures.json");
    let payload = &captures["documentation_examples"]["ext_init_request_payload"];
    let token = jwt::sign(Header::Device, payload, &[1u8; 32]);
    let request = UnverifiedPairingRequest::parse(&token).unwrap();
    assert_eq!(request.expiry(), Some(1_647_963_510));
    assert!(!request.is_expired(UnixTime::from_secs(1_647_963_510)));
    assert!(request.is_expired(UnixTime::from_secs(1_647_963_511)));

    let aid = SecretKey::from_bytes([0x42; 32]);
    let answer = reply_to_pairing(&aid, &request, "iPhone (iOS)", "fid").unwrap();
    let expected = format!(
        r#"{{"jti":"{}","iss":"{}","aud":"{}","epk":"{}","label":"iPhone (iOS)"}}"#,
        s(payload, "jti"),
        aid.public_key().to_b64(),
        s(payload, "iss"),
        s(payload, "aud"),
    );
    assert_eq!(payload_text(&answer.reply), expected);
    assert!(!payload_text(&answer.reply).contains("eat"));
}

#[test]
fn pairing_request_faults() {
    let good = PairingRequestClaims {
        jti: Cow::Borrowed("kS5ckK/OAxWsebrzlBf7mg=="),
        exp: Some(1),
        eat: None,
        aud: Cow::Borrowed("u7CCCgehZ7TNM2m/SCxiwkNIoCV6sdC9SjrS3WY9CG0="),
        iss: Cow::Borrowed("wya5aqIoQ+TVSBL1UytcqGio9BTxUUMH6wk8lsUep0A="),
    };
    assert!(UnverifiedPairingRequest::from_claims(&good).is_ok());
    let short_key = PairingRequestClaims {
        iss: Cow::Borrowed("kS5ckK/OAxWsebrzlBf7mg=="),
        ..good.clone()
    };
    assert_eq!(
        UnverifiedPairingRequest::from_claims(&short_key).err(),
        Some(AuthenticatorError::Key(KeyError::Encoding(
            codec::CodecError::WrongLength { expected: 32 }
        )))
    );
    let bad_jti = PairingRequestClaims {
        jti: Cow::Borrowed("not base64!"),
        ..good.clone()
    };
    assert_eq!(
        UnverifiedPairingRequest::from_claims(&bad_jti).err(),
        Some(AuthenticatorError::Encoding(
            codec::CodecError::InvalidBase64
        ))
    );
    assert_eq!(
        UnverifiedPairingRequest::parse("a.b").err(),
        Some(AuthenticatorError::Request(jwt::JwtError::SegmentCount))
    );
    let no_aud = jwt::sign(
        Header::Device,
        &serde_json::json!({"jti": "AAAA", "exp": 1, "iss": good.iss}),
        &[0u8; 32],
    );
    assert_eq!(
        UnverifiedPairingRequest::parse(&no_aud).err(),
        Some(AuthenticatorError::Request(jwt::JwtError::InvalidClaims))
    );

    let request = UnverifiedPairingRequest::from_claims(&good).unwrap();
    let aid = SecretKey::from_bytes([0x42; 32]);
    for label in ["", "a label far longer than thirty-two chars", "tab\t"] {
        assert_eq!(
            reply_to_pairing(&aid, &request, label, "fid").err(),
            Some(AuthenticatorError::Label),
            "{label:?}"
        );
    }
    let low = PairingRequestClaims {
        aud: Cow::Owned(low_order().to_b64()),
        ..good
    };
    // A low-order key is refused where it is decoded (spec §2.5), before any X25519.
    assert_eq!(
        UnverifiedPairingRequest::from_claims(&low).err(),
        Some(AuthenticatorError::Key(KeyError::LowOrder))
    );
}

// ---------------------------------------------------------------------------------------------
// events

struct V1Event {
    name: String,
    pairing: AuthenticatorPairing,
    event_json: String,
    now: u64,
    period_secs: u64,
    writable: bool,
    case: Value,
}

fn v1_events() -> Vec<V1Event> {
    let v = v1();
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 5);
    events
        .iter()
        .map(|case| {
            let i = &case["inputs"];
            let pairing = AuthenticatorPairing::new(
                s(i, "pid"),
                public(s(i, "eid")),
                secret(s(i, "aid_prv")),
            )
            .unwrap();
            assert_eq!(pairing.aid().to_b64(), s(i, "aid"));
            V1Event {
                name: s(case, "name").to_owned(),
                pairing,
                event_json: serde_json::to_string(&i["event"]).unwrap(),
                now: i["now"].as_u64().unwrap(),
                period_secs: i["period_min"].as_u64().unwrap() * 60,
                writable: i["writable"].as_bool().unwrap(),
                case: case.clone(),
            }
        })
        .collect()
}

#[test]
fn events_derive_the_published_keys() {
    for e in v1_events() {
        let i = &e.case["inputs"];
        let d = &e.case["derived"];
        let aid = secret(s(i, "aid_prv"));
        let s1 = aid.diffie_hellman(e.pairing.eid()).unwrap();
        assert_eq!(codec::encode_std(s1.as_bytes()), s(d, "s1"), "{}", e.name);
        let jti = b64(s(&i["event"], "jti"));
        assert_eq!(jti.len(), 16, "v1 jtis are 16 bytes");
        let k = ScopeKey::derive(&s1, &jti);
        assert_eq!(
            codec::encode_std(k.as_bytes()),
            s(d, "master"),
            "{}",
            e.name
        );
        assert_eq!(
            codec::encode_std(&k.as_bytes()[..16]),
            s(d, "aes_key"),
            "{}",
            e.name
        );
        assert_eq!(
            codec::encode_std(&k.as_bytes()[16..]),
            s(d, "aes_iv"),
            "{}",
            e.name
        );
        // The sealed scope is "A" + base64(ciphertext ‖ tag).
        let blob = b64(&s(&i["event"], "scope")[1..]);
        let (ct, tag) = blob.split_at(blob.len() - 32);
        assert_eq!(codec::encode_std(ct), s(d, "ciphertext"), "{}", e.name);
        assert_eq!(codec::encode_std(tag), s(d, "scope_mac"), "{}", e.name);
    }
}

#[test]
fn event_body_parses_and_ignores_unknown_members() {
    for e in v1_events() {
        let event = Event::parse(&e.event_json).unwrap();
        assert_eq!(event.jti, s(&e.case["inputs"]["event"], "jti"));
        assert_eq!(event.exp, 1_757_270_120);
        assert!(matches!(event.jti, Cow::Borrowed(_)), "borrows the body");
        let serde_read: Event<'_> = serde_json::from_str(&e.event_json).unwrap();
        assert_eq!(serde_read, event);
    }
    assert!(matches!(
        Event::parse(r#"{"jti":"a","scope":"A","epk":"e"}"#),
        Err(AuthenticatorError::Body(_))
    ));
    assert!(matches!(
        Event::parse(r#"{"jti":"a","jti":"b","scope":"A","epk":"e","exp":1}"#),
        Err(AuthenticatorError::Body(_))
    ));
    assert!(matches!(
        Event::parse(r#"{"jti":"a","scope":"A","epk":"e","exp":"1"}"#),
        Err(AuthenticatorError::Body(_))
    ));
}

#[test]
fn events_open_and_approve_byte_exact() {
    let mut approved = 0;
    for e in v1_events() {
        let expected = &e.case["expected"];
        if !expected["mac_valid"].as_bool().unwrap() {
            continue;
        }
        let event = Event::parse(&e.event_json).unwrap();
        let opened = e
            .pairing
            .open_event(&event, UnixTime::from_secs(e.now))
            .unwrap();
        assert_eq!(opened.scope(), s(expected, "scope"), "{}", e.name);
        assert_eq!(opened.jti(), event.jti);
        assert_eq!(opened.exp().as_secs(), event.exp);

        let approval = opened
            .approve(
                UnixTime::from_secs(e.now),
                Seconds::new(e.period_secs),
                Access::from_writable(e.writable),
            )
            .unwrap();
        let reply = &expected["reply"];
        assert_eq!(approval.scope, s(reply, "scope_sent"), "{}", e.name);
        assert_eq!(approval.authreply, s(reply, "authreply"), "{}", e.name);
        assert_eq!(approval.mac, s(reply, "mac"), "{}", e.name);
        assert_eq!(
            approval.exp.as_secs(),
            reply["exp"].as_u64().unwrap(),
            "{}",
            e.name
        );
        assert_eq!(
            approval.post_body(),
            format!(
                r#"{{"authreply":"{}","mac":"{}"}}"#,
                s(reply, "authreply"),
                s(reply, "mac")
            )
        );

        // The claims the device reads, verified with S1.
        let aid = secret(s(&e.case["inputs"], "aid_prv"));
        let s1 = aid.diffie_hellman(e.pairing.eid()).unwrap();
        let untrusted = UntrustedJwt::parse(&approval.authreply).unwrap();
        let verified = untrusted.verify(s1.as_bytes(), HeaderPolicy::Ecdh).unwrap();
        let claims: AuthreplyClaims<'_> = verified.claims().unwrap();
        assert_eq!(claims.scope, s(reply, "scope_enc"), "{}", e.name);
        assert_eq!(claims.exp, reply["exp"].as_u64().unwrap());
        assert_eq!(claims.iat, Some(e.now));
        assert_eq!(claims.pid, "MTIzNDU2Nzg5MA==");
        assert_eq!(claims.jti, event.jti);
        assert_eq!(
            claims.aud.as_deref(),
            Some(e.pairing.eid().to_b64().as_str())
        );
        assert_eq!(claims.iss, e.pairing.aid().to_b64());

        // The broker MAC key.
        let s_epk = aid.diffie_hellman(&public(&event.epk)).unwrap();
        assert_eq!(codec::encode_std(s_epk.as_bytes()), s(reply, "s_epk"));
        approved += 1;
    }
    assert_eq!(approved, 4);
}

#[test]
fn unchanged_scope_seals_to_the_incoming_string() {
    let e = v1_events()
        .into_iter()
        .find(|e| e.name == "system upgrade, 8 h")
        .unwrap();
    let event = Event::parse(&e.event_json).unwrap();
    let approval = e
        .pairing
        .open_event(&event, UnixTime::from_secs(e.now))
        .unwrap()
        .approve(
            UnixTime::from_secs(e.now),
            Seconds::new(e.period_secs),
            Access::from_writable(e.writable),
        )
        .unwrap();
    let payload: Value = serde_json::from_str(&payload_text(&approval.authreply)).unwrap();
    assert_eq!(payload["scope"], event.scope.as_ref());
}

#[test]
fn key_hint_of_a_use_request() {
    let events = v1_events();
    let e = &events[0];
    let event = Event::parse(&e.event_json).unwrap();
    let opened = e
        .pairing
        .open_event(&event, UnixTime::from_secs(e.now))
        .unwrap();
    assert_eq!(opened.key_hint(), Some(KeyHint::new(0x0221, "PGP main")));
    let e = &events[3];
    let event = Event::parse(&e.event_json).unwrap();
    assert_eq!(
        e.pairing
            .open_event(&event, UnixTime::from_secs(e.now))
            .unwrap()
            .key_hint(),
        None
    );
}

#[test]
fn tampered_event_is_rejected_with_the_tag_error() {
    let e = v1_events()
        .into_iter()
        .find(|e| e.name == "tampered mac")
        .unwrap();
    assert_eq!(e.case["expected"]["mac_valid"], false);
    let event = Event::parse(&e.event_json).unwrap();
    assert_eq!(
        e.pairing
            .open_event(&event, UnixTime::from_secs(e.now))
            .err(),
        Some(AuthenticatorError::Seal(SealError::Tag))
    );
    // The vector flipped one bit of the first tag byte: flipping it back (exactly one of the
    // eight candidates) opens to the published plaintext, so the failure above is the tag check.
    let blob = b64(&event.scope[1..]);
    let tag_start = blob.len() - 32;
    let mut opened = Vec::new();
    for bit in 0..8u8 {
        let mut b = blob.clone();
        b[tag_start] ^= 1 << bit;
        let candidate = Event {
            scope: Cow::Owned(format!("A{}", codec::encode_std(&b))),
            ..event.clone()
        };
        if let Ok(o) = e.pairing.open_event(&candidate, UnixTime::from_secs(e.now)) {
            opened.push(o.scope().to_owned());
        }
    }
    assert_eq!(opened, [s(&e.case["expected"], "scope")]);
}

#[test]
fn expiry_is_checked_before_the_tag() {
    let events = v1_events();
    let tampered = events.iter().find(|e| e.name == "tampered mac").unwrap();
    let event = Event::parse(&tampered.event_json).unwrap();
    // Expired wins over a bad tag: nothing of the event is looked at after exp.
    assert_eq!(
        tampered
            .pairing
            .open_event(&event, UnixTime::from_secs(event.exp + 1))
            .err(),
        Some(AuthenticatorError::Expired)
    );
    assert_eq!(
        tampered
            .pairing
            .open_event(&event, UnixTime::from_secs(u64::MAX))
            .err(),
        Some(AuthenticatorError::Expired)
    );
    // At exp the tag is looked at.
    assert_eq!(
        tampered
            .pairing
            .open_event(&event, UnixTime::from_secs(event.exp))
            .err(),
        Some(AuthenticatorError::Seal(SealError::Tag))
    );

    let good = &events[3];
    let event = Event::parse(&good.event_json).unwrap();
    assert_eq!(
        good.pairing
            .open_event(&event, UnixTime::from_secs(event.exp + 1))
            .err(),
        Some(AuthenticatorError::Expired)
    );
    let opened = good
        .pairing
        .open_event(&event, UnixTime::from_secs(event.exp))
        .unwrap();
    assert_eq!(opened.scope(), "system:upgrade");
    // Approving after the event expired is refused too; at exp it still works.
    assert_eq!(
        good.pairing
            .open_event(&event, UnixTime::from_secs(event.exp))
            .unwrap()
            .approve(
                UnixTime::from_secs(event.exp + 1),
                Seconds::new(900),
                Access::ReadOnly
            )
            .err(),
        Some(AuthenticatorError::Expired)
    );
    assert!(opened
        .approve(
            UnixTime::from_secs(event.exp),
            Seconds::new(900),
            Access::ReadOnly
        )
        .is_ok());
}

#[test]
fn approve_and_open_faults() {
    let events = v1_events();
    let e = &events[3];
    let event = Event::parse(&e.event_json).unwrap();
    let open = || {
        e.pairing
            .open_event(&event, UnixTime::from_secs(e.now))
            .unwrap()
    };
    assert_eq!(
        open()
            .approve(
                UnixTime::from_secs(e.now),
                Seconds::new(0),
                Access::ReadOnly
            )
            .err(),
        Some(AuthenticatorError::Period)
    );
    assert_eq!(
        open()
            .approve(
                UnixTime::from_secs(e.now),
                Seconds::new(u64::MAX),
                Access::ReadOnly
            )
            .err(),
        Some(AuthenticatorError::Period)
    );
    let low = Event {
        epk: Cow::Owned(low_order().to_b64()),
        ..event.clone()
    };
    // A low-order epk is refused where it is decoded (spec §2.5), before the approval.
    assert_eq!(
        e.pairing.open_event(&low, UnixTime::from_secs(e.now)).err(),
        Some(AuthenticatorError::Key(KeyError::LowOrder))
    );
    let bad_epk = Event {
        epk: Cow::Borrowed("short"),
        ..event.clone()
    };
    assert!(matches!(
        e.pairing.open_event(&bad_epk, UnixTime::from_secs(e.now)),
        Err(AuthenticatorError::Key(KeyError::Encoding(_)))
    ));
    let bad_jti = Event {
        jti: Cow::Borrowed("%%%%"),
        ..event.clone()
    };
    assert_eq!(
        e.pairing
            .open_event(&bad_jti, UnixTime::from_secs(e.now))
            .err(),
        Some(AuthenticatorError::Encoding(
            codec::CodecError::InvalidBase64
        ))
    );
    let other_jti = Event {
        jti: Cow::Borrowed("AAAAAAAAAAAAAAAAAAAAAA=="),
        ..event.clone()
    };
    assert!(matches!(
        e.pairing.open_event(&other_jti, UnixTime::from_secs(e.now)),
        Err(AuthenticatorError::Seal(
            SealError::Padding | SealError::Tag
        ))
    ));
    let scheme = Event {
        scope: Cow::Owned(event.scope.replacen('A', "B", 1)),
        ..event.clone()
    };
    assert_eq!(
        e.pairing
            .open_event(&scheme, UnixTime::from_secs(e.now))
            .err(),
        Some(AuthenticatorError::Seal(SealError::UnsupportedScheme))
    );
    let denial = open().deny();
    assert_eq!(denial.jti, event.jti);
}

// ---------------------------------------------------------------------------------------------
// unpair, token refresh

#[test]
fn unpair_mac_is_byte_exact() {
    let v = v1();
    let u = &v["unpair"];
    let i = &u["inputs"];
    let eid = public(s(&v["events"][0]["inputs"], "eid"));
    let pairing = AuthenticatorPairing::new(s(i, "pid"), eid, secret(s(i, "aid_prv"))).unwrap();
    assert_eq!(pairing.aid().to_b64(), s(i, "aid"));
    let epk = public(s(i, "epk"));
    let nonce = b64(s(i, "nonce"));
    let mac = pairing.unpair_mac(&epk, &nonce).unwrap();
    assert_eq!(codec::encode_std(&mac), s(&u["expected"], "mac"));
    let s_epk = secret(s(i, "aid_prv")).diffie_hellman(&epk).unwrap();
    assert_eq!(
        codec::encode_std(s_epk.as_bytes()),
        s(&u["derived"], "s_epk")
    );
    let body = &u["expected"]["post_body"];
    assert_eq!(s(body, "mac"), codec::encode_std(&mac));
    assert_eq!(s(body, "pid"), pairing.pid());
    assert_eq!(s(body, "aid"), pairing.aid().to_b64());
}

#[test]
fn token_refresh_mac_is_byte_exact() {
    let v = v1();
    let t = &v["token_refresh"];
    let i = &t["inputs"];
    let eid = public(s(&v["events"][0]["inputs"], "eid"));
    let pairing = AuthenticatorPairing::new(s(i, "pid"), eid, secret(s(i, "aid_prv"))).unwrap();
    let mac = pairing
        .token_refresh_mac(&public(s(i, "epk")), &b64(s(i, "nonce")), s(i, "fid"))
        .unwrap();
    assert_eq!(codec::encode_std(&mac), s(&t["expected"], "mac"));
}

// ---------------------------------------------------------------------------------------------
// real device (spec §14.2)

#[test]
fn real_device_authreq_opens_and_approves_byte_exact() {
    let captures = interop("device-captures.json");
    let c = &captures["real_device_authreq"];
    let eid = PublicKey::from_bytes(hex_32(s(c, "eid_hex")));
    let broker = SecretKey::from_bytes(hex_32(s(c, "broker_private_hex")));

    // The broker's view: verify the authreq with X25519(broker, eid).
    let untrusted = UntrustedJwt::parse(s(c, "authreq")).unwrap();
    let broker_key = broker.diffie_hellman(&eid).unwrap();
    assert_eq!(
        hex::encode(broker_key.as_bytes()),
        s(&c["expected"], "authreq_mac_key_hex")
    );
    let verified = untrusted
        .verify(broker_key.as_bytes(), HeaderPolicy::Ecdh)
        .unwrap();
    let authreq: AuthreqClaims<'_> = verified.claims().unwrap();
    assert_eq!(authreq.iat, c["expected"]["iat"].as_u64().unwrap());
    assert_eq!(authreq.exp, c["expected"]["exp"].as_u64().unwrap());
    assert_eq!(authreq.ctx.as_deref(), Some(s(&c["expected"], "ctx")));
    assert_eq!(authreq.iss, eid.to_b64());
    assert_eq!(authreq.aud, broker.public_key().to_b64());

    // The phone's view: the broker relays this pid's entry as an event.
    let pid = s(c, "pid");
    let event = Event {
        jti: authreq.jti.clone(),
        scope: Cow::Borrowed(authreq.scope.get(pid).unwrap()),
        epk: authreq.aud.clone(),
        exp: authreq.exp,
    };
    let aid = SecretKey::from_bytes(hex_32(s(c, "authenticator_private_hex")));
    let pairing = AuthenticatorPairing::new(pid, eid, aid).unwrap();
    assert_eq!(
        pairing.aid().to_b64(),
        "WyJIe6IAVvtPbbMz17dWYRKlSepsjqWjBctmjfUJc2w="
    );
    let opened = pairing
        .open_event(&event, UnixTime::from_secs(authreq.iat))
        .unwrap();
    assert_eq!(opened.scope(), s(&c["expected"], "scope_for_pid"));
    assert_eq!(opened.scope(), "keymgmt:list");

    let approval = opened
        .approve(
            UnixTime::from_secs(1_784_767_770),
            Seconds::new(900),
            Access::ReadOnly,
        )
        .unwrap();
    assert_eq!(approval.scope, "keymgmt:list");
    assert_eq!(
        payload_text(&approval.authreply),
        r#"{"aud":"rcPF9XEvpsF6tPW3PTvbuC2UCqC+0kCOJuX/kgY1uTk=","jti":"FGVhapdad+8ap9x6t0UQB/2O1G/vabitisjZdQTxJ0M=","exp":1784768670,"iat":1784767770,"pid":"SmuPON3X1EeRh/rk2VtVFBsy6PRqZKlvMRgCNd6jnGk=","iss":"WyJIe6IAVvtPbbMz17dWYRKlSepsjqWjBctmjfUJc2w=","scope":"A8bOT/ou0PNkTHH+1Sr5700+or/FoBFylYWV5IZ8BxQZkg55EoXElgBqIPNVbptQo"}"#
    );
    assert_eq!(
        approval.authreply.rsplit('.').next(),
        Some("wIHYetXp3XHWGPJ11pa938XXk73vKNGur8sBIeEvhFM")
    );
    assert!(approval
        .authreply
        .starts_with("eyJlY2RoIjoieDI1NTE5IiwiYWxnIjoiSFMyNTYiLCJ0eXAiOiJKV1QifQ."));
    assert_eq!(approval.mac, "jSKtz73rkQYtjY4OXjfsVRGSb2X6H0EvQuSlLs1lbOw=");
    // The broker can check that MAC with X25519(broker, aid).
    let broker_mac_key = broker.diffie_hellman(&pairing.aid()).unwrap();
    assert!(hem_auth_core::mac::mac_verify(
        broker_mac_key.as_bytes(),
        &[approval.authreply.as_bytes()],
        &b64(&approval.mac)
    ));
}

// ---------------------------------------------------------------------------------------------
// properties

/// The device's side of a property case: a fixed pairing, and `requested` sealed for it under
/// `jti` as the broker would relay it. Returns the phone's pairing, the device's S1 and K, and
/// the event.
fn prop_event(
    requested: &str,
    jti: &[u8],
    exp: u64,
) -> (AuthenticatorPairing, SharedSecret, ScopeKey, Event<'static>) {
    let eid_prv = SecretKey::from_bytes([0x11; 32]);
    let aid = SecretKey::from_bytes([0x22; 32]);
    let s1_device = eid_prv.diffie_hellman(&aid.public_key()).unwrap();
    let pairing = AuthenticatorPairing::new("MTIzNDU2Nzg5MA==", eid_prv.public_key(), aid).unwrap();
    let key = ScopeKey::derive(&s1_device, jti);
    let event = Event {
        jti: Cow::Owned(codec::encode_std(jti)),
        scope: Cow::Owned(key.seal(requested).unwrap()),
        epk: Cow::Owned(SecretKey::from_bytes([0x33; 32]).public_key().to_b64()),
        exp,
    };
    (pairing, s1_device, key, event)
}

fn scope_strategy() -> impl Strategy<Value = String> {
    "[a-z]{1,12}:[a-z0-9]{1,12}(:[a-z0-9]{1,8}){0,2}(:rw)?"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn approval_opens_to_the_granted_scope(
        requested in scope_strategy(),
        jti in proptest::collection::vec(any::<u8>(), 16..=32),
        writable in any::<bool>(),
        period_idx in 0usize..4,
        now in 1_600_000_000u64..1_900_000_000,
    ) {
        let (pairing, s1_device, key, event) = prop_event(&requested, &jti, now + 3600);
        let opened = pairing.open_event(&event, UnixTime::from_secs(now)).unwrap();
        prop_assert_eq!(opened.scope(), requested.as_str());
        let approval = opened.approve(UnixTime::from_secs(now), PERIODS[period_idx], Access::from_writable(writable)).unwrap();
        prop_assert_eq!(&approval.scope, &hem_auth_core::scope::grant(&requested, Access::from_writable(writable)));
        prop_assert_eq!(approval.scope.ends_with(":rw"), writable);

        let untrusted = UntrustedJwt::parse(&approval.authreply).unwrap();
        let verified = untrusted.verify(s1_device.as_bytes(), HeaderPolicy::Ecdh).unwrap();
        let claims: AuthreplyClaims<'_> = verified.claims().unwrap();
        prop_assert_eq!(claims.exp, now + PERIODS[period_idx].get());
        let reopened_by_device = key.open(&claims.scope).unwrap();
        prop_assert_eq!(reopened_by_device.as_str(), approval.scope.as_str());

        // The phone can open its own answer too (same K).
        let answer = Event { scope: claims.scope.clone(), ..event.clone() };
        let reopened = pairing.open_event(&answer, UnixTime::from_secs(now)).unwrap();
        prop_assert_eq!(reopened.scope(), approval.scope.as_str());
    }

    #[test]
    fn any_single_bit_flip_of_the_sealed_answer_fails_to_open(
        requested in scope_strategy(),
        jti in proptest::collection::vec(any::<u8>(), 16..=32),
        writable in any::<bool>(),
        bit in any::<prop::sample::Index>(),
    ) {
        let now = 1_757_270_000;
        let (pairing, _, key, event) = prop_event(&requested, &jti, now + 60);
        let approval = pairing.open_event(&event, UnixTime::from_secs(now)).unwrap().approve(UnixTime::from_secs(now), Seconds::new(900), Access::from_writable(writable)).unwrap();
        let payload: Value = serde_json::from_str(&payload_text(&approval.authreply)).unwrap();
        let answer = payload["scope"].as_str().unwrap();

        let mut blob = b64(&answer[1..]);
        let i = bit.index(blob.len() * 8);
        blob[i / 8] ^= 1 << (i % 8);
        let flipped = format!("A{}", codec::encode_std(&blob));
        let tampered = Event { scope: Cow::Owned(flipped.clone()), ..event.clone() };
        let err = pairing.open_event(&tampered, UnixTime::from_secs(now)).err();
        prop_assert!(
            matches!(err, Some(AuthenticatorError::Seal(SealError::Tag | SealError::Padding))),
            "{:?}", err
        );
        prop_assert!(key.open(&flipped).is_err());
    }
}
