//! The Mach waiter-table protocol across real forked processes, with the Linux stand-in
//! semaphores (`shmsync_hal::mach::standin`): join, wait/wake in both directions through the
//! process-wide registry, wake-all, orderly leave, SIGKILL of a blocked participant and
//! reclamation of its slot by epoch, and the degraded mode of a full table.
//!
//! Every child maps the shared object anew, so it sees the region at another address than
//! the parent: the words are matched by their byte offset, not their address.
//!
//! Cross-process, so not under Miri (no fork, no MAP_SHARED): the native Linux lane
//! (`cargo test -p shmsync-hal --features std --test mach_standin`) runs them.
#![cfg(all(any(target_os = "linux", target_os = "android"), not(miri)))]

use shmsync_hal::Wait;
use shmsync_hal::atomic::{AtomicU32, Ordering};
use shmsync_hal::clock::Instant;
use shmsync_hal::mach::registry::{self, Registration};
use shmsync_hal::mach::standin::{self, StandinArea, StandinSemaphores};
use shmsync_hal::mach::table::{P_FREE, P_LIVE};
use shmsync_hal::mach::{self, SLOTS, Semaphores, Signal, WaiterTable};
use shmsync_hal::shm::{Mapping, SharedMemory};
use shmsync_hal::testing::{Exit, fork};
use std::sync::OnceLock;
use std::time::Duration;

/// Region layout of these tests: the table, the stand-in semaphores, then the words.
const AREA_OFF: usize = 2048;
const WORDS_OFF: usize = 4096;
const LEN: usize = 8192;
/// Generous limits: the machine is shared and slow; speed is shown by benchmarks.
const LIMIT: Duration = Duration::from_secs(30);

fn table(m: &Mapping) -> &WaiterTable {
    // SAFETY: offset 0 of a page-aligned mapping of LEN zero-initialised bytes; the table
    // is repr(C) atomics, valid as zero bytes, and the mapping outlives the borrow.
    unsafe { &*(m.as_ptr() as *const WaiterTable) }
}

fn area(m: &Mapping) -> *const StandinArea {
    // SAFETY: AREA_OFF + 512 <= LEN.
    unsafe { m.as_ptr().add(AREA_OFF) as *const StandinArea }
}

fn word(m: &Mapping, i: usize) -> &AtomicU32 {
    // SAFETY: 4-aligned offset inside the mapping; AtomicU32 is valid for any bytes.
    unsafe { &*(m.as_ptr().add(WORDS_OFF + 4 * i) as *const AtomicU32) }
}

/// Joins and registers this process (the parent) for the region mapped at `m`.
fn join_parent(m: &Mapping) -> (&'static StandinSemaphores, Registration) {
    // SAFETY: the mapping stays alive until the test unregisters and drops it.
    let s = unsafe { StandinSemaphores::join(table(m), area(m)) }.expect("join");
    let s: &'static StandinSemaphores = Box::leak(Box::new(s));
    // SAFETY: as above.
    let r = unsafe { s.register(m.as_ptr(), m.len()) }.expect("register");
    (s, r)
}

/// Joins and registers a forked child, without allocating (the child of a multi-threaded
/// test binary must not take the allocator's lock).
fn join_child(m: &Mapping) -> &'static StandinSemaphores {
    static SEMS: OnceLock<StandinSemaphores> = OnceLock::new();
    let s = SEMS.get_or_init(|| {
        // SAFETY: the child keeps its mapping until it exits.
        unsafe { StandinSemaphores::join(table(m), area(m)) }.expect("child join")
    });
    // SAFETY: as above; the child never unregisters (it exits).
    let r = unsafe { s.register(m.as_ptr(), m.len()) }.expect("child register");
    let _kept_until_exit = r;
    s
}

fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// How long a counted waiter is given to finish arming. The table raises `armed` just
/// *before* the slot turns ARMED (so the counter never under-counts); a waker that looks at
/// the counter alone can find the slot not ARMED yet, which is correct (the waiter then
/// re-checks the word and does not sleep) but would make the wake counts these tests assert
/// 0. Seen once under qemu-aarch64, where emulated threads run slowly.
const ARM_SETTLE: Duration = Duration::from_millis(50);

/// Waits until the table counts `n` armed waiters, then lets them finish arming.
fn armed_and_settled(what: &str, m: &Mapping, n: u32) {
    eventually(what, || table(m).armed() == n);
    std::thread::sleep(ARM_SETTLE);
}

