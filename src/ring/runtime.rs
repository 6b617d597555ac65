//! The shared header of the run-time-sized rings ([`ByteRing`](super::ByteRing) and
//! [`DynMsgRing`](super::DynMsgRing)): index lines, role words and a geometry record,
//! followed in the caller's memory by the data area.
//!
//! # Layout (`repr(C)`, identical on every target)
//! ```text
//! offset 0    tail line (128 B): tail index (producer writes), consumer-parked flag
//! offset 128  head line (128 B): head index (consumer writes), producer-parked flag
//! offset 256  role line (128 B): producer role, consumer role
//! offset 384  geometry line (128 B): magic, version, kind, capacity, item size, check
//! offset 512  data area: capacity × item size bytes (ByteRing) or capacity bytes (DynMsgRing)
//! ```
//! The lines are the const-generic rings' lines, in the same order, so the handshake and
//! the role claims are the same code (the ring module's `block_until` and
//! `wake_if_parked`, and its role words).
//!
//! # Initialisation and validation
//! All-zero memory is *not initialised*: [`attach`](super::ByteRing::attach) answers
//! [`RingLayoutError::NotReady`]. `init` zero-fills header and data, writes the geometry
//! and its check word, and publishes by storing the magic last (Release); `attach` loads
//! the magic (Acquire), then validates version, kind, the check word (a hash over the
//! geometry, so a scribbled header is [`RingLayoutError::Corrupted`]), the geometry itself
//! and that the memory is large enough. Geometry is read once at attach and kept in the
//! process-local handle: a peer overwriting the header afterwards cannot make this process
//! address memory outside what it validated.

use super::role::Role;
use super::sync::{AtomicU32, Ordering};
use crate::arch::CachePadded;
use core::fmt;

/// One side's index and the other side's parked flag (as in the const-generic rings).
#[repr(C)]
pub(super) struct Line {
    /// Free-running count this side has handed over (items or bytes; wraps at 2^32).
    pub(super) index: AtomicU32,
    /// 1 while the *other* side sleeps waiting on `index`; 0 otherwise.
    pub(super) parked: AtomicU32,
}

/// The geometry record: written by `init`, read once by `attach`.
#[repr(C)]
struct Geometry {
    /// [`MAGIC`] once initialised (stored last, Release); 0 before.
    magic: AtomicU32,
    /// [`VERSION`].
    version: AtomicU32,
    /// Which ring ([`Kind`]).
    kind: AtomicU32,
    /// Item slots (ByteRing) or data bytes (DynMsgRing); a power of two.
    capacity: AtomicU32,
    /// Bytes per item (ByteRing); 8 for DynMsgRing (its word size).
    item_size: AtomicU32,
    /// [`check`] over the fields above.
    check: AtomicU32,
}

/// The header in front of a run-time-sized ring's data area.
#[repr(C)]
pub(super) struct RawHeader {
    pub(super) tail: CachePadded<Line>,
    pub(super) head: CachePadded<Line>,
    pub(super) roles: CachePadded<[Role; 2]>,
    geometry: CachePadded<Geometry>,
}

/// Bytes of the header; the data area starts here (128-byte aligned).
pub const HEADER_LEN: usize = 512;
/// Alignment the ring's memory must have (the header's cache-line padding).
pub const RING_ALIGN: usize = 128;

#[cfg(not(loom))]
crate::assert_layout!(RawHeader, size = HEADER_LEN, align = RING_ALIGN,
    offsets = { tail: 0, head: 128, roles: 256, geometry: 384 });
#[cfg(not(loom))]
crate::assert_layout!(Geometry, size = 24, align = 4, offsets = {
    magic: 0, version: 4, kind: 8, capacity: 12, item_size: 16, check: 20 });

/// `"SRNG"`: marks an initialised run-time-sized ring.
pub const MAGIC: u32 = u32::from_le_bytes(*b"SRNG");
/// Layout version of the header; bumped on any change.
pub const VERSION: u32 = 1;

