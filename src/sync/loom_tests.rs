//! loom models of the lock protocols, run by the loom lane:
//! `RUSTFLAGS="--cfg loom" cargo test --release --lib loom`.
//!
//! The locks' atomics and waits go through `shim`, which under loom is loom's atomics
//! plus an emulated futex (see `shim`): a lost wakeup shows up as a loom deadlock, a
//! broken exclusion as a failed assertion.

use super::*;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicU32, Ordering};
use loom::thread;

/// A loom model builder limited to `n` preemptions per execution (loom's documented knob
/// for models of three or more threads).
fn bounded(n: usize) -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(n);
    builder
}

/// Two lockers: exclusion holds (never two inside) and no unlock wake is lost.
#[test]
fn loom_mutex_exclusion_and_wakeup() {
    loom::model(|| {
        let m = Arc::new(Mutex::new(0u32));
        let inside = Arc::new(AtomicU32::new(0));
        let threads: std::vec::Vec<_> = (0..2)
            .map(|_| {
                let (m, inside) = (m.clone(), inside.clone());
                thread::spawn(move || {
                    let mut g = m.lock().unwrap();
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                    *g += 1;
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.lock().unwrap(), 2);
    });
}

/// A timed locker against a holder: it either gets the lock (exclusively) or times out.
#[test]
fn loom_mutex_timeout() {
    loom::model(|| {
        let m = Arc::new(Mutex::new(0u32));
        let m2 = m.clone();
        let t = thread::spawn(move || {
            let mut g = m2.lock().unwrap();
            *g += 1;
        });
        if let Ok(mut g) = m.lock_timeout(core::time::Duration::from_millis(1)) {
            *g += 1;
        }
        t.join().unwrap();
        let v = *m.lock().unwrap();
        assert!(v == 1 || v == 2);
    });
}

/// Condvar hand-over: the waiter always sees the flag (no lost notify).
#[test]
fn loom_condvar_no_lost_wakeup() {
    loom::model(|| {
        let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
        let p2 = pair.clone();
        let t = thread::spawn(move || {
            *p2.0.lock().unwrap() = 1;
            p2.1.notify_one();
        });
        let mut g = pair.0.lock().unwrap();
        while *g == 0 {
            g = pair.1.wait(g).unwrap();
        }
        drop(g);
        t.join().unwrap();
    });
}

/// Semaphore: two posts, two waiters; both wake (no lost post wake-up). Three threads:
/// bounded to 3 preemptions per execution.
#[test]
fn loom_semaphore_posts_reach_waiters() {
    bounded(3).check(|| {
        let s = Arc::new(Semaphore::new(0));
        let waiter = {
            let s = s.clone();
            thread::spawn(move || s.wait())
        };
        let poster = {
            let s = s.clone();
            thread::spawn(move || s.post(1).unwrap())
        };
        s.post(1).unwrap();
        s.wait();
        waiter.join().unwrap();
        poster.join().unwrap();
        assert_eq!(s.count(), 0);
    });
}

/// RwLock: a writer and a reader; the reader sees 0 or 1 whole, and neither hangs.
#[test]
fn loom_rwlock_writer_and_reader() {
    loom::model(|| {
        let l = Arc::new(RwLock::new(0u32));
        let inside_w = Arc::new(AtomicU32::new(0));
        let w = {
            let (l, inside_w) = (l.clone(), inside_w.clone());
            thread::spawn(move || {
                let mut g = l.write();
                inside_w.store(1, Ordering::SeqCst);
                *g += 1;
                inside_w.store(0, Ordering::SeqCst);
            })
        };
        {
            let g = l.read();
            assert_eq!(
                inside_w.load(Ordering::SeqCst),
                0,
                "reader inside with a writer"
            );
            assert!(*g <= 1);
        }
        w.join().unwrap();
        assert_eq!(*l.read(), 1);
    });
}

/// RwLock: two writers, one of them timed; exclusion and no hang.
#[test]
fn loom_rwlock_two_writers() {
    loom::model(|| {
        let l = Arc::new(RwLock::new(0u32));
        let l2 = l.clone();
        let t = thread::spawn(move || *l2.write() += 1);
        if let Some(mut g) = l.write_timeout(core::time::Duration::from_millis(1)) {
            *g += 1;
        }
        t.join().unwrap();
        let v = *l.read();
        assert!(v == 1 || v == 2);
    });
}

/// Auto-reset event: one set releases the waiter exactly once.
#[test]
fn loom_auto_event_set_wakes_waiter() {
    loom::model(|| {
        let e = Arc::new(AutoResetEvent::new());
        let e2 = e.clone();
        let t = thread::spawn(move || e2.wait());
        e.set();
        t.join().unwrap();
        assert!(!e.is_set(), "the waiter consumed the set");
    });
}

/// Manual-reset event: one set releases two waiters. Three threads: bounded to 3
/// preemptions per execution to keep the search to minutes (loom's documented knob).
#[test]
fn loom_manual_event_releases_all() {
    bounded(3).check(|| {
        let e = Arc::new(ManualResetEvent::new());
        let waiters: std::vec::Vec<_> = (0..2)
            .map(|_| {
                let e = e.clone();
                thread::spawn(move || e.wait())
            })
            .collect();
        e.set();
        for w in waiters {
            w.join().unwrap();
        }
        assert!(e.is_set());
    });
}

/// Semaphore: two waiters, one post; the waiter the kernel wakes dies before it takes the
/// unit. The other must still get it (a lost wake-up is a loom deadlock). Fails with a
/// plain wake-one policy. Three threads besides main: bounded to 3 preemptions.
#[test]
fn loom_semaphore_woken_waiter_dies() {
    bounded(3).check(|| {
        let s = Arc::new(Semaphore::new(0));
        let dying = {
            let s = s.clone();
            thread::spawn(move || s.loom_dying_waiter())
        };
        let waiter = {
            let s = s.clone();
            thread::spawn(move || s.wait())
        };
        s.post(1).unwrap();
        waiter.join().unwrap();
        assert_eq!(s.count(), 0, "the live waiter took the one unit");
        // The live waiter finished on its own. A dying waiter that was never woken (or has
        // not arrived) would sleep on: another unit releases it so the model can end.
        s.post(1).unwrap();
        dying.join().unwrap();
    });
}

/// Auto-reset event: as above, for `set`.
#[test]
fn loom_auto_event_woken_waiter_dies() {
    bounded(3).check(|| {
        let e = Arc::new(AutoResetEvent::new());
        let dying = {
            let e = e.clone();
            thread::spawn(move || e.loom_dying_waiter())
        };
        let waiter = {
            let e = e.clone();
            thread::spawn(move || e.wait())
        };
        e.set();
        waiter.join().unwrap();
        assert!(!e.is_set(), "the live waiter consumed the set");
        // Release a dying waiter that was never woken (it consumes nothing).
        e.set();
        dying.join().unwrap();
    });
}

/// Condvar: two waiters, one `notify_one` after the condition changed; the woken one dies
/// before re-taking the mutex. The other must still see the condition.
#[test]
fn loom_condvar_woken_waiter_dies() {
    bounded(2).check(|| {
        let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
        let dying = {
            let p = pair.clone();
            thread::spawn(move || {
                let g = p.0.lock().unwrap();
                if *g == 0 {
                    p.1.loom_dying_waiter(g);
                }
            })
        };
        let waiter = {
            let p = pair.clone();
            thread::spawn(move || {
                let mut g = p.0.lock().unwrap();
                while *g == 0 {
                    g = p.1.wait(g).unwrap();
                }
            })
        };
        *pair.0.lock().unwrap() = 1;
        pair.1.notify_one();
        waiter.join().unwrap();
        // Release a dying waiter that was never woken (the flag keeps a late one out).
        pair.1.loom_reap_dying_waiter();
        dying.join().unwrap();
    });
}

/// RwLock: a writer died while waiting (its announcement stays); a reader and a live
/// writer still get through, exclusively, and the reader never hangs on the stale count.
#[test]
fn loom_rwlock_dead_waiting_writer() {
    bounded(3).check(|| {
        let l = Arc::new(RwLock::new(0u32));
        l.loom_dead_waiting_writer();
        let inside_w = Arc::new(AtomicU32::new(0));
        let w = {
            let (l, inside_w) = (l.clone(), inside_w.clone());
            thread::spawn(move || {
                let mut g = l.write();
                inside_w.store(1, Ordering::SeqCst);
                *g += 1;
                inside_w.store(0, Ordering::SeqCst);
            })
        };
        {
            let g = l.read();
            assert_eq!(
                inside_w.load(Ordering::SeqCst),
                0,
                "reader inside with a writer"
            );
            assert!(*g <= 1);
        }
        w.join().unwrap();
        assert_eq!(*l.read(), 1);
    });
}
