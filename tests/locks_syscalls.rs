//! Zero-syscall proofs: the non-blocking paths of the locks make no wait or wake syscall.
//!
//! Needs the hal's per-thread syscall counters, so it only exists in the counting lane:
//! `cargo test -p shmsync --features count-syscalls --test locks_syscalls` (host lane, Linux futex backend).
#![cfg(feature = "count-syscalls")]

use shmsync::hal::count::snapshot;
use shmsync::sync::{AutoResetEvent, Condvar, ManualResetEvent, Mutex, RwLock, Semaphore};
use std::time::Duration;

const ROUNDS: u32 = 10_000;

#[test]
fn counters_do_count() {
    // Guard against a vacuous proof: a wait that really sleeps is counted.
    let s = Semaphore::new(0);
    let before = snapshot();
    assert!(!s.wait_timeout(Duration::from_millis(1)));
    let d = snapshot() - before;
    assert!(
        d.waits >= 1,
        "a timed-out semaphore wait made no wait syscall: {d:?}"
    );
}

#[test]
fn uncontended_mutex_makes_no_syscall() {
    let m = Mutex::new(0u64);
    let _ = shmsync::hal::process::current(); // first call reads /proc (not a wait/wake)
    let before = snapshot();
    for _ in 0..ROUNDS {
        *m.lock().unwrap() += 1;
        *m.try_lock().unwrap() += 1;
        *m.lock_timeout(Duration::from_millis(1)).unwrap() += 1;
    }
    let d = snapshot() - before;
    assert_eq!((d.waits, d.wakes), (0, 0));
    assert_eq!(*m.lock().unwrap(), 3 * u64::from(ROUNDS));
}

#[test]
fn notify_without_waiters_makes_no_syscall() {
    let cv = Condvar::new();
    let before = snapshot();
    for _ in 0..ROUNDS {
        cv.notify_one();
        cv.notify_all();
    }
    let d = snapshot() - before;
    assert_eq!((d.waits, d.wakes), (0, 0));
}

#[test]
fn post_without_waiters_makes_no_syscall() {
    let s = Semaphore::new(0);
    let before = snapshot();
    for _ in 0..ROUNDS {
        s.post(1).unwrap();
        s.post(2).unwrap();
        assert!(s.try_wait());
        assert!(s.try_wait());
        s.wait(); // a unit is there: no sleep
    }
    let d = snapshot() - before;
    assert_eq!((d.waits, d.wakes), (0, 0));
    assert_eq!(s.count(), 0);
}

#[test]
fn events_and_rwlock_without_waiters_make_no_syscall() {
    let auto = AutoResetEvent::new();
    let manual = ManualResetEvent::new();
    let l = RwLock::new(0u32);
    let before = snapshot();
    for _ in 0..ROUNDS {
        auto.set();
        auto.wait();
        manual.set();
        manual.wait();
        manual.reset();
        let r1 = l.read();
        let r2 = l.read();
        drop((r1, r2));
        *l.write() += 1;
    }
    let d = snapshot() - before;
    assert_eq!((d.waits, d.wakes), (0, 0));
}

#[test]
fn contended_unlock_wakes_once_per_park() {
    // A blocking hand-off costs at most one wake per park: the waiter's parks bound the
    // releaser's wakes.
    let m = Mutex::new(0u32);
    let g = m.lock().unwrap();
    std::thread::scope(|s| {
        let t = s.spawn(|| {
            let before = snapshot();
            *m.lock().unwrap() += 1;
            snapshot() - before
        });
        std::thread::sleep(Duration::from_millis(20));
        let before = snapshot();
        drop(g);
        let mine = snapshot() - before;
        let theirs = t.join().unwrap();
        assert!(
            theirs.waits >= 1,
            "the locker should have parked: {theirs:?}"
        );
        assert_eq!(mine.wakes, 1, "one wake for the parked locker");
    });
}

#[test]
fn waking_several_parked_waiters_is_still_one_wake_syscall() {
    // With two waiters counted, `post(1)` / `set` / `notify_one` wake every sleeper (so a
    // woken waiter that dies cannot strand the other): the waker still makes one syscall.
    let sem = Semaphore::new(0);
    let ev = AutoResetEvent::new();
    let m = Mutex::new(0u32);
    let cv = Condvar::new();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| sem.wait());
            s.spawn(|| ev.wait());
            s.spawn(|| {
                let mut g = m.lock().unwrap();
                while *g == 0 {
                    g = cv.wait(g).unwrap();
                }
            });
        }
        std::thread::sleep(Duration::from_millis(50));
        let before = snapshot();
        sem.post(1).unwrap();
        ev.set();
        *m.lock().unwrap() = 1;
        cv.notify_one();
        let d = snapshot() - before;
        // At most one per call (fewer only if a waiter had not parked yet on a slow box).
        assert!(d.wakes <= 3, "more than one wake syscall per call: {d:?}");
        assert!(d.wakes >= 1, "nobody was woken: {d:?}");
        // Release the second semaphore and event waiter (sets coalesce: repeat until a set
        // stays unconsumed, i.e. both event waiters are gone).
        sem.post(1).unwrap();
        loop {
            ev.set();
            std::thread::sleep(Duration::from_millis(5));
            if ev.is_set() {
                break;
            }
        }
    });
}
