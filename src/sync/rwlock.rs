//! [`RwLock<T>`]: a futex-style reader-writer lock that never starves writers.
//!
//! # Words
//! * `state`: the number of readers holding the lock, or [`WRITE_LOCKED`].
//! * `writers_waiting`: bits 0–23 count the writers that want the lock and do not hold it
//!   yet, bits 24–31 are an *epoch* (see "A waiting writer that dies" below). While the
//!   count is non-zero, **new readers do not enter** (writer preference): readers already inside
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
//! # A waiting writer that dies
//! A writer SIGKILLed while it waits leaves its count in `writers_waiting`, which would
//! keep every new reader out of a free lock forever. Writer preference is a fairness
//! policy, not part of exclusion (only `state` decides who is inside), so readers may
//! override an announcement they can show to be stale: a blocked reader that sees the lock
//! **free** (`state == UNLOCKED`) with writers announced, and sees exactly the same
//! `writers_waiting` and `seq` values again after [`WRITER_STALL_PERIOD`] (no writer took
//! or released the lock meanwhile, and no writer arrived or left), declares the
//! announcements stale: it compare-exchanges `writers_waiting` to the next epoch with a
//! count of 0, wakes every sleeper, and enters. A live writer that was merely not running
//! for that long loses nothing but its place: every waiting writer re-reads the epoch on
//! each attempt and, when it moved, announces itself again in the new epoch; a writer
//! leaving withdraws its count only from the epoch it announced in. So a dead waiting
//! writer delays readers by about one period once, and then leaves no trace in
//! `writers_waiting` (its count was dropped with its epoch). Its count in `sleepers` stays
//! (a wrong `sleepers` only costs each release a wake syscall nobody needed; resetting it
//! could lose a live sleeper's wake-up).
//!
//! Blocked readers therefore sleep at most one period at a time while the lock is free and
//! announced; in every other state they sleep until woken, and a blocked writer always does.
//!
//! No owner-death recovery for *holders*: readers are anonymous, so a process that dies
//! holding a read or write lock leaves it held. Use a [`Mutex`](super::Mutex) for state that
//! a crashing process may hold.
//!
//! No upgradable reads (parking_lot's `upgradable_read`) either: an upgradable reader is a
//! unique holder whose death would have to be detected to let the next one in, which this
//! lock cannot do for anonymous holders. [`RwLockWriteGuard::downgrade`] covers the other
//! direction (write, then keep reading with no writer in between).
//!
//! ```
//! use shmsync::sync::RwLock;
//! static CONFIG: RwLock<u32> = RwLock::new(48_000);
//! assert_eq!(*CONFIG.read(), 48_000);
//! *CONFIG.write() = 44_100;
//! assert_eq!(*CONFIG.try_read().unwrap(), 44_100);
//! ```

use super::hooks::{self, Site};
use super::shim::{self, AtomicU32, Instant, Ordering, Wait, maybe_const_fn};
use crate::ShmSafe;
use core::cell::Cell;
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

/// `writers_waiting`: the bits that count announced writers (0–23; 16 million writers).
const WRITERS_MASK: u32 = (1 << EPOCH_SHIFT) - 1;
/// `writers_waiting`: the epoch lives in bits 24–31.
const EPOCH_SHIFT: u32 = 24;

/// Announced writers in a `writers_waiting` value.
#[inline]
const fn writers(w: u32) -> u32 {
    w & WRITERS_MASK
}

/// The epoch of a `writers_waiting` value.
#[inline]
const fn epoch(w: u32) -> u32 {
    w >> EPOCH_SHIFT
}

/// How long a blocked reader watches a free lock with writers announced and nothing
/// happening before it declares the announcements stale (see [Waiters that
/// die](super#waiters-that-die); the protocol is in `rwlock.rs`'s module docs): 10 ms, the mutex's
/// [`OWNER_CHECK_PERIOD`](super::OWNER_CHECK_PERIOD). A live waiting writer is woken the
/// moment the lock becomes free and takes it within microseconds, so a free lock that stays
/// announced for this long has a dead, stopped or badly starved writer; the price of being
/// wrong is fairness (the writer re-announces and waits for the readers that entered), never
/// exclusion. Bounds how long a dead waiting writer delays a reader: about one period.
pub const WRITER_STALL_PERIOD: Duration = Duration::from_millis(10);

