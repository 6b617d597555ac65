//! Mpmc: order with one producer and one consumer, completeness with several of each,
//! across threads and forked processes; blocking hand-over with parking; corruption.

mod ring_common;

use ring_common::{item, scaled};
use shmsync::ring::{Mpmc, PopError, PushError};
use std::sync::atomic::{AtomicU32 as StdAtomicU32, Ordering};
use std::time::{Duration, Instant};

const ITEMS: u64 = scaled(10_000_000, 200_000, 1_000);
const BLOCKING_ITEMS: u64 = scaled(1_000_000, 50_000, 300);
const TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn fifo_full_empty_and_laps() {
    let q = Mpmc::<u64, 4>::new();
    assert_eq!(q.capacity(), 4);
    assert_eq!(q.try_pop(), Err(PopError::Empty));
    let mut next_in = 0;
    let mut next_out = 0;
    for round in 0..500u64 {
        let burst = round % 4 + 1;
        for _ in 0..burst {
            q.try_push(item(next_in)).unwrap();
            next_in += 1;
        }
        if burst == 4 {
            assert_eq!(q.try_push(7), Err(PushError::Full(7)));
        }
        for _ in 0..burst {
            assert_eq!(q.try_pop(), Ok(item(next_out)));
            next_out += 1;
        }
        assert_eq!(q.try_pop(), Err(PopError::Empty));
    }
}

#[test]
fn one_producer_one_consumer_threads_in_order() {
    let q = Box::new(Mpmc::<u64, 1024>::new());
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut i = 0;
            while i < ITEMS {
                match q.try_push(item(i)) {
                    Ok(()) => i += 1,
                    Err(PushError::Full(_)) => std::hint::spin_loop(),
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let mut i = 0;
        while i < ITEMS {
            match q.try_pop() {
                Ok(v) => {
                    assert_eq!(v, item(i));
                    i += 1;
                }
                Err(PopError::Empty) => std::hint::spin_loop(),
                Err(e) => panic!("{e}"),
            }
        }
    });
    assert_eq!(q.try_pop(), Err(PopError::Empty));
}

