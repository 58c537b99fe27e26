//! Runners of the device role's kinds: `ext-token`, `ext-validate`, `login`, `access-token`.
//!
//! Each test boots a [`Device`] from a snapshot made of the test's inputs (identity key,
//! pairings, pending nonces as if the device had issued them; per-boot keys where the test
//! fixes them), sets its clock to `now`, and makes the one call the kind names with the body a
//! client would send. The answer's status is [`hem_auth_core::device::DeviceError::status`].
//! Around the call the checker asks the device itself ([`Device::is_pending`]) whether the
//! nonces behaved: a failed call must leave every pending nonce usable, a successful one must
//! consume the nonce it used and no other.
//!
//! A device-issued token is keyed with the per-boot token key; the checker boots the device
//! with a key of its own choosing, so it can verify the token it gets and read its claims, and
//! then presents it to the same device as a bearer to see that it is accepted.

use hem_auth_core::UnixTime;
use std::borrow::Cow;

use hem_auth_core::claims::AccessTokenClaims;
use hem_auth_core::client::{build_login_raw, login_body};
use hem_auth_core::codec;
use hem_auth_core::device::{
    AccessToken, BootKeys, Device, DeviceConfig, DeviceError, DeviceSnapshot, NoncePurpose,
    PairingSnapshot, PendingSnapshot, Requirement, ScopePolicy,
};
use hem_auth_core::jwt::{HeaderPolicy, UntrustedJwt};
use hem_auth_core::keys::{PublicKey, SecretKey};
use hem_auth_core::messages::{to_json, AuthTokenRequest, ExtTokenRequest, ExtValidateRequest};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::Deserialize;

use super::{required, same, Verdict};
use crate::b64;
use crate::report::Outcome;
use crate::schema::{
    AccessTokenCase, Case, Expect, ExtTokenCase, ExtValidateCase, LoginCase, PairingFields,
    PendingFields, TokenFields,
};

/// Label given to pairings restored from a test (the format carries none; nothing reads it).
const RESTORED_LABEL: &str = "restored";

/// The checker's own per-boot secrets and randomness for one test (fixed by the test's id, so
/// a run is reproducible).
struct Bench {
    rng: ChaCha20Rng,
    token_key: [u8; 32],
}

impl Bench {
    fn new(case: &Case) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(case.id);
        let mut token_key = [0u8; 32];
        rng.fill_bytes(&mut token_key);
        Bench { rng, token_key }
    }

    fn boot(
        &mut self,
        snapshot: DeviceSnapshot,
        session: Option<SecretKey>,
        now: u64,
    ) -> Result<Device, String> {
        let session = session.unwrap_or_else(|| SecretKey::generate(&mut self.rng));
        let mut device =
            Device::restore_with_boot_keys(snapshot, BootKeys::from_parts(session, self.token_key))
                .map_err(|e| {
                    format!(
                        "malformed test: the device state cannot be restored: {}",
                        crate::chain(&e)
                    )
                })?;
        let _ = device.set_clock(UnixTime::from_secs(now));
        Ok(device)
    }
}

fn pairings(list: &[PairingFields]) -> Result<Vec<PairingSnapshot>, String> {
    list.iter()
        .map(|p| {
            Ok(PairingSnapshot {
                pid: codec::decode_fixed(&p.pid)
                    .map_err(|e| format!("`pairings` pid: {}", crate::chain(&e)))?,
                aid: PublicKey::from_b64(&p.aid)
                    .map_err(|e| format!("`pairings` aid: {}", crate::chain(&e)))?,
                label: RESTORED_LABEL.into(),
            })
        })
        .collect()
}

fn pending(list: &[PendingFields], purpose: NoncePurpose) -> Result<Vec<PendingSnapshot>, String> {
    list.iter()
        .map(|p| {
            Ok(PendingSnapshot {
                purpose,
                jti: codec::decode_fixed(&p.jti)
                    .map_err(|e| format!("`pending` jti: {}", crate::chain(&e)))?,
                exp: p.exp,
                scope: p.scope.clone(),
                ctx: None,
            })
        })
        .collect()
}

