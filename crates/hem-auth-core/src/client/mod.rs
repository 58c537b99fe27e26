//! The client role: the party that calls the device and holds the session key
//! (`epk_prv`) of each flow (spec §5, §6, §7).
//!
//! Every flow has the shape of webauthn-rs: a `start_*` function returns the body to send plus a
//! state value that the caller keeps (in memory, a session store, anywhere), and later steps
//! take that state back. The library keeps nothing, reads no clock (`now` is a parameter) and
//! draws randomness only from the caller's CSPRNG.
//!
//! What the client can check, and what it cannot:
//!
//! * authreq and pairing request: both are HS256 under X25519(eid_prv, epk), so the holder of
//!   `epk_prv` verifies them ([`ExtAuthState::verify_authreq`],
//!   [`PairingState::verify_init_response`]). Pin the device with `expected_eid` when you know
//!   it: without it, a verified message proves only that *some* key pair signed it.
//! * the pairing `code`: HMAC over the reply under the same secret
//!   ([`PairingState::verify_validate_response`]) proves that the device accepted the phone.
//! * access tokens: signed with a per-boot device secret that never leaves the device, so a
//!   client can only read them ([`UnverifiableAccessToken`]).
//!
//! # External-authenticator login (spec §5)
//!
//! ```
//! use hem_auth_core::client::{self, ClientError};
//! use hem_auth_core::jwt::UntrustedJwt;
//! use hem_auth_core::keys::SecretKey;
//! # use std::borrow::Cow;
//! # use hem_auth_core::claims::{AccessTokenClaims, AuthreqClaims, ScopeMap};
//! # use hem_auth_core::jwt::{self, Header};
//! # use hem_auth_core::messages::{self, ExtRequest, ExtRequestResponse, TokenResponse};
//! # use hem_auth_core::nonce::TimeNonce;
//! use rand_chacha::rand_core::SeedableRng;
//!
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
//! let now = hem_auth_core::UnixTime::from_secs(1_700_000_000);
//! # let eid_prv = SecretKey::generate(&mut rng);
//! let eid = /* the device's identity key, from its configuration */
//! # eid_prv.public_key();
//!
//! // 1. POST /api/auth/ext/request
//! let (request_body, state) =
//!     client::start_ext_auth("keymgmt:list", Some("my-app"), None, Some(eid), &mut rng)?;
//! # // The device, made of primitives: sign an authreq for the requested epk.
//! # let req: ExtRequest<'_> = messages::parse_body(request_body.as_bytes()).unwrap();
//! # let epk = hem_auth_core::keys::PublicKey::from_b64(&req.epk).unwrap();
//! # let claims = AuthreqClaims {
//! #     iss: Cow::Owned(eid.to_b64()), aud: req.epk.clone(), iat: now.as_secs(), exp: (now + hem_auth_core::Seconds::new(3600)).as_secs(),
//! #     jti: Cow::Owned(TimeNonce::generate(now, &mut rng).to_b64()),
//! #     ctx: req.ctx.clone(), note: None, scope: ScopeMap::new(),
//! # };
//! # let key = eid_prv.diffie_hellman(&epk).unwrap();
//! # let authreq = jwt::sign(Header::Device, &claims, key.as_bytes());
//! # let response = messages::to_json(&ExtRequestResponse { authreq: authreq.into(), epk: req.epk.clone() });
//! // 2. the device answered {authreq, epk}: verify it
//! let authreq = state.authreq_from_response(response.as_bytes())?;
//! let untrusted = UntrustedJwt::parse_authreq(&authreq)?;
//! let verified = state.verify_authreq(&untrusted, now)?;
//! assert_eq!(verified.ctx(), Some("my-app"));
//! for (pid, _sealed) in verified.entries() {
//!     // one sealed scope per paired phone: forward {authreq, epk} to the notify broker
//! #   let _ = pid;
//! }
//!
//! // 3. the phone approved; the notify broker hands back its authreply
//! # let authreply = "eyJ...";
//! let token_body = state.ext_token_body(authreply); // POST /api/auth/ext/token
//! # let token = jwt::sign(Header::AccessToken, &AccessTokenClaims {
//! #     scope: "keymgmt:list".into(), sub: "Qq/EGdvacmNrN6JFWVXglQ==".into(), iat: (now + hem_auth_core::Seconds::new(5)).as_secs(),
//! #     exp: (now + hem_auth_core::Seconds::new(905)).as_secs(), jti: TimeNonce::generate(now + hem_auth_core::Seconds::new(5), &mut rng).to_b64().into(),
//! #     ctx: Some("my-app".into()) }, &[9u8; 32]);
//! # let token_response = messages::to_json(&TokenResponse { token: token.into() });
//! // 4. the device answered {token}
//! let token = state.finish(token_response.as_bytes())?;
//! assert_eq!(token.scope(), "keymgmt:list");
//! assert_eq!(token.exp(), now + hem_auth_core::Seconds::new(905));
//! # let _ = token_body;
//! # Ok::<(), ClientError>(())
//! ```
//!
//! # Pairing a phone (spec §6)
//!
//! ```
//! use hem_auth_core::client::{self, ClientError};
//! use hem_auth_core::keys::SecretKey;
//! # use std::borrow::Cow;
//! # use hem_auth_core::claims::PairingRequestClaims;
//! # use hem_auth_core::jwt::{self, Header};
//! # use hem_auth_core::messages::{self, EpkRequest, ExtInitResponse, ExtValidateResponse};
//! # use hem_auth_core::nonce::TimeNonce;
//! # use hem_auth_core::codec;
//! use rand_chacha::rand_core::SeedableRng;
//!
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
//! let now = hem_auth_core::UnixTime::from_secs(1_700_000_000);
//! # let eid_prv = SecretKey::generate(&mut rng);
//! let eid = /* from GET /api/system/config */
//! # eid_prv.public_key();
//!
//! // 1. POST /api/auth/ext/init {epk} (with a system:config or auth:ext:pair token)
//! let (init_body, state) = client::start_pairing(Some(eid), &mut rng);
//! # let req: EpkRequest<'_> = messages::parse_body(init_body.as_bytes()).unwrap();
//! # let epk = hem_auth_core::keys::PublicKey::from_b64(&req.epk).unwrap();
//! # let key = eid_prv.diffie_hellman(&epk).unwrap();
//! # let request = jwt::sign(Header::Device, &PairingRequestClaims {
//! #     jti: TimeNonce::generate(now, &mut rng).to_b64().into(), exp: Some((now + hem_auth_core::Seconds::new(86_400)).as_secs()),
//! #     eat: None, aud: req.epk.clone(), iss: eid.to_b64().into() }, key.as_bytes());
//! # let init_response = messages::to_json(&ExtInitResponse { request: request.into(), eid: eid.to_b64().into() });
//! // 2. verify {request, eid}, then show the QR code
//! let request = state.verify_init_response(init_response.as_bytes(), now)?;
//! let qr = request.qr_payload("https://broker.example/register/challenge/r1", "alice",
//!                             "alice@example.com", "my-hem");
//! assert!(qr.starts_with(r#"{"link":"https://broker.example/register/challenge/r1","hash":""#));
//!
//! // 3. the phone replied through the notify broker with {pid, reply}
//! # let (pid, reply) = ("SmuPON3X1EeRh/rk2VtVFBsy6PRqZKlvMRgCNd6jnGk=", "eyJ...reply");
//! let validate_body = state.validate_body(pid, reply); // POST /api/auth/ext/validate
//! # let code = codec::encode_std(&hem_auth_core::mac::mac(key.as_bytes(), reply.as_bytes()));
//! # let validate_response = messages::to_json(&ExtValidateResponse {
//! #     kid: "42afc419dbda72636b37a2455955e095".into(), code: code.into() });
//! // 4. the device answered {kid, code}: the code proves it accepted this reply
//! let kid = state.verify_validate_response(&request.eid(), reply, validate_response.as_bytes())?;
//! assert_eq!(kid, "42afc419dbda72636b37a2455955e095");
//! # let _ = validate_body;
//! # Ok::<(), ClientError>(())
//! ```
//!
//! # Password login (spec §7)
//!
//! The user key is `derive_user_key(passphrase, challenge.eid_text())` (PBKDF2, 600 000 rounds,
//! feature `password`); this example uses the published seed of spec §14.3 directly.
//!
//! ```
//! use hem_auth_core::client::{self, ClientError, LoginChallenge};
//! use hem_auth_core::keys::SecretKey;
//!
//! // GET /api/auth/token
//! let challenge = LoginChallenge::parse(br#"{"exp":2000000000,"spk":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=","jti":"0123456789abcdef","lbl":"My device","eid":"ff6/rpgprw6OjcPbedIB5LbsxjZqmnf43J1zeK1x82I="}"#)?;
//! let mut seed = [0u8; 32];
//! hex::decode_to_slice("6a0bac730fe27e1fa8b55c49790e3d94436ecee976a9efdeeeb326e7e5b36d29", &mut seed).unwrap();
//! let user = SecretKey::from_bytes(seed);
//!
//! let ejwt = client::build_login(&user, &challenge, "keymgmt:gen", hem_auth_core::UnixTime::from_secs(1_700_000_000), hem_auth_core::UnixTime::from_secs(1_700_003_600), None)?;
//! assert_eq!(ejwt, "eyJlY2RoIjoieDI1NTE5IiwiYWxnIjoiSFMyNTYiLCJ0eXAiOiJKV1QifQ.eyJqdGkiOiIwMTIzNDU2Nzg5YWJjZGVmIiwiYXVkIjoiQVFFQkFRRUJBUUVCQVFFQkFRRUJBUUVCQVFFQkFRRUJBUUVCQVFFQkFRRT0iLCJleHAiOjE3MDAwMDM2MDAsImlhdCI6MTcwMDAwMDAwMCwiaXNzIjoiQ2RMcTUzZVg3ODBGZVpSNC9oT2VlNXJUdGNsN2FqSmRZd1Z3Y2pMNWN4WT0iLCJzY29wZSI6ImtleW1nbXQ6Z2VuIn0.oPm7pWzqB9VImg5OpTllCqbQAO-xkdgoRfdzyLj09qE");
//! let body = client::login_body(&ejwt); // POST /api/auth/token
//! assert!(body.starts_with(r#"{"auth":"eyJ"#));
//! # Ok::<(), ClientError>(())
//! ```

