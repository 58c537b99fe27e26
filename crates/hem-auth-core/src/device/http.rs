//! The device's HTTP behaviour as values: [`Device::handle`] takes one request ([`Request`])
//! and returns its status, its JSON body and what the adapter must do next ([`Effect`]).
//!
//! Two levels, as [`crate::notify::NotifyBroker::handle`]: a route table picks the endpoint,
//! the endpoint calls a typed method ([`Device::ext_token`], …) or builds its body here.
//!
//! | endpoint | operation | bearer (spec §8.5) |
//! |---|---|---|
//! | `GET /api/auth/token` | [`Device::auth_token_challenge`] | — |
//! | `POST /api/auth/token` | [`Device::auth_token`] | — |
//! | `POST /api/auth/ext/request` | [`Device::ext_request`] | — |
//! | `POST /api/auth/ext/token` | [`Device::ext_token`] | — |
//! | `POST /api/auth/ext/init`, `/validate`, `/mac` | [`Device::ext_init`], [`Device::ext_validate`], [`Device::ext_mac`] | `auth:ext:pair` or `system:config`, `U` only |
//! | `GET` / `POST /api/system/checkin` | [`Device::checkin_challenge`], [`Device::checkin`] | — |
//! | `GET /api/system/version`, `/status` | §9.1, §9.2 | — |
//! | `GET /api/system/config` | §9.3 | `system:config`, `logger:get` or `auth:ext:pair` |
//! | `GET /api/keymgmt/list[/{offset}[/{count}]]` | the paired authenticator keys (§9.7) | `keymgmt:list`, not `M` |
//! | `GET /api/keymgmt/get/{kid}` | one paired authenticator key (§9.7) | `keymgmt:get`, `keymgmt:gen` or exactly `keymgmt:use:<kid>`, not `M` |
//! | `DELETE /api/keymgmt/delete/{kid}` | [`Device::unpair`] | `keymgmt:del`, not `M` |
//! | `GET /api/logger/list[/{from}[/{count}]]` | the audit log, paged (§11.4, §9.7) | `logger:get` |
//!
//! In this order (spec §8.2, §10.1):
//!
//! 1. A request with an `Authorization` header has its token checked before routing, as the
//!    firmware's dispatcher does: invalid or expired → 401 on any path. A header that is not
//!    `Bearer <token>` counts as an invalid token.
//! 2. A path the device does not have is 404, and so is a known path with another method (the
//!    device's dispatcher knows no 405).
//! 3. A `POST` body longer than [`MAX_BODY_BYTES`] is 413.
//! 4. The endpoint: its own bearer requirement, then its checks (errors: [`DeviceError::status`]).
//!
//! Error bodies are empty (the adapter still sends `Content-Type: application/json`); nothing
//! answers 5xx. Transport stays in the adapter: 411 for a `POST` without `Content-Length`, 408
//! for a body not complete by its deadline (spec §9.6), and 413 before reading a body whose
//! declared length is too large; [`Device::head`] tells an adapter that reads bodies lazily
//! what the first two steps decide before it reads one.
//!
//! What the core cannot know comes in as values: the uptime in [`Request::uptime`]; the
//! stored audit lines of `logger/list` through [`Effect::ReadLog`] and [`logger_list_body`].
//!
//! ```
//! use hem_auth_core::device::{Device, DeviceConfig, Effect, Request};
//! use hem_auth_core::http::Method;
//! use hem_auth_core::keys::SecretKey;
//! # use rand_chacha::rand_core::SeedableRng;
//! # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
//! let now = hem_auth_core::UnixTime::from_secs(1_784_767_764);
//! let mut device = Device::new(DeviceConfig::new(SecretKey::generate(&mut rng)), &mut rng);
//! let version = device.handle(&Request::new(Method::Get, "/api/system/version"), now, &mut rng);
//! assert_eq!(version.status, 200);
//! assert!(version.body.starts_with(r#"{"hwv":"hem-emulator""#));
//! // Bearer before routing (spec §8.2): a bad token is 401 even on a path that does not exist.
//! let bad = Request::new(Method::Get, "/nowhere").authorization(Some("Bearer x.y.z"));
//! assert_eq!(device.handle(&bad, now, &mut rng).status, 401);
//! assert_eq!(device.handle(&Request::new(Method::Get, "/nowhere"), now, &mut rng).status, 404);
//! // A login challenge: 200, its body, no effect.
//! let challenge = device.handle(&Request::new(Method::Get, "/api/auth/token"), now, &mut rng);
//! assert_eq!((challenge.status, challenge.effects.is_empty()), (200, true));
//! ```

