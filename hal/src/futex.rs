//! Linux / Android backend: `SYS_futex`.
//!
//! * Waits use `FUTEX_WAIT_BITSET` with `FUTEX_BITSET_MATCH_ANY`, whose timeout is an
//!   **absolute** `CLOCK_MONOTONIC` time — the same clock as [`Instant`] — so a wait
//!   interrupted by a signal (`EINTR`) is resumed against the very same deadline, with no
//!   drift and no re-computation.
//! * No `FUTEX_PRIVATE_FLAG`: private futexes are keyed by (mm, virtual address), shared ones
//!   by the backing page (inode/offset or the shmem object), which is what lets processes
//!   that map one region at different addresses wait and wake on the same word.

use crate::Wait;
use crate::atomic::AtomicU32;
use crate::clock::Instant;
use crate::unix::errno;

/// Waits while `*word == expected` until `deadline`.
pub(crate) fn wait_until(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Wait {
    let ts = deadline.map(|d| libc::timespec {
        tv_sec: (d.as_nanos() / 1_000_000_000) as _,
        tv_nsec: (d.as_nanos() % 1_000_000_000) as _,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(core::ptr::null(), |t| t as *const libc::timespec);
    loop {
        crate::count::wait_syscall();
        // SAFETY: `word` is a live, 4-byte aligned AtomicU32 for the whole call, the kernel
        // only reads it; `ts_ptr` is null or points at `ts`, alive until the loop ends; the
        // fifth argument (uaddr2) is unused by FUTEX_WAIT_BITSET.
        let r = unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT_BITSET,
                expected,
                ts_ptr,
                core::ptr::null::<u32>(),
                // val3 is an unsigned bitset (`u32` in the kernel): all ones.
                libc::FUTEX_BITSET_MATCH_ANY as u32,
            )
        };
        if r == 0 {
            return Wait::Woken;
        }
        match errno() {
            // A signal handler ran: sleep again until the same absolute deadline.
            libc::EINTR => continue,
            libc::ETIMEDOUT => return Wait::TimedOut,
            // EAGAIN: the word no longer held `expected`. Anything else (EFAULT on an
            // unmapped word, EINVAL) cannot be fixed by retrying: report a spurious wake
            // and let the caller re-check its condition.
            _ => return Wait::Woken,
        }
    }
}

/// Wakes one or all waiters on `word`.
pub(crate) fn wake(word: &AtomicU32, all: bool) {
    let n: i32 = if all { i32::MAX } else { 1 };
    crate::count::wake_syscall();
    // SAFETY: FUTEX_WAKE only uses `word`'s address as a key (it does not dereference it
    // beyond the page lookup); `word` is a live reference.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n);
    }
}
