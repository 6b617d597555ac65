//! Probe functions for `ci/check-asm.sh`. Each is `extern "C"` and unmangled so the
//! disassembly can be searched by name; the script asserts which instruction each emits.
#![no_std]

/// One `cpu_relax`: must disassemble to `pause` (x86_64) or `isb` (aarch64) plus a return.
#[unsafe(no_mangle)]
pub extern "C" fn shmsync_probe_cpu_relax() {
    shmsync_arch::cpu_relax();
}

/// `steps` steps of a fresh default [`Backoff`](shmsync_arch::Backoff), so the hint is also
/// checked after inlining into a loop (the way the locks and rings call it).
#[unsafe(no_mangle)]
pub extern "C" fn shmsync_probe_backoff_spin(steps: u32) {
    let mut backoff = shmsync_arch::Backoff::new();
    for _ in 0..steps {
        backoff.spin();
    }
}
