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
//! # Owner death: how liveness is decided
//! A [`Mutex`] records its holder's process id in its state word and the holder's
//! start-time token beside it. A locker that has been parked for [`OWNER_CHECK_PERIOD`]
//! on a lock that is still held asks `shmsync_hal::process::liveness`:
//!
//! * **Linux / Android**: `/proc/<pid>/stat` is read. The holder is dead when the file is
//!   gone, the state is `Z`/`X` (a zombie never unlocks), or the start time (field 22)
//!   differs from the token (the pid was reused by a newer process).
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
//! The holder's own process always counts as alive (another of its threads holds the
//! lock). The new holder gets [`OwnerDead`] with the guard, repairs the data, and calls
//! [`MutexGuard::mark_consistent`].

mod condvar;
mod event;
mod mutex;
mod owner;
mod rwlock;
mod semaphore;
pub(crate) mod shim;

#[cfg(all(loom, test))]
mod loom_tests;

pub use condvar::{Condvar, WaitTimeoutResult};
pub use event::{AutoResetEvent, ManualResetEvent};
pub use mutex::{LockResult, Mutex, MutexGuard, OWNER_CHECK_PERIOD, TryLockError};
pub use owner::unknown_owner_checks;
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{Semaphore, SemaphoreOverflow};

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
