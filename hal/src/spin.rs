//! Spin backend, for targets with no operating system (and for tests of protocol
//! mismatches elsewhere).
//!
//! Waiters spin with [`cpu_relax`] until the word changes or the deadline passes; wakes
//! do nothing, because nobody sleeps. On targets with no OS and no registered clock
//! (see [`crate::clock::set_source`]), each relax call counts as [`NOMINAL_RELAX_NS`]
//! nanoseconds of virtual time, so timed waits still end.

#![allow(dead_code)] // compiled everywhere for tests; the active backend only on no-OS targets

use crate::Wait;
use crate::atomic::{AtomicU32, Ordering};
use crate::clock::Instant;
use shmsync_arch::cpu_relax;

/// Nominal cost of one `cpu_relax` used to advance virtual time when no clock is
/// registered: 20 ns, the order of a relax call on a microcontroller at 50–200 MHz.
pub(crate) const NOMINAL_RELAX_NS: u32 = 20;

/// How many relax calls between clock reads (clock reads may be slow peripherals).
const RELAX_PER_CLOCK_READ: u32 = 64;

pub(crate) fn wait_until(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Wait {
    loop {
        for _ in 0..RELAX_PER_CLOCK_READ {
            if word.load(Ordering::Acquire) != expected {
                return Wait::Woken;
            }
            cpu_relax();
        }
        #[cfg(not(unix))]
        crate::clock::advance_virtual(NOMINAL_RELAX_NS * RELAX_PER_CLOCK_READ);
        if let Some(d) = deadline {
            if Instant::now() >= d {
                return Wait::TimedOut;
            }
        }
    }
}

pub(crate) fn wake(_word: &AtomicU32, _all: bool) {}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use core::time::Duration;

    #[test]
    fn spin_wait_times_out_and_sees_changes() {
        let w = AtomicU32::new(5);
        let d = Instant::now().checked_add(Duration::from_micros(200));
        assert_eq!(wait_until(&w, 5, d), Wait::TimedOut);
        assert!(Instant::now() >= d.unwrap());
        assert_eq!(wait_until(&w, 4, None), Wait::Woken);
    }
}
