//! Output: the end of each pass (log batch to the store, teardown of closed
//! connections, one flush per dirty connection) and the teardown itself.

use super::Server;
use crate::cmd::{account, channel};
use crate::outgoing::Outgoing;
use crate::store::Request;
use chatd_proto::Message;
use mio::{Interest, Token};

impl Server {
    /// Tears down closed connections and flushes dirty ones, until neither is left.
    pub(super) fn end_of_pass(&mut self) {
        self.feed_admin();
        self.admin.flush_all(self.poll.registry());
        if !self.state.log_batch.is_empty() {
            // The next pass's batch starts with this one's size, so it is not grown
            // from nothing again, one reallocation after another, on every pass.
            let size = self.state.log_batch.len();
            let batch = std::mem::replace(&mut self.state.log_batch, Vec::with_capacity(size));
            if let Some(store) = &self.store {
                store.send(Request::Log(batch));
            }
            self.check_store_backlog(self.clock.now());
        }
        loop {
            while let Some(slot) = self.conns.closing.pop() {
                self.teardown(slot);
            }
            for slot in self.conns.take_dirty() {
                self.flush(slot);
            }
            if self.conns.closing.is_empty() {
                break;
            }
        }
        self.feed_bus();
        let ready = !self.store_failing && self.bus_ready();
        self.ready
            .store(ready, std::sync::atomic::Ordering::Relaxed);
    }

    pub(super) fn flush(&mut self, slot: usize) {
        let result = loop {
            let Some(conn) = self.conns.get_mut(slot) else {
                return;
            };
            let result = conn.flush();
            let rows = conn.take_written_rows();
            let refill = matches!(result, Ok(true)) && conn.backlog_len() > 0;
            if !rows.is_empty() {
                if let Some(store) = &self.store {
                    store.send(Request::Dequeue { ids: rows });
                }
            }
            if !refill {
                break result;
            }
            self.conns.pump(slot);
        };
        account::finish_replay_if_done(&mut self.cx(slot, self.clock.now()), slot);
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        match result {
            Ok(drained) => {
                if drained == conn.write_interest {
                    let interest = if drained {
                        Interest::READABLE
                    } else {
                        Interest::READABLE | Interest::WRITABLE
                    };
                    match self
                        .poll
                        .registry()
                        .reregister(&mut conn.sock, Token(slot), interest)
                    {
                        Ok(()) => conn.write_interest = !drained,
                        Err(e) => self.conns.close(slot, &format!("Write error: {e}")),
                    }
                }
            }
            Err(e) => {
                if conn.closing.is_none() {
                    self.conns.close(slot, &format!("Write error: {e}"));
                }
            }
        }
    }

    /// Tells everyone who shared a channel, drops the nick and memberships, sends
    /// `ERROR` to the leaver and closes the socket.
    pub(super) fn teardown(&mut self, slot: usize) {
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        self.closed_since_release += 1;
        let reason = conn.closing.clone().unwrap_or_default();
        let registered = conn.user.registered;
        let invisible = conn.user.invisible;
        let host = conn.user.host.clone();
        let nick = conn.user.nick.clone();
        let peer = conn.peer;
        let (remote, serial) = (conn.is_remote(), conn.id.serial);
        let counts = &mut self.state.counts;
        match (registered, invisible) {
            (false, _) => counts.unregistered -= 1,
            (true, inv) => {
                counts.registered -= 1;
                counts.invisible -= usize::from(inv);
            }
        }
        // Another node's user: with one shared database, its node writes what its
        // leaving changes (the QUIT events, memberships), not this one.
        let shared = remote && !self.config.cluster.database.is_empty();
        if let Some(store) = self.store.as_ref() {
            store.mute_origin_writes(shared);
        }
        let mut cx = self.cx(slot, self.clock.now());
        if registered {
            let quit = cx.relay_from(slot, "QUIT", vec![reason.to_string()]);
            crate::cmd::history::log_user_event(&mut cx, slot, &quit);
            let mut out = Outgoing::new(quit.with_trailing());
            cx.send_to_peers(slot, &mut out, false, None);
            crate::cmd::whowas::remember(&mut cx, slot);
            crate::cmd::monitor::went_offline(&mut cx, &nick);
        }
        crate::cmd::monitor::clear(&mut cx, slot);
        if let Some(name) = cx.user().account.clone().filter(|_| !remote) {
            account::end_session(&mut cx, slot, &name);
        }
        if !remote {
            leave_cluster(&mut cx, registered, serial, &nick, &reason);
        }
        for folded in cx.user().channels.clone() {
            channel::remove_member(&mut cx, &folded, slot);
        }
        let folded = chatd_proto::fold(&nick);
        if cx.state.nicks.get(&folded) == Some(&slot) {
            cx.state.nicks.remove(&folded);
        }
        let error =
            Message::new("ERROR", [format!("Closing Link: {host} ({reason})")]).with_trailing();
        cx.conns.send_msg(slot, &error);
        drop(cx);
        if let Some(store) = self.store.as_ref() {
            store.mute_origin_writes(false);
        }
        let mut conn = self.conns.slab.remove(slot);
        if remote {
            self.forget_remote(&conn);
        }
        if let Some(n) = self.state.per_ip.get_mut(&*conn.ip_key) {
            *n -= 1;
            if *n == 0 {
                self.state.per_ip.remove(&*conn.ip_key);
            }
        }
        let _ = conn.flush();
        conn.close_transport();
        let _ = self.poll.registry().deregister(&mut conn.sock);
        conn.sock.shutdown();
        log::info!("conn={slot} nick={nick} peer={peer} closed: {reason}");
    }
}

/// A local user leaves: the other nodes see its QUIT, and its nick is released.
fn leave_cluster(cx: &mut crate::cmd::Cx, registered: bool, serial: u64, nick: &str, reason: &str) {
    use crate::cluster::{Event, Outbox};
    let node = cx.state.cluster.node;
    if registered {
        cx.state.cluster.push(Outbox::Publish {
            to: None,
            event: Event::Quit {
                node,
                serial,
                reason: reason.to_string(),
            },
        });
    }
    if nick != "*" {
        cx.state.cluster.push(Outbox::Release {
            nick: chatd_proto::fold(nick),
        });
    }
}
