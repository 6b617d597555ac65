//! The `rtsan` feature, checked against the real RealtimeSanitizer runtime: each blocking
//! shmsync function, called inside a real-time context, is reported under its own name
//! and stops the process; the wait-free and "may wake" operations an audio callback uses
//! are not reported.
//!
//! Every case runs in a child process (this executable re-run with the case name in
//! `SHMSYNC_RTSAN_CASE`), because RTSan ends the process at the first report. No test
//! harness (`harness = false` in Cargo.toml): `main` is either the parent or one case.
//!
//! ```text
//! RTSAN_ENABLE=1 RTSAN_LIB_PATH=/usr/lib/llvm-22/lib/clang/22/lib/linux/libclang_rt.rtsan-x86_64.a \
//!   cargo test --features rtsan --test rtsan
//! ```
//!
//! Built without `RTSAN_ENABLE=1` (or on a target RTSan does not support) the marks are
//! inert: the same cases then must all run to completion, which is what this file checks
//! instead. A host-lane test (it needs the `rtsan` feature, which no Miri lane enables:
//! Miri runs no child processes and no RTSan).

use shmsync::hal::atomic::AtomicU32;
use shmsync::{
    AutoResetEvent, Condvar, ManualResetEvent, Mpmc, MsgRing, Mutex, RwLock, Semaphore, Spsc,
};
use std::process::{Command, ExitCode};
use std::time::Duration;

/// The environment variable naming the case a child runs.
const CASE_VAR: &str = "SHMSYNC_RTSAN_CASE";

/// True when the runtime is linked: `rtsan-standalone` only links it (and only then do
/// its calls do anything) when the build saw `RTSAN_ENABLE` on a supported target. Read
/// at compile time, so cargo rebuilds this test when the variable changes.
const RTSAN_LINKED: bool = option_env!("RTSAN_ENABLE").is_some()
    && cfg!(any(
        all(
            target_os = "linux",
            any(target_arch = "x86_64", target_arch = "aarch64")
        ),
        target_vendor = "apple"
    ));

/// A short timeout for the timed cases: the calls are reported before they would wait,
/// and without the runtime they return after at most this long.
const SHORT: Duration = Duration::from_millis(1);

/// One case: its name and what it does inside the real-time context. `Some(name)`: the
/// blocking function RTSan must report; `None`: the case must run clean.
struct Case {
    name: &'static str,
    reported: Option<&'static str>,
    run: fn(),
}

/// Runs `body` between `realtime_enter` and `realtime_exit`, with `setup`'s value (made
/// outside: role claims and locks are themselves blocking).
fn in_realtime<S>(setup: impl FnOnce() -> S, body: impl FnOnce(&mut S)) {
    let mut state = setup();
    rtsan_standalone::realtime_enter();
    body(&mut state);
    rtsan_standalone::realtime_exit();
}

/// Ends a case's call: only that the call was made matters, not what it returned.
fn discard<T>(_result: T) {}

