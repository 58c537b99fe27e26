//! The HTTP surface: request bytes in, a device operation, status and JSON out.
//!
//! | endpoint | operation | bearer |
//! |---|---|---|
//! | `GET /api/auth/token` | `Device::auth_token_challenge` | — |
//! | `POST /api/auth/token` | `Device::auth_token` | — |
//! | `POST /api/auth/ext/request` | `Device::ext_request` | — |
//! | `POST /api/auth/ext/token` | `Device::ext_token` | — |
//! | `POST /api/auth/ext/init`, `/validate`, `/mac` | `Device::ext_init`, `ext_validate`, `ext_mac` | `auth:ext:pair` or `system:config`, `U` only (core) |
//! | `GET` / `POST /api/system/checkin` | `Device::checkin_challenge`, `checkin` | — |
//! | `GET /api/system/version`, `/status` | the emulator | — |
//! | `GET /api/system/config` | the emulator | `system:config`, `logger:get` or `auth:ext:pair` |
//! | `GET /api/keymgmt/list[/{offset}[/{count}]]` | the paired authenticator keys | `keymgmt:list`, not `M` |
//! | `GET /api/keymgmt/get/{kid}` | one paired authenticator key | `keymgmt:get`, `keymgmt:gen` or exactly `keymgmt:use:<kid>`, not `M` |
//! | `DELETE /api/keymgmt/delete/{kid}` | `Device::unpair` | `keymgmt:del`, not `M` (core) |
//! | `GET /api/logger/list[/{from}[/{count}]]` | the audit log, paged (spec §11.4) | `logger:get` |
//!
//! With `--broker`, broker paths (`/checkin`, `/notify/…`) never reach these routes: the
//! middleware in [`crate::broker`] answers them first.
//!
//! Statuses come from `DeviceError::status`. Besides: a path the device does not have is 404,
//! and so is a known path with another method (the device's dispatcher knows no 405);
//! a POST without `Content-Length` is 411; a `Content-Length` above 7300 is 413 before any
//! byte of the body is read; a body not complete by its [`RequestDeadline`] (spec §9.6: from
//! the request's first byte) is 408 with `Connection: close`. A
//! request that carries an `Authorization` header has its token checked before routing, as
//! the firmware's dispatcher does (spec §8.2): invalid or expired → 401 on any path. Error
//! bodies are empty, with `Content-Type: application/json`; nothing answers 5xx (unless the
//! `leak_500` fault is on).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::{
    AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use hem_auth_core::codec;
use hem_auth_core::device::{kid_from_hex, DeviceError, Requirement, Roles};
use hem_auth_core::messages::{to_json, MAX_BODY_BYTES};
use rand_core::OsRng;
use serde::Serialize;

use crate::app::App;
use crate::audit;
use crate::broker::{self, Broker};
use crate::clock::rfc3339;
use crate::conn::RequestDeadline;
use crate::faults::{self, Replay};

/// `GET /api/system/config` (spec §8.5).
const CONFIG_READ: Requirement<'static> =
    Requirement::any_of(&["system:config", "logger:get", "auth:ext:pair"]);
/// `GET /api/keymgmt/list` (spec §8.5).
const KEY_LIST: Requirement<'static> =
    Requirement::any_of(&["keymgmt:list"]).roles(Roles::NotMaster);
/// `GET /api/logger/list` (spec §8.5).
const LOGGER: Requirement<'static> = Requirement::any_of(&["logger:get"]);
/// Keys listed when the request gives no count (DOCS "List the keys": default 15).
const DEFAULT_LIST_COUNT: usize = 15;
/// The `type` the device lists for an imported X25519 public key (spec §6.5).
const EXTAID_KEY_TYPE: &str = "ECDH,CURVE25519";

type Shared = Arc<App>;

