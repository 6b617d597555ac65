//! Real-time scheduling for the audio thread.
//!
//! | OS | what [`promote_current_thread`] asks for | when it is refused |
//! |---|---|---|
//! | Linux, Android | `SCHED_FIFO` at the given priority ([`FIFO_PRIORITY`], [`HELPER_FIFO_PRIORITY`]) through `pthread_setschedparam` | `EPERM` (no `CAP_SYS_NICE`, `RLIMIT_RTPRIO` 0): the thread stays `SCHED_OTHER` and the reason is returned |
//! | macOS | `THREAD_TIME_CONSTRAINT_POLICY` through `thread_policy_set`: period = the audio period, computation = [`COMPUTATION_FRACTION`] of it, constraint = the period, preemptible | a `kern_return_t` other than `KERN_SUCCESS`: the thread keeps its default policy |
//!
//! A refusal is not fatal: the audio path is still wait-free, only its wake-up jitter grows
//! under load. The host prints which of the three happened.
//!
//! The macOS branch is compiled for both Apple targets here (`cargo clippy --target
//! aarch64-apple-darwin` and `x86_64-apple-darwin`); it has **not been executed** (no Mac).
//! The values follow the Mach headers' documented meaning of the fields (all four in
//! `mach_absolute_time` units; `computation` between 50 µs and 50 ms per xnu's limits).

use std::fmt;
use std::time::Duration;

/// `SCHED_FIFO` priority asked for the host's audio thread on Linux: above threaded IRQ
/// handlers (50), below the kernel's watchdog threads (99); JACK's default is in this band.
pub const FIFO_PRIORITY: i32 = 70;

/// `SCHED_FIFO` priority of the helper's processing thread: real-time too (it has a
/// deadline of one period), but below the host's audio thread so it never preempts it.
pub const HELPER_FIFO_PRIORITY: i32 = 60;

/// Share of the period the macOS time-constraint policy reserves as computation: half, so
/// the scheduler knows a callback needs at most half a period of CPU.
pub const COMPUTATION_FRACTION: f64 = 0.5;

/// What the thread runs with after [`promote_current_thread`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtStatus {
    /// Linux: `SCHED_FIFO` at this priority.
    Fifo {
        /// The priority granted.
        priority: i32,
    },
    /// macOS: `THREAD_TIME_CONSTRAINT_POLICY` with these values (nanoseconds).
    TimeConstraint {
        /// Period.
        period_ns: u64,
        /// Computation.
        computation_ns: u64,
    },
    /// Not promoted: the thread keeps the default policy.
    Fallback {
        /// What refused, as a short phrase.
        reason: &'static str,
        /// The error code returned (`errno` on Linux, `kern_return_t` on macOS).
        code: i32,
    },
}

impl fmt::Display for RtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RtStatus::Fifo { priority } => write!(f, "SCHED_FIFO priority {priority}"),
            RtStatus::TimeConstraint {
                period_ns,
                computation_ns,
            } => write!(
                f,
                "THREAD_TIME_CONSTRAINT_POLICY period {period_ns} ns, computation {computation_ns} ns"
            ),
            RtStatus::Fallback { reason, code } => write!(
                f,
                "default scheduling ({reason}, code {code}); the audio path stays wait-free, \
                 only wake-up jitter grows"
            ),
        }
    }
}

/// Asks the OS to schedule the calling thread as a real-time audio thread with the given
/// period (`priority` is the `SCHED_FIFO` priority on Linux; macOS has no priority in its
/// time-constraint policy). Call it once, on the audio thread, before the first callback.
///
/// Real-time class: **may block** (one or two syscalls); never call it inside a callback.
pub fn promote_current_thread(period: Duration, priority: i32) -> RtStatus {
    imp::promote(period, priority)
}

