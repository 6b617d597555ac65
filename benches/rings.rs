//! Ring benchmarks, one harness, every ring with the same capacity (1024 items of `u64`).
//!
//! * `spsc_throughput/*`: time to move 100,000 items from a producer thread to a consumer
//!   thread, one `try_push` / `try_pop` at a time, spinning on full/empty; criterion
//!   reports it per item (`Throughput::Elements`). shmsync's `Spsc` against `rtrb`,
//!   `ringbuf` (`HeapRb`), `crossbeam-queue` (`ArrayQueue`) and `heapless::spsc::Queue`
//!   (which holds N − 1 items: 1023), plus shmsync's slice operations (blocks of 64).
//! * `round_trip/*`: one ping-pong between two threads: through two `Spsc` rings (push on
//!   one, the echo thread pops it and pushes it back on the other) against a bare pair of
//!   `AtomicU32` flags, measured in the same run.
//!
//! * `spsc_pinned_10m/*`: **the cross-core throughput figure.** 10,000,000 `u64`s from a
//!   producer thread pinned to CPU 0 to a consumer pinned to CPU 1 (`sched_setaffinity`,
//!   see `benches/pin`), one `try_push` / `try_pop` at a time, spinning with `spin_loop`
//!   on full/empty, capacity 1024; both threads start together from a spinning start line
//!   and the consumer stamps the time every 10,000 items; an iteration's time is the
//!   **median** 10,000-item chunk × 1,000 (criterion divides by the 10M items), so a chunk
//!   in which the machine preempted either pinned thread does not count. shmsync's
//!   `Spsc` against `rtrb`, `ringbuf` and `crossbeam-queue` in the same run. Unlike
//!   `spsc_throughput` (unpinned: on a busy 2-CPU machine both threads often share a core,
//!   which hides every cross-core cost) this one cannot measure scheduling instead of the
//!   ring.
//! * `round_trip_pinned/*`: one ping-pong per iteration between threads pinned to CPUs 0
//!   and 1: a bare one-line `AtomicU32` (each side writes the next count into the same
//!   word: the floor, one cache-line transfer per direction), two `rtrb` rings, and two
//!   shmsync `Spsc` rings (spinning on `try_pop`, and `pop(None)` with the default spin
//!   window: the adaptive row, whose context switches per round trip are printed). The
//!   driver stamps the time every 100 round trips; an iteration's time is the median
//!   chunk × chunks, for the same reason as above.
//!
//! `cargo bench --bench rings` (add `-- --measurement-time 2` etc. on a noisy machine;
//! `-- pinned` runs only the pinned cases).

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use shmsync::arch::CachePadded;
use shmsync::ring::Spsc;
use std::hint::{black_box, spin_loop};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

mod pin;

const CAP: usize = 1024;
const ITEMS: u64 = 100_000;
const STOP: u64 = u64::MAX;

/// Runs `produce` on this thread and `consume` on a new one; returns the elapsed time.
fn transfer(produce: impl FnOnce() + Send, consume: impl FnOnce() + Send) -> Duration {
    std::thread::scope(|s| {
        let start = Instant::now();
        let c = s.spawn(consume);
        produce();
        c.join().unwrap();
        start.elapsed()
    })
}

fn iter_transfers(iters: u64, mut one: impl FnMut() -> Duration) -> Duration {
    (0..iters).map(|_| one()).sum()
}