fn deadline(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

/// Child body: wait through the registry until word `i` becomes non-zero.
fn child_waits(shm: &SharedMemory, parent_base: usize, i: usize) -> i32 {
    let m = shm.map().expect("child map");
    if m.as_ptr() as usize == parent_base {
        return 3; // must be another address than the parent's mapping
    }
    join_child(&m);
    let w = word(&m, i);
    let until = deadline(LIMIT);
    while w.load(Ordering::Acquire) == 0 {
        if mach::wait_until(w, 0, until) == Wait::TimedOut {
            return 2;
        }
    }
    0
}

#[test]
fn parent_wakes_a_child_blocked_at_another_address() {
    let shm = SharedMemory::create(LEN).unwrap();
    let m = shm.map().unwrap();
    let (_s, reg) = join_parent(&m);
    let base = m.as_ptr() as usize;
    let child = fork(|| child_waits(&shm, base, 0));
    armed_and_settled("the child to arm", &m, 1);
    word(&m, 0).store(1, Ordering::SeqCst);
    assert_eq!(mach::wake(word(&m, 0), false), 1, "one signal to the child");
    child.join(LIMIT);
    assert_eq!(table(&m).armed(), 0);
    assert_eq!(table(&m).busy_slots(), 0);
    registry::unregister(reg);
}

#[test]
fn child_wakes_the_blocked_parent() {
    let shm = SharedMemory::create(LEN).unwrap();
    let m = shm.map().unwrap();
    let (_s, reg) = join_parent(&m);
    let child = fork(|| {
        let m = shm.map().expect("child map");
        join_child(&m);
        let t = table(&m);
        let start = Instant::now();
        while t.armed() == 0 {
            if start.elapsed() > LIMIT {
                return 2;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(ARM_SETTLE);
        word(&m, 1).store(7, Ordering::SeqCst);
        if mach::wake(word(&m, 1), true) == 1 {
            0
        } else {
            4
        }
    });
    let w = word(&m, 1);
    let until = deadline(LIMIT);
    while w.load(Ordering::Acquire) == 0 {
        assert_eq!(
            mach::wait_until(w, 0, until),
            Wait::Woken,
            "parent timed out"
        );
    }
    child.join(LIMIT);
    assert_eq!(w.load(Ordering::SeqCst), 7);
    registry::unregister(reg);
}

#[test]
fn wake_all_reaches_three_processes() {
    let shm = SharedMemory::create(LEN).unwrap();
    let m = shm.map().unwrap();
    let (_s, reg) = join_parent(&m);
    let base = m.as_ptr() as usize;
    let children: Vec<_> = (0..3)
        .map(|_| fork(|| child_waits(&shm, base, 2)))
        .collect();
    armed_and_settled("three children to arm", &m, 3);
    // A wake on another word reaches nobody.
    assert_eq!(mach::wake(word(&m, 3), true), 0);
    word(&m, 2).store(1, Ordering::SeqCst);
    assert_eq!(mach::wake(word(&m, 2), true), 3);
    for c in children {
        c.join(LIMIT);
    }
    let live = (0..mach::MAX_PARTICIPANTS as u32)
        .filter(|&i| table(&m).participant(i).unwrap().state == P_LIVE)
        .count();
    assert_eq!(
        live, 4,
        "three children that exited without leaving, and the parent"
    );
    registry::unregister(reg);
}

#[test]
fn orderly_leave_frees_the_entry_for_the_next_epoch() {
    let shm = SharedMemory::create(LEN).unwrap();
    let m = shm.map().unwrap();
    let child = fork(|| {
        let m = shm.map().expect("child map");
        // SAFETY: the mapping outlives the participant.
        let s = unsafe { StandinSemaphores::join(table(&m), area(&m)) }.expect("join");
        if (s.index(), s.epoch()) != (0, 1) {
            return 2;
        }
        if s.leave() { 0 } else { 3 }
    });
    child.join(LIMIT);
    let p = table(&m).participant(0).unwrap();
    assert_eq!((p.state, p.epoch), (P_FREE, 1));
    // SAFETY: the mapping outlives `s`.
    let s = unsafe { StandinSemaphores::join(table(&m), area(&m)) }.unwrap();
    assert_eq!((s.index(), s.epoch()), (0, 2));
    assert!(s.leave());
}

#[test]
fn sigkill_of_a_blocked_participant_is_reclaimed_by_epoch() {
    let shm = SharedMemory::create(LEN).unwrap();
    let m = shm.map().unwrap();
    let (parent, reg) = join_parent(&m);
    let base = m.as_ptr() as usize;
    let victim = fork(|| child_waits(&shm, base, 4));
    armed_and_settled("the victim to arm", &m, 1);
    let victim_index = (0..mach::MAX_PARTICIPANTS as u32)
        .find(|&i| {
            let p = table(&m).participant(i).unwrap();
            p.state == P_LIVE && p.pid == victim.pid() as u32
        })
        .expect("the victim's entry");
    let victim_epoch = table(&m).participant(victim_index).unwrap().epoch;
    victim.signal(libc::SIGKILL);
    assert_eq!(victim.wait_timeout(LIMIT), Exit::Signal(libc::SIGKILL));
    // The dead waiter still holds its slot until a peer reclaims it.
    assert_eq!(table(&m).busy_slots(), 1);
    assert_eq!(parent.reap(), 1, "one slot reclaimed");
    assert_eq!(table(&m).armed(), 0);
    assert_eq!(table(&m).busy_slots(), 0);
    assert_eq!(table(&m).reclaimed_slots(), 1);
    let p = table(&m).participant(victim_index).unwrap();
    assert_eq!((p.state, p.epoch), (P_FREE, victim_epoch));
    assert_eq!(standin::reap(table(&m)), 0, "nothing left to reclaim");
    assert_eq!(
        table(&m).reclaim(victim_index, victim_epoch),
        None,
        "stale epoch"
    );

    // The entry is reused with the next epoch, and the protocol works for the newcomer.
    let newcomer = fork(|| child_waits(&shm, base, 4));
    armed_and_settled("the newcomer to arm", &m, 1);
    let p = table(&m).participant(victim_index).unwrap();
    assert_eq!((p.state, p.epoch), (P_LIVE, victim_epoch + 1));
    word(&m, 4).store(1, Ordering::SeqCst);
    assert_eq!(mach::wake(word(&m, 4), false), 1);
    newcomer.join(LIMIT);
    registry::unregister(reg);
}

#[test]
fn a_full_table_degrades_to_polling_across_processes() {
    let shm = SharedMemory::create(LEN).unwrap();
    let m = shm.map().unwrap();
    let (parent, reg) = join_parent(&m);
    // Take every slot as this participant (CLAIMED, sequence 1), as 64 waiters that are
    // filling their slots in would: slot i is at byte 272 + 24 i (layout asserts); its state
    // word is `sequence << 5 | claimer << 2 | CLAIMED (1)`.
    let raw = m.as_ptr() as *const AtomicU32;
    for i in 0..SLOTS {
        // SAFETY: in-bounds, 4-aligned words of the table.
        unsafe {
            let slot = raw.add((272 + 24 * i) / 4);
            (*slot.add(1)).store(parent.index() << 16, Ordering::Relaxed);
            (*slot.add(2)).store(parent.epoch(), Ordering::Relaxed);
            (*slot).store(1 << 5 | parent.index() << 2 | 1, Ordering::Release);
        }
    }
    assert_eq!(table(&m).busy_slots(), SLOTS);
    let base = m.as_ptr() as usize;
    let child = fork(|| child_waits(&shm, base, 5));
    eventually("the child to poll", || table(&m).degraded_waits() == 1);
    assert_eq!(table(&m).armed(), 0, "a polling waiter is not armed");
    // No wake is needed (nor possible): the poller sees the store within a poll period.
    word(&m, 5).store(1, Ordering::SeqCst);
    assert_eq!(mach::wake(word(&m, 5), true), 0);
    child.join(LIMIT);
    // Leaving frees every slot still registered to the parent.
    registry::unregister(reg);
    assert!(table(&m).leave(parent.index(), parent.epoch()));
    assert_eq!(table(&m).busy_slots(), 0);
}

#[test]
fn a_region_with_all_entries_taken_refuses_a_joiner() {
    let shm = SharedMemory::create(LEN).unwrap();
    let m = shm.map().unwrap();
    let joined: Vec<_> = (0..mach::MAX_PARTICIPANTS)
        // SAFETY: the mapping outlives every participant.
        .map(|_| unsafe { StandinSemaphores::join(table(&m), area(&m)) }.unwrap())
        .collect();
    // SAFETY: as above.
    let err = unsafe { StandinSemaphores::join(table(&m), area(&m)) }.unwrap_err();
    assert_eq!(err, mach::MachError::RegionFull);
    for s in joined {
        assert!(s.leave());
    }
}

/// The real-time promise of the table's wake: one atomic load and no syscall when nobody
/// is armed, exactly one semaphore signal (here one `FUTEX_WAKE`) per woken waiter.
/// Runs with `--features std,count-syscalls`.
#[cfg(feature = "count-syscalls")]
#[test]
fn wakes_cost_no_syscall_when_idle_and_one_per_woken_waiter() {
    use shmsync_hal::count::snapshot;
    let shm = SharedMemory::create(LEN).unwrap();
    let m = shm.map().unwrap();
    let (_s, reg) = join_parent(&m);
    let before = snapshot();
    for _ in 0..100 {
        assert_eq!(mach::wake(word(&m, 6), false), 0);
        assert_eq!(mach::wake(word(&m, 6), true), 0);
    }
    assert_eq!((snapshot() - before).wakes, 0, "idle wakes made syscalls");
    let base = m.as_ptr() as usize;
    let children: Vec<_> = (0..2)
        .map(|_| fork(|| child_waits(&shm, base, 6)))
        .collect();
    armed_and_settled("two children to arm", &m, 2);
    word(&m, 6).store(1, Ordering::SeqCst);
    let before = snapshot();
    assert_eq!(mach::wake(word(&m, 6), true), 2);
    assert_eq!(
        (snapshot() - before).wakes,
        2,
        "one signal per woken waiter"
    );
    for c in children {
        c.join(LIMIT);
    }
    registry::unregister(reg);
}

/// The stand-in semaphores of the parent with a hook in `drain`, which `Table::wait` calls
/// right after its slot claim and before it writes anything else into the slot: the window
/// of issue B3, forced.
struct ReapInClaimWindow<'a> {
    inner: &'a StandinSemaphores,
    table: &'a WaiterTable,
    reaped: std::sync::Mutex<Option<(u32, usize)>>,
}

impl Semaphores for ReapInClaimWindow<'_> {
    fn identity(&self) -> (u32, u32) {
        self.inner.identity()
    }
    fn claim(&self) -> Option<u32> {
        self.inner.claim()
    }
    fn release(&self, sem: u32) {
        self.inner.release(sem)
    }
    fn drain(&self, sem: u32) {
        let mut r = self.reaped.lock().unwrap();
        if r.is_none() {
            // A peer learns of the dead child's death exactly now.
            *r = Some((standin::reap(self.table), self.table.busy_slots()));
        }
        self.inner.drain(sem)
    }
    fn wait(&self, sem: u32, deadline: Option<Instant>) -> bool {
        Semaphores::wait(self.inner, sem, deadline)
    }
    fn signal(&self, owner: u32, epoch: u32, sem: u32) -> Signal {
        self.inner.signal(owner, epoch, sem)
    }
    fn nap(&self, max: Duration) {
        self.inner.nap(max)
    }
}

/// B3: a child uses slot 0 (its owner and epoch stay in the slot after its wait) and dies;
/// the parent claims slot 0, and inside the claim window the child's death is reaped. The
/// reap must free nothing of the parent's: the old `retire` matched the child's stale
/// owner/epoch, freed the parent's fresh claim, and a third waiter arming it could then
/// have its key overwritten by the parent's late stores — a lost wake. Here the parent's
/// wait must still arm and be woken by a real signal.
#[test]
fn reaping_a_dead_child_in_the_claim_window_keeps_the_new_claim() {
    let shm = SharedMemory::create(LEN).unwrap();
    let m = shm.map().unwrap();
    let (parent, reg) = join_parent(&m);
    let base = m.as_ptr() as usize;
    let child = fork(|| {
        let m = shm.map().expect("child map");
        if m.as_ptr() as usize == base {
            return 3;
        }
        join_child(&m);
        // One wait that times out: slot 0 is FREE again with the child's owner and epoch.
        match mach::wait_until(word(&m, 6), 0, deadline(Duration::from_millis(1))) {
            Wait::TimedOut => 0,
            Wait::Woken => 4,
        }
    });
    assert_eq!(child.wait_timeout(LIMIT), Exit::Code(0));
    assert_eq!(table(&m).busy_slots(), 0);

    let hooked = ReapInClaimWindow {
        inner: parent,
        table: table(&m),
        reaped: std::sync::Mutex::new(None),
    };
    let key = (WORDS_OFF + 4 * 7) as u64;
    let w = word(&m, 7);
    let woken = std::thread::scope(|s| {
        let waker = s.spawn(|| {
            eventually("the parent to arm", || table(&m).armed() == 1);
            std::thread::sleep(ARM_SETTLE);
            w.store(1, Ordering::SeqCst);
            parent.wake(key, false)
        });
        let r = table(&m).wait(&hooked, key, w, 0, deadline(LIMIT));
        (r, waker.join().unwrap())
    });
    let (reaped, busy) = hooked.reaped.lock().unwrap().expect("the hook ran");
    assert_eq!(
        reaped, 0,
        "reaping the dead child freed a slot it did not own"
    );
    assert_eq!(busy, 1, "the parent's claim must survive the reap");
    assert_eq!(
        woken,
        (Wait::Woken, 1),
        "the parent must be woken by one signal"
    );
    assert_eq!((table(&m).armed(), table(&m).busy_slots()), (0, 0));
    registry::unregister(reg);
}
