//! The region header: placing a caller's root type in memory the caller mapped.
//!
//! ```text
//! offset 0     Header (64 bytes): magic, state, ABI version, layout fingerprint of the root
//!              type, wake protocol, offsets, creator, checksum
//! offset 64    protocol area (only for protocols that keep state in the region, e.g. the
//!              Mach waiter table; empty for kernel address wait and spin)
//! root_offset  the root type T (aligned to max(align_of::<T>(), 128))
//! ```
//!
//! * [`init`] (the creator, exactly one per region) zero-fills the protocol area and the
//!   root, writes the header fields and publishes `READY` **last** with a release store.
//! * [`attach`] (everyone else) checks alignment and length, acquire-loads the state, and
//!   validates every field before handing out a reference: [`RegionError`] says what is
//!   wrong. An attacher that races with the creator gets [`RegionError::NotReady`];
//!   [`attach_timeout`] waits (parked on the state word) instead.
//! * The header is read with atomic loads only: a peer scribbling over it concurrently can
//!   make attach fail, never read torn memory as a Rust value it is not.
//!
//! ```
//! # #[cfg(all(unix, not(miri)))] {
//! use shmsync::hal::atomic::{AtomicU32, Ordering};
//! use shmsync::hal::shm::SharedMemory;
//!
//! #[repr(C)]
//! struct Shared { counter: AtomicU32 }
//! // SAFETY: one AtomicU32: repr(C), zero is valid, any bit pattern is valid.
//! unsafe impl shmsync::ShmSafe for Shared { const TAG: u64 = shmsync::tag(b"doc::Shared v1"); }
//!
//! let shm = SharedMemory::create(4096).unwrap();
//! let (a, b) = (shm.map().unwrap(), shm.map().unwrap()); // two addresses, one object
//! // SAFETY: the mappings are live, page-aligned, 4096 bytes, and only used through shmsync.
//! let creator = unsafe { shmsync::init::<Shared>(a.as_ptr(), a.len()) }.unwrap();
//! let peer = unsafe { shmsync::attach::<Shared>(b.as_ptr(), b.len()) }.unwrap();
//! creator.counter.fetch_add(1, Ordering::Relaxed);
//! assert_eq!(peer.counter.load(Ordering::Relaxed), 1);
//! # }
//! ```

use crate::ShmSafe;
use crate::hal::atomic::{AtomicU32, Ordering};
use crate::hal::{self, WakeProtocol};
use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;
use core::time::Duration;

/// `b"SHMS"` read as a little-endian `u32`: the first four bytes of every region.
pub const MAGIC: u32 = u32::from_le_bytes(*b"SHMS");

/// Version of the header layout and of every shared type's protocol. Bumped on any
/// incompatible change; peers with another version are refused.
///
/// 2: a mutex word names its holder by pid and short start-time token, its second word is
/// a namespace stamp; ring role words carry a namespace stamp (16 bytes each); the Mach
/// waiter table's slot-state and `known_by` words changed meaning (claimer index in the
/// slot state, epoch-tagged `known_by`).
pub const ABI_VERSION: u32 = 2;

/// Size of the header, in bytes.
pub const HEADER_SIZE: usize = 64;

/// Alignment the root type is placed at, at least (a cache line pair on every target).
pub const ROOT_ALIGN: usize = 128;

/// Alignment `init`/`attach` require of the region's start.
pub const REGION_ALIGN: usize = 64;

// Init states (the `state` word).
/// Zero-filled memory: nobody has created a region here yet.
const EMPTY: u32 = 0;
/// A creator is writing the region; attachers must wait.
const INITIALISING: u32 = 1;
/// The header and contents are complete and published.
const READY: u32 = 2;

