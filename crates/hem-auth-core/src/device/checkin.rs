//! Check-in with the emulated backend, and the emulator's explicit set-clock (spec §9.4,
//! §9.5).

use crate::time::UnixTime;
use alloc::borrow::Cow;
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

use super::{
    claims_error, parse_body, parse_jwt, verify_error, Accepted, AuditEvent, AuditKind,
    AuditResult, Device, DeviceError, NoncePurpose, Outcome,
};
use crate::codec;
use crate::jwt::{HeaderPolicy, UntrustedJwt};
use crate::keys::{PublicKey, SharedSecret};
use crate::messages::{CheckinChallenge, CheckinRequest, CheckinResponse};
use crate::msg::checkin::{self, CheckClaims};

/// How long a `check` nonce is accepted. No source gives the firmware's value; the Manager
/// answers within seconds, so five minutes is ample.
pub const CHECKIN_LIFETIME_SECS: u64 = 300;

/// What a successful check-in produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckinOutcome {
    /// The response body.
    pub response: CheckinResponse<'static>,
    /// The time the RTC was set to (`checked.iat`); the adapter's clock follows it.
    pub time: UnixTime,
}

impl Device {
    /// X25519(spk_prv, backend): the key of `check` and `checked`.
    fn backend_secret(&self) -> Result<(PublicKey, SharedSecret), DeviceError> {
        let backend = self.config.backend_key.ok_or(DeviceError::NoBackend)?;
        let key = self
            .session
            .diffie_hellman(&backend)
            .map_err(|_| DeviceError::NoBackend)?;
        Ok((backend, key))
    }

    /// `GET /api/system/checkin` → `{"check": JWT}`: device header, claims `jti, iss (spk),
    /// qid, aud (backend key), fws, bls, uis, csn`, keyed X25519(spk_prv, backend). 409 when
    /// no backend key is configured.
    ///
    /// The emulator has no firmware to measure: `fws` and `bls` are 64 zero bytes, `uis` 32
    /// zero bytes, `csn` the first 16 bytes of SHA-256(eid), and `qid` is random per check.
    pub fn checkin_challenge(
        &mut self,
        now: UnixTime,
        rng: &mut impl CryptoRngCore,
    ) -> Outcome<CheckinChallenge<'static>> {
        let (backend, key) = match self.backend_secret() {
            Ok(k) => k,
            Err(e) => return Outcome::err(e),
        };
        let jti = self.issue_nonce(
            NoncePurpose::Checkin,
            CHECKIN_LIFETIME_SECS,
            None,
            None,
            now,
            rng,
        );
        let mut qid = [0u8; 32];
        rng.fill_bytes(&mut qid);
        let serial = Sha256::digest(self.eid.as_bytes());
        let claims = CheckClaims {
            jti: Cow::Owned(jti.to_b64()),
            iss: Cow::Borrowed(&self.spk_b64),
            qid: Cow::Owned(codec::encode_std(&qid)),
            aud: Cow::Owned(backend.to_b64()),
            fws: Cow::Owned(codec::encode_std(&[0u8; 64])),
            bls: Cow::Owned(codec::encode_std(&[0u8; 64])),
            uis: Cow::Owned(codec::encode_std(&[0u8; 32])),
            csn: Cow::Owned(codec::encode_std(serial.get(..16).unwrap_or_default())),
        };
        let check = checkin::build_check(&claims, key.as_bytes());
        Outcome::ok(CheckinChallenge {
            check: Cow::Owned(check),
        })
    }

    /// `POST /api/system/checkin {"checked": JWT}` → `{"status": …}`; sets the RTC to
    /// `checked.iat` and emits `RTC_SET`.
    ///
    /// Checks: 409 no backend; 413; 400 body, JWT shape, claims; 401 `iss` not the backend
    /// key, header policy, bad MAC, `aud` not the spk, `jti` not a pending check nonce; 503
    /// the consumed-nonce set full (spec §4.3).
    pub fn checkin(&mut self, body: &[u8], now: UnixTime) -> Outcome<CheckinOutcome> {
        let (nonce, time, status) = match self.check_checkin(body, now) {
            Ok(c) => c,
            Err(e) => return Outcome::err(e),
        };
        self.nonces.consume(&nonce, now);
        self.rtc_set = true;
        Outcome::ok_with(
            CheckinOutcome {
                response: CheckinResponse {
                    status: Cow::Owned(status),
                },
                time: UnixTime::from_secs(time),
            },
            rtc_event(time),
        )
    }

    fn check_checkin(
        &self,
        body: &[u8],
        now: UnixTime,
    ) -> Result<(Accepted, u64, alloc::string::String), DeviceError> {
        let (backend, key) = self.backend_secret()?;
        let req: CheckinRequest<'_> = parse_body(body)?;
        let mut jwt = UntrustedJwt::empty();
        parse_jwt(&req.checked, &mut jwt)?;
        // Read once; `iss` alone is looked at before the MAC.
        let untrusted = checkin::read_checked(&jwt).map_err(claims_error)?;
        match PublicKey::from_b64(&untrusted.dangerous_unverified().iss) {
            Ok(iss) if iss == backend => {}
            _ => return Err(DeviceError::UnknownIssuer),
        }
        let verified = untrusted
            .verify(key.as_bytes(), HeaderPolicy::Ecdh)
            .map_err(verify_error)?;
        let claims = verified.claims();
        match PublicKey::from_b64(&claims.aud) {
            Ok(aud) if aud == self.spk => {}
            _ => return Err(DeviceError::AudienceMismatch),
        }
        let nonce = self.accept_nonce(NoncePurpose::Checkin, &claims.jti, now)?;
        self.nonce_room(&nonce, now)?;
        Ok((
            nonce,
            claims.iat,
            alloc::string::String::from(claims.status.as_ref()),
        ))
    }

    /// The emulator's explicit set-clock: marks the RTC set at `time` and emits `RTC_SET`.
    pub fn set_clock(&mut self, time: UnixTime) -> Outcome<()> {
        self.rtc_set = true;
        Outcome::ok_with((), rtc_event(time.as_secs()))
    }
}

fn rtc_event(time: u64) -> AuditEvent {
    use core::fmt::Write;
    // A u64 has at most 20 decimal digits.
    let mut data = arrayvec::ArrayString::<20>::new();
    let _ = write!(data, "{time}");
    AuditEvent::new(time, AuditKind::RtcSet, AuditResult::Ok, "", &data)
}