/// The `jti` a message carries, read without verification, only to follow its nonce.
fn message_jti(jwt: &str) -> Option<[u8; 32]> {
    #[derive(Deserialize)]
    struct Jti<'a> {
        #[serde(borrow)]
        jti: Cow<'a, str>,
    }
    let untrusted = UntrustedJwt::parse(jwt).ok()?;
    let claims: Jti<'_> = untrusted.dangerous_unverified_claims().ok()?;
    codec::decode_fixed(&claims.jti).ok()
}

/// Which of the restored nonces the device holds at `now`.
fn held(device: &Device, purpose: NoncePurpose, nonces: &[PendingSnapshot], now: u64) -> Vec<bool> {
    nonces
        .iter()
        .map(|p| device.is_pending(purpose, &p.jti, UnixTime::from_secs(now)))
        .collect()
}

/// After the call: a failure left every held nonce held; a success released exactly the
/// message's nonce.
fn nonce_discipline(
    device: &Device,
    purpose: NoncePurpose,
    nonces: &[PendingSnapshot],
    before: &[bool],
    used: Option<[u8; 32]>,
    succeeded: bool,
    now: u64,
) -> Result<(), String> {
    let after = held(device, purpose, nonces, now);
    for ((p, was), is) in nonces.iter().zip(before).zip(&after) {
        let consumed = *was && !*is;
        let expected = succeeded && used == Some(p.jti);
        if consumed && !expected {
            return Err(format!(
                "the device released pending nonce {} on a {} call",
                codec::encode_std(&p.jti),
                if succeeded { "successful" } else { "failed" }
            ));
        }
        if expected && *is {
            return Err(format!(
                "a successful call left its nonce {} pending (replayable)",
                codec::encode_std(&p.jti)
            ));
        }
    }
    Ok(())
}

/// Decides a device test from the call's result (`Ok` = 200).
fn decide_status<T>(
    case: &Case,
    expected_status: Option<u16>,
    got: &Result<T, DeviceError>,
    check: impl FnOnce(&T) -> Result<(), String>,
) -> Outcome {
    match (case.result, got) {
        (Expect::Valid, Ok(v)) => {
            if let Some(s) = expected_status.filter(|s| *s != 200) {
                return Outcome::Failed {
                    reason: format!("valid test expects status {s}: a valid test means 200"),
                };
            }
            match check(v) {
                Ok(()) => Outcome::passed(),
                Err(reason) => Outcome::Failed { reason },
            }
        }
        (Expect::Valid, Err(e)) => Outcome::Failed {
            reason: format!(
                "rejected a valid test with {}: {}",
                e.status(),
                crate::chain(&e)
            ),
        },
        (Expect::Invalid, Ok(_)) => Outcome::Failed {
            reason: "accepted an invalid test (200)".into(),
        },
        (Expect::Invalid, Err(e)) => match expected_status {
            Some(s) if s != e.status() => Outcome::Failed {
                reason: format!(
                    "expected status {s}, got {}: {}",
                    e.status(),
                    crate::chain(&e)
                ),
            },
            _ => Outcome::Passed {
                detail: Some(format!("{}: {}", e.status(), crate::chain(&e))),
            },
        },
    }
}

/// Merges the nonce check into an outcome: a pass becomes a failure when the nonces
/// misbehaved.
fn with_nonces(outcome: Outcome, nonces: Result<(), String>) -> Outcome {
    match (outcome, nonces) {
        (Outcome::Passed { .. }, Err(reason)) => Outcome::Failed { reason },
        (o, _) => o,
    }
}

/// Verifies a device-issued token with the per-boot key the checker booted the device with,
/// compares its claims, and presents it back to the device as a bearer.
fn check_token(
    device: &Device,
    token_key: &[u8; 32],
    response: &AccessToken,
    expected: Option<&TokenFields>,
    now: u64,
) -> Result<(), String> {
    if response.response_json() != to_json(response) {
        return Err("token: the response body is not the token's JSON".into());
    }
    let untrusted = UntrustedJwt::parse(response.as_str())
        .map_err(|e| format!("token: {}", crate::chain(&e)))?;
    let verified = untrusted
        .verify(token_key, HeaderPolicy::Plain)
        .map_err(|e| format!("token: {}", crate::chain(&e)))?;
    let claims: AccessTokenClaims<'_> = verified
        .claims()
        .map_err(|e| format!("token: {}", crate::chain(&e)))?;
    let got = TokenFields {
        scope: claims.scope.to_string(),
        sub: claims.sub.to_string(),
        exp: claims.exp,
    };
    required("token", expected, &got)?;
    if now < claims.exp {
        device
            .authorize(
                Some(response.as_str()),
                &Requirement::any_token(),
                UnixTime::from_secs(now),
            )
            .result
            .map_err(|e| format!("the device refuses its own token: {}", crate::chain(&e)))?;
    }
    Ok(())
}

