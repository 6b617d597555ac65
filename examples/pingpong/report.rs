//! The results: a table, a terminal histogram and JSON.

use std::fmt::Write as _;

use crate::hist::{Histogram, coarse_bin, coarse_low};
use crate::rows::{Row, Target};

/// One measured row.
pub struct Outcome<'a> {
    /// The row.
    pub row: &'static Row,
    /// Its round trips.
    pub hist: &'a Histogram,
    /// Measured seconds.
    pub secs: f64,
    /// Data messages sent, warm-up included.
    pub sent: u64,
    /// Data messages the peer counted (must equal `sent`).
    pub peer_received: u64,
    /// Wait syscalls per message, both processes (None where not counted).
    pub sleeps: Option<f64>,
    /// The median of each round, in order (the rounds interleave the rows).
    pub rounds: &'a [u64],
}

/// What the run was, for the header and the JSON.
pub struct Header {
    /// `std::env::consts::OS`.
    pub os: &'static str,
    /// `std::env::consts::ARCH`.
    pub arch: &'static str,
    /// Logical CPUs.
    pub cpus: usize,
    /// The hal backend's name.
    pub backend: &'static str,
    /// Message bytes.
    pub size: usize,
    /// Backoff limit of the adaptive rows (hal-adaptive, ring-adaptive).
    pub spin_limit: u32,
    /// CPUs the two processes were pinned to.
    pub pinned: Option<(usize, usize)>,
    /// Measured seconds per row, unless `count` is set.
    pub duration: f64,
    /// Exact round trips per row.
    pub count: Option<u64>,
    /// Rounds the rows were interleaved in.
    pub rounds: u32,
    /// Warm-up seconds per row.
    pub warmup: f64,
    /// 1-minute load average before and after.
    pub load: (Option<f64>, Option<f64>),
    /// Seconds since the Unix epoch at the start.
    pub unix_time: u64,
}

/// Rows that could not run, with the reason.
pub type Skipped = Vec<(&'static Row, &'static str)>;

/// A duration in ns, with a unit that keeps three significant digits.
pub fn ns(v: f64) -> String {
    let (x, unit) = if v < 1e3 {
        return format!("{v:.0} ns");
    } else if v < 1e6 {
        (v / 1e3, "µs")
    } else if v < 1e9 {
        (v / 1e6, "ms")
    } else {
        (v / 1e9, "s")
    };
    if x < 10.0 {
        format!("{x:.2} {unit}")
    } else if x < 100.0 {
        format!("{x:.1} {unit}")
    } else {
        format!("{x:.0} {unit}")
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A row's comparison with its baseline: (baseline key, median ratio, p99 ratio).
fn ratio(outcomes: &[Outcome], o: &Outcome) -> Option<(&'static str, f64, f64)> {
    let key = o.row.baseline?;
    let base = outcomes.iter().find(|b| b.row.key == key)?;
    let (bm, b99) = (base.hist.quantile(0.5), base.hist.quantile(0.99));
    if bm == 0 || b99 == 0 {
        return None;
    }
    Some((
        key,
        o.hist.quantile(0.5) as f64 / bm as f64,
        o.hist.quantile(0.99) as f64 / b99 as f64,
    ))
}

/// How a row compared with its target.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The median ratio meets the target, in every round, and the distributions agree.
    Met,
    /// The median ratio misses the target, in every round, and the distributions agree.
    Missed,
    /// The data cannot decide (the reason says why): no verdict is better than a wrong one.
    Inconclusive(String),
    /// The baseline row was not run.
    NoBaseline,
}

impl Verdict {
    /// `Some(true)` met, `Some(false)` missed, `None` undecided.
    pub fn met(&self) -> Option<bool> {
        match self {
            Verdict::Met => Some(true),
            Verdict::Missed => Some(false),
            _ => None,
        }
    }

    fn word(&self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "missed",
            Verdict::Inconclusive(_) => "inconclusive",
            Verdict::NoBaseline => "no baseline",
        }
    }
}