/// The fixed header at the start of a region. All fields are atomics read with atomic
/// loads, so concurrent corruption by a peer cannot cause undefined behaviour here.
#[repr(C)]
struct Header {
    /// [`MAGIC`].
    magic: AtomicU32,
    /// `EMPTY`, `INITIALISING` or `READY`; waited on by `attach_timeout`.
    state: AtomicU32,
    /// [`ABI_VERSION`].
    abi_version: AtomicU32,
    /// [`HEADER_SIZE`].
    header_size: AtomicU32,
    /// `WakeProtocol` id of the creator's backend.
    protocol: AtomicU32,
    /// Offset and length of the protocol area.
    proto_offset: AtomicU32,
    proto_len: AtomicU32,
    /// Offset, size and alignment of the root type.
    root_offset: AtomicU32,
    root_size: AtomicU32,
    root_align: AtomicU32,
    /// The root type's `ShmSafe::TAG`, low and high halves.
    root_tag_lo: AtomicU32,
    root_tag_hi: AtomicU32,
    /// Bytes the creator was given (low, high).
    region_len_lo: AtomicU32,
    region_len_hi: AtomicU32,
    /// The creating process.
    creator_pid: AtomicU32,
    /// FNV-1a over every field above except `state`, so random bytes are recognised.
    checksum: AtomicU32,
}

crate::assert_layout!(Header, size = HEADER_SIZE, align = 4, offsets = {
    magic: 0, state: 4, abi_version: 8, header_size: 12, protocol: 16, proto_offset: 20,
    proto_len: 24, root_offset: 28, root_size: 32, root_align: 36, root_tag_lo: 40,
    root_tag_hi: 44, region_len_lo: 48, region_len_hi: 52, creator_pid: 56, checksum: 60,
});

/// Why a region could not be created or attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegionError {
    /// The pointer is null or not aligned to [`REGION_ALIGN`] bytes.
    Misaligned {
        /// The alignment required.
        required: usize,
    },
    /// The memory is smaller than the header, protocol area and root type need.
    TooSmall {
        /// Bytes needed.
        required: usize,
        /// Bytes given.
        actual: usize,
    },
    /// The root type is larger than a region can describe (4 GiB).
    TooLarge,
    /// No creator has published this region yet (zero memory, or `init` still running).
    NotReady,
    /// The first four bytes are not [`MAGIC`]: not a shmsync region.
    BadMagic {
        /// What was found.
        found: u32,
    },
    /// The region was created by an incompatible version of shmsync.
    VersionMismatch {
        /// The region's ABI version.
        region: u32,
        /// Ours.
        ours: u32,
    },
    /// The region holds another root type (size, alignment or tag differ).
    LayoutMismatch {
        /// The region's root size and tag.
        region_size: u32,
        /// Our root type's size.
        our_size: u32,
        /// The region's root tag.
        region_tag: u64,
        /// Our root type's tag.
        our_tag: u64,
    },
    /// The region's processes use another wake protocol than this process's backend can
    /// speak: waiting on it would deadlock.
    ProtocolMismatch {
        /// The raw protocol id in the header.
        region: u32,
        /// The protocol this process speaks.
        ours: WakeProtocol,
    },
    /// The header's checksum, state or offsets are inconsistent: the header was overwritten.
    Corrupted,
    /// [`init`] found a live region here — published (`ready`), or still being created by
    /// another `init` — and wrote nothing. Processes may be using its locks and rings;
    /// re-creating it would zero them under their feet. Attach to it, or, when every
    /// process that used it is known to be gone, re-create it with
    /// [`Options::replace`].
    AlreadyInitialised {
        /// The region is published (`READY`); `false`: an `init` is in progress (or died
        /// part-way).
        ready: bool,
        /// The creator's pid as the header records it (0 while initialising). Whatever a
        /// peer wrote there: for diagnostics only.
        creator_pid: u32,
    },
    /// Joining the region's Mach waiter table failed (Mach wake protocol only).
    Mach(hal::mach::MachError),
}

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RegionError::Misaligned { required } => {
                write!(f, "region pointer is null or not {required}-byte aligned")
            }
            RegionError::TooSmall { required, actual } => {
                write!(
                    f,
                    "region too small: {actual} bytes given, {required} needed"
                )
            }
            RegionError::TooLarge => write!(f, "root type larger than 4 GiB"),
            RegionError::NotReady => write!(f, "region not initialised yet"),
            RegionError::BadMagic { found } => {
                write!(f, "not a shmsync region (magic {found:#010x})")
            }
            RegionError::VersionMismatch { region, ours } => {
                write!(f, "region ABI version {region}, this build speaks {ours}")
            }
            RegionError::LayoutMismatch {
                region_size,
                our_size,
                region_tag,
                our_tag,
            } => write!(
                f,
                "region holds another root type (size {region_size}, tag {region_tag:#x}; \
                 expected size {our_size}, tag {our_tag:#x})"
            ),
            RegionError::ProtocolMismatch { region, ours } => write!(
                f,
                "region uses wake protocol {region}, this process speaks {ours:?} ({})",
                ours.as_u32()
            ),
            RegionError::Corrupted => write!(f, "region header is corrupted"),
            RegionError::AlreadyInitialised { ready, creator_pid } => write!(
                f,
                "a region is already {} here (creator pid {creator_pid}); nothing was \
                 written (pass Options::replace to re-create it)",
                if ready { "published" } else { "being created" }
            ),
            RegionError::Mach(e) => write!(f, "joining the Mach waiter table failed: {e}"),
        }
    }
}

