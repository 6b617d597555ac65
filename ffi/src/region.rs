//! Regions over caller-mapped bytes.
//!
//! A C region is a shmsync region (`shmsync::init` / `attach`, with its validated header
//! and wake protocol) whose root is a small descriptor of the caller's *user area*: its
//! size, alignment and a 64-bit layout tag the caller chooses (e.g. a hash of its struct's
//! name and version). The user area follows the descriptor, aligned to
//! `max(user_align, 128)`, and is zero-filled by `init`; the caller places its own
//! `#[repr(C)]`-style struct of shmsync objects and plain data there.
//!
//! ```text
//! [region header | protocol area | descriptor (64 B) | pad | user area (user_size B)]
//! ```
//!
//! `attach` validates the region header (every `RegionError`, one code each), then the
//! descriptor: not published yet → [`SHMSYNC_E_NOT_READY`]; another size / alignment /
//! tag → [`SHMSYNC_E_LAYOUT`]; memory shorter than the user area → [`SHMSYNC_E_TOO_SMALL`].

use crate::{
    SHMSYNC_E_BAD_MAGIC, SHMSYNC_E_CORRUPTED, SHMSYNC_E_INVALID, SHMSYNC_E_LAYOUT, SHMSYNC_E_MACH,
    SHMSYNC_E_MISALIGNED, SHMSYNC_E_NOT_READY, SHMSYNC_E_NULL, SHMSYNC_E_PROTOCOL,
    SHMSYNC_E_TIMEDOUT, SHMSYNC_E_TOO_LARGE, SHMSYNC_E_TOO_SMALL, SHMSYNC_E_VERSION, SHMSYNC_OK,
    check_ptr, guard, timeout,
};
use core::ffi::{c_int, c_void};
use shmsync::hal::atomic::{AtomicU32, Ordering};
use shmsync::{Region, RegionError, ShmSafe};

/// The region error's code: one code per [`RegionError`] variant.
pub fn region_error_code(e: RegionError) -> c_int {
    match e {
        RegionError::Misaligned { .. } => SHMSYNC_E_MISALIGNED,
        RegionError::TooSmall { .. } => SHMSYNC_E_TOO_SMALL,
        RegionError::TooLarge => SHMSYNC_E_TOO_LARGE,
        RegionError::NotReady => SHMSYNC_E_NOT_READY,
        RegionError::BadMagic { .. } => SHMSYNC_E_BAD_MAGIC,
        RegionError::VersionMismatch { .. } => SHMSYNC_E_VERSION,
        RegionError::LayoutMismatch { .. } => SHMSYNC_E_LAYOUT,
        RegionError::ProtocolMismatch { .. } => SHMSYNC_E_PROTOCOL,
        RegionError::Corrupted => SHMSYNC_E_CORRUPTED,
        RegionError::Mach(_) => SHMSYNC_E_MACH,
        // RegionError is non_exhaustive: a variant added later maps to CORRUPTED until it
        // gets its own code (the ffi tests list every variant).
        _ => SHMSYNC_E_CORRUPTED,
    }
}

/// `state` of a descriptor: published.
const READY: u32 = 1;

/// The root of a C region: the user area's descriptor.
#[repr(C, align(64))]
struct Descriptor {
    /// 0 until `init` has zeroed the user area and written the fields below; then READY.
    state: AtomicU32,
    user_align: AtomicU32,
    user_size_lo: AtomicU32,
    user_size_hi: AtomicU32,
    user_tag_lo: AtomicU32,
    user_tag_hi: AtomicU32,
    /// Offset of the user area from the start of the region.
    user_offset: AtomicU32,
}

shmsync::assert_layout!(Descriptor, size = 64, align = 64);

// SAFETY: repr(C) of atomics; all-zero is "not published"; any bit pattern is validated
// before use; nothing process-local.
unsafe impl ShmSafe for Descriptor {
    const TAG: u64 = shmsync::tag(b"shmsync-ffi::Descriptor v1");
}

/// Bytes of a [`shmsync_region_t`] handle.
pub const SHMSYNC_REGION_HANDLE_SIZE: usize = 128;

