//! [`Condvar`]: a sequence-counting condition variable for [`Mutex`].
//!
//! `seq` counts notifications; a waiter reads it while still holding the mutex, releases
//! the mutex and sleeps only while `seq` is unchanged, so a notification issued after the
//! waiter checked its condition (which needs the mutex, which the waiter held until after
//! reading `seq`) always changes `seq` first: no lost wakeup. `waiters` counts threads
//! between "about to sleep" and "awake again"; a notify that reads 0 there does nothing
//! else: one atomic load, no syscall.
//!
//! # A woken waiter that dies
//! A waiter woken by `notify_one` may be SIGKILLed before it re-takes the mutex and
//! re-checks its condition; with a kernel wake-one its wake-up would die with it and the
//! other waiters would sleep on although the condition holds. So `notify_one` wakes one
//! thread only when `waiters` reads 1 and wakes all otherwise. Exact, without timers:
//! every waiter that a notification must reach counted itself under the mutex before the
//! notifier changed the condition under that mutex, so the notifier's load sees it; a
//! waiter counted later reads `seq` after that change and checks the condition itself.
//! With one counted waiter it is the only sleeper the notification concerns; with two or
//! more, all wake and re-check. Cost: with two or more waiters `notify_one` is a
//! `notify_all` (they then queue on the mutex); a waiter that dies while counted keeps
//! `waiters` one too high, so later notifications make a wake syscall nobody needed.
//!
//! ```
//! use shmsync::sync::{Condvar, Mutex};
//! static READY: Mutex<u32> = Mutex::new(0);
//! static CHANGED: Condvar = Condvar::new();
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         *READY.lock().unwrap() = 1;
//!         CHANGED.notify_one();
//!     });
//!     let mut ready = READY.lock().unwrap();
//!     while *ready == 0 {
//!         ready = CHANGED.wait(ready).unwrap();
//!     }
//! });
//! ```

use super::OwnerDead;
use super::hooks::{self, Site};
use super::mutex::{LockResult, MutexGuard};
use super::shim::{self, AtomicU32, Instant, Ordering, Wait, maybe_const_fn};
use crate::ShmSafe;
use core::fmt;
use core::time::Duration;

/// A condition variable placed in shared memory, used with a [`Mutex`](super::Mutex).
///
/// Rules, as for every condition variable: change the condition while holding the mutex
/// (then notify, with or without it), and re-check the condition after every wake-up:
/// wake-ups may be spurious. Use one mutex with a given condvar at a time.
///
/// Layout (`#[repr(C)]`): `seq` at 0, `waiters` at 4; 8 bytes, align 4; all-zero = no
/// waiters.
#[repr(C)]
pub struct Condvar {
    /// Notification counter; sleepers wait on it. Wraps (2^32 notifications between a
    /// waiter's read and its sleep would be needed to fool it).
    seq: AtomicU32,
    /// Threads that may be asleep on `seq` (counted before the mutex is released).
    waiters: AtomicU32,
}

#[cfg(not(all(loom, test)))]
crate::assert_layout!(Condvar, size = 8, align = 4, offsets = { seq: 0, waiters: 4 });

// SAFETY: `#[repr(C)]` of two `AtomicU32`; all-zero = no waiters; any bit pattern is a
// valid state (a wrong `waiters` only costs a needless syscall or a wait until timeout).
#[cfg(not(all(loom, test)))]
unsafe impl ShmSafe for Condvar {
    const TAG: u64 = crate::tag(b"shmsync::Condvar/1");
}

/// Whether a timed condvar wait ended by its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True when the wait ended because the timeout elapsed (the condition may still have
    /// become true meanwhile: re-check it).
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

impl Condvar {
    maybe_const_fn! {
        /// A condvar with no waiters. Real-time class: wait-free.
        pub fn new() -> Self {
            Self {
                seq: AtomicU32::new(0),
                waiters: AtomicU32::new(0),
            }
        }
    }

