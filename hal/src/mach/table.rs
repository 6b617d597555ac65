//! The waiter table: the part of the Mach wake protocol that lives in shared memory.
//!
//! It is target-independent: the same code runs with Mach semaphores on macOS, with the
//! futex stand-in across forked processes on Linux, and with loom's model-checked atomics
//! (see [`Semaphores`] for what a platform supplies).
//!
//! # Layout
//! [`WaiterTable`] is `#[repr(C)]`, made of `u32` atomics only, 1 808 bytes, 4-aligned,
//! identical on every target (pinned by the `const` asserts below). All-zero bytes are the
//! empty table: no participant, every slot free, nothing armed.
//!
//! * `participants[8]`: one entry per attached process — `state` packs a join *epoch*
//!   (24 bits above the state bits, +1 at every join of that entry, never 0) with a `P_*`
//!   state (low 4 bits), so a compare-exchange on it can never confuse two lifetimes of one
//!   entry; `pid` (published before the entry leaves RESERVED); and `known_by` =
//!   `epoch << 8 | bits`, a bit per peer that already holds this participant's semaphore
//!   rights *for that epoch* (set by one compare-exchange on the tagged word, so a mark
//!   meant for an earlier lifetime of the entry cannot land on a later one).
//! * `slots[64]`: one per blocked thread — `state` packs a claim sequence number (27 bits,
//!   +1 at every claim, which rules out ABA between a waker's load and its
//!   compare-exchange), the claimer's participant index (3 bits, written by the claim's
//!   compare-exchange itself) and an `S_*` state (low 2 bits); `owner` = participant `<< 16`
//!   | semaphore index; the owner's join `epoch`; and the 64-bit key of the word (its byte
//!   offset in the region; the private table of one process uses addresses).
//! * `armed`: an upper bound of the slots that are ARMED or SIGNALED. Zero lets a waker
//!   return after one load, with no scan and no syscall.
//!
//! # The protocol
//! Waiter (its thread owns semaphore `k` of its process for the duration):
//! 1. `word != expected` → return.
//! 2. Claim a slot, `FREE → CLAIMED` (seq + 1). None free → degraded polling (below).
//! 3. Drain `k` (stale signals of earlier waits), write owner, epoch and key.
//! 4. `armed += 1` (SeqCst), then `CLAIMED → ARMED` (SeqCst), then `fence(SeqCst)`.
//! 5. Re-check the word; still `expected` → block on `k` until signalled or the
//!    deadline.
//! 6. `ARMED → CLAIMED` by compare-exchange; if that fails the slot is `SIGNALED`
//!    (a waker chose this thread): `SIGNALED → CLAIMED`, the signal stays in `k` for the
//!    next drain. Then `armed -= 1`, `CLAIMED → FREE`. The result is `TimedOut` only when the
//!    semaphore timed out **and** no waker had chosen the slot.
//!
//! Waker (`wake_one` / `wake_all`), after the caller stored the new word value:
//! 1. `fence(SeqCst)`; `armed == 0` → return (no scan, no syscall).
//! 2. For each slot with state ARMED and the word's key: `ARMED → SIGNALED` by
//!    compare-exchange on the exact state value read (seq included), then one
//!    `signal` of the owner's semaphore `k`. `wake_one` stops after one delivered signal.
//!
//! ## Why no wakeup is lost
//! The waiter does *store `armed` and ARMED; fence(SeqCst); load word* and the waker does
//! *store word; fence(SeqCst); load `armed` and the slot*. The two fences are totally
//! ordered. If the waker's fence comes first, the waiter's load after its own fence sees
//! the new word (or a later value) and it does not block. If the waiter's fence comes
//! first, the waker's loads after its fence see both of the waiter's stores: `armed ≥ 1`
//! and the slot ARMED (or a later state: SIGNALED by another waker, or already disarmed
//! because the waiter woke). This holds however the caller ordered its store of the word.
//! The waker then signals the semaphore, and a semaphore keeps its count: a signal that
//! lands before the waiter blocks makes the block return at once. A waiter whose slot was
//! chosen by a `wake_one` never reports `TimedOut`, so the wake is not swallowed by a
//! waiter that was leaving anyway. The `loom` tests of this module model-check exactly
//! this code with a counting fake semaphore.
//!
//! A stale signal (sent to a slot that was then disarmed) stays in the semaphore and makes
//! a later wait of the same thread-semaphore return early: a spurious wakeup, which the
//! [`wait`](crate::wait) contract allows; step 3 drains most of them.
//!
//! ## Dead participants
//! A participant that dies keeps its entry LIVE (or JOINING) and maybe some slots CLAIMED,
//! ARMED or SIGNALED. [`Table::reclaim`] (called by a peer that learnt of the death: a Mach
//! dead-name notification, the stand-in's pid check, or a joiner finding the region full:
//! [`Table::join_reclaiming`]) moves the entry to DEAD with a compare-exchange on the exact
//! epoch, frees every slot whose state word names that participant as claimer while the
//! entry is still DEAD of that epoch, lowers `armed` for the ARMED and SIGNALED ones, and
//! frees the entry. The claimer is part of the slot's state word, written by the claim
//! itself: a fresh claim by another process is never mistaken for a stale slot of the dead
//! one (the owner/epoch fields are written only after the claim), and a claim by a newer
//! epoch of the same index is seen only after the entry left DEAD, which stops the scan. The counter is raised
//! before a slot becomes ARMED and lowered only after it left ARMED/SIGNALED, so it never
//! undercounts (which could lose a wakeup); a process killed between those steps leaves it
//! one too high, which only costs wakers a scan that finds nothing (no syscall). Every
//! transition of the waiter after its claim is a compare-exchange on the exact state, so
//! even a participant wrongly declared dead (its slot reclaimed under it) neither
//! corrupts a slot someone else claimed since nor lowers the counter twice — loom checks
//! that race too.
//!
//! ## Degraded mode
//! When every slot is taken, or every semaphore of the calling process is in use, a wait
//! does not register: it polls the word, sleeping [`DEGRADED_POLL`] between looks, and
//! counts itself in [`Table::degraded_waits`]. It still returns when the word changes or
//! the deadline passes — later by up to one poll period. Wakers cannot see it, so its
//! latency, not its correctness, suffers.

