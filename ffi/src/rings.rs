//! The run-time-sized rings: `shmsync::ring::ByteRing` (fixed-size byte items) and
//! `shmsync::ring::DynMsgRing` (variable-length messages), over memory the caller maps.
//!
//! The ring itself lives in shared memory (`*_ring_init` once, by one process). Each
//! process then *opens* an end — attach (header validated) plus role claim in one call —
//! into a process-local handle (`shmsync_byte_producer_t`, …) that the caller stores
//! anywhere (stack, heap, a global) and closes when done; the role is released on close,
//! and taken over automatically from a holder that died. A handle must be zeroed or closed
//! before it is opened, and is used by one thread at a time.
//!
//! Real-time classes are those of the Rust ends: `try_*` and `*_slice` are **wait-free**
//! (**may wake** a parked peer with one syscall), the timed forms **may block**, open and
//! close **may block** (role claims ask about liveness). Open at start-up, use the `try_*`
//! forms on an audio thread.

use crate::{
    SHMSYNC_E_BAD_MAGIC, SHMSYNC_E_BUFFER_TOO_SMALL, SHMSYNC_E_BUSY, SHMSYNC_E_CORRUPTED,
    SHMSYNC_E_EMPTY, SHMSYNC_E_FULL, SHMSYNC_E_INVALID, SHMSYNC_E_LAYOUT, SHMSYNC_E_MISALIGNED,
    SHMSYNC_E_NOT_READY, SHMSYNC_E_NULL, SHMSYNC_E_TIMEDOUT, SHMSYNC_E_TOO_LARGE,
    SHMSYNC_E_TOO_SMALL, SHMSYNC_E_VERSION, SHMSYNC_OK, check_ptr, guard, timeout,
};
use core::ffi::{c_int, c_void};
use core::mem::MaybeUninit;
use shmsync::ring::{
    ByteConsumer, ByteProducer, ByteRing, ByteRingError, DynMsgConsumer, DynMsgProducer,
    DynMsgRing, RecvError, RingLayoutError, SendError,
};

/// Bytes of each ring-end handle type.
pub const SHMSYNC_RING_HANDLE_SIZE: usize = 128;

/// A process-local producer end of a byte ring.
#[repr(C)]
pub struct shmsync_byte_producer_t {
    _opaque: [u64; 16],
}

/// A process-local consumer end of a byte ring.
#[repr(C)]
pub struct shmsync_byte_consumer_t {
    _opaque: [u64; 16],
}

/// A process-local producer end of a message ring.
#[repr(C)]
pub struct shmsync_msg_producer_t {
    _opaque: [u64; 16],
}

/// A process-local consumer end of a message ring.
#[repr(C)]
pub struct shmsync_msg_consumer_t {
    _opaque: [u64; 16],
}

/// What a handle holds: a magic word (open or not) and the Rust end.
#[repr(C)]
struct Slot<T> {
    magic: u64,
    end: MaybeUninit<T>,
}

const BYTE_PRODUCER: u64 = 0x5348_4d42_5052_4f44;
const BYTE_CONSUMER: u64 = 0x5348_4d42_434f_4e53;
const MSG_PRODUCER: u64 = 0x5348_4d4d_5052_4f44;
const MSG_CONSUMER: u64 = 0x5348_4d4d_434f_4e53;

