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
//! time.

use hem_auth_core::{Access, Seconds, UnixTime};
use std::borrow::Cow;
use std::hint::black_box;
use std::time::{Duration, Instant};

use hem_auth_core::authenticator::{AuthenticatorPairing, Event};
use hem_auth_core::client::ExtAuthState;
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::keys::{PublicKey, SecretKey};

const AUTHREQ: &str = "eyJlY2RoIjoieDI1NTE5IiwidHlwIjoiSldUIiwiYWxnIjoiSFMyNTYifQ.eyJpc3MiOiJyY1BGOVhFdnBzRjZ0UFczUFR2YnVDMlVDcUMrMGtDT0p1WC9rZ1kxdVRrPSIsImF1ZCI6IjlQZ1NIUlZJUFdMdno5Z1diQ0lYazg0NzVaZVJod0xDd0c5cGs1aWJ1R009IiwiaWF0IjoxNzg0NzY3NzY0LCJleHAiOjE3ODQ3NzEzNjQsImp0aSI6IkZHVmhhcGRhZCs4YXA5eDZ0MFVRQi8yTzFHL3ZhYml0aXNqWmRRVHhKME09IiwiY3R4IjoiZml4dHVyZS1jdHgiLCJzY29wZSI6eyJTbXVQT04zWDFFZVJoL3JrMlZ0VkZCc3k2UFJxWktsdk1SZ0NOZDZqbkdrPSI6IkE4Yk9UL291MFBOa1RISCsxU3I1NzAwK29yL0ZvQkZ5bFlXVjVJWjhCeFFaa2c1NUVvWEVsZ0JxSVBOVmJwdFFvIn19.Ch2QfHydtkSmCOBwkS7JZg7FxiKUlC8nOx8xeRmzRbg";
const EID: &str = "rcPF9XEvpsF6tPW3PTvbuC2UCqC+0kCOJuX/kgY1uTk=";
const SESSION_KEY: &str = "EIRB7V1s3v6jqDstD4ldb0Q4KaRbQMpi4SL38w4VNmc=";
const AID_PRIVATE: &str = "IOhL/nEsE5+kh0+pyI1Qve5oU/3ClBNDukFGEYkIung=";
const PID: &str = "SmuPON3X1EeRh/rk2VtVFBsy6PRqZKlvMRgCNd6jnGk=";
const NOW: u64 = 1_784_767_770;

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
        exp: verified.exp(),
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

    println!(
        "{{\"x25519\":{x25519:.0},\"authreq_verify\":{verify:.0},\"authreply_build\":{approve:.0}}}"
    );
    Ok(())
}
