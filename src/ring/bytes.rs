//! [`ByteRing`]: a single-producer single-consumer ring of fixed-size byte items whose
//! capacity and item size are chosen at **run time**, over memory the caller provides —
//! the shape a C caller (or any caller that learns its block size at start-up) needs.
//!
//! ```
//! # #[cfg(not(miri))] {
//! use shmsync::ring::{ByteRing, ByteRingError};
//!
//! // In real use this is shared memory every process maps; any 128-aligned memory works.
//! #[repr(C, align(128))]
//! struct Mem([u8; 512 + 8 * 16]);
//! let mut mem = Mem([0; 512 + 8 * 16]);
//! assert_eq!(ByteRing::required_len(8, 16), Some(size_of::<Mem>()));
//!
//! // SAFETY: `mem` outlives the ring and is only used through it.
//! let ring = unsafe { ByteRing::init(mem.0.as_mut_ptr(), mem.0.len(), 8, 16) }.unwrap();
//! let mut tx = ring.producer().unwrap();
//! let mut rx = ring.consumer().unwrap();
//! tx.try_write(&[7; 16]).unwrap(); // wait-free, no syscall unless the consumer sleeps
//! assert_eq!(tx.write_slice(&[1; 32]), Ok(2)); // two whole items
//! let mut item = [0u8; 16];
//! rx.try_read(&mut item).unwrap();
//! assert_eq!(item, [7; 16]);
//! let mut two = [0u8; 48];
//! assert_eq!(rx.read_slice(&mut two), Ok(2));
//! assert_eq!(rx.try_read(&mut item), Err(ByteRingError::Empty));
//! assert_eq!(tx.try_write(&[0; 3]), Err(ByteRingError::BadLength { item_size: 16, len: 3 }));
//! # }
//! ```
//!
//! # Layout
//! The [run-time ring header](super::runtime) (512 bytes: the same tail / head / role lines
//! as [`Spsc`](super::Spsc), then the geometry), then `capacity` slots of `item_size`
//! bytes. [`required_len`](ByteRing::required_len) gives the total, rounded up to 128.
//!
//! # Same rules as `Spsc`
//! Indices are free-running `u32` counters masked with `capacity - 1`; each end keeps its
//! own index locally and only publishes it, checks every index it reads from the peer
//! against the capacity (a bad one is [`ByteRingError::Corrupted`], never an out-of-bounds
//! access), and copies payloads with relaxed atomic word accesses
//! (`ring::sync::words`), so a dishonest peer gives torn bytes, never a data race. Blocking
//! calls use the ring module's spin-then-park handshake, role claims its role words.

use super::role::{Claim, RoleError};
use super::runtime::{self, Kind, RawHeader, RingLayoutError};
use super::sync::{Ordering, words};
use super::{
    Announce, Corrupted, DEFAULT_SPIN_LIMIT, Ready, block_until, deadline_after, wake_if_parked,
};
use crate::hal::process::OwnerId;
use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;

const PRODUCER: usize = 0;
const CONSUMER: usize = 1;

/// Why an item was not written or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteRingError {
    /// No free slot (write; for a timed write: none became free in time).
    Full,
    /// No item (read; for a timed read: none arrived in time).
    Empty,
    /// The buffer is not one item (`try_write` / `try_read` / timed forms) or not a whole
    /// number of items (`write_slice` / `read_slice`).
    BadLength {
        /// The ring's item size.
        item_size: usize,
        /// The buffer's length.
        len: usize,
    },
    /// The ring's shared state is inconsistent; see [`Corrupted`].
    Corrupted,
}

impl fmt::Display for ByteRingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ByteRingError::Full => f.write_str("ring is full"),
            ByteRingError::Empty => f.write_str("ring is empty"),
            ByteRingError::BadLength { item_size, len } => write!(
                f,
                "buffer of {len} bytes is not a whole number of {item_size}-byte items"
            ),
            ByteRingError::Corrupted => Corrupted.fmt(f),
        }
    }
}

