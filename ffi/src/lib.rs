//! `shmsync-ffi`: the C ABI of shmsync (header `include/shmsync.h`, generated from this
//! crate with `cbindgen`; C++17 wrapper `include/shmsync.hpp`).
//!
//! The surface:
//! * wait / wake on a caller's 32-bit atomic word with a timeout in nanoseconds, the active
//!   backend, [`shmsync_init`] (macOS: choose the backend once, at start-up);
//! * regions over caller-mapped bytes ([`region`]);
//! * mutex, condvar, semaphore, rwlock and both events as opaque fixed-size types that
//!   live in shared memory ([`locks`]);
//! * the run-time-sized byte ring and message ring ([`rings`]).
//!
//! # Rules every entry point keeps
//! * **No unwinding into C.** Each entry point runs its body under [`catch_unwind`]; a
//!   panic (which would be a bug: the bodies are written not to panic) becomes
//!   [`SHMSYNC_E_PANIC`].
//! * **No allocation.** Opaque types and handles live in memory the caller provides.
//! * **Every pointer is checked**: null is [`SHMSYNC_E_NULL`], a pointer not aligned for
//!   its type is [`SHMSYNC_E_MISALIGNED`]. (A non-null, aligned pointer to memory that is
//!   not what the header says cannot be detected; that is the caller's contract.)
//! * **Every error is an `int` code** (`SHMSYNC_E_*`, all negative; [`SHMSYNC_OK`] is 0
//!   and [`SHMSYNC_OWNER_DEAD`] is the one positive success code), described by
//!   [`shmsync_strerror`].
//!
//! # Timeouts
//! Timed calls take `uint64_t timeout_ns`: `0` only tries, [`SHMSYNC_FOREVER`]
//! (`UINT64_MAX`) waits without limit, anything else is a relative timeout on the
//! monotonic clock.
//!
//! # Opaque sizes
//! `SHMSYNC_*_SIZE` / `SHMSYNC_*_ALIGN` are literal numbers (cbindgen cannot evaluate
//! `size_of`), each pinned by a `const` assertion against the Rust type it stands for: if
//! a shmsync type's layout changes, this crate stops compiling at the assertion. Then
//! update the number next to it and regenerate the header (`ci/check.sh --lane ffi`
//! shows the command: `cbindgen --config ffi/cbindgen.toml --crate shmsync-ffi
//! --output include/shmsync.h`).

#![allow(non_camel_case_types)]
// Under `--cfg loom` (the loom lane builds the whole workspace) the core has no run-time
// rings and loom's atomics: the C ABI is not part of that model, so the crate is empty.
#![cfg(not(loom))]

use core::ffi::{c_char, c_int, c_void};
use core::time::Duration;
use shmsync::hal::atomic::AtomicU32;
use std::panic::{AssertUnwindSafe, catch_unwind};

pub mod locks;
pub mod region;
pub mod rings;

/// Success.
pub const SHMSYNC_OK: c_int = 0;
/// Success: the lock was acquired, but its previous holder died holding it. Repair the
/// protected data, then call `shmsync_mutex_consistent`.
pub const SHMSYNC_OWNER_DEAD: c_int = 1;
/// A pointer argument is null.
pub const SHMSYNC_E_NULL: c_int = -1;
/// A pointer argument is not aligned for its type (regions: 64 bytes; rings: 128 bytes).
pub const SHMSYNC_E_MISALIGNED: c_int = -2;
/// The memory given is smaller than required.
pub const SHMSYNC_E_TOO_SMALL: c_int = -3;
/// Too large: a region's user area above 4 GiB, or a message above the ring's maximum.
pub const SHMSYNC_E_TOO_LARGE: c_int = -4;
/// Nothing has been initialised at this memory yet (or `init` is still running).
pub const SHMSYNC_E_NOT_READY: c_int = -5;
/// The memory does not hold a shmsync region / ring (wrong magic).
pub const SHMSYNC_E_BAD_MAGIC: c_int = -6;
/// Created by an incompatible shmsync version.
pub const SHMSYNC_E_VERSION: c_int = -7;
/// Holds another layout (user size / alignment / tag, ring kind or geometry).
pub const SHMSYNC_E_LAYOUT: c_int = -8;
/// The region uses a wake protocol this process cannot speak.
pub const SHMSYNC_E_PROTOCOL: c_int = -9;
/// Shared state is inconsistent (a scribbled header, index or frame).
pub const SHMSYNC_E_CORRUPTED: c_int = -10;
/// Joining the region's Mach waiter table failed (macOS, Mach protocol).
pub const SHMSYNC_E_MACH: c_int = -11;
/// The timeout passed first.
pub const SHMSYNC_E_TIMEDOUT: c_int = -12;
/// Held by someone else right now (a try-lock, a try-wait, a ring role).
pub const SHMSYNC_E_BUSY: c_int = -13;
/// Unlock / mark-consistent / condvar wait on a lock this process does not hold.
pub const SHMSYNC_E_NOT_OWNER: c_int = -14;
/// An argument is out of range (geometry, a length that is not a whole item, a handle
/// that was never opened or is already closed).
pub const SHMSYNC_E_INVALID: c_int = -15;
/// The ring is full (try-write / try-send).
pub const SHMSYNC_E_FULL: c_int = -16;
/// The ring is empty (try-read / try-recv).
pub const SHMSYNC_E_EMPTY: c_int = -17;
/// The receive buffer is shorter than the next message (which stays in the ring; its
/// length is reported).
pub const SHMSYNC_E_BUFFER_TOO_SMALL: c_int = -18;
/// A semaphore post would overflow the count.
pub const SHMSYNC_E_OVERFLOW: c_int = -19;
/// An internal panic was caught at the boundary (a bug in shmsync; please report it).
pub const SHMSYNC_E_PANIC: c_int = -20;

