//! The per-end spin limit of the blocking ring operations: with limit 0 a blocking call on
//! an empty (full) ring parks at once and still hands over every item, for `Spsc`,
//! `MsgRing` and `Mpmc`; the setting is per handle, clamped, and leaves the shared state
//! alone.
//!
//! Each hand-over is pushed towards a park: the feeding side waits until the blocked side
//! has taken the previous item *and* announced itself in its parked word (read through the
//! documented layout) before it publishes the next one, so the blocked side found the ring
//! empty (full) and is about to sleep. "About to": the announcement comes just before the
//! sleeper's last check, so a publication that lands in those few instructions is seen by
//! that check and the sleeper returns without parking (correctly; with a `membarrier` as the
//! sleeper's barrier those "few instructions" take microseconds, so it is common). Every
//! other hand-over therefore first gives the sleeper 50 µs to reach the kernel
//! ([`settle`]), and the tests require a park on at least a quarter of the hand-overs; that limit 0 makes the very first miss park
//! is checked exactly by the unit tests of `block_until` in `src/ring/mod.rs`. Threads
//! only, so these also run under Miri.

mod ring_common;

use ring_common::{item, scaled};
use shmsync::arch::Backoff;
use shmsync::ring::{Mpmc, MsgRing, Spsc};
use std::sync::atomic::{AtomicU32 as StdAtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Hand-overs per test, each one through a park.
const HANDOVERS: u64 = scaled(20_000, 2_000, 20);
/// Timeout of each blocking call and of each wait for the peer: generous, so reaching it
/// means a lost wake-up (or an end that never parked).
const TIMEOUT: Duration = Duration::from_secs(10);

/// Offsets from the rings' layout docs (`assert_layout!` pins them): for `Spsc` and
/// `MsgRing` the tail line (tail index, consumer-parked flag) is at 0 and the head line
/// (head index, producer-parked flag) at 128; `Mpmc` has the same lines with positions and
/// sleeper counts.
const TAIL_INDEX: usize = 0;
const CONSUMER_PARKED: usize = 4;
const HEAD_INDEX: usize = 128;
const PRODUCER_PARKED: usize = 132;

/// The `AtomicU32` at byte `offset` of a ring (only offsets that hold one).
fn word<R>(ring: &R, offset: usize) -> &StdAtomicU32 {
    assert!(offset + 4 <= size_of::<R>() && offset % 4 == 0);
    // SAFETY: in bounds and aligned (checked above; rings are 128-aligned); the offsets
    // used here hold `AtomicU32`s by the rings' pinned layouts; the reference lives no
    // longer than the ring.
    unsafe {
        &*(ring as *const R)
            .cast::<u8>()
            .add(offset)
            .cast::<StdAtomicU32>()
    }
}

/// On every other hand-over, lets the announced sleeper reach the kernel before the item
/// is published: its heavy barrier (a `membarrier` where the process registered one)
/// takes microseconds, and a publication inside it is seen by the last check, which is
/// correct but not a park. The other hand-overs publish right after the announcement,
/// racing the barrier: the interleaving a lost wake-up would need.
fn settle(i: u64) {
    if i % 2 == 1 && !cfg!(miri) {
        let t = Instant::now();
        while t.elapsed() < Duration::from_micros(50) {
            std::hint::spin_loop();
        }
    }
}

/// Waits (yielding) until `word` satisfies `ok`; fails the test after [`TIMEOUT`].
fn wait_for(word: &StdAtomicU32, what: &str, ok: impl Fn(u32) -> bool) {
    let start = Instant::now();
    while !ok(word.load(Ordering::Acquire)) {
        assert!(start.elapsed() < TIMEOUT, "never saw {what}");
        std::thread::yield_now();
    }
}

#[test]
fn ends_start_at_the_default_limit_and_clamp() {
    let ring = Spsc::<u64, 4>::new();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    // Only the fields that are atomics are read through `word` (the padding is not).
    let shared = [TAIL_INDEX, CONSUMER_PARKED, HEAD_INDEX, PRODUCER_PARKED];
    let before = shared.map(|off| word(&ring, off).load(Ordering::Relaxed));
    assert_eq!(tx.spin_limit(), Backoff::DEFAULT_SPIN_LIMIT);
    assert_eq!(rx.spin_limit(), Backoff::DEFAULT_SPIN_LIMIT);
    tx.set_spin_limit(0);
    rx.set_spin_limit(u32::MAX);
    assert_eq!(tx.spin_limit(), 0);
    assert_eq!(rx.spin_limit(), Backoff::MAX_SPIN_LIMIT);
    // Process-local: the indices and parked flags in shared memory did not move.
    assert_eq!(
        shared.map(|off| word(&ring, off).load(Ordering::Relaxed)),
        before
    );

    let msg = MsgRing::<256>::new();
    let mut mtx = msg.producer().unwrap();
    let mut mrx = msg.consumer().unwrap();
    assert_eq!(mtx.spin_limit(), Backoff::DEFAULT_SPIN_LIMIT);
    assert_eq!(mrx.spin_limit(), Backoff::DEFAULT_SPIN_LIMIT);
    mtx.set_spin_limit(3);
    mrx.set_spin_limit(17);
    assert_eq!(
        (mtx.spin_limit(), mrx.spin_limit()),
        (3, Backoff::MAX_SPIN_LIMIT)
    );
}

#[test]
fn spsc_pop_with_limit_zero_parks_at_once() {
    let ring = Spsc::<u64, 4>::new();
    let n = HANDOVERS;
    let parks = std::thread::scope(|s| {
        let consumer = s.spawn(|| {
            let mut rx = ring.consumer().unwrap();
            rx.set_spin_limit(0);
            for i in 0..n {
                assert_eq!(rx.pop(Some(TIMEOUT)), Ok(item(i)), "item {i}");
            }
            rx.parks()
        });
        let mut tx = ring.producer().unwrap();
        for i in 0..n {
            // The consumer took item i - 1 (its head moved; it withdrew its announcement
            // before that) and announced itself again for item i: it is parking.
            wait_for(word(&ring, HEAD_INDEX), "the consumer's head move", |h| {
                h == i as u32
            });
            wait_for(word(&ring, CONSUMER_PARKED), "the consumer park", |f| {
                f == 1
            });
            settle(i);
            tx.try_push(item(i)).unwrap();
        }
        consumer.join().unwrap()
    });
    eprintln!("{n} hand-overs, consumer parked {parks} times");
    // Once per item, but for the race described at the top; more only on spurious
    // wake-ups.
    assert!(parks >= n / 4, "parked {parks} times for {n} items");
    assert!(parks <= 2 * n, "parked {parks} times for {n} items");
}

#[test]
fn spsc_push_with_limit_zero_parks_at_once() {
    let ring = Spsc::<u64, 1>::new();
    let n = HANDOVERS;
    let parks = std::thread::scope(|s| {
        let producer = s.spawn(|| {
            let mut tx = ring.producer().unwrap();
            tx.set_spin_limit(0);
            for i in 0..n {
                tx.push(item(i), Some(TIMEOUT)).unwrap();
            }
            tx.parks()
        });
        let mut rx = ring.consumer().unwrap();
        for i in 0..n {
            // The producer filled the one slot with item i and, blocked on item i + 1,
            // announced itself (the last item has no successor to block on).
            wait_for(word(&ring, TAIL_INDEX), "the producer's tail move", |t| {
                t == i as u32 + 1
            });
            if i + 1 < n {
                wait_for(word(&ring, PRODUCER_PARKED), "the producer park", |f| {
                    f == 1
                });
                settle(i);
            }
            assert_eq!(rx.try_pop(), Ok(item(i)), "item {i}");
        }
        producer.join().unwrap()
    });
    eprintln!("{n} hand-overs, producer parked {parks} times");
    assert!(parks >= (n - 1) / 4, "parked {parks} times for {n} items");
    assert!(parks <= 2 * n, "parked {parks} times for {n} items");
}

#[test]
fn msg_recv_with_limit_zero_parks_at_once() {
    let ring = MsgRing::<256>::new();
    let n = HANDOVERS;
    let parks = std::thread::scope(|s| {
        let consumer = s.spawn(|| {
            let mut rx = ring.consumer().unwrap();
            rx.set_spin_limit(0);
            let mut buf = [0u8; 8];
            for i in 0..n {
                assert_eq!(rx.recv(&mut buf, Some(TIMEOUT)), Ok(8), "message {i}");
                assert_eq!(u64::from_le_bytes(buf), item(i), "message {i}");
            }
            rx.parks()
        });
        let mut tx = ring.producer().unwrap();
        let mut head = word(&ring, HEAD_INDEX).load(Ordering::Acquire);
        for i in 0..n {
            // The consumer released message i - 1 and announced itself for message i.
            if i > 0 {
                wait_for(word(&ring, HEAD_INDEX), "the consumer's head move", |h| {
                    h != head
                });
                head = word(&ring, HEAD_INDEX).load(Ordering::Acquire);
            }
            wait_for(word(&ring, CONSUMER_PARKED), "the consumer park", |f| {
                f == 1
            });
            settle(i);
            tx.try_send(&item(i).to_le_bytes()).unwrap();
        }
        consumer.join().unwrap()
    });
    eprintln!("{n} hand-overs, consumer parked {parks} times");
    assert!(parks >= n / 4, "parked {parks} times for {n} messages");
    assert!(parks <= 2 * n, "parked {parks} times for {n} messages");
}

#[test]
fn mpmc_pop_with_limit_zero_parks_at_once() {
    let q = Mpmc::<u64, 4>::new();
    let n = HANDOVERS;
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..n {
                assert_eq!(q.pop_with_spin(Some(TIMEOUT), 0), Ok(item(i)), "item {i}");
            }
        });
        for i in 0..n {
            // The consumer claimed item i - 1 (head position moved) and counted itself
            // among the sleepers waiting for item i. It withdrew its previous count before
            // claiming, so the count is 1 again only once it announced for item i.
            wait_for(word(&q, HEAD_INDEX), "the consumer's position move", |h| {
                h == i as u32
            });
            wait_for(word(&q, CONSUMER_PARKED), "the consumer park", |c| c == 1);
            settle(i);
            q.try_push(item(i)).unwrap();
        }
    });
    assert_eq!(q.try_pop(), Err(shmsync::ring::PopError::Empty));
}

#[test]
fn mpmc_push_with_limit_zero_waits_for_a_free_slot() {
    let q = Mpmc::<u64, 2>::new();
    let n = HANDOVERS;
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..n {
                q.push_with_spin(item(i), Some(TIMEOUT), 0).unwrap();
            }
        });
        for i in 0..n {
            // Two slots: once items i and i + 1 are in, the producer blocks on i + 2.
            let filled = (i + 2).min(n) as u32;
            wait_for(word(&q, TAIL_INDEX), "the producer's position move", |t| {
                t == filled
            });
            if i + 2 < n {
                wait_for(word(&q, PRODUCER_PARKED), "the producer park", |c| c == 1);
                settle(i);
            }
            // A producer that claimed a position may not have published its slot yet: a
            // blocking pop (default spin) waits for it.
            assert_eq!(q.pop(Some(TIMEOUT)), Ok(item(i)), "item {i}");
        }
    });
    assert_eq!(q.try_pop(), Err(shmsync::ring::PopError::Empty));
}
