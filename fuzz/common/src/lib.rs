//! Shared by the fuzz targets (`../fuzz_targets`), the seed generator (`../corpus-gen`) and the
//! timing test (`../dudect`).
//!
//! * [`fixture`]: fixed keys and a device built from them, with two paired phones and one
//!   pending nonce per flow, so that a crash reproduces from its input alone.
//! * [`input`]: the byte format of the message targets: a mode byte, a signed clock offset,
//!   and the message. The seed generator writes it, the targets read it.
//! * [`oracle`]: an HS256 signer written against the `hmac` crate (not the core), so that a
//!   target can hand the core payloads that pass the MAC and reach the code behind it.
//! * [`ops`]: the structure-aware device harness: an `Arbitrary` sequence of operations on
//!   simulated time, played by the real roles, with the protocol's invariants checked after
//!   every step against a model the harness keeps itself. It runs on the one simulated world
//!   (`hem_auth_sim::World`), every request through `Device::handle`.
//! * [`notify_ops`]: the same for the notify broker (the simulated world's, through
//!   `NotifyBroker::handle`): scripted device, client and phone steps mixed with raw and
//!   mutated requests, with the broker's invariants checked after every call.
#![forbid(unsafe_code)]
// A fuzz harness reports a broken invariant by panicking: that is what libFuzzer catches.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod fixture;
pub mod input;
pub mod notify_ops;
pub mod ops;
pub mod oracle;
