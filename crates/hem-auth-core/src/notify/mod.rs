//! The notify broker (`api.encedo.com/notify`) and the emulated check-in backend, as a sans-IO
//! service: the contract is §12 of the spec (`docs/spec`).
//!
//! [`NotifyBroker::handle`] takes one HTTP request as plain values ([`Request`]) and returns
//! the status, the JSON body and what the adapter must do next ([`NotifyEvent`]). Nothing here
//! reads a clock, the OS or the network: every call takes `now` (unix seconds) and, where keys
//! or ids are drawn, the caller's CSPRNG. The typed per-endpoint methods
//! ([`NotifyBroker::event_new`], [`NotifyBroker::register_finalise`], …) are what `handle`
//! routes to; each returns a typed answer or a [`NotifyError`], which knows its status.
//!
//! What the broker checks (spec §12.1, §12.3–§12.6), because it holds each session's `epk_prv`:
//!
//! * the authreq at `event/new`: HS256 under X25519(epk_prv, `iss`), `aud` = epk, not expired,
//!   `iat` not in the future;
//! * the pairing request at `register/init`: HS256 under X25519(epk_prv, eid), `iss` = eid,
//!   `aud` = epk, not expired;
//! * every phone MAC: HMAC under X25519(epk_prv, aid);
//! * the pairing `code` at `register/finalise`: HMAC under X25519(epk_prv, eid) over the reply
//!   it relayed;
//! * the device's `ext/mac` at `subscribers/list|delete`: HMAC under X25519(epk_prv, eid), and
//!   the nonce's time within [`NONCE_WINDOW_SECS`] of now;
//! * every subscriber call's nonce: accepted once per session ([`MAX_USED_NONCES`]).
//!
//! No request that fails a check changes any state. Tables are bounded
//! ([`NotifyConfig::max_sessions`], [`NotifyConfig::max_events`],
//! [`NotifyConfig::max_registrations`]): when one is full, expired entries go first, then the
//! oldest.

use crate::time::UnixTime;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use crate::keys::{PublicKey, SecretKey};

mod backend;
mod error;
mod event;
mod register;
mod route;
mod session;
mod subscribers;

pub use backend::{answer_check, Checked};
pub use error::NotifyError;
pub use event::{EventCreated, EventData, EventStatus, EventsByPid};
pub use register::{LinkAccepted, LinkRequest, Registered, RegistrationStatus};
pub use route::is_notify_path;
pub use session::SessionInfo;
pub use subscribers::{SubscriberEntry, SubscriberList};

/// Largest request body, in bytes (spec §12.2): the adapter answers 413 above this before
/// reading the body, and [`NotifyBroker::handle`] does the same. It covers the `event/new`
/// body of the largest authreq a device can emit (spec §3.6: 17 593 bytes, see
/// [`crate::jwt::MAX_AUTHREQ_BYTES`]); a power of two above it.
pub const MAX_BODY_BYTES: usize = 32_768;
/// Lifetime of a broker session (`exp` = now + this): spec §12.3, "exp ≈ now + 24 h".
pub const SESSION_LIFETIME_SECS: u64 = 86_400;
/// Longest life of a registration (ours): the Manager's QR lives 60 s; ten times that is
/// ample for a phone to scan and the client to poll and finalise.
pub const REGISTRATION_MAX_SECS: u64 = 600;
/// How far the LE32 time of an `ext/mac` nonce may be from now (ours): a client calls
/// `ext/mac` and then the broker within seconds.
pub const NONCE_WINDOW_SECS: u64 = 300;
/// Nonces one session remembers (spec §12.6, ours): a subscriber call's nonce is accepted
/// once per session, so the broker keeps the nonces of a session's successful subscriber calls
/// for as long as the session lives. Device-form nonces whose window has passed no longer
/// count; when a session holds this many others, a further subscriber call on it is refused
/// with 503 ([`NotifyError::NonceStoreFull`]) rather than a nonce forgotten. A person lists and
/// deletes a few times a day; a session lives a day.
pub const MAX_USED_NONCES: usize = 64;
/// Default session table size (spec §12.2, ours).
pub const DEFAULT_MAX_SESSIONS: usize = 4096;
/// Default event table size (ours): an event lives at most an authreq's hour, and a client
/// makes one per remote login.
pub const DEFAULT_MAX_EVENTS: usize = 1024;
/// Default registration table size (ours): a registration lives at most
/// [`REGISTRATION_MAX_SECS`].
pub const DEFAULT_MAX_REGISTRATIONS: usize = 1024;
/// Default subscriber table size (ours). Anyone can make an X25519 key, act as its device and
/// finalise a registration, so the table must be bounded; a full table refuses new
/// subscribers rather than evicting real ones ([`NotifyError::TooManySubscribers`]).
pub const DEFAULT_MAX_SUBSCRIBERS: usize = 4096;
/// Subscribers kept per device: the device holds at most this many pairings
/// (`EXT_AUTH_MAX_CLIENTS`, spec §6.5), so when a device finalises one more its oldest
/// subscriber is stale (its key was deleted on the device alone) and is dropped.
pub const SUBSCRIBERS_PER_DEVICE: usize = crate::claims::MAX_PAIRINGS;