use super::sync::{AtomicU32, Ordering, atomic, fence};

#[path = "table_participants.rs"]
mod participants;
#[cfg(all(test, not(loom)))]
#[path = "table_tests.rs"]
mod tests;
use crate::Wait;
use crate::clock::Instant;
use core::time::Duration;

/// Processes that can be attached to one region at once.
pub const MAX_PARTICIPANTS: usize = 8;
/// Waiter slots per region: threads (of all processes) that can block in the region at
/// once before further waits degrade to polling.
pub const SLOTS: usize = 64;
/// Semaphores each process makes per region: its threads that can block in the region at
/// once before further waits of that process degrade to polling.
pub const SEMS_PER_PARTICIPANT: usize = 16;
/// Bytes reserved for the rendezvous service name (its length is stored first).
pub const RENDEZVOUS_NAME_MAX: usize = 124;
/// Sleep between looks at the word in degraded mode: 100 µs, well below an audio period
/// (1–10 ms) and cheap enough (10 000 looks per second) for an exceptional state.
pub const DEGRADED_POLL: Duration = Duration::from_micros(100);

/// Participant entry free: nobody attached under this index.
pub const P_FREE: u32 = 0;
/// Claimed by a joining process that is still exchanging semaphore rights; it must not arm
/// a wait yet.
pub const P_JOINING: u32 = 1;
/// Joined: its semaphores are known to every live peer; it may wait and wake.
pub const P_LIVE: u32 = 2;
/// Left or died; its slots are being reclaimed.
pub const P_DEAD: u32 = 3;
/// Claimed by a joiner that has not published its pid and `known_by` yet: invisible to
/// reclaimers (a stale pid of the entry's previous process must never be mistaken for the
/// joiner's). The joiner moves on to JOINING with its next store.
pub const P_RESERVED: u32 = 4;
/// Mask of the state bits of a participant's `state` word (the epoch is above them).
const P_STATE_MASK: u32 = 0xF;
/// Epochs are 24-bit (so that `known_by` can carry one next to its 8 peer bits) and wrap,
/// skipping 0, which means "no epoch" to every holder of rights.
const EPOCH_MASK: u32 = (1 << 24) - 1;
/// `known_by` = `epoch << KNOWN_TAG_SHIFT | peer bits`: the bits count for that epoch only.
const KNOWN_TAG_SHIFT: u32 = 8;
/// The peer bits of `known_by`.
const KNOWN_BITS: u32 = (1 << KNOWN_TAG_SHIFT) - 1;

