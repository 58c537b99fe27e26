//! Test-only misbehaviour (feature `testing`): switches that make [`Device::handle`] break one
//! rule each, so a test can show that the conformance suite notices. Never enable the
//! feature in a build that serves anyone; the typed methods are unaffected.

use crate::time::UnixTime;
use alloc::string::String;
use alloc::vec::Vec;
use rand_core::CryptoRngCore;

use super::{AccessToken, ConsumedNonce, Device, DeviceError, Outcome, PendingSnapshot};
use crate::claims::{AccessTokenClaims, AuthreplyClaims, PairingReplyClaims};
use crate::codec;
use crate::jwt::UntrustedJwt;
use crate::keys::{PublicKey, SharedSecret};
use crate::messages::{self, ExtTokenRequest, ExtValidateRequest, ExtValidateResponse};

/// Test-only fault switches of [`Device::handle`] ([`Device::set_faults`]).
///
/// | fault | what the device does | a conformance case that must then fail |
/// |---|---|---|
/// | `skip_replay_check` | after a successful login, pairing, `ext/token` or check-in, the consumed nonce is put back ([`Device::insert_pending`]), so the same message is accepted again | `auth-token/replay`, `ext-validate/replay`, `ext-token/replay` |
/// | `accept_bad_mac` | an authreply or pairing reply whose MAC fails is re-signed with the key the device would have used and processed again | `ext-token/bad-mac`, `ext-token/wrong-key`, `ext-token/payload-altered`, `ext-validate/bad-mac` |
/// | `leak_500` | every 400 answer becomes a 500 | `wire/error-body-400` and every other 400 case |
/// | `ignore_scope` | on the bearer checks `handle` makes itself (before routing, `keymgmt/list`, `keymgmt/get`, `system/config`, `logger/list`), a token without the scope or role passes | `bearer/too-narrow`, `bearer/user-too-narrow`, `bearer/system-config-wrong-scope` |
/// | `skip_expiry_check` | on the same checks, an expired token passes | `bearer/expired`, `time/ext-token-expired` |
/// | `never_expire_nonces` | a nonce this boot issued is accepted however old (its tag, purpose and the consumed set are still checked) | `time/login-challenge-expired`, `time/authreq-expired`, `time/pairing-request-expired` |
/// | `keep_boot_keys` | [`Device::reboot`] keeps the per-boot keys (and the nonces), so tokens and pending nonces survive it | `time/reboot-kills-token`, `time/reboot-kills-nonce` |
/// | `random_token_jti` | every access token `auth/token` and `ext/token` issue carries 32 random bytes as its `jti` instead of a time nonce whose time is `iat` (spec §8.1, §4.1); it is re-signed with the token key, so it still verifies and works as a bearer | `auth-token/token-jti`, `ext-token/token-jti` (and no other case: the logins that other cases need still pass) |
///
/// The bearer checks inside `ext/init`, `ext/validate`, `ext/mac` and the unpair delete are
/// the typed methods' own and stay strict under `ignore_scope` and `skip_expiry_check`.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Faults {
    /// Put consumed nonces back after success, so replays are accepted.
    pub skip_replay_check: bool,
    /// Accept an authreply or pairing reply with a bad MAC.
    pub accept_bad_mac: bool,
    /// Answer 500 where the device answers 400.
    pub leak_500: bool,
    /// Let bearer tokens pass whatever their scope or role (checks made by `handle`).
    pub ignore_scope: bool,
    /// Let expired bearer tokens pass (checks made by `handle`).
    pub skip_expiry_check: bool,
    /// Accept issued nonces past their lifetime (spec §4.4).
    pub never_expire_nonces: bool,
    /// Keep the per-boot keys across [`Device::reboot`] (spec §4.6).
    pub keep_boot_keys: bool,
    /// Issue access tokens whose `jti` is random instead of time-based (one detail of §8.1).
    pub random_token_jti: bool,
}

impl Faults {
    /// Whether any fault is on.
    pub fn any(&self) -> bool {
        self.skip_replay_check
            || self.accept_bad_mac
            || self.leak_500
            || self.ignore_scope
            || self.skip_expiry_check
            || self.never_expire_nonces
            || self.keep_boot_keys
            || self.random_token_jti
    }

    /// The status to answer with instead of `status` (`leak_500`): for an adapter's own
    /// refusals too.
    pub fn status(&self, status: u16) -> u16 {
        if self.leak_500 && status == 400 {
            500
        } else {
            status
        }
    }

    /// Whether a bearer check that failed with `error` passes anyway.
    pub(super) fn passes(&self, error: &DeviceError) -> bool {
        match error {
            DeviceError::InsufficientScope | DeviceError::WrongRole => self.ignore_scope,
            DeviceError::TokenExpired => self.skip_expiry_check,
            _ => false,
        }
    }
}

impl Device {
    /// Turns the test-only faults on or off.
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
        self.nonces.never_expire = faults.never_expire_nonces;
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.faults
    }

    /// `accept_bad_mac`: an `ext/token` whose authreply failed its MAC, re-signed with the S1
    /// of the pairing it names and run again.
    pub(super) fn resign_ext_token(
        &mut self,
        out: Outcome<AccessToken>,
        body: &[u8],
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Outcome<AccessToken> {
        if !(self.faults.accept_bad_mac && matches!(out.result, Err(DeviceError::BadMac))) {
            return out;
        }
        match resigned_ext_token(self, body) {
            Some(resigned) => self.ext_token(&resigned, now, rng),
            None => out,
        }
    }

    /// `accept_bad_mac`: an `ext/validate` whose reply failed its MAC, re-signed with the S1
    /// of the key it claims and run again.
    pub(super) fn resign_ext_validate(
        &mut self,
        out: Outcome<ExtValidateResponse<'static>>,
        bearer: Option<&str>,
        body: &[u8],
        now: UnixTime,
    ) -> Outcome<ExtValidateResponse<'static>> {
        if !(self.faults.accept_bad_mac && matches!(out.result, Err(DeviceError::BadMac))) {
            return out;
        }
        match resigned_ext_validate(self, body) {
            Some(resigned) => self.ext_validate(bearer, &resigned, now),
            None => out,
        }
    }
}

