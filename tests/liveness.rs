//! Owner death without false positives, across real processes: a live holder that cannot
//! be seen (another pid namespace, no `/proc`, `hidepid=2`, a main thread that exited) is
//! never taken over, a dead one still is, and a fork child cannot release what its parent
//! holds.
//!
//! Tests that need root and namespaces re-run this test binary inside `unshare` (util-linux)
//! as a helper (`helper_entry`, selected by `SHMSYNC_LIVENESS_ROLE`); they print a reason
//! and return when not root or when the kernel refuses the namespace. Miri can neither fork
//! nor map shared memory: host and qemu lanes only. Linux only (namespaces, pidfd).
#![cfg(all(any(target_os = "linux", target_os = "android"), not(miri)))]

use shmsync::ShmSafe;
use shmsync::hal::atomic::{AtomicU32, Ordering};
use shmsync::hal::shm::{Mapping, SharedMemory};
use shmsync::hal::testing::{Exit, fork};
use shmsync::ring::{RoleError, Spsc};
use shmsync::sync::{Mutex, TryLockError, unknown_owner_checks};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::time::{Duration, Instant};

const ROLE: &str = "SHMSYNC_LIVENESS_ROLE";
const FD: &str = "SHMSYNC_LIVENESS_FD";
const LIMIT: Duration = Duration::from_secs(60);

#[repr(C)]
struct Shared {
    m: Mutex<u64>,
    ring: Spsc<u32, 8>,
    /// Hand-shake words.
    step: AtomicU32,
    result: AtomicU32,
    pid: AtomicU32,
    /// More hand-shake words (the A→B→A test).
    w: [AtomicU32; 8],
}
// SAFETY: repr(C) of ShmSafe primitives and atomics; all-zero is valid for each.
unsafe impl ShmSafe for Shared {
    const TAG: u64 = shmsync::tag(b"liveness::Shared v1");
}

/// Results a helper reports in `result`.
const R_WOULD_BLOCK: u32 = 1;
const R_OWNER_DEAD: u32 = 2;
const R_OK: u32 = 3;
const R_SETUP_FAILED: u32 = 9;

fn create() -> (SharedMemory, Mapping) {
    let shm = SharedMemory::create(std::mem::size_of::<Shared>().next_multiple_of(4096)).unwrap();
    let map = shm.map().unwrap();
    (shm, map)
}

fn shared(map: &Mapping) -> &'static Shared {
    // SAFETY: a zero-filled shared mapping at least `size_of::<Shared>()` long and
    // page-aligned; all-zero is a valid `Shared`; the tests keep it mapped while used (the
    // 'static lifetime is only a convenience inside each test and helper).
    unsafe { &*(map.as_ptr() as *const Shared) }
}

fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    cond()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn lock_result(
    r: Result<shmsync::sync::MutexGuard<'_, u64>, TryLockError<shmsync::sync::MutexGuard<'_, u64>>>,
) -> u32 {
    match r {
        Ok(_) => R_OK,
        Err(TryLockError::WouldBlock) => R_WOULD_BLOCK,
        Err(TryLockError::OwnerDead(_)) => R_OWNER_DEAD,
    }
}

