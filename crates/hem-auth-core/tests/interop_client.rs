//! The broker role against published device artefacts
//! (`vectors/interop/published/device-captures.json`) and against device messages made from
//! the primitives.

// Test code: helpers outside `#[test]` functions (and `support`) may unwrap and panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use hem_auth_core::authenticator::UnverifiedPairingRequest;
use hem_auth_core::{Access, UnixTime};
use hem_auth_sim::Phone;
use std::borrow::Cow;

use hem_auth_core::claims::{
    AccessTokenClaims, AuthreplyClaims, AuthreqClaims, PairingReplyClaims, PairingRequestClaims,
    ScopeMap,
};
use hem_auth_core::client::{
    self, ClientError, ExtAuthState, LoginChallenge, PairingState, UnverifiableAccessToken,
};
use hem_auth_core::codec::{self, CodecError};
use hem_auth_core::jwt::{self, Header, HeaderPolicy, JwtError, UntrustedJwt};
use hem_auth_core::keys::{KeyError, PublicKey, SecretKey};
use hem_auth_core::messages::{
    self, BodyError, EpkRequest, ExtInitResponse, ExtRequest, ExtRequestResponse, ExtTokenRequest,
    ExtValidateRequest, ExtValidateResponse, TokenResponse,
};
use hem_auth_core::nonce::TimeNonce;
use hem_auth_core::scope::ScopeError;
use hem_auth_core::seal::ScopeKey;
use serde_json::Value;
use support::{b64, b64_32, hex_32, interop, rng, s};

fn captures() -> Value {
    interop("device-captures.json")
}

/// Decodes the header segment of a token.
fn header_bytes(token: &str) -> Vec<u8> {
    let seg = token.split('.').next().unwrap();
    let mut out = [0u8; 256];
    codec::decode_segment(seg.as_bytes(), &mut out)
        .unwrap()
        .to_vec()
}

/// Decodes the payload segment of a token.
fn payload_bytes(token: &str) -> Vec<u8> {
    let seg = token.split('.').nth(1).unwrap();
    let mut out = vec![0u8; seg.len()];
    codec::decode_segment(seg.as_bytes(), &mut out)
        .unwrap()
        .to_vec()
}

// ---------------------------------------------------------------- the real device authreq

struct RealAuthreq {
    authreq: String,
    broker: [u8; 32],
    authenticator: [u8; 32],
    eid: PublicKey,
    pid: String,
    expected: Value,
}

fn real() -> RealAuthreq {
    let c = captures();
    let r = &c["real_device_authreq"];
    RealAuthreq {
        authreq: s(r, "authreq").to_owned(),
        broker: hex_32(s(r, "broker_private_hex")),
        authenticator: hex_32(s(r, "authenticator_private_hex")),
        eid: PublicKey::from_bytes(hex_32(s(r, "eid_hex"))),
        pid: s(r, "pid").to_owned(),
        expected: r["expected"].clone(),
    }
}

#[test]
fn real_device_authreq_verifies() {
    let r = real();
    let iat = r.expected["iat"].as_u64().unwrap();
    let exp = r.expected["exp"].as_u64().unwrap();
    assert_eq!((iat, exp), (1_784_767_764, 1_784_771_364));

    let state = ExtAuthState::from_secret(SecretKey::from_bytes(r.broker), Some(r.eid));
    let untrusted = UntrustedJwt::parse(&r.authreq).unwrap();
    let v = state
        .verify_authreq(&untrusted, UnixTime::from_secs(iat + 10))
        .unwrap();

    assert_eq!(v.iat().as_secs(), 1_784_767_764);
    assert_eq!(v.exp().as_secs(), 1_784_771_364);
    assert_eq!(v.ctx(), Some("fixture-ctx"));
    assert_eq!(v.ctx(), r.expected["ctx"].as_str());
    assert_eq!(v.note(), None);
    assert_eq!(v.eid(), r.eid);
    assert_eq!(v.jti(), "FGVhapdad+8ap9x6t0UQB/2O1G/vabitisjZdQTxJ0M=");
    assert_eq!(u64::from(v.jti_nonce().time()), iat);
    assert_eq!(v.jti_nonce(), TimeNonce::from_b64(v.jti()).unwrap());
    let entries: Vec<(&str, &str)> = v.entries().collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, r.pid);
    assert_eq!(v.entry(&r.pid), Some(entries[0].1));
    assert_eq!(v.entry("SmuPON3X1EeRh/rk2VtVFBsy6PRqZKlvMRgCNd6jnGk"), None);

    // The HS256 key is X25519(broker, eid), as published.
    let mac_key = SecretKey::from_bytes(r.broker)
        .diffie_hellman(&r.eid)
        .unwrap();
    assert_eq!(
        mac_key.as_bytes(),
        &hex_32(r.expected["authreq_mac_key_hex"].as_str().unwrap())
    );
    assert!(untrusted
        .verify(mac_key.as_bytes(), HeaderPolicy::Ecdh)
        .is_ok());

    // The paired phone opens its entry.
    let s1 = SecretKey::from_bytes(r.authenticator)
        .diffie_hellman(&r.eid)
        .unwrap();
    let k = ScopeKey::derive(&s1, v.jti_nonce().as_bytes());
    let opened = k.open(entries[0].1).unwrap();
    assert_eq!(opened.as_str(), "keymgmt:list");
    assert_eq!(
        opened.as_str(),
        r.expected["scope_for_pid"].as_str().unwrap()
    );
}

