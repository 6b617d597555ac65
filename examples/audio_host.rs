//! A real-time audio host and its helper process, linked by shmsync rings in shared memory.
//!
//! ```text
//! cargo run --release --example audio_host -- [--seconds 60] [--frames 128]
//!                                             [--kill-helper-at 20 --restart-after 2]
//! ```
//!
//! The host creates a named shared-memory region holding two `Spsc<Block, 8>` rings, a
//! parameter block and control words (see `audio/shared.rs`), starts the helper — this
//! same executable re-run as `audio_host helper <name> <frames>`, a separate process, its
//! processing thread `SCHED_FIFO` below the host's — and runs a
//! simulated audio callback every period (`--frames` at 48 kHz) on a real-time thread:
//! each callback plays the processed block of the previous period, sends this period's
//! block, and never blocks or waits; a missing block is an xrun, counted and reported
//! with its period. The helper applies gain and a one-pole low-pass with the parameters
//! the control thread sweeps through the lock-free parameter block, and parks when idle.
//!
//! `--kill-helper-at S` SIGKILLs the helper S seconds in: the host keeps running and
//! reports xruns; `--restart-after R` starts a new helper R seconds later, which takes
//! over the dead helper's ring roles and re-attaches. (A host that is itself SIGKILLed
//! leaves its name `/dev/shm/shmsync-audio-<pid>` behind; its helper exits within 100 ms.)
//!
//! `--helper-poll` makes the helper poll instead of park, so the callback never has to
//! wake it: then it makes no syscall at all. `--count-syscalls` (Linux) counts every
//! syscall the audio thread makes inside callbacks with the seccomp probe of
//! `audio/probe.rs` (each syscall then costs a round trip to a supervisor thread, so use
//! the durations of a run without it).
//!
//! At the end the host prints callbacks, xruns by kind, and the callback duration
//! median / p99 / max; it exits with failure if any callback touched the heap (counted by
//! the global allocator below) or, with `--count-syscalls`, made a syscall other than the
//! futex wake of a parked helper.
//!
//! **RealtimeSanitizer** (`--features rtsan`): the callback runs between
//! `rtsan_standalone::realtime_enter/exit`, and shmsync itself marks every *may block*
//! function (blocking `push` / `pop` / `send` / `recv` / `reserve` / `read`, role claims,
//! lock and wait entry points, `hal::wait` before it sleeps; the full list is in the
//! crate docs, "RealtimeSanitizer"), so the callback calling one is reported by name even
//! where RTSan intercepts nothing (Darwin's ulock / os_sync / Mach waits). The wait-free
//! and *may wake* calls the callback makes (`try_push`, `try_pop`, the parameter reads)
//! are not marked. The sanitizer is linked only when the build sees `RTSAN_ENABLE=1`;
//! offline, point `RTSAN_LIB_PATH` at LLVM's runtime library (Debian: `apt-get install
//! libclang-rt-22-dev`):
//!
//! ```text
//! RTSAN_ENABLE=1 RTSAN_LIB_PATH=/usr/lib/llvm-22/lib/clang/22/lib/linux/libclang_rt.rtsan-x86_64.a \
//!   cargo run --release --features rtsan --example audio_host -- --seconds 10 --helper-poll
//! ```
//!
//! With `--helper-poll` it stays silent (`ci/rtsan-check.sh` runs it). Without it, RTSan
//! stops the host at the first wake of a parked helper on Linux: the futex `syscall`
//! inside `try_push` — the one syscall the real-time contract allows ("may wake"), which
//! RTSan, knowing no such class, intercepts and reports as `syscall`.

// Shared with tests/audio_rt.rs, which also uses the items this example does not (the
// polling helper, the last-block accessors, the macOS policy on Linux builds).
#[path = "audio/mod.rs"]
#[allow(dead_code)]
mod audio;

use audio::helper::{self, HelperPath, Idle};
use audio::host::HostPath;
use audio::params::Params;
use audio::period::PeriodClock;
use audio::shared::{AudioShared, CHANNELS, MAX_FRAMES, SAMPLE_RATE};
use audio::stats::{Durations, XrunKind, XrunLog};
use audio::{alloc_count, probe, rt};
use shmsync::hal::atomic::Ordering;
use shmsync::hal::shm::SharedMemory;
use std::process::{Child, Command, ExitCode};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: alloc_count::Counting = alloc_count::Counting;

