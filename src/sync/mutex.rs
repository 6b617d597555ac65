//! [`Mutex<T>`]: a futex-style lock on one 32-bit word, with owner-death recovery.
//!
//! ```
//! use shmsync::sync::Mutex;
//! static COUNTER: Mutex<u64> = Mutex::new(0);
//! *COUNTER.lock().unwrap() += 1;
//! // The holder died? `lock` says so and still hands over the lock:
//! match COUNTER.lock() {
//!     Ok(mut guard) => *guard += 1,
//!     Err(dead) => {
//!         let mut guard = dead.into_inner();
//!         *guard = 0; // repair whatever the dead holder left half-done…
//!         guard.mark_consistent(); // …and say so; otherwise the next locker is told too
//!     }
//! }
//! assert_eq!(*COUNTER.lock().unwrap(), 2);
//! ```
//!
//! # The state word
//! `state` holds the holder's tag in bits 0–30 (0 = unlocked): its process id (bits 0–21)
//! and a 9-bit residue of its start time (bits 22–30); [`PARKED`] is bit 31. Putting the
//! identity *in* the word (as Linux robust futexes put the thread id) means a lock is never
//! held by nobody-knows-whom: the compare-exchange that takes the lock also names the
//! process that took it, and a takeover's compare-exchange expects the very identity that
//! was judged dead. Beside it, `ns` is a sticky stamp of the pid namespaces of all lockers
//! (see the [owner module](super#owner-death-how-liveness-is-decided)): a holder is judged
//! only when every locker so far shared the judge's namespace.
//!
//! # Cost
//! Every compare-exchange that writes a holder tag is `AcqRel`: its release half orders the
//! holder's namespace stamp (or its observation of it) before the tag, for a judge that
//! reads the tag (see `owner.rs`); on x86_64 it is the same `lock cmpxchg` as `Acquire`.
//!
//! Uncontended `lock` + `unlock`: one load of the namespace stamp, one compare-exchange,
//! one load of the consistency flag, and one compare-exchange back to unlocked, all on one
//! cache line; no syscall. Unlock makes the wake syscall only when [`PARKED`] was set. A
//! contended `lock` polls the word 4 more times, 1, 2, 4 and 8 `cpu_relax` apart (15 in
//! all, well under a microsecond), while nobody is parked, then parks; after each wake-up
//! it polls again before parking again. A short spin with growing gaps lets the holder keep
//! the lock's cache line between its unlock and its next lock instead of fighting the
//! spinner for it, and parks the loser soon: the policy parking_lot's `SpinWait` uses.
//!
//! # Owner death
//! A locker parked on a held lock wakes every [`OWNER_CHECK_PERIOD`] (10 ms) while the lock
//! stays held and asks whether the holder's process is alive (see the [module
//! docs](super#owner-death-how-liveness-is-decided)). If it is gone, the locker takes the
//! lock over with a compare-exchange on the exact word it saw (so exactly one locker wins),
//! marks the data *inconsistent* and gets [`OwnerDead`] carrying the guard. Until a holder
//! calls [`MutexGuard::mark_consistent`], every later locker also gets [`OwnerDead`]: the
//! lock is always usable, and nobody silently reads half-updated data.
//!
//! Detection takes at most one period plus one liveness check after the death, for a locker
//! already blocked in [`Mutex::lock`]; [`Mutex::lock_timeout`] checks on every wake-up
//! that found the lock still held, including at its deadline; [`Mutex::try_lock`] never
//! checks (it makes no syscall).
//!
//! Limits, plainly: a thread that dies while its process lives (killed by
//! `pthread_cancel`, or a guard leaked with `mem::forget`) is not detected; a lock held by a
//! process with no known pid (no OS), by a process in another pid namespace, or whose
//! liveness cannot be read is never declared dead (see the module docs); recursion
//! deadlocks, as with `std::sync::Mutex`.
//!
//! # Fork
//! A guard inherited by a `fork` child belongs to the parent. Dropping it in the child
//! **panics** ("does not hold the lock") and leaves the lock held by the parent, instead
//! of releasing a lock another process is inside.

use super::OwnerDead;
use super::owner::{self, Me, PID_BITS, PID_MASK};
use super::shim::{self, AtomicU32, Instant, Ordering, Wait, maybe_const_fn};
use crate::ShmSafe;
use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::time::Duration;

