//! Waiters that die at the worst moment, across forked processes (MAP_SHARED memory mapped
//! at a different address in every child).
//!
//! * A waiter woken by `Semaphore::post(1)`, `AutoResetEvent::set`,
//!   `ManualResetEvent::set` or `Condvar::notify_one` is SIGKILLed after the kernel woke
//!   it and before it consumed: the other waiter must still get the unit / set /
//!   notification, from an untimed wait, within a watchdog bound. The interleaving is
//!   forced, not raced for: the `test-hooks` feature makes every woken waiter call a hook
//!   between its wake-up and its consume; the first waiter to reach it stops itself
//!   (SIGSTOP), and the parent SIGKILLs it.
//! * An `RwLock` writer is SIGKILLed while it waits behind a reader; once the reader
//!   leaves, a new `read()` must succeed, and then `try_read` at once (no trace left).
//!
//! Needs the hooks: `cargo test -p shmsync --features test-hooks --test locks_death` (the
//! CI test lane runs it so). Miri can neither fork nor map shared memory: not under Miri.
#![cfg(all(feature = "test-hooks", not(miri)))]

use shmsync::hal::atomic::{AtomicU32, Ordering};
use shmsync::hal::shm::{Mapping, SharedMemory};
use shmsync::hal::testing::{Child, Exit, fork};
use shmsync::sync::test_hooks::{Site, set_hook};
use shmsync::sync::{
    AutoResetEvent, Condvar, ManualResetEvent, Mutex, RwLock, Semaphore, WRITER_STALL_PERIOD,
};
use shmsync::{ShmSafe, attach, init, region};
use std::sync::atomic::AtomicPtr;
use std::time::{Duration, Instant};

/// Forced rounds per primitive. The interleaving is forced, so one round would do; several
/// show it is not luck (on the old wake-one policy every round strands the survivor).
const ROUNDS: u32 = 8;
/// How long the surviving waiter may take to get what it waits for. It needs
/// microseconds; the bound only has to survive a loaded 2-core machine.
const SURVIVOR: Duration = Duration::from_secs(5);
/// Upper bound for any hand-shake step.
const STEP: Duration = Duration::from_secs(60);

#[repr(C)]
struct Shared {
    sem: Semaphore,
    auto: AutoResetEvent,
    manual: ManualResetEvent,
    mutex: Mutex<u32>,
    cv: Condvar,
    rw: RwLock<u32>,
    /// 1: the next waiter that reaches a "woken" hook stops itself (and sets it to 0).
    armed: AtomicU32,
    /// Set by each child just before it waits.
    parking: [AtomicU32; 2],
}
// SAFETY: repr(C) of ShmSafe locks and atomics; all-zero is valid.
unsafe impl ShmSafe for Shared {
    const TAG: u64 = shmsync::tag(b"locks_death::Shared v1");
}

fn create() -> (SharedMemory, Mapping) {
    let shm = SharedMemory::create(region::required_len::<Shared>()).unwrap();
    let map = shm.map().unwrap();
    // SAFETY: a fresh zero-filled mapping that only shmsync uses.
    unsafe { init::<Shared>(map.as_ptr(), map.len()) }.unwrap();
    (shm, map)
}

fn root(map: &Mapping) -> &Shared {
    // SAFETY: initialised by `create`, live as long as `map`.
    unsafe { attach::<Shared>(map.as_ptr(), map.len()) }
        .unwrap()
        .get()
}

/// In a child: its own mapping of the region (at a new address) and the attached root.
fn remap(shm: &SharedMemory, parent: &Mapping) -> Option<(Mapping, &'static Shared)> {
    let map = shm.map().ok()?;
    if map.as_ptr() == parent.as_ptr() {
        return None;
    }
    // SAFETY: the mapping is live, read/write, and kept until the child's `_exit`.
    let root = unsafe { attach::<Shared>(map.as_ptr(), map.len()) }
        .ok()?
        .get();
    // SAFETY: the child never unmaps it.
    let root: &'static Shared = unsafe { &*(root as *const Shared) };
    Some((map, root))
}

