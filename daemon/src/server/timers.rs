//! The timer heaps: flood-control resumes, nick-ownership checks and each
//! connection's liveness (registration, TLS handshake, PING, ping timeout); and the
//! hourly look for unused registered channels to expire.

use super::input::STORE_BEHIND_POLL;
use super::memory::RELEASE_EVERY;
use super::Server;
use crate::cmd::account;
use chatd_proto::Message;
use std::cmp::Reverse;
use std::time::{Duration, Instant};

/// How often registered channels are looked at for expiry.
const EXPIRY_EVERY: Duration = Duration::from_secs(3600);

impl Server {
    /// How long the next poll may wait: zero while a connection has input left to
    /// read, a short look while reading is paused for the store, else until the
    /// next timer (or the next memory release) is due.
    pub(super) fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.read_again.is_empty() && !self.store_behind {
            Some(Duration::ZERO)
        } else if self.store_behind {
            // The store wakes the loop when it has caught up; this is the fallback
            // for a wake that raced with the pause.
            Some(STORE_BEHIND_POLL)
        } else {
            let next = [
                self.timers.peek(),
                self.state.nick_checks.peek(),
                self.resume.peek(),
            ]
            .into_iter()
            .flatten()
            .map(|Reverse((at, _, _))| *at)
            .chain((self.closed_since_release > 0).then_some(self.last_release + RELEASE_EVERY))
            .chain(
                (self.config.channels.registered_expire_days > 0).then_some(self.next_expiry_check),
            )
            .chain(self.refresh.due())
            .min();
            next.map(|at| at.saturating_duration_since(now))
        }
    }

    pub(super) fn run_timers(&mut self, now: Instant) {
        self.refresh_if_due(now);
        let days = self.config.channels.registered_expire_days;
        if days > 0 && now >= self.next_expiry_check {
            self.next_expiry_check = now + EXPIRY_EVERY;
            if let Some(store) = &self.store {
                crate::cmd::chanserv::expire(&mut self.state, store, self.clock.unix_secs(), days);
            }
        }
        while let Some(&Reverse((at, slot, serial))) = self.resume.peek() {
            if at > now {
                break;
            }
            self.resume.pop();
            let Some(conn) = self.conns.get_mut(slot) else {
                continue;
            };
            if conn.id.serial != serial || !conn.throttled {
                continue;
            }
            conn.throttled = false;
            // Lines already read first; then whatever the socket has (edge-triggered).
            self.read(slot, now);
        }
        while let Some(&Reverse((at, slot, serial))) = self.state.nick_checks.peek() {
            if at > now {
                break;
            }
            self.state.nick_checks.pop();
            if self
                .conns
                .get(slot)
                .is_some_and(|c| c.id.serial == serial && c.closing.is_none())
            {
                account::enforce_nick(&mut self.cx(slot, now));
            }
        }
        while let Some(&Reverse((at, slot, serial))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(conn) = self.conns.get_mut(slot) else {
                continue;
            };
            if conn.id.serial != serial || conn.closing.is_some() {
                continue;
            }
            let next = if !conn.user.registered {
                let deadline = conn.connected_at + self.config.registration_timeout();
                let handshake = conn.connected_at + self.config.handshake_timeout();
                if conn.handshaking() {
                    if now >= handshake {
                        self.conns.close(slot, "TLS handshake timed out");
                        continue;
                    }
                    deadline.min(handshake)
                } else if now >= deadline {
                    self.conns.close(slot, "Registration timed out");
                    continue;
                } else {
                    deadline
                }
            } else if let Some(sent) = conn.ping_sent {
                let deadline = sent + self.config.ping_timeout();
                if now >= deadline {
                    let secs = now.saturating_duration_since(conn.last_seen).as_secs();
                    self.conns
                        .close(slot, &format!("Ping timeout: {secs} seconds"));
                    continue;
                }
                deadline
            } else {
                let idle_until = conn.last_seen + self.config.ping_interval();
                if now >= idle_until {
                    conn.ping_sent = Some(now);
                    let name = self.config.server.name.clone();
                    self.conns.send_msg(slot, &Message::new("PING", [name]));
                    now + self.config.ping_timeout()
                } else {
                    idle_until
                }
            };
            self.timers.push(Reverse((next, slot, serial)));
        }
    }
}
