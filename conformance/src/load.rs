//! `hem-conformance load`: full external-authenticator logins under concurrency (issue 7).
//!
//! Each of `--clients` threads runs logins back to back for `--duration` seconds against the
//! target (by default an emulator started in process). One login is the whole flow of spec
//! §5 with the notify broker left out (the phone's code runs in process and is handed the
//! authreq entry directly):
//!
//! 1. the client draws a broker session key and posts `ext/request` (the device: one X25519);
//! 2. the client verifies the authreq (one X25519);
//! 3. the phone opens its sealed scope and approves (one X25519, for the broker MAC);
//! 4. the client posts the authreply to `ext/token` and gets a token;
//! 5. one bearer call with it (`GET /api/keymgmt/list`).
//!
//! It reports logins per second and the p50/p99 latency of one login, beside the bound that
//! X25519 alone sets on this machine: the device and the client each need one per login, so
//! with every core busy on nothing else, `cores / (2 × one X25519)` logins per second. (The
//! phone's X25519 and the client's key generation also run here in process; that bound leaves
//! them out, as the issue states it.)
//!
//! Setup logs in as the user (`--user-key`, or `--password` for PBKDF2, or the embedded
//! emulator's own key), pairs one authenticator, and against an external target unpairs it at
//! the end.

use hem_auth_core::{Access, UnixTime};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use hem_auth_core::authenticator::{
    reply_to_pairing, AuthenticatorPairing, Event, UnverifiedPairingRequest, PERIODS,
};
use hem_auth_core::client::{self, LoginChallenge, UnverifiableAccessToken};
use hem_auth_core::codec;
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::keys::{PublicKey, SecretKey};
use hem_emulator::{EmulatorConfig, RunningEmulator};

use crate::target::{Auth, Response, Target};

/// The scope every load login asks for, and the bearer call that uses it.
pub const LOAD_SCOPE: &str = "keymgmt:list";
const BEARER_PATH: &str = "/api/keymgmt/list";

/// Full external-authenticator logins (request, approve, token, one bearer call) from
/// concurrent clients: flows per second and p50/p99 latency, beside the bound X25519 sets.
#[derive(Parser, Debug)]
#[command(name = "hem-conformance load")]
pub struct LoadArgs {
    /// Concurrent clients, each running logins back to back.
    #[arg(long, default_value_t = 1, value_name = "N")]
    clients: usize,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 10.0, value_name = "S")]
    duration: f64,
    /// Base URL of an external device or emulator; without it, an emulator in process.
    /// Setup pairs an authenticator there (and unpairs it at the end).
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// Accept any TLS certificate (self-signed devices).
    #[arg(long)]
    insecure: bool,
    /// The user's X25519 private key (standard base64) for the setup login. Prefer
    /// --user-key-file or HEM_USER_KEY: a command line is visible to other local users.
    #[arg(long, value_name = "B64")]
    user_key: Option<String>,
    /// Read the user's private key from FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "user_key")]
    user_key_file: Option<std::path::PathBuf>,
    /// The user's password for the setup login (PBKDF2, 600 000 rounds), instead of
    /// --user-key. Prefer --password-file or HEM_PASSWORD.
    #[arg(long, value_name = "PASSWORD")]
    password: Option<String>,
    /// Read the user's password from FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "password")]
    password_file: Option<std::path::PathBuf>,
}

impl LoadArgs {
    /// Fills `--user-key` and `--password` from their file forms or `HEM_USER_KEY` /
    /// `HEM_PASSWORD` (the flags win; see `hem-conformance --help`), warning on stderr for a
    /// secret given on the command line.
    pub fn read_secrets(&mut self) -> Result<(), String> {
        use hem_emulator::secret::{read_arg, SecretFlag};
        let program = "hem-conformance load";
        let user_key = SecretFlag {
            name: "user-key",
            env: Some("HEM_USER_KEY"),
        };
        let password = SecretFlag {
            name: "password",
            env: Some("HEM_PASSWORD"),
        };
        self.user_key = read_arg(
            program,
            &user_key,
            self.user_key.take(),
            self.user_key_file.as_deref(),
        )?;
        self.password = read_arg(
            program,
            &password,
            self.password.take(),
            self.password_file.as_deref(),
        )?;
        Ok(())
    }
}

