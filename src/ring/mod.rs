//! Fixed-size rings that live in shared memory the caller maps.
//!
//! | ring | ends | items | non-blocking ops | blocking ops |
//! |---|---|---|---|---|
//! | [`Spsc<T, N>`](Spsc) | one producer, one consumer (claimed roles) | `T:` [`Item`] | wait-free | spin, then park with a timeout |
//! | [`Mpmc<T, N>`](Mpmc) | any number of both | `T:` [`Item`] | lock-free | spin, then park with a timeout |
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
//! A blocking call first spins for a short time window (by default 5.1 µs; see
//! [Spinning before parking](#spinning-before-parking)), then sets a "parked" flag that
//! lives on the *other* side's index line and sleeps on the other side's index word
//! through [`crate::hal::wait_until`]. The non-blocking side, after publishing its index,
//! issues a barrier and one relaxed load of that flag, and makes the wake syscall only
//! when the flag is set. Either the sleeper sees the new index and does not sleep, or the
//! publisher sees the flag and wakes it (a Dekker handshake); and because the sleeper waits
//! on the index word itself, with the value it last saw, the kernel refuses to put it to
//! sleep once the index has moved.
//!
//! The barrier is **asymmetric** where the OS allows it, so the wait-free side pays
//! nothing for the handshake:
//!
//! | | publisher (`try_push`, `try_pop`, …) | sleeper (before its last check) | cost per item |
//! |---|---|---|---|
//! | Linux, process registered for `membarrier` | compiler fence | `SeqCst` fence + `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)` | nothing (no store–load barrier) |
//! | elsewhere (macOS, no OS, Miri, registration refused) | `SeqCst` fence | `SeqCst` fence | one store–load barrier: about one cache-line transfer when the peer is on another core |
//!
//! `membarrier` makes every CPU running a thread of a registered process execute a full
//! barrier before it returns, which turns the publisher's compiler fence into a full
//! barrier exactly when a sleeper needs it (see `shmsync::hal::membarrier`). A process
//! registers when it creates or attaches a region and when it claims a ring role; the
//! region header records whether the creator did ([`crate::region::ASYMMETRIC_FENCE`]),
//! and a process that cannot match it is refused at `attach`, since a publisher may skip
//! its fence only if every sleeper it can wake issues the membarrier. A sleeper reads the
//! registration state *after* its own fence, so a registration that happens while threads
//! of the process already use rings is safe. Rings shared between processes without a
//! region need processes that either all register or all fail to (true unless a seccomp
//! filter treats them differently; `hal::membarrier::is_registered` tells).
//!
//! macOS has no cross-process `membarrier`: the Apple path keeps the `SeqCst` fence on
//! both sides. **Estimate, not measured here (no Mac):** on Apple Silicon a `dmb ish` that
//! must wait for a store to reach another core costs on the order of the core-to-core
//! latency, ≈ 50–100 ns per publication when the consumer is on another cluster and tens
//! of ns within one, so cross-core `try_push` throughput stays well below rtrb's there.
//!
//! Proven by the loom models (`tests/rings_loom.rs`, including a negative control in which
//! the publisher's barrier is removed and loom finds the lost wake-up), by
//! `tests/rings_fence.rs` (forced parks across processes) and by the `count-syscalls`
//! tests.
//!
//! # Spinning before parking
//! How long a blocking call spins before it parks is a setting of the *end* that blocks,
//! kept in process-local memory (it is not part of the ring's shared layout, so each
//! process, and each end, chooses its own): `set_spin_limit` / `spin_limit` on
//! [`Producer`], [`Consumer`], [`MsgProducer`] and [`MsgConsumer`], and the
//! `push_with_spin` / `pop_with_spin` variants of [`Mpmc`]'s blocking calls (an `Mpmc` has
//! no per-end handles). A limit `L` buys a spin **window of (2^L − 1) × 40 ns of time**,
//! read from the hal's monotonic clock (every 4 polls): not a count of `cpu_relax` calls,
//! whose cost varies ten-fold between CPUs. The peer is polled after every `cpu_relax`,
//! and the window never extends past the call's deadline, so a timed call returns within
//! its timeout whatever the limit.
//!
//! | limit | spin window before the first park | suits |
//! |---|---|---|
//! | `0` | none: park at once | a peer known to take long; one CPU shared by both ends; the least CPU burnt |
//! | [`Backoff::DEFAULT_SPIN_LIMIT`] (7, the default) | 5.08 µs | a peer that usually answers within microseconds (a ping-pong round trip across cores is ≈ 0.2–0.7 µs) |
//! | 12 | 164 µs | |
//! | [`Backoff::MAX_SPIN_LIMIT`] (16, larger values are clamped) | 2.62 ms | a dedicated core where latency matters more than CPU |
//!
//! The trade-off: each park costs a sleep and a wake through the kernel (a few
//! microseconds each way on Linux, more when the scheduler moves the sleeper, plus the
//! `membarrier`), and the waker pays its wake syscall only because the sleeper announced
//! itself; a spin costs CPU time the peer (or anything else on that core) could have used,
//! and buys nothing if the peer does not answer within it. The window is spent once per
//! call: after a wake-up that found nothing the call parks again at once. Real-time class
//! of the setting itself: **wait-free**; of the blocking calls whatever the limit: **may
//! block**. Under loom and Miri the limit is always 0 (a spin is only more interleavings to
//! explore, and Miri cannot run the spin hint).

