//! CPU-level building blocks for shmsync, with no dependencies and no `std`.
//!
//! * [`cpu_relax`]: one spin-wait hint, written as inline assembly so the instruction is
//!   fixed and auditable: `pause` on x86/x86_64, `isb sy` on aarch64.
//! * [`Backoff`]: a bounded, documented spin schedule that tells its caller when to stop
//!   spinning and park.
//! * [`CachePadded`]: 128-byte alignment, so two hot indices never share a cache line
//!   (or an adjacent-line prefetch pair).
//! * [`ticks`]: a cheap, monotonic CPU tick counter for spin budgets (not wall time).
//!
//! Every item here is *wait-free*: bounded steps, no syscall, no allocation.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
mod cache_padded;
mod relax;
mod ticks;

pub use backoff::Backoff;
pub use cache_padded::{CACHE_LINE, CachePadded};
pub use relax::cpu_relax;
pub use ticks::HAS_TICKS;
#[cfg(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64"))]
pub use ticks::ticks;
