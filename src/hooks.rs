//! Test hooks: stall points inside the owner-death paths, so tests can force the
//! interleavings an attacker would (A→B→A between a liveness judgement and the takeover).
//! Compiled only with the non-default `test-hooks` feature; otherwise every hook is an
//! empty inline function.

/// Where a hook is called.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Point {
    /// A locker parked on a held mutex timed out and is about to read the holder.
    OwnerCheck = 1,
    /// The holder was judged dead; the takeover compare-exchange comes next.
    Takeover = 2,
}

#[cfg(feature = "test-hooks")]
static HOOK: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Installs `f`, called at every [`Point`] in this process (`None` removes it).
/// Real-time class: wait-free.
#[doc(hidden)]
#[cfg(feature = "test-hooks")]
pub fn set(f: Option<fn(Point)>) {
    HOOK.store(
        f.map_or(0, |f| f as usize),
        core::sync::atomic::Ordering::Release,
    );
}

#[cfg(feature = "test-hooks")]
#[inline]
pub(crate) fn at(point: Point) {
    let f = HOOK.load(core::sync::atomic::Ordering::Acquire);
    if f != 0 {
        // SAFETY: only `set` stores non-zero values, each a `fn(Point)` cast to usize.
        let f: fn(Point) = unsafe { core::mem::transmute::<usize, fn(Point)>(f) };
        f(point);
    }
}

#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub(crate) fn at(_point: Point) {}
