//! Scope strings (spec §8.4, §8.6): the requested-scope grammar, the `#…` key-hint suffix, the
//! `:rw` rule, matching as the device checks it, and the display-safe rendering of a scope for
//! a person ([`DisplayScope`], [`Escaped`]).
//!
//! ```
//! use hem_auth_core::scope::{self, Access, Match};
//!
//! assert!(scope::permits("storage:disk0:rw", "storage:disk0", Match::Prefix));
//! assert!(!scope::permits("keymgmt:use:00", "keymgmt:use:0", Match::Exact));
//! assert_eq!(scope::grant("storage:disk0:rw", Access::ReadOnly), "storage:disk0");
//! assert_eq!(scope::grant("storage:disk0", Access::ReadWrite), "storage:disk0:rw");
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
    /// A character outside `0x21`–`0x7E`: a space, a control character (DEL included) or a
    /// non-ASCII character.
    BadCharacter,
    /// The `#` suffix is not base64 of `{"t":"<hex>","l":"<label>"}`.
    BadHint,
    /// A requested scope has a `#`, which only the device appends (spec §8.6).
    HintSeparator,
}

impl core::fmt::Display for ScopeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            ScopeError::Empty => "scope is empty",
            ScopeError::TooLong => "scope is too long",
            ScopeError::BadCharacter => {
                "scope has a space, a control character or a non-ASCII character; allowed 0x21-0x7E"
            }
            ScopeError::BadHint => "scope key hint is malformed",
            ScopeError::HintSeparator => "scope has a '#', which only the device appends",
        };
        f.write_str(s)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ScopeError {}

/// Checks a scope a requester asks for, at `ext/request` (`max` =
/// [`MAX_REQUEST_SCOPE_CHARS`]) or at login ([`MAX_LOGIN_SCOPE_CHARS`]): 1 to `max`
/// characters, each printable ASCII `0x21`–`0x7E` except `#` (spec §8.6).
///
/// `#` is refused ([`ScopeError::HintSeparator`]) because only the device appends it, to
/// start its key hint (spec §5.4): a requester must not forge one. Any other character outside
/// the range, a space, DEL, a control character or anything not ASCII, is
/// [`ScopeError::BadCharacter`]. The `<group>:<action>` form is not required: a scope outside
/// the known values simply matches no endpoint. The device and the client role apply this same
/// rule.
pub fn check_requested(scope: &str, max: usize) -> Result<(), ScopeError> {
    if scope.is_empty() {
        return Err(ScopeError::Empty);
    }
    for b in scope.bytes() {
        if b == b'#' {
            return Err(ScopeError::HintSeparator);
        }
        if !(0x21..=0x7e).contains(&b) {
            return Err(ScopeError::BadCharacter);
        }
    }
    // Only ASCII is left: bytes are characters.
    if scope.len() > max {
        return Err(ScopeError::TooLong);
    }
    Ok(())
}

/// Requester-supplied text made safe to show to a person (spec §8.6): every character outside
/// printable ASCII (`0x20`–`0x7E`) is written as `\xHH` for each byte of its UTF-8 encoding
/// (lowercase hex), and a backslash as `\\`. The output is printable ASCII only, never a raw
/// control character, and maps back to exactly one string.
///
/// ```
/// use hem_auth_core::scope::Escaped;
///
/// assert_eq!(Escaped("a\rb\u{1b}[2K\\").to_string(), "a\\x0db\\x1b[2K\\\\");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escaped<'a>(pub &'a str);

impl core::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write_escaped(f, self.0, false)
    }
}

