//! The three roles together on the chip, on simulated time: a port of
//! `crates/hem-auth-core/tests/harness.rs`. The device (`device`), the client with its broker
//! session (`broker`) and the phone (`authenticator`) exchange the exact bodies one role
//! produces and the next one reads; the notify broker in between is only a relay that assigns
//! pids and turns an authreq entry into the phone's event. The clock is fixed (it starts at
//! [`START`] and moves only when a step waits) and the randomness is ChaCha20 seeded from a
//! constant of the image, so every run is the same run.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Display;
use hem_auth_core::{Access, UnixTime};

use hem_auth_core::authenticator::{Event, UnverifiedPairingRequest, PERIODS};
use hem_auth_core::client::{self, LoginChallenge, UnverifiableAccessToken, VerifiedAuthreq};
use hem_auth_core::codec;
use hem_auth_core::device::kid_to_hex;
use hem_auth_core::device::{
    AuditEvent, AuditKind, Device, DeviceConfig, DeviceError, NoncePurpose, Outcome, Requirement,
    Roles, ScopePolicy, Subject, AUTHREQ_LIFETIME_SECS, AUTHREQ_USE_LIFETIME_SECS,
    KEY_TYPE_X25519_PUBLIC,
};
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::keys::SecretKey;
use hem_auth_core::messages::{self, CheckinRequest};
use hem_auth_core::scope::KeyHint;
use hem_auth_sim::Phone;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::Tally;

/// The simulated clock's start (the harness's).
pub const START: u64 = 1_784_767_764;
/// The seed of the flows' ChaCha20 (the harness's).
pub const SEED: u64 = 2024;

/// A step failed; the flow stops (its failure is already counted and printed).
pub struct Abort;

/// Adds context to any displayable error.
trait Ctx<T> {
    fn ctx(self, what: &str) -> Result<T, String>;
}

impl<T, E: Display> Ctx<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

impl<T> Ctx<T> for Option<T> {
    fn ctx(self, what: &str) -> Result<T, String> {
        self.ok_or_else(|| format!("{what}: none"))
    }
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)*) => {
        if !$cond {
            return Err(format!($($msg)*));
        }
    };
}

macro_rules! ensure_eq {
    ($got:expr, $want:expr, $what:expr) => {{
        let (got, want) = (&$got, &$want);
        if got != want {
            return Err(format!("{}: expected {:?}, got {:?}", $what, want, got));
        }
    }};
}

/// Runs the named steps of one flow, printing and counting each.
struct Steps<'t> {
    flow: &'static str,
    tally: &'t mut Tally,
}

impl Steps<'_> {
    fn run<T>(&mut self, step: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, Abort> {
        match f() {
            Ok(v) => {
                crate::println!("ok   flow {}: {step}", self.flow);
                self.tally.passed += 1;
                Ok(v)
            }
            Err(reason) => {
                crate::println!("FAIL flow {}: {step}: {reason}", self.flow);
                self.tally.failed += 1;
                Err(Abort)
            }
        }
    }
}

/// Everything in one place: the device, the user's key, the audit log and the clock.
struct World {
    device: Device,
    user: SecretKey,
    rng: ChaCha20Rng,
    now: u64,
    log: Vec<AuditEvent>,
}

impl World {
    fn new(policy: ScopePolicy) -> Result<Self, String> {
        let mut rng = ChaCha20Rng::seed_from_u64(SEED);
        let user = SecretKey::generate(&mut rng);
        let mut config = DeviceConfig::new(SecretKey::generate(&mut rng));
        config.user_key = Some(user.public_key());
        config.label = "Alice's HEM".into();
        config.scope_policy = policy;
        let device = Device::new(config, &mut rng);
        let mut world = World {
            device,
            user,
            rng,
            now: START,
            log: Vec::new(),
        };
        let clock = world.device.set_clock(UnixTime::from_secs(START));
        world.record(clock).ctx("set the clock")?;
        Ok(world)
    }

    fn wait(&mut self, secs: u64) {
        self.now += secs;
    }

