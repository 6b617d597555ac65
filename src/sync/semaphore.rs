//! [`Semaphore`]: a counting semaphore in shared memory.
//!
//! `count` is the number of available units and the word sleepers wait on (while it is
//! 0). `waiters` counts threads that may sleep; [`Semaphore::post`] adds units and makes a
//! wake syscall only when `waiters` is non-zero. Both sides use sequentially consistent
//! operations on the two words, so either the poster sees the waiter's count or the waiter
//! sees the posted units (the store–load pattern that needs `SeqCst`).
//!
//! # A woken waiter that dies
//! A kernel wake-one hands the wake-up to one sleeper. If that sleeper's process dies
//! (SIGKILL) after the kernel woke it and before it took the unit, the wake-up is gone:
//! another sleeper would sleep forever while the unit sits in `count`. So `post` wakes one
//! sleeper only when it is certain that no other can be stranded — `waiters` reads 1 and one
//! unit was added — and **every** sleeper otherwise. The argument, exact and without
//! timers:
//!
//! * `waiters` counts every thread between its increment and its decrement, so it never
//!   under-counts the threads that can be asleep (a dead waiter stays counted: it only
//!   over-counts, which costs a wake-all, never a lost wake-up).
//! * A waiter counted *after* `post`'s `SeqCst` load of `waiters` reads `count` after the
//!   unit was added (single `SeqCst` order: unit, load, its increment, its read), so it
//!   takes the unit or sees another thread take it; it does not sleep past it.
//! * So with `waiters == 1` the woken thread is the only sleeper: if it dies, nobody else
//!   sleeps on the unit, and later waiters find it. With `waiters >= 2` every sleeper
//!   wakes and re-checks; one dead one leaves the others awake to take the unit.
//!
//! Cost: with one waiter (the common producer/consumer case) nothing changed — one
//! wake-one. With two or more parked waiters a single `post(1)` wakes all of them and all
//! but one sleep again (a thundering herd proportional to the number of parked waiters);
//! no untimed wait needs a periodic re-check, so idle waiters never wake on their own.
//! A waiter that dies while counted leaves `waiters` one too high for good: later posts
//! then make a wake syscall although nobody sleeps (a cost, never a lost wake-up).
//!
//! ```
//! use shmsync::sync::Semaphore;
//! static ITEMS: Semaphore = Semaphore::new(0);
//! ITEMS.post(2).unwrap();
//! assert!(ITEMS.try_wait());
//! ITEMS.wait();
//! assert!(!ITEMS.try_wait());
//! ```

use super::hooks::{self, Site};
use super::shim::{self, AtomicU32, Instant, Ordering, Wait, maybe_const_fn};
#[cfg(not(all(loom, test)))]
use crate::ShmSafe;
use core::fmt;
use core::time::Duration;
use shmsync_arch::Backoff;

/// How many exponential spin steps a waiter spends polling before it sleeps: 4 steps
/// (15 `cpu_relax` calls, well under a microsecond) — enough to catch a post already in
/// flight, short enough not to compete with the poster for the CPU.
const SPIN_STEPS: u32 = 4;

/// A counting semaphore placed in shared memory.
///
/// Layout (`#[repr(C)]`): `count` at 0, `waiters` at 4; 8 bytes, align 4; all-zero = no
/// units, no waiters.
#[repr(C)]
pub struct Semaphore {
    /// Available units; sleepers wait on it while it is 0.
    count: AtomicU32,
    /// Threads that may be asleep on `count`.
    waiters: AtomicU32,
}

#[cfg(not(all(loom, test)))]
crate::assert_layout!(Semaphore, size = 8, align = 4, offsets = { count: 0, waiters: 4 });

// SAFETY: `#[repr(C)]` of two `AtomicU32`; all-zero = empty; any bit pattern is a valid
// (perhaps wrong) count.
#[cfg(not(all(loom, test)))]
unsafe impl ShmSafe for Semaphore {
    const TAG: u64 = crate::tag(b"shmsync::Semaphore/1");
}

/// [`Semaphore::post`] would push the count past `u32::MAX`; nothing was added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemaphoreOverflow;

impl fmt::Display for SemaphoreOverflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore count would exceed u32::MAX")
    }
}

impl core::error::Error for SemaphoreOverflow {}

impl Semaphore {
    maybe_const_fn! {
        /// A semaphore holding `initial` units. Real-time class: wait-free.
        pub fn new(initial: u32) -> Self {
            Self {
                count: AtomicU32::new(initial),
                waiters: AtomicU32::new(0),
            }
        }
    }

