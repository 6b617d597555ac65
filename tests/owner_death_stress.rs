//! Owner death under fire: random SIGKILL / SIGSTOP of lock holders across processes.
//! Every takeover must follow a proven death (a stopped holder is alive), no two processes
//! may ever be inside, and no waiter may stay stuck. Also measures how long a blocked
//! `lock()` takes to notice a SIGKILLed holder (printed, never asserted: speed targets
//! live in benchmarks).
//!
//! Fork + shared memory: host and qemu lanes, not Miri.
#![cfg(all(unix, not(miri)))]

use shmsync::ShmSafe;
use shmsync::hal::atomic::{AtomicU32, Ordering};
use shmsync::hal::shm::{Mapping, SharedMemory};
use shmsync::hal::testing::{Child, Exit, fork};
use shmsync::sync::Mutex;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

#[repr(C)]
#[derive(Default)]
struct Pair {
    a: u64,
    b: u64,
}
// SAFETY: repr(C), two u64.
unsafe impl ShmSafe for Pair {
    const TAG: u64 = shmsync::tag(b"owner_death_stress::Pair");
}

#[repr(C)]
struct Shared {
    m: Mutex<Pair>,
    /// Processes inside the critical section right now (a dead one leaves its 1 behind:
    /// a takeover resets it).
    inside: AtomicU32,
    /// Pid of the process inside.
    holder: AtomicU32,
    /// Entries that found someone else inside without a takeover.
    overlaps: AtomicU32,
    /// Takeovers from a holder that was stopped (alive).
    false_takeovers: AtomicU32,
    takeovers: AtomicU32,
    entries: AtomicU32,
    stop: AtomicU32,
}
// SAFETY: repr(C) of a ShmSafe mutex and atomics; all-zero valid.
unsafe impl ShmSafe for Shared {
    const TAG: u64 = shmsync::tag(b"owner_death_stress::Shared v1");
}

fn create() -> (SharedMemory, Mapping) {
    let shm = SharedMemory::create(std::mem::size_of::<Shared>().next_multiple_of(4096)).unwrap();
    let map = shm.map().unwrap();
    (shm, map)
}

fn shared(map: &Mapping) -> &'static Shared {
    // SAFETY: a zero-filled, page-aligned shared mapping larger than `Shared`, which is
    // valid all-zero; kept mapped for the whole test (children inherit it).
    unsafe { &*(map.as_ptr() as *const Shared) }
}

/// State letter of `/proc/<pid>/stat`, `None` when the process is gone.
fn proc_state(pid: u32) -> Option<u8> {
    let line = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = line.iter().rposition(|&b| b == b')')?;
    line.get(close + 2).copied()
}

fn worker(s: &'static Shared) -> Child {
    fork(move || {
        let me = std::process::id();
        while s.stop.load(Ordering::Relaxed) == 0 {
            let mut g = match s.m.lock() {
                Ok(g) => g,
                Err(dead) => {
                    let prev = s.holder.load(Ordering::Relaxed);
                    // Proof check: the previous holder must not be a stopped (live) process.
                    // (Only "stopped" is flagged: `holder` is written just after the lock
                    // is taken, so a holder killed in between leaves an older, perhaps
                    // running, pid there; a stopped one in that slot is the real alarm.)
                    if matches!(proc_state(prev), Some(b'T' | b't')) {
                        s.false_takeovers.fetch_add(1, Ordering::Relaxed);
                    }
                    s.takeovers.fetch_add(1, Ordering::Relaxed);
                    s.inside.store(0, Ordering::Relaxed);
                    let mut g = dead.into_inner();
                    g.b = g.a;
                    g.mark_consistent();
                    g
                }
            };
            s.holder.store(me, Ordering::Relaxed);
            if s.inside.fetch_add(1, Ordering::Relaxed) != 0 {
                s.overlaps.fetch_add(1, Ordering::Relaxed);
            }
            g.a += 1;
            for _ in 0..200 {
                std::hint::spin_loop();
            }
            g.b += 1;
            s.entries.fetch_add(1, Ordering::Relaxed);
            s.inside.fetch_sub(1, Ordering::Relaxed);
            drop(g);
        }
        0
    })
}

