//! The decision behind process liveness on macOS: what `proc_pidinfo(pid,
//! PROC_PIDTBSDINFO)` (and, when that is refused, `kill(pid, 0)`) answered → running with
//! this identity token, gone, or unknown. The macOS `imp` of `process.rs` makes the calls;
//! everything it decides is here, target-independent, so the table tests at the bottom run
//! on any host (as `retry.rs` does for the kernel waits).
//!
//! # Identity: why the start time, not `p_uniqueid`
//! A pid is reused; the identity that makes "is the holder still alive" exact must not be.
//! xnu has two: the start time (`pbi_start_tvsec`/`pbi_start_tvusec` of `struct
//! proc_bsdinfo`, microseconds) and a 64-bit `p_uniqueid` that is never reused. The unique
//! id is only reachable through the `PROC_PIDUNIQIDENTIFIERINFO` flavor, which the SDK
//! headers do not declare (it sits in the `PRIVATE` part of xnu's `sys/proc_info.h`; zig's
//! copy of the SDK headers, `lib/libc/include/any-darwin-any/sys/proc_info.h`, lists flavors
//! 1–16 and 19 only). So the token is the start time at the full resolution the public
//! struct carries, one microsecond, folded to 32 bits (`us ^ us >> 32`, never 0). Two
//! processes reusing one pid would have to start in the same microsecond (or collide in
//! the fold, one chance in 2^32) to be confused; a pid is only reused after its previous
//! owner was reaped.
//!
//! # Answers
//!
//! | `proc_pidinfo` | `kill(pid, 0)` | answer |
//! |---|---|---|
//! | full struct, `pbi_pid` = pid, status `SZOMB` | — | gone (a zombie never unlocks) |
//! | full struct, `pbi_pid` = pid, other status | — | running, token from the start time |
//! | full struct, `pbi_pid` ≠ pid | — | unknown (not the process we asked about) |
//! | short answer (1..size bytes) | — | unknown (a struct we do not know) |
//! | 0 / −1, `ESRCH` | — | gone |
//! | 0 / −1, `EPERM` (App Sandbox) or any other errno | 0 or `EPERM` | unknown — never dead |
//! | 0 / −1, any errno | `ESRCH` | gone |
//!
//! Unknown is read as alive by every caller: a lock never takes over from a process it
//! cannot see. Inside the App Sandbox `proc_pidinfo` of another process fails with `EPERM`
//! and `kill(pid, 0)` answers `EPERM` for a live peer too, so a sandboxed waiter learns of a
//! holder's death only once its pid is gone (`ESRCH`), and a pid reused in that window is
//! not noticed.
//!
//! # App Store
//! `proc_pidinfo` is declared in `libproc.h`, which Apple ships in the SDK but does not
//! document as public API; `libproc` is not covered by Apple's API promise for App Store
//! review. The `app-store-safe` build still imports exactly one libproc function,
//! `_proc_pidinfo` (plus POSIX `_kill`), from libSystem — listed with `llvm-nm -m -u` on the
//! zigbuilt `hal/tests/darwin_liveness.rs` binaries for both Apple targets, which
//! `ci/audit-apple-symbols.sh --profile app-store-safe` passes. It is not a `__`-prefixed
//! private symbol, but an App Store review that holds libproc to the public-API rule would
//! flag it; without it a lock can only learn of a holder's death from `kill(pid, 0)` →
//! `ESRCH` (no zombie, no pid-reuse detection).

// Off macOS only the unit tests use it.
#![cfg_attr(not(target_os = "macos"), allow(dead_code))]

use crate::process::Liveness;

/// Darwin values from the SDK headers, needed on every host for the tests; on Apple
/// targets they are checked against `libc` at compile time.
pub(crate) mod darwin {
    /// `EPERM`, `sys/errno.h`: operation not permitted (App Sandbox).
    pub(crate) const EPERM: i32 = 1;
    /// `ESRCH`, `sys/errno.h`: no such process.
    pub(crate) const ESRCH: i32 = 3;
    /// `PROC_PIDTBSDINFO`, `sys/proc_info.h`: the `struct proc_bsdinfo` flavor.
    pub(crate) const PROC_PIDTBSDINFO: i32 = 3;
    /// `SZOMB`, `sys/proc.h`: awaiting collection by its parent.
    pub(crate) const SZOMB: u32 = 5;
    /// `MAXCOMLEN`, `sys/param.h`.
    pub(crate) const MAXCOMLEN: usize = 16;

    #[cfg(target_vendor = "apple")]
    const _: () = {
        assert!(EPERM == libc::EPERM);
        assert!(ESRCH == libc::ESRCH);
        assert!(PROC_PIDTBSDINFO == libc::PROC_PIDTBSDINFO);
        assert!(SZOMB == libc::SZOMB);
        assert!(MAXCOMLEN == libc::MAXCOMLEN);
    };
}

