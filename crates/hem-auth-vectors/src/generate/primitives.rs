//! Generated tests of the primitive kinds.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockEncryptMut, KeyIvInit};
use hem_auth_core::codec;
use hem_auth_core::jwt::{self, Header};
use hem_auth_core::keys::{SecretKey, SharedSecret};
use hem_auth_core::seal::ScopeKey;
use rand_core::RngCore;
use serde_json::json;

use super::defect;
use super::{rng, Fields, FileOut, Tests};
use crate::b64;
use crate::kind::Kind;
use crate::schema::{Hs256JwtCase, PidxCase, ScopeSealCase, X25519Case};

/// Points of small order on Curve25519 and their non-canonical encodings: X25519 with any of
/// them is all zero (RFC 7748 §6.1; the list Wycheproof and libsodium reject).
pub(crate) const LOW_ORDER_POINTS: [(&str, &str); 9] = [
    (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "zero (order 4)",
    ),
    (
        "0100000000000000000000000000000000000000000000000000000000000000",
        "one (order 1)",
    ),
    (
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "order 8",
    ),
    (
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "order 8",
    ),
    (
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "p - 1 (order 2)",
    ),
    (
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "p, non-canonical zero",
    ),
    (
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "p + 1, non-canonical one",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000080",
        "zero with the top bit set",
    ),
    (
        "0100000000000000000000000000000000000000000000000000000000000080",
        "one with the top bit set",
    ),
];

/// A low-order point as a public key (base64).
pub(crate) fn low_order(i: usize) -> String {
    let hex = LOW_ORDER_POINTS[i % LOW_ORDER_POINTS.len()].0;
    b64::encode(&hex::decode(hex).unwrap_or_default())
}

pub(crate) fn secret_b64(sk: &SecretKey) -> String {
    b64::encode(&sk.to_bytes()[..])
}

fn random_bytes(rng: &mut impl RngCore, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill_bytes(&mut v);
    v
}

pub(super) fn x25519(file: &mut FileOut) {
    let mut rng = rng(0x7825_5190);
    let mut t = Tests::new(
        Kind::X25519,
        "X25519 as every role uses it; a low-order peer key gives an all-zero secret, refused; \
         a peer key that is not canonical (bit 255 set, u not below p) is refused as well",
    );
    for i in 0..6 {
        let a = SecretKey::generate(&mut rng);
        let b = SecretKey::generate(&mut rng);
        let shared = a
            .diffie_hellman(&b.public_key())
            .map(|s| b64::encode(s.as_bytes()));
        // Unclamped seeds on the even tests: clamping happens inside the multiplication.
        let private = if i % 2 == 0 {
            secret_b64(&a)
        } else {
            let mut raw = *a.to_bytes();
            raw[0] |= 7;
            raw[31] |= 0x80;
            b64::encode(&raw)
        };
        t.valid(
            if i % 2 == 0 {
                "random key pair"
            } else {
                "random key pair, private key given unclamped"
            },
            &[],
            Fields::X25519(X25519Case {
                private,
                public: b.public_key().to_b64(),
                shared: shared.ok(),
            }),
        );
    }
    for (i, (_, what)) in LOW_ORDER_POINTS.iter().enumerate() {
        let a = SecretKey::generate(&mut rng);
        let role = if i % 2 == 0 { "epk" } else { "aid" };
        t.invalid(
            &format!("peer public key ({role}) is a low-order point: {what}"),
            "LowOrderPoint",
            Fields::X25519(X25519Case {
                private: secret_b64(&a),
                public: low_order(i),
                shared: None,
            }),
        );
    }
    // Appended (issue 14): the scalar multiplication ignores bit 255 and reduces u mod p, so
    // these encodings give the same secret as a canonical key, and a role that compared keys
    // by their bytes would take them for another key (spec §2.5).
    let a = SecretKey::generate(&mut rng);
    let mut high = *SecretKey::generate(&mut rng).public_key().as_bytes();
    high[31] |= 0x80;
    t.invalid(
        "peer public key is a valid key with bit 255 set (not canonical)",
        "NonCanonicalKey",
        Fields::X25519(X25519Case {
            private: secret_b64(&a),
            public: b64::encode(&high),
            shared: None,
        }),
    );
    // u = 2^255 - 1 >= p: the same point as u = 18.
    let mut above_p = [0xffu8; 32];
    above_p[31] = 0x7f;
    t.invalid(
        "peer public key is 2^255 - 1, not below p (not canonical)",
        "NonCanonicalKey",
        Fields::X25519(X25519Case {
            private: secret_b64(&SecretKey::generate(&mut rng)),
            public: b64::encode(&above_p),
            shared: None,
        }),
    );
    t.into_file(file);
}

