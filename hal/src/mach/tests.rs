//! In-process tests of the waiter table with a fake "kernel" of counting semaphores
//! (std `Mutex` + `Condvar`), several fake participants sharing one table. The same table
//! across forked processes is tested in `hal/tests/mach_standin.rs`; the protocol is
//! model-checked in `loom_tests.rs`.

extern crate std;

use super::table::*;
use super::{MachError, protocol_area_len};
use crate::atomic::{AtomicU32, Ordering};
use crate::clock::Instant;
use crate::{Wait, WakeProtocol};
use core::time::Duration;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::vec::Vec;

/// Semaphores of every participant, and a switch to make a participant "dead".
struct FakeKernel {
    counts: Vec<(Mutex<u32>, Condvar)>,
    dead: [AtomicBool; MAX_PARTICIPANTS],
    signals: AtomicU32,
}

impl FakeKernel {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            counts: (0..MAX_PARTICIPANTS * SEMS_PER_PARTICIPANT)
                .map(|_| (Mutex::new(0), Condvar::new()))
                .collect(),
            dead: Default::default(),
            signals: AtomicU32::new(0),
        })
    }
    fn sem(&self, p: u32, k: u32) -> &(Mutex<u32>, Condvar) {
        &self.counts[p as usize * SEMS_PER_PARTICIPANT + k as usize]
    }
}

struct FakeProcess {
    kernel: Arc<FakeKernel>,
    index: u32,
    epoch: u32,
    pool: SemaphorePool,
}

impl FakeProcess {
    fn new(kernel: &Arc<FakeKernel>, index: u32, epoch: u32, sems: u32) -> Self {
        Self {
            kernel: kernel.clone(),
            index,
            epoch,
            pool: SemaphorePool::new(sems),
        }
    }
}

impl Semaphores for FakeProcess {
    fn identity(&self) -> (u32, u32) {
        (self.index, self.epoch)
    }
    fn claim(&self) -> Option<u32> {
        self.pool.claim()
    }
    fn release(&self, sem: u32) {
        self.pool.release(sem)
    }
    fn drain(&self, sem: u32) {
        *self.kernel.sem(self.index, sem).0.lock().unwrap() = 0;
    }
    fn wait(&self, sem: u32, deadline: Option<Instant>) -> bool {
        let (m, cv) = self.kernel.sem(self.index, sem);
        let mut c = m.lock().unwrap();
        while *c == 0 {
            match deadline {
                None => c = cv.wait(c).unwrap(),
                Some(d) => {
                    let left = d.remaining();
                    if left.is_zero() {
                        return false;
                    }
                    c = cv.wait_timeout(c, left).unwrap().0;
                }
            }
        }
        *c -= 1;
        true
    }
    fn signal(&self, owner: u32, _epoch: u32, sem: u32) -> Signal {
        if self.kernel.dead[owner as usize].load(Ordering::SeqCst) {
            return Signal::OwnerDead;
        }
        self.kernel.signals.fetch_add(1, Ordering::SeqCst);
        let (m, cv) = self.kernel.sem(owner, sem);
        *m.lock().unwrap() += 1;
        cv.notify_one();
        Signal::Delivered
    }
    fn nap(&self, max: Duration) {
        thread::sleep(max);
    }
}

/// Waits until `cond` holds (generous limit; panics instead of hanging).
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

const LONG: Duration = Duration::from_secs(30);

