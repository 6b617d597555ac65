//! `wait` / `wake_one` / `wake_all` between threads of one process.
//!
//! On Linux outside Miri every waiter is first proven to sleep in the kernel's futex wait
//! (`/proc/self/task/<tid>`), so a wake that got lost, or a wait that returned without
//! sleeping, fails the test. Under Miri (which shims the futex syscall) the same tests run
//! without that proof; the ones whose assertion depends on it are not compiled there.

mod common;

use common::{LIMIT, await_thread_futex_sleep, current_tid, join_within};
use shmsync_hal::atomic::{AtomicU32, Ordering};
use shmsync_hal::clock::Instant;
use shmsync_hal::{Wait, wait, wait_until, wake_all, wake_one};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Whether the kernel futex backend is the active one (the syscall-count assertions and the
/// exact-wake-count assertions hold for it; the spin backend makes no syscall at all).
fn on_futex() -> bool {
    cfg!(any(target_os = "linux", target_os = "android"))
}

/// Runs `body` on a new thread, returning its handle and kernel thread id (for the `/proc`
/// proof; `None` under Miri) once the thread has started.
fn spawn_waiter<T: Send + 'static>(
    body: impl FnOnce() -> T + Send + 'static,
) -> (JoinHandle<T>, Option<i32>) {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        tx.send(current_tid()).expect("test thread gone");
        body()
    });
    let tid = rx.recv().expect("waiter thread died before starting");
    (handle, tid)
}

/// Waits on `word` while it holds `expected`, without a time limit, the way every caller
/// must (spurious returns are allowed). Returns how many times `wait` returned.
fn wait_while_equal(word: &AtomicU32, expected: u32) -> u32 {
    let mut returns = 0;
    while word.load(Ordering::Acquire) == expected {
        assert_eq!(
            wait(word, expected, None),
            Wait::Woken,
            "an untimed wait timed out"
        );
        returns += 1;
    }
    returns
}

// The zero-syscall proofs below are `cfg`'d on the counters: make sure the self
// dev-dependency in hal/Cargo.toml really compiles them in, so they cannot be skipped
// silently.
const _: () = assert!(
    cfg!(feature = "count-syscalls") && cfg!(feature = "std"),
    "hal tests need the `std` and `count-syscalls` features (hal/Cargo.toml dev-dependency)"
);

#[test]
fn the_active_backend_is_futex_on_linux() {
    if on_futex() {
        assert_eq!(shmsync_hal::backend(), shmsync_hal::Backend::Futex);
        assert_eq!(
            shmsync_hal::backend().protocol(),
            shmsync_hal::WakeProtocol::KernelAddress
        );
    }
}

#[test]
fn wake_one_wakes_a_blocked_waiter() {
    let word = Arc::new(AtomicU32::new(0));
    let w = Arc::clone(&word);
    let (waiter, tid) = spawn_waiter(move || wait_while_equal(&w, 0));
    await_thread_futex_sleep(tid, &*word);
    word.store(1, Ordering::Release);
    wake_one(&word);
    let returns = join_within(waiter, LIMIT);
    assert!(returns >= 1, "the waiter never waited");
}

// Needs the `/proc` proof that both waiters sleep before the single wake: Linux, not Miri.
#[cfg(all(target_os = "linux", not(miri)))]
#[test]
fn wake_one_wakes_exactly_one_of_two_blocked_waiters() {
    use shmsync_hal::atomic::AtomicBool;

    let word = Arc::new(AtomicU32::new(0));
    let done = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
    let mut waiters = Vec::new();
    for i in 0..2 {
        let (w, d) = (Arc::clone(&word), Arc::clone(&done));
        let (h, tid) = spawn_waiter(move || {
            // One call, not a loop: a second wake must not be absorbed by a re-wait.
            let r = wait(&w, 0, None);
            d[i].store(true, Ordering::Release);
            r
        });
        await_thread_futex_sleep(tid, &*word);
        waiters.push((h, tid));
    }
    word.store(1, Ordering::Release);
    wake_one(&word);
    common::poll_until("one waiter woken", LIMIT, || {
        done.iter().any(|d| d.load(Ordering::Acquire))
    });
    // The other one still sleeps in the kernel even though the word changed: futex waits
    // do not re-check the word, only a wake ends them.
    let still = usize::from(done[0].load(Ordering::Acquire));
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !done[still].load(Ordering::Acquire),
        "wake_one woke both waiters"
    );
    await_thread_futex_sleep(waiters[still].1, &*word);
    wake_one(&word);
    for (h, _) in waiters {
        assert_eq!(join_within(h, LIMIT), Wait::Woken);
    }
}

#[test]
fn wake_all_wakes_every_blocked_waiter() {
    const WAITERS: usize = 4;
    let word = Arc::new(AtomicU32::new(0));
    let mut handles = Vec::new();
    for _ in 0..WAITERS {
        let w = Arc::clone(&word);
        let (h, tid) = spawn_waiter(move || wait_while_equal(&w, 0));
        await_thread_futex_sleep(tid, &*word);
        handles.push(h);
    }
    word.store(1, Ordering::Release);
    // One call must release all of them: a wake_all that woke only some leaves the others
    // asleep on an unchanged-looking futex forever, and join_within fails.
    wake_all(&word);
    for h in handles {
        assert!(join_within(h, LIMIT) >= 1);
    }
}

