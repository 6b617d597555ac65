//! The asymmetric fence across processes: a wait-free publisher (whose only barrier is a
//! compiler fence where the process registered for `membarrier`) must still wake a peer
//! that parked in another process, on every hand-over.
//!
//! A forked child blocks in `pop` (spin limit 0: it parks as soon as the ring is empty);
//! the parent waits until the child has announced itself in its parked flag (read through
//! the documented layout) and then publishes with `try_push`. Every other hand-over gives
//! the child 50 µs to reach the kernel first (a forced park); the others publish right
//! after the announcement, racing the child's heavy barrier and last check — the
//! interleaving a lost wake-up needs. Then the roles swap: the parent blocks in `push` on
//! a full ring while the child frees slots with `try_pop`. A lost wake-up leaves a sleeper
//! asleep until its 10 s timeout: the test fails on the first one.
//!
//! Hand-overs per direction: 200,000 by default; `SHMSYNC_FENCE_HANDOVERS=1000000` for the
//! acceptance run (≥ 1M forced parks across processes). Host lanes only (Miri cannot fork).
#![cfg(all(unix, not(miri)))]

mod ring_common;

use ring_common::{item, scaled, shm};
use shmsync::hal::testing::fork;
use shmsync::ring::Spsc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A lost wake-up: a sleeper still asleep after this long.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Offsets from `Spsc`'s layout docs (pinned by `assert_layout!`).
const CONSUMER_PARKED: usize = 4;
const HEAD_INDEX: usize = 128;
const PRODUCER_PARKED: usize = 132;
const TAIL_INDEX: usize = 0;

#[repr(C)]
struct Shared {
    /// Parent → child; the child parks in `pop`.
    down: Spsc<u64, 4>,
    /// Child → parent; the parent parks in `push` (the child drains with `try_pop`).
    up: Spsc<u64, 1>,
    /// The child's park count, and its verdict (1 ok, 2 wrong item, 3 timeout).
    child_parks: AtomicU64,
    child_status: AtomicU32,
}

// SAFETY: repr(C) of ShmSafe fields, all valid as zero bytes.
unsafe impl shmsync::ShmSafe for Shared {
    const TAG: u64 = shmsync::tag(b"tests/rings_fence::Shared v1");
}