use crate::time::{Seconds, UnixTime};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use rand_core::CryptoRngCore;
use serde::Serialize;

use super::audit_line::{AuditChain, AuditKey, AuditLine};
use super::{kid_from_hex, AuditEvents, Device, DeviceError, Outcome, Requirement, Roles};
use crate::codec;
use crate::http::Method;
use crate::messages::{to_json, MAX_BODY_BYTES};

/// Keys listed when a `keymgmt/list` request gives no count (spec §9.7: default 15).
pub const DEFAULT_KEY_LIST_COUNT: usize = 15;
/// Event lines in one `GET /api/logger/list` page at most (spec §11.4).
pub const LOGGER_MAX_PAGE_LINES: usize = 1000;
/// The `type` the device lists for an imported X25519 public key (spec §9.7).
pub const EXTAID_KEY_TYPE: &str = "ECDH,CURVE25519";
/// `hwv` of `GET /api/system/version` (spec §9.1): tells a client this is not a device.
pub const VERSION_HWV: &str = "hem-emulator";
/// `fwv` of `GET /api/system/version` (spec §9.1).
pub const VERSION_FWV: &str = concat!("hem-emulator v", env!("CARGO_PKG_VERSION"));

/// `GET /api/system/config` (spec §8.5).
const CONFIG_READ: Requirement<'static> =
    Requirement::any_of(&["system:config", "logger:get", "auth:ext:pair"]);
/// `GET /api/keymgmt/list` (spec §8.5).
const KEY_LIST: Requirement<'static> =
    Requirement::any_of(&["keymgmt:list"]).roles(Roles::NotMaster);
/// `GET /api/logger/list` (spec §8.5).
const LOGGER: Requirement<'static> = Requirement::any_of(&["logger:get"]);

/// One HTTP request to the device, as the adapter hands it over.
///
/// Build it with [`Request::new`] and the setters; the fields are public for reading. See the
/// [module example](self).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Request<'a> {
    /// The method.
    pub method: Method,
    /// The path, without query string (`/api/auth/ext/token`, …), as received (not decoded).
    pub path: &'a str,
    /// The value of the `Authorization` header, if the request has one (a value that is not
    /// text: `Some("")`).
    pub authorization: Option<&'a str>,
    /// The raw body (empty when none).
    pub body: &'a [u8],
    /// Whole seconds since the device started (`uptime` of `GET /api/system/status`).
    pub uptime: Seconds,
}

impl<'a> Request<'a> {
    /// A request without `Authorization` header, body or uptime.
    pub const fn new(method: Method, path: &'a str) -> Self {
        Request {
            method,
            path,
            authorization: None,
            body: &[],
            uptime: Seconds::ZERO,
        }
    }

    /// With this `Authorization` header value (`None`: no header).
    pub const fn authorization(mut self, value: Option<&'a str>) -> Self {
        self.authorization = value;
        self
    }

    /// With this body.
    pub const fn body(mut self, body: &'a [u8]) -> Self {
        self.body = body;
        self
    }

    /// With this uptime.
    pub const fn uptime(mut self, uptime: Seconds) -> Self {
        self.uptime = uptime;
        self
    }

    /// The bearer token: `None` without the header; an empty token (which no check accepts)
    /// when the header is not `Bearer <token>` (scheme case-insensitive, token trimmed).
    pub fn bearer(&self) -> Option<&'a str> {
        let value = self.authorization?;
        let token = value
            .split_once(' ')
            .and_then(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()))
            .unwrap_or("");
        Some(token)
    }
}

/// One HTTP response: the status, the JSON body (empty for an error), and what the adapter
/// must do, in order. See the [module example](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body: empty for errors and for the unpair `DELETE`. For `logger/list`, the
    /// adapter completes it ([`Effect::ReadLog`]).
    pub body: String,
    /// Follow-ups for the adapter, in order.
    pub effects: Vec<Effect>,
}

