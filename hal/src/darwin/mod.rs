//! Apple backends and the run-time choice between them.
//!
//! | backend | file | API | chosen when |
//! |---|---|---|---|
//! | [`Backend::OsSync`] | `os_sync.rs` | `os_sync_wait_on_address*` (public, 14.4+), via `dlsym` | all four functions resolve |
//! | [`Backend::Ulock`] | `ulock.rs` | `__ulock_*` (private, 10.15+) | default build, os_sync missing, shared opcode understood |
//! | [`Backend::Mach`] | `crate::mach` | Mach semaphores + waiter table in the region (public) | `force-mach`; or os_sync missing and either `app-store-safe` or a kernel without the shared ulock opcode (< 10.15) |
//!
//! In that order: `force-mach` first, then `force-ulock` (ulock if the kernel has the
//! shared opcode), then os_sync, then ulock (default build only), then Mach. Every macOS therefore has a backend that sleeps in the kernel. `poll.rs` is not a
//! backend of its own: it finishes a single os_sync/ulock wait the kernel keeps refusing.
//!
//! os_sync and ulock are one kernel mechanism (os_sync is a libSystem wrapper over the
//! same ulock syscalls with the same opcode for a shared 4-byte word), so processes using
//! either one meet on a shared word: both speak
//! [`WakeProtocol::KernelAddress`](crate::WakeProtocol::KernelAddress).
//!
//! With the `app-store-safe` feature `ulock.rs` is not compiled: no `__ulock` symbol or
//! string is in the binary.
//!
//! The choice is made once per process, on the first call of [`crate::init`],
//! [`crate::backend`], a wait or a wake, and cached. That first call looks symbols up with
//! `dlsym` (it takes dyld's lock) and may make one probe syscall, so call `init()` at
//! start-up, not first on a real-time thread.

#[cfg(all(feature = "force-ulock", feature = "app-store-safe"))]
compile_error!(
    "`force-ulock` selects the private ulock API: it cannot be combined with `app-store-safe` or `force-mach`"
);

mod os_sync;
mod poll;
pub(crate) mod time;
#[cfg(not(feature = "app-store-safe"))]
mod ulock;

use crate::atomic::AtomicU32;
use crate::clock::Instant;
use crate::retry::WakeOutcome;
use crate::{Backend, Wait};
use core::sync::atomic::{AtomicU8, Ordering};

/// Selection state: nothing chosen yet.
const UNCHOSEN: u8 = 0;
/// os_sync is in use.
const OS_SYNC: u8 = 1;
/// ulock is in use (default build only).
#[cfg(not(feature = "app-store-safe"))]
const ULOCK: u8 = 2;
/// The Mach waiter-table protocol is in use.
const MACH: u8 = 3;

/// One of the states above. Racing first callers compute and store the same value.
/// Stored with Release after the chosen backend published its own state (os_sync's
/// function pointers), loaded with Acquire, so seeing the choice implies seeing that state.
static CHOSEN: AtomicU8 = AtomicU8::new(UNCHOSEN);

/// The chosen backend's state, choosing on the first call.
#[inline]
fn chosen() -> u8 {
    match CHOSEN.load(Ordering::Acquire) {
        UNCHOSEN => choose(),
        c => c,
    }
}

#[cold]
fn choose() -> u8 {
    let os_sync = os_sync::available();
    // `mach::selected`: `force-mach`, or `app-store-safe` without os_sync.
    let c = if let Some(c) = forced_ulock() {
        c
    } else if crate::mach::selected(os_sync) {
        MACH
    } else if os_sync {
        OS_SYNC
    } else {
        fallback()
    };
    CHOSEN.store(c, Ordering::Release);
    c
}

/// `force-ulock` and a kernel with the shared opcode: ulock even where os_sync exists.
#[cfg(all(feature = "force-ulock", not(feature = "app-store-safe")))]
fn forced_ulock() -> Option<u8> {
    ulock::available().then_some(ULOCK)
}

/// Without `force-ulock`: never.
#[cfg(not(all(feature = "force-ulock", not(feature = "app-store-safe"))))]
fn forced_ulock() -> Option<u8> {
    None
}

/// os_sync is missing (macOS < 14.4), default build: ulock if the kernel has the shared
/// opcode (10.15+), else Mach (10.12–10.14).
#[cfg(not(feature = "app-store-safe"))]
fn fallback() -> u8 {
    if ulock::available() { ULOCK } else { MACH }
}

