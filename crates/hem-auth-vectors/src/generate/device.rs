//! Generated tests of the device kinds: `ext-token`, `ext-validate`, `login`, `access-token`.
//!
//! Expected statuses follow the spec's error orders (§5.9 ext/token, §6.6 ext/validate, §7.4
//! auth/token, §8.2 the bearer check; at a glance in §10.2). Where they are silent about a
//! defect, the test gives no `status` (any failure passes).

use hem_auth_core::UnixTime;
use std::borrow::Cow;

use hem_auth_core::claims::{AccessTokenClaims, AuthreplyClaims};
use hem_auth_core::jwt::{self, Header};
use hem_auth_core::keys::{PublicKey, SecretKey};
use hem_auth_core::nonce::TimeNonce;
use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;
use sha1::{Digest, Sha1};

use super::defect;
use super::flows::{
    dh, keys, pairing_reply, pid, seal, use_scope_with_hint, AUTHREQ_LIFETIME_SECS,
};
use super::primitives::{bad_padding_blob, low_order, secret_b64};
use super::{rng, Fields, FileOut, Tests, T0};
use crate::b64;
use crate::kind::Kind;
use crate::schema::{
    AccessTokenCase, ExtTokenCase, ExtValidateCase, LoginCase, PairingFields, PendingFields,
    TokenFields,
};

/// Token lifetime when an authreply says `exp = 0` (§5.10: the firmware's 8 h fallback).
const EXT_TOKEN_DEFAULT_SECS: u64 = 28_800;
/// Lifetime of a login challenge (§4.4).
const LOGIN_CHALLENGE_SECS: u64 = 60;
/// Lifetime of a pairing request (§4.4).
const PAIRING_REQUEST_SECS: u64 = 86_400;

/// kid of a paired key: SHA-1(aid)[..16] (§2.6). Computed here, not with
/// the device role's `kid_of`, so that the expected kid is an independent statement.
pub(crate) fn kid_bytes(aid: &PublicKey) -> [u8; 16] {
    let digest = Sha1::digest(aid.as_bytes());
    let mut kid = [0u8; 16];
    kid.copy_from_slice(&digest[..16]);
    kid
}

struct Paired {
    aid: PublicKey,
    pid: String,
}

/// A device with pairings and one outstanding authreq nonce.
struct ExtLogin {
    eid_sk: SecretKey,
    eid: PublicKey,
    pairings: Vec<Paired>,
    jti: TimeNonce,
    pending_exp: u64,
    requested: String,
    now: u64,
}

fn ext_login(rng: &mut ChaCha20Rng, pairings: usize, requested: &str) -> ExtLogin {
    let (eid_sk, eid) = keys(rng);
    let pairings = (0..pairings)
        .map(|_| {
            let (_, aid) = keys(rng);
            Paired { aid, pid: pid(rng) }
        })
        .collect();
    let iat = T0 + (rng.next_u32() % 1000) as u64;
    ExtLogin {
        eid_sk,
        eid,
        pairings,
        jti: TimeNonce::generate(UnixTime::from_secs(iat), rng),
        pending_exp: iat + AUTHREQ_LIFETIME_SECS,
        requested: requested.into(),
        now: iat + 40,
    }
}

impl ExtLogin {
    fn s1(&self, i: usize) -> [u8; 32] {
        dh(&self.eid_sk, &self.pairings[i].aid)
    }

    /// The authreply the phone of pairing `i` sends for `granted` (v1 claim order).
    fn claims(&self, i: usize, granted: &str, exp: u64) -> AuthreplyClaims<'static> {
        let p = &self.pairings[i];
        AuthreplyClaims {
            aud: Some(Cow::Owned(self.eid.to_b64())),
            jti: Cow::Owned(self.jti.to_b64()),
            exp,
            iat: Some(self.now - 10),
            pid: Cow::Owned(p.pid.clone()),
            iss: Cow::Owned(p.aid.to_b64()),
            scope: Cow::Owned(seal(&self.s1(i), self.jti.as_bytes(), granted)),
            ctx: None,
        }
    }

    fn sign(&self, i: usize, claims: &AuthreplyClaims<'_>) -> String {
        jwt::sign(Header::App, claims, &self.s1(i))
    }

    fn sign_json(&self, i: usize, json: &str) -> String {
        jwt::sign_json(Header::App, json.as_bytes(), &self.s1(i))
    }

    fn case(&self, authreply: String) -> ExtTokenCase {
        ExtTokenCase {
            eid_private: secret_b64(&self.eid_sk),
            pairings: self
                .pairings
                .iter()
                .map(|p| PairingFields {
                    pid: p.pid.clone(),
                    aid: p.aid.to_b64(),
                })
                .collect(),
            pending: vec![PendingFields {
                jti: self.jti.to_b64(),
                exp: self.pending_exp,
                scope: Some(self.requested.clone()),
            }],
            now: self.now,
            authreply,
            policy: None,
            status: None,
            token: None,
        }
    }

    fn ok(&self, i: usize, authreply: String, scope: &str, exp: u64) -> ExtTokenCase {
        ExtTokenCase {
            status: Some(200),
            token: Some(TokenFields {
                scope: scope.into(),
                sub: b64::encode(&kid_bytes(&self.pairings[i].aid)),
                exp,
            }),
            ..self.case(authreply)
        }
    }

    fn bad(&self, authreply: String, status: u16) -> ExtTokenCase {
        ExtTokenCase {
            status: Some(status),
            ..self.case(authreply)
        }
    }
}

