//! The emulated check-in backend (spec §9.5, §12.7):
//! `POST /checkin {"check"}` → `{"checked"}`.

use crate::time::UnixTime;
use alloc::borrow::Cow;
use alloc::string::String;
use serde::{Deserialize, Serialize};

use super::{parse, NotifyBroker, NotifyError, Reply};
use crate::jwt::{HeaderPolicy, UntrustedJwt};
use crate::keys::{PublicKey, SecretKey};
use crate::messages::CheckinChallenge;
use crate::msg::checkin::{self, CheckedClaims};

/// `200 {"checked"}`: the backend's answer, for the device's `POST /api/system/checkin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Checked {
    /// The signed `checked` JWT.
    pub checked: String,
}

impl Reply for Checked {
    fn body(&self) -> String {
        crate::messages::to_json(self)
    }
}

/// Answers a device's `check` JWT as the emulated backend does.
///
/// Reads `iss` (the device's spk) unverified, only to find the key; then the header must be
/// HS256 + `ecdh: x25519`, the HMAC must verify under X25519(backend_prv, spk), the claims must
/// be a check's, and `aud` must be the backend's public key. Any failure is
/// [`NotifyError::BadCheck`]. The answer is an HS256 JWT with the device ECDH header, keyed the
/// same, claims `{jti: check.jti, iat: now, iss: backend pub, aud: spk, status: "OK"}`. The
/// device sets its clock to `now`.
pub fn answer_check(
    backend: &SecretKey,
    check_jwt: &str,
    now: UnixTime,
) -> Result<String, NotifyError> {
    let jwt = UntrustedJwt::parse(check_jwt).map_err(|_| NotifyError::BadCheck)?;
    let read = checkin::read_check(&jwt).map_err(|_| NotifyError::BadCheck)?;
    // Unverified read: `iss` finds the key; the MAC below is keyed with it.
    let spk =
        PublicKey::from_b64(&read.dangerous_unverified().iss).map_err(|_| NotifyError::BadCheck)?;
    let key = backend
        .diffie_hellman(&spk)
        .map_err(|_| NotifyError::BadCheck)?;
    let verified = read
        .verify(key.as_bytes(), HeaderPolicy::Ecdh)
        .map_err(|_| NotifyError::BadCheck)?;
    let check = verified.into_claims();
    let backend_public = backend.public_key();
    if PublicKey::from_b64(&check.aud).ok() != Some(backend_public) {
        return Err(NotifyError::BadCheck);
    }
    let claims = CheckedClaims {
        jti: check.jti,
        iat: now.as_secs(),
        iss: Cow::Owned(backend_public.to_b64()),
        aud: Cow::Owned(spk.to_b64()),
        status: Cow::Borrowed("OK"),
    };
    Ok(checkin::build_checked(&claims, key.as_bytes()))
}

impl NotifyBroker {
    /// `POST /checkin {"check"}` → `{"checked"}` ([`answer_check`]). 404
    /// ([`NotifyError::NoBackend`]) when no backend key is configured, before the body is
    /// read; then 400 body; 401 [`NotifyError::BadCheck`].
    pub fn checkin(&self, body: &[u8], now: UnixTime) -> Result<Checked, NotifyError> {
        let backend = self.config.backend.as_ref().ok_or(NotifyError::NoBackend)?;
        let b: CheckinChallenge<'_> = parse(body)?;
        Ok(Checked {
            checked: answer_check(backend, &b.check, now)?,
        })
    }
}
