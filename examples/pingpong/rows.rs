//! The rows of the table: what each one measures, its baseline, and the two loops every
//! row runs — the parent's timed [`Drive`] and the peer's echoing [`Serve`].

use shmsync::hal::clock::Instant;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::hist::Histogram;
#[cfg(any(target_os = "linux", target_os = "android"))]
use crate::link::RawFutex;
use crate::link::{Fault, HalAdaptive, HalPark, Link, OneWord, SlotLink, Spin};
use crate::ring::{RingAdaptive, RingBlock, RingLink, RingSpin};
use crate::shared::{INJECT_DROP, INJECT_DUP, Mem};

/// The sequence number of the message that ends a row (data messages count from 1).
pub const STOP: u64 = u64::MAX;

/// The transport behind a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One `AtomicU32` both sides write: the true spin baseline.
    Atomic,
    /// `AtomicU32` spinning, message copied through a data area.
    Spin,
    /// Raw `SYS_futex`.
    Futex,
    /// Two pipes.
    Pipe,
    /// `hal::wait` / `hal::wake_one`, parking every time.
    HalBlock,
    /// `arch::Backoff` spin, then `hal::wait`.
    HalAdaptive,
    /// `shmsync::Spsc` rings, `try_pop` spinning.
    RingSpin,
    /// `shmsync::Spsc` rings, `pop(None)` with spin limit 0: park every time.
    RingBlock,
    /// `shmsync::Spsc` rings, `pop(None)`: the ring's spin, then park.
    RingAdaptive,
}

/// What a row is judged against (issue 7's targets).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// A baseline row: nothing to meet.
    None,
    /// Median at most this many times the baseline's median.
    Ratio(f64),
}

/// One row of the table.
#[derive(Debug)]
pub struct Row {
    /// Name used on the command line (`--rows`) and in JSON.
    pub key: &'static str,
    /// What it measures, for the table.
    pub what: &'static str,
    /// The transport.
    pub kind: Kind,
    /// The row its median is divided by.
    pub baseline: Option<&'static str>,
    /// What the ratio must meet.
    pub target: Target,
}

/// Every row, in the order they run.
pub const ALL: &[Row] = &[
    Row {
        key: "atomic",
        what: "bare one-line AtomicU32 ping-pong (the spin baseline)",
        kind: Kind::Atomic,
        baseline: None,
        target: Target::None,
    },
    Row {
        key: "spin",
        what: "AtomicU32 spinning + message copy",
        kind: Kind::Spin,
        baseline: None,
        target: Target::None,
    },
    Row {
        key: "futex",
        what: "bare SYS_futex WAIT/WAKE, shared",
        kind: Kind::Futex,
        baseline: None,
        target: Target::None,
    },
    Row {
        key: "pipe",
        what: "two pipes, read/write",
        kind: Kind::Pipe,
        baseline: None,
        target: Target::None,
    },
    Row {
        key: "hal-block",
        what: "shmsync hal wait/wake_one, park always",
        kind: Kind::HalBlock,
        baseline: Some("futex"),
        target: Target::Ratio(1.05),
    },
    Row {
        key: "hal-adaptive",
        what: "shmsync Backoff spin, then hal wait",
        kind: Kind::HalAdaptive,
        baseline: Some("spin"),
        target: Target::Ratio(1.3),
    },
    Row {
        key: "ring-spin",
        what: "shmsync Spsc try_push/try_pop, spinning",
        kind: Kind::RingSpin,
        baseline: Some("atomic"),
        target: Target::Ratio(1.6),
    },
    Row {
        key: "ring-block",
        what: "shmsync Spsc pop(None), spin limit 0",
        kind: Kind::RingBlock,
        baseline: Some("futex"),
        target: Target::Ratio(1.05),
    },
    Row {
        key: "ring-adaptive",
        what: "shmsync Spsc pop(None): spin, then park",
        kind: Kind::RingAdaptive,
        baseline: Some("ring-spin"),
        target: Target::Ratio(1.3),
    },
];

impl Row {
    /// Whether this build can run the row (the raw futex exists on Linux only).
    pub fn available(&self) -> bool {
        self.kind != Kind::Futex || cfg!(any(target_os = "linux", target_os = "android"))
    }

    /// Whether the row's sleeps are counted (`link::SLEEPS`): the futex-based rows. The
    /// pipe sleeps inside `read`, out of sight.
    pub fn counts_sleeps(&self) -> bool {
        !matches!(self.kind, Kind::Pipe)
    }

