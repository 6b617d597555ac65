//! loom models of the three rings: every interleaving (up to loom's preemption bound) of
//! the real ring code, with atomics, the futex and slot cells routed through the rings'
//! loom shim. A lost wake-up shows up as a deadlock, an unsynchronised slot access as a
//! reported race, a wrong item as a failed assertion.
//!
//! Run (the loom lane): `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p shmsync
//! --release --test rings_loom` (a separate `CARGO_TARGET_DIR` keeps the normal build).
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use shmsync::ring::{Mpmc, MsgRing, PopError, PushError, RecvError, SendError, Spsc};

#[test]
fn loom_spsc_try_ops_hand_over_in_order() {
    loom::model(|| {
        let ring = Arc::new(Spsc::<u32, 2>::new());
        let r = ring.clone();
        let p = thread::spawn(move || {
            let mut tx = r.producer().unwrap();
            for i in 1..=3 {
                loop {
                    match tx.try_push(i) {
                        Ok(()) => break,
                        Err(PushError::Full(_)) => thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        let mut rx = ring.consumer().unwrap();
        for i in 1..=3 {
            loop {
                match rx.try_pop() {
                    Ok(v) => {
                        assert_eq!(v, i);
                        break;
                    }
                    Err(PopError::Empty) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        }
        p.join().unwrap();
    });
}

/// Both ends block: the consumer parks on an empty ring, the producer on a full one. A
/// lost wake-up would leave one of them asleep forever: loom reports the deadlock.
#[test]
fn loom_spsc_blocking_ends_never_miss_a_wake() {
    loom::model(|| {
        let ring = Arc::new(Spsc::<u32, 1>::new());
        let r = ring.clone();
        let p = thread::spawn(move || {
            let mut tx = r.producer().unwrap();
            tx.push(1, None).unwrap();
            tx.push(2, None).unwrap();
        });
        let mut rx = ring.consumer().unwrap();
        assert_eq!(rx.pop(None), Ok(1));
        assert_eq!(rx.pop(None), Ok(2));
        p.join().unwrap();
    });
}

/// The audio-thread pattern: a wait-free producer (try_push only) and a blocking consumer.
#[test]
fn loom_spsc_wait_free_producer_wakes_parked_consumer() {
    loom::model(|| {
        let ring = Arc::new(Spsc::<u32, 4>::new());
        let r = ring.clone();
        let p = thread::spawn(move || {
            let mut tx = r.producer().unwrap();
            tx.try_push(1).unwrap();
            assert_eq!(tx.push_slice(&[2, 3]), Ok(2));
        });
        let mut rx = ring.consumer().unwrap();
        let mut got = vec![];
        while got.len() < 3 {
            got.push(rx.pop(None).unwrap());
        }
        assert_eq!(got, [1, 2, 3]);
        p.join().unwrap();
    });
}

#[test]
fn loom_mpmc_two_producers_blocking_consumer() {
    loom::model(|| {
        let q = Arc::new(Mpmc::<u32, 2>::new());
        let producers: Vec<_> = (0..2)
            .map(|k| {
                let q = q.clone();
                thread::spawn(move || q.push(10 + k, None).unwrap())
            })
            .collect();
        let mut got = [q.pop(None).unwrap(), q.pop(None).unwrap()];
        got.sort_unstable();
        assert_eq!(got, [10, 11]);
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(q.try_pop(), Err(PopError::Empty));
    });
}

#[test]
fn loom_mpmc_blocking_producer_on_full_ring() {
    loom::model(|| {
        let q = Arc::new(Mpmc::<u32, 2>::new());
        let q2 = q.clone();
        let p = thread::spawn(move || {
            for i in 1..=3 {
                q2.push(i, None).unwrap();
            }
        });
        for i in 1..=3 {
            assert_eq!(q.pop(None), Ok(i));
        }
        p.join().unwrap();
    });
}

/// Frames of 8 and 16 bytes in a 32-byte area: the third message needs wrap padding and
/// must wait for the consumer to free the start of the area.
#[test]
fn loom_msg_ring_frames_padding_and_blocking() {
    loom::model(|| {
        let ring = Arc::new(MsgRing::<32>::new());
        let r = ring.clone();
        let p = thread::spawn(move || {
            let mut tx = r.producer().unwrap();
            tx.send(b"", None).unwrap();
            tx.send(b"abcdefgh", None).unwrap();
            tx.send(b"12345678", None).unwrap();
            assert!(matches!(
                tx.try_send(&[0; 9]),
                Err(SendError::TooLarge { .. })
            ));
        });
        let mut rx = ring.consumer().unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(rx.recv(&mut buf, None), Ok(0));
        assert_eq!(rx.recv(&mut buf, None), Ok(8));
        assert_eq!(&buf, b"abcdefgh");
        assert_eq!(rx.recv(&mut buf, None), Ok(8));
        assert_eq!(&buf, b"12345678");
        p.join().unwrap();
        assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Empty));
    });
}

/// The asymmetric fence, modelled (see `light_barrier` in `src/ring/sync.rs`): the
/// publisher's barrier is the full barrier membarrier's IPI lands in it, the sleeper's a
/// `SeqCst` fence. A wait-free `try_push` against a consumer parking at once: never lost.
#[test]
fn loom_asymmetric_fence_wakes_the_parked_consumer() {
    loom::model(|| {
        let ring = Arc::new(Spsc::<u32, 1>::new());
        let r = ring.clone();
        let p = thread::spawn(move || r.producer().unwrap().try_push(1).unwrap());
        let mut rx = ring.consumer().unwrap();
        rx.set_spin_limit(0);
        assert_eq!(rx.pop(None), Ok(1));
        p.join().unwrap();
    });
}

/// Negative control: the same model with the publisher's barrier gone (what the hardware
/// does when the sleeper's membarrier does not reach the publisher's CPU, e.g. an
/// unregistered process). loom must find the interleaving where the publisher misses the
/// flag and the consumer misses the item: the consumer sleeps forever, a deadlock.
#[test]
#[should_panic]
fn loom_without_the_membarrier_ipi_a_wake_up_is_lost() {
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            shmsync::ring::loom_model_without_ipi(false);
        }
    }
    let _restore = Restore;
    shmsync::ring::loom_model_without_ipi(true);
    loom::model(|| {
        // Leaked, and the consumer end not dropped: loom's deadlock report unwinds
        // through this closure, and dropping a loom `Arc` or releasing the role (a loom
        // atomic) while loom is panicking aborts the whole test binary instead of failing
        // this model as expected.
        let ring: &'static Spsc<u32, 1> = Box::leak(Box::new(Spsc::new()));
        let p = thread::spawn(move || ring.producer().unwrap().try_push(1).unwrap());
        let mut rx = core::mem::ManuallyDrop::new(ring.consumer().unwrap());
        rx.set_spin_limit(0);
        assert_eq!(rx.pop(None), Ok(1));
        p.join().unwrap();
    });
}
