//! Role claims in shared memory: at most one producer and one consumer of a ring, across
//! every process that maps it.
//!
//! A role is one 8-byte word holding the process id and start-time token of its holder, or
//! zero when free, plus a sticky stamp of the pid namespaces of every claimant so far (0 →
//! one namespace → `MIXED_NS`, written before the claim's compare-and-swap, as for
//! [`Mutex`](crate::sync::Mutex)): a holder is judged only by a claimant of the same, sole
//! namespace, so a pid from another namespace is never read as a dead local one. Claiming is a single compare-and-swap from zero to our
//! id; releasing is a compare-and-swap back to zero. A role whose holder died (SIGKILL, a
//! crash) is *taken over*: the claimant asks [`process::liveness`] about the recorded
//! holder and, only if the answer is [`Liveness::Dead`], swaps the dead id for its own with
//! one compare-and-swap — the same word and the same step as a normal claim, so a claimant
//! that dies at any instruction leaves either the old owner or itself recorded, never a
//! half-written owner. The judged (pid, token) pair is read in one load of that word and
//! the compare-and-swap expects exactly it, so a release and re-claim in between (A→B→A)
//! either leaves the same live identity (which was not judged dead) or makes the
//! compare-and-swap fail. Two processes racing to take over the same dead holder both
//! compare against the dead id: exactly one wins.
//!
//! A handle inherited by a `fork` child does not hold the role (the child is another
//! process): dropping it there **panics** and leaves the role to its holder.
//!
//! The word is a whole `u64` swapped at once where the target has 64-bit atomics (x86_64,
//! aarch64: every target with processes). On targets without them (bare-metal Cortex-M,
//! one program and no processes) only the pid half is swapped; the layout is the same.
//!
//! Real-time class of claiming and releasing: **may block** (liveness reads `/proc` on
//! Linux, `proc_pidinfo` on macOS, and [`process::current`] may read them on first use).
//! Claim roles at start-up, not on an audio thread.

use super::sync::Ordering;
use crate::hal::process::{self, Liveness, OwnerId};
use core::fmt;

#[cfg(any(loom, target_has_atomic = "64"))]
use super::sync::AtomicU64;

/// Why a role could not be claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RoleError {
    /// Another live handle holds the role (in this process or another one), or its
    /// holder's liveness could not be decided (e.g. inside the macOS App Sandbox), which
    /// counts as alive.
    Taken {
        /// The recorded holder.
        holder: OwnerId,
    },
}

impl fmt::Display for RoleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoleError::Taken { holder } => write!(
                f,
                "ring role is held by process {} (token {:#x})",
                holder.pid, holder.token
            ),
        }
    }
}

impl core::error::Error for RoleError {}

/// How a claim succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Claim {
    /// Our id as recorded in the word.
    pub(crate) me: OwnerId,
    /// The role was taken over from this dead holder (`None`: it was free).
    pub(crate) took_over_from: Option<OwnerId>,
}

/// One role word and the claimants' namespace stamp. All-zero: free.
#[repr(C, align(8))]
pub(crate) struct Role {
    #[cfg(any(loom, target_has_atomic = "64"))]
    owner: AtomicU64,
    #[cfg(not(any(loom, target_has_atomic = "64")))]
    owner: [super::sync::AtomicU32; 2],
    /// Sticky pid-namespace stamp: 0, the one namespace of all claimants, or `MIXED_NS`.
    ns: super::sync::AtomicU32,
    _reserved: u32,
}

/// `ns` stamp: claimants from several (or unknown) namespaces; holders are never judged.
const MIXED_NS: u32 = u32::MAX;

#[cfg(not(loom))]
crate::assert_layout!(Role, size = 16, align = 8);

#[cfg(any(loom, target_has_atomic = "64"))]
const fn pack(id: OwnerId) -> u64 {
    (id.token as u64) << 32 | id.pid as u64
}

#[cfg(any(loom, target_has_atomic = "64"))]
const fn unpack(v: u64) -> OwnerId {
    OwnerId {
        pid: v as u32,
        token: (v >> 32) as u32,
        ns: 0,
    }
}