pub(super) fn ext_token(file: &mut FileOut) {
    let mut rng = rng(0xe77_70c3);
    let mut t = Tests::new(
        Kind::ExtToken,
        "the device turns an authreply into an access token: pid lookup, iss = paired aid, \
         HS256 keyed X25519(eid_prv, aid), pending nonce, exp, sealed scope",
    );
    let mut ok = |comment: &str, case: ExtTokenCase| t.valid(comment, &[], Fields::ExtToken(case));

    let a = ext_login(&mut rng, 1, "keymgmt:list");
    let exp = a.now + 900;
    ok(
        "approved as requested, 15 minutes",
        a.ok(
            0,
            a.sign(0, &a.claims(0, "keymgmt:list", exp)),
            "keymgmt:list",
            exp,
        ),
    );
    let b = ext_login(&mut rng, 2, "storage:disk0");
    let exp = b.now + 3600;
    ok(
        "phone granted :rw (as-approved policy keeps it), second of two pairings",
        b.ok(
            1,
            b.sign(1, &b.claims(1, "storage:disk0:rw", exp)),
            "storage:disk0:rw",
            exp,
        ),
    );
    let mut strict = b.ok(
        1,
        b.sign(1, &b.claims(1, "storage:disk0:rw", exp)),
        "storage:disk0:rw",
        exp,
    );
    strict.policy = Some("requested-only".into());
    ok(
        "requested-only policy: storage:diskN may come back with :rw",
        strict,
    );
    let (base, hinted) = use_scope_with_hint("9b2c4e6f8a0c1e3f5a7b9d1f3e5c7a9b", "Signing key");
    let u = ext_login(&mut rng, 1, &hinted);
    let exp = u.now + 900;
    ok(
        "keymgmt:use with key hint: the token's scope has the #... suffix removed",
        u.ok(0, u.sign(0, &u.claims(0, &hinted, exp)), &base, exp),
    );
    let z = ext_login(&mut rng, 1, "logger:get");
    ok(
        "authreply exp = 0: the token lives 8 hours",
        z.ok(
            0,
            z.sign(0, &z.claims(0, "logger:get", 0)),
            "logger:get",
            z.now + EXT_TOKEN_DEFAULT_SECS,
        ),
    );
    let v = ext_login(&mut rng, 1, "system:config");
    let exp = v.pending_exp + 86_400;
    ok(
        "authreply exp beyond the authreq's: copied verbatim",
        v.ok(
            0,
            v.sign(0, &v.claims(0, "system:config", exp)),
            "system:config",
            exp,
        ),
    );
    let c = ext_login(&mut rng, 1, "keymgmt:gen");
    let exp = c.now + 900;
    let sealed = seal(&c.s1(0), c.jti.as_bytes(), "keymgmt:gen");
    let csim = format!(
        r#"{{"jti":"{}","iss":"{}","pid":"{}","scope":"{sealed}","ctx":"c-ctx","exp":{exp}}}"#,
        c.jti.to_b64(),
        c.pairings[0].aid.to_b64(),
        c.pairings[0].pid
    );
    ok(
        "the C client's claim order, no aud and no iat",
        c.ok(0, c.sign_json(0, &csim), "keymgmt:gen", exp),
    );
    let p = ext_login(&mut rng, 1, "keymgmt:list");
    let exp = p.now + 900;
    let php = jwt::sign(Header::Php, &p.claims(0, "keymgmt:list", exp), &p.s1(0));
    ok("PHP tester header order", p.ok(0, php, "keymgmt:list", exp));
    let mut l = ext_login(&mut rng, 1, "keymgmt:list");
    l.now = l.pending_exp - 1;
    let exp = l.now + 900;
    let last = l.ok(
        0,
        l.sign(0, &l.claims(0, "keymgmt:list", exp)),
        "keymgmt:list",
        exp,
    );
    ok("one second before the authreq nonce expires", last);

    // Invalid: each on a fresh device so a reader can take any test alone.
    let d = ext_login(&mut rng, 2, "keymgmt:list");
    let exp = d.now + 900;
    let claims = d.claims(0, "keymgmt:list", exp);
    let good = d.sign(0, &claims);
    let json = serde_json::to_string(&claims).unwrap_or_default();
    let key = d.s1(0);
    let mut bad = |comment: &str, flag: &str, case: ExtTokenCase| {
        t.invalid(comment, flag, Fields::ExtToken(case));
    };
    // Nonces.
    let mut replay = d.bad(good.clone(), 401);
    replay.pending.clear();
    bad(
        "replayed: the authreq nonce was consumed by an earlier ext/token",
        "Replay",
        replay,
    );
    let mut unknown = d.bad(good.clone(), 401);
    unknown.pending[0].jti =
        TimeNonce::generate(UnixTime::from_secs(d.now - 40), &mut rng).to_b64();
    bad(
        "unknown nonce: the device holds a different one",
        "UnknownNonce",
        unknown,
    );
    let mut expired = d.bad(good.clone(), 401);
    expired.now = d.pending_exp;
    bad(
        "expired nonce: now is the authreq nonce's exp",
        "ExpiredNonce",
        expired,
    );
    let mut expired = d.bad(good.clone(), 401);
    expired.now = d.pending_exp + 1;
    bad(
        "expired nonce: now is past its exp",
        "ExpiredNonce",
        expired,
    );
    // Pairing.
    let other_pid = pid(&mut rng);
    let mut unk = claims.clone();
    unk.pid = Cow::Owned(other_pid);
    bad("unknown pid", "UnknownPid", d.bad(d.sign(0, &unk), 406));
    let mut iss = claims.clone();
    iss.iss = Cow::Owned(d.pairings[1].aid.to_b64());
    bad(
        "iss is another paired aid, not the one paired under pid",
        "IssMismatch",
        d.bad(d.sign(0, &iss), 406),
    );
    // Sealed scope.
    let sealed = claims.scope.to_string();
    let blob = b64::decode(&sealed[1..]).unwrap_or_default();
    let with_scope = |s: String| {
        let mut c = claims.clone();
        c.scope = Cow::Owned(s);
        d.sign(0, &c)
    };
    bad(
        "sealed scope uses scheme B",
        "UnsupportedScheme",
        d.bad(with_scope(format!("B{}", &sealed[1..])), 406),
    );
    bad(
        "sealed scope truncated by one byte",
        "Truncated",
        d.bad(
            with_scope(format!("A{}", b64::encode(&blob[..blob.len() - 1]))),
            406,
        ),
    );
    bad(
        "sealed scope with bad padding (pad byte 17), tag over the scope",
        "BadPadding",
        d.bad(
            with_scope(format!(
                "A{}",
                b64::encode(&bad_padding_blob(
                    &key,
                    d.jti.as_bytes(),
                    "keymgmt:list",
                    17
                ))
            )),
            406,
        ),
    );
    let mut flipped = blob.clone();
    flipped[blob.len() - 3] ^= 0x04;
    bad(
        "flipped bit in the sealed scope's tag",
        "BitFlip",
        d.bad(with_scope(format!("A{}", b64::encode(&flipped))), 406),
    );
    // Time.
    let with_exp = |exp: u64| {
        let mut c = claims.clone();
        c.exp = exp;
        d.sign(0, &c)
    };
    bad(
        "exp in the past",
        "Expired",
        d.bad(with_exp(d.now - 1), 401),
    );
    bad("exp == now", "Expired", d.bad(with_exp(d.now), 401));
    // Audience.
    let mut aud = claims.clone();
    aud.aud = Some(Cow::Owned(d.pairings[0].aid.to_b64()));
    bad(
        "aud is not the eid",
        "WrongAud",
        d.bad(d.sign(0, &aud), 401),
    );
    // Signature and header.
    let digit = defect::find(&good, 1, "\"iat\":") + 6 + 9;
    bad(
        "flipped bit in the header segment",
        "BitFlip",
        d.bad(
            defect::flip_bit(&good, 0, defect::find(&good, 0, "JWT") + 2, 0),
            401,
        ),
    );
    bad(
        "flipped bit in the payload segment (a digit of iat)",
        "BitFlip",
        d.bad(defect::flip_bit(&good, 1, digit, 0), 401),
    );
    bad(
        "flipped bit in the signature segment",
        "BitFlip",
        d.bad(defect::flip_bit(&good, 2, 17, 3), 401),
    );
    bad(
        "signed with the other pairing's secret",
        "WrongKey",
        d.bad(d.sign(1, &claims), 401),
    );
    for (comment, flag, header) in [
        (
            "alg none",
            "AlgNone",
            r#"{"ecdh":"x25519","alg":"none","typ":"JWT"}"#,
        ),
        (
            "alg HS512",
            "WrongAlg",
            r#"{"ecdh":"x25519","alg":"HS512","typ":"JWT"}"#,
        ),
        (
            "alg missing",
            "MissingAlg",
            r#"{"ecdh":"x25519","typ":"JWT"}"#,
        ),
        (
            "ecdh missing",
            "MissingEcdh",
            r#"{"alg":"HS256","typ":"JWT"}"#,
        ),
    ] {
        bad(
            comment,
            flag,
            d.bad(defect::with_header(&good, header, &key), 401),
        );
    }
    // Malformed.
    bad(
        "padding on the header segment",
        "Padding",
        d.bad(defect::padded_header(&good, &key), 400),
    );
    if let Some(tok) = defect::non_url_char(&good, &key) {
        bad(
            "standard-alphabet character in a segment",
            "NonUrlCharacter",
            d.bad(tok, 400),
        );
    }
    bad(
        "non-canonical trailing bits in the signature segment",
        "NonCanonicalBase64",
        d.bad(defect::non_canonical_signature(&good), 400),
    );
    bad(
        "two segments",
        "SegmentCount",
        d.bad(defect::two_segments(&good), 400),
    );
    bad(
        "four segments",
        "SegmentCount",
        d.bad(defect::four_segments(&good), 400),
    );
    bad(
        "oversized authreply (a 3100-character ctx), correctly signed",
        "Oversized",
        d.bad(
            d.sign_json(
                0,
                &defect::prepend_member(&json, "ctx", &format!("\"{}\"", "c".repeat(3100))),
            ),
            400,
        ),
    );
    bad(
        "duplicate claim (pid twice)",
        "DuplicateClaim",
        d.bad(
            d.sign_json(
                0,
                &defect::prepend_member(&json, "pid", &format!("\"{}\"", d.pairings[0].pid)),
            ),
            400,
        ),
    );
    bad(
        "exp as a string",
        "ExpString",
        d.bad(
            d.sign_json(
                0,
                &defect::replace_member(&json, "exp", &format!("\"{exp}\"")),
            ),
            400,
        ),
    );
    bad(
        "exp as a float",
        "ExpFloat",
        d.bad(
            d.sign_json(
                0,
                &defect::replace_member(&json, "exp", &format!("{exp}.5")),
            ),
            400,
        ),
    );
    bad(
        "pid missing",
        "MissingClaim",
        d.bad(d.sign_json(0, &defect::remove_member(&json, "pid")), 400),
    );
    bad(
        "pid is not 32 bytes",
        "BadPidLength",
        d.bad(
            d.sign_json(
                0,
                &defect::replace_member(&json, "pid", &format!("\"{}\"", b64::encode(&[9u8; 31]))),
            ),
            400,
        ),
    );
    // Policy.
    let r = ext_login(&mut rng, 1, "keymgmt:list");
    let exp = r.now + 900;
    let mut case = ExtTokenCase {
        status: Some(406),
        ..r.case(r.sign(0, &r.claims(0, "keymgmt:gen", exp)))
    };
    case.policy = Some("requested-only".into());
    bad(
        "requested-only policy: the phone approved a different scope",
        "ScopeMismatch",
        case,
    );
    // Appended (issue 14): `null` is not "absent" (spec §2.2, §5.9 step 6), and an iss that
    // is the paired aid with bit 255 set is no canonical key (spec §2.5, §5.9 step 8; it was
    // 406, another key, before).
    assert!(json.contains("\"aud\":"), "the good authreply has an aud");
    bad(
        "aud is null: a claim of the wrong type, never absent",
        "NullClaim",
        d.bad(
            d.sign_json(0, &defect::replace_member(&json, "aud", "null")),
            400,
        ),
    );
    let mut high = *d.pairings[0].aid.as_bytes();
    high[31] |= 0x80;
    bad(
        "iss is the paired aid with bit 255 set (not canonical)",
        "NonCanonicalKey",
        d.bad(
            d.sign_json(
                0,
                &defect::replace_member(&json, "iss", &format!("\"{}\"", b64::encode(&high))),
            ),
            400,
        ),
    );
    t.into_file(file);
}

