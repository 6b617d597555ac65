//! Mach semaphores (Apple only): the calls with their retry and time rules, the private
//! semaphores of one process, and the per-region record of this process's and its peers'
//! semaphore names that implements [`Semaphores`] for the table.
//!
//! Behaviour relied on (xnu `osfmk/kern/sync_sema.c`; read, not executed here — see the
//! macOS test plan in the README):
//! * a signal with no waiter is kept (prepost) and returns `KERN_SUCCESS`;
//! * `semaphore_timedwait` takes a *relative* `mach_timespec_t`; `{0, 0}` polls and returns
//!   `KERN_OPERATION_TIMED_OUT` at once when the count is 0;
//! * an interrupted wait returns `KERN_ABORTED`: retried with the time still left;
//! * after the owner task dies its semaphores are destroyed: waits and signals on them
//!   return `KERN_TERMINATED`, while peers' send rights stay valid names (not dead names)
//!   until they deallocate them.

use super::ffi::*;
use super::kern::{SemWaitCalls, drive_sem_wait};
use super::peers::PeerNames;
use super::table::{SEMS_PER_PARTICIPANT, SemaphorePool, Semaphores, Signal, WaiterTable};
use super::{MAX_PARTICIPANTS, registry};
use crate::clock::Instant;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use core::time::Duration;

/// Creates a semaphore owned by this task (FIFO, count 0). Real-time class: **may block**
/// (a MIG call that allocates in the kernel).
pub(crate) fn create() -> Result<mach_port_t, kern_return_t> {
    let mut sem = MACH_PORT_NULL;
    // SAFETY: `sem` is a valid out pointer; the task is our own.
    let kr = unsafe { semaphore_create(task_self(), &mut sem, SYNC_POLICY_FIFO, 0) };
    if kr == KERN_SUCCESS { Ok(sem) } else { Err(kr) }
}

/// Destroys a semaphore this task created; consumes this task's send reference to it.
pub(crate) fn destroy(sem: mach_port_t) {
    if sem != MACH_PORT_NULL {
        // SAFETY: `sem` names a semaphore we created and still hold one send uref of.
        unsafe { semaphore_destroy(task_self(), sem) };
    }
}

/// One signal (a Mach trap). Real-time class: **may wake**.
#[inline]
pub(crate) fn signal_name(sem: mach_port_t) -> kern_return_t {
    crate::count::wake_syscall();
    // SAFETY: by-value port name; an invalid one only yields an error code.
    unsafe { semaphore_signal(sem) }
}

/// A relative wait time: whole seconds saturated to `u32::MAX` (136 years), nanoseconds
/// always below 10⁹ (a `BAD_MACH_TIMESPEC` would be refused).
pub(crate) fn timespec(d: Duration) -> mach_timespec_t {
    mach_timespec_t {
        tv_sec: u32::try_from(d.as_secs()).unwrap_or(u32::MAX),
        tv_nsec: d.subsec_nanos() as i32,
    }
}

/// Waits on `sem` until signalled (`true`) or `deadline` (`false`). Each answer is mapped
/// explicitly (`kern::sem_step`): `KERN_ABORTED` and a `KERN_OPERATION_TIMED_OUT` before the
/// deadline (the kernel rounds the relative time down) wait again for the time left; a
/// broken semaphore naps instead of reporting a wake the caller would spin on. Real-time
/// class: **may block**.
pub(crate) fn wait_until(sem: mach_port_t, deadline: Option<Instant>) -> bool {
    struct Calls(mach_port_t);
    impl SemWaitCalls for Calls {
        fn wait(&mut self, remaining: Option<Duration>) -> i32 {
            crate::count::wait_syscall();
            match remaining {
                // SAFETY: by-value port name.
                None => unsafe { semaphore_wait(self.0) },
                // SAFETY: by-value port name and timespec. No time left gives {0, 0}: one
                // last non-blocking look at the count.
                Some(d) => unsafe { semaphore_timedwait(self.0, timespec(d)) },
            }
        }
        fn now_ns(&mut self) -> u64 {
            Instant::now().as_nanos()
        }
        fn nap(&mut self, max: Duration) {
            registry::nap(max);
        }
    }
    drive_sem_wait(&mut Calls(sem), deadline.map(Instant::as_nanos))
}

