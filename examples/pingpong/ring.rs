//! The ring rows: one `shmsync::Spsc<u64, RING_N>` per direction, in the region's root.
//!
//! A message of `size` bytes travels as `size / 8` words: one `try_push` / `try_pop` for
//! the default 8-byte message, one `push_slice` (a single publication, at most one wake)
//! and a `pop_slice` for larger ones. Only how the receiver waits for the first word
//! differs between the rows:
//!
//! | [`Pop`] | waiting | ends' spin limit |
//! |---|---|---|
//! | [`RingSpin`] | `try_pop` in a `spin_loop` hint loop (wait-free calls, no syscall) | (never blocks) |
//! | [`RingBlock`] | `pop(None)`: park at once, every time the ring is empty | 0 |
//! | [`RingAdaptive`] | `pop(None)`: the ring's own spin (a time window, 5.1 µs by default), then park | `--spin-limit` (default 7) |
//!
//! The sender's `try_push` / `push_slice` never blocks; it makes the wake syscall only when
//! the receiver announced that it parked. `RingBlock` is judged against the raw futex row,
//! which parks and wakes on every message: both make one wait and one wake per message,
//! so their ratio is the cost of the ring's bookkeeping around the same two syscalls.

use shmsync::arch::Backoff;
use shmsync::ring::{Consumer, PopError, Producer, PushError, Spsc};
use std::marker::PhantomData;
use std::sync::atomic::Ordering;

use crate::link::{Fault, Link, SLEEPS, SPIN_LIMIT};
use crate::shared::MAX_MSG;

/// Slots per ring: room for the largest message (64 KiB = 8,192 words).
pub const RING_N: usize = MAX_MSG / 8;

/// One direction's ring.
pub type Ring = Spsc<u64, RING_N>;

/// How the receiver waits for a message's first word.
pub trait Pop {
    /// The spin limit both ends' blocking calls get (`set_spin_limit`), read when the
    /// link is made, outside the timed region.
    fn spin_limit() -> u32;
    /// Returns the next word, waiting as the row does.
    fn first(rx: &mut Consumer<'_, u64, RING_N>) -> Result<u64, PopError>;
}

/// Spin on `try_pop`.
pub struct RingSpin;

impl Pop for RingSpin {
    fn spin_limit() -> u32 {
        // Unused: this row never calls a blocking operation.
        Backoff::DEFAULT_SPIN_LIMIT
    }

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

/// The ring's blocking `pop(None)` with spin limit 0: park as soon as the ring is empty.
pub struct RingBlock;

impl Pop for RingBlock {
    fn spin_limit() -> u32 {
        0
    }

    #[inline]
    fn first(rx: &mut Consumer<'_, u64, RING_N>) -> Result<u64, PopError> {
        rx.pop(None)
    }
}

/// The ring's blocking `pop(None)` with the run's `--spin-limit` (by default the library
/// default: a 5.1 µs spin window), then park.
pub struct RingAdaptive;

impl Pop for RingAdaptive {
    fn spin_limit() -> u32 {
        SPIN_LIMIT.load(Ordering::Relaxed)
    }

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
    ///
    /// Both ends get the row's spin limit ([`Pop::spin_limit`]); it is a setting of these
    /// handles in this process, so each process sets its own.
    pub fn new(tx: &'a Ring, rx: &'a Ring) -> Result<Self, String> {
        let mut tx = tx
            .producer()
            .map_err(|e| format!("ring producer role: {e}"))?;
        let mut rx = rx
            .consumer()
            .map_err(|e| format!("ring consumer role: {e}"))?;
        tx.set_spin_limit(P::spin_limit());
        rx.set_spin_limit(P::spin_limit());
        Ok(Self {
            tx,
            rx,
            // The row's only allocation, made before its first message.
            words: vec![0; RING_N],
            _pop: PhantomData,
        })
    }

    /// The spin limits the two ends block with (producer, consumer).
    #[cfg(test)]
    pub fn spin_limits(&self) -> (u32, u32) {
        (self.tx.spin_limit(), self.rx.spin_limit())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Two rings on the heap (each is 64 KiB of slots).
    fn rings() -> (Box<Ring>, Box<Ring>) {
        (Box::new(Ring::new()), Box::new(Ring::new()))
    }

    #[test]
    fn each_row_sets_both_ends_spin_limit() {
        let (a, b) = rings();
        {
            let link = RingLink::<RingBlock>::new(&a, &b).unwrap();
            assert_eq!(link.spin_limits(), (0, 0));
        }
        {
            // The roles were released on drop; `--spin-limit` is 7 unless set.
            let link = RingLink::<RingAdaptive>::new(&a, &b).unwrap();
            let limit = SPIN_LIMIT.load(Ordering::Relaxed);
            assert_eq!(link.spin_limits(), (limit, limit));
        }
        let _held = RingLink::<RingSpin>::new(&a, &b).unwrap();
        assert!(
            RingLink::<RingBlock>::new(&a, &b).is_err(),
            "roles are exclusive"
        );
    }

    /// A ping-pong through two `RingBlock` links in two threads: every message comes back
    /// in order, and the receivers park (with spin limit 0 a receiver that finds the ring
    /// empty parks at once; how many of the 2,000 receives find it empty depends on the
    /// scheduler, so only "some" is asserted).
    #[test]
    fn ring_block_links_park_and_hand_over_every_message() {
        let (a, b) = rings();
        let n = 1_000u64;
        let (parks_here, parks_there) = std::thread::scope(|s| {
            let echo = s.spawn(|| {
                let mut link = RingLink::<RingBlock>::new(&b, &a).unwrap();
                let mut buf = [0u8; 16];
                for _ in 0..n {
                    link.recv(&mut buf).unwrap();
                    link.send(&buf).unwrap();
                }
                link.tx.parks() + link.rx.parks()
            });
            let mut link = RingLink::<RingBlock>::new(&a, &b).unwrap();
            let mut out = [0u8; 16];
            let mut inp = [0u8; 16];
            for i in 0..n {
                out[..8].copy_from_slice(&i.to_le_bytes());
                out[8..].copy_from_slice(&(!i).to_le_bytes());
                link.send(&out).unwrap();
                link.recv(&mut inp).unwrap();
                assert_eq!(inp, out, "message {i}");
            }
            (link.tx.parks() + link.rx.parks(), echo.join().unwrap())
        });
        eprintln!("parks: {parks_here} here, {parks_there} in the echo thread");
        assert!(parks_here + parks_there > 0);
    }
}
