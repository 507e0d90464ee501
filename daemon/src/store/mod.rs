//! The store: everything chatd keeps on disk, in one SQLite file (`chatd.db` in the
//! data dir, WAL mode), owned by one thread so the event loop never waits on it.
//!
//! The loop sends [`Request`]s with [`Store::send`] and never blocks; the store thread
//! does each batch of requests it finds waiting in **one transaction** (group commit)
//! and answers with [`Completion`]s on a channel, waking the loop with its `Waker`.
//! Password hashing (PBKDF2, deliberately slow) runs on a second thread, the hasher,
//! so neither the loop nor the message log waits on it.
//!
//! Files: `schema.rs` numbered migrations; `db.rs` the SQL, one function per request;
//! `worker.rs` the two threads and the batching; `password.rs` PBKDF2-HMAC-SHA256.

mod db;
pub mod password;
mod schema;
mod worker;

pub use password::PasswordHash;

use crate::conn::ConnId;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The database file inside the data dir.
pub const DB_FILE: &str = "chatd.db";

/// Settings the store needs from the config.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// PBKDF2 iterations for new password hashes.
    pub pbkdf2_iterations: u32,
    /// Offline queue: most messages waiting for one account.
    pub queue_max_messages: usize,
    /// Offline queue: once the oldest waiting message is older than this (seconds),
    /// the account takes no more (it has not picked up its messages for too long).
    pub queue_max_age_secs: i64,
    /// Most missed messages replayed per channel on login.
    pub missed_per_channel: usize,
    /// Largest the database may grow, in bytes (0: no limit but the disk). Past it,
    /// writes fail as on a full disk (SQLite's `max_page_count`).
    pub max_db_bytes: u64,
    /// Run `PRAGMA quick_check` at open and refuse a damaged database.
    pub startup_check: bool,
}

/// How the store is faring, shared by the store thread (which writes it) and the
/// loop (`chatctl stats`, and the notices to operators when writing fails or
/// recovers). Nothing here is ever reset but `failing`, `unsaved` and `failing_since`.
#[derive(Debug, Default)]
pub struct StoreHealth {
    /// Writing is failing now (disk full, I/O error): delivered messages are kept in
    /// memory and retried.
    pub failing: std::sync::atomic::AtomicBool,
    /// Messages delivered but not yet in the database (kept for the next attempt).
    pub unsaved: std::sync::atomic::AtomicUsize,
    /// Unix seconds when the current failing episode began (0 when not failing).
    pub failing_since: std::sync::atomic::AtomicI64,
    /// Writes that failed since start: batches that could not be committed (each
    /// attempt), and single requests the database refused.
    pub write_errors: std::sync::atomic::AtomicU64,
    /// Reads that failed since start (a damaged database): their clients got a `FAIL`.
    pub read_errors: std::sync::atomic::AtomicU64,
    /// The latest error: Unix seconds and text.
    pub last_error: std::sync::Mutex<Option<(i64, String)>>,
}

impl StoreHealth {
    /// Remembers `why` as the latest error.
    pub fn note_error(&self, why: &str) {
        let now = chrono::Utc::now().timestamp();
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some((now, why.to_string()));
        }
    }

    /// The latest error, if any.
    pub fn last_error(&self) -> Option<(i64, String)> {
        self.last_error.lock().ok().and_then(|l| l.clone())
    }

    pub fn is_failing(&self) -> bool {
        self.failing.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Why the store could not open.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// An account's stable identity: its row id, never reused (the `accounts` table is
/// `AUTOINCREMENT`). Private history, offline queues and remembered channels belong to
/// it, not to the name, so an account registered under a deleted one's name starts
/// empty.
pub type AccountId = i64;

/// A channel incarnation: the channel as it exists from its creation until it is
/// empty again. Taken from the message id sequence when the channel is created, so
/// it is unique, grows with time and is smaller than every message id logged in it.
/// A re-created channel is a new incarnation; history is read per incarnation.
pub type Incarnation = i64;

/// A registered account as the loop keeps it in memory (loaded at start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The stable identity (0 until the store has inserted the account).
    pub id: AccountId,
    /// As registered (display case).
    pub name: String,
    pub hash: PasswordHash,
    pub email: Option<String>,
    /// Unix seconds.
    pub created: i64,
    pub last_seen: i64,
}

/// PRIVMSG or NOTICE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Privmsg = 0,
    Notice = 1,
}

impl Kind {
    pub fn command(self) -> &'static str {
        match self {
            Kind::Privmsg => "PRIVMSG",
            Kind::Notice => "NOTICE",
        }
    }
}

