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
use rusqlite::{Connection, ErrorCode, TransactionBehavior};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Called after completions were sent, to wake the loop.
pub(super) type Wake = Arc<dyn Fn() + Send + Sync>;

/// Most requests in one transaction.
pub(super) const BATCH_MAX: usize = 1024;

/// About the most messages logged in one transaction: the backlog the loop watches
/// falls batch by batch, so under load the loop reads again while the store writes
/// the next batch, instead of both taking turns over the whole backlog.
const BATCH_MESSAGES: usize = 2048;

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
        path.display(),
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
    // `messages_conv` index; with the default cache those leaf pages are evicted
    // between batches and every insert reads its page back: 11 µs per message against
    // 7 µs with this (500 conversations, measured with the store alone).
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA cache_size = -32768")
        .map_err(|e| err(&e))?;
    Ok(conn)
}

fn load(conn: &Connection) -> rusqlite::Result<Loaded> {
    Ok(Loaded {
        accounts: db::load_accounts(conn)?,
        last_id: db::last_id(conn)?,
        bans: db::load_bans(conn, now_ms() / 1000)?,
    })
}

fn spawn_store(
    conn: Connection,
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
    };
    thread::Builder::new()
        .name("chatd-store".into())
        .spawn(move || worker.run())
        .map_err(|e| StoreError(format!("cannot start the store thread: {e}")))
}

struct Worker {
    conn: Connection,
    options: StoreOptions,
    /// Shared with [`Store`]: lowered once a batch's messages are committed.
    backlog: Arc<AtomicUsize>,
    /// Shared with [`Store`]: wake the loop once `backlog` is at most this.
    wake_below: Arc<AtomicUsize>,
    /// Shared with [`Store`]: failures, for `chatctl stats` and the operators.
    health: Arc<StoreHealth>,
    requests: Receiver<Request>,
    completions: Sender<Completion>,
    wake: Wake,
    /// Writes of a batch that could not be written, oldest first, tried again before
    /// anything newer.
    kept: Vec<Request>,
    /// The pause before `kept` is tried again when no new request comes.
    retry_in: Duration,
    /// Unix seconds of the last "still failing" log line.
    reminded_at: i64,
}

