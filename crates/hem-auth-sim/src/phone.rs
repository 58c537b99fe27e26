//! The test phone: one definition for every in-memory world (spec §5.7, §6.4).
//!
//! A [`Phone`] is what the phone app keeps after pairing — the core's
//! [`AuthenticatorPairing`] and the `aid_prv` it was made from — plus what tests need to bend
//! messages by hand: `S1 = X25519(aid_prv, eid)`, the kid the device derives from the aid, and
//! the label it sent. All protocol work is the core's `authenticator` role.

use alloc::string::String;

use hem_auth_core::authenticator::{
    reply_to_pairing, Approval, AuthenticatorError, AuthenticatorPairing, Denial, Event,
    PairingReply, UnverifiedPairingRequest,
};
use hem_auth_core::codec;
use hem_auth_core::device::{kid_of, kid_to_hex};
use hem_auth_core::keys::{PublicKey, SecretKey, SharedSecret};
use hem_auth_core::{Access, Seconds, UnixTime};
use rand_core::CryptoRngCore;

/// A paired phone.
#[derive(Clone)]
pub struct Phone {
    /// What the authenticator role keeps: pid, eid and `aid_prv`.
    pub pairing: AuthenticatorPairing,
    /// The phone's secret for this pairing.
    pub aid_prv: SecretKey,
    /// `S1 = X25519(aid_prv, eid)`: the key of the phone's JWTs and of the sealed scopes.
    pub s1: SharedSecret,
    /// The kid the device gives this pairing (hex of the first 16 bytes of SHA-1(aid)).
    pub kid: String,
    /// The label the phone sent.
    pub label: String,
}

impl core::fmt::Debug for Phone {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Phone")
            .field("pid", &self.pid())
            .field("kid", &self.kid)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// A phone that answered a pairing request and waits for the broker's pid.
pub struct Answered {
    /// The reply (and the broker MAC) the phone sends.
    pub reply: PairingReply,
    aid_prv: SecretKey,
    eid: PublicKey,
    label: String,
}

impl Answered {
    /// The phone once the broker assigned `pid`.
    pub fn paired(self, pid: &str) -> Result<Phone, AuthenticatorError> {
        Phone::new(pid, self.eid, self.aid_prv, &self.label)
    }
}

impl Phone {
    /// A phone paired under `pid` with the device `eid`, holding `aid_prv`.
    pub fn new(
        pid: &str,
        eid: PublicKey,
        aid_prv: SecretKey,
        label: &str,
    ) -> Result<Self, AuthenticatorError> {
        let s1 = aid_prv.diffie_hellman(&eid)?;
        let kid = kid_to_hex(&kid_of(&aid_prv.public_key()));
        let pairing = AuthenticatorPairing::new(pid, eid, aid_prv.clone())?;
        Ok(Phone {
            pairing,
            aid_prv,
            s1,
            kid,
            label: String::from(label),
        })
    }

    /// The phone's answer to a pairing request: a fresh `aid_prv` from `rng`, and the reply
    /// signed with S1 and MACed for the broker (the core's [`reply_to_pairing`]).
    pub fn answer(
        request: &UnverifiedPairingRequest,
        label: &str,
        fid: &str,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Answered, AuthenticatorError> {
        Self::answer_with_key(request, label, fid, SecretKey::generate(rng))
    }

    /// [`Phone::answer`] with a given `aid_prv`: a fixed-key phone, for tests whose values
    /// must not depend on an RNG.
    pub fn answer_with_key(
        request: &UnverifiedPairingRequest,
        label: &str,
        fid: &str,
        aid_prv: SecretKey,
    ) -> Result<Answered, AuthenticatorError> {
        let reply = reply_to_pairing(&aid_prv, request, label, fid)?;
        Ok(Answered {
            reply,
            aid_prv,
            eid: *request.eid(),
            label: String::from(label),
        })
    }

    /// The pid, standard base64.
    pub fn pid(&self) -> &str {
        self.pairing.pid()
    }

    /// The pid's 32 bytes.
    pub fn pid_bytes(&self) -> [u8; 32] {
        // A pairing exists only for a pid that decodes (AuthenticatorPairing::new checks it).
        codec::decode_fixed::<32>(self.pid()).unwrap_or_default()
    }

    /// The kid's 16 bytes (the `sub` of the tokens the device issues for this phone).
    pub fn kid_bytes(&self) -> [u8; 16] {
        kid_of(&self.aid())
    }

    /// The phone's public key for this pairing.
    pub fn aid(&self) -> PublicKey {
        self.pairing.aid()
    }

    /// Opens `event` at `now` and approves it for `period`, with `access` for storage.
    pub fn approve(
        &self,
        event: &Event<'_>,
        now: UnixTime,
        period: Seconds,
        access: Access,
    ) -> Result<Approval, AuthenticatorError> {
        self.pairing
            .open_event(event, now)?
            .approve(now, period, access)
    }

    /// Opens `event` at `now` and denies it.
    pub fn deny(&self, event: &Event<'_>, now: UnixTime) -> Result<Denial, AuthenticatorError> {
        Ok(self.pairing.open_event(event, now)?.deny())
    }
}
