//! The device role: the HEM side of every flow, as a sans-IO state machine.
//!
//! A [`Device`] holds what an HEM holds: the identity key (`eid`), the per-boot session key
//! (`spk`), access-token key and nonce key, the user and master public keys, up to eight paired
//! authenticators, the nonces it has consumed (its nonces authenticate themselves, so issuing
//! one stores nothing: spec §4.3), the RTC state and the scope policy.
//! Every operation takes the request (the raw body bytes as received, plus the bearer token
//! where the endpoint needs one), the time `now` in unix seconds and the caller's CSPRNG, and
//! returns an [`Outcome`]: the typed response (serialise it with
//! [`crate::messages::to_json`] for the wire bytes) or a [`DeviceError`] that knows its HTTP
//! status, together with the audit events to record. Nothing here does I/O or reads a clock.
//!
//! # The external-authenticator login, end to end
//!
//! A device with one paired phone (set up, hidden, through the real login and pairing flows),
//! the client's broker session, and the phone:
//!
//! ```
//! use std::borrow::Cow;
//! use hem_auth_core::{authenticator::{Event, PERIODS}, client, jwt::UntrustedJwt};
//! use hem_auth_core::device::{Device, DeviceConfig, Requirement};
//! use hem_auth_core::messages::to_json;
//! # use hem_auth_core::authenticator::{reply_to_pairing, AuthenticatorPairing, UnverifiedPairingRequest};
//! # use hem_auth_core::keys::SecretKey;
//! # use rand_chacha::rand_core::SeedableRng;
//! # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
//! # let now = hem_auth_core::UnixTime::from_secs(1_784_767_764);
//! # let user = SecretKey::generate(&mut rng);
//! # let mut config = DeviceConfig::new(SecretKey::generate(&mut rng));
//! # config.user_key = Some(user.public_key());
//! # let mut device = Device::new(config, &mut rng);
//! # let _ = device.set_clock(now);
//! # // password login for a system:config token
//! # let challenge = to_json(&device.auth_token_challenge(now, &mut rng).result?);
//! # let challenge = client::LoginChallenge::parse(challenge.as_bytes())?;
//! # let ejwt = client::build_login(&user, &challenge, "system:config", now, now + hem_auth_core::Seconds::new(60), None)?;
//! # let token = to_json(&device.auth_token(client::login_body(&ejwt).as_bytes(), now, &mut rng).result?);
//! # let token = client::UnverifiableAccessToken::from_response(token.as_bytes())?;
//! # // pairing: ext/init, the phone's reply, ext/validate
//! # let (body, pairing) = client::start_pairing(Some(*device.eid()), &mut rng);
//! # let init = to_json(&device.ext_init(Some(token.token()), body.as_bytes(), now, &mut rng).result?);
//! # let request = pairing.verify_init_response(init.as_bytes(), now)?;
//! # let seen = UnverifiedPairingRequest::parse(request.request())?;
//! # let aid = SecretKey::generate(&mut rng);
//! # let reply = reply_to_pairing(&aid, &seen, "Pixel 8 (Android)", "fcm-token")?;
//! # let pid = hem_auth_core::ids::Pid::generate(&mut rng); // the notify broker's
//! # let validate = pairing.validate_body(&pid.to_string(), &reply.reply);
//! # device.ext_validate(Some(token.token()), validate.as_bytes(), now).result?;
//! # let phone = AuthenticatorPairing::from_pid(pid, *device.eid(), aid)?;
//! // The client asks the device for an authreq (POST /api/auth/ext/request) and verifies it.
//! let (body, session) = client::start_ext_auth("keymgmt:list", None, None, Some(*device.eid()), &mut rng)?;
//! let response = to_json(&device.ext_request(body.as_bytes(), now, &mut rng).result?);
//! let authreq = session.authreq_from_response(response.as_bytes())?;
//! let untrusted = UntrustedJwt::parse(&authreq)?;
//! let authreq = session.verify_authreq(&untrusted, now)?;
//! // The notify broker hands the phone its sealed entry; the user approves for 15 minutes.
//! let (sealed, epk) = (authreq.entry(phone.pid()).ok_or("not asked")?, session.epk().to_b64());
//! let event = Event { jti: Cow::Borrowed(authreq.jti()), scope: Cow::Borrowed(sealed), epk: Cow::Borrowed(&epk), exp: authreq.exp().as_secs() };
//! let approval = phone.open_event(&event, now + hem_auth_core::Seconds::new(5))?.approve(now + hem_auth_core::Seconds::new(5), PERIODS[0], hem_auth_core::Access::ReadOnly)?;
//! // The device turns the authreply into an access token (POST /api/auth/ext/token)…
//! let body = session.ext_token_body(&approval.authreply);
//! let response = to_json(&device.ext_token(body.as_bytes(), now + hem_auth_core::Seconds::new(6), &mut rng).result?);
//! let token = session.finish(response.as_bytes())?;
//! assert_eq!((token.scope(), token.exp().as_secs()), ("keymgmt:list", now.as_secs() + 5 + 900));
//! // …and accepts it as a bearer.
//! device.authorize(Some(token.token()), &Requirement::any_of(&["keymgmt:list"]), now + hem_auth_core::Seconds::new(7)).result?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Endpoints
//!
//! | endpoint | operation |
//! |---|---|
//! | `GET /api/auth/token` | [`Device::auth_token_challenge`] |
//! | `POST /api/auth/token` | [`Device::auth_token`] |
//! | `POST /api/auth/ext/request` | [`Device::ext_request`] |
//! | `POST /api/auth/ext/token` | [`Device::ext_token`] |
//! | `POST /api/auth/ext/init` | [`Device::ext_init`] |
//! | `POST /api/auth/ext/validate` | [`Device::ext_validate`] |
//! | `POST /api/auth/ext/mac` | [`Device::ext_mac`] |
//! | `DELETE /api/keymgmt/delete/{kid}` of a pairing key | [`Device::unpair`] |
//! | `GET` / `POST /api/system/checkin` | [`Device::checkin_challenge`], [`Device::checkin`] |
//! | (emulator) set the clock | [`Device::set_clock`] |
//! | any bearer-protected endpoint | [`Device::authorize`] |
//! | any request, as HTTP | [`Device::handle`] (route table, bearer order, every body: [`http`]) |
//!
//! [`Device::handle`] is the one entry point for an adapter: it routes a request
//! ([`Request`]) to these methods, serves `system/version|status|config`, `keymgmt/*` and
//! `logger/list` itself, and returns status, body and [`Effect`]s (audit lines made by the
//! device's [`AuditChain`], state to save, the clock set by a check-in). The typed methods stay
//! public: they are the fast, allocation-free paths, and what vectors and benches measure.
//!
//! Guarantees:
//!
//! * **Errors change no state.** Every operation first checks everything on `&self` (in the
//!   order of the error tables, spec §10.2) and only then commits. A failed verification leaves
//!   the nonce usable; only success consumes it.
//! * **No token without the checks.** Access tokens are minted in one private place, reached
//!   only after a login or an authreply has passed every check.
//! * **Speed.** The pairing secret S1 = X25519(eid_prv, aid) is computed once per pairing (at
//!   pairing and on restore) and kept in a zeroizing value, so `ext_token` does no
//!   Diffie-Hellman; [`Device::authorize`] allocates nothing on success, and neither do
//!   [`Device::ext_token`] and [`Device::auth_token`]: the token is minted into an inline
//!   [`AccessToken`] (with its response body), the audit event's text is inline, and an
//!   [`Outcome`] carries its event inline ([`AuditEvents`]).
//! * **A restore is a reboot.** [`Device::restore`] draws new per-boot keys, so every access
//!   token and every nonce issued before dies, while pairings survive.
//! * **No anonymous flood invalidates a nonce.** A nonce carries its own proof (a MAC under
//!   the per-boot nonce key, spec §4.3); the device stores only the nonces of successful
//!   verifications, and refuses a success it cannot record (503) rather than forget one.
//!
//! The order of checks of every operation is the error table of spec §10.2:
//! 403 (RTC) → 409 → 413/400 → 406 → 401, except that in `ext/token` the 406 scope checks come
//! after the MAC and nonce checks (the pid/iss 406 before them). On the bearer-protected
//! endpoints the bearer is checked first (401/403), as the firmware's dispatcher does before a
//! handler sees the body (spec §8.2).

