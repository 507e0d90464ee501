//! [`Conns`]: the slab of connections plus the lists of connections to flush and to
//! close at the end of a loop pass; queueing output (with the SendQ limit) and
//! replays.

use super::{Conn, ConnId};
use crate::outgoing::Bytes;
use chatd_proto::Message;
use slab::Slab;

/// Most slots reserved up front (a larger `max_clients` grows the slab as needed).
const MAX_RESERVED_SLOTS: usize = 100_000;

/// All connections, and what this loop pass must still do to them.
pub struct Conns {
    pub slab: Slab<Conn>,
    /// Slots with output queued this pass.
    pub dirty: Vec<usize>,
    /// Slots to tear down at the end of the pass.
    pub closing: Vec<usize>,
    /// SendQ limit: a connection with more queued is closed ("SendQ exceeded").
    pub sendq_limit: usize,
    next_serial: u64,
}

impl Conns {
    /// The slots of every IRC operator (for WALLOPS).
    pub fn operators(&self) -> Vec<usize> {
        self.slab
            .iter()
            .filter(|(_, c)| c.user.oper.is_some())
            .map(|(s, _)| s)
            .collect()
    }

    /// `max_clients` sizes the slab once: its pages are only touched as slots are
    /// used, so an idle slot costs no memory, and the slab never moves 10,000
    /// connections when it grows (nor keeps a doubled capacity afterwards).
    pub fn new(sendq_limit: usize, max_clients: usize) -> Conns {
        Conns {
            slab: Slab::with_capacity(max_clients.min(MAX_RESERVED_SLOTS)),
            dirty: Vec::new(),
            closing: Vec::new(),
            sendq_limit,
            next_serial: 1,
        }
    }

    pub fn next_id(&mut self) -> ConnId {
        let serial = self.next_serial;
        self.next_serial += 1;
        ConnId {
            slot: self.slab.vacant_key(),
            serial,
        }
    }

    pub fn get(&self, slot: usize) -> Option<&Conn> {
        self.slab.get(slot)
    }

    pub fn get_mut(&mut self, slot: usize) -> Option<&mut Conn> {
        self.slab.get_mut(slot)
    }

    /// Queues shared bytes for `slot`. Past the SendQ limit the connection is closed
    /// instead, so one slow reader never holds memory or slows anyone else.
    pub fn send(&mut self, slot: usize, bytes: Bytes) {
        let limit = self.sendq_limit;
        let Some(conn) = self.slab.get_mut(slot).filter(|c| !c.is_remote()) else {
            // A remote user's own node delivers to it.
            return;
        };
        if conn.sendq_used() + bytes.len() > limit {
            if conn.closing.is_none() {
                // Drop what is queued so the ERROR line still fits.
                conn.drop_unwritten();
                self.close(slot, "SendQ exceeded");
            }
            return;
        }
        conn.out.push(bytes);
        if !conn.dirty {
            conn.dirty = true;
            self.dirty.push(slot);
        }
    }

    /// Frees `slot`'s output queue once it has been written: what was queued is a
    /// one-off burst, not the start of steady traffic.
    pub fn trim_after_flush(&mut self, slot: usize) {
        if let Some(conn) = self.slab.get_mut(slot) {
            conn.out.trim_when_empty();
        }
    }

    /// Queues a replayed line behind the others in the backlog; `row` is the
    /// offline-queue row it delivers, deleted once the line is written. The backlog
    /// counts against the SendQ: past it the connection is closed ("SendQ
    /// exceeded"), as for any other line.
    pub fn send_replay(&mut self, slot: usize, bytes: Bytes, row: Option<i64>) {
        let limit = self.sendq_limit;
        let Some(conn) = self.slab.get_mut(slot) else {
            return;
        };
        if conn.closing.is_some() {
            return;
        }
        if conn.sendq_used() + bytes.len() > limit {
            conn.drop_unwritten();
            self.close(slot, "SendQ exceeded");
            return;
        }
        let replay = conn.replay.get_or_insert_with(Box::default);
        replay.backlog_bytes += bytes.len();
        replay.backlog.push_back((bytes, row));
        self.pump(slot);
    }

    /// Bytes a replay may still add for `slot` while leaving half the SendQ for live
    /// traffic (0 for a connection that is gone or going).
    pub fn replay_room(&self, slot: usize) -> usize {
        self.slab
            .get(slot)
            .filter(|c| c.closing.is_none())
            .map_or(0, |c| (self.sendq_limit / 2).saturating_sub(c.sendq_used()))
    }

    /// Moves backlog lines into the output queue while it is under half the SendQ.
    pub fn pump(&mut self, slot: usize) {
        let limit = self.sendq_limit / 2;
        loop {
            let Some(conn) = self.slab.get_mut(slot) else {
                return;
            };
            if conn.closing.is_some() || conn.out.bytes() >= limit {
                return;
            }
            let Some((bytes, row)) = conn.replay.as_mut().and_then(|r| {
                let line = r.backlog.pop_front()?;
                r.backlog_bytes -= line.0.len();
                Some(line)
            }) else {
                conn.drop_finished_replay();
                return;
            };
            self.send(slot, bytes);
            if let Some(conn) = self.slab.get_mut(slot) {
                if conn.closing.is_some() {
                    // Not queued (SendQ exceeded): the row stays for the next login.
                    return;
                }
                if let (Some(row), Some(replay)) = (row, conn.replay.as_mut()) {
                    replay.write_marks.push_back((conn.out.queued_total(), row));
                }
                conn.drop_finished_replay();
            }
        }
    }

    /// Serializes `msg` (with all its tags) for one recipient.
    pub fn send_msg(&mut self, slot: usize, msg: &Message) {
        self.send(slot, msg.to_line().into());
    }

    /// Marks `slot` for teardown with `reason` (shown in QUIT and ERROR).
    pub fn close(&mut self, slot: usize, reason: &str) {
        if let Some(conn) = self.slab.get_mut(slot) {
            if conn.closing.is_none() {
                conn.closing = Some(reason.into());
                self.closing.push(slot);
            }
        }
    }

    /// Queues `slot` for a flush this pass even with nothing new queued (TLS
    /// handshake records).
    pub fn mark_dirty(&mut self, slot: usize) {
        if let Some(conn) = self.slab.get_mut(slot) {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(slot);
            }
        }
    }

    /// Takes the dirty list, clearing each connection's flag.
    pub fn take_dirty(&mut self) -> Vec<usize> {
        let dirty = std::mem::take(&mut self.dirty);
        for &slot in &dirty {
            if let Some(c) = self.slab.get_mut(slot) {
                c.dirty = false;
            }
        }
        dirty
    }
}
