//! The cluster bus: what a node shares with the other nodes of a cluster through
//! Redis (`[cluster] redis`). [`Bus`] is the loop's handle on the bus threads
//! (`link.rs`): one owns the command connection (heartbeat, nick claims, publishing,
//! watching the other nodes' heartbeats), one (`stream.rs`) reads the streams. They talk
//! to the loop through channels and its `Waker`, like the store thread. The wire
//! format of what nodes publish is [`Event`] (JSON). The loop's side (routing the
//! events, remote users) is `server/bus.rs` and `cmd/cluster.rs`.

mod link;
mod stream;

use crate::store::Ticket;
use serde::{Deserialize, Serialize};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

pub use link::{start, Settings};

/// A user of a node as the other nodes learn it: at its arrival and in bursts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserInfo {
    /// The connection's serial on its node: with the node, the user's id.
    pub serial: u64,
    pub nick: String,
    pub user: String,
    pub host: String,
    pub realname: String,
    pub account: Option<String>,
    pub away: Option<String>,
    /// (channel name, role letters `qohv` held) for each channel joined.
    pub channels: Vec<(String, String)>,
    /// The `[[oper]]` it is, if an IRC operator (its privileges are the receiving
    /// node's config's for that name: every node has the same `[[oper]]` blocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oper: Option<String>,
}

/// A channel as a node bursts it: what a node that has none of its members can
/// not have seen (topic, modes, lists).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChanInfo {
    pub name: String,
    /// (text, setter, time).
    pub topic: Option<(String, String, i64)>,
    /// The flag modes set, as letters (`Cimnpst`).
    pub flags: String,
    pub key: Option<String>,
    pub limit: Option<usize>,
    /// `+b`, `+e`, `+I`: (mask, setter, time).
    pub bans: Vec<(String, String, i64)>,
    pub exceptions: Vec<(String, String, i64)>,
    pub invex: Vec<(String, String, i64)>,
}

/// What one node publishes for the others (JSON in the Redis streams
/// `chatd:all` and `chatd:node:<id>`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "t")]
pub enum Event {
    /// A node (re)joined the bus: the others answer with a [`Event::Burst`].
    Hello { node: u16, name: String },
    /// Every registered user of `node`, complete: the receiver drops the ones of
    /// that node it knew and are not listed.
    Burst {
        node: u16,
        name: String,
        users: Vec<UserInfo>,
        /// The channels its users are in.
        #[serde(default)]
        channels: Vec<ChanInfo>,
    },
    /// A user finished registering.
    Arrive { node: u16, user: UserInfo },
    /// A user changed nick (claimed first).
    Nick {
        node: u16,
        serial: u64,
        nick: String,
    },
    /// A user left.
    Quit {
        node: u16,
        serial: u64,
        reason: String,
    },
    /// A user logged in (`Some`) or out.
    Account {
        node: u16,
        serial: u64,
        account: Option<String>,
    },
    /// A user became an IRC operator (`Some`, the `[[oper]]` name) or stopped being
    /// one.
    Oper {
        node: u16,
        serial: u64,
        oper: Option<String>,
    },
    /// An operator of `node` killed a user of the receiving node (`serial`): it
    /// closes that connection with `reason`.
    Kill {
        node: u16,
        serial: u64,
        reason: String,
    },
    /// A command a user ran (JOIN, PRIVMSG, MODE...): the other nodes run it too, as
    /// that user, and so deliver it to their own clients.
    Line {
        node: u16,
        serial: u64,
        line: String,
        /// The ids the sending node gave out while it ran the command (message ids,
        /// event ids, a new channel's incarnation), in order: the receiving node
        /// uses them in the same order, so a message has one msgid on every node.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ids: Vec<i64>,
        /// The channels the command created on the sending node, with their
        /// incarnations: two nodes that created one channel at once keep the earlier.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        created: Vec<(String, i64)>,
    },
    /// A user rejoined a channel its account remembers (at login, after its
    /// arrival was published): the other nodes rejoin it too, in `incarnation`, past
    /// `+i`, `+k` and `+l` as on its node. `ids` and `created` as for `Line`.
    Rejoin {
        node: u16,
        serial: u64,
        channel: String,
        incarnation: i64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ids: Vec<i64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        created: Vec<(String, i64)>,
    },
}

