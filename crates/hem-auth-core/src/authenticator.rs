//! The authenticator role: what the phone app computes (spec §5.7, §6.4, §6.8).
//!
//! The phone holds one X25519 key pair per pairing (`aid_prv`, `aid`) and never talks to the
//! HEM directly: everything goes through the broker, and everything the phone sends is keyed
//! with an X25519 secret.
//!
//! * **Pairing.** The phone scans a QR code, fetches the device's pairing request and reads it
//!   **unverified** ([`UnverifiedPairingRequest`]): it has no key to check it with yet. It then
//!   draws a fresh `aid_prv` and answers with [`reply_to_pairing`]: a `reply` JWT signed with
//!   `S1 = X25519(aid_prv, eid)` (which only the device can check) and a `mac` over
//!   `reply ‖ fid` keyed `X25519(aid_prv, epk)` (which only the broker can check); `fid` is the
//!   phone's own push-notification (FCM) token, opaque text the phone's push service gave it
//!   (spec §2.2). The notify broker assigns a `pid` (the pairing id, [`crate::ids::Pid`]); the
//!   phone keeps `{pid, eid, aid_prv}` as an [`AuthenticatorPairing`].
//! * **Login approval.** For each event fetched from the broker ([`Event`]),
//!   [`AuthenticatorPairing::open_event`] first refuses an expired event, then opens the sealed
//!   scope with `K = HMAC(S1, jti)`; a wrong tag is an error, never a warning. The user sees
//!   [`OpenedEvent::display_scope`]: the scope with every character outside printable ASCII
//!   escaped, the [`KeyHint`] of a `keymgmt:use:<kid>` request shown as a hint, and a flag on a
//!   plaintext no device sends (spec §8.6; never print [`OpenedEvent::scope`] raw), and either
//!   [`OpenedEvent::approve`]s — choosing a period ([`PERIODS`]) and, for storage, write
//!   access — or [`OpenedEvent::deny`]s. Approval seals the granted scope with the same `K`,
//!   signs the `authreply` with `S1`, and MACs it for the broker with `X25519(aid_prv, epk)`.
//! * **Unpairing and push-token refresh.** [`AuthenticatorPairing::unpair_mac`] and
//!   [`AuthenticatorPairing::token_refresh_mac`] give the broker MACs of spec §6.8.
//!
//! Nothing here does I/O, reads a clock or draws randomness: the caller passes `now` (unix
//! seconds) and generates `aid_prv` and nonces from its own CSPRNG.
//!
//! ```
//! use std::borrow::Cow;
//! use hem_auth_core::authenticator::{
//!     reply_to_pairing, AuthenticatorPairing, Event, UnverifiedPairingRequest, PERIODS,
//! };
//! use hem_auth_core::claims::{AuthreplyClaims, PairingReplyClaims, PairingRequestClaims};
//! use hem_auth_core::jwt::{self, Header, HeaderPolicy, UntrustedJwt};
//! use hem_auth_core::keys::SecretKey;
//! use hem_auth_core::nonce::TimeNonce;
//! use hem_auth_core::seal::ScopeKey;
//!
//! let mut rng = rand_core::OsRng;
//! let now = hem_auth_core::UnixTime::from_secs(1_784_767_764);
//!
//! // The device (eid) makes a pairing request for the broker's pairing session (epk).
//! let eid_prv = SecretKey::generate(&mut rng);
//! let epk_prv = SecretKey::generate(&mut rng);
//! let (eid, epk) = (eid_prv.public_key(), epk_prv.public_key());
//! let request_jti = TimeNonce::generate(now, &mut rng).to_b64();
//! let request = jwt::sign(
//!     Header::Device,
//!     &PairingRequestClaims {
//!         jti: Cow::Borrowed(&request_jti),
//!         exp: Some((now + hem_auth_core::Seconds::new(86_400)).as_secs()),
//!         eat: None,
//!         aud: Cow::Owned(epk.to_b64()),
//!         iss: Cow::Owned(eid.to_b64()),
//!     },
//!     eid_prv.diffie_hellman(&epk)?.as_bytes(),
//! );
//!
//! // The phone reads it without a key, makes its own key pair and replies.
//! let request = UnverifiedPairingRequest::parse(&request)?;
//! assert_eq!(request.expiry(), Some(now.as_secs() + 86_400));
//! let aid_prv = SecretKey::generate(&mut rng);
//! let answer = reply_to_pairing(&aid_prv, &request, "Pixel 8 (Android)", "fcm-token")?;
//!
//! // The device checks the reply with X25519(eid_prv, iss).
//! let reply = UntrustedJwt::parse(&answer.reply)?;
//! let s1_device = eid_prv.diffie_hellman(&answer.aid)?;
//! let claims: PairingReplyClaims<'_> =
//!     reply.verify(s1_device.as_bytes(), HeaderPolicy::Ecdh)?.claims()?;
//! assert_eq!(claims.jti, request_jti);
//!
//! // The notify broker assigns a pid (here drawn in its place); the phone keeps the pairing.
//! let pid = hem_auth_core::ids::Pid::generate(&mut rng);
//! let pairing = AuthenticatorPairing::from_pid(pid, *request.eid(), aid_prv)?;
//!
//! // Later the device seals a requested scope for this pairing, and the broker relays it.
//! let nonce = TimeNonce::generate(now, &mut rng);
//! let sealed = ScopeKey::derive(&s1_device, nonce.as_bytes()).seal("keymgmt:list")?;
//! let jti = nonce.to_b64();
//! let epk_b64 = epk.to_b64();
//! let event = Event {
//!     jti: Cow::Borrowed(&jti),
//!     scope: Cow::Borrowed(&sealed),
//!     epk: Cow::Borrowed(&epk_b64),
//!     exp: (now + hem_auth_core::Seconds::new(3600)).as_secs(),
//! };
//!
//! // The phone opens it, shows it, and the user approves for 15 minutes.
//! let opened = pairing.open_event(&event, now + hem_auth_core::Seconds::new(5))?;
//! assert_eq!(opened.scope(), "keymgmt:list");
//! let approval = opened.approve(now + hem_auth_core::Seconds::new(10), PERIODS[0], hem_auth_core::Access::ReadOnly)?;
//!
//! // The device checks the authreply with S1 and reads the granted scope.
//! let authreply = UntrustedJwt::parse(&approval.authreply)?;
//! let claims: AuthreplyClaims<'_> =
//!     authreply.verify(s1_device.as_bytes(), HeaderPolicy::Ecdh)?.claims()?;
//! assert_eq!(claims.exp, now.as_secs() + 10 + 900);
//! let granted = ScopeKey::derive(&s1_device, nonce.as_bytes()).open(&claims.scope)?;
//! assert_eq!(granted.as_str(), "keymgmt:list");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::scope::Access;
use crate::time::{Seconds, UnixTime};
use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::marker::PhantomData;
use serde::{Deserialize, Serialize};

