//! An independent implementation, written from `docs/vectors.md` and the spec (`docs/spec`)
//! alone, produces a vector file with keys it chose itself; `hem-vectors verify --strict` must
//! pass on it.
//!
//! Nothing here uses hem-auth-core or the generator: JSON is built with `serde_json::json!`
//! and every value with the raw primitives (x25519-dalek, hmac, sha2, sha1, aes, cbc, pbkdf2,
//! base64), as an outsider would. The keys come from the OS; the seed is printed, and
//! `HEM_OUTSIDER_SEED=<n>` replays a run.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use sha1::Digest;

mod support;

const APP_HEADER: &str = r#"{"ecdh":"x25519","alg":"HS256","typ":"JWT"}"#;
const DEVICE_HEADER: &str = r#"{"ecdh":"x25519","typ":"JWT","alg":"HS256"}"#;
const TOKEN_HEADER: &str = r#"{"typ":"JWT","alg":"HS256"}"#;

struct Outsider {
    rng: ChaCha20Rng,
    now: u64,
    next_id: u64,
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn pk(sk: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(*sk, x25519_dalek::X25519_BASEPOINT_BYTES)
}

fn dh(sk: &[u8; 32], peer: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(*sk, *peer)
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().into()
}

fn jwt(header: &str, payload: &str, key: &[u8]) -> String {
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let tag = hmac(key, signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// Scheme A (§5.6).
fn seal(s1: &[u8; 32], jti: &[u8], scope: &str) -> String {
    let k = hmac(s1, jti);
    let mut buf = scope.as_bytes().to_vec();
    buf.resize(scope.len() / 16 * 16 + 16, 0);
    let ct = cbc::Encryptor::<aes::Aes128>::new(k[..16].into(), k[16..].into())
        .encrypt_padded_mut::<Pkcs7>(&mut buf, scope.len())
        .unwrap()
        .to_vec();
    let tag = hmac(&k, scope.as_bytes());
    format!("A{}", b64(&[ct, tag.to_vec()].concat()))
}

impl Outsider {
    fn key(&mut self) -> [u8; 32] {
        let mut k = [0u8; 32];
        self.rng.fill_bytes(&mut k);
        k
    }

    /// A device time nonce: LE32(time) ‖ 28 random bytes.
    fn nonce(&mut self, t: u64) -> String {
        let mut n = self.key();
        n[..4].copy_from_slice(&(t as u32).to_le_bytes());
        b64(&n)
    }

    fn test(&mut self, result: &str, comment: &str, flag: Option<&str>, fields: Value) -> Value {
        self.next_id += 1;
        let mut t = json!({
            "id": self.next_id,
            "comment": comment,
            "result": result,
            "flags": flag.map(|f| vec![f]).unwrap_or_default(),
        });
        let obj = t.as_object_mut().unwrap();
        for (k, v) in fields.as_object().unwrap() {
            obj.insert(k.clone(), v.clone());
        }
        t
    }

    fn primitives(&mut self) -> Vec<Value> {
        let (a, b) = (self.key(), self.key());
        let x = vec![
            self.test("valid", "random pair", None, json!({"private": b64(&a), "public": b64(&pk(&b)), "shared": b64(&dh(&a, &pk(&b)))})),
            self.test("invalid", "all-zero peer key", Some("LowOrderPoint"), json!({"private": b64(&a), "public": b64(&[0u8; 32])})),
        ];
        let key = self.key();
        let token = jwt(APP_HEADER, r#"{"hello":"world","n":7}"#, &key);
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 5;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let j = vec![
            self.test(
                "valid",
                "app header",
                None,
                json!({"key": b64(&key), "jwt": token, "payload": {"hello": "world", "n": 7}}),
            ),
            self.test(
                "invalid",
                "signature character changed",
                Some("BadMac"),
                json!({"key": b64(&key), "jwt": String::from_utf8(flipped).unwrap()}),
            ),
        ];
        let p = vec![self.test(
            "valid",
            "pid with + and /",
            None,
            json!({"pid": "+/+/ab==", "pidx": "-_-_ab"}),
        )];
        let (s1, jti) = (self.key(), self.key());
        let sealed = seal(&s1, &jti, "storage:disk3");
        let mut raw = STANDARD.decode(&sealed[1..]).unwrap();
        raw[0] ^= 0x80;
        let s = vec![
            self.test("valid", "seal and open", None, json!({"secret": b64(&s1), "jti": b64(&jti), "scope": "storage:disk3", "sealed": sealed})),
            self.test("invalid", "ciphertext bit flipped", Some("BitFlip"), json!({"secret": b64(&s1), "jti": b64(&jti), "sealed": format!("A{}", b64(&raw))})),
        ];
        let mut groups = Vec::new();
        for (kind, tests) in [
            ("x25519", x),
            ("hs256-jwt", j),
            ("pidx", p),
            ("scope-seal", s),
        ] {
            groups.push(json!({"kind": kind, "tests": tests}));
        }
        groups
    }

    fn broker_and_phone(&mut self) -> Vec<Value> {
        // authreq: two pairings, the second authenticator opens its entry.
        let (eid_sk, epk_sk) = (self.key(), self.key());
        let (eid, epk) = (pk(&eid_sk), pk(&epk_sk));
        let (aid1_sk, aid2_sk) = (self.key(), self.key());
        let (pid1, pid2) = (b64(&self.key()), b64(&self.key()));
        let iat = self.now;
        let jti = self.nonce(iat);
        let jti_raw = STANDARD.decode(&jti).unwrap();
        let sealed1 = seal(&dh(&eid_sk, &pk(&aid1_sk)), &jti_raw, "keymgmt:list");
        let sealed2 = seal(&dh(&eid_sk, &pk(&aid2_sk)), &jti_raw, "keymgmt:list");
        let payload = format!(
            r#"{{"iss":"{}","aud":"{}","iat":{iat},"exp":{},"jti":"{jti}","ctx":"outsider","scope":{{"{pid1}":"{sealed1}","{pid2}":"{sealed2}"}}}}"#,
            b64(&eid),
            b64(&epk),
            iat + 3600
        );
        let authreq = jwt(DEVICE_HEADER, &payload, &dh(&eid_sk, &epk));
        let ar = vec![
            self.test("valid", "two pairings", None, json!({
                "epk_private": b64(&epk_sk), "eid": b64(&eid), "authreq": authreq, "now": iat + 1,
                "aid_private": b64(&aid2_sk), "pid": pid2,
                "jti": jti, "iat": iat, "exp": iat + 3600, "ctx": "outsider", "scope": "keymgmt:list"})),
            self.test("invalid", "checked at exp", Some("Expired"), json!({
                "epk_private": b64(&epk_sk), "eid": b64(&eid), "authreq": authreq, "now": iat + 3600})),
        ];

        // authreply-build: approve storage:disk0 with write access for an hour.
        let s1 = dh(&aid2_sk, &eid);
        let event_scope = seal(&s1, &jti_raw, "storage:disk0");
        let now = iat + 20;
        let granted = "storage:disk0:rw";
        let reply_payload = format!(
            r#"{{"aud":"{}","jti":"{jti}","exp":{},"iat":{now},"pid":"{pid2}","iss":"{}","scope":"{}"}}"#,
            b64(&eid),
            now + 3600,
            b64(&pk(&aid2_sk)),
            seal(&s1, &jti_raw, granted)
        );
        let authreply = jwt(APP_HEADER, &reply_payload, &s1);
        let mac = b64(&hmac(&dh(&aid2_sk, &epk), authreply.as_bytes()));
        let event = json!({"jti": jti, "scope": event_scope, "epk": b64(&epk), "exp": iat + 3600});
        let ab = vec![
            self.test(
                "valid",
                "1 h, writable",
                None,
                json!({
                "aid_private": b64(&aid2_sk), "eid": b64(&eid), "pid": pid2, "event": event,
                "now": now, "period": 3600, "writable": true,
                "scope": granted, "authreply": authreply, "mac": mac}),
            ),
            self.test(
                "invalid",
                "event expired",
                Some("Expired"),
                json!({
                "aid_private": b64(&aid2_sk), "eid": b64(&eid), "pid": pid2, "event": event,
                "now": iat + 3601, "period": 3600, "writable": true}),
            ),
        ];

        // pairing-reply-build: a device request JWT.
        let pepk = pk(&self.key());
        let pjti = self.nonce(self.now);
        let request = jwt(
            DEVICE_HEADER,
            &format!(
                r#"{{"jti":"{pjti}","exp":{},"aud":"{}","iss":"{}"}}"#,
                self.now + 86_400,
                b64(&pepk),
                b64(&eid)
            ),
            &dh(&eid_sk, &pepk),
        );
        let new_aid_sk = self.key();
        let reply = jwt(
            APP_HEADER,
            &format!(
                r#"{{"jti":"{pjti}","iss":"{}","aud":"{}","epk":"{}","label":"Outsider phone"}}"#,
                b64(&pk(&new_aid_sk)),
                b64(&eid),
                b64(&pepk)
            ),
            &dh(&new_aid_sk, &eid),
        );
        let fid = "outsider-fid";
        let pmac = b64(&hmac(
            &dh(&new_aid_sk, &pepk),
            format!("{reply}{fid}").as_bytes(),
        ));
        let pr = vec![
            self.test("valid", "device request JWT", None, json!({
                "aid_private": b64(&new_aid_sk), "request": request, "label": "Outsider phone", "fid": fid,
                "reply": reply, "mac": pmac, "aid": b64(&pk(&new_aid_sk))})),
            self.test("invalid", "33-character label", Some("LabelTooLong"), json!({
                "aid_private": b64(&new_aid_sk), "request": request, "label": "x".repeat(33), "fid": fid})),
        ];

        // login-build: PBKDF2-HMAC-SHA256, 600 000 rounds, salt = eid text.
        let password = "outsider password";
        let mut seed = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
            password.as_bytes(),
            b64(&eid).as_bytes(),
            600_000,
            &mut seed,
        );
        let (spk_sk, ljti) = (self.key(), self.nonce(self.now));
        let spk = pk(&spk_sk);
        let user = pk(&seed);
        let auth = jwt(
            APP_HEADER,
            &format!(
                r#"{{"jti":"{ljti}","aud":"{}","exp":{},"iat":{},"iss":"{}","scope":"keymgmt:list"}}"#,
                b64(&spk),
                self.now + 600,
                self.now,
                b64(&user)
            ),
            &dh(&seed, &spk),
        );
        let lb = vec![self.test("valid", "password login", None, json!({
            "password": password, "eid": b64(&eid), "spk": b64(&spk), "jti": ljti, "scope": "keymgmt:list",
            "iat": self.now, "exp": self.now + 600, "iss": b64(&user), "auth": auth}))];

        let mut groups = Vec::new();
        for (kind, tests) in [
            ("authreq", ar),
            ("authreply-build", ab),
            ("pairing-reply-build", pr),
            ("login-build", lb),
        ] {
            groups
                .push(json!({"kind": kind, "comment": "written by the outsider", "tests": tests}));
        }
        groups
    }

    fn device(&mut self) -> Vec<Value> {
        let now = self.now;
        let eid_sk = self.key();
        let eid = pk(&eid_sk);

        // ext-token
        let aid_sk = self.key();
        let aid = pk(&aid_sk);
        let pid = b64(&self.key());
        let jti = self.nonce(now - 30);
        let jti_raw = STANDARD.decode(&jti).unwrap();
        let s1 = dh(&aid_sk, &eid);
        let exp = now + 900;
        let authreply = jwt(
            APP_HEADER,
            &format!(
                r#"{{"aud":"{}","jti":"{jti}","exp":{exp},"iat":{now},"pid":"{pid}","iss":"{}","scope":"{}"}}"#,
                b64(&eid),
                b64(&aid),
                seal(&s1, &jti_raw, "keymgmt:list")
            ),
            &s1,
        );
        let sub = b64(&sha1::Sha1::digest(aid)[..16]);
        let pairings = json!([{"pid": pid, "aid": b64(&aid)}]);
        let pending = json!([{"jti": jti, "exp": now + 3570, "scope": "keymgmt:list"}]);
        let other_pid = b64(&self.key());
        let unknown_pid = jwt(
            APP_HEADER,
            &format!(
                r#"{{"jti":"{jti}","exp":{exp},"pid":"{other_pid}","iss":"{}","scope":"{}"}}"#,
                b64(&aid),
                seal(&s1, &jti_raw, "keymgmt:list")
            ),
            &s1,
        );
        let et = vec![
            self.test("valid", "approved", None, json!({"eid_private": b64(&eid_sk), "pairings": pairings, "pending": pending,
                "now": now, "authreply": authreply, "status": 200, "token": {"scope": "keymgmt:list", "sub": sub, "exp": exp}})),
            self.test("invalid", "nonce already used", Some("Replay"), json!({"eid_private": b64(&eid_sk), "pairings": pairings, "pending": [],
                "now": now, "authreply": authreply, "status": 401})),
            self.test("invalid", "pid not paired", Some("UnknownPid"), json!({"eid_private": b64(&eid_sk), "pairings": pairings, "pending": pending,
                "now": now, "authreply": unknown_pid, "status": 406})),
        ];

        // ext-validate
        let new_sk = self.key();
        let new_aid = pk(&new_sk);
        let repk = pk(&self.key());
        let vjti = self.nonce(now - 100);
        let reply = jwt(
            APP_HEADER,
            &format!(
                r#"{{"jti":"{vjti}","iss":"{}","aud":"{}","epk":"{}","label":"Outsider"}}"#,
                b64(&new_aid),
                b64(&eid),
                b64(&repk)
            ),
            &dh(&new_sk, &eid),
        );
        let kid = hex::encode(&sha1::Sha1::digest(new_aid)[..16]);
        let code = b64(&hmac(&dh(&eid_sk, &repk), reply.as_bytes()));
        let vpending = json!([{"jti": vjti, "exp": now - 100 + 86_400}]);
        let eight: Vec<Value> = (0..8)
            .map(|_| json!({"pid": b64(&self.key()), "aid": b64(&pk(&self.key()))}))
            .collect();
        let vpid = b64(&self.key());
        let ev = vec![
            self.test(
                "valid",
                "pairing",
                None,
                json!({"eid_private": b64(&eid_sk), "pairings": [], "pending": vpending,
                "now": now, "pid": vpid, "reply": reply, "status": 200, "kid": kid, "code": code}),
            ),
            self.test(
                "invalid",
                "ninth pairing",
                Some("TooManyPairings"),
                json!({"eid_private": b64(&eid_sk), "pairings": eight, "pending": vpending,
                "now": now, "pid": vpid, "reply": reply, "status": 406}),
            ),
        ];

        // login
        let (spk_sk, user_sk, stranger_sk) = (self.key(), self.key(), self.key());
        let spk = pk(&spk_sk);
        let ljti = self.nonce(now - 2);
        let claims = |iss: &[u8; 32]| {
            format!(
                r#"{{"jti":"{ljti}","aud":"{}","exp":{},"iat":{},"iss":"{}","scope":"logger:get"}}"#,
                b64(&spk),
                now + 3600,
                now - 1,
                b64(iss)
            )
        };
        let good = jwt(APP_HEADER, &claims(&pk(&user_sk)), &dh(&user_sk, &spk));
        let stranger = jwt(
            APP_HEADER,
            &claims(&pk(&stranger_sk)),
            &dh(&stranger_sk, &spk),
        );
        let lpending = json!([{"jti": ljti, "exp": now + 58}]);
        let lg = vec![
            self.test("valid", "user login", None, json!({"spk_private": b64(&spk_sk), "user_public": b64(&pk(&user_sk)), "pending": lpending,
                "now": now, "auth": good, "status": 200, "token": {"scope": "logger:get", "sub": "U", "exp": now + 3600}})),
            self.test("invalid", "unknown key", Some("UnknownKey"), json!({"spk_private": b64(&spk_sk), "user_public": b64(&pk(&user_sk)), "pending": lpending,
                "now": now, "auth": stranger, "status": 401})),
        ];

        // access-token
        let token_key = self.key();
        let token = jwt(
            TOKEN_HEADER,
            &format!(
                r#"{{"scope":"storage:disk0","sub":"U","iat":{now},"exp":{},"jti":"{}"}}"#,
                now + 60,
                self.nonce(now)
            ),
            &token_key,
        );
        let at = vec![
            self.test("valid", "prefix", None, json!({"token_key": b64(&token_key), "token": token, "now": now, "required_scope": "storage:disk0", "status": 200})),
            self.test("invalid", "needs :rw", Some("ScopeTooNarrow"), json!({"token_key": b64(&token_key), "token": token, "now": now, "required_scope": "storage:disk0:rw", "status": 403})),
        ];

        let mut groups = Vec::new();
        for (kind, tests) in [
            ("ext-token", et),
            ("ext-validate", ev),
            ("login", lg),
            ("access-token", at),
        ] {
            groups.push(json!({"kind": kind, "tests": tests}));
        }
        groups
    }
}

#[test]
fn a_file_from_an_independent_implementation_passes_strictly() {
    let seed = std::env::var("HEM_OUTSIDER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand_core::OsRng.next_u64());
    println!("outsider seed: {seed} (replay with HEM_OUTSIDER_SEED={seed})");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let now = 1_800_000_000 + rng.next_u64() % 100_000_000;
    let mut o = Outsider {
        rng,
        now,
        next_id: 0,
    };
    let mut groups = o.primitives();
    groups.extend(o.broker_and_phone());
    groups.extend(o.device());
    let file = json!({
        "schema": "hem-auth-vectors/1",
        "source": format!("independent test implementation (tests/independent.rs), seed {seed}"),
        "groups": groups,
    });

    let dir = std::env::temp_dir().join(format!(
        "hem-vectors-outsider-{}-{seed}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("outsider.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();

    let kinds: std::collections::BTreeSet<_> = file["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds.len(), 12, "the outsider covers every kind");

    let report = hem_auth_vectors::verify_paths(&[&path], true);
    support::assert_passes(&report);
    if support::AWAITING_ROLE.is_empty() {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hem-vectors"))
            .arg("verify")
            .arg("--strict")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "hem-vectors verify --strict failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