macro_rules! fits {
    ($c:ty, $t:ty) => {
        const _: () = {
            assert!(size_of::<Slot<$t>>() <= size_of::<$c>());
            assert!(align_of::<Slot<$t>>() <= align_of::<$c>());
            assert!(size_of::<$c>() == SHMSYNC_RING_HANDLE_SIZE);
        };
    };
}
fits!(shmsync_byte_producer_t, ByteProducer<'static>);
fits!(shmsync_byte_consumer_t, ByteConsumer<'static>);
fits!(shmsync_msg_producer_t, DynMsgProducer<'static>);
fits!(shmsync_msg_consumer_t, DynMsgConsumer<'static>);

/// The layout error's code.
pub fn layout_error_code(e: RingLayoutError) -> c_int {
    match e {
        RingLayoutError::Misaligned { .. } => SHMSYNC_E_MISALIGNED,
        RingLayoutError::TooSmall { .. } => SHMSYNC_E_TOO_SMALL,
        RingLayoutError::InvalidGeometry => SHMSYNC_E_INVALID,
        RingLayoutError::NotReady => SHMSYNC_E_NOT_READY,
        RingLayoutError::BadMagic { .. } => SHMSYNC_E_BAD_MAGIC,
        RingLayoutError::VersionMismatch { .. } => SHMSYNC_E_VERSION,
        RingLayoutError::LayoutMismatch { .. } => SHMSYNC_E_LAYOUT,
        RingLayoutError::Corrupted => SHMSYNC_E_CORRUPTED,
        _ => SHMSYNC_E_CORRUPTED,
    }
}

fn byte_error_code(e: ByteRingError) -> c_int {
    match e {
        ByteRingError::Full => SHMSYNC_E_FULL,
        ByteRingError::Empty => SHMSYNC_E_EMPTY,
        ByteRingError::BadLength { .. } => SHMSYNC_E_INVALID,
        ByteRingError::Corrupted => SHMSYNC_E_CORRUPTED,
    }
}

fn send_error_code(e: SendError) -> c_int {
    match e {
        SendError::Full => SHMSYNC_E_FULL,
        SendError::TooLarge { .. } => SHMSYNC_E_TOO_LARGE,
        SendError::Corrupted => SHMSYNC_E_CORRUPTED,
    }
}

/// Opens a handle: writes `end` into `out` (checked non-null and aligned by the caller).
///
/// # Safety
/// `out` is non-null, aligned and writable.
unsafe fn open<C, T>(out: *mut C, magic: u64, end: T) {
    // SAFETY: the caller's contract; Slot<T> fits in C (const-asserted).
    unsafe {
        out.cast::<Slot<T>>().write(Slot {
            magic,
            end: MaybeUninit::new(end),
        })
    };
}

/// The open end behind a handle pointer.
///
/// # Safety
/// `p` is null or points to a handle of this type (open, closed or zeroed), used by one
/// thread at a time.
unsafe fn end<'a, C, T>(p: *mut C, magic: u64) -> Result<&'a mut T, c_int> {
    check_ptr(p, align_of::<C>())?;
    // SAFETY: checked; the magic word is a plain u64 in every state of the handle.
    let slot = unsafe { &mut *p.cast::<Slot<T>>() };
    if slot.magic != magic {
        return Err(SHMSYNC_E_INVALID);
    }
    // SAFETY: the magic proves `open` wrote the end and `close` has not dropped it.
    Ok(unsafe { slot.end.assume_init_mut() })
}

/// Closes a handle: drops the end (releasing its role) and clears the magic.
///
/// # Safety
/// As for [`end`].
unsafe fn close<C, T>(p: *mut C, magic: u64) -> c_int {
    if let Err(e) = check_ptr(p, align_of::<C>()) {
        return e;
    }
    // SAFETY: as in `end`.
    let slot = unsafe { &mut *p.cast::<Slot<T>>() };
    if slot.magic != magic {
        return SHMSYNC_E_INVALID;
    }
    slot.magic = 0;
    // SAFETY: initialised (magic) and dropped only here, once (magic cleared first).
    unsafe { slot.end.assume_init_drop() };
    SHMSYNC_OK
}

/// A checked read-only byte buffer (`len == 0` allows null).
///
/// # Safety
/// A non-null `p` is valid for `len` bytes of reads for `'a`.
unsafe fn bytes<'a>(p: *const c_void, len: usize) -> Result<&'a [u8], c_int> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(SHMSYNC_E_NULL);
    }
    // SAFETY: non-null and valid for `len` bytes (caller); private memory.
    Ok(unsafe { core::slice::from_raw_parts(p.cast::<u8>(), len) })
}

/// A checked writable byte buffer (`len == 0` allows null).
///
/// # Safety
/// A non-null `p` is valid for `len` bytes of writes for `'a`, not aliased.
unsafe fn bytes_mut<'a>(p: *mut c_void, len: usize) -> Result<&'a mut [u8], c_int> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(SHMSYNC_E_NULL);
    }
    // SAFETY: non-null and valid for `len` bytes (caller); private, unaliased memory.
    Ok(unsafe { core::slice::from_raw_parts_mut(p.cast::<u8>(), len) })
}