/// Writes `text` escaped as [`Escaped`] does; inside a quoted value (`quoted`), `"` is also
/// escaped (`\x22`), so that the text cannot end the quotes early.
fn write_escaped(f: &mut core::fmt::Formatter<'_>, text: &str, quoted: bool) -> core::fmt::Result {
    // Runs that need no escape go out in one write each.
    let mut run_start = 0;
    for (at, c) in text.char_indices() {
        let plain = matches!(c, ' '..='~') && c != '\\' && !(quoted && c == '"');
        if plain {
            continue;
        }
        f.write_str(text.get(run_start..at).unwrap_or_default())?;
        if c == '\\' {
            f.write_str("\\\\")?;
        } else {
            let mut utf8 = [0u8; 4];
            for b in c.encode_utf8(&mut utf8).bytes() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        run_start = at + c.len_utf8();
    }
    f.write_str(text.get(run_start..).unwrap_or_default())
}

/// What follows the first `#` of a sealed plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HintPart<'a> {
    /// No `#`.
    None,
    /// The device's key hint, decoded.
    Decoded(KeyHint),
    /// A `#` followed by something that is not a hint: shown escaped, apart from the scope.
    Unreadable(&'a str),
}

/// A scope as the authenticator shows it to a person (spec §8.6): the plaintext the device
/// sealed, split into the scope and the device's key hint, rendered by [`core::fmt::Display`]
/// with every character outside printable ASCII escaped (see [`Escaped`]).
///
/// The rendering is `<scope>`, then ` (key "<label>", type <t>)` for a key hint (§5.4), or
/// ` (unreadable key hint "<text>")` when the text after `#` is not one. It never contains a
/// raw control character, and the hint is never shown as part of the scope.
///
/// [`DisplayScope::is_suspicious`] flags a plaintext that no device following this
/// specification seals: a scope part outside the requested-scope grammar
/// ([`check_requested`]), or a `#` that does not start the device's hint exactly as
/// [`KeyHint::to_suffix`] writes it (after a `keymgmt:use:` scope, `t` four lowercase hex
/// digits, the label 1–32 printable ASCII characters). A prompt should say so.
///
/// ```
/// use hem_auth_core::scope::DisplayScope;
///
/// let spoof = DisplayScope::new("system:config\r\u{1b}[2K\u{1b}[1Aasks for logger:get");
/// assert_eq!(spoof.to_string(), "system:config\\x0d\\x1b[2K\\x1b[1Aasks for logger:get");
/// assert!(spoof.is_suspicious());
/// let hinted = DisplayScope::new(
///     "keymgmt:use:42afc419dbda72636b37a2455955e095#eyJ0IjoiOTgxNCIsImwiOiJQR1AgbWFpbiJ9",
/// );
/// assert_eq!(
///     hinted.to_string(),
///     "keymgmt:use:42afc419dbda72636b37a2455955e095 (key \"PGP main\", type 9814)"
/// );
/// assert!(!hinted.is_suspicious());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayScope<'a> {
    scope: &'a str,
    hint: HintPart<'a>,
    suspicious: bool,
}

impl<'a> DisplayScope<'a> {
    /// Splits and checks a sealed plaintext (or a granted scope) for display.
    pub fn new(plaintext: &'a str) -> Self {
        let (scope, hint_text) = split_hint(plaintext);
        let mut suspicious = check_requested(scope, MAX_REQUEST_SCOPE_CHARS).is_err();
        let hint = match hint_text {
            None => HintPart::None,
            Some(text) => match KeyHint::decode(text) {
                Ok(hint) => {
                    let device_form = scope.starts_with(USE_PREFIX)
                        && hint.t.len() == 4
                        && hint
                            .t
                            .bytes()
                            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                        && crate::claims::is_valid_label(&hint.l)
                        && hint.to_suffix().get(1..) == Some(text);
                    suspicious |= !device_form;
                    HintPart::Decoded(hint)
                }
                Err(_) => {
                    suspicious = true;
                    HintPart::Unreadable(text)
                }
            },
        };
        DisplayScope {
            scope,
            hint,
            suspicious,
        }
    }

    /// The scope part (before the key hint), escaped for display.
    pub fn scope(&self) -> Escaped<'a> {
        Escaped(self.scope)
    }

    /// The scope part exactly as sealed (not for display: it may hold control characters).
    pub fn raw_scope(&self) -> &'a str {
        self.scope
    }

    /// The device's key hint, decoded (its `l` and `t` are raw text: show them through
    /// [`DisplayScope::hint_label`] and [`DisplayScope::hint_type`], or through `Display`).
    pub fn hint(&self) -> Option<&KeyHint> {
        match &self.hint {
            HintPart::Decoded(hint) => Some(hint),
            _ => None,
        }
    }

    /// The key hint's label, escaped for display.
    pub fn hint_label(&self) -> Option<Escaped<'_>> {
        self.hint().map(|h| Escaped(&h.l))
    }

    /// The key hint's type word, escaped for display.
    pub fn hint_type(&self) -> Option<Escaped<'_>> {
        self.hint().map(|h| Escaped(&h.t))
    }

    /// Whether no device following this specification would have sealed this plaintext (see
    /// the type's documentation).
    pub fn is_suspicious(&self) -> bool {
        self.suspicious
    }
}