    /// Records an outcome's audit events and returns its result, as an adapter would.
    fn record<T>(&mut self, outcome: Outcome<T>) -> Result<T, DeviceError> {
        let (result, events) = outcome.into_parts();
        self.log.extend(events);
        result
    }

    /// Password login: challenge, eJWT, token.
    fn login(&mut self, scope: &str) -> Result<UnverifiableAccessToken, String> {
        let challenge = self
            .device
            .auth_token_challenge(UnixTime::from_secs(self.now), &mut self.rng);
        let challenge = messages::to_json(&self.record(challenge).ctx("GET auth/token")?);
        let challenge = LoginChallenge::parse(challenge.as_bytes()).ctx("challenge")?;
        self.wait(1);
        let ejwt = client::build_login(
            &self.user,
            &challenge,
            scope,
            UnixTime::from_secs(self.now),
            UnixTime::from_secs(self.now + 3600),
            None,
        )
        .ctx("eJWT")?;
        let out = self.device.auth_token(
            client::login_body(&ejwt).as_bytes(),
            UnixTime::from_secs(self.now),
            &mut self.rng,
        );
        let response = messages::to_json(&self.record(out).ctx("POST auth/token")?);
        UnverifiableAccessToken::from_response(response.as_bytes()).ctx("token response")
    }

    /// Pairs a new phone: ext/init → QR → phone reply → (notify broker: pid) → ext/validate.
    fn pair(&mut self, token: &UnverifiableAccessToken, label: &str) -> Result<Phone, String> {
        let eid = *self.device.eid();
        let (init_body, state) = client::start_pairing(Some(eid), &mut self.rng);
        let out = self.device.ext_init(
            Some(token.token()),
            init_body.as_bytes(),
            UnixTime::from_secs(self.now),
            &mut self.rng,
        );
        let init = messages::to_json(&self.record(out).ctx("ext/init")?);
        let request = state
            .verify_init_response(init.as_bytes(), UnixTime::from_secs(self.now))
            .ctx("ext/init response")?;
        let _qr = request.qr_payload(
            "https://notify.example/register/challenge/r1",
            "alice",
            "alice@example.com",
            "hem",
        );
        // the phone scans, fetches the request, replies
        self.wait(5);
        let seen = UnverifiedPairingRequest::parse(request.request()).ctx("phone: request")?;
        let answered =
            Phone::answer(&seen, label, "fcm-token", &mut self.rng).ctx("phone: reply")?;
        let reply = &answered.reply;
        let mut pid = [0u8; 32];
        self.rng.fill_bytes(&mut pid);
        let pid = codec::encode_std(&pid);
        // the client polls register/check, gets {pid, reply}, and forwards it to the device
        self.wait(4);
        let body = state.validate_body(&pid, &reply.reply);
        let out = self.device.ext_validate(
            Some(token.token()),
            body.as_bytes(),
            UnixTime::from_secs(self.now),
        );
        let validated = messages::to_json(&self.record(out).ctx("ext/validate")?);
        let kid = state
            .verify_validate_response(&request.eid(), &reply.reply, validated.as_bytes())
            .ctx("ext/validate response")?;
        let phone = answered.paired(&pid).ctx("phone: pairing")?;
        ensure_eq!(phone.kid, kid, "the phone's kid");
        Ok(phone)
    }

