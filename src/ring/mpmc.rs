//! [`Mpmc<T, N>`]: a bounded multi-producer multi-consumer ring with per-slot sequence
//! numbers (D. Vyukov's bounded MPMC queue), placed in shared memory.
//!
//! ```
//! use shmsync::ring::{Mpmc, PopError};
//!
//! static Q: Mpmc<u64, 4> = Mpmc::new();
//! Q.try_push(1).unwrap();
//! Q.try_push(2).unwrap();
//! assert_eq!(Q.try_pop(), Ok(1));
//! assert_eq!(Q.pop(Some(core::time::Duration::from_millis(1))), Ok(2));
//! assert_eq!(Q.try_pop(), Err(PopError::Empty));
//! ```
//!
//! # Protocol
//! Each slot carries a sequence number that says which lap it is ready for. A producer at
//! position `p` may fill slot `p mod N` when its sequence equals `p`; it claims `p` with a
//! compare-and-swap on the tail, copies the item in and stores sequence `p + 1`. A consumer
//! at position `p` may empty the slot when its sequence equals `p + 1`; it claims `p` on the
//! head, copies the item out and stores `p + N`, handing the slot to the producer of the
//! next lap.
//!
//! To make all-zero bytes the valid empty state, a slot stores its sequence *relative to
//! its index*: slot `i` holds `seq - i`, so the initial sequences `0, 1, …, N-1` are all
//! stored as 0.
//!
//! Sleepers wait on the sequence word of the slot they need, with the value their check
//! saw; publishers wake all sleepers on the slot they just published, and only when a
//! sleeper count (on the publisher's own line) is non-zero.
//!
//! # What a stalled or dead peer does
//! A producer or consumer that stops between claiming a position and publishing the slot
//! (preempted, or killed) holds up the one slot it claimed — consumers (or producers)
//! reaching that slot see it as empty (full) until it is published. So `try_pop` may
//! report `Empty` while a *later* producer's item is already published: unlike crossbeam's
//! `ArrayQueue`, which spins until the earlier producer finishes, shmsync never waits on
//! a peer in a wait-free call, because that peer may be another process that died. A process
//! killed at that point leaves the slot unpublished for good and the ring stops at that
//! slot. Other slots are never affected, and nothing is corrupted or read out of bounds.
//! A process killed while *parked* leaves the sleeper count one too high: the ring stays
//! correct, but publishers then make a (useless) wake syscall on every operation.

use super::Item;
use super::sync::{AtomicU32, Cell, Ordering};
use super::{
    Announce, Corrupted, DEFAULT_SPIN_LIMIT, PopError, PushError, Ready, block_until,
    deadline_after, past, wake_all_if_parked,
};
use crate::ShmSafe;
use crate::arch::CachePadded;
use core::fmt;
use core::time::Duration;

/// One end's position counter and the number of the *other* kind of end asleep.
#[repr(C)]
struct Line {
    /// Next position to claim (free-running, wraps at 2^32).
    pos: AtomicU32,
    /// How many ends of the other kind are parked waiting for this kind to publish.
    sleepers: AtomicU32,
}

/// One slot: its relative sequence number and the item.
#[repr(C)]
struct Slot<T> {
    /// Sequence number minus the slot's index (so all-zero is the initial state).
    seq: AtomicU32,
    value: Cell<T>,
}

/// A bounded multi-producer multi-consumer ring of `N` items of `T`, in shared memory.
///
/// * `T:` [`Item`](super::Item) (plain data without padding, any bit pattern valid);
///   `N` a power of two, `2 ..= 2^30`, checked at compile time. With `N = 1` a slot's
///   sequence number would mean both "free for this lap" and "full", so it is refused:
///
/// ```compile_fail,E0080
/// static Q: shmsync::Mpmc<u8, 1> = shmsync::Mpmc::new(); // error: N must be at least 2
/// ```
/// ```
/// static Q: shmsync::Mpmc<u8, 2> = shmsync::Mpmc::new();
/// ```
/// * No roles: any thread of any process that maps the ring may push and pop.
///
/// Real-time classes: [`try_push`](Self::try_push) / [`try_pop`](Self::try_pop) are
/// **lock-free** (a compare-and-swap loop that retries only when another end made
/// progress) and **may wake** (one syscall) only when a peer is parked;
/// [`push`](Self::push) / [`pop`](Self::pop) **may block**.
#[repr(C)]
pub struct Mpmc<T, const N: usize> {
    tail: CachePadded<Line>,
    head: CachePadded<Line>,
    slots: CachePadded<[Slot<T>; N]>,
}

