//! Region header: creation, attachment at other addresses and in other processes, and every
//! attach error, including random bytes over the header.

use shmsync::hal::atomic::{AtomicU32, Ordering};
use shmsync::region::{self, HEADER_SIZE, REGION_ALIGN, RegionError};
use shmsync::{ShmSafe, attach, init};
use std::time::Duration;

#[repr(C)]
struct Root {
    a: AtomicU32,
    b: [u32; 7],
}
// SAFETY: repr(C), fixed-width fields, zero and any bit pattern valid.
unsafe impl ShmSafe for Root {
    const TAG: u64 = shmsync::tag(b"tests::Root v1");
}

#[repr(C)]
struct Other {
    a: AtomicU32,
    b: [u32; 7],
}
// SAFETY: as for Root; same size, different tag.
unsafe impl ShmSafe for Other {
    const TAG: u64 = shmsync::tag(b"tests::Other v1");
}

#[repr(C)]
struct Big {
    a: [u64; 64],
}
// SAFETY: plain integers.
unsafe impl ShmSafe for Big {
    const TAG: u64 = shmsync::tag(b"tests::Big v1");
}

/// Heap memory aligned for regions (used where no cross-process mapping is needed, so the
/// test also runs under Miri).
#[repr(C, align(128))]
struct Buf([u8; 4096]);

fn buf() -> Box<Buf> {
    Box::new(Buf([0; 4096]))
}

#[test]
fn init_then_attach_sees_same_root_at_same_place() {
    let mut b = buf();
    let p = b.0.as_mut_ptr();
    // SAFETY: `b` outlives both regions and is only used through shmsync.
    let created = unsafe { init::<Root>(p, 4096) }.unwrap();
    created.a.store(7, Ordering::Relaxed);
    // SAFETY: as above.
    let attached = unsafe { attach::<Root>(p, 4096) }.unwrap();
    assert_eq!(attached.a.load(Ordering::Relaxed), 7);
    assert_eq!(
        attached.get() as *const Root as usize - p as usize,
        region::ROOT_ALIGN,
        "root sits at the first 128-byte boundary after the 64-byte header"
    );
    assert_eq!(region::required_len::<Root>(), 128 + 32);
}

/// `attach` on test memory. Every pointer the tests pass is either into a live `Buf` or
/// deliberately invalid (null / misaligned), which `attach` rejects before touching it.
fn att<T: ShmSafe>(p: *mut u8, len: usize) -> Result<(), RegionError> {
    // SAFETY: see above; `attach` validates the pointer before reading through it.
    unsafe { attach::<T>(p, len) }.map(|_| ())
}

/// `init` on test memory, with the same rules as `att`.
fn ini<T: ShmSafe>(p: *mut u8, len: usize) -> Result<(), RegionError> {
    // SAFETY: see `att`; the test memory has no other users while `init` runs.
    unsafe { init::<T>(p, len) }.map(|_| ())
}

/// The bytes of a freshly created `Root` region, copied into new memory that no atomic
/// operation has touched yet, so a test can corrupt them with plain writes before
/// attaching (Miri forbids mixing plain and atomic writes on one location).
fn created_copy() -> Box<Buf> {
    let mut src = buf();
    let sp = src.0.as_mut_ptr();
    ini::<Root>(sp, 4096).unwrap();
    let mut dst = buf();
    // SAFETY: both buffers are live, 4096 bytes, distinct; the source has no other users.
    unsafe { core::ptr::copy_nonoverlapping(sp, dst.0.as_mut_ptr(), 4096) };
    dst
}

