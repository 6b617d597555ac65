//! The Mach backend on macOS itself: private-table wait/wake between threads, and the
//! rendezvous between two real processes (a creator and a helper process spawned from
//! this test binary) — wake across processes, orderly leave, and reclamation after the
//! helper is killed (dead-name notification).
//!
//! **Mac-only lane**: `cargo test -p shmsync-hal --features std,force-mach --test
//! mach_apple` on macOS (any version). On the Linux build machine these tests are only
//! compiled and linked (`cargo zigbuild --tests --target aarch64-apple-darwin`), not run.
//! Not under Miri (no Mach semaphores, no `MAP_SHARED`).
#![cfg(all(target_vendor = "apple", not(miri)))]

use shmsync_hal::Wait;
use shmsync_hal::atomic::{AtomicU32, Ordering};
use shmsync_hal::clock::Instant;
use shmsync_hal::mach::table::{P_FREE, P_LIVE};
use shmsync_hal::mach::{self, MachError, WaiterTable};
use shmsync_hal::shm::{Mapping, SharedMemory};
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::Duration;

/// The tests of this file run one at a time: the port-leak test counts this task's port
/// names, which the others would change.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

unsafe extern "C" {
    static mach_task_self_: u32;
    fn mach_port_names(
        task: u32,
        names: *mut *mut u32,
        names_count: *mut u32,
        types: *mut *mut u32,
        types_count: *mut u32,
    ) -> i32;
    fn vm_deallocate(task: u32, address: usize, size: usize) -> i32;
}

/// How many port names this task holds (`mach_port_names`).
fn port_name_count() -> u32 {
    let (mut names, mut n, mut types, mut t) = (std::ptr::null_mut(), 0, std::ptr::null_mut(), 0);
    // SAFETY: valid out pointers; the arrays are vm_allocate'd for us and freed below.
    unsafe {
        let task = mach_task_self_;
        assert_eq!(
            mach_port_names(task, &mut names, &mut n, &mut types, &mut t),
            0
        );
        vm_deallocate(task, names as usize, n as usize * 4);
        vm_deallocate(task, types as usize, t as usize * 4);
    }
    n
}

const LEN: usize = 16384;
const WORDS_OFF: usize = 8192;
const LIMIT: Duration = Duration::from_secs(30);
/// Set in the helper's environment: `<shm name>,<mode>`.
const HELPER_ENV: &str = "SHMSYNC_MACH_HELPER";

fn table(m: &Mapping) -> &WaiterTable {
    // SAFETY: offset 0 of a page-aligned mapping of LEN zeroed bytes; atomics only.
    unsafe { &*(m.as_ptr() as *const WaiterTable) }
}

fn word(m: &Mapping) -> &AtomicU32 {
    // SAFETY: aligned, in bounds.
    unsafe { &*(m.as_ptr().add(WORDS_OFF) as *const AtomicU32) }
}

fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn spawn_helper(shm_name: &str, mode: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, format!("{shm_name},{mode}"))
        .spawn()
        .expect("spawn helper")
}

/// Not a test of its own: the body of the helper process (returns at once otherwise).
#[test]
fn helper_process() {
    let Ok(arg) = std::env::var(HELPER_ENV) else {
        return;
    };
    let (name, mode) = arg.split_once(',').unwrap();
    let shm = SharedMemory::open_named(name).unwrap();
    let m = shm.map().unwrap();
    // SAFETY: the mapping outlives the participant (left below, or killed).
    let p = unsafe { mach::join(m.as_ptr(), LEN, table(&m), false, None) }.expect("attach");
    let w = word(&m);
    let until = Instant::now().checked_add(LIMIT);
    while w.load(Ordering::Acquire) == 0 {
        assert_eq!(
            mach::wait_until(w, 0, until),
            Wait::Woken,
            "helper timed out"
        );
    }
    if mode == "leave" {
        p.leave();
    }
}

#[test]
fn private_table_wait_and_wake_between_threads() {
    let _serial = serial();
    let w: &'static AtomicU32 = Box::leak(Box::new(AtomicU32::new(0)));
    let short = Instant::now().checked_add(Duration::from_millis(5));
    assert_eq!(mach::wait_until(w, 0, short), Wait::TimedOut);
    let h = std::thread::spawn(|| mach::wait_until(w, 0, Instant::now().checked_add(LIMIT)));
    std::thread::sleep(Duration::from_millis(50));
    w.store(1, Ordering::SeqCst);
    mach::wake(w, true);
    assert_eq!(h.join().unwrap(), Wait::Woken);
}

