//! Role claims in shared memory: at most one producer and one consumer of a ring, across
//! every process that maps it.
//!
//! A role is one 8-byte word holding the [`OwnerId`] (process id and start-time token) of
//! its holder, or zero when free. Claiming is a single compare-and-swap from zero to our
//! id; releasing is a compare-and-swap back to zero. A role whose holder died (SIGKILL, a
//! crash) is *taken over*: the claimant asks [`process::liveness`] about the recorded
//! holder and, only if the answer is [`Liveness::Dead`], swaps the dead id for its own with
//! one compare-and-swap — the same word and the same step as a normal claim, so a claimant
//! that dies at any instruction leaves either the old owner or itself recorded, never a
//! half-written owner. Two processes racing to take over the same dead holder both
//! compare against the dead id: exactly one wins.
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

/// One role word. All-zero: free.
#[repr(C, align(8))]
pub(crate) struct Role {
    #[cfg(any(loom, target_has_atomic = "64"))]
    owner: AtomicU64,
    #[cfg(not(any(loom, target_has_atomic = "64")))]
    owner: [super::sync::AtomicU32; 2],
}

#[cfg(not(loom))]
crate::assert_layout!(Role, size = 8, align = 8);

#[cfg(any(loom, target_has_atomic = "64"))]
const fn pack(id: OwnerId) -> u64 {
    (id.token as u64) << 32 | id.pid as u64
}

#[cfg(any(loom, target_has_atomic = "64"))]
const fn unpack(v: u64) -> OwnerId {
    OwnerId {
        pid: v as u32,
        token: (v >> 32) as u32,
    }
}

impl Role {
    /// A free role.
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self {
            owner: AtomicU64::new(0),
        }
    }

    /// The recorded holder ([`OwnerId::NONE`] when free). Real-time class: wait-free.
    #[cfg(any(loom, target_has_atomic = "64"))]
    pub(crate) fn holder(&self) -> OwnerId {
        unpack(self.owner.load(Ordering::Acquire))
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
            Err(pid) => Err(OwnerId { pid, token: 0 }),
        }
    }

    /// Claims the role for this process, taking it over from a dead holder.
    pub(crate) fn claim(&self) -> Result<Claim, RoleError> {
        let me = process::current();
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
            match process::liveness(seen) {
                Liveness::Dead => match self.cas(seen, me) {
                    Ok(()) => {
                        return Ok(Claim {
                            me,
                            took_over_from: Some(seen),
                        });
                    }
                    Err(now) => seen = now,
                },
                Liveness::Alive | Liveness::Unknown => {
                    return Err(RoleError::Taken { holder: seen });
                }
            }
        }
        Err(RoleError::Taken { holder: seen })
    }

    /// Gives the role back, if `claim.me` still holds it and we are that process (a forked
    /// child's copy of a parent's handle must not release the parent's role).
    pub(crate) fn release(&self, claim: &Claim) {
        if process::current() == claim.me {
            let _ = self.cas(claim.me, OwnerId::NONE);
        }
    }
}