impl core::fmt::Display for DisplayScope<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write_escaped(f, self.scope, false)?;
        match &self.hint {
            HintPart::None => Ok(()),
            HintPart::Decoded(hint) => {
                f.write_str(" (key \"")?;
                write_escaped(f, &hint.l, true)?;
                f.write_str("\", type ")?;
                write_escaped(f, &hint.t, false)?;
                f.write_str(")")
            }
            HintPart::Unreadable(text) => {
                f.write_str(" (unreadable key hint \"")?;
                write_escaped(f, text, true)?;
                f.write_str("\")")
            }
        }
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

/// How a token's scope is compared with the scope an endpoint requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Match {
    /// The token's scope starts with the required one (`strstr(scope, X) == scope` in the
    /// firmware): `keymgmt:gen` admits `keymgmt:gen:rw`.
    Prefix,
    /// The scopes are equal (the crypto endpoints' `keymgmt:use:<kid>`).
    Exact,
}

/// Whether a token carrying `token_scope` may use an endpoint that requires `required`,
/// compared as `how` says.
///
/// ```
/// use hem_auth_core::scope::{permits, Match};
///
/// assert!(permits("keymgmt:gen:rw", "keymgmt:gen", Match::Prefix));
/// assert!(!permits("keymgmt:gen:rw", "keymgmt:gen", Match::Exact));
/// ```
pub fn permits(token_scope: &str, required: &str, how: Match) -> bool {
    match how {
        Match::Exact => token_scope == required,
        Match::Prefix => token_scope.starts_with(required),
    }
}

/// What the user allowed when approving a login (spec §5.7): reading only, or reading and
/// writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read-only: every `:rw` segment of the requested scope is removed.
    ReadOnly,
    /// Read and write: the scope is granted with a trailing `:rw`.
    ReadWrite,
}

impl Access {
    /// `ReadWrite` when `writable`: for adapters whose input is a flag (a form field, a fuzz
    /// byte).
    #[must_use]
    pub const fn from_writable(writable: bool) -> Self {
        if writable {
            Self::ReadWrite
        } else {
            Self::ReadOnly
        }
    }
}

