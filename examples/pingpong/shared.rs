//! The shared region both processes map, and the control protocol between them.
//!
//! ```text
//! offset 0        Control (640 bytes): magic, settings, command/ack words, the two
//!                 message words, each on its own 128-byte line
//! offset 4096     ping data: MAX_MSG bytes, parent → peer
//! offset 4096+64K pong data: MAX_MSG bytes, peer → parent
//! ```
//!
//! The data areas are plain bytes reached through raw pointers derived from the mapping:
//! the message word of each direction orders them (the writer publishes the word with
//! Release after copying; the reader copies after an Acquire load of the new word). Every
//! value the peer reads from here is checked or clamped (`size`, the CPU, the spin limit).

use shmsync::arch::CachePadded;
use shmsync::hal::atomic::AtomicU32;
use std::sync::atomic::AtomicU64;

/// Largest message the slot rows carry (64 KiB, the default pipe capacity on Linux).
pub const MAX_MSG: usize = 64 * 1024;
/// Smallest message: the 8-byte sequence number.
pub const MIN_MSG: usize = 8;
/// Offset of the parent → peer data area.
pub const PING_DATA: usize = 4096;
/// Offset of the peer → parent data area.
pub const PONG_DATA: usize = PING_DATA + MAX_MSG;
/// Bytes to map.
pub const REGION_LEN: usize = PONG_DATA + MAX_MSG;

/// Written by the parent before the peer starts; the peer refuses a region without it.
pub const MAGIC: u32 = u32::from_le_bytes(*b"ppg1");

/// `cmd` low byte: run the row with this number (1-based index into `rows::ALL`).
/// `cmd` low byte 0xFF: leave.
pub const CMD_QUIT: u32 = 0xFF;
/// `ack` low byte: the peer attached and is idle.
pub const ACK_HELLO: u32 = 1;
/// `ack` low byte: the peer set up the row's link and serves it.
pub const ACK_READY: u32 = 2;
/// `ack` low byte: the peer answered the stop message; `peer_count` holds its count.
pub const ACK_DONE: u32 = 3;
/// `ack` low byte: the peer could not set up the row (e.g. a ring role was taken).
pub const ACK_FAILED: u32 = 4;

/// `inject`: no fault.
pub const INJECT_NONE: u32 = 0;
/// `inject`: the peer does not answer message `inject_at`.
pub const INJECT_DROP: u32 = 1;
/// `inject`: the peer answers message `inject_at` twice.
pub const INJECT_DUP: u32 = 2;

/// The control block at offset 0. All zero bytes is the valid "nothing happened yet"
/// state; every field is fixed-width.
#[repr(C)]
pub struct Control {
    /// [`MAGIC`] once the parent filled in the settings.
    pub magic: AtomicU32,
    /// Message size in bytes (the peer clamps it to `MIN_MSG..=MAX_MSG`).
    pub size: AtomicU32,
    /// Fault to inject (`INJECT_*`), for testing the tool's own checks.
    pub inject: AtomicU32,
    /// The sequence number of the message the fault applies to.
    pub inject_at: AtomicU32,
    /// CPU to pin the peer to, plus one (0: do not pin).
    pub peer_cpu: AtomicU32,
    /// `Backoff` limit of the adaptive rows, plus one (0: the library default).
    pub spin_limit: AtomicU32,
    /// Messages the peer received in the last row (not counting the stop message).
    pub peer_count: AtomicU64,
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
    magic: 0, size: 4, inject: 8, inject_at: 12, peer_cpu: 16, spin_limit: 20, peer_count: 24,
    cmd: 128, ack: 256, ping: 384, pong: 512,
});
const _: () = assert!(core::mem::size_of::<Control>() <= PING_DATA);

/// The region as one process sees it: the control block and the two data areas.
pub struct Region {
    base: *mut u8,
}

impl Region {
    /// Views a mapping of at least [`REGION_LEN`] bytes.
    ///
    /// # Safety
    /// `base` is page-aligned, readable and writable for `REGION_LEN` bytes, and stays
    /// mapped for as long as the `Region` (and anything borrowed from it) is used.
    pub unsafe fn new(base: *mut u8) -> Self {
        Self { base }
    }

    /// The control block.
    pub fn control(&self) -> &Control {
        // SAFETY: `base` is page-aligned (≥ 128) and valid for REGION_LEN bytes, more than
        // size_of::<Control>()
        // (`new`'s contract); Control is all atomics, valid for any bit pattern, and is
        // only accessed through atomic operations by either process.
        unsafe { &*self.base.cast::<Control>() }
    }

    /// The parent → peer data area (`MAX_MSG` bytes).
    pub fn ping_data(&self) -> *mut u8 {
        // SAFETY: PING_DATA + MAX_MSG <= REGION_LEN, inside the mapping.
        unsafe { self.base.add(PING_DATA) }
    }

    /// The peer → parent data area (`MAX_MSG` bytes).
    pub fn pong_data(&self) -> *mut u8 {
        // SAFETY: PONG_DATA + MAX_MSG == REGION_LEN, inside the mapping.
        unsafe { self.base.add(PONG_DATA) }
    }
}