fn later(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

#[test]
fn zero_bytes_are_the_empty_table_and_area_len_matches() {
    // SAFETY: WaiterTable is repr(C) u32 atomics only, so all-zero bytes are a valid value.
    let t: WaiterTable = unsafe { core::mem::zeroed() };
    assert_eq!(t.armed(), 0);
    assert_eq!(t.busy_slots(), 0);
    for i in 0..MAX_PARTICIPANTS as u32 {
        assert_eq!(t.participant(i).unwrap().state, P_FREE);
    }
    assert_eq!(t.participant(MAX_PARTICIPANTS as u32), None);
    assert_eq!(protocol_area_len(WakeProtocol::MachTable), 1808);
    assert_eq!(protocol_area_len(WakeProtocol::KernelAddress), 0);
    assert_eq!(protocol_area_len(WakeProtocol::Spin), 0);
}

#[test]
fn selection_rule_follows_the_features() {
    // The hal's own tests build with neither `app-store-safe` nor `force-mach` unless asked.
    let app_store = cfg!(feature = "app-store-safe");
    assert_eq!(super::selected(true), super::FORCED);
    assert_eq!(super::selected(false), super::FORCED || app_store);
}

#[test]
fn wake_with_nobody_armed_signals_nothing() {
    let k = FakeKernel::new();
    let t = WaiterTable::new();
    let p = FakeProcess::new(&k, 0, 1, 4);
    assert_eq!(t.wake(&p, 8, false), 0);
    assert_eq!(t.wake(&p, 8, true), 0);
    assert_eq!(k.signals.load(Ordering::SeqCst), 0);
}

#[test]
fn changed_word_returns_at_once_and_timeout_leaves_table_clean() {
    let k = FakeKernel::new();
    let t = WaiterTable::new();
    let p = FakeProcess::new(&k, 0, 1, 4);
    let w = AtomicU32::new(5);
    assert_eq!(t.wait(&p, 0, &w, 4, None), Wait::Woken);
    let start = std::time::Instant::now();
    assert_eq!(
        t.wait(&p, 0, &w, 5, later(Duration::from_millis(20))),
        Wait::TimedOut
    );
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert_eq!(t.armed(), 0);
    assert_eq!(t.busy_slots(), 0);
    assert_eq!(k.signals.load(Ordering::SeqCst), 0);
}

#[test]
fn a_blocked_waiter_is_woken_by_one_signal() {
    let k = FakeKernel::new();
    let t = &WaiterTable::new();
    let w = &AtomicU32::new(0);
    thread::scope(|s| {
        let waiter = FakeProcess::new(&k, 0, 1, 4);
        let h = s.spawn(move || t.wait(&waiter, 64, w, 0, later(LONG)));
        eventually("the waiter to arm", || t.armed() == 1);
        w.store(1, Ordering::SeqCst);
        let waker = FakeProcess::new(&k, 1, 1, 4);
        assert_eq!(t.wake(&waker, 64, false), 1);
        assert_eq!(h.join().unwrap(), Wait::Woken);
        assert_eq!(k.signals.load(Ordering::SeqCst), 1);
        assert_eq!(t.armed(), 0);
        assert_eq!(t.busy_slots(), 0);
    });
}

#[test]
fn wake_one_wakes_exactly_one_and_wake_all_the_rest() {
    let k = FakeKernel::new();
    let t = &WaiterTable::new();
    let w = &AtomicU32::new(0);
    let woken = &AtomicU32::new(0);
    thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|i| {
                let p = FakeProcess::new(&k, i, 1, 4);
                s.spawn(move || {
                    let r = t.wait(&p, 4, w, 0, later(LONG));
                    woken.fetch_add(1, Ordering::SeqCst);
                    r
                })
            })
            .collect();
        eventually("three waiters to arm", || t.armed() == 3);
        let waker = FakeProcess::new(&k, 3, 1, 4);
        w.store(1, Ordering::SeqCst);
        assert_eq!(t.wake(&waker, 4, false), 1);
        eventually("one waiter to return", || woken.load(Ordering::SeqCst) >= 1);
        // wake_one signals exactly one semaphore; the other two are not signalled (a
        // waiter may still return on its own — waits may end spuriously, and the word
        // changed — but never by a second signal).
        thread::sleep(Duration::from_millis(20));
        assert_eq!(
            k.signals.load(Ordering::SeqCst),
            1,
            "wake_one signalled more than one"
        );
        let early = woken.load(Ordering::SeqCst) - 1;
        // wake_all signals every waiter still armed.
        let rest = t.wake(&waker, 4, true);
        assert_eq!(
            rest + early,
            2,
            "{rest} woken by wake_all, {early} returned on their own"
        );
        for h in hs {
            assert_eq!(h.join().unwrap(), Wait::Woken);
        }
        assert_eq!(k.signals.load(Ordering::SeqCst), 1 + rest);
        assert_eq!(t.armed(), 0);
    });
}

