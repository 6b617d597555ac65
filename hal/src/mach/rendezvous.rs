//! The Mach rendezvous (Apple only): how the processes of one region obtain send rights to
//! each other's semaphores, and how they let go of them.
//!
//! Written against the public SDK headers and xnu sources; it compiles and links for both
//! Apple targets here but has **not been executed** (no Mac on the build machine). The
//! README's macOS test plan lists what must be run on a Mac.
//!
//! # Ports of one process
//! * One *control port* (a receive right, `CTL`) for the whole process, in a port set with
//!   the service ports below, served by one *control thread* (started at the first join,
//!   never on an audio thread). Peers hold send rights to it.
//! * Per joined region, 16 semaphores (`RegionSemaphores::own`) owned by this process; its
//!   waiting threads block only on these, so a peer's death never destroys a semaphore a
//!   thread of ours is blocked on.
//! * Creator only: the region's *service port*, checked in with launchd under the name
//!   recorded in the table (`[<app group>.]shmsync.<pid>.<seq>.<nonce>`).
//!
//! # Join (`join`)
//! 1. Claim a participant entry (`JOINING`, pid, epoch + 1), create the 16 semaphores.
//! 2. Creator: check the service name in (`bootstrap_check_in`), store it in the table.
//!    Attacher: `bootstrap_look_up(name)` and send **JOIN** to the service port: its control
//!    port (`MAKE_SEND`), its 16 semaphores (`COPY_SEND`), its index and epoch.
//! 3. The creator's control thread checks the JOIN against the table (entry JOINING/LIVE
//!    with that epoch, and the sender's pid from the audit trailer equal to the entry's),
//!    installs the rights, asks for a dead-name notification on the joiner's control port,
//!    marks `known_by`, and sends **PEER** messages: itself and every peer it knows to the
//!    joiner, and the joiner to every peer it knows (rights as `COPY_SEND`). Each receiver
//!    installs the rights and marks `known_by`.
//! 4. The joiner sets its entry LIVE and then waits until `Table::peers_ready`: for every
//!    LIVE peer, both hold each other's rights. Only then does `join` return, register the
//!    region, and let the process wait or wake in it. The SeqCst "set LIVE, then look at
//!    the others" of two concurrent joiners makes at least one of them wait for the other,
//!    which is enough for both directions (a process wakes only after its join returned).
//!
//! # Leave and death
//! * `Participant::leave`: unregister (no thread of ours inside the table), send **LEAVE**
//!   to every peer (they drop our rights), drop our rights to theirs, destroy our
//!   semaphores, free the entry; the creator also destroys its service port.
//! * A peer's death: its control port dies, every holder gets a dead-name notification,
//!   drops the peer's rights and calls `Table::reclaim` for its entry and slots (several
//!   peers may do it at once; the table's compare-exchanges make it happen once). A
//!   signal to a dead peer's semaphore returns `KERN_TERMINATED` at once, so wakers skip
//!   it before the notification is processed.
//!
//! # Right counting (what makes detach and peer death leak no port)
//! * Every install holds exactly one user reference per name received: one per semaphore
//!   and one for the control port (a process joined with us in two regions gives us two
//!   references to its control port name, under two installs). Dropping an install
//!   deallocates each once.
//! * One dead-name request per control-port name per process (a second request would
//!   replace the first): counted in `WATCH`; cancelled when the last install of that name
//!   is dropped (the returned send-once right is deallocated). A delivered notification
//!   adds one reference to the dead name, deallocated once the installs are dropped.
//! * Our own semaphores: `semaphore_destroy` consumes our one reference. Our control
//!   port's send rights are made on the fly (`MAKE_SEND`); we hold none ourselves.
//! * Messages that fail validation, and sends that time out (their rights come back to
//!   us), are released with `mach_msg_destroy`.

