//! How one message travels: the [`Link`] trait and the transports behind the rows.
//!
//! The slot rows share one shape ([`SlotLink`]): each direction has a data area and a
//! 32-bit *message word* holding a send count (31 bits, wrapping). The sender copies the
//! message into the area, then publishes count + 1; the receiver waits until the word
//! changes, checks that it moved by exactly one (anything else means a message was lost
//! or duplicated), then copies the message out. Only the waiting differs, which is the
//! point of the comparison:
//!
//! | [`Signal`] | publish | await |
//! |---|---|---|
//! | [`Spin`] | store | load in a `spin_loop` hint loop |
//! | [`RawFutex`] | store, `FUTEX_WAKE` | `FUTEX_WAIT` while unchanged (Linux only) |
//! | [`HalPark`] | store, `hal::wake_one` | `hal::wait` while unchanged |
//! | [`HalAdaptive`] | swap; `hal::wake_one` only if the reader parked | `Backoff` spin, then mark parked and `hal::wait` |
//!
//! `RawFutex` and `HalPark` run the identical protocol — park every time, wake every
//! time — so their ratio is the cost of the hal layer alone.

use shmsync::arch::Backoff;
use shmsync::hal;
use shmsync::hal::atomic::{AtomicU32, Ordering};
use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::sync::atomic::AtomicU64;

use crate::shared::MAX_MSG;

/// Wait syscalls this process made in the blocking signals (reset per row): how often a
/// receiver actually slept. Touched only on the slow path, right before the syscall.
pub static SLEEPS: AtomicU64 = AtomicU64::new(0);

/// Counts one sleep.
#[inline]
fn count_sleep() {
    SLEEPS.fetch_add(1, Ordering::Relaxed);
}

/// Send counts are 31 bits wide, so [`HalAdaptive`] has a bit left for its parked flag.
pub const COUNT_MASK: u32 = 0x7FFF_FFFF;

/// Why a message could not be moved.
#[derive(Debug)]
pub enum Fault {
    /// The message word moved by other than one: messages were lost or duplicated.
    Jump {
        /// The count the receiver expected next.
        expected: u32,
        /// The count it found.
        got: u32,
    },
    /// The other end of the pipe closed (the peer is gone).
    Closed,
    /// A read or write failed.
    Io(io::Error),
    /// A ring refused the message or reported corruption.
    Ring(&'static str),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Jump { expected, got } => write!(
                f,
                "the message word moved from {} to {got}: {}",
                expected.wrapping_sub(1) & COUNT_MASK,
                if got.wrapping_sub(*expected) & COUNT_MASK > COUNT_MASK / 2 {
                    "a message was repeated"
                } else {
                    "messages were lost or duplicated"
                }
            ),
            Fault::Closed => write!(f, "the pipe closed: the peer is gone"),
            Fault::Io(e) => write!(f, "{e}"),
            Fault::Ring(what) => f.write_str(what),
        }
    }
}

/// One end of a two-way message channel between the two processes.
pub trait Link {
    /// Sends `msg` (at most `MAX_MSG` bytes).
    fn send(&mut self, msg: &[u8]) -> Result<(), Fault>;
    /// Waits for the next message and copies it into `buf` (exactly `buf.len()` bytes).
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), Fault>;
}

/// The true spin baseline: a bare one-line `AtomicU32` ping-pong. Both sides write the
/// *same* word — the parent `seq << 1`, the peer `seq << 1 | 1` — and wait for the other
/// side's direction bit: one cache line, one transfer per direction, nothing copied. Only
/// the sequence number travels (its low 31 bits; the stop message is all ones), so the
/// row measures the hand-over alone whatever `--size` says.
pub struct OneWord<'a> {
    word: &'a AtomicU32,
    /// 0 for the parent's writes, 1 for the peer's.
    dir: u32,
    /// The last value this side wrote (the other side's answer differs from it).
    last: u32,
}

/// The 31-bit sequence number that stands for the stop message.
const ONE_WORD_STOP: u32 = COUNT_MASK;

impl<'a> OneWord<'a> {
    /// The parent's (`parent`) or the peer's end of the one-word link on `word`, which
    /// holds 0 when the row starts.
    pub fn new(word: &'a AtomicU32, parent: bool) -> Self {
        Self {
            word,
            dir: u32::from(!parent),
            last: 0,
        }
    }
}

