//! One module per message of the protocol: its claims, how it is built and how it is read or
//! verified, side by side, so that every role that handles the message calls the same code
//! (spec §3.4 for the claim orders, §3.5 for the keys).
//!
//! | module | message | built by | verified by | read unverified by |
//! |---|---|---|---|---|
//! | [`login`] | the eJWT of a password login (§7.3) | client ([`crate::client::PasswordLogin`]) | device (`auth/token`) | device, `iss` only, to find the key |
//! | [`pairing_request`] | the device's pairing request (§6.2) | device (`ext/init`) | client, notify broker (`register/init`) | authenticator (§6.4: it has no key yet) |
//! | [`pairing_reply`] | the phone's pairing reply (§6.4) | authenticator | device (`ext/validate`) | device, `label`/`epk`/`iss` before the MAC; notify broker (`register` link: it holds no S1) |
//! | [`authreq`] | the device's authreq (§5.3) | device (`ext/request`) | client, notify broker (`event/new`) | `iss` only, to find the key |
//! | [`authreply`] | the phone's authreply (§5.7) | authenticator | device (`ext/token`) | device, `pid`/`iss` to find S1; notify broker (`event/data`: it holds no S1) |
//! | [`access_token`] | the access token (§8.1) | device (`auth/token`, `ext/token`) | device (every bearer, §8.2) | client (the key never leaves the device) |
//! | [`checkin`] | `check` and `checked` (§9.4, §9.5) | device / backend | backend / device | `iss` only, to find the key |
//!
//! Each reader returns a [`crate::jwt::Untrusted`] that parses the claims once; its
//! [`crate::jwt::Untrusted::verify`] hands the same values back as a [`crate::jwt::Verified`],
//! so a verifier decides only from claims that passed the MAC, without reading them twice.
//! [`crate::claims`] names every claim set too, beside the shared [`crate::claims::ScopeMap`].

pub mod access_token;
pub mod authreply;
pub mod authreq;
pub mod checkin;
pub mod login;
pub mod pairing_reply;
pub mod pairing_request;
