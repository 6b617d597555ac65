//! loom model of the waiter table: every interleaving (up to the preemption bound) of
//! waiters and wakers running the real table code, with a counting fake semaphore that keeps
//! signals like a Mach semaphore. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p shmsync-hal --lib --release loom`.
//!
//! A lost wakeup shows up as loom's deadlock report (a waiter blocked forever on its
//! semaphore with no thread left to signal it).

extern crate std;

use super::sync::{AtomicU32, Ordering};
use super::table::{SemaphorePool, Semaphores, Signal, Table};
use crate::Wait;
use crate::clock::Instant;
use core::time::Duration;
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use std::vec::Vec;

/// Two slots, one participant: the smallest table with a choice of slot.
type Small = Table<1, 2>;
const SEMS: usize = 2;

struct Fake {
    counts: Vec<(Mutex<u32>, Condvar)>,
    pool: SemaphorePool,
}

impl Fake {
    fn new() -> Self {
        Self {
            counts: (0..SEMS).map(|_| (Mutex::new(0), Condvar::new())).collect(),
            pool: SemaphorePool::new(SEMS as u32),
        }
    }
    fn pending(&self) -> u32 {
        self.counts.iter().map(|(m, _)| *m.lock().unwrap()).sum()
    }
}

impl Semaphores for Fake {
    fn identity(&self) -> (u32, u32) {
        (0, 1)
    }
    fn claim(&self) -> Option<u32> {
        self.pool.claim()
    }
    fn release(&self, sem: u32) {
        self.pool.release(sem)
    }
    fn drain(&self, sem: u32) {
        *self.counts[sem as usize].0.lock().unwrap() = 0;
    }
    /// `None` blocks; `Some(_)` models a timeout that may fire at any point: one look.
    fn wait(&self, sem: u32, deadline: Option<Instant>) -> bool {
        let (m, cv) = &self.counts[sem as usize];
        let mut c = m.lock().unwrap();
        if deadline.is_some() && *c == 0 {
            return false;
        }
        while *c == 0 {
            c = cv.wait(c).unwrap();
        }
        *c -= 1;
        true
    }
    fn signal(&self, _owner: u32, _epoch: u32, sem: u32) -> Signal {
        let (m, cv) = &self.counts[sem as usize];
        *m.lock().unwrap() += 1;
        cv.notify_one();
        Signal::Delivered
    }
    fn nap(&self, _: Duration) {
        thread::yield_now();
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(f);
}

/// The caller's loop around `wait`, as every primitive writes it.
fn wait_for_change(t: &Small, s: &Fake, w: &AtomicU32) {
    while w.load(Ordering::Acquire) == 0 {
        t.wait(s, 0, w, 0, None);
    }
}

#[test]
fn loom_one_waiter_one_wake_one() {
    model(|| {
        let t = Arc::new(Small::new());
        let s = Arc::new(Fake::new());
        let w = Arc::new(AtomicU32::new(0));
        let h = {
            let (t, s, w) = (t.clone(), s.clone(), w.clone());
            thread::spawn(move || wait_for_change(&t, &s, &w))
        };
        w.store(1, Ordering::SeqCst);
        t.wake(&*s, 0, false);
        h.join().unwrap();
        assert_eq!(t.armed(), 0);
        assert_eq!(t.busy_slots(), 0);
        assert!(s.pending() <= 1, "at most the one kept signal");
    });
}

#[test]
fn loom_two_waiters_wake_all() {
    model(|| {
        let t = Arc::new(Small::new());
        let s = Arc::new(Fake::new());
        let w = Arc::new(AtomicU32::new(0));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let (t, s, w) = (t.clone(), s.clone(), w.clone());
                thread::spawn(move || wait_for_change(&t, &s, &w))
            })
            .collect();
        w.store(1, Ordering::SeqCst);
        t.wake(&*s, 0, true);
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(t.armed(), 0);
        assert_eq!(t.busy_slots(), 0);
    });
}