/// A device with an outstanding pairing request and a phone answering it.
struct Pairing {
    eid_sk: SecretKey,
    eid: PublicKey,
    jti: TimeNonce,
    epk: PublicKey,
    aid_sk: SecretKey,
    aid: PublicKey,
    pid: String,
    now: u64,
}

fn pairing(rng: &mut ChaCha20Rng) -> Pairing {
    let (eid_sk, eid) = keys(rng);
    let (_, epk) = keys(rng);
    let (aid_sk, aid) = keys(rng);
    let issued = T0 + (rng.next_u32() % 1000) as u64;
    Pairing {
        eid_sk,
        eid,
        jti: TimeNonce::generate(UnixTime::from_secs(issued), rng),
        epk,
        aid_sk,
        aid,
        pid: pid(rng),
        now: issued + 45,
    }
}

impl Pairing {
    fn reply(&self, label: &str) -> String {
        pairing_reply(
            &self.aid_sk,
            &self.eid,
            &self.epk,
            &self.jti.to_b64(),
            None,
            label,
            "",
        )
        .0
    }

    fn case(&self, reply: String, existing: Vec<PairingFields>) -> ExtValidateCase {
        ExtValidateCase {
            eid_private: secret_b64(&self.eid_sk),
            pairings: existing,
            pending: vec![PendingFields {
                jti: self.jti.to_b64(),
                exp: self.now - 45 + PAIRING_REQUEST_SECS,
                scope: None,
            }],
            now: self.now,
            pid: self.pid.clone(),
            reply,
            status: None,
            kid: None,
            code: None,
        }
    }

