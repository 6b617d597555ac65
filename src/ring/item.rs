//! [`Item`]: what may be copied through a ring.

use crate::ShmSafe;

/// What a ring item must be: a type that may live in shared memory ([`ShmSafe`]: fixed
/// layout, a layout `TAG`) **and** plain data that can be copied as bytes in both
/// directions — no padding or other uninitialised bytes
/// ([`NoUninit`](bytemuck::NoUninit)), and every bit pattern a valid value
/// ([`AnyBitPattern`](bytemuck::AnyBitPattern), which includes all-zero).
///
/// [`Spsc`](super::Spsc) and [`Mpmc`](super::Mpmc) copy items with word-sized atomic
/// accesses (see the `sync` module): reading a padding byte would be undefined behaviour,
/// even atomically, and a peer can leave any bit pattern in a slot. `ShmSafe` alone does
/// not promise either — a type may live in shared memory with padding in it
/// ([`CachePadded`](crate::arch::CachePadded), a `Mutex<u8>`), it just must not be copied
/// through a ring. Implemented automatically for every type with all three traits; the
/// fixed-width integers and floats, and arrays of them, have all three.
///
/// For an own struct, derive bytemuck's `Pod` and `Zeroable` (they refuse padding and
/// non-`Pod` fields at compile time) next to `ShmSafe` (see [`ShmSafe`]'s derive), through
/// the `bytemuck` that shmsync re-exports, so one dependency is enough:
///
/// ```
/// use shmsync::bytemuck::{Pod, Zeroable};
/// use shmsync::{ShmSafe, Spsc};
///
/// #[derive(Clone, Copy, Debug, Pod, Zeroable, ShmSafe)]
/// #[bytemuck(crate = "shmsync::bytemuck")]
/// #[repr(C)]
/// struct Note {
///     key: u32,
///     velocity: f32,
/// }
///
/// static RING: Spsc<Note, 4> = Spsc::new();
/// let (mut tx, mut rx) = (RING.producer().unwrap(), RING.consumer().unwrap());
/// tx.try_push(Note { key: 60, velocity: 0.5 }).unwrap();
/// assert_eq!(rx.try_pop().unwrap().key, 60);
/// ```
///
/// A struct with padding (here 3 bytes after `a`) is refused by the derive:
///
/// ```compile_fail,E0080
/// use shmsync::bytemuck::{Pod, Zeroable};
///
/// #[derive(Clone, Copy, Pod, Zeroable, shmsync::ShmSafe)]
/// #[bytemuck(crate = "shmsync::bytemuck")]
/// #[repr(C)]
/// struct Padded {
///     a: u8,
///     b: u32,
/// }
/// ```
///
/// and a padded type without bytemuck's traits is not an `Item`, even if it is `ShmSafe`
/// (`CachePadded<u8>` is one byte of value and 127 of padding):
///
/// ```compile_fail,E0277
/// use shmsync::{Spsc, arch::CachePadded};
///
/// static RING: Spsc<CachePadded<u8>, 2> = Spsc::new();
/// ```
///
/// ```compile_fail,E0277
/// #[derive(Clone, Copy, shmsync::ShmSafe)]
/// #[repr(C)]
/// struct Padded {
///     a: u8,
///     b: u32,
/// }
/// static RING: shmsync::Mpmc<Padded, 2> = shmsync::Mpmc::new();
/// ```
pub trait Item: ShmSafe + bytemuck::NoUninit + bytemuck::AnyBitPattern {}

impl<T: ShmSafe + bytemuck::NoUninit + bytemuck::AnyBitPattern> Item for T {}
