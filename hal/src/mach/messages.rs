//! The wire format of the rendezvous messages (JOIN, PEER, LEAVE) and the sends and
//! decodes around `mach_msg`. No decisions: those are in `peers.rs` and `control.rs`.

use super::control::{self, SendResult, Trailer};
use super::ffi::*;
use super::peers::PortSet;
use super::table::SEMS_PER_PARTICIPANT;
use core::mem::size_of;

/// How long a control message may wait for room in a peer's queue: 1 s.
const SEND_TIMEOUT_MS: u32 = 1000;

/// Message ids (`'SHM' << 8 | n`).
pub(super) const MSG_JOIN: i32 = 0x5348_4d01;
pub(super) const MSG_PEER: i32 = 0x5348_4d02;
pub(super) const MSG_LEAVE: i32 = 0x5348_4d03;

/// Inline data of every control message.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct MsgData {
    pub(super) region_lo: u32,
    pub(super) region_hi: u32,
    pub(super) index: u32,
    pub(super) epoch: u32,
}

impl MsgData {
    /// The data of a message of region `id` about `(index, epoch)`.
    pub(super) fn new(id: u64, index: u32, epoch: u32) -> Self {
        Self {
            region_lo: id as u32,
            region_hi: (id >> 32) as u32,
            index,
            epoch,
        }
    }

    /// The region id it names.
    pub(super) fn region(&self) -> u64 {
        u64::from(self.region_lo) | (u64::from(self.region_hi) << 32)
    }
}

/// JOIN and PEER: a participant's control port and semaphores.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(super) struct PeerMsg {
    header: mach_msg_header_t,
    body: mach_msg_body_t,
    ports: [mach_msg_port_descriptor_t; 1 + SEMS_PER_PARTICIPANT],
    pub(super) data: MsgData,
}

/// LEAVE: no rights.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(super) struct LeaveMsg {
    header: mach_msg_header_t,
    pub(super) data: MsgData,
}

/// Receive buffer: the largest message, the largest trailer, and room to spare.
#[repr(C, align(8))]
pub(super) struct RcvBuf(pub(super) [u8; 1024]);

const _: () = {
    assert!(size_of::<PeerMsg>() == 24 + 4 + 17 * 12 + 16);
    assert!(size_of::<LeaveMsg>() == 40);
    assert!(size_of::<PeerMsg>() + size_of::<mach_msg_audit_trailer_t>() <= 1024);
};

fn send(msg: *mut mach_msg_header_t, size: usize) -> mach_msg_return_t {
    // SAFETY: `msg` points at a fully initialised message of `size` bytes.
    let kr = unsafe {
        mach_msg(
            msg,
            MACH_SEND_MSG | MACH_SEND_TIMEOUT,
            size as u32,
            0,
            MACH_PORT_NULL,
            SEND_TIMEOUT_MS,
            MACH_PORT_NULL,
        )
    };
    match control::classify_send(kr) {
        SendResult::Sent => MACH_MSG_SUCCESS,
        SendResult::Returned(code) => {
            // Copied in, then handed back with its rights as if received: release them.
            // SAFETY: after such a failure the buffer holds a pseudo-received message.
            unsafe { mach_msg_destroy(msg) };
            code
        }
        // Never copied in: our rights were not moved and stay ours.
        SendResult::Refused(code) => code,
    }
}

/// Sends JOIN or PEER to `dest` (`COPY_SEND`): `ports[0]` (a control port) with
/// disposition `ctl_disposition`, the semaphores with `COPY_SEND`.
pub(super) fn send_peer(
    dest: mach_port_t,
    id: i32,
    ports: &[mach_port_t; 1 + SEMS_PER_PARTICIPANT],
    ctl_disposition: mach_msg_type_name_t,
    data: MsgData,
) -> mach_msg_return_t {
    let mut msg = PeerMsg {
        header: mach_msg_header_t {
            msgh_bits: msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
            msgh_size: size_of::<PeerMsg>() as u32,
            msgh_remote_port: dest,
            msgh_local_port: MACH_PORT_NULL,
            msgh_voucher_port: MACH_PORT_NULL,
            msgh_id: id,
        },
        body: mach_msg_body_t {
            msgh_descriptor_count: (1 + SEMS_PER_PARTICIPANT) as u32,
        },
        ports: [mach_msg_port_descriptor_t::default(); 1 + SEMS_PER_PARTICIPANT],
        data,
    };
    for (i, (d, &name)) in msg.ports.iter_mut().zip(ports).enumerate() {
        d.name = name;
        d.disposition = if i == 0 {
            ctl_disposition
        } else {
            MACH_MSG_TYPE_COPY_SEND
        } as u8;
        d.type_ = MACH_MSG_PORT_DESCRIPTOR;
    }
    send(&mut msg.header, size_of::<PeerMsg>())
}