impl core::error::Error for ByteRingError {}

impl From<Corrupted> for ByteRingError {
    fn from(_: Corrupted) -> Self {
        ByteRingError::Corrupted
    }
}

/// A handle to a run-time-sized SPSC ring of `item_size`-byte items in caller memory
/// (see the [module docs](self)). Cheap to copy; the geometry lives in the handle.
///
/// Real-time classes: [`ByteProducer::try_write`], [`ByteProducer::write_slice`],
/// [`ByteConsumer::try_read`], [`ByteConsumer::read_slice`] are **wait-free** and make a
/// syscall only when the other end is parked (**may wake**); [`ByteProducer::write`] /
/// [`ByteConsumer::read`] **may block**; claiming a role **may block**; `init` and
/// `attach` are wait-free but `init` writes the whole ring (call both at start-up).
#[derive(Clone, Copy)]
pub struct ByteRing<'a> {
    header: &'a RawHeader,
    data: *mut u8,
    capacity: u32,
    item_size: u32,
    /// Word width of payload copies: the largest power of two dividing `item_size`,
    /// capped at 8 (every slot starts at a multiple of it: the data area is 128-aligned).
    align: usize,
    _mem: PhantomData<&'a [u8]>,
}

// SAFETY: the handle is a view of shared memory whose every access is atomic (header
// atomics, word-wise relaxed atomic payload copies); nothing in it is thread-local.
unsafe impl Send for ByteRing<'_> {}
// SAFETY: as for Send: `&ByteRing` only reads the geometry and accesses memory atomically.
unsafe impl Sync for ByteRing<'_> {}

/// The largest item a [`ByteRing`] carries: 2^20 bytes (1 MiB).
pub const MAX_ITEM_SIZE: u32 = 1 << 20;
/// The largest capacity of a [`ByteRing`]: 2^31 items.
pub const MAX_ITEMS: u32 = 1 << 31;

/// Total bytes for a geometry, if it is valid.
fn geometry_len(capacity: u32, item_size: u32) -> Option<usize> {
    if !capacity.is_power_of_two() || capacity > MAX_ITEMS {
        return None;
    }
    if item_size == 0 || item_size > MAX_ITEM_SIZE {
        return None;
    }
    runtime::total_len(u64::from(capacity) * u64::from(item_size))
}

/// The copy width for an item size (see [`ByteRing::align`]).
const fn word_align(item_size: u32) -> usize {
    let a = 1usize << item_size.trailing_zeros();
    if a > 8 { 8 } else { a }
}

impl<'a> ByteRing<'a> {
    /// Bytes of memory a ring of `capacity` items of `item_size` bytes needs (header plus
    /// data, rounded up to 128), or `None` when the geometry is invalid: `capacity` must
    /// be a power of two up to [`MAX_ITEMS`], `item_size` in `1 ..= MAX_ITEM_SIZE`.
    /// Real-time class: wait-free.
    pub fn required_len(capacity: u32, item_size: u32) -> Option<usize> {
        geometry_len(capacity, item_size)
    }

    /// Creates an empty ring with both roles free in `len` bytes at `ptr`, overwriting
    /// whatever was there, and records its geometry in the header.
    ///
    /// Errors: [`RingLayoutError::InvalidGeometry`], [`Misaligned`](RingLayoutError::Misaligned)
    /// (`ptr` must be [`RING_ALIGN`](super::RING_ALIGN)-aligned), [`TooSmall`](RingLayoutError::TooSmall).
    ///
    /// Real-time class: wait-free, O(ring size) writes.
    ///
    /// # Safety
    /// `ptr..ptr+len` is mapped readable and writable for `'a` and only accessed through
    /// shmsync (in every process that maps it) while `'a` lasts; no process uses a ring at
    /// this memory while `init` runs.
    pub unsafe fn init(
        ptr: *mut u8,
        len: usize,
        capacity: u32,
        item_size: u32,
    ) -> Result<Self, RingLayoutError> {
        let total = geometry_len(capacity, item_size).ok_or(RingLayoutError::InvalidGeometry)?;
        // SAFETY: forwarded from the caller.
        let header = unsafe { runtime::init(ptr, len, Kind::Bytes, capacity, item_size, total)? };
        // SAFETY: `ptr` is valid for `len >= total` bytes (checked by runtime::init).
        Ok(unsafe { Self::from_parts(header, ptr, capacity, item_size) })
    }