impl Link for OneWord<'_> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<(), Fault> {
        let seq = u64::from_le_bytes(msg[..8].try_into().unwrap_or([0; 8]));
        let low = if seq == u64::MAX {
            ONE_WORD_STOP
        } else {
            seq as u32 & COUNT_MASK
        };
        self.last = low << 1 | self.dir;
        self.word.store(self.last, Ordering::Release);
        Ok(())
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), Fault> {
        let v = loop {
            let v = self.word.load(Ordering::Acquire);
            if v != self.last && v & 1 != self.dir {
                break v;
            }
            core::hint::spin_loop();
        };
        self.last = v;
        let low = v >> 1;
        let seq = if low == ONE_WORD_STOP {
            u64::MAX
        } else {
            u64::from(low)
        };
        buf[..8].copy_from_slice(&seq.to_le_bytes());
        Ok(())
    }
}

/// How a message word is published and awaited.
pub trait Signal {
    /// Publishes send count `n` (31 bits) on `word`.
    fn publish(word: &AtomicU32, n: u32);
    /// Waits until `word` holds a count other than `last`, and returns it.
    fn await_change(word: &AtomicU32, last: u32) -> u32;
}

/// Bare spinning: the baseline a spin-based primitive is measured against.
pub struct Spin;

impl Signal for Spin {
    #[inline]
    fn publish(word: &AtomicU32, n: u32) {
        word.store(n, Ordering::Release);
    }

    #[inline]
    fn await_change(word: &AtomicU32, last: u32) -> u32 {
        loop {
            let v = word.load(Ordering::Acquire);
            if v != last {
                return v;
            }
            core::hint::spin_loop();
        }
    }
}

/// The raw Linux futex, no library in between: the blocking baseline.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub struct RawFutex;

#[cfg(any(target_os = "linux", target_os = "android"))]
impl Signal for RawFutex {
    #[inline]
    fn publish(word: &AtomicU32, n: u32) {
        word.store(n, Ordering::Release);
        // SAFETY: FUTEX_WAKE (shared: no FUTEX_PRIVATE_FLAG, as the peer is another
        // process) only uses the address as a key; `word` is a live reference.
        unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1) };
    }

    #[inline]
    fn await_change(word: &AtomicU32, last: u32) -> u32 {
        loop {
            let v = word.load(Ordering::Acquire);
            if v != last {
                return v;
            }
            count_sleep();
            // SAFETY: `word` is a live, aligned AtomicU32 the kernel only reads; a null
            // timeout waits without limit. EAGAIN / EINTR / spurious returns loop.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    word.as_ptr(),
                    libc::FUTEX_WAIT,
                    last,
                    core::ptr::null::<libc::timespec>(),
                )
            };
        }
    }
}

/// shmsync's hal, parking every time: the same protocol as [`RawFutex`].
pub struct HalPark;

impl Signal for HalPark {
    #[inline]
    fn publish(word: &AtomicU32, n: u32) {
        word.store(n, Ordering::Release);
        hal::wake_one(word);
    }

    #[inline]
    fn await_change(word: &AtomicU32, last: u32) -> u32 {
        loop {
            let v = word.load(Ordering::Acquire);
            if v != last {
                return v;
            }
            count_sleep();
            hal::wait(word, last, None);
        }
    }
}

/// shmsync's adaptive wait: spin through an `arch::Backoff` budget, then park; the sender
/// makes the wake syscall only when the receiver announced that it parked.
///
/// Word encoding: `count << 1 | PARKED`.
pub struct HalAdaptive;

/// The `Backoff` limit [`HalAdaptive`] and the ring-adaptive row spin with
/// (`--spin-limit`; default: the library's `Backoff::DEFAULT_SPIN_LIMIT`, 2^7 - 1 = 127
/// `cpu_relax` calls).
pub static SPIN_LIMIT: AtomicU32 = AtomicU32::new(Backoff::DEFAULT_SPIN_LIMIT);

/// The receiver is parked (or about to park) in `hal::wait`: the sender must wake it.
const PARKED: u32 = 1;

