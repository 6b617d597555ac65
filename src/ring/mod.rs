//! Fixed-size rings that live in shared memory the caller maps.
//!
//! | ring | ends | items | non-blocking ops | blocking ops |
//! |---|---|---|---|---|
//! | [`Spsc<T, N>`](Spsc) | one producer, one consumer (claimed roles) | `T: Copy + ShmSafe` | wait-free | spin, then park with a timeout |
//! | [`Mpmc<T, N>`](Mpmc) | any number of both | `T: Copy + ShmSafe` | lock-free | spin, then park with a timeout |
//! | [`MsgRing<N>`](MsgRing) | one producer, one consumer (claimed roles) | byte messages of any length up to [`MsgRing::MAX_MESSAGE`] | wait-free | spin, then park with a timeout |
//! | [`ByteRing`] (run-time capacity and item size, over caller memory) | one producer, one consumer (claimed roles) | fixed-size byte items | wait-free | spin, then park with a timeout |
//! | [`DynMsgRing`] (run-time data size, over caller memory) | one producer, one consumer (claimed roles) | byte messages up to `capacity / 2 - 8` | wait-free | spin, then park with a timeout |
//!
//! The two run-time-sized rings are a [validated header](runtime) followed by the data
//! area in memory the caller provides (`init` / `attach` over a pointer and a length); they
//! use the same index lines, role claims, handshake and corruption checks as the
//! const-generic rings. Every const-generic ring is `#[repr(C)]`, made of fixed-width fields, valid as all-zero bytes (empty,
//! no role claimed) and has a `const fn new()`, so it can be placed directly in a region
//! ([`crate::init`]) or a `static`. Indices are free-running `u32` counters that wrap; a
//! slot is found by masking an index with `N - 1`, which is why every `N` is a power of two
//! (checked at compile time).
//!
//! # The peer is not trusted
//! Each end keeps its own index in process-local memory and only *publishes* it; whatever
//! it reads from shared memory (the peer's index, a frame length, a sequence number) is
//! masked before it addresses a slot and checked against the capacity before it is
//! believed. A corrupted or malicious peer can therefore make an end receive wrong items or
//! report [`Corrupted`] / `PushError::Corrupted` / `PopError::Corrupted`, but never read or
//! write outside the ring, hit undefined behaviour or panic. Payloads are copied with
//! relaxed atomic word accesses, so even a peer writing a slot while we read it (which an
//! honest peer never does) gives a torn value, not a data race; the reasoning is in the
//! `sync` module's source docs.
//!
//! # Blocking without costing the other side
//! A blocking call first spins with [`Backoff`] (by default a few microseconds; see
//! [Spinning before parking](#spinning-before-parking)),
//! then sets a "parked" flag that lives on the *other* side's index line and sleeps on the
//! other side's index word through [`crate::hal::wait_until`]. The non-blocking side, after
//! publishing its index, issues one `SeqCst` fence and one relaxed load of that flag and
//! makes the wake syscall only when the flag is set. The fence pairs with the sleeper's
//! fence between setting the flag and re-reading the index (a Dekker handshake): either the
//! sleeper sees the new index and does not sleep, or the publisher sees the flag and wakes
//! it; and because the sleeper waits on the index word itself, with the value it last saw,
//! the kernel refuses to put it to sleep once the index has moved. Proven by the loom
//! models and by the `count-syscalls` tests.
//!
//! # Spinning before parking
//! How long a blocking call spins before it parks is a setting of the *end* that blocks,
//! kept in process-local memory (it is not part of the ring's shared layout, so each
//! process, and each end, chooses its own): `set_spin_limit` / `spin_limit` on
//! [`Producer`], [`Consumer`], [`MsgProducer`] and [`MsgConsumer`], and the
//! `push_with_spin` / `pop_with_spin` variants of [`Mpmc`]'s blocking calls (an `Mpmc` has
//! no per-end handles). The limit counts [`Backoff`] steps: step `k` issues `2^k`
//! `cpu_relax` calls, so a limit `L` spins at most `2^L - 1` of them before the first park.
//!
//! | limit | spin before the first park (from [`Backoff`]'s figures) | suits |
//! |---|---|---|
//! | `0` | none: park at once | a peer known to take long; one CPU shared by both ends; the least CPU burnt |
//! | [`Backoff::DEFAULT_SPIN_LIMIT`] (7, the default) | 127 relax calls: ≈ 0.4–5 µs depending on the CPU | a peer that usually answers within microseconds |
//! | [`Backoff::MAX_SPIN_LIMIT`] (16, larger values are clamped) | 65,535 relax calls: a few ms | a dedicated core where latency matters more than CPU |
//!
//! The trade-off: each park costs a sleep and a wake through the kernel (a few
//! microseconds each way on Linux, more when the scheduler moves the sleeper), and the
//! waker pays its wake syscall only because the sleeper announced itself; a spin costs
//! CPU time the peer (or anything else on that core) could have used, and buys nothing if
//! the peer does not answer within it. Real-time class of the setting itself:
//! **wait-free**; of the blocking calls whatever the limit: **may block**. Under loom and
//! Miri the limit is always 0 (a spin is only more interleavings to explore, and Miri
//! cannot run the spin hint).