use crate::time::UnixTime;
use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::claims::AccessTokenClaims;
use crate::codec;
use crate::jwt::{JwtError, UntrustedJwt};
use crate::keys::{PublicKey, SecretKey, SharedSecret};
use crate::messages::{self, BodyError};
use crate::nonce::TimeNonce;

mod audit;
mod audit_line;
mod bearer;
mod checkin;
mod error;
mod ext_pairing;
mod ext_request;
mod ext_token;
pub mod http;
mod login;
mod nonces;
mod pairing;
pub(crate) mod snapshot;
#[cfg(feature = "testing")]
pub mod testing;
mod token;

pub use audit::{
    AuditCoalescer, AuditEvent, AuditEvents, AuditKind, AuditResult, AUDIT_OVERFLOW_SCOPE,
    AUDIT_WINDOWS_PER_SUB, AUDIT_WINDOW_SECS, MAX_AUDIT_DATA_BYTES, MAX_AUDIT_SUB_BYTES,
};
pub use audit_line::{
    audit_line_counter, AuditChain, AuditKey, AuditLine, AuditLineFields, AUDIT_LINE_MAC_BYTES,
};
pub use bearer::{Authorized, Requirement, Roles, Subject};
pub use checkin::{CheckinOutcome, CHECKIN_LIFETIME_SECS};
pub use error::{DeviceError, Malformed};
pub use ext_pairing::{Unpaired, PAIRING_REQUEST_LIFETIME_SECS};
pub use ext_request::{
    AUTHREQ_LIFETIME_SECS, AUTHREQ_USE_LIFETIME_SECS, MAX_CTX_CHARS, MAX_NOTE_CHARS,
};
pub use ext_token::EXT_TOKEN_DEFAULT_LIFETIME_SECS;
pub use http::{
    logger_list_body, Effect, Head, Request, Response, DEFAULT_KEY_LIST_COUNT,
    LOGGER_MAX_PAGE_LINES,
};
pub use login::LOGIN_CHALLENGE_LIFETIME_SECS;
pub use nonces::{
    ConsumedNonce, NoncePurpose, CTX_CACHE_CAPACITY, DEFAULT_NONCE_CAPACITY, MAX_NONCE_CAPACITY,
};
pub use pairing::{
    kid_from_hex, kid_of, kid_to_hex, Pairing, EXTAID_DESCRIPTOR_BYTES, EXTAID_PREFIX,
    KEY_TYPE_X25519_PUBLIC, KID_BYTES,
};
pub use snapshot::{DeviceSnapshot, PairingSnapshot, PendingSnapshot};
pub use token::{AccessToken, MAX_ACCESS_TOKEN_BYTES};

