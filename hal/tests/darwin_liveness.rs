//! Process liveness on macOS (`proc_pidinfo(PROC_PIDTBSDINFO)` + `kill(pid, 0)`), against
//! real processes: this process, a reused-pid token, a zombie, a reaped child and a pid
//! that cannot exist. The decision table itself is unit-tested on every host
//! (`hal/src/pidinfo.rs`); this file checks what the kernel answers.
//!
//! Lanes: native macOS only (the GitHub macOS jobs); on this Linux host it is linked for
//! both Apple targets by the apple-link lane (so `_proc_pidinfo` shows in the symbol audit)
//! but not run. Not under Miri (no `proc_pidinfo`, no `fork`). Outside the App Sandbox: a
//! sandboxed run answers `Unknown` for other processes, which is the documented behaviour.
#![cfg(all(target_os = "macos", feature = "std", not(miri)))]

use shmsync_hal::process::{Liveness, OwnerId, current, liveness};
use shmsync_hal::testing::fork;
use std::time::{Duration, Instant};

#[test]
fn self_alive_reused_pid_dead_absent_dead() {
    let me = current();
    assert_ne!(me.token, 0, "proc_pidinfo on ourselves gives a start time");
    assert_eq!(liveness(me), Liveness::Alive);
    let reused = OwnerId {
        pid: me.pid,
        token: me.token ^ 1,
        ns: 0,
    };
    assert_eq!(liveness(reused), Liveness::Dead);
    // pid_max is 99,999 on macOS: this pid cannot exist.
    let absent = OwnerId {
        pid: 0x7fff_fff0,
        token: 7,
        ns: 0,
    };
    assert_eq!(liveness(absent), Liveness::Dead);
}

#[test]
fn zombie_and_reaped_children_are_dead() {
    let child = fork(|| {
        std::thread::sleep(Duration::from_secs(600));
        0
    });
    let pid = child.pid() as u32;
    let start = Instant::now();
    // The child's identity as another process sees it.
    let id = loop {
        let id = OwnerId {
            pid,
            token: 0,
            ns: 0,
        };
        if liveness(id) == Liveness::Alive {
            break id;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "child never seen alive"
        );
    };
    assert_eq!(liveness(id), Liveness::Alive);
    child.signal(libc::SIGKILL);
    // Not reaped yet: a zombie, which never unlocks.
    let start = Instant::now();
    while liveness(id) != Liveness::Dead {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "zombie not seen dead"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = child.wait_timeout(Duration::from_secs(30));
    assert_eq!(liveness(id), Liveness::Dead, "reaped: ESRCH");
}
