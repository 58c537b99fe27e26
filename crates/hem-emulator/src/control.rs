//! The control API for test harnesses: the emulated clock, the virtual authenticator's
//! mode, reboot, factory reset and the request log, as a [`Control`] handle in process and
//! over HTTP on a listener of its own (`--control ADDR`), never on the device port.
//!
//! | request | body | answer |
//! |---|---|---|
//! | `GET /control/clock` | — | `{"now":<u64>,"rtc_set":<bool>}` |
//! | `POST /control/clock` | `{"set":<u64>}` or `{"advance":<u64>}` | `{"now":<u64>}` |
//! | `POST /control/authenticator` | `{"mode":"approve[:SECONDS][:rw]" \| "deny" \| "prompt"}` | `{}`; 404 without a virtual authenticator |
//! | `POST /control/reboot` | — | `{}` |
//! | `POST /control/factory-reset` | — | `{}` |
//! | `GET /control/requests` | — | `[{"method","path","status","at"}, …]`, newest last |
//!
//! A body that is not what the table says is 400 with `{"error":"…"}`; another path or
//! method is 404.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hem_auth_core::{Seconds, UnixTime};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::http::read_body;
use crate::{authenticator, AuthenticatorMode, EmulatorError};

/// Control bodies are small; anything longer is refused.
const MAX_CONTROL_BODY_BYTES: usize = 1024;

/// The emulated clock as the control API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockState {
    /// The device time, unix seconds.
    pub now: u64,
    /// Whether the device's RTC is set (spec §9.4).
    pub rtc_set: bool,
}

/// One request the device port answered (`GET /control/requests`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without query string.
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// Device time of the answer, unix seconds.
    pub at: u64,
}

/// Why a control operation was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum ControlError {
    /// The emulator runs no virtual authenticator (start it with `--authenticator`).
    NoAuthenticator,
    /// A factory reset could not rewrite the state directory.
    Emulator(EmulatorError),
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlError::NoAuthenticator => f.write_str("no virtual authenticator is running"),
            ControlError::Emulator(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ControlError {}

/// The control API in process: what `--control` serves over HTTP. Get one from
/// [`crate::RunningEmulator::control`]; clones share the emulator.
///
/// ```
/// let emulator = hem_emulator::start(hem_emulator::EmulatorConfig {
///     listen: "127.0.0.1:0".parse().unwrap(),
///     ..Default::default()
/// })
/// .unwrap();
/// let control = emulator.control();
/// let before = control.clock();
/// assert!(before.rtc_set);
/// let later = control.advance_clock(hem_auth_core::Seconds::new(86_400));
/// assert!(later.as_secs() >= before.now + 86_400);
/// control.reboot(); // tokens and pending nonces die, pairings stay
/// ```
#[derive(Clone)]
pub struct Control {
    app: Arc<App>,
    authenticator: Option<Arc<authenticator::VirtualAuthenticator>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("authenticator", &self.authenticator.is_some())
            .finish_non_exhaustive()
    }
}

impl Control {
    pub(crate) fn new(
        app: Arc<App>,
        authenticator: Option<Arc<authenticator::VirtualAuthenticator>>,
    ) -> Self {
        Control { app, authenticator }
    }

    pub(crate) fn app_eid(&self) -> hem_auth_core::keys::PublicKey {
        self.app.eid()
    }

    /// The device time and whether the RTC is set.
    pub fn clock(&self) -> ClockState {
        let s = self.app.lock();
        ClockState {
            now: s.clock.now().as_secs(),
            rtc_set: s.device.rtc_is_set(),
        }
    }

    /// Sets the device clock (and the RTC, logging `RTC_SET` as a check-in does) to `time`;
    /// returns the device time.
    pub fn set_clock(&self, time: UnixTime) -> UnixTime {
        let mut s = self.app.lock();
        s.set_clock(time);
        s.clock.now()
    }

    /// Moves the device clock `secs` seconds ahead, the RTC flag unchanged; returns the
    /// device time. Tokens and nonces expire as if the time had passed.
    pub fn advance_clock(&self, by: Seconds) -> UnixTime {
        let mut s = self.app.lock();
        s.clock.advance(by);
        s.clock.now()
    }