use super::control::{self, RcvAction, Received, SendResult, Trailer};
use super::ffi::*;
use super::registry::{self, Registration};
use super::semaphore::{self, RegionSemaphores};
use super::table::{P_JOINING, P_LIVE, RENDEZVOUS_NAME_MAX, SEMS_PER_PARTICIPANT, WaiterTable};
use super::{MAX_PARTICIPANTS, MachError, REGISTRY_CAPACITY, check_area};
use crate::clock::Instant;
use core::ffi::{c_char, c_void};
use core::mem::size_of;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use core::time::Duration;

/// How long `join` waits for the exchange of rights: 10 s, far above a message round trip
/// (microseconds) but bounded, so a dead or stuck creator yields `MachError::Timeout`.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a control message may wait for room in a peer's queue: 1 s.
const SEND_TIMEOUT_MS: u32 = 1000;

/// Message ids (`'SHM' << 8 | n`).
const MSG_JOIN: i32 = 0x5348_4d01;
const MSG_PEER: i32 = 0x5348_4d02;
const MSG_LEAVE: i32 = 0x5348_4d03;

/// Per-process records of joined regions (their addresses go into the registry).
static RECORDS: [RegionSemaphores; REGISTRY_CAPACITY] =
    [const { RegionSemaphores::new() }; REGISTRY_CAPACITY];
/// Record free.
const REC_FREE: u32 = 0;
/// Record in use: the control thread may install peers into it.
const REC_USED: u32 = 1;

/// Control state: 0 not started, 1 starting, 2 running, 3 failed.
static CONTROL: AtomicU32 = AtomicU32::new(0);
/// Our control port (receive right) and the port set the control thread receives on.
static CTL: AtomicU32 = AtomicU32::new(MACH_PORT_NULL);
static PORT_SET: AtomicU32 = AtomicU32::new(MACH_PORT_NULL);
/// Serialises the bookkeeping of rights between the control thread and join/leave. Never
/// taken by a waiter or a waker.
static BOOK: AtomicBool = AtomicBool::new(false);
/// Dead-name requests: `[control-port name, installs using it]`, changed under `BOOK`.
/// One entry per possible distinct peer control port (16 regions × 8 participants), so it
/// never runs out.
static WATCH: [[AtomicU32; 2]; WATCH_LEN] = [const { [const { AtomicU32::new(0) }; 2] }; WATCH_LEN];
const WATCH_LEN: usize = REGISTRY_CAPACITY * MAX_PARTICIPANTS;
/// Sequence number for service names.
static SEQ: AtomicU32 = AtomicU32::new(0);

/// Inline data of every control message.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct MsgData {
    region_lo: u32,
    region_hi: u32,
    index: u32,
    epoch: u32,
}

/// JOIN and PEER: a participant's control port and semaphores.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct PeerMsg {
    header: mach_msg_header_t,
    body: mach_msg_body_t,
    ports: [mach_msg_port_descriptor_t; 1 + SEMS_PER_PARTICIPANT],
    data: MsgData,
}

/// LEAVE: no rights.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct LeaveMsg {
    header: mach_msg_header_t,
    data: MsgData,
}

/// Receive buffer: the largest message, the largest trailer, and room to spare.
#[repr(C, align(8))]
struct RcvBuf([u8; 1024]);

const _: () = {
    assert!(size_of::<PeerMsg>() == 24 + 4 + 17 * 12 + 16);
    assert!(size_of::<LeaveMsg>() == 40);
    assert!(size_of::<PeerMsg>() + size_of::<mach_msg_audit_trailer_t>() <= 1024);
};

/// A process's membership of one Mach-protocol region; [`Participant::leave`] it before
/// unmapping.
#[derive(Debug)]
#[must_use = "leave the region with Participant::leave before unmapping it"]
pub struct Participant {
    record: usize,
    registration: Registration,
}

/// Holds `BOOK` until dropped.
struct Book;

impl Book {
    fn lock() -> Self {
        while BOOK
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            registry::nap(Duration::from_micros(20));
        }
        Book
    }
}

impl Drop for Book {
    fn drop(&mut self) {
        BOOK.store(false, Ordering::Release);
    }
}

