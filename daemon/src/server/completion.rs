//! Store and hasher answers: draining them on a wake, routing each to the command
//! (or admin request) that waits for it, and telling operators of the store's health.

use super::Server;
use crate::admin::commands as admin_cmd;
use crate::cmd::{self, account, history, message};
use crate::store::Completion;
use chatd_proto::Message;
use std::time::Instant;

impl Server {
    /// Finishes the commands whose store or password work is done.
    pub(super) fn take_completions(&mut self, now: Instant) {
        while let Ok(done) = self.completions.try_recv() {
            self.complete(done, now);
        }
        self.check_store_health();
        self.update_tap();
    }

    /// Tells every operator (WALLOPS from the server) when the database stops being
    /// writable and when it is again; the store thread wakes the loop at both.
    pub(super) fn check_store_health(&mut self) {
        let Some(store) = &self.store else {
            return;
        };
        let health = store.health();
        let failing = health.is_failing();
        if failing == self.store_failing {
            return;
        }
        self.store_failing = failing;
        let text = if failing {
            let why = health.last_error().map(|(_, why)| why).unwrap_or_default();
            format!(
                "The database cannot be written ({why}). Delivered messages are kept in \
                 memory and saved when it works again; offline messages and registrations \
                 are refused meanwhile. See `chatctl stats`."
            )
        } else {
            "The database can be written again: every kept message is saved.".to_string()
        };
        let msg = Message::new("WALLOPS", [text]).with_source(self.config.server.name.as_str());
        let opers: Vec<usize> = self
            .conns
            .slab
            .iter()
            .filter(|(_, c)| c.user.oper.is_some())
            .map(|(s, _)| s)
            .collect();
        for slot in opers {
            self.conns.send_msg(slot, &msg);
        }
    }

    /// Runs one store or hasher answer. If it was one its connection waited for
    /// (sent with [`Cx::ask`](cmd::Cx::ask)) and the last, the lines that waited are
    /// handled now.
    pub(super) fn complete(&mut self, done: Completion, now: Instant) {
        let awaited = done.answers_a_wait();
        if let Completion::Verified { ticket, .. } | Completion::Registered { ticket, .. } = &done {
            // The address's next password check, if one waits, may go to the hasher.
            if let (Some(next), Some(store)) =
                (self.state.hashing.finished(ticket.conn), &self.store)
            {
                store.send(next);
            }
        }
        self.run_completion(done, now);
        let Some(id) = awaited else {
            return;
        };
        let Some(conn) = self.conns.get_mut(id.slot).filter(|c| c.id == id) else {
            return;
        };
        conn.awaiting = conn.awaiting.saturating_sub(1);
        if conn.awaiting == 0 {
            // The lines read meanwhile, then whatever the socket has (edge-triggered).
            self.read(id.slot, now);
        }
    }

    pub(super) fn run_completion(&mut self, done: Completion, now: Instant) {
        {
            if done.ticket().what.starts_with("admin ") {
                let ticket = done.ticket().clone();
                admin_cmd::complete(&mut self.ctl(now), &ticket, done);
                return;
            }
            if done.ticket().what.starts_with("oper ") {
                if let Completion::Verified { ticket, ok, .. } = &done {
                    cmd::oper::on_verified(&mut self.cx(ticket.conn.slot, now), ticket, *ok);
                }
                return;
            }
            match done {
                Completion::Queued { ticket, result } => {
                    message::on_queued(&mut self.cx(ticket.conn.slot, now), &ticket, result)
                }
                Completion::Registered { ticket, result } => {
                    account::on_registered(&mut self.cx(ticket.conn.slot, now), &ticket, result)
                }
                Completion::Verified {
                    ticket,
                    account: name,
                    ok,
                } => account::on_verified(&mut self.cx(ticket.conn.slot, now), &ticket, &name, ok),
                Completion::Queue { ticket, rows } => {
                    account::on_queue(&mut self.cx(ticket.conn.slot, now), &ticket, rows)
                }
                Completion::Memberships { ticket, channels } => {
                    account::on_memberships(&mut self.cx(ticket.conn.slot, now), &ticket, channels)
                }
                Completion::History { ticket, messages } => {
                    history::on_history(&mut self.cx(ticket.conn.slot, now), &ticket, messages)
                }
                Completion::ReadFailed { ticket, why } => {
                    history::on_read_failed(&mut self.cx(ticket.conn.slot, now), &ticket, &why)
                }
                Completion::Targets { ticket, targets } => {
                    history::on_targets(&mut self.cx(ticket.conn.slot, now), &ticket, targets)
                }
                Completion::Synced { .. }
                | Completion::Accounts { .. }
                | Completion::Stats { .. }
                | Completion::Backup { .. } => {}
            }
        }
    }
}
