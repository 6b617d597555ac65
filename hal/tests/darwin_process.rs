//! Cross-process wait/wake on the Apple kernel backends (os_sync or ulock, whichever
//! `init()` chooses), between forked processes that map one shared object at different
//! addresses.
//!
//! Lanes: native macOS only (the hal's self dev-dependency turns `std` on) — the GitHub
//! macOS jobs (`macos-14`, `macos-15-intel`) run them on os_sync with the default and
//! `app-store-safe` features, and on ulock with `shmsync-hal/force-ulock` (ulock selected
//! although os_sync exists). Where Mach is chosen (`force-mach`, or `app-store-safe` on
//! macOS < 14.4) they check the choice and skip: Mach wakes cross processes only inside a region that joined its waiter table
//! (`hal/tests/mach_apple.rs` covers that). Not on this Linux host (no Mac), and not under
//! Miri (it cannot fork or map `MAP_SHARED`).
//!
//! How the tests prove a wake crossed the process boundary: the waited-on word **never
//! changes**, so a wait can only end by a wake (os_sync and ulock return on a wake or a
//! value mismatch, and the backend retries `EINTR` itself). Each child announces "about to
//! wait" and, after its wait returns, "returned" in shared memory. The parent first checks
//! that no child has returned 100 ms after the announcement (a wait that does not block
//! fails here; on a very slow machine this check can only miss a bug, never fail a correct
//! backend), then wakes until every child has returned; a wake that does not reach
//! the other process leaves the child blocked and the test fails at its time limit.
#![cfg(all(target_vendor = "apple", feature = "std", not(miri)))]

use shmsync_hal::atomic::{AtomicU32, Ordering};
use shmsync_hal::shm::{Mapping, SharedMemory};
use shmsync_hal::testing::fork;
use shmsync_hal::{Backend, Wait};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Generous limits: correctness, not speed.
const LIMIT: Duration = Duration::from_secs(20);
/// How long the parent watches for a wait that returned without a wake.
const QUIET: Duration = Duration::from_millis(100);

/// Word indexes in the shared page.
const WORD: usize = 0;
/// `ANNOUNCED + i`: child `i` is about to wait.
const ANNOUNCED: usize = 16;
/// `RETURNED + i`: child `i`'s wait returned (1: `Woken` with the word unchanged).
const RETURNED: usize = 32;

fn word(m: &Mapping, index: usize) -> &AtomicU32 {
    assert!((index + 1) * 4 <= m.len());
    // SAFETY: the mapping is page-aligned, at least `(index + 1) * 4` bytes long, lives as
    // long as `m`, and is only accessed through atomics.
    unsafe { &*m.as_ptr().cast::<AtomicU32>().add(index) }
}

/// The kernel-address backend in use, or `None` (after saying so) where Mach is chosen.
fn kernel_backend() -> Option<Backend> {
    match shmsync_hal::init() {
        b @ (Backend::OsSync | Backend::Ulock) => Some(b),
        Backend::Mach => {
            eprintln!("skipped: the Mach backend needs a region (see mach_apple.rs)");
            None
        }
        b => panic!("unexpected backend on macOS: {b:?}"),
    }
}

fn until(limit: Duration, mut done: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        sleep(Duration::from_millis(1));
    }
}

/// Forks `n` children that each map the object again (at another address), announce
/// themselves and wait on `WORD` while it is 0.
fn spawn_waiters(
    shm: &SharedMemory,
    parent: &Mapping,
    n: usize,
) -> Vec<shmsync_hal::testing::Child> {
    (0..n)
        .map(|i| {
            fork(|| {
                let Ok(m) = shm.map() else { return 2 };
                if m.as_ptr() == parent.as_ptr() {
                    return 3; // the test needs two different addresses
                }
                word(&m, ANNOUNCED + i).store(1, Ordering::Release);
                let r = shmsync_hal::wait(word(&m, WORD), 0, None);
                let unchanged = word(&m, WORD).load(Ordering::Acquire) == 0;
                word(&m, RETURNED + i).store(1, Ordering::Release);
                if r == Wait::Woken && unchanged { 0 } else { 4 }
            })
        })
        .collect()
}