    /// External-authenticator login approved by `phone`: ext/request → notify broker event →
    /// phone approval → ext/token. `Ok(Err(e))` is the device's refusal.
    fn ext_login(
        &mut self,
        phone: &Phone,
        scope: &str,
        writable: bool,
        check: impl FnOnce(&VerifiedAuthreq<'_>, &str) -> Result<(), String>,
    ) -> Result<Result<UnverifiableAccessToken, DeviceError>, String> {
        let (request_body, state) = client::start_ext_auth(
            scope,
            Some("harness"),
            None,
            Some(*self.device.eid()),
            &mut self.rng,
        )
        .ctx("start_ext_auth")?;
        let out = self.device.ext_request(
            request_body.as_bytes(),
            UnixTime::from_secs(self.now),
            &mut self.rng,
        );
        let response = match self.record(out) {
            Ok(r) => messages::to_json(&r),
            Err(e) => return Ok(Err(e)),
        };
        let authreq = state
            .authreq_from_response(response.as_bytes())
            .ctx("ext/request response")?;
        let untrusted = UntrustedJwt::parse(&authreq).ctx("authreq")?;
        let verified = state
            .verify_authreq(&untrusted, UnixTime::from_secs(self.now))
            .ctx("authreq")?;
        // the notify broker turns this phone's entry into its event
        let Some(entry) = verified.entry(phone.pairing.pid()) else {
            return Ok(Err(DeviceError::UnknownPairing));
        };
        let epk = state.epk().to_b64();
        let event = Event {
            jti: Cow::Borrowed(verified.jti()),
            scope: Cow::Borrowed(entry),
            epk: Cow::Borrowed(&epk),
            exp: verified.exp(),
        };
        self.wait(3);
        let opened = phone
            .pairing
            .open_event(&event, UnixTime::from_secs(self.now))
            .ctx("phone: open")?;
        check(&verified, opened.scope())?;
        self.wait(7);
        let approval = opened
            .approve(
                UnixTime::from_secs(self.now),
                PERIODS[0],
                Access::from_writable(writable),
            )
            .ctx("phone: approve")?;
        // the client polls event/check, gets {authreply}, and forwards it to the device
        self.wait(1);
        let out = self.device.ext_token(
            state.ext_token_body(&approval.authreply).as_bytes(),
            UnixTime::from_secs(self.now),
            &mut self.rng,
        );
        let token = match self.record(out) {
            Ok(t) => messages::to_json(&t),
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(state
            .finish(token.as_bytes())
            .ctx("ext/token response")?))
    }

    fn authorize(
        &mut self,
        token: &UnverifiableAccessToken,
        need: &Requirement<'_>,
    ) -> Result<Subject, DeviceError> {
        let out = self
            .device
            .authorize(Some(token.token()), need, UnixTime::from_secs(self.now));
        self.record(out).map(|a| a.subject)
    }
}

fn no_check(_: &VerifiedAuthreq<'_>, _: &str) -> Result<(), String> {
    Ok(())
}

/// `every_flow_on_simulated_time`: password login, two pairings, three external logins, the
/// bearer checks, expiry, unpairing and the audit log.
fn every_flow(tally: &mut Tally) -> Result<(), Abort> {
    let mut s = Steps {
        flow: "login+pairing+ext",
        tally,
    };
    let mut w = s.run("boot (fixed clock, seeded ChaCha20)", || {
        World::new(ScopePolicy::AsApproved)
    })?;
    let config = s.run("password login (system:config, sub U)", || {
        let t = w.login("system:config")?;
        ensure_eq!((t.sub(), t.scope()), ("U", "system:config"), "sub, scope");
        ensure_eq!(t.exp(), w.now + 3600, "exp");
        Ok(t)
    })?;
    let (alice, bob) = s.run("pairing two phones (ext/init, reply, ext/validate)", || {
        let alice = w.pair(&config, "Pixel 8 (Android)")?;
        let bob = w.pair(&config, "iPhone (iOS)")?;
        ensure_eq!(w.device.pairings().len(), 2, "pairings");
        ensure_eq!(w.device.pairings()[0].kid_hex(), alice.kid, "first kid");
        Ok((alice, bob))
    })?;
    let list = s.run("external login keymgmt:list, approved as requested", || {
        let list = w
            .ext_login(&alice, "keymgmt:list", false, |v, offered| {
                ensure_eq!(v.exp() - v.iat(), AUTHREQ_LIFETIME_SECS, "authreq lifetime");
                ensure_eq!(v.entries().count(), 2, "one sealed entry per pairing");
                ensure_eq!(v.ctx(), Some("harness"), "ctx");
                ensure_eq!(offered, "keymgmt:list", "offered scope");
                Ok(())
            })?
            .ctx("device")?;
        ensure_eq!(list.scope(), "keymgmt:list", "scope");
        let kid = list.sub_kid().map(|k| kid_to_hex(&k));
        ensure_eq!(kid, Some(alice.kid.clone()), "sub kid");
        ensure_eq!(
            list.exp(),
            w.now - 1 + PERIODS[0].get(),
            "the phone's exp, verbatim"
        );
        ensure_eq!(list.ctx(), Some("harness"), "ctx");
        Ok(list)
    })?;
    let disk = s.run(
        "external login storage:disk0, approved with write access",
        || {
            let disk = w
                .ext_login(&bob, "storage:disk0", true, no_check)?
                .ctx("device")?;
            ensure_eq!(disk.scope(), "storage:disk0:rw", "scope");
            Ok(disk)
        },
    )?;
    let use_scope = format!("keymgmt:use:{}", alice.kid);
    let crypto = s.run("external login keymgmt:use:<kid> with the key hint", || {
        let crypto = w
            .ext_login(&alice, &use_scope, false, |v, offered| {
                ensure_eq!(
                    v.exp() - v.iat(),
                    AUTHREQ_USE_LIFETIME_SECS,
                    "authreq lifetime"
                );
                let (base, hint) = offered.split_once('#').ctx("no #hint")?;
                ensure_eq!(base, use_scope.as_str(), "base scope");
                let hint = KeyHint::decode(hint).ctx("hint")?;
                ensure_eq!(
                    (hint.key_type(), hint.l.as_str()),
                    (Some(KEY_TYPE_X25519_PUBLIC), "Pixel 8 (Android)"),
                    "hint"
                );
                Ok(())
            })?
            .ctx("device")?;
        ensure_eq!(
            crypto.scope(),
            use_scope.as_str(),
            "the #… hint is not in the token"
        );
        Ok(crypto)
    })?;
    s.run(
        "bearer checks (authorize): scopes, exact match, roles",
        || {
            let ext = Subject::External {
                kid: list.sub_kid().ctx("kid")?,
            };
            ensure_eq!(
                w.authorize(
                    &list,
                    &Requirement::any_of(&["keymgmt:list"]).roles(Roles::NotMaster)
                ),
                Ok(ext),
                "list"
            );
            ensure_eq!(
                w.authorize(&disk, &Requirement::any_of(&["storage:disk0"]))
                    .map(|_| ()),
                Ok(()),
                "disk"
            );
            ensure_eq!(
                w.authorize(
                    &crypto,
                    &Requirement::exact(&use_scope).roles(Roles::NotMaster)
                ),
                Ok(ext),
                "crypto"
            );
            ensure_eq!(
                w.authorize(&crypto, &Requirement::exact("keymgmt:use:0")),
                Err(DeviceError::InsufficientScope),
                "other key"
            );
            ensure_eq!(
                w.authorize(&list, &Requirement::EXT_PAIRING),
                Err(DeviceError::WrongRole),
                "ext token on a user-only endpoint"
            );
            ensure_eq!(
                w.authorize(&config, &Requirement::EXT_PAIRING),
                Ok(Subject::User),
                "user token"
            );
            Ok(())
        },
    )?;
    s.run("bearer check after the phone's period: 401 expired", || {
        w.wait(PERIODS[0].get());
        ensure_eq!(
            w.authorize(&list, &Requirement::any_of(&["keymgmt:list"])),
            Err(DeviceError::TokenExpired),
            "expired"
        );
        Ok(())
    })?;
    s.run("unpairing a phone; it is no longer asked", || {
        let del = w.login("keymgmt:del")?;
        let out = w
            .device
            .unpair(Some(del.token()), &bob.kid, UnixTime::from_secs(w.now));
        let gone = w.record(out).ctx("unpair")?;
        ensure_eq!(
            (gone.kid.as_str(), gone.pid.as_str()),
            (bob.kid.as_str(), bob.pairing.pid()),
            "unpaired"
        );
        ensure_eq!(w.device.pairings().len(), 1, "pairings");
        ensure_eq!(
            w.ext_login(&bob, "keymgmt:list", false, no_check)?.err(),
            Some(DeviceError::UnknownPairing),
            "bob"
        );
        let again = w.ext_login(&alice, "keymgmt:list", false, |v, _| {
            ensure_eq!(v.entries().count(), 1, "entries");
            Ok(())
        })?;
        ensure!(again.is_ok(), "alice refused: {:?}", again.err());
        Ok(())
    })?;
    s.run("audit log, in order", || {
        let kinds: Vec<(u8, &str)> = w.log.iter().map(|e| (e.kind.code(), e.sub())).collect();
        let alice_sub = codec::encode_std(&list.sub_kid().ctx("kid")?);
        let bob_sub = codec::encode_std(&disk.sub_kid().ctx("kid")?);
        let want = [
            (19, ""),
            (13, "U"),
            (15, "U"),
            (15, "U"),
            (14, alice_sub.as_str()),
            (14, bob_sub.as_str()),
            (14, alice_sub.as_str()),
            (12, alice_sub.as_str()),
            (12, alice_sub.as_str()),
            (13, "U"),
            (14, alice_sub.as_str()),
        ];
        ensure_eq!(kinds.as_slice(), want.as_slice(), "audit (kind, sub)");
        Ok(())
    })?;
    Ok(())
}

/// `strict_policy_with_the_real_phone`: the phone's `:rw` rule under `RequestedOnly`.
fn strict_policy(tally: &mut Tally) -> Result<(), Abort> {
    let mut s = Steps {
        flow: "strict policy",
        tally,
    };
    s.run(
        "RequestedOnly tolerates only the storage :rw toggle",
        || {
            let mut w = World::new(ScopePolicy::RequestedOnly)?;
            let config = w.login("system:config")?;
            let phone = w.pair(&config, "phone")?;
            let scope =
                |r: Result<UnverifiableAccessToken, DeviceError>| -> Result<String, String> {
                    Ok(r.ctx("device")?.scope().into())
                };
            ensure_eq!(
                scope(w.ext_login(&phone, "storage:disk0", true, no_check)?)?,
                "storage:disk0:rw",
                "disk0 +rw"
            );
            ensure_eq!(
                scope(w.ext_login(&phone, "storage:disk1:rw", false, no_check)?)?,
                "storage:disk1",
                "disk1 -rw"
            );
            ensure_eq!(
                scope(w.ext_login(&phone, "keymgmt:list", false, no_check)?)?,
                "keymgmt:list",
                "list"
            );
            ensure_eq!(
                w.ext_login(&phone, "keymgmt:list", true, no_check)?.err(),
                Some(DeviceError::ScopeMismatch),
                "widened non-storage scope"
            );
            Ok(())
        },
    )?;
    s.run("AsApproved takes the widened scope", || {
        let mut w = World::new(ScopePolicy::AsApproved)?;
        let config = w.login("system:config")?;
        let phone = w.pair(&config, "phone")?;
        let t = w
            .ext_login(&phone, "keymgmt:list", true, no_check)?
            .ctx("device")?;
        ensure_eq!(t.scope(), "keymgmt:list:rw", "scope");
        Ok(())
    })?;
    Ok(())
}

/// `denial_and_reboot`: a denied request keeps its nonce pending; a reboot (snapshot as JSON)
/// kills the tokens and the clock, the check-in sets the clock, the pairing survives.
fn denial_and_reboot(tally: &mut Tally) -> Result<(), Abort> {
    let mut s = Steps {
        flow: "denial+reboot",
        tally,
    };
    let (mut w, phone, config) = s.run("login and pairing", || {
        let mut w = World::new(ScopePolicy::AsApproved)?;
        let config = w.login("system:config")?;
        let phone = w.pair(&config, "phone")?;
        Ok((w, phone, config))
    })?;
    s.run("the phone denies: the authreq nonce stays pending", || {
        let (body, state) = client::start_ext_auth(
            "keymgmt:list",
            None,
            None,
            Some(*w.device.eid()),
            &mut w.rng,
        )
        .ctx("start")?;
        let out = w
            .device
            .ext_request(body.as_bytes(), UnixTime::from_secs(w.now), &mut w.rng);
        let response = messages::to_json(&w.record(out).ctx("ext/request")?);
        let authreq = state
            .authreq_from_response(response.as_bytes())
            .ctx("response")?;
        let untrusted = UntrustedJwt::parse(&authreq).ctx("authreq")?;
        let verified = state
            .verify_authreq(&untrusted, UnixTime::from_secs(w.now))
            .ctx("authreq")?;
        let epk = state.epk().to_b64();
        let event = Event {
            jti: Cow::Borrowed(verified.jti()),
            scope: Cow::Borrowed(verified.entry(phone.pairing.pid()).ctx("entry")?),
            epk: Cow::Borrowed(&epk),
            exp: verified.exp(),
        };
        let denial = phone
            .pairing
            .open_event(&event, UnixTime::from_secs(w.now))
            .ctx("open")?
            .deny();
        ensure_eq!(denial.jti.as_str(), verified.jti(), "denial jti");
        let jti = verified.jti_nonce();
        ensure!(
            w.device.is_pending(
                NoncePurpose::Authreq,
                jti.as_bytes(),
                UnixTime::from_secs(w.now)
            ),
            "the nonce is no longer pending"
        );
        Ok(())
    })?;
    s.run("reboot from a JSON snapshot: tokens and clock die", || {
        let list = w
            .ext_login(&phone, "keymgmt:list", false, no_check)?
            .ctx("device")?;
        let saved = serde_json::to_string(&w.device.snapshot()).ctx("snapshot")?;
        let restored = serde_json::from_str(&saved).ctx("snapshot JSON")?;
        w.device = Device::restore(restored, &mut w.rng).ctx("restore")?;
        w.wait(30);
        ensure_eq!(
            w.authorize(&list, &Requirement::any_of(&["keymgmt:list"])),
            Err(DeviceError::InvalidToken),
            "old ext token"
        );
        ensure_eq!(
            w.authorize(&config, &Requirement::EXT_PAIRING),
            Err(DeviceError::InvalidToken),
            "old user token"
        );
        let (body, _) =
            client::start_ext_auth("keymgmt:list", None, None, None, &mut w.rng).ctx("start")?;
        let out = w
            .device
            .ext_request(body.as_bytes(), UnixTime::from_secs(w.now), &mut w.rng);
        ensure_eq!(
            w.record(out).err(),
            Some(DeviceError::RtcUnset),
            "RTC unset"
        );
        Ok(())
    })?;
    s.run(
        "check-in sets the clock; the pairing works without re-pairing",
        || {
            let backend = SecretKey::generate(&mut w.rng);
            let mut snapshot = w.device.snapshot();
            snapshot.config.backend_key = Some(backend.public_key());
            w.device = Device::restore(snapshot, &mut w.rng).ctx("restore")?;
            let out = w
                .device
                .checkin_challenge(UnixTime::from_secs(w.now), &mut w.rng);
            let check = w.record(out).ctx("checkin challenge")?.check.into_owned();
            let backend_time = w.now + 120;
            let checked = hem_auth_core::notify::answer_check(
                &backend,
                &check,
                UnixTime::from_secs(backend_time),
            )
            .ctx("backend")?;
            let body = messages::to_json(&CheckinRequest {
                checked: checked.into(),
            });
            let out = w
                .device
                .checkin(body.as_bytes(), UnixTime::from_secs(w.now));
            let done = w.record(out).ctx("checkin")?;
            ensure_eq!(done.time, backend_time, "time");
            ensure_eq!(
                w.log.last().map(|e| e.kind),
                Some(AuditKind::RtcSet),
                "last event"
            );
            w.now = done.time;
            let again = w
                .ext_login(&phone, "keymgmt:list", false, no_check)?
                .ctx("device")?;
            ensure_eq!(
                w.authorize(&again, &Requirement::any_of(&["keymgmt:list"]))
                    .map(|_| ()),
                Ok(()),
                "new token"
            );
            Ok(())
        },
    )?;
    Ok(())
}

/// Runs the three flows.
pub fn run(tally: &mut Tally) {
    let _ = every_flow(tally);
    let _ = strict_policy(tally);
    let _ = denial_and_reboot(tally);
}