/// `struct proc_bsdinfo` of `sys/proc_info.h` (SDK; zig's copy under
/// `lib/libc/include/any-darwin-any/`), declared here so that its size and offsets are
/// checked on every host: twelve 32-bit fields, `pbi_comm[MAXCOMLEN]`,
/// `pbi_name[2 * MAXCOMLEN]`, six 32-bit fields, then the two 64-bit start-time fields =
/// 136 bytes, align 8. (`uid_t`/`gid_t` are `__uint32_t`, `sys/_types.h`.)
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct ProcBsdInfo {
    pub(crate) pbi_flags: u32,
    pub(crate) pbi_status: u32,
    pub(crate) pbi_xstatus: u32,
    pub(crate) pbi_pid: u32,
    pub(crate) pbi_ppid: u32,
    pub(crate) pbi_uid: u32,
    pub(crate) pbi_gid: u32,
    pub(crate) pbi_ruid: u32,
    pub(crate) pbi_rgid: u32,
    pub(crate) pbi_svuid: u32,
    pub(crate) pbi_svgid: u32,
    pub(crate) rfu_1: u32,
    pub(crate) pbi_comm: [u8; darwin::MAXCOMLEN],
    pub(crate) pbi_name: [u8; 2 * darwin::MAXCOMLEN],
    pub(crate) pbi_nfiles: u32,
    pub(crate) pbi_pgid: u32,
    pub(crate) pbi_pjobc: u32,
    pub(crate) e_tdev: u32,
    pub(crate) e_tpgid: u32,
    pub(crate) pbi_nice: i32,
    pub(crate) pbi_start_tvsec: u64,
    pub(crate) pbi_start_tvusec: u64,
}

/// `sizeof(struct proc_bsdinfo)` = `PROC_PIDTBSDINFO_SIZE` (`sys/proc_info.h`).
pub(crate) const PROC_PIDTBSDINFO_SIZE: usize = 136;

const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<ProcBsdInfo>() == PROC_PIDTBSDINFO_SIZE);
    assert!(align_of::<ProcBsdInfo>() == 8);
    assert!(offset_of!(ProcBsdInfo, pbi_status) == 4);
    assert!(offset_of!(ProcBsdInfo, pbi_pid) == 12);
    assert!(offset_of!(ProcBsdInfo, pbi_comm) == 48);
    assert!(offset_of!(ProcBsdInfo, pbi_name) == 64);
    assert!(offset_of!(ProcBsdInfo, pbi_nice) == 116);
    assert!(offset_of!(ProcBsdInfo, pbi_start_tvsec) == 120);
    assert!(offset_of!(ProcBsdInfo, pbi_start_tvusec) == 128);
};
#[cfg(target_vendor = "apple")]
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<libc::proc_bsdinfo>() == PROC_PIDTBSDINFO_SIZE);
    assert!(offset_of!(libc::proc_bsdinfo, pbi_start_tvsec) == 120);
};

impl ProcBsdInfo {
    /// All zeros (what the kernel overwrites).
    pub(crate) const ZERO: ProcBsdInfo = ProcBsdInfo {
        pbi_flags: 0,
        pbi_status: 0,
        pbi_xstatus: 0,
        pbi_pid: 0,
        pbi_ppid: 0,
        pbi_uid: 0,
        pbi_gid: 0,
        pbi_ruid: 0,
        pbi_rgid: 0,
        pbi_svuid: 0,
        pbi_svgid: 0,
        rfu_1: 0,
        pbi_comm: [0; darwin::MAXCOMLEN],
        pbi_name: [0; 2 * darwin::MAXCOMLEN],
        pbi_nfiles: 0,
        pbi_pgid: 0,
        pbi_pjobc: 0,
        e_tdev: 0,
        e_tpgid: 0,
        pbi_nice: 0,
        pbi_start_tvsec: 0,
        pbi_start_tvusec: 0,
    };
}

/// What the calls say about a pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The process exists (not a zombie); its identity token.
    Running(u32),
    /// No such process, or a zombie.
    Gone,
    /// Could not be decided: never read as dead.
    Unknown,
}

/// What `kill(pid, 0)` said: 0, or the errno of its failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kill {
    /// The call succeeded: the pid exists and we may signal it.
    Exists,
    /// It failed with this errno.
    Errno(i32),
}

/// The identity token of a start time: microseconds since the epoch, folded to 32 bits,
/// never 0 (0 means "no token" to the lock code).
pub(crate) const fn start_token(sec: u64, usec: u64) -> u32 {
    let us = sec.wrapping_mul(1_000_000).wrapping_add(usec);
    let t = (us ^ (us >> 32)) as u32;
    if t == 0 { 1 } else { t }
}

