//! Scope strings (spec §8.4, §8.6): grammar, the `#…` key-hint suffix, the `:rw` rule, and matching
//! as the device checks it.
//!
//! ```
//! use hem_auth_core::scope;
//!
//! assert!(scope::permits("storage:disk0:rw", "storage:disk0", false));
//! assert!(!scope::permits("keymgmt:use:00", "keymgmt:use:0", true));
//! assert_eq!(scope::grant("storage:disk0:rw", false), "storage:disk0");
//! assert_eq!(scope::grant("storage:disk0", true), "storage:disk0:rw");
//! ```

use alloc::string::String;
use serde::{Deserialize, Serialize};

use crate::codec;

/// Longest scope accepted in `ext/request` (spec §5.2).
pub const MAX_REQUEST_SCOPE_CHARS: usize = 1023;
/// Longest scope accepted at password login (spec §7.3).
pub const MAX_LOGIN_SCOPE_CHARS: usize = 127;
/// Separator of the key-hint suffix the device appends to `keymgmt:use:<kid>` (spec §5.4).
pub const HINT_SEPARATOR: char = '#';
/// The write-permission segment the authenticator adds or removes (spec §5.7).
pub const RW_SEGMENT: &str = "rw";
const USE_PREFIX: &str = "keymgmt:use:";

/// Why a scope string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeError {
    /// Empty.
    Empty,
    /// Longer than the limit of the place it is used.
    TooLong,
    /// A character that is not printable ASCII, or a space.
    BadCharacter,
    /// Not `<group>:<action>[:<arg>…]` with non-empty parts.
    Grammar,
    /// The `#` suffix is not base64 of `{"t":"<hex>","l":"<label>"}`.
    BadHint,
}

impl core::fmt::Display for ScopeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            ScopeError::Empty => "scope is empty",
            ScopeError::TooLong => "scope is too long",
            ScopeError::BadCharacter => "scope has a character outside printable ASCII",
            ScopeError::Grammar => "scope is not <group>:<action>[:<arg>...]",
            ScopeError::BadHint => "scope key hint is malformed",
        };
        f.write_str(s)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ScopeError {}

/// Checks a scope against the grammar: 1..=`max` printable ASCII characters without spaces,
/// `<group>:<action>[:<arg>…]` with every part non-empty, optionally followed by a valid
/// `#` key hint. Returns the part before the hint.
pub fn validate(scope: &str, max: usize) -> Result<&str, ScopeError> {
    if scope.is_empty() {
        return Err(ScopeError::Empty);
    }
    if scope.len() > max {
        return Err(ScopeError::TooLong);
    }
    if !scope.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ScopeError::BadCharacter);
    }
    let (base, hint) = split_hint(scope);
    if let Some(hint) = hint {
        KeyHint::decode(hint)?;
    }
    let mut parts = base.split(':');
    let group = parts.next().unwrap_or_default();
    let action = parts.next();
    let ok = !group.is_empty()
        && action.is_some_and(|a| !a.is_empty())
        && parts.all(|p| !p.is_empty())
        && !base.contains(HINT_SEPARATOR);
    if ok {
        Ok(base)
    } else {
        Err(ScopeError::Grammar)
    }
}

/// Splits off the `#…` key-hint suffix: `(scope, Some(hint_b64))`.
pub fn split_hint(scope: &str) -> (&str, Option<&str>) {
    match scope.split_once(HINT_SEPARATOR) {
        Some((base, hint)) => (base, Some(hint)),
        None => (scope, None),
    }
}

/// The scope without its key-hint suffix: what the device puts in the access token.
pub fn strip_hint(scope: &str) -> &str {
    split_hint(scope).0
}

/// The kid of a `keymgmt:use:<kid>` scope, when the kid is exactly 32 lowercase hex characters
/// (the form for which the device appends a key hint and shortens the lifetime).
pub fn use_kid(scope: &str) -> Option<&str> {
    let kid = scope.strip_prefix(USE_PREFIX)?;
    let hex = kid.len() == 32 && kid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    hex.then_some(kid)
}

/// Whether a token carrying `token_scope` may use an endpoint that requires `required`:
/// a prefix match (`strstr(scope, X) == scope` in the firmware), or equality when `exact`
/// (the crypto endpoints' `keymgmt:use:<kid>`).
pub fn permits(token_scope: &str, required: &str, exact: bool) -> bool {
    if exact {
        token_scope == required
    } else {
        token_scope.starts_with(required)
    }
}

/// The authenticator's `:rw` rule (spec §5.7): every `:rw` segment is removed, then `:rw` is
/// appended when the user allowed writing. A `#…` hint stays at the end.
pub fn grant(requested: &str, writable: bool) -> String {
    let (base, hint) = split_hint(requested);
    let mut out = String::with_capacity(requested.len() + 3);
    for (i, part) in base.split(':').enumerate() {
        if i > 0 && part == RW_SEGMENT {
            continue;
        }
        if i > 0 {
            out.push(':');
        }
        out.push_str(part);
    }
    if writable {
        out.push(':');
        out.push_str(RW_SEGMENT);
    }
    if let Some(hint) = hint {
        out.push(HINT_SEPARATOR);
        out.push_str(hint);
    }
    out
}

