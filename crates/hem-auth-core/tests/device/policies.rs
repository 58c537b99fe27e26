//! The opt-in token lifetime policies (spec §8.7): `max-token-lifetime` caps the `exp` of every
//! minted token, `revoke-on-unpair` refuses the tokens of an authenticator no longer paired.
//! Both off by default, as on the firmware.

use hem_auth_core::device::{DeviceError, Requirement, EXT_TOKEN_DEFAULT_LIFETIME_SECS};

use crate::rig::{token_claims, Phone, Rig};

const DAY: u64 = 86_400;

/// An external login approved by `phone` with the authreply's `exp`; the token.
fn ext_login(rig: &mut Rig, phone: &Phone, exp: u64) -> String {
    let req = rig.ext_request("keymgmt:list", None);
    let body = rig.approve_body(phone, &req, "keymgmt:list", exp);
    rig.ext_token(&body).result.unwrap().as_str().to_owned()
}

fn list(rig: &Rig, token: &str) -> Result<(), DeviceError> {
    rig.w
        .device
        .authorize(
            Some(token),
            &Requirement::any_of(&["keymgmt:list"]),
            rig.w.time(),
        )
        .result
        .map(|_| ())
}

#[test]
fn max_token_lifetime_caps_every_login() {
    // off (the default): an authreply's exp is kept as sent, a year away; 0 is 8 h
    let mut rig = Rig::new();
    assert_eq!(rig.w.device.config().max_token_lifetime, None);
    let phone = rig.pair("phone");
    let year = rig.w.now + 365 * DAY;
    assert_eq!(token_claims(&ext_login(&mut rig, &phone, year)).exp, year);
    assert_eq!(
        token_claims(&ext_login(&mut rig, &phone, 0)).exp,
        rig.w.now + EXT_TOKEN_DEFAULT_LIFETIME_SECS
    );

    // on: every kind of login gets at most now + SECONDS
    let mut rig = Rig::with(|c| c.max_token_lifetime = Some(600));
    let phone = rig.pair("phone");
    let capped = rig.w.now + 600;
    assert_eq!(token_claims(&ext_login(&mut rig, &phone, year)).exp, capped);
    assert_eq!(token_claims(&ext_login(&mut rig, &phone, 0)).exp, capped);
    // a shorter exp is kept
    let short = rig.w.now + 60;
    assert_eq!(token_claims(&ext_login(&mut rig, &phone, short)).exp, short);
    // password login (user key) and master key, whose eJWT exp is otherwise verbatim
    let user = rig.login("system:config");
    assert_eq!(token_claims(&user).exp, capped);
    let master = rig.w.master.clone();
    let token = rig.login_as(&master, "system:config");
    assert_eq!(token_claims(&token).exp, capped);
    // the capped token works until then, not after
    let token = ext_login(&mut rig, &phone, year);
    assert_eq!(list(&rig, &token), Ok(()));
    rig.w.now += 600;
    assert_eq!(list(&rig, &token), Err(DeviceError::TokenExpired));
}

#[test]
fn revoke_on_unpair_refuses_the_tokens_of_an_unpaired_key() {
    for revoke in [false, true] {
        let mut rig = Rig::with(|c| c.revoke_on_unpair = revoke);
        assert_eq!(rig.w.device.config().revoke_on_unpair, revoke);
        let phone = rig.pair("phone");
        let other = rig.pair("other");
        let exp = rig.w.now + DAY;
        let token = ext_login(&mut rig, &phone, exp);
        let kept = ext_login(&mut rig, &other, exp);
        let user = rig.login("keymgmt:list");
        assert_eq!(list(&rig, &token), Ok(()));

        let del = rig.login("keymgmt:del");
        rig.w
            .device
            .unpair(Some(&del), &phone.kid, rig.w.time())
            .result
            .unwrap();
        let expected = if revoke {
            Err(DeviceError::InvalidToken)
        } else {
            // the firmware's behaviour: the token lives until its exp (spec §13.3)
            Ok(())
        };
        assert_eq!(list(&rig, &token), expected, "revoke-on-unpair {revoke}");
        if revoke {
            assert_eq!(DeviceError::InvalidToken.status(), 401);
        }
        // the other phone's token and the user's are not affected
        assert_eq!(list(&rig, &kept), Ok(()));
        assert_eq!(list(&rig, &user), Ok(()));
    }
}

#[test]
fn the_policies_survive_a_snapshot_and_are_off_in_old_ones() {
    let rig = Rig::with(|c| {
        c.max_token_lifetime = Some(60);
        c.revoke_on_unpair = true;
    });
    let snapshot = rig.w.device.snapshot();
    let json = serde_json::to_value(&snapshot).unwrap();
    assert_eq!(json["config"]["max_token_lifetime"], 60);
    assert_eq!(json["config"]["revoke_on_unpair"], true);
    // a snapshot without them (an older state file, or the policies off) has them off
    let off = Rig::new().w.device.snapshot();
    let json = serde_json::to_value(&off).unwrap();
    assert!(json["config"].get("max_token_lifetime").is_none());
    assert!(json["config"].get("revoke_on_unpair").is_none());
    let back: hem_auth_core::device::DeviceSnapshot = serde_json::from_value(json).unwrap();
    assert_eq!(back.config.max_token_lifetime, None);
    assert!(!back.config.revoke_on_unpair);
}
