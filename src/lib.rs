//! shmsync: low-latency wait/wake, locks and fixed-size rings that live in shared memory
//! the caller maps.
#![no_std]

#[cfg(feature = "std")]
extern crate std;

pub use shmsync_arch as arch;
pub use shmsync_hal as hal;

pub mod region;
pub mod ring;
mod shm_safe;

pub use region::{Options, Region, RegionError, attach, attach_timeout, init, init_with};
pub use ring::{Mpmc, MsgRing, Spsc};
pub use shm_safe::{ShmSafe, tag, tag_with};

// The loom models (`src/sync/loom_tests.rs`) use std threads and collections.
#[cfg(all(loom, test, not(feature = "std")))]
extern crate std;

pub mod sync;

pub use sync::{AutoResetEvent, Condvar, ManualResetEvent, Mutex, RwLock, Semaphore};