// SAFETY: repr(C) of atomics and plain-data slots, all-zero = empty (relative sequence
// numbers), any bit pattern tolerated (positions masked, sequences only compared), nothing
// process-local; shared fields are atomics or slots copied atomically word by word.
unsafe impl<T: Item, const N: usize> ShmSafe for Mpmc<T, N> {
    // Evaluating `CAP` checks `N` wherever the type is used in a region root.
    const TAG: u64 = {
        let _ = Self::CAP;
        crate::tag_with(
            crate::tag_with(crate::tag(b"shmsync::Mpmc v1"), T::TAG),
            N as u64,
        )
    };
}

#[cfg(not(loom))]
crate::assert_layout!(Mpmc<u64, 8>, size = 384, align = 128,
    offsets = { tail: 0, head: 128, slots: 256 });
#[cfg(not(loom))]
crate::assert_layout!(Slot<u64>, size = 16, align = 8, offsets = { seq: 0, value: 8 });

impl<T: Item, const N: usize> Mpmc<T, N> {
    const CAP: u32 = {
        assert!(
            N.is_power_of_two(),
            "Mpmc capacity N must be a power of two"
        );
        // With one slot, `seq == pos` (free) and `seq == pos + 1` (full, N later: free
        // again) cannot be told apart: a second push would overwrite the first item.
        assert!(N >= 2, "Mpmc capacity N must be at least 2");
        // Sequence differences are compared as i32: keep every honest one far from 2^31.
        assert!(N <= 1 << 30, "Mpmc capacity N must be at most 2^30");
        N as u32
    };
    const MASK: u32 = Self::CAP - 1;

