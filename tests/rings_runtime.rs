//! ByteRing and DynMsgRing (run-time-sized rings over caller memory): order, completeness
//! and checksums across threads and forked processes, header validation, corrupted
//! headers and indices giving errors (never UB or a panic), timed operations, roles.
//!
//! Miri runs the in-process tests (`cargo +nightly miri test --test rings_runtime`).
//! Not built under loom (the run-time rings are raw memory views, outside loom's model).
#![cfg(not(loom))]

mod ring_common;

use ring_common::{Rng, item, scaled};
use shmsync::ring::{
    ByteRing, ByteRingError, DynMsgRing, RING_ALIGN, RecvError, RingLayoutError, SendError,
};
use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Zeroed, 128-aligned heap memory (stands in for a mapping in the in-process tests).
struct Mem {
    ptr: *mut u8,
    len: usize,
}

impl Mem {
    fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len, RING_ALIGN).unwrap();
        // SAFETY: non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null());
        Mem { ptr, len }
    }

    /// The header word at byte offset `off`, as the atomic every access to it is.
    fn word(&self, off: usize) -> &AtomicU32 {
        assert!(off + 4 <= self.len && off % 4 == 0);
        // SAFETY: in bounds, aligned; the rings only access these words atomically.
        unsafe { AtomicU32::from_ptr(self.ptr.add(off).cast()) }
    }
}

impl Drop for Mem {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe {
            dealloc(
                self.ptr,
                Layout::from_size_align(self.len, RING_ALIGN).unwrap(),
            )
        }
    }
}

// Header offsets (see `shmsync::ring::runtime`).
const TAIL: usize = 0;
const HEAD: usize = 128;
const MAGIC: usize = 384;
const VERSION: usize = 388;
const KIND: usize = 392;
const CAPACITY: usize = 396;
const ITEM_SIZE: usize = 400;
const CHECK: usize = 404;

fn byte_ring(mem: &Mem, cap: u32, item: u32) -> ByteRing<'_> {
    // SAFETY: `mem` outlives the ring and is only used through it (and the atomic `word`).
    unsafe { ByteRing::init(mem.ptr, mem.len, cap, item) }.unwrap()
}

#[test]
fn byte_ring_geometry_and_required_len() {
    assert_eq!(ByteRing::required_len(8, 16), Some(512 + 128));
    assert_eq!(ByteRing::required_len(8, 3), Some(512 + 128)); // 24 bytes, rounded
    assert_eq!(ByteRing::required_len(1024, 256), Some(512 + 262_144));
    assert_eq!(ByteRing::required_len(6, 16), None); // not a power of two
    assert_eq!(ByteRing::required_len(0, 16), None);
    assert_eq!(ByteRing::required_len(8, 0), None);
    assert_eq!(
        ByteRing::required_len(8, shmsync::ring::MAX_ITEM_SIZE + 1),
        None
    );
    let mem = Mem::new(1024);
    // SAFETY: as in `byte_ring`.
    unsafe {
        assert_eq!(
            ByteRing::init(mem.ptr, mem.len, 6, 16).unwrap_err(),
            RingLayoutError::InvalidGeometry
        );
        assert_eq!(
            ByteRing::init(mem.ptr, mem.len, 64, 16).unwrap_err(),
            RingLayoutError::TooSmall {
                required: 512 + 1024,
                actual: 1024
            }
        );
        assert_eq!(
            ByteRing::init(mem.ptr.add(8), 512, 8, 8).unwrap_err(),
            RingLayoutError::Misaligned { required: 128 }
        );
        assert_eq!(
            ByteRing::init(core::ptr::null_mut(), 4096, 8, 8).unwrap_err(),
            RingLayoutError::Misaligned { required: 128 }
        );
        assert_eq!(
            ByteRing::attach(mem.ptr, 100).unwrap_err(),
            RingLayoutError::TooSmall {
                required: 512,
                actual: 100
            }
        );
    }
}

