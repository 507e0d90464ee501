//! Tests of the store thread's part in the index written behind (migration 9): it
//! writes the pending `(conv, id)` pairs once enough wait, and when it closes.

use super::*;
use crate::store::db::tests::chan_msg;
use crate::store::{Conv, Range, Ticket};

const WAIT: Duration = Duration::from_secs(60);

fn open_store(dir: &Path) -> (Store, Receiver<Completion>) {
    let options = StoreOptions {
        pbkdf2_iterations: 1000,
        queue_max_messages: 100,
        queue_max_age_secs: 3600,
        missed_per_channel: 50,
        max_db_bytes: 0,
        startup_check: true,
        commit_window: Duration::ZERO,
        commit_window_rows: 2048,
        database: String::new(),
    };
    let (store, rx, _) = Store::open(dir, options, Arc::new(|| {})).unwrap();
    (store, rx)
}

/// (watermark, rows of `messages_by_conv`), read by a connection of its own.
fn on_disk(dir: &Path) -> (i64, i64) {
    let conn = Connection::open(dir.join(DB_FILE)).unwrap();
    let q = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    (
        q("SELECT value FROM history_state WHERE name = 'indexed_to'"),
        q("SELECT count(*) FROM messages_by_conv"),
    )
}

fn latest_ids(store: &Store, rx: &Receiver<Completion>, limit: usize) -> Vec<i64> {
    store.send(Request::History {
        ticket: Ticket(1),
        conv: Conv::Channel {
            name: "#c".into(),
            incarnation: 0,
        },
        range: Range::Latest { after: None },
        limit,
        events: false,
    });
    match rx.recv_timeout(WAIT).expect("an answer") {
        Completion::History { messages, .. } => messages.iter().map(|m| m.id).collect(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn the_index_is_written_once_enough_messages_wait() {
    let dir = tempfile::tempdir().unwrap();
    let (store, rx) = open_store(dir.path());
    let n = i64::try_from(INDEX_BATCH).unwrap();
    for chunk in (1..=n).collect::<Vec<_>>().chunks(2048) {
        store.send(Request::Log(
            chunk.iter().map(|&i| chan_msg(i, "#c", "n", "m")).collect(),
        ));
    }
    // Written behind, after the batch that reached the threshold was answered.
    let start = std::time::Instant::now();
    while on_disk(dir.path()) != (n, n) {
        assert!(
            start.elapsed() < WAIT,
            "never indexed: {:?}",
            on_disk(dir.path())
        );
        thread::sleep(Duration::from_millis(20));
    }
    // Fewer than the threshold wait in memory and are read all the same.
    store.send(Request::Log(
        (n + 1..=n + 10)
            .map(|i| chan_msg(i, "#c", "n", "m"))
            .collect(),
    ));
    let want: Vec<i64> = (n - 4..=n + 10).collect();
    assert_eq!(latest_ids(&store, &rx, 15), want);
    assert_eq!(on_disk(dir.path()), (n, n));
    store.close();
}

#[test]
fn closing_indexes_what_waits() {
    let dir = tempfile::tempdir().unwrap();
    let (store, rx) = open_store(dir.path());
    store.send(Request::Log(
        (1..=10).map(|i| chan_msg(i, "#c", "n", "m")).collect(),
    ));
    assert_eq!(latest_ids(&store, &rx, 100).len(), 10);
    assert_eq!(on_disk(dir.path()), (0, 0));
    store.close();
    assert_eq!(on_disk(dir.path()), (10, 10));
}
