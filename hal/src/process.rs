//! Process identity and liveness, for locks and ring roles whose holder may die.
//!
//! An [`OwnerId`] is a process id, a *token* derived from the process's start time (so
//! that a pid reused by a newer process is not mistaken for the old owner) and the
//! identity of the pid namespace the pid belongs to (a pid means nothing outside its
//! namespace).
//!
//! [`liveness`] has three answers, and only [`Liveness::Dead`] is ever a proof:
//!
//! | OS | token | namespace | dead only when |
//! |---|---|---|---|
//! | Linux, Android | low 32 bits of `starttime` (field 22 of `/proc/<pid>/stat`, clock ticks since boot) | inode of `/proc/self/ns/pid` (or `PIDFD_GET_PID_NAMESPACE` without `/proc`) | the holder's namespace is ours **and** `pidfd_open(pid)` says no such process (`ESRCH`), or the pid is now a non-leader thread (`EINVAL`), or the pidfd reports the whole thread group exited, or the process now behind that pid started at another time |
//! | macOS | `pbi_start_tvsec * 1e6 + pbi_start_tvusec` folded to 32 bits, from `proc_pidinfo(PROC_PIDTBSDINFO)` | one namespace (1) | `proc_pidinfo` → `ESRCH` or status `SZOMB`, or a different start time |
//! | no OS | 0 (one program, nothing to die) | 0 | never: always [`Liveness::Unknown`] |
//!
//! **Unknown is never dead (Linux).** A holder in another pid namespace (a container,
//! Flatpak/bubblewrap, `unshare -p`), a process whose namespace could not be determined,
//! a pid that exists but whose start time cannot be read (`/proc` not mounted, mounted with
//! `hidepid=2`, `EPERM`), and kernels without `pidfd_open` (before 5.3: only `ESRCH` from
//! `kill(pid, 0)` is a proof there) all give [`Liveness::Unknown`], which callers treat as
//! alive. Existence is asked with `pidfd_open`, which resolves the pid in the *caller's*
//! namespace whatever `/proc` is mounted, so a dead holder is still detected without
//! `/proc`. Whether the process has exited is asked on the pidfd (`poll` → `POLLIN` once
//! every thread is gone), so a main thread that called `pthread_exit` while other threads
//! run is alive, and a zombie is dead. The start time is read from `/proc/<n>/stat`, where
//! `n` is the same process's pid in the `/proc` mount's namespace, taken from the pidfd's
//! `/proc/self/fdinfo` entry (so a `/proc` of an ancestor namespace is read correctly).
//!
//! Limits of the pid path, plainly: a holder that is pid 1 of its own namespace (or any
//! holder in another namespace) is never declared dead (use a region's lease for that); a
//! pid reused by a process that started in the same clock tick (10 ms) — or, for a
//! [`short_token`], in a tick with the same residue — reads as the holder (alive); a holder
//! that calls `exec` keeps its pid and start time and therefore reads as alive (its locks
//! stay held); two processes in different *time* namespaces see different start times.
//!
//! **App Sandbox (macOS).** A sandboxed process may not inspect other processes:
//! `proc_pidinfo` fails with `EPERM` and `kill(pid, 0)` answers `EPERM` even for a live
//! peer. Both are read as [`Liveness::Unknown`], which callers treat as alive: in a sandbox,
//! owner death is only detected when the peer's process id no longer exists (`ESRCH`). This
//! follows from the documented sandbox rules; it was not executed here (no Mac).

/// Who holds a lock or a ring role: process id, start-time token and pid namespace.
/// All-zero means nobody.
///
/// `#[repr(C)]`, three `u32`: the same layout on every target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct OwnerId {
    /// Process id in namespace `ns` (never 0 for a real process).
    pub pid: u32,
    /// Start-time token (0 = not known); see the module docs.
    pub token: u32,
    /// The pid namespace `pid` belongs to: [`current_ns`] of the holder; 0 = not known
    /// (such a holder is never declared dead).
    pub ns: u32,
}

const _: () = assert!(core::mem::size_of::<OwnerId>() == 12);
const _: () = assert!(core::mem::align_of::<OwnerId>() == 4);

