//! Pairing validation on the device (`Device::ext_validate`), on the fixture device: phones A
//! and B paired, the pairing nonce pending until `START + 86400`.
//!
//! The first message byte picks the bearer: the user's `system:config` token, none, the
//! master's, the user's `keymgmt:list` token, or garbage. Then modes: 0, a request body; 1, a
//! reply as text (sent with a fresh pid); 2, a header and payload the oracle signs with a new
//! phone's S1 (a phone that signs anything), sent with a fresh pid.
//! Checks: a pairing is made only with a bearer that allows it, for the pending nonce, a new
//! pid and a new aid that signed the reply (independent HMAC), a valid label, and a `code` that
//! is HMAC(X25519(eid_prv, reply.epk), reply); the nonce is consumed, so the same body fails
//! the second time. A refusal leaves the nonce pending and the pairings as they were.
#![no_main]

use hem_auth_core::UnixTime;
use std::sync::OnceLock;

use hem_auth_core::claims::{self, PairingReplyClaims};
use hem_auth_core::codec;
use hem_auth_core::device::NoncePurpose;
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::keys::PublicKey;
use hem_auth_core::messages::{self, ExtValidateRequest};
use hem_auth_fuzz_common::fixture::{self, BEARER_EXP, PAIRING_EXP, PAIRING_JTI, PID_A, PID_B};
use hem_auth_fuzz_common::{input, oracle};
use libfuzzer_sys::fuzz_target;

const FRESH_PID: [u8; 32] = [0x50; 32];

struct Bearers {
    user: String,
    master: String,
    user_list: String,
}

fn bearers() -> &'static Bearers {
    static B: OnceLock<Bearers> = OnceLock::new();
    B.get_or_init(|| Bearers {
        user: fixture::user_bearer(),
        master: fixture::bearer(&fixture::master(), "system:config", BEARER_EXP),
        user_list: fixture::bearer(&fixture::user(), "keymgmt:list", BEARER_EXP),
    })
}

fuzz_target!(|data: &[u8]| {
    let input = input::decode(data);
    let now = input.now;
    let Some((&pick, message)) = input.message.split_first() else {
        return;
    };
    let b = bearers();
    let (bearer, allowed) = match pick % 5 {
        0 => (Some(b.user.as_str()), now < BEARER_EXP),
        1 => (None, false),
        2 => (Some(b.master.as_str()), false),
        3 => (Some(b.user_list.as_str()), false),
        _ => (Some("eyJ.garbage.x"), false),
    };
    let pid = codec::encode_std(&FRESH_PID);
    let text = String::from_utf8_lossy(message);
    let body = match input.mode % 3 {
        0 => message.to_vec(),
        1 => fixture::body_with_pid(&pid, &text),
        _ => {
            let (header, payload) = oracle::split_header(message);
            let s1 = fixture::stranger_s1();
            fixture::body_with_pid(&pid, &oracle::sign(&header, payload, s1.as_bytes()))
        }
    };
    fixture::with_device(|device| {
        let out = device.ext_validate(bearer, &body, UnixTime::from_secs(now));
        match out.result {
            Ok(response) => {
                assert!(allowed, "paired with a bearer that does not allow it");
                let request: ExtValidateRequest<'_> =
                    messages::parse_body(&body).expect("a body the device read");
                let jwt = UntrustedJwt::parse(&request.reply).expect("a JWT the device read");
                let c: PairingReplyClaims<'_> = jwt
                    .dangerous_unverified_claims()
                    .expect("claims the device read");
                let pid: [u8; 32] = codec::decode_fixed(&request.pid).expect("a 32-byte pid");
                assert!(pid != PID_A && pid != PID_B, "a pid paired twice");
                let aid = PublicKey::from_b64(&c.iss).expect("an aid the device read");
                assert!(
                    aid != fixture::phone_a_secret().public_key()
                        && aid != fixture::phone_b_secret().public_key(),
                    "an aid paired twice"
                );
                assert!(claims::is_valid_label(&c.label));
                let s1 = fixture::identity()
                    .diffie_hellman(&aid)
                    .expect("contributory");
                assert!(
                    oracle::has_valid_mac(&request.reply, s1.as_bytes()),
                    "paired on a wrong MAC"
                );
                assert_eq!(
                    codec::decode_fixed::<32>(&c.jti).ok(),
                    Some(PAIRING_JTI),
                    "paired on another nonce"
                );
                assert!(now < PAIRING_EXP);
                let epk = PublicKey::from_b64(&c.epk).expect("an epk the device read");
                let code_key = fixture::identity()
                    .diffie_hellman(&epk)
                    .expect("contributory");
                assert_eq!(
                    codec::decode_fixed::<32>(&response.code).ok(),
                    Some(oracle::hmac(code_key.as_bytes(), request.reply.as_bytes()))
                );
                assert_eq!(device.pairings().len(), 3);
                assert!(!device.is_pending(
                    NoncePurpose::Pairing,
                    &PAIRING_JTI,
                    UnixTime::from_secs(now)
                ));
                assert!(
                    device
                        .ext_validate(bearer, &body, UnixTime::from_secs(now))
                        .result
                        .is_err(),
                    "a replay paired again"
                );
            }
            Err(error) => {
                assert!(matches!(error.status(), 400 | 401 | 403 | 406 | 413));
                assert_eq!(device.pairings().len(), 2);
                assert_eq!(
                    device.is_pending(
                        NoncePurpose::Pairing,
                        &PAIRING_JTI,
                        UnixTime::from_secs(now)
                    ),
                    now < PAIRING_EXP,
                    "a refusal changed the nonce"
                );
            }
        }
    });
});