use nonces::{Accepted, Nonces, Pending};

/// How `ext/token` treats the scope the authenticator approved (spec §5.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ScopePolicy {
    /// Firmware behaviour: the token carries the approved scope, minus any `#…` suffix.
    #[default]
    AsApproved,
    /// Strict: the approved scope must be the requested one, except that a `storage:diskN`
    /// request may come back with `:rw` added or removed; anything else is 406.
    RequestedOnly,
}

/// The persistent configuration of a device.
///
/// Build one with [`DeviceConfig::new`] and set the public fields.
#[derive(Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviceConfig {
    /// The identity secret; its public key is the `eid`.
    #[serde(with = "snapshot::b64_secret")]
    pub identity: SecretKey,
    /// The user key (login → `sub` `U`).
    #[serde(default, with = "snapshot::b64_opt_key")]
    pub user_key: Option<PublicKey>,
    /// The master key (login → `sub` `M`).
    #[serde(default, with = "snapshot::b64_opt_key")]
    pub master_key: Option<PublicKey>,
    /// The user label shown in the login challenge (`lbl`).
    pub label: String,
    /// `trusted_ts`: when on, the login endpoints also answer 403 while the RTC is unset.
    pub trusted_time: bool,
    /// Whether the device is initialised (otherwise the auth endpoints answer 409).
    pub initialised: bool,
    /// The `ext/token` scope policy.
    pub scope_policy: ScopePolicy,
    /// The check-in backend's public key (spec §9.5).
    #[serde(default, with = "snapshot::b64_opt_key")]
    pub backend_key: Option<PublicKey>,
    /// Capacity of the consumed-nonce set (spec §4.3): the nonces of successful
    /// verifications, each kept until it expires. When it is full of unexpired nonces, a new
    /// success is refused with 503 ([`DeviceError::NonceStoreFull`]). Clamped to
    /// 1..=[`MAX_NONCE_CAPACITY`]. Issuing a nonce stores nothing, so this bounds no caller
    /// without credentials.
    pub nonce_capacity: usize,
    /// Opt-in `max-token-lifetime SECONDS` (spec §8.7): a token minted at `now` (any login)
    /// gets `exp = min(exp, now + SECONDS)`. `None` (the firmware's behaviour): no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token_lifetime: Option<u64>,
    /// Opt-in `revoke-on-unpair` (spec §8.7): the bearer check refuses (401,
    /// [`DeviceError::InvalidToken`]) a token whose `sub` is the kid of an authenticator no
    /// longer paired. Off (the firmware's behaviour) by default.
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub revoke_on_unpair: bool,
    /// The version banner of `GET /api/system/version` (spec §9.1): hardware and firmware
    /// strings the core cannot know. [`VersionBanner::default`] is the emulator's.
    #[serde(default, skip_serializing_if = "VersionBanner::is_default")]
    pub version: VersionBanner,
}

