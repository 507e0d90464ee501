//! The two threads behind [`Store`].
//!
//! **chatd-store** owns the one read-write connection. It blocks for a request, then
//! takes whatever else is already waiting (at most [`BATCH_MAX`]), runs the whole
//! batch in one transaction (each request in its own savepoint, so one failing
//! request does not undo the others), commits, and only then sends the batch's
//! completions and wakes the loop once. If the commit fails (disk full...), every
//! answer of the batch becomes a failure: `QueueRefusal::Unavailable`,
//! `RegisterError::Unavailable`, or an empty read. When every sender is gone it
//! finishes what is queued and exits: that is the graceful close.
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
    StoreError, StoreOptions, DB_FILE,
};
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
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

pub(super) fn open(
    data_dir: &Path,
    options: StoreOptions,
    wake: Wake,
) -> Result<(Store, Receiver<Completion>, Loaded), StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|e| {
        StoreError(format!(
            "cannot create the data directory {}: {e}",
            data_dir.display()
        ))
    })?;
    let path = data_dir.join(DB_FILE);
    let conn = open_connection(&path)?;
    let loaded =
        load(&conn).map_err(|e| StoreError(format!("cannot read {}: {e}", path.display())))?;

    let (requests, request_rx) = mpsc::channel();
    let (hasher, hasher_rx) = mpsc::channel();
    let (completions, completion_rx) = mpsc::channel();
    let backlog = Arc::new(AtomicUsize::new(0));
    let wake_below = Arc::new(AtomicUsize::new(usize::MAX));
    let store_thread = spawn_store(
        conn,
        options.clone(),
        (backlog.clone(), wake_below.clone()),
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
        hasher,
        threads: vec![store_thread, hasher_thread],
        path,
    };
    Ok((store, completion_rx, loaded))
}

/// Opens, configures and migrates the database.
fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let err = |e: &dyn std::fmt::Display| StoreError(format!("{}: {e}", path.display()));
    let mut conn = Connection::open(path).map_err(|e| err(&e))?;
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
    (backlog, wake_below): (Arc<AtomicUsize>, Arc<AtomicUsize>),
    requests: Receiver<Request>,
    completions: Sender<Completion>,
    wake: Wake,
) -> Result<JoinHandle<()>, StoreError> {
    let worker = Worker {
        conn,
        options,
        backlog,
        wake_below,
        requests,
        completions,
        wake,
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
    requests: Receiver<Request>,
    completions: Sender<Completion>,
    wake: Wake,
}

impl Worker {
    fn run(mut self) {
        while let Ok(first) = self.requests.recv() {
            let mut batch = Vec::with_capacity(16);
            let mut messages = first.logged();
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
            let (backups, batch): (Vec<Request>, Vec<Request>) = batch
                .into_iter()
                .partition(|r| matches!(r, Request::Backup { .. }));
            let logged: usize = batch.iter().map(Request::logged).sum();
            let mut done = if batch.is_empty() {
                Vec::new()
            } else {
                run_batch(&mut self.conn, &self.options, batch)
            };
            let before = self
                .backlog
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_sub(logged))
                })
                .unwrap_or(0);
            let left = before.saturating_sub(logged);
            let waiting = self.wake_below.load(Ordering::Relaxed);
            if waiting != usize::MAX && left <= waiting {
                self.wake_below.store(usize::MAX, Ordering::Relaxed);
                (self.wake)();
            }
            for request in backups {
                if let Request::Backup { ticket, path } = request {
                    done.push(Completion::Backup {
                        result: backup(&self.conn, &path),
                        ticket,
                    });
                }
            }
            if !done.is_empty() {
                for completion in done {
                    // The loop may already be gone at shutdown; nothing to tell then.
                    let _ = self.completions.send(completion);
                }
                (self.wake)();
            }
        }
        if let Err(e) = self.conn.execute_batch("PRAGMA optimize") {
            log::warn!("store: PRAGMA optimize failed: {e}");
        }
        match self.conn.close() {
            Ok(()) => log::info!("store: closed"),
            Err((_, e)) => log::error!("store: closing the database failed: {e}"),
        }
    }
}

