//! What the Mach semaphore calls answer, and what a wait does with each answer:
//! target-independent, so that the decision table runs in host tests (`semaphore.rs`
//! supplies the real calls on Apple). Values: the SDK's `<mach/kern_return.h>`, checked by
//! the `apple-headers` CI lane.

use core::time::Duration;

/// `kern_return_t` values (`<mach/kern_return.h>`). Some are named only by the tests and the
/// `apple-headers` lane's table (`hal/tests/apple_headers.rs`).
#[allow(dead_code)]
pub(crate) mod kr {
    pub(crate) const KERN_SUCCESS: i32 = 0;
    pub(crate) const KERN_INVALID_ARGUMENT: i32 = 4;
    pub(crate) const KERN_ABORTED: i32 = 14;
    pub(crate) const KERN_INVALID_NAME: i32 = 15;
    pub(crate) const KERN_INVALID_RIGHT: i32 = 17;
    pub(crate) const KERN_INVALID_VALUE: i32 = 18;
    pub(crate) const KERN_INVALID_CAPABILITY: i32 = 20;
    pub(crate) const KERN_TERMINATED: i32 = 37;
    pub(crate) const KERN_OPERATION_TIMED_OUT: i32 = 49;

    /// `mach_msg_return_t` values (`<mach/message.h>`).
    pub(crate) const MACH_MSG_SUCCESS: i32 = 0;
    pub(crate) const MACH_SEND_INVALID_DEST: i32 = 0x1000_0003;
    pub(crate) const MACH_SEND_TIMED_OUT: i32 = 0x1000_0004;
    pub(crate) const MACH_SEND_INTERRUPTED: i32 = 0x1000_0007;
    pub(crate) const MACH_SEND_MSG_TOO_SMALL: i32 = 0x1000_0008;
    pub(crate) const MACH_SEND_INVALID_RIGHT: i32 = 0x1000_000a;
    pub(crate) const MACH_SEND_INVALID_NOTIFY: i32 = 0x1000_000b;
    pub(crate) const MACH_SEND_NO_BUFFER: i32 = 0x1000_000d;
    pub(crate) const MACH_RCV_TIMED_OUT: i32 = 0x1000_4003;
    pub(crate) const MACH_RCV_TOO_LARGE: i32 = 0x1000_4004;
    pub(crate) const MACH_RCV_INTERRUPTED: i32 = 0x1000_4005;
}
use kr::*;

/// What one `semaphore_wait` / `semaphore_timedwait` answer asks the wait loop to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SemStep {
    /// `KERN_SUCCESS`: a signal was consumed.
    Signalled,
    /// Wait again with the time still left: `KERN_ABORTED` (interrupted), or
    /// `KERN_OPERATION_TIMED_OUT` before the deadline (the kernel converts the relative time
    /// to ticks rounding down, so it can give up up to one tick early).
    Again,
    /// `KERN_OPERATION_TIMED_OUT` at or after the deadline.
    TimedOut,
    /// The semaphore is unusable: `KERN_TERMINATED` (destroyed), `KERN_INVALID_NAME`,
    /// `KERN_INVALID_RIGHT`, `KERN_INVALID_CAPABILITY`, `KERN_INVALID_ARGUMENT`,
    /// `KERN_INVALID_VALUE` or any other code. Not a wake: reporting one would make the
    /// caller re-check its word and wait again at once, a spin. The loop naps instead.
    Broken(i32),
}

/// The decision table of one wait answer `kr`, at `now_ns` for a wait until
/// `deadline_ns` (`None`: no limit).
pub(crate) fn sem_step(kr: i32, now_ns: u64, deadline_ns: Option<u64>) -> SemStep {
    match kr {
        KERN_SUCCESS => SemStep::Signalled,
        KERN_ABORTED => SemStep::Again,
        KERN_OPERATION_TIMED_OUT => match deadline_ns {
            Some(d) if now_ns >= d => SemStep::TimedOut,
            // Early (rounded down), or a timed-out answer to an untimed wait (not in
            // the contract): the time is not up.
            _ => SemStep::Again,
        },
        KERN_TERMINATED
        | KERN_INVALID_NAME
        | KERN_INVALID_RIGHT
        | KERN_INVALID_CAPABILITY
        | KERN_INVALID_ARGUMENT
        | KERN_INVALID_VALUE => SemStep::Broken(kr),
        other => SemStep::Broken(other),
    }
}

/// The calls the wait loop makes.
pub(crate) trait SemWaitCalls {
    /// `semaphore_wait` (`None`) or `semaphore_timedwait(remaining)`.
    fn wait(&mut self, remaining: Option<Duration>) -> i32;
    /// The monotonic clock, in ns.
    fn now_ns(&mut self) -> u64;
    /// Sleeps at most `max` (a broken semaphore: degraded polling).
    fn nap(&mut self, max: Duration);
}

/// How long a wait on a broken semaphore naps before it reports a (spurious) wake so the
/// caller re-checks its word: the table's degraded-mode period.
pub(crate) const BROKEN_NAP: Duration = super::table::DEGRADED_POLL;