fn spsc_throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("spsc_throughput");
    g.throughput(Throughput::Elements(ITEMS));

    g.bench_function(BenchmarkId::new("shmsync_spsc", CAP), |b| {
        let ring = Box::new(Spsc::<u64, CAP>::new());
        b.iter_custom(|iters| {
            iter_transfers(iters, || {
                let mut tx = ring.producer().unwrap();
                let mut rx = ring.consumer().unwrap();
                transfer(
                    move || {
                        for i in 0..ITEMS {
                            while tx.try_push(i).is_err() {
                                spin_loop();
                            }
                        }
                    },
                    move || {
                        for _ in 0..ITEMS {
                            loop {
                                if let Ok(v) = rx.try_pop() {
                                    black_box(v);
                                    break;
                                }
                                spin_loop();
                            }
                        }
                    },
                )
            })
        })
    });

    g.bench_function(BenchmarkId::new("shmsync_spsc_slices64", CAP), |b| {
        let ring = Box::new(Spsc::<u64, CAP>::new());
        b.iter_custom(|iters| {
            iter_transfers(iters, || {
                let mut tx = ring.producer().unwrap();
                let mut rx = ring.consumer().unwrap();
                transfer(
                    move || {
                        let block: Vec<u64> = (0..64).collect();
                        let mut sent = 0;
                        while sent < ITEMS {
                            let n = (ITEMS - sent).min(64) as usize;
                            sent += tx.push_slice(&block[..n]).unwrap() as u64;
                        }
                    },
                    move || {
                        let mut out = [0u64; 64];
                        let mut got = 0;
                        while got < ITEMS {
                            let n = rx.pop_slice(&mut out).unwrap();
                            black_box(&out[..n]);
                            got += n as u64;
                        }
                    },
                )
            })
        })
    });

    g.bench_function(BenchmarkId::new("rtrb", CAP), |b| {
        b.iter_custom(|iters| {
            iter_transfers(iters, || {
                let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAP);
                transfer(
                    move || {
                        for i in 0..ITEMS {
                            while tx.push(i).is_err() {
                                spin_loop();
                            }
                        }
                    },
                    move || {
                        for _ in 0..ITEMS {
                            loop {
                                if let Ok(v) = rx.pop() {
                                    black_box(v);
                                    break;
                                }
                                spin_loop();
                            }
                        }
                    },
                )
            })
        })
    });

    g.bench_function(BenchmarkId::new("ringbuf", CAP), |b| {
        use ringbuf::traits::{Consumer, Producer, Split};
        b.iter_custom(|iters| {
            iter_transfers(iters, || {
                let (mut tx, mut rx) = ringbuf::HeapRb::<u64>::new(CAP).split();
                transfer(
                    move || {
                        for i in 0..ITEMS {
                            while tx.try_push(i).is_err() {
                                spin_loop();
                            }
                        }
                    },
                    move || {
                        for _ in 0..ITEMS {
                            loop {
                                if let Some(v) = rx.try_pop() {
                                    black_box(v);
                                    break;
                                }
                                spin_loop();
                            }
                        }
                    },
                )
            })
        })
    });

    g.bench_function(BenchmarkId::new("crossbeam_array_queue", CAP), |b| {
        let q = crossbeam_queue::ArrayQueue::<u64>::new(CAP);
        b.iter_custom(|iters| {
            iter_transfers(iters, || {
                transfer(
                    || {
                        for i in 0..ITEMS {
                            while q.push(i).is_err() {
                                spin_loop();
                            }
                        }
                    },
                    || {
                        for _ in 0..ITEMS {
                            loop {
                                if let Some(v) = q.pop() {
                                    black_box(v);
                                    break;
                                }
                                spin_loop();
                            }
                        }
                    },
                )
            })
        })
    });

    g.bench_function(BenchmarkId::new("heapless_spsc", CAP), |b| {
        let mut q = Box::new(heapless::spsc::Queue::<u64, CAP>::new());
        b.iter_custom(|iters| {
            iter_transfers(iters, || {
                let (mut tx, mut rx) = q.split();
                transfer(
                    move || {
                        for i in 0..ITEMS {
                            while tx.enqueue(i).is_err() {
                                spin_loop();
                            }
                        }
                    },
                    move || {
                        for _ in 0..ITEMS {
                            loop {
                                if let Some(v) = rx.dequeue() {
                                    black_box(v);
                                    break;
                                }
                                spin_loop();
                            }
                        }
                    },
                )
            })
        })
    });
    g.finish();
}