/// The epoch after `e`: +1, wrapping within [`EPOCH_MASK`] and skipping 0.
const fn next_epoch(e: u32) -> u32 {
    match (e.wrapping_add(1)) & EPOCH_MASK {
        0 => 1,
        n => n,
    }
}

/// Slot free: may be claimed.
const S_FREE: u32 = 0;
/// Claimed by a waiter that is filling it in, or is leaving; invisible to wakers.
const S_CLAIMED: u32 = 1;
/// A waiter is (about to be) blocked on its semaphore: wakers may signal it.
const S_ARMED: u32 = 2;
/// A waker chose this waiter and has sent, or is about to send, its signal.
const S_SIGNALED: u32 = 3;
/// Mask of the state bits of a slot's `state` word.
const S_STATE_MASK: u32 = 0b11;
/// The claimer's participant index sits in bits 2..5 of a slot's `state`: written by the
/// claim's compare-exchange itself, so a reclaimer never sees a claim without its owner.
const S_OWNER_SHIFT: u32 = 2;
const S_OWNER_MASK: u32 = 0b111 << S_OWNER_SHIFT;
/// The claim sequence is above the owner (27 bits).
const S_SEQ_SHIFT: u32 = 5;
const S_SEQ_MASK: u32 = u32::MAX >> S_SEQ_SHIFT;

/// A slot's `state` word: claim sequence, claimer, `S_*` state.
const fn slot_word(seq: u32, owner: u32, st: u32) -> u32 {
    ((seq & S_SEQ_MASK) << S_SEQ_SHIFT) | ((owner << S_OWNER_SHIFT) & S_OWNER_MASK) | st
}

/// The claimer recorded in a slot's `state` word.
const fn slot_owner(s: u32) -> u32 {
    (s & S_OWNER_MASK) >> S_OWNER_SHIFT
}

/// One attached process, in shared memory.
#[repr(C)]
#[derive(Debug)]
pub struct ParticipantEntry {
    /// `epoch << 4 | P_*`.
    state: AtomicU32,
    /// Process id, for diagnostics and for the Linux stand-in's death check.
    pid: AtomicU32,
    /// `epoch << 8 | bits`: bit `q` set means participant `q` holds this participant's
    /// semaphore rights for that epoch (a mark for an older epoch cannot land here).
    known_by: AtomicU32,
    /// Zero; reserved for the layout's future.
    _reserved: AtomicU32,
}

/// One registered waiter, in shared memory.
#[repr(C)]
#[derive(Debug)]
pub struct Slot {
    /// `claim sequence << 5 | claimer << 2 | S_*`.
    state: AtomicU32,
    /// `participant << 16 | semaphore index`.
    owner: AtomicU32,
    /// The owner's join epoch when it claimed the slot.
    epoch: AtomicU32,
    /// Low half of the word's key (its byte offset in the region).
    key_lo: AtomicU32,
    /// High half of the word's key (zero in shared regions).
    key_hi: AtomicU32,
    /// Zero; reserved for the layout's future.
    _reserved: AtomicU32,
}

/// The waiter table with `P` participants and `N` slots; regions use [`WaiterTable`]. The
/// loom models use smaller instances of the same code.
#[repr(C)]
#[derive(Debug)]
pub struct Table<const P: usize, const N: usize> {
    /// Upper bound of the slots that are ARMED or SIGNALED.
    armed: AtomicU32,
    /// Waits that found no free slot or semaphore and polled (statistics).
    degraded: AtomicU32,
    /// Slots freed on behalf of dead participants (statistics).
    reclaimed: AtomicU32,
    /// Zero; reserved for the layout's future.
    _reserved: AtomicU32,
    /// The rendezvous service name: word 0 is its length in bytes, then the bytes.
    rendezvous: [AtomicU32; 1 + RENDEZVOUS_NAME_MAX / 4],
    participants: [ParticipantEntry; P],
    slots: [Slot; N],
}

