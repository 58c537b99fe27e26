//! The audit log, in the device's line format (spec §11.2):
//!
//! ```text
//! <counter hex>|<unix time hex>|<event hex>|<result hex>|<sub>|<data>|<mac>
//! ```
//!
//! `mac` is base64url (no padding) of the first 16 bytes of HMAC-SHA256(logger key, the line up
//! to and including its last `|`). The first line is the key line (event 0, result 0) whose
//! field 4 is the HMAC key itself, base64url, as on the device: the log proves its integrity to
//! whoever trusts that line. On the device field 5 is the key's Ed25519 signature by the key of
//! `GET /api/logger/key`; the emulator has no such signing key, so field 5 is empty. The HMAC
//! key is drawn once per state directory and kept in `state.json`.
//!
//! `sub` is the event's subject (`U`, `M`, a std-base64 kid or empty); `data` is base64url of
//! the core's event data text (granted scope, kid, required scope, time), so no field can hold a
//! `|` or a line break.
//!
//! Memory is bounded: the key line and the newest [`MAX_LOG_LINES`] event lines are kept. On
//! disk the log is appended and fsynced line by line; when the file holds twice that many lines
//! it is rewritten atomically with what memory holds. On load, lines are checked one by one and
//! the file is cut at the first one whose MAC fails (the torn tail of a crash).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use hem_auth_core::codec;
use hem_auth_core::device::AuditEvent;
use hem_auth_core::jwt;
use zeroize::Zeroizing;

use crate::store::{self, Store, LOG_FILE};
use crate::EmulatorError;

/// Event lines kept in memory and listed by `GET /api/logger/list`.
pub(crate) const MAX_LOG_LINES: usize = 1024;
/// Bytes of the HMAC kept in a line (spec §11.2: the first 16).
const LINE_MAC_BYTES: usize = 16;

/// The audit log of one device.
pub(crate) struct AuditLog {
    key: Zeroizing<[u8; 32]>,
    key_line: String,
    lines: VecDeque<String>,
    next: u64,
    file: Option<LogFile>,
}

struct LogFile {
    path: PathBuf,
    file: File,
    lines: usize,
}

impl AuditLog {
    /// A log in memory only, starting with its key line at `now`.
    pub(crate) fn new(key: Zeroizing<[u8; 32]>, now: u64) -> Self {
        let key_line = key_line(&key, now);
        AuditLog {
            key,
            key_line,
            lines: VecDeque::new(),
            next: 1,
            file: None,
        }
    }

