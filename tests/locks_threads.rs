//! The locks across threads of one process (no shared mapping needed, so Miri runs this
//! file too: `cargo +nightly miri test --test locks_threads`).

use shmsync::sync::{
    AutoResetEvent, Condvar, ManualResetEvent, Mutex, RwLock, Semaphore, TryLockError,
};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Iterations: smaller under Miri, which is ~1000× slower.
const fn n(native: u32, miri: u32) -> u32 {
    if cfg!(miri) { miri } else { native }
}

/// A generous bound for "this must have finished": failures mean a hang, not slowness.
const LONG: Duration = Duration::from_secs(20);

#[repr(C)]
#[derive(Default)]
struct Pair {
    a: u64,
    b: u64,
}
// SAFETY: repr(C), two u64: every bit pattern is valid.
unsafe impl shmsync::ShmSafe for Pair {
    const TAG: u64 = shmsync::tag(b"tests::Pair");
}

#[test]
fn zeroed_bytes_are_unlocked_and_empty() {
    // SAFETY: all-zero is the documented empty state of every lock (ShmSafe rule 2).
    let m: Mutex<u64> = unsafe { std::mem::zeroed() };
    assert!(m.try_lock().is_ok());
    // SAFETY: as above.
    let s: Semaphore = unsafe { std::mem::zeroed() };
    assert!(!s.try_wait());
    // SAFETY: as above.
    let l: RwLock<u32> = unsafe { std::mem::zeroed() };
    assert!(l.try_write().is_some());
    // SAFETY: as above.
    let e: AutoResetEvent = unsafe { std::mem::zeroed() };
    assert!(!e.try_wait());
}

#[test]
fn mutex_threads_increment_exactly() {
    let threads = 4;
    let per = n(20_000, 100);
    let m = Mutex::new(Pair::default());
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..per {
                    let mut g = m.lock().unwrap();
                    // Two plain fields updated apart: a broken exclusion shows as a != b.
                    g.a += 1;
                    std::hint::black_box(&mut *g);
                    g.b += 1;
                }
            });
        }
    });
    let g = m.lock().unwrap();
    assert_eq!(g.a, u64::from(threads * per));
    assert_eq!(g.b, g.a);
}

#[test]
fn mutex_try_lock_and_timeouts() {
    let m = Mutex::new(0u32);
    let g = m.lock().unwrap();
    assert!(m.is_locked());
    assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
    // Sub-microsecond, zero and short timeouts all come back.
    for t in [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_nanos(500),
    ] {
        assert!(matches!(m.lock_timeout(t), Err(TryLockError::WouldBlock)));
    }
    let start = Instant::now();
    assert!(matches!(
        m.lock_timeout(Duration::from_millis(20)),
        Err(TryLockError::WouldBlock)
    ));
    assert!(
        start.elapsed() >= Duration::from_millis(20),
        "returned before its deadline"
    );
    drop(g);
    assert!(!m.is_locked());
    assert!(m.lock_timeout(Duration::from_nanos(1)).is_ok());
}

#[test]
fn mutex_lock_timeout_gets_a_lock_released_meanwhile() {
    let m = Mutex::new(0u32);
    let held = AtomicBool::new(false);
    thread::scope(|s| {
        let g = m.lock().unwrap();
        s.spawn(|| {
            held.store(true, Ordering::Release);
            let mut g = m
                .lock_timeout(LONG)
                .expect("released long before the deadline");
            *g += 1;
        });
        while !held.load(Ordering::Acquire) {
            thread::yield_now();
        }
        thread::sleep(Duration::from_millis(5));
        drop(g);
    });
    assert_eq!(*m.lock().unwrap(), 1);
}

#[test]
fn condvar_ping_pong_between_threads() {
    let rounds = n(10_000, 50);
    let m = Mutex::new(0u32);
    let cv = Condvar::new();
    thread::scope(|s| {
        s.spawn(|| {
            let mut g = m.lock().unwrap();
            for i in 0..rounds {
                while *g != 2 * i + 1 {
                    g = cv.wait(g).unwrap();
                }
                *g += 1;
                cv.notify_all();
            }
        });
        let mut g = m.lock().unwrap();
        for i in 0..rounds {
            while *g != 2 * i {
                g = cv.wait(g).unwrap();
            }
            *g += 1;
            cv.notify_all();
        }
        while *g != 2 * rounds {
            g = cv.wait(g).unwrap();
        }
    });
}

#[test]
fn condvar_timeouts_return_and_report() {
    let m = Mutex::new(0u32);
    let cv = Condvar::new();
    for t in [
        Duration::from_nanos(1),
        Duration::from_nanos(999),
        Duration::from_millis(5),
    ] {
        let g = m.lock().unwrap();
        let (g, r) = cv.wait_timeout(g, t).unwrap();
        assert!(
            r.timed_out(),
            "nobody notified, yet the wait did not time out ({t:?})"
        );
        drop(g);
    }
    // Nobody waits: notify does nothing observable and does not block.
    cv.notify_one();
    cv.notify_all();
}