/// Runs `hem-conformance load` with its parsed arguments: reads the secrets, runs, prints
/// the report; exit status 0 when every flow passed, 1 when one failed, 2 on a setup error.
pub fn run_cli(mut args: LoadArgs) -> ExitCode {
    if let Err(e) = args.read_secrets() {
        eprintln!("hem-conformance load: {e}");
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(report) => {
            print!("{report}");
            if report.failed == 0 && report.ok > 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("hem-conformance load: {e}");
            ExitCode::from(2)
        }
    }
}

/// What a load run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Where it ran.
    pub target: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Logins that completed (token issued and accepted).
    pub ok: u64,
    /// Logins that failed, and the first failure.
    pub failed: u64,
    /// The first failure's description.
    pub first_error: Option<String>,
    /// Latency of one login: median.
    pub p50: Duration,
    /// Latency of one login: 99th percentile.
    pub p99: Duration,
    /// One X25519 on this machine, measured before the run.
    pub x25519: Duration,
    /// Cores available to this process.
    pub cores: usize,
}

impl LoadReport {
    /// Completed logins per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The logins per second that X25519 alone allows here: the device and the client each
    /// need one per login.
    pub fn x25519_bound(&self) -> f64 {
        self.cores as f64 / (2.0 * self.x25519.as_secs_f64())
    }
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        writeln!(
            f,
            "hem-conformance load: {} clients for {:.1} s against {}",
            self.clients,
            self.elapsed.as_secs_f64(),
            self.target
        )?;
        writeln!(f, "flows       {} ok, {} failed", self.ok, self.failed)?;
        if let Some(e) = &self.first_error {
            writeln!(f, "first error {e}")?;
        }
        writeln!(f, "rate        {:.1} flows/s", self.rate())?;
        writeln!(
            f,
            "latency     p50 {:.2} ms, p99 {:.2} ms",
            ms(self.p50),
            ms(self.p99)
        )?;
        writeln!(
            f,
            "X25519      {:.1} µs here: at most {:.0} flows/s on {} cores (device and client one each)",
            self.x25519.as_secs_f64() * 1e6,
            self.x25519_bound(),
            self.cores
        )
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn describe(what: &str, e: impl std::fmt::Debug) -> String {
    format!("{what}: {e:?}")
}

fn expect_ok(what: &str, r: Result<Response, crate::case::Abort>) -> Result<Response, String> {
    let r = r.map_err(|e| describe(what, e))?;
    if r.status == 200 {
        Ok(r)
    } else {
        Err(format!("{what}: status {} {}", r.status, r.body_text()))
    }
}

/// The device, the paired phone and what the logins share.
struct Setup {
    target_base: String,
    insecure: bool,
    eid: PublicKey,
    phone: AuthenticatorPairing,
}

/// The user's key: given, or derived from the password over the device's eid (PBKDF2).
fn resolve_user(
    target: &Target,
    key: Option<SecretKey>,
    password: Option<&str>,
) -> Result<SecretKey, String> {
    match (key, password) {
        (Some(k), _) => Ok(k),
        (None, Some(p)) => {
            let challenge = expect_ok(
                "GET /api/auth/token",
                target.get("/api/auth/token", Auth::None),
            )?;
            let challenge =
                LoginChallenge::parse(&challenge.body).map_err(|e| describe("challenge", e))?;
            Ok(client::derive_user_key(p, challenge.eid_text()))
        }
        (None, None) => Err("--user-key or --password is needed with --target".into()),
    }
}

/// A password-login token for `scope` (the setup's pairing and the teardown's unpairing).
fn user_token(target: &Target, user: &SecretKey, scope: &str) -> Result<String, String> {
    let now = unix_now();
    let challenge = expect_ok(
        "GET /api/auth/token",
        target.get("/api/auth/token", Auth::None),
    )?;
    let challenge = LoginChallenge::parse(&challenge.body).map_err(|e| describe("challenge", e))?;
    let ejwt = client::build_login(
        user,
        &challenge,
        scope,
        UnixTime::from_secs(now),
        UnixTime::from_secs(now + 3600),
        None,
    )
    .map_err(|e| describe("login", e))?;
    let token = expect_ok(
        "POST /api/auth/token",
        target.post(
            "/api/auth/token",
            client::login_body(&ejwt).as_bytes(),
            Auth::None,
        ),
    )?;
    let token =
        UnverifiableAccessToken::from_response(&token.body).map_err(|e| describe("token", e))?;
    Ok(token.token().to_string())
}

/// Pairs one phone with a `system:config` token; returns the eid, the phone and its kid.
fn pair(
    target: &Target,
    user: &SecretKey,
) -> Result<(PublicKey, AuthenticatorPairing, String), String> {
    let mut rng = rand_core::OsRng;
    let now = unix_now();
    let token = user_token(target, user, "system:config")?;
    let (body, state) = client::start_pairing(None, &mut rng);
    let init = expect_ok(
        "POST /api/auth/ext/init",
        target.post("/api/auth/ext/init", body.as_bytes(), Auth::Bearer(&token)),
    )?;
    let request = state
        .verify_init_response(&init.body, UnixTime::from_secs(now))
        .map_err(|e| describe("ext/init", e))?;
    let seen =
        UnverifiedPairingRequest::parse(request.request()).map_err(|e| describe("request", e))?;
    let eid = *seen.eid();
    let aid = SecretKey::generate(&mut rng);
    let reply = reply_to_pairing(&aid, &seen, "hem-conformance load", "load")
        .map_err(|e| describe("reply", e))?;
    let mut pid = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rng, &mut pid);
    let pid = codec::encode_std(&pid);
    let validate = expect_ok(
        "POST /api/auth/ext/validate",
        target.post(
            "/api/auth/ext/validate",
            state.validate_body(&pid, &reply.reply).as_bytes(),
            Auth::Bearer(&token),
        ),
    )?;
    let kid = state
        .verify_validate_response(&eid, &reply.reply, &validate.body)
        .map_err(|e| describe("ext/validate", e))?;
    let phone = AuthenticatorPairing::new(&pid, eid, aid).map_err(|e| describe("pairing", e))?;
    Ok((eid, phone, kid))
}

