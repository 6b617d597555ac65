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
    /// Re-reading the word between short sleeps (at most 1 ms), with wakes doing nothing:
    /// the fallback on Apple systems where [`init`] reports [`Unsupported`]. It speaks
    /// [`WakeProtocol::Spin`]: nobody sleeps in the kernel.
    Poll,
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
    /// Nobody sleeps in the kernel: waiters spin (or poll with short sleeps) and wakers do
    /// nothing.
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
            Backend::Spin | Backend::Poll => WakeProtocol::Spin,
        }
    }

    /// A short lowercase name (`"futex"`, `"ulock"`, `"os_sync"`, `"mach"`, `"spin"`,
    /// `"poll"`).
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Futex => "futex",
            Backend::Ulock => "ulock",
            Backend::OsSync => "os_sync",
            Backend::Mach => "mach",
            Backend::Spin => "spin",
            Backend::Poll => "poll",
        }
    }
}

/// Why this process has no backend that sleeps in the kernel. Waits still work (they poll,
/// [`Backend::Poll`]), but a region created now records [`WakeProtocol::Spin`], and
/// wake-ups are noticed up to 1 ms late.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unsupported {
    /// `app-store-safe` build on macOS older than 14.4: `os_sync_wait_on_address` is
    /// missing, and the public fallback (the Mach backend) is not built in.
    NoPublicKernelWait,
    /// Default build on macOS older than 10.15: neither `os_sync_wait_on_address` nor the
    /// shared ulock opcode exists.
    NoSharedKernelWait,
}

impl core::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Unsupported::NoPublicKernelWait => {
                "no public cross-process wait on this macOS (os_sync_wait_on_address needs \
                 macOS 14.4+; the Mach backend is not available in this build)"
            }
            Unsupported::NoSharedKernelWait => {
                "no cross-process kernel wait on this macOS (shared ulock needs macOS 10.15+)"
            }
        })
    }
}

impl core::error::Error for Unsupported {}

/// Chooses this process's backend (once; later calls return the cached answer) and says
/// whether it sleeps in the kernel.
///
/// Call it at start-up, before a region is created or attached and before any wait or
/// wake on a real-time thread: on Apple targets the first call resolves symbols with
/// `dlsym` (which takes dyld's lock) and may make one probe syscall. Without it, the first
/// wait, wake or [`backend`] call makes the same choice.
///
/// | target | `Ok` | `Err` |
/// |---|---|---|
/// | Linux, Android | [`Backend::Futex`] | — |
/// | macOS, default build | [`Backend::OsSync`] (14.4+), else [`Backend::Ulock`] (10.15+) | older: [`Unsupported::NoSharedKernelWait`] |
/// | macOS, `app-store-safe` | [`Backend::OsSync`] (14.4+) | older: [`Unsupported::NoPublicKernelWait`] |
/// | no OS | [`Backend::Spin`] | — |
///
/// On `Err`, [`backend`] is [`Backend::Poll`]: waits and wakes keep working (no panic,
/// no lost change), by polling.
///
/// Real-time class: **may block** on the first call; wait-free afterwards.
pub fn init() -> Result<Backend, Unsupported> {
    #[cfg(target_vendor = "apple")]
    {
        crate::darwin::init()
    }
    #[cfg(not(target_vendor = "apple"))]
    {
        Ok(backend())
    }
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
        assert_eq!(Backend::Poll.protocol(), WakeProtocol::Spin);
        assert_eq!(Backend::Poll.name(), "poll");
    }

    #[test]
    fn init_agrees_with_backend() {
        match init() {
            Ok(b) => assert_eq!(b, backend()),
            Err(e) => {
                assert_eq!(backend(), Backend::Poll);
                assert!(!alloc_free_display(e).is_empty());
            }
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        assert_eq!(init(), Ok(Backend::Futex));
    }

    #[test]
    fn unsupported_says_why() {
        extern crate std;
        use std::string::ToString;
        assert!(Unsupported::NoPublicKernelWait.to_string().contains("14.4"));
        assert!(
            Unsupported::NoSharedKernelWait
                .to_string()
                .contains("10.15")
        );
    }

    fn alloc_free_display(e: Unsupported) -> &'static str {
        match e {
            Unsupported::NoPublicKernelWait | Unsupported::NoSharedKernelWait => "unsupported",
        }
    }
}
