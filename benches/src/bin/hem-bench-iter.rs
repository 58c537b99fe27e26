//! Runs one hot path N times, for instruction counting under callgrind (`benches/callgrind.sh`):
//! `hem-bench-iter <bench-name> <iterations>`, where the name is a criterion bench id such as
//! `token_verify/hem-auth-core`; `--list` prints the names.
//!
//! Each measured call goes through [`timed`], which is never inlined, so that callgrind can
//! count inside it alone (`--toggle-collect=hem_bench_iter::timed*`): fixtures and the inputs
//! of single-use operations are built outside it and not counted.

use std::hint::black_box;
use std::process::ExitCode;

use hem_auth_benches::{
    access_token, hem_key, unix_now, verify_hem, DeviceBench, FixtureError, Peers, Scenario,
    X25519Baseline, FIXTURE_NOW, TOKEN_KEY,
};

use hem_auth_benches::BENCH_NAMES as NAMES;

/// The measured call: everything callgrind counts happens in here.
#[inline(never)]
fn timed<R>(op: impl FnOnce() -> R) -> R {
    op()
}

/// Runs a single-use operation `n` times on inputs made (outside [`timed`]) by `prepare`.
fn device_loop(
    fx: &mut DeviceBench,
    n: u64,
    prepare: fn(&mut DeviceBench) -> Result<String, FixtureError>,
    op: fn(&mut DeviceBench, &[u8]) -> Result<usize, FixtureError>,
) -> Option<()> {
    for _ in 0..n {
        let input = prepare(fx).ok()?;
        black_box(timed(|| op(fx, black_box(input.as_bytes()))).ok()?);
    }
    Some(())
}

fn run(name: &str, n: u64) -> Option<()> {
    match name {
        "x25519/diffie_hellman" => {
            let base = X25519Baseline::new();
            for _ in 0..n {
                black_box(timed(|| base.diffie_hellman(black_box(base.peer()))));
            }
        }
        "token_verify/hem-auth-core" => {
            let token = access_token(unix_now());
            let key = hem_key();
            for _ in 0..n {
                black_box(timed(|| verify_hem(black_box(&token), &key, unix_now())).ok()?);
            }
        }
        "token_verify/jsonwebtoken" => {
            let token = access_token(unix_now());
            let peers = Peers::new(&TOKEN_KEY);
            for _ in 0..n {
                black_box(timed(|| peers.verify_jsonwebtoken(black_box(&token))).ok()?);
            }
        }
        "token_verify/jwt-simple" => {
            let token = access_token(unix_now());
            let peers = Peers::new(&TOKEN_KEY);
            for _ in 0..n {
                black_box(timed(|| peers.verify_jwt_simple(black_box(&token))).ok()?);
            }
        }
        "ext_token/cached" | "ext_token/cold" | "login/verify" => {
            let mut fx = DeviceBench::new(1).ok()?;
            let (prepare, op): (fn(&mut _) -> _, fn(&mut _, &_) -> _) = match name {
                "ext_token/cached" => (DeviceBench::prepare_ext_token, DeviceBench::ext_token),
                "ext_token/cold" => (DeviceBench::prepare_ext_token, DeviceBench::ext_token_cold),
                _ => (DeviceBench::prepare_login, DeviceBench::login),
            };
            device_loop(&mut fx, n, prepare, op)?;
        }
        "ext_request/1_pairing" | "ext_request/8_pairings" => {
            let pairings = if name.ends_with("8_pairings") { 8 } else { 1 };
            let mut fx = DeviceBench::new(pairings).ok()?;
            let body = fx.ext_request_body().to_vec();
            for _ in 0..n {
                black_box(timed(|| fx.ext_request(black_box(&body))).ok()?);
            }
        }
        "authreq_verify/client" => {
            let s = Scenario::new();
            for _ in 0..n {
                black_box(timed(|| {
                    s.client_verify(black_box(&s.authreq), FIXTURE_NOW + 10)
                })?);
            }
        }
        "approve/authenticator" => {
            let s = Scenario::new();
            let (jti, epk) = s.event();
            for _ in 0..n {
                black_box(timed(|| s.approve(black_box(&jti), &epk, FIXTURE_NOW + 5))?);
            }
        }
        "seal/open" => {
            let s = Scenario::new();
            for _ in 0..n {
                black_box(timed(|| s.open_sealed(black_box(&s.sealed)))?);
            }
        }
        _ => return None,
    }
    Some(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--list") {
        for name in NAMES {
            println!("{name}");
        }
        return ExitCode::SUCCESS;
    }
    let (Some(name), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse().ok())) else {
        eprintln!("usage: hem-bench-iter <bench-name> <iterations> | --list");
        return ExitCode::from(2);
    };
    match run(name, n) {
        Some(()) => ExitCode::SUCCESS,
        None => {
            eprintln!("unknown bench {name}, or its operation failed");
            ExitCode::FAILURE
        }
    }
}