/// `timeout_ns` meaning "no limit".
pub const SHMSYNC_FOREVER: u64 = u64::MAX;

/// Runs an entry point's body, turning a panic into [`SHMSYNC_E_PANIC`].
#[inline(always)]
pub(crate) fn guard(body: impl FnOnce() -> c_int) -> c_int {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(SHMSYNC_E_PANIC)
}

/// `Ok(())` for a non-null pointer aligned to `align`, else the error code.
#[inline(always)]
pub(crate) fn check_ptr<T>(p: *const T, align: usize) -> Result<(), c_int> {
    if p.is_null() {
        Err(SHMSYNC_E_NULL)
    } else if (p as usize) % align != 0 {
        Err(SHMSYNC_E_MISALIGNED)
    } else {
        Ok(())
    }
}

/// Converts a checked `Result` into a return code.
#[inline(always)]
pub(crate) fn code(r: Result<c_int, c_int>) -> c_int {
    match r {
        Ok(c) | Err(c) => c,
    }
}

/// `timeout_ns` as the optional timeout the Rust API takes.
#[inline(always)]
pub(crate) fn timeout(ns: u64) -> Option<Duration> {
    if ns == SHMSYNC_FOREVER {
        None
    } else {
        Some(Duration::from_nanos(ns))
    }
}

/// A short, static, NUL-terminated English description of a return code (unknown codes
/// get "unknown shmsync error code"). Never null. Real-time class: wait-free.
#[unsafe(no_mangle)]
pub extern "C" fn shmsync_strerror(code: c_int) -> *const c_char {
    let s: &'static core::ffi::CStr = match code {
        SHMSYNC_OK => c"success",
        SHMSYNC_OWNER_DEAD => c"acquired, but the previous holder died holding the lock",
        SHMSYNC_E_NULL => c"null pointer argument",
        SHMSYNC_E_MISALIGNED => c"pointer argument not aligned for its type",
        SHMSYNC_E_TOO_SMALL => c"memory smaller than required",
        SHMSYNC_E_TOO_LARGE => c"too large (region above 4 GiB, or message above the ring maximum)",
        SHMSYNC_E_NOT_READY => c"not initialised yet",
        SHMSYNC_E_BAD_MAGIC => c"not a shmsync region or ring (bad magic)",
        SHMSYNC_E_VERSION => c"created by an incompatible shmsync version",
        SHMSYNC_E_LAYOUT => c"holds another layout (size, alignment, tag or geometry differ)",
        SHMSYNC_E_PROTOCOL => c"region uses a wake protocol this process cannot speak",
        SHMSYNC_E_CORRUPTED => c"shared state is corrupted",
        SHMSYNC_E_MACH => c"joining the Mach waiter table failed",
        SHMSYNC_E_TIMEDOUT => c"timed out",
        SHMSYNC_E_BUSY => c"busy: held by someone else",
        SHMSYNC_E_NOT_OWNER => c"this process does not hold the lock",
        SHMSYNC_E_INVALID => c"invalid argument",
        SHMSYNC_E_FULL => c"ring is full",
        SHMSYNC_E_EMPTY => c"ring is empty",
        SHMSYNC_E_BUFFER_TOO_SMALL => c"buffer shorter than the next message",
        SHMSYNC_E_OVERFLOW => c"semaphore count would overflow",
        SHMSYNC_E_PANIC => c"internal panic caught at the C boundary (a shmsync bug)",
        _ => c"unknown shmsync error code",
    };
    s.as_ptr()
}

/// Chooses and returns the wait/wake backend (`SHMSYNC_BACKEND_*`). On macOS call it once
/// at start-up, before any real-time thread runs (the first wait/wake would otherwise
/// make the choice, which may `dlsym`); elsewhere it is a cheap no-op.
/// Real-time class: **may block** (first call only).
#[unsafe(no_mangle)]
pub extern "C" fn shmsync_init() -> c_int {
    guard(|| backend_code(shmsync::hal::init()))
}

