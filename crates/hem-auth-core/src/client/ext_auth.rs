//! External-authenticator login, client side (spec §5): `ext/request` → authreq → (phone) →
//! authreply → `ext/token` → access token.

use crate::time::UnixTime;
use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use rand_core::CryptoRngCore;

use super::{len_in, ClientError, UnverifiableAccessToken};
use crate::authenticator::Event;
use crate::claims::AuthreqClaims;
use crate::codec;
use crate::ids::Pid;
use crate::jwt::{UntrustedJwt, Verified};
use crate::keys::{PublicKey, SecretKey};
use crate::messages::{self, ExtRequest, ExtRequestResponse, ExtTokenRequest};
use crate::msg;
use crate::nonce::TimeNonce;
use crate::scope::{self, MAX_REQUEST_SCOPE_CHARS};

/// Longest `ctx` (the caller's own context text, echoed by the device in the authreq and the
/// token) in `ext/request`, in bytes (spec §5.2: 1–64; the firmware silently drops
/// anything else, so we refuse to send it).
pub const MAX_CTX_CHARS: usize = 64;
/// Longest `note` in `ext/request`, in bytes (spec §5.2: 1–128, else silently dropped).
pub const MAX_NOTE_CHARS: usize = 128;

/// Starts an external-authenticator login: a fresh client session key, and the body of
/// `POST /api/auth/ext/request` (`{"epk","scope"[,"ctx"][,"note"]}`).
///
/// Refuses a scope the device would refuse (spec §8.6, [`scope::check_requested`]: 1 to
/// [`MAX_REQUEST_SCOPE_CHARS`] characters of printable ASCII `0x21`–`0x7E` without `#`), and a
/// `ctx`/`note` that is empty or longer than [`MAX_CTX_CHARS`]/[`MAX_NOTE_CHARS`] bytes (the
/// device would drop it without telling). Pass the device's eid as `expected_eid` whenever it
/// is known: the authreq is then refused unless that device signed it.
pub fn start_ext_auth(
    scope: &str,
    ctx: Option<&str>,
    note: Option<&str>,
    expected_eid: Option<PublicKey>,
    rng: &mut impl CryptoRngCore,
) -> Result<(String, ExtAuthState), ClientError> {
    scope::check_requested(scope, MAX_REQUEST_SCOPE_CHARS)?;
    if ctx.is_some_and(|c| !len_in(c, MAX_CTX_CHARS)) {
        return Err(ClientError::BadContext);
    }
    if note.is_some_and(|n| !len_in(n, MAX_NOTE_CHARS)) {
        return Err(ClientError::BadNote);
    }
    let mut state = ExtAuthState::from_secret(SecretKey::generate(rng), expected_eid);
    state.scope = Some(String::from(scope));
    let body = messages::to_json(&ExtRequest {
        epk: Cow::Owned(state.epk.to_b64()),
        scope: Cow::Borrowed(scope),
        ctx: ctx.map(Cow::Borrowed),
        note: note.map(Cow::Borrowed),
    });
    Ok((body, state))
}

/// What the client keeps between the steps of one external-authenticator login: the session
/// key pair and the device it expects.
///
/// The secret zeroizes on drop; `Debug` shows only public values.
#[derive(Clone)]
pub struct ExtAuthState {
    epk_secret: SecretKey,
    epk: PublicKey,
    expected_eid: Option<PublicKey>,
    scope: Option<String>,
}

