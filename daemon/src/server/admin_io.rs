//! The admin socket as the loop serves it: requests in, the `Ctl` they run against,
//! and the tapped messages and log lines streamed to followers.

use super::Server;
use crate::admin::commands::{self as admin_cmd, Ctl};
use crate::admin::logtap;
use std::time::Instant;

impl Server {
    /// The parts admin commands work with.
    pub(super) fn ctl(&mut self, now: Instant) -> Ctl<'_> {
        let started = self.state.started;
        Ctl {
            admin: &mut self.admin,
            st: &mut self.admin_state,
            conns: &mut self.conns,
            state: &mut self.state,
            config: &mut self.config,
            motd: &mut self.motd,
            store: self
                .store
                .as_ref()
                .expect("the store is open while the loop runs"),
            tls: &mut self.tls_config,
            now,
            started,
        }
    }

    /// Requests from an admin connection.
    pub(super) fn admin_event(&mut self, slot: usize, now: Instant) {
        let requests = self.admin.read(slot);
        for line in &requests.lines {
            admin_cmd::run(&mut self.ctl(now), slot, line);
        }
        if requests.too_long {
            self.admin.refuse_long_line(slot);
        }
        self.admin.flush(slot, self.poll.registry());
        self.update_tap();
    }

    /// Turns message and log tapping on while someone follows.
    pub(super) fn update_tap(&mut self) {
        let following = self.admin.following();
        self.state.tap = following;
        logtap::follow(self.admin.follow_level());
    }

    /// Streams tapped messages and log lines to the admin connections following them.
    pub(super) fn feed_admin(&mut self) {
        use chatd_admin_proto::{wire, Event, LogLine};
        if !self.state.tap {
            return;
        }
        let messages = std::mem::take(&mut self.state.tapped);
        let lines = logtap::take();
        if messages.is_empty() && lines.is_empty() {
            return;
        }
        let mut sends = Vec::new();
        for (slot, conn) in self.admin.conns.iter() {
            for stream in &conn.streams {
                for m in messages
                    .iter()
                    .filter(|m| admin_cmd::stream_shows(&stream.filter, m))
                {
                    let event = Event::Message(admin_cmd::logged_message(m));
                    sends.push((slot, wire::event(&stream.id, &event)));
                }
                for l in lines.iter().filter(|l| l.level <= stream.level) {
                    let event = Event::Log(LogLine {
                        level: l.level.as_str().to_string(),
                        text: l.text.clone(),
                        time: l.time.clone(),
                    });
                    sends.push((slot, wire::event(&stream.id, &event)));
                }
            }
        }
        for (slot, value) in sends {
            self.admin.send(slot, &value);
        }
    }
}