impl Signal for HalAdaptive {
    #[inline]
    fn publish(word: &AtomicU32, n: u32) {
        // One read-modify-write both publishes the count and reads the parked flag, so a
        // receiver that set PARKED before this swap is seen, and one that tries after it
        // finds the count changed (its compare-exchange fails).
        let prev = word.swap(n << 1, Ordering::Release);
        if prev & PARKED != 0 {
            hal::wake_one(word);
        }
    }

    #[inline]
    fn await_change(word: &AtomicU32, last: u32) -> u32 {
        let mut backoff = Backoff::with_limit(SPIN_LIMIT.load(Ordering::Relaxed));
        loop {
            let v = word.load(Ordering::Acquire);
            if v >> 1 != last {
                return v >> 1;
            }
            if !backoff.is_completed() {
                backoff.spin();
                continue;
            }
            // Spin budget spent: announce the park (skip the write if already announced)…
            if v & PARKED == 0
                && word
                    .compare_exchange(v, v | PARKED, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue; // the count moved meanwhile: re-check
            }
            // …and sleep while the word still says "count `last`, parked".
            count_sleep();
            hal::wait(word, v | PARKED, None);
        }
    }
}

/// A two-way link over the message words and data areas of the shared region.
pub struct SlotLink<'a, S> {
    tx: &'a AtomicU32,
    tx_data: *mut u8,
    rx: &'a AtomicU32,
    rx_data: *mut u8,
    sent: u32,
    received: u32,
    _signal: PhantomData<S>,
}

impl<'a, S: Signal> SlotLink<'a, S> {
    /// A link that sends on (`tx`, `tx_data`) and receives on (`rx`, `rx_data`); both
    /// words must hold 0 (count 0, nobody parked) and stay put until the link is used.
    ///
    /// # Safety
    /// `tx_data` and `rx_data` point to `MAX_MSG` bytes of the shared region, valid for
    /// `'a`; the other process only writes `rx_data` and only reads `tx_data`, each
    /// between the corresponding publish and await (the ping-pong guarantees that one
    /// message per direction is in flight at a time).
    pub unsafe fn new(
        tx: &'a AtomicU32,
        tx_data: *mut u8,
        rx: &'a AtomicU32,
        rx_data: *mut u8,
    ) -> Self {
        Self {
            tx,
            tx_data,
            rx,
            rx_data,
            sent: 0,
            received: 0,
            _signal: PhantomData,
        }
    }
}

impl<S: Signal> Link for SlotLink<'_, S> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<(), Fault> {
        let len = msg.len().min(MAX_MSG);
        // SAFETY: `tx_data` has MAX_MSG bytes (`new`'s contract) and the peer does not
        // read them until the publish below; `msg` is a distinct local buffer.
        unsafe { core::ptr::copy_nonoverlapping(msg.as_ptr(), self.tx_data, len) };
        self.sent = self.sent.wrapping_add(1) & COUNT_MASK;
        S::publish(self.tx, self.sent);
        Ok(())
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), Fault> {
        let got = S::await_change(self.rx, self.received) & COUNT_MASK;
        let expected = self.received.wrapping_add(1) & COUNT_MASK;
        if got != expected {
            return Err(Fault::Jump { expected, got });
        }
        self.received = got;
        let len = buf.len().min(MAX_MSG);
        // SAFETY: `rx_data` has MAX_MSG bytes; the Acquire load that saw the new count
        // orders the peer's copy before this one, and the peer writes the area again only
        // after we answer.
        unsafe { core::ptr::copy_nonoverlapping(self.rx_data, buf.as_mut_ptr(), len) };
        Ok(())
    }
}

/// A two-way link over a pair of pipes (the peer's stdin and stdout).
pub struct PipeLink<W, R> {
    tx: W,
    rx: R,
}

impl<W: Write, R: Read> PipeLink<W, R> {
    /// Sends on `tx`, receives on `rx`; both unbuffered.
    pub fn new(tx: W, rx: R) -> Self {
        Self { tx, rx }
    }
}

impl<W: Write, R: Read> Link for PipeLink<W, R> {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<(), Fault> {
        self.tx.write_all(msg).map_err(|e| match e.kind() {
            io::ErrorKind::BrokenPipe => Fault::Closed,
            _ => Fault::Io(e),
        })
    }

    #[inline]
    fn recv(&mut self, buf: &mut [u8]) -> Result<(), Fault> {
        self.rx.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => Fault::Closed,
            _ => Fault::Io(e),
        })
    }
}
