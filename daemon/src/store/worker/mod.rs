//! The two threads behind [`Store`].
//!
//! **chatd-store** owns the one read-write connection. It blocks for a request, then
//! takes whatever else is already waiting (at most [`BATCH_MAX`]), runs the whole
//! batch in one transaction (each request in its own savepoint, so one failing
//! request does not undo the others), commits, and only then sends the batch's
//! completions and wakes the loop once. If the batch cannot be written (disk full,
//! I/O error, the `history.max_db_mib` cap), nothing is silently dropped: the writes
//! nobody waits for (logged messages already delivered, memberships, bans...) are
//! kept in memory and tried again, with a growing pause, until they commit; the
//! writes someone waits for are refused (`QueueRefusal::Unavailable`,
//! `RegisterError::Unavailable`); reads are run again on their own. The backlog the
//! loop watches still counts the kept messages, so the loop stops reading clients
//! when `history.log_backlog_max` is reached, and memory stays bounded. A read that
//! fails (a damaged database) is answered with [`Completion::ReadFailed`], never
//! with a short answer. [`StoreHealth`] tells the loop and `chatctl stats`. When
//! every sender is gone it finishes what is queued and exits: that is the graceful
//! close.
//!
//! **chatd-hasher** does the slow PBKDF2 work: `Verify` is answered directly;
//! `Register` is hashed and handed to the store thread as `CreateAccount`.
//!
//! Durability: WAL. A batch with anything promised to a user (a queued message
//! acknowledged to its sender, an account, a membership, a ban) commits with
//! `synchronous=FULL` and survives `kill -9` and power loss. A batch of only logged
//! live messages commits with `synchronous=NORMAL`: it survives `kill -9`, and reaches
//! the disk with the next FULL commit or checkpoint.

use super::{
    db, password, schema, Account, Completion, Loaded, QueueRefusal, RegisterError, Request, Store,
    StoreError, StoreHealth, StoreOptions, DB_FILE,
};
use rusqlite::{Connection, ErrorCode};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod commit;
mod engine;
mod execute;
mod hasher;
#[cfg(test)]
mod index_tests;
#[cfg(test)]
mod tests;

use commit::*;
pub(super) use engine::{Engine, Failure};
use execute::*;
pub(super) use execute::{failure_of, new_account, now_ms};
pub(super) use hasher::verify;
use hasher::*;

/// Called after completions were sent, to wake the loop.
pub(super) type Wake = Arc<dyn Fn() + Send + Sync>;

/// Most requests in one transaction.
pub(super) const BATCH_MAX: usize = 1024;

/// About the most messages logged in one transaction: the backlog the loop watches
/// falls batch by batch, so under load the loop reads again while the store writes
/// the next batch, instead of both taking turns over the whole backlog.
const BATCH_MESSAGES: usize = 2048;

/// How many logged messages may wait for the `(conv, id)` index ([`db::index`])
/// before the store thread writes their pairs in one sorted batch. The larger, the
/// fewer index pages each message costs (each batch rewrites about one leaf page per
/// conversation it touches); the pending pairs live in memory, and a restart after
/// `kill -9` indexes at most this many. See docs/performance.md, "Private-message
/// history layout (migration 9)".
pub(super) const INDEX_BATCH: usize = 262_144;

/// How long a statement waits for a lock held by another connection (a backup tool).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The first pause before a failed batch's kept writes are tried again; it doubles
/// up to [`RETRY_MAX`] while writing keeps failing. New requests try at once.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// While writing fails, the log says so again this often.
const FAILING_REMINDER_SECS: i64 = 60;

pub(super) fn open(
    data_dir: &Path,
    options: StoreOptions,
    wake: Wake,
) -> Result<(Store, Receiver<Completion>, Loaded), StoreError> {
    prepare_data_dir(data_dir)?;
    let (conn, loaded, path): (Box<dyn Engine>, Loaded, _) = if options.database.is_empty() {
        let (conn, loaded, path) = open_sqlite(data_dir, &options)?;
        (Box::new(conn), loaded, path)
    } else {
        let (pg, loaded) = super::pg::open(&options.database, now_ms() / 1000)?;
        (Box::new(pg), loaded, data_dir.to_path_buf())
    };
    start(conn, loaded, path, options, wake)
}

