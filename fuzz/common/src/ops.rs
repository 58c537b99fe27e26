//! The structure-aware device harness: a sequence of [`Op`]s (derived with `Arbitrary`) played
//! on simulated time by the real roles — the device, the client with its broker sessions, and
//! the phones — with arbitrary mutations of what travels between them, clock moves, reboots and
//! snapshots.
//!
//! It runs on the one simulated world, [`hem_auth_sim::World`] (the tests' and benches'):
//! the world holds the device (the fixture's, built by [`World::from_device`] without drawing
//! keys), the RNG and the clock, and every operation that is an HTTP request (challenge,
//! login, `ext/request`, `ext/token`, `ext/init`, `ext/validate`, `ext/mac`, check-in, unpair,
//! the bearer checks) goes through [`World::device_call`], so through `Device::handle`: the
//! route table, the bearer check before routing, the body limit and the audit lines are
//! fuzzed with the endpoints. The model reads what an HTTP client reads: the status (compared
//! with `DeviceError::X.status()`; the device's error bodies are empty, which is checked too)
//! and the JSON body. Set-clock, reboots and snapshots are not HTTP: they call the device's
//! typed methods.
//!
//! The harness keeps its own model of what the protocol allows: the nonces the device issued
//! (per purpose; spec §4.3: they authenticate themselves, so issuing stores nothing and no
//! number of issues evicts one), the nonces it accepted, its consumed set (successes only,
//! each kept until it expires; a success that finds it full is refused with 503), the paired
//! pids and the tokens it minted in each boot. After every step it checks:
//!
//! * nothing panicked (libFuzzer reports a panic as a crash);
//! * a nonce is accepted at most once, and only for its own purpose while it is pending;
//! * a success is refused with 503 exactly when the consumed set is full of unexpired nonces;
//! * a token is issued only for a pending nonce and, for an authreply, only for a paired pid
//!   whose aid signed it; a bearer is accepted exactly when a token of this boot allows it,
//!   and refused with the status the model gives (401 for a token that is not valid now, 403
//!   for one whose role or scope the endpoint does not allow; a 403 of `ext/init` leaves its
//!   failed-scope audit line);
//! * the device's pending and consumed nonces, pairings and clock state equal the model's;
//! * a snapshot restores to an equal snapshot (also through JSON);
//! * what the real roles build honestly is accepted when the model says it must be
//!   (so that a device that refuses everything does not pass).

use hem_auth_core::{Access, UnixTime};
use std::collections::HashSet;

use arbitrary::Arbitrary;
use hem_auth_core::authenticator::{reply_to_pairing, Event, UnverifiedPairingRequest, PERIODS};
use hem_auth_core::claims::{
    self, AuthreplyClaims, AuthreqClaims, LoginClaims, PairingReplyClaims, PairingRequestClaims,
    MAX_PAIRINGS,
};
use hem_auth_core::client::{
    self, ExtAuthState, LoginChallenge, PairingState, UnverifiableAccessToken,
    VerifiedPairingRequest,
};
use hem_auth_core::codec;
use hem_auth_core::device::{
    kid_from_hex, kid_of, kid_to_hex, AuditKind, Device, DeviceError, DeviceSnapshot, Malformed,
    NoncePurpose, Roles, AUTHREQ_LIFETIME_SECS, AUTHREQ_USE_LIFETIME_SECS,
    EXT_TOKEN_DEFAULT_LIFETIME_SECS, LOGIN_CHALLENGE_LIFETIME_SECS, PAIRING_REQUEST_LIFETIME_SECS,
};
use hem_auth_core::http::Method;
use hem_auth_core::jwt::{Header, UntrustedJwt};
use hem_auth_core::keys::{PublicKey, SecretKey, SharedSecret};
use hem_auth_core::messages::{
    self, AuthTokenRequest, ExtInitResponse, ExtRequest, ExtRequestResponse, ExtTokenRequest,
    ExtValidateRequest, ExtValidateResponse, MAX_BODY_BYTES,
};
use hem_auth_core::scope;
use hem_auth_core::seal::ScopeKey;
use hem_auth_sim::{DeviceReply, Keys, Phone, World};
use rand_core::RngCore;

use crate::fixture;
use crate::oracle;

/// Most operations played from one input (bounds the time of one execution).
pub const MAX_OPS: usize = 64;
/// Consumed-set capacity of the harness's device: small, so that it fills (503) and expired
/// entries are dropped.
pub const NONCE_CAPACITY: usize = 4;
/// Longest fuzzed free text used in a message.
const MAX_TEXT: usize = 1100;

/// One step.
#[derive(Arbitrary, Debug, Clone)]
pub enum Op {
    /// The emulator's set-clock.
    SetClock,
    /// Time passes.
    Advance {
        /// Seconds.
        secs: u16,
    },
    /// A lot of time passes.
    Jump {
        /// Seconds.
        secs: u32,
    },
    /// The clock goes back (a check-in can set it anywhere).
    Rewind {
        /// Seconds.
        secs: u16,
    },
    /// `GET /api/auth/token`.
    Challenge,
    /// `POST /api/auth/token` with an eJWT built by the client role, then mutated.
    Login {
        /// Answer a fresh challenge (else an earlier one, by index).
        fresh: bool,
        /// Which earlier challenge.
        challenge: u8,
        /// Who signs.
        signer: Signer,
        /// The scope asked for.
        scope: ScopePick,
        /// `exp - now` (0 is refused by the device).
        lifetime: u16,
        /// What happens to the eJWT on the way.
        mutation: Mutation,
    },
    /// `POST /api/auth/ext/request` from a fresh broker session.
    ExtRequest {
        /// The scope asked for.
        scope: ScopePick,
        /// Whether to send a `ctx`.
        ctx: bool,
    },
    /// A phone opens its entry of an authreq and approves it; the authreply, possibly re-signed
    /// with edited claims (a phone that lies) and mutated, goes to `ext/token`.
    Approve {
        /// Which authreq.
        authreq: u8,
        /// Which phone.
        phone: u8,
        /// Index into the phone's periods.
        period: u8,
        /// Write access for storage.
        writable: bool,
        /// Claim edits, re-signed by the phone's key.
        edits: Vec<ClaimEdit>,
        /// What happens to the authreply on the way.
        mutation: Mutation,
    },
    /// Sends an earlier body again, verbatim.
    Replay {
        /// Which one.
        which: u8,
    },
    /// `POST /api/auth/ext/init` with a bearer.
    PairInit {
        /// Which token.
        token: u8,
    },
    /// A new phone answers a pairing request; the client forwards the reply to `ext/validate`.
    PairValidate {
        /// Which pairing request.
        request: u8,
        /// Which token.
        token: u8,
        /// The phone's label.
        label: LabelPick,
        /// The pid the notify broker assigns.
        pid: PidPick,
        /// What happens to the reply on the way.
        mutation: Mutation,
    },
    /// `DELETE /api/keymgmt/delete/{kid}` of a phone's key.
    Unpair {
        /// Which phone.
        phone: u8,
        /// Which token.
        token: u8,
    },
    /// A bearer-protected endpoint.
    Authorize {
        /// Which token.
        token: u8,
        /// What the endpoint requires.
        need: Need,
    },
    /// A reboot: snapshot, restore (new per-boot keys, clock unset).
    Reboot {
        /// Take the snapshot with its explicit pending nonces (issued ones die anyway).
        keep_pending: bool,
        /// Pass the snapshot through JSON.
        via_json: bool,
    },
    /// Snapshot, restore into a second device, compare.
    SnapshotCheck,
    /// Arbitrary bytes to an endpoint.
    Raw {
        /// Which endpoint.
        endpoint: Endpoint,
        /// Which token, for the bearer-protected ones.
        token: u8,
        /// The body.
        body: Vec<u8>,
    },
}

