//! The period clock: wakes the audio thread at absolute deadlines `start + k × period`, so
//! the lateness of one wake-up never shifts the later ones (a relative `sleep(period)`
//! would drift by the wake-up latency every period).
//!
//! | OS | clock | sleep |
//! |---|---|---|
//! | Linux, Android | `CLOCK_MONOTONIC` (the hal clock) | `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`, resumed after `EINTR` with the same deadline |
//! | macOS | `mach_absolute_time` | `mach_wait_until(deadline)` (public, `<mach/mach_time.h>`), resumed after an abort |
//!
//! On macOS `mach_absolute_time` stops while the machine sleeps, which is what an audio
//! device clock does too. The macOS branch is compiled for both Apple targets here and has
//! **not been executed** (no Mac).
//!
//! Real-time class of [`PeriodClock::wait_next`]: **may block** — it is the one place the
//! audio thread sleeps, *between* callbacks, never inside one.

use std::time::Duration;

/// Wakes the caller at `start + k × period` for k = 1, 2, …
#[derive(Debug)]
pub struct PeriodClock {
    /// Start, in the OS clock's units (ns on Linux, Mach ticks on macOS).
    start: u64,
    /// Period in nanoseconds.
    period_ns: u64,
    /// Index of the next deadline.
    next: u64,
}

/// What a wake-up found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Index of the deadline that was waited for (1 for the first call).
    pub index: u64,
    /// How late the thread woke after that deadline, in nanoseconds.
    pub late_ns: u64,
    /// Whole periods that passed unserved because the wake-up came more than a period
    /// late: those periods are skipped (a host xrun), and the clock moves on to the next
    /// deadline still ahead.
    pub skipped: u64,
}