    /// The log of a state directory: what `audit.log` holds (cut at the first bad line), or a
    /// new log with its key line.
    pub(crate) fn open(
        store: &Store,
        key: Zeroizing<[u8; 32]>,
        now: u64,
    ) -> Result<Self, EmulatorError> {
        let path = store.log_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            // Not UTF-8 or unreadable: the file did not come from us.
            Err(e) => return Err(EmulatorError::io(format!("reading {}", path.display()), e)),
        };
        let mut log = AuditLog::new(key, now);
        let mut kept = 0usize;
        let mut all = text.lines();
        match all.next() {
            Some(first) if log.verify(first).is_some_and(|f| f.is_key_line()) => {
                log.key_line = String::from(first);
                kept = 1;
                for line in all {
                    match log.verify(line) {
                        Some(fields) if fields.counter >= log.next => {
                            log.next = fields.counter.saturating_add(1);
                            log.push(String::from(line));
                            kept += 1;
                        }
                        _ => break,
                    }
                }
            }
            Some(_) => {
                return Err(EmulatorError::State {
                    path,
                    detail: String::from("does not start with this state's key line"),
                })
            }
            None => {}
        }
        let clean = kept == text.lines().count() && (text.is_empty() || text.ends_with('\n'));
        if !clean || kept == 0 {
            store::atomic_write(store.dir(), LOG_FILE, log.file_text().as_bytes())
                .map_err(|e| EmulatorError::io(format!("writing {}", path.display()), e))?;
        }
        let file = open_append(&path)
            .map_err(|e| EmulatorError::io(format!("opening {}", path.display()), e))?;
        log.file = Some(LogFile {
            path,
            file,
            lines: 1 + log.lines.len(),
        });
        Ok(log)
    }

    /// Appends one event (to memory, and to the file when there is one).
    pub(crate) fn append(&mut self, event: &AuditEvent) {
        let counter = self.next;
        self.next = self.next.saturating_add(1);
        let sub: String = event
            .sub()
            .chars()
            .filter(|c| *c != '|' && !c.is_control())
            .collect();
        let data = codec::encode_segment(event.data().as_bytes());
        let line = sign(
            &self.key,
            format!(
                "{counter:x}|{:x}|{:x}|{:x}|{sub}|{data}|",
                event.time,
                event.kind.code(),
                event.result.code()
            ),
        );
        if let Err(e) = self.write(&line) {
            eprintln!("hem-emulator: audit log not saved: {e}");
        }
        self.push(line);
    }

    fn push(&mut self, line: String) {
        if self.lines.len() >= MAX_LOG_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    fn write(&mut self, line: &str) -> io::Result<()> {
        let compact = match &self.file {
            None => return Ok(()),
            Some(log) => log.lines >= 2 * MAX_LOG_LINES,
        };
        if compact {
            // Rewrite with what memory holds, plus this line (pushed after the write).
            let mut text = self.file_text();
            text.push_str(line);
            text.push('\n');
            let held = 2 + self.lines.len();
            let Some(log) = self.file.as_mut() else {
                return Ok(());
            };
            let dir = log.path.parent().map(PathBuf::from).unwrap_or_default();
            store::atomic_write(&dir, LOG_FILE, text.as_bytes())?;
            log.file = open_append(&log.path)?;
            log.lines = held;
            return Ok(());
        }
        let Some(log) = self.file.as_mut() else {
            return Ok(());
        };
        log.file.write_all(format!("{line}\n").as_bytes())?;
        log.file.sync_data()?;
        log.lines += 1;
        Ok(())
    }

    /// Every line held, the key line first.
    pub(crate) fn lines(&self) -> impl Iterator<Item = &str> + '_ {
        std::iter::once(self.key_line.as_str()).chain(self.lines.iter().map(String::as_str))
    }

    /// The file content for what memory holds.
    fn file_text(&self) -> String {
        let mut text = String::new();
        for line in self.lines() {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// The fields of `line` if its MAC verifies under this log's key.
    fn verify<'l>(&self, line: &'l str) -> Option<Fields<'l>> {
        let cut = line.rfind('|')?;
        let (signed, mac) = (line.get(..=cut)?, line.get(cut + 1..)?);
        if mac != line_mac(&self.key, signed) {
            return None;
        }
        let mut parts = signed.split('|');
        let counter = u64::from_str_radix(parts.next()?, 16).ok()?;
        let _time = parts.next()?;
        let event = parts.next()?;
        let result = parts.next()?;
        Some(Fields {
            counter,
            event,
            result,
        })
    }
}

struct Fields<'l> {
    counter: u64,
    event: &'l str,
    result: &'l str,
}

impl Fields<'_> {
    fn is_key_line(&self) -> bool {
        self.counter == 0 && self.event == "0" && self.result == "0"
    }
}

fn open_append(path: &PathBuf) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

fn line_mac(key: &[u8; 32], signed: &str) -> String {
    let mac = jwt::mac(key, signed.as_bytes());
    codec::encode_segment(mac.get(..LINE_MAC_BYTES).unwrap_or_default())
}

fn sign(key: &[u8; 32], mut signed: String) -> String {
    let mac = line_mac(key, &signed);
    signed.push_str(&mac);
    signed
}

/// Line 0: the HMAC key in field 4; field 5 (the device's Ed25519 signature) empty.
fn key_line(key: &[u8; 32], now: u64) -> String {
    sign(
        key,
        format!("0|{now:x}|0|0|{}||", codec::encode_segment(key)),
    )
}

#[cfg(test)]
mod tests {
    use hem_auth_core::device::{AuditKind, AuditResult};

    use super::*;

