//! Tests of the store thread: batching, group commit, retries, the hasher.

use super::*;
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
        commit_window: Duration::ZERO,
        commit_window_rows: 2048,
        database: String::new(),
    }
}

/// A ticket named by a word, so answers can be told apart (the store never looks).
fn ticket(what: &str) -> Ticket {
    Ticket(
        what.bytes()
            .fold(7, |h: u64, b| h.wrapping_mul(31).wrapping_add(u64::from(b))),
    )
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
        events: false,
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
        Box::new(conn),
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
                assert_eq!(*ticket, self::ticket(&i.to_string()));
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
    assert_eq!(history(&store, &rx, chan("#c")).len(), 300);
    // The store wakes the loop after sending a batch's answers, so the count is read
    // once a later answer (the history) has come: the burst's wakes are in it by then.
    let woken = wakes.load(Ordering::SeqCst);
    assert!((1..=302).contains(&woken), "{woken}");
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
                assert_eq!(ticket, self::ticket(name));
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
    // SCRAM credentials are made at registration, with their own salt.
    let scram = account
        .scram
        .clone()
        .expect("SCRAM credentials at registration");
    assert_eq!(scram.iterations, 1000);
    assert_ne!(scram.salt, account.hash.salt);
    assert_eq!(register("ALICE"), Err(RegisterError::Exists));

    // A Verify that asks for SCRAM credentials gets them only for a right password.
    for (password, want) in [("s3cret", true), ("S3cret", false), ("", false)] {
        store.send(Request::Verify {
            ticket: ticket("v"),
            account: "alice".into(),
            password: password.into(),
            hash: account.hash.clone(),
            scram_iterations: Some(500),
        });
        match next(&rx) {
            Completion::Verified {
                account, ok, scram, ..
            } => {
                assert_eq!(account, "alice");
                assert_eq!(ok, want, "{password:?}");
                assert_eq!(scram.map(|s| s.iterations), want.then_some(500));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // SetScram never replaces credentials an account has.
    store.send(Request::SetScram {
        account: account.id,
        creds: crate::store::ScramCreds::derive("other", 7),
    });
    store.close();
    let (store, _, loaded, _) = open_store(dir.path());
    assert_eq!(loaded.accounts, vec![account]);
    assert_eq!(loaded.scram_secret.len(), 32);
    store.close();
}

/// Migration 7: an account from before SCRAM loads without credentials, gets them
/// with `SetScram` (its next password login), and keeps them; the server secret is
/// made once and kept.
#[test]
fn an_account_from_before_scram_gets_credentials_at_its_next_login() {
    let dir = tempfile::tempdir().unwrap();
    let (store, rx, first, _) = open_store(dir.path());
    let mut old = new_account("bob", &None, "pw", 1);
    old.scram = None;
    store.send(Request::CreateAccount {
        ticket: ticket("c"),
        account: old,
    });
    let id = match next(&rx) {
        Completion::Registered { result, .. } => result.unwrap().id,
        other => panic!("unexpected {other:?}"),
    };
    store.close();
    let (store, _, loaded, _) = open_store(dir.path());
    assert_eq!(loaded.accounts[0].scram, None);
    assert_eq!(loaded.scram_secret, first.scram_secret);
    let creds = crate::store::ScramCreds::derive("pw", 3);
    store.send(Request::SetScram {
        account: id,
        creds: creds.clone(),
    });
    store.close();
    let (store, _, loaded, _) = open_store(dir.path());
    assert_eq!(loaded.accounts[0].scram, Some(creds));
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
            events: false,
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
    assert!(matches!(&done[1], Completion::Registered { result: Ok(a), .. } if a.name == "bob"));
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

/// A store whose commit window is `window` (up to `rows` messages).
fn open_windowed(dir: &Path, window: Duration, rows: usize) -> (Store, Receiver<Completion>) {
    let (_, wake) = counter();
    let opts = StoreOptions {
        commit_window: window,
        commit_window_rows: rows,
        ..options()
    };
    let (store, rx, _) = Store::open(dir, opts, wake).unwrap();
    (store, rx)
}

/// Waits (bounded by [`WAIT`]) until every handed-over message is committed.
fn wait_committed(store: &Store) {
    let start = std::time::Instant::now();
    while store.backlog() > 0 {
        assert!(
            start.elapsed() < WAIT,
            "backlog {} never fell",
            store.backlog()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Rows in `messages`, read by a connection of its own (as another process would).
fn rows_on_disk(dir: &Path) -> i64 {
    let conn = Connection::open(dir.join(DB_FILE)).unwrap();
    conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn commit_window_commits_live_messages_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _rx) = open_windowed(dir.path(), Duration::from_millis(50), 2048);
    store.send(Request::Log(
        (1..=10).map(|i| chan_msg(i, "#c", "n", "m")).collect(),
    ));
    // Nothing else comes: the window ends by itself and the rows are on disk.
    wait_committed(&store);
    assert_eq!(rows_on_disk(dir.path()), 10);
    store.close();
}

#[test]
fn commit_window_ends_when_it_holds_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    // A window far longer than the test may wait: only the row bound can end it.
    let (store, _rx) = open_windowed(dir.path(), Duration::from_secs(3600), 100);
    for i in 0..10 {
        store.send(Request::Log(
            (1..=10)
                .map(|j| chan_msg(i * 10 + j, "#c", "n", "m"))
                .collect(),
        ));
    }
    wait_committed(&store);
    assert_eq!(rows_on_disk(dir.path()), 100);
    store.close();
}

#[test]
fn commit_window_ends_for_anything_someone_waits_for() {
    let dir = tempfile::tempdir().unwrap();
    let (store, rx) = open_windowed(dir.path(), Duration::from_secs(3600), 1_000_000);
    store.send(Request::Log(vec![chan_msg(1, "#c", "n", "m")]));
    // Held: nobody waits for it, and the window is an hour long.
    thread::sleep(Duration::from_millis(100));
    assert_eq!(rows_on_disk(dir.path()), 0);
    // A read ends the window and sees what it held.
    assert_eq!(history(&store, &rx, chan("#c")).len(), 1);
    store.send(Request::Log(vec![chan_msg(2, "#c", "n", "m")]));
    // A queued message is acknowledged only once committed, without waiting.
    store.send(Request::Queue {
        ticket: ticket("q"),
        account: 1,
        msg: dm(3, "n:bob", "bob", "a:alice", "alice", "hi"),
    });
    match next(&rx) {
        Completion::Queued { .. } => {}
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(rows_on_disk(dir.path()), 3);
    // Closing commits what a window holds.
    store.send(Request::Log(vec![chan_msg(4, "#c", "n", "m")]));
    store.close();
    assert_eq!(rows_on_disk(dir.path()), 4);
}