/// Decides from `proc_pidinfo(pid, PROC_PIDTBSDINFO, 0, info, size)`'s return value `ret`,
/// the errno after it, and the struct it filled; `kill` is asked only when the first call
/// failed for another reason than `ESRCH` (see the module docs' table).
pub(crate) fn judge(
    pid: u32,
    ret: i32,
    errno: i32,
    info: &ProcBsdInfo,
    kill: impl FnOnce() -> Kill,
) -> Answer {
    if ret == PROC_PIDTBSDINFO_SIZE as i32 {
        if info.pbi_pid != pid {
            return Answer::Unknown;
        }
        if info.pbi_status == darwin::SZOMB {
            return Answer::Gone;
        }
        return Answer::Running(start_token(info.pbi_start_tvsec, info.pbi_start_tvusec));
    }
    if ret > 0 {
        // A short or longer answer: not the struct we declared.
        return Answer::Unknown;
    }
    if errno == darwin::ESRCH {
        return Answer::Gone;
    }
    // Not allowed to look (App Sandbox: EPERM) or another failure: kill(pid, 0) still
    // tells whether the pid exists at all.
    match kill() {
        Kill::Errno(darwin::ESRCH) => Answer::Gone,
        Kill::Exists | Kill::Errno(_) => Answer::Unknown,
    }
}

/// The liveness of an owner whose token is `token` (0: not published, judge by pid alone),
/// given the answer for its pid.
pub(crate) fn liveness(answer: Answer, token: u32) -> Liveness {
    match answer {
        Answer::Running(t) if t == token || token == 0 => Liveness::Alive,
        Answer::Running(_) | Answer::Gone => Liveness::Dead,
        Answer::Unknown => Liveness::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::darwin::{EPERM, ESRCH, SZOMB};
    use super::*;

    const SIZE: i32 = PROC_PIDTBSDINFO_SIZE as i32;
    /// `SRUN`, `sys/proc.h`.
    const SRUN: u32 = 2;
    const EINVAL: i32 = 22;

    fn info(pid: u32, status: u32, sec: u64, usec: u64) -> ProcBsdInfo {
        ProcBsdInfo {
            pbi_pid: pid,
            pbi_status: status,
            pbi_start_tvsec: sec,
            pbi_start_tvusec: usec,
            ..ProcBsdInfo::ZERO
        }
    }

    #[test]
    fn table_of_answers() {
        let t = start_token(1_700_000_000, 123_456);
        let never = || -> Kill { panic!("kill(pid, 0) must not be asked") };
        // (ret, errno, info, kill) → answer
        let running = info(42, SRUN, 1_700_000_000, 123_456);
        assert_eq!(judge(42, SIZE, 0, &running, never), Answer::Running(t));
        let zombie = info(42, SZOMB, 1_700_000_000, 123_456);
        assert_eq!(judge(42, SIZE, 0, &zombie, never), Answer::Gone);
        let other = info(43, SRUN, 1, 2);
        assert_eq!(judge(42, SIZE, 0, &other, never), Answer::Unknown);
        let zero = ProcBsdInfo::ZERO;
        assert_eq!(
            judge(42, 64, 0, &zero, never),
            Answer::Unknown,
            "short answer"
        );
        assert_eq!(judge(42, SIZE + 8, 0, &zero, never), Answer::Unknown);
        assert_eq!(judge(42, 0, ESRCH, &zero, never), Answer::Gone);
        assert_eq!(judge(42, -1, ESRCH, &zero, never), Answer::Gone);
        // The sandbox: EPERM from both calls is unknown, never dead.
        for ret in [0, -1] {
            assert_eq!(
                judge(42, ret, EPERM, &zero, || Kill::Errno(EPERM)),
                Answer::Unknown
            );
            assert_eq!(
                judge(42, ret, EPERM, &zero, || Kill::Exists),
                Answer::Unknown
            );
            assert_eq!(
                judge(42, ret, EPERM, &zero, || Kill::Errno(ESRCH)),
                Answer::Gone
            );
            assert_eq!(
                judge(42, ret, EINVAL, &zero, || Kill::Errno(EINVAL)),
                Answer::Unknown
            );
        }
    }

    #[test]
    fn liveness_never_guesses_dead() {
        let t = start_token(5, 6);
        assert_eq!(liveness(Answer::Running(t), t), Liveness::Alive);
        assert_eq!(liveness(Answer::Running(t), 0), Liveness::Alive, "pid only");
        assert_eq!(
            liveness(Answer::Running(t), t ^ 1),
            Liveness::Dead,
            "pid reused"
        );
        assert_eq!(liveness(Answer::Gone, t), Liveness::Dead);
        assert_eq!(liveness(Answer::Unknown, t), Liveness::Unknown);
        assert_eq!(liveness(Answer::Unknown, 0), Liveness::Unknown);
    }

    #[test]
    fn tokens_use_the_full_microsecond_and_are_never_zero() {
        // One microsecond apart: a pid reused within the same second is still told apart.
        assert_ne!(start_token(1_700_000_000, 1), start_token(1_700_000_000, 2));
        assert_ne!(
            start_token(1_700_000_000, 999_999),
            start_token(1_700_000_001, 0)
        );
        assert_ne!(start_token(0, 0), 0);
        // A start time that folds to 0 maps to 1.
        let us: u64 = 0x0000_0001_0000_0001; // hi ^ lo == 0
        assert_eq!(start_token(0, us), 1);
    }
}
