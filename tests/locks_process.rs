//! The locks across forked processes that map one region at different addresses.
//!
//! Miri can neither `fork` nor map shared memory: this file is `cfg(not(miri))` and runs in
//! the host lane (`cargo test --test locks_process`) and the qemu-aarch64 lane. Children
//! only use shmsync and report through exit codes and shared counters (no allocation, no
//! printing after `fork`).
#![cfg(not(miri))]

use shmsync::hal::atomic::{AtomicU32, Ordering};
use shmsync::hal::shm::{Mapping, SharedMemory};
use shmsync::hal::testing::{Exit, fork};
use shmsync::region;
use shmsync::sync::{Condvar, Mutex, OWNER_CHECK_PERIOD, Semaphore, TryLockError};
use shmsync::{ShmSafe, attach, init};
use std::time::{Duration, Instant};

/// Items handed over in each producer/consumer test (the acceptance floor is 100,000).
const ITEMS: u32 = 100_000;
/// Queue and ring capacity.
const CAP: usize = 64;
/// Timeout of each wait in the hand-over tests. A wait that runs into it although the
/// item (or space) was already there is counted as a lost wakeup; generous, so that a
/// descheduled peer on a loaded machine is not mistaken for one.
const WAIT: Duration = Duration::from_secs(2);
/// Upper bound for a whole child: reaching it means a hang.
const CHILD_LIMIT: Duration = Duration::from_secs(300);

#[repr(C)]
#[derive(Default, Debug)]
struct Pair {
    a: u64,
    b: u64,
}
// SAFETY: repr(C), two u64.
unsafe impl ShmSafe for Pair {
    const TAG: u64 = shmsync::tag(b"locks_process::Pair");
}

#[repr(C)]
struct Queue {
    buf: [u32; CAP],
    head: u32,
    len: u32,
}
// SAFETY: repr(C), integers only; `head`/`len` are masked/checked before use below.
unsafe impl ShmSafe for Queue {
    const TAG: u64 = shmsync::tag(b"locks_process::Queue");
}

#[repr(C)]
struct Shared {
    counter: Mutex<Pair>,
    queue: Mutex<Queue>,
    not_empty: Condvar,
    not_full: Condvar,
    items: Semaphore,
    spaces: Semaphore,
    slots: [AtomicU32; CAP],
    /// Waits that timed out although their item/space was there.
    lost: AtomicU32,
    /// Generic hand-shake flags and results.
    step: AtomicU32,
    result: AtomicU32,
}
// SAFETY: repr(C) of ShmSafe locks and atomics; all-zero valid.
unsafe impl ShmSafe for Shared {
    const TAG: u64 = shmsync::tag(b"locks_process::Shared v1");
}

/// A fresh shared object, mapped and initialised in this process.
fn create() -> (SharedMemory, Mapping) {
    let shm = SharedMemory::create(region::required_len::<Shared>()).unwrap();
    let map = shm.map().unwrap();
    // SAFETY: a fresh zero-filled mapping that only shmsync uses.
    unsafe { init::<Shared>(map.as_ptr(), map.len()) }.unwrap();
    (shm, map)
}

/// In a child: a second mapping (at a new address, since the inherited one is still
/// mapped) and the attached root. `None` if anything fails.
fn remap(shm: &SharedMemory, parent: &Mapping) -> Option<(Mapping, &'static Shared)> {
    let map = shm.map().ok()?;
    if map.as_ptr() == parent.as_ptr() {
        return None;
    }
    // SAFETY: the mapping is live, read/write, and leaked for the child's lifetime below.
    let root = unsafe { attach::<Shared>(map.as_ptr(), map.len()) }
        .ok()?
        .get();
    // SAFETY: the child never unmaps it; the reference lives until `_exit`.
    let root: &'static Shared = unsafe { &*(root as *const Shared) };
    Some((map, root))
}

fn root(map: &Mapping) -> &Shared {
    // SAFETY: initialised by `create`, live as long as `map`.
    unsafe { attach::<Shared>(map.as_ptr(), map.len()) }
        .unwrap()
        .get()
}

