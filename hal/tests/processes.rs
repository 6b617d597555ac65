//! `wait` / `wake_one` / `wake_all` across processes that map one shared-memory object at
//! different addresses.
//!
//! Each child maps the object again with [`SharedMemory::map`] and uses only that new
//! mapping, after checking that its address differs from the mapping the parent uses (which
//! the child inherited at the parent's address). The parent proves from `/proc/<pid>` that
//! each child sleeps in the kernel's futex wait before it wakes it, so a lost wake (the
//! child never returns) or a wait that never slept (the child spins or returns at once)
//! fails the test. Children report through their exit code only (see `shmsync_hal::testing`:
//! a forked child of a threaded test binary must not allocate).
//!
//! Runs in the host and qemu-aarch64 lanes; Miri cannot fork or map MAP_SHARED.
#![cfg(all(unix, not(miri)))]

mod common;

use common::{LIMIT, await_futex_sleep, poll_until};
use shmsync_hal::atomic::{AtomicU32, Ordering};
use shmsync_hal::shm::{Mapping, SharedMemory};
use shmsync_hal::testing::{self, Child};
use shmsync_hal::{wait, wake_all, wake_one};
use std::time::Duration;

/// Word indexes in the shared page: the word waited on.
const WORD: usize = 0;
/// Per-child "I was woken" flags start here (one word per child).
const WOKEN: usize = 1;
/// Per-child records start here, three words each: the address of WORD in the child's own
/// mapping (low half, high half) for the parent's `/proc/<pid>/syscall` check, then a flag
/// set once the address is written.
const ADDR: usize = 4;

/// Child exit code: mapping the object again failed.
const EXIT_MAP_FAILED: i32 = 10;
/// Child exit code: the new mapping landed at the parent's address (it cannot: the
/// inherited mapping occupies it), so the test would not prove anything.
const EXIT_SAME_ADDRESS: i32 = 11;
/// Child exit code: woken, but the word held another value than the parent stored.
const EXIT_WRONG_VALUE: i32 = 12;

/// The `index`-th 32-bit word of `map`.
fn word(map: &Mapping, index: usize) -> &AtomicU32 {
    assert!(
        (index + 1) * 4 <= map.len(),
        "word {index} outside the mapping"
    );
    // SAFETY: the mapping is page-aligned, so `index * 4` is 4-byte aligned; it is in
    // bounds (checked above) and lives as long as `map`; shared memory is only ever
    // accessed through atomics, and AtomicU32 has the layout of a u32.
    unsafe { &*map.as_ptr().add(index * 4).cast::<AtomicU32>() }
}

/// Forks a child that maps `shm` afresh (refusing to run at `parent_map`'s address), waits
/// with no time limit while the shared word is 0, then sets its WOKEN flag; it exits 0 if
/// the word it saw was `want`.
fn fork_waiter(shm: &SharedMemory, parent_map: &Mapping, slot: usize, want: u32) -> Child {
    let parent_addr = parent_map.as_ptr() as usize;
    testing::fork(move || {
        let Ok(map) = shm.map() else {
            return EXIT_MAP_FAILED;
        };
        // The parent's mapping is also present here, inherited at the same address: a new
        // mapping of the same object necessarily lands elsewhere.
        if map.as_ptr() as usize == parent_addr {
            return EXIT_SAME_ADDRESS;
        }
        let w = word(&map, WORD);
        let addr = w as *const AtomicU32 as u64;
        word(&map, ADDR + 3 * slot).store(addr as u32, Ordering::Relaxed);
        word(&map, ADDR + 3 * slot + 1).store((addr >> 32) as u32, Ordering::Relaxed);
        word(&map, ADDR + 3 * slot + 2).store(1, Ordering::Release);
        while w.load(Ordering::Acquire) == 0 {
            wait(w, 0, None);
        }
        let seen = w.load(Ordering::Acquire);
        word(&map, WOKEN + slot).store(1, Ordering::Release);
        if seen == want { 0 } else { EXIT_WRONG_VALUE }
    })
}