impl core::fmt::Debug for ExtAuthState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ExtAuthState")
            .field("epk", &self.epk)
            .field("expected_eid", &self.expected_eid)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl ExtAuthState {
    /// A state around a known session secret (test vectors, or a secret kept elsewhere).
    /// It has no requested scope.
    pub fn from_secret(epk_secret: SecretKey, expected_eid: Option<PublicKey>) -> Self {
        let epk = epk_secret.public_key();
        ExtAuthState {
            epk_secret,
            epk,
            expected_eid,
            scope: None,
        }
    }

    /// This session's public key: what the authreq's `aud` must be, and what is forwarded
    /// with the authreq to the notify broker.
    pub fn epk(&self) -> PublicKey {
        self.epk
    }

    /// The device this flow insists on, if any.
    pub fn expected_eid(&self) -> Option<PublicKey> {
        self.expected_eid
    }

    /// The scope sent by [`start_ext_auth`] (`None` for [`ExtAuthState::from_secret`]).
    pub fn requested_scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// Reads the `ext/request` response body `{"authreq","epk"}` and returns the authreq text,
    /// for [`UntrustedJwt::parse_authreq`]. The body may be as large as the largest a device
    /// emits ([`messages::MAX_EXT_REQUEST_RESPONSE_BYTES`], spec §3.6). The echoed `epk` must
    /// be this session's ([`ClientError::WrongAudience`]). Borrows from `body` unless the JSON
    /// has escapes.
    pub fn authreq_from_response<'b>(&self, body: &'b [u8]) -> Result<Cow<'b, str>, ClientError> {
        let response: ExtRequestResponse<'b> =
            messages::parse_body_within(body, messages::MAX_EXT_REQUEST_RESPONSE_BYTES)?;
        if PublicKey::from_b64(&response.epk)? != self.epk {
            return Err(ClientError::WrongAudience);
        }
        Ok(response.authreq)
    }

    /// Verifies an authreq. Allocates nothing (unless its JSON strings contain escapes, which
    /// the device does not write).
    ///
    /// Parse it with [`UntrustedJwt::parse_authreq`], which accepts every authreq a device can
    /// emit (up to [`crate::jwt::MAX_AUTHREQ_BYTES`], spec §3.6); one parsed with
    /// [`UntrustedJwt::parse`] is verified the same way, but that parser refuses an authreq
    /// over 4096 bytes (many pairings and a long scope).
    ///
    /// The checks are the authreq's one verifier, [`crate::msg::authreq::verify`] (spec §5.3),
    /// with this session's key and expected eid.
    pub fn verify_authreq<'u, const N: usize>(
        &self,
        authreq: &'u UntrustedJwt<'_, N>,
        now: UnixTime,
    ) -> Result<VerifiedAuthreq<'u>, ClientError> {
        msg::authreq::verify(authreq, &self.epk_secret, &self.epk, self.expected_eid, now)
    }

    /// The body of `POST /api/auth/ext/token`: `{"authreply": …}`, the phone's JWT verbatim.
    pub fn ext_token_body(&self, authreply: &str) -> String {
        messages::to_json(&ExtTokenRequest {
            authreply: Cow::Borrowed(authreply),
        })
    }

    /// Reads the `ext/token` response `{"token": …}` and ends the flow.
    ///
    /// The token cannot be verified by a client (per-boot device key); see
    /// [`UnverifiableAccessToken`].
    pub fn finish(
        self,
        token_response_body: &[u8],
    ) -> Result<UnverifiableAccessToken, ClientError> {
        UnverifiableAccessToken::from_response(token_response_body)
    }
}

/// An authreq whose signature, issuer, audience and lifetime have been checked: only
/// [`crate::msg::authreq::verify`] builds one (it holds the [`Verified`] claims). Borrows the [`UntrustedJwt`] it came from.
#[derive(Debug, Clone)]
pub struct VerifiedAuthreq<'u> {
    claims: Verified<AuthreqClaims<'u>>,
    eid: PublicKey,
    jti: TimeNonce,
}

impl<'u> VerifiedAuthreq<'u> {
    /// The checked authreq (see [`crate::msg::authreq::verify`]).
    pub(crate) fn new(claims: Verified<AuthreqClaims<'u>>, eid: PublicKey, jti: TimeNonce) -> Self {
        VerifiedAuthreq { claims, eid, jti }
    }

    /// The device's time nonce, as text (what the authreply echoes).
    pub fn jti(&self) -> &str {
        &self.claims.claims().jti
    }

    /// The decoded `jti`: the key input of the sealed scopes, stamped with the issue time.
    pub fn jti_nonce(&self) -> TimeNonce {
        self.jti
    }

    /// Device time of issue.
    pub fn iat(&self) -> UnixTime {
        UnixTime::from_secs(self.claims.claims().iat)
    }

    /// Expiry: the phone must answer before it.
    pub fn exp(&self) -> UnixTime {
        UnixTime::from_secs(self.claims.claims().exp)
    }

    /// The `ctx` the caller sent with `ext/request` (its own free text), echoed by the device.
    pub fn ctx(&self) -> Option<&str> {
        self.claims.claims().ctx.as_deref()
    }

