//! Password (or master-key) login, client side (spec §7): `GET /api/auth/token` challenge →
//! eJWT → `POST /api/auth/token` → access token.

use alloc::borrow::Cow;
use alloc::string::String;

use super::{len_in, ClientError, UnverifiableAccessToken};
use crate::keys::{PublicKey, SecretKey};
use crate::messages::{self, AuthChallenge, AuthTokenRequest};
use crate::msg::{self, login::LoginClaims};
use crate::scope::{self, MAX_LOGIN_SCOPE_CHARS};
use crate::time::{Seconds, UnixTime};

/// Longest `ctx` (the caller's own context text, echoed in the token) in an eJWT, in bytes (spec §7.3: "< 64 chars").
pub const MAX_LOGIN_CTX_CHARS: usize = 63;

/// PBKDF2 rounds of the user-key derivation (spec §7.2: every current client uses 600 000).
#[cfg(feature = "password")]
#[cfg_attr(docsrs, doc(cfg(feature = "password")))]
pub const PBKDF2_ROUNDS: u32 = 600_000;

/// The PBKDF2 seed of the current clients (spec §7.2): PBKDF2-HMAC-SHA256(passphrase,
/// salt = the eid **text as received** (the 44-character base64, not its bytes),
/// [`PBKDF2_ROUNDS`], 32 bytes). Deliberately slow (600 000 rounds).
#[cfg(feature = "password")]
#[cfg_attr(docsrs, doc(cfg(feature = "password")))]
pub fn derive_user_seed(passphrase: &str, eid_text: &str) -> zeroize::Zeroizing<[u8; 32]> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
        passphrase.as_bytes(),
        eid_text.as_bytes(),
        PBKDF2_ROUNDS,
        seed.as_mut_slice(),
    );
    seed
}

/// Derives the user key from a passphrase as the current clients do: the seed of
/// [`derive_user_seed`] is the X25519 private key (spec §7.2).
#[cfg(feature = "password")]
#[cfg_attr(docsrs, doc(cfg(feature = "password")))]
pub fn derive_user_key(passphrase: &str, eid_text: &str) -> SecretKey {
    SecretKey::from_bytes(*derive_user_seed(passphrase, eid_text))
}

/// The login challenge of `GET /api/auth/token` (spec §7.1), owned.
///
/// `spk` and `eid` are checked to be 32-byte keys; their texts are kept verbatim because the
/// eJWT's `aud` and the PBKDF2 salt use the text as received. `jti` is opaque.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginChallenge {
    exp: u64,
    spk: PublicKey,
    spk_text: String,
    jti: String,
    lbl: String,
    eid: PublicKey,
    eid_text: String,
}

impl LoginChallenge {
    /// Parses the challenge body `{"exp","spk","jti","lbl","eid"}`.
    pub fn parse(body: &[u8]) -> Result<Self, ClientError> {
        let c: AuthChallenge<'_> = messages::parse_body(body)?;
        Ok(LoginChallenge {
            exp: c.exp,
            spk: PublicKey::from_b64(&c.spk)?,
            eid: PublicKey::from_b64(&c.eid)?,
            spk_text: c.spk.into_owned(),
            jti: c.jti.into_owned(),
            lbl: c.lbl.into_owned(),
            eid_text: c.eid.into_owned(),
        })
    }

    /// The response deadline (the device's now + 60), not a token lifetime.
    pub fn exp(&self) -> UnixTime {
        UnixTime::from_secs(self.exp)
    }

    /// The device's per-boot session key.
    pub fn spk(&self) -> PublicKey {
        self.spk
    }

    /// `spk` as received: the eJWT's `aud`.
    pub fn spk_text(&self) -> &str {
        &self.spk_text
    }

    /// The nonce to echo, as received.
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// The configured user label.
    pub fn lbl(&self) -> &str {
        &self.lbl
    }