/// Single-thread cost of the operations themselves (no cache-line transfer between cores,
/// no scheduler in the way): push 256 items, then pop them, per item. On a machine whose
/// cores are busy with other work, this is the comparison that stays meaningful.
fn spsc_single_thread(c: &mut Criterion) {
    const BATCH: u64 = 256;
    let mut g = c.benchmark_group("spsc_single_thread");
    g.throughput(Throughput::Elements(BATCH));

    g.bench_function(BenchmarkId::new("shmsync_spsc", CAP), |b| {
        let ring = Box::new(Spsc::<u64, CAP>::new());
        let mut tx = ring.producer().unwrap();
        let mut rx = ring.consumer().unwrap();
        b.iter(|| {
            for i in 0..BATCH {
                tx.try_push(black_box(i)).unwrap();
            }
            for _ in 0..BATCH {
                black_box(rx.try_pop().unwrap());
            }
        })
    });
    g.bench_function(BenchmarkId::new("shmsync_spsc_slices64", CAP), |b| {
        let ring = Box::new(Spsc::<u64, CAP>::new());
        let mut tx = ring.producer().unwrap();
        let mut rx = ring.consumer().unwrap();
        let block: Vec<u64> = (0..64).collect();
        let mut out = [0u64; 64];
        b.iter(|| {
            for _ in 0..BATCH / 64 {
                tx.push_slice(black_box(&block)).unwrap();
            }
            for _ in 0..BATCH / 64 {
                rx.pop_slice(&mut out).unwrap();
                black_box(&out);
            }
        })
    });
    g.bench_function(BenchmarkId::new("rtrb", CAP), |b| {
        let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAP);
        b.iter(|| {
            for i in 0..BATCH {
                tx.push(black_box(i)).unwrap();
            }
            for _ in 0..BATCH {
                black_box(rx.pop().unwrap());
            }
        })
    });
    g.bench_function(BenchmarkId::new("ringbuf", CAP), |b| {
        use ringbuf::traits::{Consumer, Producer, Split};
        let (mut tx, mut rx) = ringbuf::HeapRb::<u64>::new(CAP).split();
        b.iter(|| {
            for i in 0..BATCH {
                tx.try_push(black_box(i)).unwrap();
            }
            for _ in 0..BATCH {
                black_box(rx.try_pop().unwrap());
            }
        })
    });
    g.bench_function(BenchmarkId::new("crossbeam_array_queue", CAP), |b| {
        let q = crossbeam_queue::ArrayQueue::<u64>::new(CAP);
        b.iter(|| {
            for i in 0..BATCH {
                q.push(black_box(i)).unwrap();
            }
            for _ in 0..BATCH {
                black_box(q.pop().unwrap());
            }
        })
    });
    g.bench_function(BenchmarkId::new("heapless_spsc", CAP), |b| {
        let mut q = Box::new(heapless::spsc::Queue::<u64, CAP>::new());
        let (mut tx, mut rx) = q.split();
        b.iter(|| {
            for i in 0..BATCH {
                tx.enqueue(black_box(i)).unwrap();
            }
            for _ in 0..BATCH {
                black_box(rx.dequeue().unwrap());
            }
        })
    });
    g.finish();
}

fn round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("round_trip");

    g.bench_function("shmsync_two_spsc_rings", |b| {
        let ping = Box::new(Spsc::<u64, CAP>::new());
        let pong = Box::new(Spsc::<u64, CAP>::new());
        b.iter_custom(|iters| {
            std::thread::scope(|s| {
                s.spawn(|| {
                    let mut rx = ping.consumer().unwrap();
                    let mut tx = pong.producer().unwrap();
                    loop {
                        match rx.try_pop() {
                            Ok(STOP) => break,
                            Ok(v) => {
                                while tx.try_push(v).is_err() {
                                    spin_loop();
                                }
                            }
                            Err(_) => spin_loop(),
                        }
                    }
                });
                let mut tx = ping.producer().unwrap();
                let mut rx = pong.consumer().unwrap();
                let start = Instant::now();
                for i in 0..iters {
                    tx.try_push(i).unwrap();
                    loop {
                        if let Ok(v) = rx.try_pop() {
                            black_box(v);
                            break;
                        }
                        spin_loop();
                    }
                }
                let t = start.elapsed();
                tx.try_push(STOP).unwrap();
                t
            })
        })
    });

    g.bench_function("bare_atomic_u32_ping_pong", |b| {
        let ping = CachePadded::new(AtomicU32::new(0));
        let pong = CachePadded::new(AtomicU32::new(0));
        b.iter_custom(|iters| {
            ping.store(0, Ordering::Relaxed);
            pong.store(0, Ordering::Relaxed);
            std::thread::scope(|s| {
                s.spawn(|| {
                    let mut last = 0;
                    loop {
                        let v = ping.load(Ordering::Acquire);
                        if v != last {
                            if v == u32::MAX {
                                break;
                            }
                            pong.store(v, Ordering::Release);
                            last = v;
                        } else {
                            spin_loop();
                        }
                    }
                });
                let start = Instant::now();
                for i in 1..=iters as u32 {
                    ping.store(i, Ordering::Release);
                    while pong.load(Ordering::Acquire) != i {
                        spin_loop();
                    }
                }
                let t = start.elapsed();
                ping.store(u32::MAX, Ordering::Release);
                t
            })
        })
    });
    g.finish();
}

/// Items per pinned throughput run.
const PINNED_ITEMS: u64 = 10_000_000;

/// Items per timed chunk of a pinned throughput run (1,000 chunks per run).
const CHUNK: u64 = 10_000;

