//! Events: [`AutoResetEvent`] and [`ManualResetEvent`], "data ready" flags a process can
//! sleep on.
//!
//! Both are a `state` word (0 = not set, anything else = set) that sleepers wait on while
//! it is 0, and a `waiters` count; [`set`](AutoResetEvent::set) makes a wake syscall only
//! when the event was not set and `waiters` is non-zero (sequentially consistent on both
//! sides, so either the setter sees the waiter or the waiter sees the set).
//!
//! * **Auto-reset**: a successful wait consumes the set (exactly one waiter returns per
//!   set); `set` on an already-set event changes nothing (sets coalesce, unlike a
//!   [`Semaphore`](super::Semaphore)), and wakes at most one sleeper.
//! * **Manual-reset**: stays set, releasing every waiter, until [`reset`](ManualResetEvent::reset);
//!   `set` wakes all sleepers.
//!
//! # A woken waiter that dies
//! A waiter woken by `set` may be SIGKILLed before it consumes (auto-reset) or returns. An
//! auto-reset `set` therefore wakes one sleeper only when `waiters` reads 1 — then the
//! woken thread is the only one that can be asleep, and a waiter counted after `set`'s
//! `SeqCst` load sees the set before it sleeps — and every sleeper otherwise, so one
//! dead waiter cannot strand another while the event stays set (the same exact argument
//! as the [semaphore's](super::Semaphore); no periodic re-check). A manual-reset `set`
//! always wakes every sleeper. Cost: with two or more parked waiters an auto-reset `set`
//! wakes all of them and all but one sleep again; a waiter that dies while counted leaves
//! `waiters` one too high, so later sets make a wake syscall nobody needed.
//!
//! ```
//! use shmsync::sync::AutoResetEvent;
//! static READY: AutoResetEvent = AutoResetEvent::new();
//! READY.set();
//! assert!(READY.wait_timeout(core::time::Duration::from_millis(10)));
//! assert!(!READY.try_wait(), "the wait consumed the set");
//! ```

use super::hooks::{self, Site};
use super::shim::{self, AtomicU32, Instant, Ordering, Wait, maybe_const_fn};
#[cfg(not(all(loom, test)))]
use crate::ShmSafe;
use core::fmt;
use core::time::Duration;

/// `state`: not set (also the all-zero state).
const UNSET: u32 = 0;
/// `state`: set. Any other non-zero value (a corrupt peer) also reads as set.
const SET: u32 = 1;

/// The shared part of both events.
#[repr(C)]
struct Core {
    /// [`UNSET`] or set; sleepers wait on it while it is [`UNSET`].
    state: AtomicU32,
    /// Threads that may be asleep on `state`.
    waiters: AtomicU32,
}

impl Core {
    maybe_const_fn! {
        fn new(set: bool) -> Self {
            Self {
                state: AtomicU32::new(if set { SET } else { UNSET }),
                waiters: AtomicU32::new(0),
            }
        }
    }

