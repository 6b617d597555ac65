//! The errno policy and the retry loop of the Darwin kernel waits (ulock and os_sync).
//!
//! Target-independent on purpose: the errno values are Darwin's, written out below, and
//! the loop talks to the kernel through the small [`WaitSyscall`] trait, so the unit tests
//! at the bottom run on any host and inject every result the kernel can give
//! (research/macos-backends.md §2.5 and §3.3).
//!
//! # Wait policy
//!
//! | kernel result | meaning | what the loop does |
//! |---|---|---|
//! | `>= 0` | woken, or the word already differed | [`Outcome::Woken`] |
//! | `EINTR` | signal or spurious kernel wake-up | re-check the word, retry against the same deadline |
//! | `EFAULT` | the kernel's copy-in of the word faulted (page not resident) | touch the word (the re-check loads it), retry; after [`MAX_FAULT_RETRIES`] in a row: [`Outcome::KernelRefused`] |
//! | `ENOMEM` | kernel wait-queue allocation failed | back off (yield), retry; after [`MAX_NOMEM_RETRIES`] in a row: [`Outcome::KernelRefused`] |
//! | `ETIMEDOUT` | the bound of this call elapsed | if our deadline has passed: [`Outcome::TimedOut`] (or `Woken` if the word changed); if not (a clamped `__ulock_wait`), wait again for the remainder |
//! | `EINVAL`, `EDOM`, `EOWNERDEAD`, `ESRCH`, anything else | misuse the kernel will repeat: bad address/flags, or a peer using another opcode or size on this word | [`Outcome::KernelRefused`] at once |
//!
//! [`Outcome::KernelRefused`] is not an error the caller sees: the backend finishes that
//! one wait by polling the word (`darwin::poll`), so a corrupt or hostile peer can slow a
//! waiter down but never make it miss a change, spin a core, or panic.
//!
//! # Wake policy
//!
//! | kernel result | meaning | [`WakeOutcome`] |
//! |---|---|---|
//! | `0` (or any `>= 0`) | at least one waiter woken | `Woke` |
//! | `ENOENT` | no waiter on this word | `NoWaiter` (not an error) |
//! | `EINTR` | interrupted | retried, at most [`MAX_WAKE_RETRIES`] times |
//! | `EINVAL`, `EDOM`, `EALREADY`, `ESRCH`, anything else | misuse, or `ULF_WAKE_THREAD`-only errors we never ask for | `Refused(errno)` |

/// Darwin's errno values (xnu `bsd/sys/errno.h`), needed on every host for the tests; on
/// Apple targets they are checked against `libc` at compile time.
pub(crate) mod errno {
    /// No such file or directory — from wake: no waiter on the word.
    pub(crate) const ENOENT: i32 = 2;
    /// No such process — `UL_UNFAIR_LOCK` / `ULF_WAKE_THREAD` only.
    pub(crate) const ESRCH: i32 = 3;
    /// Interrupted system call.
    pub(crate) const EINTR: i32 = 4;
    /// Cannot allocate memory — the kernel's wait-queue entry.
    pub(crate) const ENOMEM: i32 = 12;
    /// Bad address — the kernel could not copy the word in.
    pub(crate) const EFAULT: i32 = 14;
    /// Invalid argument.
    pub(crate) const EINVAL: i32 = 22;
    /// Argument out of domain — another opcode (size, or lock vs. compare-and-wait) is
    /// already waiting on the same word.
    pub(crate) const EDOM: i32 = 33;
    /// Operation already in progress — `ULF_WAKE_THREAD` only.
    pub(crate) const EALREADY: i32 = 37;
    /// Operation timed out.
    pub(crate) const ETIMEDOUT: i32 = 60;
    /// Previous owner died — `UL_UNFAIR_LOCK` only.
    pub(crate) const EOWNERDEAD: i32 = 105;