/// Opens (creating, checking and migrating) `data_dir/chatd.db` and loads it.
fn open_sqlite(
    data_dir: &Path,
    options: &StoreOptions,
) -> Result<(Connection, Loaded, std::path::PathBuf), StoreError> {
    let path = data_dir.join(DB_FILE);
    if check_existing_file(&path)? && options.startup_check {
        // Before the migrations write anything to it.
        quick_check(&path)?;
    }
    let conn = open_connection(&path)?;
    limit_size(&conn, options.max_db_bytes).map_err(|e| {
        StoreError(format!(
            "{}: cannot set max_page_count: {e}",
            path.display()
        ))
    })?;
    let loaded =
        load(&conn).map_err(|e| StoreError(format!("cannot read {}: {e}", path.display())))?;
    Ok((conn, loaded, path))
}

/// Starts the store thread on `conn` and the hasher.
fn start(
    conn: Box<dyn Engine>,
    loaded: Loaded,
    path: std::path::PathBuf,
    options: StoreOptions,
    wake: Wake,
) -> Result<(Store, Receiver<Completion>, Loaded), StoreError> {
    let (requests, request_rx) = mpsc::channel();
    let (hasher, hasher_rx) = mpsc::channel();
    let (completions, completion_rx) = mpsc::channel();
    let backlog = Arc::new(AtomicUsize::new(0));
    let wake_below = Arc::new(AtomicUsize::new(usize::MAX));
    let health = Arc::new(StoreHealth::default());
    let store_thread = spawn_store(
        conn,
        options.clone(),
        (backlog.clone(), wake_below.clone(), health.clone()),
        request_rx,
        completions.clone(),
        wake.clone(),
    )?;
    let to_store = requests.clone();
    let iterations = options.pbkdf2_iterations;
    let hasher_thread = thread::Builder::new()
        .name("chatd-hasher".into())
        .spawn(move || run_hasher(hasher_rx, to_store, completions, wake, iterations));
    let hasher_thread = match hasher_thread {
        Ok(t) => t,
        Err(e) => {
            drop(requests);
            let _ = store_thread.join();
            return Err(StoreError(format!("cannot start the hasher thread: {e}")));
        }
    };
    log::info!(
        "store: opened {} ({} accounts, last message id {})",
        if path.is_dir() {
            "PostgreSQL".to_string()
        } else {
            path.display().to_string()
        },
        loaded.accounts.len(),
        loaded.last_id
    );
    let store = Store {
        requests,
        backlog,
        wake_below,
        health,
        hasher,
        threads: vec![store_thread, hasher_thread],
        path,
        muted: Default::default(),
        shared_writes: Default::default(),
    };
    Ok((store, completion_rx, loaded))
}

/// Creates the data dir readable by chatd's user alone (0700, whatever the umask),
/// or warns when an existing one lets other users in.
fn prepare_data_dir(data_dir: &Path) -> Result<(), StoreError> {
    if data_dir.is_dir() {
        warn_if_open_to_others(data_dir, "data directory", "700");
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .and_then(|()| {
            // The mode given to mkdir is reduced by the umask; this one is not.
            std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
        })
        .map_err(|e| {
            StoreError(format!(
                "cannot create the data directory {}: {e}",
                data_dir.display()
            ))
        })
}

/// Logs a warning when `path` can be read or written by its group or other users:
/// the database holds password hashes and private messages.
fn warn_if_open_to_others(path: &Path, what: &str, wanted: &str) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        log::warn!(
            "the {what} {} has mode {mode:03o}: other local users can reach password hashes \
             and private messages; run `chmod {wanted} {}`",
            path.display(),
            path.display()
        );
    }
}

/// Refuses a database file that exists but is empty: SQLite would take it for a new
/// database, and chatd would start with every account gone and every name free.
/// Warns when an existing file (or its WAL) is open to other users. True if the
/// file exists.
fn check_existing_file(path: &Path) -> Result<bool, StoreError> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(false);
    };
    if meta.len() == 0 {
        return Err(StoreError(format!(
            "{} exists but is empty (0 bytes), so its accounts and history are gone; \
             chatd will not start on it as if it were new. Restore it from a backup \
             (`chatctl backup`), or remove it to start afresh with no accounts",
            path.display()
        )));
    }
    warn_if_open_to_others(path, "database", "600");
    for suffix in ["-wal", "-shm"] {
        let mut other = path.as_os_str().to_owned();
        other.push(suffix);
        warn_if_open_to_others(Path::new(&other), "database file", "600");
    }
    Ok(true)
}