use crate::claims::{self, AuthreplyClaims, PairingReplyClaims, PairingRequestClaims};
use crate::codec::{self, CodecError};
use crate::ids::Pid;
use crate::jwt::{JwtError, UntrustedJwt};
use crate::keys::{KeyError, PublicKey, SecretKey, SharedSecret};
use crate::messages::{self, BodyError};
use crate::msg;
use crate::scope::{self, DisplayScope, KeyHint};
use crate::seal::{OpenedScope, ScopeKey, SealError};

/// The access periods the phone app offers: 15 min (the default), 1 h, 8 h and 24 h
/// (spec §5.7).
pub const PERIODS: [Seconds; 4] = [
    Seconds::new(900),
    Seconds::new(3600),
    Seconds::new(28800),
    Seconds::new(86400),
];

/// Longest raw `jti` accepted, in bytes. The device sends 32 and the v1 vectors 16 (spec §4.1,
/// Q2: clients treat jti as opaque); twice the device's size leaves room without letting an
/// event grow the stack buffers.
pub const MAX_JTI_BYTES: usize = 64;

/// Longest `jti` text: the padded base64 of [`MAX_JTI_BYTES`].
const MAX_JTI_CHARS: usize = 4 * MAX_JTI_BYTES.div_ceil(3);

pub use crate::claims::MAX_LABEL_CHARS;

/// Why the authenticator refused an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthenticatorError {
    /// The pairing request is not a well-formed JWT, or its claims are missing or of the wrong
    /// type. (Its signature is never checked: the phone has no key for it.)
    Request(JwtError),
    /// A key is not base64 of a canonical 32-byte key, is low-order (spec §2.5), or an X25519
    /// with it is all zero.
    Key(KeyError),
    /// The event's `exp` is in the past (`now > exp`).
    Expired,
    /// The sealed scope cannot be opened (scheme, encoding, length, padding, tag) or the
    /// granted scope cannot be sealed (too long).
    Seal(SealError),
    /// A `jti` is not base64, or decodes to more than [`MAX_JTI_BYTES`].
    Encoding(CodecError),
    /// The pairing label is empty, longer than [`MAX_LABEL_CHARS`], or not printable ASCII.
    Label,
    /// The access period is zero, or `now + period` does not fit in a `u64`.
    Period,
    /// An event body is not one JSON object with the required members.
    Body(BodyError),
}

