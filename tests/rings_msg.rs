//! MsgRing: framing, wrap padding, size limits, zero-copy grants, order and completeness
//! across threads and forked processes, blocking with parking, roles and corruption.
// Not built under `--cfg loom`: the grants' plain-slice accessors do not exist there (the
// MsgRing loom models are in tests/rings_loom.rs).
#![cfg(not(loom))]

mod ring_common;

use ring_common::{Rng, item, scaled};
use shmsync::ring::{HEADER_CHECK, MsgRing, RecvError, RoleError, SendError};
use std::sync::atomic::{AtomicU32 as StdAtomicU32, AtomicU64 as StdAtomicU64, Ordering};
use std::time::{Duration, Instant};

const ITEMS: u64 = scaled(10_000_000, 200_000, 1_000);
const BLOCKING_ITEMS: u64 = scaled(1_000_000, 50_000, 300);
const TIMEOUT: Duration = Duration::from_secs(10);

/// Message `i`: 0 to 40 bytes, derived from `i`, so a lost, repeated or misframed message
/// fails the comparison.
fn message(i: u64, buf: &mut [u8; 64]) -> usize {
    let len = (item(i) % 41) as usize;
    for (k, b) in buf[..len].iter_mut().enumerate() {
        *b = (item(i) >> (k % 8 * 8)) as u8 ^ k as u8;
    }
    len
}

#[test]
fn send_receive_frames_and_padding() {
    let ring = MsgRing::<64>::new();
    assert_eq!(MsgRing::<64>::MAX_MESSAGE, 24);
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Empty));
    // Lengths that exercise every payload-word remainder and the wrap padding, over many
    // laps of the 64-byte area.
    let mut rng = Rng::new(11);
    let mut sent = std::collections::VecDeque::new();
    for i in 0..5_000u64 {
        let len = rng.below(25) as usize;
        let msg: Vec<u8> = (0..len)
            .map(|k| (i as u8).wrapping_add(k as u8 * 7))
            .collect();
        match tx.try_send(&msg) {
            Ok(()) => sent.push_back(msg),
            Err(SendError::Full) => {}
            Err(e) => panic!("{e}"),
        }
        if rng.below(3) != 0 {
            match rx.try_recv(&mut buf) {
                Ok(n) => assert_eq!(&buf[..n], &sent.pop_front().unwrap()[..]),
                Err(RecvError::Empty) => assert!(sent.is_empty()),
                Err(e) => panic!("{e}"),
            }
        }
    }
    while let Some(m) = sent.pop_front() {
        let n = rx.try_recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], &m[..]);
    }
    assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Empty));
}

#[test]
fn too_large_is_a_clear_error_and_the_maximum_always_fits() {
    let ring = MsgRing::<128>::new();
    let max = MsgRing::<128>::MAX_MESSAGE;
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    let err = tx.try_send(&[1; 57]).unwrap_err();
    assert_eq!(err, SendError::TooLarge { len: 57, max: 56 });
    assert_eq!(
        err.to_string(),
        "message of 57 bytes exceeds this ring's maximum of 56"
    );
    assert!(matches!(
        tx.reserve(1000, None),
        Err(SendError::TooLarge { .. })
    ));
    // From every start offset, a maximum message fits into the empty ring.
    let mut buf = [0u8; 128];
    for small in 0..16 {
        tx.try_send(&vec![3; small]).unwrap();
        rx.try_recv(&mut buf).unwrap();
        tx.try_send(&vec![9; max]).unwrap();
        assert_eq!(rx.try_recv(&mut buf), Ok(max));
        assert!(buf[..max].iter().all(|&b| b == 9));
    }
}

