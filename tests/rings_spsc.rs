//! Spsc: order and completeness across threads and forked processes, slices, blocking
//! hand-over with parking, role claims (including a SIGKILLed holder) and corruption.

mod ring_common;

use ring_common::{Rng, item, scaled};
use shmsync::ring::{Corrupted, PopError, PushError, RoleError, Spsc};
use std::sync::atomic::{AtomicU32 as StdAtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Items pushed through a ring in the throughput tests (10 million in release builds).
const ITEMS: u64 = scaled(10_000_000, 200_000, 2_000);
/// Items handed over by the blocking tests (1 million in release builds).
const BLOCKING_ITEMS: u64 = scaled(1_000_000, 50_000, 300);
/// Timeout of each blocking call: generous, so reaching it means a lost wake-up.
const TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn empty_full_wrap_and_capacity() {
    let ring = Spsc::<u64, 4>::new();
    assert_eq!(ring.capacity(), 4);
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    assert_eq!(rx.try_pop(), Err(PopError::Empty));
    // Many laps over 4 slots, pushing 1..=4 at a time: every slot is reused, the u32
    // indices keep counting.
    let mut next_in = 0u64;
    let mut next_out = 0u64;
    for round in 0..1000u64 {
        let burst = round % 4 + 1;
        for _ in 0..burst {
            tx.try_push(item(next_in)).unwrap();
            next_in += 1;
        }
        if burst == 4 {
            assert_eq!(tx.try_push(99), Err(PushError::Full(99)));
            assert_eq!(tx.free_slots(), Ok(0));
        }
        assert_eq!(rx.available_items(), Ok(burst as usize));
        for _ in 0..burst {
            assert_eq!(rx.try_pop(), Ok(item(next_out)));
            next_out += 1;
        }
        assert_eq!(rx.try_pop(), Err(PopError::Empty));
    }
}

#[test]
fn slices_move_blocks_in_order() {
    let ring = Spsc::<u32, 16>::new();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    let data: Vec<u32> = (0..40).collect();
    // Only 16 fit.
    assert_eq!(tx.push_slice(&data), Ok(16));
    assert_eq!(tx.push_slice(&data[16..]), Ok(0));
    let mut out = [0u32; 10];
    assert_eq!(rx.pop_slice(&mut out), Ok(10));
    assert_eq!(out, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Wraps around the end of the slot array.
    assert_eq!(tx.push_slice(&data[16..]), Ok(10));
    let mut out = [0u32; 32];
    assert_eq!(rx.pop_slice(&mut out), Ok(16));
    assert_eq!(&out[..16], &data[10..26]);
    assert_eq!(rx.pop_slice(&mut out), Ok(0));
    assert_eq!(tx.push_slice(&[]), Ok(0));
}

#[test]
fn audio_block_items() {
    // A 256-sample stereo block is one item; copies are word-wise.
    type Block = [f32; 512];
    let ring = Spsc::<Block, 4>::new();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    for k in 0..20 {
        let mut b = [0f32; 512];
        for (i, s) in b.iter_mut().enumerate() {
            *s = (k * 1000 + i) as f32;
        }
        tx.try_push(b).unwrap();
        let got = rx.try_pop().unwrap();
        assert_eq!(got, b);
    }
}

#[test]
fn odd_sized_items_round_trip() {
    let ring = Spsc::<[u8; 3], 8>::new();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    for i in 0..100u8 {
        tx.try_push([i, i.wrapping_mul(3), !i]).unwrap();
        assert_eq!(rx.try_pop(), Ok([i, i.wrapping_mul(3), !i]));
    }
}

fn stream_through_threads(ring: &Spsc<u64, 1024>, n: u64, seed: u64) {
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut tx = ring.producer().unwrap();
            let mut rng = Rng::new(seed);
            let mut i = 0;
            let mut buf = Vec::new();
            while i < n {
                if rng.below(4) == 0 {
                    // A block of up to 100 items, pushed with one publication.
                    let len = (rng.below(100) + 1).min(n - i);
                    buf.clear();
                    buf.extend((i..i + len).map(item));
                    let pushed = tx.push_slice(&buf).unwrap() as u64;
                    i += pushed;
                } else {
                    match tx.try_push(item(i)) {
                        Ok(()) => i += 1,
                        Err(PushError::Full(_)) => std::hint::spin_loop(),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        let mut rx = ring.consumer().unwrap();
        let mut rng = Rng::new(seed ^ 1);
        let mut i = 0;
        let mut out = vec![0u64; 128];
        while i < n {
            if rng.below(4) == 0 {
                let len = rng.below(128) as usize + 1;
                let got = rx.pop_slice(&mut out[..len]).unwrap();
                for v in &out[..got] {
                    assert_eq!(*v, item(i), "item {i}");
                    i += 1;
                }
            } else {
                match rx.try_pop() {
                    Ok(v) => {
                        assert_eq!(v, item(i), "item {i}");
                        i += 1;
                    }
                    Err(PopError::Empty) => std::hint::spin_loop(),
                    Err(e) => panic!("{e}"),
                }
            }
        }
        assert_eq!(rx.try_pop(), Err(PopError::Empty), "nothing extra");
    });
}

#[test]
fn threads_stream_all_items_in_order() {
    let ring = Box::new(Spsc::<u64, 1024>::new());
    stream_through_threads(&ring, ITEMS, 7);
}

/// Forked processes, each with its own mapping (a different address).
/// Runs in the host lanes (`cargo test`); Miri cannot fork or map shared memory.
#[cfg(not(miri))]
#[test]
fn processes_stream_all_items_in_order() {
    use ring_common::shm;
    use shmsync::hal::testing::fork;
    type Ring = Spsc<u64, 1024>;
    let (shm_obj, map) = shm::create::<Ring>();
    let child = fork(|| {
        let map = shm_obj.map().unwrap();
        let ring = shm::attach::<Ring>(&map);
        let mut rx = ring.consumer().unwrap();
        let mut out = [0u64; 64];
        let mut i = 0;
        while i < ITEMS {
            let got = if i % 3 == 0 {
                rx.pop_slice(&mut out).unwrap()
            } else {
                match rx.try_pop() {
                    Ok(v) => {
                        out[0] = v;
                        1
                    }
                    Err(PopError::Empty) => 0,
                    Err(_) => return 2,
                }
            };
            for v in &out[..got] {
                if *v != item(i) {
                    return 1;
                }
                i += 1;
            }
        }
        i32::from(rx.try_pop() != Err(PopError::Empty)) * 3
    });
    let ring = shm::attach::<Ring>(&map);
    let mut tx = ring.producer().unwrap();
    let mut i = 0;
    while i < ITEMS {
        match tx.try_push(item(i)) {
            Ok(()) => i += 1,
            Err(PushError::Full(_)) => std::hint::spin_loop(),
            Err(e) => panic!("{e}"),
        }
    }
    child.join(Duration::from_secs(600));
}

/// The consumer blocks (timed) while the producer runs in bursts with pauses, so the
/// consumer parks again and again; then the producer blocks on a slow consumer. No call
/// may reach its (10 s) timeout: that would mean a lost wake-up while data was present.
#[test]
fn blocking_hand_over_parks_and_never_times_out_with_data() {
    let ring = Box::new(Spsc::<u64, 64>::new());
    let n = BLOCKING_ITEMS;
    let (consumer_parks, slowest) = std::thread::scope(|s| {
        s.spawn(|| {
            let mut tx = ring.producer().unwrap();
            for i in 0..n {
                tx.push(item(i), Some(TIMEOUT)).unwrap();
                // Pause every 64 items: long enough for the consumer to run out of spin
                // budget and park.
                if i % 64 == 63 {
                    std::thread::sleep(Duration::from_micros(20));
                }
            }
        });
        let mut rx = ring.consumer().unwrap();
        let mut slowest = Duration::ZERO;
        for i in 0..n {
            let t = Instant::now();
            let v = rx.pop(Some(TIMEOUT)).unwrap();
            slowest = slowest.max(t.elapsed());
            assert_eq!(v, item(i));
        }
        (rx.parks(), slowest)
    });
    eprintln!("consumer parked {consumer_parks} times; slowest pop {slowest:?}");
    assert!(slowest < TIMEOUT, "a pop ran into its timeout");
    assert!(
        consumer_parks >= n / 64 / 20,
        "the consumer should park often: {consumer_parks}"
    );

    // Now the producer blocks: the consumer drains slowly.
    let ring = Box::new(Spsc::<u64, 8>::new());
    let n = n / 10;
    let producer_parks = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let mut tx = ring.producer().unwrap();
            for i in 0..n {
                let t = Instant::now();
                tx.push(item(i), Some(TIMEOUT)).unwrap();
                assert!(t.elapsed() < TIMEOUT);
            }
            tx.parks()
        });
        let mut rx = ring.consumer().unwrap();
        for i in 0..n {
            if i % 8 == 0 {
                std::thread::sleep(Duration::from_micros(20));
            }
            assert_eq!(rx.pop(Some(TIMEOUT)), Ok(item(i)));
        }
        h.join().unwrap()
    });
    eprintln!("producer parked {producer_parks} times");
    // Miri's scheduler (and its scaled-down count) need not ever leave the producer
    // waiting past its spin budget; natively thousands of 20 µs consumer pauses do.
    if !cfg!(miri) {
        assert!(producer_parks > 0);
    }
}

