//! The participant entries of the waiter table and the rendezvous name: join (with the
//! RESERVED step that publishes the pid), LIVE, epoch-tagged `known_by`, leave and
//! reclamation (`retire`, which frees exactly the slots the state word says the dead
//! participant claimed). The module docs of `table` describe the protocol.

use super::*;

impl<const P: usize, const N: usize> Table<P, N> {
    // ---------------------------------------------------------------- participants

    /// Claims a free participant entry for process `pid`: `FREE → RESERVED` with the epoch
    /// advanced (never to 0), then pid and `known_by` (the joiner's own bit, tagged with the
    /// epoch), then `RESERVED → JOINING`, which publishes them. Returns `(index, epoch)`, or
    /// `None` when all entries are taken. Real-time class: lock-free.
    pub fn join(&self, pid: u32) -> Option<(u32, u32)> {
        for (i, p) in self.participants.iter().enumerate() {
            let s = p.state.load(Ordering::Acquire);
            if s & P_STATE_MASK != P_FREE {
                continue;
            }
            let epoch = next_epoch(s >> 4);
            if p.state
                .compare_exchange(
                    s,
                    (epoch << 4) | P_RESERVED,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                p.pid.store(pid, Ordering::Relaxed);
                p.known_by
                    .store((epoch << KNOWN_TAG_SHIFT) | (1 << i), Ordering::Relaxed);
                // Only the reserving joiner moves its entry out of RESERVED: a store.
                p.state.store((epoch << 4) | P_JOINING, Ordering::SeqCst);
                return Some((i as u32, epoch));
            }
        }
        None
    }

    /// [`Table::join`]; when every entry is taken, first reclaims the JOINING or LIVE
    /// entries whose recorded process `gone(pid)` proves dead (a joiner killed between its
    /// claim and the end of the rendezvous leaves its entry JOINING for ever), then tries
    /// once more. `gone` must answer `true` only on proof (unknown is alive). Real-time
    /// class: as `gone` (one `kill(pid, 0)` per entry in practice).
    pub fn join_reclaiming(&self, pid: u32, gone: impl Fn(u32) -> bool) -> Option<(u32, u32)> {
        if let Some(r) = self.join(pid) {
            return Some(r);
        }
        if self.reclaim_gone(gone) == 0 {
            return None;
        }
        self.join(pid)
    }

    /// Reclaims every JOINING or LIVE participant whose recorded process `gone(pid)` proves
    /// dead (entries still RESERVED have no pid yet and are left alone). Returns the number
    /// of entries reclaimed.
    pub fn reclaim_gone(&self, gone: impl Fn(u32) -> bool) -> u32 {
        let mut n = 0;
        for i in 0..P as u32 {
            let Some(p) = self.participant(i) else {
                continue;
            };
            // The pid was published before JOINING (Release/Acquire): it is this epoch's.
            if matches!(p.state, P_JOINING | P_LIVE)
                && p.pid != 0
                && gone(p.pid)
                && self.reclaim(i, p.epoch).is_some()
            {
                n += 1;
            }
        }
        n
    }

