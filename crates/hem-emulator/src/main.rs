//! `hem-emulator`: an emulated Encedo HEM on HTTP. See the crate README.
#![forbid(unsafe_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use hem_auth_core::device::ScopePolicy;
use hem_auth_core::keys::PublicKey;
use hem_emulator::{AuthenticatorMode, EmulatorConfig, Faults, DEFAULT_LABEL, DEFAULT_LISTEN};

/// An emulated Encedo HEM: the device API of the external-authenticator protocol over HTTP.
#[derive(Debug, Parser)]
#[command(name = "hem-emulator", version)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value_t = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Keep identity, user key, pairings and the audit log here across restarts.
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// User password; the user key is PBKDF2-HMAC-SHA256(password, eid text, 600 000 rounds).
    #[arg(long, value_name = "PW", conflicts_with = "user_key")]
    password: Option<String>,
    /// User public key (X25519, standard base64).
    #[arg(long, value_name = "B64", value_parser = key)]
    user_key: Option<PublicKey>,
    /// Master public key (X25519, standard base64).
    #[arg(long, value_name = "B64", value_parser = key)]
    master_key: Option<PublicKey>,
    /// Start with the RTC unset: ext/request and ext/token answer 403 until a check-in.
    #[arg(long)]
    rtc_unset: bool,
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
    /// User label (the challenge's `lbl`).
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_LABEL)]
    label: String,
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
}

fn key(text: &str) -> Result<PublicKey, String> {
    PublicKey::from_b64(text).map_err(|_| String::from("not base64 of a 32-byte X25519 key"))
}

impl Cli {
    fn config(self) -> EmulatorConfig {
        let mut faults = Faults::default();
        for fault in self.fault {
            match fault {
                Fault::SkipReplayCheck => faults.skip_replay_check = true,
                Fault::AcceptBadMac => faults.accept_bad_mac = true,
                Fault::Leak500 => faults.leak_500 = true,
                Fault::IgnoreScope => faults.ignore_scope = true,
                Fault::SkipExpiryCheck => faults.skip_expiry_check = true,
            }
        }
        EmulatorConfig {
            listen: self.listen,
            state_dir: self.state,
            password: self.password,
            user_key: self.user_key,
            master_key: self.master_key,
            rtc_unset: self.rtc_unset,
            backend_key: self.backend_key,
            policy: match self.policy {
                Policy::AsApproved => ScopePolicy::AsApproved,
                Policy::RequestedOnly => ScopePolicy::RequestedOnly,
            },
            faults,
            label: self.label,
            broker: self.broker,
            authenticator: self.authenticator,
        }
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
    let config = Cli::parse().config();
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
    let printed = writeln!(out, "hem-emulator listening on {}", emulator.url())
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