impl OwnerId {
    /// Nobody.
    pub const NONE: OwnerId = OwnerId {
        pid: 0,
        token: 0,
        ns: 0,
    };

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
    /// Proven gone: no process has that pid in the holder's namespace any more, it exited
    /// (a zombie), or its pid now belongs to a process that started at another time.
    Dead,
    /// Could not be decided (another pid namespace, no `/proc`, `hidepid`, no permission,
    /// no OS): treat as alive.
    Unknown,
}

/// The 9-bit form of a start-time token that fits beside a 22-bit pid in one 32-bit lock
/// word: `token % 511 + 1`, never 0 (0 stays "not known"). Two processes with the same
/// pid whose start times agree modulo 511 ticks are not told apart (they read as alive,
/// never as dead). Real-time class: wait-free.
pub const fn short_token(token: u32) -> u32 {
    token % 511 + 1
}

/// This process's identity, computed once and cached.
///
/// Real-time class: **wait-free** after the first call (three relaxed loads, no syscall:
/// `getpid` is a real syscall in glibc ≥ 2.25, ~150 ns on the CI machine, too slow for a lock
/// fast path); the first call **may block** (reads `/proc/self/stat` and
/// `/proc/self/ns/pid`, or calls `proc_pidinfo`). Call it once at start-up before using it
/// on a real-time thread.
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
            ns: CACHED_NS.load(Ordering::Relaxed),
        };
    }
    current_slow()
}

/// This process's pid namespace identity (0 = could not be determined); the `ns` of
/// [`current`]. Real-time class: as [`current`].
#[inline]
pub fn current_ns() -> u32 {
    current().ns
}

/// Bits of a [`current_tag`] that hold the pid (Linux pids stay below 2^22,
/// `PID_MAX_LIMIT`; macOS pids below 100,000).
pub const TAG_PID_BITS: u32 = (1 << 22) - 1;

/// This process as a 31-bit tag for a 32-bit lock word: the pid in bits 0–21 (or
/// [`TAG_PID_BITS`] when the pid does not fit, or is unknown) and the [`short_token`] of the
/// start-time token in bits 22–30 (0 when the token is unknown), with this process's
/// namespace ([`current_ns`]). Never 0.
///
/// Real-time class: **wait-free** after the first call (two loads, cached beside
/// [`current`], recomputed in a fork child); the first call **may block**, as [`current`].
#[inline]
pub fn current_tag() -> (u32, u32) {
    let tag = CACHED_TAG.load(Ordering::Acquire);
    if tag != 0 {
        return (tag, CACHED_NS.load(Ordering::Relaxed));
    }
    let id = current_slow();
    (tag_of(id), id.ns)
}

/// The [`current_tag`] of `id`.
const fn tag_of(id: OwnerId) -> u32 {
    let pid = if id.pid == 0 || id.pid >= TAG_PID_BITS {
        TAG_PID_BITS
    } else {
        id.pid
    };
    let short = if id.token == 0 {
        0
    } else {
        short_token(id.token)
    };
    pid | short << 22
}

use crate::atomic::{AtomicU32, Ordering};

/// Cached pid of this process, 0 = not computed yet (or cleared in a fork child).
static CACHED_PID: AtomicU32 = AtomicU32::new(0);
/// Cached start-time token, valid when `CACHED_PID` is non-zero.
static CACHED_TOKEN: AtomicU32 = AtomicU32::new(0);
/// Cached pid namespace identity, valid when `CACHED_PID` is non-zero.
static CACHED_NS: AtomicU32 = AtomicU32::new(0);
/// Cached [`current_tag`], 0 = not computed yet (or cleared in a fork child).
static CACHED_TAG: AtomicU32 = AtomicU32::new(0);

#[cold]
fn current_slow() -> OwnerId {
    register_fork_handler();
    let pid = own_pid();
    let token = start_token(pid).unwrap_or(0);
    let ns = own_ns();
    CACHED_TOKEN.store(token, Ordering::Relaxed);
    CACHED_NS.store(ns, Ordering::Relaxed);
    let id = OwnerId { pid, token, ns };
    CACHED_TAG.store(tag_of(id), Ordering::Release);
    CACHED_PID.store(pid, Ordering::Release);
    id
}

