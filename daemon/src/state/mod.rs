//! Live server state owned by the loop thread: the nick index and the channels.
//! Per-client identity is [`User`], held inside each connection. No I/O here.

pub mod channel;
pub mod hashing;
pub mod markers;
pub mod monitor;
pub mod multiline;
pub mod names;
pub mod registered;
pub mod scram;
pub mod tokens;
pub mod user;
pub mod whowas;

pub use channel::{Channel, Member};
pub use user::{Cap, Caps, Sasl, User};

use crate::ids::ConnId;
use crate::store::{Account, Ban, StoredMessage};
use chatd_proto::fold;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// The hash map of the loop's hot lookups (nicks, channels, accounts, members):
/// aHash with per-process random keys, several times cheaper than the standard
/// SipHash for short keys and still keyed, so chosen names cannot force collisions.
pub type Map<K, V> = HashMap<K, V, ahash::RandomState>;
use std::time::Instant;

/// Nick index and channels. Connections are named by their slab slot.
#[derive(Debug, Default)]
pub struct State {
    /// Folded nick → slot of the connection holding it.
    pub nicks: Map<String, usize>,
    /// Folded channel name → channel.
    pub channels: Map<String, Channel>,
    /// Folded channel name → registered channel (loaded at start; `registered.rs`).
    pub registered: HashMap<String, crate::store::ChannelRecord>,
    /// Unix time the server started (003 RPL_CREATED).
    pub started: i64,
    /// Counters for LUSERS, kept up to date so it never walks every connection.
    pub counts: Counts,
    /// Registered accounts by folded name (loaded from the store at start).
    pub accounts: Map<String, Account>,
    /// Folded account names with a REGISTER under way.
    pub registering: HashSet<String>,
    /// The key fake SCRAM salts are derived from (`scram::fake_creds`), kept in the
    /// store so they survive restarts.
    pub scram_secret: Vec<u8>,
    /// Folded account name → slots logged in to it.
    pub sessions: Map<String, Vec<usize>>,
    /// Accounts whose offline queue is being fetched and delivered.
    pub replaying: HashSet<String>,
    /// Password checks (LOGIN, SASL, PASS, NickServ, OPER) per address key that
    /// failed or are under way, this minute.
    pub login_attempts: hashing::LoginAttempts,
    /// Password work waiting for the hasher, fair between addresses.
    pub hashing: hashing::HashQueue,
    /// What waits for each store or hasher answer not yet in, by ticket.
    pub followups: crate::followup::FollowUps,
    /// When to check that a connection holding a registered nick has logged in.
    pub nick_checks: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    /// The largest message id given out; ids grow with time and never repeat.
    pub last_msg_id: i64,
    /// This node's number in a cluster (`cluster.node_id`), in the low bits of every
    /// id it gives out; 0 for a single node.
    pub node_id: u16,
    /// Messages to log, sent to the store once per loop pass.
    pub log_batch: Vec<StoredMessage>,
    /// Server bans (from the store at start, and `chatctl ban`).
    pub bans: Vec<Ban>,
    /// Messages per second over the last minute (`chatctl stats`).
    pub rate: Rate,
    /// Open connections per address key ([`ip_key`]).
    pub per_ip: HashMap<String, usize>,
    /// New connections per address key in the current minute: (count, minute start).
    pub connects: HashMap<String, (u32, Instant)>,
    /// REGISTERs per address key in the current hour: (count, hour start).
    pub registrations: HashMap<String, (u32, Instant)>,
    /// Someone follows the message log (`tail-log -f`): keep copies in `tapped`.
    pub tap: bool,
    pub tapped: Vec<StoredMessage>,
    /// Times reading from clients was paused because the store fell behind.
    pub store_pauses: u64,
    /// The port of the first TLS listener as bound (the STS upgrade port by default).
    pub tls_port: Option<u16>,
    /// MONITOR: who watches which nick (`cmd/monitor.rs`).
    pub monitors: monitor::Monitors,
    /// WHOWAS: nicks that quit or changed, bounded (`cmd/whowas.rs`).
    pub whowas: whowas::Whowas,
    /// Every account's read markers (draft/read-marker).
    pub read_markers: markers::ReadMarkers,
    /// Every account's login tokens (`SESSION CREATE`).
    pub login_tokens: tokens::LoginTokens,
    /// This node's place in a cluster, and what to send on the bus (`cluster/`).
    pub cluster: crate::cluster::View,
    /// Set by a command that found this node's copy of shared records possibly
    /// behind another node's (an unknown token or SCRAM account, a name REGISTER
    /// found taken): a cluster node refreshes them at the end of the pass
    /// (`server/refresh.rs`). Ignored by a single node.
    pub refresh_wanted: bool,
    /// Folded names of accounts another node deleted (or deleted and registered
    /// again) while this node has sessions logged in to them: logged out at the end
    /// of the pass (`server/refresh.rs`).
    pub accounts_gone: Vec<String>,
    /// Folded names of accounts read from the database one by one (at a login, or
    /// another node's user's) since the last refresh was asked: that refresh may
    /// have read before them, so it leaves them as they are.
    pub fetched_since_refresh: std::collections::HashSet<String>,
}

