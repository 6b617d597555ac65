//! Bookkeeping the audio thread does without allocating: callback durations into a buffer
//! reserved before the thread starts, and xruns into a fixed log another thread reads.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a period went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum XrunKind {
    /// The processed block for the previous period was not there: the helper is late,
    /// stalled or dead. The period's output is silence.
    Missing = 1,
    /// The ring to the helper was full: the helper is not draining it; this period's input
    /// block was dropped.
    Overflow = 2,
    /// The host's own wake-up came more than a period late: whole periods were skipped.
    HostLate = 3,
    /// A ring reported inconsistent shared state (a broken or malicious peer).
    Corrupted = 4,
}

impl XrunKind {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(XrunKind::Missing),
            2 => Some(XrunKind::Overflow),
            3 => Some(XrunKind::HostLate),
            4 => Some(XrunKind::Corrupted),
            _ => None,
        }
    }

    /// A short name for reports. Real-time class: wait-free.
    pub fn name(self) -> &'static str {
        match self {
            XrunKind::Missing => "missing block",
            XrunKind::Overflow => "send ring full",
            XrunKind::HostLate => "host woke late",
            XrunKind::Corrupted => "ring corrupted",
        }
    }
}

/// Number of xrun records kept for the reporter: it reads them every few hundred
/// milliseconds, far fewer than 64 periods' worth at 48 kHz unless the helper is dead,
/// and then the counters still say how many there were.
pub const XRUN_LOG_LEN: usize = 64;

/// Xrun counters and the last [`XRUN_LOG_LEN`] xrun records, written by the audio thread
/// (wait-free: a few relaxed stores and one release increment) and read by a reporter.
#[derive(Debug)]
pub struct XrunLog {
    /// Records: `period << 8 | kind`.
    records: [AtomicU64; XRUN_LOG_LEN],
    /// Records ever written; record `i` lives at `i % XRUN_LOG_LEN`.
    written: AtomicU64,
    /// Totals by kind (index `kind as usize`).
    totals: [AtomicU64; 5],
}

impl Default for XrunLog {
    fn default() -> Self {
        Self::new()
    }
}

impl XrunLog {
    /// An empty log. Real-time class: wait-free.
    pub const fn new() -> Self {
        #[allow(clippy::declare_interior_mutable_const)]
        const Z: AtomicU64 = AtomicU64::new(0);
        Self {
            records: [Z; XRUN_LOG_LEN],
            written: Z,
            totals: [Z; 5],
        }
    }

