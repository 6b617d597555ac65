//! Wake latency: shmsync's hal next to a raw futex, in one run.
//!
//! ```text
//! cargo bench --bench wake                  # HTML report in target/criterion/report/
//! ```
//!
//! * `wake_no_waiter`: `hal::wake_one` on a word nobody waits on, against the bare
//!   `FUTEX_WAKE` syscall — the cost a waker pays when it does not keep a "someone is
//!   parked" flag.
//! * `wait_mismatch`: `hal::wait` whose expected value is already stale (the kernel
//!   compares and returns `EAGAIN`), against the bare `FUTEX_WAIT`.
//! * `round_trip`: two threads hand a counter back and forth, each parking on every
//!   message (wait while unchanged, store, wake): hal against the raw futex, the same
//!   protocol. The time is per round trip (two wakes, two parks).
//!
//! The raw futex functions are Linux-only; on other targets only the hal rows run.
//! Cross-*process* round trips are the `pingpong` example's job.

use criterion::{Criterion, criterion_main};
use shmsync::arch::CachePadded;
use shmsync::hal;
use shmsync::hal::atomic::{AtomicU32, Ordering};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A wait/wake pair to compare.
trait Park: Send + Sync + 'static {
    /// Blocks while `word == expected` (spurious returns allowed).
    fn wait(word: &AtomicU32, expected: u32);
    /// Wakes one waiter.
    fn wake(word: &AtomicU32);
}

/// shmsync's hal.
struct Hal;

impl Park for Hal {
    #[inline]
    fn wait(word: &AtomicU32, expected: u32) {
        hal::wait(word, expected, None);
    }
    #[inline]
    fn wake(word: &AtomicU32) {
        hal::wake_one(word);
    }
}

/// The bare Linux futex, shared (no `FUTEX_PRIVATE_FLAG`), as the hal uses it.
#[cfg(any(target_os = "linux", target_os = "android"))]
struct RawFutex;

#[cfg(any(target_os = "linux", target_os = "android"))]
impl Park for RawFutex {
    #[inline]
    fn wait(word: &AtomicU32, expected: u32) {
        // SAFETY: `word` is a live, aligned AtomicU32 the kernel only reads; a null
        // timeout waits without limit.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                expected,
                core::ptr::null::<libc::timespec>(),
            )
        };
    }
    #[inline]
    fn wake(word: &AtomicU32) {
        // SAFETY: FUTEX_WAKE uses the address only as a key; `word` is live.
        unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1) };
    }
}

/// The two words of a round trip, on separate cache lines.
#[derive(Default)]
struct Pair {
    ping: CachePadded<AtomicU32>,
    pong: CachePadded<AtomicU32>,
}

/// Sent on `ping` to stop the echo thread.
const STOP: u32 = u32::MAX;

/// Waits until `word` differs from `last`, parking every time it has not changed yet.
#[inline]
fn await_change<P: Park>(word: &AtomicU32, last: u32) -> u32 {
    loop {
        let v = word.load(Ordering::Acquire);
        if v != last {
            return v;
        }
        P::wait(word, last);
    }
}

/// `iters` round trips through an echo thread; returns the time they took.
fn round_trips<P: Park>(iters: u64) -> Duration {
    let pair = Arc::new(Pair::default());
    let echo = {
        let pair = Arc::clone(&pair);
        std::thread::spawn(move || {
            let mut last = 0;
            loop {
                last = await_change::<P>(&pair.ping, last);
                if last == STOP {
                    return;
                }
                pair.pong.store(last, Ordering::Release);
                P::wake(&pair.pong);
            }
        })
    };
    let mut seq = 0u32;
    let start = Instant::now();
    for _ in 0..iters {
        seq = if seq + 1 == STOP { 1 } else { seq + 1 };
        pair.ping.store(seq, Ordering::Release);
        P::wake(&pair.ping);
        let mut last = pair.pong.load(Ordering::Acquire);
        while last != seq {
            last = await_change::<P>(&pair.pong, last);
        }
    }
    let elapsed = start.elapsed();
    pair.ping.store(STOP, Ordering::Release);
    P::wake(&pair.ping);
    echo.join().expect("echo thread panicked");
    elapsed
}

fn wake_no_waiter(c: &mut Criterion) {
    let mut g = c.benchmark_group("wake_no_waiter");
    let word = AtomicU32::new(0);
    g.bench_function("hal", |b| b.iter(|| Hal::wake(black_box(&word))));
    #[cfg(any(target_os = "linux", target_os = "android"))]
    g.bench_function("raw_futex", |b| b.iter(|| RawFutex::wake(black_box(&word))));
    g.finish();
}

fn wait_mismatch(c: &mut Criterion) {
    let mut g = c.benchmark_group("wait_mismatch");
    let word = AtomicU32::new(1);
    // The word holds 1, the callers expect 0: the kernel compares and returns at once.
    g.bench_function("hal", |b| b.iter(|| Hal::wait(black_box(&word), 0)));
    #[cfg(any(target_os = "linux", target_os = "android"))]
    g.bench_function("raw_futex", |b| {
        b.iter(|| RawFutex::wait(black_box(&word), 0))
    });
    g.finish();
}

fn round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("round_trip");
    g.bench_function("hal", |b| b.iter_custom(round_trips::<Hal>));
    #[cfg(any(target_os = "linux", target_os = "android"))]
    g.bench_function("raw_futex", |b| b.iter_custom(round_trips::<RawFutex>));
    g.finish();
}

/// `criterion_group!` defines an undocumented `pub fn`; it lives here.
#[allow(missing_docs)]
mod group {
    use super::{round_trip, wait_mismatch, wake_no_waiter};
    criterion::criterion_group!(benches, wake_no_waiter, wait_mismatch, round_trip);
}
criterion_main!(group::benches);
