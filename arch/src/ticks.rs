//! A cheap monotonic tick counter.

/// Whether [`ticks`] exists on this target (x86, x86_64 and aarch64).
pub const HAS_TICKS: bool = cfg!(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_arch = "aarch64"
));

/// Reads the CPU's free-running counter: `rdtsc` on x86/x86_64, `cntvct_el0` on aarch64.
///
/// **Not wall time.** The unit is a tick of that counter: the invariant TSC's nominal
/// frequency on x86 (often 1–4 GHz), the generic timer on aarch64 (24 MHz on Apple M1–M3,
/// 1 GHz on Armv8.6+ parts, often 19.2–100 MHz elsewhere). Use it to bound a spin loop
/// ("give up after about N ticks"), never to compute durations shown to people: the
/// hal's clock does that.
///
/// The counter is monotonic on one core and, on every CPU shmsync targets, synchronised
/// across cores; `rdtsc` is not serialising, so the read may be reordered by a few
/// instructions, which a spin budget does not care about.
///
/// Real-time class: **wait-free** (one instruction, no syscall). Only compiled where
/// [`HAS_TICKS`] is true.
#[cfg(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
pub fn ticks() -> u64 {
    // Miri cannot run inline assembly: a shared counter stands in (monotonic, advancing by
    // one per read), which is all a spin budget relies on.
    #[cfg(miri)]
    {
        use core::sync::atomic::{AtomicU64, Ordering};
        static FAKE: AtomicU64 = AtomicU64::new(0);
        FAKE.fetch_add(1, Ordering::Relaxed) + 1
    }
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        let lo: u32;
        let hi: u32;
        // SAFETY: `rdtsc` reads the time-stamp counter into edx:eax; it touches no memory.
        // User-mode `rdtsc` is allowed on every OS shmsync supports (CR4.TSD clear).
        unsafe {
            core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags));
        }
        ((hi as u64) << 32) | lo as u64
    }
    #[cfg(all(target_arch = "x86", not(miri)))]
    {
        let lo: u32;
        let hi: u32;
        // SAFETY: as on x86_64: `rdtsc` only writes edx:eax.
        unsafe {
            core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags));
        }
        ((hi as u64) << 32) | lo as u64
    }
    #[cfg(all(target_arch = "aarch64", not(miri)))]
    {
        let t: u64;
        // SAFETY: `cntvct_el0` is readable from EL0 on Linux and macOS (CNTKCTL_EL1.EL0VCTEN
        // is set by both kernels); the read touches no memory.
        unsafe {
            core::arch::asm!("mrs {}, cntvct_el0", out(reg) t, options(nomem, nostack, preserves_flags));
        }
        t
    }
}

#[cfg(all(
    test,
    any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")
))]
mod tests {
    #[test]
    fn ticks_never_go_backwards_and_do_advance() {
        let first = super::ticks();
        let mut last = first;
        for _ in 0..if cfg!(miri) { 100 } else { 100_000 } {
            let now = super::ticks();
            assert!(now >= last, "tick counter went backwards: {now} < {last}");
            last = now;
        }
        assert!(last > first, "tick counter did not advance over 100k reads");
    }
}
