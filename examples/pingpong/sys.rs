//! The few OS-specific bits: CPU pinning and the machine's load, for the report header.

use std::io;

/// Pins the calling thread to `cpu` (`sched_setaffinity`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn pin_to(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is a plain bit array; all zeros is the empty set.
    let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
    if cpu >= 8 * core::mem::size_of::<libc::cpu_set_t>() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "CPU number too large",
        ));
    }
    // SAFETY: `cpu` is below the set's bit count (checked above), so the write is in
    // bounds of `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is the calling thread.
    let r = unsafe { libc::sched_setaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &set) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// CPU pinning is unavailable: macOS has no public call that binds a thread to a core
/// (its affinity tags, `THREAD_AFFINITY_POLICY`, are scheduling hints, documented as
/// unsupported on Apple silicon). Not verified on a Mac from here.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn pin_to(_cpu: usize) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "CPU pinning is not available on this OS (macOS has no public API to bind a thread to a core)",
    ))
}

/// The 1-minute load average, when the OS tells it cheaply (Linux `/proc/loadavg`).
pub fn load_average() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Logical CPUs available to this process.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
