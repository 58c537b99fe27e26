//! The native side of `npm run bench`: the operations the JS benchmark measures through the
//! package, timed here on `hem-auth-core` directly, printed as one JSON line of nanoseconds per
//! operation (the median of 7 batches of about 150 ms each).
//!
//! ```text
//! cargo run --release -p hem-auth-wasm --example native_bench
//! ```
//!
//! The inputs are the JS benchmark's (bench/bench.mjs): the published real-device authreq
//! (vectors/interop/real-device-authreq.json) with its client session key, paired phone and
//! time. The device calls go through `Device::handle`, as the JS `Device.handle` does: a bearer
//! `GET /api/system/config`, and `POST /api/auth/ext/token` (each timed alone, after a fresh
//! `ext/request` and approval that are not timed: the median of 201 calls).

use hem_auth_core::{Access, Seconds, UnixTime};
use std::borrow::Cow;
use std::hint::black_box;
use std::time::{Duration, Instant};

use hem_auth_core::authenticator::{AuthenticatorPairing, Event};
use hem_auth_core::client::{self, ExtAuthState, LoginChallenge};
use hem_auth_core::device::{Device, DeviceConfig, DeviceSnapshot, PairingSnapshot, Request};
use hem_auth_core::http::Method;
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::keys::{PublicKey, SecretKey};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

const AUTHREQ: &str = "eyJlY2RoIjoieDI1NTE5IiwidHlwIjoiSldUIiwiYWxnIjoiSFMyNTYifQ.eyJpc3MiOiJyY1BGOVhFdnBzRjZ0UFczUFR2YnVDMlVDcUMrMGtDT0p1WC9rZ1kxdVRrPSIsImF1ZCI6IjlQZ1NIUlZJUFdMdno5Z1diQ0lYazg0NzVaZVJod0xDd0c5cGs1aWJ1R009IiwiaWF0IjoxNzg0NzY3NzY0LCJleHAiOjE3ODQ3NzEzNjQsImp0aSI6IkZHVmhhcGRhZCs4YXA5eDZ0MFVRQi8yTzFHL3ZhYml0aXNqWmRRVHhKME09IiwiY3R4IjoiZml4dHVyZS1jdHgiLCJzY29wZSI6eyJTbXVQT04zWDFFZVJoL3JrMlZ0VkZCc3k2UFJxWktsdk1SZ0NOZDZqbkdrPSI6IkE4Yk9UL291MFBOa1RISCsxU3I1NzAwK29yL0ZvQkZ5bFlXVjVJWjhCeFFaa2c1NUVvWEVsZ0JxSVBOVmJwdFFvIn19.Ch2QfHydtkSmCOBwkS7JZg7FxiKUlC8nOx8xeRmzRbg";
const EID: &str = "rcPF9XEvpsF6tPW3PTvbuC2UCqC+0kCOJuX/kgY1uTk=";
const SESSION_KEY: &str = "EIRB7V1s3v6jqDstD4ldb0Q4KaRbQMpi4SL38w4VNmc=";
const AID_PRIVATE: &str = "IOhL/nEsE5+kh0+pyI1Qve5oU/3ClBNDukFGEYkIung=";
const PID: &str = "SmuPON3X1EeRh/rk2VtVFBsy6PRqZKlvMRgCNd6jnGk=";
const NOW: u64 = 1_784_767_770;
const T: UnixTime = UnixTime::from_secs(NOW);
/// The device of the device calls: the eid's private key of the published capture is not
/// known, so the bench device has its own identity (`EID` stays the client benches').
const EID_PRIVATE: &str = "wCgaWRFzvaDUIWCveQk2kfl3y9cBNZlu/eeI0m9QZ3Q=";
/// The user key of the bench device's password-less login.
const USER_PRIVATE: &str = "EIRB7V1s3v6jqDstD4ldb0Q4KaRbQMpi4SL38w4VNmc=";

/// Nanoseconds per call of `op`: batches sized to about 150 ms, the median of 7.
fn measure(mut op: impl FnMut()) -> f64 {
    let mut n = 1u32;
    loop {
        let start = Instant::now();
        for _ in 0..n {
            op();
        }
        if start.elapsed() > Duration::from_millis(150) {
            break;
        }
        n = n.saturating_mul(2);
    }
    let mut samples: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                op();
            }
            start.elapsed().as_secs_f64() * 1e9 / f64::from(n)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples.get(3).copied().unwrap_or(f64::NAN)
}

/// Nanoseconds of `op`'s timed part, the median of `n` calls (each call sets itself up and
/// returns how long its timed part took).
fn median_of(n: usize, mut op: impl FnMut() -> Duration) -> f64 {
    let mut samples: Vec<f64> = (0..n).map(|_| op().as_secs_f64() * 1e9).collect();
    samples.sort_by(f64::total_cmp);
    samples.get(n / 2).copied().unwrap_or(f64::NAN)
}

type Failure = Box<dyn std::error::Error>;

/// The device of the JS benchmark: identity `EID_PRIVATE`, the phone paired under `PID`, a
/// user key; the RTC set.
fn bench_device(user: &SecretKey, rng: &mut ChaCha20Rng) -> Result<Device, Failure> {
    let mut config = DeviceConfig::new(SecretKey::from_b64(EID_PRIVATE)?);
    config.user_key = Some(user.public_key());
    config.nonce_capacity = 4096;
    let snapshot = DeviceSnapshot {
        pairings: vec![PairingSnapshot {
            pid: hem_auth_core::codec::decode_fixed(PID)?,
            aid: SecretKey::from_b64(AID_PRIVATE)?.public_key(),
            label: "bench".into(),
        }],
        ..DeviceSnapshot::new(config)
    };
    let mut device = Device::restore(snapshot, rng)?;
    let _ = device.set_clock(T);
    Ok(device)
}

