//! The detached test API: a server with no sockets whose clients are fed bytes in
//! process (the command fuzzer, `daemon/tests/detached.rs`).

use super::Server;
use crate::conn::{Conn, Sock};
use crate::followup::FollowUp;
use crate::state::User;
use crate::store::{Completion, Request};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

impl Server {
    /// Adds a client with no socket (see [`Server::detached`]); returns its slot.
    pub fn attach(&mut self) -> usize {
        let now = self.clock.now();
        let id = self.conns.next_id();
        let peer: SocketAddr = "127.0.0.1:1".parse().expect("literal address");
        let user = User::new("127.0.0.1".into(), chrono::Utc::now().timestamp(), now);
        let mut conn = Conn::new(id, Sock::Detached(Box::default()), peer, user, now);
        conn.ip_key = "127.0.0.1".into();
        self.state.counts.unregistered += 1;
        self.conns.slab.insert(conn)
    }

    /// Hands `bytes` to an attached client as if read from its socket, runs what
    /// they ask and one loop pass (store answers that already arrived included);
    /// returns what the client was sent. Empty once the client is gone.
    pub fn feed(&mut self, slot: usize, bytes: &[u8]) -> Vec<u8> {
        let now = self.clock.now();
        if let Some(conn) = self.conns.get_mut(slot) {
            conn.lines.push(bytes);
            conn.throttled = false;
        }
        self.process_lines(slot, now);
        self.take_completions(now);
        self.run_timers(now);
        self.end_of_pass();
        self.conns
            .get_mut(slot)
            .map(|c| c.sock.take_sent())
            .unwrap_or_default()
    }

    /// Whether an attached client is still connected.
    pub fn attached(&self, slot: usize) -> bool {
        self.conns.get(slot).is_some()
    }

    /// Waits for the store to answer everything sent so far, and for every answer a
    /// client waits for (the hasher's included, and requests those answers make),
    /// and runs them.
    pub fn settle(&mut self) {
        let mine = self.state.followups.open(FollowUp::Settle);
        if let Some(store) = &self.store {
            store.send(Request::Sync { ticket: mine });
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut synced = false;
        while Instant::now() < deadline {
            if synced && !self.conns.slab.iter().any(|(_, c)| c.awaiting > 0) {
                break;
            }
            match self.completions.recv_timeout(Duration::from_millis(100)) {
                Ok(Completion::Synced { ticket }) if ticket == mine => {
                    self.state.followups.take(mine);
                    synced = true;
                }
                Ok(other) => self.complete(other, self.clock.now()),
                Err(_) => {}
            }
        }
        self.end_of_pass();
    }

    /// Graceful stop of a detached server: the store is flushed and closed.
    pub fn stop(mut self) {
        self.shutdown();
    }
}
