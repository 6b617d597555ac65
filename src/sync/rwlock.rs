//! [`RwLock<T>`]: a futex-style reader-writer lock that never starves writers.
//!
//! # Words
//! * `state`: the number of readers holding the lock, or [`WRITE_LOCKED`].
//! * `writers_waiting`: writers that want the lock and do not hold it yet. While it is
//!   non-zero, **new readers do not enter** (writer preference): readers already inside
//!   drain, then a writer gets the lock. So a writer waits at most for the readers present
//!   when it arrived plus the writers ahead of it — writers never starve. Readers can be
//!   delayed for as long as writers keep arriving back to back; a workload that writes
//!   continuously should use a [`Mutex`](super::Mutex).
//! * `seq` and `sleepers`: an event counter. A thread that must wait counts itself in
//!   `sleepers`, reads `seq`, re-checks its condition and sleeps while `seq` is unchanged.
//!   Every change that may let someone in (the last reader leaving, a writer leaving, a
//!   waiting writer giving up) bumps `seq` and wakes **all** sleepers, but only when
//!   `sleepers` is non-zero: without sleepers, unlocking costs no syscall and no write
//!   beyond `state`. The sleeper count and the condition are read and written with
//!   sequentially consistent operations on both sides, so a waker either sees the sleeper
//!   or the sleeper sees the change.
//!
//! Waking everyone is the simple, lost-wakeup-free choice; parked writers and readers
//! then race, and the writer preference above decides. (A lock with many parked threads
//! pays a thundering herd on each release; the sweet spot is few writers, short holds.)
//!
//! No owner-death recovery: readers are anonymous, so a process that dies holding a read
//! or write lock leaves it held. Use a [`Mutex`](super::Mutex) for state that a crashing
//! process may hold.
//!
//! ```
//! use shmsync::sync::RwLock;
//! static CONFIG: RwLock<u32> = RwLock::new(48_000);
//! assert_eq!(*CONFIG.read(), 48_000);
//! *CONFIG.write() = 44_100;
//! assert_eq!(*CONFIG.try_read().unwrap(), 44_100);
//! ```

use super::shim::{self, AtomicU32, Instant, Ordering, Wait, maybe_const_fn};
use crate::ShmSafe;
use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::time::Duration;
use shmsync_arch::Backoff;

/// `state`: nobody holds the lock.
const UNLOCKED: u32 = 0;
/// `state`: a writer holds the lock.
const WRITE_LOCKED: u32 = u32::MAX;
/// Most readers at once (`state` values 1..=MAX_READERS count readers).
const MAX_READERS: u32 = u32::MAX - 1;

/// A reader-writer lock protecting a `T`, placed in shared memory.
///
/// Layout (`#[repr(C)]`): `state` at 0, `writers_waiting` at 4, `seq` at 8, `sleepers` at
/// 12, the data at 16 (for `align_of::<T>() <= 16`). All-zero = unlocked around an all-zero
/// `T`.
#[repr(C)]
pub struct RwLock<T> {
    /// Reader count or [`WRITE_LOCKED`].
    state: AtomicU32,
    /// Writers waiting for the lock (not holding it).
    writers_waiting: AtomicU32,
    /// Event counter that sleepers wait on.
    seq: AtomicU32,
    /// Threads that may be asleep on `seq`.
    sleepers: AtomicU32,
    data: UnsafeCell<T>,
}

// SAFETY: readers share `&T` (needs `T: Sync`), a writer gets `&mut T` possibly on another
// thread (needs `T: Send`), exactly as `std::sync::RwLock`.
unsafe impl<T: ShmSafe + Send + Sync> Sync for RwLock<T> {}

// SAFETY: `#[repr(C)]` of four `AtomicU32` and `T: ShmSafe`; all-zero is unlocked; any
// bit pattern of the words is a valid (perhaps wrong) state; the data is reached only
// under the lock.
#[cfg(not(all(loom, test)))]
unsafe impl<T: ShmSafe + Send> ShmSafe for RwLock<T> {
    const TAG: u64 = crate::tag_with(crate::tag(b"shmsync::RwLock/1"), T::TAG);
}

#[cfg(not(all(loom, test)))]
crate::assert_layout!(RwLock<u32>, size = 20, align = 4,
    offsets = { state: 0, writers_waiting: 4, seq: 8, sleepers: 12, data: 16 });
