//! The client's typestate flows (issue 19) against an in-memory device: password login,
//! pairing a phone, an external-authenticator login and a bearer check, each state consumed by
//! the step that checks the device's answer.

use hem_auth_core::authenticator::{
    reply_to_pairing, AuthenticatorPairing, UnverifiedPairingRequest, PERIODS,
};
use hem_auth_core::client::{ClientError, ExtLogin, Kid, PairingInit, PasswordLogin, Pid};
use hem_auth_core::device::{Device, DeviceConfig, Requirement};
use hem_auth_core::keys::SecretKey;
use hem_auth_core::messages::to_json;
use hem_auth_core::{Access, Seconds, UnixTime};
use rand_chacha::rand_core::SeedableRng;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const NOW: u64 = 1_784_767_764;

fn t(secs: u64) -> UnixTime {
    UnixTime::from_secs(secs)
}

fn device(rng: &mut rand_chacha::ChaCha20Rng) -> (Device, SecretKey) {
    let user = SecretKey::generate(rng);
    let mut config = DeviceConfig::new(SecretKey::generate(rng));
    config.user_key = Some(user.public_key());
    let mut device = Device::new(config, rng);
    let _ = device.set_clock(t(NOW));
    (device, user)
}

#[test]
fn the_four_steps_through_the_typestates() -> Result {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(19);
    let (mut device, user) = device(&mut rng);
    let now = NOW;

    // 1. Password login.
    let challenge = to_json(&device.auth_token_challenge(t(now), &mut rng).result?);
    let (body, login) = PasswordLogin::start(
        challenge.as_bytes(),
        &user,
        "system:config",
        t(now),
        Seconds::new(600),
    )?;
    let eid = login.challenge().eid();
    let response = to_json(
        &device
            .auth_token(body.as_bytes(), t(now), &mut rng)
            .result?,
    );
    let admin = login.finish(response.as_bytes())?;
    assert_eq!(
        (admin.scope(), admin.sub(), admin.exp()),
        ("system:config", "U", t(now + 600))
    );

    // 2. Pairing a phone (the test plays the phone and the notify broker's pid).
    let (body, pairing) = PairingInit::start(Some(eid), &mut rng);
    let response = to_json(
        &device
            .ext_init(Some(admin.token()), body.as_bytes(), t(now), &mut rng)
            .result?,
    );
    let pairing = pairing.verify_init(response.as_bytes(), t(now))?;
    let seen = UnverifiedPairingRequest::parse(pairing.request().request())?;
    let aid = SecretKey::generate(&mut rng);
    let reply = reply_to_pairing(&aid, &seen, "Pixel 8 (Android)", "fcm-token")?;
    let pid = Pid::generate(&mut rng);
    let (body, pairing) = pairing.validate_body(&pid, &reply.reply);
    let response = to_json(
        &device
            .ext_validate(Some(admin.token()), body.as_bytes(), t(now))
            .result?,
    );
    let kid: Kid = pairing.verify(response.as_bytes())?;
    let phone = AuthenticatorPairing::from_pid(pid, eid, aid)?;

    // 3. External-authenticator login.
    let (body, ext) = ExtLogin::start("keymgmt:list", Some("flows"), None, Some(eid), &mut rng)?;
    let response = to_json(
        &device
            .ext_request(body.as_bytes(), t(now), &mut rng)
            .result?,
    );
    let ext = ext.verify_response(response.as_bytes(), t(now))?;
    let event = ext.authreq().event(&pid).ok_or("no entry for the phone")?;
    let approval =
        phone
            .open_event(&event, t(now + 1))?
            .approve(t(now + 1), PERIODS[0], Access::ReadOnly)?;
    let (body, ext) = ext.token_body(&approval.authreply);
    let response = to_json(
        &device
            .ext_token(body.as_bytes(), t(now + 2), &mut rng)
            .result?,
    );
    let token = ext.finish(response.as_bytes())?;
    assert_eq!(token.scope(), "keymgmt:list");
    assert_eq!(token.ctx(), Some("flows"));
    assert_eq!(token.sub(), kid.to_sub());

    // 4. A bearer call.
    device
        .authorize(
            Some(token.token()),
            &Requirement::any_of(&["keymgmt:list"]),
            t(now + 3),
        )
        .result?;
    Ok(())
}

/// The reply checked at the end is the one sent: a device answering for another reply (here:
/// the code of a different reply) is refused.
#[test]
fn the_code_is_checked_against_the_reply_that_was_sent() -> Result {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(20);
    let (mut device, user) = device(&mut rng);
    let challenge = to_json(&device.auth_token_challenge(t(NOW), &mut rng).result?);
    let (body, login) = PasswordLogin::start(
        challenge.as_bytes(),
        &user,
        "system:config",
        t(NOW),
        Seconds::new(600),
    )?;
    let eid = login.challenge().eid();
    let admin = login.finish(
        to_json(
            &device
                .auth_token(body.as_bytes(), t(NOW), &mut rng)
                .result?,
        )
        .as_bytes(),
    )?;

    let (body, pairing) = PairingInit::start(Some(eid), &mut rng);
    let response = to_json(
        &device
            .ext_init(Some(admin.token()), body.as_bytes(), t(NOW), &mut rng)
            .result?,
    );
    let pairing = pairing.verify_init(response.as_bytes(), t(NOW))?;
    let seen = UnverifiedPairingRequest::parse(pairing.request().request())?;
    let reply = reply_to_pairing(&SecretKey::generate(&mut rng), &seen, "phone", "fid")?;
    let (body, _) = pairing
        .clone()
        .validate_body(&Pid::generate(&mut rng), &reply.reply);
    let response = to_json(
        &device
            .ext_validate(Some(admin.token()), body.as_bytes(), t(NOW))
            .result?,
    );
    // The same state, but a different reply claimed: the code does not verify.
    let (_, other) = pairing.validate_body(&Pid::generate(&mut rng), "eyJ.other.reply");
    assert_eq!(other.verify(response.as_bytes()), Err(ClientError::BadCode));
    Ok(())
}

#[test]
fn a_password_login_with_an_overflowing_lifetime_is_refused() {
    let challenge = br#"{"exp":2000000000,"spk":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=","jti":"0123456789abcdef","lbl":"My device","eid":"ff6/rpgprw6OjcPbedIB5LbsxjZqmnf43J1zeK1x82I="}"#;
    let user = SecretKey::from_bytes([7; 32]);
    let refused = |lifetime| {
        PasswordLogin::start(
            challenge,
            &user,
            "keymgmt:list",
            t(NOW),
            Seconds::new(lifetime),
        )
        .err()
    };
    assert_eq!(refused(0), Some(ClientError::InvalidLifetime));
    assert_eq!(refused(u64::MAX), Some(ClientError::InvalidLifetime));
    assert_eq!(refused(60), None);
}

#[test]
fn a_pairing_pid_must_be_a_pid() {
    assert!("not-a-pid".parse::<Pid>().is_err());
    let pid: Pid = "SmuPON3X1EeRh/rk2VtVFBsy6PRqZKlvMRgCNd6jnGk="
        .parse()
        .unwrap();
    let eid = SecretKey::from_bytes([3; 32]).public_key();
    let phone = AuthenticatorPairing::from_pid(pid, eid, SecretKey::from_bytes([5; 32])).unwrap();
    assert_eq!(phone.pid(), "SmuPON3X1EeRh/rk2VtVFBsy6PRqZKlvMRgCNd6jnGk=");
}
