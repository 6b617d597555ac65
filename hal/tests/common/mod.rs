//! Helpers shared by the hal's integration tests: bounded joins, and proof from `/proc` that
//! a thread or process really sleeps in the kernel's futex wait before a test wakes it.
//!
//! Each test binary uses a subset of these, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Limit for anything that should take micro- or milliseconds. The machine running the
/// tests is shared and noisy, and qemu or Miri may be emulating it: the limit only turns a
/// lost wake (a hang) into a failure, it says nothing about speed.
pub const LIMIT: Duration = Duration::from_secs(30);

/// Joins `handle`, failing the test if the thread has not finished within `limit`: a wait
/// that never returns (a lost wake) fails instead of hanging the test binary.
pub fn join_within<T>(handle: JoinHandle<T>, limit: Duration) -> T {
    let start = Instant::now();
    while !handle.is_finished() {
        assert!(
            start.elapsed() < limit,
            "thread still running after {limit:?}: a wake was lost or a wait never returned"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    match handle.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Polls `done` until it holds, failing the test after `limit`.
pub fn poll_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "{what}: not reached within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The calling thread's kernel thread id, `None` where `/proc` cannot be used (Miri, or
/// an OS without Linux's `/proc`).
pub fn current_tid() -> Option<i32> {
    #[cfg(all(any(target_os = "linux", target_os = "android"), not(miri)))]
    {
        // SAFETY: gettid takes no arguments and cannot fail.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) };
        Some(tid as i32)
    }
    #[cfg(not(all(any(target_os = "linux", target_os = "android"), not(miri))))]
    {
        None
    }
}

/// What `/proc` says about one task (a thread, or a process's main thread).
#[cfg(any(target_os = "linux", target_os = "android"))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    /// The state letter of `stat` (`R` running, `S` interruptible sleep, ...).
    pub state: char,
    /// The kernel function it sleeps in (`wchan`), empty when the kernel hides it.
    pub wchan: String,
    /// The syscall it is blocked in and that syscall's first argument (`syscall`: the
    /// futex address for `SYS_futex`), when readable and the task is not running.
    pub syscall: Option<(libc::c_long, u64)>,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl TaskState {
    /// Reads `/proc/<pid>/task/<tid>/…`; `None` once the task is gone.
    pub fn read(pid: i32, tid: i32) -> Option<Self> {
        let dir = format!("/proc/{pid}/task/{tid}");
        let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
        // The command name in parentheses may contain spaces: the state follows the last ')'.
        let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
        let wchan = std::fs::read_to_string(format!("{dir}/wchan")).unwrap_or_default();
        // "<nr> <arg1> <arg2> ..." with hex arguments, or "running" / "-1 ..." otherwise.
        let syscall = std::fs::read_to_string(format!("{dir}/syscall"))
            .ok()
            .and_then(|s| {
                let mut fields = s.split_whitespace();
                let nr = fields.next()?.parse().ok()?;
                let arg1 = fields.next()?.trim_start_matches("0x");
                Some((nr, u64::from_str_radix(arg1, 16).ok()?))
            });
        Some(Self {
            state,
            wchan: wchan.trim().to_owned(),
            syscall,
        })
    }

    /// True when the task sleeps in a futex wait on the word at `addr` (an address in the
    /// task's own address space):
    /// * state `S`, and
    /// * `syscall` shows `SYS_futex` on exactly `addr` — the precise proof, on native Linux;
    /// * otherwise (under qemu-user the host kernel answers, with the host's syscall number
    ///   and addresses) `wchan` names a futex function (`futex_wait_queue`,
    ///   `futex_do_wait`, … depending on the kernel version);
    /// * if the kernel hides both, the sleep state is all the evidence there is (the
    ///   waiting code runs nothing else that sleeps).
    pub fn sleeps_in_futex_on(&self, addr: u64) -> bool {
        if self.state != 'S' {
            return false;
        }
        if let Some((nr, uaddr)) = self.syscall {
            if nr == libc::SYS_futex {
                return uaddr == addr;
            }
        }
        let wchan_hidden = self.wchan.is_empty() || self.wchan == "0";
        if !wchan_hidden {
            return self.wchan.contains("futex");
        }
        self.syscall.is_none()
    }
}

/// Waits until task `tid` of process `pid` sleeps in a futex wait on the word at `addr`
/// (in that process's address space), polling `/proc`, and fails the test if it does not
/// within [`LIMIT`] (a wait that spins, returns at once instead of sleeping, or sleeps on
/// another address). Where `/proc` is unusable (`tid` is `None` under Miri; other OSes) it
/// only gives the waiter time to get there, which proves nothing by itself; the tests whose
/// assertions depend on the proof are compiled for Linux outside Miri only.
pub fn await_futex_sleep(pid: i32, tid: Option<i32>, addr: u64) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(tid) = tid {
        let start = Instant::now();
        let mut last = None;
        loop {
            match TaskState::read(pid, tid) {
                Some(s) if s.sleeps_in_futex_on(addr) => return,
                other => last = other.or(last),
            }
            assert!(
                start.elapsed() < LIMIT,
                "task {pid}/{tid} never slept in a futex wait on {addr:#x} within {LIMIT:?}; \
                 last seen: {last:?}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let _ = (pid, tid, addr);
    std::thread::sleep(Duration::from_millis(20));
}

/// [`await_futex_sleep`] for a thread of this process waiting on `word`.
pub fn await_thread_futex_sleep<T>(tid: Option<i32>, word: &T) {
    let pid = if tid.is_some() {
        std::process::id() as i32
    } else {
        0
    };
    await_futex_sleep(pid, tid, word as *const T as u64);
}
