//! The shared region both processes map, and the control protocol between them.
//!
//! ```text
//! offset 0             shmsync region header, then the root type `Shared` (control
//!                      block and the ring rows' two `Spsc` rings; validated by
//!                      `shmsync::attach` in the peer)
//! data_offset()        ping data: MAX_MSG bytes, parent → peer
//! + MAX_MSG            pong data: MAX_MSG bytes, peer → parent
//! ```
//!
//! The data areas are plain bytes reached through raw pointers derived from the mapping,
//! outside the root type: the message word of each direction orders them (the writer
//! publishes the word with Release after copying; the reader copies after an Acquire
//! load of the new word). Every value the peer reads from here is checked or clamped
//! (the size, the CPU, the spin limit, the row number).

use shmsync::ShmSafe;

use crate::ring::{RING_N, Ring};
use shmsync::arch::CachePadded;
use shmsync::hal::atomic::AtomicU32;
use std::sync::atomic::AtomicU64;

/// Largest message the slot rows carry (64 KiB, the default pipe capacity on Linux).
pub const MAX_MSG: usize = 64 * 1024;
/// Smallest message: the 8-byte sequence number.
pub const MIN_MSG: usize = 8;

/// `cmd` low byte: run the row with this number (1-based index into `rows::ALL`).
/// `cmd` low byte 0xFF: leave.
pub const CMD_QUIT: u32 = 0xFF;
/// `ack` low byte: the peer attached and is idle.
pub const ACK_HELLO: u32 = 1;
/// `ack` low byte: the peer set up the row's link and serves it.
pub const ACK_READY: u32 = 2;
/// `ack` low byte: the peer answered the stop message; `peer_count` holds its count.
pub const ACK_DONE: u32 = 3;
/// `ack` low byte: the peer could not set up the row (unknown or unavailable row).
pub const ACK_FAILED: u32 = 4;

/// `inject`: no fault.
pub const INJECT_NONE: u32 = 0;
/// `inject`: the peer does not answer message `inject_at`.
pub const INJECT_DROP: u32 = 1;
/// `inject`: the peer answers message `inject_at` twice.
pub const INJECT_DUP: u32 = 2;

/// The control block. All zero bytes is the valid "nothing happened yet" state; every
/// field is fixed-width.
#[repr(C)]
pub struct Control {
    /// Message size in bytes (the peer clamps it to `MIN_MSG..=MAX_MSG`).
    pub size: AtomicU32,
    /// Fault to inject (`INJECT_*`), for testing the tool's own checks.
    pub inject: AtomicU32,
    /// The sequence number of the message the fault applies to.
    pub inject_at: AtomicU32,
    /// CPU to pin the peer to, plus one (0: do not pin).
    pub peer_cpu: AtomicU32,
    /// `Backoff` limit of the adaptive rows (hal-adaptive, ring-adaptive), plus one (0: the library default).
    pub spin_limit: AtomicU32,
    /// Messages the peer received in the last row (not counting the stop message).
    pub peer_count: AtomicU64,
    /// Wait syscalls the peer made in the last row (`link::SLEEPS`).
    pub peer_sleeps: AtomicU64,
    /// Parent → peer: `generation << 8 | row number` or `CMD_QUIT`; each command carries
    /// a new generation, so the word always changes.
    pub cmd: CachePadded<AtomicU32>,
    /// Peer → parent: `generation << 8 | ACK_*`.
    pub ack: CachePadded<AtomicU32>,
    /// The parent → peer message word (a send count, in the row's encoding).
    pub ping: CachePadded<AtomicU32>,
    /// The peer → parent message word.
    pub pong: CachePadded<AtomicU32>,
}

shmsync::assert_layout!(Control, size = 640, align = 128, offsets = {
    size: 0, inject: 4, inject_at: 8, peer_cpu: 12, spin_limit: 16, peer_count: 24,
    peer_sleeps: 32,
    cmd: 128, ack: 256, ping: 384, pong: 512,
});