#[cfg(not(all(loom, test)))]
crate::assert_layout!(RwLock<u64>, size = 24, align = 8,
    offsets = { state: 0, writers_waiting: 4, seq: 8, sleepers: 12, data: 16 });

impl<T: ShmSafe> RwLock<T> {
    maybe_const_fn! {
        /// An unlocked lock around `value`. Real-time class: wait-free.
        pub fn new(value: T) -> Self {
            Self {
                state: AtomicU32::new(UNLOCKED),
                writers_waiting: AtomicU32::new(0),
                seq: AtomicU32::new(0),
                sleepers: AtomicU32::new(0),
                data: UnsafeCell::new(value),
            }
        }
    }

    /// Shared access if no writer holds or waits for the lock right now.
    /// Real-time class: **lock-free** (retries only while other readers come and go), no
    /// syscall.
    #[inline]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        // SeqCst: a sleeper re-checking after reading `seq` must not see a stale count
        // (see the module docs).
        let mut s = self.state.load(Ordering::SeqCst);
        loop {
            // SeqCst pairs with a writer's SeqCst `writers_waiting` increment and state
            // load: either we see the waiting writer or it sees our reader count.
            if s >= MAX_READERS || self.writers_waiting.load(Ordering::SeqCst) != 0 {
                return None;
            }
            match self
                .state
                .compare_exchange_weak(s, s + 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    return Some(RwLockReadGuard {
                        lock: self,
                        _not_send: PhantomData,
                    });
                }
                Err(now) => s = now,
            }
        }
    }

    /// Shared access, waiting as long as needed. Real-time class: **may block**.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        rtsan_blocking!(c"shmsync::RwLock::read");
        loop {
            if let Some(g) = self.read_until(None) {
                return g;
            }
        }
    }

    /// Shared access, waiting at most `timeout`. Real-time class: **may block**.
    pub fn read_timeout(&self, timeout: Duration) -> Option<RwLockReadGuard<'_, T>> {
        rtsan_blocking!(c"shmsync::RwLock::read_timeout");
        self.read_until(shim::deadline_after(timeout))
    }

    /// Shared access, waiting until `deadline` (hal monotonic clock; `None`: no limit).
    /// Real-time class: **may block**.
    pub fn read_until(&self, deadline: Option<Instant>) -> Option<RwLockReadGuard<'_, T>> {
        rtsan_blocking!(c"shmsync::RwLock::read_until");
        if let Some(g) = self.try_read() {
            return Some(g);
        }
        self.wait_for(deadline, || self.try_read())
    }

    /// Exclusive access if the lock is free right now. Real-time class: **wait-free** (one
    /// compare-exchange), no syscall.
    #[inline]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.state
            .compare_exchange(UNLOCKED, WRITE_LOCKED, Ordering::SeqCst, Ordering::Relaxed)
            .ok()
            .map(|_| RwLockWriteGuard {
                lock: self,
                _not_send: PhantomData,
            })
    }

    /// Exclusive access, waiting as long as needed. Real-time class: **may block**.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        rtsan_blocking!(c"shmsync::RwLock::write");
        loop {
            if let Some(g) = self.write_until(None) {
                return g;
            }
        }
    }

    /// Exclusive access, waiting at most `timeout`. Real-time class: **may block**.
    pub fn write_timeout(&self, timeout: Duration) -> Option<RwLockWriteGuard<'_, T>> {
        rtsan_blocking!(c"shmsync::RwLock::write_timeout");
        self.write_until(shim::deadline_after(timeout))
    }

    /// Exclusive access, waiting until `deadline` (hal monotonic clock; `None`: no
    /// limit). Real-time class: **may block**.
    pub fn write_until(&self, deadline: Option<Instant>) -> Option<RwLockWriteGuard<'_, T>> {
        rtsan_blocking!(c"shmsync::RwLock::write_until");
        if let Some(g) = self.try_write() {
            return Some(g);
        }
        // From here until we hold the lock or give up, new readers stay out.
        self.writers_waiting.fetch_add(1, Ordering::SeqCst);
        shim::dekker_fence();
        let got = self.wait_for(deadline, || self.try_write());
        self.writers_waiting.fetch_sub(1, Ordering::SeqCst);
        if got.is_none() {
            // Readers we kept out may be asleep; with us gone they may enter.
            self.notify();
        }
        got
    }

    /// Spins briefly, then sleeps on `seq` until `attempt` succeeds or the deadline passes.
    #[cold]
    fn wait_for<G>(&self, deadline: Option<Instant>, attempt: impl Fn() -> Option<G>) -> Option<G> {
        let mut backoff = Backoff::new();
        while !backoff.is_completed() {
            shim::spin(&mut backoff);
            if let Some(g) = attempt() {
                return Some(g);
            }
        }
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        shim::dekker_fence();
        let got = loop {
            let seq = self.seq.load(Ordering::SeqCst);
            // Re-check after reading `seq`: a change after this point bumps `seq`.
            if let Some(g) = attempt() {
                break Some(g);
            }
            if shim::wait_until(&self.seq, seq, deadline) == Wait::TimedOut
                && shim::reached(deadline)
            {
                break attempt();
            }
        };
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        got
    }

    /// Wakes every sleeper if there is any; otherwise one atomic load.
    #[inline]
    fn notify(&self) {
        shim::dekker_fence();
        if self.sleepers.load(Ordering::SeqCst) != 0 {
            self.seq.fetch_add(1, Ordering::SeqCst);
            shim::wake_all(&self.seq);
        }
    }

    /// Rebuilds a forgotten read guard, for bindings that cannot carry a guard across
    /// their boundary (the C API's `read_unlock`). `None` unless readers hold the lock.
    /// Real-time class: wait-free.
    ///
    /// # Safety
    /// The caller holds a read lock whose guard was forgotten; at most one rebuilt guard
    /// per forgotten one (the lock does not record which process its readers are).
    pub unsafe fn read_guard_from_held(&self) -> Option<RwLockReadGuard<'_, T>> {
        let s = self.state.load(Ordering::Relaxed);
        if s == UNLOCKED || s == WRITE_LOCKED {
            return None;
        }
        Some(RwLockReadGuard {
            lock: self,
            _not_send: PhantomData,
        })
    }

    /// Rebuilds a forgotten write guard (the C API's `write_unlock`). `None` unless a
    /// writer holds the lock. Real-time class: wait-free.
    ///
    /// # Safety
    /// The caller holds the write lock and its guard was forgotten; at most one rebuilt
    /// guard per forgotten one.
    pub unsafe fn write_guard_from_held(&self) -> Option<RwLockWriteGuard<'_, T>> {
        if self.state.load(Ordering::Relaxed) != WRITE_LOCKED {
            return None;
        }
        Some(RwLockWriteGuard {
            lock: self,
            _not_send: PhantomData,
        })
    }

    /// Mutable access without locking (`&mut self`: nobody else in this process can
    /// reach it; use only while no other process maps the memory). Real-time class:
    /// wait-free.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: ShmSafe + Default> Default for RwLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: ShmSafe> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock")
            .field("state", &self.state.load(Ordering::Relaxed))
            .field(
                "writers_waiting",
                &self.writers_waiting.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

/// Shared access to an [`RwLock`]'s data; releases it when dropped.
#[must_use = "dropping the guard releases the lock at once"]
pub struct RwLockReadGuard<'a, T: ShmSafe> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared read guard only gives `&T`.
unsafe impl<T: ShmSafe + Sync> Sync for RwLockReadGuard<'_, T> {}

impl<T: ShmSafe> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read guard exists only while `state` counts it as a reader, so no
        // writer (the only source of `&mut T`) holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ShmSafe> Drop for RwLockReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // The last reader out may let a writer in.
        if self.lock.state.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.lock.notify();
        }
    }
}

/// Exclusive access to an [`RwLock`]'s data; releases it when dropped.
#[must_use = "dropping the guard releases the lock at once"]
pub struct RwLockWriteGuard<'a, T: ShmSafe> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared write guard only gives `&T`.
unsafe impl<T: ShmSafe + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T: ShmSafe> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the write guard is the only holder of the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ShmSafe> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write guard is the only holder, and `&mut self` the only access.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ShmSafe> Drop for RwLockWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.state.store(UNLOCKED, Ordering::SeqCst);
        self.lock.notify();
    }
}