    /// One attempt: true when set (and, for `consume`, this call reset it).
    #[inline]
    fn try_take(&self, consume: bool, order: Ordering) -> bool {
        let v = self.state.load(order);
        if v == UNSET {
            return false;
        }
        !consume
            || self
                .state
                .compare_exchange(v, UNSET, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    fn wait_until(&self, consume: bool, deadline: Option<Instant>) -> bool {
        if self.try_take(consume, Ordering::Acquire) {
            return true;
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        shim::dekker_fence();
        let got = loop {
            // SeqCst: pairs with `set`'s SeqCst swap and waiters load.
            if self.try_take(consume, Ordering::SeqCst) {
                break true;
            }
            if self.state.load(Ordering::Relaxed) != UNSET {
                // Set, but another waiter consumed it first or is about to: look again.
                continue;
            }
            if shim::wait_until(&self.state, UNSET, deadline) == Wait::TimedOut
                && shim::reached(deadline)
            {
                break self.try_take(consume, Ordering::Acquire);
            }
            // Woken (or spuriously): dying here must not strand the set (see `set`).
            hooks::call(Site::EventWoken);
        };
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        got
    }

    /// loom only: a waiter that dies as soon as it is woken (see `Semaphore`'s).
    #[cfg(all(loom, test))]
    fn loom_dying_waiter(&self) {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        shim::dekker_fence();
        if self.state.load(Ordering::SeqCst) == UNSET {
            let _ = shim::wait_until(&self.state, UNSET, None);
        }
    }

    #[inline]
    fn set(&self, all: bool) {
        // Only an UNSET → set transition can have sleepers to wake: a sleeper sleeps only
        // while the word is UNSET, and whoever set it before woke it.
        if self.state.swap(SET, Ordering::SeqCst) != UNSET {
            return;
        }
        shim::dekker_fence();
        match self.waiters.load(Ordering::SeqCst) {
            0 => {}
            // One counted waiter and one waiter to release: it is the only sleeper.
            1 if !all => shim::wake_one(&self.state),
            // Everybody, or several waiters that a woken one's death could strand.
            _ => shim::wake_all(&self.state),
        }
    }
}

macro_rules! event {
    (
        $name:ident,
        $tag:literal,
        $consume:expr,
        $wake_all:expr,
        $doc:literal,
        // The names RealtimeSanitizer reports for `wait`, `wait_timeout`, `wait_until`.
        rtsan = [$rt_wait:literal, $rt_wait_timeout:literal, $rt_wait_until:literal]
    ) => {
        #[doc = $doc]
        ///
        /// Layout (`#[repr(C)]`): `state` at 0, `waiters` at 4; 8 bytes, align 4; all-zero =
        /// not set, no waiters.
        #[repr(C)]
        pub struct $name {
            core: Core,
        }

        #[cfg(not(all(loom, test)))]
        crate::assert_layout!($name, size = 8, align = 4, offsets = { core: 0 });

        // SAFETY: `#[repr(C)]` of two `AtomicU32`; all-zero = not set; any bit pattern is
        // a valid (perhaps wrong) state.
        #[cfg(not(all(loom, test)))]
        unsafe impl ShmSafe for $name {
            const TAG: u64 = crate::tag($tag);
        }

        impl $name {
            maybe_const_fn! {
                /// A not-set event. Real-time class: wait-free.
                pub fn new() -> Self {
                    Self { core: Core::new(false) }
                }
            }

            maybe_const_fn! {
                /// An event that starts set. Real-time class: wait-free.
                pub fn new_set() -> Self {
                    Self { core: Core::new(true) }
                }
            }

            /// Sets the event. Real-time class: **may wake** — one swap and, when it was
            /// not set, one atomic load; a wake syscall only when someone may be asleep.
            #[inline]
            pub fn set(&self) {
                self.core.set($wake_all);
            }

            /// Clears the event. Real-time class: wait-free.
            #[inline]
            pub fn reset(&self) {
                self.core.state.store(UNSET, Ordering::Relaxed);
            }

            /// True if set now (consuming the set for an auto-reset event).
            /// Real-time class: wait-free (lock-free for auto-reset: one compare-exchange).
            #[inline]
            pub fn try_wait(&self) -> bool {
                self.core.try_take($consume, Ordering::Acquire)
            }

            /// Sleeps until the event is set. Real-time class: **may block**.
            pub fn wait(&self) {
                rtsan_blocking!($rt_wait);
                while !self.core.wait_until($consume, None) {}
            }

            /// Sleeps until the event is set, at most `timeout`; false on timeout.
            /// Real-time class: **may block** (at most `timeout`).
            pub fn wait_timeout(&self, timeout: Duration) -> bool {
                rtsan_blocking!($rt_wait_timeout);
                self.core.wait_until($consume, shim::deadline_after(timeout))
            }

            /// Sleeps until the event is set or `deadline` (hal monotonic clock, `None`:
            /// no limit) passes; false on timeout. Real-time class: **may block**.
            pub fn wait_until(&self, deadline: Option<Instant>) -> bool {
                rtsan_blocking!($rt_wait_until);
                self.core.wait_until($consume, deadline)
            }

            /// loom only: a waiter that dies as soon as it is woken.
            #[cfg(all(loom, test))]
            #[allow(dead_code)]
            pub(crate) fn loom_dying_waiter(&self) {
                self.core.loom_dying_waiter();
            }

            /// True if set (a snapshot; consumes nothing). Real-time class: wait-free.
            pub fn is_set(&self) -> bool {
                self.core.state.load(Ordering::Relaxed) != UNSET
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("set", &self.is_set())
                    .finish_non_exhaustive()
            }
        }
    };
}

event!(
    AutoResetEvent,
    b"shmsync::AutoResetEvent/1",
    true,
    false,
    "An auto-reset event in shared memory: each set releases one waiter, which resets it.

```
use shmsync::AutoResetEvent;
use core::time::Duration;
static BLOCK_READY: AutoResetEvent = AutoResetEvent::new();
BLOCK_READY.set();                                        // may wake
assert!(BLOCK_READY.wait_timeout(Duration::from_millis(1))); // consumed by this waiter
assert!(!BLOCK_READY.wait_timeout(Duration::from_micros(10))); // reset again
```",
    rtsan = [
        c"shmsync::AutoResetEvent::wait",
        c"shmsync::AutoResetEvent::wait_timeout",
        c"shmsync::AutoResetEvent::wait_until"
    ]
);
event!(
    ManualResetEvent,
    b"shmsync::ManualResetEvent/1",
    false,
    true,
    "A manual-reset event in shared memory: once set, releases every waiter until reset.

```
use shmsync::ManualResetEvent;
use core::time::Duration;
static STARTED: ManualResetEvent = ManualResetEvent::new();
STARTED.set();
assert!(STARTED.wait_timeout(Duration::from_millis(1)));
assert!(STARTED.wait_timeout(Duration::from_millis(1))); // stays set
STARTED.reset();
assert!(!STARTED.is_set());
```",
    rtsan = [
        c"shmsync::ManualResetEvent::wait",
        c"shmsync::ManualResetEvent::wait_timeout",
        c"shmsync::ManualResetEvent::wait_until"
    ]
);