fn result(r: Result<(), c_int>) -> c_int {
    match r {
        Ok(()) => SHMSYNC_OK,
        Err(e) => e,
    }
}

// ---------------------------------------------------------------------------------------
// Byte ring

/// Bytes a byte ring of `capacity` items (a power of two) of `item_size` bytes (1 to
/// 2^20) needs, or 0 if the geometry is invalid. Real-time class: wait-free.
#[unsafe(no_mangle)]
pub extern "C" fn shmsync_byte_ring_required_size(capacity: u32, item_size: u32) -> usize {
    ByteRing::required_len(capacity, item_size).unwrap_or(0)
}

/// Creates an empty byte ring in `len` bytes at `mem` (128-byte aligned), overwriting
/// it. Errors: NULL, MISALIGNED, TOO_SMALL, INVALID (geometry). Real-time class:
/// wait-free, O(size) writes.
///
/// # Safety
/// `mem..mem+len` is mapped writable and only accessed through shmsync while any process
/// uses the ring; nobody uses a ring there while `init` runs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_byte_ring_init(
    mem: *mut c_void,
    len: usize,
    capacity: u32,
    item_size: u32,
) -> c_int {
    guard(|| {
        if mem.is_null() {
            return SHMSYNC_E_NULL;
        }
        // SAFETY: forwarded.
        match unsafe { ByteRing::init(mem.cast(), len, capacity, item_size) } {
            Ok(_) => SHMSYNC_OK,
            Err(e) => layout_error_code(e),
        }
    })
}

/// # Safety
/// As for [`shmsync_byte_ring_init`], except that init has completed.
unsafe fn attach_bytes(
    mem: *mut c_void,
    len: usize,
    capacity: u32,
    item_size: u32,
) -> Result<ByteRing<'static>, c_int> {
    if mem.is_null() {
        return Err(SHMSYNC_E_NULL);
    }
    // SAFETY: forwarded.
    let r = unsafe {
        if capacity == 0 && item_size == 0 {
            ByteRing::attach(mem.cast(), len)
        } else {
            ByteRing::attach_expect(mem.cast(), len, capacity, item_size)
        }
    };
    r.map_err(layout_error_code)
}

/// Attaches to the byte ring at `mem` (validating its header; `capacity` and `item_size`
/// must match unless both are 0) and claims its producer role into `*out`. Errors: NULL,
/// MISALIGNED, TOO_SMALL, NOT_READY, BAD_MAGIC, VERSION, LAYOUT, CORRUPTED, BUSY (role
/// held by a live handle). Real-time class: **may block**.
///
/// # Safety
/// As for [`shmsync_byte_ring_init`] (the memory stays mapped until close); `out` points
/// to a zeroed or closed handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_byte_producer_open(
    out: *mut shmsync_byte_producer_t,
    mem: *mut c_void,
    len: usize,
    capacity: u32,
    item_size: u32,
) -> c_int {
    guard(|| {
        if let Err(e) = check_ptr(out, align_of::<shmsync_byte_producer_t>()) {
            return e;
        }
        // SAFETY: forwarded.
        let ring = match unsafe { attach_bytes(mem, len, capacity, item_size) } {
            Ok(r) => r,
            Err(e) => return e,
        };
        match ring.producer() {
            // SAFETY: `out` checked.
            Ok(p) => unsafe { open(out, BYTE_PRODUCER, p) },
            Err(_) => return SHMSYNC_E_BUSY,
        }
        SHMSYNC_OK
    })
}

/// As [`shmsync_byte_producer_open`] for the consumer role.
///
/// # Safety
/// As for [`shmsync_byte_producer_open`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_byte_consumer_open(
    out: *mut shmsync_byte_consumer_t,
    mem: *mut c_void,
    len: usize,
    capacity: u32,
    item_size: u32,
) -> c_int {
    guard(|| {
        if let Err(e) = check_ptr(out, align_of::<shmsync_byte_consumer_t>()) {
            return e;
        }
        // SAFETY: forwarded.
        let ring = match unsafe { attach_bytes(mem, len, capacity, item_size) } {
            Ok(r) => r,
            Err(e) => return e,
        };
        match ring.consumer() {
            // SAFETY: `out` checked.
            Ok(c) => unsafe { open(out, BYTE_CONSUMER, c) },
            Err(_) => return SHMSYNC_E_BUSY,
        }
        SHMSYNC_OK
    })
}