#[test]
fn wakes_match_the_key_only() {
    let k = FakeKernel::new();
    let t = &WaiterTable::new();
    let w = &AtomicU32::new(0);
    thread::scope(|s| {
        let p = FakeProcess::new(&k, 0, 1, 4);
        let h = s.spawn(move || t.wait(&p, 1 << 40 | 8, w, 0, later(Duration::from_millis(200))));
        eventually("the waiter to arm", || t.armed() == 1);
        let waker = FakeProcess::new(&k, 1, 1, 4);
        // Same low half, different high half: a different word.
        assert_eq!(t.wake(&waker, 8, true), 0);
        assert_eq!(h.join().unwrap(), Wait::TimedOut);
        assert_eq!(k.signals.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn wake_one_skips_a_dead_owner_and_wakes_the_next() {
    let k = FakeKernel::new();
    let t = &WaiterTable::new();
    let w = &AtomicU32::new(0);
    thread::scope(|s| {
        let dead = FakeProcess::new(&k, 0, 1, 4);
        let h0 = s.spawn(move || t.wait(&dead, 0, w, 0, later(Duration::from_millis(300))));
        eventually("the first waiter to arm", || t.armed() == 1);
        let live = FakeProcess::new(&k, 1, 1, 4);
        let h1 = s.spawn(move || t.wait(&live, 0, w, 0, later(LONG)));
        eventually("the second waiter to arm", || t.armed() == 2);
        k.dead[0].store(true, Ordering::SeqCst);
        let waker = FakeProcess::new(&k, 2, 1, 4);
        w.store(1, Ordering::SeqCst);
        assert_eq!(t.wake(&waker, 0, false), 1, "the live waiter must be woken");
        assert_eq!(h1.join().unwrap(), Wait::Woken);
        // The "dead" one was chosen (SIGNALED) but never signalled: it times out, yet reports
        // Woken because a waker chose it, and cleans its slot.
        assert_eq!(h0.join().unwrap(), Wait::Woken);
        assert_eq!(t.armed(), 0);
        assert_eq!(t.busy_slots(), 0);
    });
}

#[test]
fn full_table_degrades_to_polling_and_still_sees_the_change() {
    let k = FakeKernel::new();
    let t = &Table::<2, 2>::new();
    let w = &AtomicU32::new(0);
    thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|i| {
                let p = FakeProcess::new(&k, i, 1, 2);
                s.spawn(move || t.wait(&p, 0, w, 0, later(LONG)))
            })
            .collect();
        eventually("both slots to arm", || t.armed() == 2);
        let p = FakeProcess::new(&k, 0, 1, 2);
        // No slot left: a timed wait polls and times out...
        assert_eq!(
            t.wait(&p, 0, w, 0, later(Duration::from_millis(5))),
            Wait::TimedOut
        );
        assert_eq!(t.degraded_waits(), 1);
        // ...and an untimed one returns once the word changes, with no wake addressed to it.
        let poller = FakeProcess::new(&k, 1, 1, 2);
        let h = s.spawn(move || t.wait(&poller, 0, w, 0, None));
        eventually("the poller to start", || t.degraded_waits() == 2);
        w.store(1, Ordering::SeqCst);
        assert_eq!(h.join().unwrap(), Wait::Woken);
        assert_eq!(
            k.signals.load(Ordering::SeqCst),
            0,
            "the poller needed no signal"
        );
        // Release the two registered waiters.
        assert_eq!(t.wake(&FakeProcess::new(&k, 1, 1, 2), 0, true), 2);
        for h in hs {
            assert_eq!(h.join().unwrap(), Wait::Woken);
        }
        assert_eq!(t.armed(), 0);
    });
}

#[test]
fn a_pool_with_no_free_semaphore_degrades_too() {
    let k = FakeKernel::new();
    let t = &WaiterTable::new();
    let w = &AtomicU32::new(0);
    let p = &FakeProcess::new(&k, 0, 1, 1);
    thread::scope(|s| {
        let h = s.spawn(move || t.wait(p, 0, w, 0, later(LONG)));
        eventually("the waiter to arm", || t.armed() == 1);
        assert_eq!(
            t.wait(p, 0, w, 0, later(Duration::from_millis(5))),
            Wait::TimedOut
        );
        assert_eq!(t.degraded_waits(), 1);
        w.store(1, Ordering::SeqCst);
        assert_eq!(t.wake(p, 0, true), 1);
        assert_eq!(h.join().unwrap(), Wait::Woken);
    });
}

#[test]
fn participants_join_leave_and_reuse_with_a_new_epoch() {
    let t: Table<2, 4> = Table::new();
    let (a, ea) = t.join(100).unwrap();
    let (b, eb) = t.join(200).unwrap();
    assert_ne!(a, b);
    assert_eq!((ea, eb), (1, 1));
    assert_eq!(t.join(300), None, "two entries only");
    assert_eq!(t.participant(a).unwrap().state, P_JOINING);
    assert!(t.set_live(a, ea));
    assert!(!t.set_live(a, ea), "already live");
    assert_eq!(t.participant(a).unwrap().pid, 100);
    assert!(t.leave(a, ea));
    assert!(
        !t.leave(a, ea),
        "a second leave of the same epoch is refused"
    );
    let (c, ec) = t.join(300).unwrap();
    assert_eq!((c, ec), (a, 2), "the entry is reused with the next epoch");
    assert_eq!(t.reclaim(a, ea), None, "a stale epoch reclaims nothing");
    assert_eq!(t.participant(c).unwrap().state, P_JOINING);
}

#[test]
fn peers_ready_needs_both_directions_for_every_live_peer() {
    let t: Table<3, 4> = Table::new();
    let (a, ea) = t.join(1).unwrap();
    assert!(t.set_live(a, ea));
    let (b, eb) = t.join(2).unwrap();
    assert!(t.set_live(b, eb));
    // b holds a's rights, but a does not yet hold b's.
    assert!(!t.peers_ready(b, |q, e| q == a && e == ea));
    t.mark_known(b, eb, a);
    assert!(t.peers_ready(b, |q, e| q == a && e == ea));
    assert!(
        !t.peers_ready(b, |_, _| false),
        "b must hold a's rights too"
    );
    // A JOINING third participant is not waited for.
    let (_c, _) = t.join(3).unwrap();
    assert!(t.peers_ready(b, |q, e| q == a && e == ea));
    // Marks for a stale epoch are ignored.
    assert!(t.leave(b, eb));
    t.mark_known(b, eb, a);
    assert_eq!(t.participant(b).unwrap().known_by, 0);
}

#[test]
fn reclaiming_a_dead_waiter_frees_its_slot_once() {
    let k = FakeKernel::new();
    let t = &WaiterTable::new();
    let w = &AtomicU32::new(0);
    thread::scope(|s| {
        let (idx, epoch) = t.join(42).unwrap();
        assert!(t.set_live(idx, epoch));
        let p = FakeProcess::new(&k, idx, epoch, 4);
        let h = s.spawn(move || t.wait(&p, 0, w, 0, later(Duration::from_millis(300))));
        eventually("the waiter to arm", || t.armed() == 1);
        // A peer believes the participant died: its slot is freed and the counter lowered.
        assert_eq!(t.reclaim(idx, epoch), Some(1));
        assert_eq!(t.armed(), 0);
        assert_eq!(t.busy_slots(), 0);
        assert_eq!(t.reclaimed_slots(), 1);
        assert_eq!(t.participant(idx).unwrap().state, P_FREE);
        // The (actually alive) waiter returns and must not lower the counter a second time.
        assert_eq!(h.join().unwrap(), Wait::Woken);
        assert_eq!(t.armed(), 0);
        // A second reclaimer of the same epoch finds nothing.
        assert_eq!(t.reclaim(idx, epoch), None);
    });
}

#[test]
fn a_corrupt_owner_is_skipped_without_panicking() {
    let k = FakeKernel::new();
    let t = WaiterTable::new();
    let base = &t as *const WaiterTable as *const AtomicU32;
    // What a hostile peer could write: armed = 1, slot 0 ARMED (seq 1) for key 0 with an
    // owner index far outside the table.
    // SAFETY: the table is repr(C) atomics; offsets 0 (armed), 272 (slot 0 state) and 276
    // (slot 0 owner) are pinned by the layout asserts.
    unsafe {
        (*base).store(1, Ordering::SeqCst);
        (*base.add(272 / 4)).store(1 << 2 | 2, Ordering::SeqCst);
        (*base.add(276 / 4)).store(u32::MAX, Ordering::SeqCst);
    }
    let p = FakeProcess::new(&k, 0, 1, 4);
    assert_eq!(t.wake(&p, 0, true), 0);
    assert_eq!(k.signals.load(Ordering::SeqCst), 0);
}

#[test]
fn rendezvous_name_round_trips_and_rejects_corrupt_lengths() {
    let t = WaiterTable::new();
    let mut buf = [0u8; RENDEZVOUS_NAME_MAX];
    assert_eq!(t.rendezvous_name(&mut buf), Ok(&b""[..]));
    let name = b"group.com.example.audio.shmsync.0123456789abcdef";
    t.set_rendezvous_name(name).unwrap();
    assert_eq!(t.rendezvous_name(&mut buf), Ok(&name[..]));
    assert_eq!(
        t.set_rendezvous_name(&[b'x'; RENDEZVOUS_NAME_MAX + 1]),
        Err(NameTooLong)
    );
    let base = &t as *const WaiterTable as *const AtomicU32;
    // SAFETY: offset 16 is the name's length word (layout asserts).
    unsafe { (*base.add(4)).store(1000, Ordering::SeqCst) };
    assert_eq!(t.rendezvous_name(&mut buf), Err(NameTooLong));
}

#[test]
fn mach_error_messages_are_distinct() {
    use std::string::ToString;
    let all = [
        MachError::RegionFull,
        MachError::RegistryFull,
        MachError::BadArea,
        MachError::BadName,
        MachError::Kernel(5),
        MachError::Rendezvous(1100),
        MachError::Timeout,
        MachError::Evicted,
    ];
    let msgs: Vec<_> = all.iter().map(|e| e.to_string()).collect();
    for (i, m) in msgs.iter().enumerate() {
        assert!(!m.is_empty());
        assert!(msgs[i + 1..].iter().all(|o| o != m));
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn private_table_wait_and_wake_between_threads() {
    let w = &AtomicU32::new(0);
    thread::scope(|s| {
        assert_eq!(
            super::wait_until(w, 0, later(Duration::from_millis(5))),
            Wait::TimedOut
        );
        let h = s.spawn(move || super::wait_until(w, 0, later(LONG)));
        eventually("the waiter to arm", || super::private::table().armed() >= 1);
        w.store(1, Ordering::SeqCst);
        assert_eq!(super::wake(w, false), 1);
        assert_eq!(h.join().unwrap(), Wait::Woken);
    });
}