/// A reader-writer lock protecting a `T`, placed in shared memory.
///
/// Writers are preferred: while a writer waits, new readers wait too. A writer whose
/// process dies while waiting keeps readers out for about one [`WRITER_STALL_PERIOD`]
/// (a blocked reader then declares its announcement stale and enters; see [Waiters that
/// die](super#waiters-that-die)). A process that dies *holding* the lock leaves it held.
///
/// Layout (`#[repr(C)]`): `state` at 0, `writers_waiting` at 4, `seq` at 8, `sleepers` at
/// 12, the data at 16 (for `align_of::<T>() <= 16`). All-zero = unlocked around an all-zero
/// `T`.
///
/// ```
/// use shmsync::RwLock;
/// static PRESET: RwLock<[f32; 8]> = RwLock::new([0.0; 8]);
/// PRESET.write()[0] = 1.0;                  // may block
/// let (a, b) = (PRESET.read(), PRESET.read()); // readers share it
/// assert_eq!(a[0] + b[0], 2.0);
/// ```
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
    // "/2": `writers_waiting` carries an epoch in bits 24–31 (same layout, new meaning: a
    // "/1" peer would read the epoch as waiting writers).
    const TAG: u64 = crate::tag_with(crate::tag(b"shmsync::RwLock/2"), T::TAG);
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
            if s >= MAX_READERS || writers(self.writers_waiting.load(Ordering::SeqCst)) != 0 {
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
        self.wait_for(deadline, true, || self.try_read())
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
        let announced = Cell::new(self.announce());
        shim::dekker_fence();
        let got = self.wait_for(deadline, false, || {
            // A reader declared the announcements stale (we were not running for a whole
            // period): announce ourselves again in the new epoch.
            if epoch(self.writers_waiting.load(Ordering::SeqCst)) != announced.get() {
                announced.set(self.announce());
                shim::dekker_fence();
            }
            self.try_write()
        });
        self.withdraw(announced.get());
        if got.is_none() {
            // Readers we kept out may be asleep; with us gone they may enter.
            self.notify();
        }
        got
    }

    /// Counts this writer in `writers_waiting`; returns the epoch it counted in.
    fn announce(&self) -> u32 {
        // (A count overflowing into the epoch only moves the epoch: every waiting writer
        // then announces again; fairness, not exclusion.)
        epoch(
            self.writers_waiting
                .fetch_add(1, Ordering::SeqCst)
                .wrapping_add(1),
        )
    }

    /// Takes this writer's count back out of `writers_waiting`, if the epoch it announced
    /// in is still current (after a stale declaration the count is already gone).
    fn withdraw(&self, announced: u32) {
        let mut w = self.writers_waiting.load(Ordering::SeqCst);
        while epoch(w) == announced && writers(w) != 0 {
            match self.writers_waiting.compare_exchange_weak(
                w,
                w - 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return,
                Err(now) => w = now,
            }
        }
    }

    /// Spins briefly, then sleeps on `seq` until `attempt` succeeds or the deadline passes.
    /// A `reader` also watches for stale writer announcements (see the module docs).
    #[cold]
    fn wait_for<G>(
        &self,
        deadline: Option<Instant>,
        reader: bool,
        attempt: impl Fn() -> Option<G>,
    ) -> Option<G> {
        let mut backoff = Backoff::new();
        // The deadline bounds the spin too: a timed call never spins past its timeout.
        while !backoff.is_completed() && !shim::reached(deadline) {
            shim::spin(&mut backoff);
            if let Some(g) = attempt() {
                return Some(g);
            }
        }
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        shim::dekker_fence();
        // Reader only: the (`writers_waiting`, `seq`) pair last seen on a free, announced
        // lock, and when the watch on it ends.
        let mut stall: Option<(u32, u32, Option<Instant>)> = None;
        let got = loop {
            let seq = self.seq.load(Ordering::SeqCst);
            // Re-check after reading `seq`: a change after this point bumps `seq`.
            if let Some(g) = attempt() {
                break Some(g);
            }
            let mut sleep_until = deadline;
            if reader {
                let w = self.writers_waiting.load(Ordering::SeqCst);
                if writers(w) != 0 && self.state.load(Ordering::SeqCst) == UNLOCKED {
                    match stall {
                        Some((sw, ss, until)) if sw == w && ss == seq => {
                            if shim::reached(until) {
                                // Free and announced for a whole period with nothing
                                // happening: the announcements are stale.
                                self.declare_stale(w);
                                stall = None;
                                continue;
                            }
                            sleep_until = earlier(deadline, until);
                        }
                        _ => {
                            let until = shim::deadline_after(WRITER_STALL_PERIOD);
                            stall = Some((w, seq, until));
                            sleep_until = earlier(deadline, until);
                        }
                    }
                } else {
                    stall = None;
                }
            }
            hooks::call(Site::RwLockWaiting);
            if shim::wait_until(&self.seq, seq, sleep_until) == Wait::TimedOut
                && shim::reached(deadline)
            {
                break attempt();
            }
        };
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        got
    }

    /// Drops the writer announcements of epoch-and-count value `w` (if nobody changed it
    /// since) and wakes every sleeper, so live waiting writers announce themselves again.
    #[cold]
    fn declare_stale(&self, w: u32) {
        let next = (epoch(w).wrapping_add(1) & (u32::MAX >> EPOCH_SHIFT)) << EPOCH_SHIFT;
        if self
            .writers_waiting
            .compare_exchange(w, next, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.notify();
        }
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

    /// loom only: a writer that announced itself and died while waiting (its count stays).
    #[cfg(all(loom, test))]
    pub(crate) fn loom_dead_waiting_writer(&self) {
        self.announce();
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

    /// The protected value, consuming the lock. As [`Mutex::into_inner`](super::Mutex::into_inner).
    /// Real-time class: wait-free.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

/// The earlier of two deadlines (`None`: no limit).
fn earlier(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if a <= b { a } else { b }),
        (a, None) => a,
        (None, b) => b,
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
                &writers(self.writers_waiting.load(Ordering::Relaxed)),
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

impl<'a, T: ShmSafe> RwLockWriteGuard<'a, T> {
    /// Turns exclusive access into shared access without letting a writer in between:
    /// the lock goes from "one writer" straight to "one reader", and parked readers are
    /// woken so they can join — unless writers are waiting, whom writer preference keeps
    /// first in line, as for any reader arriving now.
    ///
    /// ```
    /// use shmsync::sync::RwLock;
    /// static TABLE: RwLock<[u32; 4]> = RwLock::new([0; 4]);
    /// let mut w = TABLE.write();
    /// w[0] = 1;
    /// let r = w.downgrade(); // still held: no writer ran between the two
    /// assert_eq!(r[0], 1);
    /// assert!(TABLE.try_write().is_none());
    /// assert!(TABLE.try_read().is_some()); // other readers get in
    /// ```
    ///
    /// Real-time class: **may wake** (one syscall only when someone is parked).
    pub fn downgrade(self) -> RwLockReadGuard<'a, T> {
        let lock = self.lock;
        // The write guard's release must not run: its job is taken over by the read guard.
        core::mem::forget(self);
        // WRITE_LOCKED -> 1 reader. We hold the lock exclusively, so nobody else writes
        // `state` now (readers and writers only compare-exchange from values they saw); SeqCst
        // like every other release, pairing with the sleepers' count (module docs).
        lock.state.store(1, Ordering::SeqCst);
        lock.notify();
        RwLockReadGuard {
            lock,
            _not_send: PhantomData,
        }
    }
}

impl<T: ShmSafe> Drop for RwLockWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.state.store(UNLOCKED, Ordering::SeqCst);
        self.lock.notify();
    }
}