/// Producer `p` pushes `(p << 48) | k` for k in 0..per; every consumer sees each
/// producer's items in increasing k; all items arrive exactly once.
#[test]
fn many_producers_many_consumers_lose_and_duplicate_nothing() {
    const P: u64 = 3;
    const C: usize = 3;
    let per = ITEMS / 10;
    let q = Box::new(Mpmc::<u64, 64>::new());
    let done = StdAtomicU32::new(0);
    let seen: Vec<Vec<u64>> = std::thread::scope(|s| {
        for p in 0..P {
            let q = &q;
            s.spawn(move || {
                for k in 0..per {
                    q.push((p << 48) | k, Some(TIMEOUT)).unwrap();
                }
            });
        }
        let consumers: Vec<_> = (0..C)
            .map(|_| {
                let (q, done) = (&q, &done);
                s.spawn(move || {
                    let mut got = Vec::new();
                    let mut last = [None::<u64>; P as usize];
                    loop {
                        match q.pop(Some(Duration::from_millis(50))) {
                            Ok(v) => {
                                let (p, k) = ((v >> 48) as usize, v & 0xffff_ffff_ffff);
                                assert!(last[p].is_none_or(|l| l < k), "order within producer {p}");
                                last[p] = Some(k);
                                got.push(v);
                                if done.fetch_add(1, Ordering::Relaxed) as u64 + 1 == P * per {
                                    break;
                                }
                            }
                            Err(PopError::Empty) => {
                                if done.load(Ordering::Relaxed) as u64 == P * per {
                                    break;
                                }
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    got
                })
            })
            .collect();
        consumers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<u64> = seen.into_iter().flatten().collect();
    assert_eq!(all.len() as u64, P * per);
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len() as u64, P * per, "duplicates");
}

/// Forked processes: the child consumes through its own mapping. Host lanes only.
#[cfg(not(miri))]
#[test]
fn processes_stream_all_items_in_order() {
    use ring_common::shm;
    use shmsync::hal::testing::fork;
    type Q = Mpmc<u64, 1024>;
    let (obj, map) = shm::create::<Q>();
    let child = fork(|| {
        let map = obj.map().unwrap();
        let q = shm::attach::<Q>(&map);
        let mut i = 0;
        while i < ITEMS {
            match q.try_pop() {
                Ok(v) if v == item(i) => i += 1,
                Ok(_) => return 1,
                Err(PopError::Empty) => std::hint::spin_loop(),
                Err(_) => return 2,
            }
        }
        0
    });
    let q = shm::attach::<Q>(&map);
    let mut i = 0;
    while i < ITEMS {
        match q.try_push(item(i)) {
            Ok(()) => i += 1,
            Err(PushError::Full(_)) => std::hint::spin_loop(),
            Err(e) => panic!("{e}"),
        }
    }
    child.join(Duration::from_secs(600));
}

/// Two consumer processes block (timed) on one queue fed in bursts by the parent; every
/// item arrives exactly once and no pop reaches its timeout. Host lanes only.
#[cfg(not(miri))]
#[test]
fn blocking_consumers_in_two_processes() {
    use ring_common::shm;
    use shmsync::hal::testing::fork;
    #[repr(C)]
    struct Shared {
        q: Mpmc<u64, 64>,
        sum: [shmsync::hal::atomic::AtomicU32; 4],
    }
    // SAFETY: repr(C) of ShmSafe fields.
    unsafe impl shmsync::ShmSafe for Shared {
        const TAG: u64 = shmsync::tag(b"rings_mpmc::Shared v1");
    }
    let n = BLOCKING_ITEMS;
    let (obj, map) = shm::create::<Shared>();
    let children: Vec<_> = (0..2)
        .map(|c| {
            let obj = &obj;
            fork(move || {
                let map = obj.map().unwrap();
                let sh = shm::attach::<Shared>(&map);
                let (mut count, mut xor) = (0u32, 0u32);
                loop {
                    let t = Instant::now();
                    match sh.q.pop(Some(TIMEOUT)) {
                        // The end marker: one per consumer.
                        Ok(u64::MAX) => break,
                        Ok(v) => {
                            count += 1;
                            xor ^= v as u32;
                        }
                        Err(_) => return 1,
                    }
                    if t.elapsed() >= TIMEOUT {
                        return 2;
                    }
                }
                sh.sum[c * 2].store(count, Ordering::Release);
                sh.sum[c * 2 + 1].store(xor, Ordering::Release);
                0
            })
        })
        .collect();
    let sh = shm::attach::<Shared>(&map);
    let mut xor = 0u32;
    for i in 0..n {
        sh.q.push(i, Some(TIMEOUT)).unwrap();
        xor ^= i as u32;
        if i % 64 == 63 {
            std::thread::sleep(Duration::from_micros(20));
        }
    }
    sh.q.push(u64::MAX, Some(TIMEOUT)).unwrap();
    sh.q.push(u64::MAX, Some(TIMEOUT)).unwrap();
    for c in children {
        c.join(Duration::from_secs(600));
    }
    let count = sh.sum[0].load(Ordering::Acquire) as u64 + sh.sum[2].load(Ordering::Acquire) as u64;
    assert_eq!(count, n);
    assert_eq!(
        sh.sum[1].load(Ordering::Acquire) ^ sh.sum[3].load(Ordering::Acquire),
        xor
    );
}

#[test]
fn blocking_push_waits_for_a_free_slot_and_times_out() {
    let q = Box::new(Mpmc::<u32, 2>::new());
    q.try_push(1).unwrap();
    q.try_push(2).unwrap();
    let t = Instant::now();
    assert_eq!(
        q.push(3, Some(Duration::from_millis(20))),
        Err(PushError::Full(3))
    );
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert_eq!(q.pop(Some(Duration::ZERO)), Ok(1));
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(30));
            assert_eq!(q.try_pop(), Ok(2));
            assert_eq!(q.try_pop(), Ok(3));
        });
        q.try_push(3).unwrap();
        // Full again: blocks until the thread above pops.
        q.push(4, Some(TIMEOUT)).unwrap();
    });
    assert_eq!(q.pop(None), Ok(4));
    let t = Instant::now();
    assert_eq!(q.pop(Some(Duration::from_millis(20))), Err(PopError::Empty));
    assert!(t.elapsed() >= Duration::from_millis(20));
}

#[test]
fn corrupted_positions_and_sequences_stay_in_bounds() {
    let q = Mpmc::<u64, 8>::new();
    let base = (&q as *const Mpmc<u64, 8>).cast::<u8>();
    // SAFETY: documented layout: tail position at 0, head position at 128, slot i's
    // sequence at 256 + 16 i; the queue outlives the references.
    let (tail, head, seq0) = unsafe {
        (
            &*base.cast::<StdAtomicU32>(),
            &*base.add(128).cast::<StdAtomicU32>(),
            &*base.add(256).cast::<StdAtomicU32>(),
        )
    };
    // A sequence number claiming a future lap with an unchanged tail is dishonest.
    seq0.store(5, Ordering::Relaxed);
    assert_eq!(q.try_push(1), Err(PushError::Corrupted(1)));
    seq0.store(0, Ordering::Relaxed);
    // Arbitrary positions are masked: the queue works on (wrong but in-bounds) slots.
    tail.store(0xdead_beef, Ordering::Relaxed);
    head.store(0xdead_beef, Ordering::Relaxed);
    for _ in 0..100 {
        let _ = q.try_push(9);
        let _ = q.try_pop();
    }
    // Everything scribbled at random: no panic, no out-of-bounds access.
    let mut rng = ring_common::Rng::new(3);
    for _ in 0..10_000 {
        let w = rng.below(4) as usize;
        let word = [tail, head, seq0][w.min(2)];
        word.store(rng.next_u64() as u32, Ordering::Relaxed);
        let _ = q.try_push(rng.next_u64());
        let _ = q.try_pop();
        let _ = q.pop(Some(Duration::ZERO));
    }
}
