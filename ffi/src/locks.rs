//! Mutex, condvar, semaphore, rwlock and the two events as opaque fixed-size C types.
//!
//! Each `shmsync_*_t` is the exact size and alignment of the Rust type it stands for
//! (pinned by the `const` assertions below) and lives wherever the caller puts it —
//! normally inside a region's user area in shared memory. All-zero bytes are a valid
//! unlocked / empty / unset object, so `*_init` is only needed to reuse memory or to give
//! a semaphore an initial count or an event an initial state.
//!
//! # Guards across C
//! Rust hands out a guard for a held lock; C has no destructors, so `*_lock` takes the
//! lock, then forgets the guard (`mem::forget`: the lock stays held, nothing leaks but
//! the guard's borrow), and `*_unlock` rebuilds the guard with the core's
//! `guard_from_held` / `*_guard_from_held` and drops it. The rebuild **re-validates**:
//! a mutex unlock is refused with [`SHMSYNC_E_NOT_OWNER`] unless the mutex word names this
//! process as holder (so unlocking a free mutex, or one held by another process, does
//! nothing); a rwlock unlock is refused unless the lock is held in that mode. What cannot
//! be checked: the word names a process, not a thread, so another thread of the holding
//! process passes the check — like `pthread_mutex_unlock` on a default mutex, unlocking
//! from a thread that did not lock is the caller's bug.

use crate::{
    SHMSYNC_E_BUSY, SHMSYNC_E_NOT_OWNER, SHMSYNC_E_OVERFLOW, SHMSYNC_E_TIMEDOUT, SHMSYNC_FOREVER,
    SHMSYNC_OK, SHMSYNC_OWNER_DEAD, check_ptr, code, guard, timeout,
};
use core::ffi::c_int;
use shmsync::sync::{MutexGuard, TryLockError};
use shmsync::{AutoResetEvent, Condvar, ManualResetEvent, Mutex, RwLock, Semaphore};

/// The data of the C mutex and rwlock: none (the C caller protects its own data).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
pub(crate) struct NoData;

// SAFETY: a zero-sized repr(C) type: no bytes, so every (empty) bit pattern is valid and
// nothing process-local is in it.
unsafe impl shmsync::ShmSafe for NoData {
    const TAG: u64 = shmsync::tag(b"shmsync-ffi::NoData");
}

/// Bytes of a [`shmsync_mutex_t`].
pub const SHMSYNC_MUTEX_SIZE: usize = 16;
/// Alignment of a [`shmsync_mutex_t`].
pub const SHMSYNC_MUTEX_ALIGN: usize = 4;
/// Bytes of a [`shmsync_condvar_t`].
pub const SHMSYNC_CONDVAR_SIZE: usize = 8;
/// Alignment of a [`shmsync_condvar_t`].
pub const SHMSYNC_CONDVAR_ALIGN: usize = 4;
/// Bytes of a [`shmsync_semaphore_t`].
pub const SHMSYNC_SEMAPHORE_SIZE: usize = 8;
/// Alignment of a [`shmsync_semaphore_t`].
pub const SHMSYNC_SEMAPHORE_ALIGN: usize = 4;
/// Bytes of a [`shmsync_rwlock_t`].
pub const SHMSYNC_RWLOCK_SIZE: usize = 16;
/// Alignment of a [`shmsync_rwlock_t`].
pub const SHMSYNC_RWLOCK_ALIGN: usize = 4;
/// Bytes of a [`shmsync_auto_event_t`] and of a [`shmsync_manual_event_t`].
pub const SHMSYNC_EVENT_SIZE: usize = 8;
/// Alignment of a [`shmsync_auto_event_t`] and of a [`shmsync_manual_event_t`].
pub const SHMSYNC_EVENT_ALIGN: usize = 4;

/// A process-shared mutex with owner-death recovery (`shmsync::Mutex<NoData>`).
#[repr(C)]
pub struct shmsync_mutex_t {
    _opaque: [u32; 4],
}

/// A process-shared condition variable, used with a [`shmsync_mutex_t`].
#[repr(C)]
pub struct shmsync_condvar_t {
    _opaque: [u32; 2],
}