#[test]
fn loom_two_waiters_two_wake_ones() {
    model(|| {
        let t = Arc::new(Small::new());
        let s = Arc::new(Fake::new());
        let w = Arc::new(AtomicU32::new(0));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let (t, s, w) = (t.clone(), s.clone(), w.clone());
                thread::spawn(move || wait_for_change(&t, &s, &w))
            })
            .collect();
        w.store(1, Ordering::SeqCst);
        // Each wake_one must reach a waiter that still needs it, never one that already
        // left (a SIGNALED slot is skipped, a disarmed one is not ARMED).
        t.wake(&*s, 0, false);
        t.wake(&*s, 0, false);
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(t.armed(), 0);
    });
}

#[test]
fn loom_timed_out_waiter_was_never_chosen() {
    model(|| {
        let t = Arc::new(Small::new());
        let s = Arc::new(Fake::new());
        let w = Arc::new(AtomicU32::new(0));
        let h = {
            let (t, s, w) = (t.clone(), s.clone(), w.clone());
            thread::spawn(move || t.wait(&*s, 0, &w, 0, Some(Instant::from_nanos(u64::MAX))))
        };
        w.store(1, Ordering::SeqCst);
        let delivered = t.wake(&*s, 0, false);
        let r = h.join().unwrap();
        // A wake that chose this waiter is never reported as a timeout.
        if r == Wait::TimedOut {
            assert_eq!(delivered, 0);
        }
        assert_eq!(t.armed(), 0);
        assert_eq!(t.busy_slots(), 0);
    });
}

#[test]
fn loom_reclaim_races_a_waiter_and_a_waker() {
    model(|| {
        let t = Arc::new(Small::new());
        let s = Arc::new(Fake::new());
        let w = Arc::new(AtomicU32::new(0));
        assert_eq!(t.join(7), Some((0, 1)));
        assert!(t.set_live(0, 1));
        let waiter = {
            let (t, s, w) = (t.clone(), s.clone(), w.clone());
            thread::spawn(move || t.wait(&*s, 0, &w, 0, Some(Instant::from_nanos(u64::MAX))))
        };
        // A peer wrongly believes participant (0, epoch 1) died and reclaims it.
        let reclaimer = {
            let t = t.clone();
            thread::spawn(move || t.reclaim(0, 1))
        };
        w.store(1, Ordering::SeqCst);
        t.wake(&*s, 0, false);
        waiter.join().unwrap();
        assert!(reclaimer.join().unwrap().is_some());
        // Whatever the interleaving: the counter is back to zero (never below: it is a
        // u32, an underflow would show as a huge value) and no slot is left taken.
        assert_eq!(t.armed(), 0);
        assert_eq!(t.busy_slots(), 0);
    });
}

#[test]
fn loom_a_waiter_without_a_slot_polls_and_still_ends() {
    model(|| {
        // One slot for two waiters: whichever loses the claim degrades to polling.
        let t = Arc::new(Table::<1, 1>::new());
        let s = Arc::new(Fake::new());
        let w = Arc::new(AtomicU32::new(0));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let (t, s, w) = (t.clone(), s.clone(), w.clone());
                thread::spawn(move || {
                    while w.load(Ordering::Acquire) == 0 {
                        t.wait(&*s, 0, &w, 0, None);
                    }
                })
            })
            .collect();
        w.store(1, Ordering::SeqCst);
        t.wake(&*s, 0, true);
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(t.armed(), 0);
        assert_eq!(t.busy_slots(), 0);
    });
}

/// R1: a peer marks that it holds participant 0's rights for epoch `e1` while participant 0
/// leaves and a newcomer takes the entry with `e2`. The stale mark must not land on `e2`
/// (the old load-then-`fetch_or` could set it between the two, and `peers_ready` would
/// then pass without the rights: a lost wake).
#[test]
fn loom_mark_known_never_lands_on_a_new_epoch() {
    model(|| {
        let t = Arc::new(Table::<2, 1>::new());
        let (i, e1) = t.join(10).unwrap();
        assert!(t.set_live(i, e1));
        let marker = {
            let t = t.clone();
            thread::spawn(move || t.mark_known(i, e1, 1))
        };
        assert!(t.leave(i, e1));
        let (i2, e2) = t.join(20).unwrap();
        assert_eq!(i2, i);
        assert_ne!(e2, e1);
        marker.join().unwrap();
        let p = t.participant(i).unwrap();
        assert_eq!(p.epoch, e2);
        assert_eq!(
            p.known_by,
            1 << i,
            "a mark of epoch {e1} landed on epoch {e2}"
        );
    });
}
