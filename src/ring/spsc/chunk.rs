//! What rtrb's users reach for on an SPSC ring, over shmsync's shared-memory `Spsc`:
//! occupancy snapshots on the ring, `peek`, chunks that are filled or read item by item
//! and then committed with `commit(n)`, and `std::io::{Write, Read}` for byte rings.
//!
//! A chunk never hands out a reference into the shared slots (another process could write
//! them while we hold it, a data race): items are copied in and out with the same
//! word-atomic copies as `try_push` / `try_pop`, and one publication covers the chunk.

use super::{Consumer, Producer, Spsc};
use crate::ring::sync::Ordering;
use crate::ring::{Corrupted, Item};
use core::fmt;

impl<T: Item, const N: usize> Spsc<T, N> {
    /// Items in the ring now, as any process sees it: a snapshot of the two shared
    /// indices, clamped to `0 ..= N` (indices read one after the other, or corrupted by a
    /// peer, never give more than `N`). Stale as soon as it is returned; the ends' own
    /// [`Consumer::available_items`] / [`Producer::free_slots`] are what to act on.
    ///
    /// Real-time class: **wait-free** (two loads).
    pub fn len(&self) -> usize {
        // Head first: the tail read after it is then at most N ahead of the head *now*,
        // which can only be further ahead of the one we read; the clamp covers that.
        let head = self.head.index.load(Ordering::Acquire);
        let tail = self.tail.index.load(Ordering::Acquire);
        tail.wrapping_sub(head).min(Self::CAP) as usize
    }

    /// `len() == 0`, as a snapshot. Real-time class: **wait-free**.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `len() == N`, as a snapshot. Real-time class: **wait-free**.
    pub fn is_full(&self) -> bool {
        self.len() == N
    }
}

/// Why a chunk of `n` could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    /// Fewer than `n` free slots (write) or items (read): this many are there.
    TooFew(usize),
    /// The shared indices are inconsistent (see [`Corrupted`]).
    Corrupted,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkError::TooFew(n) => write!(f, "only {n} slots or items available"),
            ChunkError::Corrupted => fmt::Display::fmt(&Corrupted, f),
        }
    }
}

impl core::error::Error for ChunkError {}

impl From<Corrupted> for ChunkError {
    fn from(_: Corrupted) -> Self {
        ChunkError::Corrupted
    }
}

impl<'a, T: Item, const N: usize> Producer<'a, T, N> {
    /// Reserves `n` free slots, to be filled with [`WriteChunk::push`] and published with
    /// [`WriteChunk::commit`] — one publication (and at most one wake) for all of them.
    /// Dropping the chunk publishes nothing.
    ///
    /// ```
    /// use shmsync::Spsc;
    /// static RING: Spsc<u32, 8> = Spsc::new();
    /// let (mut tx, mut rx) = (RING.producer().unwrap(), RING.consumer().unwrap());
    /// let mut chunk = tx.write_chunk(3).unwrap();
    /// for v in [10, 20, 30] {
    ///     chunk.push(v).unwrap();
    /// }
    /// chunk.commit(2); // the first two become visible; the third slot stays free
    /// assert_eq!(RING.len(), 2);
    /// let chunk = rx.read_chunk(2).unwrap();
    /// assert_eq!((chunk.get(0), chunk.get(1)), (10, 20));
    /// chunk.commit_all();
    /// ```
    ///
    /// Real-time class: **wait-free** (reads the consumer's index at most once).
    pub fn write_chunk(&mut self, n: usize) -> Result<WriteChunk<'_, 'a, T, N>, ChunkError> {
        let want = u32::try_from(n).unwrap_or(u32::MAX);
        let free = self.free(want)?;
        if free < want {
            return Err(ChunkError::TooFew(free as usize));
        }
        Ok(WriteChunk {
            producer: self,
            len: want,
            pushed: 0,
        })
    }
}

/// Free slots of a [`Producer`], filled in order, published by [`commit`](Self::commit).
#[must_use = "a chunk publishes nothing unless committed"]
pub struct WriteChunk<'p, 'a, T: Item, const N: usize> {
    producer: &'p mut Producer<'a, T, N>,
    len: u32,
    pushed: u32,
}

impl<T: Item, const N: usize> WriteChunk<'_, '_, T, N> {
    /// Slots reserved. Real-time class: **wait-free**.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for a chunk of 0 slots. Real-time class: **wait-free**.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Items written so far. Real-time class: **wait-free**.
    pub fn pushed(&self) -> usize {
        self.pushed as usize
    }

    /// Writes the next slot (not yet visible to the consumer); `Err(value)` once all
    /// [`len`](Self::len) slots are written. Real-time class: **wait-free**.
    pub fn push(&mut self, value: T) -> Result<(), T> {
        if self.pushed == self.len {
            return Err(value);
        }
        let p = &mut *self.producer;
        // SAFETY: `write_chunk` saw these `len` slots free (the consumer released them,
        // head read with Acquire), and only this end writes them until we publish.
        unsafe { p.ring.slot(p.tail.wrapping_add(self.pushed)).write(value) };
        self.pushed += 1;
        Ok(())
    }