#[test]
fn mutex_n_processes_m_increments_is_exact() {
    const PROCS: u32 = 4;
    const PER: u32 = 25_000;
    let (shm, map) = create();
    let children: Vec<_> = (0..PROCS)
        .map(|_| {
            fork(|| {
                let Some((_m, s)) = remap(&shm, &map) else {
                    return 10;
                };
                for _ in 0..PER {
                    let Ok(mut g) = s.counter.lock() else {
                        return 11;
                    };
                    g.a += 1;
                    std::hint::black_box(&mut *g);
                    g.b += 1;
                }
                0
            })
        })
        .collect();
    for c in children {
        c.join(CHILD_LIMIT);
    }
    let g = root(&map).counter.lock().unwrap();
    assert_eq!(g.a, u64::from(PROCS * PER));
    assert_eq!(g.b, g.a, "an increment was torn: exclusion failed");
}

#[test]
fn condvar_producer_consumer_across_processes() {
    let (shm, map) = create();
    let producer = fork(|| {
        let Some((_m, s)) = remap(&shm, &map) else {
            return 10;
        };
        for i in 0..ITEMS {
            let Ok(mut q) = s.queue.lock() else { return 11 };
            while q.len as usize >= CAP {
                let Ok((g, r)) = s.not_full.wait_timeout(q, WAIT) else {
                    return 12;
                };
                q = g;
                if r.timed_out() && (q.len as usize) < CAP {
                    s.lost.fetch_add(1, Ordering::Relaxed);
                }
            }
            let tail = (q.head as usize + q.len as usize) % CAP;
            q.buf[tail] = i;
            q.len += 1;
            drop(q);
            s.not_empty.notify_one();
        }
        0
    });
    let consumer = fork(|| {
        let Some((_m, s)) = remap(&shm, &map) else {
            return 10;
        };
        for i in 0..ITEMS {
            let Ok(mut q) = s.queue.lock() else { return 11 };
            while q.len == 0 {
                let Ok((g, r)) = s.not_empty.wait_timeout(q, WAIT) else {
                    return 12;
                };
                q = g;
                if r.timed_out() && q.len != 0 {
                    s.lost.fetch_add(1, Ordering::Relaxed);
                }
            }
            let head = q.head as usize % CAP;
            if q.buf[head] != i {
                return 13; // lost, duplicated or reordered item
            }
            q.head = ((head + 1) % CAP) as u32;
            q.len -= 1;
            drop(q);
            s.not_full.notify_one();
            s.result.store(i + 1, Ordering::Relaxed);
        }
        0
    });
    producer.join(CHILD_LIMIT);
    consumer.join(CHILD_LIMIT);
    let s = root(&map);
    assert_eq!(s.result.load(Ordering::Relaxed), ITEMS);
    assert_eq!(s.lost.load(Ordering::Relaxed), 0, "lost wakeups");
}

#[test]
fn semaphore_producer_consumer_across_processes() {
    let (shm, map) = create();
    root(&map).spaces.post(CAP as u32).unwrap();
    let producer = fork(|| {
        let Some((_m, s)) = remap(&shm, &map) else {
            return 10;
        };
        for i in 0..ITEMS {
            while !s.spaces.wait_timeout(WAIT) {
                if s.spaces.count() != 0 {
                    s.lost.fetch_add(1, Ordering::Relaxed);
                }
            }
            s.slots[i as usize % CAP].store(i, Ordering::Relaxed);
            if s.items.post(1).is_err() {
                return 11;
            }
        }
        0
    });
    let consumer = fork(|| {
        let Some((_m, s)) = remap(&shm, &map) else {
            return 10;
        };
        for i in 0..ITEMS {
            while !s.items.wait_timeout(WAIT) {
                if s.items.count() != 0 {
                    s.lost.fetch_add(1, Ordering::Relaxed);
                }
            }
            if s.slots[i as usize % CAP].load(Ordering::Relaxed) != i {
                return 12;
            }
            if s.spaces.post(1).is_err() {
                return 13;
            }
            s.result.store(i + 1, Ordering::Relaxed);
        }
        0
    });
    producer.join(CHILD_LIMIT);
    consumer.join(CHILD_LIMIT);
    let s = root(&map);
    assert_eq!(s.result.load(Ordering::Relaxed), ITEMS);
    assert_eq!(s.lost.load(Ordering::Relaxed), 0, "lost wakeups");
    assert_eq!(s.items.count(), 0);
    assert_eq!(s.spaces.count(), CAP as u32);
}