impl Worker {
    fn run(mut self) {
        let mut open = true;
        while open {
            let first = if self.kept.is_empty() {
                match self.requests.recv() {
                    Ok(request) => Some(request),
                    Err(_) => break,
                }
            } else {
                match self.requests.recv_timeout(self.retry_in) {
                    Ok(request) => Some(request),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => {
                        // Shutting down: one last attempt for what is kept.
                        open = false;
                        None
                    }
                }
            };
            let mut batch = std::mem::take(&mut self.kept);
            let mut messages: usize = batch.iter().map(Request::logged).sum();
            if let Some(first) = first {
                messages += first.logged();
                batch.push(first);
                while batch.len() < BATCH_MAX && messages < BATCH_MESSAGES {
                    match self.requests.try_recv() {
                        Ok(request) => {
                            messages += request.logged();
                            batch.push(request);
                        }
                        Err(_) => break,
                    }
                }
            }
            let (backups, batch): (Vec<Request>, Vec<Request>) = batch
                .into_iter()
                .partition(|r| matches!(r, Request::Backup { .. }));
            let logged: usize = batch.iter().map(Request::logged).sum();
            let writes = batch.iter().any(|r| !is_read(r));
            let mut outcome = if batch.is_empty() {
                Outcome::default()
            } else {
                run_batch(&mut self.conn, &self.options, batch)
            };
            self.kept = std::mem::take(&mut outcome.kept);
            let unsaved: usize = self.kept.iter().map(Request::logged).sum();
            let health_changed = self.record(&outcome, writes, unsaved);
            let before = self
                .backlog
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_sub(logged - unsaved))
                })
                .unwrap_or(0);
            let left = before.saturating_sub(logged - unsaved);
            let waiting = self.wake_below.load(Ordering::Relaxed);
            if waiting != usize::MAX && left <= waiting {
                self.wake_below.store(usize::MAX, Ordering::Relaxed);
                (self.wake)();
            }
            let mut done = outcome.done;
            for request in backups {
                if let Request::Backup { ticket, path } = request {
                    done.push(Completion::Backup {
                        result: backup(&self.conn, &path),
                        ticket,
                    });
                }
            }
            if !done.is_empty() || health_changed {
                for completion in done {
                    // The loop may already be gone at shutdown; nothing to tell then.
                    let _ = self.completions.send(completion);
                }
                (self.wake)();
            }
        }
        let unsaved: usize = self.kept.iter().map(Request::logged).sum();
        if !self.kept.is_empty() {
            log::error!(
                "store: stopping while the database cannot be written: {unsaved} delivered \
                 messages and {} other changes were never saved",
                self.kept.len()
            );
        }
        if let Err(e) = self.conn.execute_batch("PRAGMA optimize") {
            log::warn!("store: PRAGMA optimize failed: {e}");
        }
        match self.conn.close() {
            Ok(()) => log::info!("store: closed"),
            Err((_, e)) => log::error!("store: closing the database failed: {e}"),
        }
    }

    /// Updates [`StoreHealth`] after a batch and logs the start and end of a failing
    /// episode. True when the loop should look (failing began or ended).
    fn record(&mut self, outcome: &Outcome, writes: bool, unsaved: usize) -> bool {
        let h = &self.health;
        h.read_errors
            .fetch_add(outcome.read_errors, Ordering::Relaxed);
        h.write_errors
            .fetch_add(outcome.write_errors, Ordering::Relaxed);
        if let Some(why) = &outcome.error {
            h.note_error(why);
        }
        h.unsaved.store(unsaved, Ordering::Relaxed);
        let now = now_ms() / 1000;
        let was_failing = h.is_failing();
        match &outcome.write_failure {
            Some(why) => {
                h.write_errors.fetch_add(1, Ordering::Relaxed);
                h.note_error(why);
                if !was_failing {
                    h.failing_since.store(now, Ordering::Relaxed);
                    h.failing.store(true, Ordering::Relaxed);
                    self.reminded_at = now;
                    log::error!(
                        "store: cannot write to the database: {why}. {unsaved} delivered \
                         messages are kept in memory and written as soon as it works again; \
                         offline messages and registrations are refused meanwhile"
                    );
                } else if now - self.reminded_at >= FAILING_REMINDER_SECS {
                    self.reminded_at = now;
                    log::error!(
                        "store: still cannot write to the database ({why}): {unsaved} \
                         delivered messages not saved yet"
                    );
                }
                self.retry_in = if was_failing {
                    (self.retry_in * 2).min(RETRY_MAX)
                } else {
                    RETRY_FIRST
                };
                !was_failing
            }
            None if was_failing && writes => {
                let since = h.failing_since.swap(0, Ordering::Relaxed);
                h.failing.store(false, Ordering::Relaxed);
                self.retry_in = RETRY_FIRST;
                log::warn!(
                    "store: writing to the database works again after {} s; every kept \
                     message is saved",
                    now - since
                );
                true
            }
            None => false,
        }
    }
}

/// `VACUUM INTO`: a consistent, compacted copy while the database stays in use. The
/// copy is created 0600 first (VACUUM INTO fills an empty file), so it is never
/// readable by other users, whatever the umask.
fn backup(conn: &Connection, path: &std::path::Path) -> Result<u64, String> {
    let target = path
        .to_str()
        .ok_or_else(|| format!("{} is not valid UTF-8", path.display()))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|f| f.set_permissions(std::fs::Permissions::from_mode(0o600)))
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => format!("{} already exists", path.display()),
            _ => format!("cannot create {}: {e}", path.display()),
        })?;
    if let Err(e) = conn.execute("VACUUM INTO ?1", [target]) {
        let _ = std::fs::remove_file(path);
        return Err(format!("backup to {} failed: {e}", path.display()));
    }
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    log::info!("store: backed up to {} ({size} bytes)", path.display());
    Ok(size)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What became of a batch.
#[derive(Debug, Default)]
struct Outcome {
    /// The answers to send, in request order.
    done: Vec<Completion>,
    /// The writes nobody waits for, kept to be tried again (the batch did not commit).
    kept: Vec<Request>,
    /// Why the batch's writes did not commit, if they did not.
    write_failure: Option<String>,
    /// Reads that failed on their own (a damaged page...).
    read_errors: u64,
    /// Writes the database refused on their own (not for want of space).
    write_errors: u64,
    /// The latest error of a single request, if any.
    error: Option<String>,
}

