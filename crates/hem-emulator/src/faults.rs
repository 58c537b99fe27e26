//! Test-only misbehaviour: switches that make the emulator break one rule each, so a test can
//! show that the conformance suite notices. Every fault lives here, in the adapter, built on
//! public core APIs; the core itself has no fault hooks.
//!
//! See [`Faults`].

use hem_auth_core::claims::{AuthreplyClaims, PairingReplyClaims};
use hem_auth_core::codec;
use hem_auth_core::device::{ConsumedNonce, Device, PendingSnapshot};
use hem_auth_core::jwt::{self, UntrustedJwt};
use hem_auth_core::keys::{PublicKey, SharedSecret};
use hem_auth_core::messages::{self, ExtTokenRequest, ExtValidateRequest};

/// Test-only fault switches; never set them outside tests.
///
/// | fault | what the emulator does | a conformance case that must then fail |
/// |---|---|---|
/// | `skip_replay_check` | after a successful login, pairing, `ext/token` or check-in, the consumed nonce is put back ([`hem_auth_core::device::Device::insert_pending`]), so the same message is accepted again | `auth-token/replay`, `ext-validate/replay`, `ext-token/replay` |
/// | `accept_bad_mac` | an authreply or pairing reply whose MAC fails is re-signed with the key the device would have used and processed again | `ext-token/bad-mac`, `ext-token/wrong-key`, `ext-token/payload-altered`, `ext-validate/bad-mac` |
/// | `leak_500` | every 400 answer becomes a 500 | `wire/error-body-400` and every other 400 case |
/// | `ignore_scope` | on the endpoints whose bearer the adapter checks (dispatcher, `keymgmt/list`, `system/config`, `logger/list`), a token without the scope or role passes | `bearer/too-narrow`, `bearer/user-too-narrow`, `bearer/system-config-wrong-scope` |
/// | `skip_expiry_check` | on the same endpoints, an expired token passes | `bearer/expired` |
///
/// The bearer checks inside `ext/init`, `ext/validate`, `ext/mac` and the unpair delete are the
/// core's own and stay strict under `ignore_scope` and `skip_expiry_check`: bypassing them would
/// need a hook in the core.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Faults {
    /// Put consumed nonces back after success, so replays are accepted.
    pub skip_replay_check: bool,
    /// Accept an authreply or pairing reply with a bad MAC.
    pub accept_bad_mac: bool,
    /// Answer 500 where the device answers 400.
    pub leak_500: bool,
    /// Let bearer tokens pass whatever their scope or role (adapter-checked endpoints).
    pub ignore_scope: bool,
    /// Let expired bearer tokens pass (adapter-checked endpoints).
    pub skip_expiry_check: bool,
}

impl Faults {
    /// Whether any fault is on.
    pub fn any(&self) -> bool {
        self.skip_replay_check
            || self.accept_bad_mac
            || self.leak_500
            || self.ignore_scope
            || self.skip_expiry_check
    }

    /// The status to answer with instead of `status`.
    pub(crate) fn status(&self, status: u16) -> u16 {
        if self.leak_500 && status == 400 {
            500
        } else {
            status
        }
    }
}

/// The explicit pending nonces and the consumed set before an operation, kept only under
/// `skip_replay_check`.
pub(crate) struct Replay(Option<(Vec<PendingSnapshot>, Vec<ConsumedNonce>)>);

impl Replay {
    pub(crate) fn before(faults: &Faults, device: &Device) -> Self {
        Replay(faults.skip_replay_check.then(|| {
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
    pub(crate) fn restore(self, device: &mut Device) {
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
    let mac = jwt::mac(key.as_bytes(), signed.as_bytes());
    Some(format!("{signed}.{}", codec::encode_segment(&mac)))
}

/// S1 = X25519(eid_prv, aid), the key of authreplies and pairing replies.
fn s1(device: &Device, aid: &PublicKey) -> Option<SharedSecret> {
    device.config().identity.diffie_hellman(aid).ok()
}

/// An `ext/token` body whose authreply is re-signed with the S1 of the pairing it names.
pub(crate) fn resigned_ext_token(device: &Device, body: &[u8]) -> Option<Vec<u8>> {
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
pub(crate) fn resigned_ext_validate(device: &Device, body: &[u8]) -> Option<Vec<u8>> {
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
