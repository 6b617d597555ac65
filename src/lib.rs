//! shmsync: low-latency wait/wake, locks and fixed-size rings that live in shared memory
//! the caller maps.
#![no_std]

#[cfg(feature = "std")]
extern crate std;

pub use shmsync_arch as arch;
pub use shmsync_hal as hal;

pub mod region;
mod shm_safe;

pub use region::{Options, Region, RegionError, attach, attach_timeout, init, init_with};
pub use shm_safe::{ShmSafe, tag, tag_with};