#[test]
fn zero_copy_grants() {
    let ring = MsgRing::<256>::new();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    // A dropped reservation sends nothing.
    {
        let mut g = tx.try_reserve(10).unwrap();
        g.write_at(0, b"abandoned!");
    }
    assert_eq!(rx.try_read().err(), Some(RecvError::Empty));
    // Fill at offsets, commit fewer bytes than reserved.
    let mut g = tx.try_reserve(32).unwrap();
    assert_eq!(g.len(), 32);
    g.write_at(0, b"abc");
    g.write_at(3, b"defgh");
    g.write_at(8, &[1, 2, 3]);
    g.commit_len(11);
    // The plain-slice path (trusted peer).
    let mut g = tx.try_reserve(5).unwrap();
    // SAFETY: both ends are this test's, nothing else touches the ring.
    unsafe { g.as_mut_slice() }.copy_from_slice(b"hello");
    g.commit();
    tx.try_send(b"").unwrap();

    let m = rx.try_read().unwrap();
    assert_eq!(m.len(), 11);
    let mut out = [0u8; 11];
    m.read_at(0, &mut out);
    assert_eq!(&out, b"abcdefgh\x01\x02\x03");
    let mut mid = [0u8; 4];
    m.read_at(5, &mut mid);
    assert_eq!(&mid, b"fgh\x01");
    m.release();
    let m = rx.try_read().unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { m.as_slice() }, b"hello");
    drop(m);
    let m = rx.try_read().unwrap();
    assert!(m.is_empty());
    drop(m);
    assert_eq!(rx.try_read().err(), Some(RecvError::Empty));
}

#[test]
fn short_buffer_leaves_the_message_in_place() {
    let ring = MsgRing::<64>::new();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    tx.try_send(b"0123456789").unwrap();
    let mut small = [0u8; 4];
    assert_eq!(
        rx.try_recv(&mut small),
        Err(RecvError::BufferTooSmall { len: 10 })
    );
    let mut big = [0u8; 16];
    assert_eq!(rx.try_recv(&mut big), Ok(10));
    assert_eq!(&big[..10], b"0123456789");
}

#[test]
#[should_panic(expected = "exceed the 4-byte reservation")]
fn writing_past_a_reservation_is_a_caller_bug() {
    let ring = MsgRing::<64>::new();
    let mut tx = ring.producer().unwrap();
    let mut g = tx.try_reserve(4).unwrap();
    g.write_at(2, b"xyz");
}

fn check_stream(rx: &mut shmsync::ring::MsgConsumer<'_, 4096>, n: u64, blocking: bool) -> u64 {
    let mut want = [0u8; 64];
    let mut got = [0u8; 64];
    let mut i = 0;
    while i < n {
        let t = Instant::now();
        let r = if blocking {
            rx.recv(&mut got, Some(TIMEOUT))
        } else {
            rx.try_recv(&mut got)
        };
        // Reaching the timeout would mean a wake-up was lost while data was present.
        assert!(
            t.elapsed() < TIMEOUT,
            "message {i}: a receive ran into its timeout"
        );
        match r {
            Ok(len) => {
                let wl = message(i, &mut want);
                assert_eq!((len, &got[..len]), (wl, &want[..wl]), "message {i}");
                i += 1;
            }
            Err(RecvError::Empty) if !blocking => std::hint::spin_loop(),
            Err(e) => panic!("message {i}: {e}"),
        }
    }
    rx.parks()
}

#[test]
fn threads_stream_all_messages_in_order() {
    let ring = Box::new(MsgRing::<4096>::new());
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut tx = ring.producer().unwrap();
            let mut buf = [0u8; 64];
            let mut i = 0;
            while i < ITEMS {
                let len = message(i, &mut buf);
                match tx.try_send(&buf[..len]) {
                    Ok(()) => i += 1,
                    Err(SendError::Full) => std::hint::spin_loop(),
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let mut rx = ring.consumer().unwrap();
        check_stream(&mut rx, ITEMS, false);
    });
}