impl core::fmt::Display for AuthenticatorError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AuthenticatorError::Request(_) => f.write_str("authenticator: pairing request refused"),
            AuthenticatorError::Key(_) => f.write_str("authenticator: public key refused"),
            AuthenticatorError::Expired => f.write_str("authenticator: event expired"),
            AuthenticatorError::Seal(_) => f.write_str("authenticator: sealed scope refused"),
            AuthenticatorError::Encoding(_) => f.write_str("authenticator: jti refused"),
            AuthenticatorError::Label => write!(
                f,
                "authenticator: pairing label must be 1 to {MAX_LABEL_CHARS} printable ASCII characters"
            ),
            AuthenticatorError::Period => {
                f.write_str("authenticator: access period is zero or overflows the expiry")
            }
            AuthenticatorError::Body(_) => f.write_str("authenticator: event body refused"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for AuthenticatorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AuthenticatorError::Request(e) => Some(e),
            AuthenticatorError::Key(e) => Some(e),
            AuthenticatorError::Seal(e) => Some(e),
            AuthenticatorError::Encoding(e) => Some(e),
            AuthenticatorError::Body(e) => Some(e),
            AuthenticatorError::Expired
            | AuthenticatorError::Label
            | AuthenticatorError::Period => None,
        }
    }
}

impl From<JwtError> for AuthenticatorError {
    fn from(e: JwtError) -> Self {
        AuthenticatorError::Request(e)
    }
}

impl From<KeyError> for AuthenticatorError {
    fn from(e: KeyError) -> Self {
        AuthenticatorError::Key(e)
    }
}

impl From<SealError> for AuthenticatorError {
    fn from(e: SealError) -> Self {
        AuthenticatorError::Seal(e)
    }
}

impl From<CodecError> for AuthenticatorError {
    fn from(e: CodecError) -> Self {
        AuthenticatorError::Encoding(e)
    }
}

impl From<BodyError> for AuthenticatorError {
    fn from(e: BodyError) -> Self {
        AuthenticatorError::Body(e)
    }
}

/// Decodes a jti (either base64 alphabet, padding optional) into `out`.
fn decode_jti<'o>(
    jti: &str,
    out: &'o mut [u8; MAX_JTI_BYTES],
) -> Result<&'o [u8], AuthenticatorError> {
    if jti.len() > MAX_JTI_CHARS {
        return Err(AuthenticatorError::Encoding(CodecError::TooLong));
    }
    Ok(codec::decode_std_into(jti, out)?)
}

/// A jti kept verbatim, inline, so that an opened event needs no heap.
#[derive(Clone, Copy)]
struct JtiText {
    buf: [u8; MAX_JTI_CHARS],
    len: usize,
}

impl JtiText {
    /// Copies `jti`, which must be at most [`MAX_JTI_CHARS`] long.
    fn new(jti: &str) -> Result<Self, AuthenticatorError> {
        let mut text = JtiText {
            buf: [0u8; MAX_JTI_CHARS],
            len: jti.len(),
        };
        text.buf
            .get_mut(..jti.len())
            .ok_or(AuthenticatorError::Encoding(CodecError::TooLong))?
            .copy_from_slice(jti.as_bytes());
        Ok(text)
    }

    fn as_str(&self) -> &str {
        // Copied from a `str`, so always UTF-8.
        core::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

/// A pairing request as the phone reads it: **unverified** (spec §6.4).
///
/// The phone has no key yet, so nothing here is authenticated; the values only decide whom the
/// reply is for. A forged request gains nothing: the reply is keyed with `X25519(aid_prv,
/// eid)`, which only the holder of the claimed eid can check, and the broker MAC with
/// `X25519(aid_prv, epk)`. Parsing checks that `iss` (eid) and `aud` (epk) are base64 of 32
/// bytes and that `jti` is base64 of at most [`MAX_JTI_BYTES`] bytes. Both expiry spellings are
/// accepted: real devices send `exp`, the v1 vectors `eat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnverifiedPairingRequest {
    jti: String,
    exp: Option<u64>,
    eat: Option<u64>,
    eid: PublicKey,
    epk: PublicKey,
}

impl UnverifiedPairingRequest {
    /// Reads a pairing request JWT without verifying it.
    ///
    /// Rejects what [`UntrustedJwt::parse`] rejects and missing or mistyped claims
    /// ([`AuthenticatorError::Request`]), and what [`UnverifiedPairingRequest::from_claims`]
    /// rejects. The header is not looked at.
    pub fn parse(request_jwt: &str) -> Result<Self, AuthenticatorError> {
        let jwt = UntrustedJwt::parse(request_jwt)?;
        // Unverified read: the phone has no key yet (spec §6.4); see the type's docs for why a
        // forged request gains nothing.
        let claims: PairingRequestClaims<'_> = jwt.dangerous_unverified_claims()?;
        Self::from_claims(&claims)
    }

