//! Unit tests of the table's own bookkeeping that need its private fields: the claim that
//! a reclaimer must not free (B3), epochs skipping 0 (N4), and stale JOINING entries (R3).
//! The cross-process versions are in `hal/tests/mach_standin.rs`; the races that need
//! every interleaving are loom models in `loom_tests.rs`.

extern crate std;

use super::*;
use core::cell::{Cell, RefCell};
use std::boxed::Box;

type T = Table<4, 2>;

/// Semaphores whose `drain` — called by `wait` right after the slot claim, before the
/// claimer has written anything else — runs a hook: the forced interleaving.
struct Hooked<'a> {
    me: (u32, u32),
    pool: SemaphorePool,
    on_drain: RefCell<Option<Box<dyn FnOnce() + 'a>>>,
    on_wait: RefCell<Option<Box<dyn FnOnce() + 'a>>>,
    waits: Cell<u32>,
}

impl<'a> Hooked<'a> {
    fn new(me: (u32, u32)) -> Self {
        Self {
            me,
            pool: SemaphorePool::new(2),
            on_drain: RefCell::new(None),
            on_wait: RefCell::new(None),
            waits: Cell::new(0),
        }
    }
}

impl Semaphores for Hooked<'_> {
    fn identity(&self) -> (u32, u32) {
        self.me
    }
    fn claim(&self) -> Option<u32> {
        self.pool.claim()
    }
    fn release(&self, sem: u32) {
        self.pool.release(sem);
    }
    fn drain(&self, _: u32) {
        if let Some(f) = self.on_drain.borrow_mut().take() {
            f();
        }
    }
    /// Times out at once (after the hook): the tests look at the table, not at blocking.
    fn wait(&self, _: u32, _: Option<Instant>) -> bool {
        self.waits.set(self.waits.get() + 1);
        if let Some(f) = self.on_wait.borrow_mut().take() {
            f();
        }
        false
    }
    fn signal(&self, _: u32, _: u32, _: u32) -> Signal {
        Signal::Delivered
    }
    fn nap(&self, _: Duration) {}
}

fn soon() -> Option<Instant> {
    Instant::now().checked_add(Duration::from_secs(5))
}

/// B3: X used slot 0 and left its owner/epoch there; X dies; Y claims slot 0, and before Y
/// has published anything a peer reclaims X. The reclaim must not free Y's claim (the old
/// code matched X's stale owner and epoch and freed it: then a third waiter could arm the
/// slot and Y's late stores would overwrite its key — a lost wake).
#[test]
fn reclaiming_a_dead_participant_never_frees_a_fresh_claim_of_another() {
    let t = T::new();
    let (x, ex) = t.join(100).unwrap();
    assert!(t.set_live(x, ex));
    let (y, ey) = t.join(200).unwrap();
    assert!(t.set_live(y, ey));
    let word = AtomicU32::new(7);

    // X waits and times out: slot 0 is FREE again, still holding X's owner and epoch.
    let xs = Hooked::new((x, ex));
    assert_eq!(t.wait(&xs, 40, &word, 7, soon()), Wait::TimedOut);
    assert_eq!(t.busy_slots(), 0);

    // X is dead (its entry still LIVE). Y claims slot 0; inside the window, reclaim X.
    let freed = Cell::new(None);
    let busy_after = Cell::new(usize::MAX);
    let armed_while_waiting = Cell::new(0);
    let ys = Hooked::new((y, ey));
    *ys.on_drain.borrow_mut() = Some(Box::new(|| {
        freed.set(t.reclaim(x, ex));
        busy_after.set(t.busy_slots());
    }));
    *ys.on_wait.borrow_mut() = Some(Box::new(|| armed_while_waiting.set(t.armed())));
    assert_eq!(t.wait(&ys, 80, &word, 7, soon()), Wait::TimedOut);
    assert_eq!(
        freed.get(),
        Some(0),
        "the reclaim of X freed a slot X did not own"
    );
    assert_eq!(
        busy_after.get(),
        1,
        "Y's claim must survive X's reclamation"
    );
    assert_eq!(ys.waits.get(), 1, "Y must reach its block, armed");
    assert_eq!(armed_while_waiting.get(), 1);
    assert_eq!((t.armed(), t.busy_slots()), (0, 0));
    assert_eq!(t.participant(x).unwrap().state, P_FREE);
}

/// B3, the other half: slots a dead participant really owns are freed, whatever state
/// they are in, and the counter returns to zero.
#[test]
fn reclaim_frees_every_slot_the_dead_owner_claimed_or_armed() {
    let t = T::new();
    let (x, ex) = t.join(100).unwrap();
    assert!(t.set_live(x, ex));
    let word = AtomicU32::new(1);
    let freed = Cell::new(None);
    let xs = Hooked::new((x, ex));
    // X dies inside its wait (armed): simulate by reclaiming from the wait hook.
    *xs.on_wait.borrow_mut() = Some(Box::new(|| freed.set(t.reclaim(x, ex))));
    // Reclaimed under it, the waiter reports a wake (it re-checks its word).
    let _ = t.wait(&xs, 8, &word, 1, soon());
    assert_eq!(freed.get(), Some(1));
    assert_eq!((t.armed(), t.busy_slots()), (0, 0));
}

/// N4: epochs are 24-bit and wrap, skipping 0 (which means "none" to every holder of
/// rights, `RegionSemaphores::holds` and `peer_epoch`).
#[test]
fn epoch_wrap_skips_zero() {
    let t = T::new();
    t.participants[0]
        .state
        .store((EPOCH_MASK << 4) | P_FREE, Ordering::Relaxed);
    let (i, e) = t.join(1).unwrap();
    assert_eq!(i, 0);
    assert_ne!(e, 0, "epoch wrapped to 0");
    assert_eq!(e, 1);
    assert!(t.set_live(i, e));
    assert_eq!(t.participant(i).unwrap().epoch, 1);
}

/// R3: joiners killed between claiming their entry and finishing the rendezvous leave it
/// JOINING; they must not fill the region for ever. A live joiner is never taken over.
#[test]
fn stale_joining_entries_of_dead_processes_are_reclaimed_by_the_next_joiner() {
    let t = T::new();
    for pid in 1..=4 {
        let (_, _) = t.join(pid).unwrap(); // JOINING, never LIVE
    }
    // pid 3 is still alive (joining right now); the others are gone.
    let gone = |pid: u32| pid != 3;
    let (i, e) = t
        .join_reclaiming(50, gone)
        .expect("stale entries not reclaimed");
    assert!(t.set_live(i, e));
    let states: std::vec::Vec<_> = (0..4).map(|q| t.participant(q).unwrap()).collect();
    let alive = states.iter().filter(|p| p.pid == 3 && p.state == P_JOINING);
    assert_eq!(
        alive.count(),
        1,
        "the live joiner was taken over: {states:?}"
    );
    // Unknown is never dead: with every recorded process alive, the region is full.
    let t = T::new();
    for pid in 1..=4 {
        t.join(pid).unwrap();
    }
    assert_eq!(t.join_reclaiming(50, |_| false), None);
}
