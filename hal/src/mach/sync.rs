//! The atomics the waiter table uses: the hal's own (`core` or `portable-atomic`) in normal
//! builds, loom's model-checked ones under `--cfg loom`, so that the very code that runs in
//! shared memory is what loom explores.

#[cfg(not(all(loom, test)))]
pub(crate) use crate::atomic::{AtomicU32, Ordering, fence};

#[cfg(all(loom, test))]
pub(crate) use loom::sync::atomic::{AtomicU32, Ordering, fence};

/// A new atomic; `const` outside loom (loom's atomics register with the model at creation).
#[cfg(not(all(loom, test)))]
pub(crate) const fn atomic(v: u32) -> AtomicU32 {
    AtomicU32::new(v)
}

/// A new atomic; `const` outside loom (loom's atomics register with the model at creation).
#[cfg(all(loom, test))]
pub(crate) fn atomic(v: u32) -> AtomicU32 {
    AtomicU32::new(v)
}
