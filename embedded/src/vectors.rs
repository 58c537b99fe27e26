//! The device-kind vectors, converted at build time (`build.rs`), and their runners: a port of
//! `crates/hem-auth-vectors/src/check/device.rs` to the chip, with the same semantics.
//!
//! Each test boots a [`Device`] from a snapshot made of the test's inputs (identity key,
//! pairings, pending nonces restored as if the device had issued them; per-boot keys where the
//! test fixes them), sets its clock to `now`, and makes the one call the kind names with the
//! body a client would send. Around the call the runner asks the device ([`Device::is_pending`])
//! whether the nonces behaved: a failed call must leave every pending nonce usable, a
//! successful one must consume the nonce it used and no other. A device-issued token is
//! verified with the per-boot key the runner chose, its claims compared, and it is presented
//! back to the same device as a bearer.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use hem_auth_core::UnixTime;

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

/// A pairing the device already holds.
pub struct PairingF {
    pub pid: &'static str,
    pub aid: &'static str,
}

/// A nonce the device issued and still holds.
pub struct PendingF {
    pub jti: &'static str,
    pub exp: u64,
    pub scope: Option<&'static str>,
}

/// The claims of a device-issued token that a case compares.
#[derive(Debug, PartialEq, Eq)]
pub struct TokenF {
    pub scope: &'static str,
    pub sub: &'static str,
    pub exp: u64,
}

pub struct ExtTokenF {
    pub eid_private: &'static str,
    pub pairings: &'static [PairingF],
    pub pending: &'static [PendingF],
    pub now: u64,
    pub authreply: &'static str,
    pub policy: Option<&'static str>,
    pub status: Option<u16>,
    pub token: Option<TokenF>,
}

pub struct ExtValidateF {
    pub eid_private: &'static str,
    pub pairings: &'static [PairingF],
    pub pending: &'static [PendingF],
    pub now: u64,
    pub pid: &'static str,
    pub reply: &'static str,
    pub status: Option<u16>,
    pub kid: Option<&'static str>,
    pub code: Option<&'static str>,
}

pub struct LoginF {
    pub spk_private: &'static str,
    pub user_public: &'static str,
    pub master_public: Option<&'static str>,
    pub pending: &'static [PendingF],
    pub now: u64,
    pub auth: &'static str,
    pub status: Option<u16>,
    pub token: Option<TokenF>,
}

pub struct AccessTokenF {
    pub token_key: &'static str,
    pub token: &'static str,
    pub now: u64,
    pub required_scope: &'static str,
    pub exact: bool,
    pub status: Option<u16>,
}

/// A kind's members.
pub enum Fields {
    ExtToken(ExtTokenF),
    ExtValidate(ExtValidateF),
    Login(LoginF),
    AccessToken(AccessTokenF),
}

/// One test as the build script read it.
pub struct Case {
    /// The file, relative to the repository.
    pub file: &'static str,
    pub kind: &'static str,
    pub id: Option<u64>,
    /// `result` is `valid` (`None` when the test is malformed).
    pub valid: Option<bool>,
    pub comment: &'static str,
    /// The kind's members, or why the test is malformed (it then fails).
    pub fields: Result<Fields, &'static str>,
}

include!(concat!(env!("OUT_DIR"), "/cases.rs"));

/// How a test ended.
pub enum Outcome {
    Passed { detail: Option<String> },
    Failed { reason: String },
}

impl Outcome {
    fn passed() -> Self {
        Outcome::Passed { detail: None }
    }
}

type Verdict = Result<Outcome, String>;

/// Runs one test.
pub fn run(case: &Case) -> Outcome {
    let (Some(id), Some(valid), Ok(fields)) = (case.id, case.valid, &case.fields) else {
        let reason = match &case.fields {
            Err(e) => (*e).to_string(),
            Ok(_) => "malformed test".to_string(),
        };
        return Outcome::Failed { reason };
    };
    let verdict = match fields {
        Fields::ExtToken(c) => ext_token(id, valid, c),
        Fields::ExtValidate(c) => ext_validate(id, valid, c),
        Fields::Login(c) => login(id, valid, c),
        Fields::AccessToken(c) => access_token(id, valid, c),
    };
    verdict.unwrap_or_else(|reason| Outcome::Failed { reason })
}