#[test]
fn every_attach_error_is_reported() {
    let mut b = buf();
    let p = b.0.as_mut_ptr();
    // Zero memory: nobody created a region.
    assert_eq!(att::<Root>(p, 4096), Err(RegionError::NotReady));
    // Null and misaligned pointers.
    let misaligned = Err(RegionError::Misaligned {
        required: REGION_ALIGN,
    });
    assert_eq!(att::<Root>(core::ptr::null_mut(), 4096), misaligned);
    assert_eq!(att::<Root>(p.wrapping_add(8), 4000), misaligned);
    assert_eq!(ini::<Root>(p.wrapping_add(4), 4000), misaligned);
    // Too small for the header, and for the root.
    assert_eq!(
        att::<Root>(p, 10),
        Err(RegionError::TooSmall {
            required: HEADER_SIZE,
            actual: 10
        })
    );
    assert_eq!(
        ini::<Big>(p, 200),
        Err(RegionError::TooSmall {
            required: 128 + 512,
            actual: 200
        })
    );
    ini::<Root>(p, 4096).unwrap();
    assert_eq!(
        att::<Root>(p, 150),
        Err(RegionError::TooSmall {
            required: 160,
            actual: 150
        })
    );
    // Another root type of the same size.
    assert!(matches!(
        att::<Other>(p, 4096),
        Err(RegionError::LayoutMismatch {
            region_size: 32,
            our_size: 32,
            ..
        })
    ));
    // A creator speaking another wake protocol.
    // SAFETY: `p` is the start of the live region created above.
    unsafe { region::forge_protocol_for_tests(p, 2) };
    assert!(matches!(
        att::<Root>(p, 4096),
        Err(RegionError::ProtocolMismatch { region: 2, .. })
    ));
    // Wrong version: bump the version word (offset 8); the checksum no longer matches
    // either, but the version is reported first because it explains more.
    let mut c = created_copy();
    c.0[8] = 9;
    assert_eq!(
        att::<Root>(c.0.as_mut_ptr(), 4096),
        Err(RegionError::VersionMismatch {
            region: 9,
            ours: region::ABI_VERSION
        })
    );
    // Wrong magic.
    let mut c = created_copy();
    c.0[0] = b'X';
    assert!(matches!(
        att::<Root>(c.0.as_mut_ptr(), 4096),
        Err(RegionError::BadMagic { .. })
    ));
    // A flipped bit in the root offset is caught by the checksum.
    let mut c = created_copy();
    c.0[28] ^= 0x40;
    assert_eq!(
        att::<Root>(c.0.as_mut_ptr(), 4096),
        Err(RegionError::Corrupted)
    );
    // The copy itself, uncorrupted, attaches.
    let mut c = created_copy();
    assert_eq!(att::<Root>(c.0.as_mut_ptr(), 4096), Ok(()));
    // Errors print something a person can act on.
    let msg = RegionError::TooSmall {
        required: 160,
        actual: 150,
    }
    .to_string();
    assert!(msg.contains("160") && msg.contains("150"), "{msg}");
}

#[test]
fn init_zeroes_previous_contents() {
    let mut b = buf();
    b.0.fill(0xAB);
    assert_eq!(b.0[100], 0xAB);
    let p = b.0.as_mut_ptr();
    // SAFETY: `b` is live and only used through shmsync.
    let r = unsafe { init::<Root>(p, 4096) }.unwrap();
    assert_eq!(r.a.load(Ordering::Relaxed), 0);
    assert_eq!(r.b, [0; 7]);
}