/// The members of `GET /api/system/version` (spec §9.1), all strings; `uis` only when a web
/// UI is installed. Clients written for real devices require `hwv`, `blv`, `fwv` and `fws`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VersionBanner {
    /// Hardware version; a device's contains `PPA` or `EPA`, the emulator's neither.
    pub hwv: String,
    /// Bootloader version.
    pub blv: String,
    /// Firmware version (`1.2.2`; diagnostic builds add `-DIAG`).
    pub fwv: String,
    /// Firmware signature / state string.
    pub fws: String,
    /// Web UI version; `None` (not sent) without a UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uis: Option<String>,
}

impl Default for VersionBanner {
    /// The emulator's banner (spec §9.1): `hwv` and `blv` `hem-emulator`, `fwv`
    /// `hem-emulator v<crate version>`, `fws` the base64 of 64 zero bytes (the check-in's
    /// `fws`, §9.5: no firmware to measure), no `uis`.
    fn default() -> Self {
        VersionBanner {
            hwv: String::from(http::VERSION_HWV),
            blv: String::from(http::VERSION_HWV),
            fwv: String::from(http::VERSION_FWV),
            fws: codec::encode_std(&[0u8; 64]),
            uis: None,
        }
    }
}

impl VersionBanner {
    /// A banner with these four required members and no `uis`.
    pub fn new(hwv: &str, blv: &str, fwv: &str, fws: &str) -> Self {
        VersionBanner {
            hwv: String::from(hwv),
            blv: String::from(blv),
            fwv: String::from(fwv),
            fws: String::from(fws),
            uis: None,
        }
    }

    fn is_default(&self) -> bool {
        *self == VersionBanner::default()
    }
}

impl DeviceConfig {
    /// An initialised device with this identity, no user or master key, an empty label,
    /// trusted time off, the `AsApproved` policy, no backend and room for
    /// [`DEFAULT_NONCE_CAPACITY`] consumed nonces.
    pub fn new(identity: SecretKey) -> Self {
        DeviceConfig {
            identity,
            user_key: None,
            master_key: None,
            label: String::new(),
            trusted_time: false,
            initialised: true,
            scope_policy: ScopePolicy::AsApproved,
            backend_key: None,
            nonce_capacity: DEFAULT_NONCE_CAPACITY,
            max_token_lifetime: None,
            revoke_on_unpair: false,
            version: VersionBanner::default(),
        }
    }
}

impl PartialEq for DeviceConfig {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.identity.to_bytes().ct_eq(&*other.identity.to_bytes()))
            && self.user_key == other.user_key
            && self.master_key == other.master_key
            && self.label == other.label
            && self.trusted_time == other.trusted_time
            && self.initialised == other.initialised
            && self.scope_policy == other.scope_policy
            && self.backend_key == other.backend_key
            && self.nonce_capacity == other.nonce_capacity
            && self.max_token_lifetime == other.max_token_lifetime
            && self.revoke_on_unpair == other.revoke_on_unpair
            && self.version == other.version
    }
}

impl Eq for DeviceConfig {}

impl core::fmt::Debug for DeviceConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceConfig")
            .field("eid", &self.identity.public_key())
            .field("user_key", &self.user_key)
            .field("master_key", &self.master_key)
            .field("label", &self.label)
            .field("trusted_time", &self.trusted_time)
            .field("initialised", &self.initialised)
            .field("scope_policy", &self.scope_policy)
            .field("backend_key", &self.backend_key)
            .field("nonce_capacity", &self.nonce_capacity)
            .field("max_token_lifetime", &self.max_token_lifetime)
            .field("revoke_on_unpair", &self.revoke_on_unpair)
            .field("version", &self.version)
            .finish()
    }
}