/// A process-shared counting semaphore.
#[repr(C)]
pub struct shmsync_semaphore_t {
    _opaque: [u32; 2],
}

/// A process-shared reader-writer lock (`shmsync::RwLock<NoData>`).
#[repr(C)]
pub struct shmsync_rwlock_t {
    _opaque: [u32; 4],
}

/// A process-shared auto-reset event: a successful wait consumes the signal.
#[repr(C)]
pub struct shmsync_auto_event_t {
    _opaque: [u32; 2],
}

/// A process-shared manual-reset event: stays set until reset.
#[repr(C)]
pub struct shmsync_manual_event_t {
    _opaque: [u32; 2],
}

/// Pins a C type and the Rust type it stands for to the header's SIZE / ALIGN numbers.
macro_rules! pin {
    ($c:ty, $rust:ty, $size:expr, $align:expr) => {
        const _: () = {
            assert!(
                size_of::<$rust>() == $size,
                concat!("size of ", stringify!($rust))
            );
            assert!(
                align_of::<$rust>() == $align,
                concat!("align of ", stringify!($rust))
            );
            assert!(
                size_of::<$c>() == $size,
                concat!("size of ", stringify!($c))
            );
            assert!(
                align_of::<$c>() == $align,
                concat!("align of ", stringify!($c))
            );
        };
    };
}
pin!(
    shmsync_mutex_t,
    Mutex<NoData>,
    SHMSYNC_MUTEX_SIZE,
    SHMSYNC_MUTEX_ALIGN
);
pin!(
    shmsync_condvar_t,
    Condvar,
    SHMSYNC_CONDVAR_SIZE,
    SHMSYNC_CONDVAR_ALIGN
);
pin!(
    shmsync_semaphore_t,
    Semaphore,
    SHMSYNC_SEMAPHORE_SIZE,
    SHMSYNC_SEMAPHORE_ALIGN
);
pin!(
    shmsync_rwlock_t,
    RwLock<NoData>,
    SHMSYNC_RWLOCK_SIZE,
    SHMSYNC_RWLOCK_ALIGN
);
pin!(
    shmsync_auto_event_t,
    AutoResetEvent,
    SHMSYNC_EVENT_SIZE,
    SHMSYNC_EVENT_ALIGN
);
pin!(
    shmsync_manual_event_t,
    ManualResetEvent,
    SHMSYNC_EVENT_SIZE,
    SHMSYNC_EVENT_ALIGN
);

/// The Rust object behind a checked C pointer.
///
/// # Safety
/// A non-null, aligned `p` points to a live object of type `R` (or to bytes that are one:
/// every bit pattern of these types is a valid, perhaps wrong, state).
unsafe fn obj<'a, C, R>(p: *const C) -> Result<&'a R, c_int> {
    check_ptr(p, align_of::<R>())?;
    // SAFETY: non-null and aligned (checked); live and of type R by the caller's contract;
    // R is all atomics (interior mutability), so a shared reference is the right view.
    Ok(unsafe { &*p.cast::<R>() })
}

/// Writes `value` over the object at a checked pointer.
///
/// # Safety
/// `p` points to writable memory of `size_of::<R>()` bytes that no one uses meanwhile.
unsafe fn put<C, R>(p: *mut C, value: R) -> c_int {
    if let Err(e) = check_ptr(p, align_of::<R>()) {
        return e;
    }
    // SAFETY: non-null, aligned (checked), writable and unused (caller).
    unsafe { p.cast::<R>().write(value) };
    SHMSYNC_OK
}

fn locked(g: MutexGuard<'_, NoData>) -> c_int {
    core::mem::forget(g);
    SHMSYNC_OK
}

fn dead(g: MutexGuard<'_, NoData>) -> c_int {
    core::mem::forget(g);
    SHMSYNC_OWNER_DEAD
}

fn try_result(
    r: Result<MutexGuard<'_, NoData>, TryLockError<MutexGuard<'_, NoData>>>,
    busy: c_int,
) -> c_int {
    match r {
        Ok(g) => locked(g),
        Err(TryLockError::OwnerDead(d)) => dead(d.into_inner()),
        Err(TryLockError::WouldBlock) => busy,
    }
}

