//! The death-window tests of `tests/locks_death.rs`, between threads: a woken waiter (or a
//! waiting `RwLock` writer) *stalls* inside the window — held in the `test-hooks` hook —
//! instead of being killed. A stall that lasts forever is what a death looks like to the
//! other threads, so the same guarantees must hold, and here they also run under Miri
//! (`cargo +nightly miri test --features test-hooks --test locks_stall`), including the
//! RwLock's time-based stale-announcement check on Miri's clock.
//!
//! One test at a time holds `SERIAL`: the hook is process-global.
#![cfg(feature = "test-hooks")]

use shmsync::sync::test_hooks::{Site, set_hook};
use shmsync::sync::{AutoResetEvent, Condvar, Mutex, RwLock, Semaphore, WRITER_STALL_PERIOD};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Generous: the survivor needs microseconds (Miri: a few virtual milliseconds).
const BOUND: Duration = Duration::from_secs(20);

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
/// The site that stalls, and whether the next thread to reach it stalls.
static TARGET: AtomicU32 = AtomicU32::new(u32::MAX);
static ARMED: AtomicBool = AtomicBool::new(false);
/// Threads currently held in the hook; the gate that lets them go.
static STALLED: AtomicU32 = AtomicU32::new(0);
static GATE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Only threads that opted in stall (the lock's own threads in other tests never do).
    static ELIGIBLE: Cell<bool> = const { Cell::new(false) };
}

fn site_id(site: Site) -> u32 {
    match site {
        Site::SemaphoreWoken => 0,
        Site::EventWoken => 1,
        Site::CondvarWoken => 2,
        Site::RwLockWaiting => 3,
        _ => 99,
    }
}

fn hook(site: Site) {
    if ELIGIBLE.with(Cell::get)
        && site_id(site) == TARGET.load(Ordering::Acquire)
        && ARMED.swap(false, Ordering::AcqRel)
    {
        STALLED.fetch_add(1, Ordering::AcqRel);
        while !GATE.load(Ordering::Acquire) {
            thread::sleep(Duration::from_millis(1));
        }
        STALLED.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Arms the hook for `site`; returns the guard that serialises the tests.
fn arm(site: Site) -> std::sync::MutexGuard<'static, ()> {
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    GATE.store(false, Ordering::Release);
    TARGET.store(site_id(site), Ordering::Release);
    ARMED.store(true, Ordering::Release);
    set_hook(Some(hook));
    g
}

/// Polls `done` until it holds (true) or [`BOUND`] passes (false, with a message).
fn until(what: &str, done: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > BOUND {
            eprintln!("{what} did not happen within {BOUND:?}");
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Two waiters park; `wake` once; the first one woken stalls in the window; the other
/// must finish. Then the stalled one is let go and `finish` releases it too.
fn woken_waiter_stalls(site: Site, wait: &(dyn Fn() + Sync), wake: &dyn Fn(), finish: &dyn Fn()) {
    let _serial = arm(site);
    let done = AtomicU32::new(0);
    let mut survived = false;
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                ELIGIBLE.with(|e| e.set(true));
                wait();
                done.fetch_add(1, Ordering::AcqRel);
            });
        }
        // Let both reach the kernel wait (a waiter that has not is not stranded anyway).
        thread::sleep(Duration::from_millis(50));
        wake();
        let stalled = until("the woken waiter stalling in the window", || {
            STALLED.load(Ordering::Acquire) == 1 || done.load(Ordering::Acquire) == 1
        });
        survived = stalled
            && until("the other waiter getting what it waits for", || {
                done.load(Ordering::Acquire) == 1
            });
        GATE.store(true, Ordering::Release);
        // Let both go (a stranded survivor too, so a failure ends instead of hanging):
        // `finish` repeated, since event sets coalesce.
        let start = Instant::now();
        while done.load(Ordering::Acquire) < 2 && start.elapsed() < BOUND {
            finish();
            thread::sleep(Duration::from_millis(1));
        }
    });
    set_hook(None);
    assert!(
        survived,
        "the stalled woken waiter swallowed the only wake-up"
    );
    assert_eq!(done.load(Ordering::Acquire), 2);
}

#[test]
fn semaphore_unit_reaches_the_other_waiter() {
    let sem = Semaphore::new(0);
    woken_waiter_stalls(
        Site::SemaphoreWoken,
        &|| sem.wait(),
        &|| sem.post(1).unwrap(),
        &|| sem.post(1).unwrap(),
    );
}

#[test]
fn auto_reset_set_reaches_the_other_waiter() {
    let ev = AutoResetEvent::new();
    woken_waiter_stalls(Site::EventWoken, &|| ev.wait(), &|| ev.set(), &|| ev.set());
}

#[test]
fn condvar_notify_one_reaches_the_other_waiter() {
    let m = Mutex::new(0u32);
    let cv = Condvar::new();
    woken_waiter_stalls(
        Site::CondvarWoken,
        &|| {
            let mut g = m.lock().unwrap();
            while *g == 0 {
                g = cv.wait(g).unwrap();
            }
        },
        &|| {
            *m.lock().unwrap() = 1;
            cv.notify_one();
        },
        &|| cv.notify_all(),
    );
}

#[test]
fn rwlock_reader_gets_past_a_stalled_waiting_writer() {
    let _serial = arm(Site::RwLockWaiting);
    let l = RwLock::new(0u32);
    let r = l.read();
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        let w = s.spawn(|| {
            ELIGIBLE.with(|e| e.set(true));
            *l.write() += 1;
        });
        // The writer is announced and held just before its kernel wait.
        assert!(until("the writer stalling while announced", || {
            STALLED.load(Ordering::Acquire) == 1
        }));
        assert!(l.try_read().is_none(), "writer preference while it waits");
        drop(r);
        // The lock is free, the announcement stays: a new untimed read gets in after
        // about one stall period.
        let start = Instant::now();
        let reader = s.spawn(|| {
            let g = l.read();
            let v = *g;
            drop(g);
            done.store(true, Ordering::Release);
            (v, l.try_read().is_some())
        });
        let got_in = until("the new reader", || done.load(Ordering::Acquire));
        let took = start.elapsed();
        // The writer, let go, announces itself again and gets the lock (on failure that
        // also releases the stranded reader, so the test ends instead of hanging).
        GATE.store(true, Ordering::Release);
        w.join().unwrap();
        let (seen, clean) = reader.join().unwrap();
        assert!(
            got_in,
            "a stalled waiting writer kept a reader out of a free lock"
        );
        assert_eq!(seen, 0, "the reader got in before the writer");
        assert!(clean, "the stale announcement is gone");
        eprintln!(
            "read past a stalled waiting writer after {took:?} (period {WRITER_STALL_PERIOD:?})"
        );
    });
    set_hook(None);
    assert_eq!(*l.read(), 1);
}
