//! [`Spsc<T, N>`]: a wait-free single-producer single-consumer ring of plain-data items.
//!
//! ```
//! use shmsync::ring::{PopError, Spsc};
//!
//! // In real use the ring lives in a region every process maps; a static works too.
//! static RING: Spsc<u32, 8> = Spsc::new();
//!
//! let mut tx = RING.producer().unwrap();
//! let mut rx = RING.consumer().unwrap();
//! assert!(RING.producer().is_err()); // one producer, across all processes
//!
//! tx.try_push(7).unwrap(); // wait-free, no syscall unless the consumer sleeps
//! assert_eq!(tx.push_slice(&[8, 9]), Ok(2));
//! assert_eq!(rx.try_pop(), Ok(7));
//! let mut block = [0u32; 4];
//! assert_eq!(rx.pop_slice(&mut block), Ok(2));
//! assert_eq!(&block[..2], &[8, 9]);
//! assert_eq!(rx.try_pop(), Err(PopError::Empty));
//! ```
//!
//! # Layout (`repr(C)`, identical on every target)
//! ```text
//! offset 0    tail line (128 B): tail index (producer writes), consumer-parked flag
//! offset 128  head line (128 B): head index (consumer writes), producer-parked flag
//! offset 256  role line (128 B): producer role, consumer role
//! offset 384  N slots of T, padded to a multiple of 128 bytes
//! ```
//! Each parked flag sits on the line its *waker* already owns, so checking it on every
//! push or pop costs no extra cache traffic; the sleeper writes it only when it parks.

use super::Item;

mod chunk;
use super::role::{Claim, Role, RoleError};
use super::sync::{AtomicU32, Cell, Ordering};
use super::{
    Announce, Corrupted, DEFAULT_SPIN_LIMIT, PopError, PushError, Ready, block_until,
    deadline_after, wake_if_parked,
};
use crate::ShmSafe;
use crate::arch::CachePadded;
use crate::hal::process::OwnerId;
pub use chunk::{ChunkError, ReadChunk, WriteChunk};
use core::fmt;
use core::time::Duration;

/// One side's index and the other side's parked flag.
#[repr(C)]
struct Line {
    /// Free-running count of items this side has handed over (wraps at 2^32).
    index: AtomicU32,
    /// 1 while the *other* side sleeps waiting on `index`; 0 otherwise.
    parked: AtomicU32,
}

/// A bounded single-producer single-consumer ring of `N` items of `T`, placed in shared
/// memory (or a `static`).
///
/// * `T:` [`Item`](super::Item): plain data without padding, valid for every bit pattern
///   ([`ShmSafe`] and bytemuck's `NoUninit + AnyBitPattern`), copied in and out.
/// * `N`: a power of two, `1 ..= 2^31`, checked at compile time; all `N` slots are usable.
/// * One [`Producer`] and one [`Consumer`] at a time across all processes, claimed with
///   [`producer`](Self::producer) / [`consumer`](Self::consumer); a role whose holder
///   died is taken over (and starts clean: a parked flag the dead end left is cleared).
///   An end inherited across `fork` panics when dropped in the child and keeps the role
///   with its holder.
///
/// Real-time classes: [`Producer::try_push`], [`Producer::push_slice`],
/// [`Consumer::try_pop`], [`Consumer::pop_slice`] are **wait-free** and make a syscall only
/// when the other end is parked (**may wake**); [`Producer::push`] / [`Consumer::pop`]
/// **may block**; claiming a role **may block**.
///
/// ```
/// use shmsync::Spsc;
/// use core::time::Duration;
///
/// // Usually a field of a region's root type, shared by two processes.
/// static BLOCKS: Spsc<[f32; 4], 8> = Spsc::new();
/// let mut tx = BLOCKS.producer().unwrap(); // one producer across all processes
/// let mut rx = BLOCKS.consumer().unwrap();
/// tx.try_push([0.5; 4]).unwrap();                                   // wait-free
/// assert_eq!(rx.try_pop().unwrap(), [0.5; 4]);                      // wait-free
/// assert!(rx.pop(Some(Duration::from_micros(10))).is_err());        // may block: times out
/// ```
#[repr(C)]
pub struct Spsc<T, const N: usize> {
    tail: CachePadded<Line>,
    head: CachePadded<Line>,
    roles: CachePadded<[Role; 2]>,
    slots: CachePadded<[Cell<T>; N]>,
}

