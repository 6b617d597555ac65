//! Proof of the real-time contract of the `audio_host` example's callback: it runs the very
//! callback the example runs (`examples/audio/host.rs`, included below) against a helper in
//! a forked process, and counts, per callback:
//!
//! * **every syscall** the audio thread makes inside the callback — Linux seccomp with a
//!   user-notification listener (see [`probe`]): the kernel stops the thread at each
//!   syscall until a supervisor thread has counted it and let it continue. Nothing is
//!   sampled or estimated; a syscall the callback makes cannot go unseen;
//! * **every heap operation** (alloc, realloc, dealloc) of the audio thread — a counting
//!   global allocator (`examples/audio/alloc_count.rs`);
//! * in the count-syscalls lane (the `count-syscalls` feature, which turns on the
//!   hal's counters), the hal's own per-thread wait/wake syscall counters as a
//!   second, independent count of the futex calls.
//!
//! and asserts zero syscalls and zero heap operations per callback while the helper keeps
//! up (polls), at most one syscall — a futex wake — per callback while the helper parks,
//! and the same zero while the helper is SIGKILLed and a new one re-attaches. The
//! `probe_sees_syscalls_allocations_and_wakes` test shows each counter catching a real
//! violation, so a zero here is a measurement, not a counter that cannot count.
//!
//! Timing is never asserted (the machine is shared); xrun counts are only asserted with
//! generous bounds where the scenario forces them (a dead helper) or forbids most of them.

// Forks helpers and maps shared memory (no MAP_SHARED or fork under Miri): this runs in
// the host lane (`cargo test -p shmsync --test audio_rt`) and the count-syscalls lane
// (`cargo test -p shmsync --features count-syscalls --test audio_rt`).
#![cfg(all(unix, not(miri)))]

#[path = "../examples/audio/mod.rs"]
#[allow(dead_code)]
mod audio;

use audio::alloc_count;
use audio::helper::{HelperPath, Idle};
use audio::host::HostPath;
use audio::params::Params;
use audio::period::PeriodClock;
use audio::probe::{self, Seen};
use audio::shared::{AudioShared, CHANNELS, MAX_FRAMES, SAMPLE_RATE};
use audio::stats::{XrunKind, XrunLog};
use shmsync::hal::atomic::Ordering;
use shmsync::hal::shm::SharedMemory;
use shmsync::hal::testing::{self, Child};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

#[global_allocator]
static ALLOC: alloc_count::Counting = alloc_count::Counting;

/// The allocation counter and the seccomp probe each watch one thread: the scenarios run
/// one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Frames per period: 128 at 48 kHz, 2.67 ms.
const FRAMES: usize = 128;

/// How a scenario's audio thread observes each callback.
struct Window {
    probe: Option<std::sync::Arc<probe::State>>,
    allocs: u64,
    seen: Seen,
    #[cfg(feature = "count-syscalls")]
    hal: shmsync::hal::count::Counts,
}

/// Per-callback costs measured by a [`Window`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Cost {
    heap_ops: u64,
    seen: Seen,
    /// hal wait and wake syscalls (count-syscalls lane; zero elsewhere).
    hal_waits: u64,
    hal_wakes: u64,
}

impl Window {
    #[inline(always)]
    fn enter(&mut self) {
        #[cfg(feature = "count-syscalls")]
        {
            self.hal = shmsync::hal::count::snapshot();
        }
        if let Some(p) = &self.probe {
            self.seen = p.seen();
            p.enter();
        }
        self.allocs = alloc_count::count();
    }

    #[inline(always)]
    fn exit(&mut self) -> Cost {
        let heap_ops = alloc_count::count() - self.allocs;
        let mut cost = Cost {
            heap_ops,
            ..Cost::default()
        };
        if let Some(p) = &self.probe {
            p.exit();
            let now = p.seen();
            cost.seen = Seen {
                other: now.other - self.seen.other,
                futex: now.futex - self.seen.futex,
            };
        }
        #[cfg(feature = "count-syscalls")]
        {
            let d = shmsync::hal::count::snapshot() - self.hal;
            cost.hal_waits = d.waits;
            cost.hal_wakes = d.wakes;
        }
        cost
    }
}

/// Totals of a scenario's run, for its assertions.
#[derive(Debug, Default, Clone)]
struct Totals {
    callbacks: u64,
    played: u64,
    /// Played blocks checked sample-exactly against a reference run of the DSP.
    verified: u64,
    mismatched: u64,
    max_cost: Cost,
    sum: Cost,
    /// Callbacks that broke the rule of the scenario (first few, with their cost).
    violations: Vec<(u64, Cost)>,
    /// `played_at[k]`: period k played the helper's block.
    played_at: Vec<bool>,
    probe_active: bool,
}

