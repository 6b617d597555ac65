//! The rendezvous bookkeeping against a fake kernel that counts user references per name:
//! every right a message delivers must end up installed once or released, and detaching or
//! a peer's death must bring every count back to its baseline.

extern crate std;

use super::*;
use std::collections::BTreeMap;
use std::vec::Vec;

/// User references per name, dead-name requests, and the PEER messages sent.
#[derive(Default)]
struct FakeKernel {
    urefs: BTreeMap<u32, i64>,
    requests: BTreeMap<u32, u32>,
    dead: Vec<u32>,
    sent: Vec<(u32, Intro, PortSet, bool)>,
}

impl FakeKernel {
    /// The kernel delivering a message that carries `ports`: +1 reference each.
    fn deliver(&mut self, ports: &PortSet) {
        for &p in ports {
            *self.urefs.entry(p).or_default() += 1;
        }
    }
    fn total(&self) -> i64 {
        self.urefs.values().sum()
    }
    fn requests(&self) -> u32 {
        self.requests.values().sum()
    }
}

impl PortOps for FakeKernel {
    fn deallocate(&mut self, name: u32) {
        let n = self.urefs.entry(name).or_default();
        *n -= 1;
        assert!(
            *n >= 0,
            "name {name:#x} deallocated more often than received"
        );
    }
    fn request_dead_name(&mut self, name: u32) -> bool {
        if self.dead.contains(&name) {
            return false;
        }
        *self.requests.entry(name).or_default() += 1;
        assert_eq!(
            self.requests[&name], 1,
            "a second request for {name:#x} replaces the first"
        );
        true
    }
    fn cancel_dead_name(&mut self, name: u32) {
        assert_eq!(
            self.requests.remove(&name),
            Some(1),
            "cancel without request"
        );
    }
    fn send_peer(&mut self, dest: u32, about: Intro, ports: &PortSet, ours: bool) {
        self.sent.push((dest, about, *ports, ours));
    }
}

/// Port names of participant `p` as seen by us: control `p << 8`, semaphores `p << 8 | k+1`.
fn ports_of(p: u32) -> PortSet {
    core::array::from_fn(|i| (p << 8) | i as u32)
}

const SERVICE: u32 = 0xAA00;
const CTL: u32 = 0xBB00;

struct World {
    table: std::boxed::Box<WaiterTable>,
    names: PeerNames,
    watches: Watches,
    me: Intro,
}

impl World {
    /// We are the creator (pid 100), LIVE.
    fn new() -> Self {
        let table = std::boxed::Box::new(WaiterTable::new());
        let (index, epoch) = table.join(100).unwrap();
        assert!(table.set_live(index, epoch));
        Self {
            table,
            names: PeerNames::new(),
            watches: Watches::new(),
            me: Intro { index, epoch },
        }
    }
    fn region(&self) -> Region<'_> {
        Region {
            table: &self.table,
            names: &self.names,
            me: self.me,
            mine: ports_of(0xCC),
            service: SERVICE,
        }
    }
    /// A process `pid` claims an entry (it is mid-rendezvous: JOINING).
    fn joining(&self, pid: u32) -> Intro {
        let (index, epoch) = self.table.join(pid).unwrap();
        Intro { index, epoch }
    }
    fn join_msg(&self, about: Intro, pid: u32, k: &mut FakeKernel) -> RightsMsg {
        let ports = ports_of(about.index + 1);
        k.deliver(&ports);
        RightsMsg {
            kind: Kind::Join,
            local_port: SERVICE,
            about,
            sender_pid: Some(pid),
            ports,
        }
    }
}

#[test]
fn a_join_installs_the_rights_once_watches_and_introduces() {
    let w = World::new();
    let mut k = FakeKernel::default();
    let a = w.joining(200);
    let m = w.join_msg(a, 200, &mut k);
    assert_eq!(on_rights(&w.region(), &w.watches, &m, &mut k), Ok(()));
    assert!(w.names.holds(a.index, a.epoch));
    assert_eq!(k.requests(), 1);
    assert!(w.watches.contains(m.ports[0]));
    // We know A; A is told about us (our own control port made on the fly).
    assert_eq!(
        w.table.participant(a.index).unwrap().known_by & (1 << w.me.index),
        1 << w.me.index
    );
    assert_eq!(k.sent, [(m.ports[0], w.me, ports_of(0xCC), true)]);

    // A second joiner B: introduced to A, and A to B, as COPY_SEND of what we hold.
    let b = w.joining(300);
    let mb = w.join_msg(b, 300, &mut k);
    k.sent.clear();
    assert_eq!(on_rights(&w.region(), &w.watches, &mb, &mut k), Ok(()));
    assert_eq!(k.sent.len(), 3);
    assert!(k.sent.contains(&(mb.ports[0], a, m.ports, false)));
    assert!(k.sent.contains(&(m.ports[0], b, mb.ports, false)));

    // A duplicate JOIN of A: its new references are released, nothing else changes.
    let before = k.total();
    let dup = w.join_msg(a, 200, &mut k);
    assert_eq!(on_rights(&w.region(), &w.watches, &dup, &mut k), Ok(()));
    assert_eq!(k.total(), before);
    assert_eq!(k.requests(), 2);
}