/// Which run-time-sized ring a header describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(super) enum Kind {
    Bytes = 1,
    Msg = 2,
}

/// Why a run-time-sized ring could not be created or attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RingLayoutError {
    /// The pointer is null or not aligned to [`RING_ALIGN`] bytes.
    Misaligned {
        /// The alignment required.
        required: usize,
    },
    /// The memory is smaller than the header plus data area need.
    TooSmall {
        /// Bytes needed.
        required: usize,
        /// Bytes given.
        actual: usize,
    },
    /// The requested capacity / item size is not allowed (see each ring's `init`).
    InvalidGeometry,
    /// No `init` has published a ring here yet (all-zero memory, or `init` still running).
    NotReady,
    /// The header does not start with [`MAGIC`]: not a shmsync run-time ring.
    BadMagic {
        /// What was found.
        found: u32,
    },
    /// The header was written by an incompatible layout version.
    VersionMismatch {
        /// The header's version.
        found: u32,
        /// Ours ([`VERSION`]).
        ours: u32,
    },
    /// The ring is of another kind, or its capacity / item size differ from what the
    /// attacher asked for.
    LayoutMismatch {
        /// The ring's capacity.
        capacity: u32,
        /// The ring's item size.
        item_size: u32,
    },
    /// The header's check word does not match its geometry, or the geometry is invalid:
    /// the header was overwritten.
    Corrupted,
}

impl fmt::Display for RingLayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RingLayoutError::Misaligned { required } => {
                write!(f, "ring pointer is null or not {required}-byte aligned")
            }
            RingLayoutError::TooSmall { required, actual } => {
                write!(
                    f,
                    "ring memory too small: {actual} bytes given, {required} needed"
                )
            }
            RingLayoutError::InvalidGeometry => f.write_str("ring capacity or item size invalid"),
            RingLayoutError::NotReady => f.write_str("ring not initialised yet"),
            RingLayoutError::BadMagic { found } => {
                write!(f, "not a shmsync run-time ring (magic {found:#010x})")
            }
            RingLayoutError::VersionMismatch { found, ours } => {
                write!(f, "ring layout version {found}, this build speaks {ours}")
            }
            RingLayoutError::LayoutMismatch {
                capacity,
                item_size,
            } => write!(
                f,
                "ring has another layout (capacity {capacity}, item size {item_size})"
            ),
            RingLayoutError::Corrupted => f.write_str("ring header is corrupted"),
        }
    }
}

impl core::error::Error for RingLayoutError {}

/// The check word over a geometry.
const fn check(kind: u32, capacity: u32, item_size: u32) -> u32 {
    let h = crate::tag_with(
        crate::tag_with(
            crate::tag_with(crate::tag(b"shmsync run-time ring v1"), kind as u64),
            capacity as u64,
        ),
        item_size as u64,
    );
    (h ^ (h >> 32)) as u32
}

/// `HEADER_LEN + data` rounded up to [`RING_ALIGN`], or `None` on overflow.
pub(super) const fn total_len(data: u64) -> Option<usize> {
    let total = HEADER_LEN as u64 + data;
    let total = total.div_ceil(RING_ALIGN as u64) * RING_ALIGN as u64;
    if total > isize::MAX as u64 || total > usize::MAX as u64 {
        None
    } else {
        Some(total as usize)
    }
}

fn check_ptr(ptr: *const u8, len: usize) -> Result<(), RingLayoutError> {
    if ptr.is_null() || (ptr as usize) % RING_ALIGN != 0 {
        return Err(RingLayoutError::Misaligned {
            required: RING_ALIGN,
        });
    }
    if len < HEADER_LEN {
        return Err(RingLayoutError::TooSmall {
            required: HEADER_LEN,
            actual: len,
        });
    }
    Ok(())
}

