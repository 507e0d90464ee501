//! The cluster bus room: hands what the command layer queued (`State.cluster.out`)
//! to the bus threads at the end of each pass, and routes what they tell the loop:
//! nick claims answered (by their ticket's follow-up, like a store answer), the
//! other nodes' users arriving, changing and leaving, the commands they ran, a node
//! gone, and the bus itself going down and coming back.

use super::Server;
use crate::cluster::{Bus, Event, FromBus, Outbox, ToBus, UserInfo};
use crate::cmd::{self, account, Cx};
use crate::conn::{Conn, Sock};
use crate::followup::{FollowUp, Then};
use crate::state::User;
use chatd_proto::{fold, parse, Message};
use std::collections::HashMap;
use std::time::Instant;

/// The loop's side of the bus.
pub(super) struct BusRoom {
    pub(super) bus: Bus,
    /// (node, serial on that node) → the slot of that remote user here.
    remote: HashMap<(u16, u64), usize>,
    /// Node id → name, as each announced itself.
    names: HashMap<u16, String>,
    /// Local users were told the bus is down (and must hear that it is back).
    told_down: bool,
}

impl BusRoom {
    pub(super) fn new(bus: Bus) -> BusRoom {
        BusRoom {
            bus,
            remote: HashMap::new(),
            names: HashMap::new(),
            told_down: false,
        }
    }

    fn name_of(&self, node: u16) -> String {
        self.names
            .get(&node)
            .cloned()
            .unwrap_or_else(|| format!("node{node}"))
    }
}

impl Server {
    /// Runs what the bus threads told the loop.
    pub(super) fn take_bus(&mut self, now: Instant) {
        loop {
            let Some(room) = &self.bus else {
                return;
            };
            let Ok(news) = room.bus.rx.try_recv() else {
                return;
            };
            match news {
                FromBus::Up { hello } => self.bus_up(hello),
                FromBus::Down(why) => self.bus_down(&why),
                FromBus::Claimed { ticket, result } => self.claimed(ticket, result, now),
                FromBus::NodeDown { node } => {
                    let name = self.bus.as_ref().map(|r| r.name_of(node));
                    let reason = format!(
                        "{} left the network (no heartbeat)",
                        name.unwrap_or_default()
                    );
                    self.drop_node(node, None, &reason);
                }
                FromBus::Event(event) => self.bus_event(event, now),
                FromBus::IdTaken(why) => {
                    self.admin_state.shutdown =
                        Some("This server stops: its cluster id is in use by another node".into());
                    self.fatal = Some(crate::cluster::IdTaken(why));
                }
            }
        }
    }

    /// Hands what the command layer queued to the bus threads (end of each pass).
    pub(super) fn feed_bus(&mut self) {
        if self.state.cluster.out.is_empty() {
            return;
        }
        let out = std::mem::take(&mut self.state.cluster.out);
        let Some(room) = &self.bus else {
            return;
        };
        for item in out {
            let request = match item {
                Outbox::Arrived(slot) => {
                    let Some(user) = cmd::cluster::user_info(&self.conns, &self.state, slot) else {
                        continue;
                    };
                    let node = room.bus.node;
                    ToBus::Publish {
                        to: None,
                        event: Event::Arrive { node, user },
                    }
                }
                Outbox::Publish { to, event } => ToBus::Publish { to, event },
                Outbox::Claim { ticket, nick } => ToBus::Claim { ticket, nick },
                Outbox::Hold { nick } => ToBus::Hold { nick },
                Outbox::Release { nick } => ToBus::Release { nick },
            };
            room.bus.send(request);
        }
    }

    /// Sends what is left and stops the bus threads (shutdown).
    pub(super) fn close_bus(&mut self) {
        self.feed_bus();
        if let Some(room) = self.bus.take() {
            room.bus.close();
            log::info!("cluster: left the bus");
        }
    }

    /// Whether the bus is up (or this node is not in a cluster): readiness.
    pub fn bus_ready(&self) -> bool {
        self.bus.as_ref().is_none_or(|r| r.bus.health.is_up())
    }

    /// A remote user's teardown: forgets its id.
    pub(super) fn forget_remote(&mut self, conn: &Conn) {
        if let Some(room) = &mut self.bus {
            let key = (conn.node, conn.remote_serial);
            if room.remote.get(&key) == Some(&conn.id.slot) {
                room.remote.remove(&key);
            }
        }
    }

