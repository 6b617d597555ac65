//! os_sync backend: `os_sync_wait_on_address*` / `os_sync_wake_by_address_{any,all}`
//! (public API, macOS 14.4+), with the `SHARED` flags and size 4.
//!
//! * **Never a strong import.** The four functions are looked up once with
//!   `dlsym(RTLD_DEFAULT, …)` and cached in atomics, so a binary built for an older
//!   deployment target still launches on macOS < 14.4 (a strong import of a missing symbol
//!   makes dyld refuse to start the process). The backend is usable only if all four
//!   resolve.
//! * **Timed waits** use `os_sync_wait_on_address_with_deadline` with
//!   `OS_CLOCK_MACH_ABSOLUTE_TIME`: the caller's deadline is converted to ticks **once**
//!   (rounded up, never 0, which os_sync rejects) and the same tick deadline is passed on
//!   every retry, so signals never stretch a timeout. `Instant` is on this very clock
//!   (see `time.rs`). A zero timeout never reaches here (the crate root only compares).
//! * **Interop with ulock**: libplatform implements these calls with `__ulock_wait2` /
//!   `__ulock_wake` and `UL_COMPARE_AND_WAIT_SHARED` for (size 4, SHARED), so an os_sync
//!   waiter and a ulock waker on the same word (or the reverse) meet in the kernel
//!   (research/macos-backends.md §3.2; not executable on this Linux host).
//! * Results go through the errno policy of [`crate::retry`]; a wait the kernel keeps
//!   refusing finishes by polling (`poll.rs`).

use super::poll;
use super::time;
use crate::Wait;
use crate::atomic::AtomicU32;
use crate::clock::Instant;
use crate::retry::{self, KResult, Outcome, WaitSyscall, WakeOutcome};
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicPtr, AtomicU8, Ordering, fence};

// Zig's SDK copy has no `<os/os_sync_wait_on_address.h>`, so the `apple-headers` lane cannot
// check these: the prototypes and the three constants below are those of libplatform's
// `include/os/os_sync_wait_on_address.h` (apple-oss-distributions/libplatform,
// libplatform-375.100.10): `int os_sync_wait_on_address(void *addr, uint64_t value, size_t
// size, os_sync_wait_on_address_flags_t flags)`, `…_with_deadline(…, os_clockid_t clockid,
// uint64_t deadline)`, `int os_sync_wake_by_address_{any,all}(void *addr, size_t size,
// os_sync_wake_by_address_flags_t flags)`; both flag types are `uint32_t` enums, `SHARED`
// = 0x1 in each. The `libc` crate's values are pinned to those numbers at compile time
// below; the clock id is `<os/clock.h>`'s, which the lane checks (`mach::abi`).
const _: () = {
    assert!(libc::OS_SYNC_WAIT_ON_ADDRESS_SHARED == 0x1);
    assert!(libc::OS_SYNC_WAKE_BY_ADDRESS_SHARED == 0x1);
    assert!(libc::OS_CLOCK_MACH_ABSOLUTE_TIME == crate::mach::abi::OS_CLOCK_MACH_ABSOLUTE_TIME);
};

/// `os_sync_wait_on_address(addr, value, size, flags)`.
type WaitFn = unsafe extern "C" fn(*mut c_void, u64, usize, u32) -> c_int;
/// `os_sync_wait_on_address_with_deadline(addr, value, size, flags, clockid, deadline)`.
type WaitDeadlineFn = unsafe extern "C" fn(*mut c_void, u64, usize, u32, u32, u64) -> c_int;
/// `os_sync_wake_by_address_{any,all}(addr, size, flags)`.
type WakeFn = unsafe extern "C" fn(*mut c_void, usize, u32) -> c_int;

/// The word size passed to every call: our words are `AtomicU32`.
const SIZE: usize = 4;
/// `OS_SYNC_WAIT_ON_ADDRESS_SHARED`: key the wait on the memory object and offset, so
/// processes mapping the word at different addresses meet.
const WAIT_SHARED: u32 = libc::OS_SYNC_WAIT_ON_ADDRESS_SHARED;
/// `OS_SYNC_WAKE_BY_ADDRESS_SHARED`: the waker's side of the same key.
const WAKE_SHARED: u32 = libc::OS_SYNC_WAKE_BY_ADDRESS_SHARED;
/// `OS_CLOCK_MACH_ABSOLUTE_TIME` (32), the only clock os_sync accepts.
const CLOCK: u32 = libc::OS_CLOCK_MACH_ABSOLUTE_TIME;

