//! The store's contract: the [`Request`]s the loop sends and the [`Completion`]s it
//! gets back, each carrying the opaque [`Ticket`] it was sent with.

use super::*;
use std::path::PathBuf;

/// Passed back with a request's completion so the loop can finish what asked for it
/// (the loop keeps what that is, as a typed follow-up). The store never looks inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket(pub u64);

/// Work for the store (or, for password work, the hasher). Its `Debug` shows only
/// the kind, so a password can never reach a log.
pub enum Request {
    /// Log messages (batched by the loop: one request per loop pass).
    Log(Vec<StoredMessage>),
    /// Log `msg` and queue it for offline `account`. Answered with
    /// [`Completion::Queued`] only after the commit.
    Queue {
        ticket: Ticket,
        account: AccountId,
        msg: StoredMessage,
    },
    /// Hash `password` (on the hasher), then insert the account. Answered with
    /// [`Completion::Registered`].
    Register {
        ticket: Ticket,
        name: String,
        email: Option<String>,
        password: String,
    },
    /// Sent by the hasher once a [`Request::Register`] password is hashed: insert the
    /// account. Answered with [`Completion::Registered`].
    CreateAccount { ticket: Ticket, account: Account },
    /// Check `password` against `hash` (on the hasher). Answered with
    /// [`Completion::Verified`]. With `scram_iterations`, a matching password also
    /// gets SCRAM-SHA-256 credentials made (the account has none yet).
    Verify {
        ticket: Ticket,
        account: String,
        password: String,
        hash: PasswordHash,
        scram_iterations: Option<u32>,
    },
    /// Keep SCRAM-SHA-256 credentials for an account that has none (made by a
    /// `Verify` at its login).
    SetScram {
        account: AccountId,
        creds: ScramCreds,
    },
    /// Delete an account with its queue and memberships (not its logged messages).
    DeleteAccount { account: AccountId },
    /// Keep a login token (its hash) for its account.
    SaveToken(LoginToken),
    /// Revoke one login token of `account` (by id), or all of them.
    DeleteTokens {
        account: AccountId,
        id: Option<String>,
    },
    /// Record that an account was seen now (login, logout, disconnect).
    Seen { account: String, time: i64 },
    /// The account's offline queue, oldest first. Answered with [`Completion::Queue`].
    FetchQueue { ticket: Ticket, account: AccountId },
    /// Remove delivered rows of the offline queue (by queue row id).
    Dequeue { ids: Vec<i64> },
    /// Remember that `account` is in `incarnation` of `channel` (display name),
    /// reading from `last_id`.
    Join {
        account: AccountId,
        channel: String,
        incarnation: Incarnation,
        last_id: i64,
    },
    /// Forget a membership (PART, KICK).
    Part { account: AccountId, channel: String },
    /// The account stopped reading these channels (folded names) at message `last_id`.
    Left {
        account: AccountId,
        channels: Vec<String>,
        last_id: i64,
    },
    /// The account's channels with what it missed in each (at most
    /// `missed_per_channel` newest, oldest first). Answered with
    /// [`Completion::Memberships`].
    FetchMemberships { ticket: Ticket, account: AccountId },
    /// A ban was set in a channel incarnation when the last message id was `at_id`:
    /// remembered members it matches get nothing said after it as missed, even once
    /// the channel is gone.
    ChannelBan {
        incarnation: Incarnation,
        mask: String,
        at_id: i64,
    },
    /// A channel incarnation began (the channel was created): recorded so a restart
    /// never hands out its id again.
    NewChannel {
        name: String,
        incarnation: Incarnation,
        created_ms: i64,
    },
    /// Register a channel, or write its changed settings, lists or access list: the
    /// whole record replaces the stored one.
    SaveChannel(Box<ChannelRecord>),
    /// Forget a registered channel (DROP, expiry).
    DropChannel { name: String },
    /// History of one conversation, with its channel events when `events`
    /// (draft/event-playback). Answered with [`Completion::History`].
    History {
        ticket: Ticket,
        conv: Conv,
        range: Range,
        limit: usize,
        events: bool,
    },
    /// Move a read marker forward (never back). Written with fsync: a marker the
    /// client was told about survives a crash.
    SetReadMarker(ReadMarker),
    /// Forget a read marker (the account keeps too many: its oldest goes).
    DropReadMarker { account: AccountId, target: String },
    /// Delete message `id` of `conv` from history and any offline queue, if `by` may
    /// (draft/message-redaction). Answered with [`Completion::Redacted`].
    Redact {
        ticket: Ticket,
        conv: Conv,
        id: i64,
        by: Redactor,
    },
    /// Conversations of `party` (an identity) plus `channels` (folded name and the
    /// incarnation the reader is in) with messages between two ids, newest activity
    /// first. Answered with [`Completion::Targets`].
    Targets {
        ticket: Ticket,
        party: String,
        channels: Vec<(String, Incarnation)>,
        from: i64,
        to: i64,
        limit: usize,
    },
    /// Answered with [`Completion::Synced`] once everything sent before is committed.
    Sync { ticket: Ticket },
    /// Store a ban (replacing one with the same mask).
    AddBan(Ban),
    /// Delete a ban by mask (exact, case-insensitive).
    RemoveBan { mask: String },
    /// Every account with its queue depth. Answered with [`Completion::Accounts`].
    ListAccounts { ticket: Ticket },
    /// The account named `name` (any case) as the database has it now: a cluster
    /// node's login, which another node may have registered or changed. Answered
    /// with [`Completion::Account`].
    FetchAccount { ticket: Ticket, name: String },
    /// What another node sharing the database may have changed: accounts, read
    /// markers, login tokens and registered channels, read again as at start (a
    /// cluster node's refresh). Answered with [`Completion::Reloaded`].
    Reload { ticket: Ticket },
    /// Store-wide figures. Answered with [`Completion::Stats`].
    Stats { ticket: Ticket },
    /// A consistent copy of the database at `path` (which must not exist), made
    /// with `VACUUM INTO` outside any batch transaction. Answered with
    /// [`Completion::Backup`].
    Backup { ticket: Ticket, path: PathBuf },
    /// The last `n` logged messages (all conversations, or those `filter` names),
    /// oldest first. Answered with [`Completion::History`].
    Tail {
        ticket: Ticket,
        n: usize,
        filter: Option<TailFilter>,
    },
}

