//! Who holds a [`Mutex`](super::Mutex), and whether that process is still alive.
//!
//! # The holder tag
//! A mutex's state word names its holder in bits 0–30: the process id in bits 0–21 (Linux
//! caps pids below 2^22, `PID_MAX_LIMIT`; macOS at 99,999) and the 9-bit
//! [`short_token`](crate::hal::process::short_token) of its start time in bits 22–30. The
//! whole identity is in the one word the takeover compare-exchange works on, so the pair a
//! locker judged dead is exactly the pair its compare-exchange expects: the holder cannot
//! change between the judgement and the takeover without the compare-exchange failing
//! (unless a new holder has the very same pid *and* start-time residue — a pid reused
//! within the judgement, which only the region lease excludes).
//!
//! # The namespace stamp
//! A pid means something only inside its pid namespace, and the word has no room for one.
//! The mutex's `ns` word is therefore a *sticky* record of the namespaces of everyone who
//! has ever locked it: 0 (nobody yet) → the first locker's namespace → [`MIXED_NS`] once a
//! locker from another (or an unknown) namespace comes along. It never goes back. Every
//! locker reads (and if needed stamps) it *before* its compare-exchange on the state word,
//! which is `AcqRel`; a judge reads the state word, then an acquire fence, then the stamp.
//! The judge thereby synchronises with the holder's compare-exchange (or a later
//! read-modify-write in its release sequence, such as a waiter setting `PARKED`), so it
//! sees the stamp the holder saw or wrote, or a later one: a foreign holder is always seen
//! as `MIXED_NS`, never as the judge's own namespace. A lock whose
//! stamp is not the judge's own namespace is never taken over by the pid path: it behaves
//! as a plain lock (counted by [`unknown_owner_checks`]).
//!
//! Liveness is asked only by a locker that has already waited
//! [`OWNER_CHECK_PERIOD`](super::OWNER_CHECK_PERIOD) on a held lock, never on a fast path.

use super::shim::{AtomicU32, Ordering};
#[cfg(not(all(loom, test)))]
use crate::hal::atomic::fence;
use crate::hal::process::{self, Liveness, OwnerId};
#[cfg(all(loom, test))]
use loom::sync::atomic::fence;

/// Bits of the mutex word that name the holder (pid and short token); 0 = unlocked.
pub(crate) const PID_MASK: u32 = 0x7FFF_FFFF;

/// Bits of the holder tag that hold the process id.
pub(crate) const PID_BITS: u32 = process::TAG_PID_BITS;

/// Shift of the 9-bit short start-time token in the holder tag.
const TOKEN_SHIFT: u32 = 22;

/// The pid used when this process has no usable pid (no OS, or a pid of 2^22 or more):
/// such a holder is never declared dead.
pub(crate) const UNKNOWN_PID: u32 = PID_BITS;

/// `ns` stamp: lockers from more than one pid namespace (or from an unknown one) have
/// held this lock; the pid path never judges its holder.
pub(crate) const MIXED_NS: u32 = u32::MAX;

/// This process as a mutex owner.
#[derive(Clone, Copy)]
pub(crate) struct Me {
    /// The holder tag stored in the word: non-zero, at most [`PID_MASK`].
    pub(crate) pid: u32,
    /// This process's pid namespace (0 = unknown), as stamped into `ns`.
    pub(crate) ns: u32,
}

/// This process's owner identity. Real-time class: wait-free (cached by the hal after the
/// first call in each process).
#[cfg(not(miri))]
#[inline]
pub(crate) fn me() -> Me {
    let (pid, ns) = process::current_tag();
    Me { pid, ns }
}

/// Under Miri (isolation forbids reading `/proc`) every thread is one fixed process; the
/// owner-death paths need `fork`, which the host lane runs.
#[cfg(miri)]
#[inline]
pub(crate) fn me() -> Me {
    Me { pid: 1, ns: 1 }
}

/// Records this process's namespace in the sticky `ns` stamp before a compare-exchange
/// that may make it the holder (which must be `AcqRel`). Real-time class: wait-free (one
/// relaxed load when the stamp already says our namespace or [`MIXED_NS`]; at most a few
/// compare-exchanges and one fence, once per lock and namespace, otherwise).
#[inline]
pub(crate) fn stamp(ns: &AtomicU32, me: Me) {
    let cur = ns.load(Ordering::Relaxed);
    if cur != MIXED_NS && (cur != me.ns || me.ns == 0) {
        stamp_slow(ns, me, cur);
    }
}

#[cold]
fn stamp_slow(ns: &AtomicU32, me: Me, mut cur: u32) {
    loop {
        // 0 → ours; anything else that is not ours (or ours unknown) → MIXED, for good.
        let new = if cur == 0 && me.ns != 0 {
            me.ns
        } else if cur == me.ns && me.ns != 0 {
            return;
        } else {
            MIXED_NS
        };
        if cur == new {
            // Already MIXED: nothing written, nothing to order.
            return;
        }
        match ns.compare_exchange(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break,
            Err(now) => cur = now,
        }
    }
    // The caller's `AcqRel` compare-exchange on the state word orders this stamp for a
    // judge; the fence also orders it for lockers that lose that compare-exchange.
    fence(Ordering::SeqCst);
}

/// How many owner checks found a holder whose liveness cannot be decided (another pid
/// namespace, no `/proc`, `hidepid`, `EPERM`): the lock behaved as a plain lock there.
/// Process-wide, since start. Real-time class: wait-free.
/// Wraps at 2^32.
pub fn unknown_owner_checks() -> u32 {
    UNKNOWN_CHECKS.load(crate::hal::atomic::Ordering::Relaxed)
}

static UNKNOWN_CHECKS: crate::hal::atomic::AtomicU32 = crate::hal::atomic::AtomicU32::new(0);

fn count_unknown() {
    UNKNOWN_CHECKS.fetch_add(1, crate::hal::atomic::Ordering::Relaxed);
}

/// The state word `v` (read by the caller) if its holder is proven dead: the value the
/// takeover compare-exchange must expect. `None` when unlocked, held by this process, or
/// the holder is alive or undecidable. Our own process always counts as alive (another of
/// its threads holds the lock).
///
/// Real-time class: **may block** (`pidfd_open`, `/proc/<pid>/stat` on Linux,
/// `proc_pidinfo` on macOS).
pub(crate) fn dead_holder(v: u32, ns_word: &AtomicU32, me: Me) -> Option<u32> {
    let tag = v & PID_MASK;
    let pid = tag & PID_BITS;
    if pid == 0 || pid == UNKNOWN_PID || tag == me.pid {
        return None;
    }
    // Pairs with the fence in `stamp_slow`: the holder stamped before writing `v`.
    fence(Ordering::Acquire);
    let ns = ns_word.load(Ordering::Relaxed);
    if ns == MIXED_NS || ns == 0 || ns != me.ns {
        count_unknown();
        return None;
    }
    let holder = OwnerId {
        pid,
        token: tag >> TOKEN_SHIFT,
        ns,
    };
    match process::liveness_as(holder, process::short_token) {
        Liveness::Dead => Some(v),
        Liveness::Alive => None,
        Liveness::Unknown => {
            count_unknown();
            None
        }
    }
}
