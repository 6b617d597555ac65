//! The atomic types shmsync uses, from `core` where the target has 32-bit compare-and-swap
//! and from `portable-atomic` (with its `critical-section` implementation) where it does
//! not, such as `thumbv6m-none-eabi`. Both have the layout of a plain `u32`.
//!
//! On targets without native CAS the final binary must provide a `critical-section`
//! implementation (e.g. `cortex-m`'s `critical-section-single-core` feature).

#[cfg(target_has_atomic = "32")]
pub use core::sync::atomic::{AtomicBool, AtomicU32, Ordering, fence};

#[cfg(not(target_has_atomic = "32"))]
pub use portable_atomic::{AtomicBool, AtomicU32, Ordering, fence};

const _: () = assert!(core::mem::size_of::<AtomicU32>() == 4);
const _: () = assert!(core::mem::align_of::<AtomicU32>() == 4);