/// The table a region created with [`WakeProtocol::MachTable`](crate::WakeProtocol) holds
/// in its protocol area.
pub type WaiterTable = Table<MAX_PARTICIPANTS, SLOTS>;

#[cfg(not(all(loom, test)))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<ParticipantEntry>() == 16 && align_of::<ParticipantEntry>() == 4);
    assert!(size_of::<Slot>() == 24 && align_of::<Slot>() == 4);
    assert!(offset_of!(Slot, state) == 0 && offset_of!(Slot, owner) == 4);
    assert!(offset_of!(Slot, epoch) == 8 && offset_of!(Slot, key_lo) == 12);
    assert!(offset_of!(Slot, key_hi) == 16);
    assert!(offset_of!(WaiterTable, armed) == 0);
    assert!(offset_of!(WaiterTable, degraded) == 4);
    assert!(offset_of!(WaiterTable, rendezvous) == 16);
    assert!(offset_of!(WaiterTable, participants) == 144);
    assert!(offset_of!(WaiterTable, slots) == 272);
    assert!(size_of::<WaiterTable>() == 1808 && align_of::<WaiterTable>() == 4);
    // Participant indices must fit `known_by`'s 8 bits and a slot state's owner bits.
    assert!(MAX_PARTICIPANTS <= 8 && SEMS_PER_PARTICIPANT <= 32);
};

/// What became of a signal sent to a participant's semaphore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Delivered (or kept by the semaphore until its owner waits).
    Delivered,
    /// The owner is dead (`KERN_TERMINATED`): its slots should be reclaimed.
    OwnerDead,
    /// This process holds no usable right for that semaphore (unknown participant or
    /// epoch): a protocol or corruption problem, treated like a dead owner.
    Unknown,
}

/// What a platform supplies to the table: this process's identity in the table and its
/// per-process counting semaphores, and a way to signal any participant's semaphore.
///
/// Semaphores are *created* when a process joins (Mach: `semaphore_create`; stand-in: a
/// futex word in shared memory); after that the table only needs these operations. A
/// semaphore keeps signals that arrive before its owner waits (Mach's prepost); that is
/// what makes a signal between the waiter's re-check and its block harmless.
pub trait Semaphores {
    /// This process's participant index and join epoch in the table.
    fn identity(&self) -> (u32, u32);
    /// Takes one of this process's semaphores for the calling thread's wait; `None` when
    /// all are in use. Real-time class: lock-free.
    fn claim(&self) -> Option<u32>;
    /// Gives back a semaphore taken with [`claim`](Self::claim).
    fn release(&self, sem: u32);
    /// Consumes the pending signals of own semaphore `sem` without blocking.
    fn drain(&self, sem: u32);
    /// Blocks on own semaphore `sem` until it is signalled (`true`, spurious allowed) or
    /// `deadline` passes (`false`).
    fn wait(&self, sem: u32, deadline: Option<Instant>) -> bool;
    /// Signals semaphore `sem` of participant `owner`, whose join epoch is `epoch`.
    /// Real-time class: **may wake** (one syscall or trap, no lock, no allocation).
    fn signal(&self, owner: u32, epoch: u32, sem: u32) -> Signal;
    /// Sleeps for at most `max` (degraded-mode polling).
    fn nap(&self, max: Duration);
}

/// A process-local pool of up to 32 semaphore indices, claimed by waiting threads: one
/// atomic bit mask, lock-free.
#[derive(Debug)]
pub struct SemaphorePool {
    busy: AtomicU32,
    len: u32,
}

impl SemaphorePool {
    /// A pool of `len` (≤ 32) free indices.
    #[cfg(not(all(loom, test)))]
    pub const fn new(len: u32) -> Self {
        assert!(len >= 1 && len <= 32);
        Self {
            busy: atomic(0),
            len,
        }
    }

    /// A pool of `len` (≤ 32) free indices.
    #[cfg(all(loom, test))]
    pub fn new(len: u32) -> Self {
        assert!(len >= 1 && len <= 32);
        Self {
            busy: atomic(0),
            len,
        }
    }

