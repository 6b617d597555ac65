//! The rendezvous bookkeeping of one process, without Mach I/O: which peer may send what,
//! which rights we hold for whom (one user reference per name received), dead-name
//! watches, introductions and eviction. `rendezvous.rs` is the thin Mach shell around it
//! (`mach_msg`, the control thread); its port operations reach the kernel through
//! [`PortOps`], which host tests replace with a fake kernel that counts user references —
//! so forged JOIN/PEER/LEAVE messages, duplicates, peers dying mid-rendezvous and right
//! counts returning to baseline are tested on any host.
//!
//! Everything here runs under the process's bookkeeping lock (`rendezvous::Book`), except
//! the readers of [`PeerNames`] on the wake path (see there).

// On other hosts only the tests use this module; some items serve the Apple shell alone.
#![cfg_attr(not(target_vendor = "apple"), allow(dead_code))]

use super::table::{P_JOINING, P_LIVE, SEMS_PER_PARTICIPANT, WaiterTable};
use super::{MAX_PARTICIPANTS, REGISTRY_CAPACITY};
use core::sync::atomic::{AtomicU32, Ordering};

/// A participant's control port and semaphores, as sent in JOIN and PEER messages.
pub(crate) type PortSet = [u32; 1 + SEMS_PER_PARTICIPANT];

/// The null port name.
const NULL: u32 = 0;

/// The port operations the bookkeeping needs; `rendezvous.rs` implements them with Mach
/// calls.
pub(crate) trait PortOps {
    /// Drops one user reference of a send, send-once or dead-name right.
    fn deallocate(&mut self, name: u32);
    /// Asks for a dead-name notification of `name` on our control port; `false` if the
    /// port is already dead.
    fn request_dead_name(&mut self, name: u32) -> bool;
    /// Cancels that request (the send-once right it returns is released).
    fn cancel_dead_name(&mut self, name: u32);
    /// Sends PEER about `about` to `dest` (rights as `COPY_SEND`; our own control port as
    /// `MAKE_SEND` when `ours`).
    fn send_peer(&mut self, dest: u32, about: Intro, ports: &PortSet, ours: bool);
}

/// Who a PEER message introduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Intro {
    pub(crate) index: u32,
    pub(crate) epoch: u32,
}

/// This process's names for every peer of one region.
///
/// Readers: any thread waking (`RegionSemaphores::signal`). A peer's names are written
/// **before** its `epoch` (Release) and read after it (Acquire); to drop a peer, `epoch` is
/// cleared first and the names are deallocated only once no signal is in flight
/// (`in_signal == 0`), so a waker never signals a name that was deallocated and reused.
#[derive(Debug)]
pub(crate) struct PeerNames {
    /// Epoch of the peer whose names we hold; 0: none.
    pub(crate) epoch: [AtomicU32; MAX_PARTICIPANTS],
    pub(crate) ctl: [AtomicU32; MAX_PARTICIPANTS],
    pub(crate) sems: [[AtomicU32; SEMS_PER_PARTICIPANT]; MAX_PARTICIPANTS],
    /// Wakers between reading a peer's name and signalling it.
    pub(crate) in_signal: AtomicU32,
    /// Bit per peer whose semaphore said `KERN_TERMINATED` (a hint).
    pub(crate) suspect: AtomicU32,
}

impl PeerNames {
    pub(crate) const fn new() -> Self {
        Self {
            epoch: [const { AtomicU32::new(0) }; MAX_PARTICIPANTS],
            ctl: [const { AtomicU32::new(NULL) }; MAX_PARTICIPANTS],
            sems: [const { [const { AtomicU32::new(NULL) }; SEMS_PER_PARTICIPANT] };
                MAX_PARTICIPANTS],
            in_signal: AtomicU32::new(0),
            suspect: AtomicU32::new(0),
        }
    }

    /// Forgets everything (a forked child: the names were the parent's).
    pub(crate) fn reset(&self) {
        for w in self
            .epoch
            .iter()
            .chain(&self.ctl)
            .chain(self.sems.iter().flatten())
            .chain([&self.in_signal, &self.suspect])
        {
            w.store(0, Ordering::Relaxed);
        }
    }

