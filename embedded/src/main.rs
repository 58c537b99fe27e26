//! The test image: boots on QEMU's `mps2-an386` (Cortex-M4F), runs the device-kind vectors
//! of `vectors/` against `hem_auth_core::device::Device`, the simulated flows of the three
//! roles, and the measurements; prints every result through semihosting and ends with
//! `N passed, M failed`, exiting QEMU with status 0 only when nothing failed.
#![no_std]
#![no_main]

extern crate alloc;

use cortex_m_rt::entry;
use hem_auth_mcu::{finish, heap, println, stack};

mod flows;
mod measure;
mod vectors;

/// Results so far.
#[derive(Default)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
}

fn run_vectors(tally: &mut Tally) {
    for case in vectors::CASES {
        let id = case.id.map_or_else(
            || alloc::string::String::from("?"),
            |i| alloc::format!("{i}"),
        );
        let what = match case.valid {
            Some(true) => "valid",
            Some(false) => "invalid",
            None => "malformed",
        };
        match vectors::run(case) {
            vectors::Outcome::Passed { detail } => {
                tally.passed += 1;
                match detail {
                    Some(d) => println!(
                        "ok   {} {} #{id} ({what}; {d}) {}",
                        case.file, case.kind, case.comment
                    ),
                    None => println!(
                        "ok   {} {} #{id} ({what}) {}",
                        case.file, case.kind, case.comment
                    ),
                }
            }
            vectors::Outcome::Failed { reason } => {
                tally.failed += 1;
                println!(
                    "FAIL {} {} #{id} ({what}) {}: {reason}",
                    case.file, case.kind, case.comment
                );
            }
        }
    }
}

#[entry]
fn main() -> ! {
    heap::init();
    hem_auth_mcu::insns::init();
    println!(
        "hem-auth-mcu: hem-auth-core {} device role on a Cortex-M4F (QEMU mps2-an386)",
        env!("CARGO_PKG_VERSION")
    );
    let mut tally = Tally::default();

    println!("== device-kind vectors ({} tests)", vectors::CASES.len());
    let ((), vectors_stack) = stack::measure(|| run_vectors(&mut tally));
    let vectors_heap = heap::reset_peak();

    println!("== flows: password login, pairing, external login, bearer checks");
    let ((), flows_stack) = stack::measure(|| flows::run(&mut tally));
    let flows_heap = heap::reset_peak();

    println!("== measurements");
    if let Err(e) = measure::run(&mut tally) {
        tally.failed += 1;
        println!("FAIL measurements: {e}");
    }
    let measure_heap = heap::reset_peak();
    println!(
        "measure run peaks: stack {} B (vectors), {} B (flows); heap {} B (vectors), {} B (flows), {} B (measurements); arena {} B",
        vectors_stack,
        flows_stack,
        vectors_heap,
        flows_heap,
        measure_heap,
        heap::ARENA_BYTES
    );
    println!("{} passed, {} failed", tally.passed, tally.failed);
    finish(tally.failed == 0)
}
