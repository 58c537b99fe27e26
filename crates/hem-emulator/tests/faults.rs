//! Each test fault breaks exactly the rule it names: the same request that the honest
//! emulator refuses is accepted (or answered 500) by the faulty one.

mod support;

use hem_auth_core::client;
use hem_auth_core::UnixTime;
use hem_emulator::{EmulatorConfig, Faults, RunningEmulator};
use support::{config, start, user_key, Client};

fn faulty(faults: Faults) -> (RunningEmulator, Client) {
    start(EmulatorConfig { faults, ..config() })
}

/// The honest emulator with the status it must answer, then the faulty one with its status.
fn honest_then(faults: Faults, honest: u16, faulty: u16) -> [(Faults, u16); 2] {
    [(Faults::default(), honest), (faults, faulty)]
}

/// One character of the signature segment changed (not the last, whose spare bits would make
/// the segment non-canonical, a 400).
fn bad_signature(jwt: &str) -> String {
    let mut chars: Vec<char> = jwt.chars().collect();
    let i = chars.len() - 10;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[test]
fn skip_replay_check_accepts_a_spent_approval_and_a_spent_login() {
    for (faults, replay_status) in honest_then(
        Faults {
            skip_replay_check: true,
            ..Faults::default()
        },
        401,
        200,
    ) {
        let (emu, c) = faulty(faults);
        let token = c.login("system:config");
        let phone = c.pair(&token, emu.eid(), "Phone", 41);
        let authreq = c.authreq(emu.eid(), "keymgmt:list", 42);
        let body = authreq.token_body(&authreq.approve(&phone));
        assert_eq!(
            c.post("/api/auth/ext/token", body.as_bytes(), None).status,
            200
        );
        let again = c.post("/api/auth/ext/token", body.as_bytes(), None);
        assert_eq!(again.status, replay_status, "{faults:?}");

        let challenge = c.get("/api/auth/token", None).expect(200);
        let challenge = client::LoginChallenge::parse(&challenge).unwrap();
        let now = support::host_now();
        let ejwt = client::build_login(
            &user_key(),
            &challenge,
            "logger:get",
            UnixTime::from_secs(now),
            UnixTime::from_secs(now + 60),
            None,
        )
        .unwrap();
        let login = client::login_body(&ejwt);
        assert_eq!(
            c.post("/api/auth/token", login.as_bytes(), None).status,
            200
        );
        let again = c.post("/api/auth/token", login.as_bytes(), None);
        assert_eq!(again.status, replay_status, "{faults:?}");
    }
}

#[test]
fn accept_bad_mac_takes_a_forged_authreply() {
    for (faults, status) in honest_then(
        Faults {
            accept_bad_mac: true,
            ..Faults::default()
        },
        401,
        200,
    ) {
        let (emu, c) = faulty(faults);
        let token = c.login("system:config");
        let phone = c.pair(&token, emu.eid(), "Phone", 43);
        let authreq = c.authreq(emu.eid(), "keymgmt:list", 44);
        let forged = bad_signature(&authreq.approve(&phone));
        let body = authreq.token_body(&forged);
        let r = c.post("/api/auth/ext/token", body.as_bytes(), None);
        assert_eq!(r.status, status, "{faults:?}");
    }
}

#[test]
fn leak_500_answers_500_for_a_400() {
    let (_emu, c) = faulty(Faults {
        leak_500: true,
        ..Faults::default()
    });
    let r = c.post("/api/auth/ext/request", b"{\"epk\":", None);
    assert_eq!(r.status, 500);
    // Other statuses are untouched.
    c.get("/api/keymgmt/list", None).assert_error(401);
}

#[test]
fn ignore_scope_lets_a_narrow_token_through() {
    for (faults, status) in honest_then(
        Faults {
            ignore_scope: true,
            ..Faults::default()
        },
        403,
        200,
    ) {
        let (_emu, c) = faulty(faults);
        let narrow = c.login("auth:ext:pair");
        assert_eq!(c.get("/api/keymgmt/list", Some(&narrow)).status, status);
        assert_eq!(c.get("/api/logger/list", Some(&narrow)).status, status);
    }
}

#[test]
fn skip_expiry_check_accepts_an_expired_token() {
    for (faults, status) in honest_then(
        Faults {
            skip_expiry_check: true,
            ..Faults::default()
        },
        401,
        200,
    ) {
        let (_emu, c) = faulty(faults);
        let short = c.expired_token("keymgmt:list");
        assert_eq!(c.get("/api/keymgmt/list", Some(&short)).status, status);
    }
}

#[test]
fn random_token_jti_issues_a_working_token_with_a_random_jti() {
    for fault in [false, true] {
        let (_emu, c) = faulty(Faults {
            random_token_jti: fault,
            ..Faults::default()
        });
        let token = c.login("keymgmt:list");
        // Still signed with the token key: it opens what it grants.
        assert_eq!(c.get("/api/keymgmt/list", Some(&token)).status, 200);
        let claims = client::UnverifiableAccessToken::parse(&token).unwrap();
        let jti = hem_auth_core::nonce::TimeNonce::from_b64(claims.jti()).unwrap();
        // A random jti's first four bytes are the token's iat with odds of 2^-32.
        assert_eq!(
            u64::from(jti.time()) == claims.iat().as_secs(),
            !fault,
            "random_token_jti = {fault}"
        );
    }
}
