//! Padding-free items of every size from 1 to 64 bytes, at every alignment that divides
//! the size (1, 2, 4, 8), through `Spsc`, `Mpmc` and `MsgRing` — the word-wise slot copies
//! at each width, and the message ring's partial-word merges. Written for Miri
//! (`cargo +nightly miri test --test rings_items`), which reports any read of an
//! uninitialised byte; a few items per ring keep it quick there. Items with padding do not
//! compile at all (the `compile_fail` examples on `shmsync::ring::Item`).

use shmsync::ShmSafe;
use shmsync::bytemuck::{self, Pod, Zeroable};
use shmsync::ring::{Item, Mpmc, MsgRing, Spsc};

/// A distinct, non-zero byte pattern per `seed`.
fn pattern<T: Pod>(seed: u8) -> T {
    let mut v = T::zeroed();
    for (i, b) in bytemuck::bytes_of_mut(&mut v).iter_mut().enumerate() {
        *b = seed.wrapping_mul(37).wrapping_add(i as u8).wrapping_add(1);
    }
    v
}

#[track_caller]
fn same<T: Pod>(got: &T, want: &T) {
    assert_eq!(
        bytemuck::bytes_of(got),
        bytemuck::bytes_of(want),
        "{}-byte item changed in the ring",
        size_of::<T>()
    );
}

/// Two single items through two slots, then a two-item batch (the indices wrap); two
/// rounds of two on the `Mpmc`; two rounds of two messages (the message ring wraps, with
/// a padding frame, for items above 56 bytes).
fn check<T: Item + Pod>() {
    let ring = Box::new(Spsc::<T, 2>::new());
    let (mut tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    for seed in 0..2 {
        assert!(tx.try_push(pattern(seed)).is_ok());
        same(&rx.try_pop().unwrap(), &pattern::<T>(seed));
    }
    let batch = [pattern::<T>(10), pattern(11)];
    assert_eq!(tx.push_slice(&batch), Ok(2));
    let mut out = [T::zeroed(); 2];
    assert_eq!(rx.pop_slice(&mut out), Ok(2));
    same(&out[0], &batch[0]);
    same(&out[1], &batch[1]);

    let q = Box::new(Mpmc::<T, 2>::new());
    for seed in 0..2 {
        assert!(q.try_push(pattern(seed)).is_ok());
        assert!(q.try_push(pattern(seed + 100)).is_ok());
        same(&q.try_pop().unwrap(), &pattern::<T>(seed));
        same(&q.try_pop().unwrap(), &pattern::<T>(seed + 100));
    }

    // The item's bytes as a message: copied whole, and written in two parts in place (the
    // split falls inside a word for most sizes, so partial words are merged).
    let msgs = Box::new(MsgRing::<256>::new());
    let (mut mtx, mut mrx) = (msgs.producer().unwrap(), msgs.consumer().unwrap());
    let mut buf = [0u8; 64];
    for seed in 0..2 {
        let v = pattern::<T>(seed);
        let bytes = bytemuck::bytes_of(&v);
        mtx.try_send(bytes).unwrap();
        let n = mrx.try_recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], bytes);
        let split = bytes.len() / 2 + 1;
        let mut grant = mtx.try_reserve(bytes.len()).unwrap();
        grant.write_at(split.min(bytes.len()), &bytes[split.min(bytes.len())..]);
        grant.write_at(0, &bytes[..split.min(bytes.len())]);
        grant.commit();
        let msg = mrx.try_read().unwrap();
        let mut back = T::zeroed();
        msg.read_at(0, bytemuck::bytes_of_mut(&mut back));
        msg.release();
        same(&back, &v);
    }
}

/// A struct of mixed field widths and no padding, deriving all it needs.
#[derive(Clone, Copy, Pod, Zeroable, ShmSafe)]
#[bytemuck(crate = "shmsync::bytemuck")]
#[repr(C)]
struct Mixed {
    a: u8,
    b: u8,
    c: u16,
    d: u32,
    e: u64,
    f: [u16; 4],
}

