//! `attach_timeout` returns soon after the region becomes READY even when the creator's
//! wake never reaches the attacher (issue B2: on the Mach backend the attacher's header word
//! is in no registered region, so it parks in its private table while the creator wakes
//! through the region's). Forced here on any backend: the state word is set back to
//! INITIALISING and then to READY with a plain store and no wake.
#![cfg(all(unix, not(miri)))]

use shmsync::hal::atomic::{AtomicU32, Ordering};
use shmsync::hal::shm::SharedMemory;
use shmsync::{ShmSafe, attach_timeout, init};
use std::time::{Duration, Instant};

#[repr(C)]
struct Root {
    x: AtomicU32,
}
// SAFETY: one AtomicU32: repr(C), zero is valid, any bit pattern is valid.
unsafe impl ShmSafe for Root {
    const TAG: u64 = shmsync::tag(b"region_attach_recheck::Root v1");
}

/// The header's `state` word: the second u32 of the header (magic, state, ...).
const STATE_OFFSET: usize = 4;
const INITIALISING: u32 = 1;
const READY: u32 = 2;

#[test]
fn attacher_returns_soon_after_ready_without_a_wake() {
    let shm = SharedMemory::create(1 << 16).unwrap();
    let (a, b) = (shm.map().unwrap(), shm.map().unwrap());
    // SAFETY: live, page-aligned mappings used only through shmsync.
    let creator = unsafe { init::<Root>(a.as_ptr(), a.len()) }.unwrap();
    // SAFETY: in-bounds, 4-aligned word of the header, which is all atomics.
    let state = unsafe { &*(a.as_ptr().add(STATE_OFFSET) as *const AtomicU32) };
    assert_eq!(state.load(Ordering::Acquire), READY);
    state.store(INITIALISING, Ordering::SeqCst);
    let (ptr, len) = (b.as_ptr() as usize, b.len());
    let timeout = Duration::from_secs(60);
    let attacher = std::thread::spawn(move || {
        let start = Instant::now();
        // SAFETY: the mapping outlives the thread (joined below).
        let r = unsafe { attach_timeout::<Root>(ptr as *mut u8, len, timeout) };
        (r.is_ok(), start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(200));
    state.store(READY, Ordering::Release); // no wake: the wake "never arrives"
    let (ok, took) = attacher.join().unwrap();
    assert!(ok, "attach after READY failed");
    // Generous for a loaded machine; the old code slept the whole 60 s.
    assert!(took < Duration::from_secs(20), "attacher slept {took:?}");
    creator.x.store(1, Ordering::Relaxed);
}
