//! The ring modules' view of atomics, wait/wake and slot storage.
//!
//! Every ring reaches atomics, the futex-style wait/wake and its slot cells through this
//! module, never directly, so that under `--cfg loom` the *same* ring code runs on loom's
//! model-checked atomics, a modelled futex and loom's race-checked cells:
//!
//! | item | normal build | `cfg(loom)` |
//! |---|---|---|
//! | `AtomicU32`, `Ordering`, `fence` | `shmsync_hal::atomic` | `loom::sync::atomic` |
//! | `wait` / `wake_one` / `wake_all` | `shmsync_hal` | a futex modelled with a loom `Mutex` + `Condvar` |
//! | [`Cell`] | word-wise relaxed atomic copies (see below) | `loom::cell::UnsafeCell`, so loom reports any unsynchronised slot access |
//!
//! # Why slot payloads are copied with relaxed atomic word accesses
//! Slot contents are written by one end and read by the other. When both ends keep to the
//! ring protocol, the index stores (Release) and loads (Acquire) order every slot access
//! and no two accesses ever overlap. But the peer is untrusted: a corrupted or malicious
//! index can make our side read a slot the other side is writing at that moment. With
//! plain (non-atomic) copies that would be a data race, which is undefined behaviour in
//! Rust's memory model, and the compiler may assume memory behind a plain read does not
//! change. So payloads move as a sequence of **relaxed atomic loads and stores** of the
//! word of the type's alignment, capped at 8 bytes (a `T` is at an address and of a size
//! that are multiples of its alignment), chosen at compile time.
//! A racing access then yields a *torn* value (some words old, some new) and never UB, and
//! a torn value is still a valid `T` because `T: Item` promises every bit pattern is
//! valid (bytemuck's `AnyBitPattern`).
//!
//! # Why every byte copied is initialised
//! The copy loops read the source as whole words. Reading a padding byte — uninitialised
//! memory — as part of an integer is undefined behaviour, atomically or not, so ring items
//! are [`Item`](super::Item)s: bytemuck's `NoUninit` says the type has no padding or
//! other uninitialised bytes (its derive refuses a struct with padding at compile time).
//! Then a `T` value, and therefore the private copy [`Cell::write`] reads, has every byte
//! initialised; the slots themselves start as zero bytes (a zero-filled region, or
//! `new()`'s `mem::zeroed()` of padding-free slots) and are only ever written whole items,
//! so [`Cell::read`] reads initialised bytes too. On x86_64 and aarch64 a relaxed atomic load or store of an aligned word is the
//! same single `mov` / `ldr` / `str` a plain copy uses; what is given up is only SIMD
//! widening of large copies. The same rule is why no ring ever hands out `&T` or `&[u8]`
//! into shared memory from a safe function.
//!
//! Every access to a given payload word uses the same width (the width is a function of
//! the type alone), so there are no mixed-size atomic accesses either.

#[cfg(not(loom))]
pub(crate) use crate::hal::atomic::{AtomicU32, Ordering, fence};
#[cfg(all(not(loom), target_has_atomic = "64"))]
pub(crate) use core::sync::atomic::AtomicU64;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

pub(crate) use crate::hal::Wait;
pub(crate) use crate::hal::clock::Instant;