/// A shared region with the example's root type, created here; helpers fork from here.
struct Rig {
    shm: SharedMemory,
    map: shmsync::hal::shm::Mapping,
}

impl Rig {
    fn new() -> Rig {
        let len = shmsync::region::required_len::<AudioShared>().next_multiple_of(4096);
        let shm = SharedMemory::create(len).expect("create shared memory");
        let map = shm.map().expect("map");
        // SAFETY: fresh memory only this test uses, live as long as the Rig.
        unsafe { shmsync::init::<AudioShared>(map.as_ptr(), map.len()) }.expect("init region");
        Rig { shm, map }
    }

    /// This process's attachment (kept alive while the test uses the region: on Apple
    /// targets a `Region` leaves the wake protocol's waiter table when dropped).
    fn attach(&self) -> shmsync::Region<'_, AudioShared> {
        // SAFETY: initialised in `new`; the mapping lives as long as `self`.
        unsafe { shmsync::attach::<AudioShared>(self.map.as_ptr(), self.map.len()) }
            .expect("attach")
    }

    /// Forks a helper that maps the object again (another address), attaches and runs.
    /// Exit code 0: shut down cleanly; 10 + n: attach step n failed; 20: ring corrupted;
    /// 30: expected a takeover and there was none; 40: wrongly concluded the host died.
    fn fork_helper(&self, idle: Idle, expect_takeover: bool) -> Child {
        let shm = &self.shm;
        testing::fork(move || {
            let Ok(map) = shm.map() else { return 11 };
            // SAFETY: the mapping lives until this closure returns; only shmsync touches it.
            let Ok(region) = (unsafe {
                shmsync::attach_timeout::<AudioShared>(
                    map.as_ptr(),
                    map.len(),
                    Duration::from_secs(5),
                )
            }) else {
                return 12;
            };
            let shared = region.get();
            let mut path = None;
            // The killed predecessor may be in the middle of dying for a moment.
            for _ in 0..200 {
                if let Ok(p) = HelperPath::attach(shared) {
                    path = Some(p);
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let Some(mut path) = path else { return 13 };
            // Real-time like the example's helper (below the host's audio thread), so that a
            // loaded machine delays it less; refused (not root, no RLIMIT_RTPRIO): runs on.
            let _ = audio::rt::promote_current_thread(
                Duration::from_nanos(FRAMES as u64 * 1_000_000_000 / u64::from(SAMPLE_RATE)),
                audio::rt::HELPER_FIFO_PRIORITY,
            );
            if expect_takeover && !path.took_over() {
                return 30;
            }
            match path.run(idle) {
                audio::helper::Exit::Shutdown => 0,
                audio::helper::Exit::Corrupted => 20,
                // The host (this test process) is alive: thinking otherwise is a failure.
                audio::helper::Exit::HostGone => 40,
            }
        })
    }
}

/// Runs `periods` callbacks on a fresh (SCHED_FIFO where permitted) thread with the probe,
/// calling `at_period(k)` on the test thread's behalf at the given period indices through a
/// shared counter. Returns the totals; `rule(cost)` says whether a callback's cost is
/// allowed.
fn run_host(
    shared: &AudioShared,
    periods: u64,
    rule: fn(&Cost) -> bool,
    progress: &AtomicU64,
) -> Totals {
    let log = XrunLog::new();
    let mut path = HostPath::new(shared, FRAMES).expect("claim host roles");
    shared.params.publish(Params {
        gain: 0.8,
        cutoff_hz: 3_000.0,
    });
    let probe = probe::Probe::start();
    let totals = std::thread::scope(|s| {
        let t = s.spawn(|| {
            let _rt = audio::rt::promote_current_thread(
                Duration::from_nanos(FRAMES as u64 * 1_000_000_000 / u64::from(SAMPLE_RATE)),
                audio::rt::FIFO_PRIORITY,
            );
            let mut totals = Totals {
                played_at: vec![false; periods as usize + 1],
                violations: Vec::with_capacity(16),
                ..Totals::default()
            };
            // Reference DSP: the same code the helper runs, on every block sent, so each
            // played block can be compared sample by sample.
            let mut reference = audio::dsp::Processor::<CHANNELS>::new(SAMPLE_RATE as f32);
            let mut expected: Vec<(u32, Vec<f32>)> = (0..16)
                .map(|_| (u32::MAX, vec![0.0; MAX_FRAMES * CHANNELS]))
                .collect();
            let mut out = vec![0.0f32; MAX_FRAMES * CHANNELS];
            let mut w = Window {
                probe: match probe::install_on_current_thread(&probe.state) {
                    Ok(()) => Some(probe.state.clone()),
                    Err(e) => {
                        eprintln!(
                            "audio_rt: seccomp user notification unavailable (errno {e}): \
                             syscalls are NOT counted in this run (only heap operations{})",
                            if cfg!(feature = "count-syscalls") {
                                " and hal wait/wake syscalls"
                            } else {
                                ""
                            }
                        );
                        None
                    }
                },
                allocs: 0,
                seen: Seen::default(),
                #[cfg(feature = "count-syscalls")]
                hal: shmsync::hal::count::snapshot(),
            };
            totals.probe_active = w.probe.is_some();
            alloc_count::watch_current_thread();
            let mut clock = PeriodClock::start(Duration::from_nanos(
                FRAMES as u64 * 1_000_000_000 / u64::from(SAMPLE_RATE),
            ));
            for k in 1..=periods {
                // The period sleep: a syscall, outside the window.
                let _ = clock.wait_next();
                w.enter();
                let outcome = path.callback(k, &mut out, &log);
                let cost = w.exit();

                // Bookkeeping, outside the window (may allocate, may syscall).
                totals.callbacks += 1;
                totals.sum.heap_ops += cost.heap_ops;
                totals.sum.seen.other += cost.seen.other;
                totals.sum.seen.futex += cost.seen.futex;
                totals.sum.hal_waits += cost.hal_waits;
                totals.sum.hal_wakes += cost.hal_wakes;
                totals.max_cost.heap_ops = totals.max_cost.heap_ops.max(cost.heap_ops);
                totals.max_cost.seen.other = totals.max_cost.seen.other.max(cost.seen.other);
                totals.max_cost.seen.futex = totals.max_cost.seen.futex.max(cost.seen.futex);
                totals.max_cost.hal_wakes = totals.max_cost.hal_wakes.max(cost.hal_wakes);
                totals.max_cost.hal_waits = totals.max_cost.hal_waits.max(cost.hal_waits);
                if !rule(&cost) && totals.violations.len() < 16 {
                    totals.violations.push((k, cost));
                }
                if outcome.played {
                    totals.played += 1;
                    totals.played_at[k as usize] = true;
                    let b = path.last_returned();
                    let slot = &expected[(b.period % 16) as usize];
                    if slot.0 == b.period {
                        totals.verified += 1;
                        if slot.1[..b.audio().len()] != *b.audio() {
                            totals.mismatched += 1;
                        }
                    }
                    if out[..FRAMES * CHANNELS] != *b.audio() {
                        totals.mismatched += 1;
                    }
                }
                if outcome.sent {
                    let mut b = *path.last_sent();
                    let params = b.params();
                    reference.process(b.audio_mut(), params);
                    let slot = &mut expected[(b.period % 16) as usize];
                    slot.0 = b.period;
                    slot.1[..b.audio().len()].copy_from_slice(b.audio());
                }
                progress.store(k, std::sync::atomic::Ordering::Release);
            }
            alloc_count::unwatch();
            totals
        });
        t.join().expect("audio thread panicked")
    });
    probe.finish();
    eprintln!(
        "audio_rt: {} callbacks, {} played ({} verified sample-exact, {} mismatched), \
         xruns: missing {} / send-full {} / corrupted {}; per-callback max: heap {} syscalls {} futex {} \
         hal waits {} wakes {}; totals: futex {} hal wakes {}; probe {}",
        totals.callbacks,
        totals.played,
        totals.verified,
        totals.mismatched,
        log.total(XrunKind::Missing),
        log.total(XrunKind::Overflow),
        log.total(XrunKind::Corrupted),
        totals.max_cost.heap_ops,
        totals.max_cost.seen.other,
        totals.max_cost.seen.futex,
        totals.max_cost.hal_waits,
        totals.max_cost.hal_wakes,
        totals.sum.seen.futex,
        totals.sum.hal_wakes,
        if totals.probe_active { "on" } else { "OFF" },
    );
    assert_eq!(
        log.total(XrunKind::Corrupted),
        0,
        "a ring reported corruption"
    );
    totals
}

fn stop_helper(shared: &AudioShared, child: Child) {
    shared.control.shutdown.store(1, Ordering::Release);
    child.join(Duration::from_secs(30));
}

/// The probe is mandatory on Linux unless `SHMSYNC_AUDIO_RT_NO_SECCOMP` is set (for
/// emulators such as qemu-user that do not pass seccomp listeners through).
fn require_probe(t: &Totals) {
    if cfg!(any(target_os = "linux", target_os = "android"))
        && std::env::var_os("SHMSYNC_AUDIO_RT_NO_SECCOMP").is_none()
    {
        assert!(
            t.probe_active,
            "the seccomp syscall probe could not be installed (see stderr); set \
             SHMSYNC_AUDIO_RT_NO_SECCOMP=1 to run without it"
        );
    }
}

fn no_syscall_no_heap(c: &Cost) -> bool {
    c.heap_ops == 0 && c.seen == Seen::default() && c.hal_waits == 0 && c.hal_wakes == 0
}

fn at_most_one_wake(c: &Cost) -> bool {
    c.heap_ops == 0
        && c.seen.other == 0
        && c.seen.futex <= 1
        && c.hal_waits == 0
        && c.hal_wakes <= 1
        // Both counters see the same futex calls when both are on.
        && (!cfg!(feature = "count-syscalls") || c.seen.futex == c.hal_wakes || c.seen == Seen::default())
}

#[test]
fn callback_makes_no_syscall_and_no_allocation_while_the_helper_keeps_up() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rig = Rig::new();
    let region = rig.attach();
    let shared = region.get();
    let helper = rig.fork_helper(Idle::Poll(Duration::from_micros(200)), false);
    let progress = AtomicU64::new(0);
    // 600 periods of 2.67 ms: 1.6 s.
    let t = run_host(shared, 600, no_syscall_no_heap, &progress);
    stop_helper(shared, helper);
    require_probe(&t);
    assert!(
        t.violations.is_empty(),
        "callbacks with syscalls or heap operations: {:?}",
        t.violations
    );
    assert_eq!(t.sum, Cost::default());
    // The helper did keep up (generous: a quarter of the periods, on a shared 2-core
    // machine), and what came back is exactly the DSP of what was sent.
    assert!(t.played >= 150, "only {} of 600 periods played", t.played);
    assert!(t.verified >= 150, "only {} blocks verified", t.verified);
    assert_eq!(
        t.mismatched, 0,
        "processed blocks differ from the reference DSP"
    );
}

