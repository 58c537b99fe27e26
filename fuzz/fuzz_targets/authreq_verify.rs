//! The broker role verifying an authreq (`ExtAuthState::authreq_from_response`,
//! `verify_authreq`), and the phone opening the entry it finds there.
//!
//! Modes: 0, an authreq as text; 1, an `ext/request` response body; 2, a header and payload
//! the oracle signs with the device's key for the fixture broker session (a device that signs
//! anything), so the claim checks are reached.
//! Checks: a verified authreq carries a MAC an independent HMAC accepts, comes from the fixture
//! device, is addressed to the session, has `iat < exp`, has not expired and has at most eight
//! entries.
#![no_main]

use hem_auth_core::authenticator::Event;
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::keys::PublicKey;
use hem_auth_core::{Access, Seconds, UnixTime};
use hem_auth_fuzz_common::{fixture, input, oracle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = input::decode(data);
    let state = fixture::ext_auth_state();
    let key = fixture::broker_key();
    let text = match input.mode % 3 {
        0 => input.text().into_owned(),
        1 => match state.authreq_from_response(input.message) {
            Ok(a) => a.into_owned(),
            Err(_) => return,
        },
        _ => {
            let (header, payload) = oracle::split_header(input.message);
            oracle::sign(&header, payload, key.as_bytes())
        }
    };
    let Ok(untrusted) = UntrustedJwt::parse(&text) else {
        return;
    };
    let Ok(verified) = state.verify_authreq(&untrusted, UnixTime::from_secs(input.now)) else {
        return;
    };
    assert!(
        oracle::has_valid_mac(&text, key.as_bytes()),
        "verified a wrong MAC"
    );
    assert_eq!(verified.eid(), fixture::eid());
    assert_eq!(
        PublicKey::from_b64(&verified.claims().aud).ok(),
        Some(state.epk())
    );
    assert!(verified.iat() < verified.exp() && input.now < verified.exp().as_secs());
    assert!(verified.entries().count() <= 8);
    let phone = fixture::phone_a();
    if let Some(sealed) = verified.entry(phone.pid()) {
        let epk = state.epk().to_b64();
        let event = Event {
            jti: verified.jti().into(),
            scope: sealed.into(),
            epk: epk.as_str().into(),
            exp: verified.exp().as_secs(),
        };
        if let Ok(opened) = phone.open_event(&event, UnixTime::from_secs(input.now)) {
            let _ = opened.key_hint();
            let _ = opened.approve(
                UnixTime::from_secs(input.now),
                Seconds::new(900),
                Access::ReadWrite,
            );
        }
    }
});
