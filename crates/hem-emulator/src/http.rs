//! The HTTP adapter: axum ⇄ [`hem_auth_core::device::Device::handle`], plus transport.
//!
//! Every device request goes to one handler: it hands method, path, `Authorization` and body
//! to the core with the device clock's time, the OS CSPRNG and the uptime, applies the
//! response's effects ([`crate::app::State::apply`]) and sends status and body. The route
//! table, the bearer rules, the bodies and the audit lines are the core's
//! (`hem_auth_core::device::http`).
//!
//! What stays here is transport (spec §9.6): the body is read only when the core's
//! [`Device::head`] says the endpoint takes one, after the bearer check; a `POST` without
//! `Content-Length` is 411; a `Content-Length` above 7300 is 413 before any byte of the body
//! is read; a body not complete by its [`RequestDeadline`] (from the request's first byte) is
//! 408 with `Connection: close`. Error bodies are empty, with `Content-Type:
//! application/json`.
//!
//! With `--broker`, broker paths (`/checkin`, `/notify/…`) never reach the device: the
//! middleware in [`crate::broker`] answers them first.
//!
//! [`Device::head`]: hem_auth_core::device::Device::head

use hem_auth_core::Seconds;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::header::{
    AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING,
};
use axum::http::{HeaderValue, Method as HttpMethod, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hem_auth_core::device::{self, logger_list_body, Head};
use hem_auth_core::http::Method;
use hem_auth_core::messages::MAX_BODY_BYTES;
use rand_core::OsRng;

use crate::app::App;
use crate::audit;
use crate::broker::{self, Broker};
use crate::conn::RequestDeadline;
use crate::control;

type Shared = Arc<App>;

/// The device API, and the broker's in front of it when there is one.
pub(crate) fn router(app: Shared, broker: Option<Arc<Broker>>) -> Router {
    let device = Router::new()
        .fallback(serve)
        .layer(middleware::from_fn(audit_durable))
        .with_state(app.clone());
    let served = match broker {
        // Broker paths never reach the device.
        Some(broker) => device.layer(middleware::from_fn_with_state(broker, broker::gate)),
        None => device,
    };
    // Outermost: the control API's request log sees every answer of the port.
    served.layer(middleware::from_fn_with_state(app, control::log_requests))
}

/// The core's answer as HTTP: its status and body, `Content-Type: application/json`.
fn to_http(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

/// An empty answer with the device's error shape.
fn empty(status: u16) -> Response {
    to_http(status, String::new())
}

/// One device request, through the core.
async fn serve(State(app): State<Shared>, request: Request) -> Response {
    let method = match *request.method() {
        // HEAD is GET without the body (RFC 9110 §9.3.2); hyper drops the body.
        HttpMethod::GET | HttpMethod::HEAD => Method::Get,
        HttpMethod::POST => Method::Post,
        HttpMethod::DELETE => Method::Delete,
        _ => Method::Other,
    };
    let path = request.uri().path().to_owned();
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("").to_owned());
    let head = device::Request::new(method, &path)
        .authorization(authorization.as_deref())
        .uptime(Seconds::new(app.uptime()));
    let decided = {
        let mut s = app.lock();
        let now = s.clock.now();
        let mut decided = s.device.head(&head, now, &mut OsRng);
        if let Head::Answer(response) = &mut decided {
            s.apply(response);
        }
        decided
    };
    let body = match decided {
        Head::NoBody => Bytes::new(),
        Head::ReadBody => match read_body(request, MAX_BODY_BYTES, true).await {
            Ok(bytes) => bytes,
            Err(BodyFault::NoLength) => return closing(empty(411)),
            Err(BodyFault::BadLength) => return closing(empty(app.faults.status(400))),
            Err(BodyFault::TooLarge) => return closing(empty(413)),
            Err(BodyFault::Broken) => return empty(app.faults.status(400)),
            Err(BodyFault::Slow) => return closing(empty(408)),
        },
        // A path the device does not have is answered at once.
        Head::Answer(r) if r.status == 404 => return to_http(r.status, r.body),
        Head::Answer(r) => return refuse_unread(request, to_http(r.status, r.body)).await,
        _ => return empty(404),
    };
    let (mut response, read) = {
        let mut s = app.lock();
        let now = s.clock.now();
        let mut response = s.device.handle(&head.body(&body), now, &mut OsRng);
        let read = s.apply(&mut response);
        (response, read)
    };
    if let Some((reader, from, count)) = read {
        match tokio::task::spawn_blocking(move || reader.page(from, count)).await {
            Ok(page) => response.body = logger_list_body(page.total, &page.lines, page.next),
            // `page` does not panic; were it to, the reader gets the device's 400.
            Err(_) => return empty(app.faults.status(400)),
        }
    }
    to_http(response.status, response.body)
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

/// Lets a handler answer only once the audit lines its answer depends on are on disk (spec
/// §11.3), waiting after the handler has released the device.
async fn audit_durable(request: Request, next: Next) -> Response {
    audit::answer_when_durable(next.run(request)).await
}
