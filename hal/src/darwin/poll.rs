//! Polling wait: the last resort of an os_sync or ulock wait that the kernel keeps
//! refusing (`EINVAL`, `EDOM` from a peer using another opcode or size on the word, endless
//! `EFAULT`/`ENOMEM`; see [`crate::retry`]).
//!
//! The waiter re-reads the word between short sleeps until it changes or the deadline
//! passes; wakes need nothing from it (the change of the word is seen by the next read).
//! It never misses a change for longer than one sleep, never spins a core, and never
//! panics: a corrupt or hostile peer can slow a waiter down, nothing more.
//!
//! Cost: a change is noticed within [`MAX_SLEEP_NS`] (1 ms) plus scheduling delay;
//! an idle waiter wakes about 1000 times a second once the sleeps have grown.

use crate::Wait;
use crate::atomic::{AtomicU32, Ordering};
use crate::clock::Instant;

/// Spin-loop hints before the first sleep (a change made within ~a microsecond is caught
/// without a syscall). `core::hint::spin_loop` emits the same `pause` / `isb sy` as
/// `shmsync_arch::cpu_relax` and, unlike inline assembly, also runs under Miri.
const SPINS: u32 = 64;
/// The first sleep: 1 µs, doubled after each sleep.
const FIRST_SLEEP_NS: u64 = 1_000;
/// The longest sleep: 1 ms, the worst added latency (an audio block is 1–10 ms).
pub(crate) const MAX_SLEEP_NS: u64 = 1_000_000;

/// Waits while `*word == expected` until `deadline`, by polling. Real-time class: may
/// block (sleeps).
pub(crate) fn wait_until(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Wait {
    for _ in 0..SPINS {
        if word.load(Ordering::Acquire) != expected {
            return Wait::Woken;
        }
        core::hint::spin_loop();
    }
    let mut sleep_ns = FIRST_SLEEP_NS;
    loop {
        if word.load(Ordering::Acquire) != expected {
            return Wait::Woken;
        }
        let nap = match deadline {
            None => sleep_ns,
            Some(d) => {
                let left = d.remaining();
                if left.is_zero() {
                    return Wait::TimedOut;
                }
                // `left` is below 584 years of ns (Instant is a u64 of ns).
                sleep_ns.min(left.as_nanos() as u64)
            }
        };
        let ts = libc::timespec {
            tv_sec: 0,
            // Below one second (MAX_SLEEP_NS), so it fits any `c_long`.
            tv_nsec: nap as libc::c_long,
        };
        // SAFETY: `ts` is a valid timespec with tv_nsec < 1e9; the remainder pointer may
        // be null. EINTR just ends this nap early: the loop re-reads the word and clock.
        unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
        sleep_ns = (sleep_ns * 2).min(MAX_SLEEP_NS);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use core::time::Duration;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn poll_times_out_and_sees_a_change_from_another_thread() {
        let w = Arc::new(AtomicU32::new(1));
        let d = Duration::from_millis(3);
        let start = Instant::now();
        assert_eq!(
            wait_until(&w, 1, Instant::now().checked_add(d)),
            Wait::TimedOut
        );
        assert!(start.elapsed() >= d);
        assert_eq!(wait_until(&w, 0, None), Wait::Woken);

        let w2 = w.clone();
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(2));
            w2.store(2, Ordering::Release);
        });
        // No wake is ever issued: polling alone must see the store.
        assert_eq!(wait_until(&w, 1, None), Wait::Woken);
        assert_eq!(w.load(Ordering::Relaxed), 2);
        t.join().unwrap();
    }
}