/// `VACUUM INTO`: a consistent, compacted copy while the database stays in use.
fn backup(conn: &Connection, path: &std::path::Path) -> Result<u64, String> {
    if path.exists() {
        return Err(format!("{} already exists", path.display()));
    }
    let target = path
        .to_str()
        .ok_or_else(|| format!("{} is not valid UTF-8", path.display()))?;
    conn.execute("VACUUM INTO ?1", [target])
        .map_err(|e| format!("backup to {} failed: {e}", path.display()))?;
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    log::info!("store: backed up to {} ({size} bytes)", path.display());
    Ok(size)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Runs one batch in one transaction; returns the completions to send, which are
/// failures if the transaction did not commit.
fn run_batch(
    conn: &mut Connection,
    options: &StoreOptions,
    batch: Vec<Request>,
) -> Vec<Completion> {
    let now = now_ms();
    let count = batch.len();
    // WAL with synchronous=NORMAL commits without fsync; FULL fsyncs the WAL at commit
    // (everything committed before included). Only batches with something a user was
    // promised durably (a queued message, an account, a membership, a ban) pay for it.
    let sync = if batch.iter().any(Request::needs_fsync) {
        "PRAGMA synchronous = FULL"
    } else {
        "PRAGMA synchronous = NORMAL"
    };
    if let Err(e) = conn.execute_batch(sync) {
        log::error!("store: {sync} failed: {e}");
    }
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            log::error!("store: cannot begin a transaction ({count} requests failed): {e}");
            let why = e.to_string();
            return batch.iter().filter_map(|r| failure_of(r, &why)).collect();
        }
    };
    let mut out = Vec::with_capacity(count);
    for request in &batch {
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
            Err(e) => {
                log::error!("store: {} failed: {e}", request.kind());
                out.extend(failure_of(request, &e.to_string()));
            }
        }
    }
    match tx.commit() {
        Ok(()) => {
            log::trace!("store: committed a batch of {count} requests");
            out
        }
        Err(e) => {
            log::error!("store: commit of {count} requests failed, nothing was saved: {e}");
            let why = e.to_string();
            out.into_iter().map(|c| fail(c, &why)).collect()
        }
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
        Request::History { ticket: t, .. } => Completion::History {
            ticket: t.clone(),
            messages: Vec::new(),
        },
        Request::Targets { ticket: t, .. } => Completion::Targets {
            ticket: t.clone(),
            targets: Vec::new(),
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
        Request::Tail { ticket: t, .. } => Completion::History {
            ticket: t.clone(),
            messages: Vec::new(),
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

/// An answer turned into its failure form, once its transaction failed to commit.
fn fail(completion: Completion, why: &str) -> Completion {
    match completion {
        Completion::Queued { ticket, .. } => Completion::Queued {
            ticket,
            result: Err(QueueRefusal::Unavailable),
        },
        Completion::Registered { ticket, .. } => Completion::Registered {
            ticket,
            result: Err(RegisterError::Unavailable(why.to_string())),
        },
        Completion::Queue { ticket, .. } => Completion::Queue {
            ticket,
            rows: Vec::new(),
        },
        Completion::Memberships { ticket, .. } => Completion::Memberships {
            ticket,
            channels: Vec::new(),
        },
        Completion::History { ticket, .. } => Completion::History {
            ticket,
            messages: Vec::new(),
        },
        Completion::Targets { ticket, .. } => Completion::Targets {
            ticket,
            targets: Vec::new(),
        },
        // A password check does not depend on the commit; Synced must still answer.
        // Nor do reads that changed nothing.
        c @ (Completion::Verified { .. }
        | Completion::Synced { .. }
        | Completion::Accounts { .. }
        | Completion::Stats { .. }
        | Completion::Backup { .. }) => c,
    }
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
    fn unwritable_database_answers_with_failures() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_connection(&dir.path().join(DB_FILE)).unwrap();
        db::log(&conn, &[chan_msg(1, "#c", "n", "old")]).unwrap();
        // Every write is refused, as on a full disk.
        conn.execute_batch("PRAGMA query_only = ON").unwrap();
        let done = run_batch(&mut conn, &options(), failing_batch());
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
        let done = run_batch(&mut conn, &options(), failing_batch());
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

    #[test]
    fn commit_failure_turns_answers_into_failures() {
        let answers = vec![
            Completion::Queued {
                ticket: ticket("q"),
                result: Ok(()),
            },
            Completion::History {
                ticket: ticket("h"),
                messages: vec![chan_msg(1, "#c", "n", "m")],
            },
            Completion::Synced {
                ticket: ticket("s"),
            },
        ];
        let failed: Vec<_> = answers.into_iter().map(|c| fail(c, "disk full")).collect();
        assert!(matches!(
            failed[0],
            Completion::Queued {
                result: Err(QueueRefusal::Unavailable),
                ..
            }
        ));
        assert!(matches!(&failed[1], Completion::History { messages, .. } if messages.is_empty()));
        assert!(matches!(failed[2], Completion::Synced { .. }));
    }
}
