//! The audit log's line format and MAC chain (spec §11.2):
//!
//! ```text
//! <counter hex>|<unix time hex>|<event hex>|<result hex>|<sub>|<data>|<mac>
//! ```
//!
//! `mac` is base64url (no padding) of the first [`AUDIT_LINE_MAC_BYTES`] bytes of
//! HMAC-SHA256(logger key, the line up to and including its last `|`). The first line of
//! every file is the key line (counter 0, event 0, result 0) whose field 5 is the HMAC key
//! itself, base64url, as on the device: the log proves its integrity to whoever trusts that
//! line. On the device field 6 is the key's Ed25519 signature by the key of
//! `GET /api/logger/key`; this implementation has no such signing key, so it is empty.
//!
//! `sub` is the event's subject (`U`, `M`, a std-base64 kid or empty; `|` and control
//! characters removed); `data` is base64url of the event's data text, so no field can hold a
//! `|` or a line break.
//!
//! An [`AuditChain`] numbers and MACs the events a [`super::Device`] returns (failed scope
//! checks through its [`AuditCoalescer`], spec §11.3) and hands out finished
//! [`AuditLine`]s; the adapter only stores them. [`AuditKey`] verifies stored lines.

use crate::time::UnixTime;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::audit::{AuditCoalescer, AuditEvent, AuditKind};
use crate::codec;

/// Bytes of the HMAC kept in a line (spec §11.2: the first 16).
pub const AUDIT_LINE_MAC_BYTES: usize = 16;

/// The logger key: signs and verifies lines (spec §11.2). Zeroized on drop, not printed.
#[derive(Clone)]
pub struct AuditKey(Zeroizing<[u8; 32]>);

impl core::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

impl AuditKey {
    /// The key with these bytes.
    pub fn new(key: Zeroizing<[u8; 32]>) -> Self {
        AuditKey(key)
    }

    /// The key line (counter 0) at `now`: the HMAC key in field 5, field 6 empty.
    pub fn key_line(&self, now: UnixTime) -> String {
        self.sign(format!(
            "0|{:x}|0|0|{}||",
            now.as_secs(),
            codec::encode_segment(&*self.0)
        ))
    }

    /// The fields of `line` if its MAC verifies under this key (compared in constant time).
    pub fn verify<'l>(&self, line: &'l str) -> Option<AuditLineFields<'l>> {
        let cut = line.rfind('|')?;
        let (signed, mac) = (line.get(..=cut)?, line.get(cut + 1..)?);
        let expected = self.line_mac(signed);
        if mac.len() != expected.len() || !bool::from(mac.as_bytes().ct_eq(expected.as_bytes())) {
            return None;
        }
        let mut parts = signed.split('|');
        let counter = u64::from_str_radix(parts.next()?, 16).ok()?;
        let time = u64::from_str_radix(parts.next()?, 16).ok()?;
        let event = parts.next()?;
        let result = parts.next()?;
        Some(AuditLineFields {
            counter,
            time,
            event,
            result,
        })
    }

    fn line_mac(&self, signed: &str) -> String {
        let mac = crate::mac::mac(&*self.0, signed.as_bytes());
        codec::encode_segment(mac.get(..AUDIT_LINE_MAC_BYTES).unwrap_or_default())
    }

    fn sign(&self, mut signed: String) -> String {
        let mac = self.line_mac(&signed);
        signed.push_str(&mac);
        signed
    }
}

/// The first fields of a line whose MAC verified ([`AuditKey::verify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditLineFields<'l> {
    /// Field 1: the counter (0 for the key line).
    pub counter: u64,
    /// Field 2: unix time.
    pub time: u64,
    /// Field 3: the event number, hex text.
    pub event: &'l str,
    /// Field 4: the result number, hex text.
    pub result: &'l str,
}

impl AuditLineFields<'_> {
    /// Whether this is a key line (counter 0, event 0, result 0).
    pub fn is_key_line(&self) -> bool {
        self.counter == 0 && self.event == "0" && self.result == "0"
    }
}

/// The counter (field 1) of a line, verified or not: `None` if it is not hex.
pub fn audit_line_counter(line: &str) -> Option<u64> {
    line.split('|')
        .next()
        .and_then(|c| u64::from_str_radix(c, 16).ok())
}

/// One finished line of the audit log: numbered, MACed, ready to store (no line break).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLine {
    /// Its counter (field 1).
    pub counter: u64,
    /// The event it records (`None` for a key line): an adapter that makes answers wait for
    /// their lines to be on disk need not wait for failed scope checks (spec §11.3).
    pub kind: Option<AuditKind>,
    /// The whole line.
    pub text: String,
}

impl AuditLine {
    /// Field 5, the subject (`U`, `M`, a kid in standard base64, or empty), as the line
    /// holds it (spec §11.2); `None` for a line with fewer fields.
    pub fn subject(&self) -> Option<&str> {
        self.text.split('|').nth(4)
    }
}