/// Lookup state: nobody has looked the functions up yet.
const UNRESOLVED: u8 = 0;
/// All four functions were found; the pointers below are valid.
const PRESENT: u8 = 1;
/// At least one function is missing (macOS < 14.4).
const ABSENT: u8 = 2;

/// One of [`UNRESOLVED`], [`PRESENT`], [`ABSENT`]. Written with Release after the
/// pointers, read with Acquire before them.
static STATE: AtomicU8 = AtomicU8::new(UNRESOLVED);
static WAIT: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static WAIT_DEADLINE: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static WAKE_ANY: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static WAKE_ALL: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

/// Whether os_sync is present, looking it up on the first call. Real-time class:
/// wait-free after the first call; the first call takes dyld's lock (**may block**).
pub(super) fn available() -> bool {
    match STATE.load(Ordering::Acquire) {
        PRESENT => true,
        ABSENT => false,
        _ => resolve(),
    }
}

#[cold]
fn resolve() -> bool {
    let lookup = |name: &core::ffi::CStr| {
        // SAFETY: RTLD_DEFAULT is a valid pseudo-handle and `name` is NUL-terminated;
        // dlsym only reads it.
        unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) }
    };
    let found = [
        (&WAIT, lookup(c"os_sync_wait_on_address")),
        (
            &WAIT_DEADLINE,
            lookup(c"os_sync_wait_on_address_with_deadline"),
        ),
        (&WAKE_ANY, lookup(c"os_sync_wake_by_address_any")),
        (&WAKE_ALL, lookup(c"os_sync_wake_by_address_all")),
    ];
    let present = found.iter().all(|(_, p)| !p.is_null());
    if present {
        // Racing resolvers store the same pointers.
        for (slot, p) in found {
            slot.store(p, Ordering::Relaxed);
        }
    }
    STATE.store(if present { PRESENT } else { ABSENT }, Ordering::Release);
    present
}

/// Loads a resolved pointer (looking the functions up first if nobody has); `None` when
/// os_sync is absent.
#[inline]
fn load(slot: &AtomicPtr<c_void>) -> Option<*mut c_void> {
    if !available() {
        return None;
    }
    let p = slot.load(Ordering::Relaxed);
    (!p.is_null()).then_some(p)
}

/// errno after a failed os_sync call (they return -1 and set errno).
#[inline]
fn last_errno() -> i32 {
    // SAFETY: `__error` returns the calling thread's errno location, always valid.
    unsafe { *libc::__error() }
}

/// Maps an os_sync return value (`>= 0` or -1 with errno) onto [`KResult`].
#[inline]
fn result(ret: c_int) -> KResult {
    if ret >= 0 { Ok(()) } else { Err(last_errno()) }
}

/// One wait, as the retry loop drives it.
struct OsSyncWait<'a> {
    word: &'a AtomicU32,
    expected: u32,
    /// The deadline in `mach_absolute_time` ticks, computed once (≥ 1); `None`: no limit.
    deadline_ticks: Option<u64>,
    wait: WaitFn,
    wait_deadline: WaitDeadlineFn,
}

impl WaitSyscall for OsSyncWait<'_> {
    fn wait(&mut self, _remaining_ns: Option<u64>) -> KResult {
        let addr = self.word.as_ptr().cast::<c_void>();
        // Zero-extended: for size 4 the kernel compares the 32-bit word with all 64 bits.
        let value = u64::from(self.expected);
        crate::count::wait_syscall();
        // SAFETY: `addr` is a live, 4-byte aligned `AtomicU32` for the whole call (the
        // kernel only reads it); the function pointers came from dlsym for exactly these
        // C signatures; size, flags and clock are values the API accepts; the deadline is
        // never 0.
        let ret = unsafe {
            match self.deadline_ticks {
                None => (self.wait)(addr, value, SIZE, WAIT_SHARED),
                Some(ticks) => (self.wait_deadline)(addr, value, SIZE, WAIT_SHARED, CLOCK, ticks),
            }
        };
        result(ret)
    }

    fn still_expected(&mut self) -> bool {
        self.word.load(Ordering::Acquire) == self.expected
    }

    fn now_ns(&mut self) -> u64 {
        time::now_ns()
    }

    fn back_off(&mut self) {
        // SAFETY: no preconditions.
        unsafe { libc::sched_yield() };
    }
}

