//! Support code of the `audio_host` example, shared with `tests/audio_rt.rs` (which
//! includes this directory with `#[path]`), so the proof test runs the very callback the
//! example runs.
//!
//! | module | what |
//! |---|---|
//! | [`shared`] | the region's root type: two `Spsc<Block, 8>` rings, parameters, control words |
//! | [`host`] | the audio callback (wait-free) |
//! | [`helper`] | the helper process's loop (parks when idle) |
//! | [`params`] | the lock-free parameter block (seqlock slots, one-attempt reader) |
//! | [`dsp`] | test tone, gain and one-pole low-pass |
//! | [`stats`] | xrun log and callback durations, allocation-free on the audio thread |
//! | [`rt`] | real-time scheduling (SCHED_FIFO / THREAD_TIME_CONSTRAINT_POLICY) |
//! | [`period`] | absolute-deadline period clock (clock_nanosleep / mach_wait_until) |
//! | [`alloc_count`] | a counting global allocator, per thread |
//! | [`probe`] | a syscall counter for one thread (Linux seccomp user notification) |

pub mod alloc_count;
pub mod dsp;
pub mod helper;
pub mod host;
pub mod params;
pub mod period;
pub mod probe;
pub mod rt;
pub mod shared;
pub mod stats;