/// The accessors every claimed ring end (`Producer`, `Consumer`, `MsgProducer`,
/// `MsgConsumer`) has, written once: the process-local spin limit of its blocking
/// operation `$op`, its park count, and who its role was taken over from. The handle
/// needs fields `spin_limit: u32`, `parks: u64` and `claim` (with `took_over_from`).
macro_rules! end_accessors {
    ($op:literal) => {
        #[doc = concat!("Sets how many [`Backoff`](crate::arch::Backoff) steps [`", $op, "`](Self::", $op, ")")]
        /// spins before it parks: `0` parks at once, the default is
        /// [`Backoff::DEFAULT_SPIN_LIMIT`](crate::arch::Backoff::DEFAULT_SPIN_LIMIT) (7 steps,
        /// 127 relax calls, ≈ 0.4–5 µs), values above
        /// [`Backoff::MAX_SPIN_LIMIT`](crate::arch::Backoff::MAX_SPIN_LIMIT) are clamped. A
        /// setting of this handle only, in this process: the ring's shared state is untouched.
        /// The trade-off is described in [the ring docs](crate::ring#spinning-before-parking).
        /// Real-time class: wait-free.
        pub fn set_spin_limit(&mut self, limit: u32) {
            self.spin_limit = $crate::ring::clamp_spin_limit(limit);
        }

        #[doc = concat!("The spin limit [`", $op, "`](Self::", $op, ") uses (see")]
        /// [`set_spin_limit`](Self::set_spin_limit)). Real-time class: wait-free.
        pub fn spin_limit(&self) -> u32 {
            self.spin_limit
        }

        /// How many times this handle has gone to sleep in the kernel (a statistic for tests
        /// and tuning). Real-time class: wait-free.
        pub fn parks(&self) -> u64 {
            self.parks
        }

        /// The dead holder this role was taken over from, if it was. Real-time class:
        /// wait-free.
        pub fn took_over_from(&self) -> Option<OwnerId> {
            self.claim.took_over_from
        }
    };
}

#[cfg(not(loom))]
pub mod bytes;
#[cfg(not(loom))]
pub mod dynmsg;
mod mpmc;
mod msg;
mod role;
#[cfg(not(loom))]
pub mod runtime;
mod spsc;
pub(crate) mod sync;

#[cfg(not(loom))]
pub use bytes::{ByteConsumer, ByteProducer, ByteRing, ByteRingError, MAX_ITEM_SIZE, MAX_ITEMS};
#[cfg(not(loom))]
pub use dynmsg::{DynMsgConsumer, DynMsgProducer, DynMsgRing, MAX_MSG_CAPACITY, MIN_MSG_CAPACITY};
#[cfg(not(loom))]
pub use runtime::{RING_ALIGN, RingLayoutError};

pub use mpmc::Mpmc;
pub use msg::{
    HEADER_CHECK, MsgConsumer, MsgProducer, MsgRing, ReadGrant, RecvError, SendError, WriteGrant,
};
pub use role::RoleError;
pub use spsc::{Consumer, Producer, Spsc};

use crate::arch::Backoff;
use core::fmt;
use core::time::Duration;
use sync::{AtomicU32, Instant, Ordering, fence};

