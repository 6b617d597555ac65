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
//!   replace the first): counted in `WATCHES`; cancelled when the last install of that
//!   name is dropped (the returned send-once right is deallocated). A delivered
//!   notification adds one reference to the dead name, deallocated once the installs are
//!   dropped. Only notifications the kernel sent, on our control port, for a watched name
//!   are believed (`control::accept_dead_name`).
//! * Our own semaphores: `semaphore_destroy` consumes our one reference. Our control
//!   port's send rights are made on the fly (`MAKE_SEND`); we hold none ourselves.
//! * Messages that fail validation, and sends the kernel hands back after copy-in (timed
//!   out, interrupted, no buffer: `control::classify_send`), are released with
//!   `mach_msg_destroy`; the reply right in the header of a handled or too-large message
//!   is deallocated.
//!
//! The bookkeeping (`peers.rs`) and the checks (`control.rs`) are Mach-free and run in host
//! tests against a fake kernel; this file, `messages.rs` and `control_thread.rs` are the
//! Mach shell.

use super::control_thread::{MachOps, start_control};
use super::ffi::*;
use super::messages::{self, MSG_JOIN, MsgData};
use super::peers::{self, Watches};
use super::registry::{self, Registration};
use super::semaphore::{self, RegionSemaphores};
use super::table::{P_LIVE, RENDEZVOUS_NAME_MAX, SEMS_PER_PARTICIPANT, WaiterTable};
use super::{MAX_PARTICIPANTS, MachError, REGISTRY_CAPACITY, check_area};
use crate::clock::Instant;
use core::ffi::c_char;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use core::time::Duration;

/// How long `join` waits for the exchange of rights: 10 s, far above a message round trip
/// (microseconds) but bounded, so a dead or stuck creator yields `MachError::Timeout`.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-process records of joined regions (their addresses go into the registry).
pub(super) static RECORDS: [RegionSemaphores; REGISTRY_CAPACITY] =
    [const { RegionSemaphores::new() }; REGISTRY_CAPACITY];
/// Record free.
const REC_FREE: u32 = 0;
/// Record in use: the control thread may install peers into it.
pub(super) const REC_USED: u32 = 1;
/// Record claimed by a `join` that has not published its region id yet: invisible to the
/// control thread.
const REC_CLAIMED: u32 = 3;

/// The states of [`CONTROL`] (stored as `u32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(super) enum ControlState {
    /// No control port or thread yet.
    NotStarted = 0,
    /// One `join` is creating them; the others wait.
    Starting = 1,
    /// The control thread is receiving.
    Running = 2,
    /// Creating them failed; joins fail.
    Failed = 3,
}

/// Control state: a [`ControlState`].
pub(super) static CONTROL: AtomicU32 = AtomicU32::new(0);
/// Our control port (receive right) and the port set the control thread receives on.
pub(super) static CTL: AtomicU32 = AtomicU32::new(MACH_PORT_NULL);
pub(super) static PORT_SET: AtomicU32 = AtomicU32::new(MACH_PORT_NULL);
/// Serialises the bookkeeping of rights between the control thread and join/leave. Never
/// taken by a waiter or a waker.
static BOOK: AtomicBool = AtomicBool::new(false);
/// Dead-name requests of this process (`peers::Watches`), changed under `BOOK`.
pub(super) static WATCHES: Watches = Watches::new();
/// Sequence number for service names.
static SEQ: AtomicU32 = AtomicU32::new(0);

/// A process's membership of one Mach-protocol region; [`Participant::leave`] it before
/// unmapping.
#[derive(Debug)]
#[must_use = "leave the region with Participant::leave before unmapping it"]
pub struct Participant {
    record: usize,
    registration: Registration,
}

/// Holds `BOOK` until dropped.
pub(super) struct Book;

impl Book {
    pub(super) fn lock() -> Self {
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
                .compare_exchange(REC_FREE, REC_CLAIMED, Ordering::Acquire, Ordering::Relaxed)
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
        let data = MsgData::new(id, index, epoch);
        let kr = messages::send_peer(svc, MSG_JOIN, &ports, MACH_MSG_TYPE_MAKE_SEND, data);
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
        RECORDS[self.record].peers.suspect.load(Ordering::Relaxed)
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
    let mut ops = MachOps { region: id };
    for q in 0..MAX_PARTICIPANTS {
        if rec.peers.epoch[q].load(Ordering::Acquire) != 0 {
            let ctl = rec.peers.ctl[q].load(Ordering::Acquire);
            messages::send_leave(ctl, MsgData::new(id, index, epoch));
        }
        peers::drop_peer(&rec.peers, &WATCHES, q, &mut ops);
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
    rec.peers.suspect.store(0, Ordering::Relaxed);
    rec.region_id[0].store(0, Ordering::Relaxed);
    rec.region_id[1].store(0, Ordering::Relaxed);
    rec.index.store(0, Ordering::Relaxed);
    rec.epoch.store(0, Ordering::Relaxed);
    rec.table.store(core::ptr::null_mut(), Ordering::Relaxed);
    rec.state.store(REC_FREE, Ordering::Release);
}

/// Drops one user reference of a send, send-once or dead-name right (null: nothing).
pub(super) fn deallocate(name: mach_port_t) {
    if name != MACH_PORT_NULL {
        // SAFETY: drops one user reference of a send or dead-name right we hold.
        unsafe { mach_port_deallocate(task_self(), name) };
    }
}

// ------------------------------------------------------------------ control thread

/// In a forked child: the parent's ports, records and control thread do not exist here.
pub(crate) fn after_fork_child() {
    for rec in &RECORDS {
        rec.reset();
    }
    WATCHES.reset();
    CTL.store(MACH_PORT_NULL, Ordering::Relaxed);
    PORT_SET.store(MACH_PORT_NULL, Ordering::Relaxed);
    BOOK.store(false, Ordering::Relaxed);
    CONTROL.store(ControlState::NotStarted as u32, Ordering::Release);
}
