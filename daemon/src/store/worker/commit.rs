//! The store thread's loop: take a batch, commit it, answer; keep and retry the
//! writes of a batch that could not be written, and keep [`StoreHealth`] current.

use super::*;
use std::time::Instant;

pub(super) struct Worker {
    pub(super) conn: Box<dyn Engine>,
    pub(super) options: StoreOptions,
    /// Shared with [`Store`]: lowered once a batch's messages are committed.
    pub(super) backlog: Arc<AtomicUsize>,
    /// Shared with [`Store`]: wake the loop once `backlog` is at most this.
    pub(super) wake_below: Arc<AtomicUsize>,
    /// Shared with [`Store`]: failures, for `chatctl stats` and the operators.
    pub(super) health: Arc<StoreHealth>,
    pub(super) requests: Receiver<Request>,
    pub(super) completions: Sender<Completion>,
    pub(super) wake: Wake,
    /// Writes of a batch that could not be written, oldest first, tried again before
    /// anything newer.
    pub(super) kept: Vec<Request>,
    /// The pause before `kept` is tried again when no new request comes.
    pub(super) retry_in: Duration,
    /// Unix seconds of the last "still failing" log line.
    pub(super) reminded_at: i64,
    /// About how many committed messages wait for the `(conv, id)` index.
    pub(super) unindexed: usize,
}

impl Worker {
    pub(super) fn run(mut self) {
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
            let retrying = !self.kept.is_empty();
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
                if !retrying && !self.fill_window(&mut batch, &mut messages) {
                    open = false;
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
                run_batch(&mut *self.conn, &self.options, batch)
            };
            self.kept = std::mem::take(&mut outcome.kept);
            let unsaved: usize = self.kept.iter().map(Request::logged).sum();
            let health_changed = self.record(&outcome, writes, unsaved);
            if outcome.write_failure.is_none() {
                self.unindexed += logged;
            }
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
            if !backups.is_empty() {
                // A backup holds the whole index, not only what is below the watermark.
                self.flush_index();
            }
            for request in backups {
                if let Request::Backup { ticket, path } = request {
                    done.push(Completion::Backup {
                        result: self.conn.backup(&path),
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
            // After the answers: nobody waits for the index.
            if self.unindexed >= INDEX_BATCH {
                self.flush_index();
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
        if self.kept.is_empty() {
            self.flush_index();
        }
        self.conn.close();
    }

    /// Writes the pending `(conv, id)` pairs into the index in one transaction. On
    /// failure they stay pending (reads still find them) and are tried again later.
    fn flush_index(&mut self) {
        let result = self.conn.flush_index();
        match result {
            Ok(n) => {
                log::trace!("store: indexed {n} messages");
                self.unindexed = 0;
            }
            Err(e) => {
                log::warn!(
                    "store: cannot write the history index yet ({}); trying again later",
                    e.why
                );
                // Not at once: after about as many messages again.
                self.unindexed = INDEX_BATCH / 2;
            }
        }
    }

    /// The commit window: holds a batch of only delivered live messages open for
    /// more, up to `commit_window` or `commit_window_rows` messages, so a steady
    /// trickle commits (and writes its pages) once per window rather than once per
    /// loop pass. Anything someone waits for (a read, a queued message, an account...)
    /// ends the window at once and commits with it, as does the loop waiting for
    /// the backlog to fall. False when every sender is gone (the batch then commits
    /// and the thread closes).
    fn fill_window(&self, batch: &mut Vec<Request>, messages: &mut usize) -> bool {
        let window = self.options.commit_window;
        if window.is_zero() || !batch.iter().all(may_wait) {
            return true;
        }
        let rows = self.options.commit_window_rows.min(BATCH_MESSAGES);
        let deadline = Instant::now() + window;
        while batch.len() < BATCH_MAX
            && *messages < rows
            && self.wake_below.load(Ordering::Relaxed) == usize::MAX
        {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            match self.requests.recv_timeout(left) {
                Ok(request) => {
                    *messages += request.logged();
                    let more = may_wait(&request);
                    batch.push(request);
                    if !more {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
        true
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

/// A request nobody waits for and that needs no fsync: it may wait in a commit
/// window (a kill -9 can lose it, as it can lose a live message not yet handed over).
fn may_wait(request: &Request) -> bool {
    matches!(request, Request::Log(_) | Request::NewChannel { .. })
}

/// `VACUUM INTO`: a consistent, compacted copy while the database stays in use. The
/// copy is created 0600 first (VACUUM INTO fills an empty file), so it is never
/// readable by other users, whatever the umask.
pub(super) fn backup(conn: &Connection, path: &std::path::Path) -> Result<u64, String> {
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