    /// Builds the request from its claims (for vectors that give the payload object).
    ///
    /// Rejects an `iss` or `aud` that is not base64 of a canonical 32-byte key or is low-order
    /// (spec §2.5, [`AuthenticatorError::Key`]) and a `jti` that is not base64 of at most
    /// [`MAX_JTI_BYTES`] bytes ([`AuthenticatorError::Encoding`]).
    pub fn from_claims(claims: &PairingRequestClaims<'_>) -> Result<Self, AuthenticatorError> {
        decode_jti(&claims.jti, &mut [0u8; MAX_JTI_BYTES])?;
        // The pairing request's one expiry rule (spec §6.2): `exp` or `eat`, never neither.
        claims.expiry()?;
        Ok(UnverifiedPairingRequest {
            jti: String::from(claims.jti.as_ref()),
            exp: claims.exp,
            eat: claims.eat,
            eid: PublicKey::from_b64(&claims.iss)?,
            epk: PublicKey::from_b64(&claims.aud)?,
        })
    }

    /// The device's identity key (`iss`).
    pub fn eid(&self) -> &PublicKey {
        &self.eid
    }

    /// The broker's pairing session key (`aud`).
    pub fn epk(&self) -> &PublicKey {
        &self.epk
    }

    /// The device's nonce, verbatim.
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// When the request expires: `exp`, else the v1 `eat`, else `None`.
    pub fn expiry(&self) -> Option<u64> {
        self.exp.or(self.eat)
    }

    /// Whether the request has an expiry and `now` is past it. The device would refuse a reply
    /// to it (its nonce is no longer pending).
    pub fn is_expired(&self, now: UnixTime) -> bool {
        self.expiry().is_some_and(|exp| now.as_secs() > exp)
    }
}

/// The phone's answer to a pairing request: the body of `POST link` (spec §6.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingReply {
    /// The reply JWT for the device, signed with `S1 = X25519(aid_prv, eid)`.
    pub reply: String,
    /// `HMAC-SHA256(X25519(aid_prv, epk), reply ‖ fid)`, standard base64: for the broker
    /// (`fid`: the phone's push-notification token, see [`reply_to_pairing`]).
    pub mac: String,
    /// The phone's public key for this pairing.
    pub aid: PublicKey,
}

impl PairingReply {
    /// The JSON body of `POST link` (accept) or `DELETE link` (refuse):
    /// `{"reply","fid","mac","aid"}`, compact, in the v1 app's order. `fid` must be the one
    /// given to [`reply_to_pairing`], or the broker's MAC check fails.
    pub fn post_body(&self, fid: &str) -> String {
        #[derive(Serialize)]
        struct LinkBody<'a> {
            reply: &'a str,
            fid: &'a str,
            mac: &'a str,
            aid: &'a str,
        }
        let mut aid = [0u8; 44];
        messages::to_json(&LinkBody {
            reply: &self.reply,
            fid,
            mac: &self.mac,
            aid: self.aid.to_b64_in(&mut aid),
        })
    }
}

/// Whether `label` can be the device key's label: 1 to [`MAX_LABEL_CHARS`] printable ASCII
/// characters (space included).
fn check_label(label: &str) -> Result<(), AuthenticatorError> {
    if claims::is_valid_label(label) {
        Ok(())
    } else {
        Err(AuthenticatorError::Label)
    }
}