/// Waits until signalled (`true`) or the deadline (`false`), looping while time remains.
/// A broken semaphore naps up to [`BROKEN_NAP`] (never past the deadline) and then reports
/// `true`: the caller re-checks its word, so at worst it polls every 100 µs, never spins.
pub(crate) fn drive_sem_wait(k: &mut impl SemWaitCalls, deadline_ns: Option<u64>) -> bool {
    loop {
        let remaining = deadline_ns.map(|d| Duration::from_nanos(d.saturating_sub(k.now_ns())));
        let answer = k.wait(remaining);
        let now = k.now_ns();
        match sem_step(answer, now, deadline_ns) {
            SemStep::Signalled => return true,
            SemStep::Again => continue,
            SemStep::TimedOut => return false,
            SemStep::Broken(_) => {
                let nap = match deadline_ns {
                    None => BROKEN_NAP,
                    Some(d) if now >= d => return false,
                    Some(d) => Duration::from_nanos(d - now).min(BROKEN_NAP),
                };
                k.nap(nap);
                return true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// Scripted answers on a fake clock that advances `tick` per call.
    struct Script {
        answers: Vec<i32>,
        now: u64,
        tick: u64,
        asked: Vec<Option<Duration>>,
        naps: Vec<Duration>,
    }

    impl SemWaitCalls for Script {
        fn wait(&mut self, remaining: Option<Duration>) -> i32 {
            self.asked.push(remaining);
            self.now += self.tick;
            if self.answers.is_empty() {
                KERN_SUCCESS
            } else {
                self.answers.remove(0)
            }
        }
        fn now_ns(&mut self) -> u64 {
            self.now
        }
        fn nap(&mut self, max: Duration) {
            self.naps.push(max);
            self.now += max.as_nanos() as u64;
        }
    }

    fn script(answers: &[i32], tick: u64) -> Script {
        Script {
            answers: answers.to_vec(),
            now: 0,
            tick,
            asked: Vec::new(),
            naps: Vec::new(),
        }
    }

    #[test]
    fn each_kern_return_has_its_own_meaning() {
        assert_eq!(sem_step(KERN_SUCCESS, 0, None), SemStep::Signalled);
        assert_eq!(sem_step(KERN_ABORTED, 0, Some(10)), SemStep::Again);
        assert_eq!(
            sem_step(KERN_OPERATION_TIMED_OUT, 9, Some(10)),
            SemStep::Again
        );
        assert_eq!(
            sem_step(KERN_OPERATION_TIMED_OUT, 10, Some(10)),
            SemStep::TimedOut
        );
        for kr in [
            KERN_TERMINATED,
            KERN_INVALID_NAME,
            KERN_INVALID_RIGHT,
            KERN_INVALID_CAPABILITY,
            KERN_INVALID_ARGUMENT,
            KERN_INVALID_VALUE,
            12345,
        ] {
            assert_eq!(sem_step(kr, 0, Some(10)), SemStep::Broken(kr), "kr {kr}");
        }
    }

    /// N1: the kernel rounds the relative time down and answers TIMED_OUT a tick early;
    /// the wait goes on for the rest and never reports TimedOut before the deadline.
    #[test]
    fn an_early_timeout_waits_for_the_remainder() {
        let mut s = script(&[KERN_OPERATION_TIMED_OUT, KERN_OPERATION_TIMED_OUT], 600);
        assert!(!drive_sem_wait(&mut s, Some(1_000)));
        assert_eq!(
            s.asked,
            [
                Some(Duration::from_nanos(1_000)),
                Some(Duration::from_nanos(400))
            ]
        );
        assert!(s.now >= 1_000);
    }

    /// N1: a broken semaphore is not a wake that makes the caller spin: the wait naps a
    /// bounded time first, never past the deadline.
    #[test]
    fn a_broken_semaphore_naps_instead_of_spinning() {
        let mut s = script(&[KERN_INVALID_NAME], 0);
        assert!(drive_sem_wait(&mut s, None));
        assert_eq!(s.naps, [BROKEN_NAP]);
        let mut s = script(&[KERN_TERMINATED], 10);
        assert!(drive_sem_wait(&mut s, Some(50)));
        assert_eq!(s.naps, [Duration::from_nanos(40)]);
        let mut s = script(&[KERN_INVALID_RIGHT], 100);
        assert!(
            !drive_sem_wait(&mut s, Some(50)),
            "deadline passed: timed out"
        );
        assert!(s.naps.is_empty());
    }

    #[test]
    fn an_interrupted_wait_retries_with_the_time_left() {
        let mut s = script(&[KERN_ABORTED, KERN_SUCCESS], 300);
        assert!(drive_sem_wait(&mut s, Some(1_000)));
        assert_eq!(
            s.asked,
            [
                Some(Duration::from_nanos(1_000)),
                Some(Duration::from_nanos(700))
            ]
        );
        let mut s = script(&[KERN_ABORTED, KERN_SUCCESS], 0);
        assert!(drive_sem_wait(&mut s, None));
        assert_eq!(s.asked, [None, None]);
    }
}