    /// Releases the mutex, sleeps until notified, then re-takes the mutex.
    /// `Err(OwnerDead)` (with the guard) when re-taking found the mutex's previous holder
    /// dead.
    ///
    /// Real-time class: **may block**.
    pub fn wait<'a, T: ShmSafe>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        rtsan_blocking!(c"shmsync::Condvar::wait");
        self.wait_until(guard, None)
            .map(|(g, _)| g)
            .map_err(|e| e.map(|(g, _)| g))
    }

    /// Like [`wait`](Self::wait), for at most `timeout`.
    ///
    /// Real-time class: **may block** (at most `timeout`, plus re-taking the mutex).
    pub fn wait_timeout<'a, T: ShmSafe>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        rtsan_blocking!(c"shmsync::Condvar::wait_timeout");
        self.wait_until(guard, shim::deadline_after(timeout))
    }

    /// Like [`wait`](Self::wait), until `deadline` on the hal's monotonic clock (`None`:
    /// no limit).
    ///
    /// Real-time class: **may block**.
    pub fn wait_until<'a, T: ShmSafe>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        rtsan_blocking!(c"shmsync::Condvar::wait_until");
        let mutex = guard.mutex();
        // Both under the mutex: a notifier that changes the condition after we release the
        // mutex sees our count (the mutex orders it) and changes `seq` after our read.
        self.waiters.fetch_add(1, Ordering::Relaxed);
        let seq = self.seq.load(Ordering::Relaxed);
        drop(guard);
        let woke = shim::wait_until(&self.seq, seq, deadline);
        // Woken (or timed out): dying here must not strand a notification (see
        // `notify_one`).
        hooks::call(Site::CondvarWoken);
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        let result = WaitTimeoutResult(woke == Wait::TimedOut);
        match mutex.lock() {
            Ok(g) => Ok((g, result)),
            Err(dead) => Err(dead.map(|g| (g, result))),
        }
    }

    /// Waits while `condition` holds: checks it under the mutex, and sleeps (as
    /// [`wait`](Self::wait)) each time it is still true, so spurious wake-ups are absorbed.
    /// Returns with the mutex held and `condition` false — or `Err(OwnerDead)` (with the
    /// guard) as soon as re-taking the mutex found its previous holder dead; the condition
    /// is not re-checked then, since the data may need repair first.
    ///
    /// ```
    /// use shmsync::{Condvar, Mutex};
    ///
    /// static QUEUED: Mutex<u32> = Mutex::new(1);
    /// static CHANGED: Condvar = Condvar::new();
    /// // Returns at once: the condition (nothing queued) is already false.
    /// let guard = CHANGED.wait_while(QUEUED.lock().unwrap(), |queued| *queued == 0).unwrap();
    /// assert_eq!(*guard, 1);
    /// ```
    ///
    /// Real-time class: **may block**.
    pub fn wait_while<'a, T: ShmSafe>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> LockResult<MutexGuard<'a, T>> {
        rtsan_blocking!(c"shmsync::Condvar::wait_while");
        while condition(&mut guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Like [`wait_while`](Self::wait_while), for at most `timeout` in all (one deadline,
    /// however many wake-ups). The result says it timed out only when `condition` still
    /// held at the end: a change that lands with the deadline counts as success.
    ///
    /// Real-time class: **may block** (at most `timeout`, plus re-taking the mutex).
    pub fn wait_timeout_while<'a, T: ShmSafe>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
        condition: impl FnMut(&mut T) -> bool,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        rtsan_blocking!(c"shmsync::Condvar::wait_timeout_while");
        self.wait_until_while(guard, shim::deadline_after(timeout), condition)
    }

    /// Like [`wait_while`](Self::wait_while), until `deadline` on the hal's monotonic
    /// clock (`None`: no limit).
    ///
    /// Real-time class: **may block**.
    pub fn wait_until_while<'a, T: ShmSafe>(
        &self,
        mut guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        rtsan_blocking!(c"shmsync::Condvar::wait_until_while");
        while condition(&mut guard) {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok((guard, WaitTimeoutResult(true)));
            }
            guard = match self.wait_until(guard, deadline) {
                Ok((g, _)) => g,
                Err(dead) => return Err(dead),
            };
        }
        Ok((guard, WaitTimeoutResult(false)))
    }

    /// Wakes one waiter — or, when two or more are counted, every waiter (allowed: wake-ups
    /// may be spurious), so that a woken waiter whose process dies before it re-takes the
    /// mutex cannot strand the others (see [Waiters that die](super#waiters-that-die)).
    ///
    /// Real-time class: **may wake** — one atomic load and no syscall when nobody waits;
    /// otherwise one increment and one wake syscall.
    #[inline]
    pub fn notify_one(&self) {
        match self.waiters.load(Ordering::Relaxed) {
            0 => {}
            1 => {
                self.seq.fetch_add(1, Ordering::Relaxed);
                shim::wake_one(&self.seq);
            }
            _ => {
                self.seq.fetch_add(1, Ordering::Relaxed);
                shim::wake_all(&self.seq);
            }
        }
    }

    /// loom only: a waiter that dies as soon as it is woken — counted, mutex released,
    /// asleep; then gone without re-taking the mutex or uncounting.
    #[cfg(all(loom, test))]
    pub(crate) fn loom_dying_waiter<T: ShmSafe>(&self, guard: MutexGuard<'_, T>) {
        self.waiters.fetch_add(1, Ordering::Relaxed);
        let seq = self.seq.load(Ordering::Relaxed);
        drop(guard);
        let _ = shim::wait_until(&self.seq, seq, None);
    }

    /// loom only: the dying waiter's kernel wait vanishes (called after the live waiter
    /// finished on its own).
    #[cfg(all(loom, test))]
    pub(crate) fn loom_reap_dying_waiter(&self) {
        self.seq.fetch_add(1, Ordering::Relaxed);
        shim::wake_all(&self.seq);
    }

    /// Wakes every waiter. Real-time class: **may wake** — one atomic load and no syscall
    /// when nobody waits; otherwise one increment and one wake syscall.
    #[inline]
    pub fn notify_all(&self) {
        if self.waiters.load(Ordering::Relaxed) != 0 {
            self.seq.fetch_add(1, Ordering::Relaxed);
            shim::wake_all(&self.seq);
        }
    }
}

impl Default for Condvar {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar")
            .field("waiters", &self.waiters.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<G> OwnerDead<G> {
    /// Applies `f` to the carried guard (used to attach a wait result).
    pub(crate) fn map<H>(self, f: impl FnOnce(G) -> H) -> OwnerDead<H> {
        OwnerDead::new(f(self.into_inner()))
    }
}