/// Something the adapter must do for a response, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Effect {
    /// Store this finished audit line (spec §11.2, §11.3). An adapter that answers only once
    /// its lines are durable need not wait for [`crate::device::AuditKind::FailedScopeCheck`]
    /// lines.
    Audit(AuditLine),
    /// The persistent state changed (a pairing made or removed): save [`Device::snapshot`]
    /// before answering.
    StateChanged,
    /// A check-in set the RTC to this unix time (spec §9.4): the adapter's clock follows.
    ClockSet(UnixTime),
    /// `logger/list`: the body is the page of stored lines from counter `from`, at most
    /// `count` event lines, made with [`logger_list_body`] (spec §11.4). The audit lines
    /// before this effect are to be stored first.
    ReadLog {
        /// The first counter asked for.
        from: u64,
        /// Event lines at most (1 to [`LOGGER_MAX_PAGE_LINES`]).
        count: usize,
    },
}

/// What [`Device::head`] decided about a request before its body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Head {
    /// Answer this without reading the body (bearer refused, no such route).
    Answer(Response),
    /// A `POST` endpoint: read the body (`Content-Length` required, at most
    /// [`MAX_BODY_BYTES`]), then call [`Device::handle`].
    ReadBody,
    /// An endpoint that reads no body: call [`Device::handle`] with an empty one.
    NoBody,
}

/// Which endpoint a path names (parts borrowed from the path).
#[derive(Debug, Clone, Copy)]
enum Route<'p> {
    AuthToken,
    ExtRequest,
    ExtToken,
    ExtInit,
    ExtValidate,
    ExtMac,
    Checkin,
    Version,
    Status,
    Config,
    KeyList(&'p str),
    KeyGet(&'p str),
    KeyDelete(&'p str),
    LoggerList(&'p str),
}

impl Route<'_> {
    fn allows(self, m: Method) -> bool {
        match self {
            Route::AuthToken | Route::Checkin => matches!(m, Method::Get | Method::Post),
            Route::ExtRequest
            | Route::ExtToken
            | Route::ExtInit
            | Route::ExtValidate
            | Route::ExtMac => m == Method::Post,
            Route::KeyDelete(_) => m == Method::Delete,
            Route::Version
            | Route::Status
            | Route::Config
            | Route::KeyList(_)
            | Route::KeyGet(_)
            | Route::LoggerList(_) => m == Method::Get,
        }
    }
}

/// The route of `path`: `None` for a path the device does not have.
fn route(path: &str) -> Option<Route<'_>> {
    let r = match path {
        "/api/auth/token" => Route::AuthToken,
        "/api/auth/ext/request" => Route::ExtRequest,
        "/api/auth/ext/token" => Route::ExtToken,
        "/api/auth/ext/init" => Route::ExtInit,
        "/api/auth/ext/validate" => Route::ExtValidate,
        "/api/auth/ext/mac" => Route::ExtMac,
        "/api/system/checkin" => Route::Checkin,
        "/api/system/version" => Route::Version,
        "/api/system/status" => Route::Status,
        "/api/system/config" => Route::Config,
        _ => {
            if let Some(paging) = paged(path, "/api/keymgmt/list") {
                Route::KeyList(paging)
            } else if let Some(paging) = paged(path, "/api/logger/list") {
                Route::LoggerList(paging)
            } else if let Some(kid) = one_segment(path, "/api/keymgmt/get/") {
                Route::KeyGet(kid)
            } else {
                Route::KeyDelete(one_segment(path, "/api/keymgmt/delete/")?)
            }
        }
    };
    Some(r)
}

/// `prefix`, `prefix/a` or `prefix/a/b` with non-empty segments: the rest after `prefix`.
fn paged<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() {
        return Some(rest);
    }
    let segments = rest.strip_prefix('/')?;
    let mut parts = segments.split('/');
    let ok = parts.by_ref().take(2).all(|s| !s.is_empty()) && parts.next().is_none();
    ok.then_some(rest)
}

/// `prefix<segment>` with one non-empty segment.
fn one_segment<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    let rest = path.strip_prefix(prefix)?;
    (!rest.is_empty() && !rest.contains('/')).then_some(rest)
}