/// Answers a pairing request with the phone's key `aid` (spec §6.4).
///
/// `reply` = HS256 JWT with the app header, keyed `S1 = X25519(aid_prv, eid)`, claims in the v1
/// order `{jti, [eat], iss: aid, aud: eid, epk, label}`; `eat` is echoed only when the request
/// had one (real requests carry `exp` and no `eat`, so their replies have no `eat`). `jti` is
/// echoed verbatim; keys are written as standard base64 with padding. `mac` =
/// std-b64(`HMAC-SHA256(X25519(aid_prv, epk), reply ‖ fid)`).
///
/// `fid` is the phone's push-notification (FCM) token: opaque text its push service gave it,
/// which the notify broker uses to wake the phone for events (spec §2.2, §6.4).
///
/// Rejects a label the device would refuse ([`AuthenticatorError::Label`]) and a low-order eid
/// or epk ([`AuthenticatorError::Key`]). Does not check the request's expiry: see
/// [`UnverifiedPairingRequest::is_expired`].
pub fn reply_to_pairing(
    aid: &SecretKey,
    request: &UnverifiedPairingRequest,
    label: &str,
    fid: &str,
) -> Result<PairingReply, AuthenticatorError> {
    check_label(label)?;
    let s1 = aid.diffie_hellman(&request.eid)?;
    let s_epk = aid.diffie_hellman(&request.epk)?;
    let aid_public = aid.public_key();
    let (mut iss, mut aud, mut epk) = ([0u8; 44], [0u8; 44], [0u8; 44]);
    let claims = PairingReplyClaims {
        jti: Cow::Borrowed(&request.jti),
        eat: request.eat,
        iss: Cow::Borrowed(aid_public.to_b64_in(&mut iss)),
        aud: Some(Cow::Borrowed(request.eid.to_b64_in(&mut aud))),
        epk: Cow::Borrowed(request.epk.to_b64_in(&mut epk)),
        label: Cow::Borrowed(label),
    };
    let reply = crate::msg::pairing_reply::build(&claims, s1.as_bytes());
    // The MAC covers the plain concatenation, no separator (spec §6.4).
    let mut signed = Vec::with_capacity(reply.len() + fid.len());
    signed.extend_from_slice(reply.as_bytes());
    signed.extend_from_slice(fid.as_bytes());
    let mac = codec::encode_std(&crate::mac::mac(s_epk.as_bytes(), &signed));
    Ok(PairingReply {
        reply,
        mac,
        aid: aid_public,
    })
}

/// What the phone keeps after pairing: `pid` (the pairing id the notify broker assigned in its
/// answer to `POST link`, [`Pid`]), the device's `eid`, and its own `aid_prv`.
///
/// Construction computes `S1 = X25519(aid_prv, eid)` once and caches it (zeroized on drop);
/// `Debug` prints the pid and the public keys only.
#[derive(Clone)]
pub struct AuthenticatorPairing {
    pid: String,
    eid: PublicKey,
    aid: SecretKey,
    aid_public: PublicKey,
    s1: SharedSecret,
}

impl core::fmt::Debug for AuthenticatorPairing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AuthenticatorPairing")
            .field("pid", &self.pid)
            .field("eid", &self.eid)
            .field("aid", &self.aid_public)
            .finish_non_exhaustive()
    }
}

impl AuthenticatorPairing {
    /// A pairing with the `pid` the notify broker assigned (spec §6.4; see [`Pid`]), the
    /// device's `eid`, and the phone's secret `aid`: the checked constructor.
    ///
    /// Rejects a low-order `eid` ([`AuthenticatorError::Key`]): its `S1` would be public.
    pub fn from_pid(pid: Pid, eid: PublicKey, aid: SecretKey) -> Result<Self, AuthenticatorError> {
        Self::new(&alloc::string::ToString::to_string(&pid), eid, aid)
    }

    /// A pairing with a pid given as text, kept verbatim (it goes into every authreply as is),
    /// the device's `eid`, and the phone's secret `aid`.
    ///
    /// The text is not checked to be a pid: the phone app's v1 vectors use shorter ones. For a
    /// pid from a notify broker, parse it into a [`Pid`] and use
    /// [`AuthenticatorPairing::from_pid`], which cannot take `"not-a-pid"`.
    ///
    /// Rejects a low-order `eid` ([`AuthenticatorError::Key`]): its `S1` would be public.
    pub fn new(pid: &str, eid: PublicKey, aid: SecretKey) -> Result<Self, AuthenticatorError> {
        let s1 = aid.diffie_hellman(&eid)?;
        Ok(AuthenticatorPairing {
            pid: String::from(pid),
            eid,
            aid_public: aid.public_key(),
            aid,
            s1,
        })
    }

    /// The pairing id, as given.
    pub fn pid(&self) -> &str {
        &self.pid
    }

    /// The pid in its URL-path form (`pidx`, spec §2.1), for the broker's event paths.
    pub fn pidx(&self) -> String {
        codec::pid_to_pidx(&self.pid)
    }

    /// The device's identity key.
    pub fn eid(&self) -> &PublicKey {
        &self.eid
    }

    /// The phone's public key for this pairing.
    pub fn aid(&self) -> PublicKey {
        self.aid_public
    }