pub use crate::http::Method;

/// One HTTP request, as the adapter hands it over.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The method.
    pub method: Method,
    /// The path, without query string (`/notify/session`, `/checkin`, …).
    pub path: &'a str,
    /// The raw body (empty when none).
    pub body: &'a [u8],
    /// The client's address as text: what `ipinfo_*` objects report.
    pub peer: &'a str,
    /// The broker's base URL without a trailing slash (`http://127.0.0.1:8080`): the prefix of
    /// registration links.
    pub base_url: &'a str,
}

/// One HTTP response: status and compact JSON body (`{}` when there is nothing to say), plus
/// what the adapter must do after sending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: String,
    /// Follow-ups for the adapter, in order.
    pub events: Vec<NotifyEvent>,
}

/// Something the adapter must act on after a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotifyEvent {
    /// A registration was opened (`register/init`): `link` is what the QR code carries; an
    /// in-process virtual phone may "scan" it.
    LinkRegistered {
        /// The registration id.
        rid: String,
        /// `<base_url>/notify/register/challenge/<rid>`.
        link: String,
    },
    /// The subscriber list changed (`register/finalise`, `subscribers/delete`): save
    /// [`NotifyBroker::snapshot`].
    SubscribersChanged,
}

/// A successful answer: its status (200 unless said otherwise) and JSON body.
pub trait Reply {
    /// The HTTP status of this answer.
    fn status(&self) -> u16 {
        200
    }
    /// The compact JSON body.
    fn body(&self) -> String;
}

/// The answer `200 {}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Empty;

impl Reply for Empty {
    fn body(&self) -> String {
        String::from("{}")
    }
}

/// An `ipinfo_*` object: `{"ip":"<peer>","city":"","country":""}` (the emulator has no
/// geolocation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpInfo {
    /// The peer address as the adapter reported it.
    pub ip: String,
    /// Always empty.
    pub city: String,
    /// Always empty.
    pub country: String,
}

impl IpInfo {
    /// The object for a peer address.
    pub fn of(peer: &str) -> Self {
        IpInfo {
            ip: String::from(peer),
            city: String::new(),
            country: String::new(),
        }
    }
}

/// The broker's limits and the optional check-in backend.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NotifyConfig {
    /// The emulated check-in backend's key; `None` answers `POST /checkin` with 404.
    pub backend: Option<SecretKey>,
    /// Sessions kept (at least 1).
    pub max_sessions: usize,
    /// Events kept (at least 1).
    pub max_events: usize,
    /// Registrations kept (at least 1).
    pub max_registrations: usize,
    /// Subscribers kept (at least 1); see [`DEFAULT_MAX_SUBSCRIBERS`].
    pub max_subscribers: usize,
}

