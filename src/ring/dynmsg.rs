//! [`DynMsgRing`]: a single-producer single-consumer ring of variable-length byte
//! messages whose data-area size is chosen at **run time**, over caller memory: the
//! run-time-sized sibling of [`MsgRing`](super::MsgRing), with the same frames, the same
//! checks and the same errors ([`SendError`], [`RecvError`]).
//!
//! ```
//! # #[cfg(not(miri))] {
//! use shmsync::ring::{DynMsgRing, RecvError};
//!
//! #[repr(C, align(128))]
//! struct Mem([u8; 512 + 256]);
//! let mut mem = Mem([0; 512 + 256]);
//! // SAFETY: `mem` outlives the ring and is only used through it.
//! let ring = unsafe { DynMsgRing::init(mem.0.as_mut_ptr(), mem.0.len(), 256) }.unwrap();
//! let mut tx = ring.producer().unwrap();
//! let mut rx = ring.consumer().unwrap();
//! tx.try_send(b"note on 60").unwrap();
//! let mut buf = [0u8; 64];
//! let n = rx.try_recv(&mut buf).unwrap();
//! assert_eq!(&buf[..n], b"note on 60");
//! assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Empty));
//! assert_eq!(ring.max_message(), 256 / 2 - 8);
//! # }
//! ```
//!
//! # Frames
//! Exactly [`MsgRing`](super::MsgRing)'s: an 8-byte header (length, and length xor
//! [`HEADER_CHECK`]), the payload padded to 8 bytes, a padding frame
//! where a frame would wrap; so the largest message is `capacity / 2 - 8` bytes and larger
//! ones fail with [`SendError::TooLarge`] at once. All data accesses are relaxed atomic
//! 8-byte words (`msg`'s `load_word` / `store_word`).
//!
//! # Layout
//! The [run-time ring header](super::runtime) (512 bytes), then `capacity` data bytes.

use super::msg::{PAD, WORD, frame_len, header as frame_header, load_word, store_word};
use super::role::{Claim, RoleError};
use super::runtime::{self, Kind, RawHeader, RingLayoutError};
use super::sync::Ordering;
use super::{
    Announce, Corrupted, DEFAULT_SPIN_LIMIT, HEADER_CHECK, Ready, RecvError, SendError,
    block_until, deadline_after, wake_if_parked,
};
use crate::hal::process::OwnerId;
use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;

const PRODUCER: usize = 0;
const CONSUMER: usize = 1;

/// The smallest data area of a [`DynMsgRing`]: 16 bytes.
pub const MIN_MSG_CAPACITY: u32 = 16;
/// The largest data area of a [`DynMsgRing`]: 2^30 bytes.
pub const MAX_MSG_CAPACITY: u32 = 1 << 30;

fn geometry_len(capacity: u32, item_size: u32) -> Option<usize> {
    if !capacity.is_power_of_two()
        || !(MIN_MSG_CAPACITY..=MAX_MSG_CAPACITY).contains(&capacity)
        || item_size != WORD
    {
        return None;
    }
    runtime::total_len(u64::from(capacity))
}

/// A handle to a run-time-sized message ring in caller memory (see the
/// [module docs](self)). Cheap to copy; the geometry lives in the handle.
///
/// Real-time classes: `try_send` / `try_recv` are **wait-free** (O(message length)
/// copies) and **may wake** only when the peer is parked; `send` / `recv` **may block**;
/// claiming a role **may block**.
#[derive(Clone, Copy)]
pub struct DynMsgRing<'a> {
    header: &'a RawHeader,
    data: *mut u8,
    capacity: u32,
    _mem: PhantomData<&'a [u8]>,
}

// SAFETY: a view of shared memory whose every access is atomic (header atomics, 8-byte
// relaxed atomic data words); nothing thread-local.
unsafe impl Send for DynMsgRing<'_> {}
// SAFETY: as for Send.
unsafe impl Sync for DynMsgRing<'_> {}

