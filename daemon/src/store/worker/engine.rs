//! The seam between the store thread and a database: [`Engine`]. The worker's group
//! commit (one transaction per batch, a savepoint per request, retry and
//! [`StoreHealth`]) is written once against it; SQLite (`rusqlite::Connection`, the
//! single node) and PostgreSQL (`store/pg/`, a cluster) implement it.

use super::*;

/// Why an engine call failed. `transient`: the database cannot be written *now*
/// (disk full, I/O error, a lock, a lost connection), not that the request is
/// wrong; the batch's writes nobody waits for are kept and tried again.
#[derive(Debug)]
pub(in crate::store) struct Failure {
    pub(in crate::store) why: String,
    pub(in crate::store) transient: bool,
}

/// One database behind the store thread. Calls come in this order for a batch:
/// `begin`, then for each request `savepoint`, `execute`, and `release` (or
/// `rollback_savepoint` when it failed), then `commit` (or `rollback`).
pub(in crate::store) trait Engine: Send {
    /// Begins the batch's transaction. `durable`: its commit must reach the disk
    /// before it returns (fsync; SQLite `synchronous=FULL`, PostgreSQL
    /// `synchronous_commit=on`). `read_only`: the batch only reads.
    fn begin(&mut self, durable: bool, read_only: bool) -> Result<(), Failure>;
    fn savepoint(&mut self) -> Result<(), Failure>;
    /// Does one request; its answer, if it has one.
    fn execute(
        &mut self,
        request: &Request,
        options: &StoreOptions,
        now_ms: i64,
    ) -> Result<Option<Completion>, Failure>;
    fn release(&mut self) -> Result<(), Failure>;
    /// Undoes the current request's writes (the batch goes on).
    fn rollback_savepoint(&mut self);
    fn commit(&mut self) -> Result<(), Failure>;
    /// Undoes the whole batch (after a transient failure or a failed commit).
    fn rollback(&mut self);
    /// Writes the history index entries that wait behind the appended messages
    /// (SQLite, migration 9) in one transaction of their own; how many. An engine
    /// that indexes as it writes has nothing to do.
    fn flush_index(&mut self) -> Result<usize, Failure> {
        Ok(0)
    }
    /// `Request::Backup`, outside any transaction.
    fn backup(&mut self, path: &Path) -> Result<u64, String>;
    /// Called once when the store thread stops.
    fn close(self: Box<Self>);
}

fn sqlite_failure(e: rusqlite::Error) -> Failure {
    Failure {
        transient: is_transient(&e),
        why: e.to_string(),
    }
}

/// SQLite: the connection itself is the engine.
impl Engine for Connection {
    fn begin(&mut self, durable: bool, read_only: bool) -> Result<(), Failure> {
        // WAL with synchronous=NORMAL commits without fsync; FULL fsyncs the WAL at
        // commit (everything committed before included).
        let sync = if durable {
            "PRAGMA synchronous = FULL"
        } else {
            "PRAGMA synchronous = NORMAL"
        };
        if let Err(e) = self.execute_batch(sync) {
            log::error!("store: {sync} failed: {e}");
        }
        // A batch of reads takes no write lock, so it runs even when nothing can be
        // written.
        self.execute_batch(if read_only {
            "BEGIN DEFERRED"
        } else {
            "BEGIN IMMEDIATE"
        })
        .map_err(sqlite_failure)
    }

    fn savepoint(&mut self) -> Result<(), Failure> {
        self.execute_batch("SAVEPOINT request")
            .map_err(sqlite_failure)
    }

    fn execute(
        &mut self,
        request: &Request,
        options: &StoreOptions,
        now_ms: i64,
    ) -> Result<Option<Completion>, Failure> {
        execute(self, request, options, now_ms).map_err(sqlite_failure)
    }

    fn release(&mut self) -> Result<(), Failure> {
        self.execute_batch("RELEASE request")
            .map_err(sqlite_failure)
    }

    fn rollback_savepoint(&mut self) {
        let _ = self.execute_batch("ROLLBACK TO request; RELEASE request");
    }

    fn commit(&mut self) -> Result<(), Failure> {
        self.execute_batch("COMMIT").map_err(sqlite_failure)
    }

    fn rollback(&mut self) {
        // SQLite may have rolled back already (SQLITE_FULL, IOERR): then there is
        // no transaction to end, and that error says nothing.
        if !self.is_autocommit() {
            let _ = self.execute_batch("ROLLBACK");
        }
    }

    fn flush_index(&mut self) -> Result<usize, Failure> {
        self.execute_batch("PRAGMA synchronous = NORMAL")
            .and_then(|()| {
                let tx =
                    self.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let n = db::index::flush(&tx)?;
                tx.commit().map(|()| n)
            })
            .map_err(sqlite_failure)
    }

    fn backup(&mut self, path: &Path) -> Result<u64, String> {
        backup(self, path)
    }

    fn close(self: Box<Self>) {
        if let Err(e) = self.execute_batch("PRAGMA optimize") {
            log::warn!("store: PRAGMA optimize failed: {e}");
        }
        match (*self).close() {
            Ok(()) => log::info!("store: closed"),
            Err((_, e)) => log::error!("store: closing the database failed: {e}"),
        }
    }
}
