//! The ring and guard API that rtrb's and parking_lot's users look for: `len` / `is_empty`
//! / `is_full` on the ring, `peek`, write and read chunks with `commit(n)`,
//! `std::io::{Write, Read}` for byte rings, `MutexGuard::map`. In-process tests run under
//! Miri too; the cross-process ones (fork + MAP_SHARED) are `cfg(not(miri))`.

// Not under loom: the models are in rings_loom.rs; these tests use real threads and forks.
#![cfg(not(loom))]

use shmsync::ring::{ChunkError, Mpmc, PopError, Spsc};
use shmsync::sync::{Mutex, MutexGuard};
#[cfg(feature = "std")]
use std::io::{Read, Write};

#[test]
fn len_is_empty_is_full_follow_both_ends() {
    let ring: Spsc<u32, 4> = Spsc::new();
    assert!(ring.is_empty() && !ring.is_full());
    let (mut tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    for i in 0..4 {
        assert_eq!(ring.len(), i);
        tx.try_push(i as u32).unwrap();
    }
    assert!(ring.is_full());
    rx.try_pop().unwrap();
    assert_eq!(ring.len(), 3);

    let q: Mpmc<u16, 4> = Mpmc::new();
    assert!(q.is_empty());
    q.try_push(1).unwrap();
    q.try_push(2).unwrap();
    assert_eq!(q.len(), 2);
    q.try_pop().unwrap();
    assert_eq!(q.len(), 1);
    for v in 0..3 {
        q.try_push(v).unwrap();
    }
    assert!(q.is_full());
}

#[test]
fn peek_copies_the_front_without_consuming() {
    let ring: Spsc<u64, 4> = Spsc::new();
    let (mut tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    assert_eq!(rx.peek(), Err(PopError::Empty));
    tx.try_push(7).unwrap();
    tx.try_push(8).unwrap();
    assert_eq!(rx.peek(), Ok(7));
    assert_eq!(rx.peek(), Ok(7));
    assert_eq!(ring.len(), 2, "peek consumed nothing");
    assert_eq!(rx.try_pop(), Ok(7));
    assert_eq!(rx.peek(), Ok(8));
}

#[test]
fn chunks_publish_only_what_is_committed() {
    let ring: Spsc<u32, 8> = Spsc::new();
    let (mut tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    assert_eq!(tx.write_chunk(9).err(), Some(ChunkError::TooFew(8)));
    let mut w = tx.write_chunk(5).unwrap();
    assert_eq!(w.len(), 5);
    for v in 0..5 {
        w.push(v).unwrap();
    }
    assert_eq!(w.push(99), Err(99), "a chunk holds only what it reserved");
    assert_eq!(ring.len(), 0, "nothing is visible before commit");
    w.commit(3);
    assert_eq!(ring.len(), 3);
    // A dropped chunk publishes nothing; the next push reuses the uncommitted slots.
    let mut w = tx.write_chunk(2).unwrap();
    w.push(100).unwrap();
    drop(w);
    assert_eq!(ring.len(), 3);
    tx.try_push(3).unwrap();

    assert_eq!(rx.read_chunk(5).err(), Some(ChunkError::TooFew(4)));
    let r = rx.read_chunk(4).unwrap();
    let mut out = [0u32; 4];
    assert_eq!(r.copy_to(&mut out), 4);
    assert_eq!(out, [0, 1, 2, 3]);
    r.commit(1);
    assert_eq!(ring.len(), 3);
    drop(rx.read_chunk(3).unwrap()); // released nothing
    let r = rx.read_chunk(3).unwrap();
    assert_eq!((r.get(0), r.get(2)), (1, 3));
    r.commit_all();
    assert!(ring.is_empty());
}

#[test]
#[should_panic(expected = "only 1 items pushed")]
fn committing_unwritten_slots_panics() {
    let ring: Spsc<u8, 4> = Spsc::new();
    let mut tx = ring.producer().unwrap();
    let mut w = tx.write_chunk(3).unwrap();
    w.push(1).unwrap();
    w.commit(2);
}

// `io::{Write, Read}` for byte rings need the `std` feature (the CI test lane's
// count-syscalls run has it).
#[cfg(feature = "std")]
#[test]
fn byte_rings_are_non_blocking_io_streams() {
    let ring: Spsc<u8, 16> = Spsc::new();
    let (mut tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    let mut buf = [0u8; 32];
    let e = rx.read(&mut buf).unwrap_err();
    assert_eq!(
        e.kind(),
        std::io::ErrorKind::WouldBlock,
        "empty is not end of stream"
    );
    assert_eq!(tx.write(&[1; 10]).unwrap(), 10);
    assert_eq!(
        tx.write(&[2; 10]).unwrap(),
        6,
        "a short write when nearly full"
    );
    let e = tx.write(&[3]).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    assert_eq!(tx.write(&[]).unwrap(), 0);
    tx.flush().unwrap();
    assert_eq!(rx.read(&mut buf).unwrap(), 16);
    assert_eq!(
        &buf[..16],
        &[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]
    );
}

#[test]
fn a_mapped_guard_holds_the_lock_until_dropped() {
    let m = Mutex::new([0u32; 3]);
    let mut part = MutexGuard::map(m.lock().unwrap(), |a| &mut a[2]);
    *part = 5;
    assert!(
        m.try_lock().is_err(),
        "the mapped guard still holds the lock"
    );
    drop(part);
    assert_eq!(*m.lock().unwrap(), [0, 0, 5]);
    assert!(!m.is_locked());
}

#[cfg(not(miri))]
mod processes {
    use super::*;
    use shmsync::hal::shm::{Mapping, SharedMemory};
    use shmsync::hal::testing::fork;
    use shmsync::{ShmSafe, attach, init, region};
    use std::time::{Duration, Instant};

    const CHILD_LIMIT: Duration = Duration::from_secs(120);

    #[derive(ShmSafe)]
    #[repr(C)]
    struct Shared {
        items: Spsc<u32, 64>,
        bytes: Spsc<u8, 256>,
        lock: Mutex<[u32; 4]>,
    }

    fn create() -> (SharedMemory, Mapping) {
        let shm = SharedMemory::create(region::required_len::<Shared>()).unwrap();
        let map = shm.map().unwrap();
        // SAFETY: a fresh zero-filled mapping that only shmsync uses.
        unsafe { init::<Shared>(map.as_ptr(), map.len()) }.unwrap();
        (shm, map)
    }

    fn remap(shm: &SharedMemory) -> (Mapping, &'static Shared) {
        let map = shm.map().unwrap();
        // SAFETY: live read/write mapping, kept until the child `_exit`s.
        let root = unsafe { attach::<Shared>(map.as_ptr(), map.len()) }
            .unwrap()
            .get();
        // SAFETY: the child never unmaps it.
        (map, unsafe { &*(root as *const Shared) })
    }

    fn root(map: &Mapping) -> &Shared {
        // SAFETY: initialised by `create`, live as long as `map`.
        unsafe { attach::<Shared>(map.as_ptr(), map.len()) }
            .unwrap()
            .get()
    }

    /// 200,000 items in chunks of 1..=7 (committing a part of each) from another process,
    /// read in chunks of 1..=5: in order, none lost or repeated, and `len` never above N.
    #[test]
    fn chunks_across_processes_keep_order() {
        const ITEMS: u32 = 200_000;
        let (shm, map) = create();
        let child = fork(|| {
            let (_m, s) = remap(&shm);
            let mut tx = s.items.producer().unwrap();
            let mut next = 0u32;
            let deadline = Instant::now() + CHILD_LIMIT;
            while next < ITEMS {
                let want = (next % 7 + 1).min(ITEMS - next) as usize;
                let Ok(mut w) = tx.write_chunk(want) else {
                    assert!(Instant::now() < deadline);
                    std::hint::spin_loop();
                    continue;
                };
                for k in 0..want as u32 {
                    w.push(next + k).unwrap();
                }
                // Commit all but one when we can: the last slot is written again later.
                let n = if want > 1 && next % 3 == 0 {
                    want - 1
                } else {
                    want
                };
                w.commit(n);
                next += n as u32;
            }
            0
        });
        let s = root(&map);
        let mut rx = s.items.consumer().unwrap();
        let mut expect = 0u32;
        let deadline = Instant::now() + CHILD_LIMIT;
        while expect < ITEMS {
            assert!(s.items.len() <= 64);
            let want = (expect % 5 + 1).min(ITEMS - expect) as usize;
            match rx.read_chunk(want) {
                Ok(r) => {
                    for i in 0..want {
                        assert_eq!(r.get(i), expect + i as u32, "order broken");
                    }
                    r.commit_all();
                    expect += want as u32;
                }
                Err(ChunkError::TooFew(_)) => {
                    assert!(Instant::now() < deadline, "stuck at {expect}");
                    std::hint::spin_loop();
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(s.items.is_empty());
        child.join(CHILD_LIMIT);
    }

    /// 1 MiB through a byte ring with `io::Write` in one process and `io::Read` in the
    /// other, checked byte for byte.
    #[cfg(feature = "std")]
    #[test]
    fn io_write_and_read_across_processes() {
        const BYTES: usize = 1 << 20;
        let (shm, map) = create();
        let child = fork(|| {
            let (_m, s) = remap(&shm);
            let mut tx = s.bytes.producer().unwrap();
            let data: Vec<u8> = (0..BYTES).map(|i| (i % 251) as u8).collect();
            let mut off = 0;
            while off < BYTES {
                match tx.write(&data[off..(off + 100).min(BYTES)]) {
                    Ok(n) => off += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::hint::spin_loop(),
                    Err(e) => panic!("{e}"),
                }
            }
            0
        });
        let s = root(&map);
        let mut rx = s.bytes.consumer().unwrap();
        let mut got = 0usize;
        let mut buf = [0u8; 77];
        let deadline = Instant::now() + CHILD_LIMIT;
        while got < BYTES {
            match rx.read(&mut buf) {
                Ok(n) => {
                    for (k, &b) in buf[..n].iter().enumerate() {
                        assert_eq!(b, ((got + k) % 251) as u8, "byte {} differs", got + k);
                    }
                    got += n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "stuck at {got}");
                    std::hint::spin_loop();
                }
                Err(e) => panic!("{e}"),
            }
        }
        child.join(CHILD_LIMIT);
    }

    /// A mapped guard in one process keeps another process out until it drops.
    #[test]
    fn mapped_guard_excludes_another_process() {
        let (shm, map) = create();
        let s = root(&map);
        let mut g = MutexGuard::map(s.lock.lock().unwrap(), |a| &mut a[1]);
        *g = 9;
        let peer = fork(|| {
            let (_m, s) = remap(&shm);
            match s.lock.try_lock() {
                Err(_) => 0, // held by the parent's mapped guard
                Ok(_) => 1,
            }
        });
        peer.join(CHILD_LIMIT);
        drop(g);
        let peer = fork(|| {
            let (_m, s) = remap(&shm);
            match s.lock.try_lock() {
                Ok(g) if g[1] == 9 => 0,
                Ok(_) => 2,
                Err(_) => 1,
            }
        });
        peer.join(CHILD_LIMIT);
    }
}