impl core::error::Error for RegionError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            RegionError::Mach(e) => Some(e),
            _ => None,
        }
    }
}

/// A root type placed in a region: dereferences to `&T`.
///
/// Created by [`init`] or [`attach`]; borrows the mapping for `'a`. With the kernel-address
/// and spin protocols, dropping it does not touch the shared memory. With the Mach protocol
/// the handle is this process's membership of the region's waiter table: dropping it leaves
/// the table (peers release this process's semaphores), so keep it alive for as long as any
/// thread waits or wakes on words inside the region.
///
/// ```
/// # #[cfg(all(unix, not(miri)))] {
/// use shmsync::{Region, ShmSafe, Semaphore};
/// use shmsync::hal::shm::SharedMemory;
///
/// #[derive(ShmSafe)]
/// #[repr(C)]
/// struct Root { jobs: Semaphore }
///
/// let shm = SharedMemory::create(shmsync::region::required_len::<Root>()).unwrap();
/// let (a, b) = (shm.map().unwrap(), shm.map().unwrap());
/// // SAFETY: fresh mappings that outlive the regions and are used only through shmsync.
/// let creator: Region<'_, Root> = unsafe { shmsync::init(a.as_ptr(), a.len()) }.unwrap();
/// let peer: Region<'_, Root> = unsafe { shmsync::attach(b.as_ptr(), b.len()) }.unwrap();
/// creator.jobs.post(1).unwrap();
/// assert!(peer.jobs.try_wait());
/// # }
/// ```
pub struct Region<'a, T> {
    root: &'a T,
    protocol: WakeProtocol,
    #[cfg(target_vendor = "apple")]
    participant: Option<hal::mach::Participant>,
    _not_send_across_unmaps: PhantomData<&'a T>,
}

#[cfg(target_vendor = "apple")]
impl<T> Drop for Region<'_, T> {
    fn drop(&mut self) {
        if let Some(p) = self.participant.take() {
            p.leave();
        }
    }
}

/// Options for [`init_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'s> {
    /// Mach protocol only: the application-group id that prefixes the rendezvous service
    /// name, required for sandboxed apps (`"<team>.<group>"`). Ignored by other protocols.
    pub app_group: Option<&'s str>,
    /// Re-create a region even if one is live at this memory (its header is `READY`, or an
    /// `init` is in progress). Off by default: then [`init_with`] refuses such memory with
    /// [`RegionError::AlreadyInitialised`] and writes nothing.
    ///
    /// Turn it on only when no process uses the old region any more — they all exited, or
    /// were told to detach and did — for example a host restarting over a persistent
    /// file after a crash. Every lock, ring and role of the old region is zero-filled: a
    /// process still using it would see its lock released and its ring emptied under it
    /// (no undefined behaviour, since every shared type tolerates any bytes, but lost
    /// mutual exclusion and lost items).
    pub replace: bool,
}

