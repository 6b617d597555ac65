//! The main job: round-trip latency between two processes that share one memory region.
//!
//! ```text
//! cargo run --release --example pingpong                 # every row, ~10 s
//! cargo run --release --example pingpong -- --json       # the same, as JSON on stdout
//! cargo run --release --example pingpong -- --help       # options
//! ```
//!
//! The program creates an anonymous shared-memory object, re-executes itself as the *peer*
//! (`--peer-fd N`: the object's descriptor, inherited, so there is no name to leave behind;
//! its stdin and stdout are the pipe row's two pipes), and then, row
//! by row, sends a message, waits for the peer's echo and records the round trip:
//!
//! * baselines: a bare one-line `AtomicU32` ping-pong (`atomic`: both sides write one
//!   word, nothing copied — the true spin baseline), the same spin with the message copied
//!   through a data area (`spin`), a bare shared-futex ping-pong (raw `SYS_futex`, Linux
//!   only: the blocking baseline) and a pipe ping-pong;
//! * shmsync's hal: wait/wake parking on every message (judged against the raw futex:
//!   target ≤ 1.05×), and adaptive waiting — an `arch::Backoff` spin, then park (target
//!   ≤ 1.3× `spin`, the same copy path spinning);
//! * shmsync's rings: two `Spsc<u64, 8192>` in the region, one per direction, with
//!   `try_push` / `try_pop` spinning (target ≤ 1.6× `atomic`); with the ring's blocking
//!   `pop(None)` and both ends' spin limit set to 0, so the receiver parks every time the
//!   ring is empty (judged against the raw futex: target ≤ 1.05×); and with the same
//!   `pop(None)` spinning for the spin window of `--spin-limit` first (spin, then park;
//!   target ≤ 1.3× `ring-spin`, and its sleeps column ≤ 0.05 when the peer answers within
//!   the window). Use `--pin` for figures that mean anything: unpinned, a busy machine
//!   shows its scheduler.
//!
//! Every message carries a sequence number. The receiver of each direction checks that
//! the message word moved by exactly one and that the sequence number is the next one;
//! the parent checks every echo and, at the end of a row, that the peer counted as many
//! messages as it sent. A watchdog thread declares a message lost when no answer comes
//! for `--stall-timeout` seconds, and notices a peer that died. Any of these ends the run
//! with a message and exit status 1. `--inject-drop N` / `--inject-dup N` (hidden) make
//! the peer drop or repeat message N (sequence numbers restart at 1 in every slice, the
//! warm-up included), to show that those checks fire.
//!
//! The rows run interleaved: `--rounds` rounds (default 3), each giving every row one
//! slice of its time, so that drift in the machine's state (other jobs, a vCPU moved by
//! the hypervisor) affects a baseline and the shmsync rows judged against it alike.
//!
//! Timestamps come from the hal clock (`CLOCK_MONOTONIC`, a vDSO read on Linux), taken
//! just before the send and just after the receive; the histogram is allocated once at
//! start-up and recording a sample does not allocate.

#[path = "pingpong/args.rs"]
mod args;
#[path = "pingpong/hist.rs"]
mod hist;
#[path = "pingpong/link.rs"]
mod link;
#[path = "pingpong/peer.rs"]
mod peer;
#[path = "pingpong/plot.rs"]
mod plot;
#[path = "pingpong/report.rs"]
mod report;
#[path = "pingpong/ring.rs"]
mod ring;
#[path = "pingpong/rows.rs"]
mod rows;
#[path = "pingpong/shared.rs"]
mod shared;
#[path = "pingpong/sys.rs"]
mod sys;

