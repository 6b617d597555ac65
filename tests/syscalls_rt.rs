//! The real-time contract across processes, counted: the audio-thread side of a
//! ring-based exchange with a helper *process* makes **zero** wait/wake syscalls while the
//! helper keeps up, and a blocking hand-off costs **exactly one wake per park**.
//!
//! The in-thread proofs live beside each primitive (`rings_syscalls`, `locks_syscalls`);
//! this file checks the same contract the way the pingpong example and a plugin use it:
//! two processes, one region mapped at different addresses, the region header from
//! `shmsync::init` / `attach`.
//!
//! Needs the hal's per-thread counters compiled in (the count-syscalls lane):
//! `cargo test -p shmsync --features count-syscalls --test syscalls_rt`. Cross-process: host lanes only (Miri
//! has no fork and no `MAP_SHARED`); Linux only, because the blocking test reads
//! `/proc/<pid>/stat` to know that the helper really sleeps in the kernel.
#![cfg(all(feature = "count-syscalls", target_os = "linux", not(miri)))]

use shmsync::hal::count::snapshot;
use shmsync::hal::shm::{Mapping, SharedMemory};
use shmsync::hal::testing::fork;
use shmsync::ring::{PopError, Spsc};
use shmsync::{Region, ShmSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Round trips of the spinning exchange.
const ROUND_TRIPS: u64 = 20_000;
/// Hand-offs in the blocking test.
const HANDOFFS: u64 = 200;
/// Generous limit for anything that waits on the other process (correctness, not speed).
const LIMIT: Duration = Duration::from_secs(60);

/// Forks one test at a time: a child forked while another test thread of this binary
/// holds a lock (the allocator's, the output capture's) would inherit it locked.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The region both processes map.
#[repr(C)]
struct Shared {
    /// Host (audio thread) → helper.
    to_helper: Spsc<u64, 64>,
    /// Helper → host.
    to_host: Spsc<u64, 64>,
    /// The helper's wait syscalls, wake syscalls and ring parks, reported at its end.
    helper_waits: AtomicU64,
    helper_wakes: AtomicU64,
    helper_parks: AtomicU64,
    /// Items the helper has popped so far (blocking test).
    consumed: AtomicU64,
}

// SAFETY: repr(C) of two rings (ShmSafe) and fixed-width atomics; zero is the empty state,
// any bit pattern is a valid value; nothing process-local.
unsafe impl ShmSafe for Shared {
    const TAG: u64 = shmsync::tag_with(
        shmsync::tag(b"tests/syscalls_rt::Shared v1"),
        <Spsc<u64, 64> as ShmSafe>::TAG,
    );
}

/// A fresh region holding `Shared`, mapped twice (host and helper use different
/// addresses after the fork, as unrelated processes would).
fn region() -> (SharedMemory, Mapping, Mapping) {
    let len = shmsync::region::required_len::<Shared>().next_multiple_of(4096);
    let shm = SharedMemory::create(len).unwrap();
    let (host, helper) = (shm.map().unwrap(), shm.map().unwrap());
    // SAFETY: a fresh mapping nobody else uses yet.
    // SAFETY: a fresh, page-aligned mapping of `len` bytes that nobody else uses yet.
    unsafe { shmsync::init::<Shared>(host.as_ptr(), host.len()) }.unwrap();
    (shm, host, helper)
}

/// The region's root in `map` (validated header).
fn attach(map: &Mapping) -> Region<'_, Shared> {
    // SAFETY: `map` is live for the returned borrow, read/write, page-aligned, and only
    // used through shmsync.
    unsafe { shmsync::attach::<Shared>(map.as_ptr(), map.len()) }.unwrap()
}

/// The consumer-parked flag of a ring: offset 4, after the tail index (the ring's
/// documented layout: "tail line: tail index, consumer-parked flag").
fn consumer_parked(ring: &Spsc<u64, 64>) -> &AtomicU32 {
    // SAFETY: offset 4 of a live Spsc is its 4-byte-aligned consumer-parked AtomicU32.
    unsafe {
        &*(ring as *const Spsc<u64, 64>)
            .cast::<u8>()
            .add(4)
            .cast::<AtomicU32>()
    }
}

/// Whether process `pid` is asleep in the kernel (state `S` in `/proc/<pid>/stat`).
fn sleeping(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the parenthesised command name, which may contain spaces.
    stat.rsplit_once(") ")
        .is_some_and(|(_, rest)| rest.starts_with('S'))
}

#[test]
fn counters_are_live() {
    // Guard against a vacuous proof: a wait that really sleeps is counted.
    let word = shmsync::hal::atomic::AtomicU32::new(0);
    let before = snapshot();
    shmsync::hal::wait(&word, 0, Some(Duration::from_micros(100)));
    shmsync::hal::wake_one(&word);
    let d = snapshot() - before;
    assert_eq!((d.waits, d.wakes), (1, 1));
}