/// Joins the Mach waiter table of a region being created or attached (Apple, Mach
/// protocol); `None` for every other protocol.
#[cfg(target_vendor = "apple")]
fn join_protocol(
    ptr: *mut u8,
    len: usize,
    l: &Layout,
    protocol: WakeProtocol,
    creator: bool,
    app_group: Option<&str>,
) -> Result<Option<hal::mach::Participant>, RegionError> {
    if protocol != WakeProtocol::MachTable {
        return Ok(None);
    }
    // SAFETY: the area lies inside the mapping (end <= len was checked), is aligned for
    // WaiterTable (HEADER_SIZE is a multiple of its alignment, the base is 64-aligned) and
    // a WaiterTable is valid for any bytes (all atomics).
    let table = unsafe { &*ptr.add(l.proto_offset).cast::<hal::mach::WaiterTable>() };
    // SAFETY: `ptr..ptr+len` is the live region (the caller's contract for init/attach),
    // and the table is inside it.
    unsafe { hal::mach::join(ptr, len, table, creator, app_group) }
        .map(Some)
        .map_err(RegionError::Mach)
}

impl<T> Deref for Region<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        self.root
    }
}

impl<'a, T> Region<'a, T> {
    /// The root as a plain reference with the mapping's lifetime. With the Mach protocol,
    /// the `Region` handle must still be kept alive while the root is used (see above).
    /// Real-time class: wait-free.
    #[inline]
    pub fn get(&self) -> &'a T {
        self.root
    }

    /// The wake protocol the region was created with. Real-time class: wait-free.
    #[inline]
    pub fn protocol(&self) -> WakeProtocol {
        self.protocol
    }

    fn new(root: &'a T, protocol: WakeProtocol) -> Self {
        Region {
            root,
            protocol,
            #[cfg(target_vendor = "apple")]
            participant: None,
            _not_send_across_unmaps: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Region<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Region")
            .field("root", &(self.root as *const T))
            .field("protocol", &self.protocol)
            .finish()
    }
}

/// Where things go in a region for root type `T` under `protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    proto_offset: usize,
    proto_len: usize,
    root_offset: usize,
    end: usize,
}

const fn round_up(x: usize, align: usize) -> usize {
    (x + align - 1) & !(align - 1)
}

fn root_align<T>() -> usize {
    let a = core::mem::align_of::<T>();
    if a > ROOT_ALIGN { a } else { ROOT_ALIGN }
}

fn layout<T>(protocol: WakeProtocol) -> Result<Layout, RegionError> {
    let proto_len = protocol_area_len(protocol);
    let proto_offset = HEADER_SIZE;
    let root_offset = round_up(proto_offset + proto_len, root_align::<T>());
    let size = core::mem::size_of::<T>();
    let end = root_offset.checked_add(size).ok_or(RegionError::TooLarge)?;
    if size > u32::MAX as usize || end > u32::MAX as usize {
        return Err(RegionError::TooLarge);
    }
    Ok(Layout {
        proto_offset,
        proto_len,
        root_offset,
        end,
    })
}

/// Bit 16 of the header's protocol word: the region's processes publish ring indices with
/// the light barrier of an asymmetric fence (`shmsync::hal::membarrier`: a compiler fence
/// on the publishing side, `membarrier(GLOBAL_EXPEDITED)` on the sleeping side). A
/// publisher may skip its store–load fence only if every sleeper it can wake issues the
/// membarrier, so the choice is the creator's, recorded here, and a process that cannot
/// register (old kernel, a seccomp filter) — or that did register, joining a region whose
/// creator could not — is refused with [`RegionError::ProtocolMismatch`] instead of losing
/// wake-ups.
pub const ASYMMETRIC_FENCE: u32 = 1 << 16;

/// The header's protocol word for `protocol` in this process: its id, with
/// [`ASYMMETRIC_FENCE`] when this process is registered for membarriers (registering it,
/// once, on the first call). Real-time class: may block on the first call.
fn protocol_word(protocol: WakeProtocol) -> u32 {
    if hal::membarrier::register() {
        protocol.as_u32() | ASYMMETRIC_FENCE
    } else {
        protocol.as_u32()
    }
}

/// Bytes of protocol state a region keeps for `protocol` (after the header): the Mach
/// waiter table for [`WakeProtocol::MachTable`], nothing for the others.
const fn protocol_area_len(protocol: WakeProtocol) -> usize {
    hal::mach::protocol_area_len(protocol)
}

// The protocol area starts right after the header: its alignment must divide the header size.
const _: () = assert!(HEADER_SIZE % hal::mach::PROTOCOL_AREA_ALIGN == 0);

