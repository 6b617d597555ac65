//! shmsync: low-latency wait/wake, locks and fixed-size rings that live in shared memory
//! the caller maps — built first for real-time audio plugins and the helper processes they
//! talk to (macOS), and just as much at home on Linux.
//!
//! * [`region`]: [`init`] places the caller's root type in memory it mapped (`shm_open`,
//!   memfd, a file, an app-group container) behind a validated header; [`attach`] lets any
//!   other process, at any address, get the same root — or a typed [`RegionError`].
//! * [`sync`]: [`Mutex`] (with owner-death recovery), [`Condvar`], [`Semaphore`],
//!   [`RwLock`], [`AutoResetEvent`], [`ManualResetEvent`].
//! * [`ring`]: [`Spsc`] (wait-free ends for an audio thread), [`Mpmc`], [`MsgRing`]
//!   (variable-length messages).
//! * [`hal`] (the `shmsync-hal` crate): futex-style `wait` / `wake_one` / `wake_all` on a
//!   shared `AtomicU32` — Linux futex, Darwin ulock / os_sync / Mach, or spinning.
//! * [`arch`] (the `shmsync-arch` crate): `cpu_relax`, `Backoff`, `CachePadded`.
//!
//! Everything here is `no_std` and allocation-free; the `std` feature adds helpers that map
//! shared memory (`hal::shm`). Every shared type is `#[repr(C)]` over fixed-width fields
//! (identical layout on x86_64 and aarch64, Linux and macOS), valid as all-zero bytes, and
//! treats the other process as untrusted: corruption gives an error or a wrong value, never
//! undefined behaviour. Each public operation states its real-time class: *wait-free*,
//! *lock-free*, *may wake* (one syscall only when a peer is parked) or *may block*.
//!
//! ```
//! # #[cfg(all(unix, not(miri)))] {
//! use shmsync::{Mutex, ShmSafe, Spsc};
//! use shmsync::hal::shm::SharedMemory;
//!
//! #[repr(C)]
//! struct Shared {
//!     to_helper: Spsc<[f32; 64], 8>,
//!     gain: Mutex<f32>,
//! }
//! // SAFETY: repr(C) of shmsync types and an f32: fixed layout, all-zero valid.
//! unsafe impl ShmSafe for Shared {
//!     const TAG: u64 = shmsync::tag(b"example::Shared v1");
//! }
//!
//! let shm = SharedMemory::create(shmsync::region::required_len::<Shared>()).unwrap();
//! let (host_map, helper_map) = (shm.map().unwrap(), shm.map().unwrap());
//! // SAFETY: fresh mappings, used only through shmsync, outlive the regions.
//! let host = unsafe { shmsync::init::<Shared>(host_map.as_ptr(), host_map.len()) }.unwrap();
//! // Usually in the helper process; here a second mapping at another address.
//! let helper = unsafe { shmsync::attach::<Shared>(helper_map.as_ptr(), helper_map.len()) }.unwrap();
//!
//! let mut tx = host.to_helper.producer().unwrap(); // role claimed in shared memory
//! let mut rx = helper.to_helper.consumer().unwrap();
//! tx.try_push([0.5; 64]).unwrap(); // wait-free, no syscall
//! assert_eq!(rx.try_pop().unwrap()[0], 0.5);
//! *helper.gain.lock().unwrap() = 0.8;
//! assert_eq!(*host.gain.lock().unwrap(), 0.8);
//! # }
//! ```
#![no_std]

#[cfg(feature = "std")]
extern crate std;
// The loom models (`src/sync/loom_tests.rs`) use std threads and collections.
#[cfg(all(loom, test, not(feature = "std")))]
extern crate std;

pub use shmsync_arch as arch;
pub use shmsync_hal as hal;

pub mod region;
pub mod ring;
mod shm_safe;
pub mod sync;

pub use region::{Options, Region, RegionError, attach, attach_timeout, init, init_with};
pub use ring::{Mpmc, MsgRing, Spsc};
pub use shm_safe::{ShmSafe, tag, tag_with};
pub use sync::{AutoResetEvent, Condvar, ManualResetEvent, Mutex, RwLock, Semaphore};