/// Quantiles at which the row and its baseline are compared besides the median. A plain
/// shift (the row costs k× its baseline) gives about the same ratio at each of them; a
/// spread of ratios wider than [`SHAPE_LIMIT`] means the two distributions have different
/// shapes — typically bimodal (e.g. a fast and a slow wake-up path on a VM), with the two
/// medians in different modes — and then a median ratio measures where the modes split,
/// not the row.
const SHAPE_QUANTILES: [f64; 5] = [0.25, 0.4, 0.5, 0.6, 0.75];

/// Largest max/min of the ratios at [`SHAPE_QUANTILES`] that still counts as one shape:
/// 2×, far above the few percent a real difference between the rows moves them apart,
/// far below what a mode boundary does (10× and more between a µs and a tens-of-µs mode).
const SHAPE_LIMIT: f64 = 2.0;

/// The target, as text, and the verdict (None for baseline rows). A verdict must hold
/// three ways, else it is [`Verdict::Inconclusive`] with the reason:
/// 1. the baseline's median is not scheduler-bound (see [`STARVED_NS`]);
/// 2. the ratios at [`SHAPE_QUANTILES`] agree within [`SHAPE_LIMIT`];
/// 3. with two or more rounds, every round's median ratio gives the same answer as the
///    whole run's (rows are interleaved round by round, so a machine that changed state
///    during the run shows up as rounds that disagree).
fn verdict(outcomes: &[Outcome], o: &Outcome) -> Option<(String, Verdict)> {
    let Target::Ratio(max) = o.row.target else {
        return None;
    };
    let key = o.row.baseline?;
    let target = format!("median ≤ {max:.2}× {key}");
    let Some(base) = outcomes.iter().find(|b| b.row.key == key) else {
        return Some((target, Verdict::NoBaseline));
    };
    if baseline_starved(outcomes, o) {
        return Some((
            target,
            Verdict::Inconclusive("the baseline lost its CPU (median ≥ 1 ms)".into()),
        ));
    }
    let Some((_, r50, _)) = ratio(outcomes, o) else {
        return Some((
            target,
            Verdict::Inconclusive("the baseline has no samples".into()),
        ));
    };
    let at = |q: f64| {
        let b = base.hist.quantile(q);
        (b != 0).then(|| o.hist.quantile(q) as f64 / b as f64)
    };
    let shape: Vec<f64> = SHAPE_QUANTILES.iter().filter_map(|&q| at(q)).collect();
    let lo = shape.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = shape.iter().copied().fold(0.0, f64::max);
    if shape.len() == SHAPE_QUANTILES.len() && hi > SHAPE_LIMIT * lo {
        return Some((
            target,
            Verdict::Inconclusive(format!(
                "the distributions differ in shape (ratios {lo:.2}×–{hi:.2}× from p25 to \
                 p75; bimodal?), so the median ratio {r50:.2}× is no measurement"
            )),
        ));
    }
    let per_round: Vec<f64> = o
        .rounds
        .iter()
        .zip(base.rounds)
        .filter(|&(_, &b)| b != 0)
        .map(|(&r, &b)| r as f64 / b as f64)
        .collect();
    let met = r50 <= max;
    if per_round.len() >= 2 {
        let agree = per_round.iter().filter(|&&r| (r <= max) == met).count();
        if agree != per_round.len() {
            let lo = per_round.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = per_round.iter().copied().fold(0.0, f64::max);
            return Some((
                target,
                Verdict::Inconclusive(format!(
                    "{} in {} of {} rounds only (round ratios {lo:.2}×–{hi:.2}×)",
                    if met { "met" } else { "missed" },
                    agree,
                    per_round.len()
                )),
            ));
        }
    }
    Some((target, if met { Verdict::Met } else { Verdict::Missed }))
}

/// No round trip of these transports takes a millisecond unless a process lost its CPU:
/// a baseline median that slow measured the scheduler's time slices.
const STARVED_NS: u64 = 1_000_000;

/// Whether `o`'s baseline ran but its median is scheduler-bound (≥ 1 ms).
fn baseline_starved(outcomes: &[Outcome], o: &Outcome) -> bool {
    o.row.baseline.is_some_and(|key| {
        outcomes
            .iter()
            .any(|b| b.row.key == key && b.hist.quantile(0.5) >= STARVED_NS)
    })
}

