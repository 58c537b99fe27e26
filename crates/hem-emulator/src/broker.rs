//! The notify broker on the device's port (`--broker`): a thin adapter around
//! `hem_auth_core::notify` (contract: spec §12, in `docs/spec`).
//!
//! Every request whose path is a broker path (`/checkin`, `/notify`, `/notify/…`) comes here
//! before the device sees it: the body is read (413 above [`notify::MAX_BODY_BYTES`], before
//! reading), handed to [`NotifyBroker::handle`] with the host's wall-clock time (not the
//! device RTC: an RTC-unset device must be able to check in) and the OS CSPRNG, and the
//! status and JSON body go back. The follow-ups the broker asks for:
//!
//! * `SubscribersChanged`: `notify.json` is replaced atomically (mode 0600, as `state.json`),
//!   and pairings that disappeared are pushed to the virtual authenticator, as the real
//!   broker pushes `{"pairing":{"pid":…,"status":"DELETED"}}` to the phone (spec §6.1);
//! * `LinkRegistered`: the link goes to the virtual authenticator, as if it scanned the QR.
//!
//! `notify.json` holds the check-in backend's secret (drawn on the first start) and the
//! subscribers; sessions, events and registrations are not kept across restarts.

use hem_auth_core::UnixTime;
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderValue, Method as HttpMethod, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hem_auth_core::keys::SecretKey;
use hem_auth_core::notify::{
    self, NotifyBroker, NotifyConfig, NotifyError, NotifyEvent, NotifySnapshot,
};
use rand_core::OsRng;
use serde::{Deserialize, Serialize};

use crate::conn::Peer;
use crate::http::{closing, read_body, BodyFault};
use crate::store::atomic_write;
use crate::EmulatorError;
use hem_authenticator::Push;

/// The `format` member of `notify.json`.
const FORMAT: &str = "hem-emulator-notify/1";
/// The broker's file in the state directory.
pub(crate) const FILE: &str = "notify.json";

/// `notify.json`.
#[derive(Serialize, Deserialize)]
struct NotifyFile {
    format: String,
    broker: NotifySnapshot,
}

