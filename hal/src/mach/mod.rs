//! The Mach wake protocol ([`WakeProtocol::MachTable`]): cross-process wait/wake with only
//! public, App-Store-safe Apple APIs, for macOS versions without `os_sync_wait_on_address`
//! (before 14.4), or everywhere with the `force-mach` feature.
//!
//! # Why a table
//! Public macOS APIs have no "wait on an address shared between processes" before 14.4. A
//! Mach semaphore can block a thread and be signalled from another process — but only by a
//! process holding a *send right* to it, and port names mean nothing outside their task.
//! So waiters register in a [`WaiterTable`] inside the shared region (which word, which
//! process, which of its semaphores), wakers find them there, and every process holds send
//! rights to every peer's semaphores, exchanged once when it attaches. (The C++ library
//! shmsync replaces made one semaphore per process and never exchanged ports, so a waiter in
//! another process was never woken.) See [`table`] for the protocol, why no wakeup is lost,
//! dead peers, and the degraded mode when the table is full.
//!
//! # Pieces
//! | module | what | where |
//! |---|---|---|
//! | [`table`] | the shared waiter table, generic over [`Semaphores`]; loom-checked | everywhere |
//! | `registry` | region address range → table, so `wait(&word)` finds it | Unix |
//! | `standin` | futex-word semaphores in shared memory, to run the protocol across forked processes | Linux |
//! | `abi` | every Apple type, layout, constant and signature used, checked against the SDK headers (`apple-headers` lane) | Apple + host tests |
//! | `kern` | what each semaphore `kern_return_t` means to a wait; the wait loop | Apple + host tests |
//! | `control` | which dead-name notification to believe, send/receive results, `drop_peer`'s wait | Apple + host tests |
//! | `peers` | the rendezvous bookkeeping: who may send what, rights held, watches, introductions, eviction | Apple + host tests |
//! | `ffi`, `semaphore` | Mach declarations (mostly `mach2`'s), Mach semaphores | Apple |
//! | `rendezvous`, `messages`, `control_thread` | join/leave, the wire format, the receive loop: the Mach shell around `peers` | Apple |
//!
//! # What a region does (the interface the region header uses)
//! 1. At creation with [`WakeProtocol::MachTable`], reserve [`protocol_area_len`] bytes
//!    (4-aligned) right after the header, zero-filled: that is the [`WaiterTable`].
//! 2. Creator, after zero-filling and before publishing the header: on Apple,
//!    `unsafe { mach::join(base, len, table, true, app_group) }` (it checks in the
//!    rendezvous service and records its name in the table). Attachers, after validating
//!    the header: the same with `creator = false` (it looks the name up and exchanges
//!    semaphore rights). Both register the region, so [`crate::wait`] / [`crate::wake_one`]
//!    / [`crate::wake_all`] on any word inside `[base, base + len)` go through its table,
//!    keyed by the word's byte offset.
//! 3. Detach: `Participant::leave()` (no thread of the process may still be waiting in the
//!    region).
//!
//! A word outside every registered region uses a private table of the calling process
//! (threads of one process only).
//!
//! # Limits of the rendezvous (read before shipping)
//! * The creator checks in a *dynamically named* launchd service. launchd's `bootstrap.h`
//!   says checked-in services should be declared in a plist; dynamic names work (Chromium
//!   does the same) but are not promised. A refusal is [`MachError::Rendezvous`].
//! * In the App Sandbox the name must start with the application-group id (the `app_group`
//!   argument of `join`), and every participant needs that group in its entitlements; a
//!   plug-in has its host's sandbox. Refused: `Rendezvous(1100)`.
//! * All participants must share one bootstrap namespace: one GUI login session. A GUI app
//!   and an ssh session, a LaunchDaemon or another user's session cannot meet
//!   (`Rendezvous(1102)`); use os_sync or ulock there, which need no rendezvous.
//! * Attaching needs the creator alive.
//!
//! Real-time classes: waits **may block**; wakes **may wake** (no lock, no allocation, no
//! syscall when nothing is armed, one semaphore signal per woken waiter); join and leave
//! **may block** (Mach messages) and belong to set-up, not to an audio thread.

// Under `--cfg loom` the library's own unit tests swap the table's atomics for loom's;
// the parts that run real syscalls are left out of that build.
#[cfg(all(unix, not(all(loom, test))))]
pub mod registry;
// Target-independent: compiled on Apple for `semaphore.rs`, and on every host for its tests.
#[cfg(any(test, target_vendor = "apple"))]
pub(crate) mod abi;
#[cfg(any(test, target_vendor = "apple"))]
mod control;
#[cfg(any(test, target_vendor = "apple"))]
mod kern;
#[cfg(all(any(test, target_vendor = "apple"), not(all(loom, test))))]
mod peers;
mod sync;
pub mod table;

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod tests;