/// Locks the process's current and future pages in RAM (`mlockall(MCL_CURRENT |
/// MCL_FUTURE)`), so the audio thread never waits for a page to be read back from swap.
/// Returns the `errno` when refused (`EPERM`/`ENOMEM` without `CAP_IPC_LOCK` and a large
/// enough `RLIMIT_MEMLOCK`); the example then runs on, reporting it.
///
/// macOS does not implement `mlockall` (it answers `ENOSYS`): there this returns
/// `Err(ENOSYS)` without calling it.
///
/// Real-time class: **may block**; call it at start-up.
pub fn lock_memory() -> Result<(), i32> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: mlockall only changes paging behaviour of this process.
        if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        Err(libc::ENOSYS)
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use super::RtStatus;
    use std::time::Duration;

    pub(super) fn promote(_period: Duration, priority: i32) -> RtStatus {
        // SAFETY: sched_get_priority_max only reads its argument.
        let max = unsafe { libc::sched_get_priority_max(libc::SCHED_FIFO) };
        let priority = priority.clamp(1, max.max(1));
        // SAFETY: sched_param is plain integers (musl adds sporadic-server fields); all-zero
        // is a valid value, and only the priority matters for SCHED_FIFO.
        let mut param: libc::sched_param = unsafe { core::mem::zeroed() };
        param.sched_priority = priority;
        // SAFETY: pthread_self() is the calling thread; `param` is a valid sched_param.
        let r =
            unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
        match r {
            0 => RtStatus::Fifo { priority },
            libc::EPERM => RtStatus::Fallback {
                reason: "SCHED_FIFO refused: needs CAP_SYS_NICE or RLIMIT_RTPRIO (ulimit -r)",
                code: r,
            },
            _ => RtStatus::Fallback {
                reason: "pthread_setschedparam failed",
                code: r,
            },
        }
    }
}

#[cfg(target_os = "macos")]
mod imp {
    use super::{COMPUTATION_FRACTION, RtStatus};
    use std::time::Duration;

    /// xnu's bounds on `computation` (`MIN_RT_QUANTUM` / `MAX_RT_QUANTUM` in
    /// osfmk/kern/sched_prim.c: 50 µs and 50 ms).
    const MIN_COMPUTATION_NS: u64 = 50_000;
    const MAX_COMPUTATION_NS: u64 = 50_000_000;

    pub(super) fn promote(period: Duration, _priority: i32) -> RtStatus {
        let period_ns = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
        let computation_ns = ((period_ns as f64 * COMPUTATION_FRACTION) as u64)
            .clamp(MIN_COMPUTATION_NS, MAX_COMPUTATION_NS);
        let to_ticks =
            |ns: u64| u32::try_from(super::super::period::ns_to_mach(ns)).unwrap_or(u32::MAX);
        let mut policy = libc::thread_time_constraint_policy {
            period: to_ticks(period_ns),
            computation: to_ticks(computation_ns),
            constraint: to_ticks(period_ns),
            preemptible: 1,
        };
        // SAFETY: pthread_mach_thread_np returns the calling thread's Mach port (no
        // reference is added: nothing to deallocate); `policy` is a valid, writable
        // time-constraint policy of exactly THREAD_TIME_CONSTRAINT_POLICY_COUNT integers.
        let kr = unsafe {
            libc::thread_policy_set(
                libc::pthread_mach_thread_np(libc::pthread_self()),
                libc::THREAD_TIME_CONSTRAINT_POLICY as libc::thread_policy_flavor_t,
                (&raw mut policy).cast(),
                libc::THREAD_TIME_CONSTRAINT_POLICY_COUNT,
            )
        };
        if kr == libc::KERN_SUCCESS {
            RtStatus::TimeConstraint {
                period_ns,
                computation_ns,
            }
        } else {
            RtStatus::Fallback {
                reason: "thread_policy_set(THREAD_TIME_CONSTRAINT_POLICY) refused",
                code: kr,
            }
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos")))]
mod imp {
    use super::RtStatus;
    use std::time::Duration;

    pub(super) fn promote(_period: Duration, _priority: i32) -> RtStatus {
        RtStatus::Fallback {
            reason: "no real-time policy implemented for this OS",
            code: 0,
        }
    }
}