/// Who signs an eJWT.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// The configured user key.
    User,
    /// The configured master key.
    Master,
    /// A key the device does not know.
    Stranger,
}

/// A scope.
#[derive(Arbitrary, Debug, Clone)]
pub enum ScopePick {
    /// `keymgmt:list`.
    List,
    /// `system:config`.
    Config,
    /// `auth:ext:pair`.
    ExtPair,
    /// `keymgmt:del`.
    KeyDel,
    /// `storage:disk0`.
    Storage,
    /// `keymgmt:use:<kid>` of a phone's key.
    UseKid(u8),
    /// Anything.
    Custom(String),
}

/// A change to the bytes of a JWT.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// Sent as built.
    None,
    /// One bit flipped.
    FlipBit {
        /// Position (modulo the length).
        at: u16,
        /// Bit 0..8.
        bit: u8,
    },
    /// One byte replaced.
    SetByte {
        /// Position (modulo the length).
        at: u16,
        /// The new byte.
        byte: u8,
    },
    /// Cut short.
    Truncate {
        /// New length (modulo the length).
        at: u16,
    },
    /// One byte inserted.
    Insert {
        /// Position (modulo the length + 1).
        at: u16,
        /// The byte.
        byte: u8,
    },
    /// One byte removed.
    Remove {
        /// Position (modulo the length).
        at: u16,
    },
}

impl Mutation {
    /// Applies the mutation to `text` (invalid UTF-8 is replaced: a JSON body carries text).
    pub fn apply(self, text: &str) -> String {
        let mut bytes = text.as_bytes().to_vec();
        let len = bytes.len();
        let pos = |at: u16, n: usize| if n == 0 { 0 } else { usize::from(at) % n };
        match self {
            Mutation::None => return String::from(text),
            Mutation::FlipBit { at, bit } => {
                if len > 0 {
                    bytes[pos(at, len)] ^= 1 << (bit % 8);
                }
            }
            Mutation::SetByte { at, byte } => {
                if len > 0 {
                    bytes[pos(at, len)] = byte;
                }
            }
            Mutation::Truncate { at } => bytes.truncate(pos(at, len)),
            Mutation::Insert { at, byte } => bytes.insert(pos(at, len + 1), byte),
            Mutation::Remove { at } => {
                if len > 0 {
                    bytes.remove(pos(at, len));
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// A claim of an authreply changed by a lying phone (which then signs it with its own key).
#[derive(Arbitrary, Debug, Clone)]
pub enum ClaimEdit {
    /// Another nonce the device issued (any purpose, pending or not).
    Jti(u8),
    /// Another phone's pid.
    Pid(u8),
    /// Another expiry (`0` asks for the device's default).
    Exp(u64),
    /// Another scope, sealed with the key of the (possibly edited) jti.
    Scope(ScopePick),
    /// A sealed scope as given.
    SealedScope(String),
    /// No `aud`.
    NoAud,
    /// An `aud`.
    Aud(String),
    /// A `ctx`.
    Ctx(String),
    /// Another phone's aid as `iss`.
    Iss(u8),
}

/// A pairing label.
#[derive(Arbitrary, Debug, Clone)]
pub enum LabelPick {
    /// `Phone`.
    Good,
    /// Empty (refused).
    Empty,
    /// 33 characters (refused).
    Long,
    /// Anything.
    Custom(String),
}

/// The pid the notify broker assigns.
#[derive(Arbitrary, Debug, Clone)]
pub enum PidPick {
    /// 32 fresh random bytes.
    Fresh,
    /// The pid of a phone already known.
    Reuse(u8),
    /// Given bytes.
    Bytes([u8; 32]),
    /// Given text.
    Text(String),
}

/// What a bearer-protected endpoint requires.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Need {
    /// Any valid token.
    AnyToken,
    /// `keymgmt:list`.
    List,
    /// The pairing endpoints' rule.
    ExtPairing,
    /// The key-delete rule.
    KeyDelete,
    /// Exactly `keymgmt:use:<kid>` of a phone's key.
    Exact(u8),
}

/// An endpoint for raw bytes.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Endpoint {
    /// `POST /api/auth/ext/token`.
    ExtToken,
    /// `POST /api/auth/token`.
    AuthToken,
    /// `POST /api/auth/ext/request`.
    ExtRequest,
    /// `POST /api/auth/ext/validate`.
    ExtValidate,
    /// `POST /api/auth/ext/init`.
    ExtInit,
    /// `POST /api/auth/ext/mac`.
    ExtMac,
    /// `POST /api/system/checkin`.
    Checkin,
}

/// The model's reading of an endpoint's bearer requirement (spec §8.5), written from the
/// spec, not from the device's `Requirement`s: any of `prefixes` (a token scope that permits
/// one), or exactly `exact`; neither: any valid token. `roles`: who may hold the token.
#[derive(Clone, Copy)]
struct Rule<'r> {
    prefixes: &'r [&'r str],
    exact: Option<&'r str>,
    roles: Roles,
}

/// Any valid token: the check every request with a bearer passes before routing (§8.2).
const ANY_TOKEN_RULE: Rule<'static> = Rule {
    prefixes: &[],
    exact: None,
    roles: Roles::Any,
};
/// `ext/init`, `ext/validate`, `ext/mac`.
const PAIRING_RULE: Rule<'static> = Rule {
    prefixes: &["auth:ext:pair", "system:config"],
    exact: None,
    roles: Roles::UserOnly,
};
/// `DELETE /api/keymgmt/delete/{kid}`.
const KEY_DELETE_RULE: Rule<'static> = Rule {
    prefixes: &["keymgmt:del"],
    exact: None,
    roles: Roles::NotMaster,
};
/// `GET /api/keymgmt/list`.
const KEY_LIST_RULE: Rule<'static> = Rule {
    prefixes: &["keymgmt:list"],
    exact: None,
    roles: Roles::NotMaster,
};
/// A kid no pairing has (the fixture's and the harness's aids are X25519 keys, whose kid is a
/// hash): `keymgmt/delete` and `keymgmt/get` answer 404 for it once the bearer passes.
const UNPAIRED_KID: &str = "00000000000000000000000000000000";

/// The purposes the harness tracks, in the device's order.
const PURPOSES: [NoncePurpose; 3] = [
    NoncePurpose::Login,
    NoncePurpose::Pairing,
    NoncePurpose::Authreq,
];

fn slot(purpose: NoncePurpose) -> usize {
    PURPOSES
        .iter()
        .position(|p| *p == purpose)
        .expect("a tracked purpose")
}

