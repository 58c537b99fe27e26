//! Pairing endpoints: `ext/init`, `ext/validate`, `ext/mac` (spec §6.2, §6.5, §6.8) and
//! unpairing by kid.

use crate::time::{Seconds, UnixTime};
use alloc::borrow::Cow;
use alloc::string::String;
use rand_core::CryptoRngCore;

use super::pairing::{kid_from_hex, Pairing};
use super::{
    claims_error, parse_body, parse_jwt, verify_error, Accepted, AuditEvent, AuditKind,
    AuditResult, Denial, Device, DeviceError, Malformed, NoncePurpose, Outcome, Requirement,
};
use crate::claims::MAX_PAIRINGS;
use crate::codec;
use crate::jwt::{HeaderPolicy, UntrustedJwt};
use crate::keys::{PublicKey, SharedSecret};
use crate::messages::{
    EpkRequest, ExtInitResponse, ExtMacResponse, ExtValidateRequest, ExtValidateResponse,
};
use crate::msg;
use crate::nonce::TimeNonce;

/// Lifetime of a pairing request: `exp` = now + 86 400 (spec §6.2, §4.4).
pub const PAIRING_REQUEST_LIFETIME_SECS: u64 = 86_400;

/// What [`Device::unpair`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unpaired {
    /// The pairing id (standard base64), for telling the broker.
    pub pid: String,
    /// The kid (32 lowercase hex).
    pub kid: String,
    /// The key label.
    pub label: String,
}

impl Device {
    /// `POST /api/auth/ext/init {epk}` (bearer: `auth:ext:pair` or `system:config`, `U` only)
    /// → `{request, eid}`.
    ///
    /// The request JWT (device header, claims `jti, exp, aud, iss`, no `iat`) is keyed with
    /// X25519(eid_prv, epk); its `jti` is a pairing nonce accepted for 24 h (spec §4.3: its
    /// tag proves it; nothing is stored).
    pub fn ext_init(
        &mut self,
        bearer: Option<&str>,
        body: &[u8],
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Outcome<ExtInitResponse<'static>> {
        let (epk, key) = match self.check_epk_request(bearer, body, now) {
            Ok(k) => k,
            Err(d) => return Outcome::denied(d),
        };
        let exp = now + Seconds::new(PAIRING_REQUEST_LIFETIME_SECS);
        let jti = self.issue_nonce(
            NoncePurpose::Pairing,
            PAIRING_REQUEST_LIFETIME_SECS,
            None,
            None,
            now,
            rng,
        );
        let request =
            msg::pairing_request::build(&jti.to_b64(), exp, &epk.to_b64(), &self.eid_b64, &key);
        Outcome::ok(ExtInitResponse {
            request: Cow::Owned(request),
            eid: Cow::Owned(self.eid_b64.clone()),
        })
    }

    /// `POST /api/auth/ext/mac {epk}` (same bearer rules) → `{nonce, mac, eid}` with
    /// `mac = HMAC-SHA256(X25519(eid_prv, epk), nonce)`. Stateless.
    pub fn ext_mac(
        &self,
        bearer: Option<&str>,
        body: &[u8],
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Outcome<ExtMacResponse<'static>> {
        let (_, key) = match self.check_epk_request(bearer, body, now) {
            Ok(k) => k,
            Err(d) => return Outcome::denied(d),
        };
        let nonce = TimeNonce::generate(now, rng);
        let mac = crate::mac::mac(key.as_bytes(), nonce.as_bytes());
        Outcome::ok(ExtMacResponse {
            nonce: Cow::Owned(nonce.to_b64()),
            mac: Cow::Owned(codec::encode_std(&mac)),
            eid: Cow::Owned(self.eid_b64.clone()),
        })
    }