/// FNV-1a (64-bit) of the service name: the region's id in control messages.
fn region_id(name: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Joins the Mach-protocol region `[region_base, region_base + region_len)` whose waiter
/// table is `area` (its protocol area), as its creator or as an attacher, and registers it
/// so that [`crate::wait`] and the wakes on words inside it use the table.
///
/// `app_group`: for sandboxed apps, the application-group identifier the service name must
/// start with (the creator's choice is recorded in the table; attachers pass `None` and
/// use the recorded name).
///
/// Real-time class: **may block** (Mach messages; up to 10 s while peers answer).
///
/// # Safety
/// The region must stay mapped until [`Participant::leave`] returns, `area` must lie inside
/// it, and the creator must call this after zero-filling the area and before publishing the
/// region header.
pub unsafe fn join(
    region_base: *mut u8,
    region_len: usize,
    area: &WaiterTable,
    creator: bool,
    app_group: Option<&str>,
) -> Result<Participant, MachError> {
    check_area(region_base, region_len, area)?;
    start_control()?;
    let record = RECORDS
        .iter()
        .position(|r| {
            r.state
                .compare_exchange(REC_FREE, 3, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        })
        .ok_or(MachError::RegistryFull)?;
    let rec = &RECORDS[record];
    match join_record(rec, region_base, region_len, area, creator, app_group) {
        Ok(registration) => Ok(Participant {
            record,
            registration,
        }),
        Err(e) => {
            // Peers that already installed our rights drop them on our LEAVE.
            teardown(rec, area);
            Err(e)
        }
    }
}

fn join_record(
    rec: &RegionSemaphores,
    region_base: *mut u8,
    region_len: usize,
    table: &WaiterTable,
    creator: bool,
    app_group: Option<&str>,
) -> Result<Registration, MachError> {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() } as u32;
    for own in &rec.own {
        own.store(
            semaphore::create().map_err(MachError::Kernel)?,
            Ordering::Relaxed,
        );
    }
    // A full region first gives back the entries of joiners that died mid-rendezvous.
    let (index, epoch) = table
        .join_reclaiming(pid, registry::pid_gone)
        .ok_or(MachError::RegionFull)?;
    rec.table.store(
        table as *const WaiterTable as *mut WaiterTable,
        Ordering::Relaxed,
    );
    rec.index.store(index, Ordering::Relaxed);
    rec.epoch.store(epoch, Ordering::Relaxed);

    let mut name = [0u8; RENDEZVOUS_NAME_MAX + 1];
    let len = if creator {
        let len = service_name(&mut name, app_group)?;
        table
            .set_rendezvous_name(&name[..len])
            .map_err(|_| MachError::BadName)?;
        len
    } else {
        let mut buf = [0u8; RENDEZVOUS_NAME_MAX];
        let n = table
            .rendezvous_name(&mut buf)
            .map_err(|_| MachError::BadName)?;
        if n.is_empty() || n.contains(&0) {
            return Err(MachError::BadName);
        }
        name[..n.len()].copy_from_slice(n);
        n.len()
    };
    let id = region_id(&name[..len]);
    rec.region_id[0].store(id as u32, Ordering::Relaxed);
    rec.region_id[1].store((id >> 32) as u32, Ordering::Relaxed);
    // From here the control thread may install peers into this record.
    rec.state.store(REC_USED, Ordering::Release);

    let cname = name.as_ptr() as *const c_char; // NUL-terminated: `name` has one spare byte
    if creator {
        let mut svc = MACH_PORT_NULL;
        // SAFETY: valid NUL-terminated name and out pointer.
        let kr = unsafe { bootstrap_check_in(bootstrap_port, cname, &mut svc) };
        if kr != KERN_SUCCESS {
            return Err(MachError::Rendezvous(kr));
        }
        rec.service.store(svc, Ordering::Release);
        // SAFETY: `svc` is a receive right we hold; the set is ours.
        let kr =
            unsafe { mach_port_move_member(task_self(), svc, PORT_SET.load(Ordering::Acquire)) };
        if kr != KERN_SUCCESS {
            return Err(MachError::Kernel(kr));
        }
    } else {
        let mut svc = MACH_PORT_NULL;
        // SAFETY: valid NUL-terminated name and out pointer.
        let kr = unsafe { bootstrap_look_up(bootstrap_port, cname, &mut svc) };
        if kr != KERN_SUCCESS {
            return Err(MachError::Rendezvous(kr));
        }
        let mut ports = [MACH_PORT_NULL; 1 + SEMS_PER_PARTICIPANT];
        ports[0] = CTL.load(Ordering::Acquire);
        for (p, own) in ports[1..].iter_mut().zip(&rec.own) {
            *p = own.load(Ordering::Relaxed);
        }
        let data = MsgData {
            region_lo: id as u32,
            region_hi: (id >> 32) as u32,
            index,
            epoch,
        };
        let kr = send_peer(svc, MSG_JOIN, &ports, MACH_MSG_TYPE_MAKE_SEND, data);
        // SAFETY: we own one uref of the looked-up send right; the JOIN copied it.
        unsafe { mach_port_deallocate(task_self(), svc) };
        if kr != MACH_MSG_SUCCESS {
            return Err(MachError::Rendezvous(kr));
        }
    }

    if !table.set_live(index, epoch) {
        return Err(MachError::Evicted);
    }
    let until = Instant::now().checked_add(JOIN_TIMEOUT);
    while !table.peers_ready(index, |q, e| rec.holds(q, e)) {
        if until.is_some_and(|d| d <= Instant::now()) {
            return Err(MachError::Timeout);
        }
        match table.participant(index) {
            Some(p) if p.epoch == epoch && p.state == P_LIVE => {}
            _ => return Err(MachError::Evicted),
        }
        registry::nap(Duration::from_micros(100));
    }
    // SAFETY: `join`'s contract keeps the region mapped until `leave`; the record is a
    // static.
    unsafe {
        registry::register(
            region_base,
            region_len,
            table,
            rec as &(dyn super::Semaphores + Sync),
        )
    }
    .map_err(|_| MachError::RegistryFull)
}

/// Writes `[<app group>.]shmsync.<pid>.<seq>.<nonce>` and a NUL into `out`; returns the
/// length without the NUL.
fn service_name(
    out: &mut [u8; RENDEZVOUS_NAME_MAX + 1],
    app_group: Option<&str>,
) -> Result<usize, MachError> {
    struct W<'a> {
        buf: &'a mut [u8; RENDEZVOUS_NAME_MAX + 1],
        len: usize,
        overflow: bool,
    }
    impl core::fmt::Write for W<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            // Keep the last byte for the NUL.
            if self.len + s.len() > RENDEZVOUS_NAME_MAX {
                self.overflow = true;
                return Err(core::fmt::Error);
            }
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
            Ok(())
        }
    }
    if let Some(g) = app_group {
        if g.is_empty() || !g.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(MachError::BadName);
        }
    }
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let nonce = Instant::now().as_nanos() as u32;
    let mut w = W {
        buf: out,
        len: 0,
        overflow: false,
    };
    let r = match app_group {
        Some(g) => core::fmt::write(&mut w, format_args!("{g}.shmsync.{pid}.{seq}.{nonce:08x}")),
        None => core::fmt::write(&mut w, format_args!("shmsync.{pid}.{seq}.{nonce:08x}")),
    };
    if r.is_err() || w.overflow {
        return Err(MachError::BadName);
    }
    let len = w.len;
    out[len] = 0;
    Ok(len)
}

