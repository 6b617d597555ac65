//! Counts the syscalls of one thread with seccomp user notification (Linux ≥ 5.5): the
//! syscall half of the real-time proof (`tests/audio_rt.rs`, and `audio_host
//! --count-syscalls`).
//!
//! The watched thread installs a filter whose single instruction returns
//! `SECCOMP_RET_USER_NOTIF` for every syscall, and gets a listener descriptor. A
//! supervisor thread (created before the filter, so not filtered itself) receives each
//! notification, counts it — inside a callback or outside, by reading a flag the
//! watched thread set — and answers `SECCOMP_USER_NOTIF_FLAG_CONTINUE`, which lets the
//! kernel run the syscall as if nothing had intercepted it.
//!
//! The attribution is exact: the watched thread is stopped inside its syscall until the
//! supervisor answers, so it cannot change the flag (or read the counters) before the
//! syscall was counted. The filter stays until the thread exits; the supervisor keeps
//! answering until the listener reports that no filtered task is left.
//!
//! Other systems have no such mechanism: there [`install_on_current_thread`] answers
//! `Err(ENOSYS)` and callers say that syscalls were not counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::thread::JoinHandle;

/// What the probe saw inside callbacks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Syscalls of any kind other than futex.
    pub other: u64,
    /// futex syscalls (the ring's wake of a parked peer).
    pub futex: u64,
}

/// `State::fd` before the watched thread tried to install the filter.
const NOT_YET: i32 = -1;
/// `State::fd` after the kernel refused the filter: the supervisor stops at once.
const REFUSED: i32 = -2;

/// Counters shared by the watched thread and the supervisor.
#[derive(Debug, Default)]
pub struct State {
    /// The listener fd; [`NOT_YET`] until the watched thread installed the filter,
    /// [`REFUSED`] if the kernel refused it.
    fd: AtomicI32,
    /// Set by the watched thread around each callback.
    pub in_window: AtomicBool,
    other: AtomicU64,
    futex: AtomicU64,
    /// Syscalls seen outside callbacks (the period sleep, thread exit, …).
    pub outside: AtomicU64,
    /// Number of the last non-futex syscall seen inside a callback (diagnostics).
    pub last_other_nr: AtomicI32,
}

impl State {
    /// Marks the start of a callback on the watched thread. Real-time class: wait-free
    /// (one store; no syscall).
    #[inline(always)]
    pub fn enter(&self) {
        self.in_window.store(true, Ordering::SeqCst);
    }

    /// Marks the end of a callback. Real-time class: wait-free.
    #[inline(always)]
    pub fn exit(&self) {
        self.in_window.store(false, Ordering::SeqCst);
    }

    /// Totals seen inside callbacks so far. Real-time class: wait-free.
    pub fn seen(&self) -> Seen {
        Seen {
            other: self.other.load(Ordering::SeqCst),
            futex: self.futex.load(Ordering::SeqCst),
        }
    }
}

/// A running supervisor.
pub struct Probe {
    /// The counters, shared with the watched thread.
    pub state: Arc<State>,
    supervisor: JoinHandle<()>,
}

impl Probe {
    /// Starts the supervisor. Call [`install_on_current_thread`] on the thread to
    /// watch afterwards; [`Probe::finish`] once that thread has been joined.
    pub fn start() -> Probe {
        let state = Arc::new(State {
            fd: AtomicI32::new(NOT_YET),
            last_other_nr: AtomicI32::new(-1),
            ..State::default()
        });
        let s = state.clone();
        let supervisor = std::thread::spawn(move || supervise(&s));
        Probe { state, supervisor }
    }

    /// Waits for the supervisor to see the end of every filtered task.
    pub fn finish(self) {
        self.supervisor.join().expect("supervisor panicked");
    }
}

/// Installs the notifying filter on the calling thread (for the rest of its life).
/// `Err(errno)` when the kernel refuses (old kernel, a container's own filter, an emulator
/// such as qemu-user: `ENOSYS`), and always `Err(ENOSYS)` off Linux.
///
/// Real-time class: may block (two syscalls); call it before the first callback.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn install_on_current_thread(state: &State) -> Result<(), i32> {
    state.fd.store(REFUSED, Ordering::SeqCst);
    Err(libc::ENOSYS)
}

/// Installs the notifying filter on the calling thread (for the rest of its life).
/// `Err(errno)` when the kernel refuses (old kernel, a container's own filter, an emulator
/// such as qemu-user: `ENOSYS`), and always `Err(ENOSYS)` off Linux.
///
/// Real-time class: may block (two syscalls); call it before the first callback.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn install_on_current_thread(state: &State) -> Result<(), i32> {
    let r = install(state);
    if r.is_err() {
        state.fd.store(REFUSED, Ordering::SeqCst);
    }
    r
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn install(state: &State) -> Result<(), i32> {
    // Any syscall: notify. (The architecture is not checked: every syscall counts.)
    let mut filter = [libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_USER_NOTIF,
    }];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS affects only this thread's future execve privileges.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(errno());
    }
    // SAFETY: `prog` points at a valid one-instruction program that lives across the
    // call; the kernel copies it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &prog as *const libc::sock_fprog,
        )
    };
    if fd < 0 {
        return Err(errno());
    }
    // From here on every syscall of this thread waits for the supervisor, which picks
    // the descriptor up from this store (no syscall needed to hand it over).
    state.fd.store(fd as i32, Ordering::SeqCst);
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn supervise(_state: &State) {}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn supervise(state: &State) {
    // Wait for the watched thread to install its filter (it reports a refusal; give up
    // after 10 s if it never tries).
    let mut fd = NOT_YET;
    for _ in 0..10_000 {
        fd = state.fd.load(Ordering::SeqCst);
        if fd != NOT_YET {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    if fd < 0 {
        return;
    }
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, 1000) };
        if r < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            break;
        }
        if pfd.revents & libc::POLLIN != 0 {
            // SAFETY: an all-zero seccomp_notif is valid (and RECV requires it zeroed).
            let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
            // SAFETY: `req` is a writable seccomp_notif; `fd` is our listener.
            if unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } != 0 {
                // ENOENT: the task was interrupted before we got it; try again.
                continue;
            }
            if state.in_window.load(Ordering::SeqCst) {
                if i64::from(req.data.nr) == libc::SYS_futex {
                    state.futex.fetch_add(1, Ordering::SeqCst);
                } else {
                    state.last_other_nr.store(req.data.nr, Ordering::SeqCst);
                    state.other.fetch_add(1, Ordering::SeqCst);
                }
            } else {
                state.outside.fetch_add(1, Ordering::Relaxed);
            }
            let mut resp = libc::seccomp_notif_resp {
                id: req.id,
                val: 0,
                error: 0,
                flags: libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
            };
            // SAFETY: `resp` is a valid response for the notification just received;
            // ENOENT (the task died meanwhile) is harmless.
            unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
            continue;
        }
        // POLLHUP: every task using the filter has exited.
        if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            break;
        }
    }
    // SAFETY: closing the listener we own.
    unsafe { libc::close(fd) };
}