    /// The caller note echoed by the device.
    pub fn note(&self) -> Option<&str> {
        self.claims.claims().note.as_deref()
    }

    /// The device that signed it (`iss`).
    pub fn eid(&self) -> PublicKey {
        self.eid
    }

    /// `(pid, sealed scope)` for every paired authenticator, in the device's order; the pid is
    /// the pairing id the notify broker assigned at pairing ([`Pid`]). Empty when
    /// nothing is paired (the device still answers 200).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.claims.claims().scope.iter()
    }

    /// The sealed scope for one pid (the pairing id the notify broker assigned, [`Pid`];
    /// compared as text).
    pub fn entry(&self, pid: &str) -> Option<&str> {
        self.claims.claims().scope.get(pid)
    }

    /// All verified claims.
    pub fn claims(&self) -> &AuthreqClaims<'u> {
        self.claims.claims()
    }
}

impl ExtAuthState {
    /// Reads and verifies the `ext/request` answer `{"authreq","epk"}` in one call
    /// ([`ExtAuthState::authreq_from_response`], [`UntrustedJwt::parse_authreq`],
    /// [`ExtAuthState::verify_authreq`]) and returns the verified authreq as an owned value.
    ///
    /// Allocates (the owned copy); the three steps it bundles are for the allocation-free path.
    pub fn verify_response(
        &self,
        response_body: &[u8],
        now: UnixTime,
    ) -> Result<OwnedVerifiedAuthreq, ClientError> {
        let authreq = self.authreq_from_response(response_body)?;
        let untrusted = UntrustedJwt::parse_authreq(&authreq)?;
        let verified = self.verify_authreq(&untrusted, now)?;
        Ok(OwnedVerifiedAuthreq {
            authreq: String::from(authreq.as_ref()),
            jti: String::from(verified.jti()),
            iat: verified.iat().as_secs(),
            exp: verified.exp().as_secs(),
            ctx: verified.ctx().map(String::from),
            note: verified.note().map(String::from),
            eid: verified.eid(),
            epk: self.epk,
            entries: verified
                .entries()
                .map(|(pid, sealed)| (String::from(pid), String::from(sealed)))
                .collect(),
        })
    }
}

/// A verified authreq that owns its data (made only by [`ExtAuthState::verify_response`]):
/// a helper can return it, a server can keep it, and it builds each phone's [`Event`] directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedVerifiedAuthreq {
    authreq: String,
    jti: String,
    iat: u64,
    exp: u64,
    ctx: Option<String>,
    note: Option<String>,
    eid: PublicKey,
    epk: PublicKey,
    entries: Vec<(String, String)>,
}

impl OwnedVerifiedAuthreq {
    /// The authreq JWT, verbatim: with [`OwnedVerifiedAuthreq::epk`], the body of the notify
    /// broker's `event/new` (spec §12.4).
    pub fn authreq(&self) -> &str {
        &self.authreq
    }

    /// The device's time nonce, as text (the authreply echoes it).
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// Device time of issue.
    pub fn iat(&self) -> UnixTime {
        UnixTime::from_secs(self.iat)
    }

    /// Expiry: the phone must answer before it.
    pub fn exp(&self) -> UnixTime {
        UnixTime::from_secs(self.exp)
    }

    /// The `ctx` the caller sent with `ext/request` (its own free text, 1–64 bytes, spec §5.2),
    /// echoed by the device.
    pub fn ctx(&self) -> Option<&str> {
        self.ctx.as_deref()
    }

    /// The caller's `note`, echoed by the device.
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// The device that signed it (`iss`).
    pub fn eid(&self) -> PublicKey {
        self.eid
    }

    /// The client session's key (the verified `aud`): what the phone MACs its answer for.
    pub fn epk(&self) -> PublicKey {
        self.epk
    }

