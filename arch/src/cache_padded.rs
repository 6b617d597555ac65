//! Cache-line padding.

use core::fmt;
use core::ops::{Deref, DerefMut};

/// The alignment, in bytes, that [`CachePadded`] gives its contents: 128 on every target.
///
/// * Apple M-series cores have 128-byte cache lines.
/// * Intel cores since Sandy Bridge fetch lines in adjacent pairs (the "spatial
///   prefetcher"), so two values 64 bytes apart still interfere: 128 bytes keeps them
///   apart.
/// * The value is the same on every target on purpose: a [`CachePadded`] field inside a
///   shared-memory type must have the same offset in an x86_64 process (e.g. under
///   Rosetta) and an aarch64 process that map the same region.
pub const CACHE_LINE: usize = 128;

/// Pads and aligns a value to [`CACHE_LINE`] (128) bytes, so that it never shares a cache
/// line with its neighbours (no false sharing between a producer's and a consumer's index).
///
/// `#[repr(C, align(128))]`: the size is `size_of::<T>()` rounded up to a multiple of 128,
/// and the value sits at offset 0. The layout is identical on every target, so it may be
/// used inside types that live in shared memory.
///
/// Real-time class: **wait-free** (a plain wrapper, no code).
///
/// ```
/// use shmsync_arch::CachePadded;
/// let head = CachePadded::new(0u32);
/// assert_eq!(core::mem::align_of_val(&head), 128);
/// assert_eq!(*head, 0);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
#[repr(C, align(128))]
pub struct CachePadded<T> {
    value: T,
}

const _: () = assert!(core::mem::align_of::<CachePadded<u8>>() == CACHE_LINE);
const _: () = assert!(core::mem::size_of::<CachePadded<u32>>() == CACHE_LINE);

impl<T> CachePadded<T> {
    /// Wraps `value`. Real-time class: wait-free.
    #[inline]
    pub const fn new(value: T) -> Self {
        Self { value }
    }

    /// Unwraps the value. Real-time class: wait-free.
    #[inline]
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for CachePadded<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for CachePadded<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for CachePadded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachePadded")
            .field("value", &self.value)
            .finish()
    }
}

impl<T> From<T> for CachePadded<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_padded_fields_are_128_bytes_apart() {
        #[repr(C)]
        struct Pair {
            a: CachePadded<u32>,
            b: CachePadded<u32>,
        }
        assert_eq!(core::mem::offset_of!(Pair, b), 128);
        assert_eq!(core::mem::size_of::<CachePadded<[u8; 129]>>(), 256);
    }
}