/// The device API, and the broker's in front of it when there is one.
pub(crate) fn router(app: Shared, broker: Option<Arc<Broker>>) -> Router {
    let device = Router::new()
        .route("/api/auth/token", get(auth_challenge).post(auth_token))
        .route("/api/auth/ext/request", post(ext_request))
        .route("/api/auth/ext/token", post(ext_token))
        .route("/api/auth/ext/init", post(ext_init))
        .route("/api/auth/ext/validate", post(ext_validate))
        .route("/api/auth/ext/mac", post(ext_mac))
        .route("/api/system/checkin", get(checkin_challenge).post(checkin))
        .route("/api/system/version", get(version))
        .route("/api/system/status", get(status))
        .route("/api/system/config", get(config))
        .route("/api/keymgmt/list", get(key_list))
        .route("/api/keymgmt/list/{offset}", get(key_list))
        .route("/api/keymgmt/list/{offset}/{count}", get(key_list))
        .route("/api/keymgmt/get/{kid}", get(key_get))
        .route("/api/keymgmt/delete/{kid}", delete(unpair))
        .route("/api/logger/list", get(logger_list))
        .route("/api/logger/list/{from}", get(logger_list))
        .route("/api/logger/list/{from}/{count}", get(logger_list))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), dispatcher))
        .layer(middleware::from_fn(audit_durable))
        .with_state(app);
    match broker {
        // Outermost: broker paths never reach the device's dispatcher.
        Some(broker) => device.layer(middleware::from_fn_with_state(broker, broker::gate)),
        None => device,
    }
}

/// An empty answer with the device's error shape.
fn empty(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
    )
        .into_response()
}

/// A 200 answer with a JSON body.
fn ok<T: Serialize>(body: &T) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        to_json(body),
    )
        .into_response()
}

/// The answer to a device operation's result.
fn answer<T: Serialize>(app: &App, result: Result<T, DeviceError>) -> Response {
    match result {
        Ok(body) => ok(&body),
        Err(e) => empty(app.faults.status(e.status())),
    }
}

/// The token of an `Authorization` header: `None` without the header; an empty token (which
/// no check accepts) when the header is not `Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .unwrap_or("");
    Some(token)
}

/// The firmware dispatcher: a present token must be valid (spec §8.2).
async fn dispatcher(State(app): State<Shared>, request: Request, next: Next) -> Response {
    if let Some(token) = bearer(request.headers()) {
        if let Err(status) = app.authorize(Some(token), &Requirement::any_token()) {
            return refuse_unread(request, empty(status)).await;
        }
    }
    next.run(request).await
}

/// Answers `response` to a request whose body the handler did not read. A keep-alive client
/// may send its next request on the same connection, so a body within the device's limit is
/// drained first (bounded in size and time); otherwise the answer says `Connection: close`
/// rather than letting the connection die unannounced (RFC 9112 §9.6).
async fn refuse_unread(request: Request, response: Response) -> Response {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.trim().parse::<u64>().ok());
    match declared {
        None | Some(0) if request.headers().get(TRANSFER_ENCODING).is_none() => response,
        Some(n) if n <= MAX_BODY_BYTES as u64 => {
            let deadline = RequestDeadline::of(&request);
            let read = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES);
            match tokio::time::timeout_at(deadline, read).await {
                Ok(Ok(_)) => response,
                _ => closing(response),
            }
        }
        _ => closing(response),
    }
}

/// Marks a response as the last one on its connection.
pub(crate) fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

async fn not_found() -> Response {
    empty(404)
}

/// Why a request body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFault {
    /// No `Content-Length`, and the route requires one.
    NoLength,
    /// A `Content-Length` that is not a number.
    BadLength,
    /// Larger than the limit: declared so (nothing read), or a body without a declared
    /// length that ran past it (or broke off).
    TooLarge,
    /// The body broke off before its declared length.
    Broken,
    /// The body was not complete by the request's [`RequestDeadline`].
    Slow,
}

/// Reads a request body of at most `limit` bytes. A declared `Content-Length` above `limit`
/// is refused before any byte is read; `length_required` refuses a request without one (the
/// device's 411), otherwise such a body is read up to `limit`.
pub(crate) async fn read_body(
    request: Request,
    limit: usize,
    length_required: bool,
) -> Result<Bytes, BodyFault> {
    let declared = match request.headers().get(CONTENT_LENGTH) {
        None if length_required => return Err(BodyFault::NoLength),
        None => None,
        Some(length) => Some(
            length
                .to_str()
                .ok()
                .and_then(|l| l.trim().parse::<u64>().ok())
                .ok_or(BodyFault::BadLength)?,
        ),
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyFault::TooLarge);
    }
    let deadline = RequestDeadline::of(&request);
    let read = axum::body::to_bytes(request.into_body(), limit);
    match tokio::time::timeout_at(deadline, read).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) if declared.is_none() => Err(BodyFault::TooLarge),
        Ok(Err(_)) => Err(BodyFault::Broken),
        Err(_) => Err(BodyFault::Slow),
    }
}