/// The consumer's loop of a pinned run: pops `PINNED_ITEMS` with `pop`, spinning while it
/// returns `None`, stamping every [`CHUNK`] items; returns the run's median-chunk cost
/// (see `pin::Stamps::median_total`).
#[inline(always)]
fn drain(mut pop: impl FnMut() -> Option<u64>) -> Duration {
    let mut stamps = pin::Stamps::new(PINNED_ITEMS, CHUNK);
    let mut sum = 0u64;
    stamps.start();
    for i in 0..PINNED_ITEMS {
        loop {
            if let Some(v) = pop() {
                sum = sum.wrapping_add(v);
                break;
            }
            spin_loop();
        }
        stamps.tick(i);
    }
    black_box(sum);
    stamps.median_total(PINNED_ITEMS)
}

/// The producer's loop of a pinned run.
#[inline(always)]
fn fill(mut push: impl FnMut(u64) -> bool) {
    for i in 0..PINNED_ITEMS {
        while !push(i) {
            spin_loop();
        }
    }
}

fn spsc_pinned(c: &mut Criterion) {
    let mut g = c.benchmark_group("spsc_pinned_10m");
    g.throughput(Throughput::Elements(PINNED_ITEMS));
    g.sample_size(10);
    g.sampling_mode(criterion::SamplingMode::Flat);
    g.warm_up_time(Duration::from_millis(500));

    g.bench_function("shmsync_spsc", |b| {
        let ring = Box::new(Spsc::<u64, CAP>::new());
        b.iter_custom(|iters| {
            iter_transfers(iters, || {
                let mut tx = ring.producer().unwrap();
                let mut rx = ring.consumer().unwrap();
                pin::pinned_pair_with(
                    move || fill(|i| tx.try_push(i).is_ok()),
                    move || drain(|| rx.try_pop().ok()),
                )
                .2
            })
        })
    });
    g.bench_function("rtrb", |b| {
        b.iter_custom(|iters| {
            iter_transfers(iters, || {
                let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(CAP);
                pin::pinned_pair_with(
                    move || fill(|i| tx.push(i).is_ok()),
                    move || drain(|| rx.pop().ok()),
                )
                .2
            })
        })
    });
    g.bench_function("ringbuf", |b| {
        use ringbuf::traits::{Consumer, Producer, Split};
        b.iter_custom(|iters| {
            iter_transfers(iters, || {
                let (mut tx, mut rx) = ringbuf::HeapRb::<u64>::new(CAP).split();
                pin::pinned_pair_with(
                    move || fill(|i| tx.try_push(i).is_ok()),
                    move || drain(|| rx.try_pop()),
                )
                .2
            })
        })
    });
    g.bench_function("crossbeam_array_queue", |b| {
        let q = crossbeam_queue::ArrayQueue::<u64>::new(CAP);
        b.iter_custom(|iters| {
            iter_transfers(iters, || {
                pin::pinned_pair_with(|| fill(|i| q.push(i).is_ok()), || drain(|| q.pop())).2
            })
        })
    });
    g.finish();
}

/// Round trips per timed chunk of a pinned ping-pong run.
const RTT_CHUNK: u64 = 100;

/// An iteration's time: the median chunk's rate (see `pin::Stamps::median_total`) when
/// the run had at least 10 chunks, the wall time otherwise.
fn rtt_time(iters: u64, wall: Duration, median: Duration) -> Duration {
    if iters >= 10 * RTT_CHUNK {
        median
    } else {
        wall
    }
}