// ---------------------------------------------------------------------------------------
// Mutex

/// Initialises an unlocked mutex (all-zero bytes are one too). Do not call on a mutex
/// in use. Real-time class: wait-free.
///
/// # Safety
/// `m` points to writable memory of [`SHMSYNC_MUTEX_SIZE`] bytes nobody uses meanwhile.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_mutex_init(m: *mut shmsync_mutex_t) -> c_int {
    // SAFETY: forwarded.
    guard(|| unsafe { put(m, Mutex::new(NoData)) })
}

/// Locks, waiting as long as it takes. [`SHMSYNC_OK`], or [`SHMSYNC_OWNER_DEAD`] (held
/// now; the previous holder died: repair, then [`shmsync_mutex_consistent`]).
/// Real-time class: **may block**.
///
/// # Safety
/// `m` points to a live `shmsync_mutex_t` (in memory every user maps).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_mutex_lock(m: *mut shmsync_mutex_t) -> c_int {
    guard(|| {
        // SAFETY: forwarded.
        code(
            // SAFETY: forwarded from the caller's contract (see # Safety).
            unsafe { obj::<_, Mutex<NoData>>(m) }.map(|m| match m.lock() {
                Ok(g) => locked(g),
                Err(d) => dead(d.into_inner()),
            }),
        )
    })
}

/// Locks, waiting at most `timeout_ns` ([`SHMSYNC_FOREVER`]: no limit). OK / OWNER_DEAD /
/// [`SHMSYNC_E_TIMEDOUT`]. Real-time class: **may block**.
///
/// # Safety
/// As for [`shmsync_mutex_lock`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_mutex_timedlock(
    m: *mut shmsync_mutex_t,
    timeout_ns: u64,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded.
        code(
            // SAFETY: forwarded from the caller's contract (see # Safety).
            unsafe { obj::<_, Mutex<NoData>>(m) }.map(|m| match timeout(timeout_ns) {
                None => match m.lock() {
                    Ok(g) => locked(g),
                    Err(d) => dead(d.into_inner()),
                },
                Some(t) => try_result(m.lock_timeout(t), SHMSYNC_E_TIMEDOUT),
            }),
        )
    })
}

/// Locks if free right now: OK / OWNER_DEAD / [`SHMSYNC_E_BUSY`]. Real-time class:
/// **wait-free** (no syscall; never detects a dead holder — a timed lock does).
///
/// # Safety
/// As for [`shmsync_mutex_lock`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_mutex_trylock(m: *mut shmsync_mutex_t) -> c_int {
    guard(|| {
        // SAFETY: forwarded.
        code(
            // SAFETY: forwarded from the caller's contract (see # Safety).
            unsafe { obj::<_, Mutex<NoData>>(m) }.map(|m| try_result(m.try_lock(), SHMSYNC_E_BUSY)),
        )
    })
}

/// Unlocks a mutex this process holds; [`SHMSYNC_E_NOT_OWNER`] (nothing done) if the
/// mutex word does not name this process (see the module docs). Real-time class: **may
/// wake**.
///
/// # Safety
/// As for [`shmsync_mutex_lock`]; the calling thread is the one that locked it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_mutex_unlock(m: *mut shmsync_mutex_t) -> c_int {
    guard(|| {
        // SAFETY: forwarded.
        code(unsafe { obj::<_, Mutex<NoData>>(m) }.map(|m| {
            // SAFETY: the C lock entry points forgot the guard; the caller (the locking
            // thread) is its logical holder; this rebuilt guard is dropped at once.
            match unsafe { m.guard_from_held() } {
                Some(g) => {
                    drop(g);
                    SHMSYNC_OK
                }
                None => SHMSYNC_E_NOT_OWNER,
            }
        }))
    })
}

