//! `mach_absolute_time`, the clock of [`Instant`](crate::clock::Instant) on Apple targets.
//!
//! os_sync's deadlines are in `mach_absolute_time` ticks (`OS_CLOCK_MACH_ABSOLUTE_TIME` is
//! the only clock it accepts), so `Instant` counts on the same clock: a deadline taken from
//! `Instant` converts to ticks without drift between two clocks. It is the clock that
//! `clock_gettime(CLOCK_UPTIME_RAW)` reads; it does **not** advance while the Mac sleeps,
//! so a timed wait spanning a system sleep lasts longer in wall-clock time (stated by
//! Apple DTS, developer.apple.com/forums/thread/12135; not verifiable on this Linux host).
//!
//! The tick ↔ ns ratio (`mach_timebase_info`) is read once and cached in an atomic.

use crate::mach::abi::{self, kern_return_t, mach_timebase_info_data_t as MachTimebaseInfo};
use crate::timeout::Timebase;
use core::sync::atomic::{AtomicU64, Ordering};

// Public libSystem functions of `<mach/mach_time.h>`, present on every macOS (the `libc`
// crate marks its declarations deprecated in favour of `mach2`). `mach_absolute_time` is
// `mach2`'s, bound to the signature the `apple-headers` lane checks; `mach_timebase_info`
// is declared here because `mach2`'s takes its own struct type, not the checked one (same
// layout, asserted).
use mach2::mach_time::mach_absolute_time;
const _: abi::MachAbsoluteTime = mach_absolute_time;
unsafe extern "C" {
    fn mach_timebase_info(info: *mut MachTimebaseInfo) -> kern_return_t;
}
const _: abi::MachTimebaseInfo = mach_timebase_info;
const _: () = assert!(
    core::mem::size_of::<mach2::mach_time::mach_timebase_info>()
        == core::mem::size_of::<MachTimebaseInfo>()
);

/// The cached timebase, [`Timebase::pack`]ed; 0 = not read yet (a packed timebase is
/// never 0). Racing first readers store the same value.
static TIMEBASE: AtomicU64 = AtomicU64::new(0);

/// The tick ↔ ns ratio. Real-time class: wait-free after the first call (one load); the
/// first call makes one `mach_timebase_info` call (a commpage read, no syscall).
#[inline]
pub(crate) fn timebase() -> Timebase {
    let packed = TIMEBASE.load(Ordering::Relaxed);
    if packed != 0 {
        return Timebase::unpack(packed);
    }
    read_timebase()
}

#[cold]
fn read_timebase() -> Timebase {
    let mut info = MachTimebaseInfo { numer: 0, denom: 0 };
    // SAFETY: `info` is a valid, writable `mach_timebase_info` struct.
    let kr = unsafe { mach_timebase_info(&mut info) };
    // KERN_SUCCESS = 0. On failure, `new` sees zeros and falls back to 1/1.
    let tb = if kr == 0 {
        Timebase::new(info.numer, info.denom)
    } else {
        Timebase::IDENTITY
    };
    TIMEBASE.store(tb.pack(), Ordering::Relaxed);
    tb
}

/// Now, in `mach_absolute_time` ticks. Real-time class: wait-free (a commpage read).
#[inline]
pub(crate) fn now_ticks() -> u64 {
    // SAFETY: no arguments, no preconditions.
    unsafe { mach_absolute_time() }
}

/// Now, in nanoseconds on the same clock. Real-time class: wait-free.
#[inline]
pub(crate) fn now_ns() -> u64 {
    timebase().ticks_to_ns(now_ticks())
}