    #[cfg(target_vendor = "apple")]
    const _: () = {
        assert!(ENOENT == libc::ENOENT);
        assert!(ESRCH == libc::ESRCH);
        assert!(EINTR == libc::EINTR);
        assert!(ENOMEM == libc::ENOMEM);
        assert!(EFAULT == libc::EFAULT);
        assert!(EINVAL == libc::EINVAL);
        assert!(EDOM == libc::EDOM);
        assert!(EALREADY == libc::EALREADY);
        assert!(ETIMEDOUT == libc::ETIMEDOUT);
        assert!(EOWNERDEAD == libc::EOWNERDEAD);
    };
}

use errno::*;

/// Consecutive `EFAULT`s tolerated in one wait. The word is a live `&AtomicU32`, so a
/// fault is a page the kernel could not copy in under its spinlock; each retry first loads
/// the word, which faults the page in. 1000 in a row (the figure the research note
/// suggests) means something else is wrong: stop asking the kernel and poll.
pub(crate) const MAX_FAULT_RETRIES: u32 = 1_000;

/// Consecutive `ENOMEM`s tolerated in one wait, each after a yield (the kernel's zone
/// allocator recovers quickly; 1000 in a row means it does not).
pub(crate) const MAX_NOMEM_RETRIES: u32 = 1_000;

/// `EINTR` retries of one wake. Wakes are not documented to return `EINTR`, but zig
/// retries it; a small bound keeps the real-time waker's cost bounded.
pub(crate) const MAX_WAKE_RETRIES: u32 = 8;

/// A kernel call's result: `Ok` for `>= 0`, `Err(errno)` otherwise.
pub(crate) type KResult = Result<(), i32>;

/// Decodes a `ULF_NO_ERRNO` result: `>= 0` is success, `-errno` an error.
// Used by ulock.rs, which the `app-store-safe` build leaves out.
#[cfg_attr(feature = "app-store-safe", allow(dead_code))]
#[inline]
pub(crate) const fn from_no_errno(ret: i32) -> KResult {
    if ret >= 0 {
        Ok(())
    } else {
        // `i32::MIN` wraps to itself: an unknown errno, which is classified as misuse.
        Err(ret.wrapping_neg())
    }
}

/// What one wait result asks the loop to do (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitStep {
    /// Woken, or the word differed.
    Woken,
    /// `EINTR`: retry.
    Interrupted,
    /// `EFAULT`: touch the word, retry (bounded).
    Fault,
    /// `ENOMEM`: back off, retry (bounded).
    NoMemory,
    /// `ETIMEDOUT`: this call's bound elapsed.
    TimedOut,
    /// Anything else: the same call would fail the same way.
    Refused(i32),
}

/// Classifies one wait result.
#[inline]
pub(crate) const fn classify_wait(r: KResult) -> WaitStep {
    match r {
        Ok(()) => WaitStep::Woken,
        Err(EINTR) => WaitStep::Interrupted,
        Err(EFAULT) => WaitStep::Fault,
        Err(ENOMEM) => WaitStep::NoMemory,
        Err(ETIMEDOUT) => WaitStep::TimedOut,
        Err(e) => WaitStep::Refused(e),
    }
}

/// The kernel side of one wait, as the loop sees it.
pub(crate) trait WaitSyscall {
    /// Issues one wait syscall. `remaining_ns` is `None` for no time limit, else the time
    /// left before the deadline, at least 1 ns; a backend that passes an absolute deadline
    /// (os_sync) only looks at whether it is `Some`.
    fn wait(&mut self, remaining_ns: Option<u64>) -> KResult;
    /// Loads the word (a real load, which also faults its page in) and says whether it
    /// still holds `expected`.
    fn still_expected(&mut self) -> bool;
    /// Now, in nanoseconds on the clock the deadline is on.
    fn now_ns(&mut self) -> u64;
    /// Gives the kernel a moment after `ENOMEM`.
    fn back_off(&mut self);
}

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Woken, the word changed, or a spurious wake-up the caller re-checks.
    Woken,
    /// The deadline passed with the word still holding `expected`.
    TimedOut,
    /// The kernel keeps refusing (errno inside): finish this wait without it.
    KernelRefused(i32),
}