fn cases() -> Vec<Case> {
    vec![
        // ---- blocking: each must be reported under its own name ----
        Case {
            name: "mutex_lock",
            reported: Some("shmsync::Mutex::lock"),
            // Uncontended: it would not wait, and is reported all the same.
            run: || in_realtime(|| Mutex::new(0u32), |m| *m.lock().unwrap() += 1),
        },
        Case {
            name: "mutex_lock_timeout",
            reported: Some("shmsync::Mutex::lock_timeout"),
            run: || in_realtime(|| Mutex::new(0u32), |m| discard(m.lock_timeout(SHORT))),
        },
        Case {
            name: "condvar_wait_timeout",
            reported: Some("shmsync::Condvar::wait_timeout"),
            run: || {
                let (m, cv) = (Mutex::new(0u32), Condvar::new());
                let guard = m.lock().unwrap();
                in_realtime(
                    || Some(guard),
                    |g| discard(cv.wait_timeout(g.take().unwrap(), SHORT)),
                );
            },
        },
        Case {
            name: "semaphore_wait_timeout",
            reported: Some("shmsync::Semaphore::wait_timeout"),
            run: || in_realtime(|| Semaphore::new(1), |s| discard(s.wait_timeout(SHORT))),
        },
        Case {
            name: "rwlock_read",
            reported: Some("shmsync::RwLock::read"),
            run: || in_realtime(|| RwLock::new(0u32), |l| discard(l.read())),
        },
        Case {
            name: "rwlock_write_timeout",
            reported: Some("shmsync::RwLock::write_timeout"),
            run: || in_realtime(|| RwLock::new(0u32), |l| discard(l.write_timeout(SHORT))),
        },
        Case {
            name: "event_wait_timeout",
            reported: Some("shmsync::AutoResetEvent::wait_timeout"),
            run: || in_realtime(AutoResetEvent::new_set, |e| discard(e.wait_timeout(SHORT))),
        },
        Case {
            name: "spsc_push",
            reported: Some("shmsync::ring::spsc::Producer::push"),
            run: || {
                let ring = Spsc::<u32, 4>::new();
                in_realtime(
                    || ring.producer().unwrap(),
                    |tx| discard(tx.push(1, Some(SHORT))),
                );
            },
        },
        Case {
            name: "spsc_pop",
            reported: Some("shmsync::ring::spsc::Consumer::pop"),
            run: || {
                let ring = Spsc::<u32, 4>::new();
                in_realtime(
                    || ring.consumer().unwrap(),
                    |rx| discard(rx.pop(Some(SHORT))),
                );
            },
        },
        Case {
            name: "spsc_claim",
            reported: Some("shmsync::Spsc::producer"),
            run: || {
                let ring = Spsc::<u32, 4>::new();
                in_realtime(|| (), |_| discard(ring.producer()));
            },
        },
        Case {
            name: "mpmc_pop",
            reported: Some("shmsync::Mpmc::pop"),
            run: || in_realtime(Mpmc::<u32, 4>::new, |q| discard(q.pop(Some(SHORT)))),
        },
        Case {
            name: "msg_send",
            reported: Some("shmsync::ring::msg::MsgProducer::send"),
            run: || {
                let ring = MsgRing::<64>::new();
                in_realtime(
                    || ring.producer().unwrap(),
                    |tx| discard(tx.send(b"x", Some(SHORT))),
                );
            },
        },
        Case {
            name: "msg_recv",
            reported: Some("shmsync::ring::msg::MsgConsumer::recv"),
            run: || {
                let ring = MsgRing::<64>::new();
                in_realtime(
                    || ring.consumer().unwrap(),
                    |rx| discard(rx.recv(&mut [0; 8], Some(SHORT))),
                );
            },
        },
        Case {
            name: "hal_wait",
            // The hal's own mark, right before the kernel wait (before RTSan's `syscall`
            // interceptor sees the futex call on Linux).
            reported: Some("shmsync_hal::wait"),
            run: || {
                in_realtime(
                    || AtomicU32::new(0),
                    |w| discard(shmsync::hal::wait(w, 0, Some(SHORT))),
                )
            },
        },
        // ---- "may wake" with a kernel wake: not marked, but on Linux RTSan intercepts the
        // futex `syscall` itself (the caveat the crate docs state) ----
        #[cfg(target_os = "linux")]
        Case {
            name: "hal_wake_linux",
            reported: Some("syscall"),
            run: || in_realtime(|| AtomicU32::new(0), |w| shmsync::hal::wake_one(w)),
        },
        // ---- allowed on a real-time thread: must run clean ----
        Case {
            name: "wait_free_ops",
            reported: None,
            run: || {
                let ring = Spsc::<u32, 4>::new();
                let mpmc = Mpmc::<u32, 4>::new();
                let msg = MsgRing::<64>::new();
                let (m, cv) = (Mutex::new(0u32), Condvar::new());
                let (sem, rw) = (Semaphore::new(0), RwLock::new(0u32));
                let (auto, manual) = (AutoResetEvent::new(), ManualResetEvent::new());
                let word = AtomicU32::new(0);
                in_realtime(
                    || {
                        let p = ring.producer().unwrap();
                        let c = ring.consumer().unwrap();
                        let mp = msg.producer().unwrap();
                        let mc = msg.consumer().unwrap();
                        (p, c, mp, mc)
                    },
                    |(tx, rx, mtx, mrx)| {
                        // Nobody is parked anywhere, so no "may wake" op makes a syscall.
                        tx.try_push(7).unwrap();
                        assert_eq!(tx.push_slice(&[8, 9]).unwrap(), 2);
                        assert_eq!(rx.try_pop().unwrap(), 7);
                        assert_eq!(rx.pop_slice(&mut [0; 2]).unwrap(), 2);
                        mpmc.try_push(1).unwrap();
                        assert_eq!(mpmc.try_pop().unwrap(), 1);
                        mtx.try_send(b"abc").unwrap();
                        assert_eq!(mrx.try_recv(&mut [0; 8]).unwrap(), 3);
                        *m.try_lock().unwrap() += 1; // and the unlock
                        cv.notify_one();
                        cv.notify_all();
                        sem.post(1).unwrap();
                        assert!(sem.try_wait());
                        discard(rw.try_read().unwrap());
                        discard(rw.try_write().unwrap());
                        auto.set();
                        assert!(auto.try_wait());
                        manual.set();
                        assert!(manual.is_set());
                        manual.reset();
                        // Zero timeout: a compare, wait-free.
                        let w = shmsync::hal::wait(&word, 0, Some(Duration::ZERO));
                        assert_eq!(w, shmsync::hal::Wait::TimedOut);
                    },
                );
            },
        },
    ]
}

fn main() -> ExitCode {
    rtsan_standalone::ensure_initialized();
    if let Ok(name) = std::env::var(CASE_VAR) {
        let case = cases().into_iter().find(|c| c.name == name);
        (case.expect("unknown case").run)();
        return ExitCode::SUCCESS;
    }

    let exe = std::env::current_exe().expect("own path");
    let mut failures = 0;
    for case in cases() {
        let out = Command::new(&exe)
            .env(CASE_VAR, case.name)
            .output()
            .expect("run a case");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let verdict = match (RTSAN_LINKED, case.reported) {
            (true, Some(function)) => {
                let named = stderr.contains(&format!("`{function}`"));
                if !out.status.success() && stderr.contains("RealtimeSanitizer") && named {
                    Ok(format!("reported `{function}`"))
                } else {
                    Err(format!("expected a report naming `{function}`"))
                }
            }
            // No runtime, or an allowed operation: must finish normally and silently.
            _ => {
                if out.status.success() && !stderr.contains("RealtimeSanitizer") {
                    Ok("ran clean".to_owned())
                } else {
                    Err("expected a clean run".to_owned())
                }
            }
        };
        match verdict {
            Ok(what) => println!("rtsan case {:<24} ok: {what}", case.name),
            Err(why) => {
                failures += 1;
                println!(
                    "rtsan case {:<24} FAILED: {why}; exit {}",
                    case.name, out.status
                );
                println!("--- its stderr ---\n{stderr}---");
            }
        }
    }
    println!("rtsan runtime linked: {RTSAN_LINKED}; {failures} failure(s)");
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