const PRODUCER: usize = 0;
const CONSUMER: usize = 1;

// SAFETY: repr(C) of fixed-width atomics, role words and `T` slots (T: Item), all valid
// as zero bytes (empty ring, free roles) and for any bit pattern (indices are checked,
// payloads are plain data); nothing process-local; shared fields are atomics or slots
// accessed atomically word by word.
unsafe impl<T: Item, const N: usize> ShmSafe for Spsc<T, N> {
    // Evaluating `CAP` here checks `N` wherever the ring's type is used in a region root,
    // even if no method of it is ever called.
    const TAG: u64 = {
        let _ = Self::CAP;
        crate::tag_with(
            crate::tag_with(crate::tag(b"shmsync::Spsc v1"), T::TAG),
            N as u64,
        )
    };
}

#[cfg(not(loom))]
crate::assert_layout!(Spsc<u64, 16>, size = 512, align = 128,
    offsets = { tail: 0, head: 128, roles: 256, slots: 384 });
#[cfg(not(loom))]
crate::assert_layout!(Spsc<[f32; 64], 4>, size = 384 + 1024, align = 128);

impl<T: Item, const N: usize> Spsc<T, N> {
    /// `N` as the `u32` the indices count in.
    const CAP: u32 = {
        assert!(
            N.is_power_of_two(),
            "Spsc capacity N must be a power of two"
        );
        assert!(N <= 1 << 31, "Spsc capacity N must be at most 2^31");
        N as u32
    };
    const MASK: u32 = Self::CAP - 1;

    /// An empty ring with both roles free: all-zero bytes, the same state fresh shared
    /// memory is in. Real-time class: wait-free.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        let _ = Self::CAP;
        // SAFETY: every field is valid as zero bytes (atomics, role words, and slots of a
        // `T: ShmSafe`, whose all-zero pattern is valid by the trait's contract).
        unsafe { core::mem::zeroed() }
    }

    /// An empty ring (loom build: loom's atomics are not const-constructible).
    #[cfg(loom)]
    pub fn new() -> Self {
        let _ = Self::CAP;
        let line = || {
            CachePadded::new(Line {
                index: AtomicU32::new(0),
                parked: AtomicU32::new(0),
            })
        };
        Self {
            tail: line(),
            head: line(),
            roles: CachePadded::new([Role::new(), Role::new()]),
            // SAFETY: all-zero bytes are a valid `T: ShmSafe`.
            slots: CachePadded::new(core::array::from_fn(|_| unsafe { Cell::zeroed() })),
        }
    }

    /// Number of slots, `N`. Real-time class: wait-free.
    #[inline]
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Claims the producer role. Fails with [`RoleError::Taken`] while another live
    /// handle, in any process, holds it; takes it over when its holder died.
    ///
    /// A new producer continues from the published tail: items the dead one had written
    /// but not published are lost, published ones stay; a takeover clears the parked flag
    /// the dead producer may have left, so the consumer's pops make no wake syscall for
    /// it. Real-time class: **may block**.
    pub fn producer(&self) -> Result<Producer<'_, T, N>, RoleError> {
        rtsan_blocking!(c"shmsync::Spsc::producer");
        let claim = self.roles[PRODUCER].claim()?;
        if claim.took_over_from.is_some() {
            // The dead producer may have died parked: its flag would make every consumer
            // release a wake syscall, forever. Nobody else writes it: start clean.
            self.head.parked.store(0, Ordering::Relaxed);
        }
        super::register_fence();
        let tail = self.tail.index.load(Ordering::Acquire);
        Ok(Producer {
            ring: self,
            tail,
            // Forces a fresh read of the consumer's index on the first push.
            head: tail.wrapping_sub(Self::CAP),
            claim,
            parks: 0,
            spin_limit: DEFAULT_SPIN_LIMIT,
        })
    }

    /// Claims the consumer role; see [`producer`](Self::producer). A new consumer
    /// continues from the published head. Real-time class: **may block**.
    pub fn consumer(&self) -> Result<Consumer<'_, T, N>, RoleError> {
        rtsan_blocking!(c"shmsync::Spsc::consumer");
        let claim = self.roles[CONSUMER].claim()?;
        if claim.took_over_from.is_some() {
            // As for the producer: a consumer that died parked leaves no flag behind.
            self.tail.parked.store(0, Ordering::Relaxed);
        }
        super::register_fence();
        let head = self.head.index.load(Ordering::Acquire);
        Ok(Consumer {
            ring: self,
            head,
            tail: head,
            claim,
            parks: 0,
            spin_limit: DEFAULT_SPIN_LIMIT,
        })
    }

    /// The recorded holders of the producer and consumer roles ([`OwnerId::NONE`] when
    /// free). Real-time class: wait-free.
    pub fn holders(&self) -> (OwnerId, OwnerId) {
        (self.roles[PRODUCER].holder(), self.roles[CONSUMER].holder())
    }

    #[inline(always)]
    fn slot(&self, index: u32) -> &Cell<T> {
        // The mask keeps any index, even a corrupted one, inside the array.
        &self.slots[(index & Self::MASK) as usize]
    }
}

