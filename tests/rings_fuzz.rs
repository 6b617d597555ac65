//! Property and fuzz tests.
//!
//! * Property: random operation sequences on each ring against a `VecDeque` model.
//! * Fuzz: a third thread scribbles random values over a ring's *shared state* (indices,
//!   parked flags, role words, sequence numbers, frame headers, payload words) while a
//!   producer and a consumer run every kind of operation. Nothing is asserted about the
//!   items — they may be wrong — only that no operation panics, hangs or touches memory
//!   outside the ring. Under Miri (`cargo +nightly miri test --test rings_fuzz`, scaled
//!   down) this also checks for undefined behaviour: data races, out-of-bounds accesses,
//!   invalid values. The scribbler uses the same access width as the rings for each word
//!   (u32 counters and sequences, u64 role words and payload words).

mod ring_common;

use ring_common::{Rng, scaled};
use shmsync::ring::{Mpmc, MsgRing, Spsc};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

const STEPS: u64 = scaled(200_000, 20_000, 300);
const SHORT: Option<Duration> = Some(Duration::from_micros(200));

#[test]
fn spsc_matches_a_model() {
    let ring = Spsc::<u32, 8>::new();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    let mut model = VecDeque::new();
    let mut rng = Rng::new(1);
    let mut next = 0u32;
    for _ in 0..STEPS {
        match rng.below(4) {
            0 => {
                let r = tx.try_push(next);
                assert_eq!(r.is_ok(), model.len() < 8);
                if r.is_ok() {
                    model.push_back(next);
                }
                next += 1;
            }
            1 => {
                let n = rng.below(6) as usize;
                let items: Vec<u32> = (next..next + n as u32).collect();
                let pushed = tx.push_slice(&items).unwrap();
                assert_eq!(pushed, n.min(8 - model.len()));
                model.extend(&items[..pushed]);
                next += n as u32;
            }
            2 => assert_eq!(rx.try_pop().ok(), model.pop_front()),
            _ => {
                let mut out = [0u32; 5];
                let n = rx.pop_slice(&mut out[..rng.below(6) as usize]).unwrap();
                for v in &out[..n] {
                    assert_eq!(Some(*v), model.pop_front());
                }
            }
        }
    }
}

#[test]
fn mpmc_matches_a_model() {
    let q = Mpmc::<u32, 8>::new();
    let mut model = VecDeque::new();
    let mut rng = Rng::new(2);
    for i in 0..STEPS as u32 {
        if rng.below(2) == 0 {
            let r = q.try_push(i);
            assert_eq!(r.is_ok(), model.len() < 8);
            if r.is_ok() {
                model.push_back(i);
            }
        } else {
            assert_eq!(q.try_pop().ok(), model.pop_front());
        }
    }
}

#[test]
fn msg_ring_matches_a_model() {
    let ring = MsgRing::<128>::new();
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    let mut model: VecDeque<Vec<u8>> = VecDeque::new();
    let mut rng = Rng::new(3);
    let mut buf = [0u8; 64];
    for i in 0..STEPS {
        if rng.below(2) == 0 {
            let len = rng.below(MsgRing::<128>::MAX_MESSAGE as u64 + 1) as usize;
            let msg: Vec<u8> = (0..len).map(|k| (i as u8) ^ (k as u8)).collect();
            match tx.try_send(&msg) {
                Ok(()) => model.push_back(msg),
                Err(shmsync::ring::SendError::Full) => {
                    // Full must mean the bytes in flight leave no room for this frame
                    // (with padding): at least one message is queued.
                    assert!(!model.is_empty());
                }
                Err(e) => panic!("{e}"),
            }
        } else {
            match rx.try_recv(&mut buf) {
                Ok(n) => assert_eq!(&buf[..n], &model.pop_front().unwrap()[..]),
                Err(_) => assert!(model.is_empty()),
            }
        }
    }
}

/// A view of a ring's bytes as the words its code accesses, for the scribbler.
struct Scribbler {
    /// (address, width in bytes) of every word that may be scribbled.
    words: Vec<(*const u8, usize)>,
}

// SAFETY: the pointers address atomically-accessed words of a ring that outlives the
// scribbler; sharing them between threads is what the test is about.
unsafe impl Sync for Scribbler {}

impl Scribbler {
    fn new(base: *const u8, u32_words: &[usize], u64_words: &[usize]) -> Self {
        let mut words = Vec::new();
        for &o in u32_words {
            words.push((base.wrapping_add(o), 4));
        }
        for &o in u64_words {
            words.push((base.wrapping_add(o), 8));
        }
        Self { words }
    }

    fn run(&self, stop: &AtomicBool, seed: u64) {
        let mut rng = Rng::new(seed);
        while !stop.load(Ordering::Relaxed) {
            let (addr, width) = self.words[rng.below(self.words.len() as u64) as usize];
            let v = match rng.below(4) {
                0 => 0,
                1 => rng.below(64),
                _ => rng.next_u64(),
            };
            // SAFETY: every address is an aligned word inside the ring, which outlives
            // the scribbler; the rings access these words only atomically, with the same
            // width, so this store races with them without undefined behaviour.
            unsafe {
                if width == 4 {
                    (*addr.cast::<AtomicU32>()).store(v as u32, Ordering::Relaxed);
                } else {
                    (*addr.cast::<AtomicU64>()).store(v, Ordering::Relaxed);
                }
            }
            std::thread::yield_now();
        }
    }
}