#[test]
fn audio_side_makes_no_syscall_while_a_helper_process_keeps_up() {
    let _serial = serial();
    let (_shm, host_map, helper_map) = region();
    let helper = fork(move || {
        let shared = attach(&helper_map);
        let mut rx = shared.to_helper.consumer().unwrap();
        let mut tx = shared.to_host.producer().unwrap();
        let before = snapshot();
        let start = Instant::now();
        let mut echoed = 0;
        while echoed < ROUND_TRIPS {
            // The helper polls (never parks), so the host never has anyone to wake.
            match rx.try_pop() {
                Ok(v) => {
                    tx.try_push(v + 1).unwrap();
                    echoed += 1;
                }
                Err(PopError::Empty) if start.elapsed() < LIMIT => std::hint::spin_loop(),
                Err(_) => return 2,
            }
        }
        let d = snapshot() - before;
        shared.helper_waits.store(d.waits, Ordering::Relaxed);
        shared.helper_wakes.store(d.wakes, Ordering::Relaxed);
        0
    });
    let shared = attach(&host_map);
    let mut tx = shared.to_helper.producer().unwrap();
    let mut rx = shared.to_host.consumer().unwrap();
    let before = snapshot();
    for i in 0..ROUND_TRIPS {
        tx.try_push(i).unwrap();
        let start = Instant::now();
        let v = loop {
            match rx.try_pop() {
                Ok(v) => break v,
                Err(PopError::Empty) => {
                    assert!(start.elapsed() < LIMIT, "helper stopped answering");
                    std::hint::spin_loop();
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(v, i + 1, "answers arrive in order, none lost");
    }
    let d = snapshot() - before;
    helper.join(LIMIT);
    assert_eq!(
        (d.waits, d.wakes),
        (0, 0),
        "{ROUND_TRIPS} round trips of try_push/try_pop"
    );
    assert_eq!(
        (
            shared.helper_waits.load(Ordering::Relaxed),
            shared.helper_wakes.load(Ordering::Relaxed)
        ),
        (0, 0),
        "the helper's side of the same exchange"
    );
}

#[test]
fn a_blocking_handoff_to_another_process_costs_one_wake_per_park() {
    let _serial = serial();
    let (_shm, host_map, helper_map) = region();
    let helper = fork(move || {
        let shared = attach(&helper_map);
        let mut rx = shared.to_helper.consumer().unwrap();
        let before = snapshot();
        for i in 0..HANDOFFS {
            match rx.pop(Some(LIMIT)) {
                Ok(v) if v == i => shared.consumed.store(i + 1, Ordering::Release),
                _ => return 2,
            }
        }
        let d = snapshot() - before;
        shared.helper_waits.store(d.waits, Ordering::Relaxed);
        shared.helper_wakes.store(d.wakes, Ordering::Relaxed);
        shared.helper_parks.store(rx.parks(), Ordering::Relaxed);
        0
    });
    let shared = attach(&host_map);
    let mut tx = shared.to_helper.producer().unwrap();
    let parked = consumer_parked(&shared.to_helper);
    let mut wakes = 0;
    for i in 0..HANDOFFS {
        // Hand over only once the helper has taken the previous item, announced its park
        // for this one *and* sleeps in the kernel: every push then meets a consumer
        // parked in its wait syscall. (The flag alone could be the previous park's, not
        // yet withdrawn, or be seen between the announcement and the wait.)
        let start = Instant::now();
        while shared.consumed.load(Ordering::Acquire) != i
            || parked.load(Ordering::Acquire) == 0
            || !sleeping(helper.pid())
        {
            assert!(start.elapsed() < LIMIT, "helper never parked for item {i}");
            std::thread::sleep(Duration::from_micros(50));
        }
        let before = snapshot();
        tx.try_push(i).unwrap();
        let d = snapshot() - before;
        assert_eq!(
            (d.waits, d.wakes),
            (0, 1),
            "push {i} wakes the parked helper once"
        );
        wakes += d.wakes;
    }
    helper.join(LIMIT);
    let parks = shared.helper_parks.load(Ordering::Relaxed);
    let waits = shared.helper_waits.load(Ordering::Relaxed);
    assert!(
        parks >= HANDOFFS,
        "the helper parked for every item: {parks}"
    );
    assert!(
        waits >= parks,
        "each park is a wait syscall: {waits} < {parks}"
    );
    assert!(
        wakes <= parks,
        "at most one wake per park: {wakes} wakes, {parks} parks"
    );
    assert_eq!(
        shared.helper_wakes.load(Ordering::Relaxed),
        0,
        "popping wakes nobody"
    );
}
