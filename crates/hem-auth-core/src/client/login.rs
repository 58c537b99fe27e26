//! Password (or master-key) login, client side (spec §7): `GET /api/auth/token` challenge →
//! eJWT → `POST /api/auth/token` → access token.

use alloc::borrow::Cow;
use alloc::string::String;

use super::{len_in, ClientError};
use crate::claims::LoginClaims;
use crate::jwt::{self, Header};
use crate::keys::{PublicKey, SecretKey};
use crate::messages::{self, AuthChallenge, AuthTokenRequest};
use crate::scope::{self, MAX_LOGIN_SCOPE_CHARS};
use crate::time::UnixTime;

/// Longest `ctx` in an eJWT, in bytes (spec §7.3: "< 64 chars").
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
    pub fn exp(&self) -> u64 {
        self.exp
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
    Ok(jwt::sign(Header::App, &claims, key.as_bytes()))
}

/// The body of `POST /api/auth/token`: `{"auth": …}`.
pub fn login_body(ejwt: &str) -> String {
    messages::to_json(&AuthTokenRequest {
        auth: Cow::Borrowed(ejwt),
    })
}
