//! Optional per-thread counting of the wait and wake syscalls the kernel backends make.
//!
//! With the `count-syscalls` feature, every wait syscall and every wake syscall issued by a
//! thread increments that thread's counters, which [`snapshot`] reads. Tests and the
//! real-time proofs use it to show that a non-blocking path made **zero** syscalls and a
//! blocking hand-off at most one wake per park. Without the feature the hooks compile to
//! nothing and [`snapshot`] does not exist.

#[cfg(feature = "count-syscalls")]
mod imp {
    use core::cell::Cell;

    std::thread_local! {
        static WAITS: Cell<u64> = const { Cell::new(0) };
        static WAKES: Cell<u64> = const { Cell::new(0) };
    }

    /// Syscalls made by the calling thread since it started.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Counts {
        /// Wait syscalls (each retry after a signal counts again).
        pub waits: u64,
        /// Wake syscalls.
        pub wakes: u64,
    }

    impl core::ops::Sub for Counts {
        type Output = Counts;
        fn sub(self, rhs: Counts) -> Counts {
            Counts {
                waits: self.waits - rhs.waits,
                wakes: self.wakes - rhs.wakes,
            }
        }
    }

    /// The calling thread's counters. Real-time class: wait-free.
    pub fn snapshot() -> Counts {
        Counts {
            waits: WAITS.with(Cell::get),
            wakes: WAKES.with(Cell::get),
        }
    }

    #[inline]
    #[allow(dead_code)] // unused where the active backend makes no syscall (spin)
    pub(crate) fn wait_syscall() {
        WAITS.with(|c| c.set(c.get() + 1));
    }

    #[inline]
    #[allow(dead_code)] // unused where the active backend makes no syscall (spin)
    pub(crate) fn wake_syscall() {
        WAKES.with(|c| c.set(c.get() + 1));
    }
}

#[cfg(not(feature = "count-syscalls"))]
mod imp {
    #[inline(always)]
    #[allow(dead_code)]
    pub(crate) fn wait_syscall() {}

    #[inline(always)]
    #[allow(dead_code)]
    pub(crate) fn wake_syscall() {}
}

#[allow(unused_imports)]
pub use imp::*;