    fn event(kind: AuditKind, sub: &str, data: &str) -> AuditEvent {
        AuditEvent::new(0x6231_0bdd, kind, AuditResult::Ok, sub, data)
    }

    /// What a log reader does (TESTER `encedo_log_integrity_check`): take the key from the
    /// key line, then check each line's 16-byte MAC.
    fn check_like_a_reader(lines: &[&str]) -> usize {
        let first: Vec<&str> = lines[0].split('|').collect();
        assert_eq!((first[2], first[3]), ("0", "0"));
        let key = base64_url(first[4]);
        let mut checked = 0;
        for line in lines {
            let cut = line.rfind('|').unwrap() + 1;
            let mac = jwt::mac(&key, &line.as_bytes()[..cut]);
            assert_eq!(line[cut..], codec::encode_segment(&mac[..16]), "{line}");
            checked += 1;
        }
        checked
    }

    fn base64_url(text: &str) -> Vec<u8> {
        let padded = format!("{text}{}", "=".repeat((4 - text.len() % 4) % 4));
        let std: String = padded
            .chars()
            .map(|c| match c {
                '-' => '+',
                '_' => '/',
                c => c,
            })
            .collect();
        codec::decode_fixed::<32>(&std).unwrap().to_vec()
    }

    #[test]
    fn lines_have_the_device_format_and_verify() {
        let mut log = AuditLog::new(Zeroizing::new([7u8; 32]), 0x6231_0ba5);
        log.append(&event(AuditKind::AuthSuccessInternal, "U", "logger:get"));
        log.append(&event(
            AuditKind::FailedScopeCheck,
            "U",
            "system:config|logger:get",
        ));
        let lines: Vec<&str> = log.lines().collect();
        assert!(
            lines[0].starts_with("0|62310ba5|0|0|BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc||")
        );
        let fields: Vec<&str> = lines[1].split('|').collect();
        assert_eq!(&fields[..5], ["1", "62310bdd", "d", "0", "U"]);
        assert_eq!(fields[5], codec::encode_segment(b"logger:get"));
        assert_eq!(lines[2].split('|').count(), 7, "a | in the data is encoded");
        assert_eq!(check_like_a_reader(&lines), 3);
    }

    #[test]
    fn memory_is_bounded() {
        let mut log = AuditLog::new(Zeroizing::new([1u8; 32]), 0);
        for _ in 0..MAX_LOG_LINES + 10 {
            log.append(&event(AuditKind::RtcSet, "", "0"));
        }
        assert_eq!(log.lines().count(), MAX_LOG_LINES + 1);
        let last = log.lines().last().unwrap();
        assert!(last.starts_with(&format!("{:x}|", MAX_LOG_LINES + 10)));
    }

    #[test]
    fn a_torn_tail_is_cut_and_counting_goes_on() {
        let dir = std::env::temp_dir().join(format!(
            "hem-emulator-audit-{}-{}",
            std::process::id(),
            crate::clock::system_now()
        ));
        let _ = fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        let key = Zeroizing::new([3u8; 32]);
        {
            let mut log = AuditLog::open(&store, key.clone(), 100).unwrap();
            log.append(&event(AuditKind::AuthPairedExternal, "U", "kid"));
            log.append(&event(AuditKind::AuthSuccessExternal, "kid", "scope"));
        }
        // A crash in the middle of a line.
        let mut f = open_append(&store.log_path()).unwrap();
        f.write_all(b"3|62310bdd|e|0|x|y|trunc").unwrap();
        drop(f);
        let mut log = AuditLog::open(&store, key.clone(), 200).unwrap();
        assert_eq!(log.lines().count(), 3);
        log.append(&event(AuditKind::RtcSet, "", "200"));
        let text = fs::read_to_string(store.log_path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[3].starts_with("3|"));
        assert_eq!(check_like_a_reader(&lines), 4);
        // A log written under another key is not ours.
        assert!(AuditLog::open(&store, Zeroizing::new([4u8; 32]), 0).is_err());
        drop(store);
        fs::remove_dir_all(&dir).unwrap();
    }
}