    /// Opens an event fetched from the broker (spec §5.7).
    ///
    /// Checks, in order: expiry **first** (`now > event.exp` is [`AuthenticatorError::Expired`],
    /// whatever else is wrong with the event; `now == exp` is still valid), the `jti` (base64
    /// of at most [`MAX_JTI_BYTES`] bytes, [`AuthenticatorError::Encoding`]), the `epk`
    /// (base64 of 32 bytes, [`AuthenticatorError::Key`]), then the sealed scope under
    /// `K = HMAC-SHA256(S1, jti_raw)`: scheme, encoding, length, padding, and the tag compared
    /// in constant time ([`AuthenticatorError::Seal`]).
    ///
    /// The opened event holds the plaintext, `K`, and a copy of the jti inline: producing it
    /// allocates nothing.
    pub fn open_event<'e>(
        &self,
        event: &Event<'e>,
        now: UnixTime,
    ) -> Result<OpenedEvent<'_, 'e>, AuthenticatorError> {
        if now.as_secs() > event.exp {
            return Err(AuthenticatorError::Expired);
        }
        let mut raw = [0u8; MAX_JTI_BYTES];
        let jti_raw = decode_jti(&event.jti, &mut raw)?;
        let jti = JtiText::new(&event.jti)?;
        let epk = PublicKey::from_b64(&event.epk)?;
        let key = ScopeKey::derive(&self.s1, jti_raw);
        let scope = key.open(&event.scope)?;
        Ok(OpenedEvent {
            pairing: self,
            key,
            scope,
            jti,
            epk,
            exp: event.exp,
            _event: PhantomData,
        })
    }

    /// The MAC of a phone-initiated unpair (spec §6.8): `HMAC-SHA256(X25519(aid_prv, epk),
    /// nonce)`, where `epk` comes from `POST /notify/session {aid}` and `nonce` is 32 random
    /// bytes the caller drew. Send both as standard base64.
    ///
    /// Rejects a low-order `epk` ([`AuthenticatorError::Key`]).
    pub fn unpair_mac(
        &self,
        epk: &PublicKey,
        nonce: &[u8],
    ) -> Result<[u8; 32], AuthenticatorError> {
        let key = self.aid.diffie_hellman(epk)?;
        Ok(crate::mac::mac(key.as_bytes(), nonce))
    }

    /// The MAC of a push-token refresh (spec §6.8, v2 only): `HMAC-SHA256(X25519(aid_prv,
    /// epk), nonce ‖ utf8(fid))`, with `fid` the phone's new push-notification token.
    ///
    /// Rejects a low-order `epk` ([`AuthenticatorError::Key`]).
    pub fn token_refresh_mac(
        &self,
        epk: &PublicKey,
        nonce: &[u8],
        fid: &str,
    ) -> Result<[u8; 32], AuthenticatorError> {
        let key = self.aid.diffie_hellman(epk)?;
        let mut msg = Vec::with_capacity(nonce.len() + fid.len());
        msg.extend_from_slice(nonce);
        msg.extend_from_slice(fid.as_bytes());
        Ok(crate::mac::mac(key.as_bytes(), &msg))
    }
}

/// An event as the broker hands it to the phone (`GET /notify/event/data/<eventid>/<pidx>`):
/// `{jti, scope, epk, exp, ipinfo_eid}` (spec §5.7).
///
/// Deserialises borrowing from the body where the strings have no escapes; unknown members
/// (`ipinfo_eid`, …) are ignored. Nothing is checked until [`AuthenticatorPairing::open_event`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event<'a> {
    /// The authreq's nonce, standard base64; echoed verbatim in the authreply.
    #[serde(borrow)]
    pub jti: Cow<'a, str>,
    /// This phone's sealed scope (`"A" ‖ base64(ct ‖ tag)`).
    #[serde(borrow)]
    pub scope: Cow<'a, str>,
    /// The broker session key of this event: keys the approval's `mac`.
    #[serde(borrow)]
    pub epk: Cow<'a, str>,
    /// The authreq's expiry, unix seconds.
    pub exp: u64,
}

impl<'a> Event<'a> {
    /// Parses an event body: at most [`messages::MAX_BODY_BYTES`], one JSON object without
    /// duplicate members, `jti`/`scope`/`epk` strings and `exp` an unsigned integer
    /// ([`AuthenticatorError::Body`] otherwise).
    pub fn parse(json: &'a str) -> Result<Self, AuthenticatorError> {
        Ok(messages::parse_body(json.as_bytes())?)
    }
}

/// A decrypted event awaiting the user's decision.
///
/// Made only by [`AuthenticatorPairing::open_event`], so holding one proves the event was not
/// expired and its sealed scope carried a valid tag. It keeps `K` (zeroized on drop) to seal
/// the answer, and is consumed by [`OpenedEvent::approve`] or [`OpenedEvent::deny`]. `'p` is the
/// pairing it was opened with; `'e` ties it to the event's data (it keeps its own inline copy
/// of what it needs, so it never allocates).
pub struct OpenedEvent<'p, 'e> {
    pairing: &'p AuthenticatorPairing,
    key: ScopeKey,
    scope: OpenedScope,
    jti: JtiText,
    epk: PublicKey,
    exp: u64,
    _event: PhantomData<&'e str>,
}