/// Counts of messages in each of the last 60 seconds.
#[derive(Debug, Clone)]
pub struct Rate {
    buckets: [u32; 60],
    /// The Unix second each bucket counts.
    seconds: [i64; 60],
}

impl Default for Rate {
    fn default() -> Rate {
        Rate {
            buckets: [0; 60],
            seconds: [0; 60],
        }
    }
}

impl Rate {
    pub fn count(&mut self, now: i64) {
        let i = now.rem_euclid(60) as usize;
        if self.seconds[i] != now {
            self.seconds[i] = now;
            self.buckets[i] = 0;
        }
        self.buckets[i] += 1;
    }

    /// The average over the 60 seconds before `now`.
    pub fn per_sec(&self, now: i64) -> f64 {
        let total: u64 = (0..60)
            .filter(|&i| self.seconds[i] <= now && now.saturating_sub(self.seconds[i]) < 60)
            .map(|i| u64::from(self.buckets[i]))
            .sum();
        total as f64 / 60.0
    }
}

/// The key an address is limited under: an IPv4 address, or an IPv6 /64.
pub fn ip_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Counts one event for `key` in a window of `window`; false once `max` are used.
pub fn within_rate(
    map: &mut HashMap<String, (u32, Instant)>,
    key: &str,
    max: u32,
    window: std::time::Duration,
    now: Instant,
) -> bool {
    if map.len() > 100_000 {
        map.retain(|_, (_, since)| now.saturating_duration_since(*since) < window);
    }
    let entry = map.entry(key.to_string()).or_insert((0, now));
    if now.saturating_duration_since(entry.1) >= window {
        *entry = (0, now);
    }
    if entry.0 >= max {
        return false;
    }
    entry.0 += 1;
    true
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
        if let Some(id) = self.cluster.origin_ids.pop_front() {
            return id;
        }
        let id = crate::store::next_id(self.last_msg_id, now_ms, self.node_id);
        self.last_msg_id = id;
        if self.cluster.enabled() {
            self.cluster.given.push(id);
        }
        id
    }

    /// The registered account named `name` (any case).
    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts.get(&fold(name))
    }

    /// The stable id of the account named `name`, if it is registered.
    pub fn account_id(&self, name: &str) -> Option<crate::store::AccountId> {
        self.account(name).map(|a| a.id)
    }

    /// Schedules a nick-ownership check of `conn` at `at`.
    pub fn check_nick_at(&mut self, at: Instant, conn: ConnId) {
        self.nick_checks.push(Reverse((at, conn.slot, conn.serial)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_keys_group_ipv6_by_64() {
        let k = |s: &str| ip_key(s.parse().unwrap());
        assert_eq!(k("10.0.0.1"), "10.0.0.1");
        assert_eq!(k("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(k("2001:db8:1:2:ffff::1"), "2001:db8:1:2::/64");
        assert_eq!(k("::ffff:10.0.0.1"), "10.0.0.1");
    }

    #[test]
    fn within_rate_resets_after_the_window() {
        let mut m = HashMap::new();
        let t = Instant::now();
        let w = std::time::Duration::from_secs(60);
        assert!(within_rate(&mut m, "a", 2, w, t));
        assert!(within_rate(&mut m, "a", 2, w, t));
        assert!(!within_rate(&mut m, "a", 2, w, t));
        assert!(within_rate(&mut m, "b", 2, w, t));
        assert!(within_rate(&mut m, "a", 2, w, t + w));
    }

    #[test]
    fn rate_averages_the_last_minute() {
        let mut r = Rate::default();
        assert_eq!(r.per_sec(1_000_000), 0.0);
        for _ in 0..120 {
            r.count(1_000_000);
        }
        r.count(1_000_030);
        assert_eq!(r.per_sec(1_000_030), 121.0 / 60.0);
        // A minute later the first second has left the window.
        assert_eq!(r.per_sec(1_000_060), 1.0 / 60.0);
        assert_eq!(r.per_sec(1_000_200), 0.0);
    }
}
