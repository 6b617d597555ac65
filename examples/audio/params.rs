//! The parameter block: how gain and filter cutoff get from a control thread to the audio
//! callback without a lock, a wait or a retry loop.
//!
//! Two slots, each guarded by its own sequence word (a seqlock per slot), plus `current`,
//! the number of the last published version. Version `v` lives in slot `v & 1`.
//!
//! * **Writer** (one control thread; see [`ParamBlock::publish`]): writes version `v + 1`
//!   into the slot the readers are *not* directed to — sequence odd, values, sequence even —
//!   then stores `current = v + 1`. It never touches the published slot.
//! * **Reader** (the audio callback; [`ParamReader::read`]): loads `current`, reads that
//!   slot once between two loads of its sequence word, and accepts the values only if the
//!   sequence was even and unchanged. Otherwise the writer published twice during the read
//!   (and is now rewriting this slot): the reader keeps the last values it accepted.
//!   One attempt, no loop: **wait-free**, bounded to a dozen loads.
//!
//! Values travel as `f32` bit patterns in `AtomicU32`s, so a torn read is a wrong number,
//! never a data race. Everything read is sanitised ([`Params::sanitized`]): shared memory is
//! untrusted, and a NaN gain must not reach the output.

use shmsync::hal::atomic::{AtomicU32, Ordering, fence};

/// Parameters of the helper's processing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Linear gain, `0.0..=MAX_GAIN`.
    pub gain: f32,
    /// One-pole low-pass cutoff in Hz, `MIN_CUTOFF_HZ..=MAX_CUTOFF_HZ`.
    pub cutoff_hz: f32,
}

/// Largest accepted gain (+12 dB).
pub const MAX_GAIN: f32 = 3.981;
/// Cutoff limits: the audible band.
pub const MIN_CUTOFF_HZ: f32 = 20.0;
/// Upper cutoff limit.
pub const MAX_CUTOFF_HZ: f32 = 20_000.0;

impl Params {
    /// Unity gain, filter open at 8 kHz.
    pub const DEFAULT: Params = Params {
        gain: 1.0,
        cutoff_hz: 8_000.0,
    };

    /// Clamps into range; NaN becomes the default. Real-time class: wait-free.
    pub fn sanitized(self) -> Params {
        let clamp = |v: f32, lo: f32, hi: f32, dflt: f32| {
            if v.is_nan() { dflt } else { v.clamp(lo, hi) }
        };
        Params {
            gain: clamp(self.gain, 0.0, MAX_GAIN, Self::DEFAULT.gain),
            cutoff_hz: clamp(
                self.cutoff_hz,
                MIN_CUTOFF_HZ,
                MAX_CUTOFF_HZ,
                Self::DEFAULT.cutoff_hz,
            ),
        }
    }
}

/// Number of `f32` values in a [`Params`].
const FIELDS: usize = 2;

/// One version of the parameters, guarded by a sequence word (odd: being written).
#[repr(C)]
struct Slot {
    seq: AtomicU32,
    values: [AtomicU32; FIELDS],
}

/// The shared parameter block. All-zero bytes: version 0, which readers treat as "nothing
/// published yet" and answer with [`Params::DEFAULT`].
#[repr(C)]
pub struct ParamBlock {
    /// The last published version; readers go to slot `current & 1`.
    current: AtomicU32,
    slots: [Slot; 2],
}

shmsync::assert_layout!(ParamBlock, size = 28, align = 4);

impl ParamBlock {
    /// Nothing published. Real-time class: wait-free.
    #[allow(clippy::declare_interior_mutable_const)]
    pub const fn new() -> Self {
        const Z: AtomicU32 = AtomicU32::new(0);
        Self {
            current: Z,
            slots: [
                Slot {
                    seq: Z,
                    values: [Z; FIELDS],
                },
                Slot {
                    seq: Z,
                    values: [Z; FIELDS],
                },
            ],
        }
    }

    /// Publishes `p` as the next version.
    ///
    /// Exactly **one** thread (in one process) may publish: the example's control thread.
    /// Two concurrent writers could interleave inside one slot, which readers would detect
    /// (odd or changed sequence) and skip, so the result is lost updates, never torn values
    /// accepted. Real-time class: wait-free (a few stores; no wake).
    pub fn publish(&self, p: Params) {
        let v = self.current.load(Ordering::Relaxed).wrapping_add(1);
        let slot = &self.slots[(v & 1) as usize];
        // Sequence odd first: a reader that sees the new values also sees an odd or changed
        // sequence on its second load (the release fence orders the odd store before them).
        let s = slot.seq.load(Ordering::Relaxed);
        slot.seq.store(s.wrapping_add(1) | 1, Ordering::Relaxed);
        fence(Ordering::Release);
        slot.values[0].store(p.gain.to_bits(), Ordering::Relaxed);
        slot.values[1].store(p.cutoff_hz.to_bits(), Ordering::Relaxed);
        // Even again, released: a reader that acquires this value sees the values above.
        slot.seq
            .store((s.wrapping_add(1) | 1).wrapping_add(1), Ordering::Release);
        self.current.store(v, Ordering::Release);
    }
}