/// Declares the data repaired after [`SHMSYNC_OWNER_DEAD`] (call while holding the
/// lock): later lockers get OK again. [`SHMSYNC_E_NOT_OWNER`] if not held by this process.
/// Real-time class: wait-free.
///
/// # Safety
/// As for [`shmsync_mutex_unlock`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_mutex_consistent(m: *mut shmsync_mutex_t) -> c_int {
    guard(|| {
        // SAFETY: forwarded.
        code(unsafe { obj::<_, Mutex<NoData>>(m) }.map(|m| {
            // SAFETY: as in `shmsync_mutex_unlock`; the rebuilt guard is forgotten again,
            // so the lock stays held.
            match unsafe { m.guard_from_held() } {
                Some(mut g) => {
                    g.mark_consistent();
                    locked(g)
                }
                None => SHMSYNC_E_NOT_OWNER,
            }
        }))
    })
}

// ---------------------------------------------------------------------------------------
// Condvar

/// Initialises a condvar (all-zero bytes are one too). Real-time class: wait-free.
///
/// # Safety
/// `c` points to writable memory of [`SHMSYNC_CONDVAR_SIZE`] bytes nobody uses meanwhile.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_condvar_init(c: *mut shmsync_condvar_t) -> c_int {
    // SAFETY: forwarded.
    guard(|| unsafe { put(c, Condvar::new()) })
}

/// Atomically unlocks `m` (held by this thread), waits for a notify or `timeout_ns`
/// ([`SHMSYNC_FOREVER`]: no limit), and locks `m` again before returning — also on
/// timeout, like `pthread_cond_timedwait`. Returns OK (woken; spurious wake-ups happen,
/// re-check the condition), [`SHMSYNC_E_TIMEDOUT`], [`SHMSYNC_OWNER_DEAD`] (re-locked
/// after a holder died; takes precedence over a timeout), or [`SHMSYNC_E_NOT_OWNER`]
/// (`m` not held: nothing done). Real-time class: **may block**.
///
/// # Safety
/// `c` and `m` point to a live condvar and mutex; the calling thread holds `m`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_condvar_timedwait(
    c: *mut shmsync_condvar_t,
    m: *mut shmsync_mutex_t,
    timeout_ns: u64,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded.
        let r = unsafe { obj::<_, Condvar>(c) }.and_then(|c| {
            // SAFETY: forwarded.
            let m = unsafe { obj::<_, Mutex<NoData>>(m) }?;
            // SAFETY: as in `shmsync_mutex_unlock`; the guard given back by the wait is
            // forgotten, so the lock is held on return exactly as on entry.
            let Some(g) = (unsafe { m.guard_from_held() }) else {
                return Err(SHMSYNC_E_NOT_OWNER);
            };
            Ok(match timeout(timeout_ns) {
                None => match c.wait(g) {
                    Ok(g) => locked(g),
                    Err(d) => dead(d.into_inner()),
                },
                Some(t) => match c.wait_timeout(g, t) {
                    Ok((g, r)) => {
                        core::mem::forget(g);
                        if r.timed_out() {
                            SHMSYNC_E_TIMEDOUT
                        } else {
                            SHMSYNC_OK
                        }
                    }
                    Err(d) => dead(d.into_inner().0),
                },
            })
        });
        code(r)
    })
}

/// [`shmsync_condvar_timedwait`] without a timeout. Real-time class: **may block**.
///
/// # Safety
/// As for [`shmsync_condvar_timedwait`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_condvar_wait(
    c: *mut shmsync_condvar_t,
    m: *mut shmsync_mutex_t,
) -> c_int {
    // SAFETY: forwarded.
    unsafe { shmsync_condvar_timedwait(c, m, SHMSYNC_FOREVER) }
}

/// Wakes one waiter (if any). Real-time class: **may wake**.
///
/// # Safety
/// `c` points to a live condvar.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_condvar_signal(c: *mut shmsync_condvar_t) -> c_int {
    guard(|| {
        // SAFETY: forwarded from the caller's contract (see # Safety).
        code(unsafe { obj::<_, Condvar>(c) }.map(|c| {
            c.notify_one();
            SHMSYNC_OK
        }))
    })
}