/// Runs `producer` and `consumer` for `STEPS` steps each while `scribbler` runs.
fn with_scribbler(
    scribbler: &Scribbler,
    producer: impl FnOnce() + Send,
    consumer: impl FnOnce() + Send,
) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| scribbler.run(&stop, 99));
        let p = s.spawn(producer);
        let c = s.spawn(consumer);
        p.join().unwrap();
        c.join().unwrap();
        stop.store(true, Ordering::Relaxed);
    });
}

#[test]
fn spsc_survives_scribbling() {
    type R = Spsc<u64, 16>;
    let ring = Box::new(R::new());
    // Offsets from the documented layout: tail line, head line, role words, slots.
    let slots: Vec<usize> = (0..16).map(|i| 384 + 8 * i).collect();
    let sc = Scribbler::new(
        (&*ring as *const R).cast(),
        // Role words (16 bytes each since ABI 2): the owner u64 at +0, the namespace
        // stamp u32 at +8 (the u32 at +12 is reserved, never accessed).
        &[0, 4, 128, 132, 264, 280],
        &[&[256, 272][..], &slots].concat(),
    );
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    with_scribbler(
        &sc,
        move || {
            let mut tx = tx;
            let mut rng = Rng::new(5);
            for i in 0..STEPS {
                match rng.below(3) {
                    0 => drop(tx.try_push(i)),
                    1 => drop(tx.push_slice(&[i; 5])),
                    _ => drop(tx.push(i, SHORT)),
                }
                let _ = tx.free_slots();
            }
        },
        move || {
            let mut rx = rx;
            let mut rng = Rng::new(6);
            let mut out = [0u64; 7];
            for _ in 0..STEPS {
                match rng.below(3) {
                    0 => drop(rx.try_pop()),
                    1 => drop(rx.pop_slice(&mut out)),
                    _ => drop(rx.pop(SHORT)),
                }
                let _ = rx.available_items();
            }
        },
    );
}

#[test]
fn mpmc_survives_scribbling() {
    type Q = Mpmc<u64, 8>;
    let q = Box::new(Q::new());
    let seqs: Vec<usize> = (0..8).map(|i| 256 + 16 * i).collect();
    let vals: Vec<usize> = (0..8).map(|i| 264 + 16 * i).collect();
    let sc = Scribbler::new(
        (&*q as *const Q).cast(),
        &[&[0, 4, 128, 132][..], &seqs].concat(),
        &vals,
    );
    let q = &*q;
    with_scribbler(
        &sc,
        move || {
            let mut rng = Rng::new(7);
            for i in 0..STEPS {
                if rng.below(2) == 0 {
                    let _ = q.try_push(i);
                } else {
                    let _ = q.push(i, SHORT);
                }
            }
        },
        move || {
            let mut rng = Rng::new(8);
            for _ in 0..STEPS {
                if rng.below(2) == 0 {
                    let _ = q.try_pop();
                } else {
                    let _ = q.pop(SHORT);
                }
            }
        },
    );
}

#[test]
fn msg_ring_survives_scribbling() {
    type R = MsgRing<256>;
    let ring = Box::new(R::new());
    let data: Vec<usize> = (0..32).map(|i| 384 + 8 * i).collect();
    let sc = Scribbler::new(
        (&*ring as *const R).cast(),
        &[0, 4, 128, 132, 264, 280],
        &[&[256, 272][..], &data].concat(),
    );
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    with_scribbler(
        &sc,
        move || {
            let mut tx = tx;
            let mut rng = Rng::new(9);
            let msg = [0xabu8; 120];
            for _ in 0..STEPS {
                let len = rng.below(R::MAX_MESSAGE as u64 + 1) as usize;
                match rng.below(3) {
                    0 => drop(tx.try_send(&msg[..len])),
                    1 => drop(tx.send(&msg[..len], SHORT)),
                    _ => {
                        if let Ok(mut g) = tx.try_reserve(len) {
                            g.write_at(0, &msg[..len]);
                            if rng.below(4) == 0 {
                                continue; // abandoned reservation
                            }
                            g.commit_len(rng.below(len as u64 + 1) as usize);
                        }
                    }
                }
            }
        },
        move || {
            let mut rx = rx;
            let mut rng = Rng::new(10);
            let mut buf = [0u8; 200];
            for _ in 0..STEPS {
                match rng.below(3) {
                    0 => drop(rx.try_recv(&mut buf[..rng.below(200) as usize])),
                    1 => drop(rx.recv(&mut buf, SHORT)),
                    _ => {
                        if let Ok(g) = rx.try_read() {
                            let n = g.len();
                            g.read_at(0, &mut buf[..n]);
                        }
                    }
                }
            }
        },
    );
}