    /// Takes the lowest free index. Real-time class: lock-free.
    pub fn claim(&self) -> Option<u32> {
        let all = if self.len == 32 {
            u32::MAX
        } else {
            (1u32 << self.len) - 1
        };
        let mut busy = self.busy.load(Ordering::Relaxed);
        loop {
            let free = !busy & all;
            if free == 0 {
                return None;
            }
            let bit = free.trailing_zeros();
            match self.busy.compare_exchange_weak(
                busy,
                busy | (1 << bit),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(bit),
                Err(now) => busy = now,
            }
        }
    }

    /// Marks every index free (a forked child, whose parent's threads do not exist).
    #[cfg(all(unix, not(all(loom, test))))]
    pub(crate) fn reset(&self) {
        self.busy.store(0, Ordering::Release);
    }

    /// Returns `index`. Real-time class: wait-free.
    pub fn release(&self, index: u32) {
        if index < self.len {
            self.busy.fetch_and(!(1 << index), Ordering::Release);
        }
    }
}

/// A participant as read from shared memory (possibly corrupted by a peer: informative).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParticipantInfo {
    /// `P_FREE`, `P_JOINING`, `P_LIVE` or `P_DEAD` (other values: corruption).
    pub state: u32,
    /// Join epoch.
    pub epoch: u32,
    /// Process id recorded at join.
    pub pid: u32,
    /// Bit mask of the peers that hold this participant's semaphore rights.
    pub known_by: u32,
}

/// The rendezvous name stored in the table was longer than the area or not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameTooLong;

impl ParticipantEntry {
    #[cfg(not(all(loom, test)))]
    const fn new() -> Self {
        Self {
            state: atomic(0),
            pid: atomic(0),
            known_by: atomic(0),
            _reserved: atomic(0),
        }
    }
    #[cfg(all(loom, test))]
    fn new() -> Self {
        Self {
            state: atomic(0),
            pid: atomic(0),
            known_by: atomic(0),
            _reserved: atomic(0),
        }
    }
}

impl Slot {
    #[cfg(not(all(loom, test)))]
    const fn new() -> Self {
        Self {
            state: atomic(0),
            owner: atomic(0),
            epoch: atomic(0),
            key_lo: atomic(0),
            key_hi: atomic(0),
            _reserved: atomic(0),
        }
    }
    #[cfg(all(loom, test))]
    fn new() -> Self {
        Self {
            state: atomic(0),
            owner: atomic(0),
            epoch: atomic(0),
            key_lo: atomic(0),
            key_hi: atomic(0),
            _reserved: atomic(0),
        }
    }

    fn key(&self) -> u64 {
        u64::from(self.key_lo.load(Ordering::Relaxed))
            | (u64::from(self.key_hi.load(Ordering::Relaxed)) << 32)
    }
}

impl<const P: usize, const N: usize> Default for Table<P, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const P: usize, const N: usize> Table<P, N> {
    const CHECK: () = assert!(P >= 1 && P <= 8 && N >= 1);

    /// The empty table (the same as all-zero bytes). Real-time class: wait-free.
    #[cfg(not(all(loom, test)))]
    pub const fn new() -> Self {
        let () = Self::CHECK;
        Self {
            armed: atomic(0),
            degraded: atomic(0),
            reclaimed: atomic(0),
            _reserved: atomic(0),
            rendezvous: [const { atomic(0) }; 1 + RENDEZVOUS_NAME_MAX / 4],
            participants: [const { ParticipantEntry::new() }; P],
            slots: [const { Slot::new() }; N],
        }
    }

    /// The empty table (the same as all-zero bytes).
    #[cfg(all(loom, test))]
    pub fn new() -> Self {
        let () = Self::CHECK;
        Self {
            armed: atomic(0),
            degraded: atomic(0),
            reclaimed: atomic(0),
            _reserved: atomic(0),
            rendezvous: core::array::from_fn(|_| atomic(0)),
            participants: core::array::from_fn(|_| ParticipantEntry::new()),
            slots: core::array::from_fn(|_| Slot::new()),
        }
    }

    // ---------------------------------------------------------------- wait and wake