impl Default for NotifyConfig {
    /// No backend; [`DEFAULT_MAX_SESSIONS`], [`DEFAULT_MAX_EVENTS`],
    /// [`DEFAULT_MAX_REGISTRATIONS`], [`DEFAULT_MAX_SUBSCRIBERS`].
    fn default() -> Self {
        NotifyConfig {
            backend: None,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_events: DEFAULT_MAX_EVENTS,
            max_registrations: DEFAULT_MAX_REGISTRATIONS,
            max_subscribers: DEFAULT_MAX_SUBSCRIBERS,
        }
    }
}

impl NotifyConfig {
    /// The default limits with a check-in backend key.
    pub fn with_backend(backend: SecretKey) -> Self {
        NotifyConfig {
            backend: Some(backend),
            ..NotifyConfig::default()
        }
    }
}

/// A paired phone as the broker knows it (made at `register/finalise`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Subscriber {
    /// The pairing id the broker drew (standard base64 of 32 bytes).
    pub pid: String,
    /// The device.
    #[serde(with = "crate::device::snapshot::b64_key")]
    pub eid: PublicKey,
    /// The phone's key for this pairing.
    #[serde(with = "crate::device::snapshot::b64_key")]
    pub aid: PublicKey,
    /// The phone's push-notification (FCM) token, as the phone sent it (opaque).
    pub fid: String,
    /// The device's kid for the phone's key, as the device sent it to `finalise`.
    pub kid: String,
    /// The phone's name (the reply's `label`).
    pub label: String,
    /// When it was finalised (broker time, unix seconds).
    pub created: u64,
}

/// What survives a restart: the backend key and the subscribers. Sessions, events and
/// registrations are short-lived and are not kept (clients start those flows again). A
/// session's used nonces die with it: no session survives a restart, so no nonce of the old
/// sessions can authenticate a call on a new one (each is keyed with its session's epk).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotifySnapshot {
    /// The check-in backend's secret, standard base64.
    #[serde(default, with = "opt_secret")]
    pub backend: Option<SecretKey>,
    /// The subscribers, ordered by pid.
    #[serde(default)]
    pub subscribers: Vec<Subscriber>,
}