/// `state`: nobody holds the lock and nobody is parked.
const UNLOCKED: u32 = 0;
/// `state` bit: a locker may be parked in the kernel, so the releaser must wake one.
pub(crate) const PARKED: u32 = 1 << 31;

/// `dead_owner`: the data is consistent (also the all-zero state).
const CONSISTENT: u32 = 0;
/// `dead_owner`: a holder died holding the lock and nobody has marked the data consistent
/// since. Any non-zero value (e.g. written by a corrupt peer) reads as inconsistent.
const INCONSISTENT: u32 = 1;

/// How long a locker parked on a held lock sleeps before checking that the holder's
/// process is still alive: 10 ms. That bounds owner-death detection for a blocked
/// [`Mutex::lock`] at about 10 ms plus one liveness check (a few µs to tens of µs: an
/// open/read/close of `/proc/<pid>/stat` on Linux, `proc_pidinfo` on macOS), and costs a
/// blocked locker at most 100 wake-ups and liveness checks per second, only while the lock
/// stays held. Real-time threads never park, so they never pay it.
pub const OWNER_CHECK_PERIOD: Duration = Duration::from_millis(10);

/// A mutual-exclusion lock protecting a `T`, placed in memory shared between processes.
///
/// Layout (`#[repr(C)]`, pinned by `assert_layout!`): `state` at 0, `ns` at 4,
/// `dead_owner` at 8, 4 reserved bytes, the data at 16 (for `align_of::<T>() <= 16`).
/// All-zero bytes are an unlocked mutex around an all-zero `T`.
///
/// Real-time class of each operation is on the operation.
///
/// ```
/// use shmsync::Mutex;
///
/// // In shared memory it is a field of the region's root type; a `static` works the same.
/// static GAIN: Mutex<f32> = Mutex::new(1.0);
/// *GAIN.lock().unwrap() = 0.5;                   // may block; Err(OwnerDead) after a crash
/// assert_eq!(*GAIN.try_lock().unwrap(), 0.5);     // wait-free
/// let g = GAIN.lock_timeout(core::time::Duration::from_millis(2)).unwrap();
/// assert!(GAIN.is_locked());
/// drop(g);
/// ```
#[repr(C)]
pub struct Mutex<T> {
    /// Holder tag (bits 0–30: pid | short start-time token << 22, 0 = unlocked) | [`PARKED`].
    state: AtomicU32,
    /// Sticky pid-namespace stamp of all lockers: 0, one namespace, or `MIXED_NS`.
    ns: AtomicU32,
    /// [`CONSISTENT`] or [`INCONSISTENT`].
    dead_owner: AtomicU32,
    /// Zero; keeps the data at offset 16 on every target.
    _reserved: u32,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only reached through a guard, which exists for at most one holder
// at a time (mutual exclusion by `state`), so sharing `&Mutex<T>` between threads needs
// `T: Send` exactly as for `std::sync::Mutex`; `ShmSafe` brings `Sync` for the
// cross-process case.
unsafe impl<T: ShmSafe + Send> Sync for Mutex<T> {}

// SAFETY: `#[repr(C)]` of three `AtomicU32`, a `u32` and `T: ShmSafe`; all-zero is an
// unlocked, consistent mutex around an all-zero `T`; any bit pattern of the words is a
// valid (perhaps wrong) state: unknown pids are judged by liveness (and a stamp that is not
// the judge's namespace is never judged), unknown flags read as inconsistent; the data is
// accessed only under the lock.
#[cfg(not(all(loom, test)))]
unsafe impl<T: ShmSafe + Send> ShmSafe for Mutex<T> {
    const TAG: u64 = crate::tag_with(crate::tag(b"shmsync::Mutex/2"), T::TAG);
}

#[cfg(not(all(loom, test)))]
crate::assert_layout!(Mutex<u32>, size = 20, align = 4,
    offsets = { state: 0, ns: 4, dead_owner: 8, _reserved: 12, data: 16 });
#[cfg(not(all(loom, test)))]
crate::assert_layout!(Mutex<u64>, size = 24, align = 8,
    offsets = { state: 0, ns: 4, dead_owner: 8, _reserved: 12, data: 16 });

/// Why [`Mutex::try_lock`] or [`Mutex::lock_timeout`] returned no plain guard.
pub enum TryLockError<G> {
    /// The lock is held (`try_lock`), or was still held at the deadline (`lock_timeout`).
    WouldBlock,
    /// The lock was acquired, but a previous holder died holding it: repair the data.
    OwnerDead(OwnerDead<G>),
}

impl<G> fmt::Debug for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::WouldBlock => f.write_str("WouldBlock"),
            TryLockError::OwnerDead(_) => f.write_str("OwnerDead(..)"),
        }
    }
}