/// A POST body: `Content-Length` required (411) and at most 7300 (413, nothing read).
struct Body(Bytes);

impl FromRequest<Shared> for Body {
    type Rejection = Response;

    async fn from_request(request: Request, app: &Shared) -> Result<Self, Response> {
        match read_body(request, MAX_BODY_BYTES, true).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(BodyFault::NoLength) => Err(closing(empty(411))),
            Err(BodyFault::BadLength) => Err(closing(empty(app.faults.status(400)))),
            Err(BodyFault::TooLarge) => Err(closing(empty(413))),
            Err(BodyFault::Broken) => Err(empty(app.faults.status(400))),
            Err(BodyFault::Slow) => Err(closing(empty(408))),
        }
    }
}

async fn auth_challenge(State(app): State<Shared>) -> Response {
    let mut s = app.lock();
    let now = s.clock.now();
    let out = s.device.auth_token_challenge(now, &mut OsRng);
    answer(&app, s.finish(out))
}

async fn auth_token(State(app): State<Shared>, Body(body): Body) -> Response {
    let mut s = app.lock();
    let now = s.clock.now();
    let replay = Replay::before(&app.faults, &s.device);
    let out = s.device.auth_token(&body, now, &mut OsRng);
    let result = s.finish(out);
    if result.is_ok() {
        replay.restore(&mut s.device);
    }
    answer(&app, result)
}

async fn ext_request(State(app): State<Shared>, Body(body): Body) -> Response {
    let mut s = app.lock();
    let now = s.clock.now();
    let out = s.device.ext_request(&body, now, &mut OsRng);
    answer(&app, s.finish(out))
}

async fn ext_token(State(app): State<Shared>, Body(body): Body) -> Response {
    let mut s = app.lock();
    let now = s.clock.now();
    let replay = Replay::before(&app.faults, &s.device);
    let mut out = s.device.ext_token(&body, now, &mut OsRng);
    if app.faults.accept_bad_mac && matches!(out.result, Err(DeviceError::BadMac)) {
        if let Some(resigned) = faults::resigned_ext_token(&s.device, &body) {
            out = s.device.ext_token(&resigned, now, &mut OsRng);
        }
    }
    let result = s.finish(out);
    if result.is_ok() {
        replay.restore(&mut s.device);
    }
    answer(&app, result)
}

async fn ext_init(State(app): State<Shared>, headers: HeaderMap, Body(body): Body) -> Response {
    let mut s = app.lock();
    let now = s.clock.now();
    let out = s.device.ext_init(bearer(&headers), &body, now, &mut OsRng);
    answer(&app, s.finish(out))
}

async fn ext_validate(State(app): State<Shared>, headers: HeaderMap, Body(body): Body) -> Response {
    let mut s = app.lock();
    let now = s.clock.now();
    let token = bearer(&headers);
    let replay = Replay::before(&app.faults, &s.device);
    let mut out = s.device.ext_validate(token, &body, now);
    if app.faults.accept_bad_mac && matches!(out.result, Err(DeviceError::BadMac)) {
        if let Some(resigned) = faults::resigned_ext_validate(&s.device, &body) {
            out = s.device.ext_validate(token, &resigned, now);
        }
    }
    let result = s.finish(out);
    if result.is_ok() {
        replay.restore(&mut s.device);
        s.save();
    }
    answer(&app, result)
}

async fn ext_mac(State(app): State<Shared>, headers: HeaderMap, Body(body): Body) -> Response {
    let mut s = app.lock();
    let now = s.clock.now();
    let out = s.device.ext_mac(bearer(&headers), &body, now, &mut OsRng);
    answer(&app, s.finish(out))
}

async fn checkin_challenge(State(app): State<Shared>) -> Response {
    let mut s = app.lock();
    let now = s.clock.now();
    let out = s.device.checkin_challenge(now, &mut OsRng);
    answer(&app, s.finish(out))
}