/// Serde for an optional secret key as standard base64 or `null`.
mod opt_secret {
    use crate::keys::SecretKey;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Wrap(#[serde(with = "crate::device::snapshot::b64_secret")] SecretKey);

    pub(super) fn serialize<S: Serializer>(
        key: &Option<SecretKey>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        key.as_ref().map(|k| Wrap(k.clone())).serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SecretKey>, D::Error> {
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

/// The notify broker: sessions, events, registrations and subscribers, in memory.
///
/// The secrets it holds (session keys, the backend key) zeroize on drop; `Debug` prints
/// counts only.
pub struct NotifyBroker {
    config: NotifyConfig,
    backend_public: Option<PublicKey>,
    sessions: BTreeMap<[u8; 32], session::Session>,
    events: BTreeMap<String, event::EventRecord>,
    registrations: BTreeMap<String, register::Registration>,
    subscribers: BTreeMap<String, Subscriber>,
    /// Insertion counter: the eviction order of the bounded tables.
    seq: u64,
}

impl core::fmt::Debug for NotifyBroker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NotifyBroker")
            .field("backend", &self.backend_public)
            .field("sessions", &self.sessions.len())
            .field("events", &self.events.len())
            .field("registrations", &self.registrations.len())
            .field("subscribers", &self.subscribers.len())
            .finish()
    }
}

impl NotifyBroker {
    /// An empty broker. Limits below 1 are raised to 1.
    pub fn new(mut config: NotifyConfig) -> Self {
        config.max_sessions = config.max_sessions.max(1);
        config.max_events = config.max_events.max(1);
        config.max_registrations = config.max_registrations.max(1);
        config.max_subscribers = config.max_subscribers.max(1);
        NotifyBroker {
            backend_public: config.backend.as_ref().map(SecretKey::public_key),
            config,
            sessions: BTreeMap::new(),
            events: BTreeMap::new(),
            registrations: BTreeMap::new(),
            subscribers: BTreeMap::new(),
            seq: 0,
        }
    }

    /// Answers one request; never panics, whatever the input. See spec §12.
    pub fn handle(
        &mut self,
        req: &Request<'_>,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Response {
        route::handle(self, req, now, rng)
    }

    /// The check-in backend's public key (what the device is configured with), if any.
    pub fn backend_public(&self) -> Option<PublicKey> {
        self.backend_public
    }

    /// The persistent state: backend key and subscribers.
    pub fn snapshot(&self) -> NotifySnapshot {
        NotifySnapshot {
            backend: self.config.backend.clone(),
            subscribers: self.subscribers.values().cloned().collect(),
        }
    }

    /// A broker with the snapshot's subscribers and `config`'s limits. The backend key is the
    /// snapshot's when it has one (the state directory is the source of truth), else
    /// `config.backend`.
    ///
    /// Refuses a snapshot with two subscribers under one pid ([`NotifyError::BadSnapshot`]).
    pub fn restore(
        snapshot: NotifySnapshot,
        mut config: NotifyConfig,
    ) -> Result<Self, NotifyError> {
        if snapshot.backend.is_some() {
            config.backend = snapshot.backend;
        }
        let mut broker = NotifyBroker::new(config);
        for sub in snapshot.subscribers {
            if broker.subscribers.insert(sub.pid.clone(), sub).is_some() {
                return Err(NotifyError::BadSnapshot);
            }
        }
        Ok(broker)
    }

    /// The subscribers, ordered by pid.
    pub fn subscribers(&self) -> impl Iterator<Item = &Subscriber> {
        self.subscribers.values()
    }

    /// The next insertion number.
    fn next_seq(&mut self) -> u64 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }
}

/// An entry of a bounded table: when it was added, and whether it is dead at `now`.
trait Aging {
    fn seq(&self) -> u64;
    fn expired(&self, now: UnixTime) -> bool;
}

/// Makes room for one more entry in a table of at most `cap`: drops every expired entry when
/// full, then the oldest ones.
fn make_room<K: Ord + Clone, V: Aging>(table: &mut BTreeMap<K, V>, cap: usize, now: UnixTime) {
    if table.len() < cap {
        return;
    }
    table.retain(|_, v| !v.expired(now));
    while table.len() >= cap {
        let oldest = table
            .iter()
            .min_by_key(|(_, v)| v.seq())
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => {
                table.remove(&k);
            }
            None => break,
        }
    }
}

/// Parses a request body: at most [`MAX_BODY_BYTES`], one JSON object without duplicate
/// members, then `T` (unknown members ignored). 413 / 400.
fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, NotifyError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(NotifyError::TooLarge);
    }
    crate::json::check_object(body).map_err(|_| NotifyError::BadBody)?;
    serde_json::from_slice(body).map_err(|_| NotifyError::BadBody)
}

/// A fresh id: 16 random bytes as 32 lowercase hex characters, not already a key of `table`.
///
/// A collision (2^-128 with a real CSPRNG) counts the last bytes up, so even a stuck RNG
/// cannot make this loop forever: the table is finite.
fn fresh_id<V>(table: &BTreeMap<String, V>, rng: &mut impl CryptoRngCore) -> String {
    let mut raw = [0u8; 16];
    rng.fill_bytes(&mut raw);
    let base = u64::from_le_bytes(raw[8..].try_into().unwrap_or_default());
    let mut bump: u64 = 0;
    loop {
        raw[8..].copy_from_slice(&base.wrapping_add(bump).to_le_bytes());
        let id = crate::device::kid_to_hex(&raw);
        if !table.contains_key(&id) {
            return id;
        }
        bump = bump.wrapping_add(1);
    }
}

/// Whether two pids are the same, whatever their base64 spelling (standard or URL form).
fn same_pid(a: &str, b: &str) -> bool {
    crate::codec::pid_to_pidx(a) == crate::codec::pid_to_pidx(b)
}
