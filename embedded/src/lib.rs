//! Support for the images of this crate on QEMU's `mps2-an386` (Cortex-M4): output and exit
//! through semihosting, a counting heap, an instruction counter and stack painting.
//!
//! * [`heap`]: the global allocator, `embedded-alloc`'s linked-list heap wrapped to count the
//!   bytes in use, their peak and the number of allocations.
//! * [`insns`]: instructions executed, read from the CMSDK APB timer 0 that QEMU clocks with
//!   its virtual clock; under `-icount shift=S` the virtual clock advances 2^S ns per
//!   instruction, so the timer's ticks are an exact instruction count (see the README).
//! * [`stack`]: the peak stack of a call, by painting the free stack below the caller with a
//!   pattern and finding the deepest word the call overwrote.
#![no_std]

use core::fmt::{self, Write};

pub use cortex_m_semihosting::debug::{exit, EXIT_FAILURE, EXIT_SUCCESS};

/// Prints a line to the host's stdout (semihosting), formatted into a stack buffer and written
/// in few host calls; allocates nothing.
#[macro_export]
macro_rules! println {
    () => { $crate::write_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::write_line(format_args!($($arg)*)) };
}

/// A stack buffer that flushes to semihosting stdout when full.
struct LineWriter {
    buf: [u8; 256],
    len: usize,
}

impl LineWriter {
    fn flush(&mut self) {
        if self.len > 0 {
            // Only whole UTF-8 characters are ever pushed (see write_str).
            if let Ok(s) = core::str::from_utf8(&self.buf[..self.len]) {
                cortex_m_semihosting::export::hstdout_str(s);
            }
            self.len = 0;
        }
    }
}

impl Write for LineWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let mut tmp = [0u8; 4];
            let bytes = c.encode_utf8(&mut tmp).as_bytes();
            if self.len + bytes.len() > self.buf.len() {
                self.flush();
            }
            self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        }
        Ok(())
    }
}

/// The body of [`println!`].
pub fn write_line(args: fmt::Arguments<'_>) {
    let mut w = LineWriter {
        buf: [0; 256],
        len: 0,
    };
    let _ = w.write_fmt(args);
    let _ = w.write_str("\n");
    w.flush();
}

/// Exits QEMU with status 0 (`true`) or 1.
pub fn finish(success: bool) -> ! {
    exit(if success { EXIT_SUCCESS } else { EXIT_FAILURE });
    #[allow(clippy::empty_loop)]
    loop {}
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    write_line(format_args!("PANIC: {info}"));
    finish(false)
}

#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    write_line(format_args!("HARD FAULT at pc {:#010x}", frame.pc()));
    finish(false)
}

pub mod heap {
    //! The global allocator: `embedded-alloc`'s linked-list first-fit heap over a static
    //! arena, counting what goes through it.

    use core::alloc::{GlobalAlloc, Layout};
    use core::mem::MaybeUninit;
    use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    use embedded_alloc::LlffHeap;

    /// Size of the heap arena. The flows and vectors need far less (see the README's peak);
    /// the rest of the 4 MiB RAM is stack.
    pub const ARENA_BYTES: usize = 256 * 1024;

    /// The arena (its own symbol, so the ELF report can tell it from other static RAM).
    #[no_mangle]
    static mut HEM_HEAP_ARENA: [MaybeUninit<u8>; ARENA_BYTES] =
        [MaybeUninit::uninit(); ARENA_BYTES];