    /// Attaches to a ring created by [`init`](Self::init) (in this or another process, at
    /// any address), validating its header; the geometry comes from the header.
    ///
    /// Errors: every [`RingLayoutError`] but `InvalidGeometry`.
    /// Real-time class: wait-free.
    ///
    /// # Safety
    /// As for [`init`](Self::init), except that `init` has completed (else `NotReady`).
    pub unsafe fn attach(ptr: *mut u8, len: usize) -> Result<Self, RingLayoutError> {
        // SAFETY: forwarded from the caller.
        let (header, capacity, item_size) =
            unsafe { runtime::attach(ptr, len, Kind::Bytes, geometry_len)? };
        // SAFETY: `ptr` is valid for `len >= geometry_len(..)` bytes (checked by attach).
        Ok(unsafe { Self::from_parts(header, ptr, capacity, item_size) })
    }

    /// Like [`attach`](Self::attach), and also requires the given geometry:
    /// [`RingLayoutError::LayoutMismatch`] when it differs. Real-time class: wait-free.
    ///
    /// # Safety
    /// As for [`attach`](Self::attach).
    pub unsafe fn attach_expect(
        ptr: *mut u8,
        len: usize,
        capacity: u32,
        item_size: u32,
    ) -> Result<Self, RingLayoutError> {
        // SAFETY: forwarded from the caller.
        let ring = unsafe { Self::attach(ptr, len)? };
        if ring.capacity != capacity || ring.item_size != item_size {
            return Err(RingLayoutError::LayoutMismatch {
                capacity: ring.capacity,
                item_size: ring.item_size,
            });
        }
        Ok(ring)
    }

    /// # Safety
    /// `ptr` is valid for `geometry_len(capacity, item_size)` bytes for `'a`.
    unsafe fn from_parts(
        header: &'a RawHeader,
        ptr: *mut u8,
        capacity: u32,
        item_size: u32,
    ) -> Self {
        ByteRing {
            header,
            // SAFETY: HEADER_LEN < total <= the mapping (caller).
            data: unsafe { ptr.add(runtime::HEADER_LEN) },
            capacity,
            item_size,
            align: word_align(item_size),
            _mem: PhantomData,
        }
    }

    /// Number of item slots. Real-time class: wait-free.
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Bytes per item. Real-time class: wait-free.
    pub fn item_size(&self) -> usize {
        self.item_size as usize
    }