    /// Whether we hold the names of participant `q` for epoch `epoch`.
    pub(crate) fn holds(&self, q: u32, epoch: u32) -> bool {
        epoch != 0
            && self
                .epoch
                .get(q as usize)
                .is_some_and(|e| e.load(Ordering::Acquire) == epoch)
    }

    /// The names we hold for participant `q`, ready to forward with `COPY_SEND`.
    pub(crate) fn names_of(&self, q: usize) -> PortSet {
        let mut ports = [NULL; 1 + SEMS_PER_PARTICIPANT];
        ports[0] = self.ctl[q].load(Ordering::Relaxed);
        for (p, s) in ports[1..].iter_mut().zip(&self.sems[q]) {
            *p = s.load(Ordering::Relaxed);
        }
        ports
    }
}

/// Dead-name requests of this process: `[control-port name, installs using it]`. One
/// request per name (a second would replace the first), cancelled with its last install.
/// One entry per possible distinct peer control port (16 regions × 8 participants), so it
/// never runs out.
#[derive(Debug)]
pub(crate) struct Watches {
    entries: [[AtomicU32; 2]; WATCH_LEN],
}

const WATCH_LEN: usize = REGISTRY_CAPACITY * MAX_PARTICIPANTS;

impl Watches {
    pub(crate) const fn new() -> Self {
        Self {
            entries: [const { [const { AtomicU32::new(0) }; 2] }; WATCH_LEN],
        }
    }

    pub(crate) fn reset(&self) {
        for w in self.entries.iter().flatten() {
            w.store(0, Ordering::Relaxed);
        }
    }

    /// Whether `name` is watched (a notification for it may be believed).
    pub(crate) fn contains(&self, name: u32) -> bool {
        name != NULL
            && self
                .entries
                .iter()
                .any(|w| w[0].load(Ordering::Relaxed) == name && w[1].load(Ordering::Relaxed) != 0)
    }

    /// One more install of `ctl`; requests the notification at the first. `false` if the
    /// port is already dead (nothing counted).
    fn add(&self, ctl: u32, ops: &mut impl PortOps) -> bool {
        let mut free = None;
        for (i, w) in self.entries.iter().enumerate() {
            let (name, n) = (w[0].load(Ordering::Relaxed), w[1].load(Ordering::Relaxed));
            if name == ctl && n != 0 {
                w[1].store(n + 1, Ordering::Relaxed);
                return true;
            }
            if n == 0 && free.is_none() {
                free = Some(i);
            }
        }
        if !ops.request_dead_name(ctl) {
            return false;
        }
        if let Some(i) = free {
            self.entries[i][0].store(ctl, Ordering::Relaxed);
            self.entries[i][1].store(1, Ordering::Relaxed);
        }
        true
    }

    /// One install of `ctl` fewer; cancels the request at the last.
    fn remove(&self, ctl: u32, ops: &mut impl PortOps) {
        for w in &self.entries {
            let n = w[1].load(Ordering::Relaxed);
            if ctl != NULL && w[0].load(Ordering::Relaxed) == ctl && n != 0 {
                w[1].store(n - 1, Ordering::Relaxed);
                if n == 1 {
                    ops.cancel_dead_name(ctl);
                    w[0].store(0, Ordering::Relaxed);
                }
                return;
            }
        }
    }

    /// Forgets the request of a name whose notification fired (it is spent).
    fn forget(&self, ctl: u32) {
        for w in &self.entries {
            if w[0].load(Ordering::Relaxed) == ctl {
                w[1].store(0, Ordering::Relaxed);
                w[0].store(0, Ordering::Relaxed);
            }
        }
    }
}

/// The bookkeeping state of this process for one joined region.
pub(crate) struct Region<'a> {
    pub(crate) table: &'a WaiterTable,
    pub(crate) names: &'a PeerNames,
    /// Our participant index and epoch.
    pub(crate) me: Intro,
    /// Our control port and semaphores (`ours` in PEER messages we send).
    pub(crate) mine: PortSet,
    /// The service port we checked in (creator), else null.
    pub(crate) service: u32,
}

