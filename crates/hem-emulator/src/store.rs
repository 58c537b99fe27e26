//! The state directory: what a device keeps across reboots, crash-safe.
//!
//! * `state.json` (mode 0600): the device snapshot (identity secret, user/master/backend
//!   keys, pairings — never pending nonces or per-boot keys: a restart is a reboot) and the
//!   audit-log HMAC key. Replaced atomically after every change: write a temporary file,
//!   fsync it, rename it over the old one, fsync the directory. A `kill -9` at any moment
//!   leaves either the old or the new file.
//! * `audit.log` and `audit-<counter>.log` (mode 0600): the audit log, one line per event
//!   (spec §11.2), only ever appended to, rotated (spec §11.3); see [`crate::audit`] for
//!   how a torn last line is dropped.
//! * `lock`: held (`flock`) while an emulator runs, so two never share a directory.
//! * `notify.json` and `authenticator.json`: the broker's and the virtual authenticator's
//!   (see [`crate::broker`] and `crate::authenticator`), written with [`atomic_write`] too.

use std::borrow::Cow;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hem_auth_core::codec;
use hem_auth_core::device::DeviceSnapshot;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::EmulatorError;

/// The `format` member of `state.json`.
const STATE_FORMAT: &str = "hem-emulator-state/1";
const STATE_FILE: &str = "state.json";
/// The audit log file name.
pub(crate) const LOG_FILE: &str = "audit.log";
const LOCK_FILE: &str = "lock";

/// Largest `state.json` read (ours): eight pairings make a few kilobytes.
const MAX_STATE_BYTES: u64 = 1 << 20;

/// The state file's content, as read. The strings borrow from the file's buffer (which is
/// wiped), so no other copy of the audit-log key is made; the identity key is decoded from
/// the buffer the same way (`b64_secret`).
#[derive(Deserialize)]
struct StateFile<'a> {
    #[serde(borrow)]
    format: Cow<'a, str>,
    device: DeviceSnapshot,
    /// The audit-log HMAC key, standard base64 (one per state directory).
    #[serde(borrow)]
    logger_key: Cow<'a, str>,
}

/// The state file's content, as written: borrowed, nothing copied.
#[derive(Serialize)]
struct StateFileOut<'a> {
    format: &'a str,
    device: &'a DeviceSnapshot,
    logger_key: &'a str,
}

/// What a state directory holds: the device snapshot and the audit-log HMAC key.
pub(crate) type Saved = (DeviceSnapshot, Zeroizing<[u8; 32]>);

/// An open state directory, locked for this process.
#[derive(Debug)]
pub(crate) struct Store {
    dir: PathBuf,
    _lock: File,
}

impl Store {
    /// Creates the directory (mode 0700) if needed and takes its lock.
    pub(crate) fn open(dir: &Path) -> Result<Self, EmulatorError> {
        if !dir.exists() {
            fs::create_dir_all(dir)
                .map_err(|e| EmulatorError::io(format!("creating {}", dir.display()), e))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| EmulatorError::io(format!("securing {}", dir.display()), e))?;
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| EmulatorError::io(format!("opening {}", lock_path.display()), e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(EmulatorError::State {
                    path: dir.to_path_buf(),
                    detail: String::from("in use by another emulator"),
                })
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(EmulatorError::io(
                    format!("locking {}", lock_path.display()),
                    e,
                ))
            }
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    /// The saved snapshot and logger key, or `None` for a fresh directory.
    pub(crate) fn load(&self) -> Result<Option<Saved>, EmulatorError> {
        let path = self.dir.join(STATE_FILE);
        let bytes = match read_secret_file(&path, MAX_STATE_BYTES) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(EmulatorError::io(format!("reading {}", path.display()), e)),
        };
        let bad = |detail: String| EmulatorError::State {
            path: path.clone(),
            detail,
        };
        let state: StateFile<'_> =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a state file: {e}")))?;
        if state.format != STATE_FORMAT {
            return Err(bad(format!("unknown format {:?}", state.format)));
        }
        let key = codec::decode_fixed::<32>(&state.logger_key);
        // Only a file with escapes in the key (never ours) makes an owned copy: wipe it.
        if let Cow::Owned(mut text) = state.logger_key {
            zeroize::Zeroize::zeroize(&mut text);
        }
        let key = key.map_err(|_| bad(String::from("logger_key is not base64 of 32 bytes")))?;
        Ok(Some((state.device, Zeroizing::new(key))))
    }

    /// Replaces `state.json` atomically.
    ///
    /// The JSON holds the identity and audit-log keys, so it is written into one buffer of
    /// exactly its size (measured by a first pass that writes nothing), which never grows and
    /// is wiped when dropped: no reallocation leaves a copy of a key in freed memory
    /// (spec §13.5).
    pub(crate) fn save(&self, device: &DeviceSnapshot, logger_key: &[u8; 32]) -> io::Result<()> {
        let mut key_text = Zeroizing::new([0u8; 44]);
        let logger_key = codec::encode_std_into(logger_key, &mut *key_text)
            .ok_or_else(|| io::Error::other("encoding the audit-log key"))?;
        let state = StateFileOut {
            format: STATE_FORMAT,
            device,
            logger_key,
        };
        let json = to_json_exact(&state)?;
        atomic_write(&self.dir, STATE_FILE, &json)
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

pub(crate) use hem_authenticator::files::{atomic_write, read_secret_file, to_json_exact};

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "hem-emulator-store-{tag}-{}-{}",
            std::process::id(),
            crate::clock::system_now()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_directory_has_one_emulator_and_foreign_files_are_refused() {
        let dir = temp_dir("lock");
        let store = Store::open(&dir).unwrap();
        assert!(matches!(
            Store::open(&dir),
            Err(EmulatorError::State { .. })
        ));
        assert!(store.load().unwrap().is_none());
        fs::write(dir.join(STATE_FILE), b"{\"format\":\"other\"}").unwrap();
        assert!(matches!(store.load(), Err(EmulatorError::State { .. })));
        drop(store);
        let again = Store::open(&dir).unwrap();
        assert_eq!(again.dir(), dir.as_path());
        fs::remove_dir_all(&dir).unwrap();
    }
}