/// Consumes every pending signal of `sem` without blocking (a `{0, 0}` wait until it
/// times out; at most 64 rounds, a bound on what a table's slots could have posted).
pub(crate) fn drain(sem: mach_port_t) {
    for _ in 0..64 {
        // SAFETY: by-value port name and timespec.
        let kr = unsafe {
            semaphore_timedwait(
                sem,
                mach_timespec_t {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
            )
        };
        if kr != KERN_SUCCESS && kr != KERN_ABORTED {
            return;
        }
    }
}

/// The semaphores of this process's private table (words outside every region): created
/// on first use, never exchanged, participant 0.
#[derive(Debug)]
pub(crate) struct PrivateSemaphores {
    names: [AtomicU32; SEMS_PER_PARTICIPANT],
    pool: SemaphorePool,
}

impl PrivateSemaphores {
    pub(crate) const fn new() -> Self {
        Self {
            names: [const { AtomicU32::new(MACH_PORT_NULL) }; SEMS_PER_PARTICIPANT],
            pool: SemaphorePool::new(SEMS_PER_PARTICIPANT as u32),
        }
    }
}

impl PrivateSemaphores {
    /// Forgets the parent's names in a forked child (they mean nothing there).
    pub(crate) fn reset(&self) {
        for n in &self.names {
            n.store(MACH_PORT_NULL, Ordering::Relaxed);
        }
        self.pool.reset();
    }
}

impl Semaphores for PrivateSemaphores {
    fn identity(&self) -> (u32, u32) {
        (0, 0)
    }

    fn claim(&self) -> Option<u32> {
        let k = self.pool.claim()?;
        let slot = &self.names[k as usize];
        // Only the thread holding index `k` creates its semaphore: no race on the store.
        if slot.load(Ordering::Acquire) == MACH_PORT_NULL {
            registry::install_fork_handler();
            match create() {
                Ok(name) => slot.store(name, Ordering::Release),
                Err(_) => {
                    self.pool.release(k);
                    return None; // degraded mode
                }
            }
        }
        Some(k)
    }

    fn release(&self, sem: u32) {
        self.pool.release(sem);
    }

    fn drain(&self, sem: u32) {
        drain(self.names[sem as usize].load(Ordering::Acquire));
    }

    fn wait(&self, sem: u32, deadline: Option<Instant>) -> bool {
        wait_until(self.names[sem as usize].load(Ordering::Acquire), deadline)
    }

    fn signal(&self, owner: u32, _epoch: u32, sem: u32) -> Signal {
        let name = match self.names.get(sem as usize) {
            Some(n) if owner == 0 => n.load(Ordering::Acquire),
            _ => MACH_PORT_NULL,
        };
        if name == MACH_PORT_NULL {
            return Signal::Unknown;
        }
        match signal_name(name) {
            KERN_SUCCESS => Signal::Delivered,
            _ => Signal::Unknown,
        }
    }

    fn nap(&self, max: Duration) {
        registry::nap(max);
    }
}

/// This process's record for one joined region: its identity, its own semaphores, and its
/// names for every peer's semaphores and control port (`peers::PeerNames`, whose docs say
/// how wakers read them safely while the control thread drops them).
///
/// Writers: `join`/`leave` (own fields) and the control thread (peer fields). Readers: any
/// thread waking.
#[derive(Debug)]
pub(crate) struct RegionSemaphores {
    /// Record state: 0 free, 1 in use (see `rendezvous`).
    pub(crate) state: AtomicU32,
    pub(crate) table: AtomicPtr<WaiterTable>,
    /// FNV-1a of the rendezvous name: identifies the region in control messages.
    pub(crate) region_id: [AtomicU32; 2],
    pub(crate) index: AtomicU32,
    pub(crate) epoch: AtomicU32,
    /// The service port this process checked in (creator only), else null.
    pub(crate) service: AtomicU32,
    pub(crate) own: [AtomicU32; SEMS_PER_PARTICIPANT],
    /// Our names for every peer's control port and semaphores.
    pub(crate) peers: PeerNames,
    pub(crate) pool: SemaphorePool,
}

impl RegionSemaphores {
    pub(crate) const fn new() -> Self {
        Self {
            state: AtomicU32::new(0),
            table: AtomicPtr::new(core::ptr::null_mut()),
            region_id: [const { AtomicU32::new(0) }; 2],
            index: AtomicU32::new(0),
            epoch: AtomicU32::new(0),
            service: AtomicU32::new(MACH_PORT_NULL),
            own: [const { AtomicU32::new(MACH_PORT_NULL) }; SEMS_PER_PARTICIPANT],
            peers: PeerNames::new(),
            pool: SemaphorePool::new(SEMS_PER_PARTICIPANT as u32),
        }
    }

    /// Forgets everything in a forked child: the names were the parent's.
    pub(crate) fn reset(&self) {
        let singles = [
            &self.state,
            &self.region_id[0],
            &self.region_id[1],
            &self.index,
            &self.epoch,
            &self.service,
        ];
        for w in singles.into_iter().chain(&self.own) {
            w.store(0, Ordering::Relaxed);
        }
        self.peers.reset();
        self.table.store(core::ptr::null_mut(), Ordering::Relaxed);
        self.pool.reset();
    }

    pub(crate) fn region_id(&self) -> u64 {
        u64::from(self.region_id[0].load(Ordering::Acquire))
            | (u64::from(self.region_id[1].load(Ordering::Acquire)) << 32)
    }

    /// Whether we hold the names of participant `q` for epoch `epoch`.
    pub(crate) fn holds(&self, q: u32, epoch: u32) -> bool {
        self.peers.holds(q, epoch)
    }
}

impl Semaphores for RegionSemaphores {
    fn identity(&self) -> (u32, u32) {
        (
            self.index.load(Ordering::Relaxed),
            self.epoch.load(Ordering::Relaxed),
        )
    }

    fn claim(&self) -> Option<u32> {
        self.pool.claim()
    }

    fn release(&self, sem: u32) {
        self.pool.release(sem);
    }

    fn drain(&self, sem: u32) {
        drain(self.own[sem as usize].load(Ordering::Relaxed));
    }

    fn wait(&self, sem: u32, deadline: Option<Instant>) -> bool {
        wait_until(self.own[sem as usize].load(Ordering::Relaxed), deadline)
    }

    fn signal(&self, owner: u32, epoch: u32, sem: u32) -> Signal {
        let (me, my_epoch) = self.identity();
        let (o, k) = (owner as usize, sem as usize);
        if o >= MAX_PARTICIPANTS || k >= SEMS_PER_PARTICIPANT {
            return Signal::Unknown;
        }
        if owner == me {
            if epoch != my_epoch {
                return Signal::Unknown;
            }
            return match signal_name(self.own[k].load(Ordering::Relaxed)) {
                KERN_SUCCESS => Signal::Delivered,
                _ => Signal::Unknown,
            };
        }
        // Pin the peer's names against deallocation (see the type's docs).
        let peers = &self.peers;
        peers.in_signal.fetch_add(1, Ordering::SeqCst);
        let result = if peers.epoch[o].load(Ordering::SeqCst) == epoch && epoch != 0 {
            match signal_name(peers.sems[o][k].load(Ordering::Acquire)) {
                KERN_SUCCESS => Signal::Delivered,
                KERN_TERMINATED => {
                    peers.suspect.fetch_or(1 << o, Ordering::Relaxed);
                    Signal::OwnerDead
                }
                _ => Signal::Unknown,
            }
        } else {
            Signal::Unknown
        };
        peers.in_signal.fetch_sub(1, Ordering::SeqCst);
        result
    }

    fn nap(&self, max: Duration) {
        registry::nap(max);
    }
}
