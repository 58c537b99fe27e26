//! The default target: an emulated device started in process on a free loopback port.
//!
//! It starts with its RTC unset and knows a check-in backend key the runner generated, so the
//! suite can walk the RTC-unset → check-in → retry path (spec §9.4, §9.5), and serves its
//! control API on another free port, so the cases that need time run at once.

use hem_auth_core::keys::SecretKey;
use hem_emulator::{AuthenticatorMode, EmulatorConfig, Faults, RunningEmulator, Tls};

use crate::ctx::Settings;
use crate::target::{ClientOptions, Target};

/// The password of the embedded emulator's user.
pub const DEFAULT_PASSWORD: &str = "conformance";

/// How the runner logs in to the embedded emulator.
#[derive(Clone, Debug)]
pub enum Login {
    /// A password (PBKDF2, 600 000 rounds, on both sides: the real client path).
    Password(String),
    /// The user's key directly (fast; for debug-build tests).
    Key(SecretKey),
}

/// A running embedded emulator and the settings that let the runner use it.
#[derive(Debug)]
pub struct Embedded {
    /// The emulator; dropping it stops it.
    pub emulator: RunningEmulator,
    /// Password or user key, and the check-in backend key.
    pub settings: Settings,
}

impl Embedded {
    /// Starts an emulator on `127.0.0.1:0` with the RTC unset, a fresh backend key, `login`,
    /// and `faults` (all off for a real run).
    pub fn start(login: Login, faults: Faults) -> Result<Self, String> {
        Self::start_with(login, faults, None)
    }

    /// [`Embedded::start`], serving HTTPS with `tls` (see [`hem_emulator::Tls`]).
    pub fn start_with(login: Login, faults: Faults, tls: Option<Tls>) -> Result<Self, String> {
        let backend = SecretKey::generate(&mut rand_core::OsRng);
        let config = EmulatorConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            rtc_unset: true,
            backend_key: Some(backend.public_key()),
            faults,
            tls,
            control: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
            ..EmulatorConfig::default()
        };
        let settings = Settings {
            backend_secret: Some(backend),
            ..Settings::default()
        };
        Self::boot(config, settings, login)
    }

    /// Starts an emulator on `127.0.0.1:0` that also serves the notify broker and the check-in
    /// backend (the broker holds the backend key), with a virtual phone in `authenticator`
    /// mode, the RTC unset and `login`: the target of `--via-broker` without `--target`.
    pub fn start_broker(login: Login, authenticator: AuthenticatorMode) -> Result<Self, String> {
        let config = EmulatorConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            rtc_unset: true,
            broker: true,
            authenticator: Some(authenticator),
            control: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
            ..EmulatorConfig::default()
        };
        Self::boot(config, Settings::default(), login)
    }

    /// Gives the emulator the user's login and starts it.
    fn boot(
        mut config: EmulatorConfig,
        mut settings: Settings,
        login: Login,
    ) -> Result<Self, String> {
        match login {
            Login::Password(p) => {
                config.password = Some(p.clone());
                settings.password = Some(p);
            }
            Login::Key(k) => {
                config.user_key = Some(k.public_key());
                settings.user_secret = Some(k);
            }
        }
        let emulator =
            hem_emulator::start(config).map_err(|e| format!("starting the emulator: {e}"))?;
        settings.control = emulator.control_url();
        Ok(Embedded { emulator, settings })
    }

    /// A client for the emulator; over HTTPS it trusts the emulator's certificate.
    pub fn target(&self) -> Result<Target, String> {
        Target::with_options(&self.emulator.url(), &self.client_options())
    }

    /// The client options that reach the emulator: its certificate trusted over HTTPS.
    pub fn client_options(&self) -> ClientOptions {
        ClientOptions {
            ca_pem: self.emulator.certificate_pem().map(String::from),
            ..ClientOptions::default()
        }
    }
}