/// `ext-token`: [`Device::ext_token`] with body `{"authreply": …}`.
pub(super) fn ext_token(case: &Case) -> Verdict {
    let c: ExtTokenCase = case.read()?;
    let identity = SecretKey::from_b64(&c.eid_private)
        .map_err(|e| format!("`eid_private`: {}", crate::chain(&e)))?;
    let mut config = DeviceConfig::new(identity);
    if let Some(policy) = &c.policy {
        config.scope_policy =
            serde_json::from_value::<ScopePolicy>(serde_json::Value::String(policy.clone()))
                .map_err(|_| format!("malformed test: unknown policy {policy:?}"))?;
    }
    let nonces = pending(&c.pending, NoncePurpose::Authreq)?;
    let snapshot = DeviceSnapshot {
        pairings: pairings(&c.pairings)?,
        pending: nonces.clone(),
        ..DeviceSnapshot::new(config)
    };
    let mut bench = Bench::new(case);
    let mut device = bench.boot(snapshot, None, c.now)?;
    let before = held(&device, NoncePurpose::Authreq, &nonces, c.now);
    let body = to_json(&ExtTokenRequest {
        authreply: Cow::Borrowed(&c.authreply),
    });
    let result = device
        .ext_token(body.as_bytes(), UnixTime::from_secs(c.now), &mut bench.rng)
        .result;
    let outcome = decide_status(case, c.status, &result, |t| {
        check_token(&device, &bench.token_key, t, c.token.as_ref(), c.now)
    });
    let nonces = nonce_discipline(
        &device,
        NoncePurpose::Authreq,
        &nonces,
        &before,
        message_jti(&c.authreply),
        result.is_ok(),
        c.now,
    );
    Ok(with_nonces(outcome, nonces))
}

/// A user token for `ext/validate`, obtained through the device's own password login with a
/// user key the checker configured: `GET` then `POST /api/auth/token`.
fn pairing_bearer(
    device: &mut Device,
    user: &SecretKey,
    now: u64,
    rng: &mut ChaCha20Rng,
) -> Result<String, String> {
    let challenge = device
        .auth_token_challenge(UnixTime::from_secs(now), rng)
        .result
        .map_err(|e| format!("checker login (challenge): {}", crate::chain(&e)))?;
    let ejwt = build_login_raw(
        user,
        &challenge.spk,
        &challenge.jti,
        "auth:ext:pair",
        UnixTime::from_secs(now),
        UnixTime::from_secs(now + 60),
        None,
    )
    .map_err(|e| format!("checker login (eJWT): {}", crate::chain(&e)))?;
    let token = device
        .auth_token(login_body(&ejwt).as_bytes(), UnixTime::from_secs(now), rng)
        .result
        .map_err(|e| format!("checker login: {}", crate::chain(&e)))?;
    Ok(token.as_str().to_owned())
}

