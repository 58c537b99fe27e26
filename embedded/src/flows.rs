//! The three roles together on the chip, on simulated time: a port of
//! `crates/hem-auth-core/tests/harness.rs`. The device (`device`), the client with its broker
//! session (`client`) and the phone (`authenticator`) exchange the exact bodies one role
//! produces and the next one reads; the notify broker in between is only a relay that assigns
//! pids and turns an authreq entry into the phone's event. The world is the host tests' own
//! (`hem_auth_sim::World`, every device call through `Device::handle`): the clock is fixed (it
//! starts at `hem_auth_sim::START` and moves only when a step waits) and the randomness is
//! ChaCha20 seeded from [`SEED`], so every run is the same run.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Display;
use hem_auth_core::Access;

use hem_auth_core::authenticator::{Event, PERIODS};
use hem_auth_core::client::{self, UnverifiableAccessToken, VerifiedAuthreq};
use hem_auth_core::codec;
use hem_auth_core::device::kid_to_hex;
use hem_auth_core::device::{
    AuditKind, Device, DeviceError, NoncePurpose, Requirement, Roles, ScopePolicy, Subject,
    AUTHREQ_LIFETIME_SECS, AUTHREQ_USE_LIFETIME_SECS, KEY_TYPE_X25519_PUBLIC,
};
use hem_auth_core::http::Method;
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::messages::{self, CheckinRequest};
use hem_auth_core::scope::KeyHint;
use hem_auth_sim::{Phone, SimError, World, EXT_LOGIN_CTX};

use crate::Tally;

/// The seed of the flows' world (the harness's).
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

/// The flows' world (`hem_auth_sim::World`, as `crates/hem-auth-core/tests/harness.rs` makes
/// it): seed [`SEED`], `policy`, no master or backend key, the clock set.
fn world(policy: ScopePolicy) -> World {
    let mut w = World::with(SEED, |config| {
        config.scope_policy = policy;
        config.master_key = None;
        config.backend_key = None;
    });
    w.set_clock();
    w
}