/// os_sync is missing, `app-store-safe` build: Mach (already chosen by `mach::selected`;
/// kept so the rule reads the same in both builds).
#[cfg(feature = "app-store-safe")]
fn fallback() -> u8 {
    MACH
}

/// The active backend. Real-time class: wait-free after the first call.
pub(crate) fn backend() -> Backend {
    match chosen() {
        OS_SYNC => Backend::OsSync,
        #[cfg(not(feature = "app-store-safe"))]
        ULOCK => Backend::Ulock,
        _ => Backend::Mach,
    }
}

/// Waits while `*word == expected` until `deadline`, on the chosen backend.
#[inline]
pub(crate) fn wait_until(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Wait {
    match chosen() {
        OS_SYNC => os_sync::wait_until(word, expected, deadline),
        #[cfg(not(feature = "app-store-safe"))]
        ULOCK => ulock::wait_until(word, expected, deadline),
        _ => crate::mach::wait_until(word, expected, deadline),
    }
}

/// Wakes one or all waiters on the chosen backend and reports what the kernel said.
#[inline]
pub(crate) fn wake_reporting(word: &AtomicU32, all: bool) -> WakeOutcome {
    match chosen() {
        OS_SYNC => os_sync::wake_reporting(word, all),
        #[cfg(not(feature = "app-store-safe"))]
        ULOCK => ulock::wake_reporting(word, all),
        _ => match crate::mach::wake(word, all) {
            0 => WakeOutcome::NoWaiter,
            _ => WakeOutcome::Woke,
        },
    }
}

/// Wakes one or all waiters. A refused wake is dropped: there is nothing to retry, and
/// a waiter the kernel refuses finishes its wait by polling (`poll.rs`).
#[inline]
pub(crate) fn wake(word: &AtomicU32, all: bool) {
    let _ = wake_reporting(word, all);
}

/// Test support: what the running system should offer.
#[cfg(test)]
pub(crate) mod expect {
    /// Whether os_sync must be present: under Miri always (it shims it); natively when
    /// `kern.osproductversion` is 14.4 or later. Lets the os_sync tests skip on macOS 13
    /// but fail on 14.4+ if the lookup is broken (e.g. a misspelt symbol name).
    pub(crate) fn os_sync() -> bool {
        if cfg!(miri) {
            return true;
        }
        let mut buf = [0u8; 32];
        let mut len = buf.len();
        // SAFETY: the name is NUL-terminated; `buf`/`len` describe a writable buffer; no
        // new value is set.
        let r = unsafe {
            libc::sysctlbyname(
                c"kern.osproductversion".as_ptr(),
                buf.as_mut_ptr().cast(),
                &mut len,
                core::ptr::null_mut(),
                0,
            )
        };
        assert_eq!(r, 0, "sysctl kern.osproductversion failed");
        let text = core::str::from_utf8(&buf[..len.min(buf.len())]).unwrap();
        let mut parts = text.trim_end_matches('\0').split('.');
        let mut next = || {
            parts
                .next()
                .and_then(|p| p.parse::<u32>().ok())
                .unwrap_or(0)
        };
        let version = (next(), next());
        version >= (14, 4)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn os_sync_is_present_exactly_when_the_system_has_it() {
        assert_eq!(os_sync::available(), expect::os_sync());
        if expect::os_sync() && !cfg!(any(feature = "force-mach", feature = "force-ulock")) {
            assert_eq!(crate::backend(), Backend::OsSync);
        }
    }

    /// The proof that the Miri lanes (aarch64- and x86_64-apple-darwin) execute the os_sync
    /// backend: Miri shims `dlsym` and `os_sync_*` but has no `__ulock_*`.
    #[cfg(all(miri, not(feature = "force-mach")))]
    #[test]
    fn miri_selects_os_sync() {
        assert_eq!(crate::backend(), Backend::OsSync);
        assert_eq!(crate::init(), Backend::OsSync);
    }

    /// The selection rule, checked against what the system offers (`expect::os_sync`).
    #[test]
    fn selection_follows_the_rule() {
        let b = crate::init();
        assert_eq!(b, crate::backend());
        #[cfg(all(feature = "force-ulock", not(feature = "app-store-safe")))]
        if ulock::available() {
            assert_eq!(
                b,
                Backend::Ulock,
                "force-ulock on a kernel with the shared opcode"
            );
            return;
        }
        let expected = if cfg!(feature = "force-mach") {
            Backend::Mach
        } else if expect::os_sync() {
            Backend::OsSync
        } else {
            // os_sync missing: ulock where the build and the kernel allow it, else Mach.
            #[cfg(not(feature = "app-store-safe"))]
            let ulock = ulock::available();
            #[cfg(feature = "app-store-safe")]
            let ulock = false;
            if ulock { Backend::Ulock } else { Backend::Mach }
        };
        assert_eq!(b, expected);
    }

    #[test]
    fn dispatch_round_trip_through_the_crate_api() {
        let w = AtomicU32::new(0);
        let d = core::time::Duration::from_millis(1);
        let start = Instant::now();
        assert_eq!(crate::wait(&w, 0, Some(d)), Wait::TimedOut);
        assert!(start.elapsed() >= d);
        // Mach's table reports "nobody signalled" the same way.
        assert_eq!(wake_reporting(&w, false), WakeOutcome::NoWaiter);
        crate::wake_all(&w);
    }

    /// Syscall accounting (`count-syscalls`): a zero timeout and a passed deadline make no
    /// syscall; a kernel wait that times out makes at least one; a wake exactly one. Runs
    /// natively and under Miri (os_sync).
    #[cfg(feature = "count-syscalls")]
    #[test]
    fn syscall_counts() {
        use crate::count::snapshot;
        use core::time::Duration;
        if crate::init() == Backend::Mach {
            return; // the Mach table's own tests count its semaphore calls
        }
        let w = AtomicU32::new(5);
        let before = snapshot();
        assert_eq!(crate::wait(&w, 5, Some(Duration::ZERO)), Wait::TimedOut);
        assert_eq!(crate::wait(&w, 4, Some(Duration::ZERO)), Wait::Woken);
        assert_eq!(
            crate::wait_until(&w, 5, Some(Instant::from_nanos(0))),
            Wait::TimedOut
        );
        assert_eq!(snapshot() - before, crate::count::Counts::default());

        // Long enough that the deadline cannot pass before the syscall, even on Miri's
        // virtual clock, which advances with every interpreted step.
        let before = snapshot();
        assert_eq!(
            crate::wait(&w, 5, Some(Duration::from_millis(20))),
            Wait::TimedOut
        );
        crate::wake_one(&w);
        let used = snapshot() - before;
        assert!(used.waits >= 1, "{used:?}");
        assert_eq!(used.wakes, 1);
    }

    /// os_sync and ulock meet on one word (same kernel opcode and shared key): a waiter in
    /// one API is woken by the other, both ways. Native macOS 14.4+ only (Miri has no
    /// ulock; macOS 13 has no os_sync); the macos-14 CI job runs it.
    #[cfg(all(not(miri), not(feature = "app-store-safe")))]
    #[test]
    fn os_sync_and_ulock_interoperate() {
        use core::time::Duration;
        use std::sync::Arc;
        use std::sync::mpsc;
        use std::thread;
        if !os_sync::available() {
            std::eprintln!("os_sync missing (macOS < 14.4): interop not testable here");
            return;
        }
        let limit = Duration::from_secs(20);
        type WaitFn = fn(&AtomicU32, u32, Option<Instant>) -> Wait;
        type WakeFn = fn(&AtomicU32, bool) -> WakeOutcome;
        let pairs: [(WaitFn, WakeFn); 2] = [
            (os_sync::wait_until, ulock::wake_reporting),
            (ulock::wait_until, os_sync::wake_reporting),
        ];
        for (wait, wake) in pairs {
            let word = Arc::new(AtomicU32::new(0));
            let (tx, rx) = mpsc::channel();
            let w2 = word.clone();
            let t = thread::spawn(move || tx.send(wait(&w2, 0, None)).unwrap());
            let start = Instant::now();
            // The word never changes: only a cross-API wake can end the wait.
            while wake(&word, false) != WakeOutcome::Woke {
                assert!(rx.try_recv().is_err());
                assert!(start.elapsed() < limit, "cross-API wake never matched");
                thread::yield_now();
            }
            assert_eq!(rx.recv_timeout(limit), Ok(Wait::Woken));
            t.join().unwrap();
        }
    }
}