/// The region's root type.
#[repr(C)]
pub struct Shared {
    /// Settings, handshakes and the slot rows' message words.
    pub control: Control,
    /// The ring rows' parent → peer ring.
    pub to_peer: Ring,
    /// The ring rows' peer → parent ring.
    pub to_parent: Ring,
}

/// One ring: 384 bytes of indices and roles, then 8,192 slots of 8 bytes.
const RING_SIZE: usize = 384 + 8 * RING_N;
// Not under `--cfg loom` (the loom lane builds this example's tests too): there the rings
// use loom's atomics, whose layout is not the shared-memory one.
#[cfg(not(loom))]
shmsync::assert_layout!(Shared, size = 640 + 2 * RING_SIZE, align = 128, offsets = {
    control: 0, to_peer: 640, to_parent: 640 + RING_SIZE,
});

// SAFETY: repr(C) of fixed-width atomics (AtomicU64 is 8-aligned on every 64-bit target
// shmsync supports, asserted above) and two rings (ShmSafe); zero is the idle state and
// empty rings, any bit pattern is a valid (if wrong) value that the peer checks or the
// rings reject; no process-local state.
unsafe impl ShmSafe for Shared {
    const TAG: u64 = shmsync::tag_with(shmsync::tag(b"examples/pingpong::Shared v2"), Ring::TAG);
}

/// Where the data areas start: after the region header and root, on a page boundary.
pub fn data_offset() -> usize {
    shmsync::region::required_len::<Shared>().next_multiple_of(4096)
}

/// Bytes to map.
pub fn region_len() -> usize {
    data_offset() + 2 * MAX_MSG
}

/// The region as one process sees it: the validated root and the two data areas.
///
/// Holds the `shmsync::Region` handle for as long as the process uses the region: with
/// the Mach wake protocol (macOS) that handle is the process's membership of the region's
/// waiter table, and dropping it would leave the table.
pub struct Mem<'a> {
    root: shmsync::Region<'a, Shared>,
    base: *mut u8,
}

impl<'a> Mem<'a> {
    /// Creates the region (header and zeroed root) in a fresh mapping.
    ///
    /// # Safety
    /// `base` is page-aligned, readable and writable for [`region_len`] bytes for `'a`,
    /// and nobody else uses the memory yet.
    pub unsafe fn create(base: *mut u8) -> Result<Self, shmsync::RegionError> {
        // SAFETY: forwarded from the caller; the root part is data_offset() bytes.
        let root = unsafe { shmsync::init::<Shared>(base, data_offset()) }?;
        Ok(Self { root, base })
    }

    /// Attaches to a region another process created, validating its header.
    ///
    /// # Safety
    /// `base` is page-aligned, readable and writable for [`region_len`] bytes for `'a`.
    pub unsafe fn attach(base: *mut u8) -> Result<Self, shmsync::RegionError> {
        // SAFETY: forwarded from the caller.
        let root = unsafe { shmsync::attach::<Shared>(base, data_offset()) }?;
        Ok(Self { root, base })
    }

    /// The control block.
    pub fn control(&self) -> &'a Control {
        &self.root.get().control
    }

    /// The whole root (control block and rings).
    pub fn shared(&self) -> &'a Shared {
        self.root.get()
    }

    /// The parent → peer data area (`MAX_MSG` bytes).
    pub fn ping_data(&self) -> *mut u8 {
        // SAFETY: data_offset() + MAX_MSG < region_len(), inside the mapping.
        unsafe { self.base.add(data_offset()) }
    }

    /// The peer → parent data area (`MAX_MSG` bytes).
    pub fn pong_data(&self) -> *mut u8 {
        // SAFETY: data_offset() + 2 * MAX_MSG == region_len(), inside the mapping.
        unsafe { self.base.add(data_offset() + MAX_MSG) }
    }
}
