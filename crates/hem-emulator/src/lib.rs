#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(clippy::indexing_slicing)]

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hem_auth_core::device::ScopePolicy;
use hem_auth_core::keys::PublicKey;
use tokio::sync::watch;

mod app;
mod audit;
mod broker;
mod clock;
mod conn;
mod control;
mod http;
pub mod secret;
mod store;
mod tls;

pub use app::REQUEST_LOG_ENTRIES;
pub use control::{ClockState, Control, ControlError, RequestRecord};
/// Test-only fault switches (the core's `testing` feature); never set them outside tests.
pub use hem_auth_core::device::testing::Faults;
use hem_authenticator as authenticator;
pub use hem_authenticator::{AuthenticatorMode, ParseModeError, DEFAULT_PERIOD_SECS};
pub use tls::Tls;

/// Default listen address, as the issue states: `127.0.0.1:8080`.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// Default user label (`lbl` of the login challenge, `user` of the configuration).
pub const DEFAULT_LABEL: &str = "hem-emulator";
/// How long [`RunningEmulator::stop`] lets open connections finish before it drops them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How to start an emulator. Build it with struct-update syntax from [`Default`]:
///
/// ```
/// let config = hem_emulator::EmulatorConfig {
///     listen: "127.0.0.1:0".parse().unwrap(),
///     ..Default::default()
/// };
/// # drop(config);
/// ```
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Address to listen on; port 0 picks a free one (see [`RunningEmulator::url`]).
    pub listen: SocketAddr,
    /// Where identity, user key, pairings and the audit log live across restarts; `None`
    /// keeps everything in memory (a new identity on every start).
    pub state_dir: Option<PathBuf>,
    /// User password: the user key is PBKDF2-HMAC-SHA256(password, eid text), 600 000
    /// rounds (spec §7.2). Slow in debug builds; tests use [`EmulatorConfig::user_key`].
    pub password: Option<String>,
    /// User public key (login → `sub` `U`). Ignored when `password` is set.
    pub user_key: Option<PublicKey>,
    /// Master public key (login → `sub` `M`).
    pub master_key: Option<PublicKey>,
    /// Start with the RTC unset: the auth endpoints answer 403 until a check-in.
    pub rtc_unset: bool,
    /// The trusted-time option `trusted_ts` (spec §9.4, §7.1): the password login
    /// (`GET`/`POST /api/auth/token`) also answers 403 while the RTC is unset.
    pub trusted_ts: bool,
    /// Serve the control API ([`Control`]) over plain HTTP on this address (port 0 picks a
    /// free one; see [`RunningEmulator::control_url`]). Never the device port.
    pub control: Option<SocketAddr>,
    /// Public key of the emulated check-in backend (spec §9.5).
    pub backend_key: Option<PublicKey>,
    /// The `ext/token` scope policy.
    pub policy: ScopePolicy,
    /// Opt-in `max-token-lifetime` (spec §8.7): every minted token's `exp` is at most
    /// now + this many seconds. `None` (the firmware's behaviour) by default.
    pub max_token_lifetime: Option<u64>,
    /// Opt-in `revoke-on-unpair` (spec §8.7): a token of an authenticator that is no longer
    /// paired is refused (401). Off (the firmware's behaviour) by default.
    pub revoke_on_unpair: bool,
    /// Test-only misbehaviour; all off by default.
    pub faults: Faults,
    /// The user label (`lbl` of the login challenge, `user` of the configuration).
    pub label: String,
    /// Also serve the notify broker (`/notify/…`) and the check-in backend (`/checkin`) on
    /// the same port. The broker's backend key (kept in the state directory) becomes the
    /// device's `backend_key`, so `backend_key` must be `None`.
    pub broker: bool,
    /// Run a virtual authenticator (a phone stand-in) against the broker; requires `broker`.
    pub authenticator: Option<AuthenticatorMode>,
    /// Deadlines and connection caps (spec §9.6); the defaults are the spec's values.
    pub limits: ConnectionLimits,
    /// Serve HTTPS instead of HTTP, as a real HEM does ([`Tls`]); the URL, the broker's
    /// registration links and the virtual authenticator all use `https://` then.
    /// [`RunningEmulator::certificate_pem`] gives the certificate to trust.
    pub tls: Option<Tls>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: DEFAULT_LISTEN,
            state_dir: None,
            password: None,
            user_key: None,
            master_key: None,
            rtc_unset: false,
            trusted_ts: false,
            control: None,
            backend_key: None,
            policy: ScopePolicy::default(),
            max_token_lifetime: None,
            revoke_on_unpair: false,
            faults: Faults::default(),
            label: String::from(DEFAULT_LABEL),
            broker: false,
            authenticator: None,
            limits: ConnectionLimits::default(),
            tls: None,
        }
    }
}

impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("listen", &self.listen)
            .field("state_dir", &self.state_dir)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("user_key", &self.user_key)
            .field("master_key", &self.master_key)
            .field("rtc_unset", &self.rtc_unset)
            .field("trusted_ts", &self.trusted_ts)
            .field("control", &self.control)
            .field("backend_key", &self.backend_key)
            .field("policy", &self.policy)
            .field("max_token_lifetime", &self.max_token_lifetime)
            .field("revoke_on_unpair", &self.revoke_on_unpair)
            .field("faults", &self.faults)
            .field("label", &self.label)
            .field("broker", &self.broker)
            .field("authenticator", &self.authenticator)
            .field("limits", &self.limits)
            .field("tls", &self.tls)
            .finish()
    }
}

/// The connection limits of spec §9.6, which keep any number of slow or idle clients from
/// starving others and keep memory bounded. Build it with struct-update syntax from
/// [`Default`] (the spec's values); tests use short deadlines.
///
/// A request's deadlines run from its first byte: its header must be complete within
/// `header_timeout` and its body within `request_timeout` (408 with `Connection: close` when
/// the body is late); bytes arriving meanwhile do not extend either. A connection over a cap
/// is closed at once, not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From a request's first byte until its header is complete (10 s).
    pub header_timeout: Duration,
    /// From a request's first byte until its body is complete (30 s).
    pub request_timeout: Duration,
    /// A connection with no request in progress and no traffic for this long is closed
    /// (60 s); longer than HTTP clients keep pooled connections (ureq: 15 s).
    pub idle_timeout: Duration,
    /// Connections open at once from one client address (32).
    pub max_connections_per_address: usize,
    /// Connections open at once in all (512): each costs a few tens of kilobytes, and 512
    /// stays below the usual limit of 1024 open files.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits::DEFAULT
    }
}

impl ConnectionLimits {
    /// The spec's values, as [`Default`] gives them.
    pub const DEFAULT: ConnectionLimits = ConnectionLimits {
        header_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(60),
        max_connections_per_address: 32,
        max_connections: 512,
    };

    /// Refuses a zero deadline or cap (nothing could ever be served).
    fn check(&self) -> Result<(), EmulatorError> {
        let zero = if self.header_timeout.is_zero() {
            "header_timeout"
        } else if self.request_timeout.is_zero() {
            "request_timeout"
        } else if self.idle_timeout.is_zero() {
            "idle_timeout"
        } else if self.max_connections_per_address == 0 {
            "max_connections_per_address"
        } else if self.max_connections == 0 {
            "max_connections"
        } else {
            return Ok(());
        };
        Err(EmulatorError::Config(format!(
            "connection limit {zero} is zero: nothing could be served"
        )))
    }
}

/// Why an emulator did not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The device refused its start configuration.
    Config(String),
    /// The state directory holds something this emulator did not write, or is in use by
    /// another emulator.
    State {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// An operating-system call failed.
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

impl EmulatorError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        EmulatorError::Io {
            what: what.into(),
            source,
        }
    }
}