#[cfg(not(loom))]
impl<T: Item, const N: usize> Default for Spsc<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> fmt::Debug for Spsc<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spsc")
            .field("capacity", &N)
            .field("head", &self.head.index.load(Ordering::Relaxed))
            .field("tail", &self.tail.index.load(Ordering::Relaxed))
            .finish()
    }
}

/// The producing end of an [`Spsc`]; releases the role on drop.
pub struct Producer<'a, T: Item, const N: usize> {
    ring: &'a Spsc<T, N>,
    /// Our index: the authoritative copy (the shared one is only published).
    tail: u32,
    /// The consumer's index as last read; refreshed only when the ring looks full.
    head: u32,
    claim: Claim,
    parks: u64,
    /// Spin limit of the blocking calls: a window of (2^limit − 1) × 40 ns (process-local).
    spin_limit: u32,
}

impl<T: Item, const N: usize> Producer<'_, T, N> {
    /// Re-reads the consumer's index; returns the number of free slots.
    #[inline]
    fn refresh(&mut self) -> Result<u32, Corrupted> {
        let head = self.ring.head.index.load(Ordering::Acquire);
        let used = self.tail.wrapping_sub(head);
        // An honest consumer is never ahead of us nor more than N behind.
        if used > Spsc::<T, N>::CAP {
            return Err(Corrupted);
        }
        self.head = head;
        Ok(Spsc::<T, N>::CAP - used)
    }

    /// Free slots as last seen, refreshing only if that is fewer than `want`.
    #[inline(always)]
    fn free(&mut self, want: u32) -> Result<u32, Corrupted> {
        let free = Spsc::<T, N>::CAP - self.tail.wrapping_sub(self.head);
        if free >= want {
            Ok(free)
        } else {
            self.refresh()
        }
    }

    /// Publishes the tail and wakes the consumer if it sleeps.
    #[inline(always)]
    fn publish(&self) {
        self.ring.tail.index.store(self.tail, Ordering::Release);
        wake_if_parked(&self.ring.tail.index, &self.ring.tail.parked);
    }

    /// Pushes one item if a slot is free.
    ///
    /// Cost: one slot write, one release store of the tail, the light barrier (a compiler fence where
    /// the process registered for `membarrier`, else a `SeqCst` fence) and one
    /// relaxed load of the consumer's parked flag; the consumer's index is read only when
    /// the cached copy says the ring is full.
    ///
    /// Real-time class: **wait-free**; **may wake** (one syscall) only if the consumer
    /// is parked in [`Consumer::pop`].
    #[inline]
    pub fn try_push(&mut self, value: T) -> Result<(), PushError<T>> {
        match self.free(1) {
            Ok(0) => return Err(PushError::Full(value)),
            Ok(_) => {}
            Err(Corrupted) => return Err(PushError::Corrupted(value)),
        }
        // SAFETY: the slot at `tail` is free: the consumer has released it (head was read
        // with Acquire and is at most N behind), so no honest access races with this
        // write; a dishonest one is atomic word by word.
        unsafe { self.ring.slot(self.tail).write(value) };
        self.tail = self.tail.wrapping_add(1);
        self.publish();
        Ok(())
    }

    /// Pushes as many items from the front of `items` as there are free slots, with one
    /// publication (one fence, at most one wake) for the whole batch: the way to move an
    /// audio block. Returns how many were pushed.
    ///
    /// Real-time class: **wait-free** (O(`items.len()`) copies); **may wake**.
    pub fn push_slice(&mut self, items: &[T]) -> Result<usize, Corrupted> {
        let want = u32::try_from(items.len()).unwrap_or(u32::MAX);
        let n = self.free(want)?.min(want);
        for (i, item) in items[..n as usize].iter().enumerate() {
            // SAFETY: as in `try_push`; slots `tail .. tail + n` are all free.
            unsafe {
                self.ring
                    .slot(self.tail.wrapping_add(i as u32))
                    .write(*item)
            };
        }
        if n > 0 {
            self.tail = self.tail.wrapping_add(n);
            self.publish();
        }
        Ok(n as usize)
    }

    /// Pushes one item, waiting up to `timeout` (`None`: no limit) for a free slot: spins
    /// up to [`spin_limit`](Self::spin_limit) window (by default
    /// 5.08 µs), then parks until the consumer frees a slot. Gives the item back
    /// in [`PushError::Full`] if none became free in time.
    ///
    /// Real-time class: **may block**.
    pub fn push(&mut self, value: T, timeout: Option<Duration>) -> Result<(), PushError<T>> {
        rtsan_blocking!(c"shmsync::ring::spsc::Producer::push");
        let value = match self.try_push(value) {
            Err(PushError::Full(v)) if timeout != Some(Duration::ZERO) => v,
            done => return done,
        };
        let deadline = deadline_after(timeout);
        let ring = self.ring;
        let mut parks = self.parks;
        let ready = block_until(
            &ring.head.parked,
            Announce::Flag,
            deadline,
            self.spin_limit,
            &mut parks,
            || {
                Ok(match self.refresh()? {
                    0 => Ready::No(&ring.head.index, self.head),
                    _ => Ready::Yes,
                })
            },
        );
        self.parks = parks;
        match ready {
            Ok(true) => self.try_push(value),
            Ok(false) => Err(PushError::Full(value)),
            Err(Corrupted) => Err(PushError::Corrupted(value)),
        }
    }

    /// Free slots right now (reads the consumer's index). Real-time class: wait-free.
    pub fn free_slots(&mut self) -> Result<usize, Corrupted> {
        self.refresh().map(|n| n as usize)
    }

    end_accessors!("push");
}