/// xorshift: reproducible randomness without a dependency.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

#[test]
fn random_sigkill_and_sigstop_rounds_never_overlap_or_stick() {
    const ROUNDS: u32 = 1200;
    const WORKERS: usize = 3;
    let (_shm, map) = create();
    let s = shared(&map);
    let mut workers: Vec<Child> = (0..WORKERS).map(|_| worker(s)).collect();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let (mut kills, mut stops) = (0, 0);
    let start = Instant::now();
    for _ in 0..ROUNDS {
        std::thread::sleep(Duration::from_micros(next(&mut rng) % 1500));
        let i = (next(&mut rng) % WORKERS as u64) as usize;
        if next(&mut rng) % 2 == 0 {
            workers[i].signal(libc::SIGSTOP);
            std::thread::sleep(Duration::from_micros(next(&mut rng) % 3000));
            workers[i].signal(libc::SIGCONT);
            stops += 1;
        } else {
            let w = std::mem::replace(&mut workers[i], worker(s));
            w.signal(libc::SIGKILL);
            assert_eq!(w.wait_timeout(LIMIT), Exit::Signal(libc::SIGKILL));
            kills += 1;
        }
    }
    s.stop.store(1, Ordering::SeqCst);
    for w in workers {
        assert_eq!(w.wait_timeout(LIMIT), Exit::Code(0), "a worker got stuck");
    }
    let g = match s.m.lock_timeout(Duration::from_secs(5)) {
        Ok(g) => g,
        Err(shmsync::sync::TryLockError::OwnerDead(d)) => d.into_inner(),
        Err(e) => panic!("the lock is stuck after the rounds: {e:?}"),
    };
    println!(
        "{ROUNDS} rounds ({kills} SIGKILL, {stops} SIGSTOP) in {:?}: {} entries, {} takeovers",
        start.elapsed(),
        s.entries.load(Ordering::SeqCst),
        s.takeovers.load(Ordering::SeqCst)
    );
    assert!(g.a >= g.b);
    assert_eq!(s.overlaps.load(Ordering::SeqCst), 0, "two processes inside");
    assert_eq!(
        s.false_takeovers.load(Ordering::SeqCst),
        0,
        "a live (stopped) holder was taken over"
    );
    assert!(s.entries.load(Ordering::SeqCst) > 0);
}

#[test]
fn detection_latency_of_a_sigkilled_holder_for_a_blocked_lock() {
    const SAMPLES: usize = 40;
    let (_shm, map) = create();
    let s = shared(&map);
    let mut lat = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        s.stop.store(0, Ordering::SeqCst);
        let holder = fork(|| {
            let g = s.m.lock();
            s.stop.store(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(60));
            drop(g);
            0
        });
        while s.stop.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let (t0, t1) = std::thread::scope(|sc| {
            let waiter = sc.spawn(|| {
                let r = s.m.lock();
                let t = Instant::now();
                assert!(r.is_err(), "the dead holder must be reported");
                drop(r);
                t
            });
            // Let the waiter block in lock() (spin, then park) before the kill.
            std::thread::sleep(Duration::from_millis(5));
            let t0 = Instant::now();
            holder.signal(libc::SIGKILL);
            (t0, waiter.join().unwrap())
        });
        assert_eq!(holder.wait_timeout(LIMIT), Exit::Signal(libc::SIGKILL));
        lat.push(t1 - t0);
        // Repair so the next sample starts consistent.
        match s.m.lock() {
            Ok(_) => {}
            Err(d) => d.into_inner().mark_consistent(),
        }
    }
    lat.sort();
    println!(
        "detection latency over {SAMPLES} kills: median {:?}, max {:?}",
        lat[SAMPLES / 2],
        lat[SAMPLES - 1]
    );
}