/// A process-local handle of an attached (or created) region. Keep it, in this process,
/// for as long as any thread uses objects inside the region (with the Mach wake protocol
/// it is this process's membership of the region's waiter table), then
/// [`shmsync_region_close`] it. Not shared memory: each process has its own.
#[repr(C)]
pub struct shmsync_region_t {
    _opaque: [u64; 16],
}

/// What a handle holds.
#[repr(C)]
struct Handle {
    magic: u64,
    user: *mut u8,
    region: core::mem::MaybeUninit<Region<'static, Descriptor>>,
}

const HANDLE_MAGIC: u64 = 0x5348_4d52_4547_4e31; // "SHMREGN1"

const _: () = {
    assert!(size_of::<Handle>() <= SHMSYNC_REGION_HANDLE_SIZE);
    assert!(align_of::<Handle>() <= align_of::<shmsync_region_t>());
    assert!(size_of::<shmsync_region_t>() == SHMSYNC_REGION_HANDLE_SIZE);
};

/// Alignment the region memory must have (`shmsync::region::REGION_ALIGN`).
pub const SHMSYNC_REGION_ALIGN: usize = 64;
const _: () = assert!(SHMSYNC_REGION_ALIGN == shmsync::region::REGION_ALIGN);

/// Largest user alignment accepted (one page).
const MAX_USER_ALIGN: usize = 4096;

/// `(user_offset, total_len)` for a user area, or `None` when the arguments are invalid.
fn layout(user_size: usize, user_align: usize) -> Option<(usize, usize)> {
    if !user_align.is_power_of_two() || user_align > MAX_USER_ALIGN {
        return None;
    }
    let base = shmsync::region::required_len::<Descriptor>();
    let align = user_align.max(128);
    let offset = base.checked_add(align - 1)? & !(align - 1);
    let total = offset.checked_add(user_size)?;
    if offset > u32::MAX as usize || total as u64 > u64::from(u32::MAX) * 4 {
        return None;
    }
    Some((offset, total))
}

/// Bytes of memory a region with a `user_size`-byte user area aligned to `user_align`
/// (a power of two up to 4096) needs; 0 if the arguments are invalid. Depends on this
/// process's wake protocol (the Mach protocol adds its waiter table), so every process
/// computes the same value. Real-time class: wait-free.
#[unsafe(no_mangle)]
pub extern "C" fn shmsync_region_required_size(user_size: usize, user_align: usize) -> usize {
    std::panic::catch_unwind(|| layout(user_size, user_align).map_or(0, |(_, t)| t)).unwrap_or(0)
}

/// # Safety
/// `out` was checked non-null and aligned.
unsafe fn store_handle(
    out: *mut shmsync_region_t,
    user: *mut u8,
    region: Region<'static, Descriptor>,
) {
    let h = Handle {
        magic: HANDLE_MAGIC,
        user,
        region: core::mem::MaybeUninit::new(region),
    };
    // SAFETY: `out` is non-null, aligned (checked by the caller) and writable (contract);
    // Handle fits in it (const-asserted).
    unsafe { out.cast::<Handle>().write(h) };
}

fn user_ptr(ptr: *mut u8, offset: usize) -> *mut u8 {
    ptr.wrapping_add(offset)
}