    fn local_users(&self) -> Vec<usize> {
        self.conns
            .slab
            .iter()
            .filter(|(_, c)| !c.is_remote() && c.user.registered && c.closing.is_none())
            .map(|(s, _)| s)
            .collect()
    }

    /// Tells every local user something about the cluster.
    fn notice_all(&mut self, text: &str) {
        let server = self.config.server.name.clone();
        for slot in self.local_users() {
            let nick = self.conns.get(slot).map(|c| c.user.nick.clone());
            let msg = Message::new("NOTICE", [nick.unwrap_or_default(), text.to_string()])
                .with_source(server.as_str());
            self.conns.send_msg(slot, &msg);
        }
    }

    /// The bus is reachable and subscribed (at start, or again): this node holds its
    /// users' nicks again, says hello (the others answer with their users) and sends
    /// its own users.
    fn bus_up(&mut self, hello: bool) {
        self.state.cluster.up = true;
        let Some(room) = &mut self.bus else {
            return;
        };
        let was_down = std::mem::take(&mut room.told_down);
        let (node, name) = (room.bus.node, room.bus.name.clone());
        let nicks: Vec<String> = self
            .conns
            .slab
            .iter()
            .filter(|(_, c)| !c.is_remote() && c.user.has_nick())
            .map(|(_, c)| fold(&c.user.nick))
            .collect();
        for nick in nicks {
            room.bus.send(ToBus::Hold { nick });
        }
        if hello {
            room.bus.send(ToBus::Publish {
                to: None,
                event: Event::Hello {
                    node,
                    name: name.clone(),
                },
            });
        }
        let burst = self.burst();
        if let Some(room) = &self.bus {
            room.bus.send(ToBus::Publish {
                to: None,
                event: burst,
            });
        }
        if was_down {
            self.notice_all(
                "The link to the rest of the network is back: everyone sees you again, \
                 and nick changes work.",
            );
        }
    }

    fn bus_down(&mut self, why: &str) {
        self.state.cluster.up = false;
        let Some(room) = &mut self.bus else {
            return;
        };
        if std::mem::replace(&mut room.told_down, true) {
            return;
        }
        log::warn!("cluster: the bus is down ({why}); serving local users only");
        self.notice_all(
            "This server lost its link to the rest of the network: users on other \
             servers see what you send only once it is back (a long outage may lose \
             some), and nick changes are refused until then. It reconnects on its own.",
        );
    }

    /// Every local registered user, for the other nodes.
    fn burst(&self) -> Event {
        let (node, name) = self
            .bus
            .as_ref()
            .map(|r| (r.bus.node, r.bus.name.clone()))
            .unwrap_or_default();
        let users: Vec<UserInfo> = self
            .local_users()
            .into_iter()
            .filter_map(|slot| cmd::cluster::user_info(&self.conns, &self.state, slot))
            .collect();
        let mut names: Vec<String> = users
            .iter()
            .flat_map(|u| u.channels.iter().map(|(c, _)| fold(c)))
            .collect();
        names.sort();
        names.dedup();
        let channels = names
            .iter()
            .filter_map(|n| self.state.channels.get(n))
            .map(cmd::cluster::chan_info)
            .collect();
        Event::Burst {
            node,
            name,
            users,
            channels,
        }
    }

    /// A nick claim's answer: routed by its ticket's follow-up like a store answer.
    fn claimed(
        &mut self,
        ticket: crate::store::Ticket,
        result: Result<bool, String>,
        now: Instant,
    ) {
        let Some(FollowUp::Client {
            id,
            holds_lines,
            then: Then::NickClaim { nick },
            label,
        }) = self.state.followups.take(ticket)
        else {
            log::error!("cluster: a nick claim answer nobody waits for");
            return;
        };
        let mut cx = self.cx(id.slot, now);
        if let Some(label) = label.filter(|_| cx.alive(id)) {
            cx.replies.resume(label);
        }
        cmd::cluster::on_nick_claimed(&mut cx, id, &nick, result);
        drop(cx);
        if holds_lines {
            self.count_down(id, now);
        }
    }

