//! Generated tests of the broker and authenticator kinds: `authreq`, `authreply-build`,
//! `pairing-reply-build`, `login-build`.

use hem_auth_core::{Access, UnixTime};
use std::borrow::Cow;

use hem_auth_core::claims::{AuthreplyClaims, AuthreqClaims, PairingReplyClaims, ScopeMap};
use hem_auth_core::jwt::{self, Header};
use hem_auth_core::keys::{PublicKey, SecretKey};
use hem_auth_core::nonce::TimeNonce;
use hem_auth_core::scope;
use hem_auth_core::seal::ScopeKey;
use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;
use serde_json::{json, Value};

use super::defect;
use super::primitives::{bad_padding_blob, low_order, secret_b64};
use super::{rng, Fields, FileOut, Tests, T0};
use crate::b64;
use crate::kind::Kind;
use crate::schema::{
    AuthreplyBuildCase, AuthreqCase, EventFields, LoginBuildCase, PairingReplyBuildCase,
};

// The generator restates the protocol's numbers from the spec (`docs/spec`) instead of
// importing the device role's constants: the vectors must encode the spec, not follow the role.

/// Lifetime of an authreq (§4.4).
pub(crate) const AUTHREQ_LIFETIME_SECS: u64 = 3600;
/// Lifetime of an authreq for `keymgmt:use:<kid>` of an existing key (§4.4, §5.4).
pub(crate) const AUTHREQ_USE_LIFETIME_SECS: u64 = 900;

/// A key pair drawn from the stream.
pub(crate) fn keys(rng: &mut ChaCha20Rng) -> (SecretKey, PublicKey) {
    let sk = SecretKey::generate(rng);
    let pk = sk.public_key();
    (sk, pk)
}

/// 32 random bytes, base64: a pid.
pub(crate) fn pid(rng: &mut ChaCha20Rng) -> String {
    let mut b = [0u8; 32];
    rng.fill_bytes(&mut b);
    b64::encode(&b)
}

/// X25519 as raw bytes (the generator only uses contributory keys here).
pub(crate) fn dh(sk: &SecretKey, pk: &PublicKey) -> [u8; 32] {
    sk.diffie_hellman(pk)
        .map(|s| *s.as_bytes())
        .unwrap_or([0u8; 32])
}

/// Seals `scope` for one pairing secret and nonce.
pub(crate) fn seal(s1: &[u8; 32], jti: &[u8], scope: &str) -> String {
    let key = ScopeKey::derive(&hem_auth_core::keys::SharedSecret::from_bytes(*s1), jti);
    key.seal(scope).unwrap_or_default()
}

/// A `keymgmt:use:<kid>` scope with the device's key hint (§5.4): an imported X25519
/// public key, type word 0x9814.
pub(crate) fn use_scope_with_hint(kid: &str, label: &str) -> (String, String) {
    let base = format!("keymgmt:use:{kid}");
    let hinted = format!("{base}{}", scope::KeyHint::new(0x9814, label).to_suffix());
    (base, hinted)
}

struct Authreq {
    epk_sk: SecretKey,
    eid: PublicKey,
    key: [u8; 32],
    token: String,
    claims_json: String,
    jti: TimeNonce,
    iat: u64,
    exp: u64,
    ctx: Option<String>,
    /// (aid_sk, pid, plaintext)
    entries: Vec<(SecretKey, String, String)>,
}

struct AuthreqSpec<'a> {
    scope: &'a str,
    pairings: usize,
    ctx: Option<&'a str>,
    note: Option<&'a str>,
    lifetime: u64,
}