/// The header lines.
pub fn header(h: &Header) -> String {
    let mut s = String::new();
    let load = |l: Option<f64>| l.map_or("?".to_string(), |l| format!("{l:.2}"));
    let _ = writeln!(
        s,
        "shmsync pingpong: round trips between two processes sharing one region\n\
         host: {} {}, {} CPUs, load {} (1 min), hal backend `{}`",
        h.os,
        h.arch,
        h.cpus,
        load(h.load.0),
        h.backend
    );
    if let Some(busy) = busy_note(h.load.0, h.cpus) {
        let _ = writeln!(s, "{busy}");
    }
    let per_row = match h.count {
        Some(n) => format!("{} round trips per row", thousands(n)),
        None => format!("{:.2} s per row", h.duration),
    };
    let per_row = format!(
        "{per_row}, interleaved in {} round{}",
        h.rounds,
        if h.rounds == 1 { "" } else { "s" }
    );
    let pin = match h.pinned {
        Some((a, b)) => format!("pinned to CPUs {a} (this) and {b} (peer)"),
        None => "not pinned".into(),
    };
    let _ = writeln!(
        s,
        "message {} B, {per_row} ({:.2} s warm-up each), {pin}, adaptive rows' spin limit {} \
         ({} cpu_relax for hal-adaptive, a {:.1} µs spin window for ring-adaptive; ring-block: 0)",
        h.size,
        h.warmup,
        h.spin_limit,
        (1u32 << h.spin_limit) - 1,
        ((1u64 << h.spin_limit) - 1) as f64 * 0.04
    );
    s
}

/// A warning when other work competes for the CPUs: a spinning round trip needs both
/// processes on a CPU at the same moment, so on a busy machine its tail (or median)
/// measures the scheduler's time slices, not the primitive.
pub fn busy_note(load: Option<f64>, cpus: usize) -> Option<String> {
    let load = load?;
    (load >= cpus as f64 / 2.0).then(|| {
        format!(
            "note: busy machine (load {load:.1} on {cpus} CPUs): spinning rows need both \
             processes running at once and will show scheduler time slices (ms)"
        )
    })
}

/// The results table.
pub fn table(outcomes: &[Outcome], skipped: &Skipped) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<13} {:<39} {:>11} {:>9} {:>9} {:>9} {:>9} {:>6}  vs baseline (median, p99)",
        "row", "what", "round trips", "median", "p99", "p99.9", "max", "sleeps"
    );
    for o in outcomes {
        let h = o.hist;
        let mut cmp = String::new();
        if let Some((key, r50, r99)) = ratio(outcomes, o) {
            let _ = write!(cmp, "{r50:.2}× {r99:.2}× {key}");
        }
        if let Some((target, v)) = verdict(outcomes, o) {
            let v = match v {
                Verdict::Met => "met".to_string(),
                Verdict::Missed => "MISSED".to_string(),
                Verdict::Inconclusive(why) => format!("inconclusive: {why}"),
                Verdict::NoBaseline => "no baseline run".to_string(),
            };
            let _ = write!(cmp, "  [{target}: {v}]");
        }
        let _ = writeln!(
            s,
            "{:<13} {:<39} {:>11} {:>9} {:>9} {:>9} {:>9} {:>6}  {}",
            o.row.key,
            o.row.what,
            thousands(h.len()),
            ns(h.quantile(0.5) as f64),
            ns(h.quantile(0.99) as f64),
            ns(h.quantile(0.999) as f64),
            ns(h.max() as f64),
            o.sleeps.map_or("-".into(), |x| format!("{x:.2}")),
            cmp.trim_end()
        );
    }
    for (row, why) in skipped {
        let _ = writeln!(s, "{:<13} skipped: {why}", row.key);
    }
    let _ = writeln!(
        s,
        "sleeps: wait syscalls per message, both processes (1.00 = every receive parked)"
    );
    s
}