pub(super) fn pidx(file: &mut FileOut) {
    let mut rng = rng(0x091d_c0de);
    let mut t = Tests::new(Kind::Pidx, "pid (standard base64) to its URL-path form");
    for (pid, pidx) in [("a+b/c==", "a-b_c"), ("//++==", "__--"), ("x-y_z", "x-y_z")] {
        t.valid(
            "alphabet mapping and padding removal",
            &[],
            Fields::Pidx(PidxCase {
                pid: pid.into(),
                pidx: Some(pidx.into()),
            }),
        );
    }
    for _ in 0..5 {
        let pid = b64::encode(&random_bytes(&mut rng, 32));
        t.valid(
            "random 32-byte pid",
            &[],
            Fields::Pidx(PidxCase {
                pidx: Some(codec::pid_to_pidx(&pid)),
                pid,
            }),
        );
    }
    t.into_file(file);
}

pub(super) fn hs256_jwt(file: &mut FileOut) {
    let mut rng = rng(0x4853_3235);
    let mut t = Tests::new(
        Kind::Hs256Jwt,
        "HS256 JWTs: a header with an `ecdh` member is checked as an ECDH JWT (ecdh must be \
         x25519), one without as an access token; alg must be HS256",
    );
    let key = random_bytes(&mut rng, 32);
    let k = b64::encode(&key);
    let payloads = [
        json!({"a": 1, "b": "two", "c": [3]}),
        json!({"jti": b64::encode(&random_bytes(&mut rng, 32)), "exp": super::T0 + 60, "nested": {"x": [1, 2, {"y": null}]}}),
        json!({"scope": "keymgmt:list", "sub": "U", "iat": super::T0, "exp": super::T0 + 28_800}),
        json!({}),
    ];
    for (h, name) in [
        (Header::App, "app header order"),
        (Header::Device, "device header order"),
        (Header::Php, "PHP tester header order"),
        (Header::AccessToken, "access-token header (no ecdh)"),
    ] {
        for p in &payloads[..2] {
            t.valid(
                name,
                &[],
                Fields::Hs256Jwt(Hs256JwtCase {
                    key: k.clone(),
                    jwt: jwt::sign(h, p, &key),
                    payload: Some(p.clone()),
                }),
            );
        }
    }
    for p in &payloads[2..] {
        t.valid(
            "app header",
            &[],
            Fields::Hs256Jwt(Hs256JwtCase {
                key: k.clone(),
                jwt: jwt::sign(Header::App, p, &key),
                payload: Some(p.clone()),
            }),
        );
    }
    // A 16-byte key and a 64-byte key: HMAC takes any length.
    for n in [16, 64] {
        let key = random_bytes(&mut rng, n);
        t.valid(
            &format!("{n}-byte key"),
            &[],
            Fields::Hs256Jwt(Hs256JwtCase {
                key: b64::encode(&key),
                jwt: jwt::sign(Header::App, &payloads[0], &key),
                payload: Some(payloads[0].clone()),
            }),
        );
    }
    t.valid(
        "escaped slash in the payload (the PHP tester's json_encode output)",
        &[],
        Fields::Hs256Jwt(Hs256JwtCase {
            key: k.clone(),
            jwt: defect::sign_raw(Header::App.json(), r#"{"pid":"a\/b=="}"#, &key),
            payload: Some(json!({"pid": "a/b=="})),
        }),
    );

    let good = jwt::sign(Header::App, &payloads[1], &key);
    let mut bad = |comment: &str, flag: &str, token: String| {
        t.invalid(
            comment,
            flag,
            Fields::Hs256Jwt(Hs256JwtCase {
                key: k.clone(),
                jwt: token,
                payload: None,
            }),
        );
    };
    let typ = defect::find(&good, 0, "JWT");
    bad(
        "flipped bit in the header segment (typ JWT -> JWU)",
        "BitFlip",
        defect::flip_bit(&good, 0, typ + 2, 0),
    );
    let at = defect::find(&good, 1, "\"nested\"") + 2;
    bad(
        "flipped bit in the payload segment",
        "BitFlip",
        defect::flip_bit(&good, 1, at, 1),
    );
    bad(
        "flipped bit in the signature segment",
        "BitFlip",
        defect::flip_bit(&good, 2, 31, 7),
    );
    let payload = defect::payload_text(&good);
    bad(
        "alg none",
        "AlgNone",
        defect::sign_raw(
            r#"{"ecdh":"x25519","alg":"none","typ":"JWT"}"#,
            &payload,
            &key,
        ),
    );
    bad(
        "alg HS512",
        "WrongAlg",
        defect::sign_raw(
            r#"{"ecdh":"x25519","alg":"HS512","typ":"JWT"}"#,
            &payload,
            &key,
        ),
    );
    bad(
        "alg missing",
        "MissingAlg",
        defect::sign_raw(r#"{"ecdh":"x25519","typ":"JWT"}"#, &payload, &key),
    );
    bad(
        "ecdh names another curve",
        "WrongEcdh",
        defect::sign_raw(
            r#"{"ecdh":"p256","alg":"HS256","typ":"JWT"}"#,
            &payload,
            &key,
        ),
    );
    bad(
        "crit member in the header",
        "Crit",
        defect::sign_raw(
            r#"{"ecdh":"x25519","alg":"HS256","typ":"JWT","crit":["exp"]}"#,
            &payload,
            &key,
        ),
    );
    bad(
        "duplicate alg in the header",
        "DuplicateMember",
        defect::sign_raw(
            r#"{"ecdh":"x25519","alg":"HS256","alg":"HS256","typ":"JWT"}"#,
            &payload,
            &key,
        ),
    );
    bad(
        "header is not JSON",
        "MalformedHeader",
        defect::sign_raw("ecdh=x25519", &payload, &key),
    );
    bad(
        "payload is a JSON array",
        "PayloadNotObject",
        defect::sign_raw(Header::App.json(), "[1,2,3]", &key),
    );
    bad(
        "duplicate claim in the payload",
        "DuplicateClaim",
        defect::sign_raw(Header::App.json(), r#"{"exp":1,"sub":"U","exp":2}"#, &key),
    );
    bad(
        "duplicate member in a nested payload object",
        "DuplicateClaim",
        defect::sign_raw(Header::App.json(), r#"{"scope":{"p":"A","p":"B"}}"#, &key),
    );
    bad(
        "padding on the header segment",
        "Padding",
        defect::padded_header(&good, &key),
    );
    if let Some(token) = defect::non_url_char(&good, &key) {
        bad(
            "standard-alphabet character in a segment",
            "NonUrlCharacter",
            token,
        );
    }
    bad("whitespace inside the payload segment", "Whitespace", {
        let segs = defect::segments(&good);
        let (a, b) = segs[1].split_at(8);
        defect::sign_text(&segs[0], &format!("{a} {b}"), &key)
    });
    bad(
        "non-canonical trailing bits in the signature segment",
        "NonCanonicalBase64",
        defect::non_canonical_signature(&good),
    );
    bad("two segments", "SegmentCount", defect::two_segments(&good));
    bad(
        "four segments",
        "SegmentCount",
        defect::four_segments(&good),
    );
    bad(
        "oversized token (more than 4096 bytes), correctly signed",
        "Oversized",
        jwt::sign(Header::App, &json!({"a": 1, "pad": "x".repeat(3100)}), &key),
    );
    bad("signature truncated to 31 bytes", "BadSignatureLength", {
        let segs = defect::segments(&good);
        let sig = defect::decode(&good, 2);
        format!(
            "{}.{}.{}",
            segs[0],
            segs[1],
            codec::encode_segment(&sig[..31])
        )
    });
    bad(
        "signed with another key",
        "WrongKey",
        jwt::sign(Header::App, &payloads[1], &random_bytes(&mut rng, 32)),
    );
    bad(
        "header swapped for the access-token header, signature not recomputed",
        "BitFlip",
        {
            let other = jwt::sign(Header::AccessToken, &payloads[1], &key);
            let s = defect::segments(&other);
            let g = defect::segments(&good);
            format!("{}.{}.{}", s[0], s[1], g[2])
        },
    );
    // Appended (issue 14): `Option` reads a null member as absent, which let `"crit":null`
    // through.
    bad(
        "crit member with the value null in the header",
        "Crit",
        defect::sign_raw(
            r#"{"ecdh":"x25519","alg":"HS256","typ":"JWT","crit":null}"#,
            &payload,
            &key,
        ),
    );
    t.into_file(file);
}

pub(super) fn scope_seal(file: &mut FileOut) {
    let mut rng = rng(0x5ea1_5c0e);
    let mut t = Tests::new(
        Kind::ScopeSeal,
        "scheme A: K = HMAC(S1, jti), AES-128-CBC(K[..16], iv K[16..]) of the PKCS#7-padded \
         scope, tag HMAC(K, scope); sealed = 'A' + base64(ct || tag)",
    );
    let scopes = [
        "a:b".to_string(),
        "keymgmt:list".to_string(),
        "storage:disk0:rw".to_string(),
        "system:upgrade:x".to_string(), // 16 characters: a whole padding block
        "storage:disk12345".to_string(),
        "keymgmt:use:42afc419dbda72636b37a2455955e095#eyJ0IjoiOTgxNCIsImwiOiJQR1AgbWFpbiJ9"
            .to_string(),
        format!("keymgmt:list:{}", "x".repeat(100)),
    ];
    let mut keys = Vec::new();
    for scope in &scopes {
        let s1 = random_bytes(&mut rng, 32);
        let jti = random_bytes(&mut rng, 32);
        let key = ScopeKey::derive(&SharedSecret::from_bytes(to32(&s1)), &jti);
        let sealed = key.seal(scope).unwrap_or_default();
        t.valid(
            &format!("{}-character scope", scope.len()),
            &[],
            Fields::ScopeSeal(ScopeSealCase {
                secret: b64::encode(&s1),
                jti: b64::encode(&jti),
                scope: Some(scope.clone()),
                sealed,
            }),
        );
        keys.push((s1, jti, key));
    }
    // A 16-byte jti, as in the authenticator's published v1 vectors.
    {
        let s1 = random_bytes(&mut rng, 32);
        let jti = random_bytes(&mut rng, 16);
        let key = ScopeKey::derive(&SharedSecret::from_bytes(to32(&s1)), &jti);
        t.valid(
            "16-byte jti (the v1 vectors' synthetic nonces)",
            &[],
            Fields::ScopeSeal(ScopeSealCase {
                secret: b64::encode(&s1),
                jti: b64::encode(&jti),
                scope: Some("system:config".into()),
                sealed: key.seal("system:config").unwrap_or_default(),
            }),
        );
    }

    let (s1, jti, key) = &keys[2];
    let sealed = key.seal("storage:disk0:rw").unwrap_or_default();
    let blob = b64::decode(&sealed[1..]).unwrap_or_default(); // 16 ct + 32 tag
    let (s1b, jtib, key_long) = &keys[6];
    let sealed_long = key_long.seal(&scopes[6]).unwrap_or_default();
    let blob_long = b64::decode(&sealed_long[1..]).unwrap_or_default();
    let mut bad = |comment: &str, flag: &str, s1: &[u8], jti: &[u8], sealed: String| {
        t.invalid(
            comment,
            flag,
            Fields::ScopeSeal(ScopeSealCase {
                secret: b64::encode(s1),
                jti: b64::encode(jti),
                scope: None,
                sealed,
            }),
        );
    };
    let flipped = |blob: &[u8], at: usize, bit: u8| {
        let mut b = blob.to_vec();
        b[at] ^= 1 << bit;
        format!("A{}", b64::encode(&b))
    };
    bad(
        "flipped bit in the ciphertext",
        "BitFlip",
        s1,
        jti,
        flipped(&blob, 3, 2),
    );
    bad(
        "flipped bit in the first ciphertext block of a long scope",
        "BitFlip",
        s1b,
        jtib,
        flipped(&blob_long, 0, 0),
    );
    bad(
        "flipped bit in the tag",
        "BitFlip",
        s1,
        jti,
        flipped(&blob, 16 + 5, 6),
    );
    bad(
        "scheme B",
        "UnsupportedScheme",
        s1,
        jti,
        format!("B{}", &sealed[1..]),
    );
    bad(
        "no scheme letter",
        "UnsupportedScheme",
        s1,
        jti,
        sealed[1..].to_string(),
    );
    bad(
        "ciphertext truncated by one byte",
        "Truncated",
        s1,
        jti,
        format!("A{}", b64::encode(&blob[..blob.len() - 1])),
    );
    bad(
        "ciphertext truncated by one whole block (long scope)",
        "Truncated",
        s1b,
        jtib,
        format!(
            "A{}",
            b64::encode(&[&blob_long[..16], &blob_long[32..]].concat())
        ),
    );
    bad(
        "tag only, no ciphertext",
        "Truncated",
        s1,
        jti,
        format!("A{}", b64::encode(&blob[16..])),
    );
    bad(
        "empty after the scheme letter",
        "Truncated",
        s1,
        jti,
        "A".into(),
    );
    bad(
        "not base64 after the scheme letter",
        "Encoding",
        s1,
        jti,
        format!("A{}!", &sealed[1..sealed.len() - 2]),
    );
    bad(
        "opened with another jti",
        "WrongKey",
        s1,
        &keys[3].1,
        sealed.clone(),
    );
    for (pad, what) in [(0u8, "pad byte 0"), (17u8, "pad byte 17")] {
        let (s1, jti, blob) = bad_padding(&mut rng, "keymgmt:list", pad);
        bad(
            &format!("bad padding ({what}), tag over the scope"),
            "BadPadding",
            &s1,
            &jti,
            format!("A{}", b64::encode(&blob)),
        );
    }
    t.into_file(file);
}

fn to32(v: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&v[..32]);
    out
}

/// A sealed blob whose only defect is its CBC padding: the plaintext block is `scope` filled
/// with `pad` bytes, encrypted without padding, followed by the correct tag over `scope`.
pub(crate) fn bad_padding(
    rng: &mut impl RngCore,
    scope: &str,
    pad: u8,
) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let s1 = random_bytes(rng, 32);
    let jti = random_bytes(rng, 32);
    let blob = bad_padding_blob(&s1, &jti, scope, pad);
    (s1, jti, blob)
}

/// The blob of [`bad_padding`] for given keys.
pub(crate) fn bad_padding_blob(s1: &[u8], jti: &[u8], scope: &str, pad: u8) -> Vec<u8> {
    let k = hem_auth_core::mac::mac(s1, jti);
    let mut block = scope.as_bytes().to_vec();
    let fill = 16 - block.len() % 16;
    block.extend(std::iter::repeat_n(pad, fill));
    let len = block.len();
    let ct = cbc::Encryptor::<aes::Aes128>::new(k[..16].into(), k[16..].into())
        .encrypt_padded_mut::<NoPadding>(&mut block, len)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let tag = hem_auth_core::mac::mac(&k, scope.as_bytes());
    [ct, tag.to_vec()].concat()
}
