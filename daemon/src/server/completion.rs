//! Store and hasher answers: draining them on a wake, routing each to the command
//! (or admin request) that waits for it, and telling operators of the store's health.

use super::Server;
use crate::admin::commands as admin_cmd;
use crate::cmd::{self, account, history, message, Cx};
use crate::followup::{FollowUp, Then};
use crate::ids::ConnId;
use crate::store::Completion;
use chatd_proto::Message;
use std::time::Instant;

impl Server {
    /// Finishes the commands whose store or password work is done.
    pub(super) fn take_completions(&mut self, now: Instant) {
        while let Ok(done) = self.completions.try_recv() {
            self.complete(done, now);
        }
        self.take_bus(now);
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
        for slot in self.conns.operators() {
            self.conns.send_msg(slot, &msg);
        }
    }

    /// Runs one store or hasher answer, by what its ticket's [`FollowUp`] says. If a
    /// client's lines waited for it (sent with [`Cx::ask`](cmd::Cx::ask)) and it was
    /// the last, the lines that waited are handled now.
    pub(super) fn complete(&mut self, done: Completion, now: Instant) {
        let Some(follow) = self.state.followups.take(done.ticket()) else {
            log::error!("store: an answer ({}) nobody asked for", done.kind());
            return;
        };
        let (id, holds_lines, then, label) = match follow {
            FollowUp::Client {
                id,
                holds_lines,
                then,
                label,
            } => (id, holds_lines, then, label),
            FollowUp::Admin { request } => {
                admin_cmd::complete(&mut self.ctl(now), request, done);
                return;
            }
            FollowUp::Settle => return,
            FollowUp::Prefetch { account } => {
                match done {
                    Completion::Account { result, .. } => {
                        account::take_fetched_rows(&mut self.state, &account, result)
                    }
                    other => log::error!("store: an account read answered with {}", other.kind()),
                }
                return;
            }
            FollowUp::Refresh { writes } => {
                match done {
                    Completion::Reloaded { loaded, .. } => self.on_reloaded(writes, loaded, now),
                    other => log::error!("store: a refresh answered with {}", other.kind()),
                }
                return;
            }
        };
        if let Completion::Verified { .. } | Completion::Registered { .. } = &done {
            // The address's next password check, if one waits, may go to the hasher.
            if let (Some(next), Some(store)) = (self.state.hashing.finished(id), &self.store) {
                store.send(next);
            }
        }
        let mut cx = self.cx(id.slot, now);
        if let Some(label) = label.filter(|_| cx.alive(id)) {
            // The answer's replies finish the labeled response the command began.
            cx.replies.resume(label);
        }
        follow_up(&mut cx, id, then, done);
        drop(cx);
        if holds_lines {
            self.count_down(id, now);
        }
    }

    /// One answer a client's lines waited for came: at the last, the lines that
    /// waited are handled.
    pub(super) fn count_down(&mut self, id: ConnId, now: Instant) {
        let Some(conn) = self.conns.get_mut(id.slot).filter(|c| c.id == id) else {
            return;
        };
        conn.awaiting = conn.awaiting.saturating_sub(1);
        if conn.awaiting == 0 {
            // The lines read meanwhile, then whatever the socket has (edge-triggered).
            self.read(id.slot, now);
        }
    }
}

/// Hands a client's answer to the command that asked for it: the one route table.
fn follow_up(cx: &mut Cx, id: ConnId, then: Then, done: Completion) {
    match (then, done) {
        (
            Then::Login { door },
            Completion::Verified {
                account, ok, scram, ..
            },
        ) => account::on_verified(cx, id, (door, &account), ok, scram),
        (
            Then::Lookup {
                door,
                account,
                password,
            },
            Completion::Account { result, .. },
        ) => account::on_account_fetched(cx, id, (door, &account), password, result),
        (
            Then::ChanServ {
                as_command,
                account,
                words,
            },
            Completion::Account { result, .. },
        ) => cmd::chanserv::on_account_fetched(cx, id, (as_command, &account, &words), result),
        (Then::ScramLookup { first }, Completion::Account { result, .. }) => {
            account::sasl::on_scram_account_fetched(cx, id, &first.0, result)
        }
        (Then::Oper { name }, Completion::Verified { ok, .. }) => {
            cmd::oper::on_verified(cx, id, &name, ok)
        }
        (Then::Register { door, name }, Completion::Registered { result, .. }) => {
            account::on_registered(cx, id, (door, &name), result)
        }
        (Then::Queued { command, target }, Completion::Queued { result, .. }) => {
            message::on_queued(cx, id, (command, &target), result)
        }
        (
            Then::History {
                from,
                target,
                floor,
            },
            Completion::History { messages, .. },
        ) => history::on_history(cx, id, (&from, &target, floor), messages),
        (Then::History { from, target, .. }, Completion::ReadFailed { why, .. }) => {
            history::on_read_failed(cx, id, Some((&from, &target)), &why)
        }
        (Then::Targets, Completion::Targets { targets, .. }) => {
            history::on_targets(cx, id, targets)
        }
        (Then::Targets, Completion::ReadFailed { why, .. }) => {
            history::on_read_failed(cx, id, None, &why)
        }
        (
            Then::Redact {
                target,
                msgid,
                reason,
            },
            Completion::Redacted { result, .. },
        ) => cmd::redact::on_redacted(cx, id, (&target, &msgid, &reason), result),
        (Then::Redact { target, msgid, .. }, Completion::ReadFailed { why, .. }) => {
            cmd::redact::on_failed(cx, id, (&target, &msgid), &why)
        }
        (Then::QueuePage { account, before }, Completion::Queue { rows, .. }) => {
            account::on_queue(cx, id, (&account, before), rows)
        }
        (Then::Memberships, Completion::Memberships { channels, .. }) => {
            account::on_memberships(cx, id, channels)
        }
        (then, done) => log::error!("store: {then:?} answered with {}", done.kind()),
    }
}