    /// The device's identity key.
    pub fn eid(&self) -> PublicKey {
        self.eid
    }

    /// `eid` as received: the PBKDF2 salt.
    pub fn eid_text(&self) -> &str {
        &self.eid_text
    }
}

/// Builds the login eJWT for a challenge (spec §7.3); see [`build_login_raw`].
pub fn build_login(
    user: &SecretKey,
    challenge: &LoginChallenge,
    scope: &str,
    iat: UnixTime,
    exp: UnixTime,
    ctx: Option<&str>,
) -> Result<String, ClientError> {
    build_login_raw(
        user,
        challenge.spk_text(),
        challenge.jti(),
        scope,
        iat,
        exp,
        ctx,
    )
}

/// Builds a login eJWT from the challenge's `spk` and `jti` texts: header [`Header::App`],
/// claims `{jti, aud: spk_text, exp, iat, iss: base64(user public key), scope[, ctx]}` in that
/// order, HS256 under X25519(user, spk).
///
/// `exp` becomes the token's expiry verbatim (the device does not cap it). Refuses a scope
/// the device would refuse (spec §8.6, [`scope::check_requested`]: 1 to
/// [`MAX_LOGIN_SCOPE_CHARS`] characters of printable ASCII `0x21`–`0x7E` without `#`),
/// `exp <= iat` ([`ClientError::InvalidLifetime`]; the device rejects an `exp` of 0), a `ctx`
/// that is empty or longer than [`MAX_LOGIN_CTX_CHARS`] bytes, and an `spk_text` that is not a
/// canonical key or is low-order (spec §2.5).
pub fn build_login_raw(
    user: &SecretKey,
    spk_text: &str,
    jti: &str,
    scope: &str,
    iat: UnixTime,
    exp: UnixTime,
    ctx: Option<&str>,
) -> Result<String, ClientError> {
    scope::check_requested(scope, MAX_LOGIN_SCOPE_CHARS)?;
    if exp <= iat {
        return Err(ClientError::InvalidLifetime);
    }
    if ctx.is_some_and(|c| !len_in(c, MAX_LOGIN_CTX_CHARS)) {
        return Err(ClientError::BadContext);
    }
    let spk = PublicKey::from_b64(spk_text)?;
    let key = user.diffie_hellman(&spk)?;
    let claims = LoginClaims {
        jti: Cow::Borrowed(jti),
        aud: Cow::Borrowed(spk_text),
        exp: exp.as_secs(),
        iat: iat.as_secs(),
        iss: Cow::Owned(user.public_key().to_b64()),
        scope: Cow::Borrowed(scope),
        ctx: ctx.map(Cow::Borrowed),
    };
    Ok(msg::login::build(&claims, key.as_bytes()))
}

/// The body of `POST /api/auth/token`: `{"auth": …}`.
pub fn login_body(ejwt: &str) -> String {
    messages::to_json(&AuthTokenRequest {
        auth: Cow::Borrowed(ejwt),
    })
}