fn handovers() -> u64 {
    std::env::var("SHMSYNC_FENCE_HANDOVERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(scaled(200_000, 2_000, 0))
}

/// The `AtomicU32` at byte `offset` of a ring.
fn word<R>(ring: &R, offset: usize) -> &AtomicU32 {
    assert!(offset + 4 <= size_of::<R>() && offset % 4 == 0);
    // SAFETY: in bounds and aligned (rings are 128-aligned); the offsets used hold
    // `AtomicU32`s by the ring's pinned layout; the reference lives no longer than `ring`.
    unsafe {
        &*(ring as *const R)
            .cast::<u8>()
            .add(offset)
            .cast::<AtomicU32>()
    }
}

/// Spins until `word` satisfies `ok`; panics after [`TIMEOUT`] (the peer is stuck).
fn wait_for(word: &AtomicU32, what: &str, ok: impl Fn(u32) -> bool) {
    let start = Instant::now();
    let mut polls = 0u32;
    while !ok(word.load(Ordering::Acquire)) {
        polls = polls.wrapping_add(1);
        if polls % 1024 == 0 {
            assert!(start.elapsed() < TIMEOUT, "never saw {what}");
            std::thread::yield_now();
        }
        std::hint::spin_loop();
    }
}

/// On odd hand-overs, 50 µs for the announced sleeper to reach the kernel.
fn settle(i: u64) {
    if i % 2 == 1 {
        let t = Instant::now();
        while t.elapsed() < Duration::from_micros(50) {
            std::hint::spin_loop();
        }
    }
}

#[test]
fn wait_free_publishers_wake_sleepers_in_another_process() {
    let n = handovers();
    let (obj, map) = shm::create::<Shared>();
    eprintln!(
        "membarrier registered: {} (region protocol word bit 16)",
        shmsync::hal::membarrier::is_registered()
    );
    let child = fork(|| {
        let map = obj.map().unwrap();
        let s = shm::attach::<Shared>(&map);
        let mut rx = s.down.consumer().unwrap();
        rx.set_spin_limit(0);
        for i in 0..n {
            let t = Instant::now();
            match rx.pop(Some(TIMEOUT)) {
                Ok(v) if v == item(i) => {}
                Ok(_) => {
                    s.child_status.store(2, Ordering::Release);
                    return 2;
                }
                Err(_) => {
                    s.child_status.store(3, Ordering::Release);
                    return 3;
                }
            }
            if t.elapsed() >= TIMEOUT {
                s.child_status.store(3, Ordering::Release);
                return 3;
            }
        }
        s.child_parks.store(rx.parks(), Ordering::Release);
        // Second half: the parent blocks in `push` on `up` (one slot); free each slot
        // once the parent has announced itself.
        let mut up_rx = s.up.consumer().unwrap();
        for i in 0..n {
            wait_for(word(&s.up, TAIL_INDEX), "the parent's push", |t| {
                t == i as u32 + 1
            });
            if i + 1 < n {
                wait_for(word(&s.up, PRODUCER_PARKED), "the parent park", |f| f == 1);
                settle(i);
            }
            if up_rx.try_pop() != Ok(item(i)) {
                s.child_status.store(2, Ordering::Release);
                return 2;
            }
        }
        s.child_status.store(1, Ordering::Release);
        0
    });
    let s = shm::attach::<Shared>(&map);
    let mut tx = s.down.producer().unwrap();
    let t0 = Instant::now();
    for i in 0..n {
        // The child took item i - 1 and announced itself for item i.
        wait_for(word(&s.down, HEAD_INDEX), "the child's pop", |h| {
            h == i as u32
        });
        wait_for(word(&s.down, CONSUMER_PARKED), "the child park", |f| f == 1);
        settle(i);
        tx.try_push(item(i)).unwrap();
        assert_eq!(
            s.child_status.load(Ordering::Acquire),
            0,
            "child failed at {i}"
        );
    }
    let down_secs = t0.elapsed().as_secs_f64();
    let mut up_tx = s.up.producer().unwrap();
    up_tx.set_spin_limit(0);
    for i in 0..n {
        let t = Instant::now();
        up_tx.push(item(i), Some(TIMEOUT)).unwrap();
        assert!(t.elapsed() < TIMEOUT, "push {i} slept through its wake-up");
    }
    child.join(Duration::from_secs(600));
    assert_eq!(s.child_status.load(Ordering::Acquire), 1, "child verdict");
    let child_parks = s.child_parks.load(Ordering::Acquire);
    let parent_parks = up_tx.parks();
    eprintln!(
        "{n} hand-overs each way: child parked {child_parks} times, parent {parent_parks} \
         times ({:.1} µs per hand-over down); 0 lost wake-ups",
        down_secs * 1e6 / n as f64
    );
    assert!(child_parks >= n / 4, "child parked {child_parks} of {n}");
    assert!(
        parent_parks >= (n - 1) / 4,
        "parent parked {parent_parks} of {n}"
    );
}

/// The region header records the creator's fence choice, and a process that made the other
/// choice is refused: a registered process (light publisher) must not join a region whose
/// sleepers only fence, nor the reverse.
#[test]
fn attach_refuses_a_region_with_the_other_fence_choice() {
    use shmsync::region::{self, ASYMMETRIC_FENCE, RegionError};
    let (_obj, map) = shm::create::<Shared>();
    let p = map.as_ptr();
    let ours = shmsync::hal::backend().protocol().as_u32();
    let registered = shmsync::hal::membarrier::is_registered();
    // The creator (this process) recorded its own choice: attaching again works.
    // SAFETY: the mapping is live for the whole test and holds an initialised region.
    assert!(unsafe { shmsync::attach::<Shared>(p, map.len()) }.is_ok());
    // A creator that made the other choice.
    let other = if registered {
        ours
    } else {
        ours | ASYMMETRIC_FENCE
    };
    // SAFETY: `p` is the start of the live region created above.
    unsafe { region::forge_protocol_for_tests(p, other) };
    // SAFETY: as above.
    let r = unsafe { shmsync::attach::<Shared>(p, map.len()) };
    assert!(
        matches!(r, Err(RegionError::ProtocolMismatch { region, .. }) if region == other),
        "registered {registered}: attach gave {:?}",
        r.map(|_| ())
    );
}