/// Block characters for 0..=8 eighths.
const LEVELS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// Histogram columns per factor of ten (each column spans ×1.26).
const PER_DECADE: u32 = 10;

/// One line per row on a shared log-scale time axis: ten columns per factor of ten of
/// round-trip time; the block height grows with log(count), so a single outlier still
/// shows (as ▁) while the peak is █.
pub fn histogram(outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    let lo = outcomes
        .iter()
        .map(|o| coarse_bin(o.hist.min().max(1), PER_DECADE))
        .min();
    let hi = outcomes
        .iter()
        .map(|o| coarse_bin(o.hist.max().max(1), PER_DECADE))
        .max();
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return s;
    };
    // Start on a power of ten so that the labels fall on 10^k ns; at most 70 columns
    // (slower samples are drawn in the last one).
    let lo = lo - lo % PER_DECADE;
    let hi = hi.min(lo + 69);
    let _ = writeln!(
        s,
        "round-trip histogram (log time axis, 10 columns per decade; height: log of the count)"
    );
    let mut axis = String::new();
    let mut b = lo;
    while b <= hi {
        let label = short(coarse_low(b, PER_DECADE));
        let _ = write!(axis, "{label:<10}");
        b += PER_DECADE;
    }
    let _ = writeln!(s, "{:<13} {}", "", axis.trim_end());
    for o in outcomes {
        let mut counts = vec![0u64; (hi - lo + 1) as usize];
        o.hist.coarse(PER_DECADE, |bin, c| {
            let i = bin.clamp(lo, hi) - lo;
            counts[i as usize] += c;
        });
        let peak = counts.iter().copied().max().unwrap_or(0);
        let line: String = counts
            .iter()
            .map(|&c| {
                if c == 0 {
                    LEVELS[0]
                } else if peak <= 1 {
                    LEVELS[8]
                } else {
                    let l = 1.0 + 7.0 * (c as f64).ln() / (peak as f64).ln();
                    LEVELS[(l.floor() as usize).clamp(1, 8)]
                }
            })
            .collect();
        let _ = writeln!(s, "{:<13} {}", o.row.key, line.trim_end());
    }
    s
}

/// An axis label of at most 4 characters: 100n, 1µ, 10µ, 1m, 1s.
fn short(v: f64) -> String {
    let v = v.round();
    if v < 1e3 {
        format!("{v:.0}n")
    } else if v < 1e6 {
        format!("{:.0}µ", v / 1e3)
    } else if v < 1e9 {
        format!("{:.0}m", v / 1e6)
    } else {
        format!("{:.0}s", v / 1e9)
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        _ => "null".into(),
    }
}