async fn checkin(State(app): State<Shared>, Body(body): Body) -> Response {
    let mut s = app.lock();
    let now = s.clock.now();
    let replay = Replay::before(&app.faults, &s.device);
    let out = s.device.checkin(&body, now);
    let result = s.finish(out).map(|done| {
        s.clock.set(done.time);
        done.response
    });
    if result.is_ok() {
        replay.restore(&mut s.device);
    }
    answer(&app, result)
}

async fn version() -> Response {
    ok(&Version {
        hwv: "hem-emulator",
        fwv: concat!("hem-emulator v", env!("CARGO_PKG_VERSION")),
    })
}

/// `uptime`, `ts` and `time` (only while the RTC is set, spec §9.2), `fls_state` 0.
async fn status(State(app): State<Shared>) -> Response {
    let (rtc, now) = {
        let s = app.lock();
        (s.device.rtc_is_set(), s.clock.now())
    };
    ok(&Status {
        uptime: app.uptime(),
        ts: rtc.then(|| rfc3339(now)),
        time: rtc.then_some(now),
        fls_state: 0,
    })
}

/// The configuration a client needs for pairing (spec §9.3, §6.1): `eid`, `user` (the label),
/// `spk`, and the trust options.
async fn config(State(app): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(status) = app.authorize(bearer(&headers), &CONFIG_READ) {
        return empty(status);
    }
    let s = app.lock();
    let config = s.device.config();
    ok(&Config {
        eid: s.device.eid().to_b64(),
        user: &config.label,
        email: "",
        hostname: "",
        trusted_ts: config.trusted_time,
        trusted_backend: config.backend_key.is_some(),
        spk: s.device.spk().to_b64(),
    })
}

/// The paired authenticators as the device lists their `EXTAID` keys (spec §6.5, §9.7), paged
/// by `/{offset}/{count}` (non-negative decimal; otherwise 400).
async fn key_list(State(app): State<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(status) = app.authorize(bearer(&headers), &KEY_LIST) {
        return empty(status);
    }
    let mut paging = uri
        .path()
        .trim_start_matches("/api/keymgmt/list")
        .split('/')
        .skip(1)
        .map(|n| {
            n.parse::<usize>()
                .ok()
                .filter(|_| n.bytes().all(|b| b.is_ascii_digit()))
        });
    let (offset, count) = match (paging.next(), paging.next()) {
        (None, _) => (0, DEFAULT_LIST_COUNT),
        (Some(Some(offset)), None) => (offset, DEFAULT_LIST_COUNT),
        (Some(Some(offset)), Some(Some(count))) => (offset, count),
        _ => return empty(app.faults.status(400)),
    };
    let s = app.lock();
    let pairings = s.device.pairings();
    let list: Vec<KeyEntry<'_>> = pairings
        .iter()
        .skip(offset)
        .take(count)
        .map(|p| KeyEntry {
            kid: p.kid_hex(),
            key_type: EXTAID_KEY_TYPE,
            label: p.label(),
            descr: codec::encode_std(&p.descriptor()),
        })
        .collect();
    ok(&KeyList {
        offset,
        total: pairings.len(),
        listed: list.len(),
        list,
    })
}

/// `GET /api/keymgmt/get/{kid}`: one paired authenticator key, for `keymgmt:get`,
/// `keymgmt:gen` or exactly `keymgmt:use:<kid>` (spec §8.5), master denied. The emulator's
/// form `{kid, type, label, pubkey}`; no `descr`, as the firmware omits it here (spec
/// §6.5, §9.7). 400 for a kid that is not 32 hex characters, 404 for an unknown one.
async fn key_get(State(app): State<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    let kid = uri.path().rsplit('/').next().unwrap_or_default();
    let exact = format!("keymgmt:use:{kid}");
    let requirement = Requirement::any_of_or_exact(&["keymgmt:get", "keymgmt:gen"], &exact)
        .roles(Roles::NotMaster);
    if let Err(status) = app.authorize(bearer(&headers), &requirement) {
        return empty(status);
    }
    let Some(raw) = kid_from_hex(kid) else {
        return empty(app.faults.status(400));
    };
    let s = app.lock();
    match s.device.pairings().iter().find(|p| p.kid() == &raw) {
        Some(p) => ok(&KeyDetail {
            kid: p.kid_hex(),
            key_type: EXTAID_KEY_TYPE,
            label: p.label(),
            pubkey: p.aid().to_b64(),
        }),
        None => empty(404),
    }
}