/// The accessors every claimed ring end (`Producer`, `Consumer`, `MsgProducer`,
/// `MsgConsumer`) has, written once: the process-local spin limit of its blocking
/// operation `$op`, its park count, and who its role was taken over from. The handle
/// needs fields `spin_limit: u32`, `parks: u64` and `claim` (with `took_over_from`).
macro_rules! end_accessors {
    ($op:literal) => {
        #[doc = concat!("Sets the spin limit of [`", $op, "`](Self::", $op, "): it spins for a window")]
        /// of (2^limit − 1) × 40 ns of time before it parks (never past its deadline): `0`
        /// parks at once, the default is
        /// [`Backoff::DEFAULT_SPIN_LIMIT`](crate::arch::Backoff::DEFAULT_SPIN_LIMIT) (7: a
        /// 5.08 µs window), values above
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
mod item;
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
pub use item::Item;
#[cfg(not(loom))]
pub use runtime::{RING_ALIGN, RingLayoutError};

pub use mpmc::Mpmc;
pub use msg::{
    HEADER_CHECK, MsgConsumer, MsgProducer, MsgRing, ReadGrant, RecvError, SendError, WriteGrant,
};
pub use role::RoleError;
pub use spsc::{ChunkError, Consumer, Producer, ReadChunk, Spsc, WriteChunk};

use crate::arch::Backoff;
use core::fmt;
use core::time::Duration;
use sync::{AtomicU32, Instant, Ordering};

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

/// True once `deadline` has passed (`None` never passes). Real-time class: wait-free.
#[inline]
pub(crate) fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
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

/// The spin window a spin limit buys: `2^limit - 1` units of [`SPIN_UNIT_NS`], i.e. the
/// time the old count of `cpu_relax` calls took on a CPU with a slow (≈ 40 ns) `pause`.
/// Limit 0: no spin; 7 (the default): 5.08 µs; 12: 164 µs; 16 (the maximum): 2.6 ms.
#[inline]
pub(crate) const fn spin_window_ns(spin_limit: u32) -> u64 {
    ((1u64 << clamp_spin_limit(spin_limit)) - 1) * SPIN_UNIT_NS
}

/// Nanoseconds of spin window per unit of a spin limit's budget (see [`spin_window_ns`]).
pub(crate) const SPIN_UNIT_NS: u64 = 40;

/// Polls between two clock reads while spinning: the clock (a vDSO call on Linux, a
/// commpage read on Apple) costs about as much as one `cpu_relax`, so reading it every
/// few polls keeps the window exact to well under a microsecond.
const POLLS_PER_CLOCK_READ: u32 = 4;

/// Spins until `check` says ready, the spin window of `spin_limit` closes, or `deadline`
/// passes, whichever is first. Returns the readiness the last check found (`Ok(true)`:
/// ready).
///
/// The window is **time**, read from the hal's monotonic clock, not a count of
/// `cpu_relax` calls (whose cost varies ten-fold between CPUs); the peer is polled after
/// every relax call, so an answer is seen within one relax of its arrival. The deadline
/// bounds the spin like the window does: a timed call never spins past its timeout.
#[inline]
fn spin_phase<'a>(
    deadline: Option<Instant>,
    spin_limit: u32,
    check: &mut impl FnMut() -> Result<Ready<'a>, Corrupted>,
) -> Result<bool, Corrupted> {
    // Under loom a spin is just more interleavings to explore, and Miri cannot run the
    // spin hint's inline assembly: there, no spin at all.
    if cfg!(any(loom, miri)) || spin_limit == 0 {
        return Ok(false);
    }
    let start = Instant::now();
    let window_end =
        Instant::from_nanos(start.as_nanos().saturating_add(spin_window_ns(spin_limit)));
    let end = deadline.map_or(window_end, |d| d.min(window_end));
    if start >= end {
        return Ok(false);
    }
    loop {
        for _ in 0..POLLS_PER_CLOCK_READ {
            crate::arch::cpu_relax();
            if let Ready::Yes = check()? {
                return Ok(true);
            }
        }
        if Instant::now() >= end {
            return Ok(false);
        }
    }
}

/// Spins, then parks behind `parked` on the word `check` names, until `check` says
/// [`Ready::Yes`] or `deadline` passes. Returns `Ok(true)` when ready, `Ok(false)` on
/// timeout.
///
/// Protocol (the sleeper's half of the handshake described in the module docs):
/// 1. spin while not ready, for the spin window of `spin_limit` ([`spin_window_ns`]) but
///    never past `deadline` (`0`: no spin, go straight to step 2; under loom and Miri
///    always `0`);
/// 2. announce in `parked`, then the heavy barrier (`sync::heavy_barrier`: a `SeqCst`
///    fence, plus `membarrier` where this process registered), then check again — the
///    publisher's light barrier pairs with it;
/// 3. `wait(word, seen)`: the kernel re-compares `word` with what the check saw, so a
///    publication after step 2's check makes the wait return at once;
/// 4. withdraw the announcement and loop (without spinning again: the window is spent).
///    A spurious or timed-out return just loops: the result is decided by `check`, never
///    by how the wait ended, so a wait that times out just as data arrives still returns
///    ready.
pub(crate) fn block_until<'a>(
    parked: &AtomicU32,
    announce: Announce,
    deadline: Option<Instant>,
    spin_limit: u32,
    parks: &mut u64,
    mut check: impl FnMut() -> Result<Ready<'a>, Corrupted>,
) -> Result<bool, Corrupted> {
    if let Ready::Yes = check()? {
        return Ok(true);
    }
    if spin_phase(deadline, spin_limit, &mut check)? {
        return Ok(true);
    }
    loop {
        if past(deadline) {
            // Last look: an item that arrived exactly at the deadline still counts.
            return check().map(|r| matches!(r, Ready::Yes));
        }
        match announce {
            Announce::Flag => parked.store(1, Ordering::Relaxed),
            Announce::Count => {
                parked.fetch_add(1, Ordering::Relaxed);
            }
        }
        let exact = sync::heavy_barrier();
        let checked = check();
        if let Ok(Ready::No(word, seen)) = checked {
            *parks += 1;
            let until = if exact {
                deadline
            } else {
                // A wake may be missed: look again after at most a millisecond.
                Instant::now()
                    .checked_add(Duration::from_millis(1))
                    .map(|t| deadline.map_or(t, |d| d.min(t)))
            };
            let _ = sync::wait(word, seen, until);
        }
        match announce {
            Announce::Flag => parked.store(0, Ordering::Relaxed),
            Announce::Count => {
                parked.fetch_sub(1, Ordering::Relaxed);
            }
        }
        match checked? {
            Ready::Yes => return Ok(true),
            Ready::No(..) => {
                if let Ready::Yes = check()? {
                    return Ok(true);
                }
            }
        }
    }
}

