//! Helpers for cross-process tests (`std` feature, Unix): run a closure in a forked child
//! and collect its exit status with a time limit.
//!
//! A forked child of a multi-threaded test binary must not touch locks other threads may
//! have held at the fork (the allocator's, stdout's), so the closure should only use
//! shmsync's allocation-free primitives and report through its exit code; a panic in the
//! child becomes exit code 101. The child leaves with `_exit`, running no destructors and no
//! atexit handlers of the parent's copy.

use std::time::{Duration, Instant};

/// A forked child process.
#[derive(Debug)]
#[must_use = "a child must be waited for, or it stays a zombie"]
pub struct Child {
    pid: libc::pid_t,
    reaped: bool,
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `_exit(code)`.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

/// Runs `f` in a forked child; the child exits with `f`'s return value (101 on panic).
pub fn fork<F: FnOnce() -> i32>(f: F) -> Child {
    // SAFETY: fork has no memory-safety preconditions; see the module docs for what the
    // child may do.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
        // SAFETY: `_exit` never returns and is async-signal-safe.
        unsafe { libc::_exit(code) };
    }
    Child { pid, reaped: false }
}

impl Child {
    /// The child's process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `signal` (e.g. `libc::SIGKILL`).
    pub fn signal(&self, signal: i32) {
        // SAFETY: plain syscall on a pid we own (not yet reaped, so not reused).
        unsafe { libc::kill(self.pid, signal) };
    }

    /// Waits at most `limit` for the child to end; kills it and panics past the limit, so a
    /// deadlocked child fails the test instead of hanging it.
    pub fn wait_timeout(mut self, limit: Duration) -> Exit {
        let start = Instant::now();
        loop {
            let mut status = 0;
            // SAFETY: `status` is writable; the pid is our unreaped child.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            if r == self.pid {
                self.reaped = true;
                return if libc::WIFEXITED(status) {
                    Exit::Code(libc::WEXITSTATUS(status))
                } else {
                    Exit::Signal(libc::WTERMSIG(status))
                };
            }
            assert!(r == 0, "waitpid: {}", std::io::Error::last_os_error());
            if start.elapsed() > limit {
                self.signal(libc::SIGKILL);
                panic!("child {} did not finish within {limit:?}", self.pid);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits up to `limit` and asserts the child exited with code 0.
    pub fn join(self, limit: Duration) {
        let pid = self.pid;
        let exit = self.wait_timeout(limit);
        assert_eq!(exit, Exit::Code(0), "child {pid} failed");
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            self.signal(libc::SIGKILL);
            let mut status = 0;
            // SAFETY: reaping our own child.
            unsafe { libc::waitpid(self.pid, &mut status, 0) };
        }
    }
}
