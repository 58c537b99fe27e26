//! `--via-broker`: the runner as a client of a notify broker, the way the Manager and the SDKs
//! are (spec §5.1, §6.1, §6.8, §9.4; the broker contract is spec §12).
//!
//! Here the runner holds no broker session key: the broker makes the sessions and keeps
//! `epk_prv`, so only the broker can verify authreqs, pairing requests and codes. The runner
//! forwards objects verbatim between device and broker, as the official clients do, and judges
//! what both answer. The phone on the far side is whatever the broker reaches: the emulator's
//! virtual phone, or a real one held by a person (prompts go to the [`Operator`]).

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::case::Abort;
use crate::ctx::Ctx;
use crate::target::{Auth, Response, Target};

/// The Manager's `event/check` pace: a 300 ms timer acting on every third tick (§5.1).
pub const EVENT_POLL_EVERY_MS: u64 = 900;
/// How long the Manager waits for a login approval: 198 ticks of 300 ms, ~60 s (§5.1).
pub const EVENT_POLL_FOR_SECS: u64 = 60;
/// The Manager's `register/check` pace (§6.1).
pub const REGISTER_POLL_EVERY_SECS: u64 = 4;
/// How long the Manager's QR code lives, and so how long it waits for the phone (§6.1).
pub const REGISTER_POLL_FOR_SECS: u64 = 60;

/// How often and how long the runner polls the broker for the phone's answers. The first poll
/// is immediate; later ones are `every` apart until `for` has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Polling {
    /// Interval between `GET /notify/event/check/{id}` polls.
    pub event_every: Duration,
    /// How long to wait for a login answer before cancelling the event.
    pub event_for: Duration,
    /// Interval between `GET /notify/register/check/{rid}` polls.
    pub register_every: Duration,
    /// How long to wait for a registration answer.
    pub register_for: Duration,
}

impl Polling {
    /// The official clients' pace (the Manager's; §5.1, §6.1).
    pub const CLIENTS: Polling = Polling {
        event_every: Duration::from_millis(EVENT_POLL_EVERY_MS),
        event_for: Duration::from_secs(EVENT_POLL_FOR_SECS),
        register_every: Duration::from_secs(REGISTER_POLL_EVERY_SECS),
        register_for: Duration::from_secs(REGISTER_POLL_FOR_SECS),
    };
}

impl Default for Polling {
    fn default() -> Self {
        Polling::CLIENTS
    }
}

/// Who is told when a person has to act (scan the QR code, approve on the phone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Operator {
    /// Nobody: the phone is virtual (the embedded emulator, tests).
    #[default]
    Quiet,
    /// Standard error.
    Stderr,
}

impl Operator {
    /// Tells the operator `text`.
    pub fn say(self, text: &str) {
        if self == Operator::Stderr {
            eprintln!("\n>>> {text}\n");
        }
    }
}

/// What the runner knows about the broker before it starts.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    /// The broker's base URL (`/checkin` and `/notify/...` are under it).
    pub url: String,
    /// How to reach the broker (certificate trust, timeout).
    pub client: crate::target::ClientOptions,
    /// Polling pace.
    pub polling: Polling,
    /// Where prompts for a person go.
    pub operator: Operator,
}

/// A registration the run made through the broker.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The device's eid (standard base64), from `GET /api/system/config`.
    pub eid: String,
    /// The broker's registration id.
    pub rid: String,
    /// The pairing id the broker assigned.
    pub pid: String,
    /// The kid the device reported for the stored key.
    pub kid: String,
    /// The device's `ext/validate` answer, as received (forwarded verbatim to `finalise`).
    pub validate_body: Vec<u8>,
}

/// A remote login the run completed through the broker.
#[derive(Debug, Clone)]
pub struct RemoteLogin {
    /// The requested scope.
    pub scope: String,
    /// The phone's authreply, as the broker handed it over.
    pub authreply: String,
    /// The device's access token.
    pub token: String,
    /// The status of `ext/token`.
    pub status: u16,
}

/// The broker side of a run: the client for it, the pace, and what earlier cases established.
#[derive(Debug)]
pub struct Broker {
    /// The broker.
    pub target: Target,
    /// Polling pace.
    pub polling: Polling,
    /// Prompts for a person.
    pub operator: Operator,
    /// Set by `broker/register`.
    pub registration: Option<Registration>,
    /// Set by `broker/login`.
    pub login: Option<RemoteLogin>,
}

