//! Pinned two-thread runs shared by the benches: one thread on CPU 0, the other on CPU 1
//! (`sched_setaffinity`), released together by a spinning start line, so a cross-core
//! figure measures the cross-core hand-over, never two threads time-sharing one core.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Pins the calling thread to `cpu`. False where that is refused or unsupported (then
/// the figure is not a cross-core one: the bench says so on stderr).
pub fn pin(cpu: usize) -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `set` is a zeroed, valid cpu_set_t; CPU_SET writes inside it; the call
        // reads `size_of::<cpu_set_t>()` bytes of it and changes only this thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = cpu;
        false
    }
}

/// Runs `a` on a thread pinned to CPU 0 and `b` on one pinned to CPU 1; both start when
/// both are pinned and ready. Returns the time from the start until both finished.
pub fn pinned_pair<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> Duration {
    pinned_pair_with(a, b).0
}

/// As [`pinned_pair`], also returning what `a` and `b` returned.
pub fn pinned_pair_with<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (Duration, A, B) {
    let ready = AtomicU32::new(0);
    let warned = std::sync::Once::new();
    let line = |cpu: usize| {
        if !pin(cpu) {
            warned.call_once(|| {
                eprintln!("note: could not pin to CPU {cpu}: not a cross-core figure")
            });
        }
        ready.fetch_add(1, Ordering::AcqRel);
        while ready.load(Ordering::Acquire) < 2 {
            std::hint::spin_loop();
        }
        Instant::now()
    };
    let (start, end_a, end_b, ra, rb) = std::thread::scope(|s| {
        let tb = s.spawn(|| {
            let t = line(1);
            let r = std::hint::black_box(b());
            (t, Instant::now(), r)
        });
        let ta = s.spawn(|| {
            let t = line(0);
            let r = std::hint::black_box(a());
            (t, Instant::now(), r)
        });
        let (sa, ea, ra) = ta.join().unwrap();
        let (sb, eb, rb) = tb.join().unwrap();
        (sa.min(sb), ea, eb, ra, rb)
    });
    (end_a.max(end_b) - start, ra, rb)
}

/// Timestamps taken every `every` events of a run (`events / every + 1` of them,
/// preallocated before the run starts).
pub struct Stamps {
    every: u64,
    at: Vec<Instant>,
}

impl Stamps {
    /// Room for a run of `events` events stamped every `every`.
    pub fn new(events: u64, every: u64) -> Self {
        Self {
            every,
            at: Vec::with_capacity((events / every + 1) as usize),
        }
    }

    /// Call after event `i` (counting from 0) and before the first with `i = u64::MAX`.
    #[inline(always)]
    pub fn tick(&mut self, i: u64) {
        if i.wrapping_add(1) % self.every == 0 {
            self.at.push(Instant::now());
        }
    }

    /// Starts the run.
    pub fn start(&mut self) {
        self.at.push(Instant::now());
    }

    /// The run's cost as `events` events at the **median** chunk's rate: a chunk in which
    /// either thread lost its CPU (a busy machine preempts pinned threads too) is an
    /// outlier the median ignores, so the figure is the hand-over's cost while both
    /// threads run, not the scheduler's.
    pub fn median_total(&self, events: u64) -> Duration {
        let mut d: Vec<Duration> = self.at.windows(2).map(|w| w[1] - w[0]).collect();
        if d.is_empty() {
            return Duration::ZERO;
        }
        d.sort_unstable();
        d[d.len() / 2] * (events / self.every) as u32
    }
}

/// Voluntary + involuntary context switches of the calling thread so far.
pub fn context_switches() -> u64 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `ru` is a valid, writable rusage; RUSAGE_THREAD fills it for this thread.
        unsafe {
            let mut ru: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_THREAD, &mut ru);
            (ru.ru_nvcsw + ru.ru_nivcsw) as u64
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}