/// An account's row with its login tokens and read markers
/// ([`Request::FetchAccount`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRows {
    pub account: Account,
    pub tokens: Vec<LoginToken>,
    pub read_markers: Vec<ReadMarker>,
}

/// One read marker: the time of the last message `account` read in `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadMarker {
    pub account: AccountId,
    /// A channel name or a nick (folded by the store).
    pub target: String,
    /// Unix ms.
    pub time_ms: i64,
}

/// Who asks to redact a message, and what makes them its sender.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Redactor {
    /// A channel operator of the channel, or an IRC operator: any message of the
    /// conversation.
    pub any: bool,
    /// Logged in: (account name, the account's creation in Unix ms): messages that
    /// account sent since it exists (not an earlier, deleted account's of that name).
    pub account: Option<(String, i64)>,
    /// A private conversation's party key and the id before which that party was
    /// not this user (a nick's start of connection): private messages it sent.
    pub party: Option<(String, i64)>,
}

impl Redactor {
    /// Whether this asker may delete `msg` (one rule for every engine): anyone
    /// with `any`, an account its own messages sent since it exists, a private
    /// conversation's party what it sent since it was that party.
    pub fn may_redact(&self, msg: &super::StoredMessage) -> bool {
        let fold = chatd_proto::fold;
        let by_account = match (&self.account, &msg.account) {
            (Some((name, since_ms)), Some(sender)) => {
                fold(name) == fold(sender) && msg.time_ms >= *since_ms
            }
            _ => false,
        };
        let by_party = match (&self.party, &msg.conv) {
            (Some((party, since_id)), super::Conv::Direct(sender, _)) => {
                fold(party) == *sender && msg.id > *since_id
            }
            _ => false,
        };
        self.any || by_account || by_party
    }
}

/// Why a message was not redacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedactRefusal {
    /// No such message in that conversation (or it is gone).
    UnknownMsgid,
    /// The message is there, and the asker may not redact it.
    Forbidden,
}

/// What `tail-log --target` selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailFilter {
    /// A channel, by name.
    Channel(String),
    /// Private messages from or to this nick, or the account of that name (its id,
    /// looked up by the caller: a deleted account of that name is not it).
    Party {
        nick: String,
        account: Option<AccountId>,
    },
}

