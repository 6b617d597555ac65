//! The non-blocking ends make no syscall unless the peer sleeps, proven with the hal's
//! per-thread syscall counters.
//!
//! Needs the counters compiled in; run (the count-syscalls lane):
//! `cargo test -p shmsync --features count-syscalls --test rings_syscalls`. Host lanes only: Miri has no counters of real syscalls.
#![cfg(all(feature = "count-syscalls", not(miri)))]

use shmsync::hal::count::snapshot;
use shmsync::ring::{Mpmc, MsgRing, Spsc};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[test]
fn non_blocking_ends_make_no_syscall_when_nobody_sleeps() {
    let ring = Spsc::<u64, 64>::new();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    let q = Mpmc::<u64, 64>::new();
    let msgs = MsgRing::<1024>::new();
    let mut mtx = msgs.producer().unwrap();
    let mut mrx = msgs.consumer().unwrap();
    let before = snapshot();
    let mut out = [0u64; 16];
    let mut buf = [0u8; 64];
    for i in 0..100_000u64 {
        tx.try_push(i).unwrap();
        tx.push_slice(&[i; 3]).unwrap();
        assert_eq!(rx.try_pop(), Ok(i));
        rx.pop_slice(&mut out).unwrap();
        q.try_push(i).unwrap();
        q.try_pop().unwrap();
        mtx.try_send(&buf[..(i % 40) as usize]).unwrap();
        mrx.try_recv(&mut buf).unwrap();
        // Blocking calls that need not wait make no syscall either.
        tx.push(i, Some(Duration::from_secs(1))).unwrap();
        rx.pop(Some(Duration::from_secs(1))).unwrap();
    }
    let d = snapshot() - before;
    assert_eq!((d.waits, d.wakes), (0, 0));
}

#[test]
fn a_push_wakes_a_parked_consumer_with_exactly_one_syscall() {
    let ring = Box::new(Spsc::<u64, 8>::new());
    // The consumer-parked flag sits at offset 4 (tail line: tail index, then the flag).
    // SAFETY: documented layout; the ring outlives the reference.
    let parked = unsafe {
        &*(&*ring as *const Spsc<u64, 8>)
            .cast::<u8>()
            .add(4)
            .cast::<AtomicU32>()
    };
    let mut tx = ring.producer().unwrap();
    std::thread::scope(|s| {
        let consumer = s.spawn(|| {
            let mut rx = ring.consumer().unwrap();
            let before = snapshot();
            assert_eq!(rx.pop(None), Ok(7));
            (rx.parks(), (snapshot() - before).waits)
        });
        let start = Instant::now();
        while parked.load(Ordering::Acquire) == 0 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "consumer never parked"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let before = snapshot();
        tx.try_push(7).unwrap();
        assert_eq!(
            (snapshot() - before).wakes,
            1,
            "one wake for one parked consumer"
        );
        let (parks, waits) = consumer.join().unwrap();
        assert!(parks >= 1 && waits >= parks, "parks {parks}, waits {waits}");
    });
    // The consumer is gone and its flag cleared: pushing costs no syscall again.
    let before = snapshot();
    tx.try_push(8).unwrap();
    assert_eq!((snapshot() - before).wakes, 0);
}