/// The keys a device draws at every boot: the session key (`spk`), the access-token key and
/// the nonce key `Kn` that authenticates the device's nonces (spec §4.3). Never persisted: a
/// reboot invalidates every access token and every nonce (spec §4.6).
pub struct BootKeys {
    session: SecretKey,
    token_key: Zeroizing<[u8; 32]>,
    nonce_key: Zeroizing<[u8; 32]>,
}

impl BootKeys {
    /// Draws the keys from the CSPRNG: 32 bytes of session secret, 32 bytes of token key, then
    /// 32 bytes of nonce key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let session = SecretKey::generate(rng);
        let mut token_key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut *token_key);
        let mut nonce_key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut *nonce_key);
        BootKeys {
            session,
            token_key,
            nonce_key,
        }
    }

    /// Uses given keys. For test vectors and conformance runs that fix the per-boot secrets
    /// (`spk_private`, `token_key`); a real device draws them with [`BootKeys::generate`]. The
    /// nonce key is derived from the token key, HMAC-SHA256(`token_key`, "hem-auth nonce
    /// key"), unless [`BootKeys::with_nonce_key`] sets it.
    pub fn from_parts(session: SecretKey, token_key: [u8; 32]) -> Self {
        let nonce_key = Zeroizing::new(crate::mac::mac(&token_key, b"hem-auth nonce key"));
        BootKeys {
            session,
            token_key: Zeroizing::new(token_key),
            nonce_key,
        }
    }

    /// Sets the nonce key `Kn` (spec §4.3).
    #[must_use]
    pub fn with_nonce_key(mut self, nonce_key: [u8; 32]) -> Self {
        self.nonce_key = Zeroizing::new(nonce_key);
        self
    }
}

impl core::fmt::Debug for BootKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BootKeys")
            .field("spk", &self.session.public_key())
            .finish_non_exhaustive()
    }
}

/// What an operation produced: its result and the audit events to record.
///
/// Events come with errors too: a failed scope check is a 403 *and* a `FAILED_SCOPE_CHECK`
/// event, so the adapter records [`Outcome::events`] whatever the result. Both parts are
/// inline values: an operation that allocates nothing itself returns its outcome without
/// touching the heap.
#[derive(Debug)]
#[must_use = "an outcome carries audit events that must be recorded"]
pub struct Outcome<T> {
    /// The response, or the error to answer with.
    pub result: Result<T, DeviceError>,
    /// Audit events, in order (none or one).
    pub events: AuditEvents,
}

impl<T> Outcome<T> {
    fn ok(value: T) -> Self {
        Outcome {
            result: Ok(value),
            events: AuditEvents::none(),
        }
    }

    fn ok_with(value: T, event: AuditEvent) -> Self {
        Outcome {
            result: Ok(value),
            events: AuditEvents::one(event),
        }
    }

    fn err(error: DeviceError) -> Self {
        Outcome {
            result: Err(error),
            events: AuditEvents::none(),
        }
    }

    fn denied(denial: Denial<'_>) -> Self {
        Outcome {
            result: Err(denial.error),
            events: denial.failed_check.map(|f| f.event()).into(),
        }
    }

    /// Splits into the result and the events (a slice by `Deref`, an iterator of
    /// [`AuditEvent`] by value).
    pub fn into_parts(self) -> (Result<T, DeviceError>, AuditEvents) {
        (self.result, self.events)
    }
}

/// A refusal that may carry an audit event (a failed scope or role check). Small: the event
/// is built from the [`bearer::FailedCheck`] when the outcome is.
#[derive(Debug)]
struct Denial<'r> {
    error: DeviceError,
    failed_check: Option<bearer::FailedCheck<'r>>,
}

impl From<DeviceError> for Denial<'_> {
    fn from(error: DeviceError) -> Self {
        Denial {
            error,
            failed_check: None,
        }
    }
}

impl From<Malformed> for Denial<'_> {
    fn from(m: Malformed) -> Self {
        DeviceError::Malformed(m).into()
    }
}