// Test scaffolding (the Linux stand-in for Mach semaphores), public only so the crate's
// integration tests reach it: no API promise.
#[cfg(all(any(target_os = "linux", target_os = "android"), not(all(loom, test))))]
#[doc(hidden)]
pub mod standin;

#[cfg(target_vendor = "apple")]
mod control_thread;
#[cfg(target_vendor = "apple")]
mod ffi;
#[cfg(target_vendor = "apple")]
mod messages;
#[cfg(target_vendor = "apple")]
mod rendezvous;
#[cfg(target_vendor = "apple")]
mod semaphore;

#[cfg(all(unix, not(all(loom, test))))]
pub use registry::{REGISTRY_CAPACITY, Registration, RegistryFull};
#[cfg(target_vendor = "apple")]
pub use rendezvous::{Participant, join};
pub use table::{
    DEGRADED_POLL, MAX_PARTICIPANTS, ParticipantInfo, SEMS_PER_PARTICIPANT, SLOTS, SemaphorePool,
    Semaphores, Signal, Table, WaiterTable,
};

#[cfg(all(unix, not(all(loom, test))))]
use crate::Wait;
use crate::WakeProtocol;
#[cfg(all(unix, not(all(loom, test))))]
use crate::atomic::AtomicU32;
#[cfg(all(unix, not(all(loom, test))))]
use crate::clock::Instant;

/// Whether this build forces the Mach backend on every macOS (`force-mach` feature), so
/// that backend selection picks Mach even where os_sync exists. Real-time class: constant.
pub const FORCED: bool = cfg!(feature = "force-mach");

/// The selection rule for macOS backends, for the backend-selection code: use the Mach
/// protocol when this build forces it (`force-mach`), or when it must link no private
/// symbol (`app-store-safe`) and os_sync is missing (macOS before 14.4). Otherwise the
/// kernel-address backends (os_sync, or ulock in builds that allow it) are preferred.
/// Real-time class: constant-time, wait-free.
pub const fn selected(os_sync_available: bool) -> bool {
    FORCED || (cfg!(feature = "app-store-safe") && !os_sync_available)
}

/// Bytes a region created with protocol `p` reserves for it right after its header: the
/// [`WaiterTable`] (1 808 bytes, 4-aligned) for [`WakeProtocol::MachTable`], nothing for
/// the others. Real-time class: constant.
pub const fn protocol_area_len(p: WakeProtocol) -> usize {
    match p {
        WakeProtocol::MachTable => core::mem::size_of::<WaiterTable>(),
        WakeProtocol::KernelAddress | WakeProtocol::Spin => 0,
    }
}

/// Alignment the protocol area needs (that of [`WaiterTable`]).
pub const PROTOCOL_AREA_ALIGN: usize = core::mem::align_of::<WaiterTable>();

/// Why joining or leaving a Mach-protocol region failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MachError {
    /// All [`MAX_PARTICIPANTS`] participant entries of the region are taken.
    RegionFull,
    /// This process has joined `REGISTRY_CAPACITY` (16) regions already.
    RegistryFull,
    /// The protocol area is too small, misaligned or outside the region.
    BadArea,
    /// The rendezvous name is missing, too long or not valid (corrupt region or bad
    /// app-group prefix).
    BadName,
    /// A Mach call failed with this `kern_return_t`.
    Kernel(i32),
    /// `bootstrap_check_in` / `bootstrap_look_up` failed with this code (e.g. 1100
    /// `BOOTSTRAP_NOT_PRIVILEGED` for a name the sandbox does not allow, 1102
    /// `BOOTSTRAP_UNKNOWN_SERVICE` when the creator is gone).
    Rendezvous(i32),
    /// The peers did not complete the exchange of semaphore rights in time.
    Timeout,
    /// A peer declared this process dead while it was joining.
    Evicted,
}