use shmsync::hal;
use shmsync::hal::atomic::Ordering;
use shmsync::hal::clock::Instant;
use shmsync::hal::shm::SharedMemory;
use std::io::{IsTerminal, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use args::Options;
use hist::Histogram;
use link::PipeLink;
use rows::{ALL, Drive, Plan};
use shared::{ACK_DONE, ACK_FAILED, ACK_HELLO, ACK_READY, CMD_QUIT, Control, Mem, region_len};

/// Watchdog state: between rows (handshakes have their own time limits).
const IDLE: u32 = 0;
/// Watchdog state: a row is running; no progress for `--stall-timeout` means a loss.
const RUNNING: u32 = 1;
/// Watchdog state: all rows done; the peer is expected to exit.
const FINISHING: u32 = 2;

/// The parent's state, shared with the watchdog thread.
static STATE: AtomicU32 = AtomicU32::new(IDLE);
/// Index into `rows::ALL` of the row running; [`NO_ROW`] before the first one starts.
static ROW: AtomicUsize = AtomicUsize::new(NO_ROW);
/// [`ROW`] before any row started (start-up: the peer attaching, pinning).
const NO_ROW: usize = usize::MAX;

/// Where the run is, for error messages: "during row `ring-spin` (round 2 of 3)" or
/// "while the peer was starting (before the first row)".
fn where_now() -> String {
    match ALL.get(ROW.load(Ordering::Relaxed)) {
        Some(row) => format!("during row `{}`", row.key),
        None => "while the peer was starting (before the first row)".to_string(),
    }
}
/// Position of that row in this run (1-based), for the progress line.
static ROW_POS: AtomicUsize = AtomicUsize::new(0);
/// Sequence number of the last answered message of the row.
static PROGRESS: AtomicU64 = AtomicU64::new(0);
/// Clock ns when measuring (after the warm-up) started; 0 while warming up.
static MEASURING_SINCE: AtomicU64 = AtomicU64::new(0);
/// The peer's pid, killed on failure (0: none yet).
static PEER_PID: AtomicI32 = AtomicI32::new(0);
/// Whether `--json` was given (failures then also print a JSON document).
static JSON: AtomicU32 = AtomicU32::new(0);

/// Reports a failure once, kills the peer and exits with status 1.
fn fail(msg: &str) -> ! {
    static ONCE: Mutex<()> = Mutex::new(());
    // A second failing thread blocks here forever while the first one exits.
    let _guard = ONCE.lock();
    let pid = PEER_PID.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: plain syscall on our own child's pid (not reaped, so not reused).
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let tty = std::io::stderr().is_terminal();
    eprintln!(
        "{}pingpong: error: {msg}",
        if tty { "\r\x1b[K" } else { "" }
    );
    if JSON.load(Ordering::Relaxed) != 0 {
        println!("{}", report::json_error(msg));
    }
    let _ = std::io::stdout().flush();
    std::process::exit(1);
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match args::parse(&argv) {
        Ok(args::Command::Help) => println!("{}", args::usage()),
        Ok(args::Command::Peer(fd)) => std::process::exit(peer::main(fd)),
        Ok(args::Command::Run(o)) => run(o),
        Err(e) => {
            eprintln!("pingpong: {e}");
            std::process::exit(2);
        }
    }
}

/// Waits until the peer acknowledges command `generation` with `want`.
fn wait_ack(c: &Control, generation: u32, want: u32, what: &str) -> Result<(), String> {
    let deadline = Instant::now().checked_add(Duration::from_secs(10));
    loop {
        let v = c.ack.load(Ordering::Acquire);
        if v == generation << 8 | want {
            return Ok(());
        }
        if v == generation << 8 | ACK_FAILED {
            return Err(format!("the peer could not {what}"));
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return Err(format!("the peer did not {what} within 10 s"));
        }
        hal::wait(&c.ack, v, Some(Duration::from_millis(100)));
    }
}

fn run(o: Options) {
    JSON.store(u32::from(o.json), Ordering::Relaxed);
    let tty = std::io::stderr().is_terminal();
    // Before pinning, which narrows what this process may use to one CPU.
    let cpus = sys::cpus();
    let mut skipped: report::Skipped = Vec::new();
    let rows: Vec<usize> = o
        .rows
        .iter()
        .copied()
        .filter(|&r| {
            let ok = ALL[r].available();
            if !ok {
                skipped.push((&ALL[r], ALL[r].unavailable_reason()));
            }
            ok
        })
        .collect();
    let mut pinned = o.pin;
    if let Some((a, b)) = o.pin {
        for (who, cpu) in [("this process", a), ("the peer", b)] {
            if cpu >= cpus {
                fail(&format!(
                    "--pin: CPU {cpu} (for {who}) does not exist: this process may use {cpus} \
                     CPU{} (0-{})",
                    if cpus == 1 { "" } else { "s" },
                    cpus - 1
                ));
            }
        }
    }
    if let Some((a, _)) = o.pin {
        if let Err(e) = sys::pin_to(a) {
            eprintln!("pingpong: note: running unpinned: pinning this process to CPU {a}: {e}");
            pinned = None;
        }
    }

    // The region, filled in before the peer starts.
    // An anonymous object (memfd on Linux; shm_open + unlink at once elsewhere), handed to
    // the peer as an inherited descriptor: it has no name, so no exit path — a failure, a
    // signal, SIGKILL — can leave one behind in /dev/shm.
    let shm = SharedMemory::create(region_len())
        .unwrap_or_else(|e| fail(&format!("creating shared memory: {e}")));
    let map = shm
        .map()
        .unwrap_or_else(|e| fail(&format!("mapping the shared memory: {e}")));
    // SAFETY: the mapping is page-aligned, region_len() bytes, fresh (nobody else has it
    // yet), and lives until `run` ends (the process exits from `run` or right after it).
    let region = unsafe { Mem::create(map.as_ptr()) }
        .unwrap_or_else(|e| fail(&format!("creating the region: {e}")));
    let c = region.control();
    c.size.store(o.size as u32, Ordering::Relaxed);
    c.inject.store(o.inject, Ordering::Relaxed);
    c.inject_at.store(o.inject_at, Ordering::Relaxed);
    c.peer_cpu
        .store(pinned.map_or(0, |(_, b)| b as u32 + 1), Ordering::Relaxed);
    c.spin_limit.store(o.spin_limit + 1, Ordering::Relaxed);
    link::SPIN_LIMIT.store(o.spin_limit, Ordering::Relaxed);

    let exe = std::env::current_exe()
        .unwrap_or_else(|e| fail(&format!("finding this program's path: {e}")));
    // A copy of the descriptor without close-on-exec (the object's own one keeps it), for
    // the peer only; closed here once the peer has it. No other thread exists yet, so no
    // other child can inherit it.
    // SAFETY: F_DUPFD on our own open descriptor; the result is checked.
    let peer_fd = unsafe { libc::fcntl(shm.fd().as_raw_fd(), libc::F_DUPFD, 3) };
    if peer_fd < 0 {
        fail(&format!(
            "passing the shared memory to the peer: {}",
            std::io::Error::last_os_error()
        ));
    }
    let spawned = Command::new(exe)
        .arg("--peer-fd")
        .arg(peer_fd.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    // SAFETY: `peer_fd` is ours (made above) and used nowhere else.
    unsafe { libc::close(peer_fd) };
    let mut child = spawned.unwrap_or_else(|e| fail(&format!("starting the peer process: {e}")));
    PEER_PID.store(child.id() as i32, Ordering::Relaxed);
    let mut pipe = match (child.stdin.take(), child.stdout.take()) {
        (Some(tx), Some(rx)) => PipeLink::new(tx, rx),
        _ => fail("the peer's pipes were not set up"),
    };
    let child = Arc::new(Mutex::new(child));
    let watchdog = {
        let child = Arc::clone(&child);
        let stall = o.stall;
        let steps = rows.len() * o.rounds.max(1) as usize;
        std::thread::spawn(move || watch(&child, steps, stall, tty))
    };
    wait_ack(c, 0, ACK_HELLO, "attach to the region").unwrap_or_else(|e| fail(&e));
    // Both processes have it mapped; the mappings keep the object alive.
    drop(shm);

    let load_before = sys::load_average();
    let unix_time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let header = |load_after| report::Header {
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
        cpus,
        backend: hal::backend().name(),
        size: o.size,
        spin_limit: o.spin_limit,
        pinned,
        duration: o.duration.as_secs_f64(),
        count: o.count,
        rounds: o.rounds,
        warmup: o.warmup.as_secs_f64(),
        load: (load_before, load_after),
        unix_time,
    };
    if !o.json {
        print!("{}", report::header(&header(None)));
        let _ = std::io::stdout().flush();
    }

    // All allocation happens here, before the first timed round trip.
    let mut hists: Vec<Histogram> = rows.iter().map(|_| Histogram::new()).collect();
    // Each slice records into `slice_hist`, then goes into its row's total; its median is
    // the round's (verdicts must hold round by round, see `report::verdict`).
    let mut slice_hist = Histogram::new();
    let rounds_planned = o.rounds.max(1) as usize;
    let mut round_medians: Vec<Vec<u64>> = rows
        .iter()
        .map(|_| Vec::with_capacity(rounds_planned))
        .collect();
    let mut totals = vec![Totals::default(); rows.len()];
    let mut out = vec![0u8; o.size];
    let mut inp = vec![0u8; o.size];
    // Payload bytes after the sequence number: a fixed pattern the echo carries back.
    for (i, b) in out.iter_mut().enumerate().skip(8) {
        *b = i as u8;
    }
    // The rows run interleaved, in `rounds` rounds of one slice each, so that a change in
    // the machine's state (another job, the hypervisor moving a vCPU) hits every row
    // alike instead of skewing the ratios between a baseline and its shmsync row.
    let rounds = o.rounds.max(1);
    let steps = rows.len() * rounds as usize;
    let mut generation = 0u32;
    for round in 0..rounds {
        let plan = Plan {
            warmup: o.warmup,
            duration: o.duration / rounds,
            // An exact count is split over the rounds; the first ones take the remainder.
            count: o.count.map(|n| {
                (n / u64::from(rounds) + u64::from(u64::from(round) < n % u64::from(rounds))).max(1)
            }),
        };
        for (i, &row) in rows.iter().enumerate() {
            generation += 1;
            let step = round as usize * rows.len() + i + 1;
            slice_hist.clear();
            let driven = run_slice(c, &region, &mut pipe, row, generation, step, plan, {
                Buffers {
                    hist: &mut slice_hist,
                    out: &mut out,
                    inp: &mut inp,
                }
            });
            hists[i].merge(&slice_hist);
            round_medians[i].push(slice_hist.quantile(0.5));
            let t = &mut totals[i];
            t.sent += driven.sent;
            t.peer_received += driven.peer_received;
            t.secs += driven.secs;
            t.sleeps += driven.sleeps;
            eprintln!(
                "{}[{step}/{steps}] {:<13} round {}/{rounds}: {} messages answered in order \
                 and counted by the peer",
                if tty { "\r\x1b[K" } else { "" },
                ALL[row].key,
                round + 1,
                report::thousands(driven.sent),
            );
        }
    }

    STATE.store(FINISHING, Ordering::Release);
    c.cmd
        .store((generation + 1) << 8 | CMD_QUIT, Ordering::Release);
    hal::wake_one(&c.cmd);
    drop(pipe);
    let _ = watchdog.join();

    let outcomes: Vec<report::Outcome> = rows
        .iter()
        .zip(hists.iter().zip(&totals).zip(&round_medians))
        .map(|(&row, ((hist, t), medians))| report::Outcome {
            row: &ALL[row],
            hist,
            rounds: medians,
            secs: t.secs,
            sent: t.sent,
            peer_received: t.peer_received,
            // Sleeps per message, both directions (stop messages and answers included).
            sleeps: ALL[row]
                .counts_sleeps()
                .then(|| t.sleeps as f64 / (2 * (t.sent + u64::from(rounds))) as f64),
        })
        .collect();
    let header = header(sys::load_average());
    if let Some(path) = &o.plot {
        let title = format!(
            "shmsync pingpong: round trips ({} B messages, {})",
            o.size,
            match pinned {
                Some((a, b)) => format!("pinned to CPUs {a} and {b}"),
                None => "unpinned".to_string(),
            }
        );
        if let Err(e) = plot::cdf_svg(path, &outcomes, &title) {
            fail(&e);
        }
        eprintln!("pingpong: wrote the latency CDF to {}", path.display());
    }
    if o.json {
        print!("{}", report::json(&header, &outcomes, &skipped));
    } else {
        println!();
        print!("{}", report::table(&outcomes, &skipped));
        if o.hist {
            println!();
            print!("{}", report::histogram(&outcomes));
        }
    }
}

/// What one row accumulated over its rounds.
#[derive(Clone, Copy, Default)]
struct Totals {
    sent: u64,
    peer_received: u64,
    secs: f64,
    sleeps: u64,
}

/// The parent's buffers for one slice.
struct Buffers<'a> {
    hist: &'a mut Histogram,
    out: &'a mut [u8],
    inp: &'a mut [u8],
}

/// What one slice of a row gave.
struct Slice {
    sent: u64,
    peer_received: u64,
    secs: f64,
    sleeps: u64,
}

/// Runs one slice of row `row` (command `generation`, progress position `step`): starts
/// the peer on it, drives it, and checks the peer's count. Any failure ends the run.
#[allow(clippy::too_many_arguments)]
fn run_slice<P: link::Link>(
    c: &Control,
    region: &Mem,
    pipe: &mut P,
    row: usize,
    generation: u32,
    step: usize,
    plan: Plan,
    buf: Buffers,
) -> Slice {
    let key = ALL[row].key;
    // Fresh message words (count 0, nobody parked) before the peer builds its link.
    c.ping.store(0, Ordering::Relaxed);
    c.pong.store(0, Ordering::Relaxed);
    ROW.store(row, Ordering::Relaxed);
    ROW_POS.store(step, Ordering::Relaxed);
    PROGRESS.store(0, Ordering::Relaxed);
    MEASURING_SINCE.store(0, Ordering::Relaxed);
    c.cmd
        .store(generation << 8 | (row as u32 + 1), Ordering::Release);
    hal::wake_one(&c.cmd);
    wait_ack(c, generation, ACK_READY, &format!("start row `{key}`")).unwrap_or_else(|e| fail(&e));
    link::SLEEPS.store(0, Ordering::Relaxed);
    STATE.store(RUNNING, Ordering::Release);
    let drive = Drive {
        plan,
        hist: buf.hist,
        out: buf.out,
        inp: buf.inp,
        progress: &PROGRESS,
        measuring_since: &MEASURING_SINCE,
    };
    let driven = rows::dispatch(row, true, region, pipe, drive)
        .unwrap_or_else(|e| fail(&format!("row `{key}`: {e}")))
        .unwrap_or_else(|e| fail(&format!("row `{key}`: {e}")));
    STATE.store(IDLE, Ordering::Release);
    wait_ack(c, generation, ACK_DONE, &format!("finish row `{key}`")).unwrap_or_else(|e| fail(&e));
    let peer_received = c.peer_count.load(Ordering::Relaxed);
    if peer_received != driven.sent {
        fail(&format!(
            "row `{key}`: sent {} messages, the peer received {peer_received}",
            driven.sent
        ));
    }
    Slice {
        sent: driven.sent,
        peer_received,
        secs: driven.secs,
        sleeps: link::SLEEPS.load(Ordering::Relaxed) + c.peer_sleeps.load(Ordering::Relaxed),
    }
}

/// The watchdog thread: progress line, lost-message detection, peer liveness. Returns
/// once the peer has exited cleanly after the last row.
fn watch(child: &Mutex<Child>, steps: usize, stall: Duration, tty: bool) {
    let tick = Duration::from_millis(100);
    let mut last = (usize::MAX, u64::MAX);
    let mut since = Instant::now();
    let mut ticks = 0u32;
    loop {
        std::thread::sleep(tick);
        ticks += 1;
        let state = STATE.load(Ordering::Acquire);
        let status = child.lock().map(|mut ch| ch.try_wait());
        match status {
            Ok(Ok(Some(st))) if state == FINISHING => {
                if !st.success() {
                    fail(&format!("the peer process ended with {st}"));
                }
                return;
            }
            Ok(Ok(Some(st))) => fail(&format!("the peer process ended with {st} {}", where_now())),
            Ok(Err(e)) => fail(&format!("waiting for the peer: {e}")),
            Err(_) => fail("the peer handle was poisoned"),
            Ok(Ok(None)) => {}
        }
        if state == FINISHING && since.elapsed() > Duration::from_secs(10) {
            fail("the peer did not exit within 10 s of the last row");
        }
        let now = (
            ROW_POS.load(Ordering::Relaxed),
            PROGRESS.load(Ordering::Relaxed),
        );
        if now != last || state != RUNNING {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= stall {
            fail(&format!(
                "row `{}`: message {} got no answer for {:.1} s: a message or its answer \
                 was lost (after {} answered)",
                ALL[ROW.load(Ordering::Relaxed)].key,
                now.1 + 1,
                stall.as_secs_f64(),
                now.1
            ));
        }
        if tty && state == RUNNING && ticks % 2 == 0 {
            let m = MEASURING_SINCE.load(Ordering::Relaxed);
            let phase = if m == 0 {
                "warming up".to_string()
            } else {
                format!(
                    "measuring {:.1} s",
                    (Instant::now().as_nanos() - m) as f64 / 1e9
                )
            };
            eprint!(
                "\r\x1b[K[{}/{}] {:<13} {phase}, {} round trips",
                now.0,
                steps,
                ALL.get(ROW.load(Ordering::Relaxed)).map_or("-", |r| r.key),
                report::thousands(now.1)
            );
        }
    }
}
