//! The decisions of the Mach control thread, without `mach_msg`: which dead-name
//! notification to believe (B4), what a failed send leaves to release (N2), what a receive
//! error asks for (N3), and how `drop_peer` waits for in-flight signals (N5).
//! Target-independent: `rendezvous.rs` feeds it decoded messages on Apple, and host tests
//! feed it forged and malformed ones.

use super::kern::kr::*;
use core::time::Duration;

/// `<mach/notify.h>`: `MACH_NOTIFY_FIRST (0100) + 010`.
pub(crate) const MACH_NOTIFY_DEAD_NAME: i32 = 0o110;
/// `<mach/message.h>`: the complex bit of `msgh_bits`.
pub(crate) const MACH_MSGH_BITS_COMPLEX: u32 = 0x8000_0000;
/// `<mach/message.h>`: bits of a `mach_msg` return code that only say which resource ran
/// short (`MACH_MSG_IPC_SPACE`, `_VM_SPACE`, `_IPC_KERNEL`, `_VM_KERNEL`).
pub(crate) const MACH_MSG_MASK: i32 = 0x0000_3e00;
/// `<mach/message.h>`: `KERNEL_SECURITY_TOKEN_VALUE`, the sender token of every message the
/// kernel sends.
pub(crate) const KERNEL_SECURITY_TOKEN: [u32; 2] = [0, 1];
/// `size_of::<mach_dead_name_notification_t>()` without its trailer: header 24, NDR 8,
/// name 4.
pub(crate) const DEAD_NAME_NOTIFICATION_SIZE: u32 = 36;

/// A received message, decoded into the fields the decisions read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Received {
    pub(crate) id: i32,
    pub(crate) bits: u32,
    pub(crate) size: u32,
    /// The port it arrived on.
    pub(crate) local_port: u32,
    /// For a dead-name notification: the name that died.
    pub(crate) not_port: u32,
    /// The audit trailer, if the kernel appended one that large.
    pub(crate) trailer: Option<Trailer>,
}

/// The sender identity of an audit trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Trailer {
    /// `msgh_sender`: the security token.
    pub(crate) sender: [u32; 2],
    /// `msgh_audit`: the audit token (`[5]` is the pid).
    pub(crate) audit: [u32; 8],
}

/// Why a dead-name notification was not believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    NotDeadName,
    Complex,
    TooShort,
    WrongPort,
    NoTrailer,
    NotFromKernel,
    NotWatched,
}

/// B4: accepts a dead-name notification only if the kernel sent it — audit pid 0 and
/// security token `{0, 1}` (`KERNEL_SECURITY_TOKEN_VALUE`; a user process cannot forge
/// either: the kernel writes the trailer) — on our control port (where we asked for it),
/// non-complex, large enough, for a name we actually watch. Returns the dead name.
pub(crate) fn accept_dead_name(
    m: &Received,
    control_port: u32,
    watched: impl Fn(u32) -> bool,
) -> Result<u32, Reject> {
    if m.id != MACH_NOTIFY_DEAD_NAME {
        return Err(Reject::NotDeadName);
    }
    if m.bits & MACH_MSGH_BITS_COMPLEX != 0 {
        return Err(Reject::Complex);
    }
    if m.size < DEAD_NAME_NOTIFICATION_SIZE {
        return Err(Reject::TooShort);
    }
    if m.local_port != control_port || control_port == 0 {
        return Err(Reject::WrongPort);
    }
    let t = m.trailer.ok_or(Reject::NoTrailer)?;
    if t.sender != KERNEL_SECURITY_TOKEN || t.audit[5] != 0 {
        return Err(Reject::NotFromKernel);
    }
    if m.not_port == 0 || !watched(m.not_port) {
        return Err(Reject::NotWatched);
    }
    Ok(m.not_port)
}

/// What a failed send leaves us to release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendResult {
    Sent,
    /// The message was copied in and then handed back as if received (its rights are ours
    /// again): `mach_msg_destroy` it.
    Returned(i32),
    /// Refused before copy-in: our rights were never moved; nothing to release (destroying
    /// would release *our* names).
    Refused(i32),
}