/// One full login; returns an error text on any failure.
fn login(target: &Target, setup: &Setup) -> Result<(), String> {
    let mut rng = rand_core::OsRng;
    let (body, session) = client::start_ext_auth(LOAD_SCOPE, None, None, Some(setup.eid), &mut rng)
        .map_err(|e| describe("start", e))?;
    let response = expect_ok(
        "POST /api/auth/ext/request",
        target.post("/api/auth/ext/request", body.as_bytes(), Auth::None),
    )?;
    let now = unix_now();
    let authreq = session
        .authreq_from_response(&response.body)
        .map_err(|e| describe("authreq", e))?;
    let untrusted = UntrustedJwt::parse_authreq(&authreq).map_err(|e| describe("authreq", e))?;
    let verified = session
        .verify_authreq(&untrusted, UnixTime::from_secs(now))
        .map_err(|e| describe("authreq", e))?;
    let sealed = verified
        .entry(setup.phone.pid())
        .ok_or("authreq has no entry for the load phone")?;
    let epk = session.epk().to_b64();
    let event = Event {
        jti: verified.jti().into(),
        scope: sealed.into(),
        epk: epk.as_str().into(),
        exp: verified.exp().as_secs(),
    };
    let approval = setup
        .phone
        .open_event(&event, UnixTime::from_secs(now))
        .and_then(|opened| opened.approve(UnixTime::from_secs(now), PERIODS[0], Access::ReadOnly))
        .map_err(|e| describe("approve", e))?;
    let body = session.ext_token_body(&approval.authreply);
    let response = expect_ok(
        "POST /api/auth/ext/token",
        target.post("/api/auth/ext/token", body.as_bytes(), Auth::None),
    )?;
    let token = session
        .finish(&response.body)
        .map_err(|e| describe("token", e))?;
    expect_ok(
        "bearer call",
        target.get(BEARER_PATH, Auth::Bearer(token.token())),
    )?;
    Ok(())
}