#[test]
fn callback_makes_at_most_one_wake_per_period_when_the_helper_parks() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rig = Rig::new();
    let region = rig.attach();
    let shared = region.get();
    let helper = rig.fork_helper(Idle::Park, false);
    let progress = AtomicU64::new(0);
    let t = run_host(shared, 600, at_most_one_wake, &progress);
    let parks = shared.control.helper_parks.load(Ordering::Relaxed);
    stop_helper(shared, helper);
    require_probe(&t);
    assert!(
        t.violations.is_empty(),
        "callbacks beyond one wake, or with other syscalls or heap operations: {:?}",
        t.violations
    );
    assert_eq!(t.sum.heap_ops, 0);
    assert_eq!(t.sum.seen.other, 0);
    assert!(t.sum.seen.futex <= t.callbacks);
    // The scenario really exercised parking: the helper parked and was woken by the
    // callbacks (with a 2.67 ms period it parks after each block; generous bound).
    assert!(parks >= 10, "the helper parked only {parks} times");
    if t.probe_active {
        assert!(
            t.sum.seen.futex >= 10,
            "only {} wakes seen",
            t.sum.seen.futex
        );
    }
    #[cfg(feature = "count-syscalls")]
    assert!(t.sum.hal_wakes >= 10, "only {} hal wakes", t.sum.hal_wakes);
    assert!(t.played >= 150, "only {} of 600 periods played", t.played);
    assert_eq!(
        t.mismatched, 0,
        "processed blocks differ from the reference DSP"
    );
}

