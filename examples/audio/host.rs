//! The host's audio callback: what runs once per period on the real-time thread.
//!
//! Per period `k` the callback
//! 1. takes the processed block for period `k − 1` from `to_host` (discarding older,
//!    stale blocks — a restarted helper may hand back blocks from before it died), or
//!    counts a [`XrunKind::Missing`] xrun and outputs silence;
//! 2. reads the parameters (one wait-free attempt, see `params`);
//! 3. renders period `k`'s input and pushes it to `to_helper`, or counts an
//!    [`XrunKind::Overflow`] xrun when the ring is full;
//! 4. stores `k` in the control block.
//!
//! Every ring call is `try_*`: **wait-free**, no syscall unless the helper is parked, and
//! then exactly one wake (inside `try_push`). No allocation, no lock, no waiting: proven
//! by `tests/audio_rt.rs`.

use super::dsp::Oscillator;
use super::params::ParamReader;
use super::shared::{AudioShared, Block, CHANNELS, MAX_FRAMES, RING_BLOCKS, SAMPLE_RATE};
use super::stats::{XrunKind, XrunLog};
use shmsync::hal::atomic::Ordering;
use shmsync::ring::{Consumer, PopError, Producer, PushError, RoleError};

/// Frequency of the test tone.
pub const TONE_HZ: f64 = 440.0;
/// Peak amplitude of the test tone (−6 dBFS).
pub const TONE_AMPLITUDE: f32 = 0.5;

/// What one callback did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The processed block for the previous period arrived and was played.
    pub played: bool,
    /// This period's input block went to the helper.
    pub sent: bool,
    /// Stale processed blocks discarded before the right one.
    pub stale: u32,
}

/// The audio thread's end of the link: the two ring roles, the tone, the parameter reader
/// and the xrun log.
pub struct HostPath<'a> {
    shared: &'a AudioShared,
    tx: Producer<'a, Block, RING_BLOCKS>,
    rx: Consumer<'a, Block, RING_BLOCKS>,
    params: ParamReader,
    osc: Oscillator,
    frames: usize,
    /// The outgoing block, reused every period (2 KiB: kept off the callback's stack).
    input: Block,
    /// The incoming block, likewise.
    returned: Block,
    /// Periods served so far; the first one has nothing to take back.
    served: u64,
    /// The previous callback's period, if its block went to the helper: the processed
    /// block this callback plays.
    prev_sent: Option<u32>,
}

impl<'a> HostPath<'a> {
    /// Claims the host's ring roles (producer of `to_helper`, consumer of `to_host`) and
    /// records the host's identity for the helper. `frames` per period, at most
    /// [`MAX_FRAMES`].
    ///
    /// Real-time class: **may block** (role claims read process information): call it
    /// before the audio thread starts its callbacks.
    pub fn new(shared: &'a AudioShared, frames: usize) -> Result<Self, RoleError> {
        assert!(
            (1..=MAX_FRAMES).contains(&frames),
            "frames per period must be 1..={MAX_FRAMES}"
        );
        let me = shmsync::hal::process::current();
        shared.control.host_token.store(me.token, Ordering::Relaxed);
        shared.control.host_pid.store(me.pid, Ordering::Release);
        let tx = shared.to_helper.producer()?;
        let rx = shared.to_host.consumer()?;
        Ok(Self {
            shared,
            tx,
            rx,
            params: ParamReader::new(),
            osc: Oscillator::new(TONE_HZ, f64::from(SAMPLE_RATE), TONE_AMPLITUDE),
            frames,
            input: Block::ZERO,
            returned: Block::ZERO,
            served: 0,
            prev_sent: None,
        })
    }

    /// Frames per period. Real-time class: wait-free.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Parameter reads that found the writer busy and kept the previous values.
    /// Real-time class: wait-free.
    pub fn param_contention(&self) -> u64 {
        self.params.contended
    }

    /// The audio callback for period `period`: plays the processed previous block into
    /// `out` (`frames × CHANNELS` samples; silence on an xrun) and sends this period's
    /// block. Xruns go to `log`.
    ///
    /// Real-time class: **wait-free** — a bounded number of steps (at most
    /// [`RING_BLOCKS`] pops), no allocation, no lock; **may wake**: one wake syscall,
    /// only when the helper is parked.
    #[inline(never)]
    pub fn callback(&mut self, period: u64, out: &mut [f32], log: &XrunLog) -> Outcome {
        let mut outcome = Outcome::default();
        // The block to play: the previous callback's, if it was sent. (With periods
        // skipped after a late wake-up, that is not `period - 1`.)
        let want = self.prev_sent.take();
        let out = &mut out[..self.frames * CHANNELS];

        // 1. Take back the previous period's block. At most RING_BLOCKS items can be in
        //    the ring, so the loop is bounded; other blocks are stale and dropped.
        if self.served > 0 {
            for _ in 0..RING_BLOCKS {
                match self.rx.try_pop() {
                    Ok(b) => {
                        self.returned = b;
                        if Some(self.returned.period) == want {
                            outcome.played = true;
                            break;
                        }
                        // Older (late, or from before a helper restart) or nonsense.
                        outcome.stale += 1;
                    }
                    Err(PopError::Empty) => break,
                    Err(PopError::Corrupted) => {
                        log.record(period, XrunKind::Corrupted);
                        break;
                    }
                }
            }
            if !outcome.played {
                log.record(period, XrunKind::Missing);
            }
        }
        let src = self.returned.audio();
        if outcome.played && src.len() == out.len() {
            out.copy_from_slice(src);
        } else {
            out.fill(0.0);
        }

        // 2. Parameters: one wait-free attempt.
        let p = self.params.read(&self.shared.params);

        // 3. Render and send this period's input.
        self.input.period = period as u32;
        self.input.frames = self.frames as u32;
        self.input.gain = p.gain;
        self.input.cutoff_hz = p.cutoff_hz;
        self.osc
            .fill(&mut self.input.samples[..self.frames * CHANNELS], CHANNELS);
        match self.tx.try_push(self.input) {
            Ok(()) => {
                outcome.sent = true;
                self.prev_sent = Some(period as u32);
            }
            Err(PushError::Full(_)) => log.record(period, XrunKind::Overflow),
            Err(PushError::Corrupted(_)) => log.record(period, XrunKind::Corrupted),
        }

        // 4. Tell the helper where the host is.
        self.shared
            .control
            .host_period
            .store(period as u32, Ordering::Relaxed);
        self.served += 1;
        outcome
    }

    /// The last block played (for checks after a run). Real-time class: wait-free.
    pub fn last_returned(&self) -> &Block {
        &self.returned
    }

    /// The last block sent. Real-time class: wait-free.
    pub fn last_sent(&self) -> &Block {
        &self.input
    }
}