impl Participant {
    /// This process's participant index in the region's table.
    pub fn index(&self) -> u32 {
        RECORDS[self.record].index.load(Ordering::Relaxed)
    }

    /// This process's join epoch in the region's table.
    pub fn epoch(&self) -> u32 {
        RECORDS[self.record].epoch.load(Ordering::Relaxed)
    }

    /// Peers whose semaphore answered `KERN_TERMINATED` to a wake (bit per participant):
    /// a hint; their dead-name notification reclaims them.
    pub fn suspected_peers(&self) -> u32 {
        RECORDS[self.record].suspect.load(Ordering::Relaxed)
    }

    /// Leaves the region: no thread of this process may be waiting in it. Peers drop our
    /// rights, we drop theirs, our semaphores are destroyed and our entry freed (the
    /// creator's service name disappears, so later attachers fail with
    /// `MachError::Rendezvous`). Real-time class: **may block**.
    pub fn leave(self) {
        let rec = &RECORDS[self.record];
        registry::unregister(self.registration);
        // SAFETY: the record's table pointer was set at join and the region is still
        // mapped (`join`'s contract).
        let table = unsafe { &*rec.table.load(Ordering::Acquire) };
        teardown(rec, table);
    }
}

/// Undoes a (possibly partial) join of `rec`.
fn teardown(rec: &RegionSemaphores, table: &WaiterTable) {
    let _book = Book::lock();
    let (index, epoch) = (
        rec.index.load(Ordering::Relaxed),
        rec.epoch.load(Ordering::Relaxed),
    );
    let id = rec.region_id();
    for q in 0..MAX_PARTICIPANTS {
        if rec.peer_epoch[q].load(Ordering::Acquire) != 0 {
            let ctl = rec.peer_ctl[q].load(Ordering::Acquire);
            let data = MsgData {
                region_lo: id as u32,
                region_hi: (id >> 32) as u32,
                index,
                epoch,
            };
            send_leave(ctl, data);
        }
        drop_peer(rec, q);
    }
    for own in &rec.own {
        semaphore::destroy(own.swap(MACH_PORT_NULL, Ordering::AcqRel));
    }
    if epoch != 0 {
        table.leave(index, epoch);
    }
    let svc = rec.service.swap(MACH_PORT_NULL, Ordering::AcqRel);
    if svc != MACH_PORT_NULL {
        // SAFETY: our receive right from bootstrap_check_in; destroying it also removes it
        // from the port set and unregisters the name.
        unsafe { mach_port_mod_refs(task_self(), svc, MACH_PORT_RIGHT_RECEIVE, -1) };
    }
    rec.suspect.store(0, Ordering::Relaxed);
    rec.region_id[0].store(0, Ordering::Relaxed);
    rec.region_id[1].store(0, Ordering::Relaxed);
    rec.index.store(0, Ordering::Relaxed);
    rec.epoch.store(0, Ordering::Relaxed);
    rec.table.store(core::ptr::null_mut(), Ordering::Relaxed);
    rec.state.store(REC_FREE, Ordering::Release);
}