    /// Why the row cannot run here.
    pub fn unavailable_reason(&self) -> &'static str {
        "the raw futex row is Linux-only (the kernel wait macOS exposes to it is a private \
         API that this example does not link)"
    }
}

/// Index of the row named `key`.
pub fn find(key: &str) -> Option<usize> {
    ALL.iter().position(|r| r.key == key)
}

/// Something done with a row's link, generic so that each row's loop is compiled for its
/// own transport (no dynamic dispatch inside the timed region).
pub trait Visit {
    /// The result.
    type Out;
    /// Runs with the row's link.
    fn visit<L: Link>(self, link: &mut L) -> Self::Out;
}

/// Builds row `row`'s link for one side and hands it to `v`. `pipe` is the side's pipe
/// link, used by the pipe row. Fails for a row this build cannot run, or when a ring role
/// cannot be claimed.
pub fn dispatch<P: Link, V: Visit>(
    row: usize,
    parent: bool,
    region: &Mem,
    pipe: &mut P,
    v: V,
) -> Result<V::Out, String> {
    let c = region.control();
    let shared = region.shared();
    let (ring_tx, ring_rx) = if parent {
        (&shared.to_peer, &shared.to_parent)
    } else {
        (&shared.to_parent, &shared.to_peer)
    };
    let (tx, tx_data, rx, rx_data) = if parent {
        (&*c.ping, region.ping_data(), &*c.pong, region.pong_data())
    } else {
        (&*c.pong, region.pong_data(), &*c.ping, region.ping_data())
    };
    macro_rules! slot {
        ($signal:ty) => {{
            // SAFETY: the data areas are MAX_MSG bytes of the mapping, which outlives the
            // row; this side writes only its tx area and reads only its rx area, and the
            // ping-pong keeps one message per direction in flight.
            let mut link = unsafe { SlotLink::<$signal>::new(tx, tx_data, rx, rx_data) };
            Ok(v.visit(&mut link))
        }};
    }
    macro_rules! ring {
        ($pop:ty) => {{
            let mut link = RingLink::<$pop>::new(ring_tx, ring_rx)?;
            Ok(v.visit(&mut link))
        }};
    }
    match ALL.get(row).ok_or("no such row")?.kind {
        Kind::Atomic => Ok(v.visit(&mut OneWord::new(&c.ping, parent))),
        Kind::Spin => slot!(Spin),
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Kind::Futex => slot!(RawFutex),
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        Kind::Futex => Err(ALL[row].unavailable_reason().into()),
        Kind::Pipe => Ok(v.visit(pipe)),
        Kind::HalBlock => slot!(HalPark),
        Kind::HalAdaptive => slot!(HalAdaptive),
        Kind::RingSpin => ring!(RingSpin),
        Kind::RingBlock => ring!(RingBlock),
        Kind::RingAdaptive => ring!(RingAdaptive),
    }
}

/// How long, or how many round trips, a row is measured.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Untimed round trips before measuring, for this long.
    pub warmup: Duration,
    /// Measure for this long…
    pub duration: Duration,
    /// …or exactly this many round trips, when set.
    pub count: Option<u64>,
}

/// What the parent saw in one row.
#[derive(Debug)]
pub enum DriveError {
    /// The link failed.
    Link(Fault),
    /// An answer carried the wrong sequence number.
    Mismatch {
        /// The message sent.
        sent: u64,
        /// The sequence number in the answer.
        got: u64,
    },
}

impl std::fmt::Display for DriveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriveError::Link(e) => e.fmt(f),
            DriveError::Mismatch { sent, got } => {
                let how = if got < sent {
                    "an old answer was duplicated or delivered late"
                } else {
                    "answers were reordered or invented"
                };
                write!(f, "sent message {sent}, got the answer to {got}: {how}")
            }
        }
    }
}

/// The parent's timed loop: send, wait for the echo, check its sequence number, record
/// the round trip.
pub struct Drive<'a> {
    /// The run's plan.
    pub plan: Plan,
    /// Where the measured round trips go (added to what earlier rounds recorded).
    pub hist: &'a mut Histogram,
    /// Outgoing message buffer (`plan.size` bytes).
    pub out: &'a mut [u8],
    /// Incoming message buffer (`plan.size` bytes).
    pub inp: &'a mut [u8],
    /// Last completed sequence number, for the watchdog and the progress line.
    pub progress: &'a AtomicU64,
    /// Set when the warm-up ends and measuring starts (clock ns), for the progress line.
    pub measuring_since: &'a AtomicU64,
}