/// The same hand-over between processes: the consumer (child) parks on the producer's
/// index word through its own mapping. Host lanes only (Miri cannot fork).
#[cfg(not(miri))]
#[test]
fn blocking_hand_over_between_processes() {
    use ring_common::shm;
    use shmsync::hal::testing::fork;
    #[repr(C)]
    struct Shared {
        ring: Spsc<u64, 64>,
        parks: shmsync::hal::atomic::AtomicU32,
    }
    // SAFETY: repr(C) of ShmSafe fields.
    unsafe impl shmsync::ShmSafe for Shared {
        const TAG: u64 = shmsync::tag(b"rings_spsc::Shared v1");
    }
    let n = BLOCKING_ITEMS;
    let (obj, map) = shm::create::<Shared>();
    let child = fork(|| {
        let map = obj.map().unwrap();
        let shared = shm::attach::<Shared>(&map);
        let mut rx = shared.ring.consumer().unwrap();
        for i in 0..n {
            let t = Instant::now();
            match rx.pop(Some(TIMEOUT)) {
                Ok(v) if v == item(i) => {}
                _ => return 1,
            }
            if t.elapsed() >= TIMEOUT {
                return 2;
            }
        }
        shared.parks.store(rx.parks() as u32, Ordering::Release);
        0
    });
    let shared = shm::attach::<Shared>(&map);
    let mut tx = shared.ring.producer().unwrap();
    for i in 0..n {
        tx.push(item(i), Some(TIMEOUT)).unwrap();
        if i % 64 == 63 {
            std::thread::sleep(Duration::from_micros(20));
        }
    }
    child.join(Duration::from_secs(600));
    let parks = shared.parks.load(Ordering::Acquire) as u64;
    eprintln!("child consumer parked {parks} times");
    assert!(
        parks >= n / 64 / 20,
        "the consumer should park often: {parks}"
    );
}

