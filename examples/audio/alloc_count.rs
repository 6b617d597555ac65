//! A global allocator that counts the heap operations of one watched thread.
//!
//! [`Counting`] forwards to the system allocator; when the calling thread is the one
//! registered with [`watch_current_thread`], it first bumps a counter. The audio thread
//! registers itself and reads [`count`] around each callback: any `alloc`, `dealloc` or
//! `realloc` inside the callback shows as a difference. Nothing here uses thread-local
//! storage (on macOS a first TLS access can itself allocate): the watched thread is
//! recognised by comparing `pthread_self()` with the registered value.
//!
//! Only the Rust global allocator is seen: a C library calling `malloc` directly is not
//! (none of the callback's code calls into C other than `clock_gettime`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The system allocator plus a counter for the watched thread.
pub struct Counting;

/// `pthread_self()` of the watched thread, 0 for none.
static WATCHED: AtomicUsize = AtomicUsize::new(0);
/// Heap operations (alloc, alloc_zeroed, realloc, dealloc) by the watched thread.
static OPS: AtomicU64 = AtomicU64::new(0);

#[inline]
fn this_thread() -> usize {
    // SAFETY: pthread_self has no preconditions and cannot fail.
    (unsafe { libc::pthread_self() }) as usize
}

#[inline]
fn note() {
    let w = WATCHED.load(Ordering::Relaxed);
    if w != 0 && w == this_thread() {
        OPS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counting touches only two atomics and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged; the caller upholds GlobalAlloc's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Makes the calling thread the watched one (replacing any other). Real-time class:
/// wait-free.
pub fn watch_current_thread() {
    WATCHED.store(this_thread(), Ordering::Relaxed);
}

/// Stops watching. Real-time class: wait-free.
pub fn unwatch() {
    WATCHED.store(0, Ordering::Relaxed);
}

/// Heap operations the watched thread has made while watched. Real-time class: wait-free.
#[inline]
pub fn count() -> u64 {
    OPS.load(Ordering::Relaxed)
}
