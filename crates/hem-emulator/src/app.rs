//! The emulated device and what surrounds it: clock, audit log, state directory, faults.
//!
//! One mutex guards it all; device operations take microseconds (a Diffie-Hellman at most),
//! and writing the state under the same lock keeps the files in the order of the changes.
//! What a request changes comes back from the core as [`Effect`]s, applied here.

use hem_auth_core::UnixTime;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use hem_auth_core::client::derive_user_key;
use hem_auth_core::device::{
    AuditChain, AuditKey, AuditLine, Device, DeviceConfig, DeviceSnapshot, Effect, Response,
};
use hem_auth_core::keys::{PublicKey, SecretKey};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::audit::{self, AuditLog, LogReader};
use crate::clock::{system_now, Clock};
use crate::store::Store;
use crate::{EmulatorConfig, EmulatorError, Faults, RequestRecord};

/// Requests of the device port kept for `GET /control/requests`, newest last.
pub const REQUEST_LOG_ENTRIES: usize = 1000;

/// What the handlers share.
pub(crate) struct App {
    state: Mutex<State>,
    pub(crate) faults: Faults,
    booted: Instant,
    /// The start configuration (password included: a factory reset derives the new
    /// identity's user key from it), wiped on drop.
    settings: EmulatorConfig,
    /// The emulated broker's check-in key, in place of `settings.backend_key`.
    backend: Option<PublicKey>,
    /// The device port's recent requests (control API).
    requests: Mutex<VecDeque<RequestRecord>>,
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(password) = self.settings.password.as_mut() {
            zeroize::Zeroize::zeroize(password);
        }
    }
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
                wipe_dead_stack();
                (DeviceSnapshot::new(DeviceConfig::new(identity)), key)
            }
        };
        configure(&mut snapshot.config, config);
        if backend.is_some() {
            snapshot.config.backend_key = backend;
        }
        // Loading or building the snapshot moved the identity through frames now dead.
        wipe_dead_stack();
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
            state.set_clock(UnixTime::from_secs(now));
        }
        Ok(App {
            state: Mutex::new(state),
            faults: config.faults,
            booted: Instant::now(),
            settings: config.clone(),
            backend,
            requests: Mutex::new(VecDeque::new()),
        })
    }

    /// Reboots the device (control API): new per-boot keys, so tokens and pending nonces die
    /// and pairings stay (spec §4.6); the RTC follows the start configuration again (set to the
    /// emulated clock unless `rtc_unset`, §9.4). The emulated clock keeps running.
    pub(crate) fn reboot(&self) {
        let mut s = self.lock();
        let lines = s.device.flush_audit();
        s.store_lines(lines);
        s.device.reboot(&mut OsRng);
        if !self.settings.rtc_unset {
            let now = s.clock.now();
            s.set_clock(now);
        }
    }

    /// Factory reset (control API): a new identity with no pairings, the start
    /// configuration applied to it, a new audit log (the old files deleted) and a reboot.
    pub(crate) fn factory_reset(&self) -> Result<(), EmulatorError> {
        let mut s = self.lock();
        let lines = s.device.flush_audit();
        s.store_lines(lines);
        let identity = SecretKey::generate(&mut OsRng);
        wipe_dead_stack();
        let mut config = DeviceConfig::new(identity);
        configure(&mut config, &self.settings);
        if self.backend.is_some() {
            config.backend_key = self.backend;
        }
        wipe_dead_stack();
        let mut device = Device::new(config, &mut OsRng);
        let mut logger_key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(&mut *logger_key);
        let key = AuditKey::new(logger_key.clone());
        let now = s.clock.now();
        // The old log stops (its writer drains) before its files go.
        s.log = AuditLog::new(&key, now.as_secs());
        if let Some(store) = &s.store {
            audit::erase(store.dir())?;
            s.log = AuditLog::open(store, &key, now.as_secs())?;
        }
        device.set_audit_chain(AuditChain::new(key, s.log.next_counter()));
        device.set_faults(self.faults);
        s.device = device;
        s.logger_key = logger_key;
        s.save();
        if !self.settings.rtc_unset {
            s.set_clock(now);
        }
        Ok(())
    }

    /// Appends to the device port's request log, dropping the oldest beyond
    /// [`REQUEST_LOG_ENTRIES`].
    pub(crate) fn log_request(&self, record: RequestRecord) {
        let mut log = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        if log.len() >= REQUEST_LOG_ENTRIES {
            log.pop_front();
        }
        log.push_back(record);
    }

    /// The device port's request log, oldest first.
    pub(crate) fn requests(&self) -> Vec<RequestRecord> {
        let log = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        log.iter().cloned().collect()
    }

    /// The device, locked. A panic while locked cannot leave the device half-changed (its
    /// operations check everything before they commit), so a poisoned lock is used as is.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The identity key (a factory reset changes it).
    pub(crate) fn eid(&self) -> PublicKey {
        *self.lock().device.eid()
    }

    /// Seconds since boot.
    pub(crate) fn uptime(&self) -> u64 {
        self.booted.elapsed().as_secs()
    }
}

impl State {
    /// Sets the RTC and the emulated clock to `time` and stores the `RTC_SET` line.
    pub(crate) fn set_clock(&mut self, time: UnixTime) {
        self.clock.set(time);
        let (_, events) = self.device.set_clock(time).into_parts();
        let lines = self.device.audit_lines(&events, time, &mut OsRng);
        self.store_lines(lines);
    }

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

/// How much of the stack below the caller [`wipe_dead_stack`] overwrites: far more than the
/// frames that draw, decode or move a key use.
const STACK_WIPE_BYTES: usize = 64 * 1024;

/// Overwrites the stack below the caller's frame, where the functions it called left their
/// locals (spec §13.5).
///
/// Drawing or decoding a key ([`SecretKey::generate`], the snapshot's deserializer) and every
/// move of it leave copies in frames that are dead once they return; nothing wipes those. A
/// value built later in the same stack region takes whatever lies in its uninitialised bytes
/// (padding, the payload of a `None`) along, and when it is moved into a heap block (the
/// [`App`] into its `Arc`) the key goes with it, past every `Zeroize` on drop: the emulator's
/// first boot left the raw identity key in the `None` payloads of the configuration's
/// `master_key` and `backend_key` this way. Call this right after a key was drawn or loaded
/// and moved, before the values that go to the heap are built. `#[inline(never)]`: its frame
/// (and the buffer in it) must start below the caller's.
#[inline(never)]
fn wipe_dead_stack() {
    let mut stack = [0u8; STACK_WIPE_BYTES];
    // Volatile writes: the compiler may not drop them as dead stores.
    zeroize::Zeroize::zeroize(&mut stack);
    std::hint::black_box(&stack);
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
    device.trusted_time = config.trusted_ts;
    device.scope_policy = config.policy;
    device.max_token_lifetime = config.max_token_lifetime;
    device.revoke_on_unpair = config.revoke_on_unpair;
}
