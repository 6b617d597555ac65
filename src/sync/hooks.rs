//! Test hooks (`test-hooks` feature, off by default): a function the lock code calls at
//! the few points where a process's death is hardest to get right, so cross-process tests
//! can stop or kill a process *exactly there* instead of hoping a race lands in the window.
//!
//! Without the feature every call site compiles to nothing. With it, each site costs one
//! relaxed load of a function pointer (null unless a test installed a hook) and is only on
//! a slow path (after a kernel wait returned), never on a fast path.
//!
//! The sites:
//!
//! | [`Site`] | where | a test uses it to |
//! |---|---|---|
//! | [`Site::SemaphoreWoken`] | `Semaphore::wait*`, after the kernel wait returned, before taking a unit | kill a woken waiter before it consumes |
//! | [`Site::EventWoken`] | both events' `wait*`, after the kernel wait returned, before the re-check | same, for `set` |
//! | [`Site::CondvarWoken`] | `Condvar::wait*`, after the kernel wait returned, before re-taking the mutex | same, for `notify_one` |
//! | [`Site::RwLockWaiting`] | `RwLock` readers and writers, just before a kernel wait | kill a waiter while it is announced |

/// Where a hook was called from (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Site {
    /// A semaphore waiter woke from its kernel wait and has not taken a unit yet.
    SemaphoreWoken,
    /// An event waiter woke from its kernel wait and has not re-checked the state yet.
    EventWoken,
    /// A condvar waiter woke from its kernel wait and has not re-taken the mutex yet.
    CondvarWoken,
    /// An RwLock reader or writer is about to sleep (a writer is announced in
    /// `writers_waiting` at this point).
    RwLockWaiting,
}

#[cfg(all(feature = "test-hooks", not(all(loom, test))))]
mod imp {
    use super::Site;
    use core::sync::atomic::{AtomicPtr, Ordering};

    /// The installed hook as a type-erased `fn(Site)`, null = none.
    static HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

    /// Installs `hook` for this process (`None` removes it). Real-time class: wait-free.
    pub fn set_hook(hook: Option<fn(Site)>) {
        let p = hook.map_or(core::ptr::null_mut(), |f| f as *mut ());
        HOOK.store(p, Ordering::Release);
    }

    #[inline]
    pub(crate) fn call(site: Site) {
        let p = HOOK.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: `HOOK` only ever holds null or a `fn(Site)` stored by `set_hook`.
            let f: fn(Site) = unsafe { core::mem::transmute::<*mut (), fn(Site)>(p) };
            f(site);
        }
    }
}

#[cfg(not(all(feature = "test-hooks", not(all(loom, test)))))]
mod imp {
    use super::Site;

    #[inline(always)]
    pub(crate) fn call(_site: Site) {}
}

#[cfg(all(feature = "test-hooks", not(all(loom, test))))]
pub use imp::set_hook;

pub(crate) use imp::call;