/// A request that changes nothing in the database.
fn is_read(request: &Request) -> bool {
    matches!(
        request,
        Request::History { .. }
            | Request::Targets { .. }
            | Request::FetchQueue { .. }
            | Request::FetchMemberships { .. }
            | Request::ListAccounts { .. }
            | Request::Stats { .. }
            | Request::Tail { .. }
            | Request::Sync { .. }
            | Request::Verify { .. }
    )
}

/// An error that says the database cannot be written *now* (disk full, I/O error,
/// a lock, a read-only remount), not that the request is wrong: its writes are kept
/// and tried again.
fn is_transient(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::OutOfMemory
                | ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
        )
    )
}

/// Runs one batch in one transaction. If its writes cannot be written now, the
/// writes nobody waits for come back in [`Outcome::kept`], the others are refused,
/// and the reads are run again on their own.
fn run_batch(conn: &mut Connection, options: &StoreOptions, batch: Vec<Request>) -> Outcome {
    let now = now_ms();
    let mut outcome = Outcome::default();
    let why = match attempt(conn, options, &batch, now, &mut outcome) {
        Ok(done) => {
            outcome.done = done;
            return outcome;
        }
        Err(why) => why,
    };
    // Reads need no space: they are answered, not refused, when writing fails.
    let reads: Vec<&Request> = batch.iter().filter(|r| is_read(r)).collect();
    let read_answers = if reads.is_empty() {
        Vec::new()
    } else {
        match attempt_refs(conn, options, &reads, now, &mut outcome) {
            Ok(done) => done,
            Err(why) => reads.iter().filter_map(|r| failure_of(r, &why)).collect(),
        }
    };
    let mut read_answers = read_answers.into_iter();
    for request in batch {
        if is_read(&request) {
            outcome.done.extend(read_answers.next());
        } else if let Some(refusal) = failure_of(&request, &why) {
            outcome.done.push(refusal);
        } else {
            outcome.kept.push(request);
        }
    }
    outcome.write_failure = Some(why);
    outcome
}

fn attempt(
    conn: &mut Connection,
    options: &StoreOptions,
    batch: &[Request],
    now: i64,
    outcome: &mut Outcome,
) -> Result<Vec<Completion>, String> {
    let refs: Vec<&Request> = batch.iter().collect();
    attempt_refs(conn, options, &refs, now, outcome)
}

/// One transaction over `batch`, each request in its own savepoint. `Err` (with the
/// reason) when the transaction could not be written: then nothing of it is saved.
fn attempt_refs(
    conn: &mut Connection,
    options: &StoreOptions,
    batch: &[&Request],
    now: i64,
    outcome: &mut Outcome,
) -> Result<Vec<Completion>, String> {
    let count = batch.len();
    // WAL with synchronous=NORMAL commits without fsync; FULL fsyncs the WAL at commit
    // (everything committed before included). Only batches with something a user was
    // promised durably (a queued message, an account, a membership, a ban) pay for it.
    let sync = if batch.iter().any(|r| r.needs_fsync()) {
        "PRAGMA synchronous = FULL"
    } else {
        "PRAGMA synchronous = NORMAL"
    };
    if let Err(e) = conn.execute_batch(sync) {
        log::error!("store: {sync} failed: {e}");
    }
    // A batch of reads takes no write lock, so it runs even when nothing can be written.
    let behavior = if batch.iter().all(|r| is_read(r)) {
        TransactionBehavior::Deferred
    } else {
        TransactionBehavior::Immediate
    };
    let mut tx = conn
        .transaction_with_behavior(behavior)
        .map_err(|e| format!("cannot begin a transaction: {e}"))?;
    let mut out = Vec::with_capacity(count);
    for request in batch {
        let result = tx.savepoint().and_then(|mut sp| {
            match execute(&sp, request, options, now) {
                Ok(done) => sp.commit().map(|()| done),
                Err(e) => {
                    // Undo this request's partial writes; the batch goes on.
                    let _ = sp.rollback();
                    Err(e)
                }
            }
        });
        match result {
            Ok(done) => out.extend(done),
            // SQLite may have rolled the whole transaction back (SQLITE_FULL, IOERR):
            // the batch stops here, and is kept or refused as a whole.
            Err(e) if is_transient(&e) => {
                drop(tx);
                return Err(e.to_string());
            }
            Err(e) => {
                let why = format!("{} failed: {e}", request.kind());
                log::error!("store: {why}");
                if is_read(request) {
                    outcome.read_errors += 1;
                } else {
                    outcome.write_errors += 1;
                }
                outcome.error = Some(why);
                out.extend(failure_of(request, &e.to_string()));
            }
        }
    }
    match tx.commit() {
        Ok(()) => {
            log::trace!("store: committed a batch of {count} requests");
            Ok(out)
        }
        Err(e) => Err(format!("commit failed: {e}")),
    }
}

