//! The few atomics and wait/wake calls the locks use, routed through one place so that the
//! loom lane (`RUSTFLAGS="--cfg loom" cargo test --release --lib loom`) model-checks the
//! very code that ships.
//!
//! * Normal builds: the hal's atomics and `wait_until` / `wake_one` / `wake_all`.
//! * `cfg(all(loom, test))`: loom's atomics and a futex emulated with loom's mutex and
//!   condition variable. A waiter is queued under the emulation's lock only if the word
//!   still holds `expected` (the futex compare-and-sleep), and a wake marks exactly one
//!   (or every) waiter of that word, so a lost wakeup in a lock shows up as a loom
//!   deadlock. A timed wait never sleeps: it yields and reports `TimedOut`, so loom
//!   explores the "timeout fired" path of every timed operation.
//! * `dekker_fence()`: nothing in real builds (the `SeqCst` accesses around it suffice);
//!   a `SeqCst` fence under loom, which does not model `SeqCst` accesses.

#[cfg(not(all(loom, test)))]
mod imp {
    pub(crate) use crate::hal::atomic::{AtomicU32, Ordering};
    pub(crate) use crate::hal::clock::Instant;
    pub(crate) use crate::hal::{Wait, wait_until, wake_all, wake_one};

    /// True once `deadline` has passed (`None` never passes). Real-time class: wait-free
    /// (one clock read, a vDSO call on Linux).
    #[inline]
    pub(crate) fn reached(deadline: Option<Instant>) -> bool {
        deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Polls of the lock word a contended `Mutex::lock` makes after its first look, with
    /// 1, 2, 4 and 8 `cpu_relax` calls before them (15 in all: ≈ 0.15–0.6 µs of `pause` on
    /// x86_64, less with aarch64's `isb`), before it parks. Measured pinned on two CPUs
    /// (`cargo bench --bench locks -- contended_pinned`): 18.7 ns per pair of critical
    /// sections against parking_lot's 15.5, where 100 polls one `cpu_relax` apart (Rust
    /// std's figure) gave 24.4 against 15.9 in the run before.
    #[cfg(not(miri))]
    pub(crate) const MUTEX_SPINS: u32 = 4;
    /// Miri cannot run `cpu_relax`'s inline assembly: no spinning.
    #[cfg(miri)]
    pub(crate) const MUTEX_SPINS: u32 = 0;

    /// One spin-wait hint. Real-time class: wait-free.
    #[inline]
    pub(crate) fn relax() {
        #[cfg(not(miri))]
        shmsync_arch::cpu_relax();
        #[cfg(miri)]
        core::hint::spin_loop();
    }

    /// One step of a bounded spin. Real-time class: wait-free.
    #[cfg(not(miri))]
    #[inline]
    pub(crate) fn spin(backoff: &mut shmsync_arch::Backoff) {
        backoff.spin();
    }

    /// Miri cannot run `cpu_relax`'s inline assembly: end the spin phase at once (the
    /// callers then park, which is what Miri checks).
    #[cfg(miri)]
    pub(crate) fn spin(backoff: &mut shmsync_arch::Backoff) {
        core::hint::spin_loop();
        *backoff = shmsync_arch::Backoff::with_limit(0);
    }

    /// Between a store and a load that form a store–load (Dekker) pair. Both are `SeqCst`
    /// in the real code, which the C++/Rust memory model already orders: nothing to add.
    #[inline(always)]
    pub(crate) fn dekker_fence() {}

    /// `Instant::now() + d`, `None` when that overflows the clock (treated as no limit).
    #[inline]
    pub(crate) fn deadline_after(d: core::time::Duration) -> Option<Instant> {
        Instant::now().checked_add(d)
    }
}

#[cfg(all(loom, test))]
mod imp {
    pub(crate) use crate::hal::Wait;
    pub(crate) use crate::hal::clock::Instant;
    pub(crate) use loom::sync::atomic::{AtomicU32, Ordering};
    use std::vec::Vec;

    /// The emulated kernel wait queue: (word address, waiter id, woken) per sleeper.
    struct Queue {
        next_id: u64,
        sleepers: Vec<(usize, u64, bool)>,
    }

    loom::lazy_static! {
        static ref PARK: (loom::sync::Mutex<Queue>, loom::sync::Condvar) = (
            loom::sync::Mutex::new(Queue { next_id: 0, sleepers: Vec::new() }),
            loom::sync::Condvar::new(),
        );
    }

    pub(crate) fn wait_until(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Wait {
        let (lock, cv) = &*PARK;
        let mut q = lock.lock().unwrap();
        if word.load(Ordering::SeqCst) != expected {
            return Wait::Woken;
        }
        if deadline.is_some() {
            drop(q);
            loom::thread::yield_now();
            return Wait::TimedOut;
        }
        let id = q.next_id;
        q.next_id += 1;
        let addr = word as *const AtomicU32 as usize;
        q.sleepers.push((addr, id, false));
        loop {
            q = cv.wait(q).unwrap();
            if let Some(i) = q.sleepers.iter().position(|s| s.1 == id && s.2) {
                q.sleepers.remove(i);
                return Wait::Woken;
            }
        }
    }

    fn wake(word: &AtomicU32, all: bool) {
        let (lock, cv) = &*PARK;
        let mut q = lock.lock().unwrap();
        let addr = word as *const AtomicU32 as usize;
        for s in q.sleepers.iter_mut().filter(|s| s.0 == addr && !s.2) {
            s.2 = true;
            if !all {
                break;
            }
        }
        cv.notify_all();
    }

    pub(crate) fn wake_one(word: &AtomicU32) {
        wake(word, false);
    }

    pub(crate) fn wake_all(word: &AtomicU32) {
        wake(word, true);
    }

    /// Under loom a timed wait that reports `TimedOut` is taken as the deadline (real time
    /// would make executions unrepeatable).
    pub(crate) fn reached(deadline: Option<Instant>) -> bool {
        deadline.is_some()
    }

    /// No spinning under loom: the models go straight to the park/wake protocol.
    pub(crate) const MUTEX_SPINS: u32 = 0;

    pub(crate) fn relax() {}

    /// Ends the spin phase at once (no yield: loom would then run the other threads
    /// first and rarely reach a park), so the models explore the park/wake protocol.
    pub(crate) fn spin(backoff: &mut shmsync_arch::Backoff) {
        *backoff = shmsync_arch::Backoff::with_limit(0);
    }

    /// loom models `SeqCst` accesses as `AcqRel` (tokio-rs/loom#180), so the store–load
    /// pairs that rely on the single `SeqCst` order get the equivalent `SeqCst` fence,
    /// which loom does model.
    pub(crate) fn dekker_fence() {
        loom::sync::atomic::fence(Ordering::SeqCst);
    }

    pub(crate) fn deadline_after(_d: core::time::Duration) -> Option<Instant> {
        Some(Instant::from_nanos(u64::MAX))
    }
}

pub(crate) use imp::*;

/// Declares a `const fn` that is a plain `fn` under loom (loom's atomics have no
/// `const fn new`).
macro_rules! maybe_const_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $t:ty),* $(,)?) -> $ret:ty $body:block) => {
        #[cfg(not(all(loom, test)))]
        $(#[$m])* $vis const fn $name($($arg: $t),*) -> $ret $body
        #[cfg(all(loom, test))]
        $(#[$m])* $vis fn $name($($arg: $t),*) -> $ret $body
    };
}
pub(crate) use maybe_const_fn;
