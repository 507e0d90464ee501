//! Live server state owned by the loop thread: the nick index and the channels.
//! Per-client identity is [`User`], held inside each connection. No I/O here.

pub mod channel;
pub mod names;
pub mod user;

pub use channel::{Channel, Member};
pub use user::{Cap, Caps, User};

use crate::conn::ConnId;
use crate::store::{Account, StoredMessage};
use chatd_proto::fold;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::Instant;

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
    /// Registered accounts by folded name (loaded from the store at start).
    pub accounts: HashMap<String, Account>,
    /// Folded account names with a REGISTER under way.
    pub registering: HashSet<String>,
    /// Folded account name → slots logged in to it.
    pub sessions: HashMap<String, Vec<usize>>,
    /// Accounts whose offline queue is being fetched and delivered.
    pub replaying: HashSet<String>,
    /// Failed logins per IP address in the current minute: (count, minute start).
    pub login_failures: HashMap<String, (u32, Instant)>,
    /// When to check that a connection holding a registered nick has logged in.
    pub nick_checks: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    /// The largest message id given out; ids grow with time and never repeat.
    pub last_msg_id: i64,
    /// Messages to log, sent to the store once per loop pass.
    pub log_batch: Vec<StoredMessage>,
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

    /// A new message id for Unix time `now_ms`: `ms << 16` plus a sequence, larger
    /// than every id before it (also across restarts: the store reports the last).
    pub fn next_msg_id(&mut self, now_ms: i64) -> i64 {
        let id = (self.last_msg_id + 1).max(crate::store::id_at_ms(now_ms));
        self.last_msg_id = id;
        id
    }

    /// The registered account named `name` (any case).
    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts.get(&fold(name))
    }

    /// Schedules a nick-ownership check of `conn` at `at`.
    pub fn check_nick_at(&mut self, at: Instant, conn: ConnId) {
        self.nick_checks.push(Reverse((at, conn.slot, conn.serial)));
    }
}