impl<G> fmt::Display for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::WouldBlock => f.write_str("the lock is held by someone else"),
            TryLockError::OwnerDead(_) => f.write_str("a previous holder of the lock died"),
        }
    }
}

impl<G> core::error::Error for TryLockError<G> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        // `OwnerDead<G>` is not `'static` for a borrowed guard, so it cannot be the source.
        None
    }
}

/// The result of taking a lock that a dead process may have left half-updated: `Ok` with
/// the guard, or `Err(OwnerDead)` still carrying the guard.
pub type LockResult<G> = Result<G, OwnerDead<G>>;

impl<T: ShmSafe> Mutex<T> {
    maybe_const_fn! {
        /// An unlocked mutex around `value`. Real-time class: wait-free.
        pub fn new(value: T) -> Self {
            Self {
                state: AtomicU32::new(UNLOCKED),
                ns: AtomicU32::new(0),
                dead_owner: AtomicU32::new(CONSISTENT),
                _reserved: 0,
                data: UnsafeCell::new(value),
            }
        }
    }

    /// Takes the lock if it is free right now.
    ///
    /// Real-time class: **wait-free** — one compare-exchange, no syscall, no liveness check
    /// (a lock held by a dead process stays `WouldBlock` here; [`lock`](Self::lock) and
    /// [`lock_timeout`](Self::lock_timeout) detect that).
    #[inline]
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError<MutexGuard<'_, T>>> {
        let me = owner::me();
        owner::stamp(&self.ns, me);
        if self
            .state
            .compare_exchange(UNLOCKED, me.pid, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            self.acquired(me, false).map_err(TryLockError::OwnerDead)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Takes the lock, waiting as long as it takes; `Err(OwnerDead)` (with the guard) when a
    /// previous holder died holding it.
    ///
    /// Real-time class: **may block**. Uncontended: one compare-exchange, no syscall.
    #[inline]
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        rtsan_blocking!(c"shmsync::Mutex::lock");
        let me = owner::me();
        owner::stamp(&self.ns, me);
        if self
            .state
            .compare_exchange(UNLOCKED, me.pid, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            return self.acquired(me, false);
        }
        loop {
            // Without a deadline `lock_contended` only returns once it holds the lock.
            if let Some(took_over) = self.lock_contended(me, None) {
                return self.acquired(me, took_over);
            }
        }
    }

    /// Takes the lock, waiting at most `timeout` (any positive timeout, even 1 ns, is a
    /// real, bounded wait; `Duration::ZERO` only tries). `Err(WouldBlock)` when the lock was
    /// still held at the deadline.
    ///
    /// Real-time class: **may block** (at most `timeout` plus one liveness check).
    #[inline]
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<MutexGuard<'_, T>, TryLockError<MutexGuard<'_, T>>> {
        rtsan_blocking!(c"shmsync::Mutex::lock_timeout");
        self.lock_until(shim::deadline_after(timeout))
    }

    /// Like [`lock_timeout`](Self::lock_timeout) with an absolute deadline on the hal's
    /// monotonic clock (`None`: no limit).
    ///
    /// Real-time class: **may block**.
    pub fn lock_until(
        &self,
        deadline: Option<Instant>,
    ) -> Result<MutexGuard<'_, T>, TryLockError<MutexGuard<'_, T>>> {
        rtsan_blocking!(c"shmsync::Mutex::lock_until");
        let me = owner::me();
        owner::stamp(&self.ns, me);
        if self
            .state
            .compare_exchange(UNLOCKED, me.pid, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            return self.acquired(me, false).map_err(TryLockError::OwnerDead);
        }
        match self.lock_contended(me, deadline) {
            Some(took_over) => self
                .acquired(me, took_over)
                .map_err(TryLockError::OwnerDead),
            None => Err(TryLockError::WouldBlock),
        }
    }