/// Runs waits until one ends the wait for real, against one fixed deadline (ns on the
/// clock of [`WaitSyscall::now_ns`]; `None`: no limit).
///
/// State per iteration: *check time* → *wait* → classify → (*retry*: re-check the word
/// → *check time*) or return. Retries never extend the deadline, and a finite deadline
/// never turns into "forever" (the time left handed to the kernel is at least 1 ns).
pub(crate) fn drive_wait<S: WaitSyscall>(sys: &mut S, deadline_ns: Option<u64>) -> Outcome {
    let mut faults = 0u32;
    let mut nomems = 0u32;
    loop {
        // Check time: a passed deadline ends the wait with a plain comparison.
        let remaining = match deadline_ns {
            None => None,
            Some(deadline) => {
                let now = sys.now_ns();
                if now >= deadline {
                    return if sys.still_expected() {
                        Outcome::TimedOut
                    } else {
                        Outcome::Woken
                    };
                }
                Some(deadline - now)
            }
        };
        match classify_wait(sys.wait(remaining)) {
            WaitStep::Woken => return Outcome::Woken,
            WaitStep::Refused(e) => return Outcome::KernelRefused(e),
            // Only time decides a timeout: loop to "check time", which either reports it
            // or (the call's bound was clamped below our deadline) waits for the rest.
            // With no deadline a timeout is a spurious wake-up.
            WaitStep::TimedOut if deadline_ns.is_none() => return Outcome::Woken,
            WaitStep::TimedOut | WaitStep::Interrupted => (faults, nomems) = (0, 0),
            WaitStep::Fault => {
                (faults, nomems) = (faults + 1, 0);
                if faults > MAX_FAULT_RETRIES {
                    return Outcome::KernelRefused(EFAULT);
                }
            }
            WaitStep::NoMemory => {
                (faults, nomems) = (0, nomems + 1);
                if nomems > MAX_NOMEM_RETRIES {
                    return Outcome::KernelRefused(ENOMEM);
                }
                sys.back_off();
            }
        }
        // Retry: the load touches the word (the EFAULT remedy) and saves a syscall when
        // it changed while we were out.
        if !sys.still_expected() {
            return Outcome::Woken;
        }
    }
}

/// How a wake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WakeOutcome {
    /// At least one waiter was woken.
    Woke,
    /// Nobody was waiting on the word (`ENOENT`).
    NoWaiter,
    /// The kernel refused the wake (errno inside); nothing more can be done from here.
    Refused(i32),
}

/// Issues a wake, retrying `EINTR` at most [`MAX_WAKE_RETRIES`] times.
#[inline]
pub(crate) fn drive_wake(mut wake: impl FnMut() -> KResult) -> WakeOutcome {
    let mut retries = 0;
    loop {
        match wake() {
            Ok(()) => return WakeOutcome::Woke,
            Err(ENOENT) => return WakeOutcome::NoWaiter,
            Err(EINTR) if retries < MAX_WAKE_RETRIES => retries += 1,
            Err(e) => return WakeOutcome::Refused(e),
        }
    }
}

/// Attempts of the shared-opcode probe before it gives up on a kernel that keeps answering
/// transient errors (`EINTR`, `EFAULT`, `ENOMEM`): then the opcode counts as unsupported,
/// which selects the Mach backend — slower to set up, never wrong.
pub(crate) const MAX_PROBE_ATTEMPTS: u32 = 8;

// Used by ulock.rs, which the `app-store-safe` build leaves out.
#[cfg_attr(feature = "app-store-safe", allow(dead_code))]
/// The kernel call the shared-opcode probe of the ulock backend makes, so that its decision
/// runs on any host with the answers of each macOS version (`darwin/ulock.rs` supplies the
/// real call).
pub(crate) trait ProbeSyscalls {
    /// `__ulock_wait(UL_COMPARE_AND_WAIT_SHARED | ULF_NO_ERRNO, word, value, 1 µs)` where
    /// `value` differs from `*word`, decoded with [`from_no_errno`].
    fn wait_mismatch(&mut self) -> KResult;
}