/// `ext-validate`: [`Device::ext_validate`] with body `{"pid", "reply"}` and a valid user
/// bearer (`auth:ext:pair`).
pub(super) fn ext_validate(case: &Case) -> Verdict {
    let c: ExtValidateCase = case.read()?;
    let identity = SecretKey::from_b64(&c.eid_private)
        .map_err(|e| format!("`eid_private`: {}", crate::chain(&e)))?;
    let mut bench = Bench::new(case);
    let user = SecretKey::generate(&mut bench.rng);
    let mut config = DeviceConfig::new(identity);
    config.user_key = Some(user.public_key());
    let nonces = pending(&c.pending, NoncePurpose::Pairing)?;
    let snapshot = DeviceSnapshot {
        pairings: pairings(&c.pairings)?,
        pending: nonces.clone(),
        ..DeviceSnapshot::new(config)
    };
    let mut device = bench.boot(snapshot, None, c.now)?;
    let bearer = pairing_bearer(&mut device, &user, c.now, &mut bench.rng)?;
    let before = held(&device, NoncePurpose::Pairing, &nonces, c.now);
    let body = to_json(&ExtValidateRequest {
        pid: Cow::Borrowed(&c.pid),
        reply: Cow::Borrowed(&c.reply),
    });
    let result = device
        .ext_validate(Some(&bearer), body.as_bytes(), UnixTime::from_secs(c.now))
        .result;
    let outcome = decide_status(case, c.status, &result, |r| {
        required("kid", c.kid.as_ref(), &r.kid.to_string())?;
        required("code", c.code.as_ref(), &r.code.to_string())?;
        let paired = device
            .pairings()
            .iter()
            .any(|p| p.kid_hex() == r.kid && p.pid_b64() == b64_canonical(&c.pid));
        if paired {
            Ok(())
        } else {
            Err("the device answered 200 but holds no pairing under this pid and kid".into())
        }
    });
    let nonces = nonce_discipline(
        &device,
        NoncePurpose::Pairing,
        &nonces,
        &before,
        message_jti(&c.reply),
        result.is_ok(),
        c.now,
    );
    Ok(with_nonces(outcome, nonces))
}

/// A pid in the device's own spelling (standard base64 with padding).
fn b64_canonical(pid: &str) -> String {
    b64::decode(pid)
        .map(|b| b64::encode(&b))
        .unwrap_or_default()
}

/// `login`: [`Device::auth_token`] with body `{"auth": …}` on a device whose per-boot session
/// key is `spk_private`.
pub(super) fn login(case: &Case) -> Verdict {
    let c: LoginCase = case.read()?;
    let session = SecretKey::from_b64(&c.spk_private)
        .map_err(|e| format!("`spk_private`: {}", crate::chain(&e)))?;
    let mut bench = Bench::new(case);
    let mut config = DeviceConfig::new(SecretKey::generate(&mut bench.rng));
    config.user_key = Some(
        PublicKey::from_b64(&c.user_public)
            .map_err(|e| format!("`user_public`: {}", crate::chain(&e)))?,
    );
    config.master_key = c
        .master_public
        .as_deref()
        .map(PublicKey::from_b64)
        .transpose()
        .map_err(|e| format!("`master_public`: {}", crate::chain(&e)))?;
    let nonces = pending(&c.pending, NoncePurpose::Login)?;
    let snapshot = DeviceSnapshot {
        pending: nonces.clone(),
        ..DeviceSnapshot::new(config)
    };
    let mut device = bench.boot(snapshot, Some(session), c.now)?;
    let before = held(&device, NoncePurpose::Login, &nonces, c.now);
    let body = to_json(&AuthTokenRequest {
        auth: Cow::Borrowed(&c.auth),
    });
    let result = device
        .auth_token(body.as_bytes(), UnixTime::from_secs(c.now), &mut bench.rng)
        .result;
    let outcome = decide_status(case, c.status, &result, |t| {
        check_token(&device, &bench.token_key, t, c.token.as_ref(), c.now)
    });
    let nonces = nonce_discipline(
        &device,
        NoncePurpose::Login,
        &nonces,
        &before,
        message_jti(&c.auth),
        result.is_ok(),
        c.now,
    );
    Ok(with_nonces(outcome, nonces))
}

/// `access-token`: [`Device::authorize`] on a device whose per-boot token key is `token_key`,
/// with [`Requirement::exact`] or [`Requirement::any_of`] the required scope.
pub(super) fn access_token(case: &Case) -> Verdict {
    let c: AccessTokenCase = case.read()?;
    let token_key = b64::decode_32(&c.token_key).map_err(|e| format!("`token_key`: {e}"))?;
    let mut bench = Bench::new(case);
    bench.token_key = token_key;
    let config = DeviceConfig::new(SecretKey::generate(&mut bench.rng));
    let device = bench.boot(DeviceSnapshot::new(config), None, c.now)?;
    let scopes = [c.required_scope.as_str()];
    let requirement = if c.exact {
        Requirement::exact(&c.required_scope)
    } else {
        Requirement::any_of(&scopes)
    };
    let result = device
        .authorize(Some(&c.token), &requirement, UnixTime::from_secs(c.now))
        .result
        .map(|_| ());
    Ok(decide_status(case, c.status, &result, |()| {
        same("status", c.status.as_ref(), &200)
    }))
}
