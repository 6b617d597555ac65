//! shmsync: low-latency wait/wake, locks and fixed-size rings that live in shared memory
//! the caller maps — built first for real-time audio plugins and the helper processes they
//! talk to (macOS), and just as much at home on Linux.
//!
//! * [`region`]: [`init`] places the caller's root type in memory it mapped (`shm_open`,
//!   memfd, a file, an app-group container) behind a validated header; [`attach`] lets any
//!   other process, at any address, get the same root — or a typed [`RegionError`].
//! * [`sync`]: [`Mutex`] (with owner-death recovery), [`Condvar`], [`Semaphore`],
//!   [`RwLock`], [`AutoResetEvent`], [`ManualResetEvent`].
//! * [`ring`]: [`Spsc`] (wait-free ends for an audio thread), [`Mpmc`], [`MsgRing`]
//!   (variable-length messages).
//! * [`hal`] (the `shmsync-hal` crate): futex-style `wait` / `wake_one` / `wake_all` on a
//!   shared `AtomicU32` — Linux futex, Darwin ulock / os_sync / Mach, or spinning.
//! * [`arch`] (the `shmsync-arch` crate): `cpu_relax`, `Backoff`, `CachePadded`.
//!
//! Everything here is `no_std` and allocation-free; the `std` feature adds helpers that map
//! shared memory (`hal::shm`). Every shared type is `#[repr(C)]` over fixed-width fields
//! (identical layout on x86_64 and aarch64, Linux and macOS), valid as all-zero bytes, and
//! treats the other process as untrusted: corruption gives an error or a wrong value, never
//! undefined behaviour. Each public operation states its real-time class: *wait-free*,
//! *lock-free*, *may wake* (one syscall only when a peer is parked) or *may block*.
//!
//! # RealtimeSanitizer (`rtsan` feature)
//! With the `rtsan` feature every public *may block* function tells
//! [RealtimeSanitizer](https://clang.llvm.org/docs/RealtimeSanitizer.html) (through the
//! `rtsan-standalone` crate) that it blocks, on entry and on every call — also when it
//! would not have to wait this time — so calling it from a real-time context (between
//! `rtsan_standalone::realtime_enter` / `realtime_exit`, or in a `#[nonblocking]`
//! function) is reported and, by default, stops the process. The report names the
//! function, e.g. `shmsync::Mutex::lock`. Marked:
//!
//! * rings: [`Spsc`] `producer` / `consumer` (role claims), `Producer::push`,
//!   `Consumer::pop`; [`Mpmc::push`] / [`Mpmc::pop`]; [`MsgRing`] `producer` / `consumer`,
//!   `MsgProducer::reserve` / `send`, `MsgConsumer::read` / `recv`;
//! * locks: [`Mutex::lock`] / `lock_timeout` / `lock_until`, [`Condvar::wait`] /
//!   `wait_timeout` / `wait_until`, [`Semaphore::wait`] / `wait_timeout` / `wait_until`,
//!   [`RwLock::read`] / `write` and their `_timeout` / `_until` forms, the events' `wait` /
//!   `wait_timeout` / `wait_until`;
//! * regions: [`init`] / [`init_with`] and [`attach_timeout`];
//! * `hal::wait` / `hal::wait_until` right before they sleep in the kernel (not for a zero
//!   timeout or a past deadline, which only compare).
//!
//! Not marked, because they are allowed on a real-time thread: the wait-free and lock-free
//! operations (`try_*`, `push_slice`, `pop_slice`, grants, [`attach`], snapshots) and the
//! *may wake* ones (`try_push` / `try_pop` waking a parked peer, `notify_*`, `post`, `set`,
//! unlocking). On Linux RTSan still reports the futex `syscall` a *may wake* operation makes
//! when a peer is parked, since it intercepts `syscall` itself; keep the peer polling, or
//! accept that report, when running a real-time path under RTSan.
//!
//! The feature is inert unless the build sees `RTSAN_ENABLE=1` on a target RTSan supports
//! (Linux x86_64/aarch64, macOS). Then point `RTSAN_LIB_PATH` at the runtime library
//! (Debian: `apt-get install libclang-rt-22-dev`, then
//! `RTSAN_LIB_PATH=/usr/lib/llvm-22/lib/clang/22/lib/linux/libclang_rt.rtsan-x86_64.a`;
//! macOS: a `libclang_rt.rtsan_osx_dynamic.dylib` from an LLVM 20+ toolchain, not tried
//! here). shmsync never turns on `rtsan-standalone`'s download of prebuilt libraries, but
//! with `RTSAN_ENABLE=1` and no `RTSAN_LIB_PATH` that crate's build script clones
//! llvm-project and builds the runtime (git, cmake, network). Every target, `no_std` ones
//! included, builds with or without the feature; `ci/rtsan-check.sh` is the lane that
//! runs it (tests/rtsan.rs and the `audio_host` example).
//!
//! ```
//! # #[cfg(all(unix, not(miri)))] {
//! use shmsync::{Mutex, ShmSafe, Spsc};
//! use shmsync::hal::shm::SharedMemory;
//!
//! #[repr(C)]
//! struct Shared {
//!     to_helper: Spsc<[f32; 64], 8>,
//!     gain: Mutex<f32>,
//! }
//! // SAFETY: repr(C) of shmsync types and an f32: fixed layout, all-zero valid.
//! unsafe impl ShmSafe for Shared {
//!     const TAG: u64 = shmsync::tag(b"example::Shared v1");
//! }
//!
//! let shm = SharedMemory::create(shmsync::region::required_len::<Shared>()).unwrap();
//! let (host_map, helper_map) = (shm.map().unwrap(), shm.map().unwrap());
//! // SAFETY: fresh mappings, used only through shmsync, outlive the regions.
//! let host = unsafe { shmsync::init::<Shared>(host_map.as_ptr(), host_map.len()) }.unwrap();
//! // Usually in the helper process; here a second mapping at another address.
//! let helper = unsafe { shmsync::attach::<Shared>(helper_map.as_ptr(), helper_map.len()) }.unwrap();
//!
//! let mut tx = host.to_helper.producer().unwrap(); // role claimed in shared memory
//! let mut rx = helper.to_helper.consumer().unwrap();
//! tx.try_push([0.5; 64]).unwrap(); // wait-free, no syscall
//! assert_eq!(rx.try_pop().unwrap()[0], 0.5);
//! *helper.gain.lock().unwrap() = 0.8;
//! assert_eq!(*host.gain.lock().unwrap(), 0.8);
//! # }
//! ```
#![no_std]

