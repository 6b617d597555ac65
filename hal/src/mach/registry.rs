//! The process-wide registry of joined Mach-protocol regions: how `wait` / `wake` on a bare
//! `&AtomicU32` find the waiter table of the region the word lives in, and the word's byte
//! offset in it (the key every process agrees on, whatever address it mapped the region
//! at).
//!
//! A fixed array of [`REGISTRY_CAPACITY`] entries in a `static` — no allocation, no lock.
//! A lookup scans the entries (one load each while free), checks `base <= addr < base +
//! len`, and pins the entry with a user count for the duration of the operation, so
//! [`unregister`] can wait until no thread of this process is inside the region's table.

use super::table::{Semaphores, WaiterTable};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use core::time::Duration;

/// Regions one process can have joined at once.
pub const REGISTRY_CAPACITY: usize = 16;

/// Entry free.
const FREE: u32 = 0;
/// Being filled in by `register`; invisible to lookups.
const FILLING: u32 = 1;
/// Registered: lookups may use it.
const READY: u32 = 2;
/// Being removed: new lookups skip it; `unregister` waits for the users to leave.
const CLOSING: u32 = 3;

struct Entry {
    state: AtomicU32,
    /// Threads of this process inside the region's table through this entry.
    users: AtomicU32,
    base: AtomicUsize,
    len: AtomicUsize,
    target: UnsafeCell<Option<Target>>,
}

#[derive(Clone, Copy)]
struct Target {
    table: *const WaiterTable,
    sems: *const (dyn Semaphores + Sync),
}

// SAFETY: `target` is written only by the thread that moved the entry FREE → FILLING and
// read only after an Acquire load saw READY (or CLOSING) published with Release after the
// write; the pointees are Sync and outlive the registration (`register`'s contract).
unsafe impl Sync for Entry {}

#[allow(clippy::declare_interior_mutable_const)] // used only to initialise the array
const EMPTY: Entry = Entry {
    state: AtomicU32::new(FREE),
    users: AtomicU32::new(0),
    base: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    target: UnsafeCell::new(None),
};

static ENTRIES: [Entry; REGISTRY_CAPACITY] = [EMPTY; REGISTRY_CAPACITY];

/// A live registration; give it back to [`unregister`].
#[derive(Debug)]
#[must_use = "a registration must be unregistered before the region is unmapped"]
pub struct Registration {
    index: usize,
}

/// The registry already holds [`REGISTRY_CAPACITY`] regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryFull;

/// Registers the region `[base, base + len)` with its table and this process's semaphores
/// for it.
///
/// # Safety
/// `table` and `sems` must stay valid (mapped, not moved) until [`unregister`] returns,
/// and the region range must not overlap another registered one.
pub unsafe fn register(
    base: *const u8,
    len: usize,
    table: *const WaiterTable,
    sems: *const (dyn Semaphores + Sync),
) -> Result<Registration, RegistryFull> {
    install_fork_handler();
    for (index, e) in ENTRIES.iter().enumerate() {
        if e.state
            .compare_exchange(FREE, FILLING, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            e.base.store(base as usize, Ordering::Relaxed);
            e.len.store(len, Ordering::Relaxed);
            // SAFETY: FILLING is exclusive to this thread (see `impl Sync for Entry`).
            unsafe { *e.target.get() = Some(Target { table, sems }) };
            e.state.store(READY, Ordering::Release);
            return Ok(Registration { index });
        }
    }
    Err(RegistryFull)
}

/// Removes a registration, after waiting until no thread of this process is inside the
/// region's table through it (threads blocked there must have been woken first; see
/// `Participant::leave`). Real-time class: **may block**.
pub fn unregister(r: Registration) {
    let e = &ENTRIES[r.index];
    e.state.store(CLOSING, Ordering::SeqCst);
    while e.users.load(Ordering::SeqCst) != 0 {
        nap(Duration::from_micros(50));
    }
    // SAFETY: CLOSING with no users: no lookup reads `target` any more.
    unsafe { *e.target.get() = None };
    e.state.store(FREE, Ordering::Release);
}

/// Runs `f` with the table, the word's key and the semaphores of the registered region
/// holding `addr`, or returns `None` when no registered region holds it.
/// Real-time class: wait-free apart from `f` (a scan of the entries).
pub(crate) fn with_region<R>(
    addr: usize,
    f: impl FnOnce(&WaiterTable, u64, &dyn Semaphores) -> R,
) -> Option<R> {
    for e in &ENTRIES {
        if e.state.load(Ordering::Acquire) != READY {
            continue;
        }
        let base = e.base.load(Ordering::Relaxed);
        let len = e.len.load(Ordering::Relaxed);
        if addr < base || addr - base >= len {
            continue;
        }
        // Pin, then re-check: pairs with `unregister`'s "store CLOSING; load users".
        e.users.fetch_add(1, Ordering::SeqCst);
        if e.state.load(Ordering::SeqCst) != READY {
            e.users.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        // SAFETY: READY was published after `target` was written, and the pin keeps
        // `unregister` from clearing it.
        let target = unsafe { *e.target.get() };
        let Some(t) = target else {
            e.users.fetch_sub(1, Ordering::SeqCst);
            continue;
        };
        // SAFETY: `register`'s contract keeps both pointees valid while registered, and
        // the pin keeps the registration alive for this call.
        let (table, sems) = unsafe { (&*t.table, &*t.sems) };
        let r = f(table, (addr - base) as u64, sems);
        e.users.fetch_sub(1, Ordering::SeqCst);
        return Some(r);
    }
    None
}

/// Whether the fork handler is installed.
static FORK_HANDLER: AtomicBool = AtomicBool::new(false);

/// Installs (once) a `pthread_atfork` child handler: a forked child is another process,
/// with no participant entry of its own and — on Apple — none of the parent's port names,
/// so it starts with an empty registry and fresh per-process Mach state. Real-time class:
/// one load after the first call.
pub(crate) fn install_fork_handler() {
    if FORK_HANDLER.load(Ordering::Acquire) || FORK_HANDLER.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: registers a handler that only performs atomic stores (async-signal-safe).
    unsafe { libc::pthread_atfork(None, None, Some(after_fork_child)) };
}

/// In the child after `fork`: forget every registration and the per-process Mach state.
unsafe extern "C" fn after_fork_child() {
    for e in &ENTRIES {
        e.users.store(0, Ordering::Relaxed);
        e.state.store(FREE, Ordering::Release);
    }
    super::after_fork_child();
}

/// Sleeps for `d` (the registry's and degraded mode's only sleep).
pub(crate) fn nap(d: Duration) {
    let ts = libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as _,
    };
    // SAFETY: `ts` is a valid timespec; a null remainder pointer is allowed. An early
    // return on a signal only shortens one poll period.
    unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
}

/// Whether process `pid` provably no longer exists: `kill(pid, 0)` fails with `ESRCH`.
/// `EPERM` (another user's process) and success both mean it exists; a reused pid reads as
/// alive, which only delays a reclamation (unknown is never dead). Real-time class: one
/// syscall.
pub fn pid_gone(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    unsafe { libc::kill(pid, 0) == -1 && crate::unix::errno() == libc::ESRCH }
}
