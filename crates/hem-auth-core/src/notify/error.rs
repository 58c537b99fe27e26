//! Why the broker refused a request, and the one place its statuses live.

use crate::time::UnixTime;
use alloc::string::{String, ToString};

/// Why the broker refused a request. [`NotifyError::status`] is its HTTP status,
/// [`NotifyError::body`] its JSON body, `Display` the `err` text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotifyError {
    /// 413: the body is larger than [`super::MAX_BODY_BYTES`].
    TooLarge,
    /// 400: the body is not a JSON object, lacks a required member, or a member has the wrong
    /// type (or, for `POST /notify/session`, is not base64 of 32 bytes).
    BadBody,
    /// 404: no such path.
    NoSuchPath,
    /// 405: the path exists, the method does not.
    MethodNotAllowed,
    /// 404 (`event/new`): the epk is not an anonymous, unexpired session.
    UnknownSession,
    /// 401: the epk is not the unexpired session bound to that eid (or aid).
    WrongSession,
    /// 401: the authreq or pairing request does not verify under the session key, is
    /// addressed to another session or device, or has expired.
    BadToken,
    /// 401: the authreq's `iat` is after now (the broker allows no clock skew).
    NotYetValid {
        /// The authreq's `iat`.
        iat: UnixTime,
        /// The broker's time.
        now: UnixTime,
    },
    /// 409 (`event/new`): an event with that authreq `jti` exists.
    DuplicateEvent,
    /// 404: the event is unknown, expired or cancelled (client side), or unknown or expired,
    /// or the pid is not in its scope map (phone side).
    UnknownEvent,
    /// 410 `{"reason":"cancelled"}`: the client cancelled the event.
    Cancelled,
    /// 410 `{}`: the event or registration was already answered.
    AlreadyAnswered,
    /// 404: the pid is not a subscriber (of that eid, or with that aid).
    NotSubscriber,
    /// 401: a MAC (phone MAC, `ext/mac` MAC, or the pairing `code`) does not verify.
    BadMac,
    /// 401: the `ext/mac` nonce's time is more than [`super::NONCE_WINDOW_SECS`] from now.
    StaleNonce,
    /// 401 (`subscribers/*`): a subscriber call on this session has used this nonce already
    /// (spec §12.6: accepted once per session).
    NonceUsed,
    /// 503 (`subscribers/*`): the session already remembers [`super::MAX_USED_NONCES`] nonces;
    /// the broker refuses the call rather than forget one (spec §12.6).
    NonceStoreFull,
    /// 400: the authreply or reply is not a JWT whose (unverified) claims match the event or
    /// registration and the path.
    Mismatch,
    /// 404: the registration is unknown or expired.
    UnknownRegistration,
    /// 410 `{}` (`register/check`): the phone refused the registration.
    Refused,
    /// 409 (`register/finalise`): the registration is not accepted yet, or was refused or
    /// already finalised.
    NotAccepted,
    /// 404 (`POST /checkin`): no check-in backend is configured.
    NoBackend,
    /// 401 (`POST /checkin`): the `check` JWT does not verify under X25519(backend_prv, iss),
    /// or its `aud` is not the backend key.
    BadCheck,
    /// 409 (`register/finalise`): the subscriber table is full
    /// ([`super::NotifyConfig::max_subscribers`]).
    TooManySubscribers,
    /// [`super::NotifyBroker::restore`]: the snapshot holds two subscribers with one pid.
    BadSnapshot,
}

impl NotifyError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            NotifyError::BadBody | NotifyError::Mismatch | NotifyError::BadSnapshot => 400,
            NotifyError::WrongSession
            | NotifyError::BadToken
            | NotifyError::NotYetValid { .. }
            | NotifyError::BadMac
            | NotifyError::StaleNonce
            | NotifyError::NonceUsed
            | NotifyError::BadCheck => 401,
            NotifyError::NoSuchPath
            | NotifyError::UnknownSession
            | NotifyError::UnknownEvent
            | NotifyError::NotSubscriber
            | NotifyError::UnknownRegistration
            | NotifyError::NoBackend => 404,
            NotifyError::MethodNotAllowed => 405,
            NotifyError::DuplicateEvent
            | NotifyError::NotAccepted
            | NotifyError::TooManySubscribers => 409,
            NotifyError::Cancelled | NotifyError::AlreadyAnswered | NotifyError::Refused => 410,
            NotifyError::TooLarge => 413,
            NotifyError::NonceStoreFull => 503,
        }
    }

    /// The JSON body: `{"err":"<Display>"}`, except `{"reason":"cancelled"}` for
    /// [`NotifyError::Cancelled`] and `{}` for [`NotifyError::AlreadyAnswered`] and
    /// [`NotifyError::Refused`] (the shapes the phone and the clients know, spec §5.7, §6.1).
    pub fn body(&self) -> String {
        match self {
            NotifyError::Cancelled => String::from(r#"{"reason":"cancelled"}"#),
            NotifyError::AlreadyAnswered | NotifyError::Refused => String::from("{}"),
            _ => {
                #[derive(serde::Serialize)]
                struct Err {
                    err: String,
                }
                crate::messages::to_json(&Err {
                    err: self.to_string(),
                })
            }
        }
    }
}

impl core::fmt::Display for NotifyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NotifyError::TooLarge => f.write_str("request body too large"),
            NotifyError::BadBody => {
                f.write_str("request body is not a JSON object with the required members")
            }
            NotifyError::NoSuchPath => f.write_str("not found"),
            NotifyError::MethodNotAllowed => f.write_str("method not allowed"),
            NotifyError::UnknownSession => f.write_str("unknown or expired session"),
            NotifyError::WrongSession => {
                f.write_str("epk is not the unexpired session of this identity")
            }
            NotifyError::BadToken => f.write_str("token does not verify"),
            // The PHP JWT library's "before valid" message as the real broker words it
            // (spec §12.1); both times as unix seconds.
            NotifyError::NotYetValid { iat, now } => {
                write!(f, "Cannot handle token prior to (iat {iat}) {now}")
            }
            NotifyError::DuplicateEvent => f.write_str("an event for this authreq exists"),
            NotifyError::UnknownEvent => f.write_str("unknown or expired event"),
            NotifyError::Cancelled => f.write_str("cancelled"),
            NotifyError::AlreadyAnswered => f.write_str("already answered"),
            NotifyError::NotSubscriber => f.write_str("not a subscriber"),
            NotifyError::BadMac => f.write_str("mac does not verify"),
            NotifyError::StaleNonce => f.write_str("nonce time is too far from now"),
            NotifyError::NonceUsed => f.write_str("nonce already used"),
            NotifyError::NonceStoreFull => f.write_str("too many subscriber calls on this session"),
            NotifyError::Mismatch => f.write_str("token does not match the event or registration"),
            NotifyError::UnknownRegistration => f.write_str("unknown or expired registration"),
            NotifyError::Refused => f.write_str("registration refused"),
            NotifyError::NotAccepted => {
                f.write_str("registration not accepted, refused or already finalised")
            }
            NotifyError::NoBackend => f.write_str("no check-in backend"),
            NotifyError::BadCheck => f.write_str("check does not verify"),
            NotifyError::TooManySubscribers => f.write_str("subscriber table is full"),
            NotifyError::BadSnapshot => f.write_str("snapshot holds a pid twice"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for NotifyError {}
