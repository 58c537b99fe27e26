//! The design manual: why the crate is shaped as it is, and what it defends against.
//!
//! Nothing here is code; it lives in rustdoc so that it stays next to what it explains.
//!
//! # The specification
//!
//! What the protocol is (every message, encoding, key, check order and status) is written down
//! in the repository's specification, `docs/spec/`; its index, `docs/spec/README.md`, lists
//! every section. The rustdoc of this crate cites those sections by their stable ids: "spec
//! §5.9" is section 5.9, the error order of `ext/token`, in `docs/spec/05-ext-login.md`. Each
//! rule there says whether it was observed in the real system's public sources or chosen by
//! this project where the public record is silent. This manual explains the code's shape; the
//! spec is the authority on behaviour, and its security section (§13) is the protocol-level
//! counterpart of the threat model below.
//!
//! # Roles
//!
//! The protocol has three parties, and the crate has one module per party:
//!
//! * the **device** (the HEM): issues challenges, authreqs and pairing requests, verifies the
//!   answers, mints access tokens and checks them on every request;
//! * the **broker** (the client that calls the device and holds the notify-broker session key
//!   `epk`): asks for an authreq, verifies it, relays the authreply, and runs pairing and password
//!   login;
//! * the **authenticator** (the phone app): reads a pairing request, answers it, opens the sealed
//!   scope of an event, and approves or denies it.
//!
//! Every JWT is HS256 keyed with a raw X25519 shared secret (no KDF), except the access token,
//! which is keyed with a per-boot secret only the device knows. Scopes travel to the phone sealed
//! with AES-128-CBC and an HMAC tag under a key derived from the pairing secret and the request
//! nonce ([`crate::seal`]).
//!
//! # Sans-IO
//!
//! The core never reads a clock, a socket, a file or the OS random source. Every call that depends
//! on time takes `now` (unix seconds); every call that needs randomness takes the caller's
//! `rand_core::CryptoRngCore`. The same code therefore runs on a microcontroller, in a server, in
//! a fuzzer and in a test on simulated time, and every test is deterministic.
//!
//! # Untrusted, then verified
//!
//! Bytes from the network become an *untrusted* value first ([`crate::jwt::UntrustedJwt`]): its
//! shape is checked, nothing in it is believed. Only the constant-time HMAC check
//! ([`crate::jwt::UntrustedJwt::verify`]) builds a [`crate::jwt::VerifiedJwt`], and only a
//! verified value hands out claims, as a [`crate::jwt::Verified`] where the claims are passed on.
//! Each message's module in [`crate::msg`] has a reader that parses the claims once, before the
//! MAC, into a [`crate::jwt::Untrusted`]; its [`crate::jwt::Untrusted::verify`] gives the same
//! values back as a [`crate::jwt::Verified`] only when the MAC holds. So the device's
//! `auth/token`, `ext/validate`, `ext/token` and check-in parse each JWT once and decide from
//! nothing but verified claims after the MAC; the bearer check verifies the MAC first and then
//! reads the claims ([`crate::msg::access_token::verify`]).
//!
//! # Unverified reads
//!
//! Reading a token before (or without) its MAC goes through a method whose name says it is
//! dangerous ([`crate::jwt::UntrustedJwt::dangerous_unverified_claims`],
//! [`crate::jwt::Untrusted::dangerous_unverified`]). There are eleven such calls in this crate's
//! normal build, each with a comment saying why it is safe, of two kinds:
//!
//! * **Key lookup** (the MAC that follows is keyed with what was read, so a lie fails there;
//!   the few shape checks done on these values first only choose between 400 and 401, as the
//!   firmware orders them): the `iss` of a pairing request
//!   ([`crate::msg::pairing_request::verify`]) and of an authreq ([`crate::msg::authreq::verify`]);
//!   on the device, the pid and `iss` of an authreply (`device/ext_token.rs`), the scope's shape
//!   and `iss` of an eJWT (`device/login.rs`), the label, `epk` and `iss` of a pairing reply
//!   (`device/ext_pairing.rs`) and the `iss` of a check-in answer (`device/checkin.rs`); the
//!   notify broker's `iss` of a check-in `check` (`notify/backend.rs`).
//! * **No key to verify with**: the phone reading a pairing request (§6.4,
//!   [`crate::authenticator::UnverifiedPairingRequest`]); the notify broker matching a pairing
//!   reply and an authreply to their registration and event after the phone's `mac` over them
//!   (`notify/register.rs`, `notify/event.rs`: it holds no S1); the client reading its access
//!   token (the key is the device's, [`crate::client::UnverifiableAccessToken`]).
//!
//! Three more are in the `testing` feature's fault switches (`device/testing.rs`), off in a
//! default build: a fault that re-mints the token the device just issued, and the
//! `accept_bad_mac` fault, which re-signs an incoming authreply or pairing reply with the
//! key it names so that a forged one gets through (that is the fault).
//!
//! # Strict where it costs nothing, tolerant where the firmware is
//!
//! JWT segments must be canonical unpadded base64url: a token has exactly one spelling, so a bit
//! flip anywhere is a rejection, never a silent alias. Binary values inside JSON are accepted in
//! either base64 alphabet with optional padding, as the firmware accepts them, but must decode to
//! their exact length. Duplicate JSON members are rejected anywhere in a JWT (two parsers could
//! disagree on which one counts), and a claim of the wrong JSON type is an error, never "absent".
//!
//! # Threat model
//!
//! | threat | answer |
//! |---|---|
//! | forged or altered token | HS256 over the received bytes, compared in constant time (`hmac`'s `verify_slice`) |
//! | replayed authreply, login or pairing reply | device nonces are single use, for one purpose, expire, and are consumed only on success; the consumed set is never trimmed early (full: 503) |
//! | an anonymous flood of challenges, authreqs or check-ins pushing out someone's pending nonce | nonces authenticate themselves (a MAC under a per-boot key, spec §4.3): issuing stores nothing, only successes are recorded |
//! | low-order X25519 point making the "shared" secret public | every received key is decoded only when canonical and not low-order ([`crate::keys::PublicKey::from_b64`], spec §2.5), and every Diffie-Hellman refuses an all-zero result ([`crate::keys::KeyError::NonContributory`]) |
//! | one key under two spellings (bit 255 set, u ≥ p), so a byte comparison misses it | the same canonical decoding: one key, one byte string ([`crate::keys::KeyError::NonCanonical`]) |
//! | a requested scope that disguises the approval prompt | requested scopes are printable ASCII without `#` ([`crate::scope::check_requested`]); the authenticator shows scopes through [`crate::scope::DisplayScope`] (spec §8.6) |
//! | reading someone else's scope | each pairing's entry is sealed under its own pairing secret and the request nonce |
//! | `alg: none`, algorithm confusion | the header must say `HS256`; ECDH tokens must say `x25519`; `crit` of any value (`null` included) is refused |
//! | resource exhaustion by a large input | size limits are checked before any parsing or crypto; tables are bounded |
//! | secrets in logs | secret types zeroize on drop and print as `<redacted>` |
//! | a panic on hostile input | the core has no `unwrap`, `expect`, `panic!` or unchecked indexing outside tests; the parsers are fuzzed |
//!
//! Out of scope: the real notify broker's own checks (no source exists; spec §12.1), side
//! channels of the AES implementation (the `aes` crate's constant-time software backend is
//! used), and the check-in backend's real key (emulated, spec §9.5).
