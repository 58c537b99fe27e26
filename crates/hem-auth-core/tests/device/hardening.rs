//! Issue 14, attacks 3 and 4 and the header/`epk` points: the requested-scope grammar (spec
//! §8.6), canonical public keys (spec §2.5), `crit` of any value (spec §3.3), `null` claims
//! (spec §2.2) and the `epk` key separation (spec §2.5), each at the step of its endpoint's
//! error table (§5.5, §5.9, §6.2, §6.6, §6.8, §7.4): the exact error, its status, and the
//! device state unchanged.

use hem_auth_core::codec;
use hem_auth_core::device::{DeviceError as E, Malformed as M};
use hem_auth_core::jwt::{self, Header};
use hem_auth_core::keys::{PublicKey, SecretKey};
use serde_json::{json, Value};

use crate::rig::{body, claims_of, refused, Phone, Rig};

/// The scope of attack 3: `system:config`, then a carriage return and terminal escapes that
/// wipe the line and rewrite the prompt as a request for `logger:get`.
const SPOOF: &str = "system:config\r\x1b[2K\x1b[1A\x1b[2K\u{2026}asks for logger:get";

/// Requested scopes that break the §8.6 character rule, each with why.
fn bad_scopes() -> Vec<(String, &'static str)> {
    let kid = "42afc419dbda72636b37a2455955e095";
    vec![
        (SPOOF.into(), "control characters and an ellipsis"),
        ("system:config\n".into(), "a line feed"),
        ("a:b\tc".into(), "a tab"),
        ("keymgmt:list\x00".into(), "NUL"),
        ("keymgmt list".into(), "a space"),
        ("keymgmt:list\x7f".into(), "DEL"),
        ("keymgmt:list\u{e9}".into(), "non-ASCII"),
        ("keymgmt:list\u{202e}".into(), "a bidi override"),
        (
            format!("keymgmt:use:{kid}#eyJ0IjoiOTgxNCIsImwiOiJQR1AgbWFpbiJ9"),
            "a forged key hint",
        ),
        ("#".into(), "a lone #"),
        ("logger:get#".into(), "a trailing #"),
    ]
}

/// Every character the grammar allows, once: 0x21–0x7E without `#`.
fn every_allowed_character() -> String {
    (0x21u8..=0x7e)
        .filter(|&b| b != b'#')
        .map(char::from)
        .collect()
}

/// `key` with bit 255 (the top bit of byte 31) set: the same X25519 key to the scalar
/// multiplication, a different byte string.
fn high_bit(key: &PublicKey) -> String {
    let mut bytes = *key.as_bytes();
    bytes[31] |= 0x80;
    codec::encode_std(&bytes)
}

/// Little-endian encodings: p = 2^255 − 19 plus `add` (u ≥ p), and 2^255 − 1.
fn at_least_p(add: u8) -> String {
    let mut bytes = [0xffu8; 32];
    bytes[0] = 0xed + add;
    bytes[31] = 0x7f;
    codec::encode_std(&bytes)
}

/// Canonical and non-canonical encodings that are not canonical keys or are low-order, with
/// the reason (spec §2.5).
fn bad_keys(valid: &PublicKey) -> Vec<(String, &'static str)> {
    let mut one = [0u8; 32];
    one[0] = 1;
    vec![
        (high_bit(valid), "a valid key with bit 255 set"),
        (at_least_p(2), "u = p + 2 (non-canonical 2)"),
        (codec::encode_std(&[0xffu8; 32]), "all ones"),
        (at_least_p(0x12), "u = 2^255 - 1"),
        (codec::encode_std(&[0u8; 32]), "zero (low-order)"),
        (codec::encode_std(&one), "one (low-order)"),
        (at_least_p(0), "p (non-canonical zero)"),
        (
            "7P///////////////////////////////////////38=".into(),
            "p - 1 (low-order)",
        ),
        (
            "4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAA=".into(),
            "order 8",
        ),
        (
            "X5yVvKNQjCSx0LFVnIPvWwREXMRYHI6G2CJO3dCfEVc=".into(),
            "order 8",
        ),
    ]
}

// ---------------------------------------------------------------- §8.6 at ext/request

