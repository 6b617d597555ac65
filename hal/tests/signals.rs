//! Signals delivered to a waiting thread do not end its wait: a timed wait still runs to its
//! deadline and reports TimedOut only then; an untimed wait never reports TimedOut.
//!
//! The SIGUSR1 handler is installed **without** `SA_RESTART`, so the kernel ends the futex
//! syscall with `EINTR` on every delivery and the backend's retry-against-the-same-deadline
//! path is what keeps the wait going. The syscall counters prove the syscall really was
//! interrupted and re-issued (more than one wait syscall for one `wait` call).
//!
//! Its own test binary, because the handler is process-wide.
//!
//! Not under Miri: it supports neither `sigaction` handlers nor `pthread_kill` delivery.
#![cfg(all(unix, not(miri)))]

mod common;

use common::{LIMIT, join_within};
use shmsync_hal::atomic::{AtomicBool, AtomicU32, Ordering};
use shmsync_hal::clock::Instant;
use shmsync_hal::{Wait, wait, wake_one};
use std::sync::{Arc, Once};
use std::thread::JoinHandle;
use std::time::Duration;

/// Signals the handler has run for (all threads).
static HANDLED: AtomicU32 = AtomicU32::new(0);

/// How many times a measurement is repeated when no signal happened to land inside the
/// wait (possible in principle if the signalling thread is starved for the whole wait).
const ATTEMPTS: usize = 5;

extern "C" fn on_sigusr1(_signal: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::Relaxed);
}

fn install_handler() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: an all-zero sigaction is a valid value to fill in.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = on_sigusr1 as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // No SA_RESTART: interrupted syscalls fail with EINTR instead of being restarted
        // by the kernel, which is the case the backend must handle itself.
        sa.sa_flags = 0;
        // SAFETY: `sa.sa_mask` is a valid sigset_t; the handler only does an atomic add,
        // which is async-signal-safe.
        let r = unsafe {
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut())
        };
        assert_eq!(r, 0, "sigaction: {}", std::io::Error::last_os_error());
    });
}

/// A `pthread_t` that may be sent to another thread.
#[derive(Clone, Copy)]
struct Target(libc::pthread_t);
// SAFETY: a pthread_t is an opaque id; the target (the test's own thread) outlives the
// signaller, which is joined before the test thread returns.
unsafe impl Send for Target {}

/// Sends SIGUSR1 to the calling thread every millisecond from another thread until the
/// returned flag is set; the handle yields how many signals were sent.
fn signal_me_repeatedly() -> (Arc<AtomicBool>, JoinHandle<u32>) {
    install_handler();
    // SAFETY: pthread_self has no preconditions.
    let me = Target(unsafe { libc::pthread_self() });
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let signaller = std::thread::spawn(move || {
        let target = me;
        let mut sent = 0;
        while !s.load(Ordering::Acquire) {
            // SAFETY: `target` is the test thread, alive until after this thread is joined.
            let r = unsafe { libc::pthread_kill(target.0, libc::SIGUSR1) };
            assert_eq!(r, 0, "pthread_kill failed: {r}");
            sent += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        sent
    });
    (stop, signaller)
}

/// Wait syscalls made by this thread so far (0 where the counters are not compiled in).
fn wait_syscalls() -> u64 {
    #[cfg(feature = "count-syscalls")]
    {
        shmsync_hal::count::snapshot().waits
    }
    #[cfg(not(feature = "count-syscalls"))]
    {
        0
    }
}

/// Whether the backend makes a wait syscall that signals can interrupt.
fn kernel_backend() -> bool {
    cfg!(all(
        feature = "count-syscalls",
        any(target_os = "linux", target_os = "android")
    ))
}

#[test]
fn signals_during_a_timed_wait_do_not_end_it_early() {
    const TIMEOUT: Duration = Duration::from_millis(200);
    let word = AtomicU32::new(0);
    for attempt in 1..=ATTEMPTS {
        let (stop, signaller) = signal_me_repeatedly();
        let handled_before = HANDLED.load(Ordering::Relaxed);
        let syscalls_before = wait_syscalls();
        let start = Instant::now();
        let r = wait(&word, 0, Some(TIMEOUT));
        let took = start.elapsed();
        let syscalls = wait_syscalls() - syscalls_before;
        stop.store(true, Ordering::Release);
        let sent = join_within(signaller, LIMIT);
        let handled = HANDLED.load(Ordering::Relaxed) - handled_before;

        assert_eq!(r, Wait::TimedOut);
        assert!(took >= TIMEOUT, "a signal cut the wait short: {took:?}");
        assert!(took < TIMEOUT + Duration::from_secs(5), "{took:?}");
        assert!(sent > 0 && handled > 0, "sent {sent}, handled {handled}");
        // More than one wait syscall: at least one was interrupted (EINTR) and re-issued
        // against the same deadline, and the wait still lasted the full timeout.
        if !kernel_backend() || syscalls >= 2 {
            return;
        }
        eprintln!("attempt {attempt}: no signal landed inside the wait; retrying");
    }
    panic!("no signal interrupted the wait syscall in {ATTEMPTS} attempts");
}

#[test]
fn signals_during_an_untimed_wait_never_report_a_timeout() {
    for attempt in 1..=ATTEMPTS {
        let word = Arc::new(AtomicU32::new(0));
        let (stop, signaller) = signal_me_repeatedly();
        // A second thread ends the wait after 200 ms of signals.
        let w = Arc::clone(&word);
        let waker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            w.store(1, Ordering::Release);
            wake_one(&w);
        });
        let syscalls_before = wait_syscalls();
        let mut early_returns = 0;
        while word.load(Ordering::Acquire) == 0 {
            assert_eq!(
                wait(&word, 0, None),
                Wait::Woken,
                "an untimed wait timed out"
            );
            if word.load(Ordering::Acquire) == 0 {
                early_returns += 1;
            }
        }
        let syscalls = wait_syscalls() - syscalls_before;
        stop.store(true, Ordering::Release);
        join_within(signaller, LIMIT);
        join_within(waker, LIMIT);

        if kernel_backend() {
            // The futex backend retries EINTR itself: a signal is not even a spurious wake.
            assert_eq!(early_returns, 0, "a signal ended an untimed wait");
            if syscalls < 2 {
                eprintln!("attempt {attempt}: no signal landed inside the wait; retrying");
                continue;
            }
        }
        return;
    }
    panic!("no signal interrupted the wait syscall in {ATTEMPTS} attempts");
}
