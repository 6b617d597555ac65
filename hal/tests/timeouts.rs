//! Timed waits: every positive timeout, however small, ends in bounded time and no earlier
//! than asked; deadlines in the past only compare; timeouts too large for the clock
//! saturate to "no limit" instead of overflowing.
//!
//! Lower bounds are exact (the futex backend sleeps to an absolute deadline on the very
//! clock measured here); upper bounds are deliberately loose — correctness, not speed.

mod common;

use common::{LIMIT, await_thread_futex_sleep, current_tid, join_within};
use shmsync_hal::atomic::{AtomicU32, Ordering};
use shmsync_hal::clock::Instant;
use shmsync_hal::{Wait, wait, wait_until, wake_one};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// Slack allowed above a timeout before calling it "not bounded": a 1 ns timeout that
/// sleeps forever, or a rounding that turns microseconds into seconds, exceeds it; a
/// descheduled thread on a loaded machine does not.
const SLACK: Duration = Duration::from_secs(5);

#[test]
fn small_and_medium_timeouts_time_out_no_earlier_than_asked() {
    let word = AtomicU32::new(0);
    for t in [
        Duration::from_nanos(1),
        Duration::from_nanos(999),
        Duration::from_micros(1),
        Duration::from_millis(1),
        Duration::from_millis(50),
    ] {
        let start = Instant::now();
        let r = wait(&word, 0, Some(t));
        let took = start.elapsed();
        assert_eq!(r, Wait::TimedOut, "timeout {t:?}");
        assert!(took >= t, "timeout {t:?} returned after only {took:?}");
        assert!(took < t + SLACK, "timeout {t:?} took {took:?}");
    }
}

#[test]
fn a_future_deadline_times_out_at_or_after_it() {
    let word = AtomicU32::new(0);
    for t in [Duration::from_nanos(1), Duration::from_millis(2)] {
        let deadline = Instant::now().checked_add(t).expect("clock range");
        assert_eq!(wait_until(&word, 0, Some(deadline)), Wait::TimedOut);
        let now = Instant::now();
        assert!(
            now >= deadline,
            "returned {:?} early",
            deadline.saturating_duration_since(now)
        );
        assert!(now.saturating_duration_since(deadline) < SLACK);
    }
}

/// A timed wait on a word that changes is woken, not timed out, and the timed path does
/// not swallow the wake.
#[test]
fn a_timed_wait_is_woken_before_its_timeout() {
    let word = Arc::new(AtomicU32::new(0));
    let w = Arc::clone(&word);
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        tx.send(current_tid()).expect("test thread gone");
        let start = Instant::now();
        let r = wait(&w, 0, Some(Duration::from_secs(60)));
        (r, start.elapsed())
    });
    await_thread_futex_sleep(rx.recv().expect("waiter died"), &*word);
    word.store(1, Ordering::Release);
    wake_one(&word);
    let (r, took) = join_within(waiter, LIMIT);
    assert_eq!(r, Wait::Woken);
    assert!(took < Duration::from_secs(60), "{took:?}");
}

/// The two ways to bound a wait.
#[derive(Debug, Clone, Copy)]
enum Limit {
    Timeout(Option<Duration>),
    Deadline(Option<Instant>),
}

/// Waits that cannot be represented as a deadline on the clock (or only just can) must not
/// panic, overflow into a deadline in the past (returning TimedOut at once), or wrap to a
/// tiny timeout: each one sleeps until the word is changed and woken.
#[test]
fn huge_timeouts_saturate_to_no_limit() {
    let now_ns = Instant::now().as_nanos();
    let timeouts = [
        Some(Duration::MAX),
        Some(Duration::from_secs(u64::MAX)),
        Some(Duration::from_nanos(u64::MAX)),
        // Just inside the clock's range: a deadline ~1 s before u64::MAX ns (~584 years).
        Some(Duration::from_nanos(u64::MAX - now_ns - 1_000_000_000)),
    ];
    let deadlines = [
        Some(Instant::from_nanos(u64::MAX)),
        Some(Instant::from_nanos(u64::MAX - 1_000_000_000)),
        Some(Instant::from_nanos(i64::MAX as u64)),
    ];
    let limits = timeouts
        .into_iter()
        .map(Limit::Timeout)
        .chain(deadlines.into_iter().map(Limit::Deadline));
    for limit in limits {
        let word = Arc::new(AtomicU32::new(0));
        let w = Arc::clone(&word);
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            tx.send(current_tid()).expect("test thread gone");
            match limit {
                Limit::Timeout(t) => wait(&w, 0, t),
                Limit::Deadline(d) => wait_until(&w, 0, d),
            }
        });
        await_thread_futex_sleep(rx.recv().expect("waiter died"), &*word);
        word.store(1, Ordering::Release);
        wake_one(&word);
        assert_eq!(join_within(waiter, LIMIT), Wait::Woken, "{limit:?}");
    }
}