/// What the harness believes the device holds.
#[derive(Debug, Default)]
struct Model {
    rtc: bool,
    epoch: u32,
    /// The nonces this boot issued, per purpose, with their expiry.
    pending: [Vec<([u8; 32], u64)>; 3],
    /// Every nonce ever accepted.
    used: HashSet<[u8; 32]>,
    /// The device's consumed set (spec §4.3): the nonces of successes this boot, with expiry.
    consumed: Vec<([u8; 32], u64)>,
    /// The latest time at which the device dropped expired consumed entries.
    floor: u64,
    pairings: Vec<([u8; 32], PublicKey)>,
}

impl Model {
    /// An issued nonce: nothing else changes (no eviction).
    fn insert(&mut self, purpose: NoncePurpose, jti: [u8; 32], exp: u64) {
        self.pending[slot(purpose)].push((jti, exp));
    }

    fn is_pending(&self, purpose: NoncePurpose, jti: &[u8; 32], now: u64) -> bool {
        self.pending[slot(purpose)]
            .iter()
            .any(|(j, e)| j == jti && now < *e && *e > self.floor)
            && !self.consumed.iter().any(|(j, _)| j == jti)
    }

    /// Whether a success at `now` can be recorded (the device's `has_room`).
    fn has_room(&self, now: u64) -> bool {
        self.consumed.len() < NONCE_CAPACITY
            || self.consumed.iter().filter(|(_, e)| now < *e).count() < NONCE_CAPACITY
    }

    /// Records an accepted nonce; panics if it was not pending, was accepted before, or the
    /// consumed set had no room for it.
    fn accept(&mut self, purpose: NoncePurpose, jti: &[u8; 32], now: u64, what: &str) {
        assert!(
            self.is_pending(purpose, jti, now),
            "{what}: accepted a nonce that is not pending for {purpose:?}"
        );
        assert!(
            self.used.insert(*jti),
            "{what}: accepted a nonce a second time"
        );
        assert!(
            self.has_room(now),
            "{what}: a success although the consumed set is full"
        );
        let exp = self.pending[slot(purpose)]
            .iter()
            .find(|(j, _)| j == jti)
            .map(|(_, e)| *e)
            .expect("pending");
        if self.consumed.len() >= NONCE_CAPACITY {
            self.consumed.retain(|(_, e)| now < *e);
            self.floor = self.floor.max(now);
        }
        self.consumed.push((*jti, exp));
    }

    /// A refusal (the device's HTTP status): a 503 only when the consumed set is full.
    fn refused(&self, status: u16, now: u64, what: &str) {
        if status == DeviceError::NonceStoreFull.status() {
            assert!(
                !self.has_room(now),
                "{what}: 503 although the consumed set has room"
            );
        }
    }

    fn pairing(&self, pid: &[u8; 32]) -> Option<&PublicKey> {
        self.pairings.iter().find(|(p, _)| p == pid).map(|(_, a)| a)
    }

    fn is_paired_aid(&self, aid: &PublicKey) -> bool {
        self.pairings.iter().any(|(_, a)| a == aid)
    }
}

/// An authreq the client received and verified.
struct Authreq {
    jti: String,
    exp: u64,
    entries: Vec<(String, String)>,
    epk: String,
}

/// A token the device minted.
struct Token {
    token: String,
    scope: String,
    sub: String,
    exp: u64,
    epoch: u32,
}

/// A body sent earlier.
enum Sent {
    ExtToken(Vec<u8>),
    Login(Vec<u8>),
    Validate(Option<String>, Vec<u8>),
}

/// Everything the harness plays with: the simulated world (device, RNG, clock; the notify
/// broker is not used here), the model, and what the roles received so far.
pub struct Harness {
    sim: World,
    model: Model,
    phones: Vec<Phone>,
    authreqs: Vec<Authreq>,
    challenges: Vec<LoginChallenge>,
    pair_requests: Vec<(PairingState, VerifiedPairingRequest)>,
    tokens: Vec<Token>,
    sent: Vec<Sent>,
    known: Vec<(NoncePurpose, [u8; 32])>,
    successes: usize,
}

/// Plays `ops` (at most [`MAX_OPS`]) on a fresh world and checks the invariants after each.
/// Returns how many operations succeeded (the seed generator keeps inputs that get far).
pub fn run(ops: &[Op]) -> usize {
    let mut harness = Harness::new();
    for op in ops.iter().take(MAX_OPS) {
        harness.step(op);
        harness.check();
    }
    harness.successes
}

fn pick<T>(items: &[T], index: u8) -> Option<&T> {
    if items.is_empty() {
        None
    } else {
        items.get(usize::from(index) % items.len())
    }
}