    /// Rebuilds the guard of a lock this process holds, for bindings that cannot carry a
    /// guard across their boundary (the C API: its `lock` forgets the guard with
    /// `mem::forget`, its `unlock` calls this and drops the result). `None` unless the
    /// state word names this process as the holder, so unlocking a free lock or another
    /// process's lock is refused, not performed.
    ///
    /// Real-time class: wait-free.
    ///
    /// # Safety
    /// The lock is held by a guard of this process that was forgotten, and the caller is
    /// its logical holder (the word names a process, not a thread: another thread of the
    /// holding process passes the check too). At most one rebuilt guard may exist for
    /// each forgotten one.
    pub unsafe fn guard_from_held(&self) -> Option<MutexGuard<'_, T>> {
        let me = owner::me();
        if self.state.load(Ordering::Relaxed) & PID_MASK != me.pid {
            return None;
        }
        Some(MutexGuard {
            mutex: self,
            _not_send: PhantomData,
        })
    }

    /// True while someone holds the lock (a snapshot). Real-time class: wait-free.
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & PID_MASK != UNLOCKED
    }

    /// Mutable access without locking: `&mut self` proves nobody else can reach it
    /// *in this process*. Use it only while no other process has the memory mapped.
    /// Real-time class: wait-free.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The protected value, consuming the mutex (which is not in shared memory any more if
    /// it can be moved). Like [`get_mut`](Self::get_mut), it does not look at the lock word:
    /// a value moved out of a mutex some process held is whatever that process left.
    /// Real-time class: wait-free.
    ///
    /// ```
    /// let m = shmsync::Mutex::new(7u32);
    /// *m.lock().unwrap() += 1;
    /// assert_eq!(m.into_inner(), 8);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }

    /// Publishes ownership and reports a dead predecessor. Runs with the lock held.
    #[inline]
    fn acquired(&self, me: Me, took_over: bool) -> LockResult<MutexGuard<'_, T>> {
        let _ = me;
        if took_over {
            self.dead_owner.store(INCONSISTENT, Ordering::Relaxed);
        }
        let guard = MutexGuard {
            mutex: self,
            _not_send: PhantomData,
        };
        // Written only under the lock; the Acquire that took the lock ordered it.
        if self.dead_owner.load(Ordering::Relaxed) == CONSISTENT {
            Ok(guard)
        } else {
            Err(OwnerDead::new(guard))
        }
    }

    /// The slow path: spin a little, then park until the lock is ours. Returns
    /// `Some(took_over_from_dead_owner)` once the lock is held, `None` at the deadline.
    #[cold]
    fn lock_contended(&self, me: Me, deadline: Option<Instant>) -> Option<bool> {
        // Phase 1: spin while the holder is (probably) running and nobody is parked yet;
        // most critical sections are shorter than one park/unpark round trip.
        if self.spin_phase(me, 0) {
            return Some(false);
        }
        // Phase 2: park on the word with PARKED set.
        loop {
            let v = self.state.load(Ordering::Relaxed);
            if v & PID_MASK == UNLOCKED {
                // Taken after parking: others may be parked too and we cannot know, so we
                // keep PARKED (our unlock then makes one wake call, perhaps needless).
                if self
                    .state
                    .compare_exchange(v, me.pid | PARKED, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    return Some(false);
                }
                continue;
            }
            // Announce a parked locker, skipping the write if the bit is already set.
            if v & PARKED == 0
                && self
                    .state
                    .compare_exchange(v, v | PARKED, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            let parked = v | PARKED;
            match shim::wait_until(&self.state, parked, park_deadline(deadline)) {
                // Released (or spurious): spin again first (the lock is often re-taken
                // by a thread that never parked and released soon after), then retry.
                // Having parked, we take the lock with PARKED kept set: others may still
                // be parked, and the wake that woke us was their only one.
                Wait::Woken => {
                    if self.spin_phase(me, PARKED) {
                        return Some(false);
                    }
                }
                // A whole check period (or our deadline) with the lock held.
                Wait::TimedOut => {
                    if self.take_over_dead(me) {
                        return Some(true);
                    }
                    if shim::reached(deadline) {
                        // Last look: a release exactly at the deadline still counts.
                        let v = self.state.load(Ordering::Relaxed);
                        if v & PID_MASK == UNLOCKED
                            && self
                                .state
                                .compare_exchange(
                                    v,
                                    me.pid | PARKED,
                                    Ordering::AcqRel,
                                    Ordering::Relaxed,
                                )
                                .is_ok()
                        {
                            return Some(false);
                        }
                        return None;
                    }
                }
            }
        }
    }

    /// Polls the word (at most [`MUTEX_SPINS`](shim::MUTEX_SPINS) more times, with 1, 2,
    /// 4, 8 `cpu_relax` calls between polls, capped at 8) while the lock is held and
    /// nobody is parked; takes it if it comes free, OR-ing `extra` (0 or [`PARKED`]) into
    /// the new word. True when taken. The gaps grow so that the spinner does not pull the
    /// lock's cache line away from a holder that is about to unlock and re-lock, and the
    /// spin ends within about a microsecond (it is bounded in time whatever the deadline).
    #[inline]
    fn spin_phase(&self, me: Me, extra: u32) -> bool {
        const MAX_GAP: u32 = 8;
        let mut spins = shim::MUTEX_SPINS;
        let mut gap = 1u32;
        loop {
            let v = self.state.load(Ordering::Relaxed);
            if v & PID_MASK == UNLOCKED {
                // Keep a PARKED bit another locker set: it still needs our unlock's wake.
                let new = me.pid | (v & PARKED) | extra;
                if self
                    .state
                    .compare_exchange(v, new, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    return true;
                }
                continue;
            }
            if v & PARKED != 0 || spins == 0 {
                return false;
            }
            spins -= 1;
            for _ in 0..gap {
                shim::relax();
            }
            gap = (gap * 2).min(MAX_GAP);
        }
    }

    /// Judges the holder named by the word *now* and, if it is proven dead, takes the lock
    /// over with a compare-exchange that expects that very word (holder tag and all): a
    /// holder that released and re-took the lock, or another holder, makes it fail. Exactly
    /// one of several parked lockers wins. True when the lock is now ours.
    #[cold]
    fn take_over_dead(&self, me: Me) -> bool {
        crate::hooks::at(crate::hooks::Point::OwnerCheck);
        let v = self.state.load(Ordering::Relaxed);
        let Some(dead) = owner::dead_holder(v, &self.ns, me) else {
            return false;
        };
        crate::hooks::at(crate::hooks::Point::Takeover);
        self.state
            .compare_exchange(dead, me.pid | PARKED, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Releases the lock. Caller: the guard, exactly once; panics (leaving the lock held)
    /// when this process is not the holder (a guard inherited across `fork`).
    #[inline]
    fn unlock(&self) {
        let me = owner::me();
        // Release publishes the data. Nobody parked and we hold it: one compare-exchange.
        if let Err(v) =
            self.state
                .compare_exchange(me.pid, UNLOCKED, Ordering::Release, Ordering::Relaxed)
        {
            self.unlock_slow(v, me);
        }
    }

    #[cold]
    fn unlock_slow(&self, v: u32, me: Me) {
        if v & PID_MASK != me.pid {
            not_the_holder();
        }
        // Only PARKED can have changed while we hold the lock; the swap tells us whether
        // anyone parked.
        if self.state.swap(UNLOCKED, Ordering::Release) & PARKED != 0 {
            shim::wake_one(&self.state);
        }
    }
}

/// A guard was dropped by a process that does not hold its lock.
#[cold]
#[inline(never)]
fn not_the_holder() -> ! {
    panic!(
        "shmsync: MutexGuard dropped in a process that does not hold the lock (a guard \
         inherited across fork); the lock stays held by its owner"
    )
}

/// When a parked locker wakes up on its own: at its deadline or after one owner check
/// period, whichever is first.
#[cfg(not(all(loom, test)))]
#[inline]
fn park_deadline(deadline: Option<Instant>) -> Option<Instant> {
    match Instant::now().checked_add(OWNER_CHECK_PERIOD) {
        Some(check) => Some(deadline.map_or(check, |d| d.min(check))),
        None => deadline,
    }
}

/// Under loom there is one process, so no owner checks: park until the deadline only.
#[cfg(all(loom, test))]
fn park_deadline(deadline: Option<Instant>) -> Option<Instant> {
    deadline
}

impl<T: ShmSafe + Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: ShmSafe> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.state.load(Ordering::Relaxed);
        f.debug_struct("Mutex")
            .field("holder_pid", &(v & PID_BITS))
            .field("parked", &(v & PARKED != 0))
            .field(
                "consistent",
                &(self.dead_owner.load(Ordering::Relaxed) == CONSISTENT),
            )
            .finish_non_exhaustive()
    }
}

