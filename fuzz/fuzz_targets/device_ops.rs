//! The structure-aware target: an `Arbitrary` sequence of device operations played by the
//! real roles on simulated time, with the protocol's invariants checked after every step
//! (see `common::ops`).
#![no_main]

use hem_auth_fuzz_common::ops::{self, Op};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|ops: Vec<Op>| {
    ops::run(&ops);
});