/// The authenticator's `:rw` rule (spec §5.7): every `:rw` segment is removed, then `:rw` is
/// appended when the user allowed writing. A `#…` hint stays at the end.
///
/// ```
/// use hem_auth_core::scope::{grant, Access};
///
/// assert_eq!(grant("storage:disk0:rw", Access::ReadOnly), "storage:disk0");
/// assert_eq!(grant("storage:disk0", Access::ReadWrite), "storage:disk0:rw");
/// ```
pub fn grant(requested: &str, access: Access) -> String {
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
    if access == Access::ReadWrite {
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

    /// The scope of issue 14's attack 3.
    const SPOOF: &str = "system:config\r\x1b[2K\x1b[1A\x1b[2K\u{2026}asks for logger:get";

    #[test]
    fn requested_grammar() {
        assert_eq!(check_requested("keymgmt:list", 1023), Ok(()));
        assert_eq!(check_requested("x", 1), Ok(()));
        assert_eq!(check_requested("keymgmt", 1023), Ok(()));
        assert_eq!(check_requested("", 1023), Err(ScopeError::Empty));
        assert_eq!(check_requested("ab", 1), Err(ScopeError::TooLong));
        assert_eq!(
            check_requested(&"a".repeat(128), 127),
            Err(ScopeError::TooLong)
        );
        assert_eq!(check_requested(&"a".repeat(127), 127), Ok(()));
        for bad in [SPOOF, "a b", "a\tb", "a\x7f", "a\u{e9}", "a\0", "\u{202e}a"] {
            assert_eq!(
                check_requested(bad, 1023),
                Err(ScopeError::BadCharacter),
                "{bad:?}"
            );
        }
        for bad in ["#", "a#", "keymgmt:use:00#eyJ0IjoiOTgxNCIsImwiOiJ4In0="] {
            assert_eq!(
                check_requested(bad, 1023),
                Err(ScopeError::HintSeparator),
                "{bad:?}"
            );
        }
        let all: String = (0x21u8..=0x7e)
            .filter(|&b| b != b'#')
            .map(char::from)
            .collect();
        assert_eq!(check_requested(&all, 1023), Ok(()));
    }

    #[test]
    fn escaped_shows_every_byte_outside_printable_ascii() {
        assert_eq!(
            alloc::format!("{}", Escaped(SPOOF)),
            "system:config\\x0d\\x1b[2K\\x1b[1A\\x1b[2K\\xe2\\x80\\xa6asks for logger:get"
        );
        assert_eq!(alloc::format!("{}", Escaped("a\\x41 b~")), "a\\\\x41 b~");
        assert_eq!(alloc::format!("{}", Escaped("\x7f\0")), "\\x7f\\x00");
        assert_eq!(alloc::format!("{}", Escaped("")), "");
    }

    #[test]
    fn display_scope_of_the_spoof_is_escaped_and_flagged() {
        let shown = DisplayScope::new(SPOOF);
        let text = alloc::format!("{shown}");
        assert!(text.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{text}");
        assert!(text.starts_with("system:config\\x0d\\x1b[2K"), "{text}");
        assert!(shown.is_suspicious());
        assert!(shown.hint().is_none());
    }

    #[test]
    fn display_scope_shows_the_hint_as_a_hint() {
        let kid = "42afc419dbda72636b37a2455955e095";
        let plain = alloc::format!("keymgmt:use:{kid}#eyJ0IjoiOTgxNCIsImwiOiJQR1AgbWFpbiJ9");
        let shown = DisplayScope::new(&plain);
        assert!(!shown.is_suspicious());
        assert_eq!(shown.hint(), Some(&KeyHint::new(0x9814, "PGP main")));
        assert_eq!(
            alloc::format!("{shown}"),
            alloc::format!("keymgmt:use:{kid} (key \"PGP main\", type 9814)")
        );
        assert_eq!(
            alloc::format!("{}", shown.scope()),
            alloc::format!("keymgmt:use:{kid}")
        );
        // A plain known scope, and the v1 app's synthetic hint: not flagged.
        assert!(!DisplayScope::new("system:config").is_suspicious());
        let v1 = "keymgmt:use:2ba3f1e0c9a4b7d8e6f5a3c2b1d0e9f84c91e#eyJ0IjoiMDIyMSIsImwiOiJQR1AgbWFpbiJ9";
        assert!(!DisplayScope::new(v1).is_suspicious());
    }

    #[test]
    fn display_scope_flags_what_no_device_sends() {
        let hint = |t: &str, l: &str| {
            let json = alloc::format!(
                "{{\"t\":\"{t}\",\"l\":{}}}",
                serde_json::to_string(l).unwrap()
            );
            codec::encode_std(json.as_bytes())
        };
        let kid = "keymgmt:use:42afc419dbda72636b37a2455955e095";
        let cases = [
            // a hint on another scope
            alloc::format!("system:config#{}", hint("9814", "PGP main")),
            // a hint whose label hides a control sequence
            alloc::format!("{kid}#{}", hint("9814", "PGP\x1b[2K main")),
            // a type that is not 4 hex digits
            alloc::format!("{kid}#{}", hint("9814 or system:config", "x")),
            // not a hint at all, a second '#', an empty hint
            alloc::format!("{kid}#not base64"),
            alloc::format!("{kid}#{}#x", hint("9814", "x")),
            alloc::format!("{kid}#"),
            // a scope part outside the grammar
            String::from("a b"),
            String::new(),
        ];
        for plain in &cases {
            let shown = DisplayScope::new(plain);
            assert!(shown.is_suspicious(), "{plain:?}");
            let text = alloc::format!("{shown}");
            assert!(text.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{text}");
        }
        // The label's control sequence is shown escaped, and a quote in it cannot close the
        // quoted label early.
        let plain = alloc::format!("{kid}#{}", hint("9814", "a\x1b\"b"));
        assert_eq!(
            alloc::format!("{}", DisplayScope::new(&plain)),
            alloc::format!("{kid} (key \"a\\x1b\\x22b\", type 9814)")
        );
        // An unreadable hint is shown, escaped, apart from the scope.
        let plain = alloc::format!("{kid}#\x07!");
        assert_eq!(
            alloc::format!("{}", DisplayScope::new(&plain)),
            alloc::format!("{kid} (unreadable key hint \"\\x07!\")")
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
        assert_eq!(
            grant("storage:disk0:rw", Access::ReadWrite),
            "storage:disk0:rw"
        );
        assert_eq!(
            grant("storage:disk0:rw:rw", Access::ReadOnly),
            "storage:disk0"
        );
        assert_eq!(
            grant("keymgmt:use:ab#eyJ0", Access::ReadOnly),
            "keymgmt:use:ab#eyJ0"
        );
        assert_eq!(grant("system:upgrade", Access::ReadOnly), "system:upgrade");
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