/// Steps of the owner-death hand-shake.
const HOLDING: u32 = 1;
const BLOCKING: u32 = 2;

#[test]
fn sigkilled_holder_is_detected_by_a_blocked_locker() {
    let (shm, map) = create();
    let s = root(&map);
    // The victim takes the lock, half-updates the data, and never lets go.
    let victim = fork(|| {
        let Some((_m, s)) = remap(&shm, &map) else {
            return 10;
        };
        let Ok(mut g) = s.counter.lock() else {
            return 11;
        };
        g.a = 1; // b stays 0: the invariant a == b is broken while held
        s.step.store(HOLDING, Ordering::Release);
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let start = Instant::now();
    while s.step.load(Ordering::Acquire) != HOLDING {
        assert!(start.elapsed() < CHILD_LIMIT, "victim never took the lock");
        std::thread::sleep(Duration::from_millis(1));
    }
    // The survivor blocks in plain lock(); it must come back with OwnerDead, repair, and
    // report how long after the kill (ms) it got the lock.
    let survivor = fork(|| {
        let Some((_m, s)) = remap(&shm, &map) else {
            return 10;
        };
        s.step.store(BLOCKING, Ordering::Release);
        let Err(dead) = s.counter.lock() else {
            return 11; // got the lock without being told the holder died
        };
        let mut g = dead.into_inner();
        if g.a != 1 || g.b != 0 {
            return 12;
        }
        g.b = g.a; // repair
        g.mark_consistent();
        g.a += 1;
        g.b += 1;
        0
    });
    while s.step.load(Ordering::Acquire) != BLOCKING {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Let the survivor get past its spin phase and park, then kill the holder.
    std::thread::sleep(Duration::from_millis(50));
    victim.signal(libc::SIGKILL);
    let killed = Instant::now();
    assert_eq!(
        victim.wait_timeout(CHILD_LIMIT),
        Exit::Signal(libc::SIGKILL)
    );
    survivor.join(CHILD_LIMIT);
    let detected = killed.elapsed();
    // Generous bound: one check period plus scheduling noise on a loaded 2-core machine.
    assert!(
        detected < Duration::from_secs(10),
        "owner death took {detected:?} to detect (period {OWNER_CHECK_PERIOD:?})"
    );
    // The lock stays usable and the repair is visible.
    let g = s.counter.lock().expect("marked consistent by the survivor");
    assert_eq!((g.a, g.b), (2, 2));
    drop(g);
    eprintln!("owner death detected and repaired {detected:?} after SIGKILL");
}

#[test]
fn owner_dead_persists_until_marked_consistent() {
    let (shm, map) = create();
    let s = root(&map);
    // The child exits (normally) while holding the lock: its guard is never dropped.
    let child = fork(|| {
        let Some((_m, s)) = remap(&shm, &map) else {
            return 10;
        };
        let Ok(g) = s.counter.lock() else { return 11 };
        std::mem::forget(g);
        0
    });
    child.join(CHILD_LIMIT);
    assert!(s.counter.is_locked());
    // try_lock makes no liveness check: the dead holder still blocks it.
    assert!(matches!(
        s.counter.try_lock(),
        Err(TryLockError::WouldBlock)
    ));
    // lock_timeout checks when its deadline passes with the lock held.
    let Err(TryLockError::OwnerDead(dead)) = s.counter.lock_timeout(Duration::from_millis(1))
    else {
        panic!("lock_timeout did not report the dead holder");
    };
    drop(dead.into_inner()); // released without repairing
    assert!(s.counter.lock().is_err(), "still inconsistent: told again");
    let mut g = s.counter.lock().unwrap_err().into_inner();
    g.mark_consistent();
    drop(g);
    assert!(s.counter.lock().is_ok());
    assert!(s.counter.try_lock().is_ok());
}
