//! [`MsgRing<N>`]: a single-producer single-consumer ring of variable-length byte
//! messages, with zero-copy write reservations and read borrows.
//!
//! ```
//! use shmsync::ring::{MsgRing, RecvError, SendError};
//!
//! static RING: MsgRing<256> = MsgRing::new();
//! let mut tx = RING.producer().unwrap();
//! let mut rx = RING.consumer().unwrap();
//!
//! // Copying API.
//! tx.try_send(b"note on 60").unwrap();
//! let mut buf = [0u8; 64];
//! let n = rx.try_recv(&mut buf).unwrap();
//! assert_eq!(&buf[..n], b"note on 60");
//!
//! // Zero-copy: reserve space in the ring, fill it in place, commit.
//! let mut grant = tx.try_reserve(12).unwrap();
//! grant.write_at(0, &1234u32.to_le_bytes());
//! grant.write_at(4, &5678u64.to_le_bytes());
//! grant.commit();
//! // Borrow the message in the ring, read what is needed, release it.
//! let msg = rx.try_read().unwrap();
//! assert_eq!(msg.len(), 12);
//! let mut word = [0u8; 4];
//! msg.read_at(0, &mut word);
//! assert_eq!(u32::from_le_bytes(word), 1234);
//! msg.release();
//! assert_eq!(rx.try_read().err(), Some(RecvError::Empty));
//!
//! // Too large for this ring, whatever its fill level:
//! assert_eq!(
//!     tx.try_send(&[0; 200]),
//!     Err(SendError::TooLarge { len: 200, max: MsgRing::<256>::MAX_MESSAGE })
//! );
//! ```
//!
//! # Frames
//! The data area is `N` bytes addressed by free-running `u32` byte counters (head, tail)
//! masked with `N - 1`. A message of `len` bytes is a *frame*: an 8-byte header, then the
//! payload padded to a multiple of 8 bytes. The header is one little-endian `u64`:
//! the length in the low half and the length xor [`HEADER_CHECK`] in the high half, which
//! catches most scribbles. A frame never wraps: when it does not fit before the end of the
//! data area, the producer writes a *padding* header (length `u32::MAX`) filling the rest,
//! and the frame starts at offset 0; padding and frame are published together.
//!
//! Because of padding, a frame of up to `N / 2` bytes always fits in an empty ring, so the
//! largest message is [`MAX_MESSAGE`](MsgRing::MAX_MESSAGE) `= N / 2 - 8` bytes; larger
//! ones fail with [`SendError::TooLarge`] at once instead of waiting forever.
//!
//! # Zero copy, and why the safe accessors copy words
//! [`WriteGrant`] and [`ReadGrant`] address the message in place in the ring: nothing is
//! staged in a separate buffer. Their safe accessors (`write_at`, `read_at`, …) move bytes
//! with relaxed atomic 8-byte accesses — the same instructions as plain copies on x86_64
//! and aarch64 — so that a dishonest peer writing the same bytes cannot cause a data race
//! (see the `sync` module). Callers that trust the peer and the memory can take a plain
//! `&[u8]` / `&mut [u8]` with the `unsafe` [`ReadGrant::as_slice`] /
//! [`WriteGrant::as_mut_slice`].

use super::role::{Claim, Role, RoleError};
use super::sync::{AtomicU32, Ordering};
use super::{
    Announce, Corrupted, DEFAULT_SPIN_LIMIT, Ready, block_until, deadline_after, wake_if_parked,
};
use crate::ShmSafe;
use crate::arch::CachePadded;
use crate::hal::process::OwnerId;
use core::fmt;
use core::time::Duration;

/// Mixed into the high half of every frame header (see the module docs).
pub const HEADER_CHECK: u32 = 0x5A5A_C3C3;
/// The length field of a padding header.
pub(super) const PAD: u32 = u32::MAX;
/// Header size, and the granularity of every frame and every data access.
pub(super) const WORD: u32 = 8;

/// One side's byte counter and the other side's parked flag.
#[repr(C)]
struct Line {
    /// Bytes this side has handed over (free-running, multiple of 8).
    index: AtomicU32,
    /// 1 while the other side sleeps waiting on `index`.
    parked: AtomicU32,
}