/// Forked consumer with its own mapping. Host lanes only (Miri cannot fork).
#[cfg(not(miri))]
#[test]
fn processes_stream_all_messages_in_order() {
    use ring_common::shm;
    use shmsync::hal::testing::fork;
    type Ring = MsgRing<4096>;
    let (obj, map) = shm::create::<Ring>();
    let child = fork(|| {
        let map = obj.map().unwrap();
        let ring = shm::attach::<Ring>(&map);
        let mut rx = ring.consumer().unwrap();
        check_stream(&mut rx, ITEMS, false);
        0
    });
    let ring = shm::attach::<Ring>(&map);
    let mut tx = ring.producer().unwrap();
    let mut buf = [0u8; 64];
    let mut i = 0;
    while i < ITEMS {
        let len = message(i, &mut buf);
        match tx.try_send(&buf[..len]) {
            Ok(()) => i += 1,
            Err(SendError::Full) => std::hint::spin_loop(),
            Err(e) => panic!("{e}"),
        }
    }
    child.join(Duration::from_secs(600));
}

/// Blocking ends between processes: the child receives with timed waits while the
/// parent sends in bursts. No receive may reach its timeout. Host lanes only.
#[cfg(not(miri))]
#[test]
fn blocking_hand_over_between_processes() {
    use ring_common::shm;
    use shmsync::hal::testing::fork;
    #[repr(C)]
    struct Shared {
        ring: MsgRing<4096>,
        parks: shmsync::hal::atomic::AtomicU32,
    }
    // SAFETY: repr(C) of ShmSafe fields.
    unsafe impl shmsync::ShmSafe for Shared {
        const TAG: u64 = shmsync::tag(b"rings_msg::Shared v1");
    }
    let n = BLOCKING_ITEMS;
    let (obj, map) = shm::create::<Shared>();
    let child = fork(|| {
        let map = obj.map().unwrap();
        let sh = shm::attach::<Shared>(&map);
        let mut rx = sh.ring.consumer().unwrap();
        let parks = check_stream(&mut rx, n, true);
        sh.parks.store(parks as u32, Ordering::Release);
        0
    });
    let sh = shm::attach::<Shared>(&map);
    let mut tx = sh.ring.producer().unwrap();
    let mut buf = [0u8; 64];
    for i in 0..n {
        let len = message(i, &mut buf);
        tx.send(&buf[..len], Some(TIMEOUT)).unwrap();
        if i % 64 == 63 {
            std::thread::sleep(Duration::from_micros(20));
        }
    }
    child.join(Duration::from_secs(600));
    let parks = sh.parks.load(Ordering::Acquire) as u64;
    eprintln!("child consumer parked {parks} times");
    assert!(
        parks >= n / 64 / 20,
        "the consumer should park often: {parks}"
    );
}

#[test]
fn blocking_in_threads_never_reaches_the_timeout_with_data() {
    let ring = Box::new(MsgRing::<256>::new());
    let n = BLOCKING_ITEMS / 4;
    let slowest = StdAtomicU64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut tx = ring.producer().unwrap();
            let mut buf = [0u8; 64];
            for i in 0..n {
                let len = message(i, &mut buf);
                let t = Instant::now();
                tx.send(&buf[..len], Some(TIMEOUT)).unwrap();
                slowest.fetch_max(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                if i % 32 == 31 {
                    std::thread::sleep(Duration::from_micros(20));
                }
            }
        });
        let mut rx = ring.consumer().unwrap();
        let mut want = [0u8; 64];
        let mut got = [0u8; 64];
        for i in 0..n {
            if i % 97 == 0 {
                // The consumer is slow now and then: the producer blocks on a full ring.
                std::thread::sleep(Duration::from_micros(200));
            }
            let t = Instant::now();
            let len = rx.recv(&mut got, Some(TIMEOUT)).unwrap();
            slowest.fetch_max(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            let wl = message(i, &mut want);
            assert_eq!(&got[..len], &want[..wl]);
        }
    });
    assert!(Duration::from_nanos(slowest.load(Ordering::Relaxed)) < TIMEOUT);
}