#[test]
fn ext_request_400_scope_outside_the_grammar() {
    let mut rig = Rig::new();
    rig.pair("phone");
    for (scope, why) in bad_scopes() {
        let events = refused(&mut rig, E::Malformed(M::ScopeCharacter), 400, |r| {
            r.ext_request_body(json!({ "scope": scope })).1
        });
        assert!(events.is_empty(), "{why}");
    }
    // Every allowed character is allowed, at the length limit too.
    let all = every_allowed_character();
    assert!(rig
        .ext_request_body(json!({ "scope": all }))
        .1
        .result
        .is_ok());
    let longest = all.repeat(12)[..1023].to_owned();
    assert!(rig
        .ext_request_body(json!({ "scope": longest }))
        .1
        .result
        .is_ok());
    // A forbidden character past the length limit is still 400 (the same step).
    let over = format!("{}\x1b", "a".repeat(1023));
    let err = rig.ext_request_body(json!({ "scope": over })).1.result;
    assert_eq!(err.err().map(|e| e.status()), Some(400));
    // The epk (step 5) comes before the scope (step 6).
    refused(&mut rig, E::Malformed(M::Epk), 400, |r| {
        r.ext_request_body(json!({"epk": "AAAA", "scope": SPOOF})).1
    });
}

// ---------------------------------------------------------------- §8.6 at login

#[test]
fn auth_token_400_scope_outside_the_grammar() {
    let mut rig = Rig::new();
    let user = rig.w.user.clone();
    for (scope, why) in bad_scopes() {
        let scope = &scope[..scope.len().min(127)];
        let b = rig.login_body_with(&user, scope, |_| {});
        let events = refused(&mut rig, E::Malformed(M::ScopeCharacter), 400, |r| {
            r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
        });
        assert!(events.is_empty(), "{why}");
    }
    let b = rig.login_body_with(&user, &every_allowed_character(), |_| {});
    assert!(rig
        .w
        .device
        .auth_token(&b, rig.w.time(), &mut rig.w.rng)
        .result
        .is_ok());
    // The scope (step 7) comes before the iss (step 8).
    let b = rig.login_body_with(&user, SPOOF, |v| v["iss"] = json!("AAAA"));
    refused(&mut rig, E::Malformed(M::ScopeCharacter), 400, |r| {
        r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
    });
}

// ---------------------------------------------------------------- §2.5: aid at ext/validate

/// A pairing reply from `phone`'s key to `jti`, with `iss` as given, under a new pid.
fn reply_as(rig: &mut Rig, jti: &str, phone: &Phone, iss: &str) -> (String, Vec<u8>) {
    let claims = json!({"jti": jti, "iss": iss, "aud": rig.eid_b64(),
        "epk": SecretKey::generate(&mut rig.w.rng).public_key().to_b64(), "label": "again"});
    let reply = jwt::sign(Header::App, &claims, phone.s1.as_bytes());
    let pid = codec::encode_std(&[0x5au8; 32]);
    let b = body(&json!({ "pid": pid, "reply": reply }));
    (reply, b)
}

#[test]
fn ext_validate_400_one_phone_key_cannot_take_two_slots() {
    let mut rig = Rig::new();
    let phone = rig.pair("phone");
    let token = rig.login("system:config");
    let (_, jti) = rig.ext_init(&token);
    // Attack 4: the paired aid with bit 255 set. X25519 ignores the bit, so the reply's MAC
    // verifies under the same S1; before the fix this took a second slot.
    let (_, b) = reply_as(&mut rig, &jti, &phone, &high_bit(&phone.aid()));
    refused(&mut rig, E::Malformed(M::Key), 400, |r| {
        r.w.device.ext_validate(Some(&token), &b, r.w.time())
    });
    assert_eq!(rig.w.device.pairings().len(), 1);
    // Every other non-canonical or low-order aid: 400 as well.
    for (iss, why) in bad_keys(&phone.aid()) {
        let (_, b) = reply_as(&mut rig, &jti, &phone, &iss);
        let before = rig.state();
        let out = rig.w.device.ext_validate(Some(&token), &b, rig.w.time());
        assert_eq!(out.result.err(), Some(E::Malformed(M::Key)), "{why}");
        assert_eq!(rig.state(), before, "{why}");
    }
    // The canonical aid itself is still the duplicate it is (406), and the nonce survived.
    let (_, b) = reply_as(&mut rig, &jti, &phone, &phone.aid().to_b64());
    refused(&mut rig, E::DuplicateAid, 406, |r| {
        r.w.device.ext_validate(Some(&token), &b, r.w.time())
    });
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
}