/// `PRAGMA quick_check`: refuses a database with damaged pages, rather than starting
/// with part of its accounts or history silently missing.
fn quick_check(path: &Path) -> Result<(), StoreError> {
    let refuse = |why: String| {
        StoreError(format!(
            "{} is damaged ({why}); chatd will not start on it. Restore it from a backup \
             (`chatctl backup`), or try `sqlite3 {} .recover`",
            path.display(),
            path.display()
        ))
    };
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| refuse(e.to_string()))?;
    let mut stmt = conn
        .prepare("PRAGMA quick_check(5)")
        .map_err(|e| refuse(e.to_string()))?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| refuse(e.to_string()))?;
    if rows != ["ok"] {
        return Err(refuse(format!("quick_check: {}", rows.join("; "))));
    }
    Ok(())
}

/// Caps the database at `max_bytes` (0: no cap): past it SQLite fails writes with
/// SQLITE_FULL, exactly as on a full disk.
fn limit_size(conn: &Connection, max_bytes: u64) -> rusqlite::Result<()> {
    if max_bytes == 0 {
        return Ok(());
    }
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let pages = (max_bytes / page_size.max(512) as u64).max(1);
    let _: i64 = conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
        r.get(0)
    })?;
    Ok(())
}

/// Opens, configures and migrates the database. A file it creates is made 0600
/// before anything is written, and SQLite gives its WAL and shared-memory files the
/// database file's mode, so none of them is ever readable by other users.
fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let err = |e: &dyn std::fmt::Display| StoreError(format!("{}: {e}", path.display()));
    let new = !path.exists();
    let mut conn = Connection::open(path).map_err(|e| err(&e))?;
    if new {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| err(&e))?;
    }
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| err(&e))?;
    conn.execute_batch("PRAGMA foreign_keys = ON")
        .map_err(|e| err(&e))?;
    conn.set_prepared_statement_cache_capacity(db::STATEMENT_CACHE);
    // Migrate (or refuse a newer schema) before changing anything else in the file.
    schema::migrate(&mut conn).map_err(|e| err(&e))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(|e| err(&e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(err(&format!(
            "cannot use WAL journaling (got journal_mode={mode})"
        )));
    }
    // A page cache of up to 32 MiB (SQLite's default is 2 MiB), filled only as pages
    // are used. Direct messages insert at one place per conversation in the
    // `(conv, id)` index; with the default cache those leaf pages were evicted
    // between batches and every insert read its page back: 11 µs per message against
    // 7 µs with this (500 conversations, measured with the store alone, before the
    // index was written behind in batches, migration 9).
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA cache_size = -32768")
        .map_err(|e| err(&e))?;
    // What a kill -9 left unindexed, before anything reads history.
    let indexed = db::index::open(&conn)
        .map_err(|e| err(&format!("cannot index the newest history: {e}")))?;
    if indexed > 0 {
        log::info!("store: indexed {indexed} messages logged before the last stop");
    }
    Ok(conn)
}

fn load(conn: &Connection) -> rusqlite::Result<Loaded> {
    Ok(Loaded {
        accounts: db::load_accounts(conn)?,
        read_markers: db::load_read_markers(conn)?,
        last_id: db::last_id(conn)?,
        bans: db::load_bans(conn, now_ms() / 1000)?,
        scram_secret: db::server_secret(conn, "scram")?,
        tokens: db::load_tokens(conn)?,
        channels: db::load_channels(conn)?,
    })
}

fn spawn_store(
    conn: Box<dyn Engine>,
    options: StoreOptions,
    (backlog, wake_below, health): (Arc<AtomicUsize>, Arc<AtomicUsize>, Arc<StoreHealth>),
    requests: Receiver<Request>,
    completions: Sender<Completion>,
    wake: Wake,
) -> Result<JoinHandle<()>, StoreError> {
    let worker = Worker {
        conn,
        options,
        backlog,
        wake_below,
        health,
        requests,
        completions,
        wake,
        kept: Vec::new(),
        retry_in: RETRY_FIRST,
        reminded_at: 0,
        unindexed: 0,
    };
    thread::Builder::new()
        .name("chatd-store".into())
        .spawn(move || worker.run())
        .map_err(|e| StoreError(format!("cannot start the store thread: {e}")))
}