/// What [`Drive`] returns: messages sent in all (warm-up included) and the measured
/// wall time.
#[derive(Debug, Clone, Copy)]
pub struct Driven {
    /// Data messages sent (and answered), warm-up included; the peer must count as many.
    pub sent: u64,
    /// Measured seconds (warm-up excluded).
    pub secs: f64,
}

impl Drive<'_> {
    #[inline]
    fn round_trip<L: Link>(&mut self, link: &mut L, seq: u64) -> Result<u64, DriveError> {
        self.out[..8].copy_from_slice(&seq.to_le_bytes());
        let t0 = Instant::now();
        link.send(self.out).map_err(DriveError::Link)?;
        link.recv(self.inp).map_err(DriveError::Link)?;
        let t1 = Instant::now();
        let got = u64::from_le_bytes(self.inp[..8].try_into().unwrap_or([0; 8]));
        if got != seq {
            return Err(DriveError::Mismatch { sent: seq, got });
        }
        self.progress.store(seq, Ordering::Relaxed);
        Ok(t1.as_nanos().saturating_sub(t0.as_nanos()))
    }
}

impl Visit for Drive<'_> {
    type Out = Result<Driven, DriveError>;

    fn visit<L: Link>(mut self, link: &mut L) -> Self::Out {
        let mut seq = 0u64;
        let warm_end = Instant::now().as_nanos() + self.plan.warmup.as_nanos() as u64;
        while Instant::now().as_nanos() < warm_end {
            seq += 1;
            self.round_trip(link, seq)?;
        }
        // Warm-up round trips were not recorded; the histogram may already hold earlier
        // rounds of this row, which this slice adds to.
        let start = Instant::now().as_nanos();
        self.measuring_since.store(start, Ordering::Relaxed);
        let end = start + self.plan.duration.as_nanos() as u64;
        let mut measured = 0u64;
        loop {
            seq += 1;
            let rtt = self.round_trip(link, seq)?;
            self.hist.record(rtt);
            measured += 1;
            let done = match self.plan.count {
                Some(n) => measured >= n,
                // The clock read costs ~20 ns, outside the timed region.
                None => Instant::now().as_nanos() >= end,
            };
            if done {
                break;
            }
        }
        let secs = (Instant::now().as_nanos() - start) as f64 / 1e9;
        // The stop message: the peer answers it, then reports its count.
        self.out[..8].copy_from_slice(&STOP.to_le_bytes());
        link.send(self.out).map_err(DriveError::Link)?;
        link.recv(self.inp).map_err(DriveError::Link)?;
        let got = u64::from_le_bytes(self.inp[..8].try_into().unwrap_or([0; 8]));
        if got != STOP {
            return Err(DriveError::Mismatch { sent: STOP, got });
        }
        Ok(Driven { sent: seq, secs })
    }
}

/// The peer's loop: echo every message, checking that sequence numbers arrive in order.
pub struct Serve<'a> {
    /// Incoming/outgoing buffer (`size` bytes).
    pub buf: &'a mut [u8],
    /// Fault to inject (`INJECT_*`) at message `inject_at`.
    pub inject: u32,
    /// The message the fault applies to.
    pub inject_at: u64,
}

/// Why the peer stopped serving a row.
#[derive(Debug)]
pub enum ServeError {
    /// The link failed.
    Link(Fault),
    /// A message arrived out of order.
    OutOfOrder {
        /// The sequence number expected.
        expected: u64,
        /// The one that came.
        got: u64,
    },
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Link(e) => e.fmt(f),
            ServeError::OutOfOrder { expected, got } => {
                write!(
                    f,
                    "expected message {expected}, got {got}: lost, duplicated or reordered"
                )
            }
        }
    }
}

impl Visit for Serve<'_> {
    /// Data messages received (the stop message excluded).
    type Out = Result<u64, ServeError>;

    fn visit<L: Link>(self, link: &mut L) -> Self::Out {
        let mut expected = 1u64;
        loop {
            link.recv(self.buf).map_err(ServeError::Link)?;
            let seq = u64::from_le_bytes(self.buf[..8].try_into().unwrap_or([0; 8]));
            if seq == STOP {
                link.send(self.buf).map_err(ServeError::Link)?;
                return Ok(expected - 1);
            }
            if seq != expected {
                return Err(ServeError::OutOfOrder { expected, got: seq });
            }
            expected += 1;
            if seq == self.inject_at {
                match self.inject {
                    INJECT_DROP => continue,
                    INJECT_DUP => link.send(self.buf).map_err(ServeError::Link)?,
                    _ => {}
                }
            }
            link.send(self.buf).map_err(ServeError::Link)?;
        }
    }
}