#[cfg(all(unix, not(miri)))]
fn register_fork_handler() {
    use crate::atomic::AtomicBool;
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    extern "C" fn in_child() {
        // The child has one thread; the next `current()` recomputes pid, token and ns.
        CACHED_PID.store(0, Ordering::Relaxed);
        CACHED_TAG.store(0, Ordering::Relaxed);
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
/// means "token not known": such an owner is decided by its pid alone. See the module docs
/// for when the answer is [`Liveness::Unknown`].
///
/// Real-time class: **may block** (a few syscalls; reads `/proc` on Linux). Lock and ring
/// code calls it only on slow paths, after waiting a while.
pub fn liveness(owner: OwnerId) -> Liveness {
    liveness_as(owner, |t| t)
}

/// As [`liveness`] for an owner whose token is `fold` of the start-time token (e.g.
/// [`short_token`]): the process behind the pid is compared by `fold(its token)`.
///
/// Real-time class: **may block**.
pub fn liveness_as(owner: OwnerId, fold: fn(u32) -> u32) -> Liveness {
    if owner.is_none() {
        return Liveness::Dead;
    }
    if cfg!(miri) {
        return Liveness::Unknown;
    }
    let me = current();
    if owner.ns == 0 || me.ns == 0 || owner.ns != me.ns {
        // A pid of another (or an unknown) namespace names nobody we can see.
        return Liveness::Unknown;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        imp::liveness_as(owner, fold)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        match imp::start_info(owner.pid) {
            imp::Start::Running(t) if owner.token == 0 || fold(t) == owner.token => Liveness::Alive,
            // The pid now names a process that started at another time: reused.
            imp::Start::Running(_) => Liveness::Dead,
            // Gone or undecided: the backend's own rules (ESRCH, zombie, EPERM).
            _ => imp::liveness(owner),
        }
    }
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

#[cfg(any(target_os = "linux", target_os = "android"))]
fn own_ns() -> u32 {
    if cfg!(miri) {
        return 1;
    }
    imp::own_ns()
}

/// macOS has no pid namespaces: every process shares namespace 1.
#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
fn own_ns() -> u32 {
    1
}

/// No OS: nothing to judge, so no namespace (0: never judged).
#[cfg(not(unix))]
fn own_ns() -> u32 {
    0
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
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = pid;
        imp::own_start()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    match imp::start_info(pid) {
        imp::Start::Running(t) => Some(t),
        _ => None,
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use super::{Liveness, OwnerId};

    /// A NUL-terminated path built on the stack (no allocation).
    #[derive(Clone, Copy)]
    struct StackPath {
        buf: [u8; 64],
        len: usize,
    }

    impl StackPath {
        fn new() -> Self {
            StackPath {
                buf: [0; 64],
                len: 0,
            }
        }

        fn push(&mut self, bytes: &[u8]) -> &mut Self {
            for &b in bytes {
                // The last byte stays NUL: longer paths are cut (and then not found).
                if self.len + 1 < self.buf.len() {
                    self.buf[self.len] = b;
                    self.len += 1;
                }
            }
            self
        }

        fn push_decimal(&mut self, v: u32) -> &mut Self {
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
            self
        }

        fn as_ptr(&self) -> *const libc::c_char {
            self.buf.as_ptr().cast()
        }
    }

    /// An open descriptor, closed on drop.
    struct Fd(libc::c_int);

    impl Drop for Fd {
        fn drop(&mut self) {
            // SAFETY: closing a descriptor this value owns, once.
            unsafe { libc::close(self.0) };
        }
    }

    /// Reads at most `buf.len()` bytes of the file at `path`; `None` if it cannot be read.
    fn read_file<'b>(path: &StackPath, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        // SAFETY: `path` is NUL-terminated (zero-initialised, last byte never written).
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        let fd = Fd(fd);
        // SAFETY: `buf` is writable for its length; `fd` is open.
        let len = unsafe { libc::read(fd.0, buf.as_mut_ptr().cast(), buf.len()) };
        if len <= 0 {
            return None;
        }
        Some(&buf[..len as usize])
    }

    /// Parses a decimal number at the start of `s` (stops at the first non-digit).
    fn parse_decimal(s: &[u8]) -> Option<u64> {
        let mut t: u64 = 0;
        let mut any = false;
        for &c in s {
            if !c.is_ascii_digit() {
                break;
            }
            any = true;
            t = t.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
        }
        any.then_some(t)
    }

    /// Parses state (field 3) and starttime (field 22, low 32 bits) from a stat line. The
    /// state is returned for tests; liveness does not use it (a leader thread that called
    /// `pthread_exit` shows `Z` while its process runs on; the pidfd tells exit exactly).
    pub(super) fn parse_stat(line: &[u8]) -> Option<(u8, u32)> {
        // comm may contain spaces and ')': the fields start after the LAST ')'.
        let close = line.iter().rposition(|&b| b == b')')?;
        let mut fields = line[close + 1..]
            .split(|&b| b == b' ')
            .filter(|f| !f.is_empty());
        let state = *fields.next()?.first()?;
        // state is field 3, starttime field 22: skip fields 4..=21.
        let start = fields.nth(18)?;
        if !start.iter().all(|c| c.is_ascii_digit() || *c == b'\n') {
            return None;
        }
        Some((state, parse_decimal(start)? as u32))
    }

    /// This process's start-time token, read at `/proc/<n>/task/<n>/stat` where `n` is
    /// `/proc/self`'s target: our pid in the `/proc` mount's namespace (which is not our
    /// own namespace's pid when `/proc` belongs to an ancestor namespace). The task path,
    /// not `/proc/self/stat`: qemu-user answers a process's reads of its *own*
    /// `/proc/<pid>/stat` with an emulated line whose start time differs from what other
    /// processes read; it does not emulate the task path, so both sides see the kernel's
    /// value. `None` without a readable `/proc`.
    pub(super) fn own_start() -> Option<u32> {
        let mut link = [0u8; 16];
        let path = *StackPath::new().push(b"/proc/self");
        // SAFETY: `path` is NUL-terminated; `link` is writable for its length.
        let n = unsafe { libc::readlink(path.as_ptr(), link.as_mut_ptr().cast(), link.len()) };
        if n <= 0 {
            return None;
        }
        let pid = parse_decimal(&link[..n as usize])? as u32;
        let mut stat = StackPath::new();
        stat.push(b"/proc/")
            .push_decimal(pid)
            .push(b"/task/")
            .push_decimal(pid)
            .push(b"/stat");
        let mut buf = [0u8; 512];
        let line = read_file(&stat, &mut buf)?;
        parse_stat(line).map(|(_, t)| t)
    }

    /// The inode of this process's pid namespace, truncated to 32 bits (nsfs inodes are
    /// allocated below 2^32; 0 = not known): `stat("/proc/self/ns/pid")`, or without
    /// `/proc`, `ioctl(pidfd_open(getpid()), PIDFD_GET_PID_NAMESPACE)` (Linux 6.11+).
    pub(super) fn own_ns() -> u32 {
        let path = *StackPath::new().push(b"/proc/self/ns/pid");
        // SAFETY: an all-zero `stat` is a valid value to be overwritten.
        let mut st: libc::stat = unsafe { core::mem::zeroed() };
        // SAFETY: `path` is NUL-terminated; `st` is writable.
        if unsafe { libc::stat(path.as_ptr(), &mut st) } == 0 {
            return st.st_ino as u32;
        }
        let Some(pidfd) = pidfd_open(super::own_pid()).ok() else {
            return 0;
        };
        /// `_IO(PIDFS_IOCTL_MAGIC = 0xFF, 5)`, include/uapi/linux/pidfd.h.
        const PIDFD_GET_PID_NAMESPACE: libc::c_ulong = 0xFF05;
        // SAFETY: the ioctl takes no argument and returns a new descriptor or -1.
        let nsfd = unsafe { libc::ioctl(pidfd.0, PIDFD_GET_PID_NAMESPACE as _, 0) };
        if nsfd < 0 {
            return 0;
        }
        let nsfd = Fd(nsfd);
        // SAFETY: `nsfd` is open; `st` is writable.
        if unsafe { libc::fstat(nsfd.0, &mut st) } == 0 {
            st.st_ino as u32
        } else {
            0
        }
    }

    /// `pidfd_open(pid, 0)`: a descriptor for the process `pid` *of the caller's pid
    /// namespace* (whatever `/proc` is mounted), or the errno.
    fn pidfd_open(pid: u32) -> Result<Fd, i32> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd < 0 {
            Err(crate::unix::errno())
        } else {
            Ok(Fd(fd as libc::c_int))
        }
    }

    /// True once every thread of the pidfd's process has exited (`POLLIN`): it is a zombie
    /// or already reaped. A leader that called `pthread_exit` while other threads run does
    /// not count.
    fn exited(pidfd: &Fd) -> bool {
        let mut p = libc::pollfd {
            fd: pidfd.0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, timeout 0 (no wait).
        let r = unsafe { libc::poll(&mut p, 1, 0) };
        r == 1 && p.revents & libc::POLLIN != 0
    }

    /// The pidfd's process's pid in the `/proc` mount's namespace, from the `Pid:` line of
    /// `/proc/self/fdinfo/<fd>` (readable for one's own descriptors even under `hidepid`).
    /// `None` if unreadable or the process is not visible there (0 or -1).
    fn proc_pid(pidfd: &Fd) -> Option<u32> {
        let mut path = StackPath::new();
        path.push(b"/proc/self/fdinfo/")
            .push_decimal(pidfd.0 as u32);
        let mut buf = [0u8; 512];
        let text = read_file(&path, &mut buf)?;
        let mut lines = text.split(|&b| b == b'\n');
        let line = lines.find(|l| l.starts_with(b"Pid:"))?;
        let value = line[4..].iter().position(|c| !c.is_ascii_whitespace())?;
        let n = parse_decimal(&line[4 + value..])?;
        (n > 0 && n <= u64::from(u32::MAX)).then_some(n as u32)
    }

    /// Liveness of `owner`, whose namespace is known to be ours. States, in order:
    /// 1. `pidfd_open` → `ESRCH`: no process has this pid here → **Dead**. `EINVAL`: the
    ///    pid is now a thread of another process, so no process has it → **Dead**.
    ///    `ENOSYS` (Linux < 5.3): `kill(pid, 0)` → `ESRCH` → **Dead**, else **Unknown**.
    ///    Any other error (e.g. `EMFILE`) → **Unknown**.
    /// 2. The pidfd reports the whole thread group exited → **Dead** (a zombie).
    /// 3. No token to compare (`owner.token == 0`) → **Alive**.
    /// 4. Start time from `/proc/<n>/stat` (`n` from the pidfd's fdinfo); unreadable
    ///    (`/proc` missing, `hidepid`, `EPERM`) → **Unknown**. Read, then re-check 2 (the
    ///    pidfd pins the process, so a pid reused after the first check is caught by the
    ///    second). Equal `fold(start)` → **Alive**, different → **Dead** (reused pid).
    pub(super) fn liveness_as(owner: OwnerId, fold: fn(u32) -> u32) -> Liveness {
        let pidfd = match pidfd_open(owner.pid) {
            Ok(fd) => fd,
            Err(libc::ESRCH) | Err(libc::EINVAL) => return Liveness::Dead,
            Err(libc::ENOSYS) => {
                // SAFETY: signal 0 performs only the existence and permission checks.
                let k = unsafe { libc::kill(owner.pid as libc::pid_t, 0) };
                return if k != 0 && crate::unix::errno() == libc::ESRCH {
                    Liveness::Dead
                } else {
                    Liveness::Unknown
                };
            }
            Err(_) => return Liveness::Unknown,
        };
        if exited(&pidfd) {
            return Liveness::Dead;
        }
        if owner.token == 0 {
            return Liveness::Alive;
        }
        let Some(n) = proc_pid(&pidfd) else {
            return Liveness::Unknown;
        };
        // The leader's task entry, not `/proc/<n>/stat`: qemu-user emulates a process's
        // reads of its *own* `/proc/<pid>/stat` with another start time (see `own_start`),
        // so a process judging itself would read a live owner as a reused pid. The
        // leader's entry stays while any thread of the group runs, with the process's
        // start time.
        let mut path = StackPath::new();
        path.push(b"/proc/")
            .push_decimal(n)
            .push(b"/task/")
            .push_decimal(n)
            .push(b"/stat");
        let mut buf = [0u8; 512];
        let start = read_file(&path, &mut buf).and_then(parse_stat);
        if exited(&pidfd) {
            return Liveness::Dead;
        }
        match start {
            Some((_, t)) if fold(t) == owner.token => Liveness::Alive,
            Some(_) => Liveness::Dead,
            None => Liveness::Unknown,
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
    use super::imp::parse_stat;
    #[cfg_attr(miri, allow(unused_imports))]
    use super::*;

    #[test]
    fn parses_stat_with_hostile_comm() {
        let line =
            b"42 (a) b) c (d) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1 2\n";
        assert_eq!(parse_stat(line), Some((b'S', 987_654)));
        // A zombie leader still has its start time; liveness asks the pidfd about exit.
        let zombie = b"42 (x) Z 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 5 1 2\n";
        assert_eq!(parse_stat(zombie), Some((b'Z', 5)));
        assert_eq!(parse_stat(b"garbage"), None);
        assert_eq!(parse_stat(b"1 (x) S 1 2"), None);
    }

    #[test]
    fn short_token_is_never_zero() {
        for t in [0, 1, 510, 511, 512, u32::MAX] {
            assert!((1..=511).contains(&short_token(t)));
        }
        assert_ne!(short_token(1000), short_token(1001));
    }

    // Reads /proc, which Miri's isolation forbids: runs in the host and qemu-aarch64 lanes.
    #[cfg(not(miri))]
    #[test]
    fn self_is_alive_and_wrong_token_or_pid_is_dead() {
        let me = current();
        assert_ne!(me.pid, 0);
        assert_ne!(me.token, 0, "start time of a running process is after boot");
        assert_ne!(me.ns, 0, "pid namespace of a process with /proc is known");
        assert_eq!(current(), me, "cached value is stable");
        let (tag, ns) = current_tag();
        assert_eq!(
            (tag & TAG_PID_BITS, tag >> 22, ns),
            (me.pid, short_token(me.token), me.ns)
        );
        assert_eq!(liveness(me), Liveness::Alive);
        let short = OwnerId {
            token: short_token(me.token),
            ..me
        };
        assert_eq!(liveness_as(short, short_token), Liveness::Alive);
        let reused = OwnerId {
            token: me.token.wrapping_add(1),
            ..me
        };
        assert_eq!(liveness(reused), Liveness::Dead);
        assert_eq!(liveness(OwnerId::NONE), Liveness::Dead);
        // pid_max is at most 2^22 on Linux: this pid cannot exist.
        let absent = OwnerId {
            pid: 0x7fff_fff0,
            ..me
        };
        assert_eq!(liveness(absent), Liveness::Dead);
        // The same pid in another (or an unknown) namespace is never judged.
        let foreign = OwnerId {
            ns: me.ns ^ 1,
            ..absent
        };
        assert_eq!(liveness(foreign), Liveness::Unknown);
        let unknown_ns = OwnerId { ns: 0, ..absent };
        assert_eq!(liveness(unknown_ns), Liveness::Unknown);
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
                && me.ns == parent.ns
                && liveness(me) == Liveness::Alive
                && liveness(parent) == Liveness::Alive;
            if ok { 0 } else { 1 }
        });
        child.join(std::time::Duration::from_secs(30));
        let unknown_token = OwnerId { token: 0, ..parent };
        assert_eq!(liveness(unknown_token), Liveness::Alive);
    }

    // A zombie (exited, not reaped) is dead; a process whose main thread called
    // `pthread_exit` while another thread runs is alive. Forks: host and qemu lanes.
    #[cfg(all(feature = "std", not(miri)))]
    #[test]
    fn zombie_is_dead_but_exited_main_thread_with_live_worker_is_alive() {
        let child = crate::testing::fork(|| {
            std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_secs(2)));
            // Ends only the calling (main) thread, as `pthread_exit` does in the kernel's
            // view, without the forced unwind that `catch_unwind` in `fork` would stop.
            // SAFETY: SYS_exit ends this thread; nothing of it is used afterwards.
            unsafe { libc::syscall(libc::SYS_exit, 0) };
            unreachable!()
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        let id = OwnerId {
            pid: child.pid() as u32,
            token: 0,
            ns: current_ns(),
        };
        assert_eq!(
            liveness(id),
            Liveness::Alive,
            "main thread exited, worker runs"
        );
        child.join(std::time::Duration::from_secs(30));
        let zombie = crate::testing::fork(|| 0);
        let pid = zombie.pid() as u32;
        std::thread::sleep(std::time::Duration::from_millis(300));
        let id = OwnerId {
            pid,
            token: 0,
            ns: current_ns(),
        };
        assert_eq!(liveness(id), Liveness::Dead, "exited, not reaped yet");
        zombie.join(std::time::Duration::from_secs(30));
    }
}