async fn unpair(State(app): State<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    let kid = uri.path().rsplit('/').next().unwrap_or_default();
    let mut s = app.lock();
    let now = s.clock.now();
    let out = s.device.unpair(bearer(&headers), kid, now);
    match s.finish(out) {
        Ok(_) => {
            s.save();
            empty(200)
        }
        Err(e) => empty(app.faults.status(e.status())),
    }
}

/// The audit log, paged: `/{from}/{count}`, non-negative decimal, `count` 1 to 1000 (larger
/// is 1000), otherwise 400 (spec §11.4). The device lists log *files* here (`{total, id}`)
/// and serves each by id; the emulator keeps one logical log and returns its lines inline:
/// `{"total": n, "lines": [...], "next": from}`, the key line first (format in
/// [`crate::audit`]). The files are read without the device lock.
async fn logger_list(State(app): State<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(status) = app.authorize(bearer(&headers), &LOGGER) {
        return empty(status);
    }
    let mut paging = uri
        .path()
        .trim_start_matches("/api/logger/list")
        .split('/')
        .skip(1)
        .map(|n| {
            // Digits only; a number beyond u64 is past every counter.
            (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .then(|| n.parse::<u64>().unwrap_or(u64::MAX))
        });
    let max = audit::MAX_PAGE_LINES;
    let (from, count) = match (paging.next(), paging.next()) {
        (None, _) => (0, max),
        (Some(Some(from)), None) => (from, max),
        (Some(Some(from)), Some(Some(count))) if count > 0 => {
            (from, usize::try_from(count).unwrap_or(max).min(max))
        }
        _ => return empty(app.faults.status(400)),
    };
    let reader = {
        let mut s = app.lock();
        let now = s.clock.now();
        s.log.tick(now);
        s.log.reader()
    };
    match tokio::task::spawn_blocking(move || reader.page(from, count)).await {
        Ok(page) => ok(&LogList {
            total: page.total,
            lines: page.lines.iter().map(|l| &**l).collect(),
            next: page.next,
        }),
        // `page` does not panic; were it to, the reader gets the device's 400.
        Err(_) => empty(app.faults.status(400)),
    }
}

/// Lets a handler answer only once the audit lines its answer depends on are on disk (spec
/// §11.3), waiting after the handler has released the device.
async fn audit_durable(request: Request, next: Next) -> Response {
    audit::answer_when_durable(next.run(request)).await
}

/// `GET /api/system/version`.
#[derive(Serialize)]
struct Version {
    hwv: &'static str,
    fwv: &'static str,
}

/// `GET /api/system/status`, in the device's member order.
#[derive(Serialize)]
struct Status {
    uptime: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<u64>,
    fls_state: u8,
}

/// `GET /api/system/config`: the members pairing needs.
#[derive(Serialize)]
struct Config<'a> {
    eid: String,
    user: &'a str,
    email: &'a str,
    hostname: &'a str,
    trusted_ts: bool,
    trusted_backend: bool,
    spk: String,
}

/// `GET /api/keymgmt/list`, in the device's member order.
#[derive(Serialize)]
struct KeyList<'a> {
    offset: usize,
    total: usize,
    listed: usize,
    list: Vec<KeyEntry<'a>>,
}

#[derive(Serialize)]
struct KeyEntry<'a> {
    kid: String,
    #[serde(rename = "type")]
    key_type: &'static str,
    label: &'a str,
    descr: String,
}

/// `GET /api/keymgmt/get/{kid}` (the emulator's form).
#[derive(Serialize)]
struct KeyDetail<'a> {
    kid: String,
    #[serde(rename = "type")]
    key_type: &'static str,
    label: &'a str,
    pubkey: String,
}

/// `GET /api/logger/list` (the emulator's form, spec §11.4).
#[derive(Serialize)]
struct LogList<'a> {
    total: u64,
    lines: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<u64>,
}
