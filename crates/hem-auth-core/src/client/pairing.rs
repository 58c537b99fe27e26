//! Pairing a phone, client side (spec §6): `ext/init` → request JWT → QR → (phone) → reply →
//! `ext/validate` → `{kid, code}`.

use crate::time::UnixTime;
use alloc::borrow::Cow;
use alloc::string::String;
use rand_core::CryptoRngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::ClientError;
use crate::codec;
use crate::ids::{Kid, Pid};
use crate::jwt::UntrustedJwt;
use crate::keys::{PublicKey, SecretKey};
use crate::messages::{self, EpkRequest, ExtInitResponse, ExtValidateRequest, ExtValidateResponse};
use crate::msg;

/// Starts a pairing: a fresh client session key and the body of `POST /api/auth/ext/init`
/// (`{"epk": …}`).
///
/// Pass the device's eid (from `GET /api/system/config`) as `expected_eid` whenever it is
/// known: the pairing request is then refused unless that device signed it.
pub fn start_pairing(
    expected_eid: Option<PublicKey>,
    rng: &mut impl CryptoRngCore,
) -> (String, PairingState) {
    let state = PairingState::from_secret(SecretKey::generate(rng), expected_eid);
    let body = messages::to_json(&EpkRequest {
        epk: Cow::Owned(state.epk.to_b64()),
    });
    (body, state)
}

/// What the client keeps between the steps of one pairing.
///
/// The secret zeroizes on drop; `Debug` shows only public values.
#[derive(Clone)]
pub struct PairingState {
    epk_secret: SecretKey,
    epk: PublicKey,
    expected_eid: Option<PublicKey>,
}

impl core::fmt::Debug for PairingState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PairingState")
            .field("epk", &self.epk)
            .field("expected_eid", &self.expected_eid)
            .finish_non_exhaustive()
    }
}

impl PairingState {
    /// A state around a known session secret (test vectors, or a secret kept elsewhere).
    pub fn from_secret(epk_secret: SecretKey, expected_eid: Option<PublicKey>) -> Self {
        let epk = epk_secret.public_key();
        PairingState {
            epk_secret,
            epk,
            expected_eid,
        }
    }

    /// This session's public key: the request's `aud`, and what the phone's reply carries as
    /// `epk`.
    pub fn epk(&self) -> PublicKey {
        self.epk
    }

    /// The device this flow insists on, if any.
    pub fn expected_eid(&self) -> Option<PublicKey> {
        self.expected_eid
    }

    /// Reads and verifies the `ext/init` response `{"request","eid"}`.
    ///
    /// In order: the body's shape; `eid` must be the expected device when known
    /// ([`ClientError::WrongIssuer`]); then the pairing request's one verifier,
    /// [`crate::msg::pairing_request::verify`] (spec §6.2): `iss` = `eid` before any
    /// cryptography, header and HMAC under X25519(epk_prv, eid), `aud` = this session's epk,
    /// and `now` before the expiry (`exp`, or `eat` in the v1 vectors' form; neither is
    /// [`crate::jwt::JwtError::InvalidClaims`]).
    /// The `jti` stays opaque text: the phone echoes it and only the device interprets it.
    pub fn verify_init_response(
        &self,
        body: &[u8],
        now: UnixTime,
    ) -> Result<VerifiedPairingRequest, ClientError> {
        let response: ExtInitResponse<'_> = messages::parse_body(body)?;
        let eid = PublicKey::from_b64(&response.eid)?;
        if self.expected_eid.is_some_and(|expected| expected != eid) {
            return Err(ClientError::WrongIssuer);
        }
        let untrusted = UntrustedJwt::parse(&response.request)?;
        let verified =
            msg::pairing_request::verify(&untrusted, &self.epk_secret, &self.epk, &eid, now)?;
        let claims = verified.claims();
        let exp = claims.expiry()?;
        Ok(VerifiedPairingRequest {
            jti: String::from(claims.jti.as_ref()),
            exp,
            eid,
            request: response.request.into_owned(),
        })
    }

