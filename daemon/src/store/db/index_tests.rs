//! Tests of the history layout of migration 9: reads across the indexed and the
//! pending part of the `(conv, id)` index, the watermark, a restart with an
//! unindexed tail, and the migration of a version-8 database with real rows.

use super::tests::{chan, chan_msg, dm, ids, open_db};
use super::*;

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn latest(conn: &Connection, conv: &Conv, limit: usize) -> Vec<i64> {
    ids(&history(conn, conv, &Range::Latest { after: None }, limit, false).unwrap())
}

#[test]
fn reads_span_the_indexed_and_the_pending_part() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_db(dir.path());
    let ab = Conv::Direct("n:a".into(), "n:b".into());
    // 1..=10 indexed, 11..=20 pending; other conversations interleaved.
    for i in 1..=20 {
        log(
            &conn,
            &[
                dm(i * 10, "n:a", "a", "n:b", "b", "x"),
                dm(i * 10 + 1, "n:b", "b", "n:a", "a", "y"),
                chan_msg(i * 10 + 2, "#c", "a", "z"),
            ],
        )
        .unwrap();
        if i == 10 {
            assert_eq!(index::flush(&conn).unwrap(), 30);
            assert_eq!(index::watermark(&conn).unwrap(), 102);
        }
    }
    assert_eq!(index::pending(&conn).unwrap(), 30);
    let want: Vec<i64> = (1..=20).flat_map(|i| [i * 10, i * 10 + 1]).collect();
    assert_eq!(latest(&conn, &ab, 100), want);
    // The newest 6 span both parts only when the limit reaches back.
    assert_eq!(latest(&conn, &ab, 24), want[16..]);
    let h = |range: Range, limit| ids(&history(&conn, &ab, &range, limit, false).unwrap());
    assert_eq!(h(Range::Before { before: 111 }, 4), [91, 100, 101, 110]);
    assert_eq!(h(Range::After { after: 91 }, 3), [100, 101, 110]);
    assert_eq!(h(Range::Around { around: 101 }, 4), [91, 100, 101, 110]);
    assert_eq!(
        h(Range::Between { from: 95, to: 115 }, 10),
        [100, 101, 110, 111]
    );
    // Direction survives both parts: a sends 100 and 110, b sends 101 and 111.
    let got = history(&conn, &ab, &Range::Between { from: 99, to: 112 }, 10, false).unwrap();
    let senders: Vec<_> = got
        .iter()
        .map(|m| match &m.conv {
            Conv::Direct(from, _) => from.as_str(),
            Conv::Channel { .. } => "",
        })
        .collect();
    assert_eq!(senders, ["n:a", "n:b", "n:a", "n:b"]);
    // Targets, the tail by party and by channel see the pending part.
    let t = targets(&conn, "n:a", &[("#c".into(), 0)], 0, i64::MAX, 10).unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].name, "#c");
    assert_eq!(t[1].name, "b");
    let party = TailFilter::Party {
        nick: "a".into(),
        account: None,
    };
    assert_eq!(ids(&tail(&conn, 3, Some(&party)).unwrap()), [191, 200, 201]);
    let channel = TailFilter::Channel("#C".into());
    assert_eq!(ids(&tail(&conn, 2, Some(&channel)).unwrap()), [192, 202]);
    // Everything flushed, the answers are the same.
    index::flush(&conn).unwrap();
    assert_eq!(index::pending(&conn).unwrap(), 0);
    assert_eq!(latest(&conn, &ab, 100), want);
    assert_eq!(count(&conn, "SELECT count(*) FROM messages_by_conv"), 60);
}