/// Does one request; returns its answer, if it has one.
fn execute(
    conn: &Connection,
    request: &Request,
    options: &StoreOptions,
    now_ms: i64,
) -> rusqlite::Result<Option<Completion>> {
    Ok(match request {
        Request::Log(msgs) => {
            db::log(conn, msgs)?;
            None
        }
        Request::Queue {
            ticket,
            account,
            msg,
        } => Some(Completion::Queued {
            ticket: ticket.clone(),
            result: db::queue(
                conn,
                *account,
                msg,
                now_ms,
                options.queue_max_messages,
                options.queue_max_age_secs,
            )?,
        }),
        Request::CreateAccount { ticket, account } => Some(create(conn, ticket, account.clone())?),
        // Not routed here by `Store::send`, but handled all the same.
        Request::Register {
            ticket,
            name,
            email,
            password,
        } => {
            let account = new_account(name, email, password, options.pbkdf2_iterations);
            Some(create(conn, ticket, account)?)
        }
        Request::Verify {
            ticket,
            account,
            password,
            hash,
        } => Some(Completion::Verified {
            ticket: ticket.clone(),
            account: account.clone(),
            ok: password::verify(password, hash),
        }),
        Request::DeleteAccount { account } => {
            db::delete_account(conn, *account)?;
            None
        }
        Request::Seen { account, time } => {
            db::seen(conn, account, *time)?;
            None
        }
        Request::FetchQueue { ticket, account } => Some(Completion::Queue {
            ticket: ticket.clone(),
            rows: db::fetch_queue(conn, *account)?,
        }),
        Request::Dequeue { ids } => {
            db::dequeue(conn, ids)?;
            None
        }
        Request::Join {
            account,
            channel,
            incarnation,
            last_id,
        } => {
            db::join(conn, *account, channel, *incarnation, *last_id)?;
            None
        }
        Request::NewChannel {
            name,
            incarnation,
            created_ms,
        } => {
            db::new_channel(conn, name, *incarnation, *created_ms)?;
            None
        }
        Request::ChannelBan {
            incarnation,
            mask,
            at_id,
        } => {
            db::channel_ban(conn, *incarnation, mask, *at_id)?;
            None
        }
        Request::Part { account, channel } => {
            db::part(conn, *account, channel)?;
            None
        }
        Request::Left {
            account,
            channels,
            last_id,
        } => {
            db::left(conn, *account, channels, *last_id)?;
            None
        }
        Request::FetchMemberships { ticket, account } => Some(Completion::Memberships {
            ticket: ticket.clone(),
            channels: db::fetch_memberships(conn, *account, options.missed_per_channel)?,
        }),
        Request::History {
            ticket,
            conv,
            range,
            limit,
        } => Some(Completion::History {
            ticket: ticket.clone(),
            messages: db::history(conn, conv, range, *limit)?,
        }),
        Request::Targets {
            ticket,
            party,
            channels,
            from,
            to,
            limit,
        } => Some(Completion::Targets {
            ticket: ticket.clone(),
            targets: db::targets(conn, party, channels, *from, *to, *limit)?,
        }),
        Request::Sync { ticket } => Some(Completion::Synced {
            ticket: ticket.clone(),
        }),
        Request::AddBan(ban) => {
            db::add_ban(conn, ban)?;
            None
        }
        Request::RemoveBan { mask } => {
            db::remove_ban(conn, mask)?;
            None
        }
        Request::ListAccounts { ticket } => Some(Completion::Accounts {
            ticket: ticket.clone(),
            accounts: db::list_accounts(conn)?,
        }),
        Request::Stats { ticket } => Some(Completion::Stats {
            ticket: ticket.clone(),
            queue_total: db::queue_total(conn)?,
            store_bytes: store_bytes(conn),
        }),
        // Taken out of batches by the worker; inside a transaction VACUUM cannot run.
        Request::Backup { ticket, path } => Some(Completion::Backup {
            ticket: ticket.clone(),
            result: Err(format!(
                "{}: a backup cannot run inside a transaction",
                path.display()
            )),
        }),
        Request::Tail { ticket, n, filter } => Some(Completion::History {
            ticket: ticket.clone(),
            messages: db::tail(conn, *n, filter.as_ref())?,
        }),
    })
}