    static IN_USE: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);
    static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

    /// `LlffHeap` with counters: bytes requested and in use, their peak, and the number of
    /// allocations (a `realloc` counts as one).
    pub struct CountingHeap(LlffHeap);

    #[global_allocator]
    static HEAP: CountingHeap = CountingHeap(LlffHeap::empty());

    /// Hands the arena to the allocator. Call once, first.
    pub fn init() {
        // SAFETY: called once before any allocation; the arena is used by nothing else.
        unsafe {
            let start = core::ptr::addr_of_mut!(HEM_HEAP_ARENA) as usize;
            HEAP.0.init(start, ARENA_BYTES);
        }
    }

    fn grew(size: usize) {
        let now = IN_USE.fetch_add(size, Relaxed) + size;
        if now > PEAK.load(Relaxed) {
            PEAK.store(now, Relaxed);
        }
    }

    // SAFETY: forwards to LlffHeap, which is a sound allocator; the counters only observe.
    unsafe impl GlobalAlloc for CountingHeap {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let p = self.0.alloc(layout);
            if !p.is_null() {
                ALLOCATIONS.fetch_add(1, Relaxed);
                grew(layout.size());
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            self.0.dealloc(ptr, layout);
            IN_USE.fetch_sub(layout.size(), Relaxed);
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // As GlobalAlloc's default: a new block, a copy, the old one freed (both are live
            // during the copy, and the peak says so).
            let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
                return core::ptr::null_mut();
            };
            let new = self.alloc(new_layout);
            if !new.is_null() {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }

    /// What the counters say at one moment.
    #[derive(Clone, Copy, Debug)]
    pub struct Counters {
        /// Bytes requested and not yet freed.
        pub in_use: usize,
        /// The largest `in_use` since the last [`reset_peak`].
        pub peak: usize,
        /// Allocations since boot.
        pub allocations: usize,
    }

    /// The counters now.
    pub fn counters() -> Counters {
        Counters {
            in_use: IN_USE.load(Relaxed),
            peak: PEAK.load(Relaxed),
            allocations: ALLOCATIONS.load(Relaxed),
        }
    }

    /// Starts a new peak from what is in use now; returns the peak so far.
    pub fn reset_peak() -> usize {
        PEAK.swap(IN_USE.load(Relaxed), Relaxed)
    }

    /// Runs `f`; returns its result, the allocations it made and its peak heap above what was
    /// in use before (the overall peak is kept).
    pub fn measure<R>(f: impl FnOnce() -> R) -> (R, usize, usize) {
        let before = counters();
        let old_peak = reset_peak();
        let r = f();
        let after = counters();
        let call_peak = after.peak - before.in_use;
        if old_peak > after.peak {
            PEAK.store(old_peak, Relaxed);
        }
        (r, after.allocations - before.allocations, call_peak)
    }
}

pub mod insns {
    //! Instructions executed, from QEMU's virtual clock.
    //!
    //! QEMU's `mps2-an386` clocks its CMSDK APB timers at 25 MHz of *virtual* time; under
    //! `-icount shift=S`, virtual time advances exactly 2^S ns per instruction executed, so
    //! one instruction is 2^S / 40 timer ticks. [`calibrate`] finds S by timing a loop of a
    //! known number of instructions; with S ≥ 7 a tick is finer than an instruction and the
    //! count is exact. The Cortex-M DWT cycle counter is not emulated (it reads 0).

    use core::ptr::{read_volatile, write_volatile};
    use core::sync::atomic::{compiler_fence, Ordering::SeqCst};

    const TIMER0: usize = 0x4000_0000;
    const CTRL: usize = TIMER0;
    const VALUE: usize = TIMER0 + 4;
    const RELOAD: usize = TIMER0 + 8;

    /// Timer ticks per second of virtual time (QEMU's `SYSCLK_FRQ` for the MPS2 boards).
    pub const TIMER_HZ: u64 = 25_000_000;

    static mut SHIFT: Option<u32> = None;
    static mut OVERHEAD: u64 = 0;

    /// Starts timer 0 as a free-running 32-bit down counter.
    pub fn init() {
        // SAFETY: MMIO registers of the CMSDK APB timer on mps2-an386.
        unsafe {
            write_volatile(CTRL as *mut u32, 0);
            write_volatile(RELOAD as *mut u32, u32::MAX);
            write_volatile(VALUE as *mut u32, u32::MAX);
            write_volatile(CTRL as *mut u32, 1);
        }
    }

    #[inline(always)]
    fn ticks() -> u32 {
        // SAFETY: MMIO read of the timer's current value.
        unsafe { read_volatile(VALUE as *const u32) }
    }

    /// `2 * n + c` instructions: a `subs`/`bne` loop of `n` turns.
    #[inline(never)]
    fn spin(n: u32) {
        // SAFETY: register-only loop.
        unsafe {
            core::arch::asm!("1:", "subs {0}, #1", "bne 1b", inout(reg) n => _, options(nostack));
        }
    }

    fn ticks_of(f: impl FnOnce()) -> u32 {
        let a = ticks();
        compiler_fence(SeqCst);
        f();
        compiler_fence(SeqCst);
        let b = ticks();
        a.wrapping_sub(b)
    }

