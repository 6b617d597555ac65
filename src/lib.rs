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
//! treats the other process as untrusted — exactly how far that goes is the next section.
//! Each public operation states its real-time class: *wait-free*, *lock-free*, *may wake*
//! (one syscall only when a peer is parked) or *may block*.
//!
//! What may *live* in shared memory is [`ShmSafe`] (`#[derive(ShmSafe)]` for your own
//! `#[repr(C)]` structs); what may be *copied* through a ring is [`ring::Item`]: `ShmSafe`
//! and, from [`bytemuck`] (re-exported), no padding and every bit pattern valid.
//!
//! # Quick start
//! One region, two mappings of it (in real use, two processes: see
//! `examples/quickstart.rs`, which re-executes itself as the peer). With the `std` feature,
//! `Region::init_in` / `Region::attach_in` take a `hal::shm::Mapping` and tie the root's
//! lifetime to it; the raw-pointer `init` / `attach` below leave that to the caller.
//!
//! ```
//! # #[cfg(all(unix, not(miri)))] {
//! use shmsync::{Mutex, ShmSafe, Spsc};
//! use shmsync::hal::shm::SharedMemory;
//!
//! // The derive checks repr(C) and every field, and computes the layout tag `attach`
//! // compares: a peer built with another layout of `Shared` is refused.
//! #[derive(ShmSafe)]
//! #[repr(C)]
//! struct Shared {
//!     to_helper: Spsc<[f32; 64], 8>,
//!     gain: Mutex<f32>,
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
//!
//! # What a corrupted or hostile peer can and cannot do
//! The threat: another process that maps the same memory writes any bytes, anywhere in the
//! region, at any moment (a bug, a crash half-way through a write, or malice). It cannot
//! touch this process's private memory. Against that peer, through the **safe** API:
//!
//! **It cannot** —
//! * make shmsync read or write outside the region: every index, offset and length read
//!   from shared memory is masked or checked before it addresses anything;
//! * make a shmsync call panic: inconsistent state is a typed error —
//!   [`ring::Corrupted`] / `PushError::Corrupted` / `PopError::Corrupted` /
//!   `SendError::Corrupted` / `RecvError::Corrupted`, [`RegionError`] at attach — never an
//!   index panic or an overflow (the only panics are documented caller bugs, e.g.
//!   `write_at` past a reservation);
//! * cause undefined behaviour through the rings, the region header or the lock words:
//!   all of them are read and written with atomic operations only, ring payloads are
//!   copied with atomic word accesses (a racing write gives a torn item, not a data race),
//!   a torn or forged item is still a valid value ([`ring::Item`]: every bit pattern
//!   valid), no padding byte is ever read, and no safe function hands out a `&T` or
//!   `&[u8]` into ring memory;
//! * make [`attach`] accept another layout by accident: magic, version, checksum, size,
//!   alignment and the root type's `TAG` are checked (a deliberate forger can make it
//!   accept, and then still only gets a root that is valid for any bytes, `ShmSafe` rule 3).
//!
//! **It can** —
//! * give wrong values: wrong, torn, repeated or missing ring items and messages, wrong
//!   counts, forged owner pids (a lock reports [`sync::OwnerDead`] for a holder that was
//!   alive), a forged role holder;
//! * **break mutual exclusion.** A lock in shared memory is a protocol every process must
//!   follow; nothing can enforce it on a process that can write the lock word. A peer that
//!   stores 0 into a held [`Mutex`]'s word lets a second thread take it — in its own
//!   process or in ours, so two `MutexGuard`s, two `&mut T`, exist at once in one process;
//!   a peer can also write the protected data while we hold the lock. For a `T` of atomics
//!   that is only wrong values; for plain data it is a data race, which Rust defines as
//!   undefined behaviour. The same holds for [`RwLock`]. This is inherent to any lock in
//!   shared memory (the OS's robust futexes and pthread mutexes alike): the locks protect
//!   against honest peers and dead ones (owner-death recovery), not against hostile ones.
//!   Keep data that a hostile peer may race with in atomics or in a ring;
//! * deny service: hold a lock or a role for ever while alive (a live holder is never taken
//!   over), fill a ring and never consume, claim an [`Mpmc`] slot and never publish it (the
//!   ring stops at that slot), corrupt a ring so that every call returns `Corrupted`;
//! * delay: a blocking call then waits until its timeout (for ever without one); a peer
//!   that leaves a "parked" flag or sleeper count set makes every publish pay its one wake
//!   syscall, so a *wait-free* call stays bounded but is no longer syscall-free; spurious
//!   wakes only cost a re-check;
//! * take the memory away: shmsync cannot defend the mapping itself. A peer that shrinks
//!   the file or shared-memory object behind a `MAP_SHARED` mapping makes the next access
//!   fault (`SIGBUS`); seal memfds (`F_SEAL_SHRINK`) or give peers no write access to the
//!   object's size where that matters;
//! * do anything at all through the `unsafe` escape hatches ([`ReadGrant::as_slice`],
//!   [`WriteGrant::as_mut_slice`], and [`init`] / [`attach`]'s own contracts): those state
//!   what the caller must guarantee.
//!
//! [`ReadGrant::as_slice`]: ring::ReadGrant::as_slice
//! [`WriteGrant::as_mut_slice`]: ring::WriteGrant::as_mut_slice
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
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "std")]
extern crate std;
// The loom models (`src/sync/loom_tests.rs`) use std threads and collections; the rings'
// loom shim a thread-local.
#[cfg(all(loom, not(feature = "std")))]
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

#[doc(hidden)]
pub mod hooks;
pub mod region;
pub mod ring;
mod shm_safe;
pub mod sync;

pub use region::{Options, Region, RegionError, attach, attach_timeout, init, init_with};
#[cfg(not(loom))]
pub use ring::{ByteRing, DynMsgRing};
pub use ring::{Mpmc, MsgRing, Spsc};
pub use shm_safe::{ShmSafe, tag, tag_with};

/// `#[derive(ShmSafe)]` (`derive` feature, on by default): implements [`ShmSafe`] for a
/// `#[repr(C)]` struct of `ShmSafe` fields, with a layout `TAG` computed from the type's
/// name, size, alignment and every field's name, offset and `TAG`. See the trait.
#[cfg(feature = "derive")]
pub use shmsync_derive::ShmSafe;

/// [bytemuck](https://docs.rs/bytemuck), re-exported: its `NoUninit + AnyBitPattern`
/// (e.g. `Pod`) are what a ring item needs besides [`ShmSafe`] ([`ring::Item`]). With the
/// `derive` feature its derives are on too; name this path with
/// `#[bytemuck(crate = "shmsync::bytemuck")]` so one dependency on shmsync is enough.
pub use bytemuck;

// Lets `#[derive(ShmSafe)]`'s `::shmsync::…` paths resolve inside this crate as well.
extern crate self as shmsync;
pub use sync::{AutoResetEvent, Condvar, ManualResetEvent, Mutex, RwLock, Semaphore};