impl<'a> DynMsgRing<'a> {
    /// Bytes of memory a ring with a `capacity`-byte data area needs (header plus data),
    /// or `None` unless `capacity` is a power of two in
    /// `MIN_MSG_CAPACITY ..= MAX_MSG_CAPACITY`. Real-time class: wait-free.
    pub fn required_len(capacity: u32) -> Option<usize> {
        geometry_len(capacity, WORD)
    }

    /// Creates an empty ring with both roles free; see
    /// [`ByteRing::init`](super::ByteRing::init) for the errors. Real-time class:
    /// wait-free, O(ring size) writes.
    ///
    /// # Safety
    /// As for [`ByteRing::init`](super::ByteRing::init).
    pub unsafe fn init(ptr: *mut u8, len: usize, capacity: u32) -> Result<Self, RingLayoutError> {
        let total = geometry_len(capacity, WORD).ok_or(RingLayoutError::InvalidGeometry)?;
        // SAFETY: forwarded from the caller.
        let header = unsafe { runtime::init(ptr, len, Kind::Msg, capacity, WORD, total)? };
        // SAFETY: `ptr` is valid for `total` bytes (checked).
        Ok(unsafe { Self::from_parts(header, ptr, capacity) })
    }

    /// Attaches to a ring created by [`init`](Self::init), validating its header.
    /// Real-time class: wait-free.
    ///
    /// # Safety
    /// As for [`ByteRing::attach`](super::ByteRing::attach).
    pub unsafe fn attach(ptr: *mut u8, len: usize) -> Result<Self, RingLayoutError> {
        // SAFETY: forwarded from the caller.
        let (header, capacity, _) = unsafe { runtime::attach(ptr, len, Kind::Msg, geometry_len)? };
        // SAFETY: `ptr` is valid for `geometry_len(capacity)` bytes (checked).
        Ok(unsafe { Self::from_parts(header, ptr, capacity) })
    }

    /// # Safety
    /// `ptr` is valid for `geometry_len(capacity, 8)` bytes for `'a`.
    unsafe fn from_parts(header: &'a RawHeader, ptr: *mut u8, capacity: u32) -> Self {
        DynMsgRing {
            header,
            // SAFETY: HEADER_LEN < total (caller).
            data: unsafe { ptr.add(runtime::HEADER_LEN) },
            capacity,
            _mem: PhantomData,
        }
    }

    /// Size of the data area in bytes. Real-time class: wait-free.
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// The largest message this ring carries: `capacity / 2 - 8` bytes. Real-time class:
    /// wait-free.
    pub fn max_message(&self) -> usize {
        (self.capacity / 2 - WORD) as usize
    }

    /// Claims the producer role; see [`ByteRing::producer`](super::ByteRing::producer).
    /// Real-time class: **may block**.
    pub fn producer(&self) -> Result<DynMsgProducer<'a>, RoleError> {
        rtsan_blocking!(c"shmsync::DynMsgRing::producer");
        let claim = self.header.roles[PRODUCER].claim()?;
        let tail = self.header.tail.index.load(Ordering::Acquire);
        Ok(DynMsgProducer {
            ring: *self,
            tail,
            head: tail.wrapping_sub(self.capacity),
            claim,
            parks: 0,
            spin_limit: DEFAULT_SPIN_LIMIT,
        })
    }

    /// Claims the consumer role. Real-time class: **may block**.
    pub fn consumer(&self) -> Result<DynMsgConsumer<'a>, RoleError> {
        rtsan_blocking!(c"shmsync::DynMsgRing::consumer");
        let claim = self.header.roles[CONSUMER].claim()?;
        let head = self.header.head.index.load(Ordering::Acquire);
        Ok(DynMsgConsumer {
            ring: *self,
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
        (
            self.header.roles[PRODUCER].holder(),
            self.header.roles[CONSUMER].holder(),
        )
    }

    /// The 8-byte word at byte counter `off` (masked to an aligned in-bounds offset).
    #[inline(always)]
    fn load(&self, off: u32) -> u64 {
        let off = (off & (self.capacity - 1) & !(WORD - 1)) as usize;
        // SAFETY: `off + 8 <= capacity` (capacity is a multiple of 8, `off` an aligned
        // offset below it); the data area is 128-aligned, so the word is 8-aligned.
        unsafe { load_word(self.data.add(off)) }
    }

    #[inline(always)]
    fn store(&self, off: u32, v: u64) {
        let off = (off & (self.capacity - 1) & !(WORD - 1)) as usize;
        // SAFETY: as in `load`.
        unsafe { store_word(self.data.add(off), v) }
    }

    /// Copies `out.len()` bytes starting at byte counter `off` (the range never crosses
    /// the end of the data area: frames do not wrap).
    fn read_bytes(&self, off: u32, out: &mut [u8]) {
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

    /// Copies `src` in at byte counter `off`, merging a partial last word.
    fn write_bytes(&self, off: u32, src: &[u8]) {
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
}

impl fmt::Debug for DynMsgRing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynMsgRing")
            .field("capacity", &self.capacity)
            .field("head", &self.header.head.index.load(Ordering::Relaxed))
            .field("tail", &self.header.tail.index.load(Ordering::Relaxed))
            .finish()
    }
}