/// An emulated HEM: see the module docs.
pub struct Device {
    config: DeviceConfig,
    eid: PublicKey,
    eid_b64: String,
    session: SecretKey,
    spk: PublicKey,
    spk_b64: String,
    /// The per-boot token key, prepared for HMAC once (see [`crate::mac::MacKey`]: the bearer check
    /// and the token signing each skip the key schedule).
    token_mac: crate::mac::MacKey,
    pairings: Vec<Pairing>,
    nonces: Nonces,
    rtc_set: bool,
    /// Numbers and MACs the events [`Device::handle`] records (spec §11.2).
    audit: Option<AuditChain>,
    #[cfg(feature = "testing")]
    faults: testing::Faults,
}

impl core::fmt::Debug for Device {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Device")
            .field("eid", &self.eid)
            .field("spk", &self.spk)
            .field("config", &self.config)
            .field("pairings", &self.pairings)
            .field("rtc_set", &self.rtc_set)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Boots a device: draws the per-boot keys from `rng`. The RTC starts unset and no nonce is
    /// pending or consumed.
    pub fn new(config: DeviceConfig, rng: &mut impl CryptoRngCore) -> Self {
        Device::with_boot_keys(config, BootKeys::generate(rng))
    }

    /// Boots a device with given per-boot keys (see [`BootKeys::from_parts`]).
    pub fn with_boot_keys(config: DeviceConfig, boot: BootKeys) -> Self {
        let eid = config.identity.public_key();
        let spk = boot.session.public_key();
        Device {
            eid_b64: eid.to_b64(),
            eid,
            spk_b64: spk.to_b64(),
            spk,
            session: boot.session,
            token_mac: crate::mac::MacKey::new(&*boot.token_key),
            pairings: Vec::new(),
            nonces: Nonces::new(
                &boot.nonce_key,
                config.nonce_capacity,
                config.scope_policy == ScopePolicy::RequestedOnly,
            ),
            rtc_set: false,
            audit: None,
            #[cfg(feature = "testing")]
            faults: testing::Faults::default(),
            config,
        }
    }

    /// Reboots in place (spec §4.6): new per-boot keys from `rng`, so every access token and
    /// every nonce issued before (explicit pending ones too) dies; the RTC is unset again and
    /// the consumed set empty. Configuration, pairings, the audit chain and the faults stay.
    /// Unlike a snapshot [`Device::restore`], nothing is copied.
    pub fn reboot(&mut self, rng: &mut impl CryptoRngCore) {
        self.reboot_with_boot_keys(BootKeys::generate(rng));
    }

    /// [`Device::reboot`] with given per-boot keys (see [`BootKeys::from_parts`]).
    pub fn reboot_with_boot_keys(&mut self, boot: BootKeys) {
        self.rtc_set = false;
        #[cfg(feature = "testing")]
        if self.faults.keep_boot_keys {
            return;
        }
        self.spk = boot.session.public_key();
        self.spk_b64 = self.spk.to_b64();
        self.session = boot.session;
        self.token_mac = crate::mac::MacKey::new(&*boot.token_key);
        self.nonces = Nonces::new(
            &boot.nonce_key,
            self.config.nonce_capacity,
            self.config.scope_policy == ScopePolicy::RequestedOnly,
        );
        #[cfg(feature = "testing")]
        {
            self.nonces.never_expire = self.faults.never_expire_nonces;
        }
    }

    /// The identity public key (`eid`).
    pub fn eid(&self) -> &PublicKey {
        &self.eid
    }

    /// The per-boot session public key (`spk`).
    pub fn spk(&self) -> &PublicKey {
        &self.spk
    }

    /// The configuration.
    pub fn config(&self) -> &DeviceConfig {
        &self.config
    }

    /// The paired authenticators, in pairing order.
    pub fn pairings(&self) -> &[Pairing] {
        &self.pairings
    }

    /// Whether the RTC has been set since boot.
    pub fn rtc_is_set(&self) -> bool {
        self.rtc_set
    }

    fn require_rtc(&self) -> Result<(), DeviceError> {
        if self.rtc_set {
            Ok(())
        } else {
            Err(DeviceError::RtcUnset)
        }
    }

    fn require_initialised(&self) -> Result<(), DeviceError> {
        if self.config.initialised {
            Ok(())
        } else {
            Err(DeviceError::NotInitialised)
        }
    }

    /// Decodes a broker `epk` and computes X25519(eid_prv, epk); a key that is not canonical
    /// or is low-order is 400 (spec §2.5).
    fn epk_secret(&self, text: &str) -> Result<(PublicKey, SharedSecret), DeviceError> {
        let epk = PublicKey::from_b64(text).map_err(|_| Malformed::Epk)?;
        self.epk_shared(epk)
    }