/// A server ban, kept in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// `nick!user@host` glob, or an IP address.
    pub mask: String,
    pub reason: String,
    /// Unix seconds.
    pub set_at: i64,
    /// Unix seconds; `None` is permanent.
    pub expires: Option<i64>,
}

/// One account as `chatctl accounts` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    pub name: String,
    pub email: Option<String>,
    pub created: i64,
    pub last_seen: i64,
    pub queue_depth: i64,
}

impl Request {
    /// The request's kind, for logs (never the request itself: it may hold a password).
    /// Whether the batch holding this request must reach the disk (fsync) before its
    /// answers go out. Logging a live message need not: it is already delivered, and
    /// a commit without fsync survives the process being killed (not a power cut), up
    /// to the next commit that does fsync, which writes it too.
    pub fn needs_fsync(&self) -> bool {
        !matches!(
            self,
            Request::Log(_)
                | Request::NewChannel { .. }
                | Request::History { .. }
                | Request::Targets { .. }
                | Request::FetchQueue { .. }
                | Request::FetchMemberships { .. }
                | Request::ListAccounts { .. }
                | Request::Reload { .. }
                | Request::FetchAccount { .. }
                | Request::Stats { .. }
                | Request::Tail { .. }
                | Request::Sync { .. }
                | Request::DropReadMarker { .. }
        )
    }

    /// A write that nobody waits for and that a command makes on every node that runs
    /// it: in a cluster on one shared database, only the node where the command was
    /// sent makes it (`Store::mute_origin_writes`).
    pub fn made_by_origin(&self) -> bool {
        matches!(
            self,
            Request::Log(_)
                | Request::NewChannel { .. }
                | Request::ChannelBan { .. }
                | Request::Join { .. }
                | Request::Part { .. }
                | Request::Left { .. }
                | Request::Seen { .. }
                | Request::SaveChannel(_)
                | Request::DropChannel { .. }
                | Request::SetReadMarker(_)
                | Request::DropReadMarker { .. }
                | Request::SaveToken(_)
                | Request::DeleteTokens { .. }
                | Request::SetScram { .. }
        )
    }

    /// How many messages this request writes (the store's backlog counts them).
    pub fn logged(&self) -> usize {
        match self {
            Request::Log(msgs) => msgs.len(),
            Request::Queue { .. } => 1,
            _ => 0,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Request::Log(_) => "Log",
            Request::Queue { .. } => "Queue",
            Request::Register { .. } => "Register",
            Request::CreateAccount { .. } => "CreateAccount",
            Request::Verify { .. } => "Verify",
            Request::SetScram { .. } => "SetScram",
            Request::DeleteAccount { .. } => "DeleteAccount",
            Request::SaveToken(_) => "SaveToken",
            Request::DeleteTokens { .. } => "DeleteTokens",
            Request::Seen { .. } => "Seen",
            Request::FetchQueue { .. } => "FetchQueue",
            Request::Dequeue { .. } => "Dequeue",
            Request::Join { .. } => "Join",
            Request::Part { .. } => "Part",
            Request::Left { .. } => "Left",
            Request::FetchMemberships { .. } => "FetchMemberships",
            Request::NewChannel { .. } => "NewChannel",
            Request::ChannelBan { .. } => "ChannelBan",
            Request::History { .. } => "History",
            Request::SetReadMarker(_) => "SetReadMarker",
            Request::DropReadMarker { .. } => "DropReadMarker",
            Request::Redact { .. } => "Redact",
            Request::Targets { .. } => "Targets",
            Request::Sync { .. } => "Sync",
            Request::AddBan(_) => "AddBan",
            Request::RemoveBan { .. } => "RemoveBan",
            Request::ListAccounts { .. } => "ListAccounts",
            Request::Reload { .. } => "Reload",
            Request::FetchAccount { .. } => "FetchAccount",
            Request::Stats { .. } => "Stats",
            Request::Tail { .. } => "Tail",
            Request::Backup { .. } => "Backup",
            Request::SaveChannel(_) => "SaveChannel",
            Request::DropChannel { .. } => "DropChannel",
        }
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Request::{}", self.kind())
    }
}

/// Why an offline message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueRefusal {
    /// `queue_max_messages` are already waiting.
    Full,
    /// The oldest waiting message is older than `queue_max_age_secs`.
    Stale,
    /// The database refused the write (disk full...).
    Unavailable,
}

/// Why a registration failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    Exists,
    /// The database refused the write (disk full...).
    Unavailable(String),
}

