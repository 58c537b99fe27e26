//! Persistent state: snapshot and restore (a restore is a reboot).
//!
//! A [`DeviceSnapshot`] holds the configuration (identity secret, user/master/backend keys,
//! flags), the pairings (pid, aid, label; the kid and S1 are derived again on restore) and,
//! optionally, explicit pending nonces (spec §4.3, §4.6). The nonces the device issued itself
//! are not in it: their tags are keyed with the per-boot nonce key, which a restore draws
//! anew, so they die with the reboot. It serialises with serde; binary values are standard
//! base64; the identity secret is held in a zeroizing key type and never printed.

use alloc::string::String;
use alloc::vec::Vec;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::nonces::Pending;
use super::pairing::Pairing;
use super::{BootKeys, Device, DeviceConfig, DeviceError, Malformed, NoncePurpose};
use crate::claims::MAX_PAIRINGS;
use crate::keys::PublicKey;

/// Everything a device keeps across reboots, plus (optionally) explicit pending nonces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSnapshot {
    /// The configuration.
    pub config: DeviceConfig,
    /// The paired authenticators, in pairing order.
    #[serde(default)]
    pub pairings: Vec<PairingSnapshot>,
    /// Explicit pending nonces, accepted "as if issued" after the restore (empty unless taken
    /// with [`Device::snapshot_with_pending`] or filled in by a vector checker or test).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingSnapshot>,
}

impl DeviceSnapshot {
    /// A snapshot of a fresh device: no pairings, nothing pending.
    pub fn new(config: DeviceConfig) -> Self {
        DeviceSnapshot {
            config,
            pairings: Vec::new(),
            pending: Vec::new(),
        }
    }
}

/// One pairing as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingSnapshot {
    /// The pairing id the notify broker assigned, as the client sent it to `ext/validate`.
    #[serde(with = "b64_32")]
    pub pid: [u8; 32],
    /// The authenticator's public key.
    #[serde(with = "b64_key")]
    pub aid: PublicKey,
    /// The key label.
    pub label: String,
}

/// One explicit pending nonce as persisted: arbitrary 32 bytes, accepted once for its
/// purpose while `now < exp` (spec §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSnapshot {
    /// What it was issued for.
    pub purpose: NoncePurpose,
    /// The nonce.
    #[serde(with = "b64_32")]
    pub jti: [u8; 32],
    /// Accepted while `now < exp`.
    pub exp: u64,
    /// For an authreq: the requested scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// For an authreq: the request's `ctx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctx: Option<String>,
}

impl Device {
    /// The persistent state: configuration and pairings (no nonces, which a reboot forgets).
    pub fn snapshot(&self) -> DeviceSnapshot {
        DeviceSnapshot {
            config: self.config.clone(),
            pairings: self
                .pairings
                .iter()
                .map(|p| PairingSnapshot {
                    pid: *p.pid(),
                    aid: *p.aid(),
                    label: String::from(p.label()),
                })
                .collect(),
            pending: Vec::new(),
        }
    }

    /// [`Device::snapshot`] plus the explicit pending nonces not yet consumed (those given by
    /// [`Device::insert_pending`] or a restored snapshot), grouped by purpose, oldest first.
    ///
    /// The nonces the device issued are not listed: nothing is stored when one is issued
    /// (spec §4.3), and the per-boot nonce key that proves them is never exported, so a restore
    /// (a reboot) invalidates them, as it does access tokens (spec §4.6).
    pub fn snapshot_with_pending(&self) -> DeviceSnapshot {
        let mut snapshot = self.snapshot();
        snapshot.pending = self
            .nonces
            .explicit()
            .map(|p| PendingSnapshot {
                purpose: p.purpose,
                jti: p.jti,
                exp: p.exp,
                scope: p.scope.clone(),
                ctx: p.ctx.clone(),
            })
            .collect();
        snapshot
    }