/// Releases the producer role and closes the handle (INVALID if not open).
/// Real-time class: wait-free.
///
/// # Safety
/// `p` points to a producer handle (open, closed or zeroed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_byte_producer_close(p: *mut shmsync_byte_producer_t) -> c_int {
    // SAFETY: forwarded.
    guard(|| unsafe { close::<_, ByteProducer<'static>>(p, BYTE_PRODUCER) })
}

/// Releases the consumer role and closes the handle (INVALID if not open).
/// Real-time class: wait-free.
///
/// # Safety
/// `c` points to a consumer handle (open, closed or zeroed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_byte_consumer_close(c: *mut shmsync_byte_consumer_t) -> c_int {
    // SAFETY: forwarded.
    guard(|| unsafe { close::<_, ByteConsumer<'static>>(c, BYTE_CONSUMER) })
}

/// Writes one item (`len` must be the item size): OK / FULL / INVALID (length) /
/// CORRUPTED. Real-time class: **wait-free**; **may wake**.
///
/// # Safety
/// `p` points to a producer handle; `item` to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_byte_try_write(
    p: *mut shmsync_byte_producer_t,
    item: *const c_void,
    len: usize,
) -> c_int {
    guard(|| {
        result((|| {
            // SAFETY: forwarded.
            let p = unsafe { end::<_, ByteProducer<'static>>(p, BYTE_PRODUCER) }?;
            // SAFETY: forwarded.
            let item = unsafe { bytes(item, len) }?;
            p.try_write(item).map_err(byte_error_code)
        })())
    })
}

/// Writes one item, waiting up to `timeout_ns` for a free slot: OK / TIMEDOUT / INVALID /
/// CORRUPTED. Real-time class: **may block**.
///
/// # Safety
/// As for [`shmsync_byte_try_write`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_byte_write(
    p: *mut shmsync_byte_producer_t,
    item: *const c_void,
    len: usize,
    timeout_ns: u64,
) -> c_int {
    guard(|| {
        result((|| {
            // SAFETY: forwarded.
            let p = unsafe { end::<_, ByteProducer<'static>>(p, BYTE_PRODUCER) }?;
            // SAFETY: forwarded.
            let item = unsafe { bytes(item, len) }?;
            p.write(item, timeout(timeout_ns)).map_err(|e| match e {
                ByteRingError::Full => SHMSYNC_E_TIMEDOUT,
                e => byte_error_code(e),
            })
        })())
    })
}

/// Writes as many whole items from `items` (`len` a multiple of the item size) as fit,
/// storing the count in `*written`: OK (possibly 0 items) / INVALID / CORRUPTED.
/// Real-time class: **wait-free**; **may wake**.
///
/// # Safety
/// As for [`shmsync_byte_try_write`]; `written` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_byte_write_slice(
    p: *mut shmsync_byte_producer_t,
    items: *const c_void,
    len: usize,
    written: *mut usize,
) -> c_int {
    guard(|| {
        result((|| {
            check_ptr(written, align_of::<usize>())?;
            // SAFETY: forwarded.
            let p = unsafe { end::<_, ByteProducer<'static>>(p, BYTE_PRODUCER) }?;
            // SAFETY: forwarded.
            let items = unsafe { bytes(items, len) }?;
            let n = p.write_slice(items).map_err(byte_error_code)?;
            // SAFETY: checked non-null, aligned; writable (contract).
            unsafe { written.write(n) };
            Ok(())
        })())
    })
}

/// Reads one item into `out` (`len` must be the item size): OK / EMPTY / INVALID /
/// CORRUPTED. Real-time class: **wait-free**; **may wake**.
///
/// # Safety
/// `c` points to a consumer handle; `out` to `len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_byte_try_read(
    c: *mut shmsync_byte_consumer_t,
    out: *mut c_void,
    len: usize,
) -> c_int {
    guard(|| {
        result((|| {
            // SAFETY: forwarded.
            let c = unsafe { end::<_, ByteConsumer<'static>>(c, BYTE_CONSUMER) }?;
            // SAFETY: forwarded.
            let out = unsafe { bytes_mut(out, len) }?;
            c.try_read(out).map_err(byte_error_code)
        })())
    })
}

/// Reads one item, waiting up to `timeout_ns`: OK / TIMEDOUT / INVALID / CORRUPTED.
/// Real-time class: **may block**.
///
/// # Safety
/// As for [`shmsync_byte_try_read`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_byte_read(
    c: *mut shmsync_byte_consumer_t,
    out: *mut c_void,
    len: usize,
    timeout_ns: u64,
) -> c_int {
    guard(|| {
        result((|| {
            // SAFETY: forwarded.
            let c = unsafe { end::<_, ByteConsumer<'static>>(c, BYTE_CONSUMER) }?;
            // SAFETY: forwarded.
            let out = unsafe { bytes_mut(out, len) }?;
            c.read(out, timeout(timeout_ns)).map_err(|e| match e {
                ByteRingError::Empty => SHMSYNC_E_TIMEDOUT,
                e => byte_error_code(e),
            })
        })())
    })
}

/// Reads as many whole items as are available and fit in `out` (`len` a multiple of the
/// item size), storing the count in `*read`: OK (possibly 0) / INVALID / CORRUPTED.
/// Real-time class: **wait-free**; **may wake**.
///
/// # Safety
/// As for [`shmsync_byte_try_read`]; `read` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_byte_read_slice(
    c: *mut shmsync_byte_consumer_t,
    out: *mut c_void,
    len: usize,
    read: *mut usize,
) -> c_int {
    guard(|| {
        result((|| {
            check_ptr(read, align_of::<usize>())?;
            // SAFETY: forwarded.
            let c = unsafe { end::<_, ByteConsumer<'static>>(c, BYTE_CONSUMER) }?;
            // SAFETY: forwarded.
            let out = unsafe { bytes_mut(out, len) }?;
            let n = c.read_slice(out).map_err(byte_error_code)?;
            // SAFETY: checked non-null, aligned; writable (contract).
            unsafe { read.write(n) };
            Ok(())
        })())
    })
}

/// Sets how many backoff steps the blocking write spins before parking (0: park at once;
/// default 7; at most 16). Real-time class: wait-free.
///
/// # Safety
/// `p` points to a producer handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_byte_producer_set_spin_limit(
    p: *mut shmsync_byte_producer_t,
    limit: u32,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded.
        result(
            unsafe { end::<_, ByteProducer<'static>>(p, BYTE_PRODUCER) }
                .map(|p| p.set_spin_limit(limit)),
        )
    })
}

