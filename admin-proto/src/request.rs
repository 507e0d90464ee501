//! [`Request`]: every admin command with its arguments as named fields, tagged by
//! `cmd` on the wire. The request's `id` travels beside it ([`crate::wire`]).

use serde::{Deserialize, Deserializer, Serialize};

/// One admin command and its arguments (`docs/admin.md`, "Commands").
///
/// An optional argument may be left out or given as `null`. Fields the daemon does
/// not know are ignored, as before the types existed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// Online users, optionally only one channel's members.
    Users {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<String>,
    },
    /// Registered accounts.
    Accounts,
    /// Deletes an account, its offline queue and its remembered channels.
    AccountsDelete { name: String },
    /// An account's login tokens (`SESSION CREATE`).
    Sessions { account: String },
    /// Revokes one of an account's login tokens, or all of them.
    SessionsRevoke {
        account: String,
        /// The token's id (not `id`, which names the request on the wire).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// Channels.
    Channels,
    /// Registered channels with their founders and access lists.
    ChannelsRegistered,
    /// Registers a channel to an account, which becomes its founder.
    ChannelsRegister { channel: String, founder: String },
    /// Unregisters a channel.
    ChannelsDrop { channel: String },
    /// One registered channel with its access list.
    ChannelsAccess { channel: String },
    /// Gives an account a role (`op`, `moderator`, `voice`) on a registered channel.
    ChannelsAccessAdd {
        channel: String,
        account: String,
        role: String,
    },
    /// Takes an account's role on a registered channel.
    ChannelsAccessDel { channel: String, account: String },
    /// Disconnects a user, or with `channel` kicks them from that channel.
    Kick {
        nick: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<String>,
    },
    /// Bans a `nick!user@host` mask or an IP address; `None` duration is forever.
    Ban {
        mask: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_secs: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Lifts a ban.
    Unban { mask: String },
    /// Lists the bans.
    Bans,
    /// The last `n` logged messages (default 20); with `follow`, a stream.
    TailLog {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        n: Option<u64>,
        #[serde(
            default,
            deserialize_with = "null_as_false",
            skip_serializing_if = "is_false"
        )]
        follow: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        /// `error`, `warn`, `info`, `debug` or `trace` (default `info`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        level: Option<String>,
    },
    /// A notice to every connected user.
    Wall { text: String },
    /// Server counters.
    Stats,
    /// Re-reads the config file.
    Reload,
    /// A graceful stop, with the reason clients are given.
    Shutdown {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A copy of the database at `path` (absolute, not existing yet).
    Backup { path: String },
    /// Ends the stream started by the request whose `id` was `stream`.
    Cancel {
        #[serde(default)]
        stream: serde_json::Value,
    },
}

impl Request {
    /// Every `cmd` name, in the order of `docs/admin.md`'s table.
    pub const COMMANDS: &'static [&'static str] = &[
        "users",
        "accounts",
        "accounts-delete",
        "sessions",
        "sessions-revoke",
        "channels",
        "channels-registered",
        "channels-register",
        "channels-drop",
        "channels-access",
        "channels-access-add",
        "channels-access-del",
        "kick",
        "ban",
        "unban",
        "bans",
        "tail-log",
        "wall",
        "stats",
        "reload",
        "shutdown",
        "backup",
        "cancel",
    ];

    /// This request's `cmd`.
    pub fn cmd(&self) -> &'static str {
        match self {
            Request::Users { .. } => "users",
            Request::Accounts => "accounts",
            Request::AccountsDelete { .. } => "accounts-delete",
            Request::Sessions { .. } => "sessions",
            Request::SessionsRevoke { .. } => "sessions-revoke",
            Request::Channels => "channels",
            Request::ChannelsRegistered => "channels-registered",
            Request::ChannelsRegister { .. } => "channels-register",
            Request::ChannelsDrop { .. } => "channels-drop",
            Request::ChannelsAccess { .. } => "channels-access",
            Request::ChannelsAccessAdd { .. } => "channels-access-add",
            Request::ChannelsAccessDel { .. } => "channels-access-del",
            Request::Kick { .. } => "kick",
            Request::Ban { .. } => "ban",
            Request::Unban { .. } => "unban",
            Request::Bans => "bans",
            Request::TailLog { .. } => "tail-log",
            Request::Wall { .. } => "wall",
            Request::Stats => "stats",
            Request::Reload => "reload",
            Request::Shutdown { .. } => "shutdown",
            Request::Backup { .. } => "backup",
            Request::Cancel { .. } => "cancel",
        }
    }

    /// Whether this request streams events after its reply (`tail-log` with `follow`).
    pub fn streams(&self) -> bool {
        matches!(self, Request::TailLog { follow: true, .. })
    }
}

/// `"follow": null` has always meant false.
fn null_as_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

fn is_false(b: &bool) -> bool {
    !*b
}
