//! `hem-emulator`: an emulated Encedo HEM on HTTP or HTTPS. See the crate README.
#![forbid(unsafe_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use hem_auth_core::device::ScopePolicy;
use hem_auth_core::keys::PublicKey;
use hem_emulator::secret::{read_arg, SecretFlag};
use hem_emulator::{
    AuthenticatorMode, ConnectionLimits, EmulatorConfig, Faults, Tls, DEFAULT_LABEL, DEFAULT_LISTEN,
};

/// An emulated Encedo HEM: the device API of the external-authenticator protocol over HTTP
/// (or HTTPS with --tls).
#[derive(Debug, Parser)]
#[command(name = "hem-emulator", version, after_help = SECRETS_HELP)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value_t = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Keep identity, user key, pairings and the audit log here across restarts.
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// User password; the user key is PBKDF2-HMAC-SHA256(password, eid text, 600 000 rounds).
    /// Visible to other local users: prefer --password-file or HEM_PASSWORD (see below).
    #[arg(long, value_name = "PW", conflicts_with = "user_key")]
    password: Option<String>,
    /// Read the user password from FILE (the whole file, less one final line ending).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["password", "user_key"])]
    password_file: Option<PathBuf>,
    /// User public key (X25519, standard base64).
    #[arg(long, value_name = "B64", value_parser = key)]
    user_key: Option<PublicKey>,
    /// Master public key (X25519, standard base64).
    #[arg(long, value_name = "B64", value_parser = key)]
    master_key: Option<PublicKey>,
    /// Start with the RTC unset: ext/request and ext/token answer 403 until a check-in.
    #[arg(long)]
    rtc_unset: bool,
    /// Trusted time (`trusted_ts`, spec §9.4): the password login (GET/POST /api/auth/token)
    /// also answers 403 while the RTC is unset.
    #[arg(long)]
    trusted_ts: bool,
    /// Serve the control API for test harnesses (clock, authenticator mode, reboot, factory
    /// reset, request log; see the README) over plain HTTP on ADDR, a port of its own.
    #[arg(long, value_name = "ADDR")]
    control: Option<SocketAddr>,
    /// Public key of the emulated check-in backend (X25519, standard base64).
    #[arg(long, value_name = "B64", value_parser = key, conflicts_with = "broker")]
    backend_key: Option<PublicKey>,
    /// Also serve the notify broker (/notify/...) and the check-in backend (/checkin) on the
    /// same port; the device's backend key is then the broker's (kept in the state directory).
    #[arg(long)]
    broker: bool,
    /// Run a virtual authenticator (phone stand-in) against the broker: approve[:SECONDS][:rw]
    /// (default 900 s), deny, or prompt (ask on the terminal). Needs --broker.
    #[arg(long, value_name = "MODE", requires = "broker")]
    authenticator: Option<AuthenticatorMode>,
    /// How ext/token treats the approved scope.
    #[arg(long, value_enum, default_value_t = Policy::AsApproved)]
    policy: Policy,
    /// Opt-in policy (spec §8.7): cap every minted token's exp at now + SECONDS (any login).
    /// Off by default, as on the firmware.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    max_token_lifetime: Option<u64>,
    /// Opt-in policy (spec §8.7): refuse (401) the tokens of an authenticator once it is
    /// unpaired. Off by default, as on the firmware.
    #[arg(long)]
    revoke_on_unpair: bool,
    /// Serve HTTPS, as a real HEM does, with a self-signed certificate for localhost,
    /// 127.0.0.1 and ::1 made at first start (kept in the state directory as tls-cert.pem and
    /// tls-key.pem; a new one each start without --state). Clients then trust tls-cert.pem or
    /// turn verification off.
    #[arg(long)]
    tls: bool,
    /// Serve HTTPS with this certificate chain (PEM, leaf first) instead; needs --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// The private key of --cert (PEM: PKCS #8, PKCS #1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// User label (the challenge's `lbl`).
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_LABEL)]
    label: String,
    /// Seconds from a request's first byte until its header must be complete; bytes arriving
    /// meanwhile do not extend it (spec §9.6).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = LIMITS.header_timeout.as_secs(),
        value_parser = positive(),
        help_heading = "Connection limits"
    )]
    header_timeout: u64,
    /// Seconds from a request's first byte until its body must be complete (else 408).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = LIMITS.request_timeout.as_secs(),
        value_parser = positive(),
        help_heading = "Connection limits"
    )]
    request_timeout: u64,
    /// Seconds a connection with no request in progress may stay silent.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = LIMITS.idle_timeout.as_secs(),
        value_parser = positive(),
        help_heading = "Connection limits"
    )]
    idle_timeout: u64,
    /// Connections open at once from one client address; more are closed at once.
    #[arg(
        long,
        value_name = "N",
        default_value_t = LIMITS.max_connections_per_address as u64,
        value_parser = positive(),
        help_heading = "Connection limits"
    )]
    max_connections_per_address: u64,
    /// Connections open at once in all; more are closed at once.
    #[arg(
        long,
        value_name = "N",
        default_value_t = LIMITS.max_connections as u64,
        value_parser = positive(),
        help_heading = "Connection limits"
    )]
    max_connections: u64,
    /// Test-only misbehaviour (repeatable); never use it for anything but testing a test suite.
    #[arg(long, value_enum, value_name = "FAULT", hide = true)]
    fault: Vec<Fault>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Policy {
    /// The token carries the scope the authenticator approved (firmware behaviour).
    AsApproved,
    /// The approved scope must be the requested one (`:rw` aside).
    RequestedOnly,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Fault {
    SkipReplayCheck,
    AcceptBadMac,
    Leak500,
    IgnoreScope,
    SkipExpiryCheck,
    NeverExpireNonces,
    KeepBootKeys,
    RandomTokenJti,
}

/// The spec's connection limits, the defaults of the limit flags.
const LIMITS: ConnectionLimits = ConnectionLimits::DEFAULT;

/// A limit flag's parser: a whole number from 1 on.
fn positive() -> clap::builder::RangedU64ValueParser {
    clap::value_parser!(u64).range(1..)
}

/// A count from the command line; beyond `usize` means no limit in practice.
fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The `--help` paragraph on secrets.
const SECRETS_HELP: &str = "\
Secrets: the password can be given as --password-file FILE, or in the environment variable \
HEM_PASSWORD, so that it is not on the command line, where every local user can read it \
(ps, /proc/<pid>/cmdline); --password PW still works and prints a warning. --password and \
--password-file exclude each other and win over HEM_PASSWORD, which is read only when \
neither is given (nor --user-key). A password file holds the password alone (one final line \
ending is ignored); a missing, unreadable or empty file is an error. The keys given as flags \
(--user-key, --master-key, --backend-key) are public keys, not secrets.";

/// `--password`, `--password-file`, `HEM_PASSWORD`.
const PASSWORD: SecretFlag<'static> = SecretFlag {
    name: "password",
    env: Some("HEM_PASSWORD"),
};

