//! The Linux stand-in for per-process Mach semaphores, so that the waiter-table protocol runs
//! across real forked processes on a machine without Mach.
//!
//! A Mach semaphore is a kernel counter that its owner waits on and that any process holding
//! a send right can signal; it keeps signals sent before the wait (prepost). The stand-in is
//! a counter in shared memory with the same behaviour, built on a shared futex word:
//!
//! * signal = `fetch_add(1)` then `FUTEX_WAKE` of one thread;
//! * wait = take one count with a compare-exchange, else `FUTEX_WAIT` while the count is 0;
//! * drain = `swap(0)`.
//!
//! The counters of every participant live in a [`StandinArea`] that every process maps —
//! the stand-in's equivalent of having exchanged send rights at join, so joining here needs
//! no message exchange (`known_by` is filled in at once). What the stand-in cannot mimic
//! is Mach's death detection: instead of dead-name notifications, [`StandinSemaphores::reap`]
//! checks the recorded pids with `kill(pid, 0)` (a zombie still counts as alive, and pids
//! can be reused: fine for tests, which reap their children first).

use super::registry::{self, Registration, RegistryFull};
use super::table::{
    P_JOINING, P_LIVE, SEMS_PER_PARTICIPANT, SemaphorePool, Semaphores, Signal, WaiterTable,
};
use super::{MAX_PARTICIPANTS, MachError};
use crate::Wait;
use crate::atomic::{AtomicU32, Ordering};
use crate::clock::Instant;
use core::time::Duration;

/// The stand-in semaphores of every participant of one region: shared memory, `#[repr(C)]`,
/// zero = no pending signal. 512 bytes.
#[repr(C)]
#[derive(Debug)]
pub struct StandinArea {
    counts: [[AtomicU32; SEMS_PER_PARTICIPANT]; MAX_PARTICIPANTS],
}

const _: () = assert!(core::mem::size_of::<StandinArea>() == 512);

impl Default for StandinArea {
    fn default() -> Self {
        Self::new()
    }
}

impl StandinArea {
    /// All counters zero (the same as zero bytes).
    pub const fn new() -> Self {
        Self {
            counts: [const { [const { AtomicU32::new(0) }; SEMS_PER_PARTICIPANT] };
                MAX_PARTICIPANTS],
        }
    }

    fn count(&self, participant: u32, sem: u32) -> Option<&AtomicU32> {
        self.counts.get(participant as usize)?.get(sem as usize)
    }
}

/// One process's view of a region's stand-in semaphores: its identity in the table, its
/// pool of semaphore indices, and the shared counters.
#[derive(Debug)]
pub struct StandinSemaphores {
    table: *const WaiterTable,
    area: *const StandinArea,
    index: u32,
    epoch: u32,
    pool: SemaphorePool,
    /// The private table of one process: no participant entries, no epoch checks.
    private: bool,
}

// SAFETY: the raw pointers point into shared memory that `join`'s caller keeps mapped; all
// access through them is atomic.
unsafe impl Send for StandinSemaphores {}
// SAFETY: as above.
unsafe impl Sync for StandinSemaphores {}