/// Creates a region in `len` bytes at `mem` (64-byte aligned; page-aligned mappings are),
/// overwriting it: zero-fills the user area and publishes it with the given size,
/// alignment and tag. Stores the handle in `*out` and the user area's address in
/// `*user`. Errors: NULL, MISALIGNED, TOO_SMALL, INVALID (alignment), TOO_LARGE, MACH.
/// Real-time class: **may block** (writes the whole region).
///
/// # Safety
/// `mem..mem+len` is mapped readable and writable in this process until
/// [`shmsync_region_close`], and only accessed through shmsync and the user area; no other
/// process uses a region at this memory while `init` runs; `out` and `user` are writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_region_init(
    mem: *mut c_void,
    len: usize,
    user_size: usize,
    user_align: usize,
    user_tag: u64,
    out: *mut shmsync_region_t,
    user: *mut *mut c_void,
) -> c_int {
    guard(|| {
        if let Err(e) = check_ptr(out, align_of::<shmsync_region_t>())
            .and(check_ptr(user, align_of::<*mut c_void>()))
        {
            return e;
        }
        let Some((offset, total)) = layout(user_size, user_align) else {
            return SHMSYNC_E_INVALID;
        };
        let ptr = mem.cast::<u8>();
        if ptr.is_null() {
            return SHMSYNC_E_NULL;
        }
        if len < total {
            return if (ptr as usize) % SHMSYNC_REGION_ALIGN != 0 {
                SHMSYNC_E_MISALIGNED
            } else {
                SHMSYNC_E_TOO_SMALL
            };
        }
        // SAFETY: the caller's contract.
        let region = match unsafe { shmsync::init::<Descriptor>(ptr, len) } {
            Ok(r) => r,
            Err(e) => return region_error_code(e),
        };
        let d = region.get();
        let u = user_ptr(ptr, offset);
        // SAFETY: `u..u+user_size` lies inside the mapping (total <= len) and nobody uses
        // it during init (contract).
        unsafe { core::ptr::write_bytes(u, 0, user_size) };
        d.user_align.store(user_align as u32, Ordering::Relaxed);
        d.user_size_lo.store(user_size as u32, Ordering::Relaxed);
        d.user_size_hi
            .store((user_size as u64 >> 32) as u32, Ordering::Relaxed);
        d.user_tag_lo.store(user_tag as u32, Ordering::Relaxed);
        d.user_tag_hi
            .store((user_tag >> 32) as u32, Ordering::Relaxed);
        d.user_offset.store(offset as u32, Ordering::Relaxed);
        // Publish: the zeroing and fields happen-before an attacher's Acquire of READY.
        d.state.store(READY, Ordering::Release);
        shmsync::hal::wake_all(&d.state);
        // SAFETY: `out` checked; `user` checked.
        unsafe {
            store_handle(out, u, region);
            user.write(u.cast());
        }
        SHMSYNC_OK
    })
}

/// Validates the descriptor of an attached region.
fn check_descriptor(
    d: &Descriptor,
    len: usize,
    size: usize,
    align: usize,
    tag: u64,
) -> Result<usize, c_int> {
    if d.state.load(Ordering::Acquire) != READY {
        return Err(SHMSYNC_E_NOT_READY);
    }
    let r_size = u64::from(d.user_size_lo.load(Ordering::Relaxed))
        | u64::from(d.user_size_hi.load(Ordering::Relaxed)) << 32;
    let r_tag = u64::from(d.user_tag_lo.load(Ordering::Relaxed))
        | u64::from(d.user_tag_hi.load(Ordering::Relaxed)) << 32;
    let r_align = d.user_align.load(Ordering::Relaxed) as usize;
    if r_size != size as u64 || r_align != align || r_tag != tag {
        return Err(SHMSYNC_E_LAYOUT);
    }
    let Some((offset, total)) = layout(size, align) else {
        return Err(SHMSYNC_E_INVALID);
    };
    if d.user_offset.load(Ordering::Relaxed) as usize != offset {
        return Err(SHMSYNC_E_CORRUPTED);
    }
    if len < total {
        return Err(SHMSYNC_E_TOO_SMALL);
    }
    Ok(offset)
}