    /// Removes every user of `node` (all, or those not in `keep`), with a QUIT.
    fn drop_node(&mut self, node: u16, keep: Option<&[u64]>, reason: &str) {
        let Some(room) = &mut self.bus else {
            return;
        };
        let gone: Vec<(u64, usize)> = room
            .remote
            .iter()
            .filter(|((n, serial), _)| *n == node && keep.is_none_or(|k| !k.contains(serial)))
            .map(|((_, serial), slot)| (*serial, *slot))
            .collect();
        for (serial, slot) in gone {
            room.remote.remove(&(node, serial));
            self.conns.close(slot, reason);
        }
    }

    fn bus_event(&mut self, event: Event, now: Instant) {
        let Some(room) = &mut self.bus else {
            return;
        };
        match event {
            Event::Hello { node, name } => {
                room.names.insert(node, name);
                let burst = self.burst();
                if let Some(room) = &self.bus {
                    room.bus.send(ToBus::Publish {
                        to: Some(node),
                        event: burst,
                    });
                }
            }
            Event::Burst {
                node,
                name,
                users,
                channels,
            } => {
                room.names.insert(node, name.clone());
                let serials: Vec<u64> = users.iter().map(|u| u.serial).collect();
                let reason = format!("{name} restarted");
                self.drop_node(node, Some(&serials), &reason);
                for user in users {
                    self.add_remote(node, user, now);
                }
                for info in &channels {
                    cmd::cluster::apply_chan_info(&self.conns, &mut self.state, info);
                }
            }
            Event::Arrive { node, user } => self.add_remote(node, user, now),
            Event::Nick { node, serial, nick } => {
                if let Some(slot) = remote_slot(room, &self.conns, node, serial) {
                    // Its NICK events are logged by its node when the database is shared.
                    let shared = !self.config.cluster.database.is_empty();
                    if let Some(store) = self.store.as_ref() {
                        store.mute_origin_writes(shared);
                    }
                    account::change_nick(&mut self.cx(slot, now), &nick);
                    if let Some(store) = self.store.as_ref() {
                        store.mute_origin_writes(false);
                    }
                }
            }
            Event::Quit {
                node,
                serial,
                reason,
            } => {
                if let Some(slot) = room.remote.remove(&(node, serial)) {
                    self.conns.close(slot, &reason);
                }
            }
            Event::Account {
                node,
                serial,
                account,
            } => {
                if let Some(conn) =
                    remote_slot(room, &self.conns, node, serial).and_then(|s| self.conns.get_mut(s))
                {
                    conn.user.account = account.clone();
                }
                if let Some(account) = account {
                    self.prefetch_account(&account);
                }
            }
            Event::Oper { node, serial, oper } => {
                if let Some(conn) =
                    remote_slot(room, &self.conns, node, serial).and_then(|s| self.conns.get_mut(s))
                {
                    conn.user.oper = oper.map(Into::into);
                }
            }
            Event::Kill { serial, reason, .. } => {
                let victim = self
                    .conns
                    .slab
                    .iter()
                    .find(|(_, c)| !c.is_remote() && c.id.serial == serial)
                    .map(|(s, _)| s);
                if let Some(slot) = victim {
                    self.conns.close(slot, &reason);
                }
            }
            Event::Line {
                node,
                serial,
                line,
                ids,
                created,
            } => {
                let Some(slot) = remote_slot(room, &self.conns, node, serial) else {
                    log::debug!("cluster: a command from an unknown user of node {node}");
                    return;
                };
                match parse(&line) {
                    Ok(msg) => {
                        self.run_remote(slot, now, ids, &created, |cx| cmd::dispatch(cx, &msg))
                    }
                    Err(_) => log::warn!("cluster: an unparsable command from node {node}"),
                }
            }
            Event::Rejoin {
                node,
                serial,
                channel,
                incarnation,
                ids,
                created,
            } => {
                if let Some(slot) = remote_slot(room, &self.conns, node, serial) {
                    self.run_remote(slot, now, ids, &created, |cx| {
                        cmd::channel::rejoin(cx, &channel, incarnation)
                    });
                }
            }
        }
    }

