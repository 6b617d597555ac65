//! Time-unit conversions for the Darwin kernel waits, kept free of any OS call so that
//! they are unit-tested on every host.
//!
//! * [`Timebase`]: `mach_absolute_time` ticks ↔ nanoseconds. Apple Silicon reports
//!   `125/3` (24 MHz ticks, 41.67 ns each), Intel Macs `1/1`. Converting a deadline to
//!   ticks rounds **up**, so a deadline in ticks is never earlier than the one in ns.
//! * [`ulock_timeout_us`] / [`ulock_timeout_ns`]: the relative timeout argument of
//!   `__ulock_wait` (µs, `u32`) and `__ulock_wait2` (ns, `u64`). For both, **0 means wait
//!   forever**, so a finite timeout is never allowed to reach 0: it rounds up to one unit.
//!   `__ulock_wait`'s `u32` of µs holds at most 71.6 minutes; longer timeouts are clamped
//!   and the retry loop ([`crate::retry`]) waits again for the remainder.

/// The ratio `ns = ticks * numer / denom` that `mach_timebase_info` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timebase {
    numer: u32,
    denom: u32,
}

impl Timebase {
    /// One tick per nanosecond (Intel Macs; also what Miri reports).
    pub(crate) const IDENTITY: Timebase = Timebase { numer: 1, denom: 1 };

    /// The timebase for a `mach_timebase_info` answer. A zero in either field (which the
    /// kernel never reports) falls back to [`Timebase::IDENTITY`] rather than dividing by
    /// zero later.
    pub(crate) const fn new(numer: u32, denom: u32) -> Timebase {
        if numer == 0 || denom == 0 {
            Timebase::IDENTITY
        } else {
            Timebase { numer, denom }
        }
    }

    /// Packs into one `u64` (numerator high, denominator low) for caching in an atomic;
    /// never 0, so 0 can mean "not read yet".
    pub(crate) const fn pack(self) -> u64 {
        ((self.numer as u64) << 32) | self.denom as u64
    }

    /// The inverse of [`Timebase::pack`] (through [`Timebase::new`], so a corrupt value
    /// still yields a usable timebase).
    pub(crate) const fn unpack(packed: u64) -> Timebase {
        Timebase::new((packed >> 32) as u32, packed as u32)
    }

    /// `floor(ticks * numer / denom)`, saturating at `u64::MAX`.
    ///
    /// Split as `(ticks / denom) * numer + (ticks % denom) * numer / denom`, which is exact
    /// and needs no 128-bit division (a library call on both Apple architectures); the
    /// second product is below `2^64` because both factors are below `2^32`.
    #[inline]
    pub(crate) const fn ticks_to_ns(self, ticks: u64) -> u64 {
        if self.numer == self.denom {
            return ticks;
        }
        let (n, d) = (self.numer as u64, self.denom as u64);
        (ticks / d)
            .saturating_mul(n)
            .saturating_add((ticks % d) * n / d)
    }

    /// `ceil(ns * denom / numer)`, saturating at `u64::MAX`: the first tick count whose
    /// [`Timebase::ticks_to_ns`] is at least `ns` (unless saturated).
    ///
    /// Same split as above; `r * denom < 2^64` because `r < numer` and both are below `2^32`.
    #[inline]
    pub(crate) const fn ns_to_ticks_ceil(self, ns: u64) -> u64 {
        if self.numer == self.denom {
            return ns;
        }
        let (n, d) = (self.numer as u64, self.denom as u64);
        let (q, r) = (ns / n, ns % n);
        q.saturating_mul(d).saturating_add((r * d).div_ceil(n))
    }
}

/// Nanoseconds per microsecond.
#[cfg_attr(
    any(target_arch = "aarch64", feature = "app-store-safe"),
    allow(dead_code)
)]
const NS_PER_US: u64 = 1_000;

/// `__ulock_wait`'s timeout for `remaining_ns` of time left: microseconds rounded **up**,
/// at least 1 (0 would mean forever), at most `u32::MAX` (≈ 71.6 min; the retry loop
/// waits again for the rest).
// Used by ulock.rs where `__ulock_wait2` may be missing: all but arm64 macOS, default build.
#[cfg_attr(
    any(target_arch = "aarch64", feature = "app-store-safe"),
    allow(dead_code)
)]
#[inline]
pub(crate) const fn ulock_timeout_us(remaining_ns: u64) -> u32 {
    let us = remaining_ns.div_ceil(NS_PER_US);
    if us == 0 {
        1
    } else if us > u32::MAX as u64 {
        u32::MAX
    } else {
        us as u32
    }
}