pub(super) fn send_leave(dest: mach_port_t, data: MsgData) {
    let mut msg = LeaveMsg {
        header: mach_msg_header_t {
            msgh_bits: msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0),
            msgh_size: size_of::<LeaveMsg>() as u32,
            msgh_remote_port: dest,
            msgh_local_port: MACH_PORT_NULL,
            msgh_voucher_port: MACH_PORT_NULL,
            msgh_id: MSG_LEAVE,
        },
        data,
    };
    send(&mut msg.header, size_of::<LeaveMsg>());
}

/// The audit trailer the kernel appended, if it is there and that large.
pub(super) fn trailer(buf: &RcvBuf, size: usize) -> Option<Trailer> {
    let at = size.checked_add(3)? & !3;
    let bytes = buf
        .0
        .get(at..at.checked_add(size_of::<mach_msg_audit_trailer_t>())?)?;
    // SAFETY: in-bounds bytes, read unaligned into a plain-integer struct.
    let t: mach_msg_audit_trailer_t =
        unsafe { core::ptr::read_unaligned(bytes.as_ptr() as *const mach_msg_audit_trailer_t) };
    (t.msgh_trailer_size as usize >= size_of::<mach_msg_audit_trailer_t>()).then_some(Trailer {
        sender: t.msgh_sender,
        audit: t.msgh_audit,
    })
}

/// The sender's pid from the audit trailer, if present.
pub(super) fn sender_pid(buf: &RcvBuf, size: usize) -> Option<u32> {
    trailer(buf, size).map(|t| t.audit[5])
}

/// Releases the reply right in the header of a received message (the sender's
/// `msgh_remote_port`): nothing we handle answers on it, and keeping it would let a peer
/// make us accumulate names.
pub(super) fn release_reply(buf: &RcvBuf) {
    // SAFETY: the kernel wrote at least a header; it is plain integers.
    let header: mach_msg_header_t =
        unsafe { core::ptr::read_unaligned(buf.0.as_ptr() as *const mach_msg_header_t) };
    super::rendezvous::deallocate(header.msgh_remote_port);
}

/// A well-formed JOIN/PEER: complex, 17 port descriptors all carrying a send right.
pub(super) fn parse_peer(buf: &RcvBuf, size: usize) -> Option<(PeerMsg, PortSet)> {
    if size < size_of::<PeerMsg>() {
        return None;
    }
    // SAFETY: at least size_of::<PeerMsg>() bytes were received; plain integers.
    let m: PeerMsg = unsafe { core::ptr::read_unaligned(buf.0.as_ptr() as *const PeerMsg) };
    if m.header.msgh_bits & MACH_MSGH_BITS_COMPLEX == 0
        || m.body.msgh_descriptor_count as usize != 1 + SEMS_PER_PARTICIPANT
    {
        return None;
    }
    let mut ports = [MACH_PORT_NULL; 1 + SEMS_PER_PARTICIPANT];
    for (p, d) in ports.iter_mut().zip(&m.ports) {
        // Received send rights arrive as MACH_MSG_TYPE_PORT_SEND (= MOVE_SEND).
        if d.type_ != MACH_MSG_PORT_DESCRIPTOR
            || u32::from(d.disposition) != MACH_MSG_TYPE_MOVE_SEND
        {
            return None;
        }
        *p = d.name;
    }
    Some((m, ports))
}