    /// Switches the virtual authenticator's decision mode.
    pub fn set_authenticator_mode(&self, mode: AuthenticatorMode) -> Result<(), ControlError> {
        let authenticator = self
            .authenticator
            .as_ref()
            .ok_or(ControlError::NoAuthenticator)?;
        authenticator.set_mode(mode);
        Ok(())
    }

    /// Reboots the device: new per-boot keys (every access token and pending nonce dies),
    /// pairings and configuration stay, the RTC as at start (spec §4.6, §9.4).
    pub fn reboot(&self) {
        self.app.reboot();
    }

    /// Factory reset: a new identity (`eid`), no pairings, a new audit log, the start
    /// configuration (user key derived again from the password, if one was given).
    pub fn factory_reset(&self) -> Result<(), ControlError> {
        self.app.factory_reset().map_err(ControlError::Emulator)
    }

    /// The device port's recent requests, oldest first (at most
    /// [`crate::REQUEST_LOG_ENTRIES`]).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.app.requests()
    }
}

/// The control listener's routes.
pub(crate) fn router(control: Control) -> Router {
    Router::new().fallback(serve).with_state(control)
}

/// `{"set": t}` or `{"advance": s}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockChange {
    set: Option<u64>,
    advance: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeChange {
    mode: String,
}

#[derive(Serialize)]
struct Now {
    now: u64,
}

async fn serve(State(control): State<Control>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let body = if method == Method::POST {
        match read_body(request, MAX_CONTROL_BODY_BYTES, false).await {
            Ok(bytes) => bytes,
            Err(_) => return error(StatusCode::BAD_REQUEST, "body unreadable or too long"),
        }
    } else {
        Bytes::new()
    };
    match (method, path.as_str()) {
        (Method::GET, "/control/clock") => json(&control.clock()),
        (Method::POST, "/control/clock") => match serde_json::from_slice::<ClockChange>(&body) {
            Ok(ClockChange {
                set: Some(t),
                advance: None,
            }) => json(&Now {
                now: control.set_clock(UnixTime::from_secs(t)).as_secs(),
            }),
            Ok(ClockChange {
                set: None,
                advance: Some(s),
            }) => json(&Now {
                now: control.advance_clock(Seconds::new(s)).as_secs(),
            }),
            _ => error(
                StatusCode::BAD_REQUEST,
                "expected {\"set\":<unix seconds>} or {\"advance\":<seconds>}",
            ),
        },
        (Method::POST, "/control/authenticator") => {
            let mode = serde_json::from_slice::<ModeChange>(&body)
                .map_err(|e| e.to_string())
                .and_then(|m| {
                    m.mode
                        .parse::<AuthenticatorMode>()
                        .map_err(|e| e.to_string())
                });
            match mode {
                Ok(mode) => match control.set_authenticator_mode(mode) {
                    Ok(()) => empty_object(),
                    Err(e) => error(StatusCode::NOT_FOUND, &e.to_string()),
                },
                Err(e) => error(StatusCode::BAD_REQUEST, &e),
            }
        }
        (Method::POST, "/control/reboot") => {
            control.reboot();
            empty_object()
        }
        (Method::POST, "/control/factory-reset") => match control.factory_reset() {
            Ok(()) => empty_object(),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        (Method::GET, "/control/requests") => json(&control.requests()),
        _ => error(StatusCode::NOT_FOUND, "no such control endpoint"),
    }
}

fn json(value: &impl Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => (
            StatusCode::OK,
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body,
        )
            .into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "serialising the answer"),
    }
}

fn empty_object() -> Response {
    json(&serde_json::Map::new())
}

fn error(status: StatusCode, text: &str) -> Response {
    let body = serde_json::json!({ "error": text }).to_string();
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

/// Records every answer of the device port in the request log (outermost layer: broker
/// paths and transport refusals included).
pub(crate) async fn log_requests(
    State(app): State<Arc<App>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let at = app.lock().clock.now().as_secs();
    app.log_request(RequestRecord {
        method,
        path,
        status: response.status().as_u16(),
        at,
    });
    response
}
