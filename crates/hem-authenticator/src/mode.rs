//! How the virtual authenticator answers: [`AuthenticatorMode`] and its command-line syntax.

use std::fmt;
use std::str::FromStr;

use hem_auth_core::authenticator::PERIODS;

/// The access period the phone app preselects: 15 minutes (spec §5.7).
pub const DEFAULT_PERIOD_SECS: u64 = PERIODS[0].get();

/// What the in-process virtual authenticator (a phone app stand-in) does with what reaches it.
///
/// Every mode accepts pairing requests except [`AuthenticatorMode::Prompt`], which asks. On
/// the command line (`--authenticator MODE`, parsed by [`FromStr`]):
///
/// | text | mode |
/// |---|---|
/// | `approve` | `Approve { period_secs: 900, writable: false }` |
/// | `approve:3600` | `Approve { period_secs: 3600, writable: false }` |
/// | `approve:rw` | `Approve { period_secs: 900, writable: true }` |
/// | `approve:60:rw` | `Approve { period_secs: 60, writable: true }` |
/// | `deny` | `Deny` |
/// | `prompt` | `Prompt` |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticatorMode {
    /// Approve every login request for `period_secs`, granting write access to `storage:*`
    /// scopes when `writable` (the phone's "Permission to write" toggle).
    Approve {
        /// Lifetime of the approval (the authreply's `exp` − `iat`), seconds; not 0.
        period_secs: u64,
        /// Append `:rw` to the granted scope.
        writable: bool,
    },
    /// Deny every login request.
    Deny,
    /// Ask on the terminal: the request is printed on stderr and `y` read from stdin approves
    /// it (for [`DEFAULT_PERIOD_SECS`], read-only); anything else, or end of input, denies.
    /// Pairing requests are asked the same way.
    Prompt,
}

impl Default for AuthenticatorMode {
    /// `approve`: 15 minutes, read-only.
    fn default() -> Self {
        AuthenticatorMode::Approve {
            period_secs: DEFAULT_PERIOD_SECS,
            writable: false,
        }
    }
}

impl fmt::Display for AuthenticatorMode {
    /// The command-line syntax, shortest form: `approve`, `approve:60:rw`, `deny`, `prompt`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AuthenticatorMode::Approve {
                period_secs,
                writable,
            } => {
                f.write_str("approve")?;
                if period_secs != DEFAULT_PERIOD_SECS {
                    write!(f, ":{period_secs}")?;
                }
                if writable {
                    f.write_str(":rw")?;
                }
                Ok(())
            }
            AuthenticatorMode::Deny => f.write_str("deny"),
            AuthenticatorMode::Prompt => f.write_str("prompt"),
        }
    }
}

/// Why a text is not an [`AuthenticatorMode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseModeError(String);

impl fmt::Display for ParseModeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseModeError {}

impl FromStr for AuthenticatorMode {
    type Err = ParseModeError;

    /// Parses `approve[:SECONDS][:rw]`, `deny` or `prompt` (see the table on
    /// [`AuthenticatorMode`]). Rejects other words, a period of 0 or one that is not a decimal
    /// number, and anything after `deny`/`prompt` or after `:rw`.
    fn from_str(text: &str) -> Result<Self, ParseModeError> {
        let err = |why: &str| {
            ParseModeError(format!(
                "{text:?}: {why} (expected approve[:SECONDS][:rw], deny or prompt)"
            ))
        };
        let mut parts = text.split(':');
        let mode = match parts.next().unwrap_or_default() {
            "deny" => AuthenticatorMode::Deny,
            "prompt" => AuthenticatorMode::Prompt,
            "approve" => {
                let mut period_secs = DEFAULT_PERIOD_SECS;
                let mut writable = false;
                let mut next = parts.next();
                if let Some(period) = next.filter(|p| *p != "rw") {
                    if period.is_empty() || !period.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(err("the period is not a number of seconds"));
                    }
                    period_secs = period.parse().map_err(|_| err("the period is too long"))?;
                    if period_secs == 0 {
                        return Err(err("the period must be at least 1 second"));
                    }
                    next = parts.next();
                }
                if let Some(flag) = next {
                    if flag != "rw" {
                        return Err(err("only `rw` may follow the period"));
                    }
                    writable = true;
                }
                AuthenticatorMode::Approve {
                    period_secs,
                    writable,
                }
            }
            _ => return Err(err("unknown mode")),
        };
        if parts.next().is_some() {
            return Err(err("unexpected text after the mode"));
        }
        Ok(mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approve(period_secs: u64, writable: bool) -> AuthenticatorMode {
        AuthenticatorMode::Approve {
            period_secs,
            writable,
        }
    }

    #[test]
    fn parses_the_cli_syntax() {
        let cases = [
            ("approve", approve(900, false)),
            ("approve:3600", approve(3600, false)),
            ("approve:rw", approve(900, true)),
            ("approve:60:rw", approve(60, true)),
            ("deny", AuthenticatorMode::Deny),
            ("prompt", AuthenticatorMode::Prompt),
        ];
        for (text, mode) in cases {
            assert_eq!(text.parse::<AuthenticatorMode>(), Ok(mode), "{text}");
            assert_eq!(mode.to_string().parse::<AuthenticatorMode>(), Ok(mode));
        }
        assert_eq!(approve(60, true).to_string(), "approve:60:rw");
        assert_eq!(AuthenticatorMode::default().to_string(), "approve");
    }

    #[test]
    fn rejects_with_a_reason() {
        for (text, why) in [
            ("", "unknown mode"),
            ("Approve", "unknown mode"),
            ("approve:0", "at least 1 second"),
            ("approve:", "not a number"),
            ("approve:-5", "not a number"),
            ("approve:1h", "not a number"),
            ("approve:99999999999999999999999", "too long"),
            ("approve:60:ro", "only `rw`"),
            ("approve:rw:60", "unexpected text"),
            ("approve:60:rw:x", "unexpected text"),
            ("deny:60", "unexpected text"),
            ("prompt:", "unexpected text"),
        ] {
            let e = text.parse::<AuthenticatorMode>().unwrap_err().to_string();
            assert!(e.contains(why), "{text:?}: {e}");
            assert!(e.contains("approve[:SECONDS][:rw]"), "{e}");
        }
    }
}
