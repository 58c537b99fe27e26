//! The real device capture and the documentation examples, set beside the device's own output:
//! same header bytes, same claim order, same nonce layout — and, where the inputs are public,
//! the same payload bytes apart from the values that depend on a private key we lack (the
//! `eid_prv`, and the per-boot nonce key that tags the nonces the device issues, spec §4.3).

use hem_auth_core::UnixTime;
use std::fmt;

use hem_auth_core::claims::AuthreqClaims;
use hem_auth_core::codec;
use hem_auth_core::device::{Device, DeviceConfig, DeviceSnapshot, PairingSnapshot};
use hem_auth_core::jwt::{Header, HeaderPolicy, UntrustedJwt};
use hem_auth_core::keys::{PublicKey, SecretKey};
use hem_auth_core::messages::{self, AuthChallenge};
use hem_auth_core::nonce::TimeNonce;
use hem_auth_core::seal::ScopeKey;
use rand_core::{CryptoRng, RngCore};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::json;

use crate::rig::{body, claims_of};
use crate::support::{self, b64, hex_32, s};

/// An rng that first replays given bytes (to reproduce a captured nonce), then falls back.
struct Replay {
    bytes: Vec<u8>,
    fallback: rand_chacha::ChaCha20Rng,
}

impl Replay {
    fn new(bytes: &[u8]) -> Self {
        Replay {
            bytes: bytes.iter().rev().copied().collect(),
            fallback: support::rng(99),
        }
    }
}

impl RngCore for Replay {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for d in dest {
            *d = self
                .bytes
                .pop()
                .unwrap_or_else(|| self.fallback.next_u32() as u8);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for Replay {}

/// An rng that gives the device the random bytes of a documented nonce it issues:
/// `jti[4..16]` (spec §4.3: the rest of the device's nonce is its time and its tag).
fn issued(jti: &TimeNonce) -> Replay {
    Replay::new(&jti.as_bytes()[4..16])
}

/// `text` with our issued nonce `ours` replaced by the documented `theirs`, once their time and
/// random bytes are checked equal: the last 16 bytes are a tag under the per-boot nonce key
/// (spec §4.3), which only the real device has, as it alone has its `eid_prv`.
fn swap_nonce(text: &str, ours: &str, theirs: &TimeNonce) -> String {
    let mine = TimeNonce::from_b64(ours).unwrap();
    assert_eq!(mine.as_bytes()[..16], theirs.as_bytes()[..16], "{ours}");
    swap(text, ours, &theirs.to_b64())
}

/// Top-level member names of a JSON object, in order.
fn keys(json: &[u8]) -> Vec<String> {
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some((k, _)) = m.next_entry::<String, IgnoredAny>()? {
                out.push(k);
            }
            Ok(out)
        }
    }
    serde_json::Deserializer::from_slice(json)
        .deserialize_map(Keys)
        .unwrap()
}

fn segments(token: &str) -> (String, Vec<u8>) {
    let mut parts = token.split('.');
    let header = parts.next().unwrap().to_owned();
    let mut buf = vec![0u8; 4096];
    let n = codec::decode_segment(parts.next().unwrap().as_bytes(), &mut buf)
        .unwrap()
        .len();
    buf.truncate(n);
    (header, buf)
}

/// A device with a user key and one pairing (`pid`, `aid`), clock set.
fn device_with_pairing(pid: [u8; 32], aid: PublicKey, user: &SecretKey) -> Device {
    let mut rng = support::rng(5);
    let mut config = DeviceConfig::new(SecretKey::generate(&mut rng));
    config.user_key = Some(user.public_key());
    config.label = "My device".into();
    let mut snap = DeviceSnapshot::new(config);
    snap.pairings.push(PairingSnapshot {
        pid,
        aid,
        label: "phone".into(),
    });
    let mut dev = Device::restore(snap, &mut rng).unwrap();
    let _ = dev.set_clock(UnixTime::from_secs(0));
    dev
}