/// Compares an expected member, when the test gives it, with what the role produced.
fn same<T: PartialEq<U> + core::fmt::Debug, U: core::fmt::Debug + ?Sized>(
    member: &str,
    expected: Option<&T>,
    got: &U,
) -> Result<(), String> {
    match expected {
        Some(e) if e == got => Ok(()),
        Some(e) => Err(format!("`{member}`: expected {e:?}, got {got:?}")),
        None => Ok(()),
    }
}

/// Like [`same`], for a member a valid test of this kind must give.
fn required<T: PartialEq<U> + core::fmt::Debug, U: core::fmt::Debug + ?Sized>(
    member: &str,
    expected: Option<&T>,
    got: &U,
) -> Result<(), String> {
    if expected.is_none() {
        return Err(format!("valid test lacks the expected `{member}`"));
    }
    same(member, expected, got)
}

/// Label given to restored pairings (the schema carries none; nothing reads it).
const RESTORED_LABEL: &str = "restored";

/// The runner's own per-boot secrets and randomness for one test (fixed by the test's id).
struct Bench {
    rng: ChaCha20Rng,
    token_key: [u8; 32],
}

impl Bench {
    fn new(id: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(id);
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
                .map_err(|e| format!("malformed test: the device state cannot be restored: {e}"))?;
        let _ = device.set_clock(UnixTime::from_secs(now));
        Ok(device)
    }
}

fn pairings(list: &[PairingF]) -> Result<Vec<PairingSnapshot>, String> {
    list.iter()
        .map(|p| {
            Ok(PairingSnapshot {
                pid: codec::decode_fixed(p.pid).map_err(|e| format!("`pairings` pid: {e}"))?,
                aid: PublicKey::from_b64(p.aid).map_err(|e| format!("`pairings` aid: {e}"))?,
                label: RESTORED_LABEL.into(),
            })
        })
        .collect()
}