/// The data area: `N` bytes, only ever accessed as aligned 8-byte words.
///
/// Every byte is initialised from the start (a zero-filled region, or `new()`'s zeroed
/// bytes: a `[u8; N]` has no padding, so moving the ring keeps them) and is only ever
/// overwritten with initialised bytes: whole words are built from the caller's `&[u8]`,
/// partial ones merge those bytes into a word loaded from the area itself. So the word
/// loads of [`read`](Self::read) and [`write`](Self::write), which also cover bytes
/// outside the message (frame padding, a neighbour's bytes), never read uninitialised
/// memory; `tests/rings_items.rs` checks this under Miri for every length 1..=64.
#[repr(C)]
struct Data<const N: usize> {
    #[cfg(not(loom))]
    bytes: core::cell::UnsafeCell<[u8; N]>,
    #[cfg(loom)]
    bytes: [loom::cell::UnsafeCell<u8>; N],
}

// SAFETY: every access to the bytes is an atomic 8-byte word access (or, under loom, a
// checked cell access); the contents are plain bytes.
unsafe impl<const N: usize> Sync for Data<N> {}

impl<const N: usize> Data<N> {
    /// Reads the 8-byte word at `off` (`off` is masked to an aligned in-bounds offset).
    #[inline(always)]
    fn load(&self, off: u32) -> u64 {
        let off = (off & (N as u32 - 1) & !(WORD - 1)) as usize;
        #[cfg(not(loom))]
        {
            // SAFETY: `off + 8 <= N` (N is a multiple of 8 and `off` an aligned offset
            // below N); the data area is 128-byte aligned, so the word is 8-aligned.
            unsafe { load_word(self.bytes.get().cast::<u8>().add(off)) }
        }
        #[cfg(loom)]
        {
            let mut b = [0u8; 8];
            for (i, x) in b.iter_mut().enumerate() {
                // SAFETY: loom checks this access against every other.
                *x = self.bytes[off + i].with(|p| unsafe { *p });
            }
            u64::from_le_bytes(b)
        }
    }

    /// Writes the 8-byte word at `off` (masked like [`load`](Self::load)).
    #[inline(always)]
    fn store(&self, off: u32, v: u64) {
        let off = (off & (N as u32 - 1) & !(WORD - 1)) as usize;
        #[cfg(not(loom))]
        {
            // SAFETY: as in `load`.
            unsafe { store_word(self.bytes.get().cast::<u8>().add(off), v) }
        }
        #[cfg(loom)]
        {
            for (i, x) in v.to_le_bytes().into_iter().enumerate() {
                // SAFETY: loom checks this access against every other.
                self.bytes[off + i].with_mut(|p| unsafe { *p = x });
            }
        }
    }

    /// Copies `out.len()` bytes starting at byte `off` of the data area into `out`.
    /// The range must not cross the end of the area (frames never wrap).
    fn read(&self, off: u32, out: &mut [u8]) {
        let mut done = 0usize;
        let mut at = off;
        while done < out.len() {
            let word = self.load(at).to_le_bytes();
            let skip = (at % WORD) as usize;
            let n = (8 - skip).min(out.len() - done);
            out[done..done + n].copy_from_slice(&word[skip..skip + n]);
            done += n;
            at = at.wrapping_add(n as u32);
        }
    }

    /// Copies `src` into the data area starting at byte `off`, merging partial words.
    fn write(&self, off: u32, src: &[u8]) {
        let mut done = 0usize;
        let mut at = off;
        while done < src.len() {
            let skip = (at % WORD) as usize;
            let n = (8 - skip).min(src.len() - done);
            let mut word = if n == 8 {
                [0; 8]
            } else {
                self.load(at).to_le_bytes()
            };
            word[skip..skip + n].copy_from_slice(&src[done..done + n]);
            self.store(at, u64::from_le_bytes(word));
            done += n;
            at = at.wrapping_add(n as u32);
        }
    }