// ------------------------------------------------------------------ rights bookkeeping

/// Installs participant `q`'s rights (one uref each, just received) into `rec`. Under `BOOK`.
fn install(
    rec: &RegionSemaphores,
    table: &WaiterTable,
    q: u32,
    epoch: u32,
    ports: &[mach_port_t; 1 + SEMS_PER_PARTICIPANT],
) {
    let qi = q as usize;
    if rec.holds(q, epoch) {
        // A duplicate: release the new references.
        for &p in ports {
            deallocate(p);
        }
        return;
    }
    drop_peer(rec, qi); // an older epoch's rights, if any
    for (slot, &p) in rec.peer_sems[qi].iter().zip(&ports[1..]) {
        slot.store(p, Ordering::Relaxed);
    }
    rec.peer_ctl[qi].store(ports[0], Ordering::Relaxed);
    rec.peer_epoch[qi].store(epoch, Ordering::Release);
    if !watch(ports[0]) {
        // The peer is already gone: undo and reclaim.
        drop_peer(rec, qi);
        table.reclaim(q, epoch);
        return;
    }
    table.mark_known(q, epoch, rec.index.load(Ordering::Relaxed));
}

/// Drops the rights `rec` holds for participant `q`, if any. Under `BOOK`.
fn drop_peer(rec: &RegionSemaphores, q: usize) {
    if rec.peer_epoch[q].swap(0, Ordering::SeqCst) == 0 {
        return;
    }
    // No waker may still be signalling one of these names (see RegionSemaphores): a
    // bounded spin, then yield while a preempted waker finishes.
    control::wait_until_idle(
        || rec.in_signal.load(Ordering::SeqCst) != 0,
        // SAFETY: no preconditions.
        || unsafe {
            libc::sched_yield();
        },
    );
    for s in &rec.peer_sems[q] {
        deallocate(s.swap(MACH_PORT_NULL, Ordering::AcqRel));
    }
    let ctl = rec.peer_ctl[q].swap(MACH_PORT_NULL, Ordering::AcqRel);
    unwatch(ctl);
    deallocate(ctl);
}