impl core::fmt::Debug for OpenedEvent<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OpenedEvent")
            .field("pid", &self.pairing.pid)
            .field("jti", &self.jti.as_str())
            .field("exp", &self.exp)
            .field("scope", &self.scope.as_str())
            .finish_non_exhaustive()
    }
}

impl OpenedEvent<'_, '_> {
    /// The requested scope exactly as the device sealed it; a `keymgmt:use:<kid>` request
    /// carries the `#…` key hint (see [`OpenedEvent::key_hint`]).
    ///
    /// Raw text: it may hold anything a requester managed to have sealed, control characters
    /// included. To show it to a person, use [`OpenedEvent::display_scope`].
    pub fn scope(&self) -> &str {
        self.scope.as_str()
    }

    /// The scope as the phone shows it to the user (spec §8.6): escaped, the key hint apart
    /// from the scope, and flagged by [`DisplayScope::is_suspicious`] when no device sends
    /// such a plaintext.
    pub fn display_scope(&self) -> DisplayScope<'_> {
        DisplayScope::new(self.scope.as_str())
    }

    /// The key type and label the device appended to a `keymgmt:use:<kid>` request, if there is
    /// one and it decodes.
    pub fn key_hint(&self) -> Option<KeyHint> {
        let (_, hint) = scope::split_hint(self.scope());
        hint.and_then(|h| KeyHint::decode(h).ok())
    }

    /// The event's jti, verbatim.
    pub fn jti(&self) -> &str {
        self.jti.as_str()
    }

    /// The event's expiry, unix seconds.
    pub fn exp(&self) -> UnixTime {
        UnixTime::from_secs(self.exp)
    }

    /// Approves the request for `period` (normally one of [`PERIODS`]), with write
    /// access for `storage:*` when `access` is [`Access::ReadWrite`] (spec §5.7).
    ///
    /// * `scope` = [`scope::grant`]`(plaintext, access)`: every `:rw` removed, `:rw` appended
    ///   for `ReadWrite`, the `#…` hint kept at the end;
    /// * the granted scope sealed with the same `K` (so an unchanged scope seals to the very
    ///   string the device sent);
    /// * `authreply` = HS256 JWT, app header, keyed `S1`, claims in the v1 order `{aud: eid,
    ///   jti (verbatim), exp: now.as_secs() + period, iat: now.as_secs(), pid, iss: aid, scope: sealed}`;
    /// * `mac` = std-b64(`HMAC-SHA256(X25519(aid_prv, event.epk), authreply)`).
    ///
    /// Rejects: `now > exp` (the event expired while the user decided,
    /// [`AuthenticatorError::Expired`]); a zero period or an expiry overflowing `u64`
    /// ([`AuthenticatorError::Period`]); a low-order event `epk` ([`AuthenticatorError::Key`]);
    /// a granted scope too long to seal ([`AuthenticatorError::Seal`]).
    pub fn approve(
        self,
        now: UnixTime,
        period: Seconds,
        access: Access,
    ) -> Result<Approval, AuthenticatorError> {
        let now = now.as_secs();
        if now > self.exp {
            return Err(AuthenticatorError::Expired);
        }
        if period == Seconds::ZERO {
            return Err(AuthenticatorError::Period);
        }
        let exp = now
            .checked_add(period.get())
            .ok_or(AuthenticatorError::Period)?;
        let broker_key = self.pairing.aid.diffie_hellman(&self.epk)?;
        let granted = scope::grant(self.scope.as_str(), access);
        let sealed = self.key.seal(&granted)?;
        let (mut aud, mut iss) = ([0u8; 44], [0u8; 44]);
        let claims = AuthreplyClaims {
            aud: Some(Cow::Borrowed(self.pairing.eid.to_b64_in(&mut aud))),
            jti: Cow::Borrowed(self.jti.as_str()),
            exp,
            iat: Some(now),
            pid: Cow::Borrowed(&self.pairing.pid),
            iss: Cow::Borrowed(self.pairing.aid_public.to_b64_in(&mut iss)),
            scope: Cow::Borrowed(&sealed),
            ctx: None,
        };
        let authreply = msg::authreply::build(&claims, self.pairing.s1.as_bytes());
        let mac = codec::encode_std(&crate::mac::mac(
            broker_key.as_bytes(),
            authreply.as_bytes(),
        ));
        Ok(Approval {
            scope: granted,
            authreply,
            mac,
            exp: UnixTime::from_secs(exp),
        })
    }

    /// Denies the request. Nothing is signed: the phone answers with `DELETE
    /// /notify/event/data/<eventid>/<pidx>`. The returned value only records which event it was.
    pub fn deny(self) -> Denial {
        Denial {
            jti: String::from(self.jti.as_str()),
        }
    }
}