    /// Blocks while `word == expected` until woken through this table or `deadline`.
    /// `key` identifies the word among the table's users (its byte offset in the region).
    ///
    /// Real-time class: **may block**. The caller must be a LIVE participant whose
    /// identity `sems` reports.
    pub fn wait<S: Semaphores + ?Sized>(
        &self,
        sems: &S,
        key: u64,
        word: &AtomicU32,
        expected: u32,
        deadline: Option<Instant>,
    ) -> Wait {
        if word.load(Ordering::SeqCst) != expected {
            return Wait::Woken;
        }
        let Some(sem) = sems.claim() else {
            return self.degraded_wait(sems, word, expected, deadline);
        };
        let (me, epoch) = sems.identity();
        let me = me & (S_OWNER_MASK >> S_OWNER_SHIFT);
        let Some((slot, seq)) = self.claim_slot(me) else {
            sems.release(sem);
            return self.degraded_wait(sems, word, expected, deadline);
        };
        // Stale signals from earlier waits of this semaphore would end this wait early.
        sems.drain(sem);
        slot.owner.store((me << 16) | sem, Ordering::Relaxed);
        slot.epoch.store(epoch, Ordering::Relaxed);
        slot.key_lo.store(key as u32, Ordering::Relaxed);
        slot.key_hi.store((key >> 32) as u32, Ordering::Relaxed);
        let armed = slot_word(seq, me, S_ARMED);
        let claimed = slot_word(seq, me, S_CLAIMED);
        // Count first, so that a slot seen ARMED is always counted (see "Dead
        // participants"); the SeqCst store also publishes owner/epoch/key (release).
        self.armed.fetch_add(1, Ordering::SeqCst);
        if slot
            .state
            .compare_exchange(claimed, armed, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            // A peer reclaimed the CLAIMED slot believing us dead (it did not touch the
            // counter for a CLAIMED slot): undo and let the caller re-check.
            self.armed.fetch_sub(1, Ordering::SeqCst);
            sems.release(sem);
            return Wait::Woken;
        }

        // The Dekker re-check: this fence pairs with the waker's fence (see the module
        // docs). Fences, not only SeqCst accesses, so that a caller storing the word with
        // mere Release is covered too (and loom, which models SeqCst fences exactly).
        fence(Ordering::SeqCst);
        let mut sem_timed_out = false;
        if word.load(Ordering::SeqCst) == expected {
            sem_timed_out = !sems.wait(sem, deadline);
        }

        // Disarm: ARMED → CLAIMED, or SIGNALED → CLAIMED when a waker chose us (its signal
        // stays in the semaphore until the next drain). If neither matches, a peer
        // reclaimed the slot believing us dead and already fixed the counter.
        let chosen;
        let mine =
            match slot
                .state
                .compare_exchange(armed, claimed, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    chosen = false;
                    true
                }
                Err(_) => {
                    chosen = true;
                    slot.state
                        .compare_exchange(
                            slot_word(seq, me, S_SIGNALED),
                            claimed,
                            Ordering::AcqRel,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                }
            };
        if mine {
            self.armed.fetch_sub(1, Ordering::SeqCst);
            // A compare-exchange, not a store: a reclaimer may have freed the CLAIMED slot
            // meanwhile (without touching the counter) and someone else claimed it.
            let _ = slot.state.compare_exchange(
                claimed,
                slot_word(seq, me, S_FREE),
                Ordering::Release,
                Ordering::Relaxed,
            );
        }
        sems.release(sem);
        if sem_timed_out && !chosen && word.load(Ordering::Acquire) == expected {
            Wait::TimedOut
        } else {
            Wait::Woken
        }
    }