fn deallocate(name: mach_port_t) {
    if name != MACH_PORT_NULL {
        // SAFETY: drops one user reference of a send or dead-name right we hold.
        unsafe { mach_port_deallocate(task_self(), name) };
    }
}

/// Counts one more install of control port `ctl`, requesting its dead-name notification
/// at the first. `false` if the port is already dead. Under `BOOK`.
fn watch(ctl: mach_port_t) -> bool {
    let mut free = None;
    for (i, w) in WATCH.iter().enumerate() {
        let name = w[0].load(Ordering::Relaxed);
        if name == ctl && w[1].load(Ordering::Relaxed) != 0 {
            w[1].fetch_add(1, Ordering::Relaxed);
            return true;
        }
        if w[1].load(Ordering::Relaxed) == 0 && free.is_none() {
            free = Some(i);
        }
    }
    let mut previous = MACH_PORT_NULL;
    // SAFETY: `ctl` is a send right we hold; the notification goes to our control port as
    // a send-once right made from our receive right.
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
    if kr != KERN_SUCCESS {
        return false;
    }
    // `free` is always found: WATCH has an entry per possible distinct peer control port.
    if let Some(i) = free {
        WATCH[i][0].store(ctl, Ordering::Relaxed);
        WATCH[i][1].store(1, Ordering::Relaxed);
    }
    true
}

/// One install of `ctl` fewer; cancels the request at the last. Under `BOOK`.
fn unwatch(ctl: mach_port_t) {
    if ctl == MACH_PORT_NULL {
        return;
    }
    for w in &WATCH {
        if w[0].load(Ordering::Relaxed) == ctl && w[1].load(Ordering::Relaxed) != 0 {
            if w[1].fetch_sub(1, Ordering::Relaxed) == 1 {
                let mut previous = MACH_PORT_NULL;
                // SAFETY: cancels our request (null notify port); the old send-once right
                // comes back in `previous` and is deallocated.
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
                w[0].store(0, Ordering::Relaxed);
            }
            return;
        }
    }
}

/// Forgets the request of a control port whose notification has fired. Under `BOOK`.
fn forget_watch(ctl: mach_port_t) {
    for w in &WATCH {
        if w[0].load(Ordering::Relaxed) == ctl {
            w[1].store(0, Ordering::Relaxed);
            w[0].store(0, Ordering::Relaxed);
        }
    }
}

