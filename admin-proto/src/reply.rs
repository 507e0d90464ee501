//! Each command's `result`, one type per command (`docs/admin.md`, "Commands").
//!
//! Fields are declared in alphabetical order: that is the order the daemon has
//! always written them in (serde_json's map is sorted), so socat and Python users
//! see the same bytes. A new field goes in at its alphabetical place, one line.
//! Every reply struct is `#[serde(default)]`, so chatctl still reads a daemon that
//! lacks a field added later.

use serde::{Deserialize, Serialize};

/// `users`: one online user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    pub account: Option<String>,
    pub away: Option<String>,
    pub channels: Vec<String>,
    /// Unix seconds.
    pub connected_since: i64,
    pub host: String,
    pub idle_secs: u64,
    pub nick: String,
    pub oper: bool,
    pub realname: String,
    pub user: String,
}

/// `accounts`: one registered account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Account {
    pub created: i64,
    pub email: Option<String>,
    pub last_seen: i64,
    pub name: String,
    pub online: bool,
    pub queue_depth: i64,
}

/// `accounts-delete`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountDeleted {
    pub name: String,
}

/// `sessions`: one login token of the account (never its secret).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Session {
    /// Unix seconds.
    pub created: i64,
    pub id: String,
    pub label: String,
}

/// `sessions-revoke`: how many tokens were revoked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionsRevoked {
    pub revoked: usize,
}

/// `channels`: one channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Channel {
    pub members: usize,
    /// The modes with their parameters, like `+ntl 10`.
    pub modes: String,
    pub name: String,
    pub topic: Option<String>,
}

/// `channels-registered` (one of them), `channels-register`, `channels-drop`,
/// `channels-access`, `channels-access-add`, `channels-access-del`: a registered
/// channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegisteredChannel {
    /// The access list, by account name.
    pub access: Vec<AccessEntry>,
    /// The founder's account.
    pub founder: String,
    /// `members` or `since-join`.
    pub history: String,
    /// Unix seconds it last had members or changed.
    pub last_used: i64,
    pub name: String,
    /// Unix seconds.
    pub registered: i64,
}

/// One entry of a registered channel's access list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessEntry {
    pub account: String,
    /// `op`, `moderator` or `voice`.
    pub role: String,
}

/// `kick`: the nick as the server spells it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Kicked {
    pub nick: String,
}

/// `ban`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Banned {
    /// How many connected users matched and were disconnected.
    pub disconnected: usize,
    /// Unix seconds; `None` for a permanent ban.
    pub expires: Option<i64>,
    /// The mask as stored (normalized).
    pub mask: String,
}

/// `unban`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Unbanned {
    pub mask: String,
}

/// `bans`: one ban.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ban {
    /// Unix seconds; `None` for a permanent ban.
    pub expires: Option<i64>,
    pub mask: String,
    pub reason: String,
    pub set_at: i64,
}

/// `tail-log` (and the `message` event): one logged message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggedMessage {
    pub account: Option<String>,
    /// The sender's `nick!user@host`.
    pub from: String,
    /// `PRIVMSG` or `NOTICE`.
    pub kind: String,
    pub msgid: String,
    pub target: String,
    pub text: String,
    /// RFC 3339 with milliseconds, UTC.
    pub time: String,
}

/// `wall`: how many users got the notice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Walled {
    pub users: usize,
}

/// `stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub accounts: usize,
    pub channels: usize,
    pub connections: usize,
    /// The average over the last minute.
    pub messages_per_sec: f64,
    pub queue_total: i64,
    pub registered: usize,
    pub rss_bytes: u64,
    /// Whether the database can be written, and its errors since start.
    pub store: StoreHealth,
    /// Messages handed to the store and not yet committed.
    pub store_backlog: usize,
    pub store_bytes: u64,
    /// How many times reading stopped because the backlog passed its limit.
    pub store_pauses: u64,
    pub uptime_secs: i64,
}

/// `stats.store`: the database's health.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreHealth {
    /// True while the database cannot be written.
    pub failing: bool,
    /// Since when (Unix seconds), while failing.
    pub failing_since: Option<i64>,
    /// The last error, if any.
    pub last_error: Option<StoreError>,
    /// Reads that failed (a damaged page) since start.
    pub read_errors: u64,
    /// Delivered messages kept in memory until the database can be written.
    pub unsaved_messages: u64,
    /// Failed writes since start.
    pub write_errors: u64,
}

/// `stats.store.last_error`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreError {
    pub text: String,
    pub time: i64,
}

/// `reload`: the config sections applied, and what needs a restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Reloaded {
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
}

/// `shutdown`: `{}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShuttingDown {}

/// `backup`: the copy's size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackedUp {
    pub bytes: u64,
}