#[test]
fn timed_pop_and_push_time_out() {
    let ring = Spsc::<u32, 2>::new();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    let t = Instant::now();
    assert_eq!(
        rx.pop(Some(Duration::from_millis(20))),
        Err(PopError::Empty)
    );
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert_eq!(rx.pop(Some(Duration::ZERO)), Err(PopError::Empty));
    tx.try_push(1).unwrap();
    tx.try_push(2).unwrap();
    let t = Instant::now();
    assert_eq!(
        tx.push(3, Some(Duration::from_millis(20))),
        Err(PushError::Full(3))
    );
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert_eq!(rx.pop(None), Ok(1));
    assert_eq!(tx.push(3, None), Ok(()));
}

#[test]
fn roles_are_exclusive_and_released_on_drop() {
    let ring = Spsc::<u32, 8>::new();
    let me = shmsync::hal::process::current();
    let tx = ring.producer().unwrap();
    assert_eq!(tx.took_over_from(), None);
    assert_eq!(
        ring.producer().unwrap_err(),
        RoleError::Taken { holder: me }
    );
    let rx = ring.consumer().unwrap();
    assert!(matches!(ring.consumer(), Err(RoleError::Taken { .. })));
    assert_eq!(ring.holders(), (me, me));
    drop(tx);
    assert_eq!(ring.holders().0, shmsync::hal::process::OwnerId::NONE);
    let _tx = ring.producer().unwrap();
    drop(rx);
    let _rx = ring.consumer().unwrap();
}

