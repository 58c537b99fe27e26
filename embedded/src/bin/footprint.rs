//! The flash footprint image: what a firmware links to be an HEM, and nothing else.
//!
//! It boots a [`Device`] from its persisted JSON snapshot and serves every endpoint of the
//! device role through a dispatcher, writing each response body with `messages::to_json`,
//! taking the audit events, and persisting the snapshot again after a pairing change. The
//! requests pass through [`core::hint::black_box`], so that no endpoint can be optimised away;
//! the vectors, the flows, the client and phone roles and the measurements are not in it.
//! `run.sh` measures its sections (text + rodata) as the device role's flash; the `baseline`
//! image (runtime, heap and exit alone) tells what the role adds.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use core::hint::black_box;
use hem_auth_core::UnixTime;

use cortex_m_rt::entry;
use hem_auth_core::device::{Device, DeviceConfig, DeviceSnapshot, Requirement, Roles};
use hem_auth_core::keys::SecretKey;
use hem_auth_core::messages::to_json;
use hem_auth_mcu::{finish, heap, println, FIXTURE_NOW};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// One request as a firmware's HTTP layer would hand it over.
#[derive(Clone, Copy)]
struct Request {
    endpoint: u8,
    bearer: Option<&'static str>,
    path_arg: &'static str,
    body: &'static [u8],
    now: u64,
}

const fn req(endpoint: u8) -> Request {
    Request {
        endpoint,
        bearer: None,
        path_arg: "",
        body: b"{}",
        now: FIXTURE_NOW,
    }
}

/// Every endpoint once (bodies are refused, which is enough to link every path: the inputs
/// are opaque to the compiler).
static REQUESTS: [Request; 13] = [
    req(0),
    req(1),
    req(2),
    req(3),
    req(4),
    req(5),
    req(6),
    req(7),
    req(8),
    req(9),
    req(10),
    req(11),
    req(12),
];

/// The firmware's answer: HTTP status, body length, audit events taken.
struct Answer {
    status: u16,
    body: usize,
    events: usize,
}

fn answer<T: serde::Serialize>(out: hem_auth_core::device::Outcome<T>) -> Answer {
    let (result, events) = out.into_parts();
    // The adapter persists each event (numbered and MACed by the firmware's log).
    let mut n = 0;
    for e in events.iter() {
        black_box((e.time, e.kind.code(), e.result.code(), e.sub(), e.data()));
        n += 1;
    }
    match result {
        Ok(v) => Answer {
            status: 200,
            body: to_json(&v).len(),
            events: n,
        },
        Err(e) => Answer {
            status: e.status(),
            body: 0,
            events: n,
        },
    }
}

fn persist(device: &Device) -> usize {
    // Written to the firmware's storage.
    black_box(to_json(&device.snapshot())).len()
}

fn dispatch(device: &mut Device, r: &Request, rng: &mut ChaCha20Rng) -> Answer {
    match r.endpoint {
        0 => answer(device.auth_token_challenge(UnixTime::from_secs(r.now), rng)),
        1 => answer(device.auth_token(r.body, UnixTime::from_secs(r.now), rng)),
        2 => answer(device.ext_request(r.body, UnixTime::from_secs(r.now), rng)),
        3 => answer(device.ext_token(r.body, UnixTime::from_secs(r.now), rng)),
        4 => answer(device.ext_init(r.bearer, r.body, UnixTime::from_secs(r.now), rng)),
        5 => {
            let a = answer(device.ext_validate(r.bearer, r.body, UnixTime::from_secs(r.now)));
            if a.status == 200 {
                persist(device);
            }
            a
        }
        6 => answer(device.ext_mac(r.bearer, r.body, UnixTime::from_secs(r.now), rng)),
        7 => {
            let (result, events) = device
                .unpair(r.bearer, r.path_arg, UnixTime::from_secs(r.now))
                .into_parts();
            if result.is_ok() {
                persist(device);
            }
            Answer {
                status: result.map_or_else(|e| e.status(), |_| 200),
                body: 0,
                events: events.len(),
            }
        }
        8 => answer(device.checkin_challenge(UnixTime::from_secs(r.now), rng)),
        9 => {
            let (result, events) = device
                .checkin(r.body, UnixTime::from_secs(r.now))
                .into_parts();
            Answer {
                status: result.as_ref().map_or_else(|e| e.status(), |_| 200),
                body: result.map_or(0, |c| to_json(&c.response).len()),
                events: events.len(),
            }
        }
        10 => {
            let (_, events) = device.set_clock(UnixTime::from_secs(r.now)).into_parts();
            Answer {
                status: 200,
                body: 0,
                events: events.len(),
            }
        }
        11 => {
            // A bearer-protected endpoint: GET /api/keymgmt/get/{kid}.
            let scopes = ["keymgmt:get", "keymgmt:gen"];
            let need = Requirement::any_of_or_exact(&scopes, r.path_arg).roles(Roles::NotMaster);
            let (result, events) = device
                .authorize(r.bearer, &need, UnixTime::from_secs(r.now))
                .into_parts();
            Answer {
                status: result.map_or_else(|e| e.status(), |_| 200),
                body: 0,
                events: events.len(),
            }
        }
        _ => {
            let (result, events) = device
                .authorize(
                    r.bearer,
                    &Requirement::any_token(),
                    UnixTime::from_secs(r.now),
                )
                .into_parts();
            Answer {
                status: result.map_or_else(|e| e.status(), |_| 200),
                body: 0,
                events: events.len(),
            }
        }
    }
}

#[entry]
fn main() -> ! {
    heap::init();
    // The TRNG of a real device; a seeded ChaCha20 here.
    let mut rng = ChaCha20Rng::from_seed(black_box([7u8; 32]));
    // The persisted state, read back as JSON at boot.
    let stored: String = to_json(&DeviceSnapshot::new(DeviceConfig::new(
        SecretKey::from_bytes(black_box([9u8; 32])),
    )));
    let snapshot: DeviceSnapshot = match serde_json::from_str(black_box(&stored)) {
        Ok(s) => s,
        Err(_) => finish(false),
    };
    let Ok(mut device) = Device::restore(snapshot, &mut rng) else {
        finish(false)
    };
    let mut statuses = 0u32;
    for r in black_box(&REQUESTS) {
        let a = dispatch(&mut device, r, &mut rng);
        statuses = statuses.wrapping_add(u32::from(a.status) + a.body as u32 + a.events as u32);
    }
    println!(
        "footprint image: served {} requests ({statuses})",
        REQUESTS.len()
    );
    finish(true)
}