/// Wakes every waiter. Real-time class: **may wake**.
///
/// # Safety
/// `c` points to a live condvar.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_condvar_broadcast(c: *mut shmsync_condvar_t) -> c_int {
    guard(|| {
        // SAFETY: forwarded from the caller's contract (see # Safety).
        code(unsafe { obj::<_, Condvar>(c) }.map(|c| {
            c.notify_all();
            SHMSYNC_OK
        }))
    })
}

// ---------------------------------------------------------------------------------------
// Semaphore

/// Initialises a semaphore with `initial` permits. Real-time class: wait-free.
///
/// # Safety
/// `s` points to writable memory of [`SHMSYNC_SEMAPHORE_SIZE`] bytes nobody uses
/// meanwhile.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_semaphore_init(
    s: *mut shmsync_semaphore_t,
    initial: u32,
) -> c_int {
    // SAFETY: forwarded.
    guard(|| unsafe { put(s, Semaphore::new(initial)) })
}

/// Takes one permit, waiting at most `timeout_ns` ([`SHMSYNC_FOREVER`]: no limit; 0: only
/// try). OK / [`SHMSYNC_E_TIMEDOUT`]. Real-time class: **may block**.
///
/// # Safety
/// `s` points to a live semaphore.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_semaphore_timedwait(
    s: *mut shmsync_semaphore_t,
    timeout_ns: u64,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded.
        code(
            // SAFETY: forwarded from the caller's contract (see # Safety).
            unsafe { obj::<_, Semaphore>(s) }.map(|s| match timeout(timeout_ns) {
                None => {
                    s.wait();
                    SHMSYNC_OK
                }
                Some(t) if s.wait_timeout(t) => SHMSYNC_OK,
                Some(_) => SHMSYNC_E_TIMEDOUT,
            }),
        )
    })
}

/// Takes one permit, waiting as long as it takes. Real-time class: **may block**.
///
/// # Safety
/// `s` points to a live semaphore.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_semaphore_wait(s: *mut shmsync_semaphore_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { shmsync_semaphore_timedwait(s, SHMSYNC_FOREVER) }
}

/// Takes one permit if there is one: OK / [`SHMSYNC_E_BUSY`]. Real-time class:
/// **wait-free**.
///
/// # Safety
/// `s` points to a live semaphore.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_semaphore_trywait(s: *mut shmsync_semaphore_t) -> c_int {
    guard(|| {
        // SAFETY: forwarded from the caller's contract (see # Safety).
        code(unsafe { obj::<_, Semaphore>(s) }.map(|s| {
            if s.try_wait() {
                SHMSYNC_OK
            } else {
                SHMSYNC_E_BUSY
            }
        }))
    })
}

/// Adds `n` permits, waking waiters: OK / [`SHMSYNC_E_OVERFLOW`] (nothing added).
/// Real-time class: **may wake**.
///
/// # Safety
/// `s` points to a live semaphore.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_semaphore_post(s: *mut shmsync_semaphore_t, n: u32) -> c_int {
    guard(|| {
        // SAFETY: forwarded from the caller's contract (see # Safety).
        code(unsafe { obj::<_, Semaphore>(s) }.map(|s| match s.post(n) {
            Ok(()) => SHMSYNC_OK,
            Err(_) => SHMSYNC_E_OVERFLOW,
        }))
    })
}

/// Stores the current number of permits (a snapshot) in `*out`. Real-time class:
/// wait-free.
///
/// # Safety
/// `s` points to a live semaphore; `out` to a writable `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_semaphore_value(
    s: *mut shmsync_semaphore_t,
    out: *mut u32,
) -> c_int {
    guard(|| {
        if let Err(e) = check_ptr(out, 4) {
            return e;
        }
        // SAFETY: forwarded; `out` checked.
        code(unsafe { obj::<_, Semaphore>(s) }.map(|s| {
            // SAFETY: checked non-null and aligned; writable by the caller's contract.
            unsafe { out.write(s.count()) };
            SHMSYNC_OK
        }))
    })
}

// ---------------------------------------------------------------------------------------
// RwLock

/// Initialises an unlocked rwlock (all-zero bytes are one too). Real-time class:
/// wait-free.
///
/// # Safety
/// `l` points to writable memory of [`SHMSYNC_RWLOCK_SIZE`] bytes nobody uses meanwhile.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_rwlock_init(l: *mut shmsync_rwlock_t) -> c_int {
    // SAFETY: forwarded.
    guard(|| unsafe { put(l, RwLock::new(NoData)) })
}