/// N2: the send result with the resource bits masked off (`MACH_MSG_MASK`), so that e.g.
/// `MACH_SEND_NO_BUFFER | MACH_MSG_IPC_KERNEL` is recognised.
pub(crate) fn classify_send(kr: i32) -> SendResult {
    match kr & !MACH_MSG_MASK {
        MACH_MSG_SUCCESS => SendResult::Sent,
        c @ (MACH_SEND_TIMED_OUT
        | MACH_SEND_INTERRUPTED
        | MACH_SEND_NO_BUFFER
        | MACH_SEND_INVALID_NOTIFY) => SendResult::Returned(c),
        c => SendResult::Refused(c),
    }
}

/// What the control thread does after one receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RcvAction {
    /// A message is in the buffer: handle it (and release its reply right).
    Handle,
    /// `MACH_RCV_TOO_LARGE`: the kernel destroyed the body; release the header's reply
    /// right it left, then receive again.
    ReleaseReply,
    /// Interrupted: receive again at once.
    Again,
    /// Another error: sleep this long first (doubling from 100 µs to 100 ms while errors
    /// repeat), so a persistent error does not spin the control thread.
    BackOff(Duration),
}

/// The receive-side state: consecutive errors.
#[derive(Debug, Default)]
pub(crate) struct Receiver {
    errors: u32,
}

/// First back-off after a receive error, and the most it grows to.
pub(crate) const RCV_BACKOFF_MIN: Duration = Duration::from_micros(100);
pub(crate) const RCV_BACKOFF_MAX: Duration = Duration::from_millis(100);

impl Receiver {
    /// N3: the action for receive result `kr` (masked like sends).
    pub(crate) fn on_result(&mut self, kr: i32) -> RcvAction {
        match kr & !MACH_MSG_MASK {
            MACH_MSG_SUCCESS => {
                self.errors = 0;
                RcvAction::Handle
            }
            MACH_RCV_TOO_LARGE => {
                self.errors = 0;
                RcvAction::ReleaseReply
            }
            MACH_RCV_INTERRUPTED => RcvAction::Again,
            _ => {
                let shift = self.errors.min(10);
                self.errors = self.errors.saturating_add(1);
                RcvAction::BackOff((RCV_BACKOFF_MIN * (1 << shift)).min(RCV_BACKOFF_MAX))
            }
        }
    }
}

/// N5: spins of `drop_peer` on a waker's in-flight signal before it yields the CPU each
/// round: a signal is one trap (a microsecond), so 128 relaxations cover it; a waker
/// preempted mid-signal is waited for by yielding, not by burning the core while the
/// bookkeeping lock is held.
pub(crate) const DROP_SPIN_LIMIT: u32 = 128;

