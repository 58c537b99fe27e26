#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::indexing_slicing)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod authenticator;
pub mod claims;
pub mod client;
pub mod codec;
pub mod device;
pub mod http;
pub mod ids;
mod json;
pub mod jwt;
pub mod keys;
pub mod mac;
pub mod manual;
pub mod messages;
pub mod msg;
pub mod nonce;
pub mod notify;
pub mod scope;
pub mod seal;
pub mod time;

/// The `rand_core` (0.6) whose traits (`RngCore`, `CryptoRng`, `CryptoRngCore`) stand in this
/// crate's public signatures, re-exported so that a dependent names the very same version:
/// `hem_auth_core::rand_core::OsRng` (with this crate's `getrandom` feature), or any RNG of the
/// `rand` 0.8 family (which uses `rand_core` 0.6). An RNG of `rand` 0.9 or later implements a
/// newer `rand_core` and does not fit.
pub use rand_core;
pub use scope::Access;
pub use time::{Seconds, UnixTime};