    /// [`Device::epk_secret`] for the `epk` of `ext/request`, `ext/init` and `ext/mac`, which
    /// must also not be the `eid`, the current `spk` or a paired `aid` (spec §2.5: with a
    /// paired `aid`, X25519(eid_prv, epk) would be that pairing's S1, and `ext/mac` would hand
    /// out a sealing key). 400 [`Malformed::EpkInUse`].
    fn session_epk_secret(&self, text: &str) -> Result<(PublicKey, SharedSecret), DeviceError> {
        let epk = PublicKey::from_b64(text).map_err(|_| Malformed::Epk)?;
        // Canonical keys compare by their bytes (public values: no constant time needed).
        if epk == self.eid || epk == self.spk || self.pairings.iter().any(|p| *p.aid() == epk) {
            return Err(Malformed::EpkInUse.into());
        }
        self.epk_shared(epk)
    }

    fn epk_shared(&self, epk: PublicKey) -> Result<(PublicKey, SharedSecret), DeviceError> {
        let shared = self
            .config
            .identity
            .diffie_hellman(&epk)
            .map_err(|_| Malformed::Epk)?;
        Ok((epk, shared))
    }

    fn pairing_by_pid(&self, pid: &[u8; 32]) -> Option<&Pairing> {
        self.pairings.iter().find(|p| p.pid() == pid)
    }

    /// Issues a nonce for `purpose`, accepted for `lifetime` seconds (spec §4.3): its tag
    /// proves it, so nothing is stored, except an authreq's `ctx` in the bounded cache.
    /// `requested_scope` is an authreq's scope as requested (bound into the tag under
    /// `RequestedOnly`).
    fn issue_nonce(
        &mut self,
        purpose: NoncePurpose,
        lifetime: u64,
        requested_scope: Option<&str>,
        ctx: Option<String>,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> TimeNonce {
        self.nonces
            .issue(purpose, lifetime, requested_scope, ctx, now, rng)
    }

    /// The nonce check of every endpoint that takes a nonce back (spec §4.2, §4.3): 401
    /// unless `jti` decodes to a nonce this boot issued for `purpose` (or one given
    /// explicitly), before its expiry and not consumed. Changes nothing.
    fn accept_nonce(
        &self,
        purpose: NoncePurpose,
        jti: &str,
        now: UnixTime,
    ) -> Result<Accepted, DeviceError> {
        let jti = jti_bytes(jti)?;
        self.nonces
            .accept(purpose, &jti, now)
            .ok_or(DeviceError::NonceNotPending)
    }

    /// The last check of every endpoint that consumes a nonce (spec §4.3): 503 when the
    /// consumed set is full of unexpired nonces.
    fn nonce_room(&self, accepted: &Accepted, now: UnixTime) -> Result<(), DeviceError> {
        if self.nonces.has_room(accepted, now) {
            Ok(())
        } else {
            Err(DeviceError::NonceStoreFull)
        }
    }

    /// Records a pending nonce directly, as if this device had issued it: accepted once, for
    /// `purpose`, while `now < exp`, beside the nonces the device's tag proves (spec §4.3).
    ///
    /// For test vectors (`pending` entries of `hem-auth-vectors/1`) and for restoring state;
    /// never needed in a normal flow. `requested_scope` is the authreq's requested scope
    /// (used by the `RequestedOnly` policy). An entry with the same purpose and bytes is
    /// replaced, and an entry overrides the consumed set.
    pub fn insert_pending(
        &mut self,
        purpose: NoncePurpose,
        jti: [u8; 32],
        exp: u64,
        requested_scope: Option<&str>,
    ) {
        self.nonces.insert_explicit(Pending {
            purpose,
            jti,
            exp,
            scope: requested_scope.map(String::from),
            ctx: None,
        });
    }

    /// Whether `jti` would be accepted for `purpose` at `now` (for checkers and tests): an
    /// explicit pending nonce, or one this boot issued, unexpired and not consumed. For an
    /// authreq under `RequestedOnly`, the scope half of the tag is checked by `ext/token` only.
    pub fn is_pending(&self, purpose: NoncePurpose, jti: &[u8], now: UnixTime) -> bool {
        self.nonces.is_pending(purpose, jti, now)
    }

    /// The consumed set (spec §4.3): the nonces of successful verifications this boot, each
    /// kept until its expiry (for checkers and tests). Explicit pending nonces are removed
    /// when consumed and do not appear here.
    pub fn consumed_nonces(&self) -> impl Iterator<Item = ConsumedNonce> + '_ {
        self.nonces.consumed()
    }