impl<T: Item, const N: usize> Drop for Producer<'_, T, N> {
    fn drop(&mut self) {
        self.ring.roles[PRODUCER].release(&self.claim);
    }
}

impl<T: Item, const N: usize> fmt::Debug for Producer<'_, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("tail", &self.tail)
            .finish_non_exhaustive()
    }
}

/// The consuming end of an [`Spsc`]; releases the role on drop.
pub struct Consumer<'a, T: Item, const N: usize> {
    ring: &'a Spsc<T, N>,
    /// Our index: the authoritative copy.
    head: u32,
    /// The producer's index as last read (checked: at most N ahead of `head`).
    tail: u32,
    claim: Claim,
    parks: u64,
    /// Spin limit of the blocking calls: a window of (2^limit − 1) × 40 ns (process-local).
    spin_limit: u32,
}

impl<T: Item, const N: usize> Consumer<'_, T, N> {
    /// Re-reads the producer's index; returns the number of items available.
    #[inline]
    fn refresh(&mut self) -> Result<u32, Corrupted> {
        let tail = self.ring.tail.index.load(Ordering::Acquire);
        let avail = tail.wrapping_sub(self.head);
        // An honest producer is never behind us nor more than N ahead.
        if avail > Spsc::<T, N>::CAP {
            return Err(Corrupted);
        }
        self.tail = tail;
        Ok(avail)
    }

    #[inline(always)]
    fn available(&mut self, want: u32) -> Result<u32, Corrupted> {
        let avail = self.tail.wrapping_sub(self.head);
        if avail >= want {
            Ok(avail)
        } else {
            self.refresh()
        }
    }

    #[inline(always)]
    fn publish(&self) {
        self.ring.head.index.store(self.head, Ordering::Release);
        wake_if_parked(&self.ring.head.index, &self.ring.head.parked);
    }

    /// Pops one item if there is one.
    ///
    /// Cost: one slot read, one release store of the head, the light barrier (a compiler fence where
    /// the process registered for `membarrier`, else a `SeqCst` fence) and one
    /// relaxed load of the producer's parked flag; the producer's index is read only when
    /// the cached copy says the ring is empty.
    ///
    /// Real-time class: **wait-free**; **may wake** (one syscall) only if the producer
    /// is parked in [`Producer::push`].
    #[inline]
    pub fn try_pop(&mut self) -> Result<T, PopError> {
        match self.available(1) {
            Ok(0) => return Err(PopError::Empty),
            Ok(_) => {}
            Err(Corrupted) => return Err(PopError::Corrupted),
        }
        // SAFETY: the slot at `head` was published (tail read with Acquire, at most N
        // ahead), so no honest write races with this read; any bit pattern is a valid T.
        let value = unsafe { self.ring.slot(self.head).read() };
        self.head = self.head.wrapping_add(1);
        self.publish();
        Ok(value)
    }

    /// Pops up to `out.len()` items into the front of `out`, with one publication for the
    /// whole batch. Returns how many were popped (0 when empty).
    ///
    /// Real-time class: **wait-free** (O(`out.len()`) copies); **may wake**.
    pub fn pop_slice(&mut self, out: &mut [T]) -> Result<usize, Corrupted> {
        let want = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let n = self.available(want)?.min(want);
        for (i, slot) in out[..n as usize].iter_mut().enumerate() {
            // SAFETY: as in `try_pop`; slots `head .. head + n` are all published.
            *slot = unsafe { self.ring.slot(self.head.wrapping_add(i as u32)).read() };
        }
        if n > 0 {
            self.head = self.head.wrapping_add(n);
            self.publish();
        }
        Ok(n as usize)
    }

    /// Pops one item, waiting up to `timeout` (`None`: no limit): spins up to
    /// [`spin_limit`](Self::spin_limit) window (by default 5.08 µs),
    /// then parks until the producer publishes. [`PopError::Empty`] if
    /// nothing arrived in time; an item that arrives as the timeout expires is still
    /// returned.
    ///
    /// Real-time class: **may block**.
    pub fn pop(&mut self, timeout: Option<Duration>) -> Result<T, PopError> {
        rtsan_blocking!(c"shmsync::ring::spsc::Consumer::pop");
        match self.try_pop() {
            Err(PopError::Empty) if timeout != Some(Duration::ZERO) => {}
            done => return done,
        }
        let deadline = deadline_after(timeout);
        let ring = self.ring;
        let mut parks = self.parks;
        let ready = block_until(
            &ring.tail.parked,
            Announce::Flag,
            deadline,
            self.spin_limit,
            &mut parks,
            || {
                Ok(match self.refresh()? {
                    0 => Ready::No(&ring.tail.index, self.tail),
                    _ => Ready::Yes,
                })
            },
        );
        self.parks = parks;
        match ready {
            Ok(true) => self.try_pop(),
            Ok(false) => Err(PopError::Empty),
            Err(Corrupted) => Err(PopError::Corrupted),
        }
    }

    /// Items available right now (reads the producer's index). Real-time class:
    /// wait-free.
    pub fn available_items(&mut self) -> Result<usize, Corrupted> {
        self.refresh().map(|n| n as usize)
    }

    end_accessors!("pop");
}

impl<T: Item, const N: usize> Drop for Consumer<'_, T, N> {
    fn drop(&mut self) {
        self.ring.roles[CONSUMER].release(&self.claim);
    }
}

impl<T: Item, const N: usize> fmt::Debug for Consumer<'_, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}
