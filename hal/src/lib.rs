//! Futex-style wait and wake on a 32-bit word that may live in memory shared between
//! processes, with timeouts, plus the monotonic clock they are measured on.
//!
//! ```
//! use core::sync::atomic::{AtomicU32, Ordering};
//! use core::time::Duration;
//! use shmsync_hal as hal;
//!
//! let word = AtomicU32::new(0);
//! // Nobody changes the word: a short timed wait comes back TimedOut.
//! assert_eq!(hal::wait(&word, 0, Some(Duration::from_micros(50))), hal::Wait::TimedOut);
//! // The word differs from `expected`: the wait returns at once.
//! word.store(1, Ordering::Release);
//! assert_eq!(hal::wait(&word, 0, None), hal::Wait::Woken);
//! hal::wake_one(&word); // nobody waits: harmless
//! ```
//!
//! # Contract
//! * [`wait`] blocks only while `word == expected`; it may return [`Wait::Woken`]
//!   spuriously, so callers re-check their condition in a loop.
//! * `None` waits without a time limit; `Some(Duration::ZERO)` only compares (no syscall);
//!   every positive timeout, however small, returns in bounded time — it is never rounded
//!   down to "forever" (Darwin's ulock reads a zero timeout as forever). A timeout too large
//!   to represent saturates to "no time limit".
//! * Interrupted waits (signals) are resumed against the same deadline.
//! * [`wake_one`] / [`wake_all`] with nobody waiting are cheap no-ops (one syscall on kernel
//!   backends; callers keep a "someone is parked" flag to skip even that).
//! * Waits and wakes match by the word's *shared* identity (the memory object and offset),
//!   so processes that map one region at different addresses meet on the same word.
//! * With the `rtsan` feature, [`wait`] / [`wait_until`] tell RealtimeSanitizer they block
//!   (reported as `shmsync_hal::wait`) right before every kernel or spin wait — not for a
//!   zero timeout or a past deadline, which only compare. Wakes are not marked ("may
//!   wake" is allowed on a real-time thread), though on Linux RTSan intercepts their
//!   futex `syscall` by itself. Inert unless built with `RTSAN_ENABLE=1`.
//!
//! # Backends
//! One module per backend; [`backend`] reports the active one and the wake protocol it
//! speaks, which region headers record so that processes speaking another protocol are
//! refused at attach time.
//!
//! | backend | where | protocol |
//! |---|---|---|
//! | [`Backend::Futex`] | Linux, Android | [`WakeProtocol::KernelAddress`] |
//! | [`Backend::OsSync`] | macOS 14.4+ (public `os_sync_wait_on_address`, looked up at run time) | [`WakeProtocol::KernelAddress`] |
//! | [`Backend::Ulock`] | macOS 10.15–14.3, default build only (private `__ulock_*`) | [`WakeProtocol::KernelAddress`] |
//! | [`Backend::Mach`] | macOS < 14.4 with `app-store-safe`, 10.12–10.14, or `force-mach` (public Mach semaphores + a waiter table in the region) | [`WakeProtocol::MachTable`] |
//! | [`Backend::Spin`] | targets with no OS | [`WakeProtocol::Spin`] |
//!
//! On Apple targets the backend is chosen at run time (see [`init`]; call it at start-up).
//! The `app-store-safe` feature leaves the private ulock API out of the binary entirely.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "std")]
extern crate std;

// Platforms are stated, not guessed: an OS with no wait/wake backend would otherwise get
// the spin backend silently (wakes are no-ops, waiters busy-wait, and off Unix the clock
// is virtual). Building there needs the explicit `spin` opt-in; the error names the target.
macro_rules! no_backend {
    ($($cfg:meta => $name:literal),* $(,)?) => {$(
        #[cfg(all($cfg, not(feature = "spin")))]
        compile_error!(concat!(
            "shmsync-hal has no wait/wake backend for ", $name, " (only Linux, Android and ",
            "Apple OSes have one). To build with the spin backend anyway, enable the `spin` ",
            "feature (`shmsync/spin` or `shmsync-hal/spin`): waiters then busy-wait on the ",
            "CPU, wakes do nothing, and without an OS clock (see `clock::set_source`) ",
            "timeouts count virtual time. It is meant for bare-metal targets."
        ));
    )*};
}
no_backend! {
    target_os = "windows" => "Windows",
    target_os = "none" => "bare-metal targets (target_os = \"none\")",
    target_family = "wasm" => "WebAssembly",
    all(
        not(any(target_os = "linux", target_os = "android", target_vendor = "apple")),
        not(any(target_os = "windows", target_os = "none", target_family = "wasm"))
    ) => "this operating system (a Unix without a supported wait/wake syscall, or another OS)",
}