    /// Claims the producer role. Fails with [`RoleError::Taken`] while another live
    /// handle, in any process, holds it; takes it over when its holder died (published
    /// items stay). Real-time class: **may block**.
    pub fn producer(&self) -> Result<ByteProducer<'a>, RoleError> {
        rtsan_blocking!(c"shmsync::ByteRing::producer");
        let claim = self.header.roles[PRODUCER].claim()?;
        let tail = self.header.tail.index.load(Ordering::Acquire);
        Ok(ByteProducer {
            ring: *self,
            tail,
            // Forces a fresh read of the consumer's index on the first write.
            head: tail.wrapping_sub(self.capacity),
            claim,
            parks: 0,
            spin_limit: DEFAULT_SPIN_LIMIT,
        })
    }

    /// Claims the consumer role; see [`producer`](Self::producer). Real-time class: **may
    /// block**.
    pub fn consumer(&self) -> Result<ByteConsumer<'a>, RoleError> {
        rtsan_blocking!(c"shmsync::ByteRing::consumer");
        let claim = self.header.roles[CONSUMER].claim()?;
        let head = self.header.head.index.load(Ordering::Acquire);
        Ok(ByteConsumer {
            ring: *self,
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
        (
            self.header.roles[PRODUCER].holder(),
            self.header.roles[CONSUMER].holder(),
        )
    }

    /// The address of slot `index` (masked, so any index stays inside the data area).
    #[inline(always)]
    fn slot(&self, index: u32) -> *mut u8 {
        let at = (index & (self.capacity - 1)) as usize * self.item_size as usize;
        // SAFETY: `at + item_size <= capacity * item_size`, inside the validated area.
        unsafe { self.data.add(at) }
    }

    /// Copies `src` (one item) into slot `index`.
    #[inline(always)]
    fn store(&self, index: u32, src: &[u8]) {
        debug_assert_eq!(src.len(), self.item_size as usize);
        // SAFETY: the slot is `item_size` bytes inside the data area, aligned to
        // `self.align` (slots start at multiples of item_size, the area is 128-aligned);
        // `src` is a private buffer of the same length; all shared accesses are atomic.
        unsafe { words::store(self.slot(index), src.as_ptr(), src.len(), self.align) }
    }

    /// Copies slot `index` into `dst` (one item).
    #[inline(always)]
    fn load(&self, index: u32, dst: &mut [u8]) {
        debug_assert_eq!(dst.len(), self.item_size as usize);
        // SAFETY: as in `store`; `dst` is a private, exclusive buffer of item_size bytes.
        unsafe { words::load(self.slot(index), dst.as_mut_ptr(), dst.len(), self.align) }
    }
}

impl fmt::Debug for ByteRing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteRing")
            .field("capacity", &self.capacity)
            .field("item_size", &self.item_size)
            .field("head", &self.header.head.index.load(Ordering::Relaxed))
            .field("tail", &self.header.tail.index.load(Ordering::Relaxed))
            .finish()
    }
}

/// The producing end of a [`ByteRing`]; releases the role on drop.
pub struct ByteProducer<'a> {
    ring: ByteRing<'a>,
    /// Our index: the authoritative copy (the shared one is only published).
    tail: u32,
    /// The consumer's index as last read; refreshed only when the ring looks full.
    head: u32,
    claim: Claim,
    parks: u64,
    /// Backoff steps a blocking call spins before parking (process-local).
    spin_limit: u32,
}

