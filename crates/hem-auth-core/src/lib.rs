#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::indexing_slicing)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod authenticator;
pub mod broker;
pub mod claims;
pub mod codec;
pub mod device;
mod json;
pub mod jwt;
pub mod keys;
pub mod manual;
pub mod messages;
pub mod nonce;
pub mod notify;
pub mod scope;
pub mod seal;
