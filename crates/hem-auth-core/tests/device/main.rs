//! Device-role tests: the error tables of spec §10.2 cell by cell, nonce and clock behaviour,
//! snapshot/restore, and byte-compatibility with the real device's output.
// Test helpers outside #[test] functions may unwrap and panic too.
#![allow(
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

#[path = "../support/mod.rs"]
mod support;

mod errors;
mod flood;
mod flows;
mod hardening;
mod http;
mod policies;
mod rig;
mod wire;