    /// Publishes the first `n` items pushed (one release store, one light barrier, at
    /// most one wake). Panics if fewer than `n` were pushed: publishing an unwritten
    /// slot would hand the consumer an old item as new.
    ///
    /// Real-time class: **wait-free**; **may wake**.
    pub fn commit(self, n: usize) {
        assert!(
            n <= self.pushed as usize,
            "WriteChunk::commit({n}) with only {} items pushed",
            self.pushed
        );
        if n > 0 {
            let p = self.producer;
            p.tail = p.tail.wrapping_add(n as u32);
            p.publish();
        }
    }

    /// Publishes every item pushed. Real-time class: **wait-free**; **may wake**.
    pub fn commit_all(self) {
        let n = self.pushed as usize;
        self.commit(n);
    }
}

impl<'a, T: Item, const N: usize> Consumer<'a, T, N> {
    /// The next item, copied, without consuming it (`Empty` when there is none): the
    /// next `try_pop` returns the same value unless a peer overwrote the slot.
    ///
    /// Real-time class: **wait-free**; no publication, no wake.
    pub fn peek(&mut self) -> Result<T, crate::ring::PopError> {
        use crate::ring::PopError;
        match self.available(1) {
            Ok(0) => Err(PopError::Empty),
            // SAFETY: as in `try_pop`: the slot at `head` is published and only the
            // producer, which does not write it before we release it, could change it.
            Ok(_) => Ok(unsafe { self.ring.slot(self.head).read() }),
            Err(Corrupted) => Err(PopError::Corrupted),
        }
    }

    /// `n` published items, read with [`ReadChunk::get`] and released with
    /// [`ReadChunk::commit`] — one publication for all of them. Dropping the chunk
    /// releases nothing (the items stay for the next read).
    ///
    /// Real-time class: **wait-free** (reads the producer's index at most once).
    pub fn read_chunk(&mut self, n: usize) -> Result<ReadChunk<'_, 'a, T, N>, ChunkError> {
        let want = u32::try_from(n).unwrap_or(u32::MAX);
        let avail = self.available(want)?;
        if avail < want {
            return Err(ChunkError::TooFew(avail as usize));
        }
        Ok(ReadChunk {
            consumer: self,
            len: want,
        })
    }
}

/// Published items of a [`Consumer`], released by [`commit`](Self::commit).
#[must_use = "a chunk releases nothing unless committed"]
pub struct ReadChunk<'c, 'a, T: Item, const N: usize> {
    consumer: &'c mut Consumer<'a, T, N>,
    len: u32,
}

impl<T: Item, const N: usize> ReadChunk<'_, '_, T, N> {
    /// Items in the chunk. Real-time class: **wait-free**.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for a chunk of 0 items. Real-time class: **wait-free**.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Item `i` (0-based), copied out. Panics if `i >= len()`.
    /// Real-time class: **wait-free**.
    pub fn get(&self, i: usize) -> T {
        assert!(
            i < self.len as usize,
            "ReadChunk::get({i}) of {} items",
            self.len
        );
        let c = &*self.consumer;
        // SAFETY: `read_chunk` saw these `len` slots published (tail read with Acquire);
        // the producer does not write them before we release them.
        unsafe { c.ring.slot(c.head.wrapping_add(i as u32)).read() }
    }

    /// Copies the items, in order, into the front of `out`; returns how many (at most
    /// `len()`). Real-time class: **wait-free**.
    pub fn copy_to(&self, out: &mut [T]) -> usize {
        let n = out.len().min(self.len as usize);
        for (i, slot) in out[..n].iter_mut().enumerate() {
            *slot = self.get(i);
        }
        n
    }

    /// Releases the first `n` items to the producer (one release store, one light
    /// barrier, at most one wake). Panics if `n > len()`.
    ///
    /// Real-time class: **wait-free**; **may wake**.
    pub fn commit(self, n: usize) {
        assert!(
            n <= self.len as usize,
            "ReadChunk::commit({n}) of {} items",
            self.len
        );
        if n > 0 {
            let c = self.consumer;
            c.head = c.head.wrapping_add(n as u32);
            c.publish();
        }
    }

    /// Releases every item of the chunk. Real-time class: **wait-free**; **may wake**.
    pub fn commit_all(self) {
        let n = self.len as usize;
        self.commit(n);
    }
}

/// Byte rings as `std::io` streams (`std` feature). Non-blocking, like a socket with
/// `O_NONBLOCK`: a full ring (write) or an empty one (read) is `ErrorKind::WouldBlock`,
/// never `Ok(0)` (which would mean end of stream); corrupted indices are
/// `ErrorKind::InvalidData`.
#[cfg(feature = "std")]
mod io {
    use super::{Consumer, Producer};
    use crate::ring::Corrupted;
    use std::io;

    fn corrupted(_: Corrupted) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, Corrupted)
    }

    /// Real-time class: **wait-free**; **may wake**.
    impl<const N: usize> io::Write for Producer<'_, u8, N> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            match self.push_slice(buf).map_err(corrupted)? {
                0 if !buf.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
                n => Ok(n),
            }
        }

        /// Every write is published at once: nothing to flush.
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Real-time class: **wait-free**; **may wake**.
    impl<const N: usize> io::Read for Consumer<'_, u8, N> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.pop_slice(buf).map_err(corrupted)? {
                0 if !buf.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
                n => Ok(n),
            }
        }
    }
}