    /// The body of `POST /api/auth/ext/validate`: `{"pid","reply"}` as the notify broker's
    /// `register/check` returned them (the pid is the pairing id the broker assigned,
    /// [`Pid`]).
    pub fn validate_body(&self, pid: &str, reply: &str) -> String {
        messages::to_json(&ExtValidateRequest {
            pid: Cow::Borrowed(pid),
            reply: Cow::Borrowed(reply),
        })
    }

    /// Reads the `ext/validate` response `{"kid","code"}` and checks that `code` is
    /// HMAC-SHA256(X25519(epk_prv, eid), reply) in constant time (spec §6.7): proof that
    /// the device `eid` accepted exactly this `reply`. Returns the kid, for
    /// `register/finalise` and for deleting the pairing later.
    ///
    /// Refuses an `eid` other than the expected one ([`ClientError::WrongIssuer`]), a `code`
    /// that is not base64 of 32 bytes ([`ClientError::Encoding`]), a `kid` that is not 32
    /// lowercase hex characters ([`ClientError::BadKid`]; the code does not cover the kid, so
    /// its form is all that can be checked), and a wrong code ([`ClientError::BadCode`]).
    pub fn verify_validate_response(
        &self,
        eid: &PublicKey,
        reply: &str,
        body: &[u8],
    ) -> Result<String, ClientError> {
        if self.expected_eid.is_some_and(|expected| expected != *eid) {
            return Err(ClientError::WrongIssuer);
        }
        let response: ExtValidateResponse<'_> = messages::parse_body(body)?;
        let code: [u8; 32] = codec::decode_fixed(&response.code)?;
        if !is_kid(&response.kid) {
            return Err(ClientError::BadKid);
        }
        let key = self.epk_secret.diffie_hellman(eid)?;
        if !crate::mac::mac_verify(key.as_bytes(), &[reply.as_bytes()], &code) {
            return Err(ClientError::BadCode);
        }
        Ok(response.kid.into_owned())
    }
}

/// A pairing request whose signature, issuer, audience and expiry have been checked: only
/// [`PairingState::verify_init_response`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPairingRequest {
    request: String,
    jti: String,
    exp: u64,
    eid: PublicKey,
}

impl VerifiedPairingRequest {
    /// The request JWT, verbatim: for `register/init` and the QR hash.
    pub fn request(&self) -> &str {
        &self.request
    }

    /// The device's nonce, as text (the phone's reply echoes it).
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// Expiry (24 h after issue on a real device).
    pub fn exp(&self) -> UnixTime {
        UnixTime::from_secs(self.exp)
    }

    /// The device that signed it.
    pub fn eid(&self) -> PublicKey {
        self.eid
    }

    /// The QR payload for this request; see [`qr_payload`].
    pub fn qr_payload(&self, link: &str, user: &str, email: &str, hostname: &str) -> String {
        qr_payload(link, &self.request, user, email, hostname)
    }
}

/// The QR code's JSON (spec §6.3): `{"link","hash","user","email","hostname"}` in that order,
/// compact, with `hash` = standard base64 of SHA-256 of the request JWT text.
pub fn qr_payload(link: &str, request: &str, user: &str, email: &str, hostname: &str) -> String {
    #[derive(Serialize)]
    struct Qr<'a> {
        link: &'a str,
        hash: &'a str,
        user: &'a str,
        email: &'a str,
        hostname: &'a str,
    }
    let hash = codec::encode_std(&Sha256::digest(request.as_bytes()));
    messages::to_json(&Qr {
        link,
        hash: &hash,
        user,
        email,
        hostname,
    })
}