/// `__ulock_wait2`'s timeout for `remaining_ns` of time left: the nanoseconds themselves,
/// at least 1 (0 would mean forever). The kernel saturates the resulting deadline, so no
/// upper clamp is needed.
// Used by ulock.rs, which the `app-store-safe` build leaves out.
#[cfg_attr(feature = "app-store-safe", allow(dead_code))]
#[inline]
pub(crate) const fn ulock_timeout_ns(remaining_ns: u64) -> u64 {
    if remaining_ns == 0 { 1 } else { remaining_ns }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Apple Silicon's timebase (24 MHz ticks).
    const ARM: Timebase = Timebase::new(125, 3);

    /// A small deterministic generator (64-bit LCG, Knuth's MMIX constants) so the
    /// property checks below are reproducible.
    fn lcg(state: &mut u64) -> u64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *state ^ (*state >> 29)
    }

    #[test]
    fn ulock_us_rounds_up_never_zero_and_clamps() {
        assert_eq!(ulock_timeout_us(0), 1);
        assert_eq!(ulock_timeout_us(1), 1);
        assert_eq!(ulock_timeout_us(999), 1);
        assert_eq!(ulock_timeout_us(1_000), 1);
        assert_eq!(ulock_timeout_us(1_001), 2);
        assert_eq!(ulock_timeout_us(50_000_000), 50_000);
        // The largest value that still fits, and the first that must clamp.
        assert_eq!(ulock_timeout_us(u32::MAX as u64 * 1_000), u32::MAX);
        assert_eq!(ulock_timeout_us(u32::MAX as u64 * 1_000 + 1), u32::MAX);
        assert_eq!(ulock_timeout_us(u64::MAX), u32::MAX);
    }

    #[test]
    fn ulock_ns_is_never_zero() {
        assert_eq!(ulock_timeout_ns(0), 1);
        assert_eq!(ulock_timeout_ns(1), 1);
        assert_eq!(ulock_timeout_ns(999), 999);
        assert_eq!(ulock_timeout_ns(u64::MAX), u64::MAX);
    }

    #[test]
    fn timebase_rejects_zero_and_round_trips_through_pack() {
        assert_eq!(Timebase::new(0, 3), Timebase::IDENTITY);
        assert_eq!(Timebase::new(125, 0), Timebase::IDENTITY);
        for tb in [ARM, Timebase::IDENTITY, Timebase::new(u32::MAX, 1)] {
            assert_ne!(tb.pack(), 0);
            assert_eq!(Timebase::unpack(tb.pack()), tb);
        }
        assert_eq!(Timebase::unpack(0), Timebase::IDENTITY);
    }

    #[test]
    fn apple_silicon_conversions_are_exact() {
        // 3 ticks are exactly 125 ns.
        assert_eq!(ARM.ticks_to_ns(3), 125);
        assert_eq!(ARM.ticks_to_ns(1), 41); // floor(41.67)
        assert_eq!(ARM.ns_to_ticks_ceil(125), 3);
        assert_eq!(ARM.ns_to_ticks_ceil(1), 1); // never rounds a positive time to 0 ticks
        assert_eq!(ARM.ns_to_ticks_ceil(42), 2); // 41 ns < 1 tick's 41.67 ns
        assert_eq!(ARM.ns_to_ticks_ceil(0), 0);
        // One second is 24 million ticks.
        assert_eq!(ARM.ns_to_ticks_ceil(1_000_000_000), 24_000_000);
        assert_eq!(ARM.ticks_to_ns(24_000_000), 1_000_000_000);
        // Identity is the identity.
        assert_eq!(Timebase::IDENTITY.ticks_to_ns(12_345), 12_345);
        assert_eq!(Timebase::IDENTITY.ns_to_ticks_ceil(12_345), 12_345);
    }

    #[test]
    fn conversions_match_128_bit_reference_and_saturate() {
        let bases = [
            ARM,
            Timebase::new(3, 125),
            Timebase::new(u32::MAX, 1),
            Timebase::new(1, u32::MAX),
            Timebase::new(u32::MAX, u32::MAX - 1),
            Timebase::new(7, 11),
        ];
        let mut s = 0x5eed;
        for tb in bases {
            let (n, d) = (tb.numer as u128, tb.denom as u128);
            for i in 0..2_000u32 {
                // Mix small, mid-sized and huge values.
                let x = match i % 3 {
                    0 => lcg(&mut s) % 10_000,
                    1 => lcg(&mut s) >> 20,
                    _ => lcg(&mut s),
                };
                let ns_ref = (x as u128 * n / d).min(u64::MAX as u128) as u64;
                assert_eq!(tb.ticks_to_ns(x), ns_ref, "{tb:?} ticks {x}");
                let ticks_ref = (x as u128 * d).div_ceil(n).min(u64::MAX as u128) as u64;
                assert_eq!(tb.ns_to_ticks_ceil(x), ticks_ref, "{tb:?} ns {x}");
                // A deadline converted to ticks is never earlier than the deadline.
                if ticks_ref < u64::MAX {
                    assert!(tb.ticks_to_ns(tb.ns_to_ticks_ceil(x)) >= x, "{tb:?} {x}");
                }
            }
        }
    }
}
