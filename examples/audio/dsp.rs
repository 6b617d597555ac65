//! The signal the host sends and the processing the helper applies: a test tone and a gain
//! plus one-pole low-pass filter per channel. Both are allocation-free, take a bounded
//! number of steps per sample, and call no library function that might lock (no libm:
//! the oscillator rotates a phasor, the filter coefficient is computed by the helper, off
//! the host's audio thread).

use super::params::Params;

/// A sine tone from a rotating phasor (two multiply-adds per sample, no `sin` call),
/// renormalised once per block so that rounding cannot make its amplitude drift.
#[derive(Debug, Clone, Copy)]
pub struct Oscillator {
    re: f64,
    im: f64,
    step_re: f64,
    step_im: f64,
    amplitude: f32,
}

impl Oscillator {
    /// A tone of `hz` at `sample_rate`, peak `amplitude`. Real-time class: may block (calls
    /// `sin`/`cos` once; construct it before the audio thread starts).
    pub fn new(hz: f64, sample_rate: f64, amplitude: f32) -> Self {
        let w = core::f64::consts::TAU * hz / sample_rate;
        Self {
            re: 1.0,
            im: 0.0,
            step_re: w.cos(),
            step_im: w.sin(),
            amplitude,
        }
    }

    /// Fills `frames` interleaved frames of `channels` (the same tone on every channel,
    /// each channel scaled by `1 / (1 + channel)` so channels differ). Real-time class:
    /// **wait-free**.
    #[inline]
    pub fn fill(&mut self, out: &mut [f32], channels: usize) {
        for frame in out.chunks_exact_mut(channels) {
            let s = self.im as f32 * self.amplitude;
            for (c, x) in frame.iter_mut().enumerate() {
                *x = s / (1 + c) as f32;
            }
            let re = self.re * self.step_re - self.im * self.step_im;
            self.im = self.re * self.step_im + self.im * self.step_re;
            self.re = re;
        }
        // |phasor| = 1 by construction; one Newton step of 1/sqrt keeps it there.
        let n2 = self.re * self.re + self.im * self.im;
        let k = 1.5 - 0.5 * n2;
        self.re *= k;
        self.im *= k;
    }
}

/// Gain and a one-pole low-pass per channel: `y += a·(x − y)`, output `gain·y`.
#[derive(Debug, Clone)]
pub struct Processor<const CH: usize> {
    state: [f32; CH],
    sample_rate: f32,
    /// Cached coefficient and the cutoff it was computed for.
    coeff: f32,
    coeff_for: f32,
}

impl<const CH: usize> Processor<CH> {
    /// A processor at `sample_rate` with silent filter state. Real-time class: wait-free.
    pub fn new(sample_rate: f32) -> Self {
        Self {
            state: [0.0; CH],
            sample_rate,
            coeff: 1.0,
            coeff_for: f32::NAN,
        }
    }

    /// `a = 1 − e^(−2π·fc/fs)`: the one-pole coefficient for cutoff `fc`.
    fn coefficient(&self, cutoff_hz: f32) -> f32 {
        let x = -core::f32::consts::TAU * cutoff_hz / self.sample_rate;
        (1.0 - x.exp()).clamp(0.0, 1.0)
    }

    /// Processes interleaved `samples` (`CH` per frame) in place with `params` (sanitised
    /// again here: they came through shared memory). Real-time class: wait-free in steps
    /// (bounded by the block length); the helper calls `exp` when the cutoff changes, so it
    /// is not meant for the host's audio thread.
    pub fn process(&mut self, samples: &mut [f32], params: Params) {
        let p = params.sanitized();
        if p.cutoff_hz.to_bits() != self.coeff_for.to_bits() {
            self.coeff = self.coefficient(p.cutoff_hz);
            self.coeff_for = p.cutoff_hz;
        }
        let a = self.coeff;
        for frame in samples.chunks_exact_mut(CH) {
            for (x, y) in frame.iter_mut().zip(self.state.iter_mut()) {
                // A non-finite input (from a corrupted block) must not poison the state.
                let input = if x.is_finite() { *x } else { 0.0 };
                *y += a * (input - *y);
                // Flush denormals: decaying state would otherwise slow every later sample.
                if y.abs() < 1.0e-30 {
                    *y = 0.0;
                }
                *x = p.gain * *y;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oscillator_keeps_its_amplitude() {
        let mut o = Oscillator::new(997.0, 48_000.0, 0.5);
        let mut buf = [0.0f32; 512];
        let mut peak = 0.0f32;
        for _ in 0..10_000 {
            o.fill(&mut buf, 2);
            peak = buf.iter().step_by(2).fold(peak, |m, x| m.max(x.abs()));
        }
        assert!((peak - 0.5).abs() < 1e-3, "peak {peak}");
        // Right channel is half the left.
        assert!((buf[1] * 2.0 - buf[0]).abs() < 1e-6);
    }

    #[test]
    fn processor_applies_gain_and_low_pass_and_survives_garbage() {
        let mut p = Processor::<2>::new(48_000.0);
        let params = Params {
            gain: 0.5,
            cutoff_hz: 1_000.0,
        };
        // DC converges to gain × input; the first sample is a·x (one-pole step response).
        let mut block = [1.0f32; 2 * 256];
        p.process(&mut block, params);
        let a = 1.0 - (-core::f32::consts::TAU * 1_000.0 / 48_000.0).exp();
        assert!((block[0] - 0.5 * a).abs() < 1e-6);
        assert!((block[510] - 0.5).abs() < 1e-3, "{}", block[510]);
        // NaN/inf input samples are treated as silence, NaN params as defaults.
        let mut bad = [f32::NAN, f32::INFINITY, 1.0, 1.0];
        p.process(
            &mut bad,
            Params {
                gain: f32::NAN,
                cutoff_hz: f32::NAN,
            },
        );
        assert!(bad.iter().all(|x| x.is_finite()), "{bad:?}");
    }
}