    #[cfg(not(loom))]
    fn ptr(&self, off: u32) -> *mut u8 {
        // SAFETY: callers pass in-bounds offsets (checked frame positions).
        unsafe {
            self.bytes
                .get()
                .cast::<u8>()
                .add((off & (N as u32 - 1)) as usize)
        }
    }
}

/// Relaxed atomic 8-byte load (two 4-byte halves where the target has no 64-bit atomics).
///
/// # Safety
/// `p` is 8-aligned and valid for 8 bytes.
#[cfg(not(loom))]
#[inline(always)]
pub(super) unsafe fn load_word(p: *mut u8) -> u64 {
    #[cfg(target_has_atomic = "64")]
    {
        // SAFETY: the caller's contract.
        unsafe { core::sync::atomic::AtomicU64::from_ptr(p.cast()).load(Ordering::Relaxed) }
    }
    #[cfg(not(target_has_atomic = "64"))]
    {
        use core::sync::atomic::AtomicU32 as A;
        // SAFETY: the caller's contract; both halves are 4-aligned.
        unsafe {
            let lo = A::from_ptr(p.cast()).load(Ordering::Relaxed) as u64;
            let hi = A::from_ptr(p.add(4).cast()).load(Ordering::Relaxed) as u64;
            lo | hi << 32
        }
    }
}

/// Relaxed atomic 8-byte store; see [`load_word`].
///
/// # Safety
/// `p` is 8-aligned and valid for 8 bytes.
#[cfg(not(loom))]
#[inline(always)]
pub(super) unsafe fn store_word(p: *mut u8, v: u64) {
    #[cfg(target_has_atomic = "64")]
    {
        // SAFETY: the caller's contract.
        unsafe { core::sync::atomic::AtomicU64::from_ptr(p.cast()).store(v, Ordering::Relaxed) }
    }
    #[cfg(not(target_has_atomic = "64"))]
    {
        use core::sync::atomic::AtomicU32 as A;
        // SAFETY: the caller's contract; both halves are 4-aligned.
        unsafe {
            A::from_ptr(p.cast()).store(v as u32, Ordering::Relaxed);
            A::from_ptr(p.add(4).cast()).store((v >> 32) as u32, Ordering::Relaxed);
        }
    }
}

pub(super) const fn header(len: u32) -> u64 {
    (len as u64) | ((len ^ HEADER_CHECK) as u64) << 32
}

/// Bytes a frame of a `len`-byte message occupies.
pub(super) const fn frame_len(len: u32) -> u32 {
    WORD + len.div_ceil(WORD) * WORD
}

/// A single-producer single-consumer ring of byte messages over `N` bytes of data.
///
/// * `N`: a power of two, `16 ..= 2^30` (checked at compile time).
/// * Messages of 0 to [`MAX_MESSAGE`](Self::MAX_MESSAGE) bytes.
/// * One [`MsgProducer`] and one [`MsgConsumer`] across all processes, claimed like
///   [`Spsc`](super::Spsc) roles (taken over from a dead holder).
///
/// Real-time classes: `try_*` operations and grants are **wait-free** (O(message length)
/// copies) and **may wake** only when the peer is parked; timed ones **may block**;
/// claiming a role **may block**.
///
/// ```
/// use shmsync::MsgRing;
///
/// static MIDI: MsgRing<1024> = MsgRing::new();
/// let mut tx = MIDI.producer().unwrap();
/// let mut rx = MIDI.consumer().unwrap();
/// tx.try_send(&[0x90, 60, 100]).unwrap(); // note on: copied in, wait-free
/// let mut buf = [0u8; 16];
/// let n = rx.try_recv(&mut buf).unwrap();  // copied out, wait-free
/// assert_eq!(&buf[..n], &[0x90, 60, 100]);
/// ```
#[repr(C)]
pub struct MsgRing<const N: usize> {
    tail: CachePadded<Line>,
    head: CachePadded<Line>,
    roles: CachePadded<[Role; 2]>,
    data: CachePadded<Data<N>>,
}

const PRODUCER: usize = 0;
const CONSUMER: usize = 1;