/// `SHMSYNC_BACKEND_FUTEX` (Linux).
pub const SHMSYNC_BACKEND_FUTEX: c_int = 1;
/// `SHMSYNC_BACKEND_ULOCK` (macOS private `__ulock_*`).
pub const SHMSYNC_BACKEND_ULOCK: c_int = 2;
/// `SHMSYNC_BACKEND_OS_SYNC` (macOS 14.4+ `os_sync_*`).
pub const SHMSYNC_BACKEND_OS_SYNC: c_int = 3;
/// `SHMSYNC_BACKEND_MACH` (Mach semaphores + a waiter table in the region).
pub const SHMSYNC_BACKEND_MACH: c_int = 4;
/// `SHMSYNC_BACKEND_SPIN` (no OS).
pub const SHMSYNC_BACKEND_SPIN: c_int = 5;

fn backend_code(b: shmsync::hal::Backend) -> c_int {
    use shmsync::hal::Backend;
    match b {
        Backend::Futex => SHMSYNC_BACKEND_FUTEX,
        Backend::Ulock => SHMSYNC_BACKEND_ULOCK,
        Backend::OsSync => SHMSYNC_BACKEND_OS_SYNC,
        Backend::Mach => SHMSYNC_BACKEND_MACH,
        Backend::Spin => SHMSYNC_BACKEND_SPIN,
        // Backend is non_exhaustive: a backend added later reads as unknown (0) until
        // it gets its own number.
        _ => 0,
    }
}

/// The active backend (`SHMSYNC_BACKEND_*`). Real-time class: wait-free after
/// [`shmsync_init`].
#[unsafe(no_mangle)]
pub extern "C" fn shmsync_backend() -> c_int {
    guard(|| backend_code(shmsync::hal::backend()))
}

/// The active backend's name ("futex", "ulock", "os_sync", "mach", "spin"); never null.
/// Real-time class: wait-free after [`shmsync_init`].
#[unsafe(no_mangle)]
pub extern "C" fn shmsync_backend_name() -> *const c_char {
    let s: &'static core::ffi::CStr = match shmsync_backend() {
        SHMSYNC_BACKEND_FUTEX => c"futex",
        SHMSYNC_BACKEND_ULOCK => c"ulock",
        SHMSYNC_BACKEND_OS_SYNC => c"os_sync",
        SHMSYNC_BACKEND_MACH => c"mach",
        SHMSYNC_BACKEND_SPIN => c"spin",
        _ => c"unknown",
    };
    s.as_ptr()
}

/// # Safety
/// `word` was checked non-null and 4-aligned; the caller promises it is a live 32-bit
/// atomic word.
unsafe fn word_ref<'a>(word: *const c_void) -> &'a AtomicU32 {
    // SAFETY: the caller's contract (non-null, aligned, a live atomic u32 accessed only
    // atomically by everyone).
    unsafe { &*word.cast::<AtomicU32>() }
}

/// Sleeps while the 32-bit atomic word at `word` (an `_Atomic uint32_t *` or
/// `std::atomic<uint32_t> *`, in shared memory or not) holds `expected`, for at most
/// `timeout_ns`. Returns [`SHMSYNC_OK`] when woken or when the word did not hold
/// `expected` (spurious returns happen: re-check the word), [`SHMSYNC_E_TIMEDOUT`] at the
/// timeout, [`SHMSYNC_E_NULL`] / [`SHMSYNC_E_MISALIGNED`] (4 bytes) for a bad pointer.
///
/// With the Mach backend the word must lie in a region attached by this process.
/// Real-time class: **may block**.
///
/// # Safety
/// `word` points to a live, 4-aligned 32-bit word that every thread and process accesses
/// only atomically.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_wait(
    word: *const c_void,
    expected: u32,
    timeout_ns: u64,
) -> c_int {
    guard(|| {
        if let Err(e) = check_ptr(word, 4) {
            return e;
        }
        // SAFETY: checked above; the rest is the caller's contract.
        let w = unsafe { word_ref(word) };
        match shmsync::hal::wait(w, expected, timeout(timeout_ns)) {
            shmsync::hal::Wait::Woken => SHMSYNC_OK,
            shmsync::hal::Wait::TimedOut => SHMSYNC_E_TIMEDOUT,
        }
    })
}

/// Wakes one thread sleeping in [`shmsync_wait`] on `word` (in any process). Waking with
/// no sleeper is not an error. Real-time class: **may wake** (one syscall).
///
/// # Safety
/// As for [`shmsync_wait`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_wake_one(word: *const c_void) -> c_int {
    guard(|| {
        if let Err(e) = check_ptr(word, 4) {
            return e;
        }
        // SAFETY: checked above; the rest is the caller's contract.
        shmsync::hal::wake_one(unsafe { word_ref(word) });
        SHMSYNC_OK
    })
}

/// Wakes every thread sleeping in [`shmsync_wait`] on `word`. Real-time class: **may
/// wake**.
///
/// # Safety
/// As for [`shmsync_wait`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_wake_all(word: *const c_void) -> c_int {
    guard(|| {
        if let Err(e) = check_ptr(word, 4) {
            return e;
        }
        // SAFETY: checked above; the rest is the caller's contract.
        shmsync::hal::wake_all(unsafe { word_ref(word) });
        SHMSYNC_OK
    })
}