/// A membership row with what was missed in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// Display name as joined.
    pub channel: String,
    /// The incarnation the account is a member of (0: from before incarnations).
    pub incarnation: Incarnation,
    /// Oldest first; only messages of that incarnation.
    pub missed: Vec<StoredMessage>,
    /// Bans set in that incarnation: (mask, last message id when it was set).
    pub bans: Vec<(String, i64)>,
}

/// One conversation in a TARGETS answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetActivity {
    /// For a channel its display name; for a direct conversation the *other* party's
    /// latest nick as seen in the log.
    pub name: String,
    /// Time of the latest message, Unix ms.
    pub latest_ms: i64,
}

/// An answer from the store or the hasher.
#[derive(Debug)]
pub enum Completion {
    Queued {
        ticket: Ticket,
        result: Result<(), QueueRefusal>,
    },
    Registered {
        ticket: Ticket,
        result: Result<Account, RegisterError>,
    },
    Verified {
        ticket: Ticket,
        account: String,
        ok: bool,
        /// Made for a matching password when the `Verify` asked for them.
        scram: Option<ScramCreds>,
    },
    /// (queue row id, message), oldest first.
    Queue {
        ticket: Ticket,
        rows: Vec<(i64, StoredMessage)>,
    },
    Memberships {
        ticket: Ticket,
        channels: Vec<Membership>,
    },
    /// Oldest first.
    History {
        ticket: Ticket,
        messages: Vec<StoredMessage>,
    },
    /// A read (`History`, `Targets`, `Tail`) failed: the client is told so, never
    /// given a short answer.
    ReadFailed {
        ticket: Ticket,
        why: String,
    },
    Targets {
        ticket: Ticket,
        targets: Vec<TargetActivity>,
    },
    Synced {
        ticket: Ticket,
    },
    /// A redaction done (with the message as it was) or refused.
    Redacted {
        ticket: Ticket,
        result: Result<StoredMessage, RedactRefusal>,
    },
    Accounts {
        ticket: Ticket,
        accounts: Vec<AccountSummary>,
    },
    Backup {
        ticket: Ticket,
        /// The copy's size in bytes, or why it failed.
        result: Result<u64, String>,
    },
    /// The account a `Request::FetchAccount` named (`None`: there is none), or why
    /// it could not be read.
    Account {
        ticket: Ticket,
        result: Result<Option<Box<AccountRows>>, String>,
    },
    /// The shared records as the database has them now (`Request::Reload`), or
    /// `None` when they could not be read.
    Reloaded {
        ticket: Ticket,
        loaded: Option<Box<Loaded>>,
    },
    Stats {
        ticket: Ticket,
        /// Messages waiting in all offline queues.
        queue_total: i64,
        /// Bytes of the database and its WAL on disk.
        store_bytes: u64,
    },
}

impl Completion {
    /// The answer's kind, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Completion::Queued { .. } => "Queued",
            Completion::Registered { .. } => "Registered",
            Completion::Verified { .. } => "Verified",
            Completion::Queue { .. } => "Queue",
            Completion::Memberships { .. } => "Memberships",
            Completion::History { .. } => "History",
            Completion::ReadFailed { .. } => "ReadFailed",
            Completion::Targets { .. } => "Targets",
            Completion::Synced { .. } => "Synced",
            Completion::Redacted { .. } => "Redacted",
            Completion::Accounts { .. } => "Accounts",
            Completion::Backup { .. } => "Backup",
            Completion::Stats { .. } => "Stats",
            Completion::Reloaded { .. } => "Reloaded",
            Completion::Account { .. } => "Account",
        }
    }

    /// The ticket the request carried.
    pub fn ticket(&self) -> Ticket {
        match self {
            Completion::Queued { ticket, .. }
            | Completion::Registered { ticket, .. }
            | Completion::Verified { ticket, .. }
            | Completion::Queue { ticket, .. }
            | Completion::Memberships { ticket, .. }
            | Completion::History { ticket, .. }
            | Completion::ReadFailed { ticket, .. }
            | Completion::Targets { ticket, .. }
            | Completion::Synced { ticket }
            | Completion::Redacted { ticket, .. }
            | Completion::Accounts { ticket, .. }
            | Completion::Stats { ticket, .. }
            | Completion::Reloaded { ticket, .. }
            | Completion::Account { ticket, .. }
            | Completion::Backup { ticket, .. } => *ticket,
        }
    }
}