impl Broker {
    /// A broker client for `settings`.
    pub fn new(settings: &BrokerSettings) -> Result<Self, String> {
        Ok(Broker {
            target: Target::with_options(&settings.url, &settings.client)?,
            polling: settings.polling,
            operator: settings.operator,
            registration: None,
            login: None,
        })
    }
}

/// The run's broker, or a skip when the run has none.
pub fn broker(ctx: &Ctx) -> Result<&Broker, Abort> {
    ctx.broker
        .as_ref()
        .ok_or_else(|| Abort::skip("no broker (--via-broker)"))
}

/// The run's broker, mutably.
pub fn broker_mut(ctx: &mut Ctx) -> Result<&mut Broker, Abort> {
    ctx.broker
        .as_mut()
        .ok_or_else(|| Abort::skip("no broker (--via-broker)"))
}

/// The registration made by `broker/register`.
pub fn registration(ctx: &Ctx) -> Result<Registration, Abort> {
    broker(ctx)?
        .registration
        .clone()
        .ok_or_else(|| Abort::fail("no registration made through the broker"))
}

/// A JSON object body.
pub fn object(r: &Response, what: &str) -> Result<Map<String, Value>, Abort> {
    match r.json(what)? {
        Value::Object(m) => Ok(m),
        other => Err(Abort::Fail {
            status: Some(r.status),
            detail: format!("{what}: answer is not a JSON object: {other}"),
        }),
    }
}

/// A string member of an object a setup step needs.
pub fn member(m: &Map<String, Value>, what: &str, name: &str) -> Result<String, Abort> {
    m.get(name)
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| Abort::fail(format!("{what}: no string member `{name}`")))
}

/// A broker session as a client holds it: the whole answer (forwarded with the scope to
/// `ext/request`) and its `epk`.
#[derive(Debug, Clone)]
pub struct Session {
    /// The session object as the broker sent it.
    pub object: Map<String, Value>,
    /// Its `epk`.
    pub epk: String,
}

impl Session {
    /// Reads a session answer; it must be 200 with a string `epk`.
    pub fn read(r: &Response, what: &str) -> Result<Self, Abort> {
        if r.status != 200 {
            return Err(Abort::setup(what, r.status, 200));
        }
        let object = object(r, what)?;
        let epk = member(&object, what, "epk")?;
        Ok(Session { object, epk })
    }
}

/// `GET {broker}/notify/session`: a new anonymous session.
pub fn get_session(ctx: &Ctx) -> Result<Response, Abort> {
    broker(ctx)?.target.get("/notify/session", Auth::None)
}

/// `POST {broker}/notify/session {eid}`: the device's eid-bound session.
pub fn post_session(ctx: &Ctx, eid: &str) -> Result<Response, Abort> {
    broker(ctx)?
        .target
        .post_json("/notify/session", &json!({ "eid": eid }), Auth::None)
}

/// A new anonymous session; required to succeed.
pub fn anonymous_session(ctx: &Ctx) -> Result<Session, Abort> {
    Session::read(&get_session(ctx)?, "GET /notify/session")
}

/// The eid-bound session of `eid`; required to succeed.
pub fn eid_session(ctx: &Ctx, eid: &str) -> Result<Session, Abort> {
    Session::read(&post_session(ctx, eid)?, "POST /notify/session {eid}")
}

/// `GET /api/system/config` with a `system:config` token (the Manager's source of the eid and
/// of the QR code's user, email and hostname); required to succeed.
pub fn device_config(ctx: &mut Ctx) -> Result<Map<String, Value>, Abort> {
    let token = ctx.token("system:config")?;
    let r = ctx
        .target
        .get("/api/system/config", Auth::Bearer(&token))?
        .require("GET /api/system/config", 200)?;
    object(&r, "GET /api/system/config")
}

/// The device's eid text from its configuration.
pub fn device_eid(ctx: &mut Ctx) -> Result<String, Abort> {
    let config = device_config(ctx)?;
    member(&config, "GET /api/system/config", "eid")
}

/// `POST /api/auth/ext/request` with the whole session object plus `scope`, as the Manager
/// and the SDK send it (§5.1, §5.2).
pub fn ext_request(ctx: &Ctx, session: &Session, scope: &str) -> Result<Response, Abort> {
    let mut body = session.object.clone();
    body.insert("scope".into(), Value::String(scope.into()));
    ctx.target
        .post_json("/api/auth/ext/request", &Value::Object(body), Auth::None)
}

