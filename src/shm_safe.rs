//! The marker trait for types that may live in shared memory, and the layout tags that
//! region headers use to recognise them.

/// A type that may be placed in memory shared between processes.
///
/// Every shmsync type implements it; a caller's root type (the struct placed in a region)
/// and the structs in it implement it too — with `#[derive(ShmSafe)]` (the `derive`
/// feature, on by default), or by hand with `unsafe impl` after checking the rules below.
///
/// `ShmSafe` says what may *live* in shared memory; padding is allowed (a
/// [`CachePadded`](crate::arch::CachePadded) is mostly padding). What may be *copied*
/// through a ring is the stricter [`ring::Item`](crate::ring::Item): `ShmSafe` plus no
/// padding and every bit pattern valid (bytemuck's `NoUninit + AnyBitPattern`).
///
/// # The derive
/// `#[derive(ShmSafe)]` requires `#[repr(C)]` (or `#[repr(transparent)]`; `packed` is
/// refused), requires every field's type to be `ShmSafe`, and computes [`TAG`](Self::TAG)
/// at compile time from the type's name, size and alignment and every field's name,
/// offset and `TAG`, in order. A change to a nested struct — a field renamed, retyped,
/// moved or added — therefore changes the tag of every root that contains it, and
/// [`attach`](crate::attach) refuses a peer built from the other layout with
/// [`RegionError::LayoutMismatch`](crate::RegionError::LayoutMismatch), even when the sizes
/// agree. The module path is not part of the tag, so the same definition in two programs
/// (the host's crate and the helper's) gives the same tag. No `unsafe` in user code:
///
/// ```
/// use shmsync::hal::atomic::AtomicU32;
/// use shmsync::{Mutex, ShmSafe, Spsc};
///
/// #[derive(ShmSafe)]
/// #[repr(C)]
/// struct Params {
///     gain: f32,
///     cutoff_hz: f32,
/// }
///
/// #[derive(ShmSafe)]
/// #[repr(C)]
/// struct Shared {
///     params: Mutex<Params>,
///     to_helper: Spsc<[f32; 64], 8>,
///     frames: AtomicU32,
/// }
/// # let _ = <Shared as shmsync::ShmSafe>::TAG;
/// ```
///
/// Without `repr(C)` the layout is the compiler's choice, which two builds need not agree
/// on, so the derive refuses:
///
/// ```compile_fail
/// #[derive(shmsync::ShmSafe)]
/// struct Params {
///     gain: f32,
///     cutoff_hz: f32,
/// }
/// ```
///
/// A field that is not `ShmSafe` (here `usize`, whose width differs between targets) is
/// refused too:
///
/// ```compile_fail,E0277
/// #[derive(shmsync::ShmSafe)]
/// #[repr(C)]
/// struct Params {
///     gain: f32,
///     len: usize,
/// }
/// ```
///
/// # Safety
/// An implementor guarantees that:
/// 1. its layout is fixed: `#[repr(C)]` or `#[repr(transparent)]`, fixed-width fields only
///    (no `usize`/`isize`, no pointers, no references, no `bool`/`char`/enums whose invalid
///    bit patterns could be observed), so size, alignment and field offsets are identical
///    on x86_64 and aarch64, Linux and macOS;
/// 2. the all-zero byte pattern is a valid value (the empty / unlocked state), since fresh
///    shared memory is zero-filled and is used in place without a constructor;
/// 3. every bit pattern another process could write is still a valid value: a corrupted or
///    malicious peer can make the contents wrong, never invalid;
/// 4. it holds no process-local state (file descriptors, port names, addresses) whose
///    meaning differs between processes;
/// 5. `Self: Sync` holds across processes: shared fields are atomics, or plain data only
///    accessed under a protocol that makes the accesses race-free (a lock, a ring index).
pub unsafe trait ShmSafe: Sync {
    /// A stable 64-bit tag naming the type and its layout version, mixed into the region's
    /// layout fingerprint so that two programs that disagree on the root type are told so
    /// at attach time, even when the sizes match. Build it with [`tag`] and [`tag_with`].
    const TAG: u64;
}

/// FNV-1a (64-bit) of `bytes`: the base of every layout tag. `const`, so tags are computed
/// at compile time. Real-time class: wait-free.
pub const fn tag(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

/// Mixes `part` (a field's tag, a capacity, a size) into `base`: the tag of a composite
/// type is its name's [`tag`] folded with each part in order. Real-time class: wait-free.
pub const fn tag_with(base: u64, part: u64) -> u64 {
    let mut h = base;
    let bytes = part.to_le_bytes();
    let mut i = 0;
    while i < 8 {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

macro_rules! plain {
    ($($t:ty),*) => {$(
        // SAFETY: fixed-width integer/float: any bit pattern, including all-zero, is valid,
        // and its layout is the same on every target shmsync supports.
        unsafe impl ShmSafe for $t {
            const TAG: u64 = tag(stringify!($t).as_bytes());
        }
    )*};
}
plain!(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);

// SAFETY: an array of ShmSafe elements is contiguous with no padding between elements, so
// rules 1–5 hold element-wise.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {
    const TAG: u64 = tag_with(tag_with(tag(b"[T; N]"), T::TAG), N as u64);
}

// SAFETY: the hal's AtomicU32 has the layout of a `u32` (asserted in shmsync-hal), any bit
// pattern is valid and all accesses are atomic.
unsafe impl ShmSafe for crate::hal::atomic::AtomicU32 {
    const TAG: u64 = tag(b"AtomicU32");
}

// SAFETY: CachePadded is `repr(C, align(128))` with the value at offset 0 on every target;
// it adds only padding, so it inherits T's guarantees.
unsafe impl<T: ShmSafe> ShmSafe for crate::arch::CachePadded<T> {
    const TAG: u64 = tag_with(tag(b"CachePadded"), T::TAG);
}

/// Asserts at compile time the size, alignment and (optionally) field offsets of a type
/// that lives in shared memory, so that a layout change on any target CI builds fails the
/// build instead of corrupting a peer.
///
/// ```
/// #[repr(C)]
/// struct Pair { a: u32, b: u64 }
/// shmsync::assert_layout!(Pair, size = 16, align = 8, offsets = { a: 0, b: 8 });
/// ```
#[macro_export]
macro_rules! assert_layout {
    ($t:ty, size = $size:expr, align = $align:expr $(, offsets = { $($field:ident : $off:expr),* $(,)? })? $(,)?) => {
        const _: () = {
            assert!(::core::mem::size_of::<$t>() == $size, concat!("size of ", stringify!($t)));
            assert!(::core::mem::align_of::<$t>() == $align, concat!("alignment of ", stringify!($t)));
            $($(
                assert!(
                    ::core::mem::offset_of!($t, $field) == $off,
                    concat!("offset of ", stringify!($t), "::", stringify!($field))
                );
            )*)?
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_differ_by_name_part_and_order() {
        assert_ne!(tag(b"A"), tag(b"B"));
        assert_ne!(tag_with(tag(b"A"), 1), tag_with(tag(b"A"), 2));
        assert_ne!(
            tag_with(tag_with(tag(b"A"), 1), 2),
            tag_with(tag_with(tag(b"A"), 2), 1)
        );
        assert_ne!(<[u32; 4]>::TAG, <[u32; 8]>::TAG);
        assert_ne!(<[u32; 4]>::TAG, <[i32; 4]>::TAG);
        // FNV-1a of the empty input is its offset basis (reference value).
        assert_eq!(tag(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(tag(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
