//! Which backend is active, and the wake protocol it speaks.

/// A wait/wake implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// Linux / Android `SYS_futex`, `FUTEX_WAIT_BITSET` / `FUTEX_WAKE` without
    /// `FUTEX_PRIVATE_FLAG`, so the kernel keys waits on the shared page, not the address.
    Futex,
    /// Darwin `__ulock_wait2` / `__ulock_wake` with `UL_COMPARE_AND_WAIT_SHARED`
    /// (private API, macOS 10.15+).
    Ulock,
    /// Darwin `os_sync_wait_on_address` / `os_sync_wake_by_address_*` with the shared
    /// flags (public API, macOS 14.4+).
    OsSync,
    /// A waiter table in the region plus one Mach semaphore per waiting thread (public
    /// API, any macOS).
    Mach,
    /// Spinning with `cpu_relax`; for targets with no operating system.
    Spin,
}

/// How waiters are found by wakers: every process attached to one region must speak the
/// same protocol. Region headers record it as a `u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum WakeProtocol {
    /// The kernel keys waiters by the word's memory object and offset (futex, ulock and
    /// os_sync all speak this one: ulock and os_sync share the kernel code).
    KernelAddress = 1,
    /// Waiters register in a table inside the region and are signalled through per-process
    /// Mach semaphores.
    MachTable = 2,
    /// Nobody sleeps: waiters spin and wakers do nothing.
    Spin = 3,
}

impl WakeProtocol {
    /// The protocol for a raw id read from shared memory, if it names one.
    /// Real-time class: wait-free.
    pub const fn from_u32(raw: u32) -> Option<Self> {
        match raw {
            1 => Some(Self::KernelAddress),
            2 => Some(Self::MachTable),
            3 => Some(Self::Spin),
            _ => None,
        }
    }

    /// The id stored in region headers. Real-time class: wait-free.
    pub const fn as_u32(self) -> u32 {
        self as u32
    }
}

impl Backend {
    /// The wake protocol this backend speaks. Real-time class: wait-free.
    pub const fn protocol(self) -> WakeProtocol {
        match self {
            Backend::Futex | Backend::Ulock | Backend::OsSync => WakeProtocol::KernelAddress,
            Backend::Mach => WakeProtocol::MachTable,
            Backend::Spin => WakeProtocol::Spin,
        }
    }

    /// A short lowercase name (`"futex"`, `"ulock"`, `"os_sync"`, `"mach"`, `"spin"`).
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Futex => "futex",
            Backend::Ulock => "ulock",
            Backend::OsSync => "os_sync",
            Backend::Mach => "mach",
            Backend::Spin => "spin",
        }
    }
}

/// Chooses this process's backend (once; later calls return the cached answer).
///
/// Call it at start-up, before a region is created or attached and before any wait or
/// wake on a real-time thread: on Apple targets the first call resolves symbols with
/// `dlsym` (which takes dyld's lock) and may make one probe syscall. Without it, the first
/// wait, wake or [`backend`] call makes the same choice.
///
/// | target | backend |
/// |---|---|
/// | Linux, Android | [`Backend::Futex`] |
/// | macOS, `force-mach` feature | [`Backend::Mach`] |
/// | macOS 14.4+ | [`Backend::OsSync`] |
/// | macOS 10.15–14.3, default build | [`Backend::Ulock`] |
/// | macOS < 14.4 with `app-store-safe`; macOS 10.12–10.14 | [`Backend::Mach`] |
/// | no OS | [`Backend::Spin`] |
///
/// Real-time class: **may block** on the first call; wait-free afterwards.
pub fn init() -> Backend {
    backend()
}

/// The backend this process uses for [`wait`](crate::wait) and the wakes.
///
/// On Apple targets the choice is made at run time (see [`init`]), on the first call of
/// `init`, `backend`, a wait or a wake, and cached.
///
/// Real-time class: **wait-free** (a constant, or one cached load where the choice is made
/// at run time) — after [`init`] has run on Apple targets.
#[inline]
pub fn backend() -> Backend {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        Backend::Futex
    }
    #[cfg(target_vendor = "apple")]
    {
        crate::darwin::backend()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    {
        Backend::Spin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_ids_round_trip_and_reject_unknown() {
        for p in [
            WakeProtocol::KernelAddress,
            WakeProtocol::MachTable,
            WakeProtocol::Spin,
        ] {
            assert_eq!(WakeProtocol::from_u32(p.as_u32()), Some(p));
        }
        assert_eq!(WakeProtocol::from_u32(0), None);
        assert_eq!(WakeProtocol::from_u32(4), None);
        assert_eq!(Backend::Ulock.protocol(), Backend::OsSync.protocol());
        assert_ne!(Backend::Mach.protocol(), Backend::Futex.protocol());
    }

    #[test]
    fn init_agrees_with_backend() {
        assert_eq!(init(), backend());
        #[cfg(any(target_os = "linux", target_os = "android"))]
        assert_eq!(init(), Backend::Futex);
    }
}