/// The publisher's half of the handshake: after its index store, the light barrier and
/// one relaxed load of the flag; the wake syscall only when the peer is parked.
/// Real-time class: may wake.
#[inline(always)]
pub(crate) fn wake_if_parked(word: &AtomicU32, parked: &AtomicU32) {
    sync::light_barrier();
    if parked.load(Ordering::Relaxed) != 0 {
        wake_cold(word, Announce::Flag);
    }
}

/// As [`wake_if_parked`] for words any number of sleepers may wait on: wakes them all
/// (each re-checks; those that lose the race park again).
#[inline(always)]
pub(crate) fn wake_all_if_parked(word: &AtomicU32, parked: &AtomicU32) {
    sync::light_barrier();
    if parked.load(Ordering::Relaxed) != 0 {
        wake_cold(word, Announce::Count);
    }
}

/// Registers this process for the asymmetric fence (`hal::membarrier::register`, once per
/// process; a cached load afterwards), called when a ring role is claimed so that
/// in-process rings (threads, `static`s) publish with the light barrier too. Safe while
/// other threads already use rings: see `sync::heavy_barrier`. Across processes the
/// region header makes the agreement (see [`crate::region::ASYMMETRIC_FENCE`]).
#[inline]
pub(crate) fn register_fence() {
    #[cfg(not(loom))]
    crate::hal::membarrier::register();
}