/// The child's `armed` word (in its own mapping), for the hook.
static ARMED: AtomicPtr<AtomicU32> = AtomicPtr::new(std::ptr::null_mut());

/// The hook every child installs: the first woken waiter (across processes) stops itself
/// between its wake-up and its consume.
fn stop_first_woken(site: Site) {
    if site == Site::RwLockWaiting {
        return;
    }
    let p = ARMED.load(Ordering::Acquire);
    // SAFETY: null or the child's `armed` word, mapped until `_exit`.
    let Some(armed) = (unsafe { p.as_ref() }) else {
        return;
    };
    if armed
        .compare_exchange(1, 0, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
    {
        // SAFETY: raising a signal on ourselves; SIGSTOP cannot be caught.
        unsafe { libc::raise(libc::SIGSTOP) };
    }
}

fn install_hook(s: &'static Shared) {
    ARMED.store((&raw const s.armed).cast_mut(), Ordering::Release);
    set_hook(Some(stop_first_woken));
}

/// The state letter of `/proc/<pid>/stat` (`S` asleep, `T` stopped, `Z` exited), if any.
fn state(pid: i32) -> Option<u8> {
    let line = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = line.iter().rposition(|&b| b == b')')?;
    line.get(close + 2).copied()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > limit {
            eprintln!("gave up waiting for {what} after {limit:?}");
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Both waiters are parked in the kernel: flagged, and asleep for a while.
fn both_asleep(s: &Shared, kids: &[Child; 2]) {
    assert!(wait_for("both waiters to park", STEP, || {
        s.parking.iter().all(|p| p.load(Ordering::Acquire) == 1)
    }));
    // Asleep twice, 20 ms apart: past the spin phase and inside the kernel wait.
    for _ in 0..2 {
        assert!(wait_for("both waiters asleep", STEP, || {
            kids.iter().all(|k| state(k.pid()) == Some(b'S'))
        }));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        s.armed.load(Ordering::Acquire),
        1,
        "a waiter woke before the wake-up"
    );
}

/// One forced round: two waiters park, `wake` wakes (one of) them, the first one woken is
/// stopped inside the window and SIGKILLed. Returns how long the survivor took, or `None`
/// when it was stranded (still asleep at the bound).
fn round(wait: fn(&Shared, usize) -> i32, wake: fn(&Shared)) -> Option<Duration> {
    let (shm, map) = create();
    let s = root(&map);
    s.armed.store(1, Ordering::Release);
    let spawn = |i: usize| {
        let (shm, map) = (&shm, &map);
        fork(move || {
            let Some((_m, s)) = remap(shm, map) else {
                return 10;
            };
            install_hook(s);
            wait(s, i)
        })
    };
    let kids = [spawn(0), spawn(1)];
    both_asleep(s, &kids);
    wake(s);
    let woken = Instant::now();
    let mut stopped = None;
    assert!(
        wait_for("the woken waiter to stop in the hook", STEP, || {
            stopped = kids.iter().position(|k| state(k.pid()) == Some(b'T'));
            stopped.is_some()
        }),
        "no woken waiter reached the hook"
    );
    let stopped = stopped.unwrap();
    let [a, b] = kids;
    let (victim, survivor) = if stopped == 0 { (a, b) } else { (b, a) };
    victim.signal(libc::SIGKILL);
    assert_eq!(victim.wait_timeout(STEP), Exit::Signal(libc::SIGKILL));
    let pid = survivor.pid();
    let got = wait_for("the surviving waiter", SURVIVOR, || {
        state(pid) == Some(b'Z')
    });
    let took = woken.elapsed();
    if !got {
        drop(survivor); // SIGKILL + reap
        return None;
    }
    assert_eq!(
        survivor.wait_timeout(STEP),
        Exit::Code(0),
        "survivor failed"
    );
    Some(took)
}

fn run(name: &str, wait: fn(&Shared, usize) -> i32, wake: fn(&Shared)) {
    let mut stranded = 0;
    let mut worst = Duration::ZERO;
    for _ in 0..ROUNDS {
        match round(wait, wake) {
            Some(t) => worst = worst.max(t),
            None => stranded += 1,
        }
    }
    eprintln!(
        "{name}: {stranded}/{ROUNDS} rounds stranded the surviving waiter; slowest survivor {worst:?}"
    );
    assert_eq!(
        stranded, 0,
        "{name}: a woken waiter's death swallowed the only wake-up"
    );
}

#[test]
fn semaphore_post_survives_a_woken_waiters_death() {
    run(
        "Semaphore",
        |s, i| {
            s.parking[i].store(1, Ordering::Release);
            s.sem.wait();
            // Exactly one unit was posted and the survivor holds it.
            if s.sem.try_wait() { 20 } else { 0 }
        },
        |s| s.sem.post(1).unwrap(),
    );
}

#[test]
fn auto_reset_set_survives_a_woken_waiters_death() {
    run(
        "AutoResetEvent",
        |s, i| {
            s.parking[i].store(1, Ordering::Release);
            s.auto.wait();
            if s.auto.is_set() { 20 } else { 0 }
        },
        |s| s.auto.set(),
    );
}

#[test]
fn manual_reset_set_survives_a_woken_waiters_death() {
    run(
        "ManualResetEvent",
        |s, i| {
            s.parking[i].store(1, Ordering::Release);
            s.manual.wait();
            if s.manual.is_set() { 0 } else { 20 }
        },
        |s| s.manual.set(),
    );
}

#[test]
fn condvar_notify_one_survives_a_woken_waiters_death() {
    run(
        "Condvar",
        |s, i| {
            let Ok(mut g) = s.mutex.lock() else { return 11 };
            // Under the mutex: the parent takes it only after we released it in `wait`.
            s.parking[i].store(1, Ordering::Release);
            while *g == 0 {
                let Ok(next) = s.cv.wait(g) else { return 12 };
                g = next;
            }
            0
        },
        |s| {
            // Both waiters released the mutex inside `wait` (they set `parking` under it).
            *s.mutex.lock().unwrap() = 1;
            s.cv.notify_one();
        },
    );
}

#[test]
fn rwlock_writer_killed_while_waiting_does_not_block_readers() {
    const RW_ROUNDS: u32 = 4;
    let mut stranded = 0;
    let mut worst = Duration::ZERO;
    for _ in 0..RW_ROUNDS {
        let (shm, map) = create();
        let s = root(&map);
        let reader = s.rw.read();
        let writer = fork(|| {
            let Some((_m, s)) = remap(&shm, &map) else {
                return 10;
            };
            s.parking[0].store(1, Ordering::Release);
            let _g = s.rw.write();
            0
        });
        assert!(wait_for("the writer to wait", STEP, || {
            s.parking[0].load(Ordering::Acquire) == 1
        }));
        for _ in 0..2 {
            assert!(wait_for("the writer asleep", STEP, || {
                state(writer.pid()) == Some(b'S')
            }));
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            s.rw.try_read().is_none(),
            "the waiting writer keeps new readers out"
        );
        writer.signal(libc::SIGKILL);
        assert_eq!(writer.wait_timeout(STEP), Exit::Signal(libc::SIGKILL));
        drop(reader);
        let released = Instant::now();
        let late = fork(|| {
            let Some((_m, s)) = remap(&shm, &map) else {
                return 10;
            };
            drop(s.rw.read()); // untimed
            // The dead writer's announcement is gone: no further delay, and writers work.
            if s.rw.try_read().is_none() {
                return 11;
            }
            if s.rw.try_write().is_none() {
                return 12;
            }
            0
        });
        let pid = late.pid();
        if wait_for("the new reader", SURVIVOR, || state(pid) == Some(b'Z')) {
            worst = worst.max(released.elapsed());
            assert_eq!(late.wait_timeout(STEP), Exit::Code(0));
        } else {
            stranded += 1;
            drop(late);
        }
    }
    eprintln!(
        "RwLock: {stranded}/{RW_ROUNDS} rounds left a new reader blocked by a dead waiting writer; \
         slowest read {worst:?} (stall period {WRITER_STALL_PERIOD:?})"
    );
    assert_eq!(
        stranded, 0,
        "a dead waiting writer blocked readers of a free lock"
    );
}