fn round_trip_pinned(c: &mut Criterion) {
    let mut g = c.benchmark_group("round_trip_pinned");
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(500));

    g.bench_function("bare_atomic_one_line", |b| {
        let word = CachePadded::new(AtomicU32::new(0));
        b.iter_custom(|iters| {
            word.store(0, Ordering::Relaxed);
            let n = iters as u32;
            // The driver writes odd counts, the echo even ones, into the same word.
            let (wall, median, ()) = pin::pinned_pair_with(
                || {
                    let mut st = pin::Stamps::new(iters, RTT_CHUNK);
                    st.start();
                    for k in 0..n {
                        word.store(2 * k + 1, Ordering::Release);
                        while word.load(Ordering::Acquire) != 2 * k + 2 {
                            spin_loop();
                        }
                        st.tick(u64::from(k));
                    }
                    st.median_total(iters)
                },
                || {
                    for k in 0..n {
                        while word.load(Ordering::Acquire) != 2 * k + 1 {
                            spin_loop();
                        }
                        word.store(2 * k + 2, Ordering::Release);
                    }
                },
            );
            rtt_time(iters, wall, median)
        })
    });
    g.bench_function("rtrb_two_rings", |b| {
        b.iter_custom(|iters| {
            let (mut ping_tx, mut ping_rx) = rtrb::RingBuffer::<u64>::new(CAP);
            let (mut pong_tx, mut pong_rx) = rtrb::RingBuffer::<u64>::new(CAP);
            let (wall, median, ()) = pin::pinned_pair_with(
                move || {
                    let mut st = pin::Stamps::new(iters, RTT_CHUNK);
                    st.start();
                    for i in 0..iters {
                        ping_tx.push(i).unwrap();
                        loop {
                            if let Ok(v) = pong_rx.pop() {
                                black_box(v);
                                break;
                            }
                            spin_loop();
                        }
                        st.tick(i);
                    }
                    st.median_total(iters)
                },
                move || {
                    for _ in 0..iters {
                        let v = loop {
                            if let Ok(v) = ping_rx.pop() {
                                break v;
                            }
                            spin_loop();
                        };
                        while pong_tx.push(v).is_err() {
                            spin_loop();
                        }
                    }
                },
            );
            rtt_time(iters, wall, median)
        })
    });
    g.bench_function("shmsync_two_spsc_spin", |b| {
        let ping = Box::new(Spsc::<u64, CAP>::new());
        let pong = Box::new(Spsc::<u64, CAP>::new());
        b.iter_custom(|iters| {
            let (mut ping_tx, mut ping_rx) = (ping.producer().unwrap(), ping.consumer().unwrap());
            let (mut pong_tx, mut pong_rx) = (pong.producer().unwrap(), pong.consumer().unwrap());
            let (wall, median, ()) = pin::pinned_pair_with(
                move || {
                    let mut st = pin::Stamps::new(iters, RTT_CHUNK);
                    st.start();
                    for i in 0..iters {
                        ping_tx.try_push(i).unwrap();
                        loop {
                            if let Ok(v) = pong_rx.try_pop() {
                                black_box(v);
                                break;
                            }
                            spin_loop();
                        }
                        st.tick(i);
                    }
                    st.median_total(iters)
                },
                move || {
                    for _ in 0..iters {
                        let v = loop {
                            if let Ok(v) = ping_rx.try_pop() {
                                break v;
                            }
                            spin_loop();
                        };
                        while pong_tx.try_push(v).is_err() {
                            spin_loop();
                        }
                    }
                },
            );
            rtt_time(iters, wall, median)
        })
    });
    // Context switches of both threads and round trips, over every adaptive iteration.
    let switches = std::sync::atomic::AtomicU64::new(0);
    let trips = std::sync::atomic::AtomicU64::new(0);
    g.bench_function("shmsync_two_spsc_adaptive", |b| {
        let ping = Box::new(Spsc::<u64, CAP>::new());
        let pong = Box::new(Spsc::<u64, CAP>::new());
        b.iter_custom(|iters| {
            let (mut ping_tx, mut ping_rx) = (ping.producer().unwrap(), ping.consumer().unwrap());
            let (mut pong_tx, mut pong_rx) = (pong.producer().unwrap(), pong.consumer().unwrap());
            let (wall, median, ()) = pin::pinned_pair_with(
                || {
                    let cs = pin::context_switches();
                    let mut st = pin::Stamps::new(iters, RTT_CHUNK);
                    st.start();
                    for i in 0..iters {
                        ping_tx.try_push(i).unwrap();
                        black_box(pong_rx.pop(None).unwrap());
                        st.tick(i);
                    }
                    switches.fetch_add(pin::context_switches() - cs, Ordering::Relaxed);
                    st.median_total(iters)
                },
                || {
                    let cs = pin::context_switches();
                    for _ in 0..iters {
                        let v = ping_rx.pop(None).unwrap();
                        pong_tx.try_push(v).unwrap();
                    }
                    switches.fetch_add(pin::context_switches() - cs, Ordering::Relaxed);
                },
            );
            trips.fetch_add(iters, Ordering::Relaxed);
            rtt_time(iters, wall, median)
        });
    });
    g.finish();
    let (cs, n) = (
        switches.load(Ordering::Relaxed),
        trips.load(Ordering::Relaxed),
    );
    if n > 0 {
        eprintln!(
            "shmsync_two_spsc_adaptive: {:.4} context switches per round trip ({cs} in {n} \
             round trips, both threads, warm-up included)",
            cs as f64 / n as f64
        );
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = config(); targets = spsc_throughput, spsc_single_thread, round_trip, spsc_pinned, round_trip_pinned }
criterion_main!(benches);