/// Zero-fills `total` bytes at `ptr`, writes the geometry and publishes it (magic last).
/// `total` was computed by the caller from a valid geometry.
///
/// # Safety
/// `ptr..ptr+len` is mapped writable for `'a`, only accessed through shmsync, and nobody
/// uses a ring at this memory while `init` runs.
pub(super) unsafe fn init<'a>(
    ptr: *mut u8,
    len: usize,
    kind: Kind,
    capacity: u32,
    item_size: u32,
    total: usize,
) -> Result<&'a RawHeader, RingLayoutError> {
    check_ptr(ptr, len)?;
    if len < total {
        return Err(RingLayoutError::TooSmall {
            required: total,
            actual: len,
        });
    }
    // Unpublish first: an attacher from here on sees "not ready".
    // SAFETY: non-null, 128-aligned, HEADER_LEN bytes mapped (checked); all atomics. The
    // reference ends before the raw write below.
    unsafe { &*ptr.cast::<RawHeader>() }
        .geometry
        .magic
        .store(0, Ordering::SeqCst);
    // SAFETY: `ptr..ptr+total` lies in the mapping (total <= len); the caller guarantees
    // exclusive use during init. The magic word (offset 384) is rewritten with 0 here,
    // which it already holds.
    unsafe { core::ptr::write_bytes(ptr, 0, total) };
    // SAFETY: as above; derived after the raw write, so it is the live view from here on.
    let header = unsafe { &*ptr.cast::<RawHeader>() };
    let g = &header.geometry;
    g.version.store(VERSION, Ordering::Relaxed);
    g.kind.store(kind as u32, Ordering::Relaxed);
    g.capacity.store(capacity, Ordering::Relaxed);
    g.item_size.store(item_size, Ordering::Relaxed);
    g.check
        .store(check(kind as u32, capacity, item_size), Ordering::Relaxed);
    // Publish: every write above happens-before an attacher's Acquire load of the magic.
    g.magic.store(MAGIC, Ordering::Release);
    Ok(header)
}

/// Validates the header at `ptr` and returns it with its `(capacity, item_size)`;
/// `validate` checks the geometry and returns the total length it needs.
///
/// # Safety
/// `ptr..ptr+len` is mapped readable and writable for `'a` and only accessed through
/// shmsync.
pub(super) unsafe fn attach<'a>(
    ptr: *mut u8,
    len: usize,
    kind: Kind,
    validate: impl FnOnce(u32, u32) -> Option<usize>,
) -> Result<(&'a RawHeader, u32, u32), RingLayoutError> {
    check_ptr(ptr, len)?;
    // SAFETY: non-null, 128-aligned, HEADER_LEN bytes mapped (checked); all atomics, valid
    // for any bit pattern.
    let header = unsafe { &*ptr.cast::<RawHeader>() };
    let g = &header.geometry;
    match g.magic.load(Ordering::Acquire) {
        MAGIC => {}
        0 => return Err(RingLayoutError::NotReady),
        found => return Err(RingLayoutError::BadMagic { found }),
    }
    let version = g.version.load(Ordering::Relaxed);
    if version != VERSION {
        return Err(RingLayoutError::VersionMismatch {
            found: version,
            ours: VERSION,
        });
    }
    let k = g.kind.load(Ordering::Relaxed);
    let capacity = g.capacity.load(Ordering::Relaxed);
    let item_size = g.item_size.load(Ordering::Relaxed);
    if g.check.load(Ordering::Relaxed) != check(k, capacity, item_size) {
        return Err(RingLayoutError::Corrupted);
    }
    if k != kind as u32 {
        return Err(RingLayoutError::LayoutMismatch {
            capacity,
            item_size,
        });
    }
    let total = validate(capacity, item_size).ok_or(RingLayoutError::Corrupted)?;
    if len < total {
        return Err(RingLayoutError::TooSmall {
            required: total,
            actual: len,
        });
    }
    Ok((header, capacity, item_size))
}
