//! The access token the device issues, held inline with its response body (no heap).

use alloc::borrow::Cow;
use arrayvec::ArrayString;
use serde::{Serialize, Serializer};

use crate::claims::AccessTokenClaims;
use crate::jwt;
use crate::messages::TokenResponse;

/// Longest access token the device mints, in bytes: [`jwt::MAX_JWT_BYTES`], the longest JWT
/// the device accepts. A token that would be longer is refused before it exists
/// ([`super::DeviceError::TokenTooLarge`]), so the device never hands out a bearer it would
/// itself reject.
///
/// Every token of the protocol's normal inputs fits with room to spare: with a 1023-character
/// printable scope (2046 bytes as JSON, had every character to be escaped), a 24-character
/// kid `sub`, 20-digit dates, the 44-character `jti` and a 64-character `ctx` escaped to 384
/// bytes, the payload is 2611 bytes, and the token 37 + 3482 + 1 + 43 = 3563 bytes. A login
/// scope is at most 127 characters. Only an authenticator that seals a longer approved scope
/// (or one of control characters) can reach the bound.
pub const MAX_ACCESS_TOKEN_BYTES: usize = jwt::MAX_JWT_BYTES;

const BODY_PREFIX: &str = "{\"token\":\"";
const BODY_SUFFIX: &str = "\"}";
const BODY_CAPACITY: usize = BODY_PREFIX.len() + MAX_ACCESS_TOKEN_BYTES + BODY_SUFFIX.len();

/// An access token minted by the device (`auth/token`, `ext/token`), with the response body
/// `{"token":"…"}` around it, both inline.
///
/// Only the device makes these, after every check of a login or an authreply has passed.
/// [`AccessToken::as_str`] is the bearer; [`AccessToken::response_json`] is the exact
/// response body, the same bytes `messages::to_json` writes for it (it serialises as a
/// [`TokenResponse`]). `Debug` does not print the token.
#[derive(Clone)]
pub struct AccessToken {
    /// `{"token":"` ‖ token ‖ `"}`.
    body: ArrayString<BODY_CAPACITY>,
}

impl AccessToken {
    /// A value to mint into: `as_str` is empty until [`AccessToken::mint`] succeeds. Never
    /// handed out empty. Costs nothing (the buffer is not initialised).
    pub(super) fn empty() -> Self {
        AccessToken {
            body: ArrayString::new(),
        }
    }

    /// Signs `claims` with the access-token header into this value, in place (no 4 KB
    /// moves); `None` when the token would be longer than [`MAX_ACCESS_TOKEN_BYTES`], and the
    /// value is then empty again.
    pub(super) fn mint(
        &mut self,
        claims: &AccessTokenClaims<'_>,
        key: &crate::mac::MacKey,
    ) -> Option<()> {
        let body = &mut self.body;
        body.clear();
        let minted = (|| {
            body.try_push_str(BODY_PREFIX).ok()?;
            crate::msg::access_token::build_inline(claims, key, body)?;
            if body.len() - BODY_PREFIX.len() > MAX_ACCESS_TOKEN_BYTES {
                return None;
            }
            body.try_push_str(BODY_SUFFIX).ok()
        })();
        if minted.is_none() {
            body.clear();
        }
        minted
    }

    /// The token (the bearer).
    pub fn as_str(&self) -> &str {
        let end = self.body.len().saturating_sub(BODY_SUFFIX.len());
        self.body.get(BODY_PREFIX.len()..end).unwrap_or_default()
    }

    /// The response body: `{"token":"…"}`.
    pub fn response_json(&self) -> &str {
        &self.body
    }

    /// The response as the message type clients parse, borrowing the token.
    pub fn to_response(&self) -> TokenResponse<'_> {
        TokenResponse {
            token: Cow::Borrowed(self.as_str()),
        }
    }
}

impl Serialize for AccessToken {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_response().serialize(serializer)
    }
}

impl core::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AccessToken")
            .field("len", &self.as_str().len())
            .finish_non_exhaustive()
    }
}