#[test]
fn timed_calls_time_out() {
    let ring = MsgRing::<64>::new();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    let t = Instant::now();
    assert_eq!(
        rx.read(Some(Duration::from_millis(20))).err(),
        Some(RecvError::Empty)
    );
    assert!(t.elapsed() >= Duration::from_millis(20));
    tx.try_send(&[0; 24]).unwrap();
    tx.try_send(&[0; 16]).unwrap();
    let t = Instant::now();
    assert_eq!(
        tx.send(&[0; 24], Some(Duration::from_millis(20))),
        Err(SendError::Full)
    );
    assert!(t.elapsed() >= Duration::from_millis(20));
}

#[test]
fn roles_are_exclusive() {
    let ring = MsgRing::<64>::new();
    let _tx = ring.producer().unwrap();
    assert!(matches!(ring.producer(), Err(RoleError::Taken { .. })));
    let rx = ring.consumer().unwrap();
    assert!(matches!(ring.consumer(), Err(RoleError::Taken { .. })));
    drop(rx);
    ring.consumer().unwrap();
}

/// A producer killed in the middle of a stream: the role is taken over and the stream
/// continues after the last message it committed. Host lanes only.
#[cfg(not(miri))]
#[test]
fn producer_killed_is_taken_over() {
    use ring_common::shm;
    use shmsync::hal::testing::{Exit, fork};
    type Ring = MsgRing<1024>;
    let (obj, map) = shm::create::<Ring>();
    let ring = shm::attach::<Ring>(&map);
    let child = fork(|| {
        let map = obj.map().unwrap();
        let ring = shm::attach::<Ring>(&map);
        let mut tx = ring.producer().unwrap();
        tx.try_send(b"from the child").unwrap();
        // Reserve (never commit) and hold the role forever.
        let _g = tx.try_reserve(100).unwrap();
        loop {
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let mut rx = ring.consumer().unwrap();
    let mut buf = [0u8; 64];
    let n = rx.recv(&mut buf, Some(TIMEOUT)).unwrap();
    assert_eq!(&buf[..n], b"from the child");
    let holder = ring.holders().0;
    assert_eq!(holder.pid, child.pid() as u32);
    assert_eq!(ring.producer().unwrap_err(), RoleError::Taken { holder });
    child.signal(libc::SIGKILL);
    assert_eq!(child.wait_timeout(TIMEOUT), Exit::Signal(libc::SIGKILL));
    let mut tx = ring.producer().unwrap();
    assert_eq!(tx.took_over_from(), Some(holder));
    tx.try_send(b"from the parent").unwrap();
    let n = rx.try_recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"from the parent");
}

#[test]
fn corrupted_counters_and_headers_are_reported() {
    let ring = MsgRing::<64>::new();
    let base = (&ring as *const MsgRing<64>).cast::<u8>();
    // SAFETY: documented layout: tail counter at 0, head at 128, data at 384; the ring
    // outlives the references.
    let (tail, head, word0) = unsafe {
        (
            &*base.cast::<StdAtomicU32>(),
            &*base.add(128).cast::<StdAtomicU32>(),
            &*base.add(384).cast::<StdAtomicU64>(),
        )
    };
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    let mut buf = [0u8; 64];
    // Unaligned or over-capacity tails.
    tail.store(3, Ordering::Release);
    assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Corrupted));
    tail.store(72, Ordering::Release);
    assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Corrupted));
    // A plausible tail over a header that fails its check.
    tail.store(16, Ordering::Release);
    word0.store(5, Ordering::Relaxed);
    assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Corrupted));
    // A well-formed header with a length beyond what was published.
    word0.store(20 | ((20 ^ HEADER_CHECK) as u64) << 32, Ordering::Relaxed);
    assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Corrupted));
    // A consistent header within the published bytes: a wrong message, nothing worse.
    word0.store(4 | ((4 ^ HEADER_CHECK) as u64) << 32, Ordering::Relaxed);
    assert_eq!(rx.try_recv(&mut buf), Ok(4));
    // The producer refuses a head that is ahead of it.
    head.store(4096, Ordering::Release);
    assert_eq!(
        tx.try_send(&[1; 24]).and(tx.try_send(&[1; 24])),
        Err(SendError::Corrupted)
    );
}