/// Who may read a conversation's history.
///
/// A party is an identity string: `a:<account id>` for a logged-in sender or a
/// registered recipient, `n:<folded nick>` otherwise (a nick never starts with a
/// digit, so the two never meet). Data from before account ids (schema 4) may hold
/// `a:<folded name>` for a deleted account: no one has that identity any more.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Conv {
    /// One incarnation of a channel, by folded name.
    Channel {
        name: String,
        incarnation: Incarnation,
    },
    /// A private conversation between two parties (any order; the store sorts them).
    Direct(String, String),
}

/// One PRIVMSG/NOTICE as logged and replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The unique id; the `msgid` tag is [`msgid_of`] it. Ids grow with time.
    pub id: i64,
    /// Unix milliseconds, server time.
    pub time_ms: i64,
    pub kind: Kind,
    /// `nick!user@host` of the sender at the time.
    pub source: String,
    /// The sender's account, if logged in.
    pub account: Option<String>,
    /// The target as it was sent to (`#Chan` or the recipient's nick).
    pub target: String,
    pub conv: Conv,
    pub text: String,
}

/// The `msgid` tag value of a message id: 16 hex digits, so text order is time order.
pub fn msgid_of(id: i64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = id as u64;
    (0..16)
        .rev()
        .map(|i| char::from(HEX[(bits >> (i * 4)) as usize & 15]))
        .collect()
}

/// The message id of a `msgid` tag value, if it is one of ours.
pub fn id_of_msgid(msgid: &str) -> Option<i64> {
    if msgid.len() != 16 {
        return None;
    }
    i64::from_str_radix(msgid, 16).ok().filter(|id| *id > 0)
}

/// Which messages of a conversation a history request wants. Bounds are message ids
/// (a timestamp `t` ms maps to id `t << 16`, see [`id_at_ms`]); all bounds exclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Range {
    /// The newest `limit` messages, optionally only those after `after`.
    Latest { after: Option<i64> },
    /// The newest `limit` messages before `before`.
    Before { before: i64 },
    /// The oldest `limit` messages after `after`.
    After { after: i64 },
    /// About `limit / 2` on each side of `around` (the message itself included).
    Around { around: i64 },
    /// Between two bounds (either order), the `limit` messages nearest the first.
    Between { from: i64, to: i64 },
}

/// The latest Unix time (ms) a message id can carry.
pub const MAX_ID_MS: i64 = i64::MAX >> 16;

/// The smallest message id at or after Unix time `ms`. Times before 1970 map to 0 and
/// times past [`MAX_ID_MS`] (the year 6429) to the largest id, so a far-past or
/// far-future bound still means "before everything" or "after everything" instead of
/// overflowing.
pub fn id_at_ms(ms: i64) -> i64 {
    ms.clamp(0, MAX_ID_MS) << 16
}

