//! The control thread: the Mach shell of the rendezvous. It receives on the process's port
//! set, decodes each message (`messages.rs`), and hands it to the bookkeeping in
//! `peers.rs` and the checks in `control.rs`; the only I/O here is `mach_msg` and the port
//! calls behind [`MachOps`].

use super::MachError;
use super::control::{self, RcvAction, Received};
use super::ffi::*;
use super::messages::{
    self, LeaveMsg, MSG_JOIN, MSG_LEAVE, MSG_PEER, MsgData, RcvBuf, parse_peer, release_reply,
    sender_pid, trailer,
};
use super::peers::{self, Intro, Kind, PortOps, PortSet, RightsMsg};
use super::registry;
use super::rendezvous::{
    Book, CONTROL, CTL, ControlState, PORT_SET, REC_USED, RECORDS, WATCHES, deallocate,
};
use super::semaphore::RegionSemaphores;
use super::table::WaiterTable;
use core::ffi::c_void;
use core::mem::size_of;
use core::sync::atomic::Ordering;
use core::time::Duration;

/// The port operations of `peers.rs`, with Mach calls, for the region `region`.
pub(super) struct MachOps {
    pub(super) region: u64,
}

impl PortOps for MachOps {
    fn deallocate(&mut self, name: u32) {
        deallocate(name);
    }

    fn request_dead_name(&mut self, ctl: u32) -> bool {
        let mut previous = MACH_PORT_NULL;
        // SAFETY: `ctl` is a send right we hold; the notification goes to our control port
        // as a send-once right made from our receive right.
        let kr = unsafe {
            mach_port_request_notification(
                task_self(),
                ctl,
                MACH_NOTIFY_DEAD_NAME,
                0,
                CTL.load(Ordering::Acquire),
                MACH_MSG_TYPE_MAKE_SEND_ONCE,
                &mut previous,
            )
        };
        deallocate(previous);
        kr == KERN_SUCCESS
    }

    fn cancel_dead_name(&mut self, ctl: u32) {
        let mut previous = MACH_PORT_NULL;
        // SAFETY: cancels our request (null notify port); the old send-once right comes
        // back in `previous` and is deallocated.
        unsafe {
            mach_port_request_notification(
                task_self(),
                ctl,
                MACH_NOTIFY_DEAD_NAME,
                0,
                MACH_PORT_NULL,
                MACH_MSG_TYPE_MAKE_SEND_ONCE,
                &mut previous,
            )
        };
        deallocate(previous);
    }

    fn send_peer(&mut self, dest: u32, about: Intro, ports: &PortSet, ours: bool) {
        let disposition = if ours {
            MACH_MSG_TYPE_MAKE_SEND
        } else {
            MACH_MSG_TYPE_COPY_SEND
        };
        let data = MsgData::new(self.region, about.index, about.epoch);
        messages::send_peer(dest, MSG_PEER, ports, disposition, data);
    }
}

/// The bookkeeping view of a record in use.
pub(super) fn region_of(rec: &RegionSemaphores) -> peers::Region<'_> {
    let mut mine = [MACH_PORT_NULL; 1 + super::table::SEMS_PER_PARTICIPANT];
    mine[0] = CTL.load(Ordering::Acquire);
    for (p, s) in mine[1..].iter_mut().zip(&rec.own) {
        *p = s.load(Ordering::Relaxed);
    }
    peers::Region {
        table: table_of(rec),
        names: &rec.peers,
        me: Intro {
            index: rec.index.load(Ordering::Relaxed),
            epoch: rec.epoch.load(Ordering::Relaxed),
        },
        mine,
        service: rec.service.load(Ordering::Acquire),
    }
}

fn record_for(id: u64) -> Option<&'static RegionSemaphores> {
    RECORDS
        .iter()
        .find(|r| r.state.load(Ordering::Acquire) == REC_USED && r.region_id() == id)
}

fn table_of(rec: &RegionSemaphores) -> &WaiterTable {
    // SAFETY: a record in use has its table pointer set, and its region stays mapped until
    // `leave`, which frees the record under `Book` (held by our caller).
    unsafe { &*rec.table.load(Ordering::Acquire) }
}

/// Creates the control port and port set and starts the control thread, once per process.
pub(super) fn start_control() -> Result<(), MachError> {
    registry::install_fork_handler();
    loop {
        const RUNNING: u32 = ControlState::Running as u32;
        const FAILED: u32 = ControlState::Failed as u32;
        match CONTROL.compare_exchange(
            ControlState::NotStarted as u32,
            ControlState::Starting as u32,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => break,
            Err(RUNNING) => return Ok(()),
            Err(FAILED) => return Err(MachError::Kernel(KERN_INVALID_ARGUMENT)),
            Err(_) => registry::nap(Duration::from_micros(100)),
        }
    }
    let r = (|| {
        let (mut set, mut ctl) = (MACH_PORT_NULL, MACH_PORT_NULL);
        // SAFETY: valid out pointers; rights in our own task.
        let kr = unsafe { mach_port_allocate(task_self(), MACH_PORT_RIGHT_PORT_SET, &mut set) };
        if kr != KERN_SUCCESS {
            return Err(MachError::Kernel(kr));
        }
        // SAFETY: as above.
        let kr = unsafe { mach_port_allocate(task_self(), MACH_PORT_RIGHT_RECEIVE, &mut ctl) };
        if kr != KERN_SUCCESS {
            return Err(MachError::Kernel(kr));
        }
        // SAFETY: both rights are ours.
        let kr = unsafe { mach_port_move_member(task_self(), ctl, set) };
        if kr != KERN_SUCCESS {
            return Err(MachError::Kernel(kr));
        }
        PORT_SET.store(set, Ordering::Release);
        CTL.store(ctl, Ordering::Release);
        // SAFETY: an all-zero pthread_t is a valid value to be overwritten.
        let mut tid: libc::pthread_t = unsafe { core::mem::zeroed() };
        // SAFETY: `control_main` has the required signature and ignores its argument.
        let rc = unsafe {
            libc::pthread_create(
                &mut tid,
                core::ptr::null(),
                control_main,
                core::ptr::null_mut(),
            )
        };
        if rc != 0 {
            return Err(MachError::Kernel(rc));
        }
        // SAFETY: `tid` is the thread just created; nobody joins it.
        unsafe { libc::pthread_detach(tid) };
        Ok(())
    })();
    let state = if r.is_ok() {
        ControlState::Running
    } else {
        ControlState::Failed
    };
    CONTROL.store(state as u32, Ordering::Release);
    r
}

