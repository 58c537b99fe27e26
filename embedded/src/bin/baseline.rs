//! The baseline image: the runtime, the counting heap, semihosting output and exit, and no
//! device role. `run.sh` subtracts its flash from the footprint image's to tell what the device
//! role adds.
#![no_std]
#![no_main]

extern crate alloc;

use core::hint::black_box;

use cortex_m_rt::entry;
use hem_auth_mcu::{finish, heap, println};

#[entry]
fn main() -> ! {
    heap::init();
    let v: alloc::vec::Vec<u8> = alloc::vec![black_box(1u8); black_box(16)];
    println!("baseline image: {} bytes on the heap", v.len());
    finish(true)
}
