//! One batch in one transaction: each request in its own savepoint, run against
//! `db`, and what a request that could not run is answered.

use super::*;

pub(in crate::store) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What became of a batch.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    /// The answers to send, in request order.
    pub(super) done: Vec<Completion>,
    /// The writes nobody waits for, kept to be tried again (the batch did not commit).
    pub(super) kept: Vec<Request>,
    /// Why the batch's writes did not commit, if they did not.
    pub(super) write_failure: Option<String>,
    /// Reads that failed on their own (a damaged page...).
    pub(super) read_errors: u64,
    /// Writes the database refused on their own (not for want of space).
    pub(super) write_errors: u64,
    /// The latest error of a single request, if any.
    pub(super) error: Option<String>,
}

/// A request that changes nothing in the database.
pub(in crate::store) fn is_read(request: &Request) -> bool {
    matches!(
        request,
        Request::History { .. }
            | Request::Targets { .. }
            | Request::FetchQueue { .. }
            | Request::FetchMemberships { .. }
            | Request::ListAccounts { .. }
            | Request::Reload { .. }
            | Request::FetchAccount { .. }
            | Request::Stats { .. }
            | Request::Tail { .. }
            | Request::Sync { .. }
            | Request::Verify { .. }
    )
}

/// An error that says the database cannot be written *now* (disk full, I/O error,
/// a lock, a read-only remount), not that the request is wrong: its writes are kept
/// and tried again.
pub(super) fn is_transient(e: &rusqlite::Error) -> bool {
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
pub(super) fn run_batch(
    conn: &mut dyn Engine,
    options: &StoreOptions,
    batch: Vec<Request>,
) -> Outcome {
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

pub(super) fn attempt(
    conn: &mut dyn Engine,
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
pub(super) fn attempt_refs(
    engine: &mut dyn Engine,
    options: &StoreOptions,
    batch: &[&Request],
    now: i64,
    outcome: &mut Outcome,
) -> Result<Vec<Completion>, String> {
    let count = batch.len();
    // Only batches with something a user was promised durably (a queued message, an
    // account, a membership, a ban) pay for an fsync.
    let durable = batch.iter().any(|r| r.needs_fsync());
    let read_only = batch.iter().all(|r| is_read(r));
    engine
        .begin(durable, read_only)
        .map_err(|e| format!("cannot begin a transaction: {}", e.why))?;
    let mut out = Vec::with_capacity(count);
    for request in batch {
        let result =
            engine
                .savepoint()
                .and_then(|()| match engine.execute(request, options, now) {
                    Ok(done) => engine.release().map(|()| done),
                    Err(e) => {
                        // Undo this request's partial writes; the batch goes on.
                        engine.rollback_savepoint();
                        Err(e)
                    }
                });
        match result {
            Ok(done) => out.extend(done),
            // The database may have rolled the whole transaction back (SQLITE_FULL,
            // IOERR, a lost connection): the batch stops here, and is kept or
            // refused as a whole.
            Err(e) if e.transient => {
                engine.rollback();
                return Err(e.why);
            }
            Err(e) => {
                let why = format!("{} failed: {}", request.kind(), e.why);
                log::error!("store: {why}");
                if is_read(request) {
                    outcome.read_errors += 1;
                } else {
                    outcome.write_errors += 1;
                }
                outcome.error = Some(why);
                out.extend(failure_of(request, &e.why));
            }
        }
    }
    match engine.commit() {
        Ok(()) => {
            log::trace!("store: committed a batch of {count} requests");
            Ok(out)
        }
        Err(e) => {
            engine.rollback();
            Err(format!("commit failed: {}", e.why))
        }
    }
}

/// Does one request; returns its answer, if it has one.
pub(super) fn execute(
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
            ticket: *ticket,
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
        Request::Verify { .. } => Some(super::hasher::verify(request)),
        Request::SetScram { account, creds } => {
            db::set_scram(conn, *account, creds)?;
            None
        }
        Request::DeleteAccount { account } => {
            db::delete_account(conn, *account)?;
            None
        }
        Request::SaveToken(token) => {
            db::save_token(conn, token)?;
            None
        }
        Request::DeleteTokens { account, id } => {
            db::delete_tokens(conn, *account, id.as_deref())?;
            None
        }
        Request::Seen { account, time } => {
            db::seen(conn, account, *time)?;
            None
        }
        Request::FetchQueue { ticket, account } => Some(Completion::Queue {
            ticket: *ticket,
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
            ticket: *ticket,
            channels: db::fetch_memberships(conn, *account, options.missed_per_channel)?,
        }),
        Request::History {
            ticket,
            conv,
            range,
            limit,
            events,
        } => Some(Completion::History {
            ticket: *ticket,
            messages: db::history(conn, conv, range, *limit, *events)?,
        }),
        Request::SetReadMarker(marker) => {
            db::set_read_marker(conn, marker)?;
            None
        }
        Request::DropReadMarker { account, target } => {
            db::drop_read_marker(conn, *account, target)?;
            None
        }
        Request::Redact {
            ticket,
            conv,
            id,
            by,
        } => Some(Completion::Redacted {
            ticket: *ticket,
            result: db::redact(conn, conv, *id, by)?,
        }),
        Request::Targets {
            ticket,
            party,
            channels,
            from,
            to,
            limit,
        } => Some(Completion::Targets {
            ticket: *ticket,
            targets: db::targets(conn, party, channels, *from, *to, *limit)?,
        }),
        Request::Sync { ticket } => Some(Completion::Synced { ticket: *ticket }),
        Request::AddBan(ban) => {
            db::add_ban(conn, ban)?;
            None
        }
        Request::SaveChannel(record) => {
            db::save_channel(conn, record)?;
            None
        }
        Request::DropChannel { name } => {
            db::drop_channel(conn, name)?;
            None
        }
        Request::RemoveBan { mask } => {
            db::remove_ban(conn, mask)?;
            None
        }
        Request::ListAccounts { ticket } => Some(Completion::Accounts {
            ticket: *ticket,
            accounts: db::list_accounts(conn)?,
        }),
        Request::FetchAccount { ticket, name } => Some(Completion::Account {
            ticket: *ticket,
            result: Ok(db::fetch_account(conn, name)?),
        }),
        Request::Reload { ticket } => Some(Completion::Reloaded {
            ticket: *ticket,
            loaded: Some(Box::new(Loaded {
                accounts: db::load_accounts(conn)?,
                read_markers: db::load_read_markers(conn)?,
                tokens: db::load_tokens(conn)?,
                channels: db::load_channels(conn)?,
                ..Loaded::default()
            })),
        }),
        Request::Stats { ticket } => Some(Completion::Stats {
            ticket: *ticket,
            queue_total: db::queue_total(conn)?,
            store_bytes: store_bytes(conn),
        }),
        // Taken out of batches by the worker; inside a transaction VACUUM cannot run.
        Request::Backup { ticket, path } => Some(Completion::Backup {
            ticket: *ticket,
            result: Err(format!(
                "{}: a backup cannot run inside a transaction",
                path.display()
            )),
        }),
        Request::Tail { ticket, n, filter } => Some(Completion::History {
            ticket: *ticket,
            messages: db::tail(conn, *n, filter.as_ref())?,
        }),
    })
}

/// Bytes on disk of the main database file and its WAL.
pub(super) fn store_bytes(conn: &Connection) -> u64 {
    let Some(path) = conn.path().filter(|p| !p.is_empty()) else {
        return 0;
    };
    let size = |p: String| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    size(path.to_string()) + size(format!("{path}-wal"))
}

pub(super) fn create(
    conn: &Connection,
    ticket: &crate::store::Ticket,
    account: Account,
) -> rusqlite::Result<Completion> {
    let result = db::create_account(conn, &account)?.map(|id| Account { id, ..account });
    Ok(Completion::Registered {
        ticket: *ticket,
        result,
    })
}

pub(in crate::store) fn new_account(
    name: &str,
    email: &Option<String>,
    password: &str,
    iterations: u32,
) -> Account {
    let now = now_ms() / 1000;
    Account {
        id: 0,
        name: name.to_string(),
        hash: password::hash(password, iterations),
        scram: Some(password::ScramCreds::derive(password, iterations)),
        email: email.clone(),
        created: now,
        last_seen: now,
    }
}

/// The answer to a request whose database work failed, if it expects one.
pub(in crate::store) fn failure_of(request: &Request, why: &str) -> Option<Completion> {
    Some(match request {
        Request::Queue { ticket: t, .. } => Completion::Queued {
            ticket: *t,
            result: Err(QueueRefusal::Unavailable),
        },
        Request::Register { ticket: t, .. } | Request::CreateAccount { ticket: t, .. } => {
            Completion::Registered {
                ticket: *t,
                result: Err(RegisterError::Unavailable(why.to_string())),
            }
        }
        Request::Verify {
            ticket: t, account, ..
        } => Completion::Verified {
            ticket: *t,
            account: account.clone(),
            ok: false,
            scram: None,
        },
        Request::FetchQueue { ticket: t, .. } => Completion::Queue {
            ticket: *t,
            rows: Vec::new(),
        },
        Request::FetchMemberships { ticket: t, .. } => Completion::Memberships {
            ticket: *t,
            channels: Vec::new(),
        },
        Request::History { ticket: t, .. }
        | Request::Targets { ticket: t, .. }
        | Request::Redact { ticket: t, .. }
        | Request::Tail { ticket: t, .. } => Completion::ReadFailed {
            ticket: *t,
            why: why.to_string(),
        },
        Request::Sync { ticket: t } => Completion::Synced { ticket: *t },
        Request::ListAccounts { ticket: t } => Completion::Accounts {
            ticket: *t,
            accounts: Vec::new(),
        },
        Request::FetchAccount { ticket: t, .. } => Completion::Account {
            ticket: *t,
            result: Err(why.to_string()),
        },
        Request::Reload { ticket: t } => Completion::Reloaded {
            ticket: *t,
            loaded: None,
        },
        Request::Stats { ticket: t } => Completion::Stats {
            ticket: *t,
            queue_total: 0,
            store_bytes: 0,
        },
        Request::Backup { ticket: t, .. } => Completion::Backup {
            ticket: *t,
            result: Err(why.to_string()),
        },
        Request::AddBan(_) | Request::RemoveBan { .. } | Request::SetScram { .. } => return None,
        Request::SaveChannel(_) | Request::DropChannel { .. } => return None,
        Request::Log(_)
        | Request::DeleteAccount { .. }
        | Request::SaveToken(_)
        | Request::DeleteTokens { .. }
        | Request::Seen { .. }
        | Request::Dequeue { .. }
        | Request::Join { .. }
        | Request::NewChannel { .. }
        | Request::ChannelBan { .. }
        | Request::Part { .. }
        | Request::SetReadMarker(_)
        | Request::DropReadMarker { .. }
        | Request::Left { .. } => return None,
    })
}