impl From<hem_authenticator::Error> for EmulatorError {
    fn from(e: hem_authenticator::Error) -> Self {
        match e {
            hem_authenticator::Error::State { path, detail } => {
                EmulatorError::State { path, detail }
            }
            hem_authenticator::Error::Io { what, source } => EmulatorError::Io { what, source },
            other => EmulatorError::Config(other.to_string()),
        }
    }
}

impl fmt::Display for EmulatorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmulatorError::Config(detail) => write!(f, "configuration: {detail}"),
            EmulatorError::State { path, detail } => {
                write!(f, "state {}: {detail}", path.display())
            }
            EmulatorError::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for EmulatorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EmulatorError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Boots a device from `config` (restoring the state directory if there is one), starts
/// serving it on its own Tokio runtime and threads, and returns once the socket listens.
///
/// Refuses ([`EmulatorError::Config`]) an `authenticator` without `broker`, a
/// `backend_key` with `broker` (the broker is then the backend), and a zero in `limits`.
///
/// The password, if any, is overwritten before this returns (spec §13.5).
pub fn start(config: EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
    let mut config = config;
    let started = start_with(&config);
    if let Some(password) = config.password.as_mut() {
        zeroize::Zeroize::zeroize(password);
    }
    started
}

/// [`start`], with the configuration borrowed.
fn start_with(config: &EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
    config.limits.check()?;
    if config.authenticator.is_some() && !config.broker {
        return Err(EmulatorError::Config(String::from(
            "a virtual authenticator needs the broker (--authenticator needs --broker)",
        )));
    }
    if config
        .control
        .is_some_and(|c| c.port() != 0 && c == config.listen)
    {
        return Err(EmulatorError::Config(String::from(
            "the control API never shares the device port (--control and --listen are equal)",
        )));
    }
    if config.broker && config.backend_key.is_some() {
        return Err(EmulatorError::Config(String::from(
            "with the broker, the emulator is the check-in backend and keeps its own key \
             (--backend-key and --broker exclude each other)",
        )));
    }
    let store = config
        .state_dir
        .as_deref()
        .map(store::Store::open)
        .transpose()?;
    let notify = if config.broker {
        Some(broker::load(store.as_ref().map(store::Store::dir))?)
    } else {
        None
    };
    let tls = config
        .tls
        .as_ref()
        .map(|t| tls::Served::load(t, config.state_dir.as_deref(), config.listen))
        .transpose()?;
    let backend = notify.as_ref().and_then(|n| n.backend_public());
    let app = Arc::new(app::App::boot(config, store, backend)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("hem-emulator")
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| EmulatorError::io("starting the runtime", e))?;
    let listener = {
        let _context = runtime.enter();
        conn::bind(config.listen, config.limits)
            .map_err(|e| EmulatorError::io(format!("listening on {}", config.listen), e))?
    };
    let addr = listener.local_addr();
    let control_listener = match config.control {
        Some(at) => {
            let _context = runtime.enter();
            let l = conn::bind(at, config.limits)
                .map_err(|e| EmulatorError::io(format!("listening on {at} (control)"), e))?;
            Some(l)
        }
        None => None,
    };
    let control_addr = control_listener.as_ref().map(conn::Listener::local_addr);
    let cert_pem = tls.as_ref().map(|t| t.cert_pem.clone());
    let url = base_url(addr, cert_pem.is_some());
    let (authenticator, pushes) = match config.authenticator {
        Some(mode) => {
            let (authenticator, pushes) = authenticator::VirtualAuthenticator::start(
                mode,
                url.clone(),
                cert_pem.as_deref(),
                config.state_dir.clone(),
            )
            .map_err(EmulatorError::from)?;
            (Some(Arc::new(authenticator)), Some(pushes))
        }
        None => (None, None),
    };
    let broker = notify.map(|notify| {
        Arc::new(broker::Broker::new(
            notify,
            config.state_dir.clone(),
            url,
            pushes,
        ))
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let control = control::Control::new(app.clone(), authenticator.clone());
    let control_router = control::router(control.clone());
    let router = http::router(app, broker);
    let acceptor = tls.map(|t| t.acceptor);
    let control_stop = stop_rx.clone();
    let thread = std::thread::Builder::new()
        .name(String::from("hem-emulator"))
        .spawn(move || {
            runtime.block_on(async move {
                let device = conn::serve(listener, router, acceptor, stop_rx, SHUTDOWN_GRACE);
                match control_listener {
                    Some(l) => {
                        let control =
                            conn::serve(l, control_router, None, control_stop, SHUTDOWN_GRACE);
                        tokio::join!(device, control);
                    }
                    None => device.await,
                }
            });
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
        })
        .map_err(|e| EmulatorError::io("starting the server thread", e))?;
    Ok(RunningEmulator {
        addr,
        control_addr,
        control,
        cert_pem,
        stop: Some(stop_tx),
        thread: Some(thread),
        authenticator,
    })
}

/// `http://HOST:PORT` (`https://` with `tls`) of a listening address; an unspecified address
/// (`0.0.0.0`, `::`) is given as the loopback address of its family.
fn base_url(addr: SocketAddr, tls: bool) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{}", SocketAddr::new(ip, addr.port()))
}

/// A running emulator. Dropping it stops it, as [`RunningEmulator::stop`] does.
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    control_addr: Option<SocketAddr>,
    control: control::Control,
    cert_pem: Option<String>,
    stop: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
    authenticator: Option<Arc<authenticator::VirtualAuthenticator>>,
}