/// Sets the blocking read's spin limit (as for the producer). Real-time class: wait-free.
///
/// # Safety
/// `c` points to a consumer handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_byte_consumer_set_spin_limit(
    c: *mut shmsync_byte_consumer_t,
    limit: u32,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded.
        result(
            unsafe { end::<_, ByteConsumer<'static>>(c, BYTE_CONSUMER) }
                .map(|c| c.set_spin_limit(limit)),
        )
    })
}

// ---------------------------------------------------------------------------------------
// Message ring

/// Bytes a message ring with a `capacity`-byte data area (a power of two, 16 to 2^30)
/// needs, or 0 if invalid. Messages of up to `capacity / 2 - 8` bytes fit. Real-time
/// class: wait-free.
#[unsafe(no_mangle)]
pub extern "C" fn shmsync_msg_ring_required_size(capacity: u32) -> usize {
    DynMsgRing::required_len(capacity).unwrap_or(0)
}

/// Creates an empty message ring (see [`shmsync_byte_ring_init`] for the errors).
/// Real-time class: wait-free, O(size) writes.
///
/// # Safety
/// As for [`shmsync_byte_ring_init`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_msg_ring_init(
    mem: *mut c_void,
    len: usize,
    capacity: u32,
) -> c_int {
    guard(|| {
        if mem.is_null() {
            return SHMSYNC_E_NULL;
        }
        // SAFETY: forwarded.
        match unsafe { DynMsgRing::init(mem.cast(), len, capacity) } {
            Ok(_) => SHMSYNC_OK,
            Err(e) => layout_error_code(e),
        }
    })
}