/// The producing end of a [`DynMsgRing`]; releases the role on drop.
pub struct DynMsgProducer<'a> {
    ring: DynMsgRing<'a>,
    tail: u32,
    head: u32,
    claim: Claim,
    parks: u64,
    /// Backoff steps a blocking call spins before parking (process-local).
    spin_limit: u32,
}

impl DynMsgProducer<'_> {
    fn refresh(&mut self) -> Result<u32, Corrupted> {
        let head = self.ring.header.head.index.load(Ordering::Acquire);
        let used = self.tail.wrapping_sub(head);
        if used > self.ring.capacity || head % WORD != 0 {
            return Err(Corrupted);
        }
        self.head = head;
        Ok(self.ring.capacity - used)
    }

    /// (padding, frame) bytes a `len`-byte message needs from the tail.
    fn needed(&self, len: u32) -> (u32, u32) {
        let cap = self.ring.capacity;
        let frame = frame_len(len);
        let room = cap - (self.tail & (cap - 1));
        let pad = if frame <= room { 0 } else { room };
        (pad, frame)
    }

    fn check_len(&self, len: usize) -> Result<u32, SendError> {
        let max = self.ring.max_message();
        if len > max {
            return Err(SendError::TooLarge { len, max });
        }
        Ok(len as u32)
    }

    fn fits(&mut self, len: u32) -> Result<bool, Corrupted> {
        let (pad, frame) = self.needed(len);
        let free = self.ring.capacity - self.tail.wrapping_sub(self.head);
        Ok(free >= pad + frame || self.refresh()? >= pad + frame)
    }

    /// Writes the frame (padding first if needed) and publishes it.
    fn put(&mut self, msg: &[u8]) {
        let len = msg.len() as u32;
        let (pad, _) = self.needed(len);
        let ring = self.ring;
        if pad > 0 {
            ring.store(self.tail, frame_header(PAD));
        }
        let start = self.tail.wrapping_add(pad);
        ring.write_bytes(start.wrapping_add(WORD), msg);
        ring.store(start, frame_header(len));
        self.tail = start.wrapping_add(frame_len(len));
        ring.header.tail.index.store(self.tail, Ordering::Release);
        wake_if_parked(&ring.header.tail.index, &ring.header.tail.parked);
    }

    /// Sends a copy of `msg`. Real-time class: **wait-free** (O(`msg.len()`)); **may
    /// wake**.
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        let len = self.check_len(msg.len())?;
        if !self.fits(len)? {
            return Err(SendError::Full);
        }
        self.put(msg);
        Ok(())
    }

    /// Sends a copy of `msg`, waiting up to `timeout` (`None`: no limit) for space.
    /// Real-time class: **may block**.
    pub fn send(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<(), SendError> {
        rtsan_blocking!(c"shmsync::ring::dynmsg::DynMsgProducer::send");
        let len = self.check_len(msg.len())?;
        if !self.fits(len)? {
            if timeout == Some(Duration::ZERO) {
                return Err(SendError::Full);
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
                    Ok(if self.fits(len)? {
                        Ready::Yes
                    } else {
                        Ready::No(&header.head.index, self.head)
                    })
                },
            );
            self.parks = parks;
            if !ready? {
                return Err(SendError::Full);
            }
        }
        self.put(msg);
        Ok(())
    }

    end_accessors!("send");
}

