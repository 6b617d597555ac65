//! Process identity and liveness, for locks and ring roles whose holder may die.
//!
//! An [`OwnerId`] is a process id plus a *token* derived from the process's start time, so
//! that a pid reused by a newer process is not mistaken for the old owner:
//!
//! | OS | token | liveness |
//! |---|---|---|
//! | Linux, Android | low 32 bits of `starttime` (field 22 of `/proc/<pid>/stat`, clock ticks since boot) | `/proc/<pid>/stat` missing, state `Z`/`X` (zombie/dead) or a different start time → dead |
//! | macOS | `pbi_start_tvsec * 1e6 + pbi_start_tvusec` folded to 32 bits, from `proc_pidinfo(PROC_PIDTBSDINFO)` | `proc_pidinfo` → `ESRCH` or status `SZOMB`, or a different start time → dead; other failures fall back to `kill(pid, 0)` |
//! | no OS | 0 (one program, nothing to die) | always [`Liveness::Unknown`] |
//!
//! **App Sandbox (macOS).** A sandboxed process may not inspect other processes:
//! `proc_pidinfo` fails with `EPERM` and `kill(pid, 0)` answers `EPERM` even for a live
//! peer. Both are read as [`Liveness::Unknown`], which callers treat as alive: in a sandbox,
//! owner death is only detected when the peer's process id no longer exists (`ESRCH`). This
//! follows from the documented sandbox rules; it was not executed here (no Mac).
//!
//! A zombie (killed, not yet reaped by its parent) counts as dead: it will never unlock.

/// Who holds a lock or a ring role: process id and start-time token. All-zero means nobody.
///
/// `#[repr(C)]`, two `u32`: the same layout on every target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct OwnerId {
    /// Process id (never 0 for a real process).
    pub pid: u32,
    /// Start-time token; see the module docs.
    pub token: u32,
}

const _: () = assert!(core::mem::size_of::<OwnerId>() == 8);
const _: () = assert!(core::mem::align_of::<OwnerId>() == 4);

impl OwnerId {
    /// Nobody.
    pub const NONE: OwnerId = OwnerId { pid: 0, token: 0 };

    /// True for [`OwnerId::NONE`]. Real-time class: wait-free.
    pub const fn is_none(self) -> bool {
        self.pid == 0
    }
}

/// What [`liveness`] could find out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Liveness {
    /// The process exists and started when the token says.
    Alive,
    /// The process is gone, a zombie, or its pid now belongs to another process.
    Dead,
    /// Could not be decided (no permission, no OS): treat as alive.
    Unknown,
}

/// This process's identity, computed once and cached.
///
/// Real-time class: **wait-free** after the first call (two relaxed loads, no syscall:
/// `getpid` is a real syscall in glibc ≥ 2.25, ~150 ns on the CI machine, too slow for a lock
/// fast path); the first call **may block** (reads `/proc/self/stat` or calls
/// `proc_pidinfo`). Call it once at start-up before using it on a real-time thread.
///
/// A child made by `fork` must not keep its parent's identity: on Unix (outside Miri) the
/// first call registers a `pthread_atfork` child handler that clears the cache, so the
/// child's next call recomputes it. A child created by a raw `clone`/`vfork` syscall that
/// bypasses libc's `fork` is not covered.
#[inline]
pub fn current() -> OwnerId {
    let pid = CACHED_PID.load(Ordering::Acquire);
    if pid != 0 {
        return OwnerId {
            pid,
            token: CACHED_TOKEN.load(Ordering::Relaxed),
        };
    }
    current_slow()
}

use crate::atomic::{AtomicU32, Ordering};

/// Cached pid of this process, 0 = not computed yet (or cleared in a fork child).
static CACHED_PID: AtomicU32 = AtomicU32::new(0);
/// Cached start-time token, valid when `CACHED_PID` is non-zero.
static CACHED_TOKEN: AtomicU32 = AtomicU32::new(0);

#[cold]
fn current_slow() -> OwnerId {
    register_fork_handler();
    let pid = own_pid();
    let token = start_token(pid).unwrap_or(0);
    CACHED_TOKEN.store(token, Ordering::Relaxed);
    CACHED_PID.store(pid, Ordering::Release);
    OwnerId { pid, token }
}

#[cfg(all(unix, not(miri)))]
fn register_fork_handler() {
    use crate::atomic::AtomicBool;
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    extern "C" fn in_child() {
        // The child has one thread; the next `current()` recomputes pid and token.
        CACHED_PID.store(0, Ordering::Relaxed);
    }
    if !REGISTERED.swap(true, Ordering::AcqRel) {
        // SAFETY: `in_child` is a plain `extern "C" fn()` that only does an atomic store
        // (async-signal-safe), valid for the whole program.
        unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
    }
}

#[cfg(not(all(unix, not(miri))))]
fn register_fork_handler() {}