/// A kid as the API writes it: 32 lowercase hex characters (spec §2.6).
fn is_kid(kid: &str) -> bool {
    kid.len() == 32 && kid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Pairing a phone, webauthn-rs style (spec §6): each state is consumed by the step that
/// checks the device's answer, and owns what the next check needs, so the steps cannot be
/// skipped or reordered and the eid and reply checked at the end are the ones of the earlier
/// steps.
///
/// `PairingInit::start` → `POST /api/auth/ext/init` → [`PairingInit::verify_init`] →
/// [`PairingAwaitingReply`] (show its QR code; the phone answers through the notify broker,
/// which assigns the pid) → [`PairingAwaitingReply::validate_body`] →
/// `POST /api/auth/ext/validate` → [`PairingAwaitingCode::verify`] → the pairing key's [`Kid`].
#[derive(Debug, Clone)]
pub struct PairingInit {
    state: PairingState,
}

impl PairingInit {
    /// A fresh client session key and the body of `POST /api/auth/ext/init` (`{"epk": …}`,
    /// with a `system:config` or `auth:ext:pair` bearer token). Pass the device's eid (from
    /// `GET /api/system/config`, or the login challenge) whenever it is known.
    pub fn start(
        expected_eid: Option<PublicKey>,
        rng: &mut impl CryptoRngCore,
    ) -> (String, PairingInit) {
        let (body, state) = start_pairing(expected_eid, rng);
        (body, PairingInit { state })
    }

    /// [`PairingInit::start`] with randomness from the operating system (feature `getrandom`).
    #[cfg(feature = "getrandom")]
    #[cfg_attr(docsrs, doc(cfg(feature = "getrandom")))]
    pub fn start_os(expected_eid: Option<PublicKey>) -> (String, PairingInit) {
        Self::start(expected_eid, &mut rand_core::OsRng)
    }

    /// This session's public key (the request's `aud`).
    pub fn epk(&self) -> PublicKey {
        self.state.epk()
    }

    /// Verifies the `ext/init` answer `{"request","eid"}` (the checks of
    /// [`PairingState::verify_init_response`]) and moves on to waiting for the phone.
    pub fn verify_init(
        self,
        response_body: &[u8],
        now: UnixTime,
    ) -> Result<PairingAwaitingReply, ClientError> {
        let request = self.state.verify_init_response(response_body, now)?;
        Ok(PairingAwaitingReply {
            state: self.state,
            request,
        })
    }
}

/// A pairing whose request verified: show [`PairingAwaitingReply::qr_payload`] (or hand
/// [`PairingAwaitingReply::request`] to the notify broker's `register/init`) and wait for the
/// phone's `{pid, reply}`.
#[derive(Debug, Clone)]
pub struct PairingAwaitingReply {
    state: PairingState,
    request: VerifiedPairingRequest,
}

impl PairingAwaitingReply {
    /// The verified pairing request (its JWT text, jti, expiry and device).
    pub fn request(&self) -> &VerifiedPairingRequest {
        &self.request
    }

    /// The QR payload of spec §6.3; see [`qr_payload`].
    pub fn qr_payload(&self, link: &str, user: &str, email: &str, hostname: &str) -> String {
        self.request.qr_payload(link, user, email, hostname)
    }

    /// This session's public key: the epk the phone's reply carries.
    pub fn epk(&self) -> PublicKey {
        self.state.epk()
    }

    /// The body of `POST /api/auth/ext/validate` (`{"pid","reply"}`) for the phone's reply and
    /// the pid the notify broker assigned, and the state that checks the device's answer
    /// against exactly this reply and this device.
    pub fn validate_body(self, pid: &Pid, reply: &str) -> (String, PairingAwaitingCode) {
        let pid_text = alloc::string::ToString::to_string(pid);
        let body = self.state.validate_body(&pid_text, reply);
        let state = PairingAwaitingCode {
            state: self.state,
            eid: self.request.eid(),
            pid: *pid,
            reply: String::from(reply),
        };
        (body, state)
    }
}

/// A pairing whose `ext/validate` body was sent: [`PairingAwaitingCode::verify`] checks the
/// device's `{kid, code}` against the reply and device of the earlier steps.
#[derive(Debug, Clone)]
pub struct PairingAwaitingCode {
    state: PairingState,
    eid: PublicKey,
    pid: Pid,
    reply: String,
}

impl PairingAwaitingCode {
    /// The pid sent to the device.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The device that signed the pairing request.
    pub fn eid(&self) -> PublicKey {
        self.eid
    }

    /// Checks the `ext/validate` answer (the checks of
    /// [`PairingState::verify_validate_response`]: the code is the HMAC of this reply under
    /// X25519(epk_prv, eid), the kid is 32 lowercase hex characters) and ends the pairing.
    pub fn verify(self, response_body: &[u8]) -> Result<Kid, ClientError> {
        let kid = self
            .state
            .verify_validate_response(&self.eid, &self.reply, response_body)?;
        kid.parse().map_err(|_| ClientError::BadKid)
    }
}