impl RunningEmulator {
    /// The base URL, `http://HOST:PORT` (`https://` when serving HTTPS); an unspecified
    /// listen address (`0.0.0.0`, `::`) is reported as the loopback address of its family.
    pub fn url(&self) -> String {
        base_url(self.addr, self.cert_pem.is_some())
    }

    /// The certificate chain served over HTTPS, PEM (leaf first), for a client to trust
    /// (`None` on plain HTTP). A self-signed one names `localhost`, `127.0.0.1` and `::1`.
    ///
    /// ```no_run
    /// let emulator = hem_emulator::start(hem_emulator::EmulatorConfig {
    ///     listen: "127.0.0.1:0".parse().unwrap(),
    ///     tls: Some(hem_emulator::Tls::SelfSigned),
    ///     ..Default::default()
    /// })
    /// .unwrap();
    /// assert!(emulator.url().starts_with("https://"));
    /// let pem = emulator.certificate_pem().unwrap();
    /// assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    /// ```
    pub fn certificate_pem(&self) -> Option<&str> {
        self.cert_pem.as_deref()
    }

    /// The socket address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The device identity key (`eid`; a factory reset changes it).
    pub fn eid(&self) -> PublicKey {
        self.control.app_eid()
    }

    /// The control API's base URL, `http://HOST:PORT` (always plain HTTP), when
    /// [`EmulatorConfig::control`] was given; requests go to `<url>/control/...`.
    pub fn control_url(&self) -> Option<String> {
        self.control_addr.map(|a| base_url(a, false))
    }

    /// The control API in process (clock, authenticator mode, reboot, factory reset, request
    /// log), whether or not it is also served over HTTP.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// How many devices the virtual authenticator is paired with now (0 without one).
    /// Pairings count from the phone's `POST link` on, before the client finalises.
    pub fn authenticator_pairings(&self) -> usize {
        self.authenticator.as_ref().map_or(0, |a| a.pairings())
    }

    /// Stops serving and waits for the server thread (and the virtual authenticator's): open
    /// connections get a short grace period, then are dropped. The state directory is
    /// consistent at every moment, so stopping needs no final write.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(authenticator) = &self.authenticator {
            authenticator.signal_stop();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // Joins its thread.
        drop(self.authenticator.take());
    }
}
