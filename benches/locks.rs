//! Lock benchmarks: shmsync's `Mutex` against `std::sync::Mutex` and `parking_lot::Mutex`
//! in the same run, uncontended and with two threads contending.
//!
//! `cargo bench --bench locks -- --warm-up-time 1 --measurement-time 3`
//!
//! * `uncontended/*`: one lock + increment + unlock on one thread (ns per iteration).
//! * `contended_2t/*`: two threads each doing one lock + increment + unlock per
//!   iteration; the time reported is wall time per iteration, i.e. per **pair** of
//!   critical sections (divide by two for ns per lock/unlock).
//!
//! * `contended_pinned/*`: **the contended figure.** Two threads pinned to CPUs 0 and 1
//!   (`sched_setaffinity`, see `benches/pin`), released together, each doing `iters`
//!   lock + increment + unlock; the time reported is wall time until both finished,
//!   divided by criterion per iteration — i.e. per **pair** of critical sections, like
//!   `contended_2t`, but never two threads time-sharing one core. shmsync against
//!   `parking_lot` and `std` in the same run.
//!
//! The shmsync mutex here lives in process memory; its code path is the same as in a
//! shared mapping (the futex is keyed by the backing page either way).

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::{Duration, Instant};

mod pin;

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("uncontended");
    let shm = shmsync::Mutex::new(0u64);
    // Warm the hal's process-identity cache outside the measurement.
    drop(shm.lock());
    g.bench_function("shmsync", |b| {
        b.iter(|| *black_box(&shm).lock().unwrap() += 1)
    });
    let std_m = std::sync::Mutex::new(0u64);
    g.bench_function("std", |b| {
        b.iter(|| *black_box(&std_m).lock().unwrap() += 1)
    });
    let pl = parking_lot::Mutex::new(0u64);
    g.bench_function("parking_lot", |b| b.iter(|| *black_box(&pl).lock() += 1));
    g.finish();
}

/// Runs `op` `iters` times on each of two threads released together; returns wall time.
fn two_threads(iters: u64, op: &(dyn Fn() + Sync)) -> Duration {
    let barrier = std::sync::Barrier::new(3);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                barrier.wait();
                for _ in 0..iters {
                    op();
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // Scope end joins both threads; the time includes their last operations.
        start
    })
    .elapsed()
}

fn contended(c: &mut Criterion) {
    let mut g = c.benchmark_group("contended_2t");
    let shm = shmsync::Mutex::new(0u64);
    drop(shm.lock());
    g.bench_function("shmsync", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|| {
                let mut v = shm.lock().unwrap();
                *v = black_box(*v + 1);
            })
        })
    });
    let std_m = std::sync::Mutex::new(0u64);
    g.bench_function("std", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|| {
                let mut v = std_m.lock().unwrap();
                *v = black_box(*v + 1);
            })
        })
    });
    let pl = parking_lot::Mutex::new(0u64);
    g.bench_function("parking_lot", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|| {
                let mut v = pl.lock();
                *v = black_box(*v + 1);
            })
        })
    });
    g.finish();
}

fn contended_pinned(c: &mut Criterion) {
    let mut g = c.benchmark_group("contended_pinned");
    fn run(iters: u64, op: &(dyn Fn() + Sync)) -> Duration {
        let body = || {
            for _ in 0..iters {
                op();
            }
        };
        pin::pinned_pair(body, body)
    }
    let shm = shmsync::Mutex::new(0u64);
    drop(shm.lock());
    g.bench_function("shmsync", |b| {
        b.iter_custom(|iters| {
            run(iters, &|| {
                let mut v = shm.lock().unwrap();
                *v = black_box(*v + 1);
            })
        })
    });
    let pl = parking_lot::Mutex::new(0u64);
    g.bench_function("parking_lot", |b| {
        b.iter_custom(|iters| {
            run(iters, &|| {
                let mut v = pl.lock();
                *v = black_box(*v + 1);
            })
        })
    });
    let std_m = std::sync::Mutex::new(0u64);
    g.bench_function("std", |b| {
        b.iter_custom(|iters| {
            run(iters, &|| {
                let mut v = std_m.lock().unwrap();
                *v = black_box(*v + 1);
            })
        })
    });
    g.finish();
}

criterion_group!(benches, uncontended, contended, contended_pinned);
criterion_main!(benches);