/// Bytes a region for root type `T` needs with this process's wake protocol: pass at
/// least this much to [`init`]. Real-time class: wait-free.
pub fn required_len<T: ShmSafe>() -> usize {
    layout::<T>(hal::backend().protocol()).map_or(usize::MAX, |l| l.end)
}

fn check_ptr(ptr: *const u8, len: usize) -> Result<(), RegionError> {
    if ptr.is_null() || (ptr as usize) % REGION_ALIGN != 0 {
        return Err(RegionError::Misaligned {
            required: REGION_ALIGN,
        });
    }
    if len < HEADER_SIZE {
        return Err(RegionError::TooSmall {
            required: HEADER_SIZE,
            actual: len,
        });
    }
    Ok(())
}

/// The checksum over every header field except `state` and `checksum`.
fn checksum(fields: &[u32; 14]) -> u32 {
    let mut h = crate::tag(b"shmsync region header");
    for &f in fields {
        h = crate::tag_with(h, u64::from(f));
    }
    (h ^ (h >> 32)) as u32
}

impl Header {
    fn fields(&self) -> [u32; 14] {
        let l = |a: &AtomicU32| a.load(Ordering::Relaxed);
        [
            l(&self.magic),
            l(&self.abi_version),
            l(&self.header_size),
            l(&self.protocol),
            l(&self.proto_offset),
            l(&self.proto_len),
            l(&self.root_offset),
            l(&self.root_size),
            l(&self.root_align),
            l(&self.root_tag_lo),
            l(&self.root_tag_hi),
            l(&self.region_len_lo),
            l(&self.region_len_hi),
            l(&self.creator_pid),
        ]
    }
}

/// Creates a region for root type `T` in `len` bytes at `ptr` and returns the root, empty
/// (all zero bytes: every shmsync type's unlocked/empty state).
///
/// Every check comes before the first write: a null or misaligned pointer (also for a
/// root aligned to more than the base is), too little memory, a root too large, or a
/// **live region already at this memory** (header `READY` with shmsync's magic, or an
/// `init` in progress) return an error and leave every byte as it was. A live region is
/// [`RegionError::AlreadyInitialised`]; to re-create it on purpose use [`init_with`] with
/// [`Options::replace`]. Any other contents (zero-filled memory, an old file's bytes) are
/// overwritten. Attachers that race with `init` see [`RegionError::NotReady`] until it
/// returns. The header's protocol is this process's backend's ([`hal::backend`]).
///
/// The refusal reads the header's state word, claims it with a compare-and-swap, and only
/// then writes: two racing `init` calls (a breach of the contract below) cannot both
/// zero-fill the region; the loser gets `AlreadyInitialised { ready: false, .. }`.
///
/// Real-time class: **may block** (writes the whole region; wakes attachers parked in
/// [`attach_timeout`]). Call it at start-up.
///
/// # Safety
/// * `ptr..ptr+len` is mapped readable and writable for `'a`, and is only accessed through
///   shmsync (in this and other processes) while `'a` lasts;
/// * exactly one process calls `init` on a region, and no process uses an earlier region
///   at this memory while `init` runs.
pub unsafe fn init<'a, T: ShmSafe>(ptr: *mut u8, len: usize) -> Result<Region<'a, T>, RegionError> {
    // SAFETY: forwarded from the caller.
    unsafe { init_with(ptr, len, &Options::default()) }
}

