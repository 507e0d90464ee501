//! Live server state owned by the loop thread: the nick index and the channels.
//! Per-client identity is [`User`], held inside each connection. No I/O here.

pub mod channel;
pub mod names;
pub mod user;

pub use channel::{Channel, Member};
pub use user::{Cap, Caps, User};

use chatd_proto::fold;
use std::collections::HashMap;

/// Nick index and channels. Connections are named by their slab slot.
#[derive(Debug, Default)]
pub struct State {
    /// Folded nick → slot of the connection holding it.
    pub nicks: HashMap<String, usize>,
    /// Folded channel name → channel.
    pub channels: HashMap<String, Channel>,
    /// Unix time the server started (003 RPL_CREATED).
    pub started: i64,
    /// Counters for LUSERS, kept up to date so it never walks every connection.
    pub counts: Counts,
}

/// Client counts (LUSERS 251–266).
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// Registered clients.
    pub registered: usize,
    /// Registered clients with `+i`.
    pub invisible: usize,
    /// Connections that have not registered yet.
    pub unregistered: usize,
    /// The most registered clients seen at once.
    pub peak: usize,
}

impl State {
    pub fn new(started: i64) -> State {
        State {
            started,
            ..State::default()
        }
    }

    pub fn slot_of_nick(&self, nick: &str) -> Option<usize> {
        self.nicks.get(&fold(nick)).copied()
    }
}
