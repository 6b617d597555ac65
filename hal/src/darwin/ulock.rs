//! ulock backend: `__ulock_wait2` / `__ulock_wait` and `__ulock_wake` with
//! `UL_COMPARE_AND_WAIT_SHARED` (private libSystem API, macOS 10.15+ for the shared
//! opcode). Not compiled at all with the `app-store-safe` feature: App Store review rejects
//! binaries that import or even name these symbols (research/macos-backends.md §2.7).
//!
//! * **Which wait call.** `__ulock_wait2` (timeout in ns, `u64`) exists from macOS 11.
//!   aarch64-apple-darwin's deployment target is 11.0, so there it is linked directly.
//!   x86_64-apple-darwin's default deployment target is 10.12 (`rustc --print
//!   deployment-target`), so there (and on the other Apple OSes) it is looked up with
//!   `dlsym` once and, when missing, `__ulock_wait` (timeout in µs, `u32`) is used instead. Both reach the same kernel
//!   code (`sys_ulock_wait` converts µs to ns and calls `sys_ulock_wait2`).
//! * **Timeouts.** 0 means *forever* to both calls, so the time left is rounded **up** to
//!   one unit (`crate::timeout`); `__ulock_wait`'s 71.6-minute maximum is a clamp after
//!   which the retry loop waits again for the remainder. The deadline itself is fixed
//!   once, so `EINTR`/`EFAULT` retries never extend it.
//! * **Flags.** `ULF_NO_ERRNO`: results come back as `-errno` (no thread-local write);
//!   `ULF_WAKE_ALL` for `wake_all`. `expected` is passed zero-extended (`u64::from`): for
//!   4-byte opcodes the kernel compares the zero-extended word with all 64 bits.
//! * **Probe.** The shared opcode appeared in macOS 10.15; earlier kernels answer
//!   `EINVAL`. [`available`] *waits* once on a private probe word with a value that cannot
//!   match: `>= 0` means the opcode is understood. (A wake cannot decide it: 10.13 / 10.14
//!   look the waiter up, `ENOENT`, before they check the opcode.) The decision table is
//!   `retry::shared_opcode_supported`, unit-tested with each version's answers.
//! * **Shared mappings only.** The shared key is (VM object, offset). A word in *private*
//!   memory can move to a new object at a copy-on-write fault after `fork()`, and waiter and
//!   waker then compute different keys: cross-process words must be in shared mappings
//!   (docs/macos.md, "Words must live in shared mappings").

use super::poll;
use super::time;
use crate::Wait;
use crate::atomic::AtomicU32;
use crate::clock::Instant;
use crate::retry::{self, KResult, Outcome, WaitSyscall, WakeOutcome};
use crate::timeout::ulock_timeout_ns;
#[cfg(not(all(target_os = "macos", target_arch = "aarch64")))]
use crate::timeout::ulock_timeout_us;
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicU8, Ordering, fence};

/// `UL_COMPARE_AND_WAIT_SHARED`: 32-bit compare-and-wait keyed on the memory object and
/// offset (cross-process). No SDK header declares the ulock API (it is private, so the
/// `apple-headers` lane cannot check these values): they and the three prototypes below
/// are from xnu `bsd/sys/ulock.h` (apple-oss-distributions/xnu, tag xnu-11417.101.15).
const UL_COMPARE_AND_WAIT_SHARED: u32 = 3;
/// `ULF_WAKE_ALL`: wake every waiter instead of one.
const ULF_WAKE_ALL: u32 = 0x0000_0100;
/// `ULF_NO_ERRNO`: return `-errno` instead of setting errno.
const ULF_NO_ERRNO: u32 = 0x0100_0000;

/// The operation word of every wait and wake.
const OP: u32 = UL_COMPARE_AND_WAIT_SHARED | ULF_NO_ERRNO;

/// `__ulock_wait2(operation, addr, value, timeout_ns, value2)`; `value2` is unused.
#[cfg(not(all(target_os = "macos", target_arch = "aarch64")))]
type Wait2Fn = unsafe extern "C" fn(u32, *mut c_void, u64, u64, u64) -> c_int;

unsafe extern "C" {
    /// Since macOS 10.12.
    fn __ulock_wake(operation: u32, addr: *mut c_void, wake_value: u64) -> c_int;
    /// Since macOS 11; every arm64 macOS is 11 or later.
    #[cfg(all(target_os = "macos", target_arch = "aarch64"))]
    fn __ulock_wait2(
        operation: u32,
        addr: *mut c_void,
        value: u64,
        timeout_ns: u64,
        value2: u64,
    ) -> c_int;
    /// Since macOS 10.12; only needed where `__ulock_wait2` may be missing.
    #[cfg(not(all(target_os = "macos", target_arch = "aarch64")))]
    fn __ulock_wait(operation: u32, addr: *mut c_void, value: u64, timeout_us: u32) -> c_int;
}