    /// Wakes one (`all == false`) or every waiter registered for `key`; returns how many
    /// signals were delivered. The caller stores the word's new value first.
    ///
    /// Real-time class: **may wake** — no lock, no allocation; one load and no syscall
    /// when nothing is armed; otherwise a scan of the slots (atomic loads) and one
    /// semaphore signal per woken waiter.
    pub fn wake<S: Semaphores + ?Sized>(&self, sems: &S, key: u64, all: bool) -> u32 {
        // Pairs with the waiter's "store ARMED; load word" (see the module docs).
        fence(Ordering::SeqCst);
        if self.armed.load(Ordering::SeqCst) == 0 {
            return 0;
        }
        let mut woken = 0;
        for slot in &self.slots {
            let s = slot.state.load(Ordering::SeqCst);
            if s & S_STATE_MASK != S_ARMED || slot.key() != key {
                continue;
            }
            let owner = slot.owner.load(Ordering::Relaxed);
            let epoch = slot.epoch.load(Ordering::Relaxed);
            let (p, k) = (slot_owner(s), owner & 0xFFFF);
            // The peer is untrusted: never index with what it wrote without a check.
            if p as usize >= P || k as usize >= SEMS_PER_PARTICIPANT {
                continue;
            }
            // The exact value read, sequence included: a slot re-armed since then fails
            // here, and that new waiter re-checks the word after our fence.
            if slot
                .state
                .compare_exchange(
                    s,
                    (s & !S_STATE_MASK) | S_SIGNALED,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_err()
            {
                continue;
            }
            match sems.signal(p, epoch, k) {
                Signal::Delivered => {
                    woken += 1;
                    if !all {
                        break;
                    }
                }
                // The slot stays SIGNALED until the owner's reclamation; for wake_one,
                // keep looking for a waiter that can be woken.
                Signal::OwnerDead | Signal::Unknown => {}
            }
        }
        woken
    }

    /// Claims a free slot for participant `me`: `FREE → CLAIMED` with the sequence advanced
    /// and `me` recorded in the same compare-exchange. AcqRel: a reclaimer that acquires
    /// this claim also sees `me`'s entry LIVE (set before any claim), so it can tell a
    /// claim of a newer epoch of `me` from one of the epoch it reclaims (see `retire`).
    fn claim_slot(&self, me: u32) -> Option<(&Slot, u32)> {
        for slot in &self.slots {
            let s = slot.state.load(Ordering::Relaxed);
            if s & S_STATE_MASK != S_FREE {
                continue;
            }
            let seq = ((s >> S_SEQ_SHIFT) + 1) & S_SEQ_MASK;
            if slot
                .state
                .compare_exchange(
                    s,
                    slot_word(seq, me, S_CLAIMED),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return Some((slot, seq));
            }
        }
        None
    }

    #[cold]
    fn degraded_wait<S: Semaphores + ?Sized>(
        &self,
        sems: &S,
        word: &AtomicU32,
        expected: u32,
        deadline: Option<Instant>,
    ) -> Wait {
        self.degraded.fetch_add(1, Ordering::Relaxed);
        loop {
            if word.load(Ordering::Acquire) != expected {
                return Wait::Woken;
            }
            let nap = match deadline {
                None => DEGRADED_POLL,
                Some(d) => {
                    let left = d.remaining();
                    if left.is_zero() {
                        return Wait::TimedOut;
                    }
                    left.min(DEGRADED_POLL)
                }
            };
            sems.nap(nap);
        }
    }

    /// Zeroes a process-private table in a forked child (no thread may use it meanwhile:
    /// right after `fork` the child has one thread).
    #[cfg(all(unix, not(all(loom, test))))]
    pub(crate) fn clear_private(&self) {
        let words = [&self.armed, &self.degraded, &self.reclaimed];
        for w in words.into_iter().chain(&self.rendezvous) {
            w.store(0, Ordering::Relaxed);
        }
        for p in &self.participants {
            for w in [&p.state, &p.pid, &p.known_by] {
                w.store(0, Ordering::Relaxed);
            }
        }
        for s in &self.slots {
            for w in [&s.state, &s.owner, &s.epoch, &s.key_lo, &s.key_hi] {
                w.store(0, Ordering::Relaxed);
            }
        }
    }

    // ---------------------------------------------------------------- statistics

    /// The armed counter (an upper bound of blocked waiters). Real-time class: wait-free.
    pub fn armed(&self) -> u32 {
        self.armed.load(Ordering::Acquire)
    }

    /// Waits that found no free slot or semaphore and polled. Real-time class: wait-free.
    pub fn degraded_waits(&self) -> u32 {
        self.degraded.load(Ordering::Relaxed)
    }

    /// Slots freed on behalf of dead participants. Real-time class: wait-free.
    pub fn reclaimed_slots(&self) -> u32 {
        self.reclaimed.load(Ordering::Relaxed)
    }

    /// Slots not FREE right now. Real-time class: wait-free (one load per slot).
    pub fn busy_slots(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.state.load(Ordering::Acquire) & S_STATE_MASK != S_FREE)
            .count()
    }
}