    /// Runs another node's command here as its user (`slot`), with the ids its node
    /// gave out for it (`ids`); with one shared database, its writes are that node's.
    /// A channel both nodes created at once is settled first (`created`).
    fn run_remote(
        &mut self,
        slot: usize,
        now: Instant,
        ids: Vec<i64>,
        created: &[(String, i64)],
        run: impl FnOnce(&mut Cx),
    ) {
        let shared = !self.config.cluster.database.is_empty();
        let store = self.store.as_ref().expect("the store is open");
        store.mute_origin_writes(shared);
        self.state.cluster.origin_ids = ids.into();
        let adopted = cmd::cluster::settle_creations(&mut self.cx(slot, now), created);
        run(&mut self.cx(slot, now));
        self.state.cluster.origin_ids.clear();
        self.state.cluster.given.clear();
        self.state.cluster.created.clear();
        if let Some(store) = self.store.as_ref() {
            store.mute_origin_writes(false);
        }
        if !adopted.is_empty() {
            cmd::cluster::crown_creator(&mut self.cx(slot, now), &adopted);
        }
    }

    /// With one shared database: reads the account a user of another node logged in
    /// to, if this node does not know it yet (registered there since the last
    /// refresh), so roles by account and ChanServ find it here too.
    fn prefetch_account(&mut self, account: &str) {
        if self.config.cluster.database.is_empty() || self.state.account(account).is_some() {
            return;
        }
        let name = account.to_string();
        let ticket = self.state.followups.open(FollowUp::Prefetch {
            account: name.clone(),
        });
        if let Some(store) = &self.store {
            store.send(crate::store::Request::FetchAccount { ticket, name });
        }
    }

    /// A user of another node, now known here: a connection with no socket.
    fn add_remote(&mut self, node: u16, info: UserInfo, now: Instant) {
        let Some(room) = &mut self.bus else {
            return;
        };
        if room.remote.contains_key(&(node, info.serial)) {
            return;
        }
        let folded = fold(&info.nick);
        if let Some(&holder) = self.state.nicks.get(&folded) {
            match self.conns.get(holder) {
                Some(c) if c.is_remote() => {
                    // A stale entry (that user's QUIT was lost): the newer one wins.
                    self.conns.close(holder, "Nick collision");
                    self.state.nicks.remove(&folded);
                }
                Some(_) => {
                    // Both nodes granted it while they could not reach each other.
                    log::warn!("cluster: {} is held here and on node {node}", info.nick);
                    cmd::cluster::lost_nick(&mut self.cx(holder, now));
                }
                None => {}
            }
        }
        let Some(room) = &mut self.bus else {
            return;
        };
        let id = self.conns.next_id();
        let mut user = User::new(info.host, chrono::Utc::now().timestamp(), now);
        user.nick = info.nick;
        user.user = info.user.into();
        user.realname = info.realname.into();
        user.account = info.account;
        user.away = info.away.map(Into::into);
        user.oper = info.oper.map(Into::into);
        user.registered = true;
        // Its node checked what it may send; here it may send what the clients of
        // this node may receive, multiline batches included.
        user.caps.set(crate::state::Cap::Batch, true);
        user.caps.set(crate::state::Cap::Multiline, true);
        let peer = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
        let mut conn = Conn::new(id, Sock::Remote, peer, user, now);
        conn.node = node;
        conn.remote_serial = info.serial;
        let slot = self.conns.slab.insert(conn);
        room.remote.insert((node, info.serial), slot);
        self.state.nicks.insert(folded, slot);
        let counts = &mut self.state.counts;
        counts.registered += 1;
        counts.peak = counts.peak.max(counts.registered);
        if let Some(account) = self.conns.get(slot).and_then(|c| c.user.account.clone()) {
            self.prefetch_account(&account);
        }
        let mut cx = self.cx(slot, now);
        cmd::cluster::add_channels(&mut cx, &info.channels);
        cmd::monitor::came_online(&mut cx, slot);
    }
}

/// The slot of `node`'s user `serial` here, checked against the connection in it (a
/// slot is reused once freed).
fn remote_slot(
    room: &BusRoom,
    conns: &crate::conn::Conns,
    node: u16,
    serial: u64,
) -> Option<usize> {
    room.remote.get(&(node, serial)).copied().filter(|&s| {
        conns
            .get(s)
            .is_some_and(|c| c.node == node && c.remote_serial == serial)
    })
}