/// Whether `owner` is still running. `OwnerId::NONE` is [`Liveness::Dead`]. A token of 0
/// means "token not known yet" (a lock owner between taking the lock word and publishing
/// its token): such an owner is decided by its pid alone.
///
/// Real-time class: **may block** (a few syscalls; reads `/proc` on Linux). Lock and ring
/// code calls it only on slow paths, after waiting a while.
pub fn liveness(owner: OwnerId) -> Liveness {
    if owner.is_none() {
        return Liveness::Dead;
    }
    if cfg!(miri) {
        return Liveness::Unknown;
    }
    imp::liveness(owner)
}

#[cfg(unix)]
fn own_pid() -> u32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    unsafe { libc::getpid() as u32 }
}

#[cfg(not(unix))]
fn own_pid() -> u32 {
    1
}

/// This process's id alone: no `/proc` read, no cache. Real-time class: wait-free (one
/// cheap syscall on Unix).
pub fn current_pid() -> u32 {
    own_pid()
}

fn start_token(pid: u32) -> Option<u32> {
    // Miri cannot read /proc or call proc_pidinfo: under Miri identities carry no token
    // and liveness is Unknown (cross-process tests, which need it, do not run under Miri).
    if cfg!(miri) {
        return None;
    }
    match imp::start_info(pid) {
        imp::Start::Running(t) => Some(t),
        _ => None,
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use super::{Liveness, OwnerId};

    pub(super) enum Start {
        Running(u32),
        Gone,
        Unknown,
    }

    /// A NUL-terminated path built on the stack (no allocation).
    struct StackPath {
        buf: [u8; 48],
        len: usize,
    }

    impl StackPath {
        fn push(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }

        fn push_decimal(&mut self, v: u32) {
            let mut digits = [0u8; 10];
            let mut d = 0;
            let mut v = v;
            loop {
                digits[d] = b'0' + (v % 10) as u8;
                d += 1;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            while d > 0 {
                d -= 1;
                self.push(&[digits[d]]);
            }
        }
    }

    /// Reads the process's stat line into a stack buffer and extracts the state and start
    /// time: `/proc/<pid>/stat` for other processes, `/proc/<pid>/task/<pid>/stat` (the
    /// main thread's copy: same start time) for this one. The distinction matters under
    /// qemu-user, which answers a process's reads of its *own* `/proc/<pid>/stat` with an
    /// emulated line whose start time differs from what other processes read; it does not
    /// emulate the task path, so both sides see the kernel's value. Other processes are
    /// read at `/proc/<pid>/stat`, not at their leader task's entry, because a leader thread
    /// that called `pthread_exit` shows as a zombie there while its process lives on.
    pub(super) fn start_info(pid: u32) -> Start {
        // "/proc/" + 10 digits + "/task/" + 10 digits + "/stat" = at most 37 bytes + NUL.
        let mut path = StackPath {
            buf: [0; 48],
            len: 0,
        };
        path.push(b"/proc/");
        path.push_decimal(pid);
        if pid == super::own_pid() {
            path.push(b"/task/");
            path.push_decimal(pid);
        }
        path.push(b"/stat");
        let path = path.buf;
        // SAFETY: `path` is NUL-terminated (zero-initialised, at most 37 bytes written).
        let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return match crate::unix::errno() {
                libc::ENOENT | libc::ESRCH => Start::Gone,
                _ => Start::Unknown,
            };
        }
        // The line is "pid (comm) S ppid … starttime …"; comm is at most 16 bytes, the
        // fields up to starttime take well under 300 bytes.
        let mut buf = [0u8; 512];
        // SAFETY: `buf` is writable for its length; `fd` is open.
        let len = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        // SAFETY: closing the descriptor we opened.
        unsafe { libc::close(fd) };
        if len <= 0 {
            // ESRCH from read: the process died between open and read.
            return Start::Gone;
        }
        parse_stat(&buf[..len as usize])
    }

    /// Parses state (field 3) and starttime (field 22) from a stat line.
    pub(super) fn parse_stat(line: &[u8]) -> Start {
        // comm may contain spaces and ')': the fields start after the LAST ')'.
        let Some(close) = line.iter().rposition(|&b| b == b')') else {
            return Start::Unknown;
        };
        let mut fields = line[close + 1..]
            .split(|&b| b == b' ')
            .filter(|f| !f.is_empty());
        let state = match fields.next() {
            Some(s) if !s.is_empty() => s[0],
            _ => return Start::Unknown,
        };
        if state == b'Z' || state == b'X' || state == b'x' {
            return Start::Gone;
        }
        // state is field 3, starttime field 22: skip fields 4..=21.
        let Some(start) = fields.nth(18) else {
            return Start::Unknown;
        };
        let mut t: u64 = 0;
        for &c in start {
            if !c.is_ascii_digit() {
                return Start::Unknown;
            }
            t = t.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
        }
        Start::Running(t as u32)
    }

    pub(super) fn liveness(owner: OwnerId) -> Liveness {
        match start_info(owner.pid) {
            Start::Running(t) if t == owner.token || owner.token == 0 => Liveness::Alive,
            Start::Running(_) | Start::Gone => Liveness::Dead,
            Start::Unknown => Liveness::Unknown,
        }
    }
}

#[cfg(target_os = "macos")]
mod imp {
    //! macOS: one `proc_pidinfo(pid, PROC_PIDTBSDINFO)` call (status and start time at
    //! microsecond resolution), and `kill(pid, 0)` when that is refused. What the answers
    //! mean — `ESRCH` or `SZOMB` → gone, `EPERM` → unknown (never dead), the token from
    //! the start time — is decided in `crate::pidinfo`, whose table tests run on every host.
    use super::{Liveness, OwnerId};
    use crate::pidinfo::{self, Answer, Kill, PROC_PIDTBSDINFO_SIZE, ProcBsdInfo};

    pub(super) enum Start {
        Running(u32),
        Gone,
        Unknown,
    }

    fn ask(pid: u32) -> Answer {
        let mut info = ProcBsdInfo::ZERO;
        // SAFETY: `info` is a `#[repr(C)]` `struct proc_bsdinfo` (size and offsets checked
        // against the SDK header in `pidinfo`), writable for the size we pass.
        let ret = unsafe {
            libc::proc_pidinfo(
                pid as libc::c_int,
                pidinfo::darwin::PROC_PIDTBSDINFO,
                0,
                (&raw mut info).cast(),
                PROC_PIDTBSDINFO_SIZE as libc::c_int,
            )
        };
        let errno = if ret <= 0 { crate::unix::errno() } else { 0 };
        pidinfo::judge(pid, ret, errno, &info, || {
            // SAFETY: signal 0 performs only the existence and permission checks.
            if unsafe { libc::kill(pid as libc::pid_t, 0) } == 0 {
                Kill::Exists
            } else {
                Kill::Errno(crate::unix::errno())
            }
        })
    }

    pub(super) fn start_info(pid: u32) -> Start {
        match ask(pid) {
            Answer::Running(t) => Start::Running(t),
            Answer::Gone => Start::Gone,
            Answer::Unknown => Start::Unknown,
        }
    }

    pub(super) fn liveness(owner: OwnerId) -> Liveness {
        pidinfo::liveness(ask(owner.pid), owner.token)
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos")))]
mod imp {
    use super::{Liveness, OwnerId};

    pub(super) enum Start {
        #[allow(dead_code)]
        Running(u32),
        Unknown,
    }

    pub(super) fn start_info(_pid: u32) -> Start {
        Start::Unknown
    }

    pub(super) fn liveness(_owner: OwnerId) -> Liveness {
        Liveness::Unknown
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::imp::{Start, parse_stat};
    #[cfg_attr(miri, allow(unused_imports))]
    use super::*;

    #[test]
    fn parses_stat_with_hostile_comm() {
        let line =
            b"42 (a) b) c (d) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1 2\n";
        match parse_stat(line) {
            Start::Running(t) => assert_eq!(t, 987_654),
            _ => panic!("expected a running process"),
        }
        let zombie = b"42 (x) Z 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 5 1 2\n";
        assert!(matches!(parse_stat(zombie), Start::Gone));
        assert!(matches!(parse_stat(b"garbage"), Start::Unknown));
        assert!(matches!(parse_stat(b"1 (x) S 1 2"), Start::Unknown));
    }

    // Reads /proc, which Miri's isolation forbids: runs in the host and qemu-aarch64 lanes.
    #[cfg(not(miri))]
    #[test]
    fn self_is_alive_and_wrong_token_or_pid_is_dead() {
        let me = current();
        assert_ne!(me.pid, 0);
        assert_ne!(me.token, 0, "start time of a running process is after boot");
        assert_eq!(current(), me, "cached value is stable");
        assert_eq!(liveness(me), Liveness::Alive);
        let reused = OwnerId {
            pid: me.pid,
            token: me.token.wrapping_add(1),
        };
        assert_eq!(liveness(reused), Liveness::Dead);
        assert_eq!(liveness(OwnerId::NONE), Liveness::Dead);
        // pid_max is at most 2^22 on Linux: this pid cannot exist.
        let absent = OwnerId {
            pid: 0x7fff_fff0,
            token: 1,
        };
        assert_eq!(liveness(absent), Liveness::Dead);
    }

    // Forks: runs in the host and qemu-aarch64 lanes, not under Miri.
    #[cfg(all(feature = "testing", not(miri)))]
    #[test]
    fn fork_child_gets_its_own_identity_and_token_zero_means_pid_only() {
        let parent = current();
        let child = crate::testing::fork(move || {
            let me = current();
            let ok = me.pid != parent.pid
                && me.pid == std::process::id()
                && liveness(me) == Liveness::Alive
                && liveness(parent) == Liveness::Alive;
            if ok { 0 } else { 1 }
        });
        child.join(std::time::Duration::from_secs(30));
        let unknown_token = OwnerId {
            pid: parent.pid,
            token: 0,
        };
        assert_eq!(liveness(unknown_token), Liveness::Alive);
    }
}