pub mod atomic;
mod backend;
pub mod clock;
pub mod count;
pub mod membarrier;
pub mod process;
mod spin;

#[cfg(target_vendor = "apple")]
mod darwin;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod futex;
// The Darwin backends' errno policy, retry loop and unit conversions: compiled where they
// are used and, for their unit tests, on every host.
// The macOS liveness decision; target-independent so its tests run on every host.
#[cfg(any(test, target_os = "macos"))]
mod pidinfo;
#[cfg(any(test, target_vendor = "apple"))]
mod retry;
#[cfg(any(test, target_vendor = "apple"))]
mod timeout;
#[cfg(unix)]
mod unix;

// The Mach waiter-table protocol (table, registry, Linux stand-in, Apple Mach semaphores +
// rendezvous). On Apple, `darwin` chooses it (see `darwin/mod.rs`). The table and
// `protocol_area_len` compile on every target (the region header uses them).
pub mod mach;

#[cfg(all(feature = "std", unix))]
pub mod shm;
#[cfg(all(feature = "testing", unix))]
pub mod testing;

pub use backend::{Backend, WakeProtocol, backend, init};

use atomic::{AtomicU32, Ordering};
use clock::Instant;
use core::time::Duration;

#[cfg(target_vendor = "apple")]
use darwin as imp;
#[cfg(any(target_os = "linux", target_os = "android"))]
use futex as imp;
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
use spin as imp;

/// How a [`wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wait {
    /// Woken by a wake call, or the word no longer held `expected`, or spuriously:
    /// re-check the condition.
    Woken,
    /// The timeout elapsed while the word still held `expected` (as far as the backend
    /// could tell).
    TimedOut,
}

/// Blocks while `word == expected`, for at most `timeout` (`None`: no limit).
///
/// See the [crate docs](crate) for the timeout rules. The comparison and the decision to
/// sleep are atomic with respect to [`wake_one`] / [`wake_all`]: a wake issued after the
/// word was changed is never lost.
///
/// Real-time class: **may block**. `Some(Duration::ZERO)` is wait-free (one load).
#[inline]
pub fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Wait {
    match timeout {
        None => sleep(word, expected, None),
        Some(t) if t.is_zero() => compare_only(word, expected),
        // A deadline beyond the clock's range saturates to "no limit".
        Some(t) => sleep(word, expected, Instant::now().checked_add(t)),
    }
}

/// Blocks while `word == expected`, until `deadline` (`None`: no limit). A deadline that
/// has already passed only compares.
///
/// Real-time class: **may block**.
#[inline]
pub fn wait_until(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Wait {
    match deadline {
        Some(d) if d <= Instant::now() => compare_only(word, expected),
        _ => sleep(word, expected, deadline),
    }
}

/// The kernel (or spin) wait behind [`wait`] and [`wait_until`], once the zero-timeout
/// and past-deadline cases are out of the way.
///
/// With the `rtsan` feature it first tells RealtimeSanitizer that a blocking call is
/// being made, so a real-time thread reaching this point is reported even where RTSan
/// intercepts nothing of the wait: to our reading of LLVM's RTSan interceptor list,
/// Darwin's `__ulock_wait`, `os_sync_wait_on_address` and Mach `semaphore_wait` are not
/// on it (not checked on a Mac: there is none here). On Linux RTSan also intercepts the
/// `syscall(SYS_futex)` itself; this report comes first and names the caller.
/// It is made every time, also when the word already differs and the kernel would
/// return at once, so the report does not depend on timing.
///
/// Real-time class: **may block**.
#[inline]
fn sleep(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Wait {
    #[cfg(feature = "rtsan")]
    rtsan_standalone::notify_blocking_call(c"shmsync_hal::wait");
    imp::wait_until(word, expected, deadline)
}

/// Wakes at most one thread (in any process) waiting on `word`.
///
/// Real-time class: **may wake** — one syscall on kernel backends, none on the spin
/// backend. Store the new value before calling.
#[inline]
pub fn wake_one(word: &AtomicU32) {
    imp::wake(word, false);
}

/// Wakes every thread (in any process) waiting on `word`.
///
/// Real-time class: **may wake** — one syscall on kernel backends, none on the spin
/// backend. Store the new value before calling.
#[inline]
pub fn wake_all(word: &AtomicU32) {
    imp::wake(word, true);
}

/// The zero-timeout wait: one load, no syscall.
#[inline]
fn compare_only(word: &AtomicU32, expected: u32) -> Wait {
    if word.load(Ordering::Acquire) == expected {
        Wait::TimedOut
    } else {
        Wait::Woken
    }
}