/// Whether the kernel understands `UL_COMPARE_AND_WAIT_SHARED` (macOS 10.15+).
///
/// The probe is a **wait** whose value cannot match, not a wake: `sys_ulock_wait2` checks
/// the opcode before anything else and, for a known opcode, returns the waiter count
/// (`>= 0`) when the value differs (xnu `bsd/kern/sys_ulock.c`, "Lock value has changed from
/// expected so bail out"), while 10.13 / 10.14 answer `EINVAL`. A wake cannot tell them
/// apart: 10.13 / 10.14's `ulock_wake` looks the waiter up before it checks the opcode and
/// answers `ENOENT` for a word nobody waits on, just as 10.15+ does.
///
/// | answer | decision |
/// |---|---|
/// | `>= 0`, `ETIMEDOUT` (the kernel compared and waited) | supported |
/// | `EINTR`, `EFAULT`, `ENOMEM` | ask again, at most [`MAX_PROBE_ATTEMPTS`] times, then unsupported |
/// | `EINVAL` and anything else | unsupported |
#[cfg_attr(feature = "app-store-safe", allow(dead_code))]
pub(crate) fn shared_opcode_supported(k: &mut impl ProbeSyscalls) -> bool {
    for _ in 0..MAX_PROBE_ATTEMPTS {
        match k.wait_mismatch() {
            Ok(()) | Err(ETIMEDOUT) => return true,
            Err(EINTR | EFAULT | ENOMEM) => continue,
            Err(_) => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// The scripted clock's start.
    const START: u64 = 1_000;

    /// A scripted kernel: each wait pops the next result; the clock advances by `tick_ns`
    /// per wait (or by the scripted time, see `timed`); the word changes after
    /// `changes_after` loads.
    struct Script {
        results: Vec<KResult>,
        elapsed: Vec<u64>,
        now: u64,
        tick_ns: u64,
        loads: u32,
        changes_after: Option<u32>,
        waits: Vec<Option<u64>>,
        back_offs: u32,
    }

    impl Script {
        fn new(results: &[KResult]) -> Script {
            Script {
                results: results.iter().rev().copied().collect(),
                elapsed: Vec::new(),
                now: START,
                tick_ns: 0,
                loads: 0,
                changes_after: None,
                waits: Vec::new(),
                back_offs: 0,
            }
        }

        /// Each wait returns its result after the given time has passed.
        fn timed(steps: &[(KResult, u64)]) -> Script {
            let mut s = Script::new(&steps.iter().map(|x| x.0).collect::<Vec<_>>());
            s.elapsed = steps.iter().rev().map(|x| x.1).collect();
            s
        }
    }

    impl WaitSyscall for Script {
        fn wait(&mut self, remaining_ns: Option<u64>) -> KResult {
            self.waits.push(remaining_ns);
            self.now += self.elapsed.pop().unwrap_or(self.tick_ns);
            self.results
                .pop()
                .expect("the loop made more syscalls than scripted")
        }
        fn still_expected(&mut self) -> bool {
            self.loads += 1;
            self.changes_after.is_none_or(|n| self.loads <= n)
        }
        fn now_ns(&mut self) -> u64 {
            self.now
        }
        fn back_off(&mut self) {
            self.back_offs += 1;
        }
    }

    #[test]
    fn decodes_no_errno_results() {
        assert_eq!(from_no_errno(0), Ok(()));
        assert_eq!(from_no_errno(3), Ok(())); // waiters still blocked
        assert_eq!(from_no_errno(-EINTR), Err(EINTR));
        assert_eq!(from_no_errno(-ETIMEDOUT), Err(ETIMEDOUT));
        assert_eq!(from_no_errno(i32::MIN), Err(i32::MIN));
        assert!(matches!(
            classify_wait(from_no_errno(i32::MIN)),
            WaitStep::Refused(_)
        ));
    }

    #[test]
    fn every_wait_row_of_the_error_table_is_classified() {
        assert_eq!(classify_wait(Ok(())), WaitStep::Woken);
        assert_eq!(classify_wait(Err(EINTR)), WaitStep::Interrupted);
        assert_eq!(classify_wait(Err(EFAULT)), WaitStep::Fault);
        assert_eq!(classify_wait(Err(ENOMEM)), WaitStep::NoMemory);
        assert_eq!(classify_wait(Err(ETIMEDOUT)), WaitStep::TimedOut);
        for e in [EINVAL, EDOM, EOWNERDEAD, ESRCH, ENOENT, 9999] {
            assert_eq!(classify_wait(Err(e)), WaitStep::Refused(e));
        }
    }

    #[test]
    fn success_is_woken_after_one_syscall() {
        let mut s = Script::new(&[Ok(())]);
        assert_eq!(drive_wait(&mut s, None), Outcome::Woken);
        assert_eq!(s.waits, [None]);
    }

    #[test]
    fn eintr_retries_against_the_same_deadline() {
        // Three interruptions 100 ns apart, then a timeout exactly at the deadline.
        let mut s = Script::timed(&[
            (Err(EINTR), 100),
            (Err(EINTR), 100),
            (Err(EINTR), 100),
            (Err(ETIMEDOUT), 700),
        ]);
        let out = drive_wait(&mut s, Some(START + 1_000));
        // The time left shrinks by the elapsed time on every retry: never reset.
        assert_eq!(s.waits, [Some(1_000), Some(900), Some(800), Some(700)]);
        assert_eq!(out, Outcome::TimedOut);
    }

    #[test]
    fn eintr_with_the_word_changed_returns_woken_without_another_syscall() {
        let mut s = Script::new(&[Err(EINTR)]);
        s.changes_after = Some(0);
        assert_eq!(drive_wait(&mut s, None), Outcome::Woken);
        assert_eq!(s.waits.len(), 1);
    }

    #[test]
    fn eintr_past_the_deadline_is_a_timeout_not_a_new_wait() {
        let mut s = Script::new(&[Err(EINTR)]);
        s.tick_ns = 5_000; // the interrupted wait used up all the time
        assert_eq!(drive_wait(&mut s, Some(START + 1_000)), Outcome::TimedOut);
        assert_eq!(s.waits.len(), 1);
    }

    #[test]
    fn efault_touches_the_word_and_retries_then_gives_up_bounded() {
        // A few faults, then success: every retry loaded the word first.
        let mut s = Script::new(&[Err(EFAULT), Err(EFAULT), Ok(())]);
        assert_eq!(drive_wait(&mut s, None), Outcome::Woken);
        assert_eq!(s.waits.len(), 3);
        assert_eq!(s.loads, 2);

        // Endless faults: exactly MAX_FAULT_RETRIES retries, then the kernel is bypassed.
        let faults: Vec<KResult> = (0..=MAX_FAULT_RETRIES).map(|_| Err(EFAULT)).collect();
        let mut s = Script::new(&faults);
        assert_eq!(drive_wait(&mut s, None), Outcome::KernelRefused(EFAULT));
        assert_eq!(s.waits.len() as u32, MAX_FAULT_RETRIES + 1);
        assert!(s.results.is_empty());
    }

    #[test]
    fn efault_keeps_the_deadline() {
        let mut s = Script::new(&[Err(EFAULT), Err(EFAULT)]);
        s.tick_ns = 600;
        assert_eq!(drive_wait(&mut s, Some(START + 1_000)), Outcome::TimedOut);
        assert_eq!(s.waits, [Some(1_000), Some(400)]);
    }

    #[test]
    fn enomem_backs_off_and_retries_then_gives_up_bounded() {
        let mut s = Script::new(&[Err(ENOMEM), Ok(())]);
        assert_eq!(drive_wait(&mut s, None), Outcome::Woken);
        assert_eq!(s.back_offs, 1);

        let nomem: Vec<KResult> = (0..=MAX_NOMEM_RETRIES).map(|_| Err(ENOMEM)).collect();
        let mut s = Script::new(&nomem);
        assert_eq!(drive_wait(&mut s, None), Outcome::KernelRefused(ENOMEM));
        assert_eq!(s.back_offs, MAX_NOMEM_RETRIES);
    }

    #[test]
    fn etimedout_at_the_deadline_is_timed_out_or_woken_if_the_word_changed() {
        let mut s = Script::new(&[Err(ETIMEDOUT)]);
        s.tick_ns = 1_000;
        assert_eq!(drive_wait(&mut s, Some(START + 1_000)), Outcome::TimedOut);

        let mut s = Script::new(&[Err(ETIMEDOUT)]);
        s.tick_ns = 1_000;
        s.changes_after = Some(0);
        assert_eq!(drive_wait(&mut s, Some(START + 1_000)), Outcome::Woken);
    }

    #[test]
    fn etimedout_before_the_deadline_waits_again_for_the_remainder() {
        // A clamped `__ulock_wait` (71.6 min max) times out early: two more rounds.
        let mut s = Script::new(&[Err(ETIMEDOUT), Err(ETIMEDOUT), Err(ETIMEDOUT)]);
        s.tick_ns = 400;
        assert_eq!(drive_wait(&mut s, Some(START + 1_000)), Outcome::TimedOut);
        assert_eq!(s.waits, [Some(1_000), Some(600), Some(200)]);
    }

    #[test]
    fn etimedout_without_a_deadline_is_spurious() {
        let mut s = Script::new(&[Err(ETIMEDOUT)]);
        assert_eq!(drive_wait(&mut s, None), Outcome::Woken);
    }

    #[test]
    fn misuse_errors_bypass_the_kernel_at_once() {
        for e in [EINVAL, EDOM, EOWNERDEAD, ESRCH, 12345] {
            let mut s = Script::new(&[Err(e)]);
            assert_eq!(drive_wait(&mut s, None), Outcome::KernelRefused(e));
            assert_eq!(s.waits.len(), 1);
        }
    }

    #[test]
    fn passed_deadline_makes_no_syscall() {
        let mut s = Script::new(&[]);
        let past = s.now;
        assert_eq!(drive_wait(&mut s, Some(past)), Outcome::TimedOut);
        s.changes_after = Some(0);
        s.loads = 0;
        assert_eq!(drive_wait(&mut s, Some(past)), Outcome::Woken);
        assert!(s.waits.is_empty());
    }

    #[test]
    fn the_remaining_time_is_never_zero() {
        // The deadline is 1 ns away: the kernel gets 1, not 0 (= forever).
        let mut s = Script::new(&[Err(ETIMEDOUT)]);
        s.tick_ns = 1;
        assert_eq!(drive_wait(&mut s, Some(START + 1)), Outcome::TimedOut);
        assert_eq!(s.waits, [Some(1)]);
    }

    #[test]
    fn the_fault_bound_counts_consecutive_faults_only() {
        // MAX faults, an interruption, MAX faults again, then success: never refused.
        let mut seq: Vec<KResult> = (0..MAX_FAULT_RETRIES).map(|_| Err(EFAULT)).collect();
        seq.push(Err(EINTR));
        seq.extend((0..MAX_FAULT_RETRIES).map(|_| Err(EFAULT)));
        seq.push(Ok(()));
        let mut s = Script::new(&seq);
        assert_eq!(drive_wait(&mut s, None), Outcome::Woken);
        assert_eq!(s.waits.len(), seq.len());
    }

    #[test]
    fn mixed_sequence_ends_on_success() {
        let seq = [Err(EINTR), Err(EFAULT), Err(ENOMEM), Err(EINTR), Ok(())];
        let mut s = Script::new(&seq);
        assert_eq!(drive_wait(&mut s, None), Outcome::Woken);
        assert_eq!(s.waits.len(), seq.len());
        assert_eq!(s.back_offs, 1);
    }

    #[test]
    fn every_wake_row_of_the_error_table_is_handled() {
        assert_eq!(drive_wake(|| Ok(())), WakeOutcome::Woke);
        assert_eq!(drive_wake(|| Err(ENOENT)), WakeOutcome::NoWaiter);
        for e in [EINVAL, EDOM, EALREADY, ESRCH, 777] {
            assert_eq!(drive_wake(|| Err(e)), WakeOutcome::Refused(e));
        }
        // EINTR is retried, then the next answer counts.
        let mut seq = [Err(EINTR), Err(EINTR), Err(ENOENT)].into_iter();
        assert_eq!(drive_wake(|| seq.next().unwrap()), WakeOutcome::NoWaiter);
        // ... but only MAX_WAKE_RETRIES times.
        let mut calls = 0;
        let out = drive_wake(|| {
            calls += 1;
            Err(EINTR)
        });
        assert_eq!(out, WakeOutcome::Refused(EINTR));
        assert_eq!(calls, MAX_WAKE_RETRIES + 1);
    }

    /// What `__ulock_wait` / `__ulock_wake` with `UL_COMPARE_AND_WAIT_SHARED` answer on a
    /// private word nobody waits on, per kernel (xnu `bsd/kern/sys_ulock.c`).
    struct Kernel {
        /// 10.15 and later: the opcode is known. 10.13 / 10.14: `ulock_wake` looks the
        /// waiter up (ENOENT) before it checks the opcode; `ulock_wait` checks the opcode
        /// first (EINVAL).
        shared_opcode: bool,
        /// Results returned before the real answer (EINTR, EFAULT, ENOMEM).
        noise: Vec<i32>,
        calls: u32,
    }

    impl Kernel {
        fn next_noise(&mut self) -> Option<i32> {
            self.calls += 1;
            (!self.noise.is_empty()).then(|| self.noise.remove(0))
        }
    }

    impl ProbeSyscalls for Kernel {
        fn wait_mismatch(&mut self) -> KResult {
            if let Some(e) = self.next_noise() {
                return Err(e);
            }
            // 10.15+: the value differs, the kernel returns the waiter count (0).
            if self.shared_opcode {
                Ok(())
            } else {
                Err(EINVAL)
            }
        }
    }

    fn kernel(shared_opcode: bool, noise: &[i32]) -> Kernel {
        Kernel {
            shared_opcode,
            noise: noise.to_vec(),
            calls: 0,
        }
    }

    #[test]
    fn probe_decision_table_per_macos_version() {
        // 10.13 / 10.14: unsupported, so Mach is chosen instead of 1 ms polling.
        assert!(!shared_opcode_supported(&mut kernel(false, &[])));
        // 10.15+: supported, with or without transient errors first.
        assert!(shared_opcode_supported(&mut kernel(true, &[])));
        assert!(shared_opcode_supported(&mut kernel(
            true,
            &[EINTR, EFAULT, ENOMEM]
        )));
        assert!(!shared_opcode_supported(&mut kernel(false, &[EINTR])));
        // A kernel that compared the value and then waited out the bound knows the opcode.
        let mut k = kernel(true, &[ETIMEDOUT]);
        assert!(shared_opcode_supported(&mut k));
        assert_eq!(k.calls, 1);
        // Misuse answers are never read as support.
        for e in [EDOM, ENOENT, ESRCH, EALREADY, EOWNERDEAD, 0x7fff] {
            let mut k = kernel(false, &[e]);
            assert!(!shared_opcode_supported(&mut k), "errno {e}");
            assert_eq!(k.calls, 1);
        }
        // A kernel that keeps failing transiently: not proven supported.
        let mut k = kernel(true, &[EINTR; 64]);
        assert!(!shared_opcode_supported(&mut k));
        assert_eq!(k.calls, MAX_PROBE_ATTEMPTS);
    }
}