// ------------------------------------------------------------------ messages

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
fn send_peer(
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

fn send_leave(dest: mach_port_t, data: MsgData) {
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

/// The names `rec` holds for participant `q`, ready to forward with `COPY_SEND`.
fn names_of(rec: &RegionSemaphores, q: usize) -> [mach_port_t; 1 + SEMS_PER_PARTICIPANT] {
    let mut ports = [MACH_PORT_NULL; 1 + SEMS_PER_PARTICIPANT];
    ports[0] = rec.peer_ctl[q].load(Ordering::Relaxed);
    for (p, s) in ports[1..].iter_mut().zip(&rec.peer_sems[q]) {
        *p = s.load(Ordering::Relaxed);
    }
    ports
}

// ------------------------------------------------------------------ control thread

/// In a forked child: the parent's ports, records and control thread do not exist here.
pub(crate) fn after_fork_child() {
    for rec in &RECORDS {
        rec.reset();
    }
    for w in WATCH.iter().flatten() {
        w.store(0, Ordering::Relaxed);
    }
    CTL.store(MACH_PORT_NULL, Ordering::Relaxed);
    PORT_SET.store(MACH_PORT_NULL, Ordering::Relaxed);
    BOOK.store(false, Ordering::Relaxed);
    CONTROL.store(0, Ordering::Release);
}

/// Creates the control port and port set and starts the control thread, once per process.
fn start_control() -> Result<(), MachError> {
    registry::install_fork_handler();
    loop {
        match CONTROL.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(2) => return Ok(()),
            Err(3) => return Err(MachError::Kernel(KERN_INVALID_ARGUMENT)),
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
    CONTROL.store(if r.is_ok() { 2 } else { 3 }, Ordering::Release);
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

/// The audit trailer the kernel appended, if it is there and that large.
fn trailer(buf: &RcvBuf, size: usize) -> Option<Trailer> {
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
fn sender_pid(buf: &RcvBuf, size: usize) -> Option<u32> {
    trailer(buf, size).map(|t| t.audit[5])
}

/// Releases the reply right in the header of a received message (the sender's
/// `msgh_remote_port`): nothing we handle answers on it, and keeping it would let a peer
/// make us accumulate names.
fn release_reply(buf: &RcvBuf) {
    // SAFETY: the kernel wrote at least a header; it is plain integers.
    let header: mach_msg_header_t =
        unsafe { core::ptr::read_unaligned(buf.0.as_ptr() as *const mach_msg_header_t) };
    deallocate(header.msgh_remote_port);
}

/// Whether we asked for a dead-name notification of `name` and it is still wanted.
fn watched(name: mach_port_t) -> bool {
    WATCH
        .iter()
        .any(|w| w[0].load(Ordering::Relaxed) == name && w[1].load(Ordering::Relaxed) != 0)
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
            match control::accept_dead_name(&m, CTL.load(Ordering::Acquire), watched) {
                Ok(name) => {
                    on_dead(name);
                    true
                }
                Err(_) => false,
            }
        }
        MSG_JOIN | MSG_PEER => match parse_peer(buf, size) {
            Some((m, ports)) => {
                on_peer_msg(header, &m.data, &ports, sender_pid(buf, size));
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
            on_leave(&m.data, sender_pid(buf, size));
            true
        }
        _ => false,
    };
    if handled {
        // Its port descriptors were installed (or released) by the handler; the header's
        // reply right, if the sender set one, is ours to release.
        release_reply(buf);
    } else {
        // SAFETY: a received message in our buffer: release whatever it carries.
        unsafe { mach_msg_destroy(buf.0.as_mut_ptr() as *mut mach_msg_header_t) };
    }
}

/// A well-formed JOIN/PEER: complex, 17 port descriptors all carrying a send right.
fn parse_peer(
    buf: &RcvBuf,
    size: usize,
) -> Option<(PeerMsg, [mach_port_t; 1 + SEMS_PER_PARTICIPANT])> {
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

fn record_for(id: u64) -> Option<&'static RegionSemaphores> {
    RECORDS
        .iter()
        .find(|r| r.state.load(Ordering::Acquire) == REC_USED && r.region_id() == id)
}

fn table_of(rec: &RegionSemaphores) -> &WaiterTable {
    // SAFETY: a record in use has its table pointer set, and its region stays mapped until
    // `leave`, which frees the record under `BOOK` (held by our caller).
    unsafe { &*rec.table.load(Ordering::Acquire) }
}

/// JOIN (to our service port) or PEER (to our control port).
fn on_peer_msg(
    header: mach_msg_header_t,
    data: &MsgData,
    ports: &[mach_port_t; 1 + SEMS_PER_PARTICIPANT],
    pid: Option<u32>,
) {
    let release = || {
        for &p in ports {
            deallocate(p);
        }
    };
    let id = u64::from(data.region_lo) | (u64::from(data.region_hi) << 32);
    let Some(rec) = record_for(id) else {
        return release();
    };
    let table = table_of(rec);
    let (q, epoch) = (data.index, data.epoch);
    let Some(entry) = table.participant(q) else {
        return release();
    };
    let me = rec.index.load(Ordering::Relaxed);
    if q == me || entry.epoch != epoch || !matches!(entry.state, P_JOINING | P_LIVE) {
        return release();
    }
    if header.msgh_id == MSG_JOIN {
        // Only to the service port of that region, and only from the joiner itself.
        if header.msgh_local_port != rec.service.load(Ordering::Acquire)
            || rec.service.load(Ordering::Acquire) == MACH_PORT_NULL
            || pid != Some(entry.pid)
        {
            return release();
        }
    } else {
        // PEER: from some participant of the region (the creator forwards).
        let from_member = pid.is_some_and(|pid| {
            (0..MAX_PARTICIPANTS as u32).any(|i| {
                table
                    .participant(i)
                    .is_some_and(|p| p.pid == pid && matches!(p.state, P_JOINING | P_LIVE))
            })
        });
        if !from_member {
            return release();
        }
    }
    install(rec, table, q, epoch, ports);
    if header.msgh_id != MSG_JOIN || !rec.holds(q, epoch) {
        return;
    }
    // Creator: introduce ourselves and every known peer to the joiner, and the joiner to
    // every known peer.
    let my = MsgData {
        region_lo: data.region_lo,
        region_hi: data.region_hi,
        index: me,
        epoch: rec.epoch.load(Ordering::Relaxed),
    };
    let mut mine = [MACH_PORT_NULL; 1 + SEMS_PER_PARTICIPANT];
    mine[0] = CTL.load(Ordering::Acquire);
    for (p, s) in mine[1..].iter_mut().zip(&rec.own) {
        *p = s.load(Ordering::Relaxed);
    }
    let joiner_ctl = rec.peer_ctl[q as usize].load(Ordering::Relaxed);
    send_peer(joiner_ctl, MSG_PEER, &mine, MACH_MSG_TYPE_MAKE_SEND, my);
    let joiner = names_of(rec, q as usize);
    for other in 0..MAX_PARTICIPANTS {
        let e = rec.peer_epoch[other].load(Ordering::Acquire);
        if other == q as usize || e == 0 {
            continue;
        }
        let about_other = MsgData {
            region_lo: data.region_lo,
            region_hi: data.region_hi,
            index: other as u32,
            epoch: e,
        };
        send_peer(
            joiner_ctl,
            MSG_PEER,
            &names_of(rec, other),
            MACH_MSG_TYPE_COPY_SEND,
            about_other,
        );
        send_peer(
            rec.peer_ctl[other].load(Ordering::Relaxed),
            MSG_PEER,
            &joiner,
            MACH_MSG_TYPE_COPY_SEND,
            *data,
        );
    }
}

fn on_leave(data: &MsgData, pid: Option<u32>) {
    let id = u64::from(data.region_lo) | (u64::from(data.region_hi) << 32);
    let Some(rec) = record_for(id) else {
        return;
    };
    let Some(entry) = table_of(rec).participant(data.index) else {
        return;
    };
    // Only the leaver itself may make us drop its rights.
    if pid == Some(entry.pid) && rec.holds(data.index, data.epoch) {
        drop_peer(rec, data.index as usize);
    }
}

/// A peer's control port died: drop every install of it and reclaim its entries.
fn on_dead(name: mach_port_t) {
    forget_watch(name);
    for rec in &RECORDS {
        if rec.state.load(Ordering::Acquire) != REC_USED {
            continue;
        }
        for q in 0..MAX_PARTICIPANTS {
            let e = rec.peer_epoch[q].load(Ordering::Acquire);
            if e != 0 && rec.peer_ctl[q].load(Ordering::Relaxed) == name {
                drop_peer(rec, q);
                table_of(rec).reclaim(q as u32, e);
            }
        }
    }
    // The reference the notification added to the dead name.
    deallocate(name);
}