fn bounded(text: &str) -> &str {
    let mut end = text.len().min(MAX_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn decode32(text: &str) -> Option<[u8; 32]> {
    codec::decode_fixed::<32>(text).ok()
}

impl Harness {
    fn new() -> Self {
        let mut snapshot = fixture::snapshot();
        snapshot.pending.clear();
        snapshot.config.nonce_capacity = NONCE_CAPACITY;
        let device = Device::restore_with_boot_keys(snapshot, fixture::boot_keys())
            .expect("the fixture snapshot restores");
        let keys = Keys {
            identity: fixture::identity(),
            user: fixture::user(),
            master: fixture::master(),
            backend: fixture::backend_secret(),
        };
        let mut sim = World::from_device(device, keys, fixture::RNG_SEED);
        sim.now = fixture::START;
        sim.set_clock();
        // The fixture's two phones, made once per process (three X25519 each).
        static PHONES: std::sync::OnceLock<[Phone; 2]> = std::sync::OnceLock::new();
        let phones = PHONES
            .get_or_init(|| {
                let phone = |pid: &[u8; 32], secret: SecretKey, label: &str| {
                    Phone::new(&codec::encode_std(pid), fixture::eid(), secret, label)
                        .expect("a fixture phone pairs")
                };
                [
                    phone(&fixture::PID_A, fixture::phone_a_secret(), "A"),
                    phone(&fixture::PID_B, fixture::phone_b_secret(), "B"),
                ]
            })
            .to_vec();
        let model = Model {
            rtc: true,
            pairings: phones
                .iter()
                .map(|p| {
                    (
                        decode32(p.pairing.pid()).expect("32-byte pid"),
                        p.pairing.aid(),
                    )
                })
                .collect(),
            ..Model::default()
        };
        Harness {
            sim,
            model,
            phones,
            authreqs: Vec::new(),
            challenges: Vec::new(),
            pair_requests: Vec::new(),
            tokens: Vec::new(),
            sent: Vec::new(),
            known: Vec::new(),
            successes: 0,
        }
    }

    fn scope_text(&self, pick: &ScopePick) -> String {
        match pick {
            ScopePick::List => String::from("keymgmt:list"),
            ScopePick::Config => String::from("system:config"),
            ScopePick::ExtPair => String::from("auth:ext:pair"),
            ScopePick::KeyDel => String::from("keymgmt:del"),
            ScopePick::Storage => String::from("storage:disk0"),
            ScopePick::UseKid(i) => match pick_phone(&self.phones, *i) {
                Some(p) => format!("keymgmt:use:{}", kid_to_hex(&kid_of(&p.pairing.aid()))),
                None => String::from("keymgmt:use:00000000000000000000000000000000"),
            },
            ScopePick::Custom(s) => String::from(bounded(s)),
        }
    }

    fn bearer(&self, index: u8) -> Option<String> {
        pick(&self.tokens, index).map(|t| t.token.clone())
    }

    /// Whether the model says the device must accept `token` under `rule`: a token of this
    /// boot, not expired, whose subject and scope the rule allows.
    fn token_allows(&self, token: Option<&str>, rule: Rule<'_>) -> bool {
        self.bearer_refusal(token, rule).is_none()
    }

    /// The status the model says the device answers for `token` under `rule` (spec §8.2):
    /// `None` when it must accept it; 401 without a token, or for one that is not a token of
    /// this boot or has expired; 403 for a valid token whose subject or scope the rule does
    /// not allow.
    fn bearer_refusal(&self, token: Option<&str>, rule: Rule<'_>) -> Option<u16> {
        let Some(t) = token.and_then(|token| self.tokens.iter().find(|t| t.token == token)) else {
            return Some(DeviceError::InvalidToken.status());
        };
        if t.epoch != self.model.epoch || self.sim.now >= t.exp {
            return Some(DeviceError::TokenExpired.status());
        }
        let role_ok = match rule.roles {
            Roles::UserOnly => t.sub == "U",
            Roles::NotMaster => t.sub != "M",
            _ => true,
        };
        let permits = |r: &str, how| scope::permits(&t.scope, r, how);
        let scope_ok = (rule.prefixes.is_empty() && rule.exact.is_none())
            || rule
                .prefixes
                .iter()
                .any(|r| permits(r, scope::Match::Prefix))
            || rule.exact.is_some_and(|r| permits(r, scope::Match::Exact));
        (!(role_ok && scope_ok)).then_some(DeviceError::InsufficientScope.status())
    }

    /// One request to the device's HTTP API, through [`World::device_call`] (so through
    /// `Device::handle`: bearer before routing, the route table, the body limit, the audit
    /// lines): what an HTTP client sees. The device's error bodies are empty.
    fn call(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: &[u8],
    ) -> DeviceReply {
        let reply = self.sim.device_call(method, path, bearer, body);
        if reply.status != 200 {
            assert!(
                reply.body.is_empty(),
                "an error with a body: {}",
                reply.body
            );
        }
        reply
    }

    fn remember(&mut self, purpose: NoncePurpose, jti: [u8; 32], exp: u64) {
        self.model.insert(purpose, jti, exp);
        self.known.push((purpose, jti));
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::SetClock => {
                // The emulator's control call, not an HTTP endpoint: the typed method.
                self.sim.set_clock();
                self.model.rtc = true;
            }
            Op::Advance { secs } => self.sim.now += u64::from(*secs),
            Op::Jump { secs } => self.sim.now += u64::from(*secs),
            Op::Rewind { secs } => self.sim.now = self.sim.now.saturating_sub(u64::from(*secs)),
            Op::Challenge => {
                self.challenge();
            }
            Op::Login {
                fresh,
                challenge,
                signer,
                scope,
                lifetime,
                mutation,
            } => self.login(*fresh, *challenge, *signer, scope, *lifetime, *mutation),
            Op::ExtRequest { scope, ctx } => self.ext_request(scope, *ctx),
            Op::Approve {
                authreq,
                phone,
                period,
                writable,
                edits,
                mutation,
            } => self.approve(*authreq, *phone, *period, *writable, edits, *mutation),
            Op::Replay { which } => self.replay(*which),
            Op::PairInit { token } => {
                let bearer = self.bearer(*token);
                let (body, state) = client::start_pairing(Some(fixture::eid()), &mut self.sim.rng);
                self.ext_init(bearer, body.as_bytes(), Some(state));
            }
            Op::PairValidate {
                request,
                token,
                label,
                pid,
                mutation,
            } => self.pair_validate(*request, *token, label, pid, *mutation),
            Op::Unpair { phone, token } => self.unpair(*phone, *token),
            Op::Authorize { token, need } => self.authorize(*token, *need),
            Op::Reboot {
                keep_pending,
                via_json,
            } => self.reboot(*keep_pending, *via_json),
            Op::SnapshotCheck => self.snapshot_check(),
            Op::Raw {
                endpoint,
                token,
                body,
            } => self.raw(*endpoint, *token, body),
        }
    }

    fn challenge(&mut self) -> Option<usize> {
        let reply = self.call(Method::Get, "/api/auth/token", None, b"");
        assert_eq!(
            reply.status, 200,
            "a challenge is always given (trusted time off)"
        );
        let challenge = LoginChallenge::parse(reply.body.as_bytes())
            .expect("the client reads the device's challenge");
        let jti = decode32(challenge.jti()).expect("a 32-byte challenge nonce");
        assert_eq!(
            challenge.exp().as_secs(),
            self.sim.now + LOGIN_CHALLENGE_LIFETIME_SECS
        );
        self.remember(NoncePurpose::Login, jti, challenge.exp().as_secs());
        self.challenges.push(challenge);
        self.successes += 1;
        Some(self.challenges.len() - 1)
    }

    fn login(
        &mut self,
        fresh: bool,
        index: u8,
        signer: Signer,
        scope: &ScopePick,
        lifetime: u16,
        mutation: Mutation,
    ) {
        let index = if fresh || self.challenges.is_empty() {
            match self.challenge() {
                Some(i) => i,
                None => return,
            }
        } else {
            usize::from(index) % self.challenges.len()
        };
        let challenge = self.challenges[index].clone();
        let key = match signer {
            Signer::User => fixture::user(),
            Signer::Master => fixture::master(),
            Signer::Stranger => fixture::stranger_secret(),
        };
        let scope = self.scope_text(scope);
        // iat one second back, so that `lifetime` 0 gives exp == now: the device must refuse it.
        let iat = self.sim.now.saturating_sub(1);
        let exp = self.sim.now + u64::from(lifetime);
        let Ok(ejwt) = client::build_login(
            &key,
            &challenge,
            &scope,
            UnixTime::from_secs(iat),
            UnixTime::from_secs(exp),
            None,
        ) else {
            return;
        };
        let body = client::login_body(&mutation.apply(&ejwt)).into_bytes();
        // A challenge from before a reboot names the old per-boot key: the device must refuse
        // an eJWT for it even while the nonce is kept.
        let clean = mutation == Mutation::None
            && signer != Signer::Stranger
            && challenge.spk() == *self.sim.device.spk();
        self.submit_login(body, clean);
    }

    fn submit_login(&mut self, body: Vec<u8>, clean: bool) {
        let reply = self.call(Method::Post, "/api/auth/token", None, &body);
        let sent = sent_jwt::<AuthTokenRequest<'_>>(&body, |r| r.auth.into_owned());
        let claims = sent.as_deref().and_then(|jwt| {
            let u = UntrustedJwt::parse(jwt).ok()?;
            let c: LoginClaims<'_> = u.dangerous_unverified_claims().ok()?;
            Some((
                decode32(&c.jti)?,
                PublicKey::from_b64(&c.iss).ok()?,
                c.exp,
                c.scope.into_owned(),
            ))
        });
        match reply.status {
            200 => {
                let (jti, iss, exp, scope) =
                    claims.expect("a token was minted from an eJWT the harness cannot read");
                let sub = if iss == fixture::user_public() {
                    "U"
                } else if iss == fixture::master_public() {
                    "M"
                } else {
                    panic!("a token was minted for an unknown issuer")
                };
                self.model
                    .accept(NoncePurpose::Login, &jti, self.sim.now, "auth/token");
                let token = UnverifiableAccessToken::from_response(reply.body.as_bytes())
                    .expect("the device's token is readable");
                assert_eq!(token.sub(), sub);
                assert_eq!(token.exp().as_secs(), exp, "the token keeps the eJWT's exp");
                assert_eq!(token.scope(), scope);
                assert!(exp > self.sim.now, "a token that expired at birth");
                self.keep_token(token);
            }
            status => {
                self.model.refused(status, self.sim.now, "auth/token");
                if clean {
                    if let Some((jti, _, exp, scope)) = &claims {
                        let must = self
                            .model
                            .is_pending(NoncePurpose::Login, jti, self.sim.now)
                            && *exp > self.sim.now
                            && hem_auth_core::scope::check_requested(scope, 127).is_ok()
                            && self.model.has_room(self.sim.now);
                        assert!(!must, "an honest login was refused: {status}");
                    }
                }
            }
        }
        self.sent.push(Sent::Login(body));
    }

    fn keep_token(&mut self, token: UnverifiableAccessToken) {
        self.tokens.push(Token {
            token: String::from(token.token()),
            scope: String::from(token.scope()),
            sub: String::from(token.sub()),
            exp: token.exp().as_secs(),
            epoch: self.model.epoch,
        });
        self.successes += 1;
    }

    fn ext_request(&mut self, scope: &ScopePick, ctx: bool) {
        let scope = self.scope_text(scope);
        let session =
            ExtAuthState::from_secret(SecretKey::generate(&mut self.sim.rng), Some(fixture::eid()));
        let body = messages::to_json(&ExtRequest {
            epk: session.epk().to_b64().into(),
            scope: scope.as_str().into(),
            ctx: ctx.then_some("fuzz-ctx".into()),
            note: None,
        });
        let reply = self.call(Method::Post, "/api/auth/ext/request", None, body.as_bytes());
        let must = self.model.rtc && hem_auth_core::scope::check_requested(&scope, 1023).is_ok();
        match reply.status {
            200 => {
                assert!(must, "ext/request answered although it must refuse");
                let authreq = session
                    .authreq_from_response(reply.body.as_bytes())
                    .expect("the client reads the device's authreq response");
                let untrusted = UntrustedJwt::parse(&authreq).expect("the device's authreq parses");
                let verified = session
                    .verify_authreq(&untrusted, UnixTime::from_secs(self.sim.now))
                    .expect("the broker verifies the device's authreq");
                let pids: Vec<String> = verified.entries().map(|(p, _)| String::from(p)).collect();
                let model_pids: Vec<String> = self
                    .model
                    .pairings
                    .iter()
                    .map(|(p, _)| codec::encode_std(p))
                    .collect();
                assert_eq!(pids, model_pids, "one sealed entry per paired phone");
                let hinted = scope::use_kid(&scope)
                    .and_then(kid_from_hex)
                    .is_some_and(|kid| {
                        self.model
                            .pairings
                            .iter()
                            .any(|(_, aid)| kid_of(aid) == kid)
                    });
                let lifetime = if hinted {
                    AUTHREQ_USE_LIFETIME_SECS
                } else {
                    AUTHREQ_LIFETIME_SECS
                };
                assert_eq!(verified.exp().as_secs(), self.sim.now + lifetime);
                let jti = *verified.jti_nonce().as_bytes();
                let record = Authreq {
                    jti: String::from(verified.jti()),
                    exp: verified.exp().as_secs(),
                    entries: verified
                        .entries()
                        .map(|(p, s)| (String::from(p), String::from(s)))
                        .collect(),
                    epk: session.epk().to_b64(),
                };
                self.remember(NoncePurpose::Authreq, jti, record.exp);
                self.authreqs.push(record);
                self.successes += 1;
            }
            status => assert!(!must, "an honest ext/request was refused: {status}"),
        }
    }

    fn approve(
        &mut self,
        authreq: u8,
        phone: u8,
        period: u8,
        writable: bool,
        edits: &[ClaimEdit],
        mutation: Mutation,
    ) {
        let Some(req) = pick(&self.authreqs, authreq) else {
            return;
        };
        let Some(phone) = pick_phone(&self.phones, phone) else {
            return;
        };
        let Some((_, sealed)) = req.entries.iter().find(|(p, _)| p == phone.pairing.pid()) else {
            return;
        };
        let event = Event {
            jti: req.jti.as_str().into(),
            scope: sealed.as_str().into(),
            epk: req.epk.as_str().into(),
            exp: req.exp,
        };
        let Ok(opened) = phone
            .pairing
            .open_event(&event, UnixTime::from_secs(self.sim.now))
        else {
            return;
        };
        let period = PERIODS[usize::from(period) % PERIODS.len()];
        let Ok(approval) = opened.approve(
            UnixTime::from_secs(self.sim.now),
            period,
            Access::from_writable(writable),
        ) else {
            return;
        };
        let mut authreply = approval.authreply;
        let edits = &edits[..edits.len().min(4)];
        if !edits.is_empty() {
            authreply = self.resign(&authreply, &phone.s1, edits);
        }
        let authreply = mutation.apply(&authreply);
        let body = ExtAuthState::from_secret(fixture::broker_secret(), None)
            .ext_token_body(&authreply)
            .into_bytes();
        self.submit_ext_token(body, edits.is_empty() && mutation == Mutation::None);
    }

    /// A lying phone: edits the claims of its authreply and signs them with its own S1.
    fn resign(&self, authreply: &str, s1: &SharedSecret, edits: &[ClaimEdit]) -> String {
        let untrusted = UntrustedJwt::parse(authreply).expect("the phone's authreply parses");
        let verified = untrusted
            .verify(s1.as_bytes(), hem_auth_core::jwt::HeaderPolicy::Ecdh)
            .expect("the phone's authreply verifies");
        let mut claims: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(verified.payload_json()).expect("an object");
        let known_jtis: Vec<[u8; 32]> = self.known.iter().map(|(_, j)| *j).collect();
        for edit in edits {
            match edit {
                ClaimEdit::Jti(i) => {
                    if let Some(jti) = pick(&known_jtis, *i) {
                        claims.insert("jti".into(), codec::encode_std(jti).into());
                    }
                }
                ClaimEdit::Pid(i) => {
                    if let Some(p) = pick_phone(&self.phones, *i) {
                        claims.insert("pid".into(), p.pairing.pid().into());
                    }
                }
                ClaimEdit::Exp(exp) => {
                    claims.insert("exp".into(), (*exp).into());
                }
                ClaimEdit::Scope(pick) => {
                    let scope = self.scope_text(pick);
                    let jti = claims
                        .get("jti")
                        .and_then(|j| j.as_str())
                        .and_then(decode32)
                        .unwrap_or_default();
                    if let Ok(sealed) = ScopeKey::derive(s1, &jti).seal(&scope) {
                        claims.insert("scope".into(), sealed.into());
                    }
                }
                ClaimEdit::SealedScope(s) => {
                    claims.insert("scope".into(), bounded(s).into());
                }
                ClaimEdit::NoAud => {
                    claims.remove("aud");
                }
                ClaimEdit::Aud(s) => {
                    claims.insert("aud".into(), bounded(s).into());
                }
                ClaimEdit::Ctx(s) => {
                    claims.insert("ctx".into(), bounded(s).into());
                }
                ClaimEdit::Iss(i) => {
                    if let Some(p) = pick_phone(&self.phones, *i) {
                        claims.insert("iss".into(), p.pairing.aid().to_b64().into());
                    }
                }
            }
        }
        let payload = serde_json::to_vec(&claims).expect("serialisable");
        oracle::sign(Header::App.json().as_bytes(), &payload, s1.as_bytes())
    }

    fn submit_ext_token(&mut self, body: Vec<u8>, clean: bool) {
        let reply = self.call(Method::Post, "/api/auth/ext/token", None, &body);
        let sent = sent_jwt::<ExtTokenRequest<'_>>(&body, |r| r.authreply.into_owned());
        let claims = sent.as_deref().and_then(|jwt| {
            let u = UntrustedJwt::parse(jwt).ok()?;
            let c: AuthreplyClaims<'_> = u.dangerous_unverified_claims().ok()?;
            Some((
                decode32(&c.pid)?,
                PublicKey::from_b64(&c.iss).ok()?,
                decode32(&c.jti)?,
                c.exp,
            ))
        });
        match reply.status {
            200 => {
                let (pid, iss, jti, exp) =
                    claims.expect("a token was minted from an authreply the harness cannot read");
                let aid = *self
                    .model
                    .pairing(&pid)
                    .expect("a token was minted for a pid that is not paired");
                assert_eq!(
                    aid, iss,
                    "a token was minted for an iss that is not the paired aid"
                );
                let s1 = fixture::identity()
                    .diffie_hellman(&aid)
                    .expect("contributory");
                assert!(
                    oracle::has_valid_mac(sent.as_deref().unwrap_or_default(), s1.as_bytes()),
                    "a token was minted for an authreply the pairing did not sign"
                );
                self.model
                    .accept(NoncePurpose::Authreq, &jti, self.sim.now, "ext/token");
                let token = UnverifiableAccessToken::from_response(reply.body.as_bytes())
                    .expect("the device's token is readable");
                assert_eq!(token.sub(), codec::encode_std(&kid_of(&aid)));
                let expected_exp = if exp == 0 {
                    self.sim.now + EXT_TOKEN_DEFAULT_LIFETIME_SECS
                } else {
                    exp
                };
                assert_eq!(token.exp().as_secs(), expected_exp);
                assert!(expected_exp > self.sim.now, "a token that expired at birth");
                self.keep_token(token);
            }
            status => {
                self.model.refused(status, self.sim.now, "ext/token");
                if clean {
                    if let Some((pid, iss, jti, exp)) = &claims {
                        let must = self.model.rtc
                            && self.model.pairing(pid) == Some(iss)
                            && self
                                .model
                                .is_pending(NoncePurpose::Authreq, jti, self.sim.now)
                            && (*exp == 0 || *exp > self.sim.now)
                            && self.model.has_room(self.sim.now);
                        assert!(!must, "an honest authreply was refused: {status}");
                    }
                }
            }
        }
        self.sent.push(Sent::ExtToken(body));
    }

    fn replay(&mut self, which: u8) {
        let Some(sent) = pick(&self.sent, which) else {
            return;
        };
        match sent {
            Sent::ExtToken(body) => {
                let body = body.clone();
                self.submit_ext_token(body, false);
            }
            Sent::Login(body) => {
                let body = body.clone();
                self.submit_login(body, false);
            }
            Sent::Validate(bearer, body) => {
                let (bearer, body) = (bearer.clone(), body.clone());
                self.submit_validate(bearer, body, None);
            }
        }
    }

    fn ext_init(&mut self, bearer: Option<String>, body: &[u8], state: Option<PairingState>) {
        let log_before = self.sim.log.len();
        let reply = self.call(Method::Post, "/api/auth/ext/init", bearer.as_deref(), body);
        let allowed = self.token_allows(bearer.as_deref(), PAIRING_RULE);
        match reply.status {
            200 => {
                assert!(allowed, "ext/init answered a bearer that does not allow it");
                let (jti, exp) = match state {
                    Some(state) => {
                        let request = state
                            .verify_init_response(
                                reply.body.as_bytes(),
                                UnixTime::from_secs(self.sim.now),
                            )
                            .expect("the broker verifies the device's pairing request");
                        let jti = decode32(request.jti()).expect("a 32-byte nonce");
                        let exp = request.exp().as_secs();
                        self.pair_requests.push((state, request));
                        (jti, exp)
                    }
                    None => {
                        let r: ExtInitResponse<'_> =
                            messages::parse_body(reply.body.as_bytes()).expect("readable");
                        let u = UntrustedJwt::parse(&r.request).expect("parses");
                        let c: PairingRequestClaims<'_> =
                            u.dangerous_unverified_claims().expect("readable");
                        (
                            decode32(&c.jti).expect("32-byte nonce"),
                            c.exp.expect("an exp"),
                        )
                    }
                };
                assert_eq!(exp, self.sim.now + PAIRING_REQUEST_LIFETIME_SECS);
                self.remember(NoncePurpose::Pairing, jti, exp);
                self.successes += 1;
            }
            status => {
                if state.is_some() {
                    assert!(!allowed, "an honest ext/init was refused: {status}");
                }
                if status == DeviceError::InsufficientScope.status() {
                    // The failed check's line: written at once, or counted by an open
                    // failed-scope window (spec §11.3) whose line the flush writes.
                    let flushed = self.sim.device.flush_audit();
                    self.sim.log.extend(flushed);
                    assert!(
                        self.sim.log[log_before..]
                            .iter()
                            .any(|l| l.kind == Some(AuditKind::FailedScopeCheck)),
                        "a 403 without its audit line"
                    );
                }
            }
        }
    }

    fn pair_validate(
        &mut self,
        request: u8,
        token: u8,
        label: &LabelPick,
        pid: &PidPick,
        mutation: Mutation,
    ) {
        let Some((state, request)) = pick(&self.pair_requests, request) else {
            return;
        };
        let state = state.clone();
        let seen = UnverifiedPairingRequest::parse(request.request())
            .expect("the phone reads the device's pairing request");
        let secret = SecretKey::generate(&mut self.sim.rng);
        let reply =
            reply_to_pairing(&secret, &seen, "Phone", "fcm-token").expect("the phone answers");
        let s1 = fixture::s1(&secret);
        let label_text = match label {
            LabelPick::Good => None,
            LabelPick::Empty => Some(String::new()),
            LabelPick::Long => Some("x".repeat(33)),
            LabelPick::Custom(s) => Some(String::from(bounded(s))),
        };
        let reply = match &label_text {
            None => reply.reply,
            Some(label) => {
                let u = UntrustedJwt::parse(&reply.reply).expect("parses");
                let mut c: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(
                    u.verify(s1.as_bytes(), hem_auth_core::jwt::HeaderPolicy::Ecdh)
                        .expect("verifies")
                        .payload_json(),
                )
                .expect("an object");
                c.insert("label".into(), label.as_str().into());
                let payload = serde_json::to_vec(&c).expect("serialisable");
                oracle::sign(Header::App.json().as_bytes(), &payload, s1.as_bytes())
            }
        };
        let pid_text = match pid {
            PidPick::Fresh => {
                let mut pid = [0u8; 32];
                self.sim.rng.fill_bytes(&mut pid);
                codec::encode_std(&pid)
            }
            PidPick::Reuse(i) => match pick_phone(&self.phones, *i) {
                Some(p) => String::from(p.pairing.pid()),
                None => codec::encode_std(&fixture::PID_A),
            },
            PidPick::Bytes(b) => codec::encode_std(b),
            PidPick::Text(t) => String::from(bounded(t)),
        };
        let reply = mutation.apply(&reply);
        let body = state.validate_body(&pid_text, &reply).into_bytes();
        let bearer = self.bearer(token);
        let honest =
            label_text.as_deref().is_none_or(claims::is_valid_label) && mutation == Mutation::None;
        self.submit_validate(bearer, body, Some((state, secret, honest)));
    }

    fn submit_validate(
        &mut self,
        bearer: Option<String>,
        body: Vec<u8>,
        made: Option<(PairingState, SecretKey, bool)>,
    ) {
        let reply = self.call(
            Method::Post,
            "/api/auth/ext/validate",
            bearer.as_deref(),
            &body,
        );
        let allowed = self.token_allows(bearer.as_deref(), PAIRING_RULE);
        let sent = messages::parse_body::<ExtValidateRequest<'_>>(&body)
            .ok()
            .map(|r| (r.pid.into_owned(), r.reply.into_owned()));
        let claims = sent.as_ref().and_then(|(pid, reply)| {
            let u = UntrustedJwt::parse(reply).ok()?;
            let c: PairingReplyClaims<'_> = u.dangerous_unverified_claims().ok()?;
            Some((
                decode32(pid)?,
                PublicKey::from_b64(&c.iss).ok()?,
                decode32(&c.jti)?,
                PublicKey::from_b64(&c.epk).ok()?,
                c.label.into_owned(),
            ))
        });
        match reply.status {
            200 => {
                assert!(
                    allowed,
                    "ext/validate answered a bearer that does not allow it"
                );
                let response: ExtValidateResponse<'_> =
                    messages::parse_body(reply.body.as_bytes()).expect("a readable answer");
                let (pid, aid, jti, epk, label) =
                    claims.expect("a pairing was made from a reply the harness cannot read");
                let (_, sent_reply) = sent.as_ref().expect("read above");
                assert!(self.model.pairings.len() < MAX_PAIRINGS, "a ninth pairing");
                assert!(self.model.pairing(&pid).is_none(), "a pid paired twice");
                assert!(!self.model.is_paired_aid(&aid), "an aid paired twice");
                assert!(claims::is_valid_label(&label), "a pairing with a bad label");
                let s1 = fixture::identity()
                    .diffie_hellman(&aid)
                    .expect("contributory");
                assert!(
                    oracle::has_valid_mac(sent_reply, s1.as_bytes()),
                    "a pairing from a reply the aid did not sign"
                );
                self.model
                    .accept(NoncePurpose::Pairing, &jti, self.sim.now, "ext/validate");
                let code_key = fixture::identity()
                    .diffie_hellman(&epk)
                    .expect("contributory");
                assert_eq!(
                    codec::decode_fixed::<32>(&response.code).ok(),
                    Some(oracle::hmac(code_key.as_bytes(), sent_reply.as_bytes())),
                    "the pairing code is not HMAC(X25519(eid_prv, epk), reply)"
                );
                assert_eq!(response.kid, kid_to_hex(&kid_of(&aid)));
                self.model.pairings.push((pid, aid));
                if let Some((state, secret, _)) = made {
                    state
                        .verify_validate_response(
                            &fixture::eid(),
                            sent_reply,
                            reply.body.as_bytes(),
                        )
                        .expect("the broker accepts the device's code");
                    if secret.public_key() == aid {
                        let pid_b64 = codec::encode_std(&pid);
                        self.phones.push(
                            Phone::new(&pid_b64, fixture::eid(), secret, "Phone").expect("pairs"),
                        );
                    }
                }
                self.successes += 1;
            }
            status => {
                self.model.refused(status, self.sim.now, "ext/validate");
                if let (Some((_, _, true)), Some((pid, aid, jti, _, _))) = (&made, &claims) {
                    let must = allowed
                        && self.model.pairings.len() < MAX_PAIRINGS
                        && self.model.pairing(pid).is_none()
                        && !self.model.is_paired_aid(aid)
                        && self
                            .model
                            .is_pending(NoncePurpose::Pairing, jti, self.sim.now)
                        && self.model.has_room(self.sim.now);
                    assert!(!must, "an honest pairing was refused: {status}");
                }
            }
        }
        self.sent.push(Sent::Validate(bearer, body));
    }

    fn unpair(&mut self, phone: u8, token: u8) {
        let Some(phone) = pick_phone(&self.phones, phone) else {
            return;
        };
        let aid = phone.pairing.aid();
        let kid = kid_to_hex(&kid_of(&aid));
        let bearer = self.bearer(token);
        let refusal = self.bearer_refusal(bearer.as_deref(), KEY_DELETE_RULE);
        let paired = self.model.is_paired_aid(&aid);
        let path = format!("/api/keymgmt/delete/{kid}");
        let reply = self.call(Method::Delete, &path, bearer.as_deref(), b"");
        let expected = match refusal {
            Some(status) => status,
            None if paired => 200,
            None => DeviceError::UnknownKey.status(),
        };
        assert_eq!(
            reply.status, expected,
            "unpair: the model expects {expected}"
        );
        if reply.status == 200 {
            assert!(reply.body.is_empty(), "the unpair answer has no body");
            self.model.pairings.retain(|(_, a)| *a != aid);
            self.successes += 1;
        }
    }

    /// A bearer check through an endpoint whose requirement is `need`'s, with a request the
    /// endpoint refuses or answers without changing state once the bearer passes: the status
    /// must be the model's (200 or the endpoint's own refusal when the token allows it, else
    /// 401 or 403).
    fn authorize(&mut self, token: u8, need: Need) {
        let Some(bearer) = self.bearer(token) else {
            return;
        };
        let exact_scope;
        let (method, path, rule, passed) = match need {
            // Every request with a bearer has it checked before routing (§8.2).
            Need::AnyToken => (
                Method::Get,
                String::from("/api/system/version"),
                ANY_TOKEN_RULE,
                200,
            ),
            Need::List => (
                Method::Get,
                String::from("/api/keymgmt/list"),
                KEY_LIST_RULE,
                200,
            ),
            // No body: 400 once the bearer passes (nothing is issued).
            Need::ExtPairing => (
                Method::Post,
                String::from("/api/auth/ext/mac"),
                PAIRING_RULE,
                DeviceError::Malformed(Malformed::Body).status(),
            ),
            // A kid no pairing has: 404 once the bearer passes (nothing is removed).
            Need::KeyDelete => (
                Method::Delete,
                format!("/api/keymgmt/delete/{UNPAIRED_KID}"),
                KEY_DELETE_RULE,
                DeviceError::UnknownKey.status(),
            ),
            // `keymgmt:get`, `keymgmt:gen`, or exactly `keymgmt:use:<kid>` (§9.7).
            Need::Exact(i) => {
                exact_scope = self.scope_text(&ScopePick::UseKid(i));
                let kid = exact_scope
                    .strip_prefix("keymgmt:use:")
                    .unwrap_or(UNPAIRED_KID);
                let paired = kid_from_hex(kid).is_some_and(|kid| {
                    self.model
                        .pairings
                        .iter()
                        .any(|(_, aid)| kid_of(aid) == kid)
                });
                let rule = Rule {
                    prefixes: &["keymgmt:get", "keymgmt:gen"],
                    exact: Some(exact_scope.as_str()),
                    roles: Roles::NotMaster,
                };
                let found = if paired {
                    200
                } else {
                    DeviceError::UnknownKey.status()
                };
                (Method::Get, format!("/api/keymgmt/get/{kid}"), rule, found)
            }
        };
        let refusal = self.bearer_refusal(Some(&bearer), rule);
        let expected = refusal.unwrap_or(passed);
        let reply = self.call(method, &path, Some(&bearer), b"");
        assert_eq!(
            reply.status, expected,
            "{path}: the device's status is not the model's"
        );
        if reply.status == 200 && matches!(need, Need::List) {
            let listed: serde_json::Value =
                serde_json::from_str(&reply.body).expect("a JSON key list");
            assert_eq!(
                listed["total"].as_u64(),
                u64::try_from(self.model.pairings.len()).ok(),
                "keymgmt/list: the pairings"
            );
        }
        if refusal.is_none() {
            self.successes += 1;
        }
    }

    fn reboot(&mut self, keep_pending: bool, via_json: bool) {
        let mut snapshot = if keep_pending {
            self.sim.device.snapshot_with_pending()
        } else {
            self.sim.device.snapshot()
        };
        if via_json {
            let json = serde_json::to_string(&snapshot).expect("a snapshot serialises");
            let back: DeviceSnapshot = serde_json::from_str(&json).expect("and deserialises");
            assert_eq!(back, snapshot, "a snapshot changed through JSON");
            snapshot = back;
        }
        self.sim.device =
            Device::restore(snapshot, &mut self.sim.rng).expect("a device's own snapshot restores");
        self.model.epoch += 1;
        self.model.rtc = false;
        // A reboot draws a new nonce key: every issued nonce dies, kept in the snapshot or not
        // (it lists only explicit pending nonces, of which the harness has none), and the
        // consumed set starts empty (spec §4.6).
        for issued in &mut self.model.pending {
            issued.clear();
        }
        self.model.consumed.clear();
        self.model.floor = 0;
    }

    fn snapshot_check(&mut self) {
        let snapshot = self.sim.device.snapshot_with_pending();
        let restored = Device::restore(snapshot.clone(), &mut self.sim.rng)
            .expect("a device's own snapshot restores");
        assert_eq!(
            restored.snapshot_with_pending(),
            snapshot,
            "restore changed the state"
        );
        let pairings: Vec<([u8; 32], PublicKey)> =
            snapshot.pairings.iter().map(|p| (p.pid, p.aid)).collect();
        assert_eq!(pairings, self.model.pairings, "the snapshot's pairings");
        // Issued nonces are never stored, so never in a snapshot (spec §4.3).
        assert!(
            snapshot.pending.is_empty(),
            "a snapshot lists issued nonces"
        );
        self.successes += 1;
    }

    fn raw(&mut self, endpoint: Endpoint, token: u8, body: &[u8]) {
        // Beyond the device's limit (MAX_BODY_BYTES), so that the 413 path is played too.
        let body = &body[..body.len().min(8192)];
        let bearer = self.bearer(token);
        match endpoint {
            Endpoint::ExtToken => self.submit_ext_token(body.to_vec(), false),
            Endpoint::AuthToken => self.submit_login(body.to_vec(), false),
            Endpoint::ExtValidate => self.submit_validate(bearer, body.to_vec(), None),
            Endpoint::ExtInit => self.ext_init(bearer, body, None),
            Endpoint::ExtRequest => {
                let reply = self.call(Method::Post, "/api/auth/ext/request", None, body);
                if reply.status == 200 {
                    assert!(self.model.rtc, "ext/request answered with the clock unset");
                    let r: ExtRequestResponse<'_> =
                        messages::parse_body(reply.body.as_bytes()).expect("readable");
                    let u = UntrustedJwt::parse(&r.authreq).expect("parses");
                    let c: AuthreqClaims<'_> = u.dangerous_unverified_claims().expect("readable");
                    let jti = decode32(&c.jti).expect("a 32-byte nonce");
                    self.remember(NoncePurpose::Authreq, jti, c.exp);
                } else if body.len() > MAX_BODY_BYTES {
                    assert_eq!(reply.status, DeviceError::BodyTooLarge.status());
                }
            }
            Endpoint::ExtMac => {
                let refusal = self.bearer_refusal(bearer.as_deref(), PAIRING_RULE);
                let reply = self.call(Method::Post, "/api/auth/ext/mac", bearer.as_deref(), body);
                assert!(
                    reply.status != 200 || refusal.is_none(),
                    "ext/mac answered a bearer that does not allow it"
                );
                // An invalid bearer is refused before routing, so before the body's length.
                if refusal == Some(DeviceError::InvalidToken.status()) {
                    assert_eq!(reply.status, 401, "ext/mac with an invalid bearer");
                }
            }
            Endpoint::Checkin => {
                // The harness never asks for a check-in challenge, so no `checked` can be valid.
                let reply = self.call(Method::Post, "/api/system/checkin", None, body);
                assert!(
                    reply.status != 200,
                    "a check-in without a challenge was accepted"
                );
            }
        }
    }

    /// The device's state equals the model's.
    fn check(&self) {
        assert_eq!(self.sim.device.rtc_is_set(), self.model.rtc, "clock state");
        let pairings: Vec<([u8; 32], PublicKey)> = self
            .sim
            .device
            .pairings()
            .iter()
            .map(|p| (*p.pid(), *p.aid()))
            .collect();
        assert_eq!(pairings, self.model.pairings, "pairings");
        let mut consumed: Vec<([u8; 32], u64)> = self
            .sim
            .device
            .consumed_nonces()
            .map(|c| (c.jti, c.exp))
            .collect();
        let mut model = self.model.consumed.clone();
        consumed.sort_unstable();
        model.sort_unstable();
        assert_eq!(consumed, model, "the consumed set");
        for (purpose, jti) in &self.known {
            for other in PURPOSES {
                let device =
                    self.sim
                        .device
                        .is_pending(other, jti, UnixTime::from_secs(self.sim.now));
                let model = self.model.is_pending(other, jti, self.sim.now);
                assert_eq!(
                    device, model,
                    "nonce issued for {purpose:?}: pending for {other:?}"
                );
            }
            if self.model.used.contains(jti) {
                assert!(
                    !self
                        .sim
                        .device
                        .is_pending(*purpose, jti, UnixTime::from_secs(self.sim.now)),
                    "a used nonce is pending again"
                );
            }
        }
    }
}

fn pick_phone(phones: &[Phone], index: u8) -> Option<&Phone> {
    pick(phones, index)
}

/// Reads the JWT member of a body that was sent (if it is readable at all).
fn sent_jwt<'b, T: serde::Deserialize<'b>>(
    body: &'b [u8],
    take: impl Fn(T) -> String,
) -> Option<String> {
    messages::parse_body::<T>(body).ok().map(take)
}
