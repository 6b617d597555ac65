//! The helper process's loop: take a block, apply gain and the low-pass, send it back.
//!
//! The helper is not real-time: it may block, and it does — while no block is waiting it
//! parks in `Consumer::pop` (a few microseconds of spinning, then a futex-style sleep behind
//! the ring's "parked" flag), and the host's next `try_push` wakes it with one syscall.
//! [`Idle::Poll`] instead polls with short sleeps and never parks, so the host never has to
//! wake it (the "helper keeps up, zero syscalls" case of the proof test).
//!
//! A helper that starts while an earlier one's roles are still recorded takes them over
//! if that process is dead ([`shmsync::ring::RoleError::Taken`] while it is alive).

use super::dsp::Processor;
use super::shared::{AudioShared, Block, CHANNELS, RING_BLOCKS, SAMPLE_RATE};
use shmsync::hal::atomic::Ordering;
use shmsync::hal::process::{self, Liveness};
use shmsync::ring::{Consumer, PopError, Producer, PushError, RoleError};
use std::time::{Duration, Instant};

/// How often an idle helper looks at the shutdown flag and the host's liveness.
pub const IDLE_CHECK: Duration = Duration::from_millis(100);

/// How the helper waits for work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Park in `pop` (the normal mode).
    Park,
    /// Poll with `try_pop`, sleeping this long between empty polls; never parks.
    Poll(Duration),
}

/// Why the helper loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The host set the shutdown flag.
    Shutdown,
    /// The host process is gone.
    HostGone,
    /// A ring reported corrupted shared state.
    Corrupted,
}

/// The helper's end of the link.
pub struct HelperPath<'a> {
    shared: &'a AudioShared,
    rx: Consumer<'a, Block, RING_BLOCKS>,
    tx: Producer<'a, Block, RING_BLOCKS>,
    dsp: Processor<CHANNELS>,
    /// Blocks this helper processed.
    pub processed: u64,
    /// Blocks dropped because the host did not take them back within [`IDLE_CHECK`].
    pub dropped: u64,
    /// When poll mode last checked the host's liveness.
    last_check: Instant,
}

impl<'a> HelperPath<'a> {
    /// Claims the helper's roles (consumer of `to_helper`, producer of `to_host`), taking
    /// them over from a dead helper. Real-time class: may block.
    pub fn attach(shared: &'a AudioShared) -> Result<Self, RoleError> {
        let rx = shared.to_helper.consumer()?;
        let tx = shared.to_host.producer()?;
        shared
            .control
            .helper_pid
            .store(process::current().pid, Ordering::Relaxed);
        shared.control.helper_starts.fetch_add(1, Ordering::AcqRel);
        Ok(Self {
            shared,
            rx,
            tx,
            dsp: Processor::new(SAMPLE_RATE as f32),
            processed: 0,
            dropped: 0,
            last_check: Instant::now(),
        })
    }

    /// Whether either ring role was taken over from a dead process. Real-time class:
    /// wait-free.
    pub fn took_over(&self) -> bool {
        self.rx.took_over_from().is_some() || self.tx.took_over_from().is_some()
    }

    /// Times this helper parked waiting for a block. Real-time class: wait-free.
    pub fn parks(&self) -> u64 {
        self.rx.parks()
    }

    /// Runs until shutdown, host death or corruption. Real-time class: may block.
    pub fn run(&mut self, idle: Idle) -> Exit {
        loop {
            if self.shared.control.shutdown.load(Ordering::Acquire) != 0 {
                return Exit::Shutdown;
            }
            let parks_before = self.rx.parks();
            let got = match idle {
                Idle::Park => self.rx.pop(Some(IDLE_CHECK)),
                Idle::Poll(pause) => match self.rx.try_pop() {
                    Err(PopError::Empty) => {
                        std::thread::sleep(pause);
                        if self.host_gone_poll() {
                            return Exit::HostGone;
                        }
                        continue;
                    }
                    other => other,
                },
            };
            let parked = self.rx.parks() - parks_before;
            if parked > 0 {
                self.shared
                    .control
                    .helper_parks
                    .fetch_add(parked as u32, Ordering::Relaxed);
            }
            match got {
                Ok(mut block) => {
                    self.process(&mut block);
                    // Poll mode never parks, not even on a full ring (the host would then
                    // have to wake it); the host takes one block per period, so a full
                    // ring means the host is stalled and the block is stale anyway.
                    let sent = match idle {
                        Idle::Park => self.tx.push(block, Some(IDLE_CHECK)),
                        Idle::Poll(_) => self.tx.try_push(block),
                    };
                    match sent {
                        Ok(()) => {}
                        Err(PushError::Full(_)) => self.dropped += 1,
                        Err(PushError::Corrupted(_)) => return Exit::Corrupted,
                    }
                }
                Err(PopError::Empty) => {
                    if host_dead(self.shared) {
                        return Exit::HostGone;
                    }
                }
                Err(PopError::Corrupted) => return Exit::Corrupted,
            }
        }
    }

    /// Applies the block's own (sanitised) parameters in place. Real-time class: wait-free
    /// in steps (bounded by the block), but may call `exp` (see `dsp::Processor`).
    pub fn process(&mut self, block: &mut Block) {
        let params = block.params();
        self.dsp.process(block.audio_mut(), params);
        self.processed += 1;
        self.shared
            .control
            .helper_blocks
            .fetch_add(1, Ordering::Relaxed);
    }

    /// In poll mode, checks host liveness about every [`IDLE_CHECK`] (not every poll).
    fn host_gone_poll(&mut self) -> bool {
        if self.last_check.elapsed() < IDLE_CHECK {
            return false;
        }
        self.last_check = Instant::now();
        host_dead(self.shared)
    }
}

/// True when the host recorded in the control block is dead. Real-time class: may block.
pub fn host_dead(shared: &AudioShared) -> bool {
    let host = shared.control.host();
    !host.is_none() && process::liveness(host) == Liveness::Dead
}