#[test]
fn every_size_from_1_to_64_bytes_at_every_alignment() {
    check::<[u8; 1]>();
    check::<[u8; 2]>();
    check::<[u16; 1]>();
    check::<[u8; 3]>();
    check::<[u8; 4]>();
    check::<[u16; 2]>();
    check::<[u32; 1]>();
    check::<[u8; 5]>();
    check::<[u8; 6]>();
    check::<[u16; 3]>();
    check::<[u8; 7]>();
    check::<[u8; 8]>();
    check::<[u16; 4]>();
    check::<[u32; 2]>();
    check::<[u64; 1]>();
    check::<[u8; 9]>();
    check::<[u8; 10]>();
    check::<[u16; 5]>();
    check::<[u8; 11]>();
    check::<[u8; 12]>();
    check::<[u16; 6]>();
    check::<[u32; 3]>();
    check::<[u8; 13]>();
    check::<[u8; 14]>();
    check::<[u16; 7]>();
    check::<[u8; 15]>();
    check::<[u8; 16]>();
    check::<[u16; 8]>();
    check::<[u32; 4]>();
    check::<[u64; 2]>();
    check::<[u8; 17]>();
    check::<[u8; 18]>();
    check::<[u16; 9]>();
    check::<[u8; 19]>();
    check::<[u8; 20]>();
    check::<[u16; 10]>();
    check::<[u32; 5]>();
    check::<[u8; 21]>();
    check::<[u8; 22]>();
    check::<[u16; 11]>();
    check::<[u8; 23]>();
    check::<[u8; 24]>();
    check::<[u16; 12]>();
    check::<[u32; 6]>();
    check::<[u64; 3]>();
    check::<[u8; 25]>();
    check::<[u8; 26]>();
    check::<[u16; 13]>();
    check::<[u8; 27]>();
    check::<[u8; 28]>();
    check::<[u16; 14]>();
    check::<[u32; 7]>();
    check::<[u8; 29]>();
    check::<[u8; 30]>();
    check::<[u16; 15]>();
    check::<[u8; 31]>();
    check::<[u8; 32]>();
    check::<[u16; 16]>();
    check::<[u32; 8]>();
    check::<[u64; 4]>();
    check::<[u8; 33]>();
    check::<[u8; 34]>();
    check::<[u16; 17]>();
    check::<[u8; 35]>();
    check::<[u8; 36]>();
    check::<[u16; 18]>();
    check::<[u32; 9]>();
    check::<[u8; 37]>();
    check::<[u8; 38]>();
    check::<[u16; 19]>();
    check::<[u8; 39]>();
    check::<[u8; 40]>();
    check::<[u16; 20]>();
    check::<[u32; 10]>();
    check::<[u64; 5]>();
    check::<[u8; 41]>();
    check::<[u8; 42]>();
    check::<[u16; 21]>();
    check::<[u8; 43]>();
    check::<[u8; 44]>();
    check::<[u16; 22]>();
    check::<[u32; 11]>();
    check::<[u8; 45]>();
    check::<[u8; 46]>();
    check::<[u16; 23]>();
    check::<[u8; 47]>();
    check::<[u8; 48]>();
    check::<[u16; 24]>();
    check::<[u32; 12]>();
    check::<[u64; 6]>();
    check::<[u8; 49]>();
    check::<[u8; 50]>();
    check::<[u16; 25]>();
    check::<[u8; 51]>();
    check::<[u8; 52]>();
    check::<[u16; 26]>();
    check::<[u32; 13]>();
    check::<[u8; 53]>();
    check::<[u8; 54]>();
    check::<[u16; 27]>();
    check::<[u8; 55]>();
    check::<[u8; 56]>();
    check::<[u16; 28]>();
    check::<[u32; 14]>();
    check::<[u64; 7]>();
    check::<[u8; 57]>();
    check::<[u8; 58]>();
    check::<[u16; 29]>();
    check::<[u8; 59]>();
    check::<[u8; 60]>();
    check::<[u16; 30]>();
    check::<[u32; 15]>();
    check::<[u8; 61]>();
    check::<[u8; 62]>();
    check::<[u16; 31]>();
    check::<[u8; 63]>();
    check::<[u8; 64]>();
    check::<[u16; 32]>();
    check::<[u32; 16]>();
    check::<[u64; 8]>();
}

#[test]
fn a_derived_struct_of_mixed_widths() {
    assert_eq!(size_of::<Mixed>(), 24);
    check::<Mixed>();
    check::<[Mixed; 2]>();
    check::<f32>();
    check::<[f64; 3]>();
    check::<i16>();
}
