//! Every timed operation returns within its timeout plus scheduling noise, whatever the
//! spin limit (issue 12): the spin phase is bounded by the deadline.
//!
//! A forked child holds the other end of everything — the producer role of an empty ring,
//! the consumer role of a full one, a held `Mutex` and `RwLock` — so every timed call in
//! the parent must time out. Each call is driven with timeouts of 1 ns, 1 µs, 100 µs and
//! 1 ms at spin limits 0, 7, 12, 16 and `u32::MAX` (the locks have no spin limit; they are
//! driven the same number of times), and must return within `timeout + 300 µs` of the
//! calling thread's *own* time: wall time minus the time the thread waited for a CPU
//! (`/proc/thread-self/schedstat`, field 2: run-queue wait in ns), so a loaded machine
//! cannot fail it (per configuration the median of 10 calls must meet it, see [`drive`]).
//! The worst observed excess per operation is printed.
//!
//! Host lanes only (Miri cannot fork or map shared memory).
#![cfg(all(unix, not(miri)))]

mod ring_common;

use ring_common::shm;
use shmsync::hal::atomic::{AtomicU32, Ordering};
use shmsync::hal::testing::fork;
use shmsync::ring::{Mpmc, MsgRing, PopError, PushError, RecvError, Spsc};
use shmsync::sync::{Condvar, Mutex, RwLock, Semaphore, TryLockError};
use std::time::{Duration, Instant};

#[repr(C)]
struct Shared {
    /// Child: producer that never pushes. Parent: `pop`.
    empty: Spsc<u64, 4>,
    /// Child: filled it, holds the consumer role. Parent: `push`.
    full: Spsc<u64, 4>,
    /// Child: producer that never sends. Parent: `recv`.
    msg: MsgRing<256>,
    /// Empty: parent `pop_with_spin`.
    mpmc_empty: Mpmc<u64, 4>,
    /// Filled by the child: parent `push_with_spin`.
    mpmc_full: Mpmc<u64, 4>,
    /// Held by the child: parent `lock_timeout`.
    mutex: Mutex<u64>,
    /// Held for writing by the child: parent `write_timeout` / `read_timeout`.
    rw: RwLock<u64>,
    /// Nobody notifies: parent `wait_timeout` with `cv_mutex` (uncontended).
    condvar: Condvar,
    cv_mutex: Mutex<u64>,
    /// Count 0: parent `wait_timeout`.
    sem: Semaphore,
    /// 1 once the child holds everything; the parent sets `done` when finished.
    ready: AtomicU32,
    done: AtomicU32,
}

// SAFETY: repr(C) of ShmSafe fields, all valid as zero bytes.
unsafe impl shmsync::ShmSafe for Shared {
    const TAG: u64 = shmsync::tag(b"tests/timeouts::Shared v1");
}

const TIMEOUTS: [Duration; 4] = [
    Duration::from_nanos(1),
    Duration::from_micros(1),
    Duration::from_micros(100),
    Duration::from_millis(1),
];
const SPIN_LIMITS: [u32; 5] = [0, 7, 12, 16, u32::MAX];
/// Calls per (operation, timeout, spin limit).
const REPS: usize = 10;
/// Allowed excess over the timeout, of the thread's own time.
const SLACK: Duration = Duration::from_micros(300);

/// This thread's run-queue wait so far (ns), `None` where the kernel does not report it.
fn runq_wait_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().nth(1)?.parse().ok()
}

/// The worst excess over the timeout seen for one operation.
#[derive(Default)]
struct Worst {
    excess_ns: i64,
    at: (Duration, u32),
    wall_ns: u64,
    runq_ns: u64,
}

/// Times `op` (which must report a timeout) [`REPS`] times and checks the bound.
///
/// The bound is on the thread's own time, so waiting for a CPU does not count; what else
/// a loaded virtual machine can add to one call (a late timer interrupt, a vCPU the host
/// did not run) is not visible to the guest, so one call over the bound is not a failure
/// by itself: a spin that ignores the deadline exceeds it on *every* call, so the test
/// fails when the median of the calls does. The worst single call is reported.
fn drive(
    name: &str,
    worst: &mut Worst,
    timeout: Duration,
    spin: u32,
    op: &mut dyn FnMut() -> bool,
) {
    let mut own_all = [0u64; REPS];
    for own_slot in own_all.iter_mut() {
        let q0 = runq_wait_ns();
        let t0 = Instant::now();
        let timed_out = op();
        let wall = t0.elapsed();
        let q1 = runq_wait_ns();
        assert!(
            timed_out,
            "{name}: did not time out (timeout {timeout:?}, spin limit {spin})"
        );
        let runq = match (q0, q1) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        };
        let own = (wall.as_nanos() as u64).saturating_sub(runq);
        *own_slot = own;
        let excess = own as i64 - timeout.as_nanos() as i64;
        if excess > worst.excess_ns {
            *worst = Worst {
                excess_ns: excess,
                at: (timeout, spin),
                wall_ns: wall.as_nanos() as u64,
                runq_ns: runq,
            };
        }
    }
    own_all.sort_unstable();
    let median = Duration::from_nanos(own_all[REPS / 2]);
    assert!(
        median <= timeout + SLACK,
        "{name}: timeout {timeout:?} at spin limit {spin}: median own time {median:?} over \
         {REPS} calls, more than timeout + {SLACK:?} (own times, ns: {own_all:?})"
    );
}

