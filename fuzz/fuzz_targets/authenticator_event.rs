//! The phone (authenticator role) reading an event and approving it
//! (`Event::parse`, `AuthenticatorPairing::open_event`, `OpenedEvent::approve`), and the
//! device taking the approval.
//!
//! Modes: 0, an event body as text, opened by phone A at the input's time; 1, a requested
//! scope: the fixture's authreq entry for phone A carries it (sealed for the pending nonce),
//! the phone opens and approves it (byte 0 of the message: period and write flag), and the
//! device receives the authreply.
//! Checks: an event opens only before its expiry; an honestly sealed scope opens to itself; an
//! approval is accepted by the fixture device while the nonce is pending, and the token
//! carries the granted scope without its hint.
#![no_main]

use hem_auth_core::authenticator::{Event, PERIODS};
use hem_auth_core::client::UnverifiableAccessToken;
use hem_auth_core::codec;
use hem_auth_core::scope;
use hem_auth_core::seal::ScopeKey;
use hem_auth_core::{Access, Seconds, UnixTime};
use hem_auth_fuzz_common::fixture::{self, AUTHREQ_EXP, AUTHREQ_JTI};
use hem_auth_fuzz_common::input;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = input::decode(data);
    let now = input.now;
    let phone = fixture::phone_a();
    match input.mode % 2 {
        0 => {
            let text = input.text();
            let Ok(event) = Event::parse(&text) else {
                return;
            };
            if let Ok(opened) = phone.open_event(&event, UnixTime::from_secs(now)) {
                assert!(now <= event.exp, "opened an expired event");
                let _ = opened.key_hint();
                let _ = opened.approve(
                    UnixTime::from_secs(now),
                    Seconds::new(3600),
                    Access::ReadOnly,
                );
            }
        }
        _ => {
            let Some((&flags, scope_bytes)) = input.message.split_first() else {
                return;
            };
            let requested = String::from_utf8_lossy(scope_bytes);
            let s1 = fixture::phone_a_s1();
            let Ok(sealed) = ScopeKey::derive(&s1, &AUTHREQ_JTI).seal(&requested) else {
                return;
            };
            let jti = codec::encode_std(&AUTHREQ_JTI);
            let epk = fixture::broker_secret().public_key().to_b64();
            let event = Event {
                jti: jti.as_str().into(),
                scope: sealed.as_str().into(),
                epk: epk.as_str().into(),
                exp: AUTHREQ_EXP,
            };
            let opened = match phone.open_event(&event, UnixTime::from_secs(now)) {
                Ok(o) => o,
                Err(_) => {
                    assert!(now > AUTHREQ_EXP, "an honest event did not open");
                    return;
                }
            };
            assert_eq!(opened.scope(), requested);
            let period = PERIODS[usize::from(flags) % PERIODS.len()];
            let writable = flags & 0x80 != 0;
            let Ok(approval) = opened.approve(
                UnixTime::from_secs(now),
                period,
                Access::from_writable(writable),
            ) else {
                return;
            };
            assert_eq!(
                approval.scope,
                scope::grant(&requested, Access::from_writable(writable))
            );
            fixture::with_device(|device| {
                let body = fixture::body_with("authreply", &approval.authreply);
                let out = device.ext_token(&body, UnixTime::from_secs(now), &mut fixture::rng());
                if now < AUTHREQ_EXP {
                    let token = out.result.expect("the device refused an honest approval");
                    let token = UnverifiableAccessToken::parse(token.as_str()).expect("readable");
                    assert_eq!(token.scope(), scope::strip_hint(&approval.scope));
                    assert_eq!(token.exp().as_secs(), now + period.get());
                } else {
                    assert!(out.result.is_err(), "a token for an expired nonce");
                }
            });
        }
    }
});