impl core::fmt::Display for MachError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MachError::RegionFull => write!(
                f,
                "all {MAX_PARTICIPANTS} participant entries of the region are taken"
            ),
            MachError::RegistryFull => {
                write!(f, "this process has joined the most regions it can (16)")
            }
            MachError::BadArea => write!(
                f,
                "the Mach protocol area is too small, misaligned or outside the region"
            ),
            MachError::BadName => write!(f, "the rendezvous service name is missing or invalid"),
            MachError::Kernel(kr) => write!(f, "a Mach call failed (kern_return_t {kr})"),
            MachError::Rendezvous(kr) => write!(f, "the bootstrap rendezvous failed (code {kr})"),
            MachError::Timeout => write!(
                f,
                "peers did not complete the exchange of semaphore rights in time"
            ),
            MachError::Evicted => {
                write!(f, "a peer declared this process dead while it was joining")
            }
        }
    }
}

impl core::error::Error for MachError {}

/// Checks that `[area, area + protocol_area_len)` lies inside the region and is aligned.
#[cfg_attr(not(target_vendor = "apple"), allow(dead_code))]
pub(crate) fn check_area(
    base: *const u8,
    len: usize,
    area: *const WaiterTable,
) -> Result<(), MachError> {
    let (b, a) = (base as usize, area as usize);
    let size = core::mem::size_of::<WaiterTable>();
    if a % PROTOCOL_AREA_ALIGN != 0 || a < b || a - b > len || len - (a - b) < size {
        return Err(MachError::BadArea);
    }
    Ok(())
}

#[cfg(all(unix, not(all(loom, test))))]
/// [`crate::wait_until`] for the Mach protocol: through the table of the registered region
/// holding `word`, else through this process's private table. Real-time class: **may
/// block**.
pub fn wait_until(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Wait {
    let addr = word.as_ptr() as usize;
    if let Some(w) = registry::with_region(addr, |t, key, sems| {
        t.wait(sems, key, word, expected, deadline)
    }) {
        return w;
    }
    private::table().wait(private::semaphores(), addr as u64, word, expected, deadline)
}

#[cfg(all(unix, not(all(loom, test))))]
/// [`crate::wake_one`] / [`crate::wake_all`] for the Mach protocol; returns the number of
/// waiters signalled. Real-time class: **may wake** — a scan of the registry, one load when
/// nobody waits, one semaphore signal per woken waiter.
pub fn wake(word: &AtomicU32, all: bool) -> u32 {
    let addr = word.as_ptr() as usize;
    if let Some(n) = registry::with_region(addr, |t, key, sems| t.wake(sems, key, all)) {
        return n;
    }
    private::table().wake(private::semaphores(), addr as u64, all)
}

/// In a forked child (see `registry::install_fork_handler`): reset the private table and,
/// on Apple, every per-process Mach name the parent had.
#[cfg(all(unix, not(all(loom, test))))]
pub(crate) fn after_fork_child() {
    private::table().clear_private();
    #[cfg(any(target_os = "linux", target_os = "android"))]
    private::semaphores().reset_private();
    #[cfg(target_vendor = "apple")]
    {
        private::semaphores().reset();
        rendezvous::after_fork_child();
    }
}

#[cfg(all(unix, not(all(loom, test))))]
/// The private table: words outside every registered region, threads of this process.
mod private {
    use super::WaiterTable;

    static TABLE: WaiterTable = WaiterTable::new();

    pub(super) fn table() -> &'static WaiterTable {
        &TABLE
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(super) fn semaphores() -> &'static super::standin::StandinSemaphores {
        static AREA: super::standin::StandinArea = super::standin::StandinArea::new();
        static SEMS: super::standin::StandinSemaphores =
            super::standin::StandinSemaphores::private(&TABLE, &AREA);
        &SEMS
    }

    #[cfg(target_vendor = "apple")]
    pub(super) fn semaphores() -> &'static super::semaphore::PrivateSemaphores {
        static SEMS: super::semaphore::PrivateSemaphores =
            super::semaphore::PrivateSemaphores::new();
        &SEMS
    }

    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    pub(super) fn semaphores() -> &'static Unsupported {
        &Unsupported
    }

    /// Other Unix systems have neither Mach nor the futex stand-in: the private table
    /// always degrades to polling.
    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    pub(super) struct Unsupported;

    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    impl super::Semaphores for Unsupported {
        fn identity(&self) -> (u32, u32) {
            (0, 0)
        }
        fn claim(&self) -> Option<u32> {
            None
        }
        fn release(&self, _: u32) {}
        fn drain(&self, _: u32) {}
        fn wait(&self, _: u32, _: Option<crate::clock::Instant>) -> bool {
            false
        }
        fn signal(&self, _: u32, _: u32, _: u32) -> super::Signal {
            super::Signal::Unknown
        }
        fn nap(&self, max: core::time::Duration) {
            super::registry::nap(max);
        }
    }
}