/// Whether `approved` is `requested` or differs only by a trailing `:rw` on a `storage:diskN`
/// scope: the strict `RequestedOnly` policy's test (spec §5.11).
pub fn approved_matches_request(requested: &str, approved: &str) -> bool {
    if requested == approved {
        return true;
    }
    let base_req = requested.strip_suffix(":rw").unwrap_or(requested);
    let base_app = approved.strip_suffix(":rw").unwrap_or(approved);
    base_req == base_app && is_storage_disk(base_req)
}

fn is_storage_disk(scope: &str) -> bool {
    scope
        .strip_prefix("storage:disk")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The key hint the device appends to a `keymgmt:use:<kid>` plaintext: key type and label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyHint {
    /// The firmware key-type word as 4 lowercase hex digits (spec §5.4).
    pub t: String,
    /// The key's label.
    pub l: String,
}

impl KeyHint {
    /// A hint for a key type word and label.
    pub fn new(key_type: u16, label: &str) -> Self {
        KeyHint {
            t: alloc::format!("{key_type:04x}"),
            l: String::from(label),
        }
    }

    /// The suffix to append to the plaintext: `#` + std-b64 of the compact JSON.
    pub fn to_suffix(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let mut s = String::from(HINT_SEPARATOR);
        s.push_str(&codec::encode_std(&json));
        s
    }

    /// Decodes the base64 text after `#`.
    pub fn decode(b64: &str) -> Result<Self, ScopeError> {
        let mut buf = [0u8; 256];
        let json = codec::decode_std_into(b64, &mut buf).map_err(|_| ScopeError::BadHint)?;
        serde_json::from_slice(json).map_err(|_| ScopeError::BadHint)
    }

    /// The key-type word.
    pub fn key_type(&self) -> Option<u16> {
        u16::from_str_radix(&self.t, 16).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        assert_eq!(validate("keymgmt:list", 1023), Ok("keymgmt:list"));
        assert_eq!(validate("", 1023), Err(ScopeError::Empty));
        assert_eq!(validate("a:b c", 1023), Err(ScopeError::BadCharacter));
        assert_eq!(validate("a:bé", 1023), Err(ScopeError::BadCharacter));
        assert_eq!(validate("keymgmt", 1023), Err(ScopeError::Grammar));
        assert_eq!(validate("keymgmt::list", 1023), Err(ScopeError::Grammar));
        assert_eq!(validate(":list", 1023), Err(ScopeError::Grammar));
        assert_eq!(validate(&"a:".repeat(64), 127), Err(ScopeError::TooLong));
        let v1 = "keymgmt:use:2ba3f1e0c9a4b7d8e6f5a3c2b1d0e9f84c91e#eyJ0IjoiMDIyMSIsImwiOiJQR1AgbWFpbiJ9";
        assert_eq!(
            validate(v1, 1023),
            Ok("keymgmt:use:2ba3f1e0c9a4b7d8e6f5a3c2b1d0e9f84c91e")
        );
        assert_eq!(
            validate("keymgmt:use:00#!!", 1023),
            Err(ScopeError::BadHint)
        );
    }

    #[test]
    fn hint_round_trip() {
        let h = KeyHint::decode("eyJ0IjoiMDIyMSIsImwiOiJQR1AgbWFpbiJ9").unwrap();
        assert_eq!(h, KeyHint::new(0x0221, "PGP main"));
        assert_eq!(h.to_suffix(), "#eyJ0IjoiMDIyMSIsImwiOiJQR1AgbWFpbiJ9");
        assert_eq!(h.key_type(), Some(0x0221));
    }

    #[test]
    fn use_kid_is_exact() {
        let kid = "42afc419dbda72636b37a2455955e095";
        assert_eq!(use_kid(&alloc::format!("keymgmt:use:{kid}")), Some(kid));
        assert_eq!(
            use_kid("keymgmt:use:2ba3f1e0c9a4b7d8e6f5a3c2b1d0e9f84c91e"),
            None
        );
        assert_eq!(
            use_kid("keymgmt:use:42AFC419DBDA72636B37A2455955E095"),
            None
        );
        assert_eq!(use_kid(&alloc::format!("keymgmt:use:{kid}:x")), None);
    }

    #[test]
    fn rw_rule() {
        assert_eq!(grant("storage:disk0:rw", true), "storage:disk0:rw");
        assert_eq!(grant("storage:disk0:rw:rw", false), "storage:disk0");
        assert_eq!(grant("keymgmt:use:ab#eyJ0", false), "keymgmt:use:ab#eyJ0");
        assert_eq!(grant("system:upgrade", false), "system:upgrade");
        assert!(approved_matches_request(
            "storage:disk0",
            "storage:disk0:rw"
        ));
        assert!(approved_matches_request(
            "storage:disk1:rw",
            "storage:disk1"
        ));
        assert!(!approved_matches_request("keymgmt:list", "keymgmt:list:rw"));
        assert!(!approved_matches_request("storage:disk0", "storage:disk1"));
    }
}
