//! The device turning an authreply into an access token (`Device::ext_token`), on the fixture
//! device: phones A and B paired, the authreq nonce pending until `START + 3600`.
//!
//! Modes: 0, a request body; 1, an authreply as text; 2, a header and payload the oracle
//! signs with phone A's S1 (a paired phone that signs anything), so everything behind the MAC
//! is reached.
//! Checks: a token is minted only for the pending nonce, before its expiry, for a paired pid
//! whose aid signed the authreply (checked with an independent HMAC), with the kid of that aid
//! as `sub`; it is then a valid bearer; the nonce is consumed, so the same body fails the second
//! time. A refusal has a device status and leaves the nonce pending.
#![no_main]

use hem_auth_core::claims::AuthreplyClaims;
use hem_auth_core::client::UnverifiableAccessToken;
use hem_auth_core::codec;
use hem_auth_core::device::{kid_of, DeviceError, NoncePurpose, Requirement};
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::keys::PublicKey;
use hem_auth_core::messages::{self, ExtTokenRequest};
use hem_auth_core::UnixTime;
use hem_auth_fuzz_common::fixture::{self, AUTHREQ_EXP, AUTHREQ_JTI, PID_A, PID_B};
use hem_auth_fuzz_common::{input, oracle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = input::decode(data);
    let now = input.now;
    let body = input::jwt_body(&input, "authreply", fixture::phone_a_s1().as_bytes());
    fixture::with_device(|device| {
        let mut rng = fixture::rng();
        let out = device.ext_token(&body, UnixTime::from_secs(now), &mut rng);
        match out.result {
            Ok(response) => {
                let request: ExtTokenRequest<'_> =
                    messages::parse_body(&body).expect("a body the device read");
                let jwt = UntrustedJwt::parse(&request.authreply).expect("a JWT the device read");
                let claims: AuthreplyClaims<'_> = jwt
                    .dangerous_unverified_claims()
                    .expect("claims the device read");
                let pid: [u8; 32] = codec::decode_fixed(&claims.pid).expect("a 32-byte pid");
                let aid = match pid {
                    PID_A => fixture::phone_a_secret().public_key(),
                    PID_B => fixture::phone_b_secret().public_key(),
                    _ => panic!("a token for a pid that is not paired"),
                };
                assert_eq!(
                    PublicKey::from_b64(&claims.iss).ok(),
                    Some(aid),
                    "iss is not the paired aid"
                );
                let s1 = fixture::identity()
                    .diffie_hellman(&aid)
                    .expect("contributory");
                assert!(
                    oracle::has_valid_mac(&request.authreply, s1.as_bytes()),
                    "a token for a wrong MAC"
                );
                assert_eq!(
                    codec::decode_fixed::<32>(&claims.jti).ok(),
                    Some(AUTHREQ_JTI),
                    "a token for another nonce"
                );
                assert!(now < AUTHREQ_EXP, "a token for an expired nonce");
                assert!(
                    !device.is_pending(
                        NoncePurpose::Authreq,
                        &AUTHREQ_JTI,
                        UnixTime::from_secs(now)
                    ),
                    "the nonce was not consumed"
                );
                let token = UnverifiableAccessToken::parse(response.as_str()).expect("readable");
                assert_eq!(token.sub(), codec::encode_std(&kid_of(&aid)));
                assert!(token.exp().as_secs() > now, "a token that expired at birth");
                assert!(device
                    .authorize(
                        Some(token.token()),
                        &Requirement::any_token(),
                        UnixTime::from_secs(now)
                    )
                    .result
                    .is_ok());
                let again = device.ext_token(&body, UnixTime::from_secs(now), &mut rng);
                assert_eq!(
                    again.result.err(),
                    Some(DeviceError::NonceNotPending),
                    "a replay was not refused as one"
                );
            }
            Err(error) => {
                assert!(matches!(error.status(), 400 | 401 | 403 | 406 | 409 | 413));
                assert_eq!(
                    device.is_pending(
                        NoncePurpose::Authreq,
                        &AUTHREQ_JTI,
                        UnixTime::from_secs(now)
                    ),
                    now < AUTHREQ_EXP,
                    "a refusal changed the nonce"
                );
            }
        }
    });
});