/// The publisher's barrier between its index store and its load of the peer's parked
/// flag (the light half of the asymmetric fence, see `hal::membarrier`).
///
/// * This process registered for global expedited membarriers: a **compiler** fence only.
///   Every sleeper this publisher can wake calls [`heavy_barrier`] with membarrier (region
///   `init` / `attach` refuse a peer that cannot: the header records the choice), which
///   turns this point into a full barrier whenever it matters.
/// * Otherwise: a `SeqCst` fence, pairing with the sleeper's.
///
/// Real-time class: wait-free (one load of a process-local flag, no syscall).
#[cfg(not(loom))]
#[inline(always)]
pub(crate) fn light_barrier() {
    if crate::hal::membarrier::is_registered() {
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// The sleeper's barrier between its parked-flag store and its last check: a `SeqCst`
/// fence, then, when this process is registered, `membarrier(GLOBAL_EXPEDITED)`.
///
/// The fence comes first and the registration is read after it, so a process whose
/// registration happens while its own threads already use a ring stays correct: a sleeper
/// that still reads "not registered" has made its flag visible (the fence) before any
/// publisher can read "registered" and skip its own fence.
/// Real-time class: may block (one syscall when registered).
///
/// A process that has not registered yet (one that only uses rings outside a region, or
/// an `Mpmc`, which claims no role) registers here, on its first sleep: a publisher in
/// another process may be registered and skipping its fence, and only a registered
/// sleeper's membarrier reaches it.
///
/// Returns false where the handshake is not exact, and the caller then sleeps with a short
/// timeout instead of trusting the wake: registered, but the kernel refused both
/// membarrier commands (it can only for lack of memory); or, on Linux, registration failed
/// (an old kernel, a seccomp filter, `SHMSYNC_NO_MEMBARRIER`) — this process publishes
/// with fences, but a peer process may be registered and publish without one, and nothing
/// this process can issue cheaply orders that peer's store. Elsewhere (macOS, Miri) no
/// process registers, every publisher fences, and the fence pair is exact.
#[cfg(not(loom))]
#[inline]
pub(crate) fn heavy_barrier() -> bool {
    use crate::hal::membarrier;
    fence(Ordering::SeqCst);
    if membarrier::is_registered() || membarrier::register() {
        return membarrier::heavy();
    }
    !cfg!(all(
        any(target_os = "linux", target_os = "android"),
        not(miri)
    ))
}

/// Under loom the asymmetric fence is modelled by what membarrier makes of it: the heavy
/// side's full barrier is a `SeqCst` fence, and the IPI it sends lands a full barrier in
/// the publisher between its index store and its flag load — modelled as a `SeqCst` fence
/// there (a barrier landing before the store or after the load gives the same outcome:
/// either the store was already visible when `membarrier` returned, or the load comes
/// after a barrier that follows the sleeper's flag store). With [`model::NO_IPI`] set the
/// publisher's barrier disappears, which is what the hardware does without membarrier;
/// `tests/rings_loom.rs` shows loom then finds the lost wake-up.
#[cfg(loom)]
pub(crate) fn light_barrier() {
    if !model::NO_IPI.with(|c| c.get()) {
        fence(Ordering::SeqCst);
    }
}

/// The sleeper's heavy barrier under loom (see [`light_barrier`]).
#[cfg(loom)]
pub(crate) fn heavy_barrier() -> bool {
    fence(Ordering::SeqCst);
    true
}

/// Blocks while `word == expected`, until `deadline` (`None`: no limit).
#[cfg(not(loom))]
#[inline]
pub(crate) fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> Wait {
    crate::hal::wait_until(word, expected, deadline)
}

/// Wakes one waiter on `word`.
#[cfg(not(loom))]
#[inline]
pub(crate) fn wake_one(word: &AtomicU32) {
    crate::hal::wake_one(word);
}

/// Wakes every waiter on `word`.
#[cfg(not(loom))]
#[inline]
pub(crate) fn wake_all(word: &AtomicU32) {
    crate::hal::wake_all(word);
}

#[cfg(loom)]
mod model {
    //! A futex modelled for loom: one global mutex + condvar stand in for the kernel's
    //! hash bucket. `wait` compares and sleeps under the mutex, `wake_*` notifies under
    //! it, which is exactly the atomicity a futex gives. Deadlines are ignored (every
    //! wait is untimed), the strictest reading: a lost wake-up shows up as a deadlock
    //! that loom reports, instead of being papered over by a timeout.
    use super::{AtomicU32, Instant, Ordering, Wait};
    use loom::sync::{Condvar, Mutex};

    std::thread_local! {
        /// Negative control for the asymmetric-fence model: when set, the publisher's
        /// light barrier is nothing at all (no membarrier IPI), see `light_barrier`.
        /// Thread-local: loom runs a model's threads on the OS thread that called
        /// `loom::model`, so one test's setting does not leak into models other tests run
        /// in parallel.
        pub(crate) static NO_IPI: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
    }

    loom::lazy_static! {
        static ref BUCKET: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());
    }

    pub(crate) fn wait(word: &AtomicU32, expected: u32, _deadline: Option<Instant>) -> Wait {
        let (lock, cv) = &*BUCKET;
        let guard = lock.lock().unwrap();
        if word.load(Ordering::SeqCst) == expected {
            drop(cv.wait(guard).unwrap());
        }
        Wait::Woken
    }

    pub(crate) fn wake_one(_word: &AtomicU32) {
        // One bucket for every word: wake everyone so a wake meant for one word is never
        // absorbed by a waiter on another (waiters re-check their condition anyway).
        wake_all(_word);
    }

    pub(crate) fn wake_all(_word: &AtomicU32) {
        let (lock, cv) = &*BUCKET;
        let _guard = lock.lock().unwrap();
        cv.notify_all();
    }
}
#[cfg(loom)]
pub(crate) use model::NO_IPI;
#[cfg(loom)]
pub(crate) use model::{wait, wake_all, wake_one};

/// A slot: storage for one `T` that is only ever accessed through [`Cell::read`] and
/// [`Cell::write`].
#[cfg(not(loom))]
#[repr(transparent)]
pub(crate) struct Cell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T: super::Item> Cell<T> {
    /// Copies the cell's contents out, word by word (relaxed atomic loads).
    ///
    /// # Safety
    /// None beyond the ring protocol: the bound makes every bit pattern a valid `T`
    /// (`AnyBitPattern`), so a torn value left by a racing writer is still a `T`, and the
    /// cell's bytes are initialised (see the module docs). Kept `unsafe` for symmetry with
    /// the loom cell, whose accesses must be checked.
    #[inline(always)]
    pub(crate) unsafe fn read(&self) -> T {
        let mut out = core::mem::MaybeUninit::<T>::uninit();
        // SAFETY: `self.0.get()` is valid for `size_of::<T>()` bytes and aligned to
        // `align_of::<T>()`, which divides the size; `out` is a private, writable buffer of
        // the same size; every byte of it is written by the copy, and any bytes are a
        // valid `T` (`T: AnyBitPattern`).
        unsafe {
            words::load(
                self.0.get().cast::<u8>(),
                out.as_mut_ptr().cast::<u8>(),
                size_of::<T>(),
                align_of::<T>(),
            );
            out.assume_init()
        }
    }

    /// Copies `value` in, word by word (relaxed atomic stores).
    ///
    /// # Safety
    /// None beyond the ring protocol: racing accesses are atomic, so they cannot be UB.
    /// Kept `unsafe` for symmetry with the loom cell, whose accesses must be checked.
    #[inline(always)]
    pub(crate) unsafe fn write(&self, value: T) {
        // SAFETY: both pointers are valid for `size_of::<T>()` bytes, the cell is aligned to
        // `align_of::<T>()`, which divides the size; `value` is a local whose every byte is
        // initialised (`T: NoUninit`: no padding), so reading it as words reads no
        // uninitialised memory.
        unsafe {
            words::store(
                self.0.get().cast::<u8>(),
                (&raw const value).cast::<u8>(),
                size_of::<T>(),
                align_of::<T>(),
            );
        }
    }
}

/// A slot checked by loom: any access not ordered by the ring protocol is reported.
#[cfg(loom)]
pub(crate) struct Cell<T>(loom::cell::UnsafeCell<T>);

#[cfg(loom)]
impl<T: Copy> Cell<T> {
    pub(crate) unsafe fn zeroed() -> Self {
        // SAFETY: as in the normal build.
        Self(loom::cell::UnsafeCell::new(unsafe { core::mem::zeroed() }))
    }

    pub(crate) unsafe fn read(&self) -> T {
        // SAFETY: loom checks that no write to this cell races with this read.
        self.0.with(|p| unsafe { *p })
    }

    pub(crate) unsafe fn write(&self, value: T) {
        // SAFETY: loom checks that no other access races with this write.
        self.0.with_mut(|p| unsafe { *p = value })
    }
}

// SAFETY: every access to the contents is atomic (word-wise) or, under loom, checked; and
// `T: Item` is plain data with nothing process- or thread-local in it (rule 4 of
// `ShmSafe`), so handing copies of it to another thread is as sound as handing them to
// another process.
unsafe impl<T: super::Item> Sync for Cell<T> {}

/// Word-wise copies between shared memory and private memory with relaxed atomics.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) mod words {
    use core::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, Ordering::Relaxed};

    /// The word width for a payload whose address and length are multiples of `align`:
    /// `align` itself, capped at 8 bytes (4 where the target has no 64-bit atomics).
    /// `align` is a type's alignment, a constant, so the width (and the `match` on it in
    /// the copy loops) is decided at compile time, and every access to a given payload
    /// uses the same width.
    #[inline(always)]
    const fn width(align: usize) -> usize {
        let max = if cfg!(target_has_atomic = "64") { 8 } else { 4 };
        if align < max { align } else { max }
    }

    /// Copies `len` bytes from shared `src` to private `dst` with relaxed atomic loads.
    ///
    /// # Safety
    /// `src` is valid for reads and `dst` for writes of `len` bytes; they do not overlap;
    /// `dst` is not accessed concurrently; `src` and `len` are multiples of `align` (a
    /// power of two).
    #[inline(always)]
    pub(crate) unsafe fn load(src: *const u8, dst: *mut u8, len: usize, align: usize) {
        let w = width(align);
        let mut i = 0;
        // SAFETY: (all arms) `src + i` is aligned to `w` (both `src` and every multiple of
        // `w` are) and in bounds; `dst` may be unaligned, hence `write_unaligned`.
        unsafe {
            match w {
                #[cfg(target_has_atomic = "64")]
                8 => {
                    while i < len {
                        let v = core::sync::atomic::AtomicU64::from_ptr(src.add(i) as *mut u64)
                            .load(Relaxed);
                        dst.add(i).cast::<u64>().write_unaligned(v);
                        i += 8;
                    }
                }
                4 => {
                    while i < len {
                        let v = AtomicU32::from_ptr(src.add(i) as *mut u32).load(Relaxed);
                        dst.add(i).cast::<u32>().write_unaligned(v);
                        i += 4;
                    }
                }
                2 => {
                    while i < len {
                        let v = AtomicU16::from_ptr(src.add(i) as *mut u16).load(Relaxed);
                        dst.add(i).cast::<u16>().write_unaligned(v);
                        i += 2;
                    }
                }
                _ => {
                    while i < len {
                        let v = AtomicU8::from_ptr(src.add(i) as *mut u8).load(Relaxed);
                        dst.add(i).write(v);
                        i += 1;
                    }
                }
            }
        }
    }

    /// Copies `len` bytes from private `src` to shared `dst` with relaxed atomic stores.
    ///
    /// # Safety
    /// `src` is valid for reads and `dst` for writes of `len` bytes; they do not overlap;
    /// `dst` and `len` are multiples of `align` (a power of two).
    #[inline(always)]
    pub(crate) unsafe fn store(dst: *mut u8, src: *const u8, len: usize, align: usize) {
        let w = width(align);
        let mut i = 0;
        // SAFETY: (all arms) `dst + i` is aligned to `w` and in bounds; `src` may be
        // unaligned, hence `read_unaligned`.
        unsafe {
            match w {
                #[cfg(target_has_atomic = "64")]
                8 => {
                    while i < len {
                        let v = src.add(i).cast::<u64>().read_unaligned();
                        core::sync::atomic::AtomicU64::from_ptr(dst.add(i) as *mut u64)
                            .store(v, Relaxed);
                        i += 8;
                    }
                }
                4 => {
                    while i < len {
                        let v = src.add(i).cast::<u32>().read_unaligned();
                        AtomicU32::from_ptr(dst.add(i) as *mut u32).store(v, Relaxed);
                        i += 4;
                    }
                }
                2 => {
                    while i < len {
                        let v = src.add(i).cast::<u16>().read_unaligned();
                        AtomicU16::from_ptr(dst.add(i) as *mut u16).store(v, Relaxed);
                        i += 2;
                    }
                }
                _ => {
                    while i < len {
                        let v = src.add(i).read();
                        AtomicU8::from_ptr(dst.add(i)).store(v, Relaxed);
                        i += 1;
                    }
                }
            }
        }
    }
}
