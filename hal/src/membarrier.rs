//! The heavy half of an asymmetric fence: Linux `membarrier(2)`.
//!
//! A Dekker handshake (publisher: store the index, then load the peer's "parked" flag;
//! sleeper: store the flag, then load the index) needs a store–load barrier on *both*
//! sides. Where one side is hot (a ring's `try_push` on an audio thread) and the other rare
//! (a consumer about to sleep), the barrier can be moved entirely to the rare side:
//!
//! * the hot side issues only a **compiler** fence between its store and its load;
//! * the rare side calls [`heavy`] after its store and before its load. With
//!   `MEMBARRIER_CMD_GLOBAL_EXPEDITED` the kernel makes every CPU that is running a thread
//!   of a process *registered* with `MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED` execute a
//!   full memory barrier before the call returns (a CPU running anything else already
//!   passed one in its context switch), and the call itself is a full barrier for the
//!   caller. So wherever the interrupt lands in the hot side's store-then-load, either the
//!   store is visible to the sleeper's load, or the hot side's load comes after the
//!   barrier and sees the flag.
//!
//! The kernel's own documentation of the pairing: `membarrier(2)` ("`barrier()` in the fast
//! path pairs with `membarrier()` in the slow path"); the same scheme as liburcu's
//! `urcu-memb` flavour and folly's `asymmetricLightBarrier` / `asymmetricHeavyBarrier`.
//!
//! Both sides must agree that it is in use: a hot side may skip its fence only if every
//! sleeper it could wake calls [`heavy`]. This module only provides the OS call and the
//! process-wide registration state; the agreement is made by the caller (in `shmsync`, the
//! region header records it; see `shmsync::region`).
//!
//! Availability: Linux 4.16+ (`MEMBARRIER_CMD_QUERY` lists the commands); not on Android
//! builds with seccomp filters that refuse it, not under Miri, and not on other targets —
//! there [`register`] returns false and callers keep a `SeqCst` fence on both sides.
//! Cost, measured on a 2-vCPU x86_64 VM: ≈ 0.14 µs per [`heavy`] call when no registered
//! peer thread is running, a few µs when one is (one IPI); nothing for the hot side.

use core::sync::atomic::{AtomicU8, Ordering};

/// Registration state: not tried yet.
const UNKNOWN: u8 = 0;
/// Registered: this process's threads receive global expedited barriers, and [`heavy`]
/// issues them.
const ON: u8 = 1;
/// Unavailable (old kernel, refused by a filter, or not Linux).
const OFF: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

#[cfg(all(any(target_os = "linux", target_os = "android"), not(miri)))]
mod os {
    // From include/uapi/linux/membarrier.h (stable kernel ABI).
    pub(super) const CMD_QUERY: i32 = 0;
    pub(super) const CMD_GLOBAL: i32 = 1 << 0;
    pub(super) const CMD_GLOBAL_EXPEDITED: i32 = 1 << 1;
    pub(super) const CMD_REGISTER_GLOBAL_EXPEDITED: i32 = 1 << 2;

    /// `membarrier(cmd, 0, 0)`.
    #[inline]
    pub(super) fn membarrier(cmd: i32) -> i64 {
        // SAFETY: membarrier takes two integer arguments (flags, cpu_id) and no pointers.
        unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0, 0) as i64 }
    }
}

/// Registers this process for global expedited membarriers, once; later calls return the
/// cached answer. True when registered: from then on [`heavy`] is a full barrier on every
/// CPU running a thread of a registered process.
///
/// Call it before this process takes part in any handshake that relies on it (shmsync does
/// at region `init` / `attach`). Real-time class: **may block** on the first call (two
/// syscalls), wait-free afterwards.
pub fn register() -> bool {
    match STATE.load(Ordering::Acquire) {
        ON => return true,
        OFF => return false,
        _ => {}
    }
    let on = try_register();
    // Several threads may race here; they all reach the same answer from the same kernel.
    STATE.store(if on { ON } else { OFF }, Ordering::Release);
    on
}

#[cfg(all(any(target_os = "linux", target_os = "android"), not(miri)))]
fn try_register() -> bool {
    // `SHMSYNC_NO_MEMBARRIER` (any value) keeps the fence pair: the fallback path, for
    // tests of it and for side-by-side measurements.
    // SAFETY: the name is a NUL-terminated C string; getenv only reads the environment.
    if !unsafe { libc::getenv(c"SHMSYNC_NO_MEMBARRIER".as_ptr()) }.is_null() {
        return false;
    }
    let mask = os::membarrier(os::CMD_QUERY);
    let need = i64::from(os::CMD_GLOBAL_EXPEDITED | os::CMD_REGISTER_GLOBAL_EXPEDITED);
    if !(mask >= 0 && mask & need == need && os::membarrier(os::CMD_REGISTER_GLOBAL_EXPEDITED) == 0)
    {
        return false;
    }
    // A forked child gets a fresh mm whose registration the kernel does not copy, while
    // this module's state is copied: re-register in the child before it runs any user
    // code (a handler that fails leaves the child unregistered, publishing with fences).
    // SAFETY: `after_fork_child` is an `extern "C" fn()` with no preconditions; the
    // handler makes one raw syscall and one atomic store, both async-signal-safe.
    unsafe { libc::pthread_atfork(None, None, Some(after_fork_child)) == 0 }
}

/// The `pthread_atfork` child handler: the registration is per process.
#[cfg(all(any(target_os = "linux", target_os = "android"), not(miri)))]
extern "C" fn after_fork_child() {
    if os::membarrier(os::CMD_REGISTER_GLOBAL_EXPEDITED) != 0 {
        STATE.store(OFF, Ordering::Release);
    }
}

#[cfg(not(all(any(target_os = "linux", target_os = "android"), not(miri))))]
fn try_register() -> bool {
    false
}

/// Whether [`register`] succeeded in this process (false before it is called).
/// Real-time class: **wait-free** (one load).
#[inline(always)]
pub fn is_registered() -> bool {
    STATE.load(Ordering::Acquire) == ON
}

/// The heavy barrier: returns once every CPU running a thread of a registered process has
/// executed a full memory barrier (and the caller has, too). Does nothing but a `SeqCst`
/// fence when this process is not registered — callers only rely on it after
/// [`register`] returned true.
///
/// If the expedited command fails (it can only for lack of kernel memory), the
/// non-expedited `MEMBARRIER_CMD_GLOBAL` (an RCU grace period: milliseconds, but the same
/// guarantee for every process) is used instead; true when either succeeded.
///
/// Real-time class: **may block** (a syscall that interrupts other CPUs).
#[inline]
pub fn heavy() -> bool {
    core::sync::atomic::fence(Ordering::SeqCst);
    if !is_registered() {
        return false;
    }
    #[cfg(all(any(target_os = "linux", target_os = "android"), not(miri)))]
    {
        os::membarrier(os::CMD_GLOBAL_EXPEDITED) == 0 || os::membarrier(os::CMD_GLOBAL) == 0
    }
    #[cfg(not(all(any(target_os = "linux", target_os = "android"), not(miri))))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_is_cached_and_heavy_agrees() {
        let first = register();
        assert_eq!(register(), first);
        assert_eq!(is_registered(), first);
        assert_eq!(heavy(), first);
    }
}
