//! The notify broker (`hem_auth_core::notify`): an `Arbitrary` sequence of scripted flows,
//! raw requests and mutated replays, with its invariants checked after every call (see
//! `common::notify_ops`).
#![no_main]

use hem_auth_fuzz_common::notify_ops::{self, Op};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|ops: Vec<Op>| {
    notify_ops::run(&ops);
});