/// Forged rights messages are refused and every right they carried is released.
#[test]
fn forged_rights_messages_are_refused_and_released() {
    let w = World::new();
    let mut k = FakeKernel::default();
    let a = w.joining(200);
    type Forgery = (&'static str, fn(&mut RightsMsg), Refusal);
    let cases: [Forgery; 6] = [
        (
            "pid of another process",
            |m| m.sender_pid = Some(666),
            Refusal::SenderIsNotTheJoiner,
        ),
        (
            "no audit trailer",
            |m| m.sender_pid = None,
            Refusal::SenderIsNotTheJoiner,
        ),
        (
            "JOIN to the control port",
            |m| m.local_port = CTL,
            Refusal::WrongPort,
        ),
        (
            "stale epoch",
            |m| m.about.epoch += 1,
            Refusal::StrangerOrStale,
        ),
        (
            "about ourselves",
            |m| m.about.index = 0,
            Refusal::StrangerOrStale,
        ),
        (
            "out-of-range index",
            |m| m.about.index = 99,
            Refusal::StrangerOrStale,
        ),
    ];
    for (what, forge, why) in cases {
        let mut m = w.join_msg(a, 200, &mut k);
        forge(&mut m);
        assert_eq!(
            on_rights(&w.region(), &w.watches, &m, &mut k),
            Err(why),
            "{what}"
        );
        assert_eq!(k.total(), 0, "{what}: rights leaked");
    }
    // A PEER from a process that is no participant.
    let mut m = w.join_msg(a, 200, &mut k);
    m.kind = Kind::Peer;
    m.local_port = CTL;
    m.sender_pid = Some(666);
    assert_eq!(
        on_rights(&w.region(), &w.watches, &m, &mut k),
        Err(Refusal::SenderIsNoMember)
    );
    assert_eq!((k.total(), k.requests()), (0, 0));
    assert!(k.sent.is_empty());
    assert_eq!(w.table.participant(a.index).unwrap().known_by & 1, 0);
}

/// LEAVE is believed only from the leaver; then every count is back to baseline.
#[test]
fn only_the_leaver_makes_us_drop_its_rights_and_counts_return_to_baseline() {
    let w = World::new();
    let mut k = FakeKernel::default();
    let a = w.joining(200);
    let m = w.join_msg(a, 200, &mut k);
    on_rights(&w.region(), &w.watches, &m, &mut k).unwrap();
    assert!(!on_leave(&w.region(), &w.watches, a, Some(300), &mut k));
    assert!(!on_leave(&w.region(), &w.watches, a, None, &mut k));
    assert!(w.names.holds(a.index, a.epoch));
    assert!(on_leave(&w.region(), &w.watches, a, Some(200), &mut k));
    assert!(!w.names.holds(a.index, a.epoch));
    assert_eq!((k.total(), k.requests()), (0, 0));
}

/// A peer killed mid-rendezvous (still JOINING): its dead-name notification drops its
/// rights, reclaims its entry, and releases the reference the notification added.
#[test]
fn a_peer_dying_mid_rendezvous_is_evicted_without_leaking() {
    let w = World::new();
    let mut k = FakeKernel::default();
    let a = w.joining(200);
    let m = w.join_msg(a, 200, &mut k);
    on_rights(&w.region(), &w.watches, &m, &mut k).unwrap();
    assert_eq!(w.table.participant(a.index).unwrap().state, P_JOINING);
    // The kernel: the control port died, +1 reference to the dead name, notification sent.
    *k.urefs.get_mut(&m.ports[0]).unwrap() += 1;
    k.requests.remove(&m.ports[0]); // the send-once right was used up
    let reclaimed = on_dead([w.region()], &w.watches, m.ports[0], &mut k);
    assert_eq!(reclaimed, 1);
    assert_eq!(
        w.table.participant(a.index).unwrap().state,
        super::super::table::P_FREE
    );
    assert!(!w.watches.contains(m.ports[0]));
    assert_eq!((k.total(), k.requests()), (0, 0));
}

/// A control port that is already dead when we install it: undone and reclaimed at once.
#[test]
fn installing_an_already_dead_peer_reclaims_it() {
    let w = World::new();
    let mut k = FakeKernel::default();
    let a = w.joining(200);
    let m = w.join_msg(a, 200, &mut k);
    k.dead.push(m.ports[0]);
    on_rights(&w.region(), &w.watches, &m, &mut k).unwrap();
    assert!(!w.names.holds(a.index, a.epoch));
    assert_eq!(
        w.table.participant(a.index).unwrap().state,
        super::super::table::P_FREE
    );
    assert_eq!((k.total(), k.requests()), (0, 0));
}

/// One process met in two regions: one dead-name request for its control port, kept until
/// the last install goes, and a notification drops both installs.
#[test]
fn a_control_port_shared_by_two_regions_is_watched_once() {
    let (w1, w2) = (World::new(), World::new());
    let mut k = FakeKernel::default();
    let shared = World::joining(&w1, 200);
    let m1 = w1.join_msg(shared, 200, &mut k);
    let a2 = w2.joining(200);
    let mut m2 = w2.join_msg(a2, 200, &mut k);
    // Same control-port name in both messages (coalesced by the kernel: +1 uref).
    m2.ports[0] = m1.ports[0];
    *k.urefs.get_mut(&m1.ports[0]).unwrap() += 1;
    *k.urefs.entry(ports_of(a2.index + 1)[0]).or_default() -= 1;
    let watches = Watches::new();
    on_rights(&w1.region(), &watches, &m1, &mut k).unwrap();
    on_rights(&w2.region(), &watches, &m2, &mut k).unwrap();
    assert_eq!(k.requests(), 1);
    assert!(on_leave(&w1.region(), &watches, shared, Some(200), &mut k));
    assert_eq!(k.requests(), 1, "still installed in the second region");
    *k.urefs.get_mut(&m1.ports[0]).unwrap() += 1; // the notification's reference
    k.requests.clear();
    assert_eq!(
        on_dead([w1.region(), w2.region()], &watches, m1.ports[0], &mut k),
        1
    );
    assert_eq!((k.total(), k.requests()), (0, 0));
}