// SAFETY: repr(C) of atomics, role words and a byte area; all-zero = empty with free roles;
// any bit pattern is tolerated (counters and headers are checked before use); nothing
// process-local; all shared accesses are atomic.
unsafe impl<const N: usize> ShmSafe for MsgRing<N> {
    // Evaluating `CAP` checks `N` wherever the type is used in a region root.
    const TAG: u64 = {
        let _ = Self::CAP;
        crate::tag_with(crate::tag(b"shmsync::MsgRing v1"), N as u64)
    };
}

#[cfg(not(loom))]
crate::assert_layout!(MsgRing<1024>, size = 384 + 1024, align = 128,
    offsets = { tail: 0, head: 128, roles: 256, data: 384 });

/// Why a message was not sent (or space not reserved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendError {
    /// Not enough free space now (for a timed call: none freed up in time).
    Full,
    /// The message can never fit: `len` is above the ring's `max`
    /// ([`MsgRing::MAX_MESSAGE`]).
    TooLarge {
        /// The requested length.
        len: usize,
        /// The largest length this ring carries.
        max: usize,
    },
    /// The ring's shared state is inconsistent; see [`Corrupted`].
    Corrupted,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Full => f.write_str("message ring is full"),
            SendError::TooLarge { len, max } => {
                write!(
                    f,
                    "message of {len} bytes exceeds this ring's maximum of {max}"
                )
            }
            SendError::Corrupted => Corrupted.fmt(f),
        }
    }
}

impl core::error::Error for SendError {}

/// Why no message was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecvError {
    /// No message (for a timed call: none arrived in time).
    Empty,
    /// The buffer passed to `recv` is shorter than the next message, which stays in the
    /// ring.
    BufferTooSmall {
        /// The message's length.
        len: usize,
    },
    /// The ring's shared state is inconsistent; see [`Corrupted`].
    Corrupted,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Empty => f.write_str("message ring is empty"),
            RecvError::BufferTooSmall { len } => {
                write!(f, "receive buffer is shorter than the {len}-byte message")
            }
            RecvError::Corrupted => Corrupted.fmt(f),
        }
    }
}

impl core::error::Error for RecvError {}

impl From<Corrupted> for SendError {
    fn from(_: Corrupted) -> Self {
        SendError::Corrupted
    }
}

impl From<Corrupted> for RecvError {
    fn from(_: Corrupted) -> Self {
        RecvError::Corrupted
    }
}

impl<const N: usize> MsgRing<N> {
    const CAP: u32 = {
        assert!(N.is_power_of_two(), "MsgRing size N must be a power of two");
        assert!(N >= 16, "MsgRing size N must be at least 16 bytes");
        assert!(N <= 1 << 30, "MsgRing size N must be at most 2^30 bytes");
        N as u32
    };

    /// The largest message this ring carries: `N / 2 - 8` bytes (see the module docs).
    pub const MAX_MESSAGE: usize = N / 2 - WORD as usize;

    /// An empty ring with both roles free: all-zero bytes. Real-time class: wait-free.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        let _ = Self::CAP;
        // SAFETY: atomics, role words and bytes are all valid as zero bytes.
        unsafe { core::mem::zeroed() }
    }

    /// An empty ring (loom build).
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
            data: CachePadded::new(Data {
                bytes: core::array::from_fn(|_| loom::cell::UnsafeCell::new(0)),
            }),
        }
    }

    /// Size of the data area, `N` bytes. Real-time class: wait-free.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Claims the producer role; see [`Spsc::producer`](super::Spsc::producer).
    /// Real-time class: **may block**.
    pub fn producer(&self) -> Result<MsgProducer<'_, N>, RoleError> {
        rtsan_blocking!(c"shmsync::MsgRing::producer");
        let claim = self.roles[PRODUCER].claim()?;
        if claim.took_over_from.is_some() {
            // The dead producer may have died parked: its flag would make every consumer
            // release a wake syscall, forever. Nobody else writes it: start clean.
            self.head.parked.store(0, Ordering::Relaxed);
        }
        super::register_fence();
        let tail = self.tail.index.load(Ordering::Acquire);
        Ok(MsgProducer {
            ring: self,
            tail,
            head: tail.wrapping_sub(Self::CAP),
            claim,
            parks: 0,
            spin_limit: DEFAULT_SPIN_LIMIT,
        })
    }

    /// Claims the consumer role; see [`Spsc::consumer`](super::Spsc::consumer).
    /// Real-time class: **may block**.
    pub fn consumer(&self) -> Result<MsgConsumer<'_, N>, RoleError> {
        rtsan_blocking!(c"shmsync::MsgRing::consumer");
        let claim = self.roles[CONSUMER].claim()?;
        if claim.took_over_from.is_some() {
            // As for the producer: a consumer that died parked leaves no flag behind.
            self.tail.parked.store(0, Ordering::Relaxed);
        }
        super::register_fence();
        let head = self.head.index.load(Ordering::Acquire);
        Ok(MsgConsumer {
            ring: self,
            head,
            tail: head,
            claim,
            parks: 0,
            spin_limit: DEFAULT_SPIN_LIMIT,
        })
    }

    /// The recorded holders of the producer and consumer roles. Real-time class:
    /// wait-free.
    pub fn holders(&self) -> (OwnerId, OwnerId) {
        (self.roles[PRODUCER].holder(), self.roles[CONSUMER].holder())
    }
}