#[test]
fn semaphore_counts_and_hands_over() {
    let items = n(20_000, 100);
    let s = Semaphore::new(0);
    let got = AtomicU32::new(0);
    thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| {
                for _ in 0..items / 2 {
                    assert!(s.wait_timeout(LONG), "a post was lost");
                    got.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        for _ in 0..items {
            s.post(1).unwrap();
        }
    });
    assert_eq!(got.load(Ordering::Relaxed), items);
    assert_eq!(s.count(), 0);
    s.post(3).unwrap();
    assert_eq!(s.count(), 3);
    assert!(s.post(u32::MAX).is_err(), "overflow is refused");
    assert_eq!(s.count(), 3, "a refused post adds nothing");
    for _ in 0..3 {
        assert!(s.try_wait());
    }
    assert!(!s.try_wait());
    assert!(!s.wait_timeout(Duration::from_nanos(1)));
    assert!(!s.wait_timeout(Duration::ZERO));
}

#[test]
fn semaphore_post_n_wakes_n_sleepers() {
    let s = Semaphore::new(0);
    let done = AtomicU32::new(0);
    thread::scope(|sc| {
        for _ in 0..3 {
            sc.spawn(|| {
                assert!(s.wait_timeout(LONG));
                done.fetch_add(1, Ordering::Relaxed);
            });
        }
        thread::sleep(Duration::from_millis(if cfg!(miri) { 1 } else { 20 }));
        s.post(3).unwrap();
    });
    assert_eq!(done.load(Ordering::Relaxed), 3);
}

#[test]
fn rwlock_readers_share_writers_exclude() {
    let per = n(5_000, 50);
    let l = RwLock::new(Pair::default());
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..per {
                    let mut g = l.write();
                    g.a += 1;
                    std::hint::black_box(&mut *g);
                    g.b += 1;
                }
            });
        }
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..per {
                    let g = l.read();
                    assert_eq!(g.a, g.b, "a reader saw a half-done write");
                }
            });
        }
    });
    assert_eq!(l.read().a, u64::from(2 * per));
    let r1 = l.read();
    let r2 = l.try_read().expect("readers share");
    assert!(l.try_write().is_none());
    assert!(l.write_timeout(Duration::from_nanos(1)).is_none());
    drop((r1, r2));
    let w = l.try_write().unwrap();
    assert!(l.try_read().is_none());
    assert!(l.read_timeout(Duration::from_nanos(1)).is_none());
    drop(w);
}

#[test]
fn rwlock_waiting_writer_keeps_new_readers_out() {
    let l = RwLock::new(0u32);
    let reader = l.read();
    thread::scope(|s| {
        let w = s.spawn(|| {
            *l.write() += 1;
        });
        // Once the writer waits, new readers must be refused (writer preference).
        let start = Instant::now();
        loop {
            match l.try_read() {
                None => break,
                Some(g) => drop(g),
            }
            assert!(
                start.elapsed() < LONG,
                "readers kept entering past a waiting writer"
            );
            thread::yield_now();
        }
        drop(reader);
        w.join().unwrap();
    });
    assert_eq!(*l.read(), 1);
}

#[test]
fn auto_reset_event_releases_one_per_set() {
    let e = AutoResetEvent::new();
    assert!(!e.wait_timeout(Duration::from_nanos(1)));
    e.set();
    e.set(); // coalesces
    assert!(e.try_wait());
    assert!(!e.try_wait());
    let rounds = n(5_000, 30);
    let back = AutoResetEvent::new();
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..rounds {
                assert!(e.wait_timeout(LONG), "a set was lost");
                back.set();
            }
        });
        for _ in 0..rounds {
            e.set();
            assert!(back.wait_timeout(LONG), "a set was lost");
        }
    });
    assert!(!e.is_set() && !back.is_set());
}

#[test]
fn manual_reset_event_releases_all_until_reset() {
    let e = ManualResetEvent::new();
    assert!(!e.wait_timeout(Duration::from_nanos(1)));
    let through = AtomicU32::new(0);
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                assert!(e.wait_timeout(LONG));
                through.fetch_add(1, Ordering::Relaxed);
            });
        }
        thread::sleep(Duration::from_millis(if cfg!(miri) { 1 } else { 10 }));
        e.set();
    });
    assert_eq!(through.load(Ordering::Relaxed), 3);
    assert!(e.try_wait() && e.try_wait(), "stays set");
    e.reset();
    assert!(!e.try_wait());
    let started = ManualResetEvent::new_set();
    assert!(started.is_set());
}