/// The broker restored from `dir` (or a new one, with a fresh backend key), saved back so that
/// a new backend key is kept from the first start on.
pub(crate) fn load(dir: Option<&Path>) -> Result<NotifyBroker, EmulatorError> {
    // Used only when the directory has no backend key yet.
    let config = NotifyConfig::with_backend(SecretKey::generate(&mut OsRng));
    let Some(dir) = dir else {
        return Ok(NotifyBroker::new(config));
    };
    let path = dir.join(FILE);
    let bad = |detail: String| EmulatorError::State {
        path: path.clone(),
        detail,
    };
    // The file holds the backend's secret: read and written without reallocating buffers.
    let broker = match crate::store::read_secret_file(&path, 1 << 24) {
        Ok(bytes) => {
            let file: NotifyFile = serde_json::from_slice(&bytes)
                .map_err(|e| bad(format!("not a broker file: {e}")))?;
            if file.format != FORMAT {
                return Err(bad(format!("unknown format {:?}", file.format)));
            }
            NotifyBroker::restore(file.broker, config).map_err(|e| bad(e.to_string()))?
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => NotifyBroker::new(config),
        Err(e) => return Err(EmulatorError::io(format!("reading {}", path.display()), e)),
    };
    save(dir, &broker).map_err(|e| EmulatorError::io(format!("saving {}", path.display()), e))?;
    Ok(broker)
}

/// Replaces `notify.json` in `dir` with the broker's snapshot.
fn save(dir: &Path, broker: &NotifyBroker) -> io::Result<()> {
    let file = NotifyFile {
        format: String::from(FORMAT),
        broker: broker.snapshot(),
    };
    let json = crate::store::to_json_exact(&file)?;
    atomic_write(dir, FILE, &json)
}

/// The broker as the HTTP handlers share it.
pub(crate) struct Broker {
    inner: Mutex<Inner>,
    dir: Option<PathBuf>,
    /// The emulator's own base URL: the link prefix when a request has no usable `Host`.
    url: String,
    /// To the virtual authenticator, if there is one.
    pushes: Option<Sender<Push>>,
}

/// What changes with each request, under one lock so that `notify.json` is written in the
/// order of the changes.
struct Inner {
    notify: NotifyBroker,
    /// The subscribers' pids as last saved: what an unpairing removed is the difference.
    pids: BTreeSet<String>,
}

impl Broker {
    /// Serves `notify`, keeping it in `dir`; links use `url` unless the client's `Host` says
    /// otherwise; links and unpairings go to `pushes`, which first learns the subscribers.
    pub(crate) fn new(
        notify: NotifyBroker,
        dir: Option<PathBuf>,
        url: String,
        pushes: Option<Sender<Push>>,
    ) -> Self {
        let pids = pids(&notify);
        if let Some(pushes) = &pushes {
            let _ = pushes.send(Push::Subscribers(pids.iter().cloned().collect()));
        }
        Broker {
            inner: Mutex::new(Inner { notify, pids }),
            dir,
            url,
            pushes,
        }
    }

    /// The broker, locked. Its operations check everything before they commit, so a poisoned
    /// lock is used as is.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The link prefix: the emulator's scheme (`http://` or `https://`) + the request's
    /// `Host` when it is a plain `host[:port]`, else the emulator's own URL.
    fn base_url(&self, host: Option<&HeaderValue>) -> String {
        let host = host
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic() && b != b'/'));
        match host {
            Some(host) => {
                let scheme = self.url.split_once("://").map_or("http", |(s, _)| s);
                format!("{scheme}://{host}")
            }
            None => self.url.clone(),
        }
    }

    /// Answers one broker request.
    async fn serve(&self, request: Request) -> Response {
        let method = match *request.method() {
            HttpMethod::GET => notify::Method::Get,
            HttpMethod::POST => notify::Method::Post,
            HttpMethod::DELETE => notify::Method::Delete,
            _ => notify::Method::Other,
        };
        let path = request.uri().path().to_owned();
        let peer = request
            .extensions()
            .get::<ConnectInfo<Peer>>()
            .map(|info| info.0 .0.ip().to_string())
            .unwrap_or_default();
        let base_url = self.base_url(request.headers().get(HOST));
        let body = match read_body(request, notify::MAX_BODY_BYTES, false).await {
            Ok(body) => body,
            Err(fault) => {
                let error = match fault {
                    BodyFault::TooLarge => NotifyError::TooLarge,
                    BodyFault::Slow => return closing(json(408, String::from("{}"))),
                    BodyFault::NoLength | BodyFault::BadLength | BodyFault::Broken => {
                        NotifyError::BadBody
                    }
                };
                return closing(json(error.status(), error.body()));
            }
        };
        let req = notify::Request {
            method,
            path: &path,
            body: &body,
            peer: &peer,
            base_url: &base_url,
        };
        let response = {
            let mut inner = self.lock();
            let response = inner.notify.handle(&req, UnixTime::now(), &mut OsRng);
            for event in &response.events {
                self.follow(&mut inner, event);
            }
            response
        };
        json(response.status, response.body)
    }

    /// Does what the broker asked for after a request.
    fn follow(&self, inner: &mut Inner, event: &NotifyEvent) {
        match event {
            NotifyEvent::LinkRegistered { link, .. } => self.push(Push::Link(link.clone())),
            NotifyEvent::SubscribersChanged => {
                if let Some(dir) = &self.dir {
                    if let Err(e) = save(dir, &inner.notify) {
                        eprintln!(
                            "hem-emulator: broker state not saved to {}: {e}",
                            dir.join(FILE).display()
                        );
                    }
                }
                let now = pids(&inner.notify);
                let gone: Vec<String> = inner.pids.difference(&now).cloned().collect();
                inner.pids = now;
                if !gone.is_empty() {
                    self.push(Push::Deleted(gone));
                }
            }
            _ => {}
        }
    }

    fn push(&self, push: Push) {
        if let Some(pushes) = &self.pushes {
            // The authenticator is gone only while the emulator stops.
            let _ = pushes.send(push);
        }
    }
}

/// The subscribers' pids.
fn pids(notify: &NotifyBroker) -> BTreeSet<String> {
    notify.subscribers().map(|s| s.pid.clone()).collect()
}

/// A JSON answer.
fn json(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

/// The middleware in front of the device: broker paths go to the broker, the rest on.
pub(crate) async fn gate(
    State(broker): State<Arc<Broker>>,
    request: Request,
    next: Next,
) -> Response {
    if notify::is_notify_path(request.uri().path()) {
        broker.serve(request).await
    } else {
        next.run(request).await
    }
}
