//! What host and helper share: two rings of audio blocks, the parameter block and a few
//! control words, placed in one region (`shmsync::init` / `shmsync::attach`).
//!
//! ```text
//! host audio thread ──Block(period k)──▶ to_helper ──▶ helper: gain + one-pole
//!        ▲                                                   │
//!        └──── processed Block(period k), taken in k+1 ◀── to_host
//! control thread ──▶ params (seqlock slots) ──▶ read by the callback, stamped into blocks
//! ```

use super::params::{ParamBlock, Params};
use shmsync::ShmSafe;
use shmsync::bytemuck::{Pod, Zeroable};
use shmsync::hal::atomic::{AtomicU32, Ordering};
use shmsync::hal::process::OwnerId;
use shmsync::ring::Spsc;

/// Sample rate of the simulated device.
pub const SAMPLE_RATE: u32 = 48_000;
/// Interleaved channels per frame.
pub const CHANNELS: usize = 2;
/// Largest period the example supports, in frames (256 frames = 5.33 ms at 48 kHz).
pub const MAX_FRAMES: usize = 256;
/// Blocks each ring holds: one period in flight each way plus slack for a helper that
/// wakes late; a power of two as `Spsc` requires.
pub const RING_BLOCKS: usize = 8;

/// One period of interleaved audio and the parameters it is to be processed with.
///
/// Plain data: every bit pattern is a valid `Block` (the helper is a separate, untrusted
/// process); whoever reads one checks `frames` against [`MAX_FRAMES`] and sanitises the
/// parameters before use.
///
/// A ring item ([`shmsync::ring::Item`]): bytemuck's derives check at compile time that it
/// has no padding and only `Pod` fields; `ShmSafe`'s derive checks `repr(C)` and computes
/// its layout tag (which includes its size, so `MAX_FRAMES`).
#[derive(Clone, Copy, Pod, Zeroable, ShmSafe)]
#[bytemuck(crate = "shmsync::bytemuck")]
#[repr(C)]
pub struct Block {
    /// The period this block belongs to (low 32 bits of the period counter).
    pub period: u32,
    /// Frames of valid audio in `samples` (at most [`MAX_FRAMES`]).
    pub frames: u32,
    /// Gain for this block, as the callback read it from the parameter block.
    pub gain: f32,
    /// Low-pass cutoff in Hz, likewise.
    pub cutoff_hz: f32,
    /// `frames × CHANNELS` interleaved samples; the rest is unused.
    pub samples: [f32; MAX_FRAMES * CHANNELS],
}

shmsync::assert_layout!(Block, size = 16 + 4 * MAX_FRAMES * CHANNELS, align = 4,
    offsets = { period: 0, frames: 4, gain: 8, cutoff_hz: 12, samples: 16 });

impl Block {
    /// A silent block. Real-time class: wait-free.
    pub const ZERO: Block = Block {
        period: 0,
        frames: 0,
        gain: 0.0,
        cutoff_hz: 0.0,
        samples: [0.0; MAX_FRAMES * CHANNELS],
    };

    /// The valid interleaved samples, with `frames` clamped to [`MAX_FRAMES`] (the value
    /// came through shared memory). Real-time class: wait-free.
    #[inline]
    pub fn audio(&self) -> &[f32] {
        let frames = (self.frames as usize).min(MAX_FRAMES);
        &self.samples[..frames * CHANNELS]
    }

    /// Mutable variant of [`Block::audio`]. Real-time class: wait-free.
    #[inline]
    pub fn audio_mut(&mut self) -> &mut [f32] {
        let frames = (self.frames as usize).min(MAX_FRAMES);
        &mut self.samples[..frames * CHANNELS]
    }

    /// The parameters the block carries (unsanitised). Real-time class: wait-free.
    #[inline]
    pub fn params(&self) -> Params {
        Params {
            gain: self.gain,
            cutoff_hz: self.cutoff_hz,
        }
    }
}

/// Control words. All-zero: no host recorded, no helper yet, running.
#[repr(C)]
pub struct Control {
    /// Non-zero: the host asks the helper to exit.
    pub shutdown: AtomicU32,
    /// The host's identity, for the helper's "is the host still alive" check.
    pub host_pid: AtomicU32,
    /// The host's start-time token (see `shmsync::hal::process`).
    pub host_token: AtomicU32,
    /// Process id of the helper that holds the rings now (0 before the first).
    pub helper_pid: AtomicU32,
    /// Helpers that have attached so far (1 after the first, 2 after a restart, …).
    pub helper_starts: AtomicU32,
    /// Blocks processed by all helpers so far (wraps).
    pub helper_blocks: AtomicU32,
    /// Times a helper parked waiting for a block (wraps).
    pub helper_parks: AtomicU32,
    /// The host's current period (low 32 bits), stored by every callback.
    pub host_period: AtomicU32,
}

impl Control {
    /// The host's identity as recorded. Real-time class: wait-free.
    pub fn host(&self) -> OwnerId {
        OwnerId {
            pid: self.host_pid.load(Ordering::Acquire),
            token: self.host_token.load(Ordering::Relaxed),
            // The host spawns the helper itself: both live in the host's pid namespace.
            ns: shmsync::hal::process::current_ns(),
        }
    }
}

/// The region's root type.
#[repr(C)]
pub struct AudioShared {
    /// Host audio thread → helper.
    pub to_helper: Spsc<Block, RING_BLOCKS>,
    /// Helper → host audio thread.
    pub to_host: Spsc<Block, RING_BLOCKS>,
    /// Gain and cutoff, written by the host's control thread.
    pub params: ParamBlock,
    /// Shutdown flag, identities and counters.
    pub control: Control,
}

// SAFETY: repr(C) of two rings (ShmSafe), a parameter block and control words made only of
// AtomicU32 (zero valid, any bits valid, nothing process-local, all access atomic).
unsafe impl shmsync::ShmSafe for AudioShared {
    const TAG: u64 = shmsync::tag_with(
        shmsync::tag_with(
            shmsync::tag(b"audio::AudioShared v1"),
            <Spsc<Block, RING_BLOCKS> as shmsync::ShmSafe>::TAG,
        ),
        core::mem::size_of::<ParamBlock>() as u64,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_lengths_from_shared_memory_are_clamped() {
        let mut b = Block::ZERO;
        b.frames = u32::MAX;
        assert_eq!(b.audio().len(), MAX_FRAMES * CHANNELS);
        b.frames = 3;
        assert_eq!(b.audio_mut().len(), 3 * CHANNELS);
    }
}