#[cfg(not(loom))]
impl<const N: usize> Default for MsgRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for MsgRing<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsgRing")
            .field("capacity", &N)
            .field("head", &self.head.index.load(Ordering::Relaxed))
            .field("tail", &self.tail.index.load(Ordering::Relaxed))
            .finish()
    }
}

/// The producing end of a [`MsgRing`]; releases the role on drop.
pub struct MsgProducer<'a, const N: usize> {
    ring: &'a MsgRing<N>,
    tail: u32,
    head: u32,
    claim: Claim,
    parks: u64,
    /// Spin limit of the blocking calls: a window of (2^limit − 1) × 40 ns (process-local).
    spin_limit: u32,
}

impl<'a, const N: usize> MsgProducer<'a, N> {
    fn refresh(&mut self) -> Result<u32, Corrupted> {
        let head = self.ring.head.index.load(Ordering::Acquire);
        let used = self.tail.wrapping_sub(head);
        if used > MsgRing::<N>::CAP || head % WORD != 0 {
            return Err(Corrupted);
        }
        self.head = head;
        Ok(MsgRing::<N>::CAP - used)
    }

    /// Bytes a `len`-byte message needs from the tail: its frame, plus padding when the
    /// frame does not fit before the end of the data area.
    fn needed(&self, len: u32) -> (u32, u32) {
        let frame = frame_len(len);
        let room = MsgRing::<N>::CAP - (self.tail & (MsgRing::<N>::CAP - 1));
        let pad = if frame <= room { 0 } else { room };
        (pad, frame)
    }

    fn check_len(len: usize) -> Result<u32, SendError> {
        if len > MsgRing::<N>::MAX_MESSAGE {
            return Err(SendError::TooLarge {
                len,
                max: MsgRing::<N>::MAX_MESSAGE,
            });
        }
        Ok(len as u32)
    }

    fn fits(&mut self, len: u32) -> Result<bool, Corrupted> {
        let (pad, frame) = self.needed(len);
        let free = MsgRing::<N>::CAP - self.tail.wrapping_sub(self.head);
        Ok(free >= pad + frame || self.refresh()? >= pad + frame)
    }

    fn grant(&mut self, len: u32) -> WriteGrant<'_, 'a, N> {
        let (pad, _) = self.needed(len);
        WriteGrant {
            start: self.tail.wrapping_add(pad),
            pad,
            len,
            producer: self,
        }
    }

    /// Reserves space for a `len`-byte message and returns a grant to fill it in place;
    /// nothing is visible to the consumer until [`WriteGrant::commit`].
    ///
    /// Real-time class: **wait-free**.
    pub fn try_reserve(&mut self, len: usize) -> Result<WriteGrant<'_, 'a, N>, SendError> {
        let len = Self::check_len(len)?;
        if !self.fits(len)? {
            return Err(SendError::Full);
        }
        Ok(self.grant(len))
    }

