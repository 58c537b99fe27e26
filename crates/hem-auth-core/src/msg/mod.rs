//! One module per message that more than one role meets: its claims, how it is built and how
//! it is verified, side by side, so that every role that handles the message calls the same
//! code (spec §3.4 for the claim orders, §3.5 for the keys).
//!
//! | module | message | built by | verified by | read unverified by |
//! |---|---|---|---|---|
//! | [`pairing_request`] | the device's pairing request (§6.2) | device (`ext/init`) | client, notify broker (`register/init`) | authenticator (§6.4: it has no key yet) |
//! | [`authreq`] | the device's authreq (§5.3) | device (`ext/request`) | client, notify broker (`event/new`) | nobody |
//! | [`authreply`] | the phone's authreply (§5.7) | authenticator | device (`ext/token`) | notify broker (`event/data`: it holds no S1) |
//!
//! The claim sets of the other messages (eJWT login, pairing reply, access token, check-in)
//! stay in [`crate::claims`], each built and verified by one role.

pub mod authreply;
pub mod authreq;
pub mod pairing_request;