#[test]
fn byte_ring_empty_full_wrap_and_lengths() {
    let mem = Mem::new(ByteRing::required_len(4, 12).unwrap());
    let ring = byte_ring(&mem, 4, 12);
    assert_eq!((ring.capacity(), ring.item_size()), (4, 12));
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    let mut out = [0u8; 12];
    assert_eq!(rx.try_read(&mut out), Err(ByteRingError::Empty));
    for lap in 0..5u8 {
        for i in 0..4u8 {
            tx.try_write(&[lap * 16 + i; 12]).unwrap();
        }
        assert_eq!(tx.try_write(&[0; 12]), Err(ByteRingError::Full));
        for i in 0..4u8 {
            rx.try_read(&mut out).unwrap();
            assert_eq!(out, [lap * 16 + i; 12]);
        }
    }
    assert_eq!(
        tx.try_write(&[0; 11]),
        Err(ByteRingError::BadLength {
            item_size: 12,
            len: 11
        })
    );
    assert_eq!(
        rx.try_read(&mut [0; 13]),
        Err(ByteRingError::BadLength {
            item_size: 12,
            len: 13
        })
    );
    assert_eq!(
        tx.write_slice(&[0; 25]),
        Err(ByteRingError::BadLength {
            item_size: 12,
            len: 25
        })
    );
    // Slices: 6 items offered, 4 fit; read back 3 + 1.
    let block: Vec<u8> = (0..72u8).collect();
    assert_eq!(tx.write_slice(&block), Ok(4));
    assert_eq!(tx.free_slots(), Ok(0));
    let mut three = [0u8; 36];
    assert_eq!(rx.read_slice(&mut three), Ok(3));
    assert_eq!(&three[..], &block[..36]);
    assert_eq!(rx.available_items(), Ok(1));
    assert_eq!(rx.read_slice(&mut three), Ok(1));
    assert_eq!(&three[..12], &block[36..48]);
    assert_eq!(rx.read_slice(&mut three), Ok(0));
}

#[test]
fn odd_item_sizes_round_trip() {
    for size in [1u32, 2, 3, 5, 6, 7, 8, 9, 24, 100] {
        let mem = Mem::new(ByteRing::required_len(8, size).unwrap());
        let ring = byte_ring(&mem, 8, size);
        let mut tx = ring.producer().unwrap();
        let mut rx = ring.consumer().unwrap();
        let mut out = vec![0u8; size as usize];
        for n in 0..20u32 {
            let v: Vec<u8> = (0..size).map(|b| (b * 7 + n) as u8).collect();
            tx.try_write(&v).unwrap();
            rx.try_read(&mut out).unwrap();
            assert_eq!(out, v, "item size {size}");
        }
    }
}

#[test]
fn attach_validates_the_header() {
    let mem = Mem::new(ByteRing::required_len(16, 8).unwrap());
    // SAFETY: as in `byte_ring`.
    let attach = || unsafe { ByteRing::attach(mem.ptr, mem.len) };
    assert_eq!(attach().unwrap_err(), RingLayoutError::NotReady); // all zero
    byte_ring(&mem, 16, 8);
    let ring = attach().unwrap();
    assert_eq!((ring.capacity(), ring.item_size()), (16, 8));
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            ByteRing::attach_expect(mem.ptr, mem.len, 16, 4).unwrap_err(),
            RingLayoutError::LayoutMismatch {
                capacity: 16,
                item_size: 8
            }
        );
        assert!(ByteRing::attach_expect(mem.ptr, mem.len, 16, 8).is_ok());
        assert_eq!(
            ByteRing::attach(mem.ptr, 600).unwrap_err(),
            RingLayoutError::TooSmall {
                required: 640,
                actual: 600
            }
        );
        // A message ring attach on a byte ring: another kind.
        assert!(matches!(
            DynMsgRing::attach(mem.ptr, mem.len).unwrap_err(),
            RingLayoutError::LayoutMismatch { .. }
        ));
    }
    // Every geometry field scribbled: caught by the check word (or the magic/version).
    for (off, expect) in [
        (CAPACITY, RingLayoutError::Corrupted),
        (ITEM_SIZE, RingLayoutError::Corrupted),
        (KIND, RingLayoutError::Corrupted),
        (CHECK, RingLayoutError::Corrupted),
        (
            VERSION,
            RingLayoutError::VersionMismatch {
                found: 1 ^ 0x40,
                ours: 1,
            },
        ),
    ] {
        let w = mem.word(off);
        let old = w.load(Ordering::Relaxed);
        w.store(old ^ 0x40, Ordering::Relaxed);
        assert_eq!(attach().unwrap_err(), expect, "offset {off}");
        w.store(old, Ordering::Relaxed);
        assert!(attach().is_ok());
    }
    mem.word(MAGIC).store(0xdead_beef, Ordering::Relaxed);
    assert_eq!(
        attach().unwrap_err(),
        RingLayoutError::BadMagic { found: 0xdead_beef }
    );
    // A consistent but forged geometry far larger than the memory: TooSmall, not an
    // out-of-bounds access. (Forging needs the check word; the test recomputes it by
    // initialising a ring of that geometry in a big buffer and copying its header.)
    let big = Mem::new(ByteRing::required_len(1024, 8).unwrap());
    byte_ring(&big, 1024, 8);
    for off in (384..408).step_by(4) {
        mem.word(off)
            .store(big.word(off).load(Ordering::Relaxed), Ordering::Relaxed);
    }
    assert_eq!(
        attach().unwrap_err(),
        RingLayoutError::TooSmall {
            required: 512 + 8192,
            actual: mem.len
        }
    );
}

