//! Locks placed in memory shared between processes: [`Mutex`], [`Condvar`],
//! [`Semaphore`], [`RwLock`], [`AutoResetEvent`] and [`ManualResetEvent`].
//!
//! Each is `#[repr(C)]` over 32-bit atomic words, implements [`ShmSafe`](crate::ShmSafe),
//! has a `const fn new`, treats all-zero bytes as unlocked/empty, and has its layout pinned
//! by `assert_layout!`. Sleeping goes through the hal (`shmsync_hal::wait_until` /
//! `wake_one` / `wake_all`), which matches words by their shared identity, so processes
//! mapping one region at different addresses meet on the same word. Every wake syscall is
//! skipped when nobody can be asleep: releasing an uncontended lock, notifying a condvar
//! nobody waits on, posting a semaphore or setting an event with no sleeper make no
//! syscall.
//!
//! | type | fast path | sleeps on | wakes only when |
//! |---|---|---|---|
//! | [`Mutex`] | one compare-exchange | its state word | the `PARKED` bit was set |
//! | [`Condvar`] | — (notify: one load) | a notification counter | its waiter count is non-zero |
//! | [`Semaphore`] | one compare-exchange | the count (while 0) | its waiter count is non-zero |
//! | [`RwLock`] | one compare-exchange | an event counter | its sleeper count is non-zero |
//! | events | one swap / load | the state (while unset) | it was unset and waiters exist |
//!
//! # Waiters that die
//! A waiter's process may be SIGKILLed at any point of a wait, including the worst one:
//! after a `post` / `set` / `notify_one` woke it and before it consumed. No untimed wait
//! then sleeps on while what it waits for is there:
//!
//! * [`Semaphore::post`], [`AutoResetEvent::set`] and [`Condvar::notify_one`] wake one
//!   sleeper only when exactly one waiter is counted (then it is provably the only sleeper,
//!   and later waiters see the change before they sleep) and every sleeper otherwise, so
//!   one dead woken waiter leaves the others awake. Exact, no timer: idle waiters never wake
//!   on their own. [`ManualResetEvent::set`] always wakes everyone.
//! * An [`RwLock`] writer that dies while waiting leaves an announcement that would keep
//!   readers out of a free lock; a blocked reader declares it stale after
//!   [`WRITER_STALL_PERIOD`] of a free, announced, otherwise idle lock (fairness is the only
//!   thing at stake: exclusion is decided by the lock word alone).
//! * What stays: a dead waiter's count in a `waiters`/`sleepers` word, which only makes
//!   later wakers issue a wake syscall nobody needed.
//!
//! Tested by forcing the window across processes (`tests/locks_death.rs`, `test-hooks`
//! feature) and in loom models with a waiter that vanishes once woken.
//!
//! # Owner death: how liveness is decided
//! A [`Mutex`] names its holder in its state word: process id and a 9-bit residue of the
//! holder's start time, so the identity a locker judges and the word its takeover
//! compare-exchange expects are one and the same value (a holder that releases and
//! re-takes the lock in between cannot be taken over by mistake). Beside it, a sticky
//! stamp records the pid namespace of every process that has locked it. A locker that has
//! been parked for [`OWNER_CHECK_PERIOD`] on a lock that is still held asks
//! `shmsync_hal::process::liveness_as`, which answers *alive*, *dead* or *unknown*; only
//! *dead* — a proof — permits a takeover:
//!
//! * **Linux / Android**: judged only when every locker so far shared the judge's pid
//!   namespace (a pid means nothing outside it). Dead when `pidfd_open(pid)` finds no such
//!   process in that namespace (works without `/proc`), when the pidfd says the whole
//!   process exited (a zombie), or when `/proc` shows a different start time (the pid was
//!   reused). A main thread that called `pthread_exit` while another thread holds the lock
//!   is alive. *Unknown* — the lock then behaves as a plain lock, timed calls still time
//!   out, and [`unknown_owner_checks`] counts it: a holder in another pid namespace
//!   (containers, Flatpak/bubblewrap, `unshare -p`), a locker whose own namespace could
//!   not be determined, a live pid whose start time cannot be read (`/proc` missing,
//!   `hidepid=2`, `EPERM`), kernels before 5.3 (no `pidfd_open`) except for `ESRCH`.
//! * **macOS**: `proc_pidinfo(PROC_PIDTBSDINFO)` gives the status and start time: dead on
//!   `ESRCH`, `SZOMB`, or a different start time. **App Sandbox**: a sandboxed process may
//!   not inspect others, so `proc_pidinfo` fails with `EPERM`, and `kill(pid, 0)` answers
//!   `EPERM` for a live peer too; both are "unknown", which counts as alive. Inside the
//!   sandbox a dead holder is therefore recognised only once its pid no longer exists
//!   (`kill` → `ESRCH`), and a pid reused by an unrelated process in that window would go
//!   unnoticed. These macOS statements follow Apple's documented rules and the hal's code;
//!   they were not executed here (no Mac in this workspace).
//! * **No OS**: nothing can die; liveness is never asked.
//!
//! What this pid path cannot see, plainly: a holder in another pid namespace (including
//! one that is pid 1 of its own namespace) is never declared dead; a holder that calls
//! `exec` keeps its pid and start time and reads as alive (its locks stay held); a pid
//! reused by a process whose start time has the same residue modulo 511 clock ticks reads
//! as the holder. Detection takes up to one check period (10 ms) after the death.
//!
//! The holder's own process always counts as alive (another of its threads holds the
//! lock). The new holder gets [`OwnerDead`] with the guard, repairs the data, and calls
//! [`MutexGuard::mark_consistent`]. A guard inherited across `fork` panics when dropped in
//! the child instead of releasing its parent's lock.