    /// Finds the icount shift from a loop of 200 000 instructions; `None` when the timer does
    /// not advance by a whole power of two per instruction (QEMU run without `-icount`).
    /// Then measures the counter's own overhead (an empty call), subtracted from every count.
    pub fn calibrate() -> Option<u32> {
        let short = ticks_of(|| spin(1_000));
        let long = ticks_of(|| spin(101_000));
        // 100 000 more turns of 2 instructions: 200 000 instructions; at 2^S ns each and
        // 25 ticks per µs that is 5000 · 2^S ticks. The two timed regions differ by the odd
        // instruction the compiler schedules between the reads, hence the 0.1 % tolerance.
        let delta = u64::from(long.wrapping_sub(short));
        let shift = (0..16).find(|s| (5000u64 << s).abs_diff(delta) * 1000 <= 5000u64 << s);
        // SAFETY: single-threaded; written before any measurement reads them.
        unsafe {
            SHIFT = shift;
            OVERHEAD = 0;
            let (_, o) = measure(|| ());
            OVERHEAD = o.unwrap_or(0);
        }
        shift
    }

    /// The shift found by [`calibrate`].
    pub fn shift() -> Option<u32> {
        // SAFETY: single-threaded read.
        unsafe { SHIFT }
    }

    /// The counter's own overhead, in instructions (already subtracted by [`measure`]).
    pub fn overhead() -> u64 {
        // SAFETY: single-threaded read.
        unsafe { OVERHEAD }
    }

    #[inline(never)]
    fn call<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    /// Runs `f`; returns its result and the instructions it executed (call included, the
    /// counter's overhead excluded), or `None` when not running under `-icount`.
    pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Option<u64>) {
        let a = ticks();
        compiler_fence(SeqCst);
        let r = call(f);
        compiler_fence(SeqCst);
        let b = ticks();
        let ticks = u64::from(a.wrapping_sub(b));
        let insns = shift().map(|s| {
            // ticks = insns · 2^S / 40, rounded to the nearest instruction.
            let x = (ticks * 40 + (1 << s) / 2) >> s;
            x.saturating_sub(overhead())
        });
        (r, insns)
    }
}

pub mod stack {
    //! Peak stack of a call, by painting.
    //!
    //! [`measure`] paints [`WINDOW_BYTES`] of free stack below the caller's stack pointer
    //! with [`PAINT`], runs the call, and finds the deepest word that no longer holds the
    //! pattern: the call's peak is the distance from the stack pointer before the call to that
    //! word. No interrupt is enabled, so nothing but the call writes there. A word the call
    //! writes with the very pattern, or stack it reserves but never writes, is not seen:
    //! the figure is the deepest stack *written*.

    use core::ptr::{read_volatile, write_volatile};

    /// The pattern.
    pub const PAINT: u32 = 0xC5AC_CE55;
    /// How much stack below the caller is painted; a call reaching its bottom reports
    /// "at least" this much.
    pub const WINDOW_BYTES: usize = 128 * 1024;

    #[inline(always)]
    fn sp() -> usize {
        cortex_m::register::msp::read() as usize
    }

    /// Paints `[bottom, own sp - 64)`: below this function's own frame, which the call will
    /// overwrite anyway.
    #[inline(never)]
    fn paint(bottom: usize) {
        let top = sp() - 64;
        let mut p = bottom;
        while p < top {
            // SAFETY: free stack below the live frames (the window is checked against the
            // end of static RAM by the caller).
            unsafe { write_volatile(p as *mut u32, PAINT) };
            p += 4;
        }
    }

    #[inline(never)]
    fn call<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    extern "C" {
        static _stack_end: u32;
    }

    /// Runs `f`; returns its result and its peak stack in bytes, measured from the stack
    /// pointer before the call (so a result `f` keeps on its own frame is included).
    pub fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
        let sp0 = sp() & !3;
        // A linker symbol's address (cortex-m-rt: the lowest address of the stack).
        let limit = core::ptr::addr_of!(_stack_end) as usize;
        let bottom = sp0.saturating_sub(WINDOW_BYTES).max(limit);
        paint(bottom);
        let r = call(f);
        let mut p = bottom;
        // SAFETY: reads of the painted window.
        while p < sp0 && unsafe { read_volatile(p as *const u32) } == PAINT {
            p += 4;
        }
        (r, sp0 - p)
    }
}

/// A fixed clock for the images: the time the protocol fixtures are built at (the real device
/// capture's `iat`, as the host benches use).
pub const FIXTURE_NOW: u64 = 1_784_767_764;