impl Drop for DynMsgProducer<'_> {
    fn drop(&mut self) {
        self.ring.header.roles[PRODUCER].release(&self.claim);
    }
}

impl fmt::Debug for DynMsgProducer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynMsgProducer")
            .field("tail", &self.tail)
            .finish_non_exhaustive()
    }
}

/// The consuming end of a [`DynMsgRing`]; releases the role on drop.
pub struct DynMsgConsumer<'a> {
    ring: DynMsgRing<'a>,
    head: u32,
    tail: u32,
    claim: Claim,
    parks: u64,
    /// Backoff steps a blocking call spins before parking (process-local).
    spin_limit: u32,
}

impl DynMsgConsumer<'_> {
    fn refresh(&mut self) -> Result<u32, Corrupted> {
        let tail = self.ring.header.tail.index.load(Ordering::Acquire);
        let avail = tail.wrapping_sub(self.head);
        if avail > self.ring.capacity || tail % WORD != 0 {
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

    /// The next frame: (payload byte counter, length, bytes to advance the head by).
    fn next_frame(&mut self) -> Result<(u32, u32, u32), RecvError> {
        let mut avail = self.available()?;
        if avail == 0 {
            return Err(RecvError::Empty);
        }
        let cap = self.ring.capacity;
        let mut at = self.head;
        let mut skipped = 0;
        loop {
            let h = self.ring.load(at);
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
            if len as usize > self.ring.max_message() || frame > avail || pos + frame > cap {
                return Err(RecvError::Corrupted);
            }
            return Ok((at.wrapping_add(WORD), len, skipped + frame));
        }
    }

    /// Length of the next message, if there is one (it stays in the ring). Real-time
    /// class: **wait-free**.
    pub fn peek_len(&mut self) -> Result<usize, RecvError> {
        self.next_frame().map(|(_, len, _)| len as usize)
    }

    /// Copies the next message into `buf` and returns its length;
    /// [`RecvError::BufferTooSmall`] (message kept) when `buf` is shorter.
    /// Real-time class: **wait-free** (O(message length)); **may wake**.
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        let (start, len, advance) = self.next_frame()?;
        let len_usize = len as usize;
        if len_usize > buf.len() {
            return Err(RecvError::BufferTooSmall { len: len_usize });
        }
        self.ring.read_bytes(start, &mut buf[..len_usize]);
        self.head = self.head.wrapping_add(advance);
        let h = self.ring.header;
        h.head.index.store(self.head, Ordering::Release);
        wake_if_parked(&h.head.index, &h.head.parked);
        Ok(len_usize)
    }

    /// Like [`try_recv`](Self::try_recv), waiting up to `timeout` (`None`: no limit) for a
    /// message. Real-time class: **may block**.
    pub fn recv(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize, RecvError> {
        rtsan_blocking!(c"shmsync::ring::dynmsg::DynMsgConsumer::recv");
        if self.available()? == 0 && timeout != Some(Duration::ZERO) {
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
                return Err(RecvError::Empty);
            }
        }
        self.try_recv(buf)
    }

    end_accessors!("recv");
}

impl Drop for DynMsgConsumer<'_> {
    fn drop(&mut self) {
        self.ring.header.roles[CONSUMER].release(&self.claim);
    }
}

impl fmt::Debug for DynMsgConsumer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynMsgConsumer")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}