fn key(text: &str) -> Result<PublicKey, String> {
    PublicKey::from_b64(text).map_err(|_| String::from("not base64 of a 32-byte X25519 key"))
}

impl Cli {
    /// The configuration; `Err` for a password that cannot be read.
    fn config(mut self) -> Result<EmulatorConfig, String> {
        // The environment is not read when --user-key chose another login key.
        let flag = SecretFlag {
            env: PASSWORD.env.filter(|_| self.user_key.is_none()),
            ..PASSWORD
        };
        // Moved out of its wiping buffer into the configuration, which `hem_emulator::start`
        // wipes: no copy.
        let password = read_arg(
            "hem-emulator",
            &flag,
            self.password.take(),
            self.password_file.as_deref(),
        )?;
        let mut faults = Faults::default();
        for fault in self.fault {
            match fault {
                Fault::SkipReplayCheck => faults.skip_replay_check = true,
                Fault::AcceptBadMac => faults.accept_bad_mac = true,
                Fault::Leak500 => faults.leak_500 = true,
                Fault::IgnoreScope => faults.ignore_scope = true,
                Fault::SkipExpiryCheck => faults.skip_expiry_check = true,
                Fault::NeverExpireNonces => faults.never_expire_nonces = true,
                Fault::KeepBootKeys => faults.keep_boot_keys = true,
                Fault::RandomTokenJti => faults.random_token_jti = true,
            }
        }
        let tls = match (self.cert, self.key) {
            (Some(cert), Some(key)) => Some(Tls::Pem { cert, key }),
            _ if self.tls => Some(Tls::SelfSigned),
            _ => None,
        };
        Ok(EmulatorConfig {
            tls,
            listen: self.listen,
            state_dir: self.state,
            password,
            user_key: self.user_key,
            master_key: self.master_key,
            rtc_unset: self.rtc_unset,
            trusted_ts: self.trusted_ts,
            control: self.control,
            backend_key: self.backend_key,
            policy: match self.policy {
                Policy::AsApproved => ScopePolicy::AsApproved,
                Policy::RequestedOnly => ScopePolicy::RequestedOnly,
            },
            max_token_lifetime: self.max_token_lifetime,
            revoke_on_unpair: self.revoke_on_unpair,
            faults,
            label: self.label,
            broker: self.broker,
            authenticator: self.authenticator,
            limits: ConnectionLimits {
                header_timeout: Duration::from_secs(self.header_timeout),
                request_timeout: Duration::from_secs(self.request_timeout),
                idle_timeout: Duration::from_secs(self.idle_timeout),
                max_connections_per_address: count(self.max_connections_per_address),
                max_connections: count(self.max_connections),
            },
        })
    }
}

/// Waits for Ctrl-C or SIGTERM.
fn wait_for_signal() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    })
}

fn main() -> ExitCode {
    let config = match Cli::parse().config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("hem-emulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    if config.faults.any() {
        eprintln!("hem-emulator: TEST FAULTS ON: {:?}", config.faults);
    }
    let emulator = match hem_emulator::start(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("hem-emulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    let control = emulator
        .control_url()
        .map(|url| format!(" (control API on {url})"))
        .unwrap_or_default();
    let printed = writeln!(out, "hem-emulator listening on {}{control}", emulator.url())
        .and_then(|()| out.flush())
        .and_then(|()| writeln!(out, "{}", emulator.eid()))
        .and_then(|()| out.flush());
    drop(out);
    if let Err(e) = printed {
        eprintln!("hem-emulator: stdout: {e}");
    }
    let waited = wait_for_signal();
    emulator.stop();
    match waited {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hem-emulator: waiting for a signal: {e}");
            ExitCode::FAILURE
        }
    }
}