fn body_member(body: &str, name: &str) -> Result<String, Failure> {
    let v: serde_json::Value = serde_json::from_str(body)?;
    Ok(v.get(name)
        .and_then(|m| m.as_str())
        .ok_or("no such member")?
        .to_owned())
}

/// `handle` with a bearer `GET /api/system/config`, and one `ext/token`, in nanoseconds.
fn device_calls() -> Result<(f64, f64), Failure> {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let user = SecretKey::from_b64(USER_PRIVATE)?;
    let mut device = bench_device(&user, &mut rng)?;
    let eid = *device.eid();

    let challenge = device.handle(&Request::new(Method::Get, "/api/auth/token"), T, &mut rng);
    let challenge = LoginChallenge::parse(challenge.body.as_bytes())?;
    let ejwt = client::build_login(
        &user,
        &challenge,
        "system:config",
        T,
        UnixTime::from_secs(NOW + 3600),
        None,
    )?;
    let login = client::login_body(&ejwt);
    let answer = device.handle(
        &Request::new(Method::Post, "/api/auth/token").body(login.as_bytes()),
        T,
        &mut rng,
    );
    let bearer = format!("Bearer {}", body_member(&answer.body, "token")?);
    let config = Request::new(Method::Get, "/api/system/config").authorization(Some(&bearer));
    let bearer_get = measure(|| {
        let r = device.handle(black_box(&config), T, &mut rng);
        black_box(r.status);
    });

    let pairing = AuthenticatorPairing::new(PID, eid, SecretKey::from_b64(AID_PRIVATE)?)?;
    let mut failed = None;
    let ext_token = median_of(201, || {
        let mut one = || -> Result<Duration, Failure> {
            let (body, state) =
                client::start_ext_auth("keymgmt:list", None, None, Some(eid), &mut rng)?;
            let r = device.handle(
                &Request::new(Method::Post, "/api/auth/ext/request").body(body.as_bytes()),
                T,
                &mut rng,
            );
            let authreq = state.authreq_from_response(r.body.as_bytes())?.into_owned();
            let untrusted = UntrustedJwt::parse_authreq(&authreq)?;
            let verified = state.verify_authreq(&untrusted, T)?;
            let epk = state.epk().to_b64();
            let event = Event {
                jti: Cow::Borrowed(verified.jti()),
                scope: Cow::Borrowed(verified.entry(PID).ok_or("no entry")?),
                epk: Cow::Borrowed(&epk),
                exp: verified.exp().as_secs(),
            };
            let approval =
                pairing
                    .open_event(&event, T)?
                    .approve(T, Seconds::new(900), Access::ReadOnly)?;
            let body = state.ext_token_body(&approval.authreply);
            let request = Request::new(Method::Post, "/api/auth/ext/token").body(body.as_bytes());
            let start = Instant::now();
            let r = device.handle(black_box(&request), T, &mut rng);
            let took = start.elapsed();
            if r.status != 200 {
                return Err(format!("ext/token answered {}", r.status).into());
            }
            Ok(took)
        };
        one().unwrap_or_else(|e| {
            failed = Some(e.to_string());
            Duration::ZERO
        })
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok((bearer_get, ext_token))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let eid = PublicKey::from_b64(EID)?;
    let session = SecretKey::from_b64(SESSION_KEY)?;
    let aid = SecretKey::from_b64(AID_PRIVATE)?;

    let x25519 = measure(|| {
        let shared = black_box(&session).diffie_hellman(black_box(&eid));
        black_box(shared.is_ok());
    });

    let state = ExtAuthState::from_secret(session.clone(), Some(eid));
    let verify = measure(|| {
        let ok = UntrustedJwt::parse_authreq(black_box(AUTHREQ))
            .ok()
            .map(|untrusted| {
                state
                    .verify_authreq(&untrusted, UnixTime::from_secs(NOW))
                    .is_ok()
            });
        black_box(ok);
    });

    let untrusted = UntrustedJwt::parse_authreq(AUTHREQ)?;
    let verified = state.verify_authreq(&untrusted, UnixTime::from_secs(NOW))?;
    let sealed = verified.entry(PID).ok_or("no entry for the pid")?;
    let epk = state.epk().to_b64();
    let pairing = AuthenticatorPairing::new(PID, eid, aid)?;
    let event = Event {
        jti: Cow::Borrowed(verified.jti()),
        scope: Cow::Borrowed(sealed),
        epk: Cow::Borrowed(&epk),
        exp: verified.exp().as_secs(),
    };
    let approve = measure(|| {
        let approval = pairing
            .open_event(black_box(&event), UnixTime::from_secs(NOW))
            .and_then(|opened| {
                opened.approve(
                    UnixTime::from_secs(NOW),
                    Seconds::new(900),
                    Access::ReadOnly,
                )
            });
        black_box(approval.is_ok());
    });

    let (bearer_get, ext_token) = device_calls()?;

    println!(
        "{{\"x25519\":{x25519:.0},\"authreq_verify\":{verify:.0},\"authreply_build\":{approve:.0},\"device_bearer_get\":{bearer_get:.0},\"device_ext_token\":{ext_token:.0}}}"
    );
    Ok(())
}