/// Proof of holding a [`Mutex`]; releases it when dropped. Gives `&T` / `&mut T`.
///
/// Not `Send`, like `std::sync::MutexGuard`.
#[must_use = "dropping the guard releases the lock at once"]
pub struct MutexGuard<'a, T: ShmSafe> {
    mutex: &'a Mutex<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives `&T`, so it may be shared when `T: Sync`.
unsafe impl<T: ShmSafe + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ShmSafe> MutexGuard<'a, T> {
    /// Declares the protected data repaired after [`OwnerDead`]: later lockers get plain
    /// `Ok` again. Harmless on a consistent lock. Real-time class: wait-free.
    pub fn mark_consistent(&mut self) {
        self.mutex.dead_owner.store(CONSISTENT, Ordering::Relaxed);
    }

    /// The mutex this guard holds (used by [`Condvar`](super::Condvar)).
    pub(crate) fn mutex(&self) -> &'a Mutex<T> {
        self.mutex
    }

    /// Narrows the guard to a part of the data (a field, an element), keeping the lock
    /// held until the mapped guard drops — like `parking_lot::MutexGuard::map`. An
    /// associated function (`MutexGuard::map(guard, …)`), so it does not shadow a `map`
    /// method of `T`.
    ///
    /// ```
    /// use shmsync::{Mutex, sync::MutexGuard};
    /// static MIX: Mutex<[f32; 4]> = Mutex::new([1.0; 4]);
    /// let mut second = MutexGuard::map(MIX.lock().unwrap(), |gains| &mut gains[1]);
    /// *second = 0.5;
    /// drop(second); // unlocks
    /// assert_eq!(*MIX.lock().unwrap(), [1.0, 0.5, 1.0, 1.0]);
    /// ```
    ///
    /// Real-time class: **wait-free**.
    pub fn map<U: ?Sized>(
        mut guard: Self,
        f: impl FnOnce(&mut T) -> &mut U,
    ) -> MappedMutexGuard<'a, T, U> {
        let part: *mut U = f(&mut guard);
        MappedMutexGuard {
            part,
            _guard: guard,
        }
    }
}