/// A password (or master-key) login in flight, webauthn-rs style (spec §7): [`PasswordLogin::start`]
/// turns the `GET /api/auth/token` challenge into the `POST /api/auth/token` body and this
/// state; [`PasswordLogin::finish`] consumes it with the device's answer and returns the token.
///
/// ```
/// use hem_auth_core::client::{ClientError, PasswordLogin};
/// use hem_auth_core::keys::SecretKey;
/// use hem_auth_core::{Seconds, UnixTime};
///
/// let challenge = br#"{"exp":2000000000,"spk":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=","jti":"0123456789abcdef","lbl":"My device","eid":"ff6/rpgprw6OjcPbedIB5LbsxjZqmnf43J1zeK1x82I="}"#;
/// let user = SecretKey::from_bytes([7; 32]); // or PasswordLogin::start_with_passphrase
/// let now = 1_700_000_000;
/// let (body, login) = PasswordLogin::start(
///     challenge,
///     &user,
///     "keymgmt:list",
///     UnixTime::from_secs(now),
///     Seconds::new(3600),
/// )?;
/// assert!(body.starts_with(r#"{"auth":"eyJ"#)); // POST /api/auth/token
/// # use hem_auth_core::{claims::AccessTokenClaims, jwt::{self, Header}, messages::{self, TokenResponse}};
/// # let token = jwt::sign(Header::AccessToken, &AccessTokenClaims { scope: "keymgmt:list".into(),
/// #     sub: "U".into(), iat: now, exp: now + 3600, jti: "AA".into(), ctx: None }, &[9u8; 32]);
/// # let response = messages::to_json(&TokenResponse { token: token.into() });
/// let token = login.finish(response.as_bytes())?;
/// assert_eq!((token.scope(), token.exp().as_secs()), ("keymgmt:list", now + 3600));
/// // Authorization: Bearer {token.token()}
/// # Ok::<(), ClientError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PasswordLogin {
    challenge: LoginChallenge,
    scope: String,
}

impl PasswordLogin {
    /// Parses the challenge body (`GET /api/auth/token`, [`LoginChallenge::parse`]) and builds
    /// the `POST /api/auth/token` body for a token of `scope` valid from `now` for
    /// `lifetime` ([`build_login`]: the same refusals; a zero or overflowing lifetime is
    /// [`ClientError::InvalidLifetime`]).
    pub fn start(
        challenge_body: &[u8],
        user: &SecretKey,
        scope: &str,
        now: UnixTime,
        lifetime: Seconds,
    ) -> Result<(String, PasswordLogin), ClientError> {
        let challenge = LoginChallenge::parse(challenge_body)?;
        Self::start_with_challenge(challenge, user, scope, now, lifetime)
    }

    /// [`PasswordLogin::start`] with the user key derived from the passphrase
    /// ([`derive_user_key`], salted with the challenge's eid: slow on purpose, and very slow in
    /// an unoptimised build; see the crate README).
    #[cfg(feature = "password")]
    #[cfg_attr(docsrs, doc(cfg(feature = "password")))]
    pub fn start_with_passphrase(
        challenge_body: &[u8],
        passphrase: &str,
        scope: &str,
        now: UnixTime,
        lifetime: Seconds,
    ) -> Result<(String, PasswordLogin), ClientError> {
        let challenge = LoginChallenge::parse(challenge_body)?;
        let user = derive_user_key(passphrase, challenge.eid_text());
        Self::start_with_challenge(challenge, &user, scope, now, lifetime)
    }

    /// [`PasswordLogin::start`] for a challenge already parsed.
    pub fn start_with_challenge(
        challenge: LoginChallenge,
        user: &SecretKey,
        scope: &str,
        now: UnixTime,
        lifetime: Seconds,
    ) -> Result<(String, PasswordLogin), ClientError> {
        let exp = now
            .as_secs()
            .checked_add(lifetime.get())
            .map(UnixTime::from_secs)
            .ok_or(ClientError::InvalidLifetime)?;
        let ejwt = build_login(user, &challenge, scope, now, exp, None)?;
        let state = PasswordLogin {
            challenge,
            scope: String::from(scope),
        };
        Ok((login_body(&ejwt), state))
    }

    /// The challenge this login answers (its `eid` is the device's identity key).
    pub fn challenge(&self) -> &LoginChallenge {
        &self.challenge
    }

    /// The scope asked for.
    pub fn requested_scope(&self) -> &str {
        &self.scope
    }

    /// Reads the `POST /api/auth/token` answer `{"token": …}` and ends the login.
    ///
    /// The token cannot be verified by a client (see [`UnverifiableAccessToken`]); it is read.
    pub fn finish(self, response_body: &[u8]) -> Result<UnverifiableAccessToken, ClientError> {
        UnverifiableAccessToken::from_response(response_body)
    }
}
