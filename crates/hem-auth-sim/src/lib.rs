#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;

use hem_auth_core::authenticator::AuthenticatorError;
use hem_auth_core::client::ClientError;
use hem_auth_core::device::DeviceError;
use hem_auth_core::jwt::JwtError;
use hem_auth_core::keys::KeyError;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

mod phone;
mod world;

pub use phone::{Answered, Phone};
pub use world::{
    event_path, DeviceReply, Keys, World, CLIENT_PEER, EXT_LOGIN_CTX, FID, LOGIN_LIFETIME_SECS,
    NOTIFY_BASE, PHONE_PEER,
};

/// The simulated clock's start: the `iat` of the real device capture the vectors hold.
pub const START: u64 = 1_784_767_764;

/// The deterministic CSPRNG of every simulated world: ChaCha20 seeded with `seed`.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Why a step of a simulated flow failed: the refusal of the role that refused, or an answer
/// of the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimError {
    /// A typed device method refused (or the relay found no entry for the phone:
    /// [`DeviceError::UnknownPairing`]).
    Device(DeviceError),
    /// The device answered `status` (not 200) to `path` over its HTTP API
    /// ([`World::device_call`]).
    Refused {
        /// The request's path.
        path: String,
        /// The device's status.
        status: u16,
    },
    /// The client role refused the device's answer.
    Client(ClientError),
    /// The authenticator role (the phone) refused.
    Authenticator(AuthenticatorError),
    /// A JWT did not parse.
    Jwt(JwtError),
    /// A key was refused.
    Key(KeyError),
    /// The notify broker answered `status` (not 200) to `path`.
    Notify {
        /// The request's path.
        path: String,
        /// The broker's status.
        status: u16,
        /// The broker's body.
        body: String,
    },
    /// An answer did not have the shape the flow expects.
    Unexpected(&'static str),
}

impl core::fmt::Display for SimError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SimError::Device(e) => write!(f, "device: {e}"),
            SimError::Refused { path, status } => write!(f, "device: {path} answered {status}"),
            SimError::Client(e) => write!(f, "client: {e}"),
            SimError::Authenticator(e) => write!(f, "phone: {e}"),
            SimError::Jwt(e) => write!(f, "jwt: {e}"),
            SimError::Key(e) => write!(f, "key: {e}"),
            SimError::Notify { path, status, body } => {
                write!(f, "notify broker: {path} answered {status} {body}")
            }
            SimError::Unexpected(what) => write!(f, "unexpected answer: {what}"),
        }
    }
}

impl SimError {
    /// The HTTP status of a device refusal ([`SimError::Refused`], or a [`SimError::Device`]
    /// error's [`DeviceError::status`]); `None` for the other roles' refusals. Tests compare
    /// it with `DeviceError::X.status()`.
    pub fn device_status(&self) -> Option<u16> {
        match self {
            SimError::Device(e) => Some(e.status()),
            SimError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

macro_rules! from_error {
    ($($variant:ident($ty:ty)),*) => {$(
        impl From<$ty> for SimError {
            fn from(e: $ty) -> Self {
                SimError::$variant(e)
            }
        }
    )*};
}

from_error!(
    Device(DeviceError),
    Client(ClientError),
    Authenticator(AuthenticatorError),
    Jwt(JwtError),
    Key(KeyError)
);