#[test]
fn ext_validate_400_non_canonical_reply_epk() {
    let mut rig = Rig::new();
    let token = rig.login("system:config");
    let (_, jti) = rig.ext_init(&token);
    let valid = SecretKey::generate(&mut rig.w.rng).public_key();
    for (epk, why) in bad_keys(&valid) {
        let (reply, p) = rig.reply_with(&jti, "phone", |v| v["epk"] = json!(epk));
        let before = rig.state();
        let out =
            rig.w
                .device
                .ext_validate(Some(&token), &Rig::validate_body(&p, &reply), rig.w.time());
        assert_eq!(out.result.err(), Some(E::Malformed(M::Epk)), "{why}");
        assert_eq!(rig.state(), before, "{why}");
    }
}

// ---------------------------------------------------------------- §2.5: iss at ext/token

#[test]
fn ext_token_400_non_canonical_iss_before_the_pairing_lookup() {
    let mut rig = Rig::new();
    let phone = rig.pair("phone");
    let req = rig.ext_request("keymgmt:list", None);
    let good = rig.authreply_claims(&phone, &req, "keymgmt:list", rig.w.now + 900);
    for (iss, why) in bad_keys(&phone.aid())
        .into_iter()
        .chain([("nonsense".to_owned(), "not base64")])
    {
        let mut c = good.clone();
        c["iss"] = json!(iss);
        let before = rig.state();
        let out = rig.ext_token(&Rig::authreply_body(&phone, &c));
        assert_eq!(out.result.err(), Some(E::Malformed(M::Key)), "{why}");
        assert_eq!(rig.state(), before, "{why}");
        // step 8 comes before step 9 (no pairing has this pid)
        c["pid"] = json!(codec::encode_std(&[9u8; 32]));
        let out = rig.ext_token(&Rig::authreply_body(&phone, &c));
        assert_eq!(out.result.err(), Some(E::Malformed(M::Key)), "{why}");
    }
    assert!(rig
        .ext_token(&Rig::authreply_body(&phone, &good))
        .result
        .is_ok());
}

// ---------------------------------------------------------------- §2.5: iss at auth/token

#[test]
fn auth_token_400_non_canonical_iss() {
    let mut rig = Rig::new();
    let user = rig.w.user.clone();
    // The user's own key with bit 255 set: the MAC verifies (same shared secret).
    let b = rig.login_body_with(&user, "keymgmt:list", |v| {
        v["iss"] = json!(high_bit(&user.public_key()))
    });
    refused(&mut rig, E::Malformed(M::Key), 400, |r| {
        r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
    });
    for (iss, why) in bad_keys(&user.public_key())
        .into_iter()
        .chain([("AAAA".to_owned(), "3 bytes")])
    {
        let b = rig.login_body_with(&user, "keymgmt:list", |v| v["iss"] = json!(iss));
        let before = rig.state();
        let out = rig.w.device.auth_token(&b, rig.w.time(), &mut rig.w.rng);
        assert_eq!(out.result.err(), Some(E::Malformed(M::Key)), "{why}");
        assert_eq!(rig.state(), before, "{why}");
    }
}

// ---------------------------------------------------------------- §2.5: epk at the three endpoints

/// Calls `ext/request`, `ext/init` and `ext/mac` with `epk` and checks each refusal.
fn refused_at_the_three(rig: &mut Rig, token: &str, epk: &str, expected: E, why: &str) {
    let b = body(&json!({ "epk": epk }));
    let before = rig.state();
    let out = rig.ext_request_body(json!({"epk": epk, "scope": "keymgmt:list"}));
    assert_eq!(
        out.1.result.err(),
        Some(expected.clone()),
        "ext/request: {why}"
    );
    let out = rig
        .w
        .device
        .ext_init(Some(token), &b, rig.w.time(), &mut rig.w.rng);
    assert_eq!(out.result.err(), Some(expected.clone()), "ext/init: {why}");
    let out = rig
        .w
        .device
        .ext_mac(Some(token), &b, rig.w.time(), &mut rig.w.rng);
    assert_eq!(out.result.err(), Some(expected.clone()), "ext/mac: {why}");
    assert_eq!(expected.status(), 400);
    assert_eq!(rig.state(), before, "{why}");
}

#[test]
fn epk_400_non_canonical_at_request_init_and_mac() {
    let mut rig = Rig::new();
    let token = rig.login("system:config");
    let valid = SecretKey::generate(&mut rig.w.rng).public_key();
    for (epk, why) in bad_keys(&valid) {
        refused_at_the_three(&mut rig, &token, &epk, E::Malformed(M::Epk), why);
    }
}