    /// Boots a device from a snapshot: new per-boot keys from `rng` (so every earlier access
    /// token and every nonce the device issued is invalid), RTC unset, nothing consumed,
    /// pairings (S1 computed again) and the snapshot's explicit pending nonces.
    ///
    /// Fails on a snapshot no device could have written: more than eight pairings
    /// ([`DeviceError::TooManyPairings`]), a repeated aid or pid
    /// ([`DeviceError::DuplicateAid`], [`DeviceError::DuplicatePid`]) or a low-order aid
    /// ([`Malformed::Key`]).
    pub fn restore(
        snapshot: DeviceSnapshot,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Device, DeviceError> {
        Device::restore_with_boot_keys(snapshot, BootKeys::generate(rng))
    }

    /// [`Device::restore`] with given per-boot keys (see [`BootKeys::from_parts`]).
    pub fn restore_with_boot_keys(
        snapshot: DeviceSnapshot,
        boot: BootKeys,
    ) -> Result<Device, DeviceError> {
        let DeviceSnapshot {
            config,
            pairings,
            pending,
        } = snapshot;
        let mut device = Device::with_boot_keys(config, boot);
        if pairings.len() > MAX_PAIRINGS {
            return Err(DeviceError::TooManyPairings);
        }
        for p in pairings {
            if device.pairings.iter().any(|q| *q.aid() == p.aid) {
                return Err(DeviceError::DuplicateAid);
            }
            if device.pairing_by_pid(&p.pid).is_some() {
                return Err(DeviceError::DuplicatePid);
            }
            let pairing = Pairing::new(&device.config.identity, p.pid, p.aid, p.label)
                .map_err(|_| Malformed::Key)?;
            device.pairings.push(pairing);
        }
        for p in pending {
            device.nonces.insert_explicit(Pending {
                purpose: p.purpose,
                jti: p.jti,
                exp: p.exp,
                scope: p.scope,
                ctx: p.ctx,
            });
        }
        Ok(device)
    }
}

/// Serde for a secret key as standard base64, without a heap copy of the secret.
pub(crate) mod b64_secret {
    use crate::keys::SecretKey;
    use base64::Engine;
    use serde::{de, Deserializer, Serializer};
    use zeroize::Zeroize;

    pub(crate) fn serialize<S: Serializer>(key: &SecretKey, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 44];
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(*key.to_bytes(), &mut buf)
            .unwrap_or(0);
        let text = core::str::from_utf8(buf.get(..n).unwrap_or_default()).unwrap_or_default();
        let out = s.serialize_str(text);
        buf.zeroize();
        out
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretKey, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = SecretKey;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a base64 X25519 secret key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretKey, E> {
                SecretKey::from_b64(v).map_err(|_| E::custom("not base64 of 32 bytes"))
            }
        }
        d.deserialize_str(V)
    }
}

/// Serde for 32 raw bytes as standard base64.
mod b64_32 {
    use crate::codec;
    use serde::{de, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&codec::encode_std(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = [u8; 32];
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("base64 of 32 bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<[u8; 32], E> {
                codec::decode_fixed(v).map_err(|_| E::custom("not base64 of 32 bytes"))
            }
        }
        d.deserialize_str(V)
    }
}

/// Serde for a public key as standard base64; reading refuses a key that is not canonical or
/// is low-order (spec §2.5), as every decoding of a key does.
pub(crate) mod b64_key {
    use crate::keys::PublicKey;
    use serde::{de, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(key: &PublicKey, s: S) -> Result<S::Ok, S::Error> {
        super::b64_32::serialize(key.as_bytes(), s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PublicKey, D::Error> {
        let bytes = super::b64_32::deserialize(d)?;
        PublicKey::try_from_bytes(bytes).map_err(de::Error::custom)
    }
}

/// Serde for an optional public key as standard base64 or `null`.
pub(super) mod b64_opt_key {
    use crate::keys::PublicKey;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Wrap(#[serde(with = "super::b64_key")] PublicKey);

    pub(crate) fn serialize<S: Serializer>(
        key: &Option<PublicKey>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        key.map(Wrap).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<PublicKey>, D::Error> {
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}