impl Device {
    /// `random_token_jti`: the issued token minted again with a random `jti` (every other
    /// claim, the claim order and the header as they were), under the same token key.
    pub(super) fn randomise_token_jti(
        &self,
        out: Outcome<AccessToken>,
        rng: &mut impl CryptoRngCore,
    ) -> Outcome<AccessToken> {
        if !self.faults.random_token_jti {
            return out;
        }
        let Outcome { result, events } = out;
        let result = result.map(|token| self.with_random_jti(&token, rng).unwrap_or(token));
        Outcome { result, events }
    }

    fn with_random_jti(
        &self,
        token: &AccessToken,
        rng: &mut impl CryptoRngCore,
    ) -> Option<AccessToken> {
        let jwt = UntrustedJwt::parse(token.as_str()).ok()?;
        let claims: AccessTokenClaims<'_> = jwt.dangerous_unverified_claims().ok()?;
        let mut random = [0u8; 32];
        rng.fill_bytes(&mut random);
        let claims = AccessTokenClaims {
            jti: codec::encode_std(&random).into(),
            ..claims
        };
        let mut again = AccessToken::empty();
        again.mint(&claims, &self.token_mac)?;
        Some(again)
    }
}

/// The explicit pending nonces and the consumed set before an operation, kept only under
/// `skip_replay_check`.
pub(super) struct Replay(Option<(Vec<PendingSnapshot>, Vec<ConsumedNonce>)>);

impl Replay {
    pub(super) fn before(device: &Device) -> Self {
        Replay(device.faults.skip_replay_check.then(|| {
            (
                device.snapshot_with_pending().pending,
                device.consumed_nonces().collect(),
            )
        }))
    }

    /// After a successful operation: makes every nonce it consumed pending again. An explicit
    /// pending nonce is recorded again; a nonce the device issued (spec §4.3: proved by its
    /// tag, recorded in the consumed set when used) is recorded as an explicit pending nonce,
    /// which the device accepts whatever its consumed set says (without a requested scope, so
    /// a `RequestedOnly` device then refuses the replayed authreply with 406).
    pub(super) fn restore(self, device: &mut Device) {
        let Some((pending, consumed)) = self.0 else {
            return;
        };
        let after = device.snapshot_with_pending().pending;
        for p in pending {
            let still = after
                .iter()
                .any(|q| q.purpose == p.purpose && q.jti == p.jti);
            if !still {
                device.insert_pending(p.purpose, p.jti, p.exp, p.scope.as_deref());
            }
        }
        let used: Vec<ConsumedNonce> = device
            .consumed_nonces()
            .filter(|c| !consumed.contains(c))
            .collect();
        for c in used {
            device.insert_pending(c.purpose, c.jti, c.exp, None);
        }
    }
}

/// `token` with its signature replaced by the HS256 MAC under `key`.
fn resign(token: &str, key: &SharedSecret) -> Option<String> {
    let jwt = UntrustedJwt::parse(token).ok()?;
    let signed = jwt.signed_part();
    let mac = crate::mac::mac(key.as_bytes(), signed.as_bytes());
    let mut out = String::from(signed);
    out.push('.');
    out.push_str(&codec::encode_segment(&mac));
    Some(out)
}

/// S1 = X25519(eid_prv, aid), the key of authreplies and pairing replies.
fn s1(device: &Device, aid: &PublicKey) -> Option<SharedSecret> {
    device.config().identity.diffie_hellman(aid).ok()
}

/// An `ext/token` body whose authreply is re-signed with the S1 of the pairing it names.
fn resigned_ext_token(device: &Device, body: &[u8]) -> Option<Vec<u8>> {
    let req: ExtTokenRequest<'_> = messages::parse_body(body).ok()?;
    let jwt = UntrustedJwt::parse(&req.authreply).ok()?;
    let claims: AuthreplyClaims<'_> = jwt.dangerous_unverified_claims().ok()?;
    let pid: [u8; 32] = codec::decode_fixed(&claims.pid).ok()?;
    let pairing = device.pairings().iter().find(|p| *p.pid() == pid)?;
    let authreply = resign(&req.authreply, &s1(device, pairing.aid())?)?;
    Some(
        messages::to_json(&ExtTokenRequest {
            authreply: authreply.into(),
        })
        .into_bytes(),
    )
}

/// An `ext/validate` body whose reply is re-signed with the S1 of the key it claims (`iss`).
fn resigned_ext_validate(device: &Device, body: &[u8]) -> Option<Vec<u8>> {
    let req: ExtValidateRequest<'_> = messages::parse_body(body).ok()?;
    let jwt = UntrustedJwt::parse(&req.reply).ok()?;
    let claims: PairingReplyClaims<'_> = jwt.dangerous_unverified_claims().ok()?;
    let aid = PublicKey::from_b64(&claims.iss).ok()?;
    let reply = resign(&req.reply, &s1(device, &aid)?)?;
    Some(
        messages::to_json(&ExtValidateRequest {
            pid: req.pid.clone(),
            reply: reply.into(),
        })
        .into_bytes(),
    )
}