    /// Takes one unit if there is one. Real-time class: **lock-free** (a compare-exchange
    /// loop that retries only when another thread changed the count), no syscall.
    #[inline]
    pub fn try_wait(&self) -> bool {
        let mut v = self.count.load(Ordering::Relaxed);
        while v != 0 {
            match self
                .count
                .compare_exchange_weak(v, v - 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
        false
    }

    /// Takes one unit, sleeping until one is posted. Real-time class: **may block**.
    pub fn wait(&self) {
        rtsan_blocking!(c"shmsync::Semaphore::wait");
        while !self.wait_until(None) {}
    }

    /// Takes one unit, waiting at most `timeout`; false when none came in time.
    /// Real-time class: **may block** (at most `timeout`).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        rtsan_blocking!(c"shmsync::Semaphore::wait_timeout");
        self.wait_until(shim::deadline_after(timeout))
    }

    /// Takes one unit, waiting until `deadline` on the hal's monotonic clock (`None`: no
    /// limit); false when none came in time. Real-time class: **may block**.
    pub fn wait_until(&self, deadline: Option<Instant>) -> bool {
        rtsan_blocking!(c"shmsync::Semaphore::wait_until");
        if self.try_wait() {
            return true;
        }
        let mut backoff = Backoff::with_limit(SPIN_STEPS);
        // The deadline bounds the spin too: a timed call never spins past its timeout.
        while !backoff.is_completed() && !shim::reached(deadline) {
            shim::spin(&mut backoff);
            if self.try_wait() {
                return true;
            }
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        shim::dekker_fence();
        let got = loop {
            // SeqCst: pairs with `post`'s SeqCst count update and waiters load.
            let v = self.count.load(Ordering::SeqCst);
            if v != 0 {
                if self
                    .count
                    .compare_exchange(v, v - 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    break true;
                }
                continue;
            }
            if shim::wait_until(&self.count, 0, deadline) == Wait::TimedOut
                && shim::reached(deadline)
            {
                // A post that raced with the deadline still counts.
                break self.try_wait();
            }
            // Woken (or spuriously): dying here must not strand a unit (see `post`).
            hooks::call(Site::SemaphoreWoken);
        };
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        got
    }

    /// Adds `n` units and wakes sleepers: one when `n == 1` and one waiter is counted, all
    /// otherwise (each takes one unit; the rest sleep again), so a woken waiter that dies
    /// before taking its unit cannot strand another (see [Waiters that
    /// die](super#waiters-that-die)). `Err` when the count would overflow
    /// `u32::MAX`.
    ///
    /// Real-time class: **may wake** — a compare-exchange and one atomic load, no syscall
    /// when nobody waits; one wake syscall otherwise.
    #[inline]
    pub fn post(&self, n: u32) -> Result<(), SemaphoreOverflow> {
        if n == 0 {
            return Ok(());
        }
        let mut v = self.count.load(Ordering::Relaxed);
        loop {
            let Some(new) = v.checked_add(n) else {
                return Err(SemaphoreOverflow);
            };
            match self
                .count
                .compare_exchange_weak(v, new, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        shim::dekker_fence();
        match self.waiters.load(Ordering::SeqCst) {
            0 => {}
            // One unit, one counted waiter: wake it. Nobody else can be asleep, and any
            // waiter counted after our load sees our unit before it sleeps (see below).
            1 if n == 1 => shim::wake_one(&self.count),
            // Several units, or several waiters that a woken one's death could strand.
            _ => shim::wake_all(&self.count),
        }
        Ok(())
    }

    /// loom only: a waiter whose process dies at the worst moment — it counts itself,
    /// sleeps while the count is 0, and then vanishes without taking a unit or uncounting.
    #[cfg(all(loom, test))]
    pub(crate) fn loom_dying_waiter(&self) {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        shim::dekker_fence();
        if self.count.load(Ordering::SeqCst) == 0 {
            let _ = shim::wait_until(&self.count, 0, None);
        }
    }

    /// Units available now (a snapshot). Real-time class: wait-free.
    pub fn count(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }
}

impl Default for Semaphore {
    fn default() -> Self {
        Self::new(0)
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("count", &self.count.load(Ordering::Relaxed))
            .field("waiters", &self.waiters.load(Ordering::Relaxed))
            .finish()
    }
}