/// Command-line options of the host.
#[derive(Debug, Clone, Copy)]
struct Options {
    seconds: f64,
    frames: usize,
    kill_helper_at: Option<f64>,
    restart_after: Option<f64>,
    /// The helper polls instead of parking: the callback then never has to wake it (no
    /// syscall at all, which is what a RealtimeSanitizer run needs to stay silent).
    poll: bool,
    /// Count the audio thread's syscalls inside callbacks (Linux seccomp probe).
    count_syscalls: bool,
}

const USAGE: &str = "usage: audio_host [--seconds S] [--frames N (1..=256)] \
                     [--kill-helper-at S [--restart-after S]] [--helper-poll] [--count-syscalls]\n       \
                     audio_host helper <shm-name> <frames> [poll]   (the helper role; the host starts it)";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        seconds: 10.0,
        frames: 128,
        kill_helper_at: None,
        restart_after: None,
        poll: false,
        count_syscalls: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<f64, String> {
            it.next()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("{name} needs a non-negative number"))
        };
        match a.as_str() {
            "--seconds" => o.seconds = value("--seconds")?,
            "--frames" => o.frames = value("--frames")? as usize,
            "--kill-helper-at" => o.kill_helper_at = Some(value("--kill-helper-at")?),
            "--restart-after" => o.restart_after = Some(value("--restart-after")?),
            "--helper-poll" => o.poll = true,
            "--count-syscalls" => o.count_syscalls = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if !(1..=MAX_FRAMES).contains(&o.frames) {
        return Err(format!("--frames must be 1..={MAX_FRAMES}"));
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("helper") {
        let frames = args.get(2).and_then(|f| f.parse::<usize>().ok());
        return match (args.get(1), frames) {
            (Some(name), Some(frames)) if (1..=MAX_FRAMES).contains(&frames) => {
                let idle = if args.get(3).map(String::as_str) == Some("poll") {
                    Idle::Poll(Duration::from_micros(100))
                } else {
                    Idle::Park
                };
                helper_main(name, frames, idle)
            }
            _ => {
                eprintln!("{USAGE}");
                ExitCode::from(2)
            }
        };
    }
    match parse(&args) {
        Ok(o) => host_main(o),
        Err(e) => {
            if !e.is_empty() {
                eprintln!("audio_host: {e}");
            }
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Helper process
// ---------------------------------------------------------------------------------------

fn helper_main(name: &str, frames: usize, idle: Idle) -> ExitCode {
    let shm = match SharedMemory::open_named(name) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("helper: cannot open {name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let map = match shm.map() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("helper: cannot map {name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // SAFETY: the mapping is live for the rest of this function and read/write; the region
    // is only accessed through shmsync types.
    let region = match unsafe {
        shmsync::attach_timeout::<AudioShared>(map.as_ptr(), map.len(), Duration::from_secs(5))
    } {
        Ok(r) => r,
        Err(e) => {
            eprintln!("helper: cannot attach: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shared = region.get();
    // A helper restarted right after a kill may find its predecessor still being torn
    // down for a moment; the roles become free (dead holder) once it is.
    let started = Instant::now();
    let mut path = loop {
        match HelperPath::attach(shared) {
            Ok(p) => break p,
            Err(e) if started.elapsed() < Duration::from_secs(2) => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                eprintln!("helper: cannot claim the rings: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let period = Duration::from_nanos(frames as u64 * 1_000_000_000 / u64::from(SAMPLE_RATE));
    let status = rt::promote_current_thread(period, rt::HELPER_FIFO_PRIORITY);
    eprintln!(
        "helper {}: attached{}; {status}",
        std::process::id(),
        if path.took_over() {
            " (took over the roles of a dead helper)"
        } else {
            ""
        }
    );
    let exit = path.run(idle);
    eprintln!(
        "helper {}: {exit:?} after {} blocks ({} parks, {} dropped)",
        std::process::id(),
        path.processed,
        path.parks(),
        path.dropped
    );
    if exit == helper::Exit::Corrupted {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

// ---------------------------------------------------------------------------------------
// Host process
// ---------------------------------------------------------------------------------------

fn spawn_helper(name: &str, o: &Options) -> std::io::Result<Child> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("helper").arg(name).arg(o.frames.to_string());
    if o.poll {
        cmd.arg("poll");
    }
    cmd.spawn()
}

/// What the audio thread shares with the control thread while it runs.
struct Live {
    stop: AtomicBool,
    callbacks: AtomicU64,
    /// Heap operations made inside callbacks (must stay 0).
    allocations: AtomicU64,
    stale: AtomicU64,
    /// Periods with at least one xrun (a period with a dead helper counts a missing
    /// block *and* a full send ring: two xruns, one period).
    xrun_periods: AtomicU64,
    /// Peak of the last second's output, as f32 bits.
    peak_bits: AtomicU64,
    xruns: XrunLog,
}

/// What the audio thread hands back when it stops.
struct RtReport {
    status: rt::RtStatus,
    /// Syscalls inside callbacks (`--count-syscalls`): totals and the per-callback maximum
    /// of futex calls; `Err(errno)` when the probe could not be installed.
    syscalls: Option<Result<(probe::Seen, u64), i32>>,
    durations: Durations,
    lateness: Durations,
    param_contention: u64,
}

fn host_main(o: Options) -> ExitCode {
    let name = format!("/shmsync-audio-{}", std::process::id());
    let len = shmsync::region::required_len::<AudioShared>().next_multiple_of(4096);
    let shm = match SharedMemory::create_named(&name, len) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("audio_host: cannot create {name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let map = shm.map().expect("map shared memory");
    // SAFETY: a fresh object only this process has mapped so far; the mapping lives until
    // the end of this function, after the audio thread and helpers are done with it.
    let region = unsafe { shmsync::init::<AudioShared>(map.as_ptr(), map.len()) }
        .expect("create the region");
    let shared = region.get();
    shared.params.publish(Params::DEFAULT);

    let mlock = rt::lock_memory();
    let period = Duration::from_nanos(o.frames as u64 * 1_000_000_000 / u64::from(SAMPLE_RATE));
    println!(
        "audio_host: {} frames x {CHANNELS} ch @ {SAMPLE_RATE} Hz, period {:.3} ms, {} s; region {name} ({len} bytes)",
        o.frames,
        period.as_secs_f64() * 1e3,
        o.seconds
    );
    match mlock {
        Ok(()) => println!("memory: locked (mlockall)"),
        Err(e) => println!("memory: not locked (mlockall errno {e}); running on"),
    }

    let mut helper = match spawn_helper(&name, &o) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("audio_host: cannot start the helper: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut path = match HostPath::new(shared, o.frames) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("audio_host: cannot claim the rings: {e}");
            return ExitCode::FAILURE;
        }
    };

    let live = Live {
        stop: AtomicBool::new(false),
        callbacks: AtomicU64::new(0),
        allocations: AtomicU64::new(0),
        stale: AtomicU64::new(0),
        xrun_periods: AtomicU64::new(0),
        peak_bits: AtomicU64::new(0),
        xruns: XrunLog::new(),
    };
    // Room for every duration of the run plus a margin (u32 per callback: 90 KB/minute).
    let expected = (o.seconds / period.as_secs_f64()) as usize + 1024;

    // The probe's supervisor must exist before the audio thread filters itself.
    let probe = o.count_syscalls.then(probe::Probe::start);
    let probe_state = probe.as_ref().map(|p| p.state.clone());
    let report = std::thread::scope(|s| {
        let audio = std::thread::Builder::new()
            .name("audio".into())
            .spawn_scoped(s, || {
                audio_thread(&mut path, period, expected, &live, probe_state.as_deref())
            })
            .expect("spawn the audio thread");
        control_loop(o, shared, &name, &mut helper, &live);
        live.stop.store(true, Ordering::Release);
        audio.join().expect("audio thread panicked")
    });
    if let Some(p) = probe {
        p.finish();
    }

    // Stop the helper: shutdown flag, then it notices within helper::IDLE_CHECK.
    shared.control.shutdown.store(1, Ordering::Release);
    if let Some(mut c) = helper.take() {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match c.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
            }
        }
    }
    print_summary(o, period, report, &live, shared)
}

/// The real-time thread: period clock, callback, bookkeeping. Nothing between the two
/// `Instant::now()` calls allocates, locks or waits.
fn audio_thread(
    path: &mut HostPath<'_>,
    period: Duration,
    expected: usize,
    live: &Live,
    probe: Option<&probe::State>,
) -> RtReport {
    let status = rt::promote_current_thread(period, rt::FIFO_PRIORITY);
    // `--count-syscalls`: from here on every syscall of this thread is counted (and slowed
    // down by a round trip to the supervisor thread; durations are then not representative).
    let probe = probe.map(|p| probe::install_on_current_thread(p).map(|()| p));
    let mut max_futex = 0u64;
    #[cfg(feature = "rtsan")]
    rtsan_standalone::ensure_initialized();
    let mut durations = Durations::with_capacity(expected);
    let mut lateness = Durations::with_capacity(expected);
    let mut out = [0.0f32; MAX_FRAMES * CHANNELS];
    let mut peak = 0.0f32;
    let mut peak_at = Instant::now();
    alloc_count::watch_current_thread();
    let mut clock = PeriodClock::start(period);
    while !live.stop.load(Ordering::Acquire) {
        let tick = clock.wait_next();
        let xruns_before = live.xruns.total_all();
        lateness.push(tick.late_ns);
        if tick.skipped > 0 {
            live.xruns.record(tick.index, XrunKind::HostLate);
        }
        let allocs = alloc_count::count();
        let t0 = shmsync::hal::clock::Instant::now();
        // With `--features rtsan` (and RTSAN_ENABLE=1 at build time) RealtimeSanitizer
        // watches the callback: any malloc, lock, sleep or raw syscall inside is reported.
        #[cfg(feature = "rtsan")]
        rtsan_standalone::realtime_enter();
        let before = match probe {
            Some(Ok(p)) => {
                let seen = p.seen();
                p.enter();
                seen
            }
            _ => probe::Seen::default(),
        };
        let outcome = path.callback(tick.index, &mut out, &live.xruns);
        if let Some(Ok(p)) = probe {
            p.exit();
            max_futex = max_futex.max(p.seen().futex - before.futex);
        }
        #[cfg(feature = "rtsan")]
        rtsan_standalone::realtime_exit();
        let dt = t0.elapsed();
        durations.push(dt.as_nanos() as u64);
        let allocs = alloc_count::count() - allocs;
        if allocs != 0 {
            live.allocations.fetch_add(allocs, Ordering::Relaxed);
        }
        if outcome.stale != 0 {
            live.stale
                .fetch_add(u64::from(outcome.stale), Ordering::Relaxed);
        }
        live.callbacks.fetch_add(1, Ordering::Relaxed);
        if live.xruns.total_all() != xruns_before {
            live.xrun_periods.fetch_add(1, Ordering::Relaxed);
        }
        // Output meter, published once a second (wait-free; the clock is the vDSO one).
        peak = out[..path.frames() * CHANNELS]
            .iter()
            .fold(peak, |m, x| m.max(x.abs()));
        if peak_at.elapsed() >= Duration::from_secs(1) {
            live.peak_bits
                .store(u64::from(peak.to_bits()), Ordering::Relaxed);
            peak = 0.0;
            peak_at = Instant::now();
        }
    }
    alloc_count::unwatch();
    RtReport {
        status,
        syscalls: probe.map(|r| r.map(|p| (p.seen(), max_futex))),
        durations,
        lateness,
        param_contention: path.param_contention(),
    }
}

/// The control thread: sweeps the parameters, prints status and xruns, and kills and
/// restarts the helper when asked to.
fn control_loop(
    o: Options,
    shared: &AudioShared,
    name: &str,
    helper: &mut Option<Child>,
    live: &Live,
) {
    let start = Instant::now();
    let mut next_status = Duration::from_secs(1);
    let mut cursor = 0u64;
    let mut killed_at: Option<Duration> = None;
    let mut restarted = false;
    while start.elapsed().as_secs_f64() < o.seconds {
        std::thread::sleep(Duration::from_millis(50));
        let t = start.elapsed();
        // Gain sweeps 0.5..1.0 over 8 s; cutoff 1..9 kHz over 5 s.
        let ts = t.as_secs_f32();
        shared.params.publish(Params {
            gain: 0.75 + 0.25 * (core::f32::consts::TAU * ts / 8.0).sin(),
            cutoff_hz: 5_000.0 + 4_000.0 * (core::f32::consts::TAU * ts / 5.0).sin(),
        });

        if let (Some(at), None) = (o.kill_helper_at, killed_at) {
            if t.as_secs_f64() >= at {
                if let Some(mut c) = helper.take() {
                    let pid = c.id();
                    let _ = c.kill();
                    let _ = c.wait();
                    println!("[{:6.2} s] killed helper {pid} (SIGKILL)", t.as_secs_f64());
                }
                killed_at = Some(t);
            }
        }
        if let (Some(k), Some(after), false) = (killed_at, o.restart_after, restarted) {
            if (t - k).as_secs_f64() >= after {
                match spawn_helper(name, &o) {
                    Ok(c) => {
                        println!("[{:6.2} s] restarted helper as {}", t.as_secs_f64(), c.id());
                        *helper = Some(c);
                    }
                    Err(e) => {
                        println!("[{:6.2} s] cannot restart the helper: {e}", t.as_secs_f64())
                    }
                }
                restarted = true;
            }
        }

        // Xruns as they happen (at most 5 lines per poll; the rest are counted).
        let mut shown = 0;
        let mut hidden = 0u64;
        let lost = live.xruns.drain(&mut cursor, |period, kind| {
            if shown < 5 {
                println!(
                    "[{:6.2} s] xrun in period {period}: {}",
                    t.as_secs_f64(),
                    kind.name()
                );
                shown += 1;
            } else {
                hidden += 1;
            }
        });
        if hidden + lost > 0 {
            println!(
                "[{:6.2} s]   … and {} more xruns",
                t.as_secs_f64(),
                hidden + lost
            );
        }

        if t >= next_status {
            next_status += Duration::from_secs(1);
            let c = &shared.control;
            println!(
                "[{:6.2} s] callbacks {:6}  xruns {:5}  helper blocks {:6}  parks {:6}  out peak {:.3}",
                t.as_secs_f64(),
                live.callbacks.load(Ordering::Relaxed),
                live.xruns.total_all(),
                c.helper_blocks.load(Ordering::Relaxed),
                c.helper_parks.load(Ordering::Relaxed),
                f32::from_bits(live.peak_bits.load(Ordering::Relaxed) as u32),
            );
        }
    }
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

fn print_summary(
    o: Options,
    period: Duration,
    mut r: RtReport,
    live: &Live,
    shared: &AudioShared,
) -> ExitCode {
    let x = &live.xruns;
    println!("---");
    println!("audio thread: {}", r.status);
    println!(
        "callbacks: {}  xruns: {} in {} periods (missing block {}, send ring full {}, host woke late {}, corrupted {})  stale blocks dropped: {}",
        live.callbacks.load(Ordering::Relaxed),
        x.total_all(),
        live.xrun_periods.load(Ordering::Relaxed),
        x.total(XrunKind::Missing),
        x.total(XrunKind::Overflow),
        x.total(XrunKind::HostLate),
        x.total(XrunKind::Corrupted),
        live.stale.load(Ordering::Relaxed),
    );
    if let Some((med, p99, max)) = r.durations.summary() {
        println!(
            "callback duration: median {:.1} us, p99 {:.1} us, max {:.1} us (period {:.1} us)",
            us(med),
            us(p99),
            us(max),
            period.as_secs_f64() * 1e6
        );
    }
    if let Some((med, p99, max)) = r.lateness.summary() {
        println!(
            "wake-up lateness: median {:.1} us, p99 {:.1} us, max {:.1} us",
            us(med),
            us(p99),
            us(max)
        );
    }
    let allocations = live.allocations.load(Ordering::Relaxed);
    let other_syscalls = match r.syscalls {
        Some(Ok((seen, _))) => seen.other,
        _ => 0,
    };
    println!(
        "heap operations inside callbacks: {allocations}; parameter reads that kept old values: {}",
        r.param_contention
    );
    match r.syscalls {
        None => {}
        Some(Ok((seen, max_futex))) => println!(
            "syscalls inside callbacks (seccomp probe): {} futex wakes (at most {max_futex} in one callback), {} other",
            seen.futex, seen.other
        ),
        Some(Err(e)) => {
            println!("syscalls inside callbacks: not counted (seccomp probe refused, errno {e})")
        }
    }
    let c = &shared.control;
    println!(
        "helper: {} start(s), {} blocks processed, {} parks",
        c.helper_starts.load(Ordering::Relaxed),
        c.helper_blocks.load(Ordering::Relaxed),
        c.helper_parks.load(Ordering::Relaxed),
    );
    let _ = o;
    if allocations == 0 && other_syscalls == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