mod condvar;
mod event;
#[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
mod hooks;
mod mutex;
mod owner;
mod rwlock;
mod semaphore;
pub(crate) mod shim;

#[cfg(all(loom, test))]
mod loom_tests;

pub use condvar::{Condvar, WaitTimeoutResult};
pub use event::{AutoResetEvent, ManualResetEvent};
pub use mutex::{
    LockResult, MappedMutexGuard, Mutex, MutexGuard, OWNER_CHECK_PERIOD, TryLockError,
};
pub use owner::unknown_owner_checks;
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard, WRITER_STALL_PERIOD};
pub use semaphore::{Semaphore, SemaphoreOverflow};

/// Test hooks for cross-process death tests (`test-hooks` feature; not a stable API).
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub mod test_hooks {
    pub use super::hooks::Site;
    #[cfg(not(all(loom, test)))]
    pub use super::hooks::set_hook;
}

use core::fmt;

/// A lock was acquired, but a previous holder's process died while holding it, so the
/// data may be half-updated. Carries the guard: take it with
/// [`into_inner`](Self::into_inner), repair the data, then call
/// [`MutexGuard::mark_consistent`] (until then every later locker is told too).
pub struct OwnerDead<G> {
    guard: G,
}

impl<G> OwnerDead<G> {
    pub(crate) fn new(guard: G) -> Self {
        Self { guard }
    }

    /// The guard (the lock is held). Real-time class: wait-free.
    pub fn into_inner(self) -> G {
        self.guard
    }

    /// The guard, borrowed. Real-time class: wait-free.
    pub fn get_ref(&self) -> &G {
        &self.guard
    }

    /// The guard, borrowed mutably. Real-time class: wait-free.
    pub fn get_mut(&mut self) -> &mut G {
        &mut self.guard
    }
}

impl<G> fmt::Debug for OwnerDead<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnerDead").finish_non_exhaustive()
    }
}

impl<G> fmt::Display for OwnerDead<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a previous holder of the lock died while holding it")
    }
}

/// An error like `std::sync::PoisonError`: `lock()?` works wherever the guard's lifetime
/// allows (a `Box<dyn Error>` needs `'static`, e.g. a lock in a `static` or a leaked
/// mapping; otherwise `map_err` it, or take the guard with
/// [`into_inner`](OwnerDead::into_inner) and repair the data).
///
/// ```
/// use shmsync::Mutex;
///
/// static COUNT: Mutex<u32> = Mutex::new(0);
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     *COUNT.lock()? += 1;
///     let guard = COUNT.try_lock()?; // TryLockError is an Error too
///     assert_eq!(*guard, 1);
///     Ok(())
/// }
/// ```
impl<G> core::error::Error for OwnerDead<G> {}