    /// The one place an access token is minted (spec §8.1, §5.10): header `{"typ","alg"}`, claims
    /// `scope, sub, iat, exp, jti[, ctx]`, keyed with the per-boot token key; with it, the
    /// login's audit event (`kind`, the token's `sub`, the granted scope).
    ///
    /// Called by the operations once every check has passed and before they commit, so that
    /// [`DeviceError::TokenTooLarge`], its one failure, changes no state. Writes into the
    /// caller's token and event in place and allocates nothing.
    fn grant_token(
        &self,
        grant: &Grant<'_>,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
        out: &mut Granted,
    ) -> Result<(), DeviceError> {
        let nonce = TimeNonce::generate(now, rng);
        let mut jti = [0u8; 44];
        let jti = codec::encode_std_into(nonce.as_bytes(), &mut jti).unwrap_or_default();
        // The opt-in cap (spec §8.7) applies to every login, after the 8 h fallback.
        let exp = match self.config.max_token_lifetime {
            Some(max) => grant.exp.min(now.as_secs().saturating_add(max)),
            None => grant.exp,
        };
        let claims = AccessTokenClaims {
            scope: Cow::Borrowed(grant.scope),
            sub: Cow::Borrowed(grant.sub),
            iat: now.as_secs(),
            exp,
            jti: Cow::Borrowed(jti),
            ctx: grant.ctx.map(Cow::Borrowed),
        };
        out.token
            .mint(&claims, &self.token_mac)
            .ok_or(DeviceError::TokenTooLarge)?;
        let kind = out.event.kind;
        out.event
            .set(now.as_secs(), kind, AuditResult::Ok, grant.sub, grant.scope);
        Ok(())
    }
}

/// A token being granted and its audit event, filled in place by [`Device::grant_token`]
/// (each is kilobytes of inline text: moving them costs more than making them).
struct Granted {
    token: AccessToken,
    event: AuditEvent,
}

impl Granted {
    /// Empty, for a login of `kind`.
    fn new(kind: AuditKind) -> Self {
        Granted {
            token: AccessToken::empty(),
            event: AuditEvent::new(0, kind, AuditResult::Ok, "", ""),
        }
    }
}

/// What a passed login or authreply grants: the content of the token to mint.
struct Grant<'g> {
    scope: &'g str,
    sub: &'g str,
    exp: u64,
    ctx: Option<&'g str>,
}

/// Parses a request body; 413 above the size limit, 400 for anything else.
fn parse_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, DeviceError> {
    messages::parse_body(body).map_err(|e| match e {
        BodyError::TooLarge => DeviceError::BodyTooLarge,
        _ => DeviceError::Malformed(Malformed::Body),
    })
}

/// Parses a JWT from a body into `jwt` (an [`UntrustedJwt::empty`] the caller holds: the
/// 3 KiB value is not moved); any shape fault is 400.
fn parse_jwt<'t>(token: &'t str, jwt: &mut UntrustedJwt<'t>) -> Result<(), DeviceError> {
    jwt.parse_in_place(token)
        .map_err(|e| Malformed::Jwt(e).into())
}

/// Maps a claim-reading error: a duplicate member is a malformed JWT, a missing or mistyped
/// claim is [`Malformed::Claims`].
fn claims_error(e: JwtError) -> DeviceError {
    match e {
        JwtError::InvalidClaims => Malformed::Claims.into(),
        other => Malformed::Jwt(other).into(),
    }
}

/// Maps a verification failure to its 401 cause.
fn verify_error(e: JwtError) -> DeviceError {
    match e {
        JwtError::HeaderPolicy => DeviceError::HeaderPolicy,
        _ => DeviceError::BadMac,
    }
}

/// An optional free-text field kept only when it has 1..=`max` characters (the firmware drops
/// out-of-range `ctx`/`note` silently, spec §5.2).
fn bounded(text: Option<&str>, max: usize) -> Option<&str> {
    text.filter(|t| (1..=max).contains(&t.chars().count()))
}

/// Decodes a `jti` claim; anything that is not 32 bytes cannot be a pending device nonce.
fn jti_bytes(text: &str) -> Result<[u8; 32], DeviceError> {
    codec::decode_fixed(text).map_err(|_| DeviceError::NonceNotPending)
}