/// `POST {broker}/notify/event/new` with `body` as it is (the `ext/request` answer).
pub fn event_new(ctx: &Ctx, body: &[u8]) -> Result<Response, Abort> {
    broker(ctx)?
        .target
        .post("/notify/event/new", body, Auth::None)
}

/// `DELETE {broker}/notify/event/{eventid}`: what a client does on timeout or cancel.
pub fn cancel_event(ctx: &Ctx, eventid: &str) -> Result<Response, Abort> {
    broker(ctx)?
        .target
        .delete(&format!("/notify/event/{eventid}"), Auth::None)
}

/// How a poll ended.
#[derive(Debug, Clone)]
pub enum Polled {
    /// An answer other than 202 (pending).
    Answer(Response),
    /// Still 202 when the time was up.
    TimedOut,
}

/// Polls `GET path` on the broker: at once, then every `every`, while it answers 202 and
/// `within` has not passed.
pub fn poll(
    target: &Target,
    path: &str,
    every: Duration,
    within: Duration,
) -> Result<Polled, Abort> {
    let started = Instant::now();
    loop {
        let r = target.get(path, Auth::None)?;
        if r.status != 202 {
            return Ok(Polled::Answer(r));
        }
        if started.elapsed() + every > within {
            return Ok(Polled::TimedOut);
        }
        std::thread::sleep(every);
    }
}

/// The device check-in through the broker's `/checkin` (§9.4, §12.7): `GET /api/system/checkin`,
/// its answer verbatim to `POST {broker}/checkin`, that answer verbatim to
/// `POST /api/system/checkin`. Returns the broker's and the device's answers; the first two
/// steps are required to succeed.
pub fn checkin(ctx: &Ctx) -> Result<(Response, Response), Abort> {
    let check = ctx
        .target
        .get("/api/system/checkin", Auth::None)?
        .require("GET /api/system/checkin", 200)?;
    let checked = broker(ctx)?
        .target
        .post("/checkin", &check.body, Auth::None)?
        .require("POST {broker}/checkin", 200)?;
    let done = ctx
        .target
        .post("/api/system/checkin", &checked.body, Auth::None)?;
    Ok((checked, done))
}

/// `POST /api/auth/ext/init` or `/api/auth/ext/mac` (`path`) with `{"epk": epk}` and a
/// bearer: the device's 200 answer as a JSON object, for forwarding to the broker.
pub fn device_epk_call(
    ctx: &Ctx,
    path: &str,
    epk: &str,
    token: &str,
) -> Result<Map<String, Value>, Abort> {
    let what = path.trim_start_matches("/api/auth/");
    let r = ctx
        .target
        .post_json(path, &json!({ "epk": epk }), Auth::Bearer(token))?
        .require(what, 200)?;
    object(&r, what)
}

/// The body of `subscribers/list` (and, with `pid`, of the device form of
/// `subscribers/delete`): the device's `ext/mac` answer for the eid-bound session plus its
/// `epk` (§6.8, §12.6). Needs an `auth:ext:pair` token, as the Manager's unpairing uses.
pub fn subscribers_body(ctx: &mut Ctx, eid: &str) -> Result<Map<String, Value>, Abort> {
    let token = ctx.token("auth:ext:pair")?;
    let session = eid_session(ctx, eid)?;
    let mut body = device_epk_call(ctx, "/api/auth/ext/mac", &session.epk, &token)?;
    body.insert("epk".into(), Value::String(session.epk));
    Ok(body)
}

/// `POST {broker}/notify/subscribers/list` with `body`.
pub fn subscribers_list(ctx: &Ctx, body: &Map<String, Value>) -> Result<Response, Abort> {
    broker(ctx)?.target.post_json(
        "/notify/subscribers/list",
        &Value::Object(body.clone()),
        Auth::None,
    )
}

/// The pids a `subscribers/list` answer names; required to be 200 with an array.
pub fn listed_pids(r: &Response) -> Result<Vec<String>, Abort> {
    let r = r.clone().require("subscribers/list", 200)?;
    match r.json("subscribers/list")? {
        Value::Array(items) => Ok(items
            .iter()
            .filter_map(|i| i.get("pid").and_then(Value::as_str).map(String::from))
            .collect()),
        other => Err(Abort::fail(format!(
            "subscribers/list: answer is not an array: {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_pace() {
        let p = Polling::default();
        assert_eq!(p.event_every, Duration::from_millis(900));
        assert_eq!(p.register_every, Duration::from_secs(4));
        assert_eq!(p.event_for, Duration::from_secs(60));
    }
}