#[test]
fn init_reports_the_backend_this_build_may_use() {
    let b = shmsync_hal::init();
    assert_eq!(b, shmsync_hal::backend());
    if cfg!(feature = "force-mach") {
        assert_eq!(b, Backend::Mach);
    } else if cfg!(feature = "app-store-safe") {
        assert!(matches!(b, Backend::OsSync | Backend::Mach), "{b:?}");
    } else {
        assert!(matches!(b, Backend::OsSync | Backend::Ulock), "{b:?}");
    }
}

#[test]
fn wake_one_reaches_a_waiter_in_another_process() {
    let Some(_) = kernel_backend() else { return };
    let shm = SharedMemory::create(4096).unwrap();
    let m = shm.map().unwrap();
    let mut children = spawn_waiters(&shm, &m, 1);
    until(
        LIMIT,
        || word(&m, ANNOUNCED).load(Ordering::Acquire) == 1,
        "the child",
    );
    sleep(QUIET);
    assert_eq!(
        word(&m, RETURNED).load(Ordering::Acquire),
        0,
        "wait returned without a wake"
    );
    until(
        LIMIT,
        || {
            shmsync_hal::wake_one(word(&m, WORD));
            word(&m, RETURNED).load(Ordering::Acquire) == 1
        },
        "the cross-process wake",
    );
    children.pop().unwrap().join(LIMIT);
}

#[test]
fn wake_all_reaches_waiters_in_two_processes() {
    let Some(_) = kernel_backend() else { return };
    let shm = SharedMemory::create(4096).unwrap();
    let m = shm.map().unwrap();
    let children = spawn_waiters(&shm, &m, 2);
    until(
        LIMIT,
        || (0..2).all(|i| word(&m, ANNOUNCED + i).load(Ordering::Acquire) == 1),
        "both children",
    );
    sleep(QUIET);
    for i in 0..2 {
        assert_eq!(
            word(&m, RETURNED + i).load(Ordering::Acquire),
            0,
            "child {i} returned early"
        );
    }
    until(
        LIMIT,
        || {
            shmsync_hal::wake_all(word(&m, WORD));
            (0..2).all(|i| word(&m, RETURNED + i).load(Ordering::Acquire) == 1)
        },
        "the cross-process wake_all",
    );
    for c in children {
        c.join(LIMIT);
    }
}

#[test]
fn store_then_wake_hand_off_across_processes_never_loses_a_wake() {
    // The futex hand-off both ways, 200 rounds: the child waits for odd values, the parent
    // for even ones; each side stores the next value, then wakes. A wait that times out
    // after 30 s with the word unchanged is a lost wake (the peer answers in microseconds).
    let Some(_) = kernel_backend() else { return };
    const ROUNDS: u32 = 200;
    const LOST: Duration = Duration::from_secs(30);
    let shm = SharedMemory::create(4096).unwrap();
    let m = shm.map().unwrap();
    let child = fork(|| {
        let Ok(cm) = shm.map() else { return 2 };
        let w = word(&cm, WORD);
        for r in 0..ROUNDS {
            let mine = 2 * r + 1;
            loop {
                let v = w.load(Ordering::Acquire);
                if v == mine {
                    break;
                }
                let r = shmsync_hal::wait(w, v, Some(LOST));
                if r == Wait::TimedOut && w.load(Ordering::Acquire) == v {
                    return 5; // lost wake
                }
            }
            w.store(mine + 1, Ordering::Release);
            shmsync_hal::wake_one(w);
        }
        0
    });
    let w = word(&m, WORD);
    for r in 0..ROUNDS {
        w.store(2 * r + 1, Ordering::Release);
        shmsync_hal::wake_one(w);
        loop {
            let v = w.load(Ordering::Acquire);
            if v == 2 * r + 2 {
                break;
            }
            let res = shmsync_hal::wait(w, v, Some(LOST));
            assert!(
                res == Wait::Woken || w.load(Ordering::Acquire) != v,
                "round {r}: lost wake"
            );
        }
    }
    child.join(LOST);
}