use crate::time::UnixTime;
use alloc::string::String;

use crate::codec::CodecError;
use crate::jwt::{JwtError, UntrustedJwt};
use crate::keys::KeyError;
use crate::messages::{self, BodyError, TokenResponse};
use crate::msg::access_token;
use crate::scope::ScopeError;

mod ext_auth;
mod login;
mod pairing;

pub use crate::ids::{Kid, Pid};
pub use ext_auth::{
    start_ext_auth, ExtAuthState, ExtLogin, ExtLoginAwaitingPhone, ExtLoginAwaitingToken,
    OwnedVerifiedAuthreq, VerifiedAuthreq, MAX_CTX_CHARS, MAX_NOTE_CHARS,
};
pub use login::{
    build_login, build_login_raw, login_body, LoginChallenge, PasswordLogin, MAX_LOGIN_CTX_CHARS,
};
#[cfg(feature = "password")]
pub use login::{derive_user_key, derive_user_seed, PBKDF2_ROUNDS};
pub use pairing::{
    qr_payload, start_pairing, PairingAwaitingCode, PairingAwaitingReply, PairingInit,
    PairingState, VerifiedPairingRequest,
};

/// Why the client refused a message, or refused to build one.
///
/// Like every error of this crate, `Display` says only this layer ("client: response body
/// refused") and [`std::error::Error::source`] returns the inner error ("body lacks the member
/// \"token\""), so a report that walks the chain prints each layer once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// A JWT is malformed, breaks the header policy, does not verify, or lacks a claim.
    Jwt(JwtError),
    /// A public key field is not base64 of a canonical 32-byte key, is low-order (spec §2.5),
    /// or its X25519 result is all zero.
    Key(KeyError),
    /// A binary field other than a key (a jti or a code) is not base64 of the right length.
    Encoding(CodecError),
    /// A response body is too large, not a JSON object, or lacks a member.
    Body(BodyError),
    /// A scope to send breaks the requested-scope grammar of spec §8.6 (length, a character
    /// outside `0x21`–`0x7E`, a `#`).
    Scope(ScopeError),
    /// The message's `iss` (or `eid`) is not the expected device, or the response `eid`
    /// differs from the JWT's `iss`.
    WrongIssuer,
    /// The message is addressed to another client session: `aud` (or the echoed `epk`) is not
    /// this flow's epk.
    WrongAudience,
    /// `now` is at or after the message's `exp`.
    Expired,
    /// `exp` is not after `iat`.
    InvalidLifetime,
    /// The pairing `code` is not the HMAC of the reply.
    BadCode,
    /// The `kid` is not 32 lowercase hex characters.
    BadKid,
    /// A `ctx` to send is empty or too long.
    BadContext,
    /// A `note` to send is empty or longer than [`MAX_NOTE_CHARS`].
    BadNote,
}