/// [`World::ext_login`] with a `check` that may fail: `Ok(Err(e))` is a refusal (of the
/// device, the relay or the phone), `Err` a failed check.
fn ext_login(
    w: &mut World,
    phone: &Phone,
    scope: &str,
    writable: bool,
    check: impl FnOnce(&VerifiedAuthreq<'_>, &str) -> Result<(), String>,
) -> Result<Result<UnverifiableAccessToken, SimError>, String> {
    let mut checked = Ok(());
    let out = w.ext_login(
        phone,
        scope,
        Access::from_writable(writable),
        |v, offered| {
            checked = check(v, offered);
        },
    );
    checked?;
    Ok(out)
}

/// The device's status for `e`, as a refusal over HTTP reports it.
fn refused(e: DeviceError) -> Option<u16> {
    Some(e.status())
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
        Ok(world(ScopePolicy::AsApproved))
    })?;
    let config = s.run("password login (system:config, sub U)", || {
        let t = w.login("system:config").ctx("login")?;
        ensure_eq!((t.sub(), t.scope()), ("U", "system:config"), "sub, scope");
        ensure_eq!(t.exp().as_secs(), w.now + 3600, "exp");
        Ok(t)
    })?;
    let (alice, bob) = s.run("pairing two phones (ext/init, reply, ext/validate)", || {
        let alice = w.pair(&config, "Pixel 8 (Android)").ctx("alice")?;
        let bob = w.pair(&config, "iPhone (iOS)").ctx("bob")?;
        ensure_eq!(w.device.pairings().len(), 2, "pairings");
        ensure_eq!(w.device.pairings()[0].kid_hex(), alice.kid, "first kid");
        Ok((alice, bob))
    })?;
    let list = s.run("external login keymgmt:list, approved as requested", || {
        let list = ext_login(&mut w, &alice, "keymgmt:list", false, |v, offered| {
            ensure_eq!(
                v.exp().since(v.iat()).get(),
                AUTHREQ_LIFETIME_SECS,
                "authreq lifetime"
            );
            ensure_eq!(v.entries().count(), 2, "one sealed entry per pairing");
            ensure_eq!(v.ctx(), Some(EXT_LOGIN_CTX), "ctx");
            ensure_eq!(offered, "keymgmt:list", "offered scope");
            Ok(())
        })?
        .ctx("device")?;
        ensure_eq!(list.scope(), "keymgmt:list", "scope");
        let kid = list.sub_kid().map(|k| kid_to_hex(&k));
        ensure_eq!(kid, Some(alice.kid.clone()), "sub kid");
        ensure_eq!(
            list.exp().as_secs(),
            w.now - 1 + PERIODS[0].get(),
            "the phone's exp, verbatim"
        );
        ensure_eq!(list.ctx(), Some(EXT_LOGIN_CTX), "ctx");
        Ok(list)
    })?;
    let disk = s.run(
        "external login storage:disk0, approved with write access",
        || {
            let disk = ext_login(&mut w, &bob, "storage:disk0", true, no_check)?.ctx("device")?;
            ensure_eq!(disk.scope(), "storage:disk0:rw", "scope");
            Ok(disk)
        },
    )?;
    let use_scope = format!("keymgmt:use:{}", alice.kid);
    let crypto = s.run("external login keymgmt:use:<kid> with the key hint", || {
        let crypto = ext_login(&mut w, &alice, &use_scope, false, |v, offered| {
            ensure_eq!(
                v.exp().since(v.iat()).get(),
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
        w.advance(PERIODS[0].get());
        ensure_eq!(
            w.authorize(&list, &Requirement::any_of(&["keymgmt:list"])),
            Err(DeviceError::TokenExpired),
            "expired"
        );
        Ok(())
    })?;
    s.run("unpairing a phone; it is no longer asked", || {
        let del = w.login("keymgmt:del").ctx("login")?;
        let out = w.device.unpair(Some(del.token()), &bob.kid, w.time());
        let gone = w.record(out).ctx("unpair")?;
        ensure_eq!(
            (gone.kid.as_str(), gone.pid.as_str()),
            (bob.kid.as_str(), bob.pairing.pid()),
            "unpaired"
        );
        ensure_eq!(w.device.pairings().len(), 1, "pairings");
        ensure_eq!(
            ext_login(&mut w, &bob, "keymgmt:list", false, no_check)?.err(),
            Some(SimError::Device(DeviceError::UnknownPairing)),
            "bob"
        );
        let again = ext_login(&mut w, &alice, "keymgmt:list", false, |v, _| {
            ensure_eq!(v.entries().count(), 1, "entries");
            Ok(())
        })?;
        ensure!(again.is_ok(), "alice refused: {:?}", again.err());
        Ok(())
    })?;
    s.run("audit log, in order", || {
        // the lines of the failed scope checks' window too (spec §11.3)
        w.flush_audit();
        let kinds: Vec<(u8, &str)> = w
            .log
            .iter()
            .filter_map(|l| Some((l.kind?.code(), l.subject()?)))
            .collect();
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
            let mut w = world(ScopePolicy::RequestedOnly);
            let config = w.login("system:config").ctx("login")?;
            let phone = w.pair(&config, "phone").ctx("pairing")?;
            let scope = |r: Result<UnverifiableAccessToken, SimError>| -> Result<String, String> {
                Ok(r.ctx("device")?.scope().into())
            };
            ensure_eq!(
                scope(ext_login(&mut w, &phone, "storage:disk0", true, no_check)?)?,
                "storage:disk0:rw",
                "disk0 +rw"
            );
            ensure_eq!(
                scope(ext_login(
                    &mut w,
                    &phone,
                    "storage:disk1:rw",
                    false,
                    no_check
                )?)?,
                "storage:disk1",
                "disk1 -rw"
            );
            ensure_eq!(
                scope(ext_login(&mut w, &phone, "keymgmt:list", false, no_check)?)?,
                "keymgmt:list",
                "list"
            );
            ensure_eq!(
                ext_login(&mut w, &phone, "keymgmt:list", true, no_check)?
                    .err()
                    .and_then(|e| e.device_status()),
                refused(DeviceError::ScopeMismatch),
                "widened non-storage scope"
            );
            Ok(())
        },
    )?;
    s.run("AsApproved takes the widened scope", || {
        let mut w = world(ScopePolicy::AsApproved);
        let config = w.login("system:config").ctx("login")?;
        let phone = w.pair(&config, "phone").ctx("pairing")?;
        let t = ext_login(&mut w, &phone, "keymgmt:list", true, no_check)?.ctx("device")?;
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
        let mut w = world(ScopePolicy::AsApproved);
        let config = w.login("system:config").ctx("login")?;
        let phone = w.pair(&config, "phone").ctx("pairing")?;
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
        let response = w
            .device_json(Method::Post, "/api/auth/ext/request", None, body.as_bytes())
            .ctx("ext/request")?;
        let authreq = state
            .authreq_from_response(response.as_bytes())
            .ctx("response")?;
        let untrusted = UntrustedJwt::parse(&authreq).ctx("authreq")?;
        let verified = state.verify_authreq(&untrusted, w.time()).ctx("authreq")?;
        let epk = state.epk().to_b64();
        let event = Event {
            jti: Cow::Borrowed(verified.jti()),
            scope: Cow::Borrowed(verified.entry(phone.pid()).ctx("entry")?),
            epk: Cow::Borrowed(&epk),
            exp: verified.exp().as_secs(),
        };
        let denial = phone
            .pairing
            .open_event(&event, w.time())
            .ctx("open")?
            .deny();
        ensure_eq!(denial.jti.as_str(), verified.jti(), "denial jti");
        let jti = verified.jti_nonce();
        ensure!(
            w.device
                .is_pending(NoncePurpose::Authreq, jti.as_bytes(), w.time()),
            "the nonce is no longer pending"
        );
        Ok(())
    })?;
    s.run("reboot from a JSON snapshot: tokens and clock die", || {
        let list = ext_login(&mut w, &phone, "keymgmt:list", false, no_check)?.ctx("device")?;
        let saved = serde_json::to_string(&w.device.snapshot()).ctx("snapshot")?;
        let restored = serde_json::from_str(&saved).ctx("snapshot JSON")?;
        w.device = Device::restore(restored, &mut w.rng).ctx("restore")?;
        w.advance(30);
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
        let out = w.device.ext_request(body.as_bytes(), w.time(), &mut w.rng);
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
            let mut snapshot = w.device.snapshot();
            snapshot.config.backend_key = Some(w.backend.public_key());
            w.device = Device::restore(snapshot, &mut w.rng).ctx("restore")?;
            let out = w.device.checkin_challenge(w.time(), &mut w.rng);
            let check = w.record(out).ctx("checkin challenge")?.check.into_owned();
            let backend_time = w.now + 120;
            let checked = hem_auth_core::notify::answer_check(
                &w.backend,
                &check,
                hem_auth_core::UnixTime::from_secs(backend_time),
            )
            .ctx("backend")?;
            let body = messages::to_json(&CheckinRequest {
                checked: checked.into(),
            });
            w.device_json(Method::Post, "/api/system/checkin", None, body.as_bytes())
                .ctx("checkin")?;
            ensure_eq!(w.now, backend_time, "time (the clock follows the device's)");
            ensure_eq!(
                w.log.last().and_then(|l| l.kind),
                Some(AuditKind::RtcSet),
                "last event"
            );
            let again =
                ext_login(&mut w, &phone, "keymgmt:list", false, no_check)?.ctx("device")?;
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