/// [`init`] with [`Options`]: the Mach protocol's app-group prefix, and
/// [`replace`](Options::replace) to re-create a live region.
///
/// Real-time class: **may block**.
///
/// # Safety
/// As for [`init`]; with `replace`, also: no process uses the region being replaced.
pub unsafe fn init_with<'a, T: ShmSafe>(
    ptr: *mut u8,
    len: usize,
    options: &Options<'_>,
) -> Result<Region<'a, T>, RegionError> {
    rtsan_blocking!(c"shmsync::region::init_with");
    // Every check first: nothing below writes until all of them passed.
    check_ptr(ptr, len)?;
    let protocol = hal::backend().protocol();
    let l = layout::<T>(protocol)?;
    if len < l.end {
        return Err(RegionError::TooSmall {
            required: l.end,
            actual: len,
        });
    }
    // The root's real address must suit `T` (the base need only be 64-byte aligned).
    let root_addr = (ptr as usize).wrapping_add(l.root_offset);
    if root_addr % core::mem::align_of::<T>() != 0 {
        return Err(RegionError::Misaligned {
            required: core::mem::align_of::<T>(),
        });
    }
    // SAFETY: `ptr` is non-null, 64-byte aligned and at least HEADER_SIZE bytes are mapped
    // (checked above); Header is all atomics, valid for any bit pattern.
    let header = unsafe { &*ptr.cast::<Header>() };
    // Claim: attachers that load the state from here on see "not ready". Without
    // `replace`, the claim is a compare-and-swap from a state that is not live, so the
    // check and the claim are one step.
    if options.replace {
        header.state.store(INITIALISING, Ordering::SeqCst);
    } else {
        claim_unless_live(header)?;
    }
    // SAFETY: the bytes after the header up to `l.end` are inside the mapping (len >= end);
    // the caller guarantees no one else uses them during init, so plain writes are fine.
    unsafe {
        core::ptr::write_bytes(ptr.add(HEADER_SIZE), 0, l.end - HEADER_SIZE);
    }
    let tag = T::TAG;
    let len64 = len as u64;
    let fields: [u32; 14] = [
        MAGIC,
        ABI_VERSION,
        HEADER_SIZE as u32,
        protocol_word(protocol),
        l.proto_offset as u32,
        l.proto_len as u32,
        l.root_offset as u32,
        core::mem::size_of::<T>() as u32,
        root_align::<T>() as u32,
        tag as u32,
        (tag >> 32) as u32,
        len64 as u32,
        (len64 >> 32) as u32,
        hal::process::current_pid(),
    ];
    let slots = [
        &header.magic,
        &header.abi_version,
        &header.header_size,
        &header.protocol,
        &header.proto_offset,
        &header.proto_len,
        &header.root_offset,
        &header.root_size,
        &header.root_align,
        &header.root_tag_lo,
        &header.root_tag_hi,
        &header.region_len_lo,
        &header.region_len_hi,
        &header.creator_pid,
    ];
    for (slot, value) in slots.iter().zip(fields) {
        slot.store(value, Ordering::Relaxed);
    }
    header.checksum.store(checksum(&fields), Ordering::Relaxed);
    // The protocol's own state (the Mach rendezvous) is set up before anyone may attach.
    #[cfg(target_vendor = "apple")]
    let participant = join_protocol(ptr, len, &l, protocol, true, options.app_group)?;
    // Publish: every write above happens-before an attacher's acquire load of READY.
    header.state.store(READY, Ordering::Release);
    hal::wake_all(&header.state);
    // SAFETY: in bounds (end <= len, checked) and the bytes are zero, a valid T (ShmSafe
    // rule 2); root_ref re-checks the alignment against the real address.
    let root = unsafe { root_ref::<T>(ptr, l.root_offset)? };
    #[allow(unused_mut)]
    let mut region = Region::new(root, protocol);
    #[cfg(target_vendor = "apple")]
    {
        region.participant = participant;
    }
    Ok(region)
}

/// `init`'s claim without `replace`: moves the state word to `INITIALISING` unless a live
/// region is there (`READY` with shmsync's magic, or `INITIALISING`). Writes nothing when
/// it refuses.
fn claim_unless_live(header: &Header) -> Result<(), RegionError> {
    let mut seen = header.state.load(Ordering::Acquire);
    loop {
        let live = match seen {
            READY => header.magic.load(Ordering::Relaxed) == MAGIC,
            INITIALISING => true,
            _ => false,
        };
        if live {
            return Err(RegionError::AlreadyInitialised {
                ready: seen == READY,
                creator_pid: header.creator_pid.load(Ordering::Relaxed),
            });
        }
        match header
            .state
            .compare_exchange(seen, INITIALISING, Ordering::SeqCst, Ordering::Acquire)
        {
            Ok(_) => return Ok(()),
            Err(now) => seen = now,
        }
    }
}