/// Numbers and MACs audit events into lines (spec §11.2), failed scope checks coalesced
/// (spec §11.3). Sans-IO: the caller gives the time and stores the lines.
#[derive(Debug)]
pub struct AuditChain {
    key: AuditKey,
    next: u64,
    coalescer: AuditCoalescer,
}

impl AuditChain {
    /// A chain under `key` whose next line has counter `next` (1 for a new log; after a
    /// restart, one more than the last stored line's).
    pub fn new(key: AuditKey, next: u64) -> Self {
        AuditChain {
            key,
            next: next.max(1),
            coalescer: AuditCoalescer::new(),
        }
    }

    /// The key.
    pub fn key(&self) -> &AuditKey {
        &self.key
    }

    /// The counter of the next line.
    pub fn next_counter(&self) -> u64 {
        self.next
    }

    /// Takes one event a device operation returned at `now` and appends the lines to write
    /// to `out`: the counts of ended windows, then the event unless a window counts it.
    pub fn record(&mut self, event: &AuditEvent, now: UnixTime, out: &mut Vec<AuditLine>) {
        let (key, next) = (&self.key, &mut self.next);
        self.coalescer
            .record(event, now, |e| out.push(line(key, next, e)));
    }

    /// Appends the lines of the failed-scope windows that have ended by `now`.
    pub fn tick(&mut self, now: UnixTime, out: &mut Vec<AuditLine>) {
        let (key, next) = (&self.key, &mut self.next);
        self.coalescer.tick(now, |e| out.push(line(key, next, e)));
    }

    /// Appends every open window's count (when the adapter stops).
    pub fn flush(&mut self, out: &mut Vec<AuditLine>) {
        let (key, next) = (&self.key, &mut self.next);
        self.coalescer.flush(|e| out.push(line(key, next, e)));
    }
}

fn line(key: &AuditKey, next: &mut u64, event: &AuditEvent) -> AuditLine {
    let counter = *next;
    *next = next.saturating_add(1);
    let sub: String = event
        .sub()
        .chars()
        .filter(|c| *c != '|' && !c.is_control())
        .collect();
    let data = codec::encode_segment(event.data().as_bytes());
    let text = key.sign(format!(
        "{counter:x}|{:x}|{:x}|{:x}|{sub}|{data}|",
        event.time,
        event.kind.code(),
        event.result.code()
    ));
    AuditLine {
        counter,
        kind: Some(event.kind),
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::AuditResult;

    #[test]
    fn lines_have_the_device_format_and_verify() {
        let key = AuditKey::new(Zeroizing::new([7u8; 32]));
        let mut chain = AuditChain::new(key.clone(), 1);
        let mut out = Vec::new();
        let login = AuditEvent::new(
            0x6231_0bdd,
            AuditKind::AuthSuccessInternal,
            AuditResult::Ok,
            "U",
            "logger:get",
        );
        chain.record(&login, UnixTime::from_secs(1), &mut out);
        let failed = AuditEvent::new(
            0x6231_0bdd,
            AuditKind::FailedScopeCheck,
            AuditResult::Failed,
            "U",
            "system:config|logger:get|auth:ext:pair",
        );
        chain.record(&failed, UnixTime::from_secs(1), &mut out);
        let texts: Vec<&str> = out.iter().map(|l| l.text.as_str()).collect();
        // The worked example of spec §11.2.
        assert_eq!(
            key.key_line(UnixTime::from_secs(0x6231_0ba5)),
            "0|62310ba5|0|0|BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc||eR6nm6V_2iVjD_EiSmtsSg"
        );
        assert_eq!(
            texts,
            [
                "1|62310bdd|d|0|U|bG9nZ2VyOmdldA|he217ewbSNlK3eFewU381g",
                "2|62310bdd|c|1|U|c3lzdGVtOmNvbmZpZ3xsb2dnZXI6Z2V0fGF1dGg6ZXh0OnBhaXIgMQ|zobuzRnbyJsYGjgwaeQ-rw",
            ]
        );
        assert_eq!(chain.next_counter(), 3);
        let fields = key.verify(texts[1]).unwrap();
        assert_eq!((fields.counter, fields.event, fields.result), (2, "c", "1"));
        assert!(key
            .verify(&key.key_line(UnixTime::from_secs(5)))
            .unwrap()
            .is_key_line());
        // One bit off anywhere, or another key: refused.
        assert!(key.verify(&texts[1].replace("|c|", "|d|")).is_none());
        assert!(AuditKey::new(Zeroizing::new([8u8; 32]))
            .verify(texts[0])
            .is_none());
        assert_eq!(audit_line_counter(texts[1]), Some(2));
        assert_eq!(audit_line_counter("x|"), None);
    }
}