#[test]
fn host_survives_a_killed_helper_and_a_restarted_helper_reattaches() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rig = Rig::new();
    let region = rig.attach();
    let shared = region.get();
    let first = rig.fork_helper(Idle::Poll(Duration::from_micros(200)), false);
    let progress = AtomicU64::new(0);
    // Periods 1..=200 with the first helper; then SIGKILL; at period 400 a new helper is
    // forked, which must take the dead one's roles over; 400 more periods with it.
    const KILL_AT: u64 = 200;
    const RESTART_AT: u64 = 400;
    const PERIODS: u64 = 800;
    let (t, second, reaped_at) = std::thread::scope(|s| {
        let h = s.spawn(|| run_host(shared, PERIODS, no_syscall_no_heap, &progress));
        let wait_for = |k: u64| {
            while progress.load(std::sync::atomic::Ordering::Acquire) < k {
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        wait_for(KILL_AT);
        first.signal(libc::SIGKILL);
        let exit = first.wait_timeout(Duration::from_secs(10));
        assert_eq!(exit, testing::Exit::Signal(libc::SIGKILL));
        // The helper is dead (reaped) from this period on.
        let reaped_at = progress.load(std::sync::atomic::Ordering::Acquire);
        assert!(reaped_at < RESTART_AT, "the kill took {reaped_at} periods");
        wait_for(RESTART_AT);
        let second = rig.fork_helper(Idle::Poll(Duration::from_micros(200)), true);
        (h.join().expect("host thread panicked"), second, reaped_at)
    });
    stop_helper(shared, second); // exit code 30 would mean: no takeover happened
    require_probe(&t);
    assert!(
        t.violations.is_empty(),
        "callbacks with syscalls or heap operations: {:?}",
        t.violations
    );
    assert_eq!(shared.control.helper_starts.load(Ordering::Relaxed), 2);
    let played = |from: u64, to: u64| {
        t.played_at[from as usize..=to as usize]
            .iter()
            .filter(|&&p| p)
            .count()
    };
    let alive = played(1, KILL_AT);
    assert!(alive >= 50, "first helper played only {alive} of {KILL_AT}");
    // Dead helper: only blocks it had already handed back can still play (at most a ring's
    // worth); every other period is a counted xrun, and no callback waited or blocked.
    let dead = played(reaped_at + 1, RESTART_AT);
    assert!(
        dead <= audio::shared::RING_BLOCKS,
        "{dead} blocks played after the helper died"
    );
    let back = played(RESTART_AT + 1, PERIODS);
    assert!(
        back >= 50,
        "restarted helper played only {back} of {}",
        PERIODS - RESTART_AT
    );
}

#[test]
fn probe_sees_syscalls_allocations_and_wakes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let probe = probe::Probe::start();
    let word = shmsync::hal::atomic::AtomicU32::new(0);
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            let mut w = Window {
                probe: probe::install_on_current_thread(&probe.state)
                    .ok()
                    .map(|()| probe.state.clone()),
                allocs: 0,
                seen: Seen::default(),
                #[cfg(feature = "count-syscalls")]
                hal: shmsync::hal::count::snapshot(),
            };
            alloc_count::watch_current_thread();
            // 1. A bare syscall.
            w.enter();
            // SAFETY: getppid has no preconditions.
            let ppid = unsafe { libc::getppid() };
            let syscall = w.exit();
            // 2. An allocation and its free.
            w.enter();
            let v = std::hint::black_box(Vec::<u64>::with_capacity(16));
            drop(v);
            let heap = w.exit();
            // 3. A hal wake (nobody waits: still one futex syscall on Linux).
            w.enter();
            shmsync::hal::wake_one(&word);
            let wake = w.exit();
            // 4. Nothing.
            w.enter();
            let idle = w.exit();
            alloc_count::unwatch();
            (ppid, syscall, heap, wake, idle, w.probe_is_on())
        })
        .join()
        .expect("probe thread panicked")
    });
    probe.finish();
    let (ppid, syscall, heap, wake, idle, probe_on) = result;
    assert!(ppid > 0);
    assert_eq!(heap.heap_ops, 2, "alloc + dealloc: {heap:?}");
    assert_eq!(idle, Cost::default());
    assert_eq!(syscall.heap_ops, 0);
    if cfg!(any(target_os = "linux", target_os = "android"))
        && std::env::var_os("SHMSYNC_AUDIO_RT_NO_SECCOMP").is_none()
    {
        assert!(probe_on, "the seccomp syscall probe could not be installed");
    }
    if probe_on {
        assert_eq!(
            syscall.seen,
            Seen { other: 1, futex: 0 },
            "getppid: {syscall:?}"
        );
        assert_eq!(wake.seen, Seen { other: 0, futex: 1 }, "wake: {wake:?}");
        assert_eq!(heap.seen, Seen::default(), "{heap:?}");
    }
    #[cfg(feature = "count-syscalls")]
    {
        assert_eq!((wake.hal_waits, wake.hal_wakes), (0, 1), "{wake:?}");
        assert_eq!((syscall.hal_waits, syscall.hal_wakes), (0, 0));
    }
}

impl Window {
    fn probe_is_on(&self) -> bool {
        self.probe.is_some()
    }
}
