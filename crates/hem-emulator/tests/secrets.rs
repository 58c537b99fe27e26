//! Issue 14, spec §13.5: no copy of a secret is left behind in freed heap memory when the
//! emulator loads and saves its state directory and boots with a password.
//!
//! A global allocator scans every block as it is freed (and every block a `realloc` leaves,
//! as if the allocator always moved it) for the identity key, the audit-log key (raw and as
//! the base64 text of `state.json`) and the password. A buffer that grows while the secret is
//! in it (`serde_json::to_vec_pretty`), or a `String` dropped without being overwritten,
//! leaves such a copy.
// The scanning allocator needs `unsafe` (GlobalAlloc); the emulator itself forbids it.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

use hem_emulator::EmulatorConfig;

const PASSWORD: &str = "issue 14: a password nobody should find";

/// The needles: each at most 64 bytes, with its length.
const NEEDLES: usize = 5;
const NAMES: [&str; NEEDLES] = [
    "identity key (base64)",
    "identity key (raw)",
    "audit-log key (base64)",
    "audit-log key (raw)",
    "password",
];
static NEEDLE: [[AtomicU8; 64]; NEEDLES] = [const { [const { AtomicU8::new(0) }; 64] }; NEEDLES];
static NEEDLE_LEN: [AtomicUsize; NEEDLES] = [const { AtomicUsize::new(0) }; NEEDLES];
static HITS: [AtomicUsize; NEEDLES] = [const { AtomicUsize::new(0) }; NEEDLES];
static ARMED: AtomicBool = AtomicBool::new(false);

struct Scanner;

/// Counts the needles found in `block`, a region about to be freed.
fn scan(block: &[u8]) {
    for (i, hits) in HITS.iter().enumerate() {
        let len = NEEDLE_LEN[i].load(Ordering::Relaxed);
        if len == 0 || block.len() < len {
            continue;
        }
        let first = NEEDLE[i][0].load(Ordering::Relaxed);
        let found = (0..=block.len() - len).any(|at| {
            block[at] == first
                && (1..len).all(|k| block[at + k] == NEEDLE[i][k].load(Ordering::Relaxed))
        });
        if found {
            hits.fetch_add(1, Ordering::Relaxed);
        }
    }
}

unsafe impl GlobalAlloc for Scanner {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(Ordering::Relaxed) {
            scan(unsafe { std::slice::from_raw_parts(ptr, layout.size()) });
        } else {
            // Outside the scanned phase, freed blocks are wiped: a later allocation that is
            // not fully initialised (a buffer, a future, a queue) may reuse the memory, and
            // what the unscanned first boot left there would be counted as the second
            // boot's leak. This test covers what loading, saving and booting leave; the
            // first boot (which draws the identity) is not scanned: its needles do not exist
            // before it runs.
            unsafe { std::ptr::write_bytes(ptr, 0, layout.size()) };
        }
        unsafe { System.dealloc(ptr, layout) }
    }

    /// Always moves the block, as an allocator may: what the old block held is then freed
    /// memory, and scanned.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        let new = unsafe { System.alloc(new_layout) };
        if !new.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[global_allocator]
static SCANNER: Scanner = Scanner;

fn set_needle(i: usize, bytes: &[u8]) {
    assert!(bytes.len() <= 64);
    for (k, b) in bytes.iter().enumerate() {
        NEEDLE[i][k].store(*b, Ordering::Relaxed);
    }
    NEEDLE_LEN[i].store(bytes.len(), Ordering::Relaxed);
}

/// The 44 base64 characters after `"name": "` in `text`.
fn member(text: &[u8], name: &str) -> [u8; 44] {
    let key = format!("\"{name}\": \"");
    let at = text
        .windows(key.len())
        .position(|w| w == key.as_bytes())
        .unwrap_or_else(|| panic!("{name} in state.json"))
        + key.len();
    text[at..at + 44].try_into().unwrap()
}

fn config(dir: &std::path::Path) -> EmulatorConfig {
    EmulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_dir: Some(dir.to_path_buf()),
        password: Some(String::from(PASSWORD)),
        ..Default::default()
    }
}

#[test]
fn loading_saving_and_booting_leave_no_secret_in_freed_memory() {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "hem-emulator-secrets-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    // First boot: a new identity and audit-log key, saved.
    hem_emulator::start(config(&dir)).unwrap().stop();

    // The secrets, read without leaving heap copies of our own: one buffer, wiped after.
    let mut file = std::fs::read(dir.join("state.json")).unwrap();
    let identity = member(&file, "identity");
    let logger = member(&file, "logger_key");
    file.iter_mut().for_each(|b| *b = 0);
    std::hint::black_box(&mut file);
    drop(file);
    let raw = |b64: &[u8; 44]| {
        hem_auth_core::codec::decode_fixed::<32>(std::str::from_utf8(b64).unwrap()).unwrap()
    };
    set_needle(0, &identity);
    set_needle(1, &raw(&identity));
    set_needle(2, &logger);
    set_needle(3, &raw(&logger));
    set_needle(4, PASSWORD.as_bytes());

    // Second boot, scanned: load state.json, derive the user key from the password, save.
    let config = config(&dir);
    ARMED.store(true, Ordering::SeqCst);
    let emulator = hem_emulator::start(config).unwrap();
    emulator.stop();
    ARMED.store(false, Ordering::SeqCst);
    std::fs::remove_dir_all(&dir).unwrap();

    let hits: Vec<(&str, usize)> = NAMES
        .iter()
        .zip(&HITS)
        .map(|(name, h)| (*name, h.load(Ordering::Relaxed)))
        .collect();
    eprintln!("freed heap blocks holding a secret: {hits:?}");
    assert!(
        hits.iter().all(|(_, n)| *n == 0),
        "freed heap blocks still hold secrets: {hits:?}"
    );
}
