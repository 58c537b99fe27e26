//! The hot paths of hem-auth beside their floor (one X25519) and the peer JWT libraries, in
//! one criterion run so that ratios compare like with like. See `benches/README.md`.
//!
//! Times are this thread's CPU time ([`ThreadCpu`]), not wall time: on a machine shared with
//! other jobs, time spent waiting for a core is not the code's, and wall-clock samples taken
//! minutes apart do not compare.
#![allow(missing_docs, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use cpu_time::ThreadTime;
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hem_auth_benches::{
    access_token, hem_key, unix_now, verify_hem, DeviceBench, FixtureError, Peers, Scenario,
    X25519Baseline, FIXTURE_NOW, TOKEN_KEY,
};

/// Criterion's measurement as the CPU time of the benchmarking thread
/// (`CLOCK_THREAD_CPUTIME_ID`), in nanoseconds.
struct ThreadCpu;

impl Measurement for ThreadCpu {
    type Intermediate = ThreadTime;
    type Value = Duration;

    fn start(&self) -> ThreadTime {
        ThreadTime::now()
    }
    fn end(&self, start: ThreadTime) -> Duration {
        start.elapsed()
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Formats nanoseconds as criterion's wall-time formatter does (no throughputs here).
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, ns: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = match ns {
            ns if ns < 1e3 => (1.0, "ns"),
            ns if ns < 1e6 => (1e-3, "µs"),
            ns if ns < 1e9 => (1e-6, "ms"),
            _ => (1e-9, "s"),
        };
        for v in values {
            *v *= factor;
        }
        unit
    }
    fn scale_throughputs(&self, _: f64, _: &Throughput, _: &mut [f64]) -> &'static str {
        "-"
    }
    fn scale_for_machines(&self, _: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// Inputs prepared per batch for the single-use operations (each is used 5 s after its own
/// issue, see `hem_auth_benches::INPUT_STEP_SECS`).
const BATCH: u64 = 32;

/// Times `op` on inputs made by `prepare`, which is not timed: for operations whose input is
/// single use (a pending nonce is consumed).
fn timed_batches(
    iters: u64,
    fx: &mut DeviceBench,
    prepare: fn(&mut DeviceBench) -> Result<String, FixtureError>,
    op: fn(&mut DeviceBench, &[u8]) -> Result<usize, FixtureError>,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        let inputs: Vec<String> = (0..n)
            .map(|_| prepare(fx).expect("input prepared"))
            .collect();
        let start = ThreadTime::now();
        for input in &inputs {
            black_box(op(fx, black_box(input.as_bytes())).expect("operation succeeds"));
        }
        total += start.elapsed();
        left -= n;
    }
    total
}

fn x25519(c: &mut Criterion<ThreadCpu>) {
    let base = X25519Baseline::new();
    let mut g = c.benchmark_group("x25519");
    g.bench_function("diffie_hellman", |b| {
        b.iter(|| base.diffie_hellman(black_box(base.peer())))
    });
    g.finish();
}

fn token_verify(c: &mut Criterion<ThreadCpu>) {
    let token = access_token(unix_now());
    let peers = Peers::new(&TOKEN_KEY);
    // All three accept the token before anything is timed.
    let key = hem_key();
    let ours = verify_hem(&token, &key, unix_now());
    assert!(ours.is_ok());
    assert_eq!(peers.verify_jsonwebtoken(&token), ours);
    assert_eq!(peers.verify_jwt_simple(&token), ours);

    let mut g = c.benchmark_group("token_verify");
    g.bench_function("hem-auth-core", |b| {
        b.iter(|| verify_hem(black_box(&token), black_box(&key), unix_now()))
    });
    g.bench_function("jsonwebtoken", |b| {
        b.iter(|| peers.verify_jsonwebtoken(black_box(&token)))
    });
    g.bench_function("jwt-simple", |b| {
        b.iter(|| peers.verify_jwt_simple(black_box(&token)))
    });
    g.finish();
}

fn client(c: &mut Criterion<ThreadCpu>) {
    let s = Scenario::new();
    assert_eq!(s.client_verify(&s.authreq, FIXTURE_NOW + 10), Some(1));
    let mut g = c.benchmark_group("authreq_verify");
    g.bench_function("client", |b| {
        b.iter(|| s.client_verify(black_box(&s.authreq), FIXTURE_NOW + 10))
    });
    g.finish();
}

fn authenticator(c: &mut Criterion<ThreadCpu>) {
    let s = Scenario::new();
    let (jti, epk) = s.event();
    assert!(s.approve(&jti, &epk, FIXTURE_NOW + 5).is_some());
    let mut g = c.benchmark_group("approve");
    g.bench_function("authenticator", |b| {
        b.iter(|| s.approve(black_box(&jti), black_box(&epk), FIXTURE_NOW + 5))
    });
    g.finish();
}

fn seal(c: &mut Criterion<ThreadCpu>) {
    let s = Scenario::new();
    assert_eq!(
        s.open_sealed(&s.sealed),
        Some(hem_auth_benches::FIXTURE_SCOPE.len())
    );
    let mut g = c.benchmark_group("seal");
    g.bench_function("open", |b| b.iter(|| s.open_sealed(black_box(&s.sealed))));
    g.finish();
}

fn device(c: &mut Criterion<ThreadCpu>) {
    let mut fx = DeviceBench::new(1).expect("device with one pairing");
    let mut g = c.benchmark_group("ext_token");
    g.bench_function("cached", |b| {
        b.iter_custom(|iters| {
            timed_batches(
                iters,
                &mut fx,
                DeviceBench::prepare_ext_token,
                DeviceBench::ext_token,
            )
        })
    });
    g.bench_function("cold", |b| {
        b.iter_custom(|iters| {
            timed_batches(
                iters,
                &mut fx,
                DeviceBench::prepare_ext_token,
                DeviceBench::ext_token_cold,
            )
        })
    });
    g.finish();

    let mut g = c.benchmark_group("ext_request");
    for (name, pairings) in [("1_pairing", 1), ("8_pairings", 8)] {
        let mut fx = DeviceBench::new(pairings).expect("device with its pairings");
        let body = fx.ext_request_body().to_vec();
        g.bench_function(name, |b| {
            b.iter(|| fx.ext_request(black_box(&body)).expect("authreq issued"))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("login");
    g.bench_function("verify", |b| {
        b.iter_custom(|iters| {
            timed_batches(
                iters,
                &mut fx,
                DeviceBench::prepare_login,
                DeviceBench::login,
            )
        })
    });
    g.finish();
}

fn config() -> Criterion<ThreadCpu> {
    // The machine is shared: more samples and a longer window than criterion's defaults.
    Criterion::default()
        .with_measurement(ThreadCpu)
        .sample_size(200)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6))
}

criterion_group! {
    name = hot_paths;
    config = config();
    targets = x25519, token_verify, device, client, authenticator, seal
}
criterion_main!(hot_paths);