/// # Safety
/// As for [`shmsync_byte_ring_init`], except that init has completed.
unsafe fn attach_msg(
    mem: *mut c_void,
    len: usize,
    capacity: u32,
) -> Result<DynMsgRing<'static>, c_int> {
    if mem.is_null() {
        return Err(SHMSYNC_E_NULL);
    }
    // SAFETY: forwarded.
    let ring = unsafe { DynMsgRing::attach(mem.cast(), len) }.map_err(layout_error_code)?;
    if capacity != 0 && ring.capacity() != capacity as usize {
        return Err(SHMSYNC_E_LAYOUT);
    }
    Ok(ring)
}

/// Attaches to the message ring at `mem` (`capacity` must match unless 0) and claims its
/// producer role (errors as for [`shmsync_byte_producer_open`]). Real-time class: **may
/// block**.
///
/// # Safety
/// As for [`shmsync_byte_producer_open`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_msg_producer_open(
    out: *mut shmsync_msg_producer_t,
    mem: *mut c_void,
    len: usize,
    capacity: u32,
) -> c_int {
    guard(|| {
        if let Err(e) = check_ptr(out, align_of::<shmsync_msg_producer_t>()) {
            return e;
        }
        // SAFETY: forwarded.
        let ring = match unsafe { attach_msg(mem, len, capacity) } {
            Ok(r) => r,
            Err(e) => return e,
        };
        match ring.producer() {
            // SAFETY: `out` checked.
            Ok(p) => unsafe { open(out, MSG_PRODUCER, p) },
            Err(_) => return SHMSYNC_E_BUSY,
        }
        SHMSYNC_OK
    })
}

/// As [`shmsync_msg_producer_open`] for the consumer role.
///
/// # Safety
/// As for [`shmsync_byte_producer_open`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_msg_consumer_open(
    out: *mut shmsync_msg_consumer_t,
    mem: *mut c_void,
    len: usize,
    capacity: u32,
) -> c_int {
    guard(|| {
        if let Err(e) = check_ptr(out, align_of::<shmsync_msg_consumer_t>()) {
            return e;
        }
        // SAFETY: forwarded.
        let ring = match unsafe { attach_msg(mem, len, capacity) } {
            Ok(r) => r,
            Err(e) => return e,
        };
        match ring.consumer() {
            // SAFETY: `out` checked.
            Ok(c) => unsafe { open(out, MSG_CONSUMER, c) },
            Err(_) => return SHMSYNC_E_BUSY,
        }
        SHMSYNC_OK
    })
}