impl core::fmt::Display for ClientError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ClientError::Jwt(_) => f.write_str("client: JWT refused"),
            ClientError::Key(_) => f.write_str("client: public key refused"),
            ClientError::Encoding(_) => f.write_str("client: binary field refused"),
            ClientError::Body(_) => f.write_str("client: response body refused"),
            ClientError::Scope(_) => f.write_str("client: scope refused"),
            ClientError::WrongIssuer => f.write_str("client: issuer is not the expected device"),
            ClientError::WrongAudience => {
                f.write_str("client: message is addressed to another client session")
            }
            ClientError::Expired => f.write_str("client: message has expired"),
            ClientError::InvalidLifetime => f.write_str("client: exp is not after iat"),
            ClientError::BadCode => f.write_str("client: pairing code does not verify"),
            ClientError::BadKid => f.write_str("client: kid is not 32 lowercase hex characters"),
            ClientError::BadContext => f.write_str("client: ctx is empty or too long"),
            ClientError::BadNote => f.write_str("client: note is empty or too long"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Jwt(e) => Some(e),
            ClientError::Key(e) => Some(e),
            ClientError::Encoding(e) => Some(e),
            ClientError::Body(e) => Some(e),
            ClientError::Scope(e) => Some(e),
            _ => None,
        }
    }
}

