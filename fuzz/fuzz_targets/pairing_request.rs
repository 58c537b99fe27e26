//! The pairing request and its answers, outside the device: the phone reading a request
//! unverified and replying (`UnverifiedPairingRequest::parse`, `reply_to_pairing`), and the
//! broker verifying the device's `ext/init` and `ext/validate` responses
//! (`PairingState::verify_init_response`, `verify_validate_response`).
//!
//! Modes: 0, a request JWT as text, read and answered by a new phone; 1, an `ext/init`
//! response body; 2, a header and payload the oracle signs with the device's key for the
//! fixture broker session, sent as `{"request", "eid"}`; 3, an `ext/validate` response body
//! for a fixed reply.
//! Checks: a verified request carries a MAC an independent HMAC accepts and has not expired;
//! a phone's reply is signed with X25519(aid, eid) of the request's eid; a verified code is the
//! HMAC of the reply.
#![no_main]

use hem_auth_core::authenticator::{reply_to_pairing, UnverifiedPairingRequest};
use hem_auth_core::codec;
use hem_auth_core::messages::{self, ExtInitResponse};
use hem_auth_core::UnixTime;
use hem_auth_fuzz_common::{fixture, input, oracle};
use libfuzzer_sys::fuzz_target;

const REPLY: &str = "eyJlY2RoIjoieDI1NTE5IiwiYWxnIjoiSFMyNTYiLCJ0eXAiOiJKV1QifQ.e30.x";

fuzz_target!(|data: &[u8]| {
    let input = input::decode(data);
    let now = input.now;
    let state = fixture::pairing_state();
    let key = fixture::broker_key();
    match input.mode % 4 {
        0 => {
            let Ok(request) = UnverifiedPairingRequest::parse(&input.text()) else {
                return;
            };
            let _ = request.is_expired(UnixTime::from_secs(now));
            let phone = fixture::stranger_secret();
            if let Ok(reply) = reply_to_pairing(&phone, &request, "Phone", "fcm") {
                let s1 = phone
                    .diffie_hellman(request.eid())
                    .expect("checked by reply_to_pairing");
                assert!(oracle::has_valid_mac(&reply.reply, s1.as_bytes()));
                let _ = reply.post_body("fcm");
            }
        }
        1 | 2 => {
            let body = if input.mode % 4 == 1 {
                input.message.to_vec()
            } else {
                let (header, payload) = oracle::split_header(input.message);
                let request = oracle::sign(&header, payload, key.as_bytes());
                messages::to_json(&ExtInitResponse {
                    request: request.into(),
                    eid: fixture::eid().to_b64().into(),
                })
                .into_bytes()
            };
            if let Ok(request) = state.verify_init_response(&body, UnixTime::from_secs(now)) {
                assert!(
                    oracle::has_valid_mac(request.request(), key.as_bytes()),
                    "verified a wrong MAC"
                );
                assert_eq!(request.eid(), fixture::eid());
                assert!(now < request.exp().as_secs(), "verified an expired request");
                let _ = request.qr_payload("https://example/link", "u", "e", "h");
            }
        }
        _ => {
            if let Ok(kid) = state.verify_validate_response(&fixture::eid(), REPLY, input.message) {
                assert_eq!(kid.len(), 32);
                let response: messages::ExtValidateResponse<'_> =
                    messages::parse_body(input.message).expect("read");
                assert_eq!(
                    codec::decode_fixed::<32>(&response.code).ok(),
                    Some(oracle::hmac(key.as_bytes(), REPLY.as_bytes()))
                );
            }
        }
    }
});