impl PeriodClock {
    /// A clock whose deadline 0 is now. Real-time class: wait-free.
    pub fn start(period: Duration) -> Self {
        let period_ns = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX).max(1);
        Self {
            start: now_raw(),
            period_ns,
            next: 1,
        }
    }

    /// Sleeps until the next deadline and reports how late the wake-up was. Real-time
    /// class: **may block** (sleeps; call it between callbacks).
    pub fn wait_next(&mut self) -> Tick {
        let index = self.next;
        let deadline_ns = index.saturating_mul(self.period_ns);
        sleep_until(self.start, deadline_ns);
        let elapsed_ns = elapsed_ns_since(self.start);
        let late_ns = elapsed_ns.saturating_sub(deadline_ns);
        // A wake-up more than a period late has missed whole deadlines: serve the latest
        // one now and continue from the one after it.
        let skipped = late_ns / self.period_ns;
        self.next = index + skipped + 1;
        Tick {
            index: index + skipped,
            late_ns: late_ns - skipped * self.period_ns,
            skipped,
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn now_raw() -> u64 {
    shmsync::hal::clock::Instant::now().as_nanos()
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn elapsed_ns_since(start: u64) -> u64 {
    now_raw().saturating_sub(start)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn sleep_until(start: u64, offset_ns: u64) {
    let at = start.saturating_add(offset_ns);
    let ts = libc::timespec {
        // `as _`: time_t is i64 on glibc and 64-bit musl targets (libc deprecates the alias
        // on musl); nanoseconds since boot / 1e9 fits either way.
        tv_sec: (at / 1_000_000_000) as _,
        tv_nsec: (at % 1_000_000_000) as libc::c_long,
    };
    loop {
        // SAFETY: `ts` is a valid timespec; the remaining-time pointer may be null with
        // TIMER_ABSTIME.
        let r = unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &ts,
                core::ptr::null_mut(),
            )
        };
        // Absolute deadline: a signal interrupts, the same deadline is resumed.
        if r != libc::EINTR {
            return;
        }
    }
}

/// `<mach/mach_time.h>`, declared here (the `libc` crate deprecates its Mach items in
/// favour of `mach2`, which this workspace does not otherwise need for the example).
#[cfg(target_os = "macos")]
pub(super) mod mach {
    /// `mach_timebase_info_data_t`: ticks × numer / denom = nanoseconds.
    #[repr(C)]
    pub struct TimebaseInfo {
        pub numer: u32,
        pub denom: u32,
    }

    unsafe extern "C" {
        /// Blocks until `mach_absolute_time() >= deadline`.
        pub fn mach_wait_until(deadline: u64) -> libc::c_int;
        /// Ticks since boot, not counting sleep.
        pub fn mach_absolute_time() -> u64;
        /// The tick-to-nanosecond ratio.
        pub fn mach_timebase_info(info: *mut TimebaseInfo) -> libc::c_int;
    }

    /// The timebase (numer, denom), read once. Real-time class: wait-free after the
    /// first call.
    pub fn timebase() -> (u64, u64) {
        use std::sync::OnceLock;
        static TB: OnceLock<(u64, u64)> = OnceLock::new();
        *TB.get_or_init(|| {
            let mut info = TimebaseInfo { numer: 0, denom: 0 };
            // SAFETY: `info` is a valid, writable mach_timebase_info_data_t.
            unsafe { mach_timebase_info(&mut info) };
            if info.numer == 0 || info.denom == 0 {
                (1, 1)
            } else {
                (u64::from(info.numer), u64::from(info.denom))
            }
        })
    }
}

/// Nanoseconds to Mach absolute-time ticks, rounded up (`ticks = ns × denom / numer`).
/// Real-time class: wait-free after the first call (which reads the timebase).
#[cfg(target_os = "macos")]
pub fn ns_to_mach(ns: u64) -> u64 {
    let (numer, denom) = mach::timebase();
    let t = (u128::from(ns) * u128::from(denom)).div_ceil(u128::from(numer));
    u64::try_from(t).unwrap_or(u64::MAX)
}

#[cfg(target_os = "macos")]
fn now_raw() -> u64 {
    // SAFETY: no preconditions.
    unsafe { mach::mach_absolute_time() }
}

#[cfg(target_os = "macos")]
fn elapsed_ns_since(start: u64) -> u64 {
    let (numer, denom) = mach::timebase();
    let ticks = now_raw().saturating_sub(start);
    u64::try_from(u128::from(ticks) * u128::from(numer) / u128::from(denom)).unwrap_or(u64::MAX)
}

#[cfg(target_os = "macos")]
fn sleep_until(start: u64, offset_ns: u64) {
    let deadline = start.saturating_add(ns_to_mach(offset_ns));
    // SAFETY: mach_absolute_time has no preconditions.
    while unsafe { mach::mach_absolute_time() } < deadline {
        // SAFETY: plain blocking call on a deadline in mach_absolute_time units; an abort
        // (KERN_ABORTED) returns early and the loop resumes the same deadline.
        unsafe { mach::mach_wait_until(deadline) };
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos")))]
fn now_raw() -> u64 {
    shmsync::hal::clock::Instant::now().as_nanos()
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos")))]
fn elapsed_ns_since(start: u64) -> u64 {
    now_raw().saturating_sub(start)
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos")))]
fn sleep_until(start: u64, offset_ns: u64) {
    let left = offset_ns.saturating_sub(elapsed_ns_since(start));
    std::thread::sleep(Duration::from_nanos(left));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_advance_and_a_late_caller_skips_whole_periods() {
        let period = Duration::from_millis(2);
        let mut c = PeriodClock::start(period);
        let t1 = c.wait_next();
        // On a loaded machine even the first wake-up may come periods late: then it says
        // how many it skipped, and the index accounts for them.
        assert_eq!(t1.index, 1 + t1.skipped, "{t1:?}");
        // Oversleep by five periods: the next deadline (t1.index + 1) is at least four
        // periods in the past when we come back.
        std::thread::sleep(period * 5);
        let t2 = c.wait_next();
        assert!(t2.skipped >= 4, "{t2:?}");
        assert_eq!(t2.index, t1.index + 1 + t2.skipped, "{t2:?} after {t1:?}");
        assert!(
            t2.late_ns < 2_000_000,
            "lateness stays within one period: {t2:?}"
        );
    }
}
