//! The store: everything chatd keeps on disk, in one SQLite file (`chatd.db` in the
//! data dir, WAL mode), owned by one thread so the event loop never waits on it.
//!
//! The loop sends [`Request`]s with [`Store::send`] and never blocks; the store thread
//! does each batch of requests it finds waiting in **one transaction** (group commit)
//! and answers with [`Completion`]s on a channel, waking the loop with its `Waker`.
//! Password hashing (PBKDF2, deliberately slow) runs on a second thread, the hasher,
//! so neither the loop nor the message log waits on it.
//!
//! Files: `message.rs` what is kept (messages, accounts, ids); `request.rs` the contract
//! (`Request`, `Completion`, `Ticket`); `registered.rs` registered channels; `schema.rs` numbered migrations; `db/` the SQL, one
//! file per concern, one function per request;
//! `worker/` the two threads (open, commit and retry, execute, hasher); `password.rs`
//! PBKDF2-HMAC-SHA256; `pg/` the PostgreSQL engine (`cluster.database`), behind the
//! same worker as SQLite through `worker::Engine`.

mod db;
pub mod password;
mod pg;
mod schema;
mod worker;

mod message;
mod registered;
mod request;

pub use message::*;
pub use password::{PasswordHash, ScramCreds};
pub use pg::{migrate_sqlite_to_pg, Copied};
pub use registered::*;
pub use request::*;

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
    /// How long a batch of only logged live messages (already delivered, nobody
    /// waits for them) may stay open for more before it commits; zero commits at
    /// once. Anything someone waits for ends the window at once.
    pub commit_window: std::time::Duration,
    /// Most messages in such a window: it commits when it holds this many.
    pub commit_window_rows: usize,
    /// PostgreSQL connection string (`cluster.database`); empty: SQLite in the data
    /// dir. Never logged: it may hold a password.
    pub database: String,
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

/// What the loop needs at start.
#[derive(Debug, Default)]
pub struct Loaded {
    pub accounts: Vec<Account>,
    /// The largest message id in the log or channel incarnation recorded (0 when
    /// empty); new ids must be larger.
    pub last_id: i64,
    /// Bans that have not expired.
    pub bans: Vec<Ban>,
    /// A random key kept in the database: the fake SCRAM salt of an account that does
    /// not exist is derived from it and the name, so it stays the same across
    /// restarts, as a real one does.
    pub scram_secret: Vec<u8>,
    /// Every read marker (draft/read-marker).
    pub read_markers: Vec<ReadMarker>,
    /// Login tokens, oldest first.
    pub tokens: Vec<LoginToken>,
    /// Registered channels with their lists and access lists.
    pub channels: Vec<ChannelRecord>,
}

/// A login token (`SESSION CREATE`, `docs/protocol.md`): only the SHA-256 of its
/// secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginToken {
    /// Its public name, for listing and revoking.
    pub id: String,
    pub account: AccountId,
    pub hash: [u8; 32],
    /// What the client called it ("web", a browser's name).
    pub label: String,
    /// Unix seconds.
    pub created: i64,
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
    /// While set, [`Store::send`] drops the writes another node already made in the
    /// shared database ([`Request::made_by_origin`]): the loop sets it while it runs
    /// another node's command (`server/bus.rs`).
    muted: std::sync::atomic::AtomicBool,
    /// Requests sent that change accounts, login tokens or registered channels: a
    /// `Request::Reload` answer read before one of them is not applied.
    shared_writes: std::sync::atomic::AtomicU64,
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
        if request.made_by_origin() && self.muted.load(std::sync::atomic::Ordering::Relaxed) {
            return true;
        }
        let logged = request.logged();
        if matches!(
            request,
            Request::Register { .. }
                | Request::SetScram { .. }
                | Request::DeleteAccount { .. }
                | Request::SaveToken(_)
                | Request::DeleteTokens { .. }
                | Request::SaveChannel(_)
                | Request::DropChannel { .. }
        ) {
            self.shared_writes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
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

    /// Drops (`true`) or sends again (`false`) the writes that another node's command
    /// made in the shared database already (see `muted`).
    pub fn mute_origin_writes(&self, muted: bool) {
        self.muted
            .store(muted, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether another node's command is running, whose writes that node made.
    pub fn origin_writes_muted(&self) -> bool {
        self.muted.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Asks the store thread to wake the loop once the backlog is at most `level`
    /// (`None`: no need).
    pub fn wake_when_backlog_at_most(&self, level: Option<usize>) {
        self.wake_below.store(
            level.map_or(usize::MAX, |l| l),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// How many requests changing accounts, login tokens or registered channels were
    /// sent so far.
    pub fn shared_writes(&self) -> u64 {
        self.shared_writes
            .load(std::sync::atomic::Ordering::Relaxed)
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