    fn ok(&self, reply: String, existing: Vec<PairingFields>) -> ExtValidateCase {
        let code = b64::encode(&hem_auth_core::mac::mac(
            &dh(&self.eid_sk, &self.epk),
            reply.as_bytes(),
        ));
        ExtValidateCase {
            status: Some(200),
            kid: Some(hex::encode(kid_bytes(&self.aid))),
            code: Some(code),
            ..self.case(reply, existing)
        }
    }

    fn bad(
        &self,
        reply: String,
        existing: Vec<PairingFields>,
        status: Option<u16>,
    ) -> ExtValidateCase {
        ExtValidateCase {
            status,
            ..self.case(reply, existing)
        }
    }

    /// Signs a reply payload text with S1.
    fn sign_json(&self, json: &str) -> String {
        jwt::sign_json(Header::App, json.as_bytes(), &dh(&self.aid_sk, &self.eid))
    }
}

fn others(rng: &mut ChaCha20Rng, n: usize) -> Vec<PairingFields> {
    (0..n)
        .map(|_| PairingFields {
            pid: pid(rng),
            aid: keys(rng).1.to_b64(),
        })
        .collect()
}

pub(super) fn ext_validate(file: &mut FileOut) {
    let mut rng = rng(0xe77_7a11);
    let mut t = Tests::new(
        Kind::ExtValidate,
        "the device completes a pairing: HS256 keyed X25519(eid_prv, iss), pending request \
         nonce, label 1-32 printable ASCII, at most 8 pairings, no duplicate aid; kid = \
         SHA-1(aid)[..16], code = HMAC(X25519(eid_prv, reply.epk), reply)",
    );
    let p = pairing(&mut rng);
    t.valid(
        "first pairing",
        &[],
        Fields::ExtValidate(p.ok(p.reply("Pixel 8 (Android)"), vec![])),
    );
    let p = pairing(&mut rng);
    let seven = others(&mut rng, 7);
    t.valid(
        "eighth pairing (seven held)",
        &[],
        Fields::ExtValidate(p.ok(p.reply("iPhone 15 (iOS)"), seven)),
    );
    let p = pairing(&mut rng);
    t.valid(
        "label of exactly 32 printable characters",
        &[],
        Fields::ExtValidate(p.ok(p.reply(&"L".repeat(32)), others(&mut rng, 1))),
    );
    let p = pairing(&mut rng);
    let minimal = format!(
        r#"{{"jti":"{}","iss":"{}","label":"C client","epk":"{}"}}"#,
        p.jti.to_b64(),
        p.aid.to_b64(),
        p.epk.to_b64()
    );
    t.valid(
        "reply with only jti, iss, label, epk (no aud), as the C client sends",
        &[],
        Fields::ExtValidate(p.ok(p.sign_json(&minimal), vec![])),
    );

    let p = pairing(&mut rng);
    let good = p.reply("Pixel 8 (Android)");
    let json = defect::payload_text(&good);
    let s1 = dh(&p.aid_sk, &p.eid);
    let mut bad = |comment: &str, flag: &str, case: ExtValidateCase| {
        t.invalid(comment, flag, Fields::ExtValidate(case));
    };
    let eight = others(&mut rng, 8);
    bad(
        "ninth pairing (eight held)",
        "TooManyPairings",
        p.bad(good.clone(), eight, Some(406)),
    );
    let dup = vec![PairingFields {
        pid: pid(&mut rng),
        aid: p.aid.to_b64(),
    }];
    bad(
        "the same aid is already paired under another pid",
        "DuplicateAid",
        p.bad(good.clone(), dup, Some(406)),
    );
    bad(
        "33-character label",
        "LabelTooLong",
        p.bad(p.reply(&"L".repeat(33)), vec![], Some(400)),
    );
    bad(
        "empty label",
        "EmptyLabel",
        p.bad(p.reply(""), vec![], Some(400)),
    );
    bad(
        "label with a non-ASCII character",
        "LabelCharacter",
        p.bad(p.reply("Pixel (Andröid)"), vec![], Some(400)),
    );
    bad(
        "epk is not 32 bytes",
        "BadKeyLength",
        p.bad(
            p.sign_json(&defect::replace_member(
                &json,
                "epk",
                &format!("\"{}\"", b64::encode(&[5u8; 16])),
            )),
            vec![],
            Some(400),
        ),
    );
    bad(
        "flipped bit in the signature segment",
        "BitFlip",
        p.bad(defect::flip_bit(&good, 2, 5, 5), vec![], Some(401)),
    );
    let mut replay = p.bad(good.clone(), vec![], Some(401));
    replay.pending.clear();
    bad(
        "replayed: the pairing nonce was consumed by an earlier ext/validate",
        "Replay",
        replay,
    );
    let mut expired = p.bad(good.clone(), vec![], Some(401));
    expired.now = expired.pending[0].exp + 1;
    bad("expired pairing nonce", "ExpiredNonce", expired);
    bad(
        "alg none",
        "AlgNone",
        p.bad(
            defect::with_header(&good, r#"{"ecdh":"x25519","alg":"none","typ":"JWT"}"#, &s1),
            vec![],
            Some(401),
        ),
    );
    bad(
        "duplicate claim (label twice)",
        "DuplicateClaim",
        p.bad(
            p.sign_json(&defect::prepend_member(&json, "label", "\"Other\"")),
            vec![],
            Some(400),
        ),
    );
    {
        // aid (iss) is a low-order point: the reply is signed with the all-zero secret.
        let lo = low_order(3);
        let payload = defect::replace_member(&json, "iss", &format!("\"{lo}\""));
        let reply = jwt::sign_json(Header::App, payload.as_bytes(), &[0u8; 32]);
        bad(
            "aid (iss) is a low-order point; the reply is signed with the all-zero secret",
            "LowOrderPoint",
            p.bad(reply, vec![], Some(400)),
        );
    }
    bad(
        "reply epk is a low-order point (the code key would be all zero)",
        "LowOrderPoint",
        p.bad(
            p.sign_json(&defect::replace_member(
                &json,
                "epk",
                &format!("\"{}\"", low_order(0)),
            )),
            vec![],
            Some(400),
        ),
    );
    {
        // Appended (issue 14, attack 4): the paired aid with bit 255 set, signed with the same
        // S1 (X25519 ignores the bit). Compared as bytes it was another key and took a second
        // slot; a non-canonical key is 400 (spec §2.5, §6.6 step 11).
        let mut high = *p.aid.as_bytes();
        high[31] |= 0x80;
        let payload = defect::replace_member(&json, "iss", &format!("\"{}\"", b64::encode(&high)));
        let held = vec![PairingFields {
            pid: pid(&mut rng),
            aid: p.aid.to_b64(),
        }];
        bad(
            "the paired aid again with bit 255 set (one phone key, a second encoding)",
            "NonCanonicalKey",
            p.bad(p.sign_json(&payload), held, Some(400)),
        );
    }
    t.into_file(file);
}

struct Login {
    spk_sk: SecretKey,
    spk: PublicKey,
    user_sk: SecretKey,
    user: PublicKey,
    master_sk: SecretKey,
    master: PublicKey,
    jti: TimeNonce,
    now: u64,
}

fn login_setup(rng: &mut ChaCha20Rng) -> Login {
    let (spk_sk, spk) = keys(rng);
    let (user_sk, user) = keys(rng);
    let (master_sk, master) = keys(rng);
    let issued = T0 + (rng.next_u32() % 1000) as u64;
    Login {
        spk_sk,
        spk,
        user_sk,
        user,
        master_sk,
        master,
        jti: TimeNonce::generate(UnixTime::from_secs(issued), rng),
        now: issued + 3,
    }
}

impl Login {
    fn payload(&self, iss: &PublicKey, scope: &str, exp: u64) -> String {
        format!(
            r#"{{"jti":"{}","aud":"{}","exp":{exp},"iat":{},"iss":"{}","scope":"{scope}"}}"#,
            self.jti.to_b64(),
            self.spk.to_b64(),
            self.now - 1,
            iss.to_b64()
        )
    }

    fn auth(&self, signer: &SecretKey, payload: &str) -> String {
        jwt::sign_json(Header::App, payload.as_bytes(), &dh(signer, &self.spk))
    }

    fn case(&self, auth: String) -> LoginCase {
        LoginCase {
            spk_private: secret_b64(&self.spk_sk),
            user_public: self.user.to_b64(),
            master_public: Some(self.master.to_b64()),
            pending: vec![PendingFields {
                jti: self.jti.to_b64(),
                exp: self.now - 3 + LOGIN_CHALLENGE_SECS,
                scope: None,
            }],
            now: self.now,
            auth,
            status: None,
            token: None,
        }
    }

    fn ok(&self, auth: String, scope: &str, sub: &str, exp: u64) -> LoginCase {
        LoginCase {
            status: Some(200),
            token: Some(TokenFields {
                scope: scope.into(),
                sub: sub.into(),
                exp,
            }),
            ..self.case(auth)
        }
    }

    fn bad(&self, auth: String, status: u16) -> LoginCase {
        LoginCase {
            status: Some(status),
            ..self.case(auth)
        }
    }
}

pub(super) fn login(file: &mut FileOut) {
    let mut rng = rng(0x10_9140);
    let mut t = Tests::new(
        Kind::Login,
        "the device verifies an eJWT: HS256 keyed X25519(spk_prv, iss), iss the user (sub U) \
         or master (sub M) key, pending challenge nonce, exp after now; the token's exp is the \
         eJWT's",
    );
    let l = login_setup(&mut rng);
    let exp = l.now + 28_800;
    t.valid(
        "user login",
        &[],
        Fields::Login(l.ok(
            l.auth(&l.user_sk, &l.payload(&l.user, "system:config", exp)),
            "system:config",
            "U",
            exp,
        )),
    );
    let l = login_setup(&mut rng);
    let exp = l.now + 600;
    t.valid(
        "master-key login",
        &[],
        Fields::Login(l.ok(
            l.auth(&l.master_sk, &l.payload(&l.master, "keymgmt:gen", exp)),
            "keymgmt:gen",
            "M",
            exp,
        )),
    );
    let l = login_setup(&mut rng);
    let exp = l.now + 1;
    let payload = l.payload(&l.user, "logger:get", exp);
    t.valid(
        "PHP tester header order, exp one second after now",
        &[],
        Fields::Login(l.ok(
            jwt::sign_json(Header::Php, payload.as_bytes(), &dh(&l.user_sk, &l.spk)),
            "logger:get",
            "U",
            exp,
        )),
    );
    let l = login_setup(&mut rng);
    let exp = l.now + 3600;
    let mut last = l.ok(
        l.auth(&l.user_sk, &l.payload(&l.user, "keymgmt:list", exp)),
        "keymgmt:list",
        "U",
        exp,
    );
    last.now = last.pending[0].exp - 1;
    t.valid(
        "one second before the challenge expires",
        &[],
        Fields::Login(last),
    );

    let l = login_setup(&mut rng);
    let exp = l.now + 3600;
    let payload = l.payload(&l.user, "keymgmt:list", exp);
    let good = l.auth(&l.user_sk, &payload);
    let user_key = dh(&l.user_sk, &l.spk);
    let mut bad = |comment: &str, flag: &str, case: LoginCase| {
        t.invalid(comment, flag, Fields::Login(case));
    };
    let (stranger_sk, stranger) = keys(&mut rng);
    bad(
        "login with an unknown key (neither user nor master), correctly signed",
        "UnknownKey",
        l.bad(
            l.auth(&stranger_sk, &l.payload(&stranger, "keymgmt:list", exp)),
            401,
        ),
    );
    let mut replay = l.bad(good.clone(), 401);
    replay.pending.clear();
    bad(
        "replayed: the challenge nonce was consumed by an earlier login",
        "Replay",
        replay,
    );
    let mut unknown = l.bad(good.clone(), 401);
    unknown.pending[0].jti = TimeNonce::generate(UnixTime::from_secs(l.now - 3), &mut rng).to_b64();
    bad(
        "unknown nonce: the device holds a different one",
        "UnknownNonce",
        unknown,
    );
    let mut expired = l.bad(good.clone(), 401);
    expired.now = expired.pending[0].exp + 1;
    bad("expired challenge nonce", "ExpiredNonce", expired);
    bad(
        "exp == now",
        "Expired",
        l.bad(
            l.auth(&l.user_sk, &l.payload(&l.user, "keymgmt:list", l.now)),
            401,
        ),
    );
    bad(
        "exp in the past",
        "Expired",
        l.bad(
            l.auth(&l.user_sk, &l.payload(&l.user, "keymgmt:list", l.now - 60)),
            401,
        ),
    );
    bad(
        "exp = 0",
        "Expired",
        l.bad(
            l.auth(&l.user_sk, &l.payload(&l.user, "keymgmt:list", 0)),
            401,
        ),
    );
    bad(
        "flipped bit in the signature segment",
        "BitFlip",
        l.bad(defect::flip_bit(&good, 2, 9, 2), 401),
    );
    bad(
        "signed with the master key's secret while iss is the user key",
        "WrongKey",
        l.bad(l.auth(&l.master_sk, &payload), 401),
    );
    bad(
        "alg none",
        "AlgNone",
        l.bad(
            defect::with_header(
                &good,
                r#"{"ecdh":"x25519","alg":"none","typ":"JWT"}"#,
                &user_key,
            ),
            401,
        ),
    );
    bad(
        "ecdh missing",
        "MissingEcdh",
        l.bad(
            defect::with_header(&good, r#"{"alg":"HS256","typ":"JWT"}"#, &user_key),
            401,
        ),
    );
    bad(
        "duplicate claim (scope twice)",
        "DuplicateClaim",
        l.bad(
            l.auth(
                &l.user_sk,
                &defect::prepend_member(&payload, "scope", "\"system:config\""),
            ),
            400,
        ),
    );
    bad(
        "exp as a string",
        "ExpString",
        l.bad(
            l.auth(
                &l.user_sk,
                &defect::replace_member(&payload, "exp", &format!("\"{exp}\"")),
            ),
            400,
        ),
    );
    bad(
        "exp as a float",
        "ExpFloat",
        l.bad(
            l.auth(
                &l.user_sk,
                &defect::replace_member(&payload, "exp", &format!("{exp}.0")),
            ),
            400,
        ),
    );
    bad(
        "two segments",
        "SegmentCount",
        l.bad(defect::two_segments(&good), 400),
    );
    bad(
        "scope longer than 127 characters",
        "ScopeTooLong",
        l.bad(
            l.auth(
                &l.user_sk,
                &l.payload(&l.user, &format!("keymgmt:list:{}", "x".repeat(120)), exp),
            ),
            400,
        ),
    );
    t.into_file(file);
}

pub(super) fn access_token(file: &mut FileOut) {
    let mut rng = rng(0xacc_e55);
    let mut t = Tests::new(
        Kind::AccessToken,
        "the device checks a bearer token: HS256 keyed with the per-boot token key, valid while \
         now < exp (401 otherwise), scope a prefix match of the endpoint's, or equal for \
         keymgmt:use:<kid> (403 otherwise)",
    );
    let mut key = [0u8; 32];
    rng.fill_bytes(&mut key);
    let token_key = b64::encode(&key);
    let kid = "42afc419dbda72636b37a2455955e095";
    let use_scope = format!("keymgmt:use:{kid}");
    let mut other = [0u8; 32];
    rng.fill_bytes(&mut other);
    let mut n = 0u64;
    let mut token = |scope: &str, sub: &str, exp: u64, key: &[u8]| {
        n += 1;
        let claims = AccessTokenClaims {
            scope: Cow::Borrowed(scope),
            sub: Cow::Borrowed(sub),
            iat: exp.saturating_sub(900),
            exp,
            jti: Cow::Owned(TimeNonce::generate(UnixTime::from_secs(T0 + n), &mut rng).to_b64()),
            ctx: None,
        };
        hem_auth_core::msg::access_token::build(&claims, key)
    };
    let now = T0 + 100;
    let case = |tok: String, now: u64, required: &str, exact: bool, status: u16| AccessTokenCase {
        token_key: token_key.clone(),
        token: tok,
        now,
        required_scope: required.into(),
        exact,
        status: Some(status),
    };
    let mut cases: Vec<(bool, &str, &str, AccessTokenCase)> = vec![
        (
            true,
            "scope equal to the endpoint's",
            "",
            case(
                token("keymgmt:list", "U", now + 900, &key),
                now,
                "keymgmt:list",
                false,
                200,
            ),
        ),
        (
            true,
            "token scope extends the endpoint's (prefix match)",
            "",
            case(
                token("storage:disk0:rw", "U", now + 900, &key),
                now,
                "storage:disk0",
                false,
                200,
            ),
        ),
        (
            true,
            "ext-authenticator sub",
            "",
            case(
                token("system:config", "Qq/EGdvacmNrN6JFWVXglQ==", now + 900, &key),
                now,
                "system:config",
                false,
                200,
            ),
        ),
        (
            true,
            "keymgmt:use:<kid> matched exactly",
            "",
            case(
                token(&use_scope, "U", now + 900, &key),
                now,
                &use_scope,
                true,
                200,
            ),
        ),
        (
            true,
            "one second before exp",
            "",
            case(
                token("logger:get", "M", now + 1, &key),
                now,
                "logger:get",
                false,
                200,
            ),
        ),
        (
            false,
            "scope too narrow: storage:disk0 for a :rw endpoint",
            "ScopeTooNarrow",
            case(
                token("storage:disk0", "U", now + 900, &key),
                now,
                "storage:disk0:rw",
                false,
                403,
            ),
        ),
        (
            false,
            "another scope",
            "ScopeTooNarrow",
            case(
                token("keymgmt:list", "U", now + 900, &key),
                now,
                "keymgmt:gen",
                false,
                403,
            ),
        ),
        (
            false,
            "keymgmt:use: a kid that extends the required one (a prefix match would pass)",
            "UseExactness",
            case(
                token(&format!("{use_scope}0"), "U", now + 900, &key),
                now,
                &use_scope,
                true,
                403,
            ),
        ),
        (
            false,
            "keymgmt:use: another kid",
            "UseExactness",
            case(
                token(
                    "keymgmt:use:00000000000000000000000000000000",
                    "U",
                    now + 900,
                    &key,
                ),
                now,
                &use_scope,
                true,
                403,
            ),
        ),
        (
            false,
            "keymgmt:use with a key hint left in the token scope",
            "UseExactness",
            case(
                token(
                    &format!("{use_scope}#eyJ0IjoiOTgxNCJ9"),
                    "U",
                    now + 900,
                    &key,
                ),
                now,
                &use_scope,
                true,
                403,
            ),
        ),
        (
            false,
            "exp == now",
            "Expired",
            case(
                token("keymgmt:list", "U", now, &key),
                now,
                "keymgmt:list",
                false,
                401,
            ),
        ),
        (
            false,
            "exp in the past",
            "Expired",
            case(
                token("keymgmt:list", "U", now - 1, &key),
                now,
                "keymgmt:list",
                false,
                401,
            ),
        ),
    ];
    let good = token("keymgmt:list", "U", now + 900, &key);
    cases.push((
        false,
        "flipped bit in the signature segment",
        "BitFlip",
        case(
            defect::flip_bit(&good, 2, 30, 1),
            now,
            "keymgmt:list",
            false,
            401,
        ),
    ));
    cases.push((
        false,
        "signed with another key (a token from before a reboot)",
        "WrongKey",
        case(
            token("keymgmt:list", "U", now + 900, &other),
            now,
            "keymgmt:list",
            false,
            401,
        ),
    ));
    cases.push((
        false,
        "alg none",
        "AlgNone",
        case(
            defect::with_header(&good, r#"{"typ":"JWT","alg":"none"}"#, &key),
            now,
            "keymgmt:list",
            false,
            401,
        ),
    ));
    cases.push((
        false,
        "two segments",
        "SegmentCount",
        case(defect::two_segments(&good), now, "keymgmt:list", false, 401),
    ));
    for (valid, comment, flag, c) in cases {
        if valid {
            t.valid(comment, &[], Fields::AccessToken(c));
        } else {
            t.invalid(comment, flag, Fields::AccessToken(c));
        }
    }
    t.into_file(file);
}