/// A child claims the producer role, publishes some items and is SIGKILLed while holding
/// it: the parent takes the role over and continues the stream. Host lanes only.
#[cfg(not(miri))]
#[test]
fn role_of_a_killed_process_is_taken_over() {
    use ring_common::shm;
    use shmsync::hal::testing::{Exit, fork};
    type Ring = Spsc<u64, 16>;
    let (obj, map) = shm::create::<Ring>();
    let ring = shm::attach::<Ring>(&map);
    let child = fork(|| {
        let map = obj.map().unwrap();
        let ring = shm::attach::<Ring>(&map);
        let mut tx = ring.producer().unwrap();
        for i in 0..5 {
            tx.try_push(item(i)).unwrap();
        }
        // Hold the role forever.
        loop {
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let mut rx = ring.consumer().unwrap();
    for i in 0..5 {
        assert_eq!(rx.pop(Some(TIMEOUT)), Ok(item(i)));
    }
    // The child is alive and holds the role.
    let holder = ring.holders().0;
    assert_eq!(holder.pid, child.pid() as u32);
    assert_eq!(ring.producer().unwrap_err(), RoleError::Taken { holder });
    child.signal(libc::SIGKILL);
    assert_eq!(child.wait_timeout(TIMEOUT), Exit::Signal(libc::SIGKILL));
    let mut tx = ring.producer().expect("take over from the killed producer");
    assert_eq!(tx.took_over_from(), Some(holder));
    tx.try_push(item(5)).unwrap();
    assert_eq!(rx.try_pop(), Ok(item(5)));
}

/// Same for the consumer role, killed while parked inside `pop`.
#[cfg(not(miri))]
#[test]
fn consumer_killed_while_parked_is_taken_over() {
    use ring_common::shm;
    use shmsync::hal::testing::{Exit, fork};
    type Ring = Spsc<u64, 16>;
    let (obj, map) = shm::create::<Ring>();
    let ring = shm::attach::<Ring>(&map);
    let child = fork(|| {
        let map = obj.map().unwrap();
        let ring = shm::attach::<Ring>(&map);
        let mut rx = ring.consumer().unwrap();
        let _ = rx.pop(None); // parks forever: nobody pushes
        0
    });
    // Wait until the child holds the role.
    let start = Instant::now();
    while ring.holders().1.pid != child.pid() as u32 {
        assert!(start.elapsed() < TIMEOUT);
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
    child.signal(libc::SIGKILL);
    assert_eq!(child.wait_timeout(TIMEOUT), Exit::Signal(libc::SIGKILL));
    let mut rx = ring.consumer().expect("take over from the killed consumer");
    assert!(rx.took_over_from().is_some());
    let mut tx = ring.producer().unwrap();
    tx.try_push(42).unwrap();
    assert_eq!(rx.try_pop(), Ok(42));
}

/// Raw view of the ring's two index words (documented layout: tail at 0, head at 128).
fn index_words<T, const N: usize>(ring: &Spsc<T, N>) -> (&StdAtomicU32, &StdAtomicU32) {
    let base = (ring as *const Spsc<T, N>).cast::<u8>();
    // SAFETY: offsets 0 and 128 hold the tail and head AtomicU32 (asserted by the crate's
    // layout assertions); the ring outlives the returned references.
    unsafe {
        (
            &*base.cast::<StdAtomicU32>(),
            &*base.add(128).cast::<StdAtomicU32>(),
        )
    }
}

#[test]
fn corrupted_indices_are_reported_not_followed() {
    let ring = Spsc::<u64, 8>::new();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    let (tail, head) = index_words(&ring);
    // The "producer" claims 1000 items are ready: more than the capacity.
    tail.store(1000, Ordering::Release);
    assert_eq!(rx.try_pop(), Err(PopError::Corrupted));
    assert_eq!(rx.pop_slice(&mut [0; 4]), Err(Corrupted));
    assert_eq!(
        rx.pop(Some(Duration::from_millis(1))),
        Err(PopError::Corrupted)
    );
    // A tail that went backwards is just as wrong.
    tail.store(u32::MAX, Ordering::Release);
    assert_eq!(rx.available_items(), Err(Corrupted));
    // Within range, a lying tail yields (zeroed) wrong items, never out-of-bounds reads.
    tail.store(3, Ordering::Release);
    assert_eq!(rx.try_pop(), Ok(0));
    // The "consumer" claims to be ahead of the producer.
    head.store(50, Ordering::Release);
    for _ in 0..9 {
        // The first 8 pushes may use the cached head; then the bad head is read.
        match tx.try_push(1) {
            Ok(()) | Err(PushError::Corrupted(1)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(tx.try_push(1), Err(PushError::Corrupted(1)));
    assert_eq!(
        tx.push(1, Some(Duration::from_millis(1))),
        Err(PushError::Corrupted(1))
    );
    assert_eq!(tx.free_slots(), Err(Corrupted));
}
