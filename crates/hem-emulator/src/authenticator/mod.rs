//! The virtual authenticator: a phone app stand-in.

mod mode;

pub use mode::{AuthenticatorMode, ParseModeError, DEFAULT_PERIOD_SECS};