impl Role {
    /// A free role.
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self {
            owner: AtomicU64::new(0),
            ns: super::sync::AtomicU32::new(0),
            _reserved: 0,
        }
    }

    /// The recorded holder ([`OwnerId::NONE`] when free). Real-time class: wait-free.
    #[cfg(any(loom, target_has_atomic = "64"))]
    pub(crate) fn holder(&self) -> OwnerId {
        self.with_ns(unpack(self.owner.load(Ordering::Acquire)))
    }

    #[cfg(any(loom, target_has_atomic = "64"))]
    fn cas(&self, current: OwnerId, new: OwnerId) -> Result<(), OwnerId> {
        self.owner
            .compare_exchange(
                pack(current),
                pack(new),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .map(drop)
            .map_err(unpack)
    }

    /// The recorded holder ([`OwnerId::NONE`] when free). Real-time class: wait-free.
    #[cfg(not(any(loom, target_has_atomic = "64")))]
    pub(crate) fn holder(&self) -> OwnerId {
        OwnerId {
            pid: self.owner[0].load(Ordering::Acquire),
            token: self.owner[1].load(Ordering::Relaxed),
            ns: 0,
        }
    }

    #[cfg(not(any(loom, target_has_atomic = "64")))]
    fn cas(&self, current: OwnerId, new: OwnerId) -> Result<(), OwnerId> {
        // No processes on these targets: the pid alone identifies the holder.
        match self.owner[0].compare_exchange(
            current.pid,
            new.pid,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                self.owner[1].store(new.token, Ordering::Release);
                Ok(())
            }
            Err(pid) => Err(OwnerId {
                pid,
                token: 0,
                ns: 0,
            }),
        }
    }

    /// Records our namespace in the sticky stamp before a compare-and-swap that may make us
    /// the holder (0 → ours; another or an unknown one → `MIXED_NS`), then a `SeqCst`
    /// fence when it wrote, so a judge that sees our id (and then fences) sees the stamp.
    fn stamp(&self, ns: u32) {
        let mut cur = self.ns.load(Ordering::Relaxed);
        loop {
            let new = match cur {
                0 if ns != 0 => ns,
                c if c == ns && ns != 0 => return,
                _ => MIXED_NS,
            };
            if cur == new {
                return;
            }
            match self
                .ns
                .compare_exchange(cur, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        super::sync::fence(Ordering::SeqCst);
    }

    /// `id` with the claimants' namespace when they all shared one (else 0), for reports.
    fn with_ns(&self, id: OwnerId) -> OwnerId {
        let ns = self.ns.load(Ordering::Relaxed);
        OwnerId {
            ns: if ns == MIXED_NS || id.is_none() {
                0
            } else {
                ns
            },
            ..id
        }
    }

    /// `holder` with the namespace it may be judged in: ours when every claimant so far
    /// was of our namespace, else 0 (never judged).
    fn judged(&self, holder: OwnerId, my_ns: u32) -> OwnerId {
        super::sync::fence(Ordering::Acquire);
        let ns = self.ns.load(Ordering::Relaxed);
        OwnerId {
            ns: if ns == my_ns { ns } else { 0 },
            ..holder
        }
    }

    /// Claims the role for this process, taking it over from a dead holder.
    pub(crate) fn claim(&self) -> Result<Claim, RoleError> {
        let me = process::current();
        self.stamp(me.ns);
        let mut seen = OwnerId::NONE;
        // Each retry means the word changed under us (a release, a claim, a takeover):
        // bounded so that a peer flipping the word forever cannot keep us here.
        for _ in 0..16 {
            if seen.is_none() {
                match self.cas(OwnerId::NONE, me) {
                    Ok(()) => {
                        return Ok(Claim {
                            me,
                            took_over_from: None,
                        });
                    }
                    Err(holder) => seen = holder,
                }
                // A word with pid 0 but a token set is not free; treat it as a dead id.
                if seen.is_none() && seen.token == 0 {
                    continue;
                }
            }
            match process::liveness(self.judged(seen, process::current_ns())) {
                Liveness::Dead => match self.cas(seen, me) {
                    Ok(()) => {
                        return Ok(Claim {
                            me,
                            took_over_from: Some(self.with_ns(seen)),
                        });
                    }
                    Err(now) => seen = now,
                },
                Liveness::Alive | Liveness::Unknown => {
                    return Err(RoleError::Taken {
                        holder: self.with_ns(seen),
                    });
                }
            }
        }
        Err(RoleError::Taken {
            holder: self.with_ns(seen),
        })
    }

    /// Gives the role back, if `claim.me` still holds it. Panics (releasing nothing) when
    /// called from another process than the claimant: a forked child's copy of a parent's
    /// handle must not release the parent's role.
    pub(crate) fn release(&self, claim: &Claim) {
        if process::current() != claim.me {
            not_the_holder();
        }
        let _ = self.cas(claim.me, OwnerId::NONE);
    }
}

/// A ring end was dropped by a process that does not hold its role.
#[cold]
#[inline(never)]
fn not_the_holder() -> ! {
    panic!(
        "shmsync: ring end dropped in a process that does not hold its role (a handle \
         inherited across fork); the role stays with its holder"
    )
}