/// Takes a read lock, waiting at most `timeout_ns` ([`SHMSYNC_FOREVER`]: no limit; 0:
/// only try, [`SHMSYNC_E_BUSY`] when held). OK / [`SHMSYNC_E_TIMEDOUT`]. Real-time class:
/// **may block**.
///
/// # Safety
/// `l` points to a live rwlock.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_rwlock_timedrdlock(
    l: *mut shmsync_rwlock_t,
    timeout_ns: u64,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded.
        code(unsafe { obj::<_, RwLock<NoData>>(l) }.map(|l| {
            let g = match timeout(timeout_ns) {
                None => Some(l.read()),
                Some(t) if t.is_zero() => {
                    return l.try_read().map_or(SHMSYNC_E_BUSY, |g| {
                        core::mem::forget(g);
                        SHMSYNC_OK
                    });
                }
                Some(t) => l.read_timeout(t),
            };
            g.map_or(SHMSYNC_E_TIMEDOUT, |g| {
                core::mem::forget(g);
                SHMSYNC_OK
            })
        }))
    })
}

/// Takes the write lock, waiting at most `timeout_ns` (as for
/// [`shmsync_rwlock_timedrdlock`]). Real-time class: **may block**.
///
/// # Safety
/// `l` points to a live rwlock.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_rwlock_timedwrlock(
    l: *mut shmsync_rwlock_t,
    timeout_ns: u64,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded.
        code(unsafe { obj::<_, RwLock<NoData>>(l) }.map(|l| {
            let g = match timeout(timeout_ns) {
                None => Some(l.write()),
                Some(t) if t.is_zero() => {
                    return l.try_write().map_or(SHMSYNC_E_BUSY, |g| {
                        core::mem::forget(g);
                        SHMSYNC_OK
                    });
                }
                Some(t) => l.write_timeout(t),
            };
            g.map_or(SHMSYNC_E_TIMEDOUT, |g| {
                core::mem::forget(g);
                SHMSYNC_OK
            })
        }))
    })
}

/// Read lock, no limit. Real-time class: **may block**.
///
/// # Safety
/// `l` points to a live rwlock.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_rwlock_rdlock(l: *mut shmsync_rwlock_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { shmsync_rwlock_timedrdlock(l, SHMSYNC_FOREVER) }
}

/// Write lock, no limit. Real-time class: **may block**.
///
/// # Safety
/// `l` points to a live rwlock.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_rwlock_wrlock(l: *mut shmsync_rwlock_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { shmsync_rwlock_timedwrlock(l, SHMSYNC_FOREVER) }
}

/// Read lock if available now: OK / [`SHMSYNC_E_BUSY`]. Real-time class: lock-free.
///
/// # Safety
/// `l` points to a live rwlock.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_rwlock_tryrdlock(l: *mut shmsync_rwlock_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { shmsync_rwlock_timedrdlock(l, 0) }
}

/// Write lock if free now: OK / [`SHMSYNC_E_BUSY`]. Real-time class: wait-free.
///
/// # Safety
/// `l` points to a live rwlock.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_rwlock_trywrlock(l: *mut shmsync_rwlock_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { shmsync_rwlock_timedwrlock(l, 0) }
}

/// Releases a read lock; [`SHMSYNC_E_NOT_OWNER`] if no reader holds it. Real-time class:
/// **may wake**.
///
/// # Safety
/// `l` points to a live rwlock on which the calling thread holds a read lock.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_rwlock_rdunlock(l: *mut shmsync_rwlock_t) -> c_int {
    guard(|| {
        // SAFETY: forwarded.
        code(unsafe { obj::<_, RwLock<NoData>>(l) }.map(|l| {
            // SAFETY: the C lock entry points forgot the guard; the caller holds it.
            match unsafe { l.read_guard_from_held() } {
                Some(g) => {
                    drop(g);
                    SHMSYNC_OK
                }
                None => SHMSYNC_E_NOT_OWNER,
            }
        }))
    })
}