#[test]
fn corrupted_indices_are_reported_not_followed() {
    let mem = Mem::new(ByteRing::required_len(8, 16).unwrap());
    let ring = byte_ring(&mem, 8, 16);
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    let mut out = [0u8; 16];
    // Producer index more than capacity ahead.
    mem.word(TAIL).store(1000, Ordering::Relaxed);
    assert_eq!(rx.try_read(&mut out), Err(ByteRingError::Corrupted));
    assert_eq!(
        rx.read(&mut out, Some(Duration::from_millis(1))),
        Err(ByteRingError::Corrupted)
    );
    mem.word(TAIL).store(0, Ordering::Relaxed);
    // Consumer index ahead of the producer.
    mem.word(HEAD).store(5, Ordering::Relaxed);
    for _ in 0..8 {
        let r = tx.try_write(&[1; 16]);
        if r.is_err() {
            assert_eq!(r, Err(ByteRingError::Corrupted));
            break;
        }
    }
    assert_eq!(
        tx.write(&[1; 16], Some(Duration::from_millis(1))),
        Err(ByteRingError::Corrupted)
    );
}

/// A small deterministic fuzz: random header and index words (in-bounds writes of random
/// values into the whole header) between random operations on both ends of both rings;
/// every call must return (an error or a value), never panic, and never touch memory
/// outside the ring (Miri checks the latter on the heap buffer).
#[test]
fn fuzzed_header_gives_errors_not_ub() {
    let rounds = scaled(20_000, 5_000, 300);
    let mut rng = Rng::new(0x5eed_0014);
    let bmem = Mem::new(ByteRing::required_len(8, 24).unwrap());
    let mmem = Mem::new(DynMsgRing::required_len(128).unwrap());
    let bring = byte_ring(&bmem, 8, 24);
    // SAFETY: as in `byte_ring`.
    let mring = unsafe { DynMsgRing::init(mmem.ptr, mmem.len, 128) }.unwrap();
    let mut btx = bring.producer().unwrap();
    let mut brx = bring.consumer().unwrap();
    let mut mtx = mring.producer().unwrap();
    let mut mrx = mring.consumer().unwrap();
    let mut buf = [0u8; 256];
    for _ in 0..rounds {
        match rng.below(8) {
            0 => {
                // Scribble an index word or a data word.
                let (mem, len) = if rng.below(2) == 0 {
                    (&bmem, bmem.len)
                } else {
                    (&mmem, mmem.len)
                };
                let off = if rng.below(2) == 0 {
                    [TAIL, HEAD][rng.below(2) as usize]
                } else {
                    512 + 4 * rng.below(((len - 512) / 4) as u64) as usize
                };
                let v = match rng.below(3) {
                    0 => rng.next_u64() as u32,
                    1 => mem
                        .word(off)
                        .load(Ordering::Relaxed)
                        .wrapping_add(rng.below(300) as u32),
                    _ => (rng.below(64) * 8) as u32,
                };
                mem.word(off).store(v, Ordering::Relaxed);
            }
            1 => drop(btx.try_write(&buf[..24])),
            2 => drop(brx.try_read(&mut buf[..24])),
            3 => drop(btx.write_slice(&buf[..72])),
            4 => drop(brx.read_slice(&mut buf[..48])),
            5 => drop(mtx.try_send(&buf[..rng.below(80) as usize])),
            6 => drop(mrx.try_recv(&mut buf[..rng.below(80) as usize])),
            _ => drop(mrx.peek_len()),
        }
    }
    // Attach on scribbled geometry words never succeeds with a wrong geometry.
    for _ in 0..scaled(2_000, 500, 50) {
        let off = 384 + 4 * rng.below(6) as usize;
        let w = bmem.word(off);
        let old = w.load(Ordering::Relaxed);
        w.store(rng.next_u64() as u32, Ordering::Relaxed);
        // SAFETY: as in `byte_ring`.
        if let Ok(r) = unsafe { ByteRing::attach(bmem.ptr, bmem.len) } {
            assert_eq!((r.capacity(), r.item_size()), (8, 24));
        }
        w.store(old, Ordering::Relaxed);
    }
}