impl StandinSemaphores {
    /// Joins the region's table as this process (`FREE → JOINING → LIVE`), clearing its
    /// counters. Real-time class: lock-free (no syscall but `getpid`).
    ///
    /// # Safety
    /// `table` and `area` must stay mapped while the returned value (or a registration made
    /// from it) is used.
    pub unsafe fn join(
        table: *const WaiterTable,
        area: *const StandinArea,
    ) -> Result<Self, MachError> {
        // SAFETY: the caller guarantees both are mapped.
        let (t, a) = unsafe { (&*table, &*area) };
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() } as u32;
        let (index, epoch) = t.join(pid).ok_or(MachError::RegionFull)?;
        for c in &a.counts[index as usize] {
            c.store(0, Ordering::Relaxed);
        }
        // Every process already reaches every counter: the "rights" are known to all.
        for q in 0..MAX_PARTICIPANTS as u32 {
            t.mark_known(index, epoch, q);
        }
        if !t.set_live(index, epoch) {
            return Err(MachError::Evicted);
        }
        debug_assert!(t.peers_ready(index, |_, _| true));
        Ok(Self {
            table,
            area,
            index,
            epoch,
            pool: SemaphorePool::new(SEMS_PER_PARTICIPANT as u32),
            private: false,
        })
    }

    /// The semaphores of a process-private table (threads of one process; participant 0).
    pub(crate) const fn private(table: &'static WaiterTable, area: &'static StandinArea) -> Self {
        Self {
            table,
            area,
            index: 0,
            epoch: 0,
            pool: SemaphorePool::new(SEMS_PER_PARTICIPANT as u32),
            private: true,
        }
    }

    /// Forgets the parent's pending signals and claimed indices (private table, forked
    /// child).
    pub(crate) fn reset_private(&self) {
        self.pool.reset();
        for row in &self.area().counts {
            for c in row {
                c.store(0, Ordering::Relaxed);
            }
        }
    }

    /// This process's participant index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// This process's join epoch.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    fn table(&self) -> &WaiterTable {
        // SAFETY: `join`'s contract.
        unsafe { &*self.table }
    }

    fn area(&self) -> &StandinArea {
        // SAFETY: `join`'s contract.
        unsafe { &*self.area }
    }

    /// Waits on `word` (which must lie in the region, at byte offset `key`) through the
    /// table. Real-time class: **may block**.
    pub fn wait(
        &self,
        key: u64,
        word: &AtomicU32,
        expected: u32,
        deadline: Option<Instant>,
    ) -> Wait {
        self.table().wait(self, key, word, expected, deadline)
    }

    /// Wakes one or all waiters of the word at byte offset `key`; returns the number of
    /// signals delivered. Real-time class: **may wake**.
    pub fn wake(&self, key: u64, all: bool) -> u32 {
        self.table().wake(self, key, all)
    }

    /// Registers the region `[base, base + len)` so that [`crate::mach::wait_until`] and
    /// [`crate::mach::wake`] on words inside it use this table.
    ///
    /// # Safety
    /// The region must stay mapped until the registration is given to
    /// [`registry::unregister`].
    pub unsafe fn register(
        &'static self,
        base: *const u8,
        len: usize,
    ) -> Result<Registration, RegistryFull> {
        // SAFETY: `self` is 'static; the caller keeps the region (and the table and area,
        // per `join`) mapped until unregistering.
        unsafe { registry::register(base, len, self.table, self as &(dyn Semaphores + Sync)) }
    }

    /// Orderly leave: frees this process's entry. No thread of this process may be waiting
    /// in the table any more.
    pub fn leave(self) -> bool {
        self.table().leave(self.index, self.epoch)
    }

    /// Reclaims the entries (and slots) of participants whose recorded process no longer
    /// exists. Returns the number of slots freed. Real-time class: **may block** (one
    /// `kill(pid, 0)` per live peer).
    pub fn reap(&self) -> u32 {
        reap(self.table())
    }
}

/// Reclaims, in `table`, every JOINING or LIVE participant whose process is gone. Returns
/// the number of slots freed.
pub fn reap(table: &WaiterTable) -> u32 {
    let mut freed = 0;
    for i in 0..MAX_PARTICIPANTS as u32 {
        let Some(p) = table.participant(i) else {
            continue;
        };
        if !matches!(p.state, P_JOINING | P_LIVE) || p.pid == 0 {
            continue;
        }
        // SAFETY: kill with signal 0 only checks for existence and permission.
        let gone = unsafe { libc::kill(p.pid as libc::pid_t, 0) } == -1
            && crate::unix::errno() == libc::ESRCH;
        if gone {
            freed += table.reclaim(i, p.epoch).unwrap_or(0);
        }
    }
    freed
}

impl Semaphores for StandinSemaphores {
    fn identity(&self) -> (u32, u32) {
        (self.index, self.epoch)
    }

    fn claim(&self) -> Option<u32> {
        self.pool.claim()
    }

    fn release(&self, sem: u32) {
        self.pool.release(sem);
    }

    fn drain(&self, sem: u32) {
        if let Some(c) = self.area().count(self.index, sem) {
            c.swap(0, Ordering::AcqRel);
        }
    }

    fn wait(&self, sem: u32, deadline: Option<Instant>) -> bool {
        let Some(c) = self.area().count(self.index, sem) else {
            return false;
        };
        loop {
            let mut v = c.load(Ordering::Acquire);
            while v > 0 {
                match c.compare_exchange_weak(v, v - 1, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return true,
                    Err(now) => v = now,
                }
            }
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return false;
            }
            // Sleeps only while the count is still 0; a signal in between changes it.
            if crate::futex::wait_until(c, 0, deadline) == Wait::TimedOut {
                return false;
            }
        }
    }

    fn signal(&self, owner: u32, epoch: u32, sem: u32) -> Signal {
        // A right is "held" for a participant's current epoch only, as with Mach names
        // that are dropped when the peer leaves.
        match self.table().participant(owner) {
            _ if self.private => {}
            Some(p) if p.epoch == epoch && matches!(p.state, P_JOINING | P_LIVE) => {}
            _ => return Signal::Unknown,
        }
        let Some(c) = self.area().count(owner, sem) else {
            return Signal::Unknown;
        };
        c.fetch_add(1, Ordering::AcqRel);
        crate::futex::wake(c, false);
        Signal::Delivered
    }

    fn nap(&self, max: Duration) {
        registry::nap(max);
    }
}