impl Event {
    /// The node that published the event.
    pub fn node(&self) -> u16 {
        match self {
            Event::Hello { node, .. }
            | Event::Burst { node, .. }
            | Event::Arrive { node, .. }
            | Event::Nick { node, .. }
            | Event::Quit { node, .. }
            | Event::Account { node, .. }
            | Event::Oper { node, .. }
            | Event::Kill { node, .. }
            | Event::Line { node, .. }
            | Event::Rejoin { node, .. } => *node,
        }
    }
}

/// What the loop asks of the bus threads.
#[derive(Debug)]
pub enum ToBus {
    /// Publish to every node (`None`) or one.
    Publish { to: Option<u16>, event: Event },
    /// Claim a (folded) nick for this node: answered [`FromBus::Claimed`].
    Claim { ticket: Ticket, nick: String },
    /// Take a (folded) nick without waiting for the answer (a nick given by the
    /// server itself, or claimed again after Redis came back).
    Hold { nick: String },
    /// Release a (folded) nick this node held.
    Release { nick: String },
}

/// What the bus threads tell the loop.
#[derive(Debug)]
pub enum FromBus {
    /// The bus is (again) reachable and its streams are read: announce this node
    /// (with a hello, unless it is the first time: `start` published that one).
    Up { hello: bool },
    /// The bus cannot be reached; why.
    Down(String),
    /// An event another node published.
    Event(Event),
    /// A nick claim's answer: `Ok(true)` granted, `Ok(false)` another node holds it,
    /// `Err` the bus could not be asked.
    Claimed {
        ticket: Ticket,
        result: Result<bool, String>,
    },
    /// A node's heartbeat expired: it is gone, and its nicks were freed.
    NodeDown { node: u16 },
    /// Another live node took this node's id (why): this node must stop.
    IdTaken(String),
}

/// Why a node stopped on its own: another live node has its id (`run`'s error; the
/// daemon exits with code 6, as when the id is in use at start).
#[derive(Debug)]
pub struct IdTaken(pub String);

impl std::fmt::Display for IdTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for IdTaken {}

/// Things the command layer wants sent on the bus, in order; the loop's bus room
/// (`server/bus.rs`) turns them into [`ToBus`] at the end of each pass.
#[derive(Debug)]
pub enum Outbox {
    /// The user in this slot registered: announce it.
    Arrived(usize),
    /// A ready event.
    Publish {
        to: Option<u16>,
        event: Event,
    },
    Claim {
        ticket: Ticket,
        nick: String,
    },
    Hold {
        nick: String,
    },
    Release {
        nick: String,
    },
}

/// The cluster as the state sees it: whether this node is a member, its id, whether
/// the bus is up, and what to send on it.
#[derive(Debug, Default)]
pub struct View {
    /// This node's id (0: not a cluster member; nothing is sent).
    pub node: u16,
    /// The bus is reachable (new nicks may be claimed).
    pub up: bool,
    pub out: Vec<Outbox>,
    /// While another node's command runs here: the ids its node gave out for it
    /// (`Event::Line`), in order; `State::next_msg_id` takes them instead of new ones,
    /// so a message, event or channel has the same id on every node.
    pub origin_ids: std::collections::VecDeque<i64>,
    /// The ids this node gave out for the local command being run, for its
    /// `Event::Line`.
    pub given: Vec<i64>,
    /// The channels the local command being run created (name, incarnation), for its
    /// `Event::Line`.
    pub created: Vec<(String, i64)>,
}

impl View {
    pub fn enabled(&self) -> bool {
        self.node != 0
    }

    /// Queues something for the bus (nothing when not a cluster member).
    pub fn push(&mut self, item: Outbox) {
        if self.enabled() {
            self.out.push(item);
        }
    }
}

/// Whether the bus can be used right now (shared with the threads and readiness).
#[derive(Debug, Default)]
pub struct Health {
    pub up: std::sync::atomic::AtomicBool,
}

impl Health {
    pub fn is_up(&self) -> bool {
        self.up.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The loop's handle on the bus threads.
pub struct Bus {
    pub node: u16,
    pub name: String,
    tx: Sender<ToBus>,
    pub rx: Receiver<FromBus>,
    pub health: Arc<Health>,
    threads: Vec<JoinHandle<()>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Bus {
    /// Hands a request to the command thread.
    pub fn send(&self, request: ToBus) {
        if self.tx.send(request).is_err() {
            log::error!("cluster: the bus thread is gone; a request was dropped");
        }
    }

    /// Stops the threads (this node's heartbeat key is deleted, so the others see it
    /// leave at once) and waits for them.
    pub fn close(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        drop(self.tx);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