/// Replaces the string value `from` by `to` everywhere in a JSON text.
fn swap(text: &str, from: &str, to: &str) -> String {
    text.replace(&format!("\"{from}\""), &format!("\"{to}\""))
}

#[test]
fn real_device_authreq_is_what_the_device_emits() {
    let cap = &support::interop("device-captures.json")["real_device_authreq"];
    let authreq = s(cap, "authreq");
    let broker = SecretKey::from_bytes(hex_32(s(cap, "broker_private_hex")));
    let eid = PublicKey::from_bytes(hex_32(s(cap, "eid_hex")));
    let phone = SecretKey::from_bytes(hex_32(s(cap, "authenticator_private_hex")));
    let pid = support::b64_32(s(cap, "pid"));

    // The capture reads exactly as the harness reads our device's authreqs.
    let u = UntrustedJwt::parse(authreq).unwrap();
    let key = broker.diffie_hellman(&eid).unwrap();
    assert_eq!(
        hex::encode(key.as_bytes()),
        s(&cap["expected"], "authreq_mac_key_hex")
    );
    let v = u.verify(key.as_bytes(), HeaderPolicy::Ecdh).unwrap();
    let c: AuthreqClaims<'_> = v.claims().unwrap();
    let jti = TimeNonce::from_b64(&c.jti).unwrap();
    assert_eq!(u64::from(jti.time()), c.iat);
    assert_eq!(c.exp - c.iat, hem_auth_core::device::AUTHREQ_LIFETIME_SECS);
    let s1 = phone.diffie_hellman(&eid).unwrap();
    let entry = c.scope.get(s(cap, "pid")).unwrap();
    assert_eq!(
        ScopeKey::derive(&s1, jti.as_bytes())
            .open(entry)
            .unwrap()
            .as_str(),
        "keymgmt:list"
    );

    // Our device, same inputs (pairing pid and aid, broker epk, time, ctx, and the captured
    // nonce replayed through the rng): identical header, identical payload except for the
    // values only the real eid_prv could reproduce (iss, and the sealed entry under S1).
    let user = SecretKey::from_bytes([1; 32]);
    let mut dev = device_with_pairing(pid, phone.public_key(), &user);
    let req =
        json!({"epk": broker.public_key().to_b64(), "scope": "keymgmt:list", "ctx": "fixture-ctx"});
    let ours = dev
        .ext_request(&body(&req), UnixTime::from_secs(c.iat), &mut issued(&jti))
        .result
        .unwrap();
    assert_eq!(ours.epk, c.aud);
    let (our_header, our_payload) = segments(&ours.authreq);
    let (cap_header, cap_payload) = segments(authreq);
    assert_eq!(our_header, cap_header);
    assert_eq!(
        our_header,
        codec::encode_segment(Header::Device.json().as_bytes())
    );
    assert_eq!(keys(&our_payload), keys(&cap_payload));
    let ours_claims = claims_of(&ours.authreq);
    let our_entry = ours_claims["scope"][s(cap, "pid")].as_str().unwrap();
    assert_eq!(our_entry.len(), entry.len());
    let text = String::from_utf8(our_payload).unwrap();
    let text = swap(&text, &dev.eid().to_b64(), &eid.to_b64());
    let text = swap(&text, our_entry, entry);
    let text = swap_nonce(&text, ours_claims["jti"].as_str().unwrap(), &jti);
    assert_eq!(text.as_bytes(), &cap_payload[..]);
}