/// An approved event: the body of `POST /notify/event/data/<eventid>/<pidx>` plus what was
/// granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The granted scope in plaintext (as sealed into the authreply).
    pub scope: String,
    /// The authreply JWT for the device.
    pub authreply: String,
    /// `HMAC-SHA256(X25519(aid_prv, epk), authreply)`, standard base64: for the broker.
    pub mac: String,
    /// The token expiry written into the authreply (`now + period`).
    pub exp: UnixTime,
}

impl Approval {
    /// The JSON body for the broker: `{"authreply","mac"}`, compact.
    pub fn post_body(&self) -> String {
        #[derive(Serialize)]
        struct AnswerBody<'a> {
            authreply: &'a str,
            mac: &'a str,
        }
        messages::to_json(&AnswerBody {
            authreply: &self.authreply,
            mac: &self.mac,
        })
    }
}

/// A denied event: there is nothing to send but a `DELETE`; kept for logging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The denied event's jti, verbatim.
    pub jti: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairing() -> AuthenticatorPairing {
        let eid = SecretKey::from_bytes([3u8; 32]).public_key();
        AuthenticatorPairing::new("cGlk", eid, SecretKey::from_bytes([5u8; 32])).unwrap()
    }

    #[test]
    fn debug_prints_no_secret() {
        let p = pairing();
        let s1 = crate::codec::encode_std(p.s1.as_bytes());
        let dbg = alloc::format!("{p:?}");
        assert!(dbg.contains("cGlk"));
        assert!(!dbg.contains(&s1));
    }

    #[test]
    fn an_opened_spoof_is_shown_escaped_and_flagged() {
        // Issue 14, attack 3: a scope sealed with a carriage return and terminal escapes.
        let p = pairing();
        let spoof = "system:config\r\x1b[2K\x1b[1A\x1b[2K\u{2026}asks for logger:get";
        let jti = [0x11u8; 32];
        let sealed = ScopeKey::derive(&p.s1, &jti).seal(spoof).unwrap();
        let (jti, epk) = (
            crate::codec::encode_std(&jti),
            SecretKey::from_bytes([6u8; 32]).public_key().to_b64(),
        );
        let event = Event {
            jti: Cow::Borrowed(&jti),
            scope: Cow::Borrowed(&sealed),
            epk: Cow::Borrowed(&epk),
            exp: 100,
        };
        let opened = p.open_event(&event, UnixTime::from_secs(10)).unwrap();
        assert_eq!(opened.scope(), spoof);
        let shown = opened.display_scope();
        assert!(shown.is_suspicious());
        let text = alloc::format!("{shown}");
        assert_eq!(
            text,
            "system:config\\x0d\\x1b[2K\\x1b[1A\\x1b[2K\\xe2\\x80\\xa6asks for logger:get"
        );
        assert!(text.bytes().all(|b| (0x20..=0x7e).contains(&b)));
    }

    #[test]
    fn labels() {
        assert_eq!(check_label("Pixel 8 (Android)"), Ok(()));
        assert_eq!(check_label(&"x".repeat(32)), Ok(()));
        assert_eq!(check_label(""), Err(AuthenticatorError::Label));
        assert_eq!(check_label(&"x".repeat(33)), Err(AuthenticatorError::Label));
        assert_eq!(check_label("tab\there"), Err(AuthenticatorError::Label));
        assert_eq!(check_label("Zażółć"), Err(AuthenticatorError::Label));
    }

    #[test]
    fn jti_bounds() {
        let max = crate::codec::encode_std(&[7u8; MAX_JTI_BYTES]);
        assert_eq!(max.len(), MAX_JTI_CHARS);
        assert_eq!(
            decode_jti(&max, &mut [0u8; MAX_JTI_BYTES]).map(|r| r.len()),
            Ok(MAX_JTI_BYTES)
        );
        let over = crate::codec::encode_std(&[7u8; MAX_JTI_BYTES + 1]);
        assert_eq!(
            decode_jti(&over, &mut [0u8; MAX_JTI_BYTES]).err(),
            Some(AuthenticatorError::Encoding(CodecError::TooLong))
        );
        assert_eq!(
            decode_jti("not base64!", &mut [0u8; MAX_JTI_BYTES]).err(),
            Some(AuthenticatorError::Encoding(CodecError::InvalidBase64))
        );
    }
}