/// Releases the write lock; [`SHMSYNC_E_NOT_OWNER`] if no writer holds it. Real-time
/// class: **may wake**.
///
/// # Safety
/// `l` points to a live rwlock whose write lock the calling thread holds.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_rwlock_wrunlock(l: *mut shmsync_rwlock_t) -> c_int {
    guard(|| {
        // SAFETY: forwarded.
        code(unsafe { obj::<_, RwLock<NoData>>(l) }.map(|l| {
            // SAFETY: the C lock entry points forgot the guard; the caller holds it.
            match unsafe { l.write_guard_from_held() } {
                Some(g) => {
                    drop(g);
                    SHMSYNC_OK
                }
                None => SHMSYNC_E_NOT_OWNER,
            }
        }))
    })
}

// ---------------------------------------------------------------------------------------
// Events

/// Initialises an auto-reset event, set (`initially_set != 0`) or not. Real-time class:
/// wait-free.
///
/// # Safety
/// `e` points to writable memory of [`SHMSYNC_EVENT_SIZE`] bytes nobody uses meanwhile.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_auto_event_init(
    e: *mut shmsync_auto_event_t,
    initially_set: c_int,
) -> c_int {
    let v = if initially_set != 0 {
        AutoResetEvent::new_set()
    } else {
        AutoResetEvent::new()
    };
    // SAFETY: forwarded.
    guard(|| unsafe { put(e, v) })
}

/// Initialises a manual-reset event. Real-time class: wait-free.
///
/// # Safety
/// As for [`shmsync_auto_event_init`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_manual_event_init(
    e: *mut shmsync_manual_event_t,
    initially_set: c_int,
) -> c_int {
    let v = if initially_set != 0 {
        ManualResetEvent::new_set()
    } else {
        ManualResetEvent::new()
    };
    // SAFETY: forwarded.
    guard(|| unsafe { put(e, v) })
}

// AutoResetEvent
/// Sets the event, waking waiters (auto-reset: one). Real-time class: **may wake**.
///
/// # Safety
/// `e` points to a live event of this kind.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_auto_event_set(e: *mut shmsync_auto_event_t) -> c_int {
    guard(|| {
        // SAFETY: forwarded from the caller's contract (see # Safety).
        code(unsafe { obj::<_, AutoResetEvent>(e) }.map(|e| {
            e.set();
            SHMSYNC_OK
        }))
    })
}

/// Clears the event. Real-time class: wait-free.
///
/// # Safety
/// `e` points to a live event of this kind.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_auto_event_reset(e: *mut shmsync_auto_event_t) -> c_int {
    guard(|| {
        // SAFETY: forwarded from the caller's contract (see # Safety).
        code(unsafe { obj::<_, AutoResetEvent>(e) }.map(|e| {
            e.reset();
            SHMSYNC_OK
        }))
    })
}

/// OK if set (auto-reset: consumes it), else [`SHMSYNC_E_BUSY`]. Real-time class:
/// wait-free.
///
/// # Safety
/// `e` points to a live event of this kind.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_auto_event_trywait(e: *mut shmsync_auto_event_t) -> c_int {
    guard(|| {
        // SAFETY: forwarded from the caller's contract (see # Safety).
        code(unsafe { obj::<_, AutoResetEvent>(e) }.map(|e| {
            if e.try_wait() {
                SHMSYNC_OK
            } else {
                SHMSYNC_E_BUSY
            }
        }))
    })
}

/// Waits until set, at most `timeout_ns` ([`SHMSYNC_FOREVER`]: no limit): OK /
/// [`SHMSYNC_E_TIMEDOUT`]. Real-time class: **may block**.
///
/// # Safety
/// `e` points to a live event of this kind.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_auto_event_timedwait(
    e: *mut shmsync_auto_event_t,
    timeout_ns: u64,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded from the caller's contract (see # Safety).
        code(
            // SAFETY: forwarded from the caller's contract (see # Safety).
            unsafe { obj::<_, AutoResetEvent>(e) }.map(|e| match timeout(timeout_ns) {
                None => {
                    e.wait();
                    SHMSYNC_OK
                }
                Some(t) if e.wait_timeout(t) => SHMSYNC_OK,
                Some(_) => SHMSYNC_E_TIMEDOUT,
            }),
        )
    })
}