    /// Like [`try_reserve`](Self::try_reserve), waiting up to `timeout` (`None`: no limit)
    /// for space. Real-time class: **may block**.
    pub fn reserve(
        &mut self,
        len: usize,
        timeout: Option<Duration>,
    ) -> Result<WriteGrant<'_, 'a, N>, SendError> {
        rtsan_blocking!(c"shmsync::ring::msg::MsgProducer::reserve");
        let len = Self::check_len(len)?;
        if !self.fits(len)? {
            if timeout == Some(Duration::ZERO) {
                return Err(SendError::Full);
            }
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
                    Ok(if self.fits(len)? {
                        Ready::Yes
                    } else {
                        Ready::No(&ring.head.index, self.head)
                    })
                },
            );
            self.parks = parks;
            if !ready? {
                return Err(SendError::Full);
            }
        }
        Ok(self.grant(len))
    }

    /// Sends a copy of `msg`. Real-time class: **wait-free** (O(`msg.len()`)); **may
    /// wake**.
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        let mut g = self.try_reserve(msg.len())?;
        g.write_at(0, msg);
        g.commit();
        Ok(())
    }

    /// Sends a copy of `msg`, waiting up to `timeout` for space. Real-time class: **may
    /// block**.
    pub fn send(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<(), SendError> {
        rtsan_blocking!(c"shmsync::ring::msg::MsgProducer::send");
        let mut g = self.reserve(msg.len(), timeout)?;
        g.write_at(0, msg);
        g.commit();
        Ok(())
    }

    end_accessors!("reserve");
}

impl<const N: usize> Drop for MsgProducer<'_, N> {
    fn drop(&mut self) {
        self.ring.roles[PRODUCER].release(&self.claim);
    }
}

impl<const N: usize> fmt::Debug for MsgProducer<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsgProducer")
            .field("tail", &self.tail)
            .finish_non_exhaustive()
    }
}

/// Space reserved in a [`MsgRing`] for one message, filled in place. Dropping it without
/// [`commit`](Self::commit) sends nothing.
pub struct WriteGrant<'p, 'a, const N: usize> {
    producer: &'p mut MsgProducer<'a, N>,
    /// Byte counter of the frame header.
    start: u32,
    /// Padding bytes before the frame.
    pad: u32,
    /// Payload length reserved.
    len: u32,
}

impl<const N: usize> WriteGrant<'_, '_, N> {
    /// The reserved payload length. Real-time class: wait-free.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for a zero-length reservation. Real-time class: wait-free.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes `bytes` at `offset` within the message, in place in the ring.
    ///
    /// # Panics
    /// If `offset + bytes.len()` exceeds [`len`](Self::len) (a bug in the caller, not
    /// something the peer can cause).
    ///
    /// Real-time class: **wait-free** (O(`bytes.len()`)).
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) {
        assert!(
            offset
                .checked_add(bytes.len())
                .is_some_and(|end| end <= self.len as usize),
            "write_at: {} bytes at offset {offset} exceed the {}-byte reservation",
            bytes.len(),
            self.len
        );
        let at = self.start.wrapping_add(WORD).wrapping_add(offset as u32);
        self.producer.ring.data.write(at, bytes);
    }

    /// The reserved bytes as a plain mutable slice, for serialising in place.
    ///
    /// # Safety
    /// Nothing else may access these bytes while the slice lives. That holds when the
    /// consumer keeps to the ring protocol and nothing else writes the ring's memory; a
    /// corrupted or malicious peer could read or write them concurrently, which would be a
    /// data race. Use [`write_at`](Self::write_at) when the peer is not trusted.
    ///
    /// Real-time class: **wait-free**.
    #[cfg(not(loom))]
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        let p = self.producer.ring.data.ptr(self.start.wrapping_add(WORD));
        // SAFETY: the frame lies inside the data area (it never wraps: `needed` placed
        // it); exclusivity is the caller's promise.
        unsafe { core::slice::from_raw_parts_mut(p, self.len as usize) }
    }

    /// Publishes the whole reservation as one message. Real-time class: **wait-free**;
    /// **may wake**.
    pub fn commit(self) {
        let len = self.len;
        self.commit_len(len as usize);
    }

    /// Publishes the first `len` bytes as the message (`len` ≤ the reservation; larger
    /// values are clamped). Real-time class: **wait-free**; **may wake**.
    pub fn commit_len(self, len: usize) {
        let len = (len.min(self.len as usize)) as u32;
        let p = self.producer;
        let data = &p.ring.data;
        if self.pad > 0 {
            data.store(p.tail, header(PAD));
        }
        data.store(self.start, header(len));
        p.tail = self.start.wrapping_add(frame_len(len));
        p.ring.tail.index.store(p.tail, Ordering::Release);
        wake_if_parked(&p.ring.tail.index, &p.ring.tail.parked);
    }
}