impl From<JwtError> for ClientError {
    fn from(e: JwtError) -> Self {
        ClientError::Jwt(e)
    }
}

impl From<KeyError> for ClientError {
    fn from(e: KeyError) -> Self {
        ClientError::Key(e)
    }
}

impl From<CodecError> for ClientError {
    fn from(e: CodecError) -> Self {
        ClientError::Encoding(e)
    }
}

impl From<BodyError> for ClientError {
    fn from(e: BodyError) -> Self {
        ClientError::Body(e)
    }
}

impl From<ScopeError> for ClientError {
    fn from(e: ScopeError) -> Self {
        ClientError::Scope(e)
    }
}

/// An access token as a client sees it: readable, but **not verified**, because it is signed
/// with a per-boot secret that never leaves the device (spec §8.1, §4.6).
///
/// The name says so on purpose: use these values to display a session or to know when to log
/// in again, never to grant anything. The device checks the token on every request.
///
/// `Debug` does not print the token itself (it is a bearer credential).
#[derive(Clone, PartialEq, Eq)]
pub struct UnverifiableAccessToken {
    token: String,
    scope: String,
    sub: String,
    iat: u64,
    exp: u64,
    jti: String,
    ctx: Option<String>,
}

impl UnverifiableAccessToken {
    /// Reads a token's claims without verifying it: the JWT shape must be sound and the claims
    /// those of an access token (`scope`, `sub`, `iat`, `exp`, `jti`, optional `ctx`).
    pub fn parse(token: &str) -> Result<Self, ClientError> {
        let untrusted = UntrustedJwt::parse(token)?;
        let read = access_token::read(&untrusted)?;
        // The only reading a client can do: the key is inside the device.
        let c = read.dangerous_unverified().clone();
        Ok(UnverifiableAccessToken {
            token: String::from(token),
            scope: c.scope.into_owned(),
            sub: c.sub.into_owned(),
            iat: c.iat,
            exp: c.exp,
            jti: c.jti.into_owned(),
            ctx: c.ctx.map(|c| c.into_owned()),
        })
    }

    /// Reads a `{"token": …}` response body (`POST /api/auth/token`, `/api/auth/ext/token`).
    pub fn from_response(body: &[u8]) -> Result<Self, ClientError> {
        let response: TokenResponse<'_> = messages::parse_body(body)?;
        Self::parse(&response.token)
    }

    /// The token text, for `Authorization: Bearer <token>`.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The granted scope (as the device claims it).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The role: `U`, `M`, or the standard base64 of the approving authenticator's kid.
    pub fn sub(&self) -> &str {
        &self.sub
    }

    /// The 16 kid bytes when `sub` is an external authenticator's (spec §2.6), else `None`.
    pub fn sub_kid(&self) -> Option<[u8; 16]> {
        crate::codec::decode_fixed::<16>(&self.sub).ok()
    }

    /// Issue time (device clock).
    pub fn iat(&self) -> UnixTime {
        UnixTime::from_secs(self.iat)
    }

    /// Expiry: the device accepts the token while `now < exp`.
    pub fn exp(&self) -> UnixTime {
        UnixTime::from_secs(self.exp)
    }

    /// Whether the token has expired at `now` (`now >= exp`), by the client's clock.
    pub fn is_expired(&self, now: UnixTime) -> bool {
        now.as_secs() >= self.exp
    }

    /// The device's time nonce, as text.
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// The `ctx` the caller sent with its login (its own free text), echoed by the device.
    pub fn ctx(&self) -> Option<&str> {
        self.ctx.as_deref()
    }
}

impl core::fmt::Debug for UnverifiableAccessToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UnverifiableAccessToken")
            .field("token", &"<redacted>")
            .field("scope", &self.scope)
            .field("sub", &self.sub)
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .field("jti", &self.jti)
            .field("ctx", &self.ctx)
            .finish()
    }
}

/// Whether `len` (in bytes) lies in `1..=max`.
fn len_in(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len())
}
