//! Helpers shared by the `rings_*` integration tests.
#![allow(dead_code)]

/// `release` items in optimised builds, `debug` in debug builds, `miri` under Miri: the
/// acceptance counts are for `cargo test --release`; debug and Miri runs scale down.
pub const fn scaled(release: u64, debug: u64, miri: u64) -> u64 {
    if cfg!(miri) {
        miri
    } else if cfg!(debug_assertions) {
        debug
    } else {
        release
    }
}

/// A small, fast, deterministic PRNG (xorshift64*), so failures replay from the seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The item expected at position `i` of a stream: not just `i`, so that a slot read from
/// the wrong lap, or a torn or zeroed slot, does not pass by accident.
pub const fn item(i: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555_0000_aaaa_ffff
}

#[cfg(all(unix, not(miri)))]
pub mod shm {
    use shmsync::ShmSafe;
    use shmsync::hal::shm::{Mapping, SharedMemory};
    use shmsync::region::required_len;

    /// A fresh shared-memory object holding an initialised region of root type `T`, and
    /// the creator's mapping.
    pub fn create<T: ShmSafe>() -> (SharedMemory, Mapping) {
        let shm = SharedMemory::create(required_len::<T>()).expect("create shared memory");
        let map = shm.map().expect("map");
        // SAFETY: fresh object, one creator, nobody else uses it yet.
        unsafe { shmsync::init::<T>(map.as_ptr(), map.len()) }.expect("init region");
        (shm, map)
    }

    /// The root of a region in `map` (a second mapping: a different address).
    pub fn attach<T: ShmSafe>(map: &Mapping) -> &T {
        // SAFETY: the mapping is live and read/write for as long as `map` is borrowed.
        unsafe { shmsync::attach::<T>(map.as_ptr(), map.len()) }
            .expect("attach region")
            .get()
    }
}
