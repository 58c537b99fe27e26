//! Issue 14, spec §13.5: no copy of a secret is left behind in freed heap memory when the
//! emulator boots for the first time (draws a new identity and audit-log key and saves them),
//! and when it loads and saves its state directory and boots with a password.
//!
//! A global allocator looks at every block as it is freed (and every block a `realloc` leaves,
//! as if the allocator always moved it) for the identity key, the audit-log key (raw and as
//! the base64 text of `state.json`) and the password. A buffer that grows while the secret is
//! in it (`serde_json::to_vec_pretty`), a `String` dropped without being overwritten, or a
//! value moved out of a heap block (a future's state, a `Box`) leaves such a copy; so does a
//! value built on a stack where a key was moved before, and then moved into a heap block: its
//! uninitialised bytes (padding, the payload of a `None`) carry the dead frame's copy along.
//! The first boot did that (the raw identity key in the `Arc` of the emulator's state, until
//! the emulator wiped the dead stack after drawing the key).
//!
//! The first boot's needles exist only once it has run: while it runs, every freed block is
//! copied into [`ARENA`] (a static buffer, committed by the kernel only as far as it is
//! written), and scanned after `state.json` names the keys. A full arena fails the test.
//! The second boot's blocks are scanned as they are freed.
// The scanning allocator needs `unsafe` (GlobalAlloc); the emulator itself forbids it.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
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
/// Freed blocks of the second boot holding each needle.
static HITS: [AtomicUsize; NEEDLES] = [const { AtomicUsize::new(0) }; NEEDLES];

/// What the allocator does with a block being freed.
const WIPE: u8 = 0;
/// Copy it into [`ARENA`] (then wipe it).
const RECORD: u8 = 1;
/// Scan it for the needles.
const SCAN: u8 = 2;
static PHASE: AtomicU8 = AtomicU8::new(WIPE);

/// Bytes of freed blocks the first boot may leave: each block is stored as its length (8
/// bytes, native order) and its bytes. Zero-initialised, so it lives in `.bss` and costs only
/// the pages written.
const ARENA_BYTES: usize = 64 << 20;
struct Arena(UnsafeCell<[u8; ARENA_BYTES]>);
// SAFETY: every writer owns the disjoint range it reserved with `ARENA_END`; the arena is
// read only after the recording phase, when no thread writes any more.
unsafe impl Sync for Arena {}
static ARENA: Arena = Arena(UnsafeCell::new([0; ARENA_BYTES]));
/// The end of the reserved part of [`ARENA`].
static ARENA_END: AtomicUsize = AtomicUsize::new(0);
/// A block did not fit: the first boot is then not fully covered, and the test fails.
static ARENA_FULL: AtomicBool = AtomicBool::new(false);

/// Copies `block` into the arena, without allocating.
fn record(block: &[u8]) {
    let need = 8 + block.len();
    let at = ARENA_END.fetch_add(need, Ordering::Relaxed);
    if at.checked_add(need).is_none_or(|end| end > ARENA_BYTES) {
        ARENA_FULL.store(true, Ordering::Relaxed);
        return;
    }
    // SAFETY: `at..at + need` is inside the arena and reserved for this call alone.
    unsafe {
        let base = ARENA.0.get().cast::<u8>().add(at);
        std::ptr::copy_nonoverlapping(block.len().to_ne_bytes().as_ptr(), base, 8);
        std::ptr::copy_nonoverlapping(block.as_ptr(), base.add(8), block.len());
    }
}

/// Counts in `hits` the needles found in `block`, a freed region; returns whether any was.
fn scan(block: &[u8], hits: &[AtomicUsize; NEEDLES]) -> bool {
    let mut any = false;
    for (i, hits) in hits.iter().enumerate() {
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
            any = true;
        }
    }
    any
}

/// What the first boot left: per needle, the freed blocks holding it; the sizes of those
/// blocks; the number of blocks and bytes recorded.
struct FirstBoot {
    hits: [usize; NEEDLES],
    sizes: Vec<usize>,
    blocks: usize,
    bytes: usize,
}

/// Scans the blocks the first boot freed.
fn scan_arena() -> FirstBoot {
    let hits = [const { AtomicUsize::new(0) }; NEEDLES];
    let end = ARENA_END.load(Ordering::SeqCst).min(ARENA_BYTES);
    // SAFETY: recording has stopped; `..end` was written by completed `record` calls.
    let arena = unsafe { std::slice::from_raw_parts(ARENA.0.get().cast::<u8>(), end) };
    let (mut at, mut blocks, mut sizes) = (0, 0, Vec::new());
    while at + 8 <= end {
        let len = usize::from_ne_bytes(arena[at..at + 8].try_into().unwrap());
        let block = &arena[at + 8..at + 8 + len];
        if scan(block, &hits) {
            sizes.push(len);
        }
        blocks += 1;
        at += 8 + len;
    }
    FirstBoot {
        hits: hits.map(AtomicUsize::into_inner),
        sizes,
        blocks,
        bytes: end,
    }
}

struct Scanner;

unsafe impl GlobalAlloc for Scanner {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
        match PHASE.load(Ordering::Relaxed) {
            SCAN => {
                scan(block, &HITS);
            }
            phase => {
                if phase == RECORD {
                    record(block);
                }
                // Freed blocks are wiped: a later allocation that is not fully initialised
                // (a buffer, a future, a queue) may reuse the memory, and what the first
                // boot left there would be counted as the second boot's leak.
                unsafe { std::ptr::write_bytes(ptr, 0, layout.size()) };
            }
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

fn named(hits: impl IntoIterator<Item = usize>) -> Vec<(&'static str, usize)> {
    NAMES.into_iter().zip(hits).collect()
}

/// One test: the allocator's phases are global.
#[test]
fn booting_loading_and_saving_leave_no_secret_in_freed_memory() {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "hem-emulator-secrets-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    // First boot, recorded: a new identity and audit-log key, saved.
    let config_1 = config(&dir);
    PHASE.store(RECORD, Ordering::SeqCst);
    hem_emulator::start(config_1).unwrap().stop();
    PHASE.store(WIPE, Ordering::SeqCst);

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

    let first = scan_arena();
    eprintln!(
        "first boot: {} freed blocks ({} KiB) recorded; sizes of those holding a secret: {:?}",
        first.blocks,
        first.bytes >> 10,
        first.sizes
    );
    assert!(
        !ARENA_FULL.load(Ordering::SeqCst),
        "the arena ({} KiB) is too small for what the first boot freed ({} KiB and more): \
         the first boot was not fully scanned",
        ARENA_BYTES >> 10,
        ARENA_END.load(Ordering::SeqCst) >> 10
    );

    // Second boot, scanned: load state.json, derive the user key from the password, save.
    let config_2 = config(&dir);
    PHASE.store(SCAN, Ordering::SeqCst);
    let emulator = hem_emulator::start(config_2).unwrap();
    emulator.stop();
    PHASE.store(WIPE, Ordering::SeqCst);
    std::fs::remove_dir_all(&dir).unwrap();

    let first = named(first.hits);
    let second = named(HITS.iter().map(|h| h.load(Ordering::Relaxed)));
    eprintln!("freed heap blocks holding a secret: first boot {first:?}, second boot {second:?}");
    assert!(
        first.iter().chain(&second).all(|(_, n)| *n == 0),
        "freed heap blocks still hold secrets: first boot {first:?}, second boot {second:?}"
    );
}