    /// Records an xrun in `period`. Only the audio thread calls it. Real-time class:
    /// **wait-free**.
    #[inline]
    pub fn record(&self, period: u64, kind: XrunKind) {
        let i = self.written.load(Ordering::Relaxed);
        self.records[(i % XRUN_LOG_LEN as u64) as usize]
            .store(period << 8 | kind as u64, Ordering::Relaxed);
        self.written.store(i + 1, Ordering::Release);
        self.totals[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Total xruns of `kind`. Real-time class: wait-free.
    pub fn total(&self, kind: XrunKind) -> u64 {
        self.totals[kind as usize].load(Ordering::Relaxed)
    }

    /// Total xruns of every kind. Real-time class: wait-free.
    pub fn total_all(&self) -> u64 {
        self.totals.iter().map(|t| t.load(Ordering::Relaxed)).sum()
    }

    /// Calls `f(period, kind)` for each record written since `*cursor` that is still in
    /// the log, advances `*cursor`, and returns how many were lost to overwriting.
    /// Real-time class: wait-free (bounded by the log length); for the reporter thread.
    pub fn drain(&self, cursor: &mut u64, mut f: impl FnMut(u64, XrunKind)) -> u64 {
        let end = self.written.load(Ordering::Acquire);
        let start = (*cursor).max(end.saturating_sub(XRUN_LOG_LEN as u64));
        let lost = start - (*cursor).min(start);
        for i in start..end {
            let r = self.records[(i % XRUN_LOG_LEN as u64) as usize].load(Ordering::Relaxed);
            // The writer may have lapped us while we read: only records still inside the
            // window after the read are reported.
            if self.written.load(Ordering::Acquire) - i > XRUN_LOG_LEN as u64 {
                continue;
            }
            if let Some(kind) = XrunKind::from_u8(r as u8) {
                f(r >> 8, kind);
            }
        }
        *cursor = end;
        lost
    }
}

/// Callback durations, in nanoseconds, into a buffer reserved up front: `push` never
/// allocates; once full it keeps only the maximum.
#[derive(Debug)]
pub struct Durations {
    ns: Vec<u32>,
    cap: usize,
    max: u64,
}

impl Durations {
    /// Room for `cap` durations, written once now so that no page of the buffer faults in
    /// on the audio thread. Real-time class: may block (allocates).
    pub fn with_capacity(cap: usize) -> Self {
        let mut ns = Vec::with_capacity(cap);
        ns.resize(cap, u32::MAX);
        ns.clear();
        Self { ns, cap, max: 0 }
    }

    /// Records one duration. Real-time class: **wait-free**, no allocation (the vector
    /// never grows past its reserved capacity).
    #[inline]
    pub fn push(&mut self, ns: u64) {
        self.max = self.max.max(ns);
        if self.ns.len() < self.cap {
            self.ns.push(u32::try_from(ns).unwrap_or(u32::MAX));
        }
    }

    /// Median, 99th percentile and maximum in nanoseconds (exact over the kept samples;
    /// the maximum over all). Real-time class: may block (sorts); call it after the
    /// audio thread stopped.
    pub fn summary(&mut self) -> Option<(u64, u64, u64)> {
        if self.ns.is_empty() {
            return None;
        }
        self.ns.sort_unstable();
        let at = |q: f64| {
            let i = ((self.ns.len() - 1) as f64 * q).round() as usize;
            u64::from(self.ns[i])
        };
        Some((at(0.5), at(0.99), self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xrun_log_reports_in_order_and_counts_what_was_overwritten() {
        let log = XrunLog::new();
        let mut cursor = 0;
        log.record(5, XrunKind::Missing);
        log.record(6, XrunKind::Overflow);
        let mut seen = Vec::new();
        assert_eq!(log.drain(&mut cursor, |p, k| seen.push((p, k))), 0);
        assert_eq!(seen, [(5, XrunKind::Missing), (6, XrunKind::Overflow)]);
        for p in 0..100 {
            log.record(1000 + p, XrunKind::HostLate);
        }
        seen.clear();
        let lost = log.drain(&mut cursor, |p, k| seen.push((p, k)));
        assert_eq!(lost, 100 - XRUN_LOG_LEN as u64);
        assert_eq!(seen.len(), XRUN_LOG_LEN);
        assert_eq!(
            seen[0],
            (1000 + 100 - XRUN_LOG_LEN as u64, XrunKind::HostLate)
        );
        assert_eq!(seen.last(), Some(&(1099, XrunKind::HostLate)));
        assert_eq!(log.total(XrunKind::HostLate), 100);
        assert_eq!(log.total_all(), 102);
    }

    #[test]
    fn durations_summary_is_exact_and_push_never_grows() {
        let mut d = Durations::with_capacity(100);
        let cap = d.ns.capacity();
        for ns in (1..=200u64).rev() {
            d.push(ns * 10);
        }
        assert_eq!(d.ns.capacity(), cap, "push reallocated");
        // Kept: the first 100 pushed (2000 down to 1010); max over all 200.
        let (med, p99, max) = d.summary().unwrap();
        assert_eq!(max, 2000);
        assert_eq!(med, 1510); // index round(99 × 0.5) = 50 of 1010, 1020, …
        assert_eq!(p99, 1990);
    }
}
