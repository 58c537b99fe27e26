//! Bearer verification (`Device::authorize`) against the fixture device's token key.
//!
//! The first message byte picks the requirement: any token, `keymgmt:list` (prefix), the
//! pairing endpoints' rule (`auth:ext:pair` or `system:config`, user only), the key-delete rule
//! (`keymgmt:del`, not master) or exactly `keymgmt:use:<kid>`. Then modes: 0, a token as text;
//! 1, a header and payload the oracle signs with the token key (tokens the device could have
//! minted), so the claim, role and scope checks are reached.
//! Checks: a token is accepted only with a MAC an independent HMAC accepts, before its `exp`,
//! with a role and a scope that the requirement allows (checked independently); a refusal for
//! role or scope comes with its audit event, an acceptance with none.
#![no_main]

use hem_auth_core::device::{AuditKind, Requirement};
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::UnixTime;
use hem_auth_fuzz_common::fixture::{self, TOKEN_KEY};
use hem_auth_fuzz_common::{input, oracle};
use libfuzzer_sys::fuzz_target;

const USE: &str = "keymgmt:use:42afc419dbda72636b37a2455955e095";

fuzz_target!(|data: &[u8]| {
    let input = input::decode(data);
    let now = input.now;
    let Some((&pick, message)) = input.message.split_first() else {
        return;
    };
    let (requirement, scopes, exact, user_only, not_master): (
        Requirement<'_>,
        &[&str],
        bool,
        bool,
        bool,
    ) = match pick % 5 {
        0 => (Requirement::any_token(), &[""], false, false, false),
        1 => (
            Requirement::any_of(&["keymgmt:list"]),
            &["keymgmt:list"],
            false,
            false,
            false,
        ),
        2 => (
            Requirement::EXT_PAIRING,
            &["auth:ext:pair", "system:config"],
            false,
            true,
            false,
        ),
        3 => (
            Requirement::KEY_DELETE,
            &["keymgmt:del"],
            false,
            false,
            true,
        ),
        _ => (Requirement::exact(USE), &[USE], true, false, false),
    };
    let token = match input.mode % 2 {
        0 => String::from_utf8_lossy(message).into_owned(),
        _ => {
            let (header, payload) = oracle::split_header(message);
            oracle::sign(&header, payload, &TOKEN_KEY)
        }
    };
    fixture::with_device(|device| {
        let out = device.authorize(Some(&token), &requirement, UnixTime::from_secs(now));
        match out.result {
            Ok(authorized) => {
                assert!(out.events.is_empty());
                assert!(
                    oracle::has_valid_mac(&token, &TOKEN_KEY),
                    "accepted a wrong MAC"
                );
                let jwt = UntrustedJwt::parse(&token).expect("a token the device read");
                let claims: serde_json::Value = jwt
                    .dangerous_unverified_claims()
                    .expect("claims the device read");
                let exp = claims["exp"].as_u64().expect("an exp");
                let sub = claims["sub"].as_str().expect("a sub");
                let scope = claims["scope"].as_str().expect("a scope");
                assert!(now < exp, "accepted an expired token");
                assert_eq!(authorized.exp.as_secs(), exp);
                assert!(!user_only || sub == "U", "role");
                assert!(!not_master || sub != "M", "role");
                let scope_ok = if exact {
                    scopes.contains(&scope)
                } else {
                    scopes.iter().any(|s| scope.starts_with(s))
                };
                assert!(scope_ok, "accepted a token without the scope");
            }
            Err(error) => {
                assert!(matches!(error.status(), 401 | 403));
                if error.status() == 403 {
                    assert!(out
                        .events
                        .iter()
                        .any(|e| e.kind == AuditKind::FailedScopeCheck));
                }
            }
        }
    });
});