/// What to pass back with a completion so the loop can finish the command.
/// The store never looks inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub conn: ConnId,
    /// Handler-defined detail (the command, its target...).
    pub what: String,
}

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
    /// [`Completion::Verified`].
    Verify {
        ticket: Ticket,
        account: String,
        password: String,
        hash: PasswordHash,
    },
    /// Delete an account with its queue and memberships (not its logged messages).
    DeleteAccount { account: AccountId },
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
    /// History of one conversation. Answered with [`Completion::History`].
    History {
        ticket: Ticket,
        conv: Conv,
        range: Range,
        limit: usize,
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
                | Request::Stats { .. }
                | Request::Tail { .. }
                | Request::Sync { .. }
        )
    }

    /// Whether a client may wait for this request's answer (`Cx::ask`): one whose
    /// answer [`Completion::answers_a_wait`] recognises.
    pub fn may_be_awaited(&self) -> bool {
        matches!(
            self,
            Request::Register { .. }
                | Request::Verify { .. }
                | Request::FetchQueue { .. }
                | Request::FetchMemberships { .. }
                | Request::History { .. }
                | Request::Targets { .. }
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
            Request::DeleteAccount { .. } => "DeleteAccount",
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
            Request::Targets { .. } => "Targets",
            Request::Sync { .. } => "Sync",
            Request::AddBan(_) => "AddBan",
            Request::RemoveBan { .. } => "RemoveBan",
            Request::ListAccounts { .. } => "ListAccounts",
            Request::Stats { .. } => "Stats",
            Request::Tail { .. } => "Tail",
            Request::Backup { .. } => "Backup",
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
    Accounts {
        ticket: Ticket,
        accounts: Vec<AccountSummary>,
    },
    Backup {
        ticket: Ticket,
        /// The copy's size in bytes, or why it failed.
        result: Result<u64, String>,
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
    /// The IRC connection that waits for this answer, if it is the answer to a
    /// request [`Request::may_be_awaited`] (admin requests are never waited for).
    pub fn answers_a_wait(&self) -> Option<ConnId> {
        match self {
            Completion::Registered { ticket, .. }
            | Completion::Verified { ticket, .. }
            | Completion::Queue { ticket, .. }
            | Completion::Memberships { ticket, .. }
            | Completion::History { ticket, .. }
            | Completion::ReadFailed { ticket, .. }
            | Completion::Targets { ticket, .. } => {
                (!ticket.what.starts_with("admin ")).then_some(ticket.conn)
            }
            _ => None,
        }
    }

    /// The ticket the request carried.
    pub fn ticket(&self) -> &Ticket {
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
            | Completion::Accounts { ticket, .. }
            | Completion::Stats { ticket, .. }
            | Completion::Backup { ticket, .. } => ticket,
        }
    }
}

/// What the loop needs at start.
#[derive(Debug, Default)]
pub struct Loaded {
    pub accounts: Vec<Account>,
    /// The largest message id in the log or channel incarnation recorded (0 when
    /// empty); new ids must be larger.
    pub last_id: i64,
    /// Bans that have not expired.
    pub bans: Vec<Ban>,
}

/// The loop's handle on the store thread and the hasher.
pub struct Store {
    requests: Sender<Request>,
    /// Messages sent in [`Request::Log`] and [`Request::Queue`] and not yet committed.
    backlog: Arc<std::sync::atomic::AtomicUsize>,
    /// Set by the loop while it waits for the backlog to fall to this level: the store
    /// thread wakes it as soon as it does.
    wake_below: Arc<std::sync::atomic::AtomicUsize>,
    health: Arc<StoreHealth>,
    hasher: Sender<Request>,
    threads: Vec<JoinHandle<()>>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating and migrating) `data_dir/chatd.db`, loads what the loop needs,
    /// and starts the threads. Completions arrive on the returned receiver, each batch
    /// followed by `wake()`.
    pub fn open(
        data_dir: &Path,
        options: StoreOptions,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> Result<(Store, Receiver<Completion>, Loaded), StoreError> {
        worker::open(data_dir, options, wake)
    }

    /// Hands a request to its thread. Never blocks. False if the thread has stopped
    /// (the request is dropped and will not be answered).
    pub fn send(&self, request: Request) -> bool {
        let logged = request.logged();
        self.backlog
            .fetch_add(logged, std::sync::atomic::Ordering::Relaxed);
        let to = match request {
            Request::Register { .. } | Request::Verify { .. } => &self.hasher,
            _ => &self.requests,
        };
        if to.send(request).is_err() {
            self.backlog
                .fetch_sub(logged, std::sync::atomic::Ordering::Relaxed);
            log::error!("the store thread has stopped; a request was dropped");
            return false;
        }
        true
    }

    /// Asks the store thread to wake the loop once the backlog is at most `level`
    /// (`None`: no need).
    pub fn wake_when_backlog_at_most(&self, level: Option<usize>) {
        self.wake_below.store(
            level.map_or(usize::MAX, |l| l),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Messages handed over to be logged or queued and not yet committed.
    pub fn backlog(&self) -> usize {
        self.backlog.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How the store is faring (write failures, unsaved messages, read errors).
    pub fn health(&self) -> &StoreHealth {
        &self.health
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commits everything sent so far and stops the threads (graceful shutdown).
    pub fn close(self) {
        let Store {
            requests,
            hasher,
            threads,
            ..
        } = self;
        drop(hasher);
        drop(requests);
        for t in threads {
            if t.join().is_err() {
                log::error!("a store thread panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msgids_are_sixteen_hex_digits_in_id_order() {
        assert_eq!(msgid_of(0x0123_4567_89ab_cdef), "0123456789abcdef");
        assert_eq!(msgid_of(1), "0000000000000001");
        let (a, b) = (id_at_ms(1_795_000_000_000), id_at_ms(1_795_000_000_001));
        assert!(msgid_of(a) < msgid_of(b));
        assert_eq!(id_of_msgid(&msgid_of(a)), Some(a));
    }

    #[test]
    fn id_at_ms_saturates_instead_of_overflowing() {
        // 9999-12-31T23:59:59.999Z and 0000-01-01T00:00:00Z, as CHATHISTORY may send.
        let far_future = 253_402_300_799_999;
        let far_past = -62_167_219_200_000;
        assert_eq!(id_at_ms(far_future), MAX_ID_MS << 16);
        assert!(id_at_ms(far_future) > id_at_ms(1_795_000_000_000));
        assert_eq!(id_at_ms(far_past), 0);
        assert_eq!(id_at_ms(i64::MIN), 0);
        assert_eq!(id_at_ms(i64::MAX), MAX_ID_MS << 16);
        assert_eq!(id_at_ms(1), 1 << 16);
    }
}