/// Waits until child `slot` (process `child`) sleeps in a futex wait on WORD, at the
/// address WORD has in the child's mapping.
fn await_child_asleep(map: &Mapping, child: &Child, slot: usize) {
    let ready = word(map, ADDR + 3 * slot + 2);
    poll_until("child mapped the region", LIMIT, || {
        ready.load(Ordering::Acquire) == 1
    });
    let lo = word(map, ADDR + 3 * slot).load(Ordering::Relaxed);
    let hi = word(map, ADDR + 3 * slot + 1).load(Ordering::Relaxed);
    let addr = (u64::from(hi) << 32) | u64::from(lo);
    assert_ne!(
        addr,
        map.as_ptr() as u64,
        "the child used the parent's address"
    );
    await_futex_sleep(child.pid(), Some(child.pid()), addr);
}

#[test]
fn wake_one_wakes_a_waiter_blocked_in_another_process() {
    let shm = SharedMemory::create(4096).expect("shared memory");
    let map = shm.map().expect("map");
    let child = fork_waiter(&shm, &map, 0, 1);
    await_child_asleep(&map, &child, 0);
    word(&map, WORD).store(1, Ordering::Release);
    wake_one(word(&map, WORD));
    child.join(LIMIT);
    assert_eq!(word(&map, WOKEN).load(Ordering::Acquire), 1);
}

#[test]
fn wake_all_wakes_waiters_in_two_processes() {
    let shm = SharedMemory::create(4096).expect("shared memory");
    let map = shm.map().expect("map");
    let children = [0, 1].map(|slot| fork_waiter(&shm, &map, slot, 2));
    for (slot, c) in children.iter().enumerate() {
        await_child_asleep(&map, c, slot);
    }
    word(&map, WORD).store(2, Ordering::Release);
    // One call must reach both processes.
    wake_all(word(&map, WORD));
    for c in children {
        c.join(LIMIT);
    }
}

#[test]
fn wake_one_across_processes_wakes_exactly_one() {
    let shm = SharedMemory::create(4096).expect("shared memory");
    let map = shm.map().expect("map");
    let children = [0, 1].map(|slot| fork_waiter(&shm, &map, slot, 3));
    for (slot, c) in children.iter().enumerate() {
        await_child_asleep(&map, c, slot);
    }
    word(&map, WORD).store(3, Ordering::Release);
    wake_one(word(&map, WORD));
    let woken = |slot: usize| word(&map, WOKEN + slot).load(Ordering::Acquire) == 1;
    poll_until("one child woken", LIMIT, || woken(0) || woken(1));
    // The other child still sleeps in the kernel although the word changed: only a wake
    // ends a futex wait, and there was exactly one.
    let asleep = usize::from(woken(0));
    std::thread::sleep(Duration::from_millis(50));
    assert!(!woken(asleep), "wake_one woke both processes");
    await_child_asleep(&map, &children[asleep], asleep);
    wake_one(word(&map, WORD));
    for c in children {
        c.join(LIMIT);
    }
}

/// Parent and child hand a turn back and forth through one word, each at its own mapping,
/// each sleeping with no time limit when the turn is not its own: one lost wake across the
/// process boundary hangs both, and the child's time limit fails the test.
#[test]
fn cross_process_ping_pong_never_loses_a_wake() {
    const ROUNDS: u32 = 5_000;
    let shm = SharedMemory::create(4096).expect("shared memory");
    let map = shm.map().expect("map");
    let parent_addr = map.as_ptr() as usize;

    /// One side: waits for turns `start`, `start + 2`, ..., passing each on.
    fn play(w: &AtomicU32, start: u32) {
        for i in 0..ROUNDS {
            let mine = start + 2 * i;
            loop {
                let v = w.load(Ordering::Acquire);
                if v == mine {
                    break;
                }
                wait(w, v, None);
            }
            w.store(mine + 1, Ordering::Release);
            wake_one(w);
        }
    }

    let child = testing::fork(|| {
        let Ok(m) = shm.map() else {
            return EXIT_MAP_FAILED;
        };
        if m.as_ptr() as usize == parent_addr {
            return EXIT_SAME_ADDRESS;
        }
        play(word(&m, WORD), 1);
        0
    });
    // The parent plays on a thread, so a lost wake cannot hang the test: the child's
    // time limit fails it and the kill of the child leaves the thread to the test's end.
    let parent = std::thread::spawn(move || {
        play(word(&map, WORD), 0);
        map
    });
    child.join(LIMIT);
    let map = common::join_within(parent, LIMIT);
    // Both sides are done: the child's last turn was the final one.
    assert_eq!(word(&map, WORD).load(Ordering::Acquire), 2 * ROUNDS);
}