/// The ring's shared state is inconsistent (an index or length out of range): the peer is
/// broken or malicious, or something else wrote over the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Corrupted;

impl fmt::Display for Corrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ring shared state is corrupted")
    }
}

impl core::error::Error for Corrupted {}

/// Why an item was not pushed; the item is handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushError<T> {
    /// No free slot (for a timed push: none became free before the timeout).
    Full(T),
    /// The ring's shared state is inconsistent; see [`Corrupted`].
    Corrupted(T),
}

impl<T> PushError<T> {
    /// The item that was not pushed. Real-time class: wait-free.
    pub fn into_inner(self) -> T {
        match self {
            PushError::Full(v) | PushError::Corrupted(v) => v,
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full(_) => f.write_str("ring is full"),
            PushError::Corrupted(_) => Corrupted.fmt(f),
        }
    }
}

impl<T: fmt::Debug> core::error::Error for PushError<T> {}

/// Why no item was popped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PopError {
    /// No item (for a timed pop: none arrived before the timeout).
    Empty,
    /// The ring's shared state is inconsistent; see [`Corrupted`].
    Corrupted,
}

impl fmt::Display for PopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PopError::Empty => f.write_str("ring is empty"),
            PopError::Corrupted => Corrupted.fmt(f),
        }
    }
}

impl core::error::Error for PopError {}

/// The spin limit every blocking end starts with: [`Backoff::DEFAULT_SPIN_LIMIT`].
pub(crate) const DEFAULT_SPIN_LIMIT: u32 = Backoff::DEFAULT_SPIN_LIMIT;

/// `limit` clamped to [`Backoff::MAX_SPIN_LIMIT`], the value an end stores and reports.
#[inline]
pub(crate) const fn clamp_spin_limit(limit: u32) -> u32 {
    if limit > Backoff::MAX_SPIN_LIMIT {
        Backoff::MAX_SPIN_LIMIT
    } else {
        limit
    }
}

/// `Some(deadline)` for a timeout (`None` when it is absent or too large to represent).
#[inline]
fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// What a blocking end's readiness check found.
pub(crate) enum Ready<'a> {
    /// The operation can proceed.
    Yes,
    /// Not yet: the check was decided by `word` holding `seen`; sleep until it changes.
    No(&'a AtomicU32, u32),
}

/// How a sleeper announces itself in the `parked` word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Announce {
    /// A single sleeper (an SPSC end): `parked` is set to 1, then back to 0.
    Flag,
    /// Any number of sleepers (MPMC ends): `parked` counts them.
    Count,
}

