//! The spin-wait hint.

/// Tells the CPU that the caller is spinning on a memory location, once.
///
/// * x86 / x86_64: `pause`. It de-pipelines the spin loop (avoiding the memory-order
///   mis-speculation flush when the line finally changes) and yields issue slots to the
///   sibling hyper-thread. Its latency is about 10 cycles before Skylake and about 140
///   cycles from Skylake on (Intel optimisation manual, §2.2.4), so spin budgets are
///   counted in calls, not time — see [`crate::Backoff`].
/// * aarch64: `isb sy`. Unlike `yield` (a no-op on Apple M-series and most Arm cores),
///   an instruction barrier actually stalls the core for a short while, which is what
///   a spin loop wants; Rust's `core::hint::spin_loop` made the same choice.
/// * anything else, and under Miri: [`core::hint::spin_loop`].
///
/// Real-time class: **wait-free** (one instruction, no memory access).
#[inline(always)]
pub fn cpu_relax() {
    #[cfg(all(any(target_arch = "x86", target_arch = "x86_64"), not(miri)))]
    // SAFETY: `pause` has no operands, touches no memory and no flags; it is valid on
    // every x86 CPU (it decodes as `rep nop` on CPUs that predate SSE2).
    unsafe {
        core::arch::asm!("pause", options(nomem, nostack, preserves_flags));
    }
    #[cfg(all(target_arch = "aarch64", not(miri)))]
    // SAFETY: `isb sy` only flushes the instruction pipeline; it touches no memory,
    // no registers and no flags, and is available at every exception level.
    unsafe {
        core::arch::asm!("isb sy", options(nomem, nostack, preserves_flags));
    }
    // Miri cannot run inline assembly; it gets the portable hint (same instruction in the end).
    #[cfg(any(
        miri,
        not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64"))
    ))]
    core::hint::spin_loop();
}