#[test]
fn every_timed_operation_returns_within_its_timeout_across_processes() {
    if runq_wait_ns().is_none() {
        eprintln!("note: /proc/thread-self/schedstat unavailable: wall time is used as own time");
    }
    let (obj, map) = shm::create::<Shared>();
    let child = fork(|| {
        let map = obj.map().unwrap();
        let s = shm::attach::<Shared>(&map);
        let _tx = s.empty.producer().unwrap();
        let mut full_tx = s.full.producer().unwrap();
        while full_tx.try_push(7).is_ok() {}
        let _full_rx = s.full.consumer().unwrap();
        drop(full_tx);
        let _msg_tx = s.msg.producer().unwrap();
        while s.mpmc_full.try_push(7).is_ok() {}
        let _guard = s.mutex.lock().unwrap();
        let _write = s.rw.write();
        s.ready.store(1, Ordering::Release);
        let t = Instant::now();
        while s.done.load(Ordering::Acquire) == 0 && t.elapsed() < Duration::from_secs(300) {
            std::thread::sleep(Duration::from_millis(1));
        }
        0
    });
    let s = shm::attach::<Shared>(&map);
    let t = Instant::now();
    while s.ready.load(Ordering::Acquire) == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "child never got ready"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut rx = s.empty.consumer().unwrap();
    let mut tx = s.full.producer().unwrap();
    let mut msg_rx = s.msg.consumer().unwrap();
    let mut worst: Vec<(&str, Worst)> = [
        "Spsc pop",
        "Spsc push",
        "MsgRing recv",
        "Mpmc pop",
        "Mpmc push",
        "Mutex lock_timeout",
        "RwLock write_timeout",
        "RwLock read_timeout",
        "Condvar wait_timeout",
        "Semaphore wait_timeout",
    ]
    .into_iter()
    .map(|n| (n, Worst::default()))
    .collect();
    let mut buf = [0u8; 64];
    for &timeout in &TIMEOUTS {
        for &spin in &SPIN_LIMITS {
            rx.set_spin_limit(spin);
            tx.set_spin_limit(spin);
            msg_rx.set_spin_limit(spin);
            let mut ops: [&mut dyn FnMut() -> bool; 10] = [
                &mut || rx.pop(Some(timeout)) == Err(PopError::Empty),
                &mut || tx.push(1, Some(timeout)) == Err(PushError::Full(1)),
                &mut || msg_rx.recv(&mut buf, Some(timeout)) == Err(RecvError::Empty),
                &mut || s.mpmc_empty.pop_with_spin(Some(timeout), spin) == Err(PopError::Empty),
                &mut || {
                    s.mpmc_full.push_with_spin(2, Some(timeout), spin) == Err(PushError::Full(2))
                },
                &mut || matches!(s.mutex.lock_timeout(timeout), Err(TryLockError::WouldBlock)),
                &mut || s.rw.write_timeout(timeout).is_none(),
                &mut || s.rw.read_timeout(timeout).is_none(),
                &mut || {
                    let g = s.cv_mutex.lock().unwrap();
                    let (_g, r) = s.condvar.wait_timeout(g, timeout).unwrap();
                    r.timed_out()
                },
                &mut || !s.sem.wait_timeout(timeout),
            ];
            for (op, (name, w)) in ops.iter_mut().zip(worst.iter_mut()) {
                drive(name, w, timeout, spin, *op);
            }
        }
    }
    s.done.store(1, Ordering::Release);
    child.join(Duration::from_secs(60));
    for (name, w) in &worst {
        eprintln!(
            "worst {name}: {:.1} µs over the timeout (timeout {:?}, spin limit {}; wall {:.1} µs, \
             {:.1} µs waiting for a CPU)",
            w.excess_ns as f64 / 1e3,
            w.at.0,
            w.at.1,
            w.wall_ns as f64 / 1e3,
            w.runq_ns as f64 / 1e3
        );
    }
}