fn build_authreq(rng: &mut ChaCha20Rng, spec: &AuthreqSpec<'_>) -> Authreq {
    let (eid_sk, eid) = keys(rng);
    let (epk_sk, epk) = keys(rng);
    let iat = T0 + (rng.next_u32() % 1000) as u64;
    let jti = TimeNonce::generate(UnixTime::from_secs(iat), rng);
    let mut entries = Vec::new();
    let mut map = ScopeMap::new();
    for _ in 0..spec.pairings {
        let (aid_sk, aid) = keys(rng);
        let pid = pid(rng);
        let s1 = dh(&eid_sk, &aid);
        let sealed = seal(&s1, jti.as_bytes(), spec.scope);
        map.push(Cow::Owned(pid.clone()), Cow::Owned(sealed));
        entries.push((aid_sk, pid, spec.scope.to_string()));
    }
    let claims = AuthreqClaims {
        iss: Cow::Owned(eid.to_b64()),
        aud: Cow::Owned(epk.to_b64()),
        iat,
        exp: iat + spec.lifetime,
        jti: Cow::Owned(jti.to_b64()),
        ctx: spec.ctx.map(|c| Cow::Owned(c.to_string())),
        note: spec.note.map(|c| Cow::Owned(c.to_string())),
        scope: map,
    };
    let key = dh(&eid_sk, &epk);
    let claims_json = serde_json::to_string(&claims).unwrap_or_default();
    let token = jwt::sign_json(Header::Device, claims_json.as_bytes(), &key);
    Authreq {
        epk_sk,
        eid,
        key,
        token,
        claims_json,
        jti,
        iat,
        exp: iat + spec.lifetime,
        ctx: spec.ctx.map(str::to_string),
        entries,
    }
}

impl Authreq {
    /// The case for this authreq as built, opening entry `entry` (if any).
    fn case(&self, now: u64, entry: Option<usize>) -> AuthreqCase {
        let e = entry.and_then(|i| self.entries.get(i));
        AuthreqCase {
            epk_private: secret_b64(&self.epk_sk),
            eid: self.eid.to_b64(),
            authreq: self.token.clone(),
            now,
            aid_private: e.map(|(sk, _, _)| secret_b64(sk)),
            pid: e.map(|(_, pid, _)| pid.clone()),
            jti: Some(self.jti.to_b64()),
            iat: Some(self.iat),
            exp: Some(self.exp),
            ctx: self.ctx.clone(),
            scope: e.map(|(_, _, plain)| plain.clone()),
        }
    }

    /// An invalid case: `token` replaces the authreq; nothing is expected.
    fn bad(&self, token: String, now: u64) -> AuthreqCase {
        AuthreqCase {
            authreq: token,
            jti: None,
            iat: None,
            exp: None,
            ctx: None,
            scope: None,
            aid_private: None,
            pid: None,
            ..self.case(now, None)
        }
    }

    fn resign(&self, payload: &str) -> String {
        defect::with_payload(&self.token, payload, &self.key)
    }
}