/// Tiny xorshift PRNG: deterministic, no dependency.
fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn random_bytes_over_the_header_give_errors_not_panics() {
    let iterations = if cfg!(miri) { 60 } else { 20_000 };
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let template = created_copy();
    let mut accepted = 0;
    for i in 0..iterations {
        let mut b = buf();
        b.0.copy_from_slice(&template.0);
        // Scribble 1–8 random bytes (every tenth time the whole header) at random offsets.
        if i % 10 == 0 {
            for byte in &mut b.0[..HEADER_SIZE] {
                *byte = rng(&mut seed) as u8;
            }
        } else {
            for _ in 0..1 + rng(&mut seed) % 8 {
                let at = (rng(&mut seed) % HEADER_SIZE as u64) as usize;
                b.0[at] = rng(&mut seed) as u8;
            }
        }
        let p = b.0.as_mut_ptr();
        // SAFETY: `b` is live and only used through shmsync.
        match unsafe { attach::<Root>(p, 4096) } {
            Ok(r) => {
                // Only possible when the scribble changed nothing that is checked (e.g. a
                // byte rewritten to its old value).
                accepted += 1;
                assert_eq!(r.get() as *const Root as usize, p as usize + 128);
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    assert!(
        accepted < iterations / 2,
        "corruption went unnoticed {accepted} times"
    );
}

#[cfg(not(miri))] // Miri cannot fork or map MAP_SHARED: runs in the host and qemu-aarch64 lanes.
mod cross_process {
    use super::*;
    use shmsync::hal::shm::SharedMemory;
    use shmsync::hal::testing::fork;

    #[test]
    fn child_attaches_at_another_address_and_sees_parent_writes() {
        let shm = SharedMemory::create(8192).unwrap();
        let parent_map = shm.map().unwrap();
        // SAFETY: the mapping is live for the test and used only through shmsync.
        let root = unsafe { init::<Root>(parent_map.as_ptr(), parent_map.len()) }.unwrap();
        root.a.store(41, Ordering::Release);
        let parent_addr = parent_map.as_ptr() as usize;
        let child = fork(|| {
            let m = shm.map().unwrap();
            if m.as_ptr() as usize == parent_addr {
                return 2; // not at another address: the test would prove nothing
            }
            // SAFETY: live mapping used only through shmsync.
            let Ok(r) = (unsafe { attach::<Root>(m.as_ptr(), m.len()) }) else {
                return 3;
            };
            if r.a.load(Ordering::Acquire) != 41 {
                return 4;
            }
            r.a.store(42, Ordering::Release);
            0
        });
        child.join(Duration::from_secs(20));
        assert_eq!(root.a.load(Ordering::Acquire), 42);
    }

    #[test]
    fn attacher_waiting_for_a_slow_creator_gets_the_region() {
        let shm = SharedMemory::create(8192).unwrap();
        let child = fork(|| {
            let m = shm.map().unwrap();
            // SAFETY: live mapping used only through shmsync.
            let early = unsafe { attach::<Root>(m.as_ptr(), m.len()) };
            if early.is_ok() {
                return 5; // the parent has not created it yet: must not succeed
            }
            // SAFETY: as above.
            match unsafe {
                region::attach_timeout::<Root>(m.as_ptr(), m.len(), Duration::from_secs(20))
            } {
                Ok(r) if r.a.load(Ordering::Acquire) == 0 => 0,
                Ok(_) => 6,
                Err(_) => 7,
            }
        });
        std::thread::sleep(Duration::from_millis(50));
        let m = shm.map().unwrap();
        ini::<Root>(m.as_ptr(), m.len()).unwrap();
        child.join(Duration::from_secs(30));
    }

    #[test]
    fn attach_timeout_on_an_empty_region_times_out_as_not_ready() {
        let shm = SharedMemory::create(8192).unwrap();
        let m = shm.map().unwrap();
        let start = std::time::Instant::now();
        // SAFETY: live mapping used only through shmsync.
        let r = unsafe {
            region::attach_timeout::<Root>(m.as_ptr(), m.len(), Duration::from_millis(30))
        };
        assert_eq!(r.unwrap_err(), RegionError::NotReady);
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}

// ---------------------------------------------------------------- init refuses, writes nothing

/// A snapshot of every byte of the test memory (plain reads: this thread made every
/// earlier write, atomic or not).
fn bytes(b: &Buf) -> Vec<u8> {
    b.0.to_vec()
}

#[test]
fn second_init_on_a_live_region_is_refused_and_writes_nothing() {
    let mut b = buf();
    let p = b.0.as_mut_ptr();
    // SAFETY: `b` outlives the region and is only used through shmsync.
    let first = unsafe { init::<Root>(p, 4096) }.unwrap();
    first.a.store(7, Ordering::Relaxed);
    let before = bytes(&b);
    let live = RegionError::AlreadyInitialised {
        ready: true,
        creator_pid: shmsync::hal::process::current_pid(),
    };
    let refused = Err(live);
    assert_eq!(ini::<Root>(p, 4096), refused);
    // Another root type is refused the same way: the live region is not ours to overwrite.
    assert_eq!(ini::<Big>(p, 4096), refused);
    assert_eq!(
        bytes(&b),
        before,
        "a refused init changed the region's bytes"
    );
    // SAFETY: as above.
    let again = unsafe { attach::<Root>(p, 4096) }.unwrap();
    assert_eq!(again.a.load(Ordering::Relaxed), 7);
    let msg = live.to_string();
    assert!(msg.contains("replace"), "{msg}");
}

#[test]
fn init_while_another_init_is_in_progress_is_refused() {
    // A region whose state word says INITIALISING (1): a creator is at work, or died
    // part-way. `init` must not zero-fill it under a live creator.
    let mut c = created_copy();
    c.0[4..8].copy_from_slice(&1u32.to_le_bytes());
    let before = bytes(&c);
    assert!(matches!(
        ini::<Root>(c.0.as_mut_ptr(), 4096),
        Err(RegionError::AlreadyInitialised { ready: false, .. })
    ));
    assert_eq!(bytes(&c), before);
}

#[test]
fn ready_state_without_the_magic_is_not_a_live_region() {
    // Old bytes that happen to hold READY (2) in the state word but no shmsync magic are
    // not a region: init overwrites them.
    let mut b = buf();
    b.0.fill(0xAB);
    b.0[4..8].copy_from_slice(&2u32.to_le_bytes());
    let p = b.0.as_mut_ptr();
    assert_eq!(ini::<Root>(p, 4096), Ok(()));
    assert_eq!(att::<Root>(p, 4096), Ok(()));
}

#[test]
fn replace_recreates_a_live_region() {
    let mut b = buf();
    let p = b.0.as_mut_ptr();
    // SAFETY: `b` outlives the regions and is only used through shmsync.
    let first = unsafe { init::<Root>(p, 4096) }.unwrap();
    first.a.store(7, Ordering::Relaxed);
    let replace = region::Options {
        replace: true,
        ..Default::default()
    };
    // SAFETY: as above; nothing uses the old region any more (`first` is not used again).
    let second = unsafe { region::init_with::<Other>(p, 4096, &replace) }.unwrap();
    assert_eq!(
        second.a.load(Ordering::Relaxed),
        0,
        "replaced region is zero-filled"
    );
    assert_eq!(att::<Other>(p, 4096), Ok(()));
    assert!(matches!(
        att::<Root>(p, 4096),
        Err(RegionError::LayoutMismatch { .. })
    ));
}

/// A root aligned to more than a region's base must be.
#[derive(ShmSafe)]
#[repr(C, align(256))]
struct Aligned256 {
    a: AtomicU32,
}

#[repr(C, align(256))]
struct Buf256([u8; 4096 + 256]);

#[test]
fn misaligned_root_is_refused_before_anything_is_written() {
    let mut b = Box::new(Buf256([0xAB; 4096 + 256]));
    // 128-byte aligned (so the base passes its 64-byte check), but not 256-byte aligned:
    // the root, at offset 256, would be misaligned.
    let p = b.0.as_mut_ptr().wrapping_add(128);
    assert_eq!(
        ini::<Aligned256>(p, 4096),
        Err(RegionError::Misaligned { required: 256 })
    );
    assert!(
        b.0.iter().all(|&x| x == 0xAB),
        "init wrote before it refused the misaligned root"
    );
    // At a 256-aligned base the same root is fine.
    assert_eq!(ini::<Aligned256>(b.0.as_mut_ptr(), 4096), Ok(()));
}

// ---------------------------------------------------------------- derived layout tags

/// The "old peer": a root with a nested parameter struct.
mod v1 {
    use shmsync::hal::atomic::AtomicU32;
    use shmsync::{Mutex, ShmSafe};

    #[derive(ShmSafe)]
    #[repr(C)]
    pub struct Params {
        pub gain: u32,
        pub pan: u32,
    }

    #[derive(ShmSafe)]
    #[repr(C)]
    pub struct Shared {
        pub params: Mutex<Params>,
        pub count: AtomicU32,
    }
}

/// The same definitions in another module (another program): the same tag.
mod v1_again {
    use shmsync::hal::atomic::AtomicU32;
    use shmsync::{Mutex, ShmSafe};

    #[derive(ShmSafe)]
    #[repr(C)]
    pub struct Params {
        pub gain: u32,
        pub pan: u32,
    }

    #[derive(ShmSafe)]
    #[repr(C)]
    pub struct Shared {
        pub params: Mutex<Params>,
        pub count: AtomicU32,
    }
}

/// "New peers": the nested struct changed, the root's own fields did not, sizes agree.
macro_rules! changed_params {
    ($module:ident, $($field:ident: $ty:ty),*) => {
        mod $module {
            use shmsync::hal::atomic::AtomicU32;
            use shmsync::{Mutex, ShmSafe};

            #[derive(ShmSafe)]
            #[repr(C)]
            pub struct Params {
                $(pub $field: $ty),*
            }

            #[derive(ShmSafe)]
            #[repr(C)]
            pub struct Shared {
                pub params: Mutex<Params>,
                pub count: AtomicU32,
            }
        }
    };
}
changed_params!(retyped, gain: f32, pan: u32);
changed_params!(renamed, volume: u32, pan: u32);
changed_params!(reordered, pan: u32, gain: u32);

#[test]
fn a_changed_nested_struct_changes_the_root_tag_and_attach_refuses_it() {
    let tags = [
        <v1::Shared as ShmSafe>::TAG,
        <retyped::Shared as ShmSafe>::TAG,
        <renamed::Shared as ShmSafe>::TAG,
        <reordered::Shared as ShmSafe>::TAG,
    ];
    for (i, a) in tags.iter().enumerate() {
        for b in &tags[i + 1..] {
            assert_ne!(a, b, "two different layouts share a tag: {tags:x?}");
        }
    }
    assert_eq!(
        <v1::Shared as ShmSafe>::TAG,
        <v1_again::Shared as ShmSafe>::TAG
    );
    assert_eq!(
        core::mem::size_of::<v1::Shared>(),
        core::mem::size_of::<retyped::Shared>()
    );

    let mut b = buf();
    let p = b.0.as_mut_ptr();
    ini::<v1::Shared>(p, 4096).unwrap();
    // The same layout, defined elsewhere, attaches.
    assert_eq!(att::<v1_again::Shared>(p, 4096), Ok(()));
    let size = core::mem::size_of::<v1::Shared>() as u32;
    for (our_tag, result) in [
        (tags[1], att::<retyped::Shared>(p, 4096)),
        (tags[2], att::<renamed::Shared>(p, 4096)),
        (tags[3], att::<reordered::Shared>(p, 4096)),
    ] {
        assert_eq!(
            result,
            Err(RegionError::LayoutMismatch {
                region_size: size,
                our_size: size,
                region_tag: tags[0],
                our_tag,
            })
        );
    }
}

/// The derive on generic, tuple and unit structs: a bound per field type, offsets by index.
#[derive(ShmSafe)]
#[repr(C)]
struct Pair<T> {
    first: T,
    second: T,
}

#[derive(ShmSafe)]
#[repr(transparent)]
struct Wrapped(u32);

#[derive(ShmSafe)]
#[repr(C)]
struct Marker;

#[test]
fn derived_tags_of_generic_tuple_and_unit_structs() {
    assert_ne!(<Pair<u32> as ShmSafe>::TAG, <Pair<f32> as ShmSafe>::TAG);
    assert_ne!(<Pair<u32> as ShmSafe>::TAG, <Pair<u64> as ShmSafe>::TAG);
    assert_ne!(<Wrapped as ShmSafe>::TAG, <u32 as ShmSafe>::TAG);
    assert_ne!(<Marker as ShmSafe>::TAG, shmsync::tag(b""));
    // A derived root attaches like a hand-written one.
    let mut b = buf();
    let p = b.0.as_mut_ptr();
    ini::<Pair<AtomicU32>>(p, 4096).unwrap();
    assert_eq!(att::<Pair<AtomicU32>>(p, 4096), Ok(()));
    assert!(matches!(
        att::<Pair<u32>>(p, 4096),
        Err(RegionError::LayoutMismatch { .. })
    ));
}

/// `#[shmsync(crate = "...")]` for a crate that names shmsync differently.
mod renamed_dependency {
    use shmsync as sm;

    #[derive(sm::ShmSafe)]
    #[shmsync(crate = "sm")]
    #[repr(C)]
    pub struct Root {
        pub a: sm::hal::atomic::AtomicU32,
    }
}

#[test]
fn the_derive_takes_the_crate_path_from_an_attribute() {
    assert_ne!(<renamed_dependency::Root as ShmSafe>::TAG, 0);
}