/// Bytes on disk of the main database file and its WAL.
fn store_bytes(conn: &Connection) -> u64 {
    let Some(path) = conn.path().filter(|p| !p.is_empty()) else {
        return 0;
    };
    let size = |p: String| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    size(path.to_string()) + size(format!("{path}-wal"))
}

fn create(
    conn: &Connection,
    ticket: &super::Ticket,
    account: Account,
) -> rusqlite::Result<Completion> {
    let result = db::create_account(conn, &account)?.map(|id| Account { id, ..account });
    Ok(Completion::Registered {
        ticket: ticket.clone(),
        result,
    })
}

fn new_account(name: &str, email: &Option<String>, password: &str, iterations: u32) -> Account {
    let now = now_ms() / 1000;
    Account {
        id: 0,
        name: name.to_string(),
        hash: password::hash(password, iterations),
        email: email.clone(),
        created: now,
        last_seen: now,
    }
}

/// The answer to a request whose database work failed, if it expects one.
fn failure_of(request: &Request, why: &str) -> Option<Completion> {
    Some(match request {
        Request::Queue { ticket: t, .. } => Completion::Queued {
            ticket: t.clone(),
            result: Err(QueueRefusal::Unavailable),
        },
        Request::Register { ticket: t, .. } | Request::CreateAccount { ticket: t, .. } => {
            Completion::Registered {
                ticket: t.clone(),
                result: Err(RegisterError::Unavailable(why.to_string())),
            }
        }
        Request::Verify {
            ticket: t, account, ..
        } => Completion::Verified {
            ticket: t.clone(),
            account: account.clone(),
            ok: false,
        },
        Request::FetchQueue { ticket: t, .. } => Completion::Queue {
            ticket: t.clone(),
            rows: Vec::new(),
        },
        Request::FetchMemberships { ticket: t, .. } => Completion::Memberships {
            ticket: t.clone(),
            channels: Vec::new(),
        },
        Request::History { ticket: t, .. }
        | Request::Targets { ticket: t, .. }
        | Request::Tail { ticket: t, .. } => Completion::ReadFailed {
            ticket: t.clone(),
            why: why.to_string(),
        },
        Request::Sync { ticket: t } => Completion::Synced { ticket: t.clone() },
        Request::ListAccounts { ticket: t } => Completion::Accounts {
            ticket: t.clone(),
            accounts: Vec::new(),
        },
        Request::Stats { ticket: t } => Completion::Stats {
            ticket: t.clone(),
            queue_total: 0,
            store_bytes: 0,
        },
        Request::Backup { ticket: t, .. } => Completion::Backup {
            ticket: t.clone(),
            result: Err(why.to_string()),
        },
        Request::AddBan(_) | Request::RemoveBan { .. } => return None,
        Request::Log(_)
        | Request::DeleteAccount { .. }
        | Request::Seen { .. }
        | Request::Dequeue { .. }
        | Request::Join { .. }
        | Request::NewChannel { .. }
        | Request::ChannelBan { .. }
        | Request::Part { .. }
        | Request::Left { .. } => return None,
    })
}