    /// Bearer, then an `{epk}` body: 401/403, 413, 400 (the `epk` not a canonical key,
    /// low-order, or the eid, spk or a paired aid: spec §2.5, §6.2, §6.8).
    fn check_epk_request(
        &self,
        bearer: Option<&str>,
        body: &[u8],
        now: UnixTime,
    ) -> Result<(PublicKey, SharedSecret), Denial<'static>> {
        self.check_bearer(bearer, &Requirement::EXT_PAIRING, now)?;
        let req: EpkRequest<'_> = parse_body(body)?;
        Ok(self.session_epk_secret(&req.epk)?)
    }

    /// `POST /api/auth/ext/validate {pid, reply}` (same bearer rules) → `{kid, code}`: pairs
    /// the authenticator whose reply this is.
    ///
    /// Checks after the bearer: 413; 400 body, reply JWT shape or claims, pid not 32 bytes,
    /// `label` not 1–32 printable ASCII, `epk` or `iss` not a canonical 32-byte key or
    /// low-order (spec §2.5); 406 eight pairings
    /// already, aid already paired, pid already in use; 401 header policy, bad MAC (keyed
    /// X25519(eid_prv, aid)), `jti` not a pending pairing nonce; 503 the consumed-nonce set
    /// full (spec §4.3). `reply.epk` need not be the
    /// `ext/init` epk (spec §6.5, §6.7). `code = HMAC-SHA256(X25519(eid_prv, reply.epk), reply)`.
    pub fn ext_validate(
        &mut self,
        bearer: Option<&str>,
        body: &[u8],
        now: UnixTime,
    ) -> Outcome<ExtValidateResponse<'static>> {
        let (accepted, authorized_sub) = match self.check_ext_validate(bearer, body, now) {
            Ok(a) => a,
            Err(d) => return Outcome::denied(d),
        };
        self.nonces.consume(&accepted.nonce, now);
        let kid = accepted.pairing.kid_hex();
        self.pairings.push(accepted.pairing);
        let event = AuditEvent::new(
            now.as_secs(),
            AuditKind::AuthPairedExternal,
            AuditResult::Ok,
            &authorized_sub,
            &kid,
        );
        Outcome::ok_with(
            ExtValidateResponse {
                kid: Cow::Owned(kid),
                code: Cow::Owned(codec::encode_std(&accepted.code)),
            },
            event,
        )
    }

    fn check_ext_validate(
        &self,
        bearer: Option<&str>,
        body: &[u8],
        now: UnixTime,
    ) -> Result<(AcceptedReply, String), Denial<'static>> {
        let authorized = self.check_bearer(bearer, &Requirement::EXT_PAIRING, now)?;
        let req: ExtValidateRequest<'_> = parse_body(body)?;
        let pid: [u8; 32] = codec::decode_fixed(&req.pid).map_err(|_| Malformed::Pid)?;
        let mut jwt = UntrustedJwt::empty();
        parse_jwt(&req.reply, &mut jwt)?;
        // The claims are read once, here; until the MAC is checked they serve only the label's
        // shape and the key lookups (400/406/409 before 401, as the firmware).
        let untrusted = msg::pairing_reply::read(&jwt).map_err(claims_error)?;
        let lookup = untrusted.dangerous_unverified();
        if !msg::pairing_reply::is_valid_label(&lookup.label) {
            return Err(Malformed::Label.into());
        }
        let (_, code_key) = self.epk_secret(&lookup.epk)?;
        // Canonical and not low-order (spec §2.5), so that one phone key is one byte string:
        // the duplicate check below then compares keys, not spellings.
        let aid = PublicKey::from_b64(&lookup.iss).map_err(|_| Malformed::Key)?;

        if self.pairings.len() >= MAX_PAIRINGS {
            return Err(DeviceError::TooManyPairings.into());
        }
        if self.pairings.iter().any(|p| *p.aid() == aid) {
            return Err(DeviceError::DuplicateAid.into());
        }
        if self.pairing_by_pid(&pid).is_some() {
            return Err(DeviceError::DuplicatePid.into());
        }

        // A low-order aid was refused above; the check of the result stays as a second line.
        let s1 = self
            .config
            .identity
            .diffie_hellman(&aid)
            .map_err(|_| Malformed::Key)?;
        // Everything below reads the claims out of the value the MAC check returns.
        let verified = untrusted
            .verify(s1.as_bytes(), HeaderPolicy::Ecdh)
            .map_err(verify_error)?;
        let claims = verified.claims();
        let nonce = self.accept_nonce(NoncePurpose::Pairing, &claims.jti, now)?;
        let code = crate::mac::mac(code_key.as_bytes(), req.reply.as_bytes());
        let pairing = Pairing::with_secret(pid, aid, String::from(claims.label.as_ref()), s1);
        self.nonce_room(&nonce, now)?;
        Ok((
            AcceptedReply {
                nonce,
                pairing,
                code,
            },
            authorized.subject.to_sub(),
        ))
    }

    /// `DELETE /api/keymgmt/delete/{kid}` for a pairing key (bearer `keymgmt:del`, master
    /// denied): removes the pairing. 400 when `kid` is not 32 lowercase hex, 404 when no
    /// pairing has it. Access tokens the authenticator approved stay valid until they expire,
    /// as the firmware does not track them.
    pub fn unpair(&mut self, bearer: Option<&str>, kid: &str, now: UnixTime) -> Outcome<Unpaired> {
        let index = match self.check_unpair(bearer, kid, now) {
            Ok(i) => i,
            Err(d) => return Outcome::denied(d),
        };
        let removed = self.pairings.remove(index);
        Outcome::ok(Unpaired {
            pid: String::from(removed.pid_b64()),
            kid: removed.kid_hex(),
            label: String::from(removed.label()),
        })
    }

    fn check_unpair(
        &self,
        bearer: Option<&str>,
        kid: &str,
        now: UnixTime,
    ) -> Result<usize, Denial<'static>> {
        self.check_bearer(bearer, &Requirement::KEY_DELETE, now)?;
        let kid = kid_from_hex(kid).ok_or(Malformed::Kid)?;
        Ok(self
            .pairings
            .iter()
            .position(|p| *p.kid() == kid)
            .ok_or(DeviceError::UnknownKey)?)
    }
}

/// A pairing reply that passed every check.
struct AcceptedReply {
    nonce: Accepted,
    pairing: Pairing,
    code: [u8; 32],
}