/// Waits until `busy()` is false: [`DROP_SPIN_LIMIT`] spins, then `yield_now()` between
/// looks. Returns the number of yields (for tests).
pub(crate) fn wait_until_idle(busy: impl Fn() -> bool, mut yield_now: impl FnMut()) -> u32 {
    let mut spins = 0;
    let mut yields = 0;
    while busy() {
        if spins < DROP_SPIN_LIMIT {
            spins += 1;
            core::hint::spin_loop();
        } else {
            yields += 1;
            yield_now();
        }
    }
    yields
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use core::cell::Cell;

    const CTL: u32 = 0x1103;
    const PEER_CTL: u32 = 0x2207;

    fn kernel_notification() -> Received {
        Received {
            id: MACH_NOTIFY_DEAD_NAME,
            bits: 0x12, // MACH_MSG_TYPE_PORT_SEND_ONCE remote, no local
            size: DEAD_NAME_NOTIFICATION_SIZE,
            local_port: CTL,
            not_port: PEER_CTL,
            trailer: Some(Trailer {
                sender: KERNEL_SECURITY_TOKEN,
                audit: [0; 8],
            }),
        }
    }

    fn watched(n: u32) -> bool {
        n == PEER_CTL
    }

    #[test]
    fn a_kernel_dead_name_notification_is_accepted() {
        assert_eq!(
            accept_dead_name(&kernel_notification(), CTL, watched),
            Ok(PEER_CTL)
        );
    }

    /// B4: every forgery a process that can send to our service or control port can make.
    #[test]
    fn forged_and_malformed_notifications_are_rejected() {
        let user = Trailer {
            sender: [501, 20], // uid, gid of a user process
            audit: [501, 501, 20, 501, 20, 4242, 100_004, 1],
        };
        type Forgery = (&'static str, fn(&mut Received), Reject);
        let cases: [Forgery; 9] = [
            (
                "user pid",
                |m| m.trailer.as_mut().unwrap().audit[5] = 4242,
                Reject::NotFromKernel,
            ),
            (
                "user token",
                |m| m.trailer.as_mut().unwrap().sender = [501, 20],
                Reject::NotFromKernel,
            ),
            (
                "root token",
                |m| m.trailer.as_mut().unwrap().sender = [0, 0],
                Reject::NotFromKernel,
            ),
            ("no trailer", |m| m.trailer = None, Reject::NoTrailer),
            ("service port", |m| m.local_port = 0x3303, Reject::WrongPort),
            (
                "complex",
                |m| m.bits |= MACH_MSGH_BITS_COMPLEX,
                Reject::Complex,
            ),
            ("short", |m| m.size = 24, Reject::TooShort),
            (
                "unwatched name",
                |m| m.not_port = 0x4407,
                Reject::NotWatched,
            ),
            ("null name", |m| m.not_port = 0, Reject::NotWatched),
        ];
        for (what, forge, why) in cases {
            let mut m = kernel_notification();
            forge(&mut m);
            assert_eq!(accept_dead_name(&m, CTL, watched), Err(why), "{what}");
        }
        let mut m = kernel_notification();
        m.trailer = Some(user);
        assert_eq!(
            accept_dead_name(&m, CTL, watched),
            Err(Reject::NotFromKernel)
        );
        let mut m = kernel_notification();
        m.id = 0x5348_4d03;
        assert_eq!(accept_dead_name(&m, CTL, watched), Err(Reject::NotDeadName));
        // No control port yet: nothing is ours to believe.
        assert_eq!(
            accept_dead_name(&kernel_notification(), 0, watched),
            Err(Reject::WrongPort)
        );
    }

    /// N2: resource bits do not hide a returned message; pre-copy-in refusals are never
    /// destroyed.
    #[test]
    fn send_results_are_masked_and_classified() {
        assert_eq!(classify_send(0), SendResult::Sent);
        for c in [
            MACH_SEND_TIMED_OUT,
            MACH_SEND_INTERRUPTED,
            MACH_SEND_NO_BUFFER,
            MACH_SEND_INVALID_NOTIFY,
        ] {
            assert_eq!(classify_send(c), SendResult::Returned(c));
            for extra in [0x2000, 0x1000, 0x0800, 0x0400, 0x3e00] {
                assert_eq!(
                    classify_send(c | extra),
                    SendResult::Returned(c),
                    "{c:#x}|{extra:#x}"
                );
            }
        }
        for c in [
            MACH_SEND_INVALID_DEST,
            MACH_SEND_INVALID_RIGHT,
            MACH_SEND_MSG_TOO_SMALL,
        ] {
            assert_eq!(classify_send(c | 0x2000), SendResult::Refused(c));
        }
    }

    /// N3: a persistent receive error backs off, bounded; success resets it.
    #[test]
    fn receive_errors_back_off_and_reset() {
        let mut r = Receiver::default();
        assert_eq!(r.on_result(0), RcvAction::Handle);
        assert_eq!(r.on_result(MACH_RCV_TOO_LARGE), RcvAction::ReleaseReply);
        assert_eq!(
            r.on_result(MACH_RCV_TOO_LARGE | 0x0800),
            RcvAction::ReleaseReply
        );
        assert_eq!(r.on_result(MACH_RCV_INTERRUPTED), RcvAction::Again);
        let mut last = Duration::ZERO;
        for _ in 0..20 {
            let RcvAction::BackOff(d) = r.on_result(0x1000_4008) else {
                panic!("a persistent error must back off");
            };
            assert!(d >= last && d >= RCV_BACKOFF_MIN && d <= RCV_BACKOFF_MAX);
            last = d;
        }
        assert_eq!(last, RCV_BACKOFF_MAX);
        assert_eq!(r.on_result(0), RcvAction::Handle);
        assert_eq!(
            r.on_result(0x1000_4008),
            RcvAction::BackOff(RCV_BACKOFF_MIN)
        );
    }

    /// N5: a waker stuck in its signal makes `drop_peer` yield, not spin unboundedly.
    #[test]
    fn drop_peer_spins_a_bounded_time_then_yields() {
        let looks = Cell::new(0u32);
        let yields = wait_until_idle(
            || {
                looks.set(looks.get() + 1);
                looks.get() <= DROP_SPIN_LIMIT + 5
            },
            || {},
        );
        assert_eq!(yields, 5);
        assert_eq!(
            wait_until_idle(|| false, || panic!("no yield when idle")),
            0
        );
    }
}
