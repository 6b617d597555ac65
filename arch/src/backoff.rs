//! A bounded spin schedule.

use crate::cpu_relax;

/// Exponential spin backoff that tells its caller when to stop spinning and park.
///
/// Step `k` (counting from 0) issues `2^k` [`cpu_relax`] calls. After `spin_limit` steps
/// [`is_completed`](Self::is_completed) turns true: the caller should stop burning CPU and
/// park (e.g. `shmsync_hal::wait`). With the default limit of [`DEFAULT_SPIN_LIMIT`](Self::DEFAULT_SPIN_LIMIT)
/// = 7 the whole budget is `2^7 - 1 = 127` relax calls:
///
/// | CPU | one `cpu_relax` | whole default budget |
/// |---|---|---|
/// | Intel Skylake and later (`pause` ≈ 140 cycles) | ≈ 40 ns at 3.5 GHz | ≈ 5 µs |
/// | Intel before Skylake, AMD Zen (`pause` ≈ 10–65 cycles) | 3–20 ns | 0.4–2.5 µs |
/// | aarch64 (`isb sy`, pipeline refill) | ≈ 5–15 ns | ≈ 0.6–2 µs |
///
/// The per-call figures are typical published latencies, not guarantees; the `arch` bench
/// (`cargo bench --bench arch`) measures them on the machine at hand. A budget of a few
/// microseconds covers a peer that answers "right away" (a lock held for a few hundred
/// instructions, a ring the other side is draining) while costing far less than one
/// park/unpark pair through the kernel.
///
/// Real-time class: **wait-free** — [`spin`](Self::spin) runs at most `2^spin_limit` relax
/// calls, and nothing here makes a syscall.
///
/// ```
/// use shmsync_arch::Backoff;
/// let mut backoff = Backoff::new();
/// let mut spins = 0;
/// while !backoff.is_completed() {
///     backoff.spin();
///     spins += 1;
/// }
/// assert_eq!(spins, Backoff::DEFAULT_SPIN_LIMIT);
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    step: u32,
    spin_limit: u32,
}

impl Backoff {
    /// Default number of exponential steps before [`is_completed`](Self::is_completed)
    /// (127 relax calls in all).
    pub const DEFAULT_SPIN_LIMIT: u32 = 7;

    /// Largest accepted limit: 16 steps, i.e. at most 65,535 relax calls (a few ms) in all.
    pub const MAX_SPIN_LIMIT: u32 = 16;

    /// A fresh schedule with the default limit. Real-time class: wait-free.
    #[inline]
    pub const fn new() -> Self {
        Self::with_limit(Self::DEFAULT_SPIN_LIMIT)
    }

    /// A fresh schedule that completes after `spin_limit` steps (clamped to
    /// [`MAX_SPIN_LIMIT`](Self::MAX_SPIN_LIMIT)); `0` never spins and is completed at once,
    /// which suits a caller that knows the peer is parked. Real-time class: wait-free.
    #[inline]
    pub const fn with_limit(spin_limit: u32) -> Self {
        let spin_limit = if spin_limit > Self::MAX_SPIN_LIMIT {
            Self::MAX_SPIN_LIMIT
        } else {
            spin_limit
        };
        Self {
            step: 0,
            spin_limit,
        }
    }

    /// Starts the schedule over (e.g. after progress was made). Real-time class: wait-free.
    #[inline]
    pub fn reset(&mut self) {
        self.step = 0;
    }

    /// Spins for the current step (`2^step` relax calls) and moves to the next one. Once the
    /// schedule is completed, each call spins for the last step again. Real-time class:
    /// wait-free.
    #[inline]
    pub fn spin(&mut self) {
        let shift = if self.step < self.spin_limit {
            self.step
        } else {
            self.spin_limit.saturating_sub(1)
        };
        for _ in 0..(1u32 << shift) {
            cpu_relax();
        }
        if self.step < self.spin_limit {
            self.step += 1;
        }
    }

    /// True once the spin budget is used up: time to park instead. Real-time class:
    /// wait-free.
    #[inline]
    pub fn is_completed(&self) -> bool {
        self.step >= self.spin_limit
    }

    /// How many steps have been taken so far. Real-time class: wait-free.
    #[inline]
    pub fn step(&self) -> u32 {
        self.step
    }

    /// Total relax calls a full schedule of this limit makes: `2^spin_limit - 1`.
    #[inline]
    pub const fn budget(&self) -> u32 {
        (1u32 << self.spin_limit) - 1
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_clamped_and_counted() {
        let b = Backoff::with_limit(99);
        assert_eq!(b.budget(), (1 << Backoff::MAX_SPIN_LIMIT) - 1);
        let zero = Backoff::with_limit(0);
        assert!(zero.is_completed());
        assert_eq!(zero.budget(), 0);
        let mut b = Backoff::with_limit(3);
        assert_eq!(b.budget(), 7);
        for expected_step in 1..=3 {
            assert!(!b.is_completed());
            b.spin();
            assert_eq!(b.step(), expected_step);
        }
        assert!(b.is_completed());
        b.spin();
        assert_eq!(b.step(), 3, "a completed schedule stays completed");
        b.reset();
        assert!(!b.is_completed());
    }
}