#[test]
fn documentation_examples_are_what_the_device_emits() {
    let docs = &support::interop("device-captures.json")["documentation_examples"];
    let doc_eid = "ff6/rpgprw6OjcPbedIB5LbsxjZqmnf43J1zeK1x82I=";
    let user = SecretKey::from_bytes([1; 32]);
    let phone = SecretKey::from_bytes([2; 32]);

    // ext/request response: header, payload except iss and the sealed value
    let doc = &docs["ext_request_response"];
    let (doc_header, doc_payload) = segments(s(doc, "authreq"));
    let dc = claims_of(s(doc, "authreq"));
    let (doc_pid, doc_entry) = dc["scope"].as_object().unwrap().iter().next().unwrap();
    let doc_entry = doc_entry.as_str().unwrap();
    let iat = dc["iat"].as_u64().unwrap();
    let jti = TimeNonce::from_b64(dc["jti"].as_str().unwrap()).unwrap();
    assert_eq!(u64::from(jti.time()), iat);
    let mut dev = device_with_pairing(support::b64_32(doc_pid), phone.public_key(), &user);
    // the documented scope is unknown (≤ 15 characters, one sealed block); any such scope
    // gives an entry of the same length
    let req = json!({"epk": s(doc, "epk"), "scope": "keymgmt:list"});
    let ours = dev
        .ext_request(&body(&req), UnixTime::from_secs(iat), &mut issued(&jti))
        .result
        .unwrap();
    assert_eq!(ours.epk, s(doc, "epk"), "response epk is the authreq aud");
    let (h, p) = segments(&ours.authreq);
    assert_eq!(h, doc_header);
    let oc = claims_of(&ours.authreq);
    let our_entry = oc["scope"][doc_pid].as_str().unwrap();
    assert_eq!(our_entry.len(), doc_entry.len());
    let text = swap(&String::from_utf8(p).unwrap(), &dev.eid().to_b64(), doc_eid);
    let text = swap_nonce(&text, oc["jti"].as_str().unwrap(), &jti);
    assert_eq!(
        swap(&text, our_entry, doc_entry).as_bytes(),
        &doc_payload[..]
    );

    // ext/token response: an access token; same bytes but `sub` (the documented kid's aid is
    // unknown) — iat, exp verbatim from the authreply, jti nonce layout
    let doc_token = s(&docs["ext_token_response"], "token");
    let (doc_header, doc_payload) = segments(doc_token);
    let tc = claims_of(doc_token);
    let (t_iat, t_exp) = (tc["iat"].as_u64().unwrap(), tc["exp"].as_u64().unwrap());
    let t_jti = TimeNonce::from_b64(tc["jti"].as_str().unwrap()).unwrap();
    assert_eq!(u64::from(t_jti.time()), t_iat);
    let our_jti = support::b64_32(oc["jti"].as_str().unwrap());
    let s1 = phone.diffie_hellman(dev.eid()).unwrap();
    let sealed = ScopeKey::derive(&s1, &our_jti)
        .seal("keymgmt:list")
        .unwrap();
    let reply = json!({"jti": oc["jti"], "exp": t_exp, "pid": doc_pid, "iss": phone.public_key().to_b64(), "scope": sealed});
    let reply = hem_auth_core::jwt::sign(Header::App, &reply, s1.as_bytes());
    let token = dev
        .ext_token(
            &body(&json!({ "authreply": reply })),
            UnixTime::from_secs(t_iat),
            &mut Replay::new(t_jti.as_bytes()),
        )
        .result
        .unwrap()
        .as_str()
        .to_owned();
    let (h, p) = segments(&token);
    assert_eq!(h, doc_header);
    assert_eq!(
        h,
        codec::encode_segment(Header::AccessToken.json().as_bytes())
    );
    let our_sub = claims_of(&token)["sub"].as_str().unwrap().to_owned();
    let text = swap(
        &String::from_utf8(p).unwrap(),
        &our_sub,
        tc["sub"].as_str().unwrap(),
    );
    assert_eq!(text.as_bytes(), &doc_payload[..]);
    // and the documented sub is the documented ext/validate kid
    let kid = s(&docs["ext_validate_response"], "kid");
    assert_eq!(hex::encode(b64(tc["sub"].as_str().unwrap())), kid);

    // ext/init pairing request payload: same bytes but iss
    let doc_req = &docs["ext_init_request_payload"];
    let r_jti = TimeNonce::from_b64(s(doc_req, "jti")).unwrap();
    let now = u64::from(r_jti.time());
    assert_eq!(
        doc_req["exp"].as_u64().unwrap(),
        now + hem_auth_core::device::PAIRING_REQUEST_LIFETIME_SECS
    );
    let login = login(&mut dev, &user, now);
    let init = dev
        .ext_init(
            Some(&login),
            &body(&json!({"epk": s(doc_req, "aud")})),
            UnixTime::from_secs(now),
            &mut issued(&r_jti),
        )
        .result
        .unwrap();
    let (h, p) = segments(&init.request);
    assert_eq!(h, codec::encode_segment(Header::Device.json().as_bytes()));
    let text = swap(&String::from_utf8(p).unwrap(), &dev.eid().to_b64(), doc_eid);
    let our_jti = claims_of(&init.request)["jti"].as_str().unwrap().to_owned();
    let text = swap_nonce(&text, &our_jti, &r_jti);
    let doc_text = serde_json::to_string(doc_req).unwrap();
    let doc_claims: hem_auth_core::claims::PairingRequestClaims<'_> =
        serde_json::from_str(&doc_text).unwrap();
    assert_eq!(text, messages::to_json(&doc_claims));
    assert_eq!(keys(text.as_bytes()), ["jti", "exp", "aud", "iss"]);

    // the login challenge: same JSON but spk and eid
    let doc_text = serde_json::to_string(&docs["auth_token_challenge"]).unwrap();
    let doc_ch: AuthChallenge<'_> = serde_json::from_str(&doc_text).unwrap();
    let c_jti = TimeNonce::from_b64(&doc_ch.jti).unwrap();
    let now = u64::from(c_jti.time());
    assert_eq!(
        doc_ch.exp,
        now + hem_auth_core::device::LOGIN_CHALLENGE_LIFETIME_SECS
    );
    let ours = dev
        .auth_token_challenge(UnixTime::from_secs(now), &mut issued(&c_jti))
        .result
        .unwrap();
    let text = swap(&messages::to_json(&ours), &ours.spk, &doc_ch.spk);
    let text = swap(&text, &ours.eid, &doc_ch.eid);
    let text = swap_nonce(&text, &ours.jti, &c_jti);
    assert_eq!(text, messages::to_json(&doc_ch));
    assert_eq!(keys(text.as_bytes()), ["exp", "spk", "jti", "lbl", "eid"]);

    // ext/validate and ext/mac responses: field order and encodings
    let v = &docs["ext_validate_response"];
    assert_eq!(b64(s(v, "code")).len(), 32);
    let mac = dev
        .ext_mac(
            Some(&login),
            &body(&json!({"epk": s(doc_req, "aud")})),
            UnixTime::from_secs(now),
            &mut support::rng(1),
        )
        .result
        .unwrap();
    let mac_json = messages::to_json(&mac);
    assert_eq!(keys(mac_json.as_bytes()), ["nonce", "mac", "eid"]);
    assert_eq!(
        u64::from(TimeNonce::from_b64(&mac.nonce).unwrap().time()),
        now
    );
}

/// A `system:config` user token at `now`.
fn login(dev: &mut Device, user: &SecretKey, now: u64) -> String {
    let mut rng = support::rng(8);
    let c = dev
        .auth_token_challenge(UnixTime::from_secs(now), &mut rng)
        .result
        .unwrap();
    let spk = PublicKey::from_b64(&c.spk).unwrap();
    let claims = json!({"jti": c.jti, "aud": c.spk, "exp": now + 3600, "iat": now,
        "iss": user.public_key().to_b64(), "scope": "system:config"});
    let key = user.diffie_hellman(&spk).unwrap();
    let auth = hem_auth_core::jwt::sign(Header::App, &claims, key.as_bytes());
    dev.auth_token(
        &body(&json!({ "auth": auth })),
        UnixTime::from_secs(now),
        &mut rng,
    )
    .result
    .unwrap()
    .as_str()
    .to_owned()
}