/// Releases the producer role and closes the handle. Real-time class: wait-free.
///
/// # Safety
/// `p` points to a producer handle (open, closed or zeroed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_msg_producer_close(p: *mut shmsync_msg_producer_t) -> c_int {
    // SAFETY: forwarded.
    guard(|| unsafe { close::<_, DynMsgProducer<'static>>(p, MSG_PRODUCER) })
}

/// Releases the consumer role and closes the handle. Real-time class: wait-free.
///
/// # Safety
/// `c` points to a consumer handle (open, closed or zeroed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_msg_consumer_close(c: *mut shmsync_msg_consumer_t) -> c_int {
    // SAFETY: forwarded.
    guard(|| unsafe { close::<_, DynMsgConsumer<'static>>(c, MSG_CONSUMER) })
}

/// Sends a copy of `len` bytes at `msg` (null allowed for `len == 0`): OK / FULL /
/// TOO_LARGE (never fits) / CORRUPTED. Real-time class: **wait-free**; **may wake**.
///
/// # Safety
/// `p` points to a producer handle; `msg` to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_msg_try_send(
    p: *mut shmsync_msg_producer_t,
    msg: *const c_void,
    len: usize,
) -> c_int {
    guard(|| {
        result((|| {
            // SAFETY: forwarded.
            let p = unsafe { end::<_, DynMsgProducer<'static>>(p, MSG_PRODUCER) }?;
            // SAFETY: forwarded.
            let msg = unsafe { bytes(msg, len) }?;
            p.try_send(msg).map_err(send_error_code)
        })())
    })
}

/// Sends, waiting up to `timeout_ns` for space: OK / TIMEDOUT / TOO_LARGE / CORRUPTED.
/// Real-time class: **may block**.
///
/// # Safety
/// As for [`shmsync_msg_try_send`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_msg_send(
    p: *mut shmsync_msg_producer_t,
    msg: *const c_void,
    len: usize,
    timeout_ns: u64,
) -> c_int {
    guard(|| {
        result((|| {
            // SAFETY: forwarded.
            let p = unsafe { end::<_, DynMsgProducer<'static>>(p, MSG_PRODUCER) }?;
            // SAFETY: forwarded.
            let msg = unsafe { bytes(msg, len) }?;
            p.send(msg, timeout(timeout_ns)).map_err(|e| match e {
                SendError::Full => SHMSYNC_E_TIMEDOUT,
                e => send_error_code(e),
            })
        })())
    })
}

fn recv_result(
    r: Result<usize, RecvError>,
    out_len: *mut usize,
    empty: c_int,
) -> Result<(), c_int> {
    let (code, n) = match r {
        Ok(n) => (SHMSYNC_OK, n),
        Err(RecvError::BufferTooSmall { len }) => (SHMSYNC_E_BUFFER_TOO_SMALL, len),
        Err(RecvError::Empty) => (empty, 0),
        Err(RecvError::Corrupted) => (SHMSYNC_E_CORRUPTED, 0),
    };
    // SAFETY: `out_len` was checked non-null and aligned by the caller; writable (contract).
    unsafe { out_len.write(n) };
    if code == SHMSYNC_OK {
        Ok(())
    } else {
        Err(code)
    }
}

/// Receives the next message into `buf` (`cap` bytes), storing its length in `*len`:
/// OK / EMPTY / BUFFER_TOO_SMALL (the message stays; `*len` is its length) / CORRUPTED.
/// Real-time class: **wait-free**; **may wake**.
///
/// # Safety
/// `c` points to a consumer handle; `buf` to `cap` writable bytes; `len` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_msg_try_recv(
    c: *mut shmsync_msg_consumer_t,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> c_int {
    guard(|| {
        result((|| {
            check_ptr(len, align_of::<usize>())?;
            // SAFETY: forwarded.
            let c = unsafe { end::<_, DynMsgConsumer<'static>>(c, MSG_CONSUMER) }?;
            // SAFETY: forwarded.
            let buf = unsafe { bytes_mut(buf, cap) }?;
            recv_result(c.try_recv(buf), len, SHMSYNC_E_EMPTY)
        })())
    })
}

/// Receives, waiting up to `timeout_ns`: OK / TIMEDOUT / BUFFER_TOO_SMALL / CORRUPTED.
/// Real-time class: **may block**.
///
/// # Safety
/// As for [`shmsync_msg_try_recv`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_msg_recv(
    c: *mut shmsync_msg_consumer_t,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    timeout_ns: u64,
) -> c_int {
    guard(|| {
        result((|| {
            check_ptr(len, align_of::<usize>())?;
            // SAFETY: forwarded.
            let c = unsafe { end::<_, DynMsgConsumer<'static>>(c, MSG_CONSUMER) }?;
            // SAFETY: forwarded.
            let buf = unsafe { bytes_mut(buf, cap) }?;
            recv_result(c.recv(buf, timeout(timeout_ns)), len, SHMSYNC_E_TIMEDOUT)
        })())
    })
}

/// Sets the blocking send's spin limit. Real-time class: wait-free.
///
/// # Safety
/// `p` points to a producer handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_msg_producer_set_spin_limit(
    p: *mut shmsync_msg_producer_t,
    limit: u32,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded.
        result(
            unsafe { end::<_, DynMsgProducer<'static>>(p, MSG_PRODUCER) }
                .map(|p| p.set_spin_limit(limit)),
        )
    })
}

/// Sets the blocking receive's spin limit. Real-time class: wait-free.
///
/// # Safety
/// `c` points to a consumer handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmsync_msg_consumer_set_spin_limit(
    c: *mut shmsync_msg_consumer_t,
    limit: u32,
) -> c_int {
    guard(|| {
        // SAFETY: forwarded.
        result(
            unsafe { end::<_, DynMsgConsumer<'static>>(c, MSG_CONSUMER) }
                .map(|c| c.set_spin_limit(limit)),
        )
    })
}