/// Runs this test binary's `helper_entry` as `role` under the command `prefix` (the
/// executable and its arguments are appended), with the shared memory's descriptor.
fn spawn_helper(
    prefix: &[&str],
    role: &str,
    shm: &SharedMemory,
    env: &[(&str, &str)],
) -> std::process::Child {
    let fd = shm.fd().as_raw_fd();
    // SAFETY: clearing FD_CLOEXEC on a descriptor we own so the helper inherits it.
    unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    let exe = std::env::current_exe().unwrap();
    Command::new(prefix[0])
        .args(&prefix[1..])
        .arg(exe)
        .args(["--exact", "helper_entry", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(FD, fd.to_string())
        .envs(env.iter().copied())
        .spawn()
        .expect("spawn helper")
}

fn have_unshare() -> bool {
    Command::new("unshare")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Not a test: the entry point of helpers re-run by the tests (does nothing otherwise).
#[test]
fn helper_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let fd: i32 = std::env::var(FD).unwrap().parse().unwrap();
    // SAFETY: the descriptor was inherited for us and nothing else owns it here.
    let shm = SharedMemory::from_fd(unsafe { OwnedFd::from_raw_fd(fd) }).unwrap();
    let map = shm.map().unwrap();
    let s = shared(&map);
    let code = match role.as_str() {
        // In a child pid namespace: hold the lock until told to release it.
        "ns_holder" => {
            let g = s.m.lock().unwrap();
            s.pid.store(std::process::id(), Ordering::SeqCst);
            s.step.store(1, Ordering::SeqCst);
            wait_for(LIMIT, || s.step.load(Ordering::SeqCst) == 2);
            drop(g);
            0
        }
        // In a mount namespace without /proc, or with hidepid=2 and no privileges.
        "blind_waiter" => blind_waiter(s),
        other => panic!("unknown helper role {other}"),
    };
    std::process::exit(code);
}

/// A waiter that cannot read the holder's `/proc` entry: the live holder must read as
/// unknown (the lock then times out), and after the holder is killed it must still be
/// found dead (pidfd, no `/proc` needed).
fn blind_waiter(s: &Shared) -> i32 {
    if std::env::var("SHMSYNC_LIVENESS_DROP").is_ok() {
        // SAFETY: plain syscalls dropping to nobody/nogroup.
        let ok = unsafe {
            libc::setgroups(0, std::ptr::null()) == 0
                && libc::setgid(65534) == 0
                && libc::setuid(65534) == 0
        };
        if !ok {
            s.result.store(R_SETUP_FAILED, Ordering::SeqCst);
            return 1;
        }
    }
    let holder = s.pid.load(Ordering::SeqCst);
    let path = format!("/proc/{holder}/stat");
    if std::fs::read(&path).is_ok() {
        eprintln!("helper: {path} is still readable; the namespace setup did not hide it");
        s.result.store(R_SETUP_FAILED, Ordering::SeqCst);
        return 1;
    }
    // A live holder, invisible: must time out, never be taken over.
    let r = lock_result(s.m.lock_timeout(Duration::from_millis(700)));
    s.result.store(r, Ordering::SeqCst);
    s.step.store(2, Ordering::SeqCst);
    // Now the holder is killed: an untimed lock must detect it.
    let r2 = match s.m.lock() {
        Ok(_) => R_OK,
        Err(_) => R_OWNER_DEAD,
    };
    s.step.store(3 + r2 * 10, Ordering::SeqCst);
    0
}

#[test]
fn holder_in_a_child_pid_namespace_is_never_taken_over() {
    if !is_root() || !have_unshare() {
        println!(
            "skipped: needs root and util-linux unshare (root={})",
            is_root()
        );
        return;
    }
    let (shm, map) = create();
    let s = shared(&map);
    let mut child = spawn_helper(
        &["unshare", "-p", "-f", "--mount-proc"],
        "ns_holder",
        &shm,
        &[],
    );
    if !wait_for(Duration::from_secs(20), || {
        s.step.load(Ordering::SeqCst) == 1
    }) {
        let _ = child.kill();
        let status = child.wait().unwrap();
        println!("skipped: unshare -p -f --mount-proc refused ({status})");
        return;
    }
    // The holder is pid 1 (or so) of its namespace; here that pid is someone else.
    let ns_pid = s.pid.load(Ordering::SeqCst);
    println!("holder's pid inside its namespace: {ns_pid}");
    let unknown_before = unknown_owner_checks();
    let r = lock_result(s.m.lock_timeout(Duration::from_millis(700)));
    assert_eq!(
        r, R_WOULD_BLOCK,
        "a live holder in another pid namespace was taken over"
    );
    assert!(
        unknown_owner_checks() > unknown_before,
        "the undecidable holder is counted"
    );
    s.step.store(2, Ordering::SeqCst);
    assert!(child.wait().unwrap().success());
    // Released normally: the next locker gets a plain, consistent lock.
    assert!(s.m.lock().is_ok());
}

/// A holder forked from this process, a blind waiter in a mount namespace set up by
/// `script` (which then `exec`s the helper).
fn blind_waiter_case(script: &str, drop_privileges: bool) {
    if !is_root() || !have_unshare() {
        println!(
            "skipped: needs root and util-linux unshare (root={})",
            is_root()
        );
        return;
    }
    let (shm, map) = create();
    let s = shared(&map);
    let holder = fork(|| {
        let _g = s.m.lock().unwrap();
        s.step.store(1, Ordering::SeqCst);
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    assert!(wait_for(LIMIT, || s.step.load(Ordering::SeqCst) == 1));
    s.pid.store(holder.pid() as u32, Ordering::SeqCst);
    let env: &[(&str, &str)] = if drop_privileges {
        &[("SHMSYNC_LIVENESS_DROP", "1")]
    } else {
        &[]
    };
    let mut cmd = spawn_helper(
        &["unshare", "-m", "sh", "-c", script],
        "blind_waiter",
        &shm,
        env,
    );
    let reported = wait_for(LIMIT, || {
        s.result.load(Ordering::SeqCst) != 0 || cmd.try_wait().ok().flatten().is_some()
    });
    let r = s.result.load(Ordering::SeqCst);
    if r == 0 || r == R_SETUP_FAILED {
        holder.signal(libc::SIGKILL);
        let _ = holder.wait_timeout(LIMIT);
        let _ = cmd.kill();
        let status = cmd.wait().unwrap();
        println!(
            "skipped: the mount namespace could not be set up ({status}, reported={reported})"
        );
        return;
    }
    assert_eq!(
        r, R_WOULD_BLOCK,
        "a live holder behind a blind /proc was taken over"
    );
    assert!(wait_for(LIMIT, || s.step.load(Ordering::SeqCst) == 2));
    // Let the waiter park in its untimed lock, then kill the holder.
    std::thread::sleep(Duration::from_millis(100));
    holder.signal(libc::SIGKILL);
    assert_eq!(holder.wait_timeout(LIMIT), Exit::Signal(libc::SIGKILL));
    assert!(
        wait_for(LIMIT, || s.step.load(Ordering::SeqCst) != 2),
        "the dead holder was never detected by the blind waiter"
    );
    assert_eq!(
        s.step.load(Ordering::SeqCst),
        3 + R_OWNER_DEAD * 10,
        "the blind waiter's untimed lock must report the dead holder"
    );
    assert!(cmd.wait().unwrap().success());
}

#[test]
fn holder_invisible_without_proc_is_unknown_but_its_death_is_still_detected() {
    blind_waiter_case(r#"umount -l /proc && exec "$0" "$@""#, false);
}

#[test]
fn holder_hidden_by_hidepid_is_unknown_but_its_death_is_still_detected() {
    // A fresh proc instance with hidepid=2 over /proc (per-instance options: the host's
    // /proc is untouched), and a waiter without privileges.
    blind_waiter_case(
        r#"mount -t proc -o hidepid=2 proc /proc && exec "$0" "$@""#,
        true,
    );
}

#[test]
fn main_thread_exit_while_a_worker_holds_is_not_death() {
    let (_shm, map) = create();
    let s = shared(&map);
    let child = fork(|| {
        std::thread::spawn(|| {
            let g = s.m.lock().unwrap();
            s.step.store(1, Ordering::SeqCst);
            wait_for(LIMIT, || s.step.load(Ordering::SeqCst) == 2);
            drop(g);
            s.step.store(3, Ordering::SeqCst);
            // SAFETY: ends the whole process from its last thread.
            unsafe { libc::_exit(0) };
        });
        wait_for(LIMIT, || s.step.load(Ordering::SeqCst) == 1);
        // The main thread exits, as `pthread_exit` ends it in the kernel (the leader turns
        // zombie while the worker runs), without the forced unwind that the fork helper's
        // `catch_unwind` would stop.
        // SAFETY: SYS_exit ends only this thread; nothing of it is used afterwards.
        unsafe { libc::syscall(libc::SYS_exit, 0) };
        unreachable!()
    });
    assert!(wait_for(LIMIT, || s.step.load(Ordering::SeqCst) == 1));
    std::thread::sleep(Duration::from_millis(100));
    let stat = std::fs::read_to_string(format!("/proc/{}/task/{}/stat", child.pid(), child.pid()));
    println!(
        "leader thread: {:?}",
        stat.as_deref().map(|l| l.split(' ').nth(2))
    );
    let r = lock_result(s.m.lock_timeout(Duration::from_millis(700)));
    assert_eq!(
        r, R_WOULD_BLOCK,
        "a live process whose main thread exited was taken over"
    );
    s.step.store(2, Ordering::SeqCst);
    assert_eq!(child.wait_timeout(LIMIT), Exit::Code(0));
    assert!(s.m.lock().is_ok(), "released normally by the worker");
}

#[test]
fn guard_inherited_across_fork_cannot_release_the_parents_lock() {
    let (_shm, map) = create();
    let s = shared(&map);
    let mut slot = Some(s.m.lock().unwrap());
    // The child drops its copy of the guard: must fail loudly, not unlock.
    let child = fork(|| {
        drop(slot.take());
        0
    });
    assert_eq!(
        child.wait_timeout(LIMIT),
        Exit::Code(101),
        "the child's drop must panic"
    );
    // A third process must still find the lock held.
    let third = fork(|| match s.m.try_lock() {
        Err(TryLockError::WouldBlock) => 0,
        _ => 1,
    });
    assert_eq!(
        third.wait_timeout(LIMIT),
        Exit::Code(0),
        "a third process got in"
    );
    drop(slot);
    assert!(s.m.try_lock().is_ok());
}

#[test]
fn ring_end_inherited_across_fork_fails_loudly_and_keeps_the_role() {
    let (_shm, map) = create();
    let s = shared(&map);
    let mut slot = Some(s.ring.producer().unwrap());
    let child = fork(|| {
        drop(slot.take());
        0
    });
    assert_eq!(
        child.wait_timeout(LIMIT),
        Exit::Code(101),
        "the child's drop must panic"
    );
    let third = fork(|| match s.ring.producer() {
        Err(RoleError::Taken { .. }) => 0,
        _ => 1,
    });
    assert_eq!(
        third.wait_timeout(LIMIT),
        Exit::Code(0),
        "a third process got the role"
    );
    drop(slot);
    assert!(s.ring.producer().is_ok());
}

/// A ring end killed while parked leaves its parked flag set; the end that takes its role
/// over must start clean, so the peer's non-blocking publishes make no wake syscall.
/// Needs the syscall counters: runs in the count-syscalls run of the test lane.
#[cfg(feature = "count-syscalls")]
#[test]
fn killed_parked_ring_end_leaves_no_wake_cost_to_its_successor() {
    use shmsync::hal::count::snapshot;
    let (_shm, map) = create();
    let s = shared(&map);
    let consumer = fork(|| {
        let mut rx = s.ring.consumer().unwrap();
        s.step.store(1, Ordering::SeqCst);
        // Parks: the ring stays empty until this process is killed.
        let _ = rx.pop(None);
        1
    });
    assert!(wait_for(LIMIT, || s.step.load(Ordering::SeqCst) == 1));
    std::thread::sleep(Duration::from_millis(300));
    consumer.signal(libc::SIGKILL);
    assert_eq!(consumer.wait_timeout(LIMIT), Exit::Signal(libc::SIGKILL));
    let mut tx = s.ring.producer().unwrap();
    let mut rx = s
        .ring
        .consumer()
        .expect("the dead consumer's role is taken over");
    assert!(rx.took_over_from().is_some());
    let before = snapshot();
    for i in 0..1000 {
        tx.try_push(i).unwrap();
        assert_eq!(rx.try_pop(), Ok(i));
    }
    let d = snapshot() - before;
    assert_eq!(
        (d.waits, d.wakes),
        (0, 0),
        "wake syscalls for a dead sleeper"
    );
    // The producer side too.
    drop(tx);
    let producer = fork(|| {
        let mut tx = s.ring.producer().unwrap();
        for i in 0..8 {
            tx.try_push(i).unwrap();
        }
        s.step.store(2, Ordering::SeqCst);
        // Parks: the ring is full until this process is killed.
        let _ = tx.push(99, None);
        1
    });
    assert!(wait_for(LIMIT, || s.step.load(Ordering::SeqCst) == 2));
    std::thread::sleep(Duration::from_millis(300));
    producer.signal(libc::SIGKILL);
    assert_eq!(producer.wait_timeout(LIMIT), Exit::Signal(libc::SIGKILL));
    let mut tx = s
        .ring
        .producer()
        .expect("the dead producer's role is taken over");
    let before = snapshot();
    for i in 0..1000 {
        rx.try_pop().unwrap();
        tx.try_push(i).unwrap();
    }
    let d = snapshot() - before;
    assert_eq!(
        (d.waits, d.wakes),
        (0, 0),
        "wake syscalls for a dead sleeper"
    );
}

/// A→B→A, forced with the test hooks: a parked locker times out and stalls before it
/// reads the holder; A releases and B takes the lock; the locker judges; A takes the lock
/// back (with the parked bit set, so the word A left is the word A has again); the locker
/// goes on. A takeover here would put two processes inside. Runs with
/// `--features test-hooks` (the test lane).
#[cfg(feature = "test-hooks")]
#[test]
fn a_b_a_between_judgement_and_takeover_is_never_a_takeover() {
    use shmsync::hooks::{self, Point};
    use std::sync::atomic::AtomicPtr;
    const HOOK_STATE: usize = 0;
    const HOOK_GO: usize = 1;
    const STEP_A: usize = 2;
    const CMD_A: usize = 3;
    const STEP_B: usize = 4;
    const CMD_B: usize = 5;
    const W_RESULT: usize = 6;
    const A_INSIDE: usize = 7;
    static SHARED: AtomicPtr<Shared> = AtomicPtr::new(std::ptr::null_mut());
    fn hook(point: Point) {
        // SAFETY: set before the hook is installed, to a mapping that outlives the child.
        let s = unsafe { &*SHARED.load(Ordering::SeqCst) };
        let n = point as u32;
        // Stall only the first time at each point.
        if s.w[HOOK_STATE].load(Ordering::SeqCst) >= n {
            return;
        }
        s.w[HOOK_STATE].store(n, Ordering::SeqCst);
        wait_for(Duration::from_secs(10), || {
            s.w[HOOK_GO].load(Ordering::SeqCst) >= n
        });
    }
    let (_shm, map) = create();
    let s = shared(&map);
    let w = |i: usize| &s.w[i];
    let a = fork(|| {
        let g = s.m.lock().unwrap();
        w(STEP_A).store(1, Ordering::SeqCst);
        wait_for(LIMIT, || w(CMD_A).load(Ordering::SeqCst) == 1);
        drop(g);
        w(STEP_A).store(2, Ordering::SeqCst);
        wait_for(LIMIT, || w(CMD_A).load(Ordering::SeqCst) == 2);
        let g = s.m.lock();
        w(A_INSIDE).store(1, Ordering::SeqCst);
        w(STEP_A).store(3, Ordering::SeqCst);
        wait_for(LIMIT, || w(CMD_A).load(Ordering::SeqCst) == 3);
        w(A_INSIDE).store(0, Ordering::SeqCst);
        drop(g);
        0
    });
    assert!(wait_for(LIMIT, || w(STEP_A).load(Ordering::SeqCst) == 1));
    let waiter = fork(|| {
        SHARED.store(s as *const Shared as *mut Shared, Ordering::SeqCst);
        hooks::set(Some(hook));
        let r = s.m.lock();
        let inside = w(A_INSIDE).load(Ordering::SeqCst);
        let code = match (&r, inside) {
            (Ok(_), 0) => R_OK,
            (Err(_), _) => R_OWNER_DEAD,
            _ => 100 + inside,
        };
        w(W_RESULT).store(code, Ordering::SeqCst);
        drop(r);
        0
    });
    // B starts at least one clock tick (10 ms) after A, so their start-time tokens differ:
    // a waiter that pairs A's pid with B's token then reads "pid reused".
    std::thread::sleep(Duration::from_millis(50));
    let b = fork(|| {
        wait_for(LIMIT, || w(CMD_B).load(Ordering::SeqCst) == 1);
        let g = s.m.lock();
        w(STEP_B).store(1, Ordering::SeqCst);
        wait_for(LIMIT, || w(CMD_B).load(Ordering::SeqCst) == 2);
        drop(g);
        0
    });
    // The waiter parked, timed out and stalls before reading the holder.
    assert!(wait_for(LIMIT, || w(HOOK_STATE).load(Ordering::SeqCst) >= 1));
    // A → B.
    w(CMD_A).store(1, Ordering::SeqCst);
    assert!(wait_for(LIMIT, || w(STEP_A).load(Ordering::SeqCst) == 2));
    w(CMD_B).store(1, Ordering::SeqCst);
    assert!(wait_for(LIMIT, || w(STEP_B).load(Ordering::SeqCst) == 1));
    // The waiter judges (B holds now). If it judged "dead", it stalls before its CAS.
    w(HOOK_GO).store(1, Ordering::SeqCst);
    let judged_dead = wait_for(Duration::from_secs(1), || {
        w(HOOK_STATE).load(Ordering::SeqCst) >= 2
    });
    println!("waiter judged the holder dead: {judged_dead}");
    // B → A: A parks behind B (setting the parked bit), B releases, A takes it back.
    w(CMD_A).store(2, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(200));
    w(CMD_B).store(2, Ordering::SeqCst);
    assert!(wait_for(LIMIT, || w(STEP_A).load(Ordering::SeqCst) == 3));
    // The waiter goes on to its compare-exchange (if any).
    w(HOOK_GO).store(2, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    let early = w(W_RESULT).load(Ordering::SeqCst);
    w(CMD_A).store(3, Ordering::SeqCst);
    assert_eq!(a.wait_timeout(LIMIT), Exit::Code(0));
    assert_eq!(b.wait_timeout(LIMIT), Exit::Code(0));
    assert_eq!(waiter.wait_timeout(LIMIT), Exit::Code(0));
    // Without a takeover the waiter may still win the lock fairly when B releases (both it
    // and A are parked then); what it must never get is the lock with A inside, or
    // OwnerDead from a live A.
    assert!(
        early == 0 || early == R_OK,
        "the waiter took the lock over from a live holder ({early})"
    );
    assert_eq!(
        w(W_RESULT).load(Ordering::SeqCst),
        R_OK,
        "plain hand-over after A"
    );
    assert!(!judged_dead, "a live holder was judged dead");
}