/// Attaches to a region created by [`shmsync_region_init`] (in any process, at any
/// address), waiting up to `timeout_ns` while it is not initialised yet (0: do not wait;
/// [`SHMSYNC_FOREVER`](crate::SHMSYNC_FOREVER): no limit), then validating it and the user
/// area's size, alignment and tag. Stores the handle and the user area's address.
///
/// Errors: one code per region error (MISALIGNED, TOO_SMALL, TOO_LARGE, NOT_READY — only
/// with a zero timeout —, BAD_MAGIC, VERSION, LAYOUT, PROTOCOL, CORRUPTED, MACH), LAYOUT
/// for another user area, TIMEDOUT when still not ready at the timeout, NULL, INVALID.
/// Real-time class: **may block**.
///
/// # Safety
/// `mem..mem+len` is mapped readable and writable in this process until
/// [`shmsync_region_close`] and only accessed through shmsync and the user area; `out` and
/// `user` are writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_region_attach(
    mem: *mut c_void,
    len: usize,
    user_size: usize,
    user_align: usize,
    user_tag: u64,
    timeout_ns: u64,
    out: *mut shmsync_region_t,
    user: *mut *mut c_void,
) -> c_int {
    guard(|| {
        if let Err(e) = check_ptr(out, align_of::<shmsync_region_t>())
            .and(check_ptr(user, align_of::<*mut c_void>()))
        {
            return e;
        }
        if layout(user_size, user_align).is_none() {
            return SHMSYNC_E_INVALID;
        }
        let ptr = mem.cast::<u8>();
        if ptr.is_null() {
            return SHMSYNC_E_NULL;
        }
        let deadline =
            timeout(timeout_ns).and_then(|t| shmsync::hal::clock::Instant::now().checked_add(t));
        let expired = || deadline.is_some_and(|d| shmsync::hal::clock::Instant::now() >= d);
        loop {
            // SAFETY: the caller's contract.
            let attached = unsafe { shmsync::attach::<Descriptor>(ptr, len) };
            let region = match attached {
                Ok(r) => r,
                Err(RegionError::NotReady) if timeout_ns != 0 => {
                    if expired() {
                        return SHMSYNC_E_TIMEDOUT;
                    }
                    // The region header's state word is the first word after the magic;
                    // polling at 1 ms keeps this path simple and bounded.
                    std::thread::sleep(core::time::Duration::from_millis(1));
                    continue;
                }
                Err(e) => return region_error_code(e),
            };
            let d = region.get();
            match check_descriptor(d, len, user_size, user_align, user_tag) {
                Ok(offset) => {
                    let u = user_ptr(ptr, offset);
                    // SAFETY: `out`, `user` checked.
                    unsafe {
                        store_handle(out, u, region);
                        user.write(u.cast());
                    }
                    return SHMSYNC_OK;
                }
                Err(SHMSYNC_E_NOT_READY) if timeout_ns != 0 => {
                    if expired() {
                        return SHMSYNC_E_TIMEDOUT;
                    }
                    let seen = d.state.load(Ordering::Relaxed);
                    let wait = deadline.map(|dl| {
                        dl.saturating_duration_since(shmsync::hal::clock::Instant::now())
                    });
                    let _ = shmsync::hal::wait(
                        &d.state,
                        seen,
                        Some(wait.map_or(core::time::Duration::from_millis(10), |w| {
                            w.min(core::time::Duration::from_millis(10))
                        })),
                    );
                    // `region` (this attempt's handle) is dropped here; the loop attaches again.
                }
                Err(e) => return e,
            }
        }
    })
}

/// The user area's address of an open handle (null if `r` is null or not open).
/// Real-time class: wait-free.
///
/// # Safety
/// `r` is null or points to a handle written by init/attach (or zeroed memory).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_region_user(r: *const shmsync_region_t) -> *mut c_void {
    if check_ptr(r, align_of::<shmsync_region_t>()).is_err() {
        return core::ptr::null_mut();
    }
    // SAFETY: checked; a Handle's first two words are plain integers / pointers.
    let h = unsafe { &*r.cast::<Handle>() };
    if h.magic != HANDLE_MAGIC {
        return core::ptr::null_mut();
    }
    h.user.cast()
}

/// Closes a handle (with the Mach protocol: leaves the region's waiter table). The shared
/// memory is not touched otherwise and may be unmapped afterwards. INVALID for a handle
/// that is not open (closing twice is detected). Real-time class: **may block**.
///
/// # Safety
/// `r` points to a handle written by init/attach, or to zeroed memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_region_close(r: *mut shmsync_region_t) -> c_int {
    guard(|| {
        if let Err(e) = check_ptr(r, align_of::<shmsync_region_t>()) {
            return e;
        }
        // SAFETY: checked non-null, aligned; caller's contract on contents.
        let h = unsafe { &mut *r.cast::<Handle>() };
        if h.magic != HANDLE_MAGIC {
            return SHMSYNC_E_INVALID;
        }
        h.magic = 0;
        // SAFETY: the magic proved `region` was initialised by store_handle and not yet
        // dropped (close clears the magic first).
        unsafe { h.region.assume_init_drop() };
        SHMSYNC_OK
    })
}