impl ByteProducer<'_> {
    /// Re-reads the consumer's index; returns the number of free slots.
    #[inline]
    fn refresh(&mut self) -> Result<u32, Corrupted> {
        let head = self.ring.header.head.index.load(Ordering::Acquire);
        let used = self.tail.wrapping_sub(head);
        // An honest consumer is never ahead of us nor more than capacity behind.
        if used > self.ring.capacity {
            return Err(Corrupted);
        }
        self.head = head;
        Ok(self.ring.capacity - used)
    }

    #[inline(always)]
    fn free(&mut self, want: u32) -> Result<u32, Corrupted> {
        let free = self.ring.capacity - self.tail.wrapping_sub(self.head);
        if free >= want {
            Ok(free)
        } else {
            self.refresh()
        }
    }

    #[inline(always)]
    fn publish(&self) {
        let h = self.ring.header;
        h.tail.index.store(self.tail, Ordering::Release);
        wake_if_parked(&h.tail.index, &h.tail.parked);
    }

    fn check_one(&self, item: &[u8]) -> Result<(), ByteRingError> {
        if item.len() != self.ring.item_size as usize {
            return Err(ByteRingError::BadLength {
                item_size: self.ring.item_size as usize,
                len: item.len(),
            });
        }
        Ok(())
    }

    /// Writes one item (`item.len()` must be the item size) if a slot is free.
    ///
    /// Real-time class: **wait-free**; **may wake** (one syscall) only if the consumer is
    /// parked in [`ByteConsumer::read`].
    #[inline]
    pub fn try_write(&mut self, item: &[u8]) -> Result<(), ByteRingError> {
        self.check_one(item)?;
        if self.free(1)? == 0 {
            return Err(ByteRingError::Full);
        }
        self.ring.store(self.tail, item);
        self.tail = self.tail.wrapping_add(1);
        self.publish();
        Ok(())
    }

    /// Writes as many whole items from the front of `items` (a multiple of the item size
    /// long) as there are free slots, with one publication. Returns how many items.
    ///
    /// Real-time class: **wait-free** (O(`items.len()`) copies); **may wake**.
    pub fn write_slice(&mut self, items: &[u8]) -> Result<usize, ByteRingError> {
        let size = self.ring.item_size as usize;
        if items.len() % size != 0 {
            return Err(ByteRingError::BadLength {
                item_size: size,
                len: items.len(),
            });
        }
        let want = u32::try_from(items.len() / size).unwrap_or(u32::MAX);
        let n = self.free(want)?.min(want);
        for (i, item) in items.chunks_exact(size).take(n as usize).enumerate() {
            self.ring.store(self.tail.wrapping_add(i as u32), item);
        }
        if n > 0 {
            self.tail = self.tail.wrapping_add(n);
            self.publish();
        }
        Ok(n as usize)
    }

    /// Writes one item, waiting up to `timeout` (`None`: no limit) for a free slot: spins
    /// up to [`spin_limit`](Self::spin_limit) backoff steps, then parks until the consumer
    /// frees one. [`ByteRingError::Full`] if none became free in time.
    ///
    /// Real-time class: **may block**.
    pub fn write(&mut self, item: &[u8], timeout: Option<Duration>) -> Result<(), ByteRingError> {
        rtsan_blocking!(c"shmsync::ring::bytes::ByteProducer::write");
        match self.try_write(item) {
            Err(ByteRingError::Full) if timeout != Some(Duration::ZERO) => {}
            done => return done,
        }
        let deadline = deadline_after(timeout);
        let header = self.ring.header;
        let mut parks = self.parks;
        let ready = block_until(
            &header.head.parked,
            Announce::Flag,
            deadline,
            self.spin_limit,
            &mut parks,
            || {
                Ok(match self.refresh()? {
                    0 => Ready::No(&header.head.index, self.head),
                    _ => Ready::Yes,
                })
            },
        );
        self.parks = parks;
        if !ready? {
            return Err(ByteRingError::Full);
        }
        self.try_write(item)
    }

    /// Free slots right now (reads the consumer's index). Real-time class: wait-free.
    pub fn free_slots(&mut self) -> Result<usize, Corrupted> {
        self.refresh().map(|n| n as usize)
    }

    /// The ring this end writes. Real-time class: wait-free.
    pub fn ring(&self) -> ByteRing<'_> {
        self.ring
    }

    end_accessors!("write");
}

impl Drop for ByteProducer<'_> {
    fn drop(&mut self) {
        self.ring.header.roles[PRODUCER].release(&self.claim);
    }
}

impl fmt::Debug for ByteProducer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteProducer")
            .field("tail", &self.tail)
            .finish_non_exhaustive()
    }
}

/// The consuming end of a [`ByteRing`]; releases the role on drop.
pub struct ByteConsumer<'a> {
    ring: ByteRing<'a>,
    /// Our index: the authoritative copy.
    head: u32,
    /// The producer's index as last read (checked: at most capacity ahead of `head`).
    tail: u32,
    claim: Claim,
    parks: u64,
    /// Backoff steps a blocking call spins before parking (process-local).
    spin_limit: u32,
}