impl<const N: usize> fmt::Debug for WriteGrant<'_, '_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteGrant")
            .field("len", &self.len)
            .finish()
    }
}

/// The consuming end of a [`MsgRing`]; releases the role on drop.
pub struct MsgConsumer<'a, const N: usize> {
    ring: &'a MsgRing<N>,
    head: u32,
    tail: u32,
    claim: Claim,
    parks: u64,
    /// Spin limit of the blocking calls: a window of (2^limit − 1) × 40 ns (process-local).
    spin_limit: u32,
}

impl<'a, const N: usize> MsgConsumer<'a, N> {
    fn refresh(&mut self) -> Result<u32, Corrupted> {
        let tail = self.ring.tail.index.load(Ordering::Acquire);
        let avail = tail.wrapping_sub(self.head);
        if avail > MsgRing::<N>::CAP || tail % WORD != 0 {
            return Err(Corrupted);
        }
        self.tail = tail;
        Ok(avail)
    }

    fn available(&mut self) -> Result<u32, Corrupted> {
        match self.tail.wrapping_sub(self.head) {
            0 => self.refresh(),
            n => Ok(n),
        }
    }

    /// Parses the next frame: `(payload counter, length, bytes to release)`.
    fn next_frame(&mut self) -> Result<(u32, u32, u32), RecvError> {
        let mut avail = self.available()?;
        if avail == 0 {
            return Err(RecvError::Empty);
        }
        let cap = MsgRing::<N>::CAP;
        let mut at = self.head;
        let mut skipped = 0;
        let data = &self.ring.data;
        loop {
            let h = data.load(at);
            let len = h as u32;
            if (h >> 32) as u32 != len ^ HEADER_CHECK {
                return Err(RecvError::Corrupted);
            }
            let pos = at & (cap - 1);
            if len == PAD {
                let pad = cap - pos;
                // An honest producer pads only before a frame, never twice in a row.
                if skipped != 0 || pad >= avail {
                    return Err(RecvError::Corrupted);
                }
                skipped = pad;
                avail -= pad;
                at = at.wrapping_add(pad);
                continue;
            }
            let frame = frame_len(len.min(cap));
            if len as usize > MsgRing::<N>::MAX_MESSAGE || frame > avail || pos + frame > cap {
                return Err(RecvError::Corrupted);
            }
            return Ok((at.wrapping_add(WORD), len, skipped + frame));
        }
    }

    /// Borrows the next message in place; it is released (its space handed back to the
    /// producer) when the grant is dropped or [`ReadGrant::release`]d.
    ///
    /// Real-time class: **wait-free**.
    pub fn try_read(&mut self) -> Result<ReadGrant<'_, 'a, N>, RecvError> {
        let (start, len, advance) = self.next_frame()?;
        Ok(ReadGrant {
            consumer: self,
            start,
            len,
            advance,
        })
    }

    /// Like [`try_read`](Self::try_read), waiting up to `timeout` (`None`: no limit).
    /// Real-time class: **may block**.
    pub fn read(&mut self, timeout: Option<Duration>) -> Result<ReadGrant<'_, 'a, N>, RecvError> {
        rtsan_blocking!(c"shmsync::ring::msg::MsgConsumer::read");
        if self.available()? == 0 && timeout != Some(Duration::ZERO) {
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
            if !ready? {
                return Err(RecvError::Empty);
            }
        }
        self.try_read()
    }