#[test]
fn a_message_below_the_watermark_is_indexed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_db(dir.path());
    log(
        &conn,
        &[chan_msg(10, "#c", "a", "x"), chan_msg(30, "#c", "a", "z")],
    )
    .unwrap();
    index::flush(&conn).unwrap();
    assert_eq!(index::watermark(&conn).unwrap(), 30);
    // A message kept and retried, or queued late, comes with an older id.
    log(&conn, &[chan_msg(20, "#c", "a", "y")]).unwrap();
    assert_eq!(index::pending(&conn).unwrap(), 0);
    assert_eq!(latest(&conn, &chan("#c"), 10), [10, 20, 30]);
    assert_eq!(count(&conn, "SELECT count(*) FROM messages_by_conv"), 3);
}

#[test]
fn a_redacted_pending_message_is_gone_from_both_parts() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_db(dir.path());
    log(
        &conn,
        &[chan_msg(1, "#c", "a", "x"), chan_msg(2, "#c", "a", "y")],
    )
    .unwrap();
    let any = Redactor {
        any: true,
        ..Redactor::default()
    };
    assert!(redact(&conn, &chan("#c"), 2, &any).unwrap().is_ok());
    assert_eq!(index::pending(&conn).unwrap(), 1);
    index::flush(&conn).unwrap();
    assert!(redact(&conn, &chan("#c"), 1, &any).unwrap().is_ok());
    assert_eq!(latest(&conn, &chan("#c"), 10), Vec::<i64>::new());
    assert_eq!(count(&conn, "SELECT count(*) FROM messages_by_conv"), 0);
}

#[test]
fn a_rolled_back_message_leaves_no_pending_pair() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = open_db(dir.path());
    {
        let tx = conn.transaction().unwrap();
        log(&tx, &[chan_msg(1, "#c", "a", "x")]).unwrap();
        assert_eq!(index::pending(&tx).unwrap(), 1);
    }
    assert_eq!(index::pending(&conn).unwrap(), 0);
    log(&conn, &[chan_msg(2, "#c", "a", "y")]).unwrap();
    assert_eq!(latest(&conn, &chan("#c"), 10), [2]);
}

#[test]
fn a_new_connection_indexes_what_lies_above_the_watermark() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = open_db(dir.path());
        log(&conn, &[chan_msg(1, "#c", "a", "x")]).unwrap();
        index::flush(&conn).unwrap();
        log(
            &conn,
            &[chan_msg(2, "#c", "a", "y"), chan_msg(3, "#d", "a", "z")],
        )
        .unwrap();
        // Closed without a flush, as by kill -9: the pending pairs are gone.
        assert_eq!(index::watermark(&conn).unwrap(), 1);
    }
    let conn = open_db(dir.path());
    assert_eq!(index::pending(&conn).unwrap(), 0);
    assert_eq!(index::watermark(&conn).unwrap(), 3);
    assert_eq!(count(&conn, "SELECT count(*) FROM messages_by_conv"), 3);
    assert_eq!(latest(&conn, &chan("#c"), 10), [1, 2]);
    assert_eq!(latest(&conn, &chan("#d"), 10), [3]);
}