impl ByteConsumer<'_> {
    /// Re-reads the producer's index; returns the number of items available.
    #[inline]
    fn refresh(&mut self) -> Result<u32, Corrupted> {
        let tail = self.ring.header.tail.index.load(Ordering::Acquire);
        let avail = tail.wrapping_sub(self.head);
        // An honest producer is never behind us nor more than capacity ahead.
        if avail > self.ring.capacity {
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
        let h = self.ring.header;
        h.head.index.store(self.head, Ordering::Release);
        wake_if_parked(&h.head.index, &h.head.parked);
    }

    /// Reads one item into `out` (`out.len()` must be the item size) if there is one.
    ///
    /// Real-time class: **wait-free**; **may wake** only if the producer is parked in
    /// [`ByteProducer::write`].
    #[inline]
    pub fn try_read(&mut self, out: &mut [u8]) -> Result<(), ByteRingError> {
        if out.len() != self.ring.item_size as usize {
            return Err(ByteRingError::BadLength {
                item_size: self.ring.item_size as usize,
                len: out.len(),
            });
        }
        if self.available(1)? == 0 {
            return Err(ByteRingError::Empty);
        }
        self.ring.load(self.head, out);
        self.head = self.head.wrapping_add(1);
        self.publish();
        Ok(())
    }

    /// Reads as many whole items as are available and fit in `out` (a multiple of the item
    /// size long), with one publication. Returns how many items.
    ///
    /// Real-time class: **wait-free** (O(`out.len()`) copies); **may wake**.
    pub fn read_slice(&mut self, out: &mut [u8]) -> Result<usize, ByteRingError> {
        let size = self.ring.item_size as usize;
        if out.len() % size != 0 {
            return Err(ByteRingError::BadLength {
                item_size: size,
                len: out.len(),
            });
        }
        let want = u32::try_from(out.len() / size).unwrap_or(u32::MAX);
        let n = self.available(want)?.min(want);
        for (i, item) in out.chunks_exact_mut(size).take(n as usize).enumerate() {
            self.ring.load(self.head.wrapping_add(i as u32), item);
        }
        if n > 0 {
            self.head = self.head.wrapping_add(n);
            self.publish();
        }
        Ok(n as usize)
    }

    /// Reads one item, waiting up to `timeout` (`None`: no limit) for one: spins, then
    /// parks until the producer publishes. [`ByteRingError::Empty`] if none arrived.
    ///
    /// Real-time class: **may block**.
    pub fn read(&mut self, out: &mut [u8], timeout: Option<Duration>) -> Result<(), ByteRingError> {
        rtsan_blocking!(c"shmsync::ring::bytes::ByteConsumer::read");
        match self.try_read(out) {
            Err(ByteRingError::Empty) if timeout != Some(Duration::ZERO) => {}
            done => return done,
        }
        let deadline = deadline_after(timeout);
        let header = self.ring.header;
        let mut parks = self.parks;
        let ready = block_until(
            &header.tail.parked,
            Announce::Flag,
            deadline,
            self.spin_limit,
            &mut parks,
            || {
                Ok(match self.refresh()? {
                    0 => Ready::No(&header.tail.index, self.tail),
                    _ => Ready::Yes,
                })
            },
        );
        self.parks = parks;
        if !ready? {
            return Err(ByteRingError::Empty);
        }
        self.try_read(out)
    }

    /// Items available right now (reads the producer's index). Real-time class: wait-free.
    pub fn available_items(&mut self) -> Result<usize, Corrupted> {
        self.refresh().map(|n| n as usize)
    }

    /// The ring this end reads. Real-time class: wait-free.
    pub fn ring(&self) -> ByteRing<'_> {
        self.ring
    }

    end_accessors!("read");
}

impl Drop for ByteConsumer<'_> {
    fn drop(&mut self) {
        self.ring.header.roles[CONSUMER].release(&self.claim);
    }
}

impl fmt::Debug for ByteConsumer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteConsumer")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}