/// A [`MutexGuard`] narrowed to part of the data by [`MutexGuard::map`]: gives `&U` /
/// `&mut U`, releases the lock when dropped.
#[must_use = "dropping the guard releases the lock at once"]
pub struct MappedMutexGuard<'a, T: ShmSafe, U: ?Sized> {
    /// Points into the data `_guard` holds the lock on.
    part: *mut U,
    /// Holds the lock; its drop releases it (with the fork check every guard has).
    _guard: MutexGuard<'a, T>,
}

// SAFETY: as for `MutexGuard`: a shared mapped guard only gives `&U`.
unsafe impl<T: ShmSafe, U: ?Sized + Sync> Sync for MappedMutexGuard<'_, T, U> {}

impl<T: ShmSafe, U: ?Sized> Deref for MappedMutexGuard<'_, T, U> {
    type Target = U;
    fn deref(&self) -> &U {
        // SAFETY: `part` was derived from the `&mut T` of the guard we own, which holds
        // the lock for as long as we exist; nothing else reaches the data meanwhile.
        unsafe { &*self.part }
    }
}

impl<T: ShmSafe, U: ?Sized> DerefMut for MappedMutexGuard<'_, T, U> {
    fn deref_mut(&mut self) -> &mut U {
        // SAFETY: as in `deref`, and `&mut self` makes this the only access.
        unsafe { &mut *self.part }
    }
}

impl<T: ShmSafe, U: ?Sized + fmt::Debug> fmt::Debug for MappedMutexGuard<'_, T, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ShmSafe> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves we hold the lock, so no other reference to the data is
        // live; the data lives as long as the mutex, which outlives the guard.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ShmSafe> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only access via the guard.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ShmSafe> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: ShmSafe + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