    /// `JOINING → LIVE` for `(index, epoch)`; `false` if the entry is no longer ours (a
    /// peer declared us dead). SeqCst: pairs with [`Table::peers_ready`] of other joiners.
    pub fn set_live(&self, index: u32, epoch: u32) -> bool {
        let Some(p) = self.participants.get(index as usize) else {
            return false;
        };
        p.state
            .compare_exchange(
                (epoch << 4) | P_JOINING,
                (epoch << 4) | P_LIVE,
                Ordering::SeqCst,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Records that participant `by` now holds the semaphore rights of `(index, epoch)`
    /// (no effect if that entry has moved on to another epoch).
    pub fn mark_known(&self, index: u32, epoch: u32, by: u32) {
        let (Some(p), true) = (self.participants.get(index as usize), (by as usize) < P) else {
            return;
        };
        // One compare-exchange on the epoch-tagged word: if the entry was retired (tag 0)
        // or re-joined (another tag) since the caller looked, nothing is marked.
        let mut kb = p.known_by.load(Ordering::Acquire);
        while kb >> KNOWN_TAG_SHIFT == epoch && epoch != 0 {
            match p.known_by.compare_exchange_weak(
                kb,
                kb | (1 << by),
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => kb = now,
            }
        }
    }

    /// Whether a joining participant may start waiting: for every other LIVE participant
    /// `q`, `installed(q, epoch_q)` (we hold its rights) and `q` holds ours. Call after
    /// [`Table::set_live`]; the SeqCst store there and the loads here make at least one of
    /// two concurrent joiners wait for the other.
    pub fn peers_ready(&self, me: u32, installed: impl Fn(u32, u32) -> bool) -> bool {
        let Some(mine) = self.participants.get(me as usize) else {
            return false;
        };
        let my_epoch = mine.state.load(Ordering::SeqCst) >> 4;
        let tagged = mine.known_by.load(Ordering::SeqCst);
        if tagged >> KNOWN_TAG_SHIFT != my_epoch {
            return false;
        }
        let known_by = tagged & KNOWN_BITS;
        self.participants.iter().enumerate().all(|(q, p)| {
            let s = p.state.load(Ordering::SeqCst);
            q as u32 == me
                || s & P_STATE_MASK != P_LIVE
                || (known_by & (1 << q) != 0 && installed(q as u32, s >> 4))
        })
    }

    /// The entry at `index`, as currently stored.
    pub fn participant(&self, index: u32) -> Option<ParticipantInfo> {
        let p = self.participants.get(index as usize)?;
        let s = p.state.load(Ordering::Acquire);
        let kb = p.known_by.load(Ordering::Acquire);
        Some(ParticipantInfo {
            state: s & P_STATE_MASK,
            epoch: s >> 4,
            pid: p.pid.load(Ordering::Relaxed),
            // Marks of another epoch are not this participant's.
            known_by: if kb >> KNOWN_TAG_SHIFT == s >> 4 {
                kb & KNOWN_BITS
            } else {
                0
            },
        })
    }

    /// Orderly leave of `(index, epoch)`: frees any slot still registered to it and the
    /// entry. The caller's threads must not be waiting in the table any more.
    pub fn leave(&self, index: u32, epoch: u32) -> bool {
        self.retire(index, epoch).is_some()
    }

    /// A peer's death: frees every slot of `(index, epoch)` and the entry. Safe to call
    /// from several peers at once (compare-exchanges decide), and a no-op once the entry
    /// has moved to another epoch. Returns the number of slots freed, `None` if the entry
    /// was not `(index, epoch)` in a JOINING, LIVE or DEAD state.
    pub fn reclaim(&self, index: u32, epoch: u32) -> Option<u32> {
        let n = self.retire(index, epoch)?;
        self.reclaimed.fetch_add(n, Ordering::Relaxed);
        Some(n)
    }

    fn retire(&self, index: u32, epoch: u32) -> Option<u32> {
        let p = self.participants.get(index as usize)?;
        let dead = (epoch << 4) | P_DEAD;
        let mut s = p.state.load(Ordering::Acquire);
        loop {
            if s >> 4 != epoch || !matches!(s & P_STATE_MASK, P_JOINING | P_LIVE | P_DEAD) {
                return None;
            }
            if s == dead {
                break;
            }
            match p
                .state
                .compare_exchange(s, dead, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        let mut freed = 0;
        'slots: for slot in &self.slots {
            let mut s = slot.state.load(Ordering::Acquire);
            loop {
                let st = s & S_STATE_MASK;
                // The claimer is part of the state word (written by the claim itself), so a
                // claim whose owner/epoch fields are not written yet is never mistaken for
                // a stale one of `index`.
                if st == S_FREE || slot_owner(s) != index {
                    break;
                }
                // A claim by `index` is this epoch's while the entry is still DEAD(epoch):
                // a newer epoch claims only after the entry went FREE and LIVE again, and
                // acquiring its claim (above) makes that visible here. Once the entry has
                // left DEAD, a concurrent reclaimer has finished: stop.
                if p.state.load(Ordering::Acquire) != dead {
                    break 'slots;
                }
                match slot.state.compare_exchange(
                    s,
                    (s & !S_STATE_MASK) | S_FREE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        // Counted iff it was ARMED or SIGNALED (see the module docs).
                        if st == S_ARMED || st == S_SIGNALED {
                            self.armed.fetch_sub(1, Ordering::SeqCst);
                        }
                        freed += 1;
                        break;
                    }
                    Err(now) => s = now,
                }
            }
        }
        // Clear this epoch's marks only: a late reclaimer must not erase a new joiner's.
        let kb = p.known_by.load(Ordering::Relaxed);
        if kb >> KNOWN_TAG_SHIFT == epoch {
            let _ = p
                .known_by
                .compare_exchange(kb, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
        // Only from DEAD of this epoch: a concurrent reclaimer may already have freed it
        // and a new process joined with the next epoch.
        let _ = p.state.compare_exchange(
            dead,
            (epoch << 4) | P_FREE,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
        Some(freed)
    }

    // ---------------------------------------------------------------- rendezvous name

    /// Stores the rendezvous service name (creator, before the region is published).
    pub fn set_rendezvous_name(&self, name: &[u8]) -> Result<(), NameTooLong> {
        if name.len() > RENDEZVOUS_NAME_MAX {
            return Err(NameTooLong);
        }
        for (i, w) in self.rendezvous[1..].iter().enumerate() {
            let mut b = [0u8; 4];
            for (j, byte) in b.iter_mut().enumerate() {
                *byte = name.get(i * 4 + j).copied().unwrap_or(0);
            }
            w.store(u32::from_le_bytes(b), Ordering::Relaxed);
        }
        self.rendezvous[0].store(name.len() as u32, Ordering::Release);
        Ok(())
    }

    /// Copies the rendezvous name into `buf` and returns it; `Err` if the stored length is
    /// out of range (corruption), `Ok(empty)` if none was set.
    pub fn rendezvous_name<'b>(
        &self,
        buf: &'b mut [u8; RENDEZVOUS_NAME_MAX],
    ) -> Result<&'b [u8], NameTooLong> {
        let len = self.rendezvous[0].load(Ordering::Acquire) as usize;
        if len > RENDEZVOUS_NAME_MAX {
            return Err(NameTooLong);
        }
        for (i, w) in self.rendezvous[1..].iter().enumerate() {
            let b = w.load(Ordering::Relaxed).to_le_bytes();
            buf[i * 4..i * 4 + 4].copy_from_slice(&b);
        }
        Ok(&buf[..len])
    }
}