#[test]
fn epk_400_device_or_paired_key_at_request_init_and_mac() {
    let mut rig = Rig::new();
    let phone = rig.pair("phone");
    let token = rig.login("system:config");
    let eid = rig.w.device.eid().to_b64();
    let spk = rig.w.device.spk().to_b64();
    for (epk, why) in [
        (eid, "the eid"),
        (spk, "the spk"),
        (phone.aid().to_b64(), "a paired aid"),
    ] {
        refused_at_the_three(&mut rig, &token, &epk, E::Malformed(M::EpkInUse), why);
        // In the url-safe alphabet without padding: the same key, the same refusal.
        let url = epk.replace('+', "-").replace('/', "_").replace('=', "");
        refused_at_the_three(&mut rig, &token, &url, E::Malformed(M::EpkInUse), why);
    }
    // Any other key is fine.
    let other = SecretKey::generate(&mut rig.w.rng).public_key().to_b64();
    assert!(rig
        .ext_request_body(json!({"epk": other, "scope": "keymgmt:list"}))
        .1
        .result
        .is_ok());
}

// ---------------------------------------------------------------- §3.3: crit of any value

fn forge(header: &str, claims: &Value, key: &[u8]) -> String {
    let mut t = codec::encode_segment(header.as_bytes());
    t.push('.');
    t.push_str(&codec::encode_segment(&serde_json::to_vec(claims).unwrap()));
    let tag = hem_auth_core::mac::mac(key, t.as_bytes());
    t.push('.');
    t.push_str(&codec::encode_segment(&tag));
    t
}

#[test]
fn crit_of_any_value_is_401() {
    let mut rig = Rig::new();
    let user = rig.w.user.clone();
    let phone = rig.pair("phone");
    for crit in ["null", "[]", "false", "{}", "\"x\""] {
        let header = format!(r#"{{"ecdh":"x25519","alg":"HS256","typ":"JWT","crit":{crit}}}"#);
        // login
        let c = rig.challenge();
        let claims = json!({"jti": c.jti, "aud": c.spk, "exp": rig.w.now + 60, "iat": rig.w.now,
            "iss": user.public_key().to_b64(), "scope": "keymgmt:list"});
        let key = user.diffie_hellman(rig.w.device.spk()).unwrap();
        let t = forge(&header, &claims, key.as_bytes());
        refused(&mut rig, E::HeaderPolicy, 401, |r| {
            r.w.device
                .auth_token(&body(&json!({ "auth": t })), r.w.time(), &mut r.w.rng)
        });
        // authreply
        let req = rig.ext_request("keymgmt:list", None);
        let claims = rig.authreply_claims(&phone, &req, "keymgmt:list", rig.w.now + 900);
        let t = forge(&header, &claims, phone.s1.as_bytes());
        refused(&mut rig, E::HeaderPolicy, 401, |r| {
            r.ext_token(&body(&json!({ "authreply": t })))
        });
    }
}

// ---------------------------------------------------------------- §2.2: null is not "absent"

#[test]
fn null_in_place_of_an_optional_claim_is_400() {
    let mut rig = Rig::new();
    let user = rig.w.user.clone();
    let phone = rig.pair("phone");
    // authreply: aud, iat, ctx
    let req = rig.ext_request("keymgmt:list", None);
    let good = rig.authreply_claims(&phone, &req, "keymgmt:list", rig.w.now + 900);
    for claim in ["aud", "iat", "ctx"] {
        let mut c = good.clone();
        c[claim] = Value::Null;
        refused(&mut rig, E::Malformed(M::Claims), 400, |r| {
            r.ext_token(&Rig::authreply_body(&phone, &c))
        });
    }
    // login: ctx
    let b = rig.login_body_with(&user, "keymgmt:list", |v| v["ctx"] = Value::Null);
    refused(&mut rig, E::Malformed(M::Claims), 400, |r| {
        r.w.device.auth_token(&b, r.w.time(), &mut r.w.rng)
    });
    // pairing reply: aud, eat
    let token = rig.login("system:config");
    let (_, jti) = rig.ext_init(&token);
    for claim in ["aud", "eat"] {
        let (reply, p) = rig.reply_with(&jti, "phone", |v| v[claim] = Value::Null);
        refused(&mut rig, E::Malformed(M::Claims), 400, |r| {
            r.w.device
                .ext_validate(Some(&token), &Rig::validate_body(&p, &reply), r.w.time())
        });
    }
    // A defined optional body member that is null is absent (§2.2): ctx and note here.
    let out = rig.ext_request_body(json!({"scope": "keymgmt:list", "ctx": null, "note": null}));
    let authreq = out.1.result.unwrap().authreq.into_owned();
    let claims = claims_of(&authreq);
    assert!(claims.get("ctx").is_none() && claims.get("note").is_none());
}