/// Casts the root, re-checking its alignment against the real address (the base is only
/// required to be 64-byte aligned; page-aligned mappings always pass).
///
/// # Safety
/// `ptr + offset .. + size_of::<T>()` is mapped for `'a` and holds a valid `T`.
unsafe fn root_ref<'a, T>(ptr: *mut u8, offset: usize) -> Result<&'a T, RegionError> {
    // SAFETY: the caller checked offset + size_of::<T>() <= len.
    let p = unsafe { ptr.add(offset) };
    if (p as usize) % core::mem::align_of::<T>() != 0 {
        return Err(RegionError::Misaligned {
            required: core::mem::align_of::<T>(),
        });
    }
    // SAFETY: aligned (checked), in bounds and valid (caller); T: Sync via ShmSafe.
    Ok(unsafe { &*p.cast::<T>() })
}

/// Attaches to a region created by [`init`] (in this or another process, at any address)
/// and returns its root, after validating the header: see [`RegionError`] for every way it
/// can fail. Never blocks: a region still being created is [`RegionError::NotReady`].
///
/// Real-time class: **wait-free** (a bounded number of loads) with the kernel-address and
/// spin protocols; **may block** with the Mach protocol (the rendezvous exchanges Mach
/// messages with the peers).
///
/// # Safety
/// `ptr..ptr+len` is mapped readable and writable for `'a` and only accessed through
/// shmsync while `'a` lasts.
pub unsafe fn attach<'a, T: ShmSafe>(
    ptr: *mut u8,
    len: usize,
) -> Result<Region<'a, T>, RegionError> {
    check_ptr(ptr, len)?;
    // SAFETY: non-null, aligned, HEADER_SIZE bytes mapped (checked); all atomics.
    let header = unsafe { &*ptr.cast::<Header>() };
    match header.state.load(Ordering::Acquire) {
        READY => {}
        EMPTY | INITIALISING => return Err(RegionError::NotReady),
        _ => {
            return Err(if header.magic.load(Ordering::Relaxed) != MAGIC {
                RegionError::BadMagic {
                    found: header.magic.load(Ordering::Relaxed),
                }
            } else {
                RegionError::Corrupted
            });
        }
    }
    let f = header.fields();
    let [
        magic,
        version,
        header_size,
        protocol,
        proto_offset,
        proto_len,
        root_offset,
        root_size,
        root_align_v,
        tag_lo,
        tag_hi,
        _len_lo,
        _len_hi,
        _creator,
    ] = f;
    if magic != MAGIC {
        return Err(RegionError::BadMagic { found: magic });
    }
    if version != ABI_VERSION {
        return Err(RegionError::VersionMismatch {
            region: version,
            ours: ABI_VERSION,
        });
    }
    if header_size as usize != HEADER_SIZE
        || header.checksum.load(Ordering::Relaxed) != checksum(&f)
    {
        return Err(RegionError::Corrupted);
    }
    let ours = hal::backend().protocol();
    if protocol != protocol_word(ours) {
        return Err(RegionError::ProtocolMismatch {
            region: protocol,
            ours,
        });
    }
    let region_tag = u64::from(tag_lo) | (u64::from(tag_hi) << 32);
    let our_size = core::mem::size_of::<T>();
    if root_size as usize != our_size
        || root_align_v as usize != root_align::<T>()
        || region_tag != T::TAG
    {
        return Err(RegionError::LayoutMismatch {
            region_size: root_size,
            our_size: our_size as u32,
            region_tag,
            our_tag: T::TAG,
        });
    }
    // The offsets must be exactly what this build computes: anything else is corruption.
    let l = layout::<T>(ours)?;
    if proto_offset as usize != l.proto_offset
        || proto_len as usize != l.proto_len
        || root_offset as usize != l.root_offset
    {
        return Err(RegionError::Corrupted);
    }
    if len < l.end {
        return Err(RegionError::TooSmall {
            required: l.end,
            actual: len,
        });
    }
    // SAFETY: in bounds (end <= len, checked), the creator published a T there (READY was
    // acquired), and any bytes are a valid T (ShmSafe rule 3).
    let root = unsafe { root_ref::<T>(ptr, l.root_offset)? };
    #[allow(unused_mut)]
    let mut region = Region::new(root, ours);
    #[cfg(target_vendor = "apple")]
    {
        region.participant = join_protocol(ptr, len, &l, ours, false, None)?;
    }
    Ok(region)
}

