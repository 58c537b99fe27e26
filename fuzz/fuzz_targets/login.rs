//! Password (and master-key) login on the device (`Device::auth_token`), on the fixture
//! device: the login nonce pending until `START + 60`.
//!
//! Modes: 0, a request body; 1, an eJWT as text; 2, a header and payload the oracle signs with
//! X25519(user, spk) (the user's client signing anything), so the claim checks are reached.
//! Checks: a token is minted only for the pending nonce before its expiry, to the user (`U`)
//! or master (`M`) key named in `iss`, with an `exp` after now and the eJWT's scope; the nonce
//! is consumed, so the same body fails the second time. A refusal leaves the nonce pending.
#![no_main]

use hem_auth_core::claims::LoginClaims;
use hem_auth_core::client::UnverifiableAccessToken;
use hem_auth_core::codec;
use hem_auth_core::device::{DeviceError, NoncePurpose, Requirement};
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::keys::PublicKey;
use hem_auth_core::messages::{self, AuthTokenRequest};
use hem_auth_core::UnixTime;
use hem_auth_fuzz_common::fixture::{self, LOGIN_EXP, LOGIN_JTI};
use hem_auth_fuzz_common::{input, oracle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = input::decode(data);
    let now = input.now;
    let body = input::jwt_body(&input, "auth", fixture::user_login_key().as_bytes());
    fixture::with_device(|device| {
        let mut rng = fixture::rng();
        let out = device.auth_token(&body, UnixTime::from_secs(now), &mut rng);
        match out.result {
            Ok(response) => {
                let request: AuthTokenRequest<'_> =
                    messages::parse_body(&body).expect("a body the device read");
                let jwt = UntrustedJwt::parse(&request.auth).expect("a JWT the device read");
                let claims: LoginClaims<'_> = jwt
                    .dangerous_unverified_claims()
                    .expect("claims the device read");
                let iss = PublicKey::from_b64(&claims.iss).expect("an iss the device read");
                let (signer, sub) = if iss == fixture::user_public() {
                    (fixture::user(), "U")
                } else if iss == fixture::master_public() {
                    (fixture::master(), "M")
                } else {
                    panic!("a token for an unknown key")
                };
                let key = fixture::login_key(&signer);
                assert!(
                    oracle::has_valid_mac(&request.auth, key.as_bytes()),
                    "a token for a wrong MAC"
                );
                assert_eq!(
                    codec::decode_fixed::<32>(&claims.jti).ok(),
                    Some(LOGIN_JTI),
                    "a token for another nonce"
                );
                assert!(now < LOGIN_EXP, "a token for an expired challenge");
                assert!(
                    !device.is_pending(NoncePurpose::Login, &LOGIN_JTI, UnixTime::from_secs(now)),
                    "the nonce was not consumed"
                );
                let token = UnverifiableAccessToken::parse(response.as_str()).expect("readable");
                assert_eq!(token.sub(), sub);
                assert_eq!(token.scope(), claims.scope);
                assert!(token.exp().as_secs() > now && token.exp().as_secs() == claims.exp);
                assert!(device
                    .authorize(
                        Some(token.token()),
                        &Requirement::any_token(),
                        UnixTime::from_secs(now)
                    )
                    .result
                    .is_ok());
                let again = device.auth_token(&body, UnixTime::from_secs(now), &mut rng);
                assert_eq!(
                    again.result.err(),
                    Some(DeviceError::NonceNotPending),
                    "a replay was not refused as one"
                );
            }
            Err(error) => {
                assert!(matches!(error.status(), 400 | 401 | 403 | 409 | 413));
                assert_eq!(
                    device.is_pending(NoncePurpose::Login, &LOGIN_JTI, UnixTime::from_secs(now)),
                    now < LOGIN_EXP,
                    "a refusal changed the nonce"
                );
            }
        }
    });
});