    /// Copies the next message into `buf` and returns its length; a message longer than
    /// `buf` stays in the ring ([`RecvError::BufferTooSmall`]).
    /// Real-time class: **wait-free** (O(message length)); **may wake**.
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        let g = self.try_read()?;
        Self::copy_out(g, buf)
    }

    /// Like [`try_recv`](Self::try_recv), waiting up to `timeout`. Real-time class: **may
    /// block**.
    pub fn recv(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize, RecvError> {
        rtsan_blocking!(c"shmsync::ring::msg::MsgConsumer::recv");
        let g = self.read(timeout)?;
        Self::copy_out(g, buf)
    }

    fn copy_out(g: ReadGrant<'_, '_, N>, buf: &mut [u8]) -> Result<usize, RecvError> {
        let len = g.len();
        if len > buf.len() {
            g.keep();
            return Err(RecvError::BufferTooSmall { len });
        }
        g.read_at(0, &mut buf[..len]);
        g.release();
        Ok(len)
    }

    end_accessors!("read");
}

impl<const N: usize> Drop for MsgConsumer<'_, N> {
    fn drop(&mut self) {
        self.ring.roles[CONSUMER].release(&self.claim);
    }
}

impl<const N: usize> fmt::Debug for MsgConsumer<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MsgConsumer")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

/// A message borrowed in place from a [`MsgRing`]; released on drop.
pub struct ReadGrant<'c, 'a, const N: usize> {
    consumer: &'c mut MsgConsumer<'a, N>,
    /// Byte counter of the payload.
    start: u32,
    len: u32,
    /// Bytes to hand back on release (padding + frame).
    advance: u32,
}

impl<const N: usize> ReadGrant<'_, '_, N> {
    /// The message length. Real-time class: wait-free.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for an empty message. Real-time class: wait-free.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `out.len()` bytes of the message, starting at `offset`, into `out`.
    ///
    /// # Panics
    /// If `offset + out.len()` exceeds [`len`](Self::len) (a caller bug; the length itself
    /// was checked against the ring's bounds when the frame was parsed).
    ///
    /// Real-time class: **wait-free** (O(`out.len()`)).
    pub fn read_at(&self, offset: usize, out: &mut [u8]) {
        assert!(
            offset
                .checked_add(out.len())
                .is_some_and(|end| end <= self.len as usize),
            "read_at: {} bytes at offset {offset} exceed the {}-byte message",
            out.len(),
            self.len
        );
        let at = self.start.wrapping_add(offset as u32);
        self.consumer.ring.data.read(at, out);
    }

    /// The message as a plain slice.
    ///
    /// # Safety
    /// Nothing may write these bytes while the slice lives. That holds when the producer
    /// keeps to the ring protocol and nothing else writes the ring's memory; a corrupted or
    /// malicious peer could write them concurrently, which would be a data race. Use
    /// [`read_at`](Self::read_at) when the peer is not trusted.
    ///
    /// Real-time class: **wait-free**.
    #[cfg(not(loom))]
    pub unsafe fn as_slice(&self) -> &[u8] {
        let p = self.consumer.ring.data.ptr(self.start);
        // SAFETY: the frame was checked to lie inside the data area; the absence of
        // writers is the caller's promise.
        unsafe { core::slice::from_raw_parts(p, self.len as usize) }
    }

    /// Hands the message's space back to the producer. Same as dropping the grant.
    /// Real-time class: **wait-free**; **may wake**.
    pub fn release(self) {}

    /// Ends the borrow without consuming: the same message is read again next time.
    fn keep(self) {
        core::mem::forget(self);
    }
}

impl<const N: usize> Drop for ReadGrant<'_, '_, N> {
    fn drop(&mut self) {
        let c = &mut *self.consumer;
        c.head = c.head.wrapping_add(self.advance);
        c.ring.head.index.store(c.head, Ordering::Release);
        wake_if_parked(&c.ring.head.index, &c.ring.head.parked);
    }
}

impl<const N: usize> fmt::Debug for ReadGrant<'_, '_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadGrant").field("len", &self.len).finish()
    }
}