    /// An empty ring: all-zero bytes. Real-time class: wait-free.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        let _ = Self::CAP;
        // SAFETY: atomics and `T: ShmSafe` slots are valid as zero bytes; zero relative
        // sequence numbers are the initial state.
        unsafe { core::mem::zeroed() }
    }

    /// An empty ring (loom build).
    #[cfg(loom)]
    pub fn new() -> Self {
        let _ = Self::CAP;
        let line = || {
            CachePadded::new(Line {
                pos: AtomicU32::new(0),
                sleepers: AtomicU32::new(0),
            })
        };
        Self {
            tail: line(),
            head: line(),
            slots: CachePadded::new(core::array::from_fn(|_| Slot {
                seq: AtomicU32::new(0),
                // SAFETY: all-zero bytes are a valid `T: ShmSafe`.
                value: unsafe { Cell::zeroed() },
            })),
        }
    }

    /// Number of slots, `N`. Real-time class: wait-free.
    #[inline]
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The slot for position `pos` and the offset that turns its stored (relative)
    /// sequence into the absolute one.
    #[inline(always)]
    fn slot(&self, pos: u32) -> (&Slot<T>, u32) {
        let i = pos & Self::MASK;
        (&self.slots[i as usize], i)
    }

    /// Pushes one item if a slot is free.
    ///
    /// Real-time class: **lock-free**; **may wake** (one syscall) only if a consumer is
    /// parked in [`pop`](Self::pop).
    pub fn try_push(&self, value: T) -> Result<(), PushError<T>> {
        match self.claim_push() {
            Ok(Some(pos)) => {
                self.fill(pos, value);
                Ok(())
            }
            Ok(None) => Err(PushError::Full(value)),
            Err(Corrupted) => Err(PushError::Corrupted(value)),
        }
    }

    /// Positions claimed by producers minus positions claimed by consumers, as a snapshot
    /// clamped to `0 ..= N`. Counts claims, not publications: an item being written by a
    /// producer that has claimed its slot counts, one being read counts no more. Stale as
    /// soon as it is returned.
    ///
    /// Real-time class: **wait-free** (two loads).
    pub fn len(&self) -> usize {
        // Head first: the tail read after it can only be further ahead; clamp the rest.
        let head = self.head.pos.load(Ordering::Acquire);
        let tail = self.tail.pos.load(Ordering::Acquire);
        let used = tail.wrapping_sub(head);
        // Only corrupted indices put the head ahead of a tail read after it: read that as
        // an empty ring.
        if used > u32::MAX / 2 {
            0
        } else {
            used.min(Self::CAP) as usize
        }
    }

    /// `len() == 0`, as a snapshot. Real-time class: **wait-free**.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `len() == N`, as a snapshot. Real-time class: **wait-free**.
    pub fn is_full(&self) -> bool {
        self.len() == N
    }

    /// Claims a position to push at: `Ok(None)` when full.
    #[inline]
    fn claim_push(&self) -> Result<Option<u32>, Corrupted> {
        let mut pos = self.tail.pos.load(Ordering::Relaxed);
        loop {
            let (slot, i) = self.slot(pos);
            let seq = slot.seq.load(Ordering::Acquire).wrapping_add(i);
            let dif = seq.wrapping_sub(pos) as i32;
            if dif == 0 {
                // The slot is free for this lap: claim the position.
                match self.tail.pos.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Ok(Some(pos)),
                    Err(now) => pos = now,
                }
            } else if dif < 0 {
                // The slot still holds the item of the previous lap.
                return Ok(None);
            } else {
                // Another producer took `pos` already, so the tail has moved on. An
                // unchanged tail means the sequence number is not honest.
                let now = self.tail.pos.load(Ordering::Relaxed);
                if now == pos {
                    return Err(Corrupted);
                }
                pos = now;
            }
        }
    }

    /// Writes the item at a claimed position and publishes it.
    #[inline]
    fn fill(&self, pos: u32, value: T) {
        let (slot, i) = self.slot(pos);
        // SAFETY: position `pos` is ours (claimed by CAS) and its slot was released by the
        // previous lap's consumer (sequence read with Acquire); a dishonest racer would be
        // atomic word by word.
        unsafe { slot.value.write(value) };
        slot.seq
            .store(pos.wrapping_add(1).wrapping_sub(i), Ordering::Release);
        wake_all_if_parked(&slot.seq, &self.tail.sleepers);
    }

    /// Pops the oldest item if there is one.
    ///
    /// Real-time class: **lock-free**; **may wake** (one syscall) only if a producer is
    /// parked in [`push`](Self::push).
    pub fn try_pop(&self) -> Result<T, PopError> {
        match self.claim_pop() {
            Ok(Some(pos)) => Ok(self.take(pos)),
            Ok(None) => Err(PopError::Empty),
            Err(Corrupted) => Err(PopError::Corrupted),
        }
    }

    #[inline]
    fn claim_pop(&self) -> Result<Option<u32>, Corrupted> {
        let mut pos = self.head.pos.load(Ordering::Relaxed);
        loop {
            let (slot, i) = self.slot(pos);
            let seq = slot.seq.load(Ordering::Acquire).wrapping_add(i);
            let dif = seq.wrapping_sub(pos.wrapping_add(1)) as i32;
            if dif == 0 {
                match self.head.pos.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Ok(Some(pos)),
                    Err(now) => pos = now,
                }
            } else if dif < 0 {
                return Ok(None);
            } else {
                let now = self.head.pos.load(Ordering::Relaxed);
                if now == pos {
                    return Err(Corrupted);
                }
                pos = now;
            }
        }
    }

    #[inline]
    fn take(&self, pos: u32) -> T {
        let (slot, i) = self.slot(pos);
        // SAFETY: position `pos` is ours and its slot was published for it (sequence read
        // with Acquire); any bit pattern is a valid `T`.
        let value = unsafe { slot.value.read() };
        slot.seq.store(
            pos.wrapping_add(Self::CAP).wrapping_sub(i),
            Ordering::Release,
        );
        wake_all_if_parked(&slot.seq, &self.head.sleepers);
        value
    }

    /// What a sleeper at the tail (a producer) needs: the slot at the tail to be free.
    fn push_ready(&self) -> Ready<'_> {
        let pos = self.tail.pos.load(Ordering::Relaxed);
        let (slot, i) = self.slot(pos);
        let stored = slot.seq.load(Ordering::Acquire);
        if (stored.wrapping_add(i).wrapping_sub(pos) as i32) < 0 {
            Ready::No(&slot.seq, stored)
        } else {
            Ready::Yes
        }
    }

    fn pop_ready(&self) -> Ready<'_> {
        let pos = self.head.pos.load(Ordering::Relaxed);
        let (slot, i) = self.slot(pos);
        let stored = slot.seq.load(Ordering::Acquire);
        if (stored.wrapping_add(i).wrapping_sub(pos.wrapping_add(1)) as i32) < 0 {
            Ready::No(&slot.seq, stored)
        } else {
            Ready::Yes
        }
    }

    /// Pushes one item, waiting up to `timeout` (`None`: no limit) for a free slot: spins
    /// the default spin window
    /// (5.08 µs; see [the ring docs](crate::ring#spinning-before-parking)), then parks. Gives the item back in
    /// [`PushError::Full`] if none became free in time.
    ///
    /// Real-time class: **may block**.
    pub fn push(&self, value: T, timeout: Option<Duration>) -> Result<(), PushError<T>> {
        rtsan_blocking!(c"shmsync::Mpmc::push");
        self.push_with_spin(value, timeout, DEFAULT_SPIN_LIMIT)
    }

    /// [`push`](Self::push) with the caller's spin limit: a spin window of
    /// (2^`spin_limit` − 1) × 40 ns before the first park (`0` parks at once; values
    /// above [`Backoff::MAX_SPIN_LIMIT`](crate::arch::Backoff::MAX_SPIN_LIMIT) are
    /// clamped). An `Mpmc` has no per-end handles, so the limit is passed per call; it is
    /// never stored in the ring. The trade-off is described in
    /// [the ring docs](crate::ring#spinning-before-parking).
    ///
    /// Real-time class: **may block**.
    pub fn push_with_spin(
        &self,
        value: T,
        timeout: Option<Duration>,
        spin_limit: u32,
    ) -> Result<(), PushError<T>> {
        rtsan_blocking!(c"shmsync::Mpmc::push_with_spin");
        let deadline = deadline_after(timeout);
        let mut parks = 0;
        loop {
            match self.try_push(value) {
                Err(PushError::Full(v)) if timeout != Some(Duration::ZERO) => {
                    // Sleepers waiting to push are counted on the consumers' line: the
                    // consumers publish the slots they free.
                    match block_until(
                        &self.head.sleepers,
                        Announce::Count,
                        deadline,
                        spin_limit,
                        &mut parks,
                        || Ok(self.push_ready()),
                    ) {
                        // Ready, but another producer may take the slot first: past
                        // the deadline, that was the last attempt.
                        Ok(true) if past(deadline) => return self.try_push(v),
                        Ok(true) => continue,
                        Ok(false) => return Err(PushError::Full(v)),
                        Err(Corrupted) => return Err(PushError::Corrupted(v)),
                    }
                }
                done => return done,
            }
        }
    }

    /// Pops one item, waiting up to `timeout` (`None`: no limit): spins
    /// the default spin window
    /// (5.08 µs; see [the ring docs](crate::ring#spinning-before-parking)), then parks. [`PopError::Empty`] if nothing arrived in
    /// time.
    ///
    /// Real-time class: **may block**.
    pub fn pop(&self, timeout: Option<Duration>) -> Result<T, PopError> {
        rtsan_blocking!(c"shmsync::Mpmc::pop");
        self.pop_with_spin(timeout, DEFAULT_SPIN_LIMIT)
    }

    /// [`pop`](Self::pop) with the caller's spin limit; see
    /// [`push_with_spin`](Self::push_with_spin).
    ///
    /// Real-time class: **may block**.
    pub fn pop_with_spin(&self, timeout: Option<Duration>, spin_limit: u32) -> Result<T, PopError> {
        rtsan_blocking!(c"shmsync::Mpmc::pop_with_spin");
        let deadline = deadline_after(timeout);
        let mut parks = 0;
        loop {
            match self.try_pop() {
                Err(PopError::Empty) if timeout != Some(Duration::ZERO) => {
                    match block_until(
                        &self.tail.sleepers,
                        Announce::Count,
                        deadline,
                        spin_limit,
                        &mut parks,
                        || Ok(self.pop_ready()),
                    ) {
                        Ok(true) if past(deadline) => return self.try_pop(),
                        Ok(true) => continue,
                        Ok(false) => return Err(PopError::Empty),
                        Err(Corrupted) => return Err(PopError::Corrupted),
                    }
                }
                done => return done,
            }
        }
    }
}

#[cfg(not(loom))]
impl<T: Item, const N: usize> Default for Mpmc<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> fmt::Debug for Mpmc<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mpmc")
            .field("capacity", &N)
            .field("head", &self.head.pos.load(Ordering::Relaxed))
            .field("tail", &self.tail.pos.load(Ordering::Relaxed))
            .finish()
    }
}