#[test]
fn migration_9_keeps_a_version_8_database_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        for (i, sql) in crate::store::schema::MIGRATIONS[..8].iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
                .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO accounts (id, name, folded, hash, salt, iterations, created, last_seen)
                 VALUES (1, 'Alice', 'alice', x'00', x'00', 1, 0, 0),
                        (2, 'Bob', 'bob', x'00', x'00', 1, 0, 0);
             INSERT INTO channel_incarnations VALUES (3, '#c', '#C', 0);
             INSERT INTO messages (id, time_ms, kind, source, account, target, conv,
                 party_a, party_b, text, incarnation) VALUES
                 (1, 10, 0, 'alice!u@h', 'Alice', 'Bob', 'a:1|a:2', 'a:1', 'a:2', 'hi', 0),
                 (2, 20, 1, 'bob!u@h', 'Bob', 'alice', 'a:1|a:2', 'a:2', 'a:1', 'yo', 0),
                 (4, 40, 2, 'bob!u@h', 'Bob', '#C', '#c', NULL, NULL, '', 3),
                 (5, 50, 0, 'bob!u@h', 'Bob', '#C', '#c', NULL, NULL, 'in c', 3),
                 (6, 60, 0, 'zed!u@h', NULL, 'bob', 'a:2|n:zed', 'n:zed', 'a:2', 'later', 0),
                 (7, 70, 0, 'zed!u@h', NULL, 'bob', 'a:2|n:zed', 'n:zed', 'a:2', 'gone', 0),
                 (8, 80, 0, 'old!u@h', NULL, '#c', '#c', NULL, NULL, 'before', 0);
             INSERT INTO conversations VALUES ('a:1|a:2', 'a:1', 'a:2'),
                                              ('a:2|n:zed', 'n:zed', 'a:2');
             INSERT INTO offline_queue (account_id, message_id, queued_ms)
                 VALUES (2, 6, 60), (2, 7, 70);
             DELETE FROM offline_queue WHERE message_id = 7;
             DELETE FROM messages WHERE id = 7;
             INSERT INTO memberships VALUES (1, '#c', '#C', 3, 4);",
        )
        .unwrap();
    }
    let conn = open_db(dir.path());
    assert_eq!(
        count(&conn, "PRAGMA user_version"),
        crate::store::schema::MIGRATIONS.len() as i64
    );
    let ab = Conv::Direct("a:2".into(), "a:1".into());
    let got = history(&conn, &ab, &Range::Latest { after: None }, 10, false).unwrap();
    assert_eq!(ids(&got), [1, 2]);
    assert_eq!(got[0].conv, Conv::Direct("a:1".into(), "a:2".into()));
    assert_eq!(got[1].conv, Conv::Direct("a:2".into(), "a:1".into()));
    assert_eq!(
        (got[1].kind, got[1].time_ms, got[1].text.as_str()),
        (Kind::Notice, 20, "yo")
    );
    assert_eq!(got[1].account.as_deref(), Some("Bob"));
    let c3 = Conv::Channel {
        name: "#c".into(),
        incarnation: 3,
    };
    let all = history(&conn, &c3, &Range::Latest { after: None }, 10, true).unwrap();
    assert_eq!(ids(&all), [4, 5]);
    assert_eq!(all[0].kind, Kind::Join);
    assert_eq!(latest(&conn, &chan("#c"), 10), [8]);
    // The offline queue keeps its rows and ids; the last queue id is not given again.
    let queued = fetch_queue(&conn, 2).unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!((queued[0].0, queued[0].1.id), (1, 6));
    assert_eq!(queued[0].1.conv, Conv::Direct("n:zed".into(), "a:2".into()));
    log(&conn, &[dm(9, "n:zed", "zed", "a:2", "bob", "more")]).unwrap();
    queue(
        &conn,
        2,
        &dm(10, "n:zed", "zed", "a:2", "bob", "q"),
        0,
        10,
        0,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        ids(&fetch_queue(&conn, 2)
            .unwrap()
            .into_iter()
            .map(|r| r.1)
            .collect::<Vec<_>>()),
        [6, 10]
    );
    assert_eq!(count(&conn, "SELECT max(id) FROM offline_queue"), 3);
    // TARGETS, missed messages, redaction and the tail.
    let t = targets(&conn, "a:2", &[], 0, i64::MAX, 10).unwrap();
    let names: Vec<_> = t.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["zed", "alice"]);
    assert_eq!(
        ids(&fetch_memberships(&conn, 1, 10).unwrap()[0].missed),
        [5]
    );
    let by_bob = Redactor {
        account: Some(("bob".into(), 0)),
        ..Redactor::default()
    };
    assert!(redact(&conn, &ab, 2, &by_bob).unwrap().is_ok());
    assert_eq!(latest(&conn, &ab, 10), [1]);
    assert_eq!(ids(&tail(&conn, 10, None).unwrap()), [1, 5, 6, 8, 9, 10]);
    assert_eq!(last_id(&conn).unwrap(), 10);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM sqlite_master WHERE name LIKE '%_v8'"
        ),
        0
    );
    assert_eq!(
        count(&conn, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
}
