//! The ring rows: one `shmsync::Spsc<u64, RING_N>` per direction, in the region's root.
//!
//! A message of `size` bytes travels as `size / 8` words: one `try_push` / `try_pop` for
//! the default 8-byte message, one `push_slice` (a single publication, at most one wake)
//! and a `pop_slice` for larger ones. Only how the receiver waits for the first word
//! differs between the rows:
//!
//! | [`Pop`] | waiting |
//! |---|---|
//! | [`RingSpin`] | `try_pop` in a `spin_loop` hint loop (wait-free calls, no syscall) |
//! | [`RingAdaptive`] | `pop(None)`: the ring's own spin (an `arch::Backoff`), then park |

use shmsync::ring::{Consumer, PopError, Producer, PushError, Spsc};
use std::marker::PhantomData;
use std::sync::atomic::Ordering;

use crate::link::{Fault, Link, SLEEPS};
use crate::shared::MAX_MSG;

/// Slots per ring: room for the largest message (64 KiB = 8,192 words).
pub const RING_N: usize = MAX_MSG / 8;

/// One direction's ring.
pub type Ring = Spsc<u64, RING_N>;

/// How the receiver waits for a message's first word.
pub trait Pop {
    /// Returns the next word, waiting as the row does.
    fn first(rx: &mut Consumer<'_, u64, RING_N>) -> Result<u64, PopError>;
}

/// Spin on `try_pop`.
pub struct RingSpin;

impl Pop for RingSpin {
    #[inline]
    fn first(rx: &mut Consumer<'_, u64, RING_N>) -> Result<u64, PopError> {
        loop {
            match rx.try_pop() {
                Err(PopError::Empty) => core::hint::spin_loop(),
                done => return done,
            }
        }
    }
}

/// The ring's blocking `pop(None)`: spin a few microseconds, then park.
pub struct RingAdaptive;

impl Pop for RingAdaptive {
    #[inline]
    fn first(rx: &mut Consumer<'_, u64, RING_N>) -> Result<u64, PopError> {
        rx.pop(None)
    }
}

/// A two-way link over two rings.
pub struct RingLink<'a, P> {
    tx: Producer<'a, u64, RING_N>,
    rx: Consumer<'a, u64, RING_N>,
    words: Vec<u64>,
    _pop: PhantomData<P>,
}

impl<'a, P: Pop> RingLink<'a, P> {
    /// Claims the producer role of `tx` and the consumer role of `rx`, for messages of
    /// up to `MAX_MSG` bytes (a multiple of 8). The roles are released on drop.
    pub fn new(tx: &'a Ring, rx: &'a Ring) -> Result<Self, String> {
        Ok(Self {
            tx: tx
                .producer()
                .map_err(|e| format!("ring producer role: {e}"))?,
            rx: rx
                .consumer()
                .map_err(|e| format!("ring consumer role: {e}"))?,
            // The row's only allocation, made before its first message.
            words: vec![0; RING_N],
            _pop: PhantomData,
        })
    }
}

impl<P> Drop for RingLink<'_, P> {
    fn drop(&mut self) {
        // The rows' sleep statistic: how often either end parked in the kernel.
        SLEEPS.fetch_add(self.tx.parks() + self.rx.parks(), Ordering::Relaxed);
    }
}

fn ring_fault<T>(e: PushError<T>) -> Fault {
    match e {
        PushError::Full(_) => Fault::Ring("the ring is full: the peer did not take a message"),
        PushError::Corrupted(_) => Fault::Ring("the ring's shared state is corrupted"),
    }
}

impl<P: Pop> Link for RingLink<'_, P> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<(), Fault> {
        let n = (msg.len() / 8).min(self.words.len());
        for (w, chunk) in self.words.iter_mut().zip(msg.chunks_exact(8)) {
            *w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        }
        if n == 1 {
            return self.tx.try_push(self.words[0]).map_err(ring_fault);
        }
        match self.tx.push_slice(&self.words[..n]) {
            Ok(pushed) if pushed == n => Ok(()),
            Ok(_) => Err(Fault::Ring(
                "the ring is full: the peer did not take a message",
            )),
            Err(_) => Err(Fault::Ring("the ring's shared state is corrupted")),
        }
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), Fault> {
        let n = (buf.len() / 8).min(self.words.len());
        self.words[0] = P::first(&mut self.rx).map_err(|e| match e {
            PopError::Empty => Fault::Ring("the ring was empty after a blocking pop"),
            PopError::Corrupted => Fault::Ring("the ring's shared state is corrupted"),
        })?;
        // The rest of a message was published with its first word: it is there already
        // (the loop only guards against a peer that published it piecewise).
        let mut got = 1;
        while got < n {
            match self.rx.pop_slice(&mut self.words[got..n]) {
                Ok(k) => got += k,
                Err(_) => return Err(Fault::Ring("the ring's shared state is corrupted")),
            }
            core::hint::spin_loop();
        }
        for (chunk, w) in buf.chunks_exact_mut(8).zip(&self.words[..n]) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        Ok(())
    }
}