impl Default for ParamBlock {
    fn default() -> Self {
        Self::new()
    }
}

/// A reader's view: remembers the last consistent values it read.
#[derive(Debug, Clone, Copy)]
pub struct ParamReader {
    last: Params,
    version: u32,
    /// Reads that found the slot being rewritten and kept the previous values.
    pub contended: u64,
}

impl ParamReader {
    /// A reader that answers [`Params::DEFAULT`] until something is published.
    /// Real-time class: wait-free.
    pub const fn new() -> Self {
        Self {
            last: Params::DEFAULT,
            version: 0,
            contended: 0,
        }
    }

    /// The newest consistent parameters, or the last ones read if the writer was busy in
    /// the slot. Real-time class: **wait-free** (one attempt, at most seven atomic loads
    /// and one fence; no loop).
    #[inline]
    pub fn read(&mut self, block: &ParamBlock) -> Params {
        let v = block.current.load(Ordering::Acquire);
        if v == 0 || v == self.version {
            return self.last;
        }
        let slot = &block.slots[(v & 1) as usize];
        let s1 = slot.seq.load(Ordering::Acquire);
        let gain = slot.values[0].load(Ordering::Relaxed);
        let cutoff = slot.values[1].load(Ordering::Relaxed);
        // Orders the value loads before the second sequence load.
        fence(Ordering::Acquire);
        let s2 = slot.seq.load(Ordering::Relaxed);
        if s1 & 1 != 0 || s1 != s2 {
            self.contended += 1;
            return self.last;
        }
        self.last = Params {
            gain: f32::from_bits(gain),
            cutoff_hz: f32::from_bits(cutoff),
        }
        .sanitized();
        self.version = v;
        self.last
    }
}

impl Default for ParamReader {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_sees_defaults_then_each_version_and_sanitises() {
        let block = ParamBlock::new();
        let mut r = ParamReader::new();
        assert_eq!(r.read(&block), Params::DEFAULT);
        let p = Params {
            gain: 0.25,
            cutoff_hz: 1_000.0,
        };
        block.publish(p);
        assert_eq!(r.read(&block), p);
        block.publish(Params {
            gain: f32::NAN,
            cutoff_hz: 1.0e9,
        });
        assert_eq!(
            r.read(&block),
            Params {
                gain: Params::DEFAULT.gain,
                cutoff_hz: MAX_CUTOFF_HZ
            }
        );
        assert_eq!(r.contended, 0);
    }

    #[test]
    fn reader_keeps_the_last_values_while_the_slot_is_being_rewritten() {
        let block = ParamBlock::new();
        let mut r = ParamReader::new();
        let first = Params {
            gain: 0.5,
            cutoff_hz: 500.0,
        };
        block.publish(first);
        assert_eq!(r.read(&block), first);
        block.publish(Params {
            gain: 2.0,
            cutoff_hz: 2_000.0,
        });
        // A writer in the middle of rewriting the published slot: sequence odd.
        let slot = &block.slots[(block.current.load(Ordering::Relaxed) & 1) as usize];
        let s = slot.seq.load(Ordering::Relaxed);
        slot.seq.store(s | 1, Ordering::Relaxed);
        assert_eq!(r.read(&block), first, "torn slot must not be accepted");
        assert_eq!(r.contended, 1);
        slot.seq.store(s, Ordering::Relaxed);
        assert_eq!(r.read(&block).gain, 2.0);
    }

    #[test]
    fn concurrent_writer_never_yields_a_mixed_pair() {
        // The writer publishes pairs (g, g * 1000); a reader must never accept a pair from
        // two different versions.
        let block = ParamBlock::new();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut g = 0.0f32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    g = if g >= 3.0 { 0.001 } else { g + 0.001 };
                    block.publish(Params {
                        gain: g,
                        cutoff_hz: g * 1000.0 + 20.0,
                    });
                }
            });
            let mut r = ParamReader::new();
            for _ in 0..200_000 {
                let p = r.read(&block);
                if p != Params::DEFAULT {
                    assert_eq!(p.cutoff_hz, p.gain * 1000.0 + 20.0, "mixed versions: {p:?}");
                }
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }
}
