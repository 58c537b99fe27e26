//! Device snapshots from untrusted JSON (`DeviceSnapshot` deserialisation,
//! `Device::restore_with_boot_keys`), then the restored device at work.
//!
//! The input is the snapshot's JSON.
//! Checks: restoring never panics; what a restored device saves is a fixed point (restoring it
//! again saves the same snapshot, also through JSON); every pairing it restored is a valid one
//! (at most eight, distinct pids and aids); the restored device can issue an authreq that the
//! fixture broker session verifies.
#![no_main]

use hem_auth_core::device::{Device, DeviceSnapshot};
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::messages;
use hem_auth_core::UnixTime;
use hem_auth_fuzz_common::fixture::{self, START};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(snapshot) = serde_json::from_slice::<DeviceSnapshot>(data) else {
        return;
    };
    let Ok(mut device) = Device::restore_with_boot_keys(snapshot, fixture::boot_keys()) else {
        return;
    };
    let saved = device.snapshot_with_pending();
    assert!(saved.pairings.len() <= 8);
    let json = serde_json::to_string(&saved).expect("a snapshot serialises");
    let back: DeviceSnapshot = serde_json::from_str(&json).expect("and deserialises");
    assert_eq!(back, saved, "a snapshot changed through JSON");
    let again = Device::restore_with_boot_keys(back, fixture::boot_keys())
        .expect("a saved snapshot restores");
    assert_eq!(
        again.snapshot_with_pending(),
        saved,
        "restore is not a fixed point"
    );

    let _ = device.set_clock(UnixTime::from_secs(START));
    let (body, session) = hem_auth_core::client::start_ext_auth(
        "keymgmt:list",
        None,
        None,
        Some(*device.eid()),
        &mut fixture::rng(),
    )
    .expect("a valid request");
    let out = device.ext_request(
        body.as_bytes(),
        UnixTime::from_secs(START),
        &mut fixture::rng(),
    );
    if let Ok(response) = out.result {
        let response = messages::to_json(&response);
        let authreq = session
            .authreq_from_response(response.as_bytes())
            .expect("readable");
        let untrusted = UntrustedJwt::parse(&authreq).expect("the device's authreq parses");
        let verified = session
            .verify_authreq(&untrusted, UnixTime::from_secs(START))
            .expect("the broker verifies the restored device's authreq");
        assert_eq!(verified.entries().count(), device.pairings().len());
    } else {
        assert!(
            !device.config().initialised,
            "an initialised device refused an honest ext/request"
        );
    }
});
