//! Who holds a [`Mutex`](super::Mutex), and whether that process is still alive.
//!
//! A mutex's state word carries the holder's process id; the start-time token that tells
//! a reused pid from the original process sits beside it (see `shmsync_hal::process`).
//! Liveness is asked only by a locker that has already waited
//! [`OWNER_CHECK_PERIOD`](super::OWNER_CHECK_PERIOD) on a held lock, never on a fast path.

use crate::hal::process::{self, Liveness, OwnerId};

/// Bits of the mutex word that hold the owner's process id. Linux caps pids at 2^22
/// (`PID_MAX_LIMIT`) and macOS at 99,999, so 31 bits always suffice.
pub(crate) const PID_MASK: u32 = 0x7FFF_FFFF;

/// The owner tag used when this process has no usable pid (no OS, or a pid beyond
/// [`PID_MASK`]): liveness is never asked about it, so such owners are never declared dead.
pub(crate) const UNKNOWN_PID: u32 = PID_MASK;

/// This process as a mutex owner: the tag stored in the word and the token beside it.
#[derive(Clone, Copy)]
pub(crate) struct Me {
    /// Non-zero, at most [`PID_MASK`].
    pub(crate) pid: u32,
    pub(crate) token: u32,
}

/// This process's owner identity. Real-time class: wait-free (cached by the hal after the
/// first call in each process).
#[cfg(not(miri))]
#[inline]
pub(crate) fn me() -> Me {
    let id = process::current();
    let pid = if id.pid == 0 || id.pid > PID_MASK {
        UNKNOWN_PID
    } else {
        id.pid
    };
    Me {
        pid,
        token: id.token,
    }
}

/// Under Miri (isolation forbids reading `/proc`) every thread is one fixed process; the
/// owner-death paths need `fork`, which the host lane runs.
#[cfg(miri)]
#[inline]
pub(crate) fn me() -> Me {
    Me { pid: 1, token: 1 }
}

/// True only when the process `pid` (with start-time `token`, 0 = not published yet) is
/// known to be gone. Our own process, an unknown pid and an undecidable answer (e.g. the
/// App Sandbox's `EPERM`) all count as alive.
///
/// Real-time class: **may block** (reads `/proc/<pid>/stat` on Linux, calls `proc_pidinfo`
/// on macOS).
pub(crate) fn is_dead(pid: u32, token: u32, me: Me) -> bool {
    if pid == 0 || pid == UNKNOWN_PID {
        return false;
    }
    if pid == me.pid && (token == me.token || token == 0) {
        // Another thread of this very process holds it.
        return false;
    }
    process::liveness(OwnerId { pid, token }) == Liveness::Dead
}