    /// `(pid, sealed scope)` for every paired phone, in the device's order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries.iter().map(|(p, s)| (p.as_str(), s.as_str()))
    }

    /// The sealed scope for the phone paired under `pid`.
    pub fn entry(&self, pid: &Pid) -> Option<&str> {
        let mut text = [0u8; 44];
        let pid = codec::encode_std_into(pid.as_bytes(), &mut text)?;
        self.entry_text(pid)
    }

    /// The sealed scope for a pid given as text (compared as text, as the device wrote it).
    pub fn entry_text(&self, pid: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(p, _)| p == pid)
            .map(|(_, s)| s.as_str())
    }

    /// The event the notify broker shows the phone paired under `pid` (spec §5.7:
    /// `{jti, scope, epk, exp}`), or `None` when the authreq has no entry for it.
    pub fn event(&self, pid: &Pid) -> Option<Event<'static>> {
        let sealed = self.entry(pid)?;
        Some(Event {
            jti: Cow::Owned(self.jti.clone()),
            scope: Cow::Owned(String::from(sealed)),
            epk: Cow::Owned(self.epk.to_b64()),
            exp: self.exp,
        })
    }
}

/// An external-authenticator login, webauthn-rs style (spec §5): each state is consumed by the
/// step that checks the device's answer.
///
/// [`ExtLogin::start`] → `POST /api/auth/ext/request` → [`ExtLogin::verify_response`] →
/// [`ExtLoginAwaitingPhone`] (forward the authreq to the phones; build a phone's event with
/// [`OwnedVerifiedAuthreq::event`]) → [`ExtLoginAwaitingPhone::token_body`] →
/// `POST /api/auth/ext/token` → [`ExtLoginAwaitingToken::finish`] → the access token.
#[derive(Debug, Clone)]
pub struct ExtLogin {
    state: ExtAuthState,
}

impl ExtLogin {
    /// A fresh session key and the body of `POST /api/auth/ext/request`; the refusals of
    /// [`start_ext_auth`]. `ctx` and `note` are the caller's own free text, echoed by the
    /// device in the authreq and (`ctx`) in the token.
    pub fn start(
        scope: &str,
        ctx: Option<&str>,
        note: Option<&str>,
        expected_eid: Option<PublicKey>,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(String, ExtLogin), ClientError> {
        let (body, state) = start_ext_auth(scope, ctx, note, expected_eid, rng)?;
        Ok((body, ExtLogin { state }))
    }

    /// [`ExtLogin::start`] with randomness from the operating system (feature `getrandom`).
    #[cfg(feature = "getrandom")]
    #[cfg_attr(docsrs, doc(cfg(feature = "getrandom")))]
    pub fn start_os(
        scope: &str,
        ctx: Option<&str>,
        note: Option<&str>,
        expected_eid: Option<PublicKey>,
    ) -> Result<(String, ExtLogin), ClientError> {
        Self::start(scope, ctx, note, expected_eid, &mut rand_core::OsRng)
    }

    /// This session's public key.
    pub fn epk(&self) -> PublicKey {
        self.state.epk()
    }

    /// Verifies the `ext/request` answer ([`ExtAuthState::verify_response`]).
    pub fn verify_response(
        self,
        response_body: &[u8],
        now: UnixTime,
    ) -> Result<ExtLoginAwaitingPhone, ClientError> {
        let authreq = self.state.verify_response(response_body, now)?;
        Ok(ExtLoginAwaitingPhone {
            state: self.state,
            authreq,
        })
    }
}

/// An external-authenticator login whose authreq verified, waiting for a phone's authreply.
#[derive(Debug, Clone)]
pub struct ExtLoginAwaitingPhone {
    state: ExtAuthState,
    authreq: OwnedVerifiedAuthreq,
}

impl ExtLoginAwaitingPhone {
    /// The verified authreq.
    pub fn authreq(&self) -> &OwnedVerifiedAuthreq {
        &self.authreq
    }

    /// The body of `POST /api/auth/ext/token` (`{"authreply": …}`, the phone's JWT verbatim)
    /// and the state that reads the answer.
    pub fn token_body(self, authreply: &str) -> (String, ExtLoginAwaitingToken) {
        let body = self.state.ext_token_body(authreply);
        (body, ExtLoginAwaitingToken { state: self.state })
    }
}

/// An external-authenticator login whose authreply was sent to the device.
#[derive(Debug, Clone)]
pub struct ExtLoginAwaitingToken {
    state: ExtAuthState,
}

impl ExtLoginAwaitingToken {
    /// Reads the `ext/token` answer `{"token": …}` and ends the login
    /// ([`ExtAuthState::finish`]).
    pub fn finish(self, response_body: &[u8]) -> Result<UnverifiableAccessToken, ClientError> {
        self.state.finish(response_body)
    }
}
