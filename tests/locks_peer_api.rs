//! The API that std's and parking_lot's users look for, across forked processes:
//! `Condvar::wait_while` / `wait_timeout_while`, `RwLockWriteGuard::downgrade`,
//! `Mutex::into_inner`.
//!
//! Forks and maps shared memory, which Miri cannot: `cfg(not(miri))`, run by the host and
//! qemu-aarch64 lanes.
#![cfg(not(any(miri, loom)))]

use shmsync::hal::atomic::{AtomicU32, Ordering};
use shmsync::hal::shm::{Mapping, SharedMemory};
use shmsync::hal::testing::fork;
use shmsync::sync::{Condvar, Mutex, RwLock};
use shmsync::{ShmSafe, attach, init, region};
use std::time::{Duration, Instant};

const CHILD_LIMIT: Duration = Duration::from_secs(60);

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    count: Mutex<u32>,
    changed: Condvar,
    table: RwLock<u32>,
    step: AtomicU32,
}

fn create() -> (SharedMemory, Mapping) {
    let shm = SharedMemory::create(region::required_len::<Shared>()).unwrap();
    let map = shm.map().unwrap();
    // SAFETY: a fresh zero-filled mapping that only shmsync uses.
    unsafe { init::<Shared>(map.as_ptr(), map.len()) }.unwrap();
    (shm, map)
}

/// In a child: a new mapping of the object (another address) and its root.
fn remap(shm: &SharedMemory) -> (Mapping, &'static Shared) {
    let map = shm.map().unwrap();
    // SAFETY: live read/write mapping, kept until the child `_exit`s.
    let root = unsafe { attach::<Shared>(map.as_ptr(), map.len()) }
        .unwrap()
        .get();
    // SAFETY: the child never unmaps it.
    (map, unsafe { &*(root as *const Shared) })
}

fn root(map: &Mapping) -> &Shared {
    // SAFETY: initialised by `create`, live as long as `map`.
    unsafe { attach::<Shared>(map.as_ptr(), map.len()) }
        .unwrap()
        .get()
}

fn wait_step(s: &Shared, at_least: u32) {
    let t = Instant::now();
    while s.step.load(Ordering::Acquire) < at_least {
        assert!(
            t.elapsed() < CHILD_LIMIT,
            "peer never reached step {at_least}"
        );
        std::thread::yield_now();
    }
}

#[test]
fn wait_while_returns_once_another_process_makes_the_condition_false() {
    const N: u32 = 2_000;
    let (shm, map) = create();
    let s = root(&map);
    let child = fork(|| {
        let (_m, s) = remap(&shm);
        for _ in 0..N {
            *s.count.lock().unwrap() += 1;
            s.changed.notify_all();
        }
        0
    });
    // Every wake-up re-checks under the mutex; only the final count ends the wait.
    let guard = s
        .changed
        .wait_while(s.count.lock().unwrap(), |c| *c < N)
        .unwrap();
    assert_eq!(*guard, N);
    drop(guard);
    child.join(CHILD_LIMIT);
}

#[test]
fn wait_timeout_while_times_out_only_if_the_condition_still_holds() {
    let (shm, map) = create();
    let s = root(&map);
    // Nobody changes it: one deadline for the whole wait, however many wake-ups.
    let t = Instant::now();
    let (g, r) = s
        .changed
        .wait_timeout_while(s.count.lock().unwrap(), Duration::from_millis(30), |c| {
            *c == 0
        })
        .unwrap();
    assert!(r.timed_out());
    assert!(t.elapsed() >= Duration::from_millis(30));
    drop(g);

    // Another process makes it false well before the deadline: not a time-out.
    let child = fork(|| {
        let (_m, s) = remap(&shm);
        wait_step(s, 1);
        std::thread::sleep(Duration::from_millis(5));
        *s.count.lock().unwrap() = 7;
        s.changed.notify_one();
        0
    });
    let g = s.count.lock().unwrap();
    s.step.store(1, Ordering::Release);
    let (g, r) = s
        .changed
        .wait_timeout_while(g, Duration::from_secs(20), |c| *c == 0)
        .unwrap();
    assert!(!r.timed_out());
    assert_eq!(*g, 7);
    drop(g);
    child.join(CHILD_LIMIT);
}

#[test]
fn downgrade_lets_readers_in_and_no_writer_between() {
    let (shm, map) = create();
    let s = root(&map);
    let mut w = s.table.write();
    *w = 1;
    // A writer in another process blocks on the held lock; it must not run between the
    // write guard and the read guard it is downgraded to.
    let writer = fork(|| {
        let (_m, s) = remap(&shm);
        s.step.store(1, Ordering::Release);
        *s.table.write() = 2;
        0
    });
    wait_step(s, 1);
    std::thread::sleep(Duration::from_millis(20)); // let the writer park
    let r = w.downgrade();
    std::thread::sleep(Duration::from_millis(20)); // a writer that got in would write now
    assert_eq!(*r, 1, "a writer ran between write() and downgrade()");
    assert!(
        s.table.try_write().is_none(),
        "downgraded lock is still held"
    );
    drop(r);
    writer.join(CHILD_LIMIT);
    assert_eq!(*s.table.read(), 2);
}

#[test]
fn downgraded_guard_admits_readers_of_other_processes() {
    let (shm, map) = create();
    let s = root(&map);
    let w = s.table.write();
    let r = w.downgrade();
    let reader = fork(|| {
        let (_m, s) = remap(&shm);
        match s.table.try_read() {
            Some(g) if *g == 0 => 0,
            Some(_) => 2,
            None => 1, // still write-locked: downgrade did not share
        }
    });
    reader.join(CHILD_LIMIT);
    drop(r);
    assert!(s.table.try_write().is_some());
}

#[test]
fn into_inner_returns_the_value() {
    let m = Mutex::new(41u32);
    *m.lock().unwrap() += 1;
    assert_eq!(m.into_inner(), 42);
    let l = RwLock::new(5u32);
    *l.write() += 1;
    assert_eq!(l.into_inner(), 6);
}