/// Under loom: makes the publishers' light barrier vanish (no membarrier IPI), the
/// negative control of the asymmetric-fence model (`tests/rings_loom.rs`). Not API.
#[cfg(loom)]
#[doc(hidden)]
pub fn loom_model_without_ipi(on: bool) {
    sync::NO_IPI.with(|c| c.set(on));
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

    /// The window is time: 2^limit - 1 units of 40 ns, clamped like the limit.
    #[test]
    fn spin_windows_are_documented_figures() {
        assert_eq!(spin_window_ns(0), 0);
        assert_eq!(spin_window_ns(DEFAULT_SPIN_LIMIT), 5_080);
        assert_eq!(spin_window_ns(12), 163_800);
        assert_eq!(spin_window_ns(16), 2_621_400);
        assert_eq!(
            spin_window_ns(u32::MAX),
            spin_window_ns(Backoff::MAX_SPIN_LIMIT)
        );
    }

    /// Natively a non-zero limit polls many times inside its window before the first
    /// announcement (under Miri the limit is always 0, see `spin_phase`), and a peer that
    /// answers within it is never parked for.
    #[test]
    #[cfg(not(miri))]
    fn a_limit_polls_through_its_window_before_parking() {
        // 50 misses take a few µs of polling, well inside the 2.6 ms window of limit 16.
        assert_eq!(run(16, 50), (0, 51));
        // Limit 1 is a 40 ns window: a check that is never ready within it parks.
        let (parks, checks) = run(1, 100_000);
        assert!(
            parks >= 1 && checks == 100_001,
            "{parks} parks, {checks} checks"
        );
    }

    /// The deadline closes the spin window early: a 20 µs timeout at the largest limit
    /// returns long before the 2.6 ms window would end (the bound is generous; the exact
    /// figure is the cross-process test's, `tests/timeouts.rs`).
    #[test]
    #[cfg(not(miri))]
    fn a_deadline_bounds_the_spin() {
        let word = AtomicU32::new(1);
        let parked = AtomicU32::new(0);
        let mut parks = 0;
        // The first sleep of a process registers it for membarrier (two syscalls, slow
        // under emulation): not what this test times.
        let _ = crate::hal::membarrier::register();
        let t0 = Instant::now();
        let deadline = t0.checked_add(Duration::from_micros(20));
        let ready = block_until(
            &parked,
            Announce::Flag,
            deadline,
            u32::MAX,
            &mut parks,
            || Ok(Ready::No(&word, 1)),
        );
        assert_eq!(ready, Ok(false));
        let took = t0.elapsed();
        assert!(took < Duration::from_micros(1_500), "took {took:?}");
    }

    #[test]
    fn limits_are_clamped_to_the_backoff_maximum() {
        assert_eq!(clamp_spin_limit(0), 0);
        assert_eq!(clamp_spin_limit(DEFAULT_SPIN_LIMIT), DEFAULT_SPIN_LIMIT);
        assert_eq!(clamp_spin_limit(u32::MAX), Backoff::MAX_SPIN_LIMIT);
    }
}