/// Spins, then parks behind `parked` on the word `check` names, until `check` says
/// [`Ready::Yes`] or `deadline` passes. Returns `Ok(true)` when ready, `Ok(false)` on
/// timeout.
///
/// Protocol (the sleeper's half of the handshake described in the module docs):
/// 1. spin with a [`Backoff`] of `spin_limit` steps while not ready (`0`: no spin, go
///    straight to step 2; under loom and Miri always `0`);
/// 2. announce in `parked`, `fence(SeqCst)`, check again — the publisher's fence pairs
///    with this one;
/// 3. `wait(word, seen)`: the kernel re-compares `word` with what the check saw, so a
///    publication after step 2's check makes the wait return at once;
/// 4. withdraw the announcement and loop. A spurious or timed-out return just loops: the
///    result is decided by `check`, never by how the wait ended, so a wait that times out
///    just as data arrives still returns ready.
pub(crate) fn block_until<'a>(
    parked: &AtomicU32,
    announce: Announce,
    deadline: Option<Instant>,
    spin_limit: u32,
    parks: &mut u64,
    mut check: impl FnMut() -> Result<Ready<'a>, Corrupted>,
) -> Result<bool, Corrupted> {
    // Under loom a spin is just more interleavings to explore, and Miri cannot run the
    // spin hint's inline assembly: there, check once and park.
    let mut backoff = if cfg!(any(loom, miri)) {
        Backoff::with_limit(0)
    } else {
        Backoff::with_limit(spin_limit)
    };
    loop {
        if let Ready::Yes = check()? {
            return Ok(true);
        }
        if !backoff.is_completed() {
            backoff.spin();
            continue;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
        match announce {
            Announce::Flag => parked.store(1, Ordering::Relaxed),
            Announce::Count => {
                parked.fetch_add(1, Ordering::Relaxed);
            }
        }
        fence(Ordering::SeqCst);
        let checked = check();
        if let Ok(Ready::No(word, seen)) = checked {
            *parks += 1;
            let _ = sync::wait(word, seen, deadline);
        }
        match announce {
            Announce::Flag => parked.store(0, Ordering::Relaxed),
            Announce::Count => {
                parked.fetch_sub(1, Ordering::Relaxed);
            }
        }
        if !matches!(checked, Ok(Ready::No(..))) {
            return checked.map(|_| true);
        }
    }
}

/// The publisher's half of the handshake: after its index store, one fence and one load;
/// the wake syscall only when the peer is parked. Real-time class: may wake.
#[inline(always)]
pub(crate) fn wake_if_parked(word: &AtomicU32, parked: &AtomicU32) {
    fence(Ordering::SeqCst);
    if parked.load(Ordering::Relaxed) != 0 {
        wake_cold(word, Announce::Flag);
    }
}

/// As [`wake_if_parked`] for words any number of sleepers may wait on: wakes them all
/// (each re-checks; those that lose the race park again).
#[inline(always)]
pub(crate) fn wake_all_if_parked(word: &AtomicU32, parked: &AtomicU32) {
    fence(Ordering::SeqCst);
    if parked.load(Ordering::Relaxed) != 0 {
        wake_cold(word, Announce::Count);
    }
}

#[cold]
#[inline(never)]
fn wake_cold(word: &AtomicU32, announce: Announce) {
    match announce {
        Announce::Flag => sync::wake_one(word),
        Announce::Count => sync::wake_all(word),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Runs `block_until` with a check that answers "not ready" `not_ready` times, then
    /// "ready"; the not-ready answers name a word that no longer holds the value the check
    /// saw, so every park returns at once (the kernel, or the spin fallback, refuses to
    /// sleep). Returns (parks, checks made).
    fn run(spin_limit: u32, not_ready: u32) -> (u64, u32) {
        let word = AtomicU32::new(1);
        let parked = AtomicU32::new(0);
        let mut checks = 0;
        let mut parks = 0;
        let ready = block_until(
            &parked,
            Announce::Flag,
            None,
            spin_limit,
            &mut parks,
            || {
                checks += 1;
                Ok(if checks <= not_ready {
                    Ready::No(&word, 0)
                } else {
                    Ready::Yes
                })
            },
        );
        assert_eq!(ready, Ok(true));
        assert_eq!(parked.load(Ordering::Relaxed), 0, "announcement withdrawn");
        (parks, checks)
    }

    #[test]
    fn limit_zero_parks_on_the_first_miss() {
        // Each round is a check, the announcement, a check again and a park: the first
        // miss already leads to a park, and so does every second one after it.
        assert_eq!(run(0, 1), (0, 2));
        assert_eq!(run(0, 2), (1, 3));
        assert_eq!(run(0, 6), (3, 7));
    }

    /// Natively a limit of `L` spins through `L` misses before the first announcement
    /// (under Miri the limit is always 0, see `block_until`).
    #[test]
    #[cfg(not(miri))]
    fn a_limit_spins_that_many_misses_before_parking() {
        assert_eq!(run(DEFAULT_SPIN_LIMIT, DEFAULT_SPIN_LIMIT), (0, 8));
        assert_eq!(run(DEFAULT_SPIN_LIMIT, DEFAULT_SPIN_LIMIT + 2), (1, 10));
        assert_eq!(run(3, 3), (0, 4));
        assert_eq!(run(3, 5), (1, 6));
        // Larger limits are clamped: 16 misses spin, the 17th and 18th park once.
        assert_eq!(run(99, 18), (1, 19));
    }

    #[test]
    fn limits_are_clamped_to_the_backoff_maximum() {
        assert_eq!(clamp_spin_limit(0), 0);
        assert_eq!(clamp_spin_limit(DEFAULT_SPIN_LIMIT), DEFAULT_SPIN_LIMIT);
        assert_eq!(clamp_spin_limit(u32::MAX), Backoff::MAX_SPIN_LIMIT);
    }
}