#[test]
fn roles_are_exclusive_and_released_on_drop() {
    let mem = Mem::new(ByteRing::required_len(8, 8).unwrap());
    let ring = byte_ring(&mem, 8, 8);
    let tx = ring.producer().unwrap();
    assert!(ring.producer().is_err());
    let rx = ring.consumer().unwrap();
    assert!(ring.consumer().is_err());
    drop(tx);
    drop(rx);
    assert!(ring.producer().is_ok());
    assert!(ring.consumer().is_ok());
}

#[test]
fn timed_reads_and_writes_time_out() {
    let mem = Mem::new(ByteRing::required_len(2, 8).unwrap());
    let ring = byte_ring(&mem, 2, 8);
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    let mut out = [0u8; 8];
    assert_eq!(
        rx.read(&mut out, Some(Duration::ZERO)),
        Err(ByteRingError::Empty)
    );
    assert_eq!(
        rx.read(&mut out, Some(Duration::from_millis(5))),
        Err(ByteRingError::Empty)
    );
    tx.try_write(&[1; 8]).unwrap();
    tx.try_write(&[2; 8]).unwrap();
    assert_eq!(
        tx.write(&[3; 8], Some(Duration::from_millis(5))),
        Err(ByteRingError::Full)
    );
    rx.read(&mut out, Some(Duration::from_millis(5))).unwrap();
    assert_eq!(out, [1; 8]);

    let mmem = Mem::new(DynMsgRing::required_len(64).unwrap());
    // SAFETY: as in `byte_ring`.
    let m = unsafe { DynMsgRing::init(mmem.ptr, mmem.len, 64) }.unwrap();
    let mut mtx = m.producer().unwrap();
    let mut mrx = m.consumer().unwrap();
    assert_eq!(
        mrx.recv(&mut [0; 8], Some(Duration::from_millis(5))),
        Err(RecvError::Empty)
    );
    mtx.try_send(&[1; 24]).unwrap();
    mtx.try_send(&[2; 24]).unwrap();
    assert_eq!(
        mtx.send(&[3; 8], Some(Duration::from_millis(5))),
        Err(SendError::Full)
    );
}

#[test]
fn messages_round_trip_with_padding_and_errors() {
    let mem = Mem::new(DynMsgRing::required_len(256).unwrap());
    // SAFETY: as in `byte_ring`.
    let ring = unsafe { DynMsgRing::init(mem.ptr, mem.len, 256) }.unwrap();
    assert_eq!(ring.max_message(), 120);
    let mut tx = ring.producer().unwrap();
    let mut rx = ring.consumer().unwrap();
    assert_eq!(
        tx.try_send(&[0; 121]),
        Err(SendError::TooLarge { len: 121, max: 120 })
    );
    let mut rng = Rng::new(7);
    let mut buf = [0u8; 128];
    for n in 0..2_000u32 {
        let len = rng.below(121) as usize;
        let msg: Vec<u8> = (0..len).map(|i| (i as u32 ^ n) as u8).collect();
        tx.try_send(&msg).unwrap();
        if n % 3 == 0 {
            assert_eq!(rx.peek_len(), Ok(len));
        }
        if len > 0 {
            assert_eq!(
                rx.try_recv(&mut buf[..len - 1]),
                Err(RecvError::BufferTooSmall { len })
            );
        }
        assert_eq!(rx.try_recv(&mut buf), Ok(len));
        assert_eq!(&buf[..len], &msg[..]);
    }
    assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Empty));
    // A scribbled frame header is Corrupted.
    tx.try_send(b"hello").unwrap();
    let tail_pos = (mem.word(TAIL).load(Ordering::Relaxed) - 16) as usize % 256;
    mem.word(512 + tail_pos).store(6, Ordering::Relaxed);
    assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Corrupted));
}