#[cfg(feature = "std")]
extern crate std;
// The loom models (`src/sync/loom_tests.rs`) use std threads and collections.
#[cfg(all(loom, test, not(feature = "std")))]
extern crate std;

pub use shmsync_arch as arch;
pub use shmsync_hal as hal;

/// Marks the enclosing function as blocking for RealtimeSanitizer (`rtsan` feature): a
/// call from a real-time context is reported under the given name (a C string literal,
/// e.g. `c"shmsync::Mutex::lock"`). Expands to nothing without the feature. Put it first
/// in every public *may block* function, never in a wait-free or *may wake* one.
macro_rules! rtsan_blocking {
    ($name:literal) => {
        #[cfg(feature = "rtsan")]
        rtsan_standalone::notify_blocking_call($name);
    };
}

pub mod region;
pub mod ring;
mod shm_safe;
pub mod sync;

pub use region::{Options, Region, RegionError, attach, attach_timeout, init, init_with};
#[cfg(not(loom))]
pub use ring::{ByteRing, DynMsgRing};
pub use ring::{Mpmc, MsgRing, Spsc};
pub use shm_safe::{ShmSafe, tag, tag_with};
pub use sync::{AutoResetEvent, Condvar, ManualResetEvent, Mutex, RwLock, Semaphore};