fn pending(list: &[PendingF], purpose: NoncePurpose) -> Result<Vec<PendingSnapshot>, String> {
    list.iter()
        .map(|p| {
            Ok(PendingSnapshot {
                purpose,
                jti: codec::decode_fixed(p.jti).map_err(|e| format!("`pending` jti: {e}"))?,
                exp: p.exp,
                scope: p.scope.map(String::from),
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
    valid: bool,
    expected_status: Option<u16>,
    got: &Result<T, DeviceError>,
    check: impl FnOnce(&T) -> Result<(), String>,
) -> Outcome {
    match (valid, got) {
        (true, Ok(v)) => {
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
        (true, Err(e)) => Outcome::Failed {
            reason: format!("rejected a valid test with {}: {e}", e.status()),
        },
        (false, Ok(_)) => Outcome::Failed {
            reason: "accepted an invalid test (200)".into(),
        },
        (false, Err(e)) => match expected_status {
            Some(s) if s != e.status() => Outcome::Failed {
                reason: format!("expected status {s}, got {}: {e}", e.status()),
            },
            _ => Outcome::Passed {
                detail: Some(format!("{}: {e}", e.status())),
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

/// The token's compared claims, as read.
#[derive(Debug)]
struct TokenGot {
    scope: String,
    sub: String,
    exp: u64,
}

impl PartialEq<TokenGot> for TokenF {
    fn eq(&self, other: &TokenGot) -> bool {
        self.scope == other.scope && self.sub == other.sub && self.exp == other.exp
    }
}

/// Verifies a device-issued token with the per-boot key the runner booted the device with,
/// compares its claims, and presents it back to the device as a bearer.
fn check_token(
    device: &Device,
    token_key: &[u8; 32],
    response: &AccessToken,
    expected: Option<&TokenF>,
    now: u64,
) -> Result<(), String> {
    if response.response_json() != to_json(response) {
        return Err("token: the response body is not the token's JSON".into());
    }
    let untrusted = UntrustedJwt::parse(response.as_str()).map_err(|e| format!("token: {e}"))?;
    let verified = untrusted
        .verify(token_key, HeaderPolicy::Plain)
        .map_err(|e| format!("token: {e}"))?;
    let claims: AccessTokenClaims<'_> = verified.claims().map_err(|e| format!("token: {e}"))?;
    let got = TokenGot {
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
            .map_err(|e| format!("the device refuses its own token: {e}"))?;
    }
    Ok(())
}

/// The `policy` member as `ScopePolicy` reads it (serde, kebab-case).
fn policy(name: &str) -> Result<ScopePolicy, String> {
    match name {
        "as-approved" => Ok(ScopePolicy::AsApproved),
        "requested-only" => Ok(ScopePolicy::RequestedOnly),
        _ => Err(format!("malformed test: unknown policy {name:?}")),
    }
}

/// `ext-token`: [`Device::ext_token`] with body `{"authreply": …}`.
fn ext_token(id: u64, valid: bool, c: &ExtTokenF) -> Verdict {
    let identity = SecretKey::from_b64(c.eid_private).map_err(|e| format!("`eid_private`: {e}"))?;
    let mut config = DeviceConfig::new(identity);
    if let Some(p) = c.policy {
        config.scope_policy = policy(p)?;
    }
    let nonces = pending(c.pending, NoncePurpose::Authreq)?;
    let snapshot = DeviceSnapshot {
        pairings: pairings(c.pairings)?,
        pending: nonces.clone(),
        ..DeviceSnapshot::new(config)
    };
    let mut bench = Bench::new(id);
    let mut device = bench.boot(snapshot, None, c.now)?;
    let before = held(&device, NoncePurpose::Authreq, &nonces, c.now);
    let body = to_json(&ExtTokenRequest {
        authreply: Cow::Borrowed(c.authreply),
    });
    let result = device
        .ext_token(body.as_bytes(), UnixTime::from_secs(c.now), &mut bench.rng)
        .result;
    let outcome = decide_status(valid, c.status, &result, |t| {
        check_token(&device, &bench.token_key, t, c.token.as_ref(), c.now)
    });
    let nonces = nonce_discipline(
        &device,
        NoncePurpose::Authreq,
        &nonces,
        &before,
        message_jti(c.authreply),
        result.is_ok(),
        c.now,
    );
    Ok(with_nonces(outcome, nonces))
}

/// A user token for `ext/validate`, obtained through the device's own password login with a
/// user key the runner configured: `GET` then `POST /api/auth/token`.
fn pairing_bearer(
    device: &mut Device,
    user: &SecretKey,
    now: u64,
    rng: &mut ChaCha20Rng,
) -> Result<String, String> {
    let challenge = device
        .auth_token_challenge(UnixTime::from_secs(now), rng)
        .result
        .map_err(|e| format!("checker login (challenge): {e}"))?;
    let ejwt = build_login_raw(
        user,
        &challenge.spk,
        &challenge.jti,
        "auth:ext:pair",
        UnixTime::from_secs(now),
        UnixTime::from_secs(now + 60),
        None,
    )
    .map_err(|e| format!("checker login (eJWT): {e}"))?;
    let token = device
        .auth_token(login_body(&ejwt).as_bytes(), UnixTime::from_secs(now), rng)
        .result
        .map_err(|e| format!("checker login: {e}"))?;
    Ok(token.as_str().into())
}

/// A pid in the device's own spelling (standard base64 with padding); `""` when it is not
/// base64.
fn b64_canonical(pid: &str) -> String {
    let mut buf = [0u8; 96];
    codec::decode_std_into(pid, &mut buf)
        .map(codec::encode_std)
        .unwrap_or_default()
}

/// `ext-validate`: [`Device::ext_validate`] with body `{"pid", "reply"}` and a valid user
/// bearer (`auth:ext:pair`).
fn ext_validate(id: u64, valid: bool, c: &ExtValidateF) -> Verdict {
    let identity = SecretKey::from_b64(c.eid_private).map_err(|e| format!("`eid_private`: {e}"))?;
    let mut bench = Bench::new(id);
    let user = SecretKey::generate(&mut bench.rng);
    let mut config = DeviceConfig::new(identity);
    config.user_key = Some(user.public_key());
    let nonces = pending(c.pending, NoncePurpose::Pairing)?;
    let snapshot = DeviceSnapshot {
        pairings: pairings(c.pairings)?,
        pending: nonces.clone(),
        ..DeviceSnapshot::new(config)
    };
    let mut device = bench.boot(snapshot, None, c.now)?;
    let bearer = pairing_bearer(&mut device, &user, c.now, &mut bench.rng)?;
    let before = held(&device, NoncePurpose::Pairing, &nonces, c.now);
    let body = to_json(&ExtValidateRequest {
        pid: Cow::Borrowed(c.pid),
        reply: Cow::Borrowed(c.reply),
    });
    let result = device
        .ext_validate(Some(&bearer), body.as_bytes(), UnixTime::from_secs(c.now))
        .result;
    let outcome = decide_status(valid, c.status, &result, |r| {
        required("kid", c.kid.as_ref(), &r.kid)?;
        required("code", c.code.as_ref(), &r.code)?;
        let pid = b64_canonical(c.pid);
        let paired = device
            .pairings()
            .iter()
            .any(|p| p.kid_hex() == r.kid && p.pid_b64() == pid);
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
        message_jti(c.reply),
        result.is_ok(),
        c.now,
    );
    Ok(with_nonces(outcome, nonces))
}

/// `login`: [`Device::auth_token`] with body `{"auth": …}` on a device whose per-boot session
/// key is `spk_private`.
fn login(id: u64, valid: bool, c: &LoginF) -> Verdict {
    let session = SecretKey::from_b64(c.spk_private).map_err(|e| format!("`spk_private`: {e}"))?;
    let mut bench = Bench::new(id);
    let mut config = DeviceConfig::new(SecretKey::generate(&mut bench.rng));
    config.user_key =
        Some(PublicKey::from_b64(c.user_public).map_err(|e| format!("`user_public`: {e}"))?);
    config.master_key = c
        .master_public
        .map(PublicKey::from_b64)
        .transpose()
        .map_err(|e| format!("`master_public`: {e}"))?;
    let nonces = pending(c.pending, NoncePurpose::Login)?;
    let snapshot = DeviceSnapshot {
        pending: nonces.clone(),
        ..DeviceSnapshot::new(config)
    };
    let mut device = bench.boot(snapshot, Some(session), c.now)?;
    let before = held(&device, NoncePurpose::Login, &nonces, c.now);
    let body = to_json(&AuthTokenRequest {
        auth: Cow::Borrowed(c.auth),
    });
    let result = device
        .auth_token(body.as_bytes(), UnixTime::from_secs(c.now), &mut bench.rng)
        .result;
    let outcome = decide_status(valid, c.status, &result, |t| {
        check_token(&device, &bench.token_key, t, c.token.as_ref(), c.now)
    });
    let nonces = nonce_discipline(
        &device,
        NoncePurpose::Login,
        &nonces,
        &before,
        message_jti(c.auth),
        result.is_ok(),
        c.now,
    );
    Ok(with_nonces(outcome, nonces))
}

/// `access-token`: [`Device::authorize`] on a device whose per-boot token key is `token_key`,
/// with [`Requirement::exact`] or [`Requirement::any_of`] the required scope.
fn access_token(id: u64, valid: bool, c: &AccessTokenF) -> Verdict {
    let token_key: [u8; 32] =
        codec::decode_fixed(c.token_key).map_err(|e| format!("`token_key`: {e}"))?;
    let mut bench = Bench::new(id);
    bench.token_key = token_key;
    let config = DeviceConfig::new(SecretKey::generate(&mut bench.rng));
    let device = bench.boot(DeviceSnapshot::new(config), None, c.now)?;
    let scopes = [c.required_scope];
    let requirement = if c.exact {
        Requirement::exact(c.required_scope)
    } else {
        Requirement::any_of(&scopes)
    };
    let result = device
        .authorize(Some(c.token), &requirement, UnixTime::from_secs(c.now))
        .result
        .map(|_| ());
    Ok(decide_status(valid, c.status, &result, |()| {
        same("status", c.status.as_ref(), &200)
    }))
}