#[test]
fn join_rejects_an_area_outside_the_region() {
    let _serial = serial();
    let shm = SharedMemory::create(LEN).unwrap();
    let m = shm.map().unwrap();
    // SAFETY: join fails before touching anything.
    let r = unsafe { mach::join(m.as_ptr(), 100, table(&m), true, None) };
    assert_eq!(r.unwrap_err(), MachError::BadArea);
}

#[test]
fn creator_wakes_an_attacher_process_which_then_leaves() {
    let _serial = serial();
    let name = format!("/shmsync-ma{}", std::process::id());
    let shm = SharedMemory::create_named(&name, LEN).unwrap();
    let m = shm.map().unwrap();
    // SAFETY: the mapping outlives the participant.
    let p = unsafe { mach::join(m.as_ptr(), LEN, table(&m), true, None) }.expect("create");
    let mut child = spawn_helper(&name, "leave");
    eventually("the helper to arm", || table(&m).armed() == 1);
    word(&m).store(1, Ordering::SeqCst);
    assert_eq!(
        mach::wake(word(&m), false),
        1,
        "one semaphore signal to the helper"
    );
    assert!(child.wait().unwrap().success());
    let other = 1 - p.index();
    assert_eq!(
        table(&m).participant(other).unwrap().state,
        P_FREE,
        "it left"
    );
    p.leave();
}

#[test]
fn a_killed_attacher_is_reclaimed_through_its_dead_name() {
    let _serial = serial();
    let name = format!("/shmsync-mk{}", std::process::id());
    let shm = SharedMemory::create_named(&name, LEN).unwrap();
    let m = shm.map().unwrap();
    // SAFETY: the mapping outlives the participant.
    let p = unsafe { mach::join(m.as_ptr(), LEN, table(&m), true, None) }.expect("create");
    let mut child = spawn_helper(&name, "stay");
    eventually("the helper to arm", || table(&m).armed() == 1);
    let other = 1 - p.index();
    assert_eq!(table(&m).participant(other).unwrap().state, P_LIVE);
    child.kill().unwrap();
    child.wait().unwrap();
    eventually("the dead helper to be reclaimed", || {
        table(&m).participant(other).unwrap().state == P_FREE && table(&m).armed() == 0
    });
    assert_eq!(table(&m).busy_slots(), 0);
    assert_eq!(table(&m).reclaimed_slots(), 1);
    p.leave();
}

/// Joining, exchanging rights with a helper that leaves, and with a helper that is
/// killed, and leaving, brings this task's port-name count back to where it was: every
/// right received was released exactly once, every notification request cancelled or
/// consumed.
#[test]
fn port_names_do_not_leak_across_join_leave_and_peer_death() {
    let _serial = serial();
    let name = format!("/shmsync-ml{}", std::process::id());
    let shm = SharedMemory::create_named(&name, LEN).unwrap();
    let m = shm.map().unwrap();
    // Warm-up: the control port, its port set and the control thread live for the process.
    // SAFETY: the mapping outlives the participant.
    unsafe { mach::join(m.as_ptr(), LEN, table(&m), true, None) }
        .expect("warm-up")
        .leave();
    let baseline = port_name_count();
    for mode in ["leave", "stay"] {
        word(&m).store(0, Ordering::SeqCst);
        // SAFETY: as above.
        let p = unsafe { mach::join(m.as_ptr(), LEN, table(&m), true, None) }.expect("create");
        let mut child = spawn_helper(&name, mode);
        eventually("the helper to arm", || table(&m).armed() == 1);
        if mode == "leave" {
            word(&m).store(1, Ordering::SeqCst);
            assert_eq!(mach::wake(word(&m), false), 1);
            assert!(child.wait().unwrap().success());
        } else {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        let other = 1 - p.index();
        eventually("the helper's entry to be freed", || {
            table(&m).participant(other).unwrap().state == P_FREE && table(&m).armed() == 0
        });
        p.leave();
        // Notifications may still be in flight for a moment: allow the control thread to
        // process them before counting.
        eventually("the port names to return to the baseline", || {
            port_name_count() == baseline
        });
    }
}