/// One X25519 on this machine, timed over enough calls to be steady.
fn time_x25519() -> Duration {
    let a = SecretKey::from_bytes([0x11; 32]);
    let b = SecretKey::from_bytes([0x22; 32]).public_key();
    let n = 2_000u32;
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(a.diffie_hellman(std::hint::black_box(&b)).ok());
    }
    start.elapsed() / n
}

/// Runs the load described by `args`.
pub fn run(args: &LoadArgs) -> Result<LoadReport, String> {
    if args.clients == 0 || !args.duration.is_finite() || args.duration <= 0.0 {
        return Err("--clients and --duration must be positive".into());
    }
    let user_key = args
        .user_key
        .as_deref()
        .map(|t| SecretKey::from_b64(t).map_err(|e| format!("--user-key: {e}")))
        .transpose()?;
    // Without --target: an emulator in process, with a user key we hold and the clock set.
    let mut emulator: Option<RunningEmulator> = None;
    let (base, user_key) = match &args.target {
        Some(url) => (url.clone(), user_key),
        None => {
            let user = user_key.unwrap_or_else(|| SecretKey::generate(&mut rand_core::OsRng));
            // Every client connects from 127.0.0.1: the per-address cap (spec §9.6) must not
            // turn the load test into a test of that cap.
            // (A client may hold a few pooled connections at once.)
            let wanted = args.clients.saturating_mul(4);
            let default = hem_emulator::ConnectionLimits::DEFAULT;
            let limits = hem_emulator::ConnectionLimits {
                max_connections_per_address: wanted.max(default.max_connections_per_address),
                max_connections: wanted.max(default.max_connections),
                ..default
            };
            let config = EmulatorConfig {
                listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                user_key: Some(user.public_key()),
                limits,
                ..EmulatorConfig::default()
            };
            let e =
                hem_emulator::start(config).map_err(|e| describe("starting the emulator", e))?;
            let url = e.url();
            emulator = Some(e);
            (url, Some(user))
        }
    };
    let setup_target = Target::new(&base, args.insecure)?;
    let user = resolve_user(&setup_target, user_key, args.password.as_deref())?;
    let (eid, phone, kid) = pair(&setup_target, &user)?;
    let setup = Arc::new(Setup {
        target_base: base.clone(),
        insecure: args.insecure,
        eid,
        phone,
    });
    let x25519 = time_x25519();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    let stop = Arc::new(AtomicBool::new(false));
    let duration = Duration::from_secs_f64(args.duration);
    let start = Instant::now();
    let workers: Vec<_> = (0..args.clients)
        .map(|_| {
            let (setup, stop) = (Arc::clone(&setup), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let (mut failed, mut first_error) = (0u64, None);
                let target = match Target::new(&setup.target_base, setup.insecure) {
                    Ok(t) => t,
                    Err(e) => return (latencies, 1, Some(e)),
                };
                while !stop.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    match login(&target, &setup) {
                        Ok(()) => latencies.push(t0.elapsed()),
                        Err(e) => {
                            failed += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                }
                (latencies, failed, first_error)
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let (mut failed, mut first_error) = (0, None);
    for w in workers {
        let (l, f, e) = w
            .join()
            .map_err(|_| "a client thread panicked".to_string())?;
        latencies.extend(l);
        failed += f;
        if first_error.is_none() {
            first_error = e;
        }
    }
    let elapsed = start.elapsed();

    // Leave an external device as it was: unpair the load phone.
    if args.target.is_some() {
        let path = format!("/api/keymgmt/delete/{kid}");
        let unpaired = user_token(&setup_target, &user, "keymgmt:del").and_then(|token| {
            expect_ok("unpair", setup_target.delete(&path, Auth::Bearer(&token)))
        });
        if let Err(e) = unpaired {
            eprintln!("hem-conformance load: warning: the load phone stays paired: {e}");
        }
    }
    drop(emulator);

    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len().saturating_sub(1)) as f64 * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Ok(LoadReport {
        target: match &args.target {
            Some(url) => url.clone(),
            None => format!("the embedded emulator at {base}"),
        },
        clients: args.clients,
        elapsed,
        ok: latencies.len() as u64,
        failed,
        first_error,
        p50: at(0.5),
        p99: at(0.99),
        x25519,
        cores,
    })
}