/// Waits until set, no limit. Real-time class: **may block**.
///
/// # Safety
/// `e` points to a live event of this kind.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_auto_event_wait(e: *mut shmsync_auto_event_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { shmsync_auto_event_timedwait(e, SHMSYNC_FOREVER) }
}

/// 1 if set, 0 if not (a snapshot; consumes nothing), or a negative error code.
/// Real-time class: wait-free.
///
/// # Safety
/// `e` points to a live event of this kind.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_auto_event_is_set(e: *mut shmsync_auto_event_t) -> c_int {
    // SAFETY: forwarded.
    guard(|| code(unsafe { obj::<_, AutoResetEvent>(e) }.map(|e| c_int::from(e.is_set()))))
}

// ManualResetEvent
/// Sets the event, waking waiters (auto-reset: one). Real-time class: **may wake**.
///
/// # Safety
/// `e` points to a live event of this kind.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_manual_event_set(e: *mut shmsync_manual_event_t) -> c_int {
    guard(|| {
        // SAFETY: forwarded from the caller's contract (see # Safety).
        code(unsafe { obj::<_, ManualResetEvent>(e) }.map(|e| {
            e.set();
            SHMSYNC_OK
        }))
    })
}

/// Clears the event. Real-time class: wait-free.
///
/// # Safety
/// `e` points to a live event of this kind.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_manual_event_reset(e: *mut shmsync_manual_event_t) -> c_int {
    guard(|| {
        // SAFETY: forwarded from the caller's contract (see # Safety).
        code(unsafe { obj::<_, ManualResetEvent>(e) }.map(|e| {
            e.reset();
            SHMSYNC_OK
        }))
    })
}

/// OK if set (auto-reset: consumes it), else [`SHMSYNC_E_BUSY`]. Real-time class:
/// wait-free.
///
/// # Safety
/// `e` points to a live event of this kind.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_manual_event_trywait(e: *mut shmsync_manual_event_t) -> c_int {
    guard(|| {
        // SAFETY: forwarded from the caller's contract (see # Safety).
        code(unsafe { obj::<_, ManualResetEvent>(e) }.map(|e| {
            if e.try_wait() {
                SHMSYNC_OK
            } else {
                SHMSYNC_E_BUSY
            }
        }))
    })
}

/// Waits until set, at most `timeout_ns` ([`SHMSYNC_FOREVER`]: no limit): OK /
/// [`SHMSYNC_E_TIMEDOUT`]. Real-time class: **may block**.
///
/// # Safety
/// `e` points to a live event of this kind.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_manual_event_timedwait(
    e: *mut shmsync_manual_event_t,
    timeout_ns: u64,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded from the caller's contract (see # Safety).
        code(
            // SAFETY: forwarded from the caller's contract (see # Safety).
            unsafe { obj::<_, ManualResetEvent>(e) }.map(|e| match timeout(timeout_ns) {
                None => {
                    e.wait();
                    SHMSYNC_OK
                }
                Some(t) if e.wait_timeout(t) => SHMSYNC_OK,
                Some(_) => SHMSYNC_E_TIMEDOUT,
            }),
        )
    })
}

/// Waits until set, no limit. Real-time class: **may block**.
///
/// # Safety
/// `e` points to a live event of this kind.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_manual_event_wait(e: *mut shmsync_manual_event_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { shmsync_manual_event_timedwait(e, SHMSYNC_FOREVER) }
}

/// 1 if set, 0 if not (a snapshot; consumes nothing), or a negative error code.
/// Real-time class: wait-free.
///
/// # Safety
/// `e` points to a live event of this kind.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_manual_event_is_set(e: *mut shmsync_manual_event_t) -> c_int {
    // SAFETY: forwarded.
    guard(|| code(unsafe { obj::<_, ManualResetEvent>(e) }.map(|e| c_int::from(e.is_set()))))
}