/// Waits while `*word == expected` until `deadline`. Real-time class: may block.
pub(super) fn wait_until(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Wait {
    let (Some(wait), Some(wait_deadline)) = (load(&WAIT), load(&WAIT_DEADLINE)) else {
        // Only reachable where os_sync is absent (never chosen then): still correct.
        return poll::wait_until(word, expected, deadline);
    };
    let mut sys = OsSyncWait {
        word,
        expected,
        // Ticks rounded up, so the kernel's deadline is never before ours; at least 1
        // because os_sync rejects a zero deadline.
        deadline_ticks: deadline.map(|d| time::timebase().ns_to_ticks_ceil(d.as_nanos()).max(1)),
        // SAFETY: non-null pointers resolved by dlsym for these exact names, whose C
        // signatures are `WaitFn` / `WaitDeadlineFn` (libplatform's header).
        wait: unsafe { core::mem::transmute::<*mut c_void, WaitFn>(wait) },
        // SAFETY: as above.
        wait_deadline: unsafe {
            core::mem::transmute::<*mut c_void, WaitDeadlineFn>(wait_deadline)
        },
    };
    match retry::drive_wait(&mut sys, deadline.map(Instant::as_nanos)) {
        Outcome::Woken => Wait::Woken,
        Outcome::TimedOut => Wait::TimedOut,
        Outcome::KernelRefused(_) => poll::wait_until(word, expected, deadline),
    }
}

/// Wakes one or all waiters and reports what the kernel said. Real-time class: may wake
/// (one syscall).
pub(super) fn wake_reporting(word: &AtomicU32, all: bool) -> WakeOutcome {
    // The caller stored the new value before calling. This fence orders that store before
    // the wake for every waiter whose wait starts afterwards, whatever the kernel does
    // inside, so that wait's compare sees the new value and returns at once. macOS's ulock
    // code gets the same ordering from its bucket lock, but Miri's os_sync wake shim
    // answers ENOENT (nobody waiting) before its own SeqCst fence, so without this a
    // waiter arriving just after an empty wake could read the old value and sleep forever
    // under Miri. Cost: one `dmb ish` / `mfence` beside a syscall.
    fence(Ordering::SeqCst);
    let Some(f) = load(if all { &WAKE_ALL } else { &WAKE_ANY }) else {
        return WakeOutcome::Refused(retry::errno::EINVAL);
    };
    // SAFETY: a non-null pointer resolved by dlsym for `os_sync_wake_by_address_{any,all}`,
    // whose C signature is `WakeFn`.
    let wake = unsafe { core::mem::transmute::<*mut c_void, WakeFn>(f) };
    let addr = word.as_ptr().cast::<c_void>();
    retry::drive_wake(|| {
        crate::count::wake_syscall();
        // SAFETY: `addr` is a live, aligned 4-byte word; the kernel uses it as a key only.
        result(unsafe { wake(addr, SIZE, WAKE_SHARED) })
    })
}

#[cfg(test)]
mod tests {
    //! Run natively on macOS 14.4+ and, on this Linux host, under Miri for both Apple
    //! targets (Miri shims `dlsym` and `os_sync_*`).
    extern crate std;

    use super::*;
    use core::time::Duration;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc;
    use std::thread;

    /// Generous bound for a handshake step: correctness, not speed.
    const LIMIT: Duration = Duration::from_secs(20);

    /// Whether os_sync can be tested here; fails if the system should have it but the
    /// lookup did not find it (see `darwin::expect`).
    fn present() -> bool {
        let expected = super::super::expect::os_sync();
        assert_eq!(
            available(),
            expected,
            "os_sync lookup disagrees with the OS version"
        );
        if !expected {
            std::eprintln!("os_sync needs macOS 14.4+: test skipped");
        }
        expected
    }

    fn deadline_in(d: Duration) -> Option<Instant> {
        Instant::now().checked_add(d)
    }

    #[test]
    fn resolves_all_four_functions() {
        if !present() {
            return;
        }
        for slot in [&WAIT, &WAIT_DEADLINE, &WAKE_ANY, &WAKE_ALL] {
            assert!(load(slot).is_some());
        }
    }

    #[test]
    fn wake_without_waiters_reports_no_waiter() {
        if !present() {
            return;
        }
        let w = AtomicU32::new(0);
        assert_eq!(wake_reporting(&w, false), WakeOutcome::NoWaiter);
        assert_eq!(wake_reporting(&w, true), WakeOutcome::NoWaiter);
    }

    #[test]
    fn mismatch_returns_at_once_and_timed_waits_time_out() {
        if !present() {
            return;
        }
        let w = AtomicU32::new(7);
        assert_eq!(wait_until(&w, 6, None), Wait::Woken);
        // High bits of `expected` matter: 7 | 1 << 31 is not 7.
        assert_eq!(wait_until(&w, 7 | 1 << 31, None), Wait::Woken);
        for d in [
            Duration::from_nanos(1),
            Duration::from_micros(1),
            Duration::from_millis(2),
        ] {
            let start = Instant::now();
            assert_eq!(wait_until(&w, 7, deadline_in(d)), Wait::TimedOut, "{d:?}");
            assert!(
                start.elapsed() >= d,
                "{d:?} ended after {:?}",
                start.elapsed()
            );
        }
    }

    /// The waiter really blocked in the kernel before it was woken:
    ///
    /// * the word never changes, so a wait can only end by a wake (os_sync returns `>= 0`
    ///   for a wake or a value mismatch; there is no mismatch here; `EINTR` is retried by
    ///   the loop, not returned);
    /// * the waker repeats `wake_one` until the kernel (or Miri) answers "woke someone"
    ///   instead of `ENOENT` — which it only does when a thread is parked on this word.
    ///
    /// So the test fails if the wait returns without blocking (the waiter would report
    /// before any wake succeeded, and every wake would say `NoWaiter` until the limit), if
    /// the wake is lost (the waiter never reports: the channel times out, or Miri reports
    /// a deadlock), or if waits and wakes disagree on the key (`SHARED` or size on one
    /// side only: every wake says `NoWaiter`).
    #[test]
    fn wake_one_wakes_a_waiter_that_really_blocked() {
        if !present() {
            return;
        }
        let word = Arc::new(AtomicU32::new(0));
        let about_to_wait = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let waiter = {
            let (word, about_to_wait) = (word.clone(), about_to_wait.clone());
            thread::spawn(move || {
                about_to_wait.store(true, Ordering::Release);
                let r = wait_until(&word, 0, None);
                tx.send(r).unwrap();
            })
        };
        while !about_to_wait.load(Ordering::Acquire) {
            thread::yield_now();
        }
        let start = Instant::now();
        let mut wakes = 0u64;
        loop {
            wakes += 1;
            match wake_reporting(&word, false) {
                WakeOutcome::Woke => break,
                WakeOutcome::NoWaiter => {
                    // Nothing may have come back yet: the waiter is not woken.
                    assert!(rx.try_recv().is_err(), "wait returned without a wake");
                    assert!(start.elapsed() < LIMIT, "waiter never blocked");
                    thread::yield_now();
                }
                WakeOutcome::Refused(e) => panic!("wake refused: errno {e}"),
            }
        }
        assert_eq!(rx.recv_timeout(LIMIT), Ok(Wait::Woken));
        waiter.join().unwrap();
        assert_eq!(word.load(Ordering::Relaxed), 0, "the word never changed");
        assert!(wakes >= 1);
    }

    /// `wake_all` releases every parked waiter. The word never changes, so each return is
    /// a kernel wake; `wake_all` is repeated until all `N` have returned (covering waiters
    /// that had not parked yet), and at least one call must have reported `Woke` (a wait
    /// that returned without blocking would make every call report `NoWaiter`).
    #[test]
    fn wake_all_wakes_every_waiter() {
        const N: usize = 3;
        if !present() {
            return;
        }
        let word = Arc::new(AtomicU32::new(0));
        let (tx, rx) = mpsc::channel();
        let waiters: std::vec::Vec<_> = (0..N)
            .map(|_| {
                let (word, tx) = (word.clone(), tx.clone());
                thread::spawn(move || tx.send(wait_until(&word, 0, None)).unwrap())
            })
            .collect();
        drop(tx);
        let start = Instant::now();
        let mut returned = 0;
        let mut any_woke = false;
        while returned < N {
            any_woke |= wake_reporting(&word, true) == WakeOutcome::Woke;
            while let Ok(r) = rx.try_recv() {
                assert_eq!(r, Wait::Woken);
                returned += 1;
            }
            assert!(start.elapsed() < LIMIT, "{returned} of {N} waiters woke");
            thread::yield_now();
        }
        assert!(any_woke);
        for w in waiters {
            w.join().unwrap();
        }
    }

    #[test]
    fn store_then_wake_is_never_lost() {
        // The classic futex hand-off, repeated: the waiter waits while the word is 0,
        // the main thread stores 1 then wakes. Lost wakeups would hang (Miri: deadlock).
        if !present() {
            return;
        }
        for _ in 0..5 {
            let word = Arc::new(AtomicU32::new(0));
            let w2 = word.clone();
            let t = thread::spawn(move || {
                while w2.load(Ordering::Acquire) == 0 {
                    wait_until(&w2, 0, None);
                }
            });
            thread::yield_now();
            word.store(1, Ordering::Release);
            wake_reporting(&word, false);
            t.join().unwrap();
        }
    }
}