pub(super) fn authreq(file: &mut FileOut) {
    let mut rng = rng(0xa07_4e9);
    let mut t = Tests::new(
        Kind::Authreq,
        "the broker verifies the device's authreq (HS256 keyed X25519(epk_prv, eid)), then the \
         authenticator opens its own entry of the scope map",
    );
    let plain = |scope| AuthreqSpec {
        scope,
        pairings: 1,
        ctx: None,
        note: None,
        lifetime: AUTHREQ_LIFETIME_SECS,
    };
    let a = build_authreq(&mut rng, &plain("keymgmt:list"));
    t.valid(
        "one pairing, checked at its issue time",
        &[],
        Fields::Authreq(a.case(a.iat, Some(0))),
    );
    t.valid(
        "one pairing, one second before exp",
        &[],
        Fields::Authreq(a.case(a.exp - 1, Some(0))),
    );
    t.valid(
        "broker check only (no authenticator)",
        &[],
        Fields::Authreq(a.case(a.iat + 5, None)),
    );
    let b = build_authreq(
        &mut rng,
        &AuthreqSpec {
            ctx: Some("fixture-ctx"),
            ..plain("storage:disk0")
        },
    );
    t.valid("with ctx", &[], Fields::Authreq(b.case(b.iat + 2, Some(0))));
    let c = build_authreq(
        &mut rng,
        &AuthreqSpec {
            ctx: Some("ctx-1"),
            note: Some("Login to the web console"),
            ..plain("logger:get")
        },
    );
    t.valid(
        "with ctx and note",
        &[],
        Fields::Authreq(c.case(c.iat, Some(0))),
    );
    let d = build_authreq(
        &mut rng,
        &AuthreqSpec {
            pairings: 3,
            ..plain("system:config")
        },
    );
    t.valid(
        "three pairings, the second opens its entry",
        &[],
        Fields::Authreq(d.case(d.iat, Some(1))),
    );
    let e = build_authreq(
        &mut rng,
        &AuthreqSpec {
            pairings: 8,
            ..plain("keymgmt:gen")
        },
    );
    t.valid(
        "eight pairings (the most a device holds), the last opens its entry",
        &[],
        Fields::Authreq(e.case(e.iat, Some(7))),
    );
    let z = build_authreq(
        &mut rng,
        &AuthreqSpec {
            pairings: 0,
            ..plain("keymgmt:list")
        },
    );
    t.valid(
        "no pairing: an empty scope map",
        &[],
        Fields::Authreq(z.case(z.iat, None)),
    );
    let (_, hinted) = use_scope_with_hint("42afc419dbda72636b37a2455955e095", "PGP main");
    let u = build_authreq(
        &mut rng,
        &AuthreqSpec {
            lifetime: AUTHREQ_USE_LIFETIME_SECS,
            ..plain(&hinted)
        },
    );
    t.valid(
        "keymgmt:use:<kid>: 15-minute lifetime, key hint in the sealed plaintext",
        &[],
        Fields::Authreq(u.case(u.iat, Some(0))),
    );

    // Sizes (§3.6): an authreq may be longer than the 4096 bytes of every other received JWT,
    // up to the largest a device emits, 17 526 bytes; one byte more is refused before any
    // cryptography. The note pads `a`'s payload (a device's own notes are 1-128 characters:
    // here only the size matters).
    let with_note = |chars: usize| {
        let note = format!("\"{}\"", "n".repeat(chars));
        a.resign(&defect::prepend_member(&a.claims_json, "note", &note))
    };
    // The payload length whose token is `len` bytes: header segment, dot, payload segment,
    // dot, 43-character signature; a payload of n bytes is ceil(4n/3) base64url characters.
    let note_for = |len: usize| {
        let segment = len - Header::Device.segment().len() - 2 - 43;
        (segment * 3 / 4).saturating_sub(a.claims_json.len() + r#""note":"","#.len())
    };
    t.valid(
        "a 3100-character note (4675 bytes: over the 4096 of other JWTs, within an authreq's \
         17 526)",
        &[],
        Fields::Authreq(AuthreqCase {
            authreq: with_note(3100),
            ..a.case(a.iat, Some(0))
        }),
    );
    t.valid(
        "17 526 bytes: the largest authreq a device emits (a note pads it)",
        &[],
        Fields::Authreq(AuthreqCase {
            authreq: with_note(note_for(jwt::MAX_AUTHREQ_BYTES)),
            ..a.case(a.iat, Some(0))
        }),
    );
    let oversized = with_note(note_for(jwt::MAX_AUTHREQ_BYTES + 1));

    // Invalid: one defect each, on `a` unless said otherwise.
    let now = a.iat;
    let mut bad = |comment: &str, flag: &str, case: AuthreqCase| {
        t.invalid(comment, flag, Fields::Authreq(case));
    };
    let token = &a.token;
    let typ = defect::find(token, 0, "JWT");
    bad(
        "flipped bit in the header segment",
        "BitFlip",
        a.bad(defect::flip_bit(token, 0, typ + 1, 1), now),
    );
    let at = defect::find(token, 1, "\"iat\"") + 1;
    bad(
        "flipped bit in the payload segment",
        "BitFlip",
        a.bad(defect::flip_bit(token, 1, at, 0), now),
    );
    bad(
        "flipped bit in the signature segment",
        "BitFlip",
        a.bad(defect::flip_bit(token, 2, 0, 0), now),
    );
    let p = &a.claims_json;
    for (comment, flag, header) in [
        (
            "alg none",
            "AlgNone",
            r#"{"ecdh":"x25519","typ":"JWT","alg":"none"}"#,
        ),
        (
            "alg HS512",
            "WrongAlg",
            r#"{"ecdh":"x25519","typ":"JWT","alg":"HS512"}"#,
        ),
        (
            "alg missing",
            "MissingAlg",
            r#"{"ecdh":"x25519","typ":"JWT"}"#,
        ),
        (
            "ecdh missing",
            "MissingEcdh",
            r#"{"typ":"JWT","alg":"HS256"}"#,
        ),
    ] {
        bad(
            comment,
            flag,
            a.bad(defect::with_header(token, header, &a.key), now),
        );
    }
    bad(
        "padding on the header segment",
        "Padding",
        a.bad(defect::padded_header(token, &a.key), now),
    );
    if let Some(tok) = defect::non_url_char(token, &a.key) {
        bad(
            "standard-alphabet character in a segment",
            "NonUrlCharacter",
            a.bad(tok, now),
        );
    }
    bad(
        "non-canonical trailing bits in the signature segment",
        "NonCanonicalBase64",
        a.bad(defect::non_canonical_signature(token), now),
    );
    bad(
        "two segments",
        "SegmentCount",
        a.bad(defect::two_segments(token), now),
    );
    bad(
        "four segments",
        "SegmentCount",
        a.bad(defect::four_segments(token), now),
    );
    bad(
        "oversized authreq (17 527 bytes, one more than the largest a device emits), correctly \
         signed",
        "Oversized",
        a.bad(oversized, now),
    );
    bad(
        "duplicate claim (iat twice)",
        "DuplicateClaim",
        a.bad(
            a.resign(&defect::prepend_member(p, "iat", &a.iat.to_string())),
            now,
        ),
    );
    bad(
        "exp as a string",
        "ExpString",
        a.bad(
            a.resign(&defect::replace_member(p, "exp", &format!("\"{}\"", a.exp))),
            now,
        ),
    );
    bad(
        "exp as a float",
        "ExpFloat",
        a.bad(
            a.resign(&defect::replace_member(p, "exp", &format!("{}.0", a.exp))),
            now,
        ),
    );
    bad(
        "exp missing",
        "MissingClaim",
        a.bad(a.resign(&defect::remove_member(p, "exp")), now),
    );
    bad(
        "exp in the past",
        "Expired",
        a.bad(a.token.clone(), a.exp + 1),
    );
    bad("exp == now", "Expired", a.bad(a.token.clone(), a.exp));
    let (_, other) = keys(&mut rng);
    bad(
        "iss is not the expected eid (signed with the right key)",
        "WrongIss",
        a.bad(
            a.resign(&defect::replace_member(
                p,
                "iss",
                &format!("\"{}\"", other.to_b64()),
            )),
            now,
        ),
    );
    bad(
        "aud is not the broker's epk (signed with the right key)",
        "WrongAud",
        a.bad(
            a.resign(&defect::replace_member(
                p,
                "aud",
                &format!("\"{}\"", other.to_b64()),
            )),
            now,
        ),
    );
    bad(
        "signed with a key of another broker session",
        "WrongKey",
        a.bad(
            defect::with_payload(token, p, &dh(&SecretKey::generate(&mut rng), &other)),
            now,
        ),
    );
    {
        // The expected eid is a low-order point: the only key it gives is all zero.
        let lo = low_order(2);
        let payload = defect::replace_member(p, "iss", &format!("\"{lo}\""));
        let mut case = a.bad(defect::with_payload(token, &payload, &[0u8; 32]), now);
        case.eid = lo;
        bad(
            "eid is a low-order point; the authreq is signed with the all-zero secret",
            "LowOrderPoint",
            case,
        );
    }
    // Authenticator side: the authreq verifies, the entry does not open.
    {
        let (aid_sk, pid, _) = &d.entries[0];
        let sealed = {
            let claims: Value = serde_json::from_str(&d.claims_json).unwrap_or_default();
            claims["scope"][pid]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let mut blob = b64::decode(&sealed[1..]).unwrap_or_default();
        blob[2] ^= 0x20;
        let flipped = format!("A{}", b64::encode(&blob));
        let payload = d.claims_json.replace(&sealed, &flipped);
        let mut case = d.case(d.iat, Some(0));
        case.authreq = defect::with_payload(&d.token, &payload, &d.key);
        case.scope = None;
        case.jti = None;
        case.iat = None;
        case.exp = None;
        bad(
            "flipped bit in the sealed scope of this authenticator's entry (authreq re-signed)",
            "BitFlip",
            case.clone(),
        );
        let payload = d
            .claims_json
            .replace(&sealed, &format!("B{}", &sealed[1..]));
        case.authreq = defect::with_payload(&d.token, &payload, &d.key);
        bad(
            "this authenticator's entry uses scheme B (authreq re-signed)",
            "UnsupportedScheme",
            case.clone(),
        );
        let mut unknown = d.case(d.iat, Some(0));
        unknown.pid = Some(self::pid(&mut rng));
        unknown.aid_private = Some(secret_b64(aid_sk));
        unknown.scope = None;
        unknown.jti = None;
        unknown.iat = None;
        unknown.exp = None;
        bad(
            "the authenticator's pid has no entry in the scope map",
            "UnknownPid",
            unknown,
        );
    }
    t.into_file(file);
}

/// The inputs of one approval.
struct Event {
    aid_sk: SecretKey,
    aid: PublicKey,
    eid_sk: SecretKey,
    eid: PublicKey,
    pid: String,
    jti: Vec<u8>,
    epk: PublicKey,
    exp: u64,
    requested: String,
}

fn event(rng: &mut ChaCha20Rng, requested: &str) -> Event {
    let (aid_sk, aid) = keys(rng);
    let (eid_sk, eid) = keys(rng);
    let (_, epk) = keys(rng);
    let iat = T0 + (rng.next_u32() % 1000) as u64;
    let jti = TimeNonce::generate(UnixTime::from_secs(iat), rng)
        .as_bytes()
        .to_vec();
    Event {
        aid_sk,
        aid,
        eid_sk,
        eid,
        pid: pid(rng),
        jti,
        epk,
        exp: iat + AUTHREQ_LIFETIME_SECS,
        requested: requested.to_string(),
    }
}

impl Event {
    fn s1(&self) -> [u8; 32] {
        dh(&self.eid_sk, &self.aid)
    }

    fn sealed_request(&self) -> String {
        seal(&self.s1(), &self.jti, &self.requested)
    }

    fn fields(&self, sealed: String, now: u64, period: u64, writable: bool) -> AuthreplyBuildCase {
        AuthreplyBuildCase {
            aid_private: secret_b64(&self.aid_sk),
            eid: self.eid.to_b64(),
            pid: self.pid.clone(),
            event: EventFields {
                jti: b64::encode(&self.jti),
                scope: sealed,
                epk: self.epk.to_b64(),
                exp: self.exp,
            },
            now,
            period,
            writable,
            scope: None,
            authreply: None,
            mac: None,
        }
    }

    /// The approval as the phone builds it (§5.7), with the expected outputs.
    fn approved(&self, now: u64, period: u64, writable: bool) -> AuthreplyBuildCase {
        let granted = scope::grant(&self.requested, Access::from_writable(writable));
        let sealed = seal(&self.s1(), &self.jti, &granted);
        let claims = AuthreplyClaims {
            aud: Some(Cow::Owned(self.eid.to_b64())),
            jti: Cow::Owned(b64::encode(&self.jti)),
            exp: now + period,
            iat: Some(now),
            pid: Cow::Owned(self.pid.clone()),
            iss: Cow::Owned(self.aid.to_b64()),
            scope: Cow::Owned(sealed),
            ctx: None,
        };
        let authreply = jwt::sign(Header::App, &claims, &self.s1());
        let mac_key = dh(&self.aid_sk, &self.epk);
        let mac = b64::encode(&hem_auth_core::mac::mac(&mac_key, authreply.as_bytes()));
        AuthreplyBuildCase {
            scope: Some(granted),
            authreply: Some(authreply),
            mac: Some(mac),
            ..self.fields(self.sealed_request(), now, period, writable)
        }
    }
}

pub(super) fn authreply_build(file: &mut FileOut) {
    let mut rng = rng(0xa07_4e91);
    let mut t = Tests::new(
        Kind::AuthreplyBuild,
        "the authenticator opens the event's sealed scope and approves it: granted scope, \
         authreply (app header, claims aud, jti, exp, iat, pid, iss, scope) and broker MAC, \
         byte-exact",
    );
    let (_, hinted) = use_scope_with_hint("0f3c9a4b7d8e6f5a3c2b1d0e9f84c91e", "signing key");
    for (requested, period, writable, comment) in [
        ("keymgmt:list", 900, false, "15 minutes"),
        (
            "storage:disk0",
            900,
            true,
            "write permission granted: :rw appended",
        ),
        (
            "storage:disk0:rw",
            86_400,
            false,
            "write permission refused: :rw removed, 24 h",
        ),
        ("storage:disk1:rw", 3600, true, ":rw kept, 1 h"),
        (
            hinted.as_str(),
            3600,
            false,
            "keymgmt:use with key hint, 1 h",
        ),
        (
            "system:upgrade",
            28_800,
            false,
            "8 h: the sealed reply equals the request's",
        ),
    ] {
        let e = event(&mut rng, requested);
        let now = e.exp - AUTHREQ_LIFETIME_SECS + 30;
        t.valid(
            comment,
            &[],
            Fields::AuthreplyBuild(e.approved(now, period, writable)),
        );
    }
    let e = event(&mut rng, "logger:get");
    t.valid(
        "approved at the event's exp (the phone refuses only now > exp)",
        &[],
        Fields::AuthreplyBuild(e.approved(e.exp, 900, false)),
    );

    let e = event(&mut rng, "keymgmt:list");
    let now = e.exp - 100;
    let sealed = e.sealed_request();
    let blob = b64::decode(&sealed[1..]).unwrap_or_default();
    let mut bad = |comment: &str, flag: &str, case: AuthreplyBuildCase| {
        t.invalid(comment, flag, Fields::AuthreplyBuild(case));
    };
    bad(
        "event expired (now = exp + 1)",
        "Expired",
        e.fields(sealed.clone(), e.exp + 1, 900, false),
    );
    let mut flipped = blob.clone();
    flipped[blob.len() - 1] ^= 0x01;
    bad(
        "flipped bit in the sealed scope's tag",
        "BitFlip",
        e.fields(format!("A{}", b64::encode(&flipped)), now, 900, false),
    );
    bad(
        "sealed scope uses scheme B",
        "UnsupportedScheme",
        e.fields(format!("B{}", &sealed[1..]), now, 900, false),
    );
    bad(
        "sealed scope truncated by one byte",
        "Truncated",
        e.fields(
            format!("A{}", b64::encode(&blob[..blob.len() - 1])),
            now,
            900,
            false,
        ),
    );
    bad(
        "sealed scope with bad padding (pad byte 0), tag over the scope",
        "BadPadding",
        e.fields(
            format!(
                "A{}",
                b64::encode(&bad_padding_blob(&e.s1(), &e.jti, "keymgmt:list", 0))
            ),
            now,
            900,
            false,
        ),
    );
    {
        let other_jti = TimeNonce::generate(UnixTime::from_secs(now), &mut rng);
        bad(
            "sealed under another jti",
            "WrongKey",
            e.fields(
                seal(&e.s1(), other_jti.as_bytes(), "keymgmt:list"),
                now,
                900,
                false,
            ),
        );
    }
    {
        let mut case = e.fields(sealed.clone(), now, 900, false);
        case.event.epk = low_order(0);
        bad(
            "event epk is a low-order point (the broker MAC key would be all zero)",
            "LowOrderPoint",
            case,
        );
    }
    {
        let mut case = e.fields(sealed.clone(), now, 900, false);
        case.eid = low_order(3);
        bad(
            "eid is a low-order point (S1 would be all zero)",
            "LowOrderPoint",
            case,
        );
    }
    t.into_file(file);
}

/// A device pairing request (§6.2: device header, claims jti, exp, aud, iss).
pub(crate) struct PairingRequest {
    pub(crate) eid: PublicKey,
    pub(crate) epk: PublicKey,
    pub(crate) jti: TimeNonce,
    pub(crate) exp: u64,
    pub(crate) token: String,
}

pub(crate) fn pairing_request(rng: &mut ChaCha20Rng, now: u64) -> PairingRequest {
    let (eid_sk, eid) = keys(rng);
    let (_, epk) = keys(rng);
    let jti = TimeNonce::generate(UnixTime::from_secs(now), rng);
    let exp = now + 86_400;
    let payload = format!(
        r#"{{"jti":"{}","exp":{exp},"aud":"{}","iss":"{}"}}"#,
        jti.to_b64(),
        epk.to_b64(),
        eid.to_b64()
    );
    let token = jwt::sign_json(Header::Device, payload.as_bytes(), &dh(&eid_sk, &epk));
    PairingRequest {
        eid,
        epk,
        jti,
        exp,
        token,
    }
}

/// The phone's reply to `req` (§6.4) and the broker MAC over `reply ‖ fid`.
pub(crate) fn pairing_reply(
    aid_sk: &SecretKey,
    eid: &PublicKey,
    epk: &PublicKey,
    jti: &str,
    eat: Option<u64>,
    label: &str,
    fid: &str,
) -> (String, String) {
    let claims = PairingReplyClaims {
        jti: Cow::Borrowed(jti),
        eat,
        iss: Cow::Owned(aid_sk.public_key().to_b64()),
        aud: Some(Cow::Owned(eid.to_b64())),
        epk: Cow::Owned(epk.to_b64()),
        label: Cow::Borrowed(label),
    };
    let reply = jwt::sign(Header::App, &claims, &dh(aid_sk, eid));
    let mac = hem_auth_core::mac::mac(&dh(aid_sk, epk), format!("{reply}{fid}").as_bytes());
    (reply, b64::encode(&mac))
}

pub(super) fn pairing_reply_build(file: &mut FileOut) {
    let mut rng = rng(0x9a1_4e91);
    let mut t = Tests::new(
        Kind::PairingReplyBuild,
        "the authenticator answers a pairing request: reply (app header, claims jti, [eat], \
         iss, aud, epk, label) keyed X25519(aid_prv, eid), and the broker MAC over reply || fid \
         keyed X25519(aid_prv, epk), byte-exact",
    );
    let fid = |rng: &mut ChaCha20Rng| {
        let mut b = [0u8; 24];
        rng.fill_bytes(&mut b);
        format!("fcm:{}", hex::encode(b))
    };
    for (label, as_object) in [
        ("Pixel 8 (Android)", false),
        ("iPhone 15 (iOS)", true),
        ("x", false),
        ("A label of exactly 32 characters", false),
    ] {
        let req = pairing_request(&mut rng, T0);
        let (aid_sk, aid) = keys(&mut rng);
        let fid = fid(&mut rng);
        let (reply, mac) = pairing_reply(
            &aid_sk,
            &req.eid,
            &req.epk,
            &req.jti.to_b64(),
            None,
            label,
            &fid,
        );
        let request = if as_object {
            json!({"jti": req.jti.to_b64(), "exp": req.exp, "aud": req.epk.to_b64(), "iss": req.eid.to_b64()})
        } else {
            Value::String(req.token.clone())
        };
        t.valid(
            &format!(
                "request given as {}, label {label:?}",
                if as_object {
                    "its payload object"
                } else {
                    "the device's JWT"
                }
            ),
            &[],
            Fields::PairingReplyBuild(PairingReplyBuildCase {
                aid_private: secret_b64(&aid_sk),
                request,
                label: label.into(),
                fid,
                reply: Some(reply),
                mac: Some(mac),
                aid: Some(aid.to_b64()),
            }),
        );
    }
    {
        // The v1 app's synthetic request shape: an `eat`, echoed in the reply.
        let (_, eid) = keys(&mut rng);
        let (_, epk) = keys(&mut rng);
        let (aid_sk, aid) = keys(&mut rng);
        let mut jti = [0u8; 16];
        rng.fill_bytes(&mut jti);
        let jti = b64::encode(&jti);
        let eat = T0 + 86_400;
        let fid = fid(&mut rng);
        let (reply, mac) = pairing_reply(
            &aid_sk,
            &eid,
            &epk,
            &jti,
            Some(eat),
            "Galaxy (Android)",
            &fid,
        );
        t.valid(
            "request payload with an `eat` (the v1 app's shape): echoed after jti",
            &[],
            Fields::PairingReplyBuild(PairingReplyBuildCase {
                aid_private: secret_b64(&aid_sk),
                request: json!({"jti": jti, "eat": eat, "iss": eid.to_b64(), "aud": epk.to_b64()}),
                label: "Galaxy (Android)".into(),
                fid,
                reply: Some(reply),
                mac: Some(mac),
                aid: Some(aid.to_b64()),
            }),
        );
    }
    let req = pairing_request(&mut rng, T0);
    let (aid_sk, _) = keys(&mut rng);
    let base = |request: Value, label: &str| PairingReplyBuildCase {
        aid_private: secret_b64(&aid_sk),
        request,
        label: label.into(),
        fid: "fcm:0123".into(),
        reply: None,
        mac: None,
        aid: None,
    };
    let object = |iss: &str, aud: &str| json!({"jti": req.jti.to_b64(), "exp": req.exp, "aud": aud, "iss": iss});
    t.invalid(
        "request iss (eid) is a low-order point",
        "LowOrderPoint",
        Fields::PairingReplyBuild(base(
            object(&low_order(0), &req.epk.to_b64()),
            "Pixel 8 (Android)",
        )),
    );
    t.invalid(
        "request aud (epk) is a low-order point",
        "LowOrderPoint",
        Fields::PairingReplyBuild(base(
            object(&req.eid.to_b64(), &low_order(4)),
            "Pixel 8 (Android)",
        )),
    );
    t.invalid(
        "request iss is not 32 bytes",
        "BadKeyLength",
        Fields::PairingReplyBuild(base(
            object(&b64::encode(&[7u8; 31]), &req.epk.to_b64()),
            "Pixel 8 (Android)",
        )),
    );
    t.invalid(
        "33-character label (the device keeps at most 32)",
        "LabelTooLong",
        Fields::PairingReplyBuild(base(
            Value::String(req.token.clone()),
            "A label of thirty-three chars....",
        )),
    );
    t.invalid(
        "request is not a JWT",
        "SegmentCount",
        Fields::PairingReplyBuild(base(
            Value::String(defect::two_segments(&req.token)),
            "Pixel 8 (Android)",
        )),
    );
    {
        // §6.2: a request carries `exp` (or the v1 `eat`); with neither it is no pairing
        // request, for the authenticator as for the client and the notify broker (one rule,
        // `hem_auth_core::msg::pairing_request`).
        let (eid_sk, eid) = keys(&mut rng);
        let (_, epk) = keys(&mut rng);
        let jti = TimeNonce::generate(UnixTime::from_secs(T0), &mut rng);
        let payload = format!(
            r#"{{"jti":"{}","aud":"{}","iss":"{}"}}"#,
            jti.to_b64(),
            epk.to_b64(),
            eid.to_b64()
        );
        let token = jwt::sign_json(Header::Device, payload.as_bytes(), &dh(&eid_sk, &epk));
        t.invalid(
            "request with neither exp nor eat (refused by every role, spec §6.2)",
            "MissingClaim",
            Fields::PairingReplyBuild(base(Value::String(token), "Pixel 8 (Android)")),
        );
    }
    t.into_file(file);
}

pub(super) fn login_build(file: &mut FileOut) {
    let mut t = Tests::new(
        Kind::LoginBuild,
        "the client derives its X25519 key with PBKDF2-HMAC-SHA256 (600 000 rounds, salt = the \
         eid text) and builds the eJWT (app header, claims jti, aud, exp, iat, iss, scope) keyed \
         X25519(user_prv, spk)",
    );
    let mut rng = rng(0x10_9111);
    let (spk_sk, spk) = keys(&mut rng);
    let _ = spk_sk;
    let jti = TimeNonce::generate(UnixTime::from_secs(T0), &mut rng).to_b64();
    let (_, eid) = keys(&mut rng);
    let password = "Tr0ub4dor&3 with spaces and ünïcode";
    let user = login_key(password, &eid.to_b64());
    let payload = format!(
        r#"{{"jti":"{jti}","aud":"{}","exp":{},"iat":{T0},"iss":"{}","scope":"system:config"}}"#,
        spk.to_b64(),
        T0 + 3600,
        user.public_key().to_b64()
    );
    let auth = jwt::sign_json(Header::App, payload.as_bytes(), &dh(&user, &spk));
    t.valid(
        "UTF-8 password, real eid text as salt",
        &[],
        Fields::LoginBuild(LoginBuildCase {
            password: password.into(),
            eid: eid.to_b64(),
            spk: spk.to_b64(),
            jti: jti.clone(),
            scope: "system:config".into(),
            iat: T0,
            exp: T0 + 3600,
            iss: Some(user.public_key().to_b64()),
            auth: Some(auth),
        }),
    );
    t.invalid(
        "spk is a low-order point (the eJWT key would be all zero)",
        "LowOrderPoint",
        Fields::LoginBuild(LoginBuildCase {
            password: password.into(),
            eid: eid.to_b64(),
            spk: low_order(0),
            jti,
            scope: "system:config".into(),
            iat: T0,
            exp: T0 + 3600,
            iss: None,
            auth: None,
        }),
    );
    t.into_file(file);
}

/// The user key of a password login: X25519 secret = PBKDF2-HMAC-SHA256(password, eid text,
/// 600 000, 32).
pub(crate) fn login_key(password: &str, eid_text: &str) -> SecretKey {
    let mut seed = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
        password.as_bytes(),
        eid_text.as_bytes(),
        600_000,
        &mut seed,
    );
    SecretKey::from_bytes(seed)
}