/// The whole run as one JSON document (schema 2: schema 1 plus `verdict`,
/// `verdict_reason`, `round_medians_ns` and `buckets` per row). Times are integer nanoseconds.
pub fn json(h: &Header, outcomes: &[Outcome], skipped: &Skipped) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{{\n  \"tool\": \"shmsync-pingpong\",\n  \"schema\": 2,\n  \"unix_time\": {},\n  \
         \"host\": {{\"os\": {}, \"arch\": {}, \"cpus\": {}, \"backend\": {}, \
         \"load_1min_before\": {}, \"load_1min_after\": {}}},\n  \
         \"options\": {{\"message_bytes\": {}, \"warmup_s\": {}, \"duration_s\": {}, \
         \"count\": {}, \"rounds\": {}, \"pinned\": {}, \"spin_limit\": {}}},\n  \"rows\": [",
        h.unix_time,
        json_str(h.os),
        json_str(h.arch),
        h.cpus,
        json_str(h.backend),
        json_num(h.load.0),
        json_num(h.load.1),
        h.size,
        json_num(Some(h.warmup)),
        json_num(if h.count.is_some() {
            None
        } else {
            Some(h.duration)
        }),
        h.count.map_or("null".into(), |n| n.to_string()),
        h.rounds,
        h.pinned
            .map_or("null".into(), |(a, b)| format!("[{a}, {b}]")),
        h.spin_limit,
    );
    for (i, o) in outcomes.iter().enumerate() {
        let hi = o.hist;
        let r = ratio(outcomes, o);
        let v = verdict(outcomes, o);
        let _ = write!(
            s,
            "{}\n    {{\"key\": {}, \"what\": {}, \"round_trips\": {}, \"seconds\": {}, \
             \"messages_sent\": {}, \"peer_received\": {}, \"min_ns\": {}, \"median_ns\": {}, \
             \"p90_ns\": {}, \"p99_ns\": {}, \"p999_ns\": {}, \"max_ns\": {}, \"mean_ns\": {}, \
             \"sleeps_per_message\": {}, \"baseline\": {}, \"ratio_median\": {}, \"ratio_p99\": {}, \"target\": {}, \
             \"target_met\": {}, \"verdict\": {}, \"verdict_reason\": {}, \"round_medians_ns\": [{}], \
             \"buckets\": [{}]}}",
            if i == 0 { "" } else { "," },
            json_str(o.row.key),
            json_str(o.row.what),
            hi.len(),
            json_num(Some(o.secs)),
            o.sent,
            o.peer_received,
            hi.min(),
            hi.quantile(0.5),
            hi.quantile(0.9),
            hi.quantile(0.99),
            hi.quantile(0.999),
            hi.max(),
            json_num(Some(hi.mean())),
            json_num(o.sleeps),
            o.row.baseline.map_or("null".into(), json_str),
            json_num(r.map(|r| r.1)),
            json_num(r.map(|r| r.2)),
            v.as_ref().map_or("null".into(), |v| json_str(&v.0)),
            match v.as_ref().and_then(|v| v.1.met()) {
                Some(m) => m.to_string(),
                None => "null".into(),
            },
            v.as_ref().map_or("null".into(), |v| json_str(v.1.word())),
            match v.as_ref().map(|v| &v.1) {
                Some(Verdict::Inconclusive(why)) => json_str(why),
                _ => "null".into(),
            },
            o.rounds
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            // [lowest ns, width ns, count] of every non-empty histogram bucket.
            hi.buckets()
                .map(|(low, w, c)| format!("[{low}, {w}, {c}]"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    let _ = write!(s, "\n  ],\n  \"skipped\": [");
    for (i, (row, why)) in skipped.iter().enumerate() {
        let _ = write!(
            s,
            "{}{{\"key\": {}, \"reason\": {}}}",
            if i == 0 { "" } else { ", " },
            json_str(row.key),
            json_str(why)
        );
    }
    let _ = writeln!(s, "],\n  \"ok\": true\n}}");
    s
}

/// The JSON document of a failed run (on stdout with `--json`, so scripts see it).
pub fn json_error(msg: &str) -> String {
    format!(
        "{{\"tool\": \"shmsync-pingpong\", \"schema\": 2, \"ok\": false, \"error\": {}}}",
        json_str(msg)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::ALL;

    #[test]
    fn units_and_separators() {
        assert_eq!(ns(87.0), "87 ns");
        assert_eq!(ns(1_234.0), "1.23 µs");
        assert_eq!(ns(45_600.0), "45.6 µs");
        assert_eq!(ns(456_000.0), "456 µs");
        assert_eq!(ns(2_500_000.0), "2.50 ms");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(short(100.0), "100n");
        assert_eq!(short(10_000.0), "10µ");
        assert_eq!(short(coarse_low(50, PER_DECADE)), "100µ");
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
        assert!(busy_note(Some(0.4), 2).is_none());
        assert!(
            busy_note(Some(1.0), 2)
                .unwrap()
                .contains("load 1.0 on 2 CPUs")
        );
        assert!(busy_note(None, 2).is_none());
    }

    #[test]
    fn ratios_and_verdicts_follow_the_baseline() {
        let find = |k: &str| ALL.iter().find(|r| r.key == k).unwrap();
        let mut futex = Histogram::new();
        let mut hal = Histogram::new();
        for _ in 0..100 {
            futex.record(10_000);
            hal.record(11_000);
        }
        let o = |row, hist| Outcome {
            row,
            hist,
            secs: 1.0,
            sent: 100,
            peer_received: 100,
            sleeps: None,
            rounds: &[],
        };
        let outs = [o(find("futex"), &futex), o(find("hal-block"), &hal)];
        let (key, r50, _) = ratio(&outs, &outs[1]).unwrap();
        assert_eq!(key, "futex");
        assert!((r50 - 1.1).abs() < 0.02, "{r50}");
        assert_eq!(
            verdict(&outs, &outs[1]).unwrap().1.met(),
            Some(false),
            "1.1× misses ≤ 1.05×"
        );
        assert!(
            verdict(&outs, &outs[0]).is_none(),
            "baselines have no target"
        );
        let t = table(&outs, &vec![]);
        assert!(t.contains("MISSED"), "{t}");
        let j = json(
            &Header {
                os: "linux",
                arch: "x86_64",
                cpus: 2,
                backend: "futex",
                size: 8,
                spin_limit: 7,
                pinned: None,
                duration: 1.0,
                count: None,
                rounds: 1,
                warmup: 0.0,
                load: (None, Some(1.5)),
                unix_time: 0,
            },
            &outs,
            &vec![],
        );
        assert!(j.contains("\"target_met\": false"), "{j}");
        assert!(j.contains("\"median_ns\": 10000"), "{j}");
        assert!(histogram(&outs).lines().count() == 4);

        // A scheduler-bound baseline (median ≥ 1 ms) makes the ratio inconclusive.
        let mut slow = Histogram::new();
        slow.record(5_000_000);
        let outs = [o(find("futex"), &slow), o(find("hal-block"), &hal)];
        assert_eq!(verdict(&outs, &outs[1]).unwrap().1.met(), None);
        assert!(table(&outs, &vec![]).contains("inconclusive"));
    }

    #[test]
    fn ring_block_is_judged_against_the_raw_futex() {
        let find = |k: &str| ALL.iter().find(|r| r.key == k).unwrap();
        let (mut futex, mut near, mut far) = (Histogram::new(), Histogram::new(), Histogram::new());
        for _ in 0..100 {
            futex.record(10_000);
            near.record(10_300);
            far.record(12_000);
        }
        let o = |row, hist| Outcome {
            row,
            hist,
            secs: 1.0,
            sent: 100,
            peer_received: 100,
            sleeps: Some(2.0),
            rounds: &[],
        };
        let outs = [o(find("futex"), &futex), o(find("ring-block"), &near)];
        let (key, r50, _) = ratio(&outs, &outs[1]).unwrap();
        assert_eq!(key, "futex");
        assert!((r50 - 1.03).abs() < 0.02, "{r50}");
        assert_eq!(
            verdict(&outs, &outs[1]).unwrap().1.met(),
            Some(true),
            "1.03× meets ≤ 1.05×"
        );
        let t = table(&outs, &vec![]);
        assert!(
            t.contains("ring-block") && t.contains("median ≤ 1.05× futex: met"),
            "{t}"
        );
        let outs = [o(find("futex"), &futex), o(find("ring-block"), &far)];
        assert_eq!(
            verdict(&outs, &outs[1]).unwrap().1.met(),
            Some(false),
            "1.2× misses"
        );
        let j = json(
            &Header {
                os: "linux",
                arch: "x86_64",
                cpus: 2,
                backend: "futex",
                size: 8,
                spin_limit: 7,
                pinned: None,
                duration: 1.0,
                count: None,
                rounds: 1,
                warmup: 0.0,
                load: (None, None),
                unix_time: 0,
            },
            &outs,
            &vec![],
        );
        assert!(j.contains("\"ring-block\""), "{j}");
        assert!(j.contains("\"target_met\": false"), "{j}");
    }

    /// A row and a baseline built from (value, count) pairs, with per-round medians.
    fn synthetic(samples: &[(u64, u64)]) -> Histogram {
        let mut h = Histogram::new();
        for &(v, n) in samples {
            for _ in 0..n {
                h.record(v);
            }
        }
        h
    }

    #[test]
    fn a_bimodal_pair_is_inconclusive_not_met() {
        // The case a single median got wrong: the futex baseline's round trips split into a
        // ~2 µs and a ~60 µs mode with its median in the slow one, hal-block's median in the
        // fast one. The median ratio (≈ 0.03×) would read "met"; it measures nothing.
        let find = |k: &str| ALL.iter().find(|r| r.key == k).unwrap();
        let base = synthetic(&[(2_000, 45), (60_000, 55)]);
        let row = synthetic(&[(2_000, 55), (60_000, 45)]);
        let o = |row, hist| Outcome {
            row,
            hist,
            secs: 1.0,
            sent: 100,
            peer_received: 100,
            sleeps: None,
            rounds: &[],
        };
        let outs = [o(find("futex"), &base), o(find("hal-block"), &row)];
        let (_, r50, _) = ratio(&outs, &outs[1]).unwrap();
        assert!(r50 < 0.05, "the median ratio alone would say met: {r50}");
        let (_, v) = verdict(&outs, &outs[1]).unwrap();
        assert!(
            matches!(&v, Verdict::Inconclusive(why) if why.contains("shape")),
            "{v:?}"
        );
        let t = table(&outs, &vec![]);
        assert!(
            t.contains("inconclusive: the distributions differ in shape"),
            "{t}"
        );
        // The other direction (the row's median in the slow mode: "1.05× MISSED" style).
        let outs = [o(find("futex"), &row), o(find("hal-block"), &base)];
        assert_eq!(verdict(&outs, &outs[1]).unwrap().1.met(), None);
        // The JSON says so too.
        let j = json(&header(), &outs, &vec![]);
        assert!(j.contains("\"verdict\": \"inconclusive\""), "{j}");
        assert!(j.contains("\"target_met\": null"), "{j}");
    }

    #[test]
    fn a_plain_shift_is_judged_and_rounds_must_agree() {
        let find = |k: &str| ALL.iter().find(|r| r.key == k).unwrap();
        // Unimodal with spread: the same shape, shifted by 3 % or 20 %.
        let base = synthetic(&[(9_000, 20), (10_000, 60), (12_000, 20)]);
        let near = synthetic(&[(9_270, 20), (10_300, 60), (12_360, 20)]);
        let far = synthetic(&[(10_800, 20), (12_000, 60), (14_400, 20)]);
        let o = |row, hist, rounds| Outcome {
            row,
            hist,
            secs: 1.0,
            sent: 100,
            peer_received: 100,
            sleeps: None,
            rounds,
        };
        let (b3, n3, f3) = (
            [10_000, 10_000, 10_000],
            [10_300, 10_200, 10_400],
            [12_000; 3],
        );
        let outs = [
            o(find("futex"), &base, &b3[..]),
            o(find("hal-block"), &near, &n3[..]),
        ];
        assert_eq!(verdict(&outs, &outs[1]).unwrap().1, Verdict::Met);
        let outs = [
            o(find("futex"), &base, &b3[..]),
            o(find("hal-block"), &far, &f3[..]),
        ];
        assert_eq!(verdict(&outs, &outs[1]).unwrap().1, Verdict::Missed);
        // Met overall, but one round of three missed: the run cannot decide.
        let split = [10_300, 11_000, 10_200];
        let outs = [
            o(find("futex"), &base, &b3[..]),
            o(find("hal-block"), &near, &split[..]),
        ];
        let (_, v) = verdict(&outs, &outs[1]).unwrap();
        assert!(
            matches!(&v, Verdict::Inconclusive(why) if why.contains("met in 2 of 3 rounds")),
            "{v:?}"
        );
        // A baseline row that was not run.
        let outs = [o(find("hal-block"), &near, &n3[..])];
        assert_eq!(verdict(&outs, &outs[0]).unwrap().1, Verdict::NoBaseline);
    }

    fn header() -> Header {
        Header {
            os: "linux",
            arch: "x86_64",
            cpus: 2,
            backend: "futex",
            size: 8,
            spin_limit: 7,
            pinned: None,
            duration: 1.0,
            count: None,
            rounds: 1,
            warmup: 0.0,
            load: (None, None),
            unix_time: 0,
        }
    }
}