/// Streams `n` items of `size` bytes through a byte ring between two threads, both ends
/// blocking; the consumer checks every item (its content derives from its position).
fn stream_bytes_threads(cap: u32, size: u32, n: u64) {
    let mem = Mem::new(ByteRing::required_len(cap, size).unwrap());
    let ring = byte_ring(&mem, cap, size);
    let fill = |i: u64, out: &mut [u8]| {
        for (k, chunk) in out.chunks_mut(8).enumerate() {
            let v = item(i.wrapping_mul(31).wrapping_add(k as u64)).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    };
    std::thread::scope(|s| {
        let mut tx = ring.producer().unwrap();
        s.spawn(move || {
            let mut v = vec![0u8; size as usize];
            for i in 0..n {
                fill(i, &mut v);
                tx.write(&v, None).unwrap();
            }
        });
        let mut rx = ring.consumer().unwrap();
        let mut got = vec![0u8; size as usize];
        let mut want = vec![0u8; size as usize];
        for i in 0..n {
            rx.read(&mut got, None).unwrap();
            fill(i, &mut want);
            assert_eq!(got, want, "item {i}");
        }
        assert_eq!(rx.try_read(&mut got), Err(ByteRingError::Empty));
    });
}

#[test]
fn threads_stream_every_item_in_order() {
    stream_bytes_threads(64, 16, scaled(1_000_000, 100_000, 500));
    stream_bytes_threads(4, 7, scaled(200_000, 20_000, 200));
}

#[test]
fn threads_stream_messages_in_order() {
    let n = scaled(1_000_000, 100_000, 300);
    let mem = Mem::new(DynMsgRing::required_len(4096).unwrap());
    // SAFETY: as in `byte_ring`.
    let ring = unsafe { DynMsgRing::init(mem.ptr, mem.len, 4096) }.unwrap();
    std::thread::scope(|s| {
        let mut tx = ring.producer().unwrap();
        s.spawn(move || {
            let mut buf = [0u8; 64];
            for i in 0..n {
                let len = (item(i) % 57) as usize + 8;
                buf[..8].copy_from_slice(&item(i).to_le_bytes());
                buf[8..len].fill(i as u8);
                tx.send(&buf[..len], None).unwrap();
            }
        });
        let mut rx = ring.consumer().unwrap();
        let mut buf = [0u8; 64];
        let mut sum = 0u64;
        for i in 0..n {
            let len = rx.recv(&mut buf, None).unwrap();
            assert_eq!(len, (item(i) % 57) as usize + 8);
            assert_eq!(u64::from_le_bytes(buf[..8].try_into().unwrap()), item(i));
            assert!(buf[8..len].iter().all(|&b| b == i as u8));
            sum = sum.wrapping_add(item(i));
        }
        assert_eq!(sum, (0..n).fold(0u64, |a, i| a.wrapping_add(item(i))));
    });
}

/// 1,000,000 items across two processes: the child attaches at its own mapping and
/// produces, the parent consumes and checks a checksum and every position.
/// Host lanes only (Miri cannot fork or map shared memory).
#[cfg(all(unix, not(miri)))]
#[test]
fn processes_stream_one_million_items_with_checksums() {
    use shmsync::hal::shm::SharedMemory;
    use shmsync::hal::testing::fork;
    let n = scaled(1_000_000, 200_000, 0);
    let len = ByteRing::required_len(256, 32).unwrap();
    let shm = SharedMemory::create(len).unwrap();
    let map = shm.map().unwrap();
    // SAFETY: fresh mapping used only through the ring.
    let ring = unsafe { ByteRing::init(map.as_ptr(), map.len(), 256, 32) }.unwrap();
    let child_map = shm.map().unwrap();
    let child = fork(move || {
        // SAFETY: a second mapping of the same object, initialised above.
        let ring = unsafe { ByteRing::attach_expect(child_map.as_ptr(), child_map.len(), 256, 32) };
        let Ok(ring) = ring else { return 2 };
        let Ok(mut tx) = ring.producer() else {
            return 3;
        };
        let mut v = [0u8; 32];
        for i in 0..n {
            for k in 0..4 {
                v[k * 8..k * 8 + 8].copy_from_slice(&item(i * 4 + k as u64).to_le_bytes());
            }
            if tx.write(&v, Some(Duration::from_secs(20))).is_err() {
                return 4;
            }
        }
        0
    });
    let mut rx = ring.consumer().unwrap();
    let mut v = [0u8; 32];
    let (mut sum, mut want) = (0u64, 0u64);
    for i in 0..n {
        rx.read(&mut v, Some(Duration::from_secs(20))).unwrap();
        for k in 0..4 {
            let got = u64::from_le_bytes(v[k * 8..k * 8 + 8].try_into().unwrap());
            assert_eq!(got, item(i * 4 + k as u64), "item {i} word {k}");
            sum = sum.wrapping_add(got);
            want = want.wrapping_add(item(i * 4 + k as u64));
        }
    }
    assert_eq!(sum, want);
    child.join(Duration::from_secs(60));
}

/// 1,000,000 variable-length messages across two processes. Host lanes only.
#[cfg(all(unix, not(miri)))]
#[test]
fn processes_stream_one_million_messages_with_checksums() {
    use shmsync::hal::shm::SharedMemory;
    use shmsync::hal::testing::fork;
    let n = scaled(1_000_000, 200_000, 0);
    let len = DynMsgRing::required_len(8192).unwrap();
    let shm = SharedMemory::create(len).unwrap();
    let map = shm.map().unwrap();
    // SAFETY: fresh mapping used only through the ring.
    let ring = unsafe { DynMsgRing::init(map.as_ptr(), map.len(), 8192) }.unwrap();
    let child_map = shm.map().unwrap();
    let child = fork(move || {
        // SAFETY: a second mapping of the same object, initialised above.
        let Ok(ring) = (unsafe { DynMsgRing::attach(child_map.as_ptr(), child_map.len()) }) else {
            return 2;
        };
        let Ok(mut tx) = ring.producer() else {
            return 3;
        };
        let mut buf = [0u8; 100];
        for i in 0..n {
            let len = (item(i) % 93) as usize + 8;
            buf[..8].copy_from_slice(&item(i).to_le_bytes());
            buf[8..len].fill(i as u8);
            if tx.send(&buf[..len], Some(Duration::from_secs(20))).is_err() {
                return 4;
            }
        }
        0
    });
    let mut rx = ring.consumer().unwrap();
    let mut buf = [0u8; 100];
    let mut sum = 0u64;
    for i in 0..n {
        let len = rx.recv(&mut buf, Some(Duration::from_secs(20))).unwrap();
        assert_eq!(len, (item(i) % 93) as usize + 8, "message {i}");
        let v = u64::from_le_bytes(buf[..8].try_into().unwrap());
        assert_eq!(v, item(i));
        assert!(buf[8..len].iter().all(|&b| b == i as u8));
        sum = sum.wrapping_add(v);
    }
    assert_eq!(sum, (0..n).fold(0u64, |a, i| a.wrapping_add(item(i))));
    child.join(Duration::from_secs(60));
}

/// A producer killed while holding its role: the role is taken over by a new producer in
/// this process, and the published items stay. Host lanes only.
#[cfg(all(unix, not(miri)))]
#[test]
fn role_of_a_killed_process_is_taken_over() {
    use shmsync::hal::shm::SharedMemory;
    use shmsync::hal::testing::{Exit, fork};
    let len = ByteRing::required_len(8, 8).unwrap();
    let shm = SharedMemory::create(len).unwrap();
    let map = shm.map().unwrap();
    // SAFETY: fresh mapping used only through the ring.
    let ring = unsafe { ByteRing::init(map.as_ptr(), map.len(), 8, 8) }.unwrap();
    let child = fork(move || {
        let Ok(mut tx) = ring.producer() else {
            return 3;
        };
        if tx.try_write(&[9; 8]).is_err() {
            return 4;
        }
        core::mem::forget(tx);
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let mut rx = ring.consumer().unwrap();
    let mut out = [0u8; 8];
    rx.read(&mut out, Some(Duration::from_secs(20))).unwrap();
    assert_eq!(out, [9; 8]);
    assert!(ring.producer().is_err(), "live holder keeps the role");
    child.signal(libc::SIGKILL);
    assert_eq!(
        child.wait_timeout(Duration::from_secs(20)),
        Exit::Signal(libc::SIGKILL)
    );
    let tx = ring.producer().expect("dead holder's role is taken over");
    assert!(tx.took_over_from().is_some());
}