/// The numbers of a paging suffix (`""`, `/a` or `/a/b`), each `Some` when it is decimal
/// digits only; a number beyond `u64` is `u64::MAX`.
fn paging(rest: &str) -> (Option<Option<u64>>, Option<Option<u64>>) {
    let mut numbers = rest.split('/').skip(1).map(|n| {
        (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .then(|| n.parse::<u64>().unwrap_or(u64::MAX))
    });
    (numbers.next(), numbers.next())
}

/// An answer with no body.
fn empty(status: u16) -> Response {
    Response {
        status,
        body: String::new(),
        effects: Vec::new(),
    }
}

/// A 200 answer with a JSON body.
fn ok<T: Serialize>(body: &T) -> Response {
    Response {
        status: 200,
        body: to_json(body),
        effects: Vec::new(),
    }
}

impl Device {
    /// Answers one HTTP request: the route table and order of the module docs
    /// ([`crate::device::http`]), every endpoint's body, the audit lines and what to persist
    /// as [`Effect`]s. `now` is the device time (unix seconds) and `rng` the CSPRNG, as for
    /// every typed method; nothing here does I/O or reads a clock.
    ///
    /// The typed methods stay the fast path: `handle` is a layer over them that adds a route
    /// match, the audit lines and a body copy.
    ///
    /// Audit lines are made by the device's [`AuditChain`] ([`Device::set_audit_chain`]); a
    /// device without one draws a logger key from `rng` at its first event and then emits the
    /// key line (counter 0) before its first event line.
    ///
    /// ```
    /// # use hem_auth_core::device::{Device, DeviceConfig, Effect, Request};
    /// # use hem_auth_core::http::Method;
    /// # use hem_auth_core::keys::SecretKey;
    /// # use rand_chacha::rand_core::SeedableRng;
    /// # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    /// # let mut device = Device::new(DeviceConfig::new(SecretKey::generate(&mut rng)), &mut rng);
    /// let status = Request::new(Method::Get, "/api/system/status").uptime(hem_auth_core::Seconds::new(7));
    /// let response = device.handle(&status, hem_auth_core::UnixTime::from_secs(1_784_767_764), &mut rng);
    /// // The RTC is not set yet (spec §9.2): no `ts`, no `time`.
    /// assert_eq!(response.body, r#"{"uptime":7,"fls_state":0}"#);
    /// // A malformed login body: 400, empty body, nothing to store.
    /// let login = Request::new(Method::Post, "/api/auth/token").body(b"{");
    /// let refused = device.handle(&login, hem_auth_core::UnixTime::from_secs(1_784_767_764), &mut rng);
    /// assert_eq!((refused.status, refused.body.as_str(), refused.effects.len()), (400, "", 0));
    /// ```
    pub fn handle(
        &mut self,
        req: &Request<'_>,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Response {
        let route = match self.route_checked(req, now, rng) {
            Ok(route) => route,
            Err(refused) => return self.finish_response(refused),
        };
        if takes_body(req.method) && req.body.len() > MAX_BODY_BYTES {
            return self.finish_response(empty(DeviceError::BodyTooLarge.status()));
        }
        let response = self.dispatch(route, req, now, rng);
        self.finish_response(response)
    }

    /// The first half of [`Device::handle`], for an adapter that reads a body only when the
    /// endpoint wants one: the bearer check before routing (spec §8.2) and the route. The
    /// same checks run again in `handle`.
    pub fn head(&mut self, req: &Request<'_>, now: UnixTime, rng: &mut impl CryptoRngCore) -> Head {
        match self.route_checked(req, now, rng) {
            Ok(_) if takes_body(req.method) => Head::ReadBody,
            Ok(_) => Head::NoBody,
            Err(refused) => Head::Answer(self.finish_response(refused)),
        }
    }

    /// Installs the audit chain that numbers and MACs this device's events (spec §11.2): an
    /// adapter with stored lines resumes at their last counter plus one.
    pub fn set_audit_chain(&mut self, chain: AuditChain) {
        self.audit = Some(chain);
    }

    /// The audit chain, if one is installed (or was drawn by [`Device::handle`]).
    pub fn audit_chain(&self) -> Option<&AuditChain> {
        self.audit.as_ref()
    }

    /// The finished lines of `events`, as [`Device::handle`] makes them: for an adapter that
    /// calls a typed method itself (such as [`Device::set_clock`] at boot).
    pub fn audit_lines(
        &mut self,
        events: &AuditEvents,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Vec<AuditLine> {
        let mut out = Vec::new();
        if events.is_empty() {
            return out;
        }
        let chain = self.chain(now, rng, &mut out);
        for event in events {
            chain.record(event, now, &mut out);
        }
        out
    }

    /// The lines of every open failed-scope window (spec §11.3): what an adapter stores when
    /// it stops, so that every failed check is in exactly one line.
    pub fn flush_audit(&mut self) -> Vec<AuditLine> {
        let mut out = Vec::new();
        if let Some(chain) = self.audit.as_mut() {
            chain.flush(&mut out);
        }
        out
    }

    /// The chain, drawn from `rng` if none is installed (its key line then goes to `out`).
    fn chain(
        &mut self,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
        out: &mut Vec<AuditLine>,
    ) -> &mut AuditChain {
        self.audit.get_or_insert_with(|| {
            let mut key = zeroize::Zeroizing::new([0u8; 32]);
            rng.fill_bytes(&mut *key);
            let key = AuditKey::new(key);
            out.push(AuditLine {
                counter: 0,
                kind: None,
                text: key.key_line(now),
            });
            AuditChain::new(key, 1)
        })
    }

    /// Appends the lines of `events` to `response` as effects.
    fn with_events(
        &mut self,
        mut response: Response,
        events: &AuditEvents,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Response {
        for line in self.audit_lines(events, now, rng) {
            response.effects.push(Effect::Audit(line));
        }
        response
    }

    /// Step 1 and 2 of the module docs.
    fn route_checked<'p>(
        &mut self,
        req: &Request<'p>,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Route<'p>, Response> {
        if let Some(token) = req.bearer() {
            self.allow(Some(token), &Requirement::any_token(), now, rng)?;
        }
        match route(req.path) {
            Some(r) if r.allows(req.method) => Ok(r),
            _ => Err(empty(404)),
        }
    }

    /// A bearer check of an endpoint this module serves: `Err` is the answer, with the
    /// failed check's audit line.
    fn allow(
        &mut self,
        bearer: Option<&str>,
        requirement: &Requirement<'_>,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(), Response> {
        let (result, events) = self.authorize(bearer, requirement, now).into_parts();
        match result {
            Ok(_) => Ok(()),
            #[cfg(feature = "testing")]
            Err(e) if self.faults.passes(&e) => Ok(()),
            Err(e) => Err(self.with_events(empty(e.status()), &events, now, rng)),
        }
    }

    /// The answer to a typed method's outcome, with its audit lines.
    fn answer<T: Serialize>(
        &mut self,
        outcome: Outcome<T>,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Response {
        let (result, events) = outcome.into_parts();
        let response = match result {
            Ok(body) => ok(&body),
            Err(e) => empty(e.status()),
        };
        self.with_events(response, &events, now, rng)
    }

    /// What every response goes through last (the `leak_500` fault, under `testing`).
    #[allow(clippy::unused_self)]
    fn finish_response(&self, mut response: Response) -> Response {
        #[cfg(feature = "testing")]
        {
            response.status = self.faults.status(response.status);
        }
        #[cfg(not(feature = "testing"))]
        {
            let _ = &mut response;
        }
        response
    }

    fn dispatch(
        &mut self,
        route: Route<'_>,
        req: &Request<'_>,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Response {
        let (m, body, bearer) = (req.method, req.body, req.bearer());
        match route {
            Route::AuthToken if m == Method::Get => {
                let out = self.auth_token_challenge(now, rng);
                self.answer(out, now, rng)
            }
            Route::AuthToken => self.replayable(rng, |d, rng| {
                let out = d.auth_token(body, now, rng);
                #[cfg(feature = "testing")]
                let out = d.randomise_token_jti(out, rng);
                d.answer(out, now, rng)
            }),
            Route::ExtRequest => {
                let out = self.ext_request(body, now, rng);
                self.answer(out, now, rng)
            }
            Route::ExtToken => self.replayable(rng, |d, rng| {
                let out = d.ext_token(body, now, rng);
                #[cfg(feature = "testing")]
                let out = d.resign_ext_token(out, body, now, rng);
                #[cfg(feature = "testing")]
                let out = d.randomise_token_jti(out, rng);
                d.answer(out, now, rng)
            }),
            Route::ExtInit => {
                let out = self.ext_init(bearer, body, now, rng);
                self.answer(out, now, rng)
            }
            Route::ExtValidate => self.replayable(rng, |d, rng| {
                let out = d.ext_validate(bearer, body, now);
                #[cfg(feature = "testing")]
                let out = d.resign_ext_validate(out, bearer, body, now);
                let mut response = d.answer(out, now, rng);
                if response.status == 200 {
                    response.effects.push(Effect::StateChanged);
                }
                response
            }),
            Route::ExtMac => {
                let out = self.ext_mac(bearer, body, now, rng);
                self.answer(out, now, rng)
            }
            Route::Checkin if m == Method::Get => {
                let out = self.checkin_challenge(now, rng);
                self.answer(out, now, rng)
            }
            Route::Checkin => self.replayable(rng, |d, rng| {
                let (result, events) = d.checkin(body, now).into_parts();
                let (response, time) = match result {
                    Ok(done) => (ok(&done.response), Some(done.time)),
                    Err(e) => (empty(e.status()), None),
                };
                let mut response = d.with_events(response, &events, now, rng);
                response.effects.extend(time.map(Effect::ClockSet));
                response
            }),
            Route::Version => ok(&self.config().version),
            Route::Status => {
                let rtc = self.rtc_is_set();
                ok(&Status {
                    uptime: req.uptime.get(),
                    ts: rtc.then(|| rfc3339(now.as_secs())),
                    time: rtc.then_some(now.as_secs()),
                    fls_state: 0,
                    inited: (!self.config().initialised).then_some(false),
                })
            }
            Route::Config => self.config_body(bearer, now, rng),
            Route::KeyList(rest) => self.key_list(bearer, rest, now, rng),
            Route::KeyGet(kid) => self.key_get(bearer, kid, now, rng),
            Route::KeyDelete(kid) => {
                let (result, events) = self.unpair(bearer, kid, now).into_parts();
                let mut response = match result {
                    Ok(_) => empty(200),
                    Err(e) => empty(e.status()),
                };
                if response.status == 200 {
                    response.effects.push(Effect::StateChanged);
                }
                self.with_events(response, &events, now, rng)
            }
            Route::LoggerList(rest) => self.logger_list(bearer, rest, now, rng),
        }
    }

    /// Runs an endpoint that consumes a nonce (under the `skip_replay_check` fault, a
    /// success puts the nonces it consumed back).
    fn replayable<R: CryptoRngCore>(
        &mut self,
        rng: &mut R,
        run: impl FnOnce(&mut Self, &mut R) -> Response,
    ) -> Response {
        #[cfg(feature = "testing")]
        let replay = super::testing::Replay::before(self);
        let response = run(self, rng);
        #[cfg(feature = "testing")]
        if response.status == 200 {
            replay.restore(self);
        }
        response
    }

    /// `GET /api/system/config` (spec §9.3, §6.1): `eid`, `user` (the label), `spk`, and
    /// the trust options.
    fn config_body(
        &mut self,
        bearer: Option<&str>,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Response {
        if let Err(refused) = self.allow(bearer, &CONFIG_READ, now, rng) {
            return refused;
        }
        let config = self.config();
        ok(&Config {
            eid: self.eid().to_b64(),
            user: &config.label,
            email: "",
            hostname: "",
            trusted_ts: config.trusted_time,
            trusted_backend: config.backend_key.is_some(),
            spk: self.spk().to_b64(),
        })
    }

    /// `GET /api/keymgmt/list[/{offset}[/{count}]]` (spec §9.7): the paired authenticators as
    /// the device lists their `EXTAID` keys; non-negative decimal paging, otherwise 400.
    fn key_list(
        &mut self,
        bearer: Option<&str>,
        rest: &str,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Response {
        if let Err(refused) = self.allow(bearer, &KEY_LIST, now, rng) {
            return refused;
        }
        let index = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        let (offset, count) = match paging(rest) {
            (None, _) => (0, DEFAULT_KEY_LIST_COUNT),
            (Some(Some(offset)), None) => (index(offset), DEFAULT_KEY_LIST_COUNT),
            (Some(Some(offset)), Some(Some(count))) => (index(offset), index(count)),
            _ => return empty(400),
        };
        let pairings = self.pairings();
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

    /// `GET /api/keymgmt/get/{kid}` (spec §9.7): the bearer first, then 400 for a kid that is
    /// not 32 lowercase hex characters, 404 for an unknown one; no `descr`.
    fn key_get(
        &mut self,
        bearer: Option<&str>,
        kid: &str,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Response {
        let exact = format!("keymgmt:use:{kid}");
        let requirement = Requirement::any_of_or_exact(&["keymgmt:get", "keymgmt:gen"], &exact)
            .roles(Roles::NotMaster);
        if let Err(refused) = self.allow(bearer, &requirement, now, rng) {
            return refused;
        }
        let Some(raw) = kid_from_hex(kid) else {
            return empty(400);
        };
        match self.pairings().iter().find(|p| p.kid() == &raw) {
            Some(p) => ok(&KeyDetail {
                kid: p.kid_hex(),
                key_type: EXTAID_KEY_TYPE,
                label: p.label(),
                pubkey: p.aid().to_b64(),
            }),
            None => empty(404),
        }
    }

    /// `GET /api/logger/list[/{from}[/{count}]]` (spec §11.4): `count` 1 to 1000 (larger is
    /// 1000), non-negative decimal, otherwise 400. The counts of ended failed-scope windows
    /// come first, so the page has them; the adapter reads the page ([`Effect::ReadLog`]).
    fn logger_list(
        &mut self,
        bearer: Option<&str>,
        rest: &str,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Response {
        if let Err(refused) = self.allow(bearer, &LOGGER, now, rng) {
            return refused;
        }
        let max = LOGGER_MAX_PAGE_LINES;
        let (from, count) = match paging(rest) {
            (None, _) => (0, max),
            (Some(Some(from)), None) => (from, max),
            (Some(Some(from)), Some(Some(count))) if count > 0 => {
                (from, usize::try_from(count).unwrap_or(max).min(max))
            }
            _ => return empty(400),
        };
        let mut lines = Vec::new();
        if let Some(chain) = self.audit.as_mut() {
            chain.tick(now, &mut lines);
        }
        let mut response = empty(200);
        response
            .effects
            .extend(lines.into_iter().map(Effect::Audit));
        response.effects.push(Effect::ReadLog { from, count });
        response
    }
}

/// Whether an endpoint reads a body: the `POST` ones (a route allows its method).
fn takes_body(method: Method) -> bool {
    method == Method::Post
}

/// The body of `GET /api/logger/list` (spec §11.4, §9.7): `{"total": n, "lines": [...],
/// "next": from}` with the key line first, `next` only when more lines follow.
pub fn logger_list_body<L: AsRef<str>>(total: u64, lines: &[L], next: Option<u64>) -> String {
    to_json(&LogList {
        total,
        lines: lines.iter().map(AsRef::as_ref).collect(),
        next,
    })
}

/// `time` as RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SSZ` (the `ts` of `/api/system/status`, §9.2).
fn rfc3339(time: u64) -> String {
    let days = time / 86_400;
    let secs = time % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
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
    /// `false` on a device that is not initialised, absent otherwise (spec §9.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    inited: Option<bool>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // The version-and-status example: time 1647454647, ts 2022-03-16T18:17:27Z.
        assert_eq!(rfc3339(1_647_454_647), "2022-03-16T18:17:27Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn paths_match_as_the_emulator_routed_them() {
        assert!(matches!(
            route("/api/keymgmt/list"),
            Some(Route::KeyList(""))
        ));
        assert!(matches!(
            route("/api/keymgmt/list/1/2"),
            Some(Route::KeyList("/1/2"))
        ));
        assert!(route("/api/keymgmt/list/").is_none());
        assert!(route("/api/keymgmt/list/1/2/3").is_none());
        assert!(route("/api/keymgmt/list//2").is_none());
        assert!(route("/api/keymgmt/listx").is_none());
        assert!(route("/api/keymgmt/get/").is_none());
        assert!(route("/api/keymgmt/get/a/b").is_none());
        assert!(matches!(
            route("/api/keymgmt/delete/x"),
            Some(Route::KeyDelete("x"))
        ));
        assert!(route("/api/auth/token/").is_none());
    }
}
