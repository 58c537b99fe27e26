//! The authenticator role (the phone app), written only with the public API: answer a pairing
//! request, keep the pairing, open an event's sealed scope, show it and approve it.
//!
//! The phone never talks to the device: a notify broker carries everything. To keep this
//! example self-contained, the device and the client are the core's own, in memory, and the
//! notify broker is reduced to what it hands the phone (the request JWT, the pid, the event).
//!
//! ```text
//! cargo run -p hem-auth-core --example phone
//! ```

use hem_auth_core::authenticator::{
    reply_to_pairing, AuthenticatorPairing, UnverifiedPairingRequest, PERIODS,
};
use hem_auth_core::client::{ExtLogin, PairingInit, PasswordLogin, Pid};
use hem_auth_core::device::{Device, DeviceConfig};
use hem_auth_core::keys::SecretKey;
use hem_auth_core::messages::to_json;
use hem_auth_core::rand_core::OsRng;
use hem_auth_core::{Access, Seconds, UnixTime};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = UnixTime::now();
    let (mut device, user) = device_with_a_user(now);

    // --- the client starts a pairing (spec §6.1–§6.2) --------------------------------------
    let challenge = to_json(&device.auth_token_challenge(now, &mut OsRng).result?);
    let (body, login) = PasswordLogin::start(
        challenge.as_bytes(),
        &user,
        "system:config",
        now,
        Seconds::new(60),
    )?;
    let eid = login.challenge().eid();
    let admin = login
        .finish(to_json(&device.auth_token(body.as_bytes(), now, &mut OsRng).result?).as_bytes())?;
    let (body, pairing) = PairingInit::start(Some(eid), &mut OsRng);
    let init = to_json(
        &device
            .ext_init(Some(admin.token()), body.as_bytes(), now, &mut OsRng)
            .result?,
    );
    let pairing = pairing.verify_init(init.as_bytes(), now)?;
    let request_jwt = pairing.request().request(); // what the QR code leads the phone to

    // --- the phone: read the request (it has no key to verify it yet, spec §6.4) and reply --
    let request = UnverifiedPairingRequest::parse(request_jwt)?;
    if request.is_expired(now) {
        return Err("the pairing request has expired".into());
    }
    let aid = SecretKey::generate(&mut OsRng); // one key pair per pairing
    let answer = reply_to_pairing(&aid, &request, "Example phone", "push-token")?;
    let link_body = answer.post_body("push-token"); // POST link (to the notify broker)
    println!("phone → broker: {} bytes", link_body.len());
    let pid = Pid::generate(&mut OsRng); // the notify broker's answer: {pid}
    let phone = AuthenticatorPairing::from_pid(pid, *request.eid(), aid)?;

    // --- the client completes the pairing with the phone's reply (spec §6.6–§6.7) ----------
    let (body, pairing) = pairing.validate_body(&pid, &answer.reply);
    let validated = to_json(
        &device
            .ext_validate(Some(admin.token()), body.as_bytes(), now)
            .result?,
    );
    let kid = pairing.verify(validated.as_bytes())?;
    println!("paired: pid {pid} (pidx {}), kid {kid}", phone.pidx());

    // --- a client asks for a login; the broker hands the phone its event (spec §5.7) -------
    let (body, ext) = ExtLogin::start("keymgmt:list", None, None, Some(eid), &mut OsRng)?;
    let response = to_json(
        &device
            .ext_request(body.as_bytes(), now, &mut OsRng)
            .result?,
    );
    let ext = ext.verify_response(response.as_bytes(), now)?;
    let event = ext.authreq().event(&pid).ok_or("no entry for this phone")?;

    // --- the phone: open, show (escaped, never the raw scope), approve for 15 minutes ------
    let opened = phone.open_event(&event, now)?;
    println!("phone shows: {}", opened.display_scope());
    let approval = opened.approve(now, PERIODS[0], Access::ReadOnly)?;
    println!("phone → broker: {}", approval.post_body());

    // --- the device turns the authreply into a token -----------------------------------------
    let (body, ext) = ext.token_body(&approval.authreply);
    let token = to_json(&device.ext_token(body.as_bytes(), now, &mut OsRng).result?);
    let token = ext.finish(token.as_bytes())?;
    println!(
        "token: scope {}, sub {} (= kid {kid})",
        token.scope(),
        token.sub()
    );
    Ok(())
}

/// A device that knows a user key and whose clock is set.
fn device_with_a_user(now: UnixTime) -> (Device, SecretKey) {
    let user = SecretKey::generate(&mut OsRng);
    let mut config = DeviceConfig::new(SecretKey::generate(&mut OsRng));
    config.user_key = Some(user.public_key());
    let mut device = Device::new(config, &mut OsRng);
    let _ = device.set_clock(now);
    (device, user)
}