fn run_hasher(
    requests: Receiver<Request>,
    store: Sender<Request>,
    completions: Sender<Completion>,
    wake: Wake,
    iterations: u32,
) {
    for request in requests {
        match request {
            Request::Verify {
                ticket,
                account,
                password,
                hash,
            } => {
                let ok = password::verify(&password, &hash);
                let _ = completions.send(Completion::Verified {
                    ticket,
                    account,
                    ok,
                });
                wake();
            }
            Request::Register {
                ticket,
                name,
                email,
                password,
            } => {
                let account = new_account(&name, &email, &password, iterations);
                if let Err(mpsc::SendError(Request::CreateAccount { ticket, .. })) =
                    store.send(Request::CreateAccount { ticket, account })
                {
                    let _ = completions.send(Completion::Registered {
                        ticket,
                        result: Err(RegisterError::Unavailable(
                            "the store has stopped".to_string(),
                        )),
                    });
                    wake();
                }
            }
            other => {
                // Not routed here by `Store::send`; pass it on.
                if store.send(other).is_err() {
                    log::error!("store: the store thread has stopped; a request was dropped");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::ConnId;
    use crate::store::db::tests::{chan, chan_msg, dm};
    use crate::store::{Conv, Range, StoredMessage, Ticket};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const WAIT: Duration = Duration::from_secs(30);

    fn options() -> StoreOptions {
        StoreOptions {
            pbkdf2_iterations: 1000,
            queue_max_messages: 100,
            queue_max_age_secs: 3600,
            missed_per_channel: 50,
            max_db_bytes: 0,
            startup_check: true,
        }
    }

    fn ticket(what: &str) -> Ticket {
        Ticket {
            conn: ConnId { slot: 0, serial: 1 },
            what: what.to_string(),
        }
    }

    fn counter() -> (Arc<AtomicUsize>, Wake) {
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = wakes.clone();
        (
            wakes,
            Arc::new(move || {
                w.fetch_add(1, Ordering::SeqCst);
            }),
        )
    }

    fn open_store(dir: &Path) -> (Store, Receiver<Completion>, Loaded, Arc<AtomicUsize>) {
        let (wakes, wake) = counter();
        let (store, rx, loaded) = Store::open(dir, options(), wake).unwrap();
        (store, rx, loaded, wakes)
    }

    fn next(rx: &Receiver<Completion>) -> Completion {
        rx.recv_timeout(WAIT).expect("a completion")
    }

    fn history(store: &Store, rx: &Receiver<Completion>, conv: Conv) -> Vec<StoredMessage> {
        store.send(Request::History {
            ticket: ticket("h"),
            conv,
            range: Range::Latest { after: None },
            limit: 10_000,
        });
        match next(rx) {
            Completion::History { messages, .. } => messages,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn close_flushes_everything() {
        let dir = tempfile::tempdir().unwrap();
        let (store, rx, loaded, _) = open_store(dir.path());
        assert!(loaded.accounts.is_empty());
        assert_eq!(loaded.last_id, 0);
        assert_eq!(store.path(), dir.path().join(DB_FILE));
        store.send(Request::Register {
            ticket: ticket("reg"),
            name: "Alice".into(),
            email: None,
            password: "pw".into(),
        });
        store.send(Request::Log(
            (1..=100).map(|i| chan_msg(i, "#c", "n", "m")).collect(),
        ));
        store.send(Request::Join {
            account: 1,
            channel: "#C".into(),
            incarnation: 0,
            last_id: 40,
        });
        store.send(Request::Queue {
            ticket: ticket("q"),
            account: 1,
            msg: dm(200, "n:bob", "bob", "a:alice", "alice", "hi"),
        });
        // No waiting for any answer: close must finish the hasher's work too.
        store.close();
        let got: Vec<_> = rx.try_iter().collect();
        assert_eq!(got.len(), 2, "{got:?}");

        let (store, rx, loaded, _) = open_store(dir.path());
        assert_eq!(loaded.accounts.len(), 1);
        assert_eq!(loaded.accounts[0].name, "Alice");
        assert!(password::verify("pw", &loaded.accounts[0].hash));
        assert_eq!(loaded.last_id, 200);
        store.send(Request::FetchQueue {
            ticket: ticket("fq"),
            account: 1,
        });
        match next(&rx) {
            Completion::Queue { rows, .. } => {
                assert_eq!(rows.len(), 1);
                assert_eq!(rows[0].1.text, "hi");
            }
            other => panic!("unexpected {other:?}"),
        }
        store.send(Request::FetchMemberships {
            ticket: ticket("fm"),
            account: 1,
        });
        match next(&rx) {
            Completion::Memberships { channels, .. } => {
                assert_eq!(channels.len(), 1);
                assert_eq!(channels[0].channel, "#C");
                let first = channels[0].missed.first().map(|m| m.id);
                assert_eq!((channels[0].missed.len(), first), (50, Some(51)));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(history(&store, &rx, chan("#c")).len(), 100);
        store.close();
    }

    #[test]
    fn group_commit_takes_a_burst_in_few_batches() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_connection(&dir.path().join(DB_FILE)).unwrap();
        let (tx, rx) = mpsc::channel();
        let (ctx, crx) = mpsc::channel();
        let (wakes, wake) = counter();
        // Everything is waiting before the thread starts: batches are deterministic.
        let n = BATCH_MAX + 500;
        for i in 0..n as i64 {
            tx.send(Request::Queue {
                ticket: ticket(&i.to_string()),
                account: i % 10,
                msg: dm(i + 1, "n:x", "x", "a:y", "y", "m"),
            })
            .unwrap();
        }
        tx.send(Request::Sync {
            ticket: ticket("sync"),
        })
        .unwrap();
        drop(tx);
        let opts = StoreOptions {
            queue_max_messages: 1000,
            ..options()
        };
        spawn_store(
            conn,
            opts,
            (
                Arc::new(AtomicUsize::new(0)),
                Arc::new(AtomicUsize::new(usize::MAX)),
                Arc::new(StoreHealth::default()),
            ),
            rx,
            ctx,
            wake,
        )
        .unwrap()
        .join()
        .unwrap();
        let got: Vec<_> = crx.try_iter().collect();
        assert_eq!(got.len(), n + 1);
        // Answers come in request order.
        for (i, c) in got[..n].iter().enumerate() {
            match c {
                Completion::Queued { ticket, result } => {
                    assert_eq!(ticket.what, i.to_string());
                    assert_eq!(*result, Ok(()));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(matches!(got[n], Completion::Synced { .. }));
        // Two batches, two wakes.
        assert_eq!(wakes.load(Ordering::SeqCst), 2);

        let (store, rx, loaded, _) = open_store(dir.path());
        assert_eq!(loaded.last_id, n as i64);
        store.send(Request::FetchQueue {
            ticket: ticket("fq"),
            account: 3,
        });
        match next(&rx) {
            Completion::Queue { rows, .. } => assert_eq!(rows.len(), n.div_ceil(10)),
            other => panic!("unexpected {other:?}"),
        }
        store.close();
    }

    #[test]
    fn burst_through_the_store_is_all_answered() {
        let dir = tempfile::tempdir().unwrap();
        let (store, rx, _, wakes) = open_store(dir.path());
        for i in 1..=300 {
            store.send(Request::Log(vec![chan_msg(i, "#c", "n", "m")]));
            store.send(Request::Queue {
                ticket: ticket("q"),
                account: 2,
                msg: dm(10_000 + i, "n:x", "x", "a:bob", "bob", "m"),
            });
        }
        store.send(Request::Sync {
            ticket: ticket("sync"),
        });
        let mut queued = 0;
        loop {
            match next(&rx) {
                Completion::Queued { result, .. } => {
                    queued += 1;
                    // queue_max_messages is 100.
                    let want = if queued <= 100 {
                        Ok(())
                    } else {
                        Err(QueueRefusal::Full)
                    };
                    assert_eq!(result, want);
                }
                Completion::Synced { .. } => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(queued, 300);
        let woken = wakes.load(Ordering::SeqCst);
        assert!((1..=301).contains(&woken), "{woken}");
        assert_eq!(history(&store, &rx, chan("#c")).len(), 300);
        store.close();
    }

    #[test]
    fn register_exists_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let (store, rx, _, _) = open_store(dir.path());
        let register = |name: &str| {
            store.send(Request::Register {
                ticket: ticket(name),
                name: name.into(),
                email: Some("a@example.org".into()),
                password: "s3cret".into(),
            });
            match next(&rx) {
                Completion::Registered { ticket, result } => {
                    assert_eq!(ticket.what, name);
                    result
                }
                other => panic!("unexpected {other:?}"),
            }
        };
        let account = register("Alice").unwrap();
        assert_eq!(account.name, "Alice");
        assert_eq!(account.email.as_deref(), Some("a@example.org"));
        assert_eq!(account.hash.iterations, 1000);
        assert!(account.created > 0 && account.created == account.last_seen);
        assert_eq!(register("ALICE"), Err(RegisterError::Exists));

        for (password, want) in [("s3cret", true), ("S3cret", false), ("", false)] {
            store.send(Request::Verify {
                ticket: ticket("v"),
                account: "alice".into(),
                password: password.into(),
                hash: account.hash.clone(),
            });
            match next(&rx) {
                Completion::Verified { account, ok, .. } => {
                    assert_eq!(account, "alice");
                    assert_eq!(ok, want, "{password:?}");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        store.close();
        let (store, _, loaded, _) = open_store(dir.path());
        assert_eq!(loaded.accounts, vec![account]);
        store.close();
    }

    #[test]
    fn newer_schema_fails_to_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.execute_batch("PRAGMA user_version = 999").unwrap();
        }
        let (_, wake) = counter();
        let err = Store::open(dir.path(), options(), wake)
            .err()
            .expect("an error");
        assert!(err.0.contains("newer"), "{err}");
        assert!(err.0.contains("999"), "{err}");
    }

    #[test]
    fn reopen_keeps_schema_and_data() {
        let dir = tempfile::tempdir().unwrap();
        for round in 1..=3i64 {
            let (store, _, loaded, _) = open_store(dir.path());
            assert_eq!(loaded.last_id, round - 1);
            store.send(Request::Log(vec![chan_msg(round, "#c", "n", "m")]));
            store.close();
        }
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, schema::latest_version());
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    fn failing_batch() -> Vec<Request> {
        vec![
            Request::Log(vec![chan_msg(2, "#c", "n", "new")]),
            Request::Queue {
                ticket: ticket("q"),
                account: 2,
                msg: dm(3, "n:x", "x", "a:bob", "bob", "m"),
            },
            Request::CreateAccount {
                ticket: ticket("c"),
                account: new_account("bob", &None, "pw", 1),
            },
            Request::Seen {
                account: "bob".into(),
                time: 5,
            },
            Request::History {
                ticket: ticket("h"),
                conv: chan("#c"),
                range: Range::Latest { after: None },
                limit: 10,
            },
            Request::Sync {
                ticket: ticket("s"),
            },
        ]
    }

    #[test]
    fn unwritable_database_refuses_answered_writes_and_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_connection(&dir.path().join(DB_FILE)).unwrap();
        db::log(&conn, &[chan_msg(1, "#c", "n", "old")]).unwrap();
        // Every write is refused, as on a read-only remount.
        conn.execute_batch("PRAGMA query_only = ON").unwrap();
        let outcome = run_batch(&mut conn, &options(), failing_batch());
        assert!(outcome.write_failure.is_some(), "{outcome:?}");
        // The delivered message and the `Seen` are kept to be written later.
        let kept: Vec<_> = outcome.kept.iter().map(Request::kind).collect();
        assert_eq!(kept, ["Log", "Seen"]);
        let done = outcome.done;
        assert_eq!(done.len(), 4, "{done:?}");
        assert!(matches!(
            done[0],
            Completion::Queued {
                result: Err(QueueRefusal::Unavailable),
                ..
            }
        ));
        assert!(matches!(
            &done[1],
            Completion::Registered {
                result: Err(RegisterError::Unavailable(why)),
                ..
            } if !why.is_empty()
        ));
        assert!(matches!(&done[2], Completion::History { .. }));
        assert!(matches!(done[3], Completion::Synced { .. }));
        conn.execute_batch("PRAGMA query_only = OFF").unwrap();
        assert_eq!(db::last_id(&conn).unwrap(), 1);
        assert!(db::load_accounts(&conn).unwrap().is_empty());
    }

    #[test]
    fn a_failing_request_does_not_spoil_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_connection(&dir.path().join(DB_FILE)).unwrap();
        db::log(&conn, &[chan_msg(1, "#c", "n", "old")]).unwrap();
        // Queue rows fail after the queued message itself was inserted.
        conn.execute_batch(
            "CREATE TEMP TRIGGER no_queue BEFORE INSERT ON offline_queue \
             BEGIN SELECT RAISE(ABORT, 'refused by test'); END;",
        )
        .unwrap();
        let outcome = run_batch(&mut conn, &options(), failing_batch());
        assert!(outcome.kept.is_empty() && outcome.write_failure.is_none());
        let done = outcome.done;
        assert_eq!(done.len(), 4, "{done:?}");
        assert!(matches!(
            done[0],
            Completion::Queued {
                result: Err(QueueRefusal::Unavailable),
                ..
            }
        ));
        assert!(
            matches!(&done[1], Completion::Registered { result: Ok(a), .. } if a.name == "bob")
        );
        // The Log before it is kept; the failed Queue's message insert is undone.
        match &done[2] {
            Completion::History { messages, .. } => {
                let ids: Vec<_> = messages.iter().map(|m| m.id).collect();
                assert_eq!(ids, [1, 2]);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(done[3], Completion::Synced { .. }));
        assert_eq!(db::last_id(&conn).unwrap(), 2);
        let accounts = db::load_accounts(&conn).unwrap();
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0].last_seen, 5);
    }
}