/// One raw wait: `__ulock_wait2`, linked directly (every aarch64 macOS is 11+).
/// `remaining_ns`: `None` for no limit, else at least 1 ns.
///
/// # Safety
/// `addr` points at a live, 4-byte aligned word for the whole call.
#[cfg(all(target_os = "macos", target_arch = "aarch64"))]
#[inline]
unsafe fn raw_wait(addr: *mut c_void, value: u64, remaining_ns: Option<u64>) -> c_int {
    // 0 = forever; a finite time is at least 1 ns.
    let timeout = remaining_ns.map_or(0, ulock_timeout_ns);
    // SAFETY: the caller guarantees `addr`; the operation and flags are valid; a finite
    // timeout is never 0; `value2` is unused by the kernel.
    unsafe { __ulock_wait2(OP, addr, value, timeout, 0) }
}

/// One raw wait: `__ulock_wait2` when the running macOS has it (11+), else `__ulock_wait`
/// (µs, rounded up, clamped to `u32::MAX`). `remaining_ns`: `None` for no limit, else at
/// least 1 ns.
///
/// # Safety
/// `addr` points at a live, 4-byte aligned word for the whole call.
#[cfg(not(all(target_os = "macos", target_arch = "aarch64")))]
#[inline]
unsafe fn raw_wait(addr: *mut c_void, value: u64, remaining_ns: Option<u64>) -> c_int {
    match wait2() {
        // SAFETY: the caller guarantees `addr`; flags valid; a finite timeout is never 0.
        Some(wait2) => unsafe {
            wait2(OP, addr, value, remaining_ns.map_or(0, ulock_timeout_ns), 0)
        },
        // SAFETY: as above; a finite timeout is at least 1 µs.
        None => unsafe { __ulock_wait(OP, addr, value, remaining_ns.map_or(0, ulock_timeout_us)) },
    }
}

/// `__ulock_wait2` if the running macOS has it, looked up once.
#[cfg(not(all(target_os = "macos", target_arch = "aarch64")))]
#[inline]
fn wait2() -> Option<Wait2Fn> {
    use core::sync::atomic::AtomicPtr;
    /// Not looked up yet: address 1 (`c_void` has alignment 1), which dlsym never returns
    /// for a function.
    const UNRESOLVED: *mut c_void = core::ptr::dangling_mut::<c_void>();
    /// The dlsym result: [`UNRESOLVED`], null (absent) or the function.
    static WAIT2: AtomicPtr<c_void> = AtomicPtr::new(UNRESOLVED);

    let mut p = WAIT2.load(Ordering::Acquire);
    if p == UNRESOLVED {
        // SAFETY: RTLD_DEFAULT is a valid pseudo-handle and the name is NUL-terminated.
        p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__ulock_wait2".as_ptr()) };
        WAIT2.store(p, Ordering::Release);
    }
    // SAFETY: a non-null dlsym result for `__ulock_wait2`, whose C signature is `Wait2Fn`
    // (xnu `bsd/sys/ulock.h`).
    (!p.is_null()).then(|| unsafe { core::mem::transmute::<*mut c_void, Wait2Fn>(p) })
}

/// Probe state: not probed yet.
const UNPROBED: u8 = 0;
/// The kernel understands `UL_COMPARE_AND_WAIT_SHARED`.
const SUPPORTED: u8 = 1;
/// It does not (macOS < 10.15 answers `EINVAL`).
const UNSUPPORTED: u8 = 2;

static PROBE_STATE: AtomicU8 = AtomicU8::new(UNPROBED);

/// Whether the kernel supports shared ulocks, probing on the first call. Real-time class:
/// wait-free after the first call (one syscall then).
pub(super) fn available() -> bool {
    match PROBE_STATE.load(Ordering::Relaxed) {
        SUPPORTED => true,
        UNSUPPORTED => false,
        _ => probe(),
    }
}

#[cold]
fn probe() -> bool {
    /// A word nobody ever waits on or changes: 0, while the probe waits for 1.
    static PROBE_WORD: AtomicU32 = AtomicU32::new(0);
    /// The probe's wait: a value that cannot match, so a kernel that knows the opcode
    /// returns at once (the decision table is `retry::shared_opcode_supported`).
    struct Probe;
    impl retry::ProbeSyscalls for Probe {
        fn wait_mismatch(&mut self) -> KResult {
            // Touch the word so its page has a VM object (the shared key needs one).
            PROBE_WORD.store(0, Ordering::Relaxed);
            let addr = PROBE_WORD.as_ptr().cast::<c_void>();
            // SAFETY: a live, 4-byte aligned static; the kernel only reads it. 1 µs bounds
            // the call even if something made the values equal.
            retry::from_no_errno(unsafe { raw_wait(addr, 1, Some(1_000)) })
        }
    }
    let ok = retry::shared_opcode_supported(&mut Probe);
    PROBE_STATE.store(if ok { SUPPORTED } else { UNSUPPORTED }, Ordering::Relaxed);
    ok
}