#[test]
fn real_device_authreq_negatives() {
    let r = real();
    let iat = r.expected["iat"].as_u64().unwrap();
    let exp = r.expected["exp"].as_u64().unwrap();
    let untrusted = UntrustedJwt::parse(&r.authreq).unwrap();
    let good = ExtAuthState::from_secret(SecretKey::from_bytes(r.broker), Some(r.eid));

    // another device expected: refused before any crypto
    let other_eid = SecretKey::from_bytes([5u8; 32]).public_key();
    let wrong_eid = ExtAuthState::from_secret(SecretKey::from_bytes(r.broker), Some(other_eid));
    assert_eq!(
        wrong_eid
            .verify_authreq(&untrusted, UnixTime::from_secs(iat + 10))
            .err(),
        Some(ClientError::WrongIssuer)
    );

    // another broker session: the MAC key differs, so the signature fails first
    let other_session = ExtAuthState::from_secret(SecretKey::from_bytes([6u8; 32]), Some(r.eid));
    assert_eq!(
        other_session
            .verify_authreq(&untrusted, UnixTime::from_secs(iat + 10))
            .err(),
        Some(ClientError::Jwt(JwtError::BadSignature))
    );
    // ...also without a pinned eid
    let unpinned = ExtAuthState::from_secret(SecretKey::from_bytes([6u8; 32]), None);
    assert_eq!(
        unpinned
            .verify_authreq(&untrusted, UnixTime::from_secs(iat + 10))
            .err(),
        Some(ClientError::Jwt(JwtError::BadSignature))
    );
    // while the right session verifies without a pinned eid
    let unpinned_ok = ExtAuthState::from_secret(SecretKey::from_bytes(r.broker), None);
    assert!(unpinned_ok
        .verify_authreq(&untrusted, UnixTime::from_secs(iat + 10))
        .is_ok());

    // expiry: valid while now < exp
    assert!(good
        .verify_authreq(&untrusted, UnixTime::from_secs(exp - 1))
        .is_ok());
    assert_eq!(
        good.verify_authreq(&untrusted, UnixTime::from_secs(exp))
            .err(),
        Some(ClientError::Expired)
    );
    assert_eq!(
        good.verify_authreq(&untrusted, UnixTime::from_secs(exp + 1_000_000))
            .err(),
        Some(ClientError::Expired)
    );

    // every single-bit flip of the signature segment is refused
    let sig_start = r.authreq.rfind('.').unwrap() + 1;
    let mut tried = 0;
    for i in sig_start..r.authreq.len() {
        for bit in 0..8 {
            let mut bytes = r.authreq.clone().into_bytes();
            bytes[i] ^= 1 << bit;
            tried += 1;
            let Ok(text) = String::from_utf8(bytes) else {
                continue; // not even a string: nothing could accept it
            };
            let outcome = UntrustedJwt::parse(&text)
                .map_err(ClientError::from)
                .and_then(|u| {
                    good.verify_authreq(&u, UnixTime::from_secs(iat + 10))
                        .map(|_| ())
                });
            assert!(outcome.is_err(), "flip of bit {bit} at {i} accepted");
        }
    }
    assert_eq!(tried, 43 * 8);
}

