//! `ExtAuthState::verify_authreq` allocates nothing: parsing the real device authreq,
//! verifying it and reading every accessor is counted by a wrapping global allocator.
//!
//! One test in this file, and the count is gated to the test's own thread, so the harness's
//! other threads cannot disturb it.
// `GlobalAlloc` is an unsafe trait; the library itself keeps `#![forbid(unsafe_code)]`.
#![allow(unsafe_code)]
// Test code: helpers outside `#[test]` functions (and `support`) may unwrap and panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use hem_auth_core::broker::ExtAuthState;
use hem_auth_core::jwt::UntrustedJwt;
use hem_auth_core::keys::{PublicKey, SecretKey};
use support::{hex_32, interop, s};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note_allocation() {
    // `try_with`: the thread-local may already be gone while a thread shuts down.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns how many allocations it made on this thread.
fn count<R>(f: impl FnOnce() -> R) -> (R, usize) {
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (r, ALLOCATIONS.load(Ordering::SeqCst))
}

#[test]
fn verify_authreq_allocates_nothing() {
    let c = interop("device-captures.json");
    let r = &c["real_device_authreq"];
    let authreq = s(r, "authreq").to_owned();
    let eid = PublicKey::from_bytes(hex_32(s(r, "eid_hex")));
    let iat = r["expected"]["iat"].as_u64().unwrap();
    let pid = s(r, "pid").to_owned();
    let state = ExtAuthState::from_secret(
        SecretKey::from_bytes(hex_32(s(r, "broker_private_hex"))),
        Some(eid),
    );

    // The counter sees allocations: a control.
    let (_, n) = count(|| std::hint::black_box(vec![1u8; 4]));
    assert_eq!(n, 1);

    let (summary, n) = count(|| {
        let untrusted = UntrustedJwt::parse(&authreq).map_err(|_| "parse")?;
        let v = state
            .verify_authreq(&untrusted, iat + 10)
            .map_err(|_| "verify")?;
        let mut acc = v.iat() ^ v.exp() ^ u64::from(v.jti_nonce().time());
        acc ^= v.jti().len() as u64;
        acc ^= v.ctx().map_or(0, str::len) as u64;
        acc ^= v.note().map_or(0, str::len) as u64;
        acc ^= u64::from(v.eid().as_bytes()[0]);
        for (p, sealed) in v.entries() {
            acc ^= (p.len() + sealed.len()) as u64;
        }
        acc ^= v.entry(&pid).map_or(0, str::len) as u64;
        acc ^= v.claims().scope.len() as u64;
        let entries = v.entries().count();
        let ctx_ok = v.ctx() == Some("fixture-ctx");
        let eid_ok = v.eid() == eid;
        Ok::<_, &str>((std::hint::black_box(acc), entries, ctx_ok, eid_ok))
    });
    let (_, entries, ctx_ok, eid_ok) = summary.unwrap();
    assert_eq!((entries, ctx_ok, eid_ok), (1, true, true));
    assert_eq!(n, 0, "verify_authreq path allocated {n} times");
}