#[test]
fn mismatched_expected_returns_at_once_without_sleeping() {
    let word = AtomicU32::new(5);
    // A long timeout: had the call slept, it would have come back TimedOut after 30 s.
    let start = Instant::now();
    assert_eq!(wait(&word, 4, Some(Duration::from_secs(30))), Wait::Woken);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    let deadline = Instant::now().checked_add(Duration::from_secs(30));
    assert_eq!(wait_until(&word, 4, deadline), Wait::Woken);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );

    // No time limit at all: on a thread, so a sleeping wait fails the test instead of
    // hanging it.
    let word = Arc::new(AtomicU32::new(7));
    let w = Arc::clone(&word);
    let h = std::thread::spawn(move || {
        #[cfg(feature = "count-syscalls")]
        let before = shmsync_hal::count::snapshot();
        let r = (
            wait(&w, 6, None),
            wait(&w, u32::MAX, None),
            wait(&w, 0, None),
        );
        #[cfg(feature = "count-syscalls")]
        if on_futex() {
            // One FUTEX_WAIT each, answered EAGAIN by the kernel: no retry, no sleep.
            let d = shmsync_hal::count::snapshot() - before;
            assert_eq!((d.waits, d.wakes), (3, 0));
        }
        r
    });
    assert_eq!(
        join_within(h, LIMIT),
        (Wait::Woken, Wait::Woken, Wait::Woken)
    );
}

#[test]
fn zero_timeout_only_compares() {
    let word = AtomicU32::new(3);
    #[cfg(feature = "count-syscalls")]
    let before = shmsync_hal::count::snapshot();
    // Equal: it would have slept, so it reports a timeout; unequal: Woken.
    assert_eq!(wait(&word, 3, Some(Duration::ZERO)), Wait::TimedOut);
    assert_eq!(wait(&word, 2, Some(Duration::ZERO)), Wait::Woken);
    word.store(u32::MAX, Ordering::Relaxed);
    assert_eq!(wait(&word, u32::MAX, Some(Duration::ZERO)), Wait::TimedOut);
    assert_eq!(wait(&word, 3, Some(Duration::ZERO)), Wait::Woken);
    #[cfg(feature = "count-syscalls")]
    {
        let d = shmsync_hal::count::snapshot() - before;
        assert_eq!((d.waits, d.wakes), (0, 0), "a zero timeout made a syscall");
    }
}

#[test]
fn wait_until_a_past_deadline_only_compares() {
    let word = AtomicU32::new(9);
    let now = Instant::now();
    let past = [
        Instant::from_nanos(0),
        Instant::from_nanos(now.as_nanos().saturating_sub(1_000_000)),
        now,
    ];
    #[cfg(feature = "count-syscalls")]
    let before = shmsync_hal::count::snapshot();
    for d in past {
        assert_eq!(wait_until(&word, 9, Some(d)), Wait::TimedOut, "{d:?}");
        assert_eq!(wait_until(&word, 8, Some(d)), Wait::Woken, "{d:?}");
    }
    #[cfg(feature = "count-syscalls")]
    {
        let d = shmsync_hal::count::snapshot() - before;
        assert_eq!((d.waits, d.wakes), (0, 0), "a past deadline made a syscall");
    }
}

#[test]
fn wakes_with_nobody_waiting_are_harmless() {
    let word = AtomicU32::new(0);
    #[cfg(feature = "count-syscalls")]
    let before = shmsync_hal::count::snapshot();
    wake_one(&word);
    wake_all(&word);
    assert_eq!(word.load(Ordering::Relaxed), 0, "a wake changed the word");
    #[cfg(feature = "count-syscalls")]
    if on_futex() {
        // Exactly one FUTEX_WAKE each (callers skip even that with a "parked" flag).
        let d = shmsync_hal::count::snapshot() - before;
        assert_eq!((d.waits, d.wakes), (0, 2));
    }
}

/// Plays one side of a ping-pong: waits (untimed) until `word` holds this side's turn,
/// then passes the turn on and wakes the other side. Turns: `start`, `start + 2`, ...
fn play(word: &AtomicU32, start: u32, rounds: u32) {
    for i in 0..rounds {
        let mine = start + 2 * i;
        loop {
            let v = word.load(Ordering::Acquire);
            if v == mine {
                break;
            }
            wait(word, v, None);
        }
        word.store(mine + 1, Ordering::Release);
        wake_one(word);
    }
}

/// Two threads hand a turn back and forth through one word many times, each sleeping with
/// no time limit whenever the turn is not its own: a single lost wake leaves both asleep
/// forever and `join_within` fails.
#[test]
fn ping_pong_never_loses_a_wake() {
    let rounds: u32 = if cfg!(miri) { 200 } else { 20_000 };
    let word = Arc::new(AtomicU32::new(0));
    let sides: Vec<_> = [0, 1]
        .into_iter()
        .map(|start| {
            let w = Arc::clone(&word);
            std::thread::spawn(move || play(&w, start, rounds))
        })
        .collect();
    for side in sides {
        join_within(side, LIMIT);
    }
    assert_eq!(word.load(Ordering::Acquire), 2 * rounds);
}
