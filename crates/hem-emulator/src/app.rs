//! The emulated device and what surrounds it: clock, audit log, state directory, faults.
//!
//! One mutex guards it all; device operations take microseconds (a Diffie-Hellman at most),
//! and writing the state under the same lock keeps the files in the order of the changes.
//! What a request changes comes back from the core as [`Effect`]s, applied here.

use hem_auth_core::UnixTime;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use hem_auth_core::client::derive_user_key;
use hem_auth_core::device::{
    AuditChain, AuditKey, AuditLine, Device, DeviceConfig, DeviceSnapshot, Effect, Response,
};
use hem_auth_core::keys::{PublicKey, SecretKey};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::audit::{AuditLog, LogReader};
use crate::clock::{system_now, Clock};
use crate::store::Store;
use crate::{EmulatorConfig, EmulatorError, Faults};

/// What the handlers share.
pub(crate) struct App {
    state: Mutex<State>,
    pub(crate) faults: Faults,
    eid: PublicKey,
    booted: Instant,
}

/// The device and everything that changes with it.
pub(crate) struct State {
    pub(crate) device: Device,
    pub(crate) clock: Clock,
    pub(crate) log: AuditLog,
    store: Option<Store>,
    logger_key: Zeroizing<[u8; 32]>,
}

impl App {
    /// Boots the device: restores the state directory `store` (or creates an identity),
    /// applies the configuration (with `backend`, the emulated broker's check-in key, in place
    /// of `config.backend_key`), saves, opens the audit log and, unless `rtc_unset`, sets the
    /// clock.
    pub(crate) fn boot(
        config: &EmulatorConfig,
        store: Option<Store>,
        backend: Option<PublicKey>,
    ) -> Result<Self, EmulatorError> {
        let saved = match &store {
            Some(s) => s.load()?,
            None => None,
        };
        let (mut snapshot, logger_key) = match saved {
            Some(saved) => saved,
            None => {
                let mut key = Zeroizing::new([0u8; 32]);
                OsRng.fill_bytes(&mut *key);
                let identity = SecretKey::generate(&mut OsRng);
                (DeviceSnapshot::new(DeviceConfig::new(identity)), key)
            }
        };
        configure(&mut snapshot.config, config);
        if backend.is_some() {
            snapshot.config.backend_key = backend;
        }
        let mut device =
            Device::restore(snapshot, &mut OsRng).map_err(|e| EmulatorError::State {
                path: config.state_dir.clone().unwrap_or_default(),
                detail: format!("saved device does not restore: {e}"),
            })?;
        let now = system_now();
        let key = AuditKey::new(logger_key.clone());
        let log = match &store {
            Some(s) => AuditLog::open(s, &key, now)?,
            None => AuditLog::new(&key, now),
        };
        device.set_audit_chain(AuditChain::new(key, log.next_counter()));
        device.set_faults(config.faults);
        let eid = *device.eid();
        let mut state = State {
            device,
            clock: Clock::default(),
            log,
            store,
            logger_key,
        };
        if let Some(store) = &state.store {
            store
                .save(&state.device.snapshot(), &state.logger_key)
                .map_err(|e| EmulatorError::io(format!("saving {}", store.dir().display()), e))?;
        }
        if !config.rtc_unset {
            let (result, events) = state
                .device
                .set_clock(UnixTime::from_secs(now))
                .into_parts();
            let lines = state
                .device
                .audit_lines(&events, UnixTime::from_secs(now), &mut OsRng);
            state.store_lines(lines);
            result.map_err(|e| EmulatorError::Config(e.to_string()))?;
        }
        Ok(App {
            state: Mutex::new(state),
            faults: config.faults,
            eid,
            booted: Instant::now(),
        })
    }

    /// The device, locked. A panic while locked cannot leave the device half-changed (its
    /// operations check everything before they commit), so a poisoned lock is used as is.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The identity key.
    pub(crate) fn eid(&self) -> PublicKey {
        self.eid
    }

    /// Seconds since boot.
    pub(crate) fn uptime(&self) -> u64 {
        self.booted.elapsed().as_secs()
    }
}

impl State {
    /// Does what a response asks, in order: stores its audit lines, saves the device, sets
    /// the clock. Returns the page a `logger/list` answer is to be completed from (read it
    /// without the lock).
    pub(crate) fn apply(&mut self, response: &mut Response) -> Option<(LogReader, u64, usize)> {
        let mut read = None;
        for effect in response.effects.drain(..) {
            match effect {
                Effect::Audit(line) => self.log.store(line),
                Effect::StateChanged => self.save(),
                Effect::ClockSet(time) => self.clock.set(time),
                Effect::ReadLog { from, count } => read = Some((self.log.reader(), from, count)),
                // A newer core's follow-up this adapter does not know: nothing to do.
                _ => {}
            }
        }
        read
    }

    fn store_lines(&mut self, lines: Vec<AuditLine>) {
        for line in lines {
            self.log.store(line);
        }
    }

    /// Saves the device after a change of its persistent state (a pairing made or removed).
    /// A failure is reported on stderr; the device goes on, as one whose flash write failed
    /// would have to.
    pub(crate) fn save(&self) {
        if let Some(store) = &self.store {
            if let Err(e) = store.save(&self.device.snapshot(), &self.logger_key) {
                eprintln!(
                    "hem-emulator: state not saved to {}: {e}",
                    store.dir().display()
                );
            }
        }
    }
}

impl Drop for State {
    /// Stores what the open failed-scope windows counted (spec §11.3) before the log stops.
    fn drop(&mut self) {
        let lines = self.device.flush_audit();
        self.store_lines(lines);
    }
}

/// Applies the start configuration to a (new or restored) device configuration: keys given
/// replace saved ones, keys not given keep them; label and policy always follow the start.
fn configure(device: &mut DeviceConfig, config: &EmulatorConfig) {
    if let Some(password) = &config.password {
        let eid_text = device.identity.public_key().to_b64();
        device.user_key = Some(derive_user_key(password, &eid_text).public_key());
    } else if let Some(key) = config.user_key {
        device.user_key = Some(key);
    }
    if let Some(key) = config.master_key {
        device.master_key = Some(key);
    }
    if let Some(key) = config.backend_key {
        device.backend_key = Some(key);
    }
    device.label.clone_from(&config.label);
    device.scope_policy = config.policy;
    device.max_token_lifetime = config.max_token_lifetime;
    device.revoke_on_unpair = config.revoke_on_unpair;
}