/// How often [`attach_timeout`] re-checks a region that is not ready yet, whether or not a
/// wake arrived: 1 ms, so an attacher returns within about a millisecond of READY even where
/// the creator's wake cannot reach it (the Mach backend, whose attacher is not registered in
/// the region yet), at the cost of 1 000 wake-ups a second while it waits — set-up, not an
/// audio path.
const ATTACH_RECHECK: Duration = Duration::from_millis(1);

/// Like [`attach`], but while the region is not ready yet, parks on the header's state word
/// (woken by [`init`], re-checked at least every millisecond) for at most `timeout`. Other
/// errors return at once.
///
/// Real-time class: **may block**.
///
/// # Safety
/// As for [`attach`].
pub unsafe fn attach_timeout<'a, T: ShmSafe>(
    ptr: *mut u8,
    len: usize,
    timeout: Duration,
) -> Result<Region<'a, T>, RegionError> {
    rtsan_blocking!(c"shmsync::region::attach_timeout");
    check_ptr(ptr, len)?;
    let deadline = hal::clock::Instant::now().checked_add(timeout);
    loop {
        // SAFETY: forwarded from the caller.
        match unsafe { attach::<T>(ptr, len) } {
            Err(RegionError::NotReady) => {}
            other => return other,
        }
        // SAFETY: checked by check_ptr above: aligned, mapped, all atomics.
        let header = unsafe { &*ptr.cast::<Header>() };
        let seen = header.state.load(Ordering::Acquire);
        if seen == READY {
            continue;
        }
        // Bounded steps: on the Mach backend this word is in no registered region, so the
        // attacher parks in its process-private table while the creator's `wake_all` goes
        // through the region's table and never reaches it. Re-checking every
        // `ATTACH_RECHECK` ends the wait soon after READY on every backend.
        let step = hal::clock::Instant::now().checked_add(ATTACH_RECHECK);
        let until = match (deadline, step) {
            (Some(d), Some(s)) => Some(d.min(s)),
            (d, s) => d.or(s),
        };
        if hal::wait_until(&header.state, seen, until) == hal::Wait::TimedOut
            && deadline.is_some_and(|d| hal::clock::Instant::now() >= d)
        {
            // SAFETY: forwarded from the caller; one last look after the deadline.
            return unsafe { attach::<T>(ptr, len) };
        }
    }
}

/// Rewrites the protocol id of a ready region's header and re-seals its checksum, as if a
/// process speaking `raw` had created it. For tests of protocol mismatches only.
///
/// Real-time class: wait-free.
///
/// # Safety
/// `ptr` is the start of a live region created by [`init`].
#[doc(hidden)]
pub unsafe fn forge_protocol_for_tests(ptr: *mut u8, raw: u32) {
    // SAFETY: the caller passes a live region start: aligned, mapped, all atomics.
    let header = unsafe { &*ptr.cast::<Header>() };
    header.protocol.store(raw, Ordering::Relaxed);
    header
        .checksum
        .store(checksum(&header.fields()), Ordering::Release);
}

/// Safe wrappers over a [`hal::shm::Mapping`] (`std` feature).
#[cfg(all(feature = "std", unix))]
mod mapping {
    use super::*;
    use crate::hal::shm::Mapping;

    impl<'a, T: ShmSafe> Region<'a, T> {
        /// [`init`] over a whole mapping. Real-time class: may block.
        ///
        /// # Safety
        /// Exactly one process creates the region, and nobody uses older contents of this
        /// memory meanwhile (see [`init`]).
        pub unsafe fn init_in(mapping: &'a Mapping) -> Result<Self, RegionError> {
            // SAFETY: the mapping is live for 'a and read/write; the rest is the caller's.
            unsafe { init::<T>(mapping.as_ptr(), mapping.len()) }
        }

        /// [`attach`] over a whole mapping. Real-time class: wait-free.
        pub fn attach_in(mapping: &'a Mapping) -> Result<Self, RegionError> {
            // SAFETY: the mapping is live and read/write for 'a; shmsync types only touch
            // shared memory through atomics or their own protocols.
            unsafe { attach::<T>(mapping.as_ptr(), mapping.len()) }
        }
    }
}