#[test]
fn real_device_authreq_through_the_response_body() {
    let r = real();
    let state = ExtAuthState::from_secret(SecretKey::from_bytes(r.broker), Some(r.eid));
    let epk = state.epk().to_b64();
    assert_eq!(epk, "9PgSHRVIPWLvz9gWbCIXk8475ZeRhwLCwG9pk5ibuGM=");
    let body = messages::to_json(&ExtRequestResponse {
        authreq: Cow::Borrowed(&r.authreq),
        epk: Cow::Borrowed(&epk),
    });
    let text = state.authreq_from_response(body.as_bytes()).unwrap();
    assert!(matches!(text, Cow::Borrowed(_)));
    assert_eq!(text, r.authreq);

    // an echo of another epk
    let body = messages::to_json(&ExtRequestResponse {
        authreq: Cow::Borrowed(&r.authreq),
        epk: Cow::Owned(SecretKey::from_bytes([1u8; 32]).public_key().to_b64()),
    });
    assert_eq!(
        state.authreq_from_response(body.as_bytes()).err(),
        Some(ClientError::WrongAudience)
    );
    assert_eq!(
        state.authreq_from_response(br#"{"authreq":"x"}"#).err(),
        Some(ClientError::Body(BodyError::Missing("epk")))
    );
    assert_eq!(
        state
            .authreq_from_response(br#"{"authreq":"x","epk":"abc"}"#)
            .err(),
        Some(ClientError::Key(KeyError::Encoding(
            CodecError::WrongLength { expected: 32 }
        )))
    );
}

// ---------------------------------------------------------------- password login vector

#[test]
fn password_login_vector() {
    let c = captures();
    let v = &c["password_login_ejwt"];
    assert_eq!(v["pbkdf2"]["iterations"].as_u64(), Some(600_000));
    assert_eq!(u64::from(client::PBKDF2_ROUNDS), 600_000);
    let seed = client::derive_user_seed(s(v, "passphrase"), s(v, "eid_salt_text"));
    assert_eq!(*seed, hex_32(s(&v["expected"], "seed_hex")));
    let user = SecretKey::from_bytes(*seed);
    let from_seed = SecretKey::from_bytes(hex_32(s(&v["expected"], "seed_hex")));
    assert_eq!(from_seed.public_key(), user.public_key());
    assert_eq!(user.public_key().to_b64(), s(&v["expected"], "iss"));

    let iat = v["iat"].as_u64().unwrap();
    let exp = v["exp"].as_u64().unwrap();
    let ejwt = client::build_login_raw(
        &user,
        s(v, "spk"),
        s(v, "jti"),
        s(v, "scope"),
        UnixTime::from_secs(iat),
        UnixTime::from_secs(exp),
        None,
    )
    .unwrap();
    assert_eq!(ejwt, s(&v["expected"], "auth"));

    // The same through a parsed challenge.
    let body = format!(
        r#"{{"exp":2000000000,"spk":"{}","jti":"{}","lbl":"x","eid":"ff6/rpgprw6OjcPbedIB5LbsxjZqmnf43J1zeK1x82I="}}"#,
        s(v, "spk"),
        s(v, "jti")
    );
    let challenge = LoginChallenge::parse(body.as_bytes()).unwrap();
    let again = client::build_login(
        &user,
        &challenge,
        s(v, "scope"),
        UnixTime::from_secs(iat),
        UnixTime::from_secs(exp),
        None,
    )
    .unwrap();
    assert_eq!(again, ejwt);
    assert_eq!(client::login_body(&ejwt), format!(r#"{{"auth":"{ejwt}"}}"#));
}

#[test]
fn login_builder_refusals_and_ctx() {
    let user = SecretKey::from_bytes([3u8; 32]);
    let spk = SecretKey::from_bytes([4u8; 32]).public_key().to_b64();
    let build = |scope: &str, iat: u64, exp: u64, ctx: Option<&str>| {
        client::build_login_raw(
            &user,
            &spk,
            "jti",
            scope,
            UnixTime::from_secs(iat),
            UnixTime::from_secs(exp),
            ctx,
        )
    };
    assert!(build("keymgmt:list", 10, 11, None).is_ok());
    assert_eq!(
        build("keymgmt:list", 10, 10, None).err(),
        Some(ClientError::InvalidLifetime)
    );
    assert_eq!(
        build("keymgmt:list", 10, 0, None).err(),
        Some(ClientError::InvalidLifetime)
    );
    assert_eq!(
        build("", 10, 11, None).err(),
        Some(ClientError::Scope(ScopeError::Empty))
    );
    assert_eq!(
        build("keymgmt list", 10, 11, None).err(),
        Some(ClientError::Scope(ScopeError::BadCharacter))
    );
    assert_eq!(
        build("logger:get#x", 10, 11, None).err(),
        Some(ClientError::Scope(ScopeError::HintSeparator))
    );
    assert_eq!(
        build("logger:get\x1b[2K", 10, 11, None).err(),
        Some(ClientError::Scope(ScopeError::BadCharacter))
    );
    assert_eq!(
        build(&format!("a:{}", "b".repeat(126)), 10, 11, None).err(),
        Some(ClientError::Scope(ScopeError::TooLong))
    );
    assert!(build(&format!("a:{}", "b".repeat(125)), 10, 11, None).is_ok());
    assert_eq!(
        build("keymgmt:list", 10, 11, Some("")).err(),
        Some(ClientError::BadContext)
    );
    assert_eq!(
        build("keymgmt:list", 10, 11, Some(&"c".repeat(64))).err(),
        Some(ClientError::BadContext)
    );
    assert_eq!(
        client::build_login_raw(
            &user,
            "AQEB",
            "jti",
            "a:b",
            UnixTime::from_secs(1),
            UnixTime::from_secs(2),
            None
        )
        .err(),
        Some(ClientError::Key(KeyError::Encoding(
            CodecError::WrongLength { expected: 32 }
        )))
    );
    assert_eq!(
        client::build_login_raw(
            &user,
            &PublicKey::from_bytes([0; 32]).to_b64(),
            "j",
            "a:b",
            UnixTime::from_secs(1),
            UnixTime::from_secs(2),
            None
        )
        .err(),
        Some(ClientError::Key(KeyError::LowOrder))
    );

    // ctx is the last claim, and the device (X25519(spk_prv, iss)) verifies the eJWT.
    let ejwt = build("keymgmt:list", 10, 11, Some(&"c".repeat(63))).unwrap();
    assert_eq!(header_bytes(&ejwt), Header::App.json().as_bytes());
    let spk_prv = SecretKey::from_bytes([4u8; 32]);
    let key = spk_prv.diffie_hellman(&user.public_key()).unwrap();
    let u = UntrustedJwt::parse(&ejwt).unwrap();
    let verified = u.verify(key.as_bytes(), HeaderPolicy::Ecdh).unwrap();
    let expected = format!(
        r#"{{"jti":"jti","aud":"{spk}","exp":11,"iat":10,"iss":"{}","scope":"keymgmt:list","ctx":"{}"}}"#,
        user.public_key().to_b64(),
        "c".repeat(63)
    );
    assert_eq!(verified.payload_json(), expected.as_bytes());
}

// ---------------------------------------------------------------- documentation examples

#[test]
fn documentation_ext_request_response() {
    let c = captures();
    let d = &c["documentation_examples"]["ext_request_response"];
    let authreq = s(d, "authreq");
    let u = UntrustedJwt::parse(authreq).unwrap();
    assert_eq!(header_bytes(authreq), Header::Device.json().as_bytes());

    let claims: AuthreqClaims<'_> = u.dangerous_unverified_claims().unwrap();
    // Claim order iss, aud, iat, exp, jti, scope: re-serialising gives the exact bytes.
    let payload = payload_bytes(authreq);
    assert_eq!(serde_json::to_vec(&claims).unwrap(), payload);
    assert!(std::str::from_utf8(&payload)
        .unwrap()
        .starts_with(r#"{"iss":"ff6/rpgprw6OjcPbedIB5LbsxjZqmnf43J1zeK1x82I=","aud":"#));
    assert_eq!(claims.ctx, None);
    assert_eq!(claims.note, None);
    let jti = TimeNonce::from_b64(&claims.jti).unwrap();
    assert_eq!(u64::from(jti.time()), claims.iat);
    assert_eq!(claims.iat, 1_647_871_117);
    assert_eq!(claims.exp - claims.iat, 3600);
    assert_eq!(claims.aud, s(d, "epk"));
    assert_eq!(claims.scope.len(), 1);
    let (pid, sealed) = claims.scope.iter().next().unwrap();
    assert_eq!(codec::decode_fixed::<32>(pid).map(|_| ()), Ok(()));
    let blob = sealed.strip_prefix('A').unwrap();
    assert_eq!(b64(blob).len(), 48);

    // A broker session with another secret refuses it on the signature.
    let state = ExtAuthState::from_secret(SecretKey::from_bytes([1u8; 32]), None);
    assert_eq!(
        state
            .verify_authreq(&u, UnixTime::from_secs(claims.iat))
            .err(),
        Some(ClientError::Jwt(JwtError::BadSignature))
    );
    // Pinned to another device: refused on the issuer.
    let pinned = ExtAuthState::from_secret(
        SecretKey::from_bytes([1u8; 32]),
        Some(PublicKey::from_bytes([9u8; 32])),
    );
    assert_eq!(
        pinned
            .verify_authreq(&u, UnixTime::from_secs(claims.iat))
            .err(),
        Some(ClientError::WrongIssuer)
    );
}

#[test]
fn documentation_ext_token_response() {
    let c = captures();
    let docs = &c["documentation_examples"];
    let token = s(&docs["ext_token_response"], "token");
    let t = UnverifiableAccessToken::parse(token).unwrap();
    assert_eq!(header_bytes(token), Header::AccessToken.json().as_bytes());
    assert_eq!(t.token(), token);
    assert_eq!(t.scope(), "keymgmt:list");
    assert_eq!(t.sub(), "Qq/EGdvacmNrN6JFWVXglQ==");
    let kid: [u8; 16] = hex::decode(s(&docs["ext_validate_response"], "kid"))
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(t.sub_kid(), Some(kid));
    assert_eq!(
        u64::from(TimeNonce::from_b64(t.jti()).unwrap().time()),
        t.iat().as_secs()
    );
    assert_eq!(t.iat().as_secs(), 1_647_871_122);
    assert_eq!(t.exp().as_secs() - t.iat().as_secs(), 898);
    assert_eq!(t.ctx(), None);
    assert!(!t.is_expired(UnixTime::from_secs(t.exp().as_secs() - 1)));
    assert!(t.is_expired(UnixTime::from_secs(t.exp().as_secs())));
    assert!(!format!("{t:?}").contains(token));

    // The same through the end of an ext-auth flow.
    let body = messages::to_json(&TokenResponse {
        token: Cow::Borrowed(token),
    });
    let state = ExtAuthState::from_secret(SecretKey::from_bytes([1u8; 32]), None);
    assert_eq!(state.finish(body.as_bytes()).unwrap(), t);
    assert_eq!(
        UnverifiableAccessToken::from_response(br#"{"tok":"x"}"#).err(),
        Some(ClientError::Body(BodyError::Missing("token")))
    );
    assert_eq!(
        UnverifiableAccessToken::parse("a.b").err(),
        Some(ClientError::Jwt(JwtError::SegmentCount))
    );
    // A "U" token has no kid.
    let u_token = jwt::sign(
        Header::AccessToken,
        &AccessTokenClaims {
            scope: "logger:get".into(),
            sub: "U".into(),
            iat: 1,
            exp: 2,
            jti: "j".into(),
            ctx: Some("c".into()),
        },
        &[0u8; 32],
    );
    let u = UnverifiableAccessToken::parse(&u_token).unwrap();
    assert_eq!((u.sub(), u.sub_kid(), u.ctx()), ("U", None, Some("c")));
}

#[test]
fn documentation_ext_validate_response_reaches_the_code_check() {
    let c = captures();
    let v = &c["documentation_examples"]["ext_validate_response"];
    let body = messages::to_json(&ExtValidateResponse {
        kid: Cow::Borrowed(s(v, "kid")),
        code: Cow::Borrowed(s(v, "code")),
    });
    let eid = PublicKey::from_b64("ff6/rpgprw6OjcPbedIB5LbsxjZqmnf43J1zeK1x82I=").unwrap();
    let state = PairingState::from_secret(SecretKey::from_bytes([1u8; 32]), None);
    // Well-formed (kid and code pass), but no key material is published: the code fails.
    assert_eq!(
        state
            .verify_validate_response(&eid, "some.reply.jwt", body.as_bytes())
            .err(),
        Some(ClientError::BadCode)
    );
}

#[test]
fn documentation_ext_init_request_payload() {
    let c = captures();
    let p = &c["documentation_examples"]["ext_init_request_payload"];
    let claims = PairingRequestClaims {
        jti: s(p, "jti").into(),
        exp: p["exp"].as_u64(),
        eat: None,
        aud: s(p, "aud").into(),
        iss: s(p, "iss").into(),
    };
    let jti = TimeNonce::from_b64(&claims.jti).unwrap();
    assert_eq!(claims.exp, Some(u64::from(jti.time()) + 86_400));
    assert_eq!(claims.exp, Some(1_647_963_510));
    // The device's order: jti, exp, aud, iss (no iat).
    assert_eq!(
        serde_json::to_string(&claims).unwrap(),
        format!(
            r#"{{"jti":"{}","exp":1647963510,"aud":"{}","iss":"{}"}}"#,
            s(p, "jti"),
            s(p, "aud"),
            s(p, "iss")
        )
    );
}

#[test]
fn documentation_auth_token_challenge() {
    let c = captures();
    let ch = &c["documentation_examples"]["auth_token_challenge"];
    let body = format!(
        r#"{{"exp":{},"spk":"{}","jti":"{}","lbl":"{}","eid":"{}"}}"#,
        ch["exp"],
        s(ch, "spk"),
        s(ch, "jti"),
        s(ch, "lbl"),
        s(ch, "eid")
    );
    let challenge = LoginChallenge::parse(body.as_bytes()).unwrap();
    assert_eq!(challenge.exp().as_secs(), 1_647_871_504);
    let jti = TimeNonce::from_b64(challenge.jti()).unwrap();
    assert_eq!(u64::from(jti.time()), challenge.exp().as_secs() - 60);
    assert_eq!(challenge.spk_text(), s(ch, "spk"));
    assert_eq!(challenge.spk(), PublicKey::from_b64(s(ch, "spk")).unwrap());
    assert_eq!(challenge.lbl(), "My device");
    assert_eq!(challenge.eid_text(), s(ch, "eid"));
    assert_eq!(challenge.eid().as_bytes(), &b64_32(s(ch, "eid")));

    // Refusals.
    assert_eq!(
        LoginChallenge::parse(br#"{"exp":1,"spk":"AQEB","jti":"j","lbl":"l","eid":"x"}"#).err(),
        Some(ClientError::Key(KeyError::Encoding(
            CodecError::WrongLength { expected: 32 }
        )))
    );
    assert_eq!(
        LoginChallenge::parse(br#"{"exp":"1"}"#).err(),
        Some(ClientError::Body(BodyError::WrongType("exp")))
    );
    assert_eq!(
        LoginChallenge::parse(b"[]").err(),
        Some(ClientError::Body(BodyError::NotObject))
    );
}

// ---------------------------------------------------------------- round trips with primitives

/// A device made of primitives, enough for the broker's side of each flow.
struct Device {
    eid_prv: SecretKey,
}

impl Device {
    fn new(seed: u8) -> Self {
        Device {
            eid_prv: SecretKey::from_bytes([seed; 32]),
        }
    }

    fn eid(&self) -> PublicKey {
        self.eid_prv.public_key()
    }

    fn ext_init(&self, body: &str, now: u64, rng: &mut impl rand_core::CryptoRngCore) -> String {
        let req: EpkRequest<'_> = messages::parse_body(body.as_bytes()).unwrap();
        let claims = PairingRequestClaims {
            jti: TimeNonce::generate(UnixTime::from_secs(now), rng)
                .to_b64()
                .into(),
            exp: Some(now + 86_400),
            eat: None,
            aud: req.epk.clone(),
            iss: self.eid().to_b64().into(),
        };
        self.init_response(&claims, &req.epk)
    }

    fn init_response(&self, claims: &PairingRequestClaims<'_>, epk: &str) -> String {
        let key = self
            .eid_prv
            .diffie_hellman(&PublicKey::from_b64(epk).unwrap())
            .unwrap();
        let request = jwt::sign(Header::Device, claims, key.as_bytes());
        messages::to_json(&ExtInitResponse {
            request: request.into(),
            eid: self.eid().to_b64().into(),
        })
    }

    fn ext_validate(&self, body: &str, kid: &str) -> String {
        let req: ExtValidateRequest<'_> = messages::parse_body(body.as_bytes()).unwrap();
        let u = UntrustedJwt::parse(&req.reply).unwrap();
        let unverified: PairingReplyClaims<'_> = u.dangerous_unverified_claims().unwrap();
        let aid = PublicKey::from_b64(&unverified.iss).unwrap();
        let s1 = self.eid_prv.diffie_hellman(&aid).unwrap();
        let claims: PairingReplyClaims<'_> = u
            .verify(s1.as_bytes(), HeaderPolicy::Ecdh)
            .unwrap()
            .claims()
            .unwrap();
        let epk = PublicKey::from_b64(&claims.epk).unwrap();
        let code_key = self.eid_prv.diffie_hellman(&epk).unwrap();
        let code = codec::encode_std(&hem_auth_core::mac::mac(
            code_key.as_bytes(),
            req.reply.as_bytes(),
        ));
        messages::to_json(&ExtValidateResponse {
            kid: kid.into(),
            code: code.into(),
        })
    }

    fn sign_authreq(&self, claims: &AuthreqClaims<'_>, epk: &PublicKey) -> String {
        let key = self.eid_prv.diffie_hellman(epk).unwrap();
        jwt::sign(Header::Device, claims, key.as_bytes())
    }
}

/// The test phone (`hem_auth_sim::Phone`) with the fixed key and pid `[seed; 32]`, paired
/// with `eid`.
fn phone(seed: u8, eid: PublicKey) -> Phone {
    Phone::new(
        &codec::encode_std(&[seed; 32]),
        eid,
        SecretKey::from_bytes([seed; 32]),
        "phone",
    )
    .unwrap()
}

/// The pairing reply to `request` of the phone with the fixed key `[seed; 32]`.
fn reply(seed: u8, request: &str, label: &str) -> String {
    let seen = UnverifiedPairingRequest::parse(request).unwrap();
    Phone::answer_with_key(&seen, label, "fcm", SecretKey::from_bytes([seed; 32]))
        .unwrap()
        .reply
        .reply
}

#[test]
fn pairing_round_trip() {
    let mut rng = rng(11);
    let device = Device::new(0x21);
    let pid = codec::encode_std(&[0x42; 32]);
    let now = 1_750_000_000;

    let (init_body, state) = client::start_pairing(Some(device.eid()), &mut rng);
    let sent: EpkRequest<'_> = messages::parse_body(init_body.as_bytes()).unwrap();
    assert_eq!(sent.epk, state.epk().to_b64());
    assert_eq!(
        init_body,
        format!(r#"{{"epk":"{}"}}"#, state.epk().to_b64())
    );
    assert_eq!(state.expected_eid(), Some(device.eid()));
    assert!(!format!("{state:?}").contains("SecretKey"));

    let init_response = device.ext_init(&init_body, now, &mut rng);
    let request = state
        .verify_init_response(init_response.as_bytes(), UnixTime::from_secs(now))
        .unwrap();
    assert_eq!(request.eid(), device.eid());
    assert_eq!(request.exp().as_secs(), now + 86_400);
    assert_eq!(
        u64::from(TimeNonce::from_b64(request.jti()).unwrap().time()),
        now
    );
    let resp: ExtInitResponse<'_> = messages::parse_body(init_response.as_bytes()).unwrap();
    assert_eq!(request.request(), resp.request);

    // QR payload: exact bytes and hash.
    let hash = {
        use sha2::Digest;
        codec::encode_std(&sha2::Sha256::digest(request.request().as_bytes()))
    };
    let qr = request.qr_payload(
        "https://b.example/register/challenge/r",
        "alice",
        "a@b.c",
        "hem",
    );
    assert_eq!(
        qr,
        format!(
            r#"{{"link":"https://b.example/register/challenge/r","hash":"{hash}","user":"alice","email":"a@b.c","hostname":"hem"}}"#
        )
    );
    assert_eq!(
        client::qr_payload(
            "https://b.example/register/challenge/r",
            request.request(),
            "alice",
            "a@b.c",
            "hem"
        ),
        qr
    );

    // The phone replies; the broker posts ext/validate; the device answers {kid, code}.
    let reply = reply(0x42, request.request(), "Pixel 8 (Android)");
    let validate_body = state.validate_body(&pid, &reply);
    let parsed: ExtValidateRequest<'_> = messages::parse_body(validate_body.as_bytes()).unwrap();
    assert_eq!(
        (&*parsed.pid, &*parsed.reply),
        (pid.as_str(), reply.as_str())
    );
    let kid = "42afc419dbda72636b37a2455955e095";
    let response = device.ext_validate(&validate_body, kid);
    assert_eq!(
        state
            .verify_validate_response(&request.eid(), &reply, response.as_bytes())
            .as_deref(),
        Ok(kid)
    );

    // A flipped code, a code for another reply, another device, a malformed kid or code.
    let r: ExtValidateResponse<'_> = messages::parse_body(response.as_bytes()).unwrap();
    let mut code = b64(&r.code);
    code[7] ^= 0x10;
    let flipped = messages::to_json(&ExtValidateResponse {
        kid: kid.into(),
        code: codec::encode_std(&code).into(),
    });
    assert_eq!(
        state
            .verify_validate_response(&request.eid(), &reply, flipped.as_bytes())
            .err(),
        Some(ClientError::BadCode)
    );
    let other_reply = self::reply(0x42, request.request(), "Other label");
    assert_eq!(
        state
            .verify_validate_response(&request.eid(), &other_reply, response.as_bytes())
            .err(),
        Some(ClientError::BadCode)
    );
    assert_eq!(
        state
            .verify_validate_response(&Device::new(0x22).eid(), &reply, response.as_bytes())
            .err(),
        Some(ClientError::WrongIssuer)
    );
    let unpinned = PairingState::from_secret(SecretKey::from_bytes([1; 32]), None);
    assert_eq!(
        unpinned
            .verify_validate_response(&request.eid(), &reply, response.as_bytes())
            .err(),
        Some(ClientError::BadCode)
    );
    for bad_kid in [
        "42AFC419DBDA72636B37A2455955E095",
        "42afc419dbda72636b37a2455955e09",
        "42afc419dbda72636b37a2455955e0950",
        "",
    ] {
        let body = messages::to_json(&ExtValidateResponse {
            kid: bad_kid.into(),
            code: r.code.clone(),
        });
        assert_eq!(
            state
                .verify_validate_response(&request.eid(), &reply, body.as_bytes())
                .err(),
            Some(ClientError::BadKid),
            "{bad_kid}"
        );
    }
    let short_code = messages::to_json(&ExtValidateResponse {
        kid: kid.into(),
        code: codec::encode_std(&code[..31]).into(),
    });
    assert_eq!(
        state
            .verify_validate_response(&request.eid(), &reply, short_code.as_bytes())
            .err(),
        Some(ClientError::Encoding(CodecError::WrongLength {
            expected: 32
        }))
    );
}

#[test]
fn pairing_init_response_refusals() {
    let mut rng = rng(12);
    let device = Device::new(0x21);
    let now = 1_750_000_000;
    let (init_body, state) = client::start_pairing(Some(device.eid()), &mut rng);
    let epk = state.epk().to_b64();
    let good = device.ext_init(&init_body, now, &mut rng);

    // expiry: valid while now < exp
    assert!(state
        .verify_init_response(good.as_bytes(), UnixTime::from_secs(now + 86_399))
        .is_ok());
    assert_eq!(
        state
            .verify_init_response(good.as_bytes(), UnixTime::from_secs(now + 86_400))
            .err(),
        Some(ClientError::Expired)
    );

    // another device expected
    let other = PairingState::from_secret(
        SecretKey::from_bytes([7; 32]),
        Some(Device::new(0x22).eid()),
    );
    assert_eq!(
        other
            .verify_init_response(good.as_bytes(), UnixTime::from_secs(now))
            .err(),
        Some(ClientError::WrongIssuer)
    );
    // another session, unpinned: the signature fails
    let unpinned = PairingState::from_secret(SecretKey::from_bytes([7; 32]), None);
    assert_eq!(
        unpinned
            .verify_init_response(good.as_bytes(), UnixTime::from_secs(now))
            .err(),
        Some(ClientError::Jwt(JwtError::BadSignature))
    );

    let claims = |aud: &str, iss: &str, exp: Option<u64>, eat: Option<u64>| PairingRequestClaims {
        jti: TimeNonce::generate(UnixTime::from_secs(now), &mut support::rng(1))
            .to_b64()
            .into(),
        exp,
        eat,
        aud: aud.to_owned().into(),
        iss: iss.to_owned().into(),
    };
    let eid = device.eid().to_b64();

    // the response eid differs from the request iss
    let other_eid = Device::new(0x22).eid().to_b64();
    let body = device.init_response(&claims(&epk, &other_eid, Some(now + 10), None), &epk);
    assert_eq!(
        state
            .verify_init_response(body.as_bytes(), UnixTime::from_secs(now))
            .err(),
        Some(ClientError::WrongIssuer)
    );

    // signed for our epk, but addressed to another one
    let someone = SecretKey::from_bytes([8; 32]).public_key().to_b64();
    let body = {
        let key = device.eid_prv.diffie_hellman(&state.epk()).unwrap();
        let request = jwt::sign(
            Header::Device,
            &claims(&someone, &eid, Some(now + 10), None),
            key.as_bytes(),
        );
        messages::to_json(&ExtInitResponse {
            request: request.into(),
            eid: eid.clone().into(),
        })
    };
    assert_eq!(
        state
            .verify_init_response(body.as_bytes(), UnixTime::from_secs(now))
            .err(),
        Some(ClientError::WrongAudience)
    );

    // the v1 vectors' `eat` is read when `exp` is absent; neither is an error
    let body = device.init_response(&claims(&epk, &eid, None, Some(now + 10)), &epk);
    assert_eq!(
        state
            .verify_init_response(body.as_bytes(), UnixTime::from_secs(now))
            .unwrap()
            .exp()
            .as_secs(),
        now + 10
    );
    assert_eq!(
        state
            .verify_init_response(body.as_bytes(), UnixTime::from_secs(now + 10))
            .err(),
        Some(ClientError::Expired)
    );
    let body = device.init_response(&claims(&epk, &eid, None, None), &epk);
    assert_eq!(
        state
            .verify_init_response(body.as_bytes(), UnixTime::from_secs(now))
            .err(),
        Some(ClientError::Jwt(JwtError::InvalidClaims))
    );

    // an access-token header (no ecdh) is refused by the header policy
    let body = {
        let key = device.eid_prv.diffie_hellman(&state.epk()).unwrap();
        let request = jwt::sign(
            Header::AccessToken,
            &claims(&epk, &eid, Some(now + 10), None),
            key.as_bytes(),
        );
        messages::to_json(&ExtInitResponse {
            request: request.into(),
            eid: eid.clone().into(),
        })
    };
    assert_eq!(
        state
            .verify_init_response(body.as_bytes(), UnixTime::from_secs(now))
            .err(),
        Some(ClientError::Jwt(JwtError::HeaderPolicy))
    );

    // malformed bodies
    assert_eq!(
        state
            .verify_init_response(b"{}", UnixTime::from_secs(now))
            .err(),
        Some(ClientError::Body(BodyError::Missing("request")))
    );
    assert_eq!(
        state
            .verify_init_response(
                format!(r#"{{"request":"a.b","eid":"{eid}"}}"#).as_bytes(),
                UnixTime::from_secs(now)
            )
            .err(),
        Some(ClientError::Jwt(JwtError::SegmentCount))
    );
    let low_order = PairingState::from_secret(SecretKey::from_bytes([7; 32]), None);
    let zero = PublicKey::from_bytes([0; 32]).to_b64();
    let body = device.init_response(&claims(&epk, &zero, Some(now + 10), None), &epk);
    let body = body.replace(&eid, &zero);
    assert_eq!(
        low_order
            .verify_init_response(body.as_bytes(), UnixTime::from_secs(now))
            .err(),
        Some(ClientError::Key(KeyError::LowOrder))
    );
}

#[test]
fn ext_auth_round_trip() {
    let mut rng = rng(21);
    let device = Device::new(0x31);
    let phones = [phone(0x51, device.eid()), phone(0x52, device.eid())];
    let now = 1_760_000_000;

    // 1. ext/request
    let (body, state) = client::start_ext_auth(
        "storage:disk0",
        Some("ctx-1"),
        Some("please approve"),
        Some(device.eid()),
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        body,
        format!(
            r#"{{"epk":"{}","scope":"storage:disk0","ctx":"ctx-1","note":"please approve"}}"#,
            state.epk().to_b64()
        )
    );
    assert_eq!(state.requested_scope(), Some("storage:disk0"));
    assert_eq!(state.expected_eid(), Some(device.eid()));
    let dbg = format!("{state:?}");
    assert!(dbg.contains(&state.epk().to_b64()) && !dbg.contains("SecretKey"));

    // 2. the device seals the scope for each paired phone and signs the authreq
    let req: ExtRequest<'_> = messages::parse_body(body.as_bytes()).unwrap();
    let jti = TimeNonce::generate(UnixTime::from_secs(now), &mut rng);
    let mut map = ScopeMap::new();
    for p in &phones {
        let s1 = device
            .eid_prv
            .diffie_hellman(&p.aid_prv.public_key())
            .unwrap();
        let sealed = ScopeKey::derive(&s1, jti.as_bytes())
            .seal(&req.scope)
            .unwrap();
        assert!(map.push(String::from(p.pid()).into(), sealed.into()));
    }
    let claims = AuthreqClaims {
        iss: device.eid().to_b64().into(),
        aud: req.epk.clone(),
        iat: now,
        exp: now + 3600,
        jti: jti.to_b64().into(),
        ctx: req.ctx.clone(),
        note: req.note.clone(),
        scope: map,
    };
    let authreq = device.sign_authreq(&claims, &state.epk());
    let response = messages::to_json(&ExtRequestResponse {
        authreq: authreq.clone().into(),
        epk: req.epk.clone(),
    });

    // 3. the broker verifies it
    let text = state.authreq_from_response(response.as_bytes()).unwrap();
    let untrusted = UntrustedJwt::parse(&text).unwrap();
    let v = state
        .verify_authreq(&untrusted, UnixTime::from_secs(now))
        .unwrap();
    assert_eq!(v.claims(), &claims);
    assert_eq!((v.ctx(), v.note()), (Some("ctx-1"), Some("please approve")));
    assert_eq!(v.jti_nonce(), jti);
    assert_eq!(v.entries().count(), 2);
    let pids: Vec<&str> = v.entries().map(|(p, _)| p).collect();
    assert_eq!(pids, [phones[0].pid(), phones[1].pid()]);

    // 4. a phone opens its entry and approves with :rw
    let phone = &phones[1];
    let s1 = phone.aid_prv.diffie_hellman(&device.eid()).unwrap();
    let k = ScopeKey::derive(&s1, v.jti_nonce().as_bytes());
    assert_eq!(
        k.open(v.entry(phone.pid()).unwrap()).unwrap().as_str(),
        "storage:disk0"
    );
    let granted = hem_auth_core::scope::grant("storage:disk0", Access::ReadWrite);
    let authreply = jwt::sign(
        Header::App,
        &AuthreplyClaims {
            aud: Some(device.eid().to_b64().into()),
            jti: v.jti().into(),
            exp: now + 900,
            iat: Some(now + 3),
            pid: phone.pid().into(),
            iss: phone.aid_prv.public_key().to_b64().into(),
            scope: k.seal(&granted).unwrap().into(),
            ctx: None,
        },
        s1.as_bytes(),
    );

    // 5. ext/token
    let token_body = state.ext_token_body(&authreply);
    let parsed: ExtTokenRequest<'_> = messages::parse_body(token_body.as_bytes()).unwrap();
    assert_eq!(parsed.authreply, authreply);
    assert_eq!(token_body, format!(r#"{{"authreply":"{authreply}"}}"#));
    let kid_bytes = [0xabu8; 16];
    let token = jwt::sign(
        Header::AccessToken,
        &AccessTokenClaims {
            scope: granted.as_str().into(),
            sub: codec::encode_std(&kid_bytes).into(),
            iat: now + 4,
            exp: now + 900,
            jti: TimeNonce::generate(UnixTime::from_secs(now + 4), &mut rng)
                .to_b64()
                .into(),
            ctx: Some("ctx-1".into()),
        },
        &[0x77u8; 32],
    );
    let token_response = messages::to_json(&TokenResponse {
        token: token.as_str().into(),
    });
    let t = state.finish(token_response.as_bytes()).unwrap();
    assert_eq!(t.token(), token);
    assert_eq!(t.scope(), "storage:disk0:rw");
    assert_eq!(t.sub_kid(), Some(kid_bytes));
    assert_eq!(
        (t.iat().as_secs(), t.exp().as_secs(), t.ctx()),
        (now + 4, now + 900, Some("ctx-1"))
    );
}

#[test]
fn ext_auth_refusals() {
    let mut rng = rng(22);
    let device = Device::new(0x31);
    let now = 1_760_000_000;

    // start_ext_auth validates what it sends
    let start = |scope: &str, ctx: Option<&str>, note: Option<&str>| {
        client::start_ext_auth(scope, ctx, note, None, &mut support::rng(1)).map(|_| ())
    };
    assert_eq!(
        start("", None, None),
        Err(ClientError::Scope(ScopeError::Empty))
    );
    // The device's grammar (spec §8.6): characters, not the `<group>:<action>` form.
    assert_eq!(start("keymgmt", None, None), Ok(()));
    for (scope, e) in [
        ("system:config\r\x1b[2K", ScopeError::BadCharacter),
        ("keymgmt list", ScopeError::BadCharacter),
        ("keymgmt:list\u{e9}", ScopeError::BadCharacter),
        (
            "keymgmt:use:42afc419dbda72636b37a2455955e095#eyJ0IjoiOTgxNCIsImwiOiJ4In0=",
            ScopeError::HintSeparator,
        ),
    ] {
        assert_eq!(
            start(scope, None, None),
            Err(ClientError::Scope(e)),
            "{scope:?}"
        );
    }
    assert_eq!(
        start(&format!("a:{}", "b".repeat(1022)), None, None),
        Err(ClientError::Scope(ScopeError::TooLong))
    );
    assert_eq!(
        start(&format!("a:{}", "b".repeat(1021)), None, None),
        Ok(())
    );
    assert_eq!(start("a:b", Some(""), None), Err(ClientError::BadContext));
    assert_eq!(
        start("a:b", Some(&"c".repeat(65)), None),
        Err(ClientError::BadContext)
    );
    assert_eq!(start("a:b", Some(&"c".repeat(64)), None), Ok(()));
    assert_eq!(start("a:b", None, Some("")), Err(ClientError::BadNote));
    assert_eq!(
        start("a:b", None, Some(&"n".repeat(129))),
        Err(ClientError::BadNote)
    );
    assert_eq!(start("a:b", None, Some(&"n".repeat(128))), Ok(()));
    // two flows never share a session key
    let (_, a) = client::start_ext_auth("a:b", None, None, None, &mut rng).unwrap();
    let (_, b) = client::start_ext_auth("a:b", None, None, None, &mut rng).unwrap();
    assert_ne!(a.epk(), b.epk());

    let (_, state) =
        client::start_ext_auth("keymgmt:list", None, None, Some(device.eid()), &mut rng).unwrap();
    let base = AuthreqClaims {
        iss: device.eid().to_b64().into(),
        aud: state.epk().to_b64().into(),
        iat: now,
        exp: now + 3600,
        jti: TimeNonce::generate(UnixTime::from_secs(now), &mut rng)
            .to_b64()
            .into(),
        ctx: None,
        note: None,
        scope: ScopeMap::new(),
    };
    let check = |claims: &AuthreqClaims<'_>, header: Header, at: u64| {
        let key = device.eid_prv.diffie_hellman(&state.epk()).unwrap();
        let token = jwt::sign(header, claims, key.as_bytes());
        let u = UntrustedJwt::parse(&token).unwrap();
        state
            .verify_authreq(&u, UnixTime::from_secs(at))
            .map(|v| v.entries().count())
    };
    assert_eq!(check(&base, Header::Device, now), Ok(0));
    // the header order of the apps and of PHP is fine; no ecdh is not
    assert_eq!(check(&base, Header::App, now), Ok(0));
    assert_eq!(check(&base, Header::Php, now), Ok(0));
    assert_eq!(
        check(&base, Header::AccessToken, now),
        Err(ClientError::Jwt(JwtError::HeaderPolicy))
    );
    // signed with the right key, but addressed to another session
    let mut c = base.clone();
    c.aud = SecretKey::from_bytes([9; 32]).public_key().to_b64().into();
    assert_eq!(
        check(&c, Header::Device, now),
        Err(ClientError::WrongAudience)
    );
    c.aud = "not a key".into();
    assert_eq!(
        check(&c, Header::Device, now),
        Err(ClientError::WrongAudience)
    );
    // lifetime
    let mut c = base.clone();
    c.exp = c.iat;
    assert_eq!(
        check(&c, Header::Device, now - 1),
        Err(ClientError::InvalidLifetime)
    );
    c.exp = c.iat - 1;
    assert_eq!(
        check(&c, Header::Device, now - 5),
        Err(ClientError::InvalidLifetime)
    );
    // jti must be a 32-byte nonce
    let mut c = base.clone();
    c.jti = "ZJxI8fbiFTWt0WhmYF9lhQ==".into();
    assert_eq!(
        check(&c, Header::Device, now),
        Err(ClientError::Encoding(CodecError::WrongLength {
            expected: 32
        }))
    );
    // iss that is not a key, or a low-order point
    let mut c = base.clone();
    c.iss = "AQEB".into();
    assert_eq!(
        check(&c, Header::Device, now),
        Err(ClientError::Key(KeyError::Encoding(
            CodecError::WrongLength { expected: 32 }
        )))
    );
    let unpinned = ExtAuthState::from_secret(SecretKey::from_bytes([3; 32]), None);
    let mut c = base.clone();
    c.iss = PublicKey::from_bytes([0; 32]).to_b64().into();
    let token = jwt::sign(Header::Device, &c, &[0u8; 32]);
    assert_eq!(
        unpinned
            .verify_authreq(
                &UntrustedJwt::parse(&token).unwrap(),
                UnixTime::from_secs(now)
            )
            .err(),
        Some(ClientError::Key(KeyError::LowOrder))
    );
    // a missing claim after a good signature
    let key = device.eid_prv.diffie_hellman(&state.epk()).unwrap();
    let no_scope = jwt::sign_json(
        Header::Device,
        format!(
            r#"{{"iss":"{}","aud":"{}","iat":{now},"exp":{},"jti":"{}"}}"#,
            base.iss,
            base.aud,
            now + 10,
            base.jti
        )
        .as_bytes(),
        key.as_bytes(),
    );
    assert_eq!(
        state
            .verify_authreq(
                &UntrustedJwt::parse(&no_scope).unwrap(),
                UnixTime::from_secs(now)
            )
            .err(),
        Some(ClientError::Jwt(JwtError::InvalidClaims))
    );
}

#[test]
fn errors_display_and_source() {
    use std::error::Error;
    // Display is this layer only; the inner error is the source (each printed once).
    let e = ClientError::Jwt(JwtError::BadSignature);
    assert_eq!(e.to_string(), "client: JWT refused");
    assert_eq!(
        e.source().map(|s| s.to_string()),
        Some(JwtError::BadSignature.to_string())
    );
    assert!(ClientError::Expired.source().is_none());
    assert!(!ClientError::BadKid.to_string().is_empty());
}