extern "C" fn control_main(_: *mut c_void) -> *mut c_void {
    let mut buf = RcvBuf([0; 1024]);
    let mut receiver = control::Receiver::default();
    loop {
        let msg = buf.0.as_mut_ptr() as *mut mach_msg_header_t;
        // SAFETY: `buf` is 1024 writable bytes, 8-aligned; we receive on our port set.
        let kr = unsafe {
            mach_msg(
                msg,
                MACH_RCV_MSG | MACH_RCV_TRAILER_AUDIT_OPT,
                0,
                buf.0.len() as u32,
                PORT_SET.load(Ordering::Acquire),
                0,
                MACH_PORT_NULL,
            )
        };
        match receiver.on_result(kr) {
            RcvAction::Handle => {
                let _book = Book::lock();
                handle(&mut buf);
            }
            // The kernel destroyed the body but left the header's reply right to us.
            RcvAction::ReleaseReply => release_reply(&buf),
            RcvAction::Again => {}
            RcvAction::BackOff(d) => registry::nap(d),
        }
    }
}

fn handle(buf: &mut RcvBuf) {
    // SAFETY: the kernel wrote at least a header; it is plain integers.
    let header: mach_msg_header_t =
        unsafe { core::ptr::read_unaligned(buf.0.as_ptr() as *const mach_msg_header_t) };
    let size = header.msgh_size as usize;
    let handled = match header.msgh_id {
        MACH_NOTIFY_DEAD_NAME if size >= size_of::<mach_dead_name_notification_t>() => {
            // SAFETY: size checked.
            let n: mach_dead_name_notification_t = unsafe {
                core::ptr::read_unaligned(buf.0.as_ptr() as *const mach_dead_name_notification_t)
            };
            let m = Received {
                id: header.msgh_id,
                bits: header.msgh_bits,
                size: header.msgh_size,
                local_port: header.msgh_local_port,
                not_port: n.not_port,
                trailer: trailer(buf, size),
            };
            // Only the kernel's, on our control port, for a name we watch (B4): a forgery
            // is destroyed below, and never makes us evict a peer or drop a name.
            match control::accept_dead_name(&m, CTL.load(Ordering::Acquire), |n| {
                WATCHES.contains(n)
            }) {
                Ok(name) => {
                    on_dead(name);
                    true
                }
                Err(_) => false,
            }
        }
        MSG_JOIN | MSG_PEER => match parse_peer(buf, size) {
            Some((m, ports)) => {
                let Some(rec) = record_for(m.data.region()) else {
                    // Not a region of ours: release the rights (below).
                    return destroy(buf);
                };
                let msg = RightsMsg {
                    kind: if header.msgh_id == MSG_JOIN {
                        Kind::Join
                    } else {
                        Kind::Peer
                    },
                    local_port: header.msgh_local_port,
                    about: Intro {
                        index: m.data.index,
                        epoch: m.data.epoch,
                    },
                    sender_pid: sender_pid(buf, size),
                    ports,
                };
                let mut ops = MachOps {
                    region: m.data.region(),
                };
                // Refused: `peers` released the rights it received (one each).
                let _ = peers::on_rights(&region_of(rec), &WATCHES, &msg, &mut ops);
                true
            }
            None => false,
        },
        MSG_LEAVE
            if size >= size_of::<LeaveMsg>() && header.msgh_bits & MACH_MSGH_BITS_COMPLEX == 0 =>
        {
            // SAFETY: size checked.
            let m: LeaveMsg =
                unsafe { core::ptr::read_unaligned(buf.0.as_ptr() as *const LeaveMsg) };
            if let Some(rec) = record_for(m.data.region()) {
                let about = Intro {
                    index: m.data.index,
                    epoch: m.data.epoch,
                };
                let mut ops = MachOps {
                    region: m.data.region(),
                };
                peers::on_leave(
                    &region_of(rec),
                    &WATCHES,
                    about,
                    sender_pid(buf, size),
                    &mut ops,
                );
            }
            true
        }
        _ => false,
    };
    if !handled {
        return destroy(buf);
    }
    {
        // Its port descriptors were installed (or released) by the handler; the header's
        // reply right, if the sender set one, is ours to release.
        release_reply(buf);
    }
}

/// Releases whatever a received message that we do not handle carries.
fn destroy(buf: &mut RcvBuf) {
    // SAFETY: a received message in our buffer.
    unsafe { mach_msg_destroy(buf.0.as_mut_ptr() as *mut mach_msg_header_t) };
}

/// A validated dead-name notification: drop and reclaim that peer everywhere.
fn on_dead(name: mach_port_t) {
    let regions = RECORDS
        .iter()
        .filter(|r| r.state.load(Ordering::Acquire) == REC_USED)
        .map(region_of);
    peers::on_dead(regions, &WATCHES, name, &mut MachOps { region: 0 });
}