/// What kind of rights message arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A joiner's rights, to the creator's service port.
    Join,
    /// A participant's rights, forwarded by the creator to our control port.
    Peer,
}

/// A decoded JOIN or PEER message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RightsMsg {
    pub(crate) kind: Kind,
    /// The port it arrived on.
    pub(crate) local_port: u32,
    /// Whom it is about.
    pub(crate) about: Intro,
    /// The sender's pid from the audit trailer.
    pub(crate) sender_pid: Option<u32>,
    /// The rights it carried (one user reference each, ours now).
    pub(crate) ports: PortSet,
}

/// Why a rights message was refused (its rights are released).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// About ourselves, an unknown entry, or another epoch / state than the table's.
    StrangerOrStale,
    /// JOIN not on our service port (or we are not the creator).
    WrongPort,
    /// JOIN not sent by the joiner itself (audit pid).
    SenderIsNotTheJoiner,
    /// PEER not sent by a participant of the region.
    SenderIsNoMember,
}

/// Which peer may send what: a JOIN only to our service port and only from the joiner's
/// own process; a PEER only from a JOINING/LIVE participant of the region; either only
/// about an entry that is JOINING/LIVE with that epoch and is not us.
pub(crate) fn admit(r: &Region<'_>, m: &RightsMsg) -> Result<(), Refusal> {
    let Intro { index: q, epoch } = m.about;
    let entry = r.table.participant(q).ok_or(Refusal::StrangerOrStale)?;
    if q == r.me.index || entry.epoch != epoch || !matches!(entry.state, P_JOINING | P_LIVE) {
        return Err(Refusal::StrangerOrStale);
    }
    match m.kind {
        Kind::Join => {
            if r.service == NULL || m.local_port != r.service {
                return Err(Refusal::WrongPort);
            }
            if m.sender_pid != Some(entry.pid) {
                return Err(Refusal::SenderIsNotTheJoiner);
            }
        }
        Kind::Peer => {
            let from_member = m.sender_pid.is_some_and(|pid| {
                pid != 0
                    && (0..MAX_PARTICIPANTS as u32).any(|i| {
                        r.table
                            .participant(i)
                            .is_some_and(|p| p.pid == pid && matches!(p.state, P_JOINING | P_LIVE))
                    })
            });
            if !from_member {
                return Err(Refusal::SenderIsNoMember);
            }
        }
    }
    Ok(())
}

/// Handles a JOIN or PEER: admits it or releases its rights; installs them; for a JOIN
/// (we are the creator), introduces ourselves and every peer we know to the joiner and the
/// joiner to every peer.
pub(crate) fn on_rights(
    r: &Region<'_>,
    watches: &Watches,
    m: &RightsMsg,
    ops: &mut impl PortOps,
) -> Result<(), Refusal> {
    if let Err(e) = admit(r, m) {
        release(&m.ports, ops);
        return Err(e);
    }
    let Intro { index: q, epoch } = m.about;
    install(r, watches, q, epoch, &m.ports, ops);
    if m.kind != Kind::Join || !r.names.holds(q, epoch) {
        return Ok(());
    }
    let joiner_ctl = r.names.ctl[q as usize].load(Ordering::Relaxed);
    ops.send_peer(joiner_ctl, r.me, &r.mine, true);
    let joiner = r.names.names_of(q as usize);
    for other in 0..MAX_PARTICIPANTS {
        let e = r.names.epoch[other].load(Ordering::Acquire);
        if other == q as usize || e == 0 {
            continue;
        }
        let about_other = Intro {
            index: other as u32,
            epoch: e,
        };
        ops.send_peer(joiner_ctl, about_other, &r.names.names_of(other), false);
        let other_ctl = r.names.ctl[other].load(Ordering::Relaxed);
        ops.send_peer(other_ctl, m.about, &joiner, false);
    }
    Ok(())
}

fn release(ports: &PortSet, ops: &mut impl PortOps) {
    for &p in ports {
        if p != NULL {
            ops.deallocate(p);
        }
    }
}