/// One wait, as the retry loop drives it.
struct UlockWait<'a> {
    word: &'a AtomicU32,
    expected: u32,
}

impl WaitSyscall for UlockWait<'_> {
    fn wait(&mut self, remaining_ns: Option<u64>) -> KResult {
        let addr = self.word.as_ptr().cast::<c_void>();
        let value = u64::from(self.expected); // zero-extended, see the module docs
        crate::count::wait_syscall();
        // SAFETY: `addr` is a live, 4-byte aligned AtomicU32 borrowed for the whole call;
        // the kernel only reads it.
        retry::from_no_errno(unsafe { raw_wait(addr, value, remaining_ns) })
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
    let mut sys = UlockWait { word, expected };
    match retry::drive_wait(&mut sys, deadline.map(Instant::as_nanos)) {
        Outcome::Woken => Wait::Woken,
        Outcome::TimedOut => Wait::TimedOut,
        Outcome::KernelRefused(_) => poll::wait_until(word, expected, deadline),
    }
}

/// Wakes one or all waiters and reports what the kernel said. Real-time class: may wake
/// (one syscall).
pub(super) fn wake_reporting(word: &AtomicU32, all: bool) -> WakeOutcome {
    // Same ordering as os_sync's wake (see there): the caller's store is visible to every
    // wait that starts after this wake.
    fence(Ordering::SeqCst);
    let op = if all { OP | ULF_WAKE_ALL } else { OP };
    let addr = word.as_ptr().cast::<c_void>();
    retry::drive_wake(|| {
        crate::count::wake_syscall();
        // SAFETY: `addr` is a live, aligned 4-byte word used as a key; `wake_value` is
        // only read with ULF_WAKE_THREAD, which we never pass.
        retry::from_no_errno(unsafe { __ulock_wake(op, addr, 0) })
    })
}

#[cfg(all(test, not(miri)))]
mod tests {
    //! Native macOS only (every GitHub macOS job of the default and `force-ulock` builds):
    //! Miri has no `__ulock_*` shims. These call the ulock functions directly, so they run
    //! even where os_sync is selected; `force-ulock` runs the rest of the suite on ulock.
    extern crate std;

    use super::*;
    use core::time::Duration;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc;
    use std::thread;

    const LIMIT: Duration = Duration::from_secs(20);

    #[test]
    fn shared_opcode_is_supported() {
        assert!(available());
    }

    /// The `force-ulock` CI jobs: ulock is the selected backend, so every wait and wake of
    /// the crate API (and every test of the workspace) goes through this file.
    #[cfg(feature = "force-ulock")]
    #[test]
    fn force_ulock_selects_ulock() {
        assert_eq!(crate::init(), crate::Backend::Ulock);
    }

    #[test]
    fn timeouts_round_up_and_end() {
        let w = AtomicU32::new(3);
        assert_eq!(wait_until(&w, 2, None), Wait::Woken);
        for d in [
            Duration::from_nanos(1),
            Duration::from_nanos(999),
            Duration::from_millis(2),
        ] {
            let start = Instant::now();
            let deadline = Instant::now().checked_add(d);
            assert_eq!(wait_until(&w, 3, deadline), Wait::TimedOut, "{d:?}");
            assert!(start.elapsed() >= d);
        }
        assert_eq!(wake_reporting(&w, true), WakeOutcome::NoWaiter);
    }

    /// Same handshake as the os_sync test: the word never changes, and the waker repeats
    /// `wake_one` until the kernel reports that it woke a parked thread.
    #[test]
    fn wake_one_wakes_a_waiter_that_really_blocked() {
        let word = Arc::new(AtomicU32::new(0));
        let ready = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let t = {
            let (word, ready) = (word.clone(), ready.clone());
            thread::spawn(move || {
                ready.store(true, Ordering::Release);
                tx.send(wait_until(&word, 0, None)).unwrap();
            })
        };
        while !ready.load(Ordering::Acquire) {
            thread::yield_now();
        }
        let start = Instant::now();
        while wake_reporting(&word, false) != WakeOutcome::Woke {
            assert!(rx.try_recv().is_err(), "wait returned without a wake");
            assert!(start.elapsed() < LIMIT, "waiter never blocked");
            thread::yield_now();
        }
        assert_eq!(rx.recv_timeout(LIMIT), Ok(Wait::Woken));
        t.join().unwrap();
    }
}
