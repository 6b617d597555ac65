//! The monotonic clock that timeouts are measured on.
//!
//! [`Instant`] counts nanoseconds since an unspecified origin (boot on Linux), as a `u64`:
//! 584 years of range, so `checked_add` only fails for absurd timeouts, which callers treat
//! as "no time limit".
//!
//! Sources: `clock_gettime(CLOCK_MONOTONIC)` on Linux and other Unix (a vDSO call on
//! Linux, no syscall); on Apple targets `mach_absolute_time` scaled by the cached
//! `mach_timebase_info` (a commpage read, no syscall) — the clock os_sync deadlines are
//! given in, and the one `CLOCK_UPTIME_RAW` reads, so it does not advance while the Mac
//! sleeps; on targets with no OS, a function registered with [`set_source`]. Without one, the
//! spin backend bounds timed waits by counting relax calls (see `set_source`).

use core::time::Duration;

/// A point on the monotonic clock, in nanoseconds. Not wall time; comparable only within
/// one boot of one machine (which is all that processes sharing memory need).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// Now. Real-time class: **wait-free** on Linux (vDSO) and with a registered source.
    #[inline]
    pub fn now() -> Self {
        Self(now_ns())
    }

    /// An instant from raw nanoseconds on this clock. Real-time class: wait-free.
    #[inline]
    pub const fn from_nanos(ns: u64) -> Self {
        Self(ns)
    }

    /// Raw nanoseconds on this clock. Real-time class: wait-free.
    #[inline]
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// `self + d`, or `None` when that is past the clock's range (≈ 584 years).
    /// Real-time class: wait-free.
    #[inline]
    pub fn checked_add(self, d: Duration) -> Option<Self> {
        let ns = u64::try_from(d.as_nanos()).ok()?;
        self.0.checked_add(ns).map(Self)
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later. Real-time class: wait-free.
    #[inline]
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// Time left until `self`, zero once it has passed. Real-time class: wait-free.
    #[inline]
    pub fn remaining(self) -> Duration {
        self.saturating_duration_since(Instant::now())
    }

    /// Time elapsed since `self`. Real-time class: wait-free.
    #[inline]
    pub fn elapsed(self) -> Duration {
        Instant::now().saturating_duration_since(self)
    }
}

#[cfg(target_vendor = "apple")]
#[inline]
fn now_ns() -> u64 {
    crate::darwin::time::now_ns()
}

#[cfg(all(unix, not(target_vendor = "apple")))]
#[inline]
fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC exists on every Unix
    // shmsync supports (Linux, Android, macOS 10.12+), so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

#[cfg(not(unix))]
mod source {
    use crate::atomic::{AtomicU32, Ordering};
    use core::sync::atomic::AtomicPtr;

    /// The registered clock, as a `fn() -> u64` stored type-erased.
    static SOURCE: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
    /// Fallback counter when nothing is registered: "virtual nanoseconds" advanced by
    /// the spin backend at its nominal cost per relax call.
    pub(super) static VIRTUAL_NS: AtomicU32 = AtomicU32::new(0);

    pub(super) fn set(f: fn() -> u64) {
        SOURCE.store(f as *mut (), Ordering::Release);
    }

    pub(super) fn get() -> Option<fn() -> u64> {
        let p = SOURCE.load(Ordering::Acquire);
        if p.is_null() {
            None
        } else {
            // SAFETY: the only non-null value ever stored is a `fn() -> u64` cast in `set`.
            Some(unsafe { core::mem::transmute::<*mut (), fn() -> u64>(p) })
        }
    }
}

/// Registers the monotonic nanosecond clock on targets with no OS (e.g. a timer peripheral
/// scaled to ns). Call it once at start-up, before any timed wait.
///
/// Without a registered source, [`Instant::now`] returns "virtual time" that the spin
/// backend advances by its nominal cost per `cpu_relax` (documented in the spin backend),
/// so timed waits still end, but their length is only approximate.
///
/// Real-time class: wait-free.
#[cfg(not(unix))]
pub fn set_source(f: fn() -> u64) {
    source::set(f);
}

#[cfg(not(unix))]
#[inline]
fn now_ns() -> u64 {
    match source::get() {
        Some(f) => f(),
        None => u64::from(source::VIRTUAL_NS.load(crate::atomic::Ordering::Relaxed)),
    }
}

/// Advances virtual time (no-OS targets without a registered source only).
#[cfg(not(unix))]
pub(crate) fn advance_virtual(ns: u32) {
    if source::get().is_none() {
        // A load and a store, not a fetch_add: thumbv6m has no CAS, and virtual time only
        // needs to move forward, not to count exactly under concurrency.
        let v = source::VIRTUAL_NS.load(crate::atomic::Ordering::Relaxed);
        source::VIRTUAL_NS.store(v.saturating_add(ns), crate::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_add_saturates_to_none_and_arithmetic_is_exact() {
        let t = Instant::from_nanos(1_000);
        assert_eq!(
            t.checked_add(Duration::from_nanos(5)),
            Some(Instant::from_nanos(1_005))
        );
        assert_eq!(t.checked_add(Duration::MAX), None);
        assert_eq!(
            Instant::from_nanos(u64::MAX - 1).checked_add(Duration::from_nanos(2)),
            None
        );
        assert_eq!(
            Instant::from_nanos(10).saturating_duration_since(Instant::from_nanos(20)),
            Duration::ZERO
        );
        assert_eq!(
            Instant::from_nanos(30).saturating_duration_since(Instant::from_nanos(20)),
            Duration::from_nanos(10)
        );
    }

    #[cfg(unix)]
    #[test]
    fn now_is_monotonic() {
        let a = Instant::now();
        let b = Instant::now();
        assert!(b >= a);
    }
}