/// Installs participant `q`'s rights (one user reference each, just received): a
/// duplicate is released; an older epoch's rights are dropped first; the control port is
/// watched (a port already dead undoes the install and reclaims the entry); then the table
/// learns that we hold them (`mark_known`).
pub(crate) fn install(
    r: &Region<'_>,
    watches: &Watches,
    q: u32,
    epoch: u32,
    ports: &PortSet,
    ops: &mut impl PortOps,
) {
    let qi = q as usize;
    if qi >= MAX_PARTICIPANTS {
        return release(ports, ops);
    }
    if r.names.holds(q, epoch) {
        return release(ports, ops);
    }
    drop_peer(r.names, watches, qi, ops);
    for (slot, &p) in r.names.sems[qi].iter().zip(&ports[1..]) {
        slot.store(p, Ordering::Relaxed);
    }
    r.names.ctl[qi].store(ports[0], Ordering::Relaxed);
    r.names.epoch[qi].store(epoch, Ordering::Release);
    if !watches.add(ports[0], ops) {
        drop_peer(r.names, watches, qi, ops);
        r.table.reclaim(q, epoch);
        return;
    }
    r.table.mark_known(q, epoch, r.me.index);
}

/// Drops the rights we hold for participant `q`, if any: one deallocation per name
/// received, and one install fewer of its control port's watch. Waits (bounded spin, then
/// yield) for wakers still signalling one of the names.
pub(crate) fn drop_peer(names: &PeerNames, watches: &Watches, q: usize, ops: &mut impl PortOps) {
    if names.epoch[q].swap(0, Ordering::SeqCst) == 0 {
        return;
    }
    super::control::wait_until_idle(|| names.in_signal.load(Ordering::SeqCst) != 0, yield_now);
    for s in &names.sems[q] {
        let n = s.swap(NULL, Ordering::AcqRel);
        if n != NULL {
            ops.deallocate(n);
        }
    }
    let ctl = names.ctl[q].swap(NULL, Ordering::AcqRel);
    watches.remove(ctl, ops);
    if ctl != NULL {
        ops.deallocate(ctl);
    }
}

#[cfg(unix)]
fn yield_now() {
    // SAFETY: no preconditions.
    unsafe {
        libc::sched_yield();
    }
}

#[cfg(not(unix))]
fn yield_now() {
    core::hint::spin_loop();
}

/// LEAVE: only the leaver itself (audit pid) may make us drop its rights, and only for
/// the epoch we hold.
pub(crate) fn on_leave(
    r: &Region<'_>,
    watches: &Watches,
    about: Intro,
    sender_pid: Option<u32>,
    ops: &mut impl PortOps,
) -> bool {
    let Some(entry) = r.table.participant(about.index) else {
        return false;
    };
    if sender_pid.is_none()
        || sender_pid != Some(entry.pid)
        || !r.names.holds(about.index, about.epoch)
    {
        return false;
    }
    drop_peer(r.names, watches, about.index as usize, ops);
    true
}

/// A watched control port died (the notification was validated by
/// `control::accept_dead_name`): forget its watch, drop every install of it in every
/// region and reclaim those entries, then release the reference the notification added
/// to the dead name. Returns the number of entries reclaimed.
pub(crate) fn on_dead<'a>(
    regions: impl IntoIterator<Item = Region<'a>>,
    watches: &Watches,
    name: u32,
    ops: &mut impl PortOps,
) -> u32 {
    watches.forget(name);
    let mut n = 0;
    for r in regions {
        for q in 0..MAX_PARTICIPANTS {
            let e = r.names.epoch[q].load(Ordering::Acquire);
            if e != 0 && r.names.ctl[q].load(Ordering::Relaxed) == name {
                drop_peer(r.names, watches, q, ops);
                if r.table.reclaim(q as u32, e).is_some() {
                    n += 1;
                }
            }
        }
    }
    ops.deallocate(name);
    n
}

#[cfg(test)]
#[path = "peers_tests.rs"]
mod tests;
