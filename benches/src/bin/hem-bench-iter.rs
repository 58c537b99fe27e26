//! Runs one hot path N times, for instruction counting under callgrind (`benches/callgrind.sh`):
//! `hem-bench-iter <bench-name> <iterations>`, where the name is a criterion bench id such as
//! `token_verify/hem-auth-core`. Fixtures are built before the loop; the script subtracts a
//! run of 0 iterations, so only the loop is counted.

use std::hint::black_box;
use std::process::ExitCode;

use hem_auth_benches::{
    access_token, unix_now, verify_hem, Peers, Scenario, X25519Baseline, FIXTURE_NOW, TOKEN_KEY,
};

/// Every bench this driver knows, in the README's order.
const NAMES: &[&str] = &[
    "x25519/diffie_hellman",
    "token_verify/hem-auth-core",
    "token_verify/jsonwebtoken",
    "token_verify/jwt-simple",
    "authreq_verify/broker",
    "approve/authenticator",
    "seal/open",
];

fn run(name: &str, n: u64) -> Option<()> {
    match name {
        "x25519/diffie_hellman" => {
            let base = X25519Baseline::new();
            for _ in 0..n {
                black_box(base.diffie_hellman(black_box(base.peer())));
            }
        }
        "token_verify/hem-auth-core" => {
            let now = unix_now();
            let token = access_token(now);
            for _ in 0..n {
                black_box(verify_hem(black_box(&token), &TOKEN_KEY, unix_now()).ok()?);
            }
        }
        "token_verify/jsonwebtoken" => {
            let token = access_token(unix_now());
            let peers = Peers::new(&TOKEN_KEY);
            for _ in 0..n {
                black_box(peers.verify_jsonwebtoken(black_box(&token)).ok()?);
            }
        }
        "token_verify/jwt-simple" => {
            let token = access_token(unix_now());
            let peers = Peers::new(&TOKEN_KEY);
            for _ in 0..n {
                black_box(peers.verify_jwt_simple(black_box(&token)).ok()?);
            }
        }
        "authreq_verify/broker" => {
            let s = Scenario::new();
            for _ in 0..n {
                black_box(s.broker_verify(black_box(&s.authreq), FIXTURE_NOW + 10)?);
            }
        }
        "approve/authenticator" => {
            let s = Scenario::new();
            let (jti, epk) = s.event();
            for _ in 0..n {
                black_box(s.approve(black_box(&jti), &epk, FIXTURE_NOW + 5)?);
            }
        }
        "seal/open" => {
            let s = Scenario::new();
            for _ in 0..n {
                black_box(s.open_sealed(black_box(&s.sealed))?);
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
