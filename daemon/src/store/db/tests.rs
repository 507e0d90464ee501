//! Tests of the SQL, on a real file.

use super::*;
use crate::store::schema;

pub(crate) fn open_db(dir: &std::path::Path) -> Connection {
    let mut conn = Connection::open(dir.join("t.db")).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    schema::migrate(&mut conn).unwrap();
    index::open(&conn).unwrap();
    conn
}

pub(crate) fn chan_msg(id: i64, channel: &str, nick: &str, text: &str) -> StoredMessage {
    StoredMessage {
        id,
        time_ms: id * 10,
        kind: Kind::Privmsg,
        source: format!("{nick}!u@h"),
        account: None,
        target: channel.to_string(),
        conv: chan(channel),
        text: text.to_string(),
    }
}

/// Incarnation 0 of a channel (as logged before incarnations).
pub(crate) fn chan(name: &str) -> Conv {
    Conv::Channel {
        name: fold(name),
        incarnation: 0,
    }
}

/// A direct message from `from_nick` (identity `from`) to `to_nick` (identity `to`).
pub(crate) fn dm(
    id: i64,
    from: &str,
    from_nick: &str,
    to: &str,
    to_nick: &str,
    text: &str,
) -> StoredMessage {
    StoredMessage {
        id,
        time_ms: id * 10,
        kind: Kind::Notice,
        source: format!("{from_nick}!u@h"),
        account: from.strip_prefix("a:").map(str::to_string),
        target: to_nick.to_string(),
        conv: Conv::Direct(from.to_string(), to.to_string()),
        text: text.to_string(),
    }
}

pub(crate) fn ids(msgs: &[StoredMessage]) -> Vec<i64> {
    msgs.iter().map(|m| m.id).collect()
}

#[test]
fn log_round_trips_and_ignores_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_db(dir.path());
    let a = chan_msg(1, "#Chan", "alice", "hello");
    let mut b = dm(2, "a:alice", "Alice", "n:bob", "Bob", "hi bob");
    b.account = Some("Alice".into());
    log(&conn, &[a.clone(), b.clone()]).unwrap();
    let mut dup = a.clone();
    dup.text = "changed".into();
    log(&conn, &[dup]).unwrap();
    assert_eq!(last_id(&conn).unwrap(), 2);
    let got = history(
        &conn,
        &chan("#chan"),
        &Range::Latest { after: None },
        10,
        false,
    )
    .unwrap();
    assert_eq!(got, vec![a]);
    let got = history(
        &conn,
        &Conv::Direct("n:bob".into(), "a:alice".into()),
        &Range::Latest { after: None },
        10,
        false,
    )
    .unwrap();
    assert_eq!(got, vec![b]);
}

#[test]
fn empty_log_last_id_is_zero() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_db(dir.path());
    assert_eq!(last_id(&conn).unwrap(), 0);
}

#[test]
fn history_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_db(dir.path());
    let mut msgs: Vec<_> = (1..=10).map(|i| chan_msg(i * 10, "#c", "n", "x")).collect();
    // Noise in other conversations, interleaved.
    msgs.extend((1..=10).map(|i| chan_msg(i * 10 + 5, "#other", "n", "y")));
    msgs.push(dm(1000, "n:a", "a", "n:b", "b", "z"));
    log(&conn, &msgs).unwrap();
    let c = chan("#c");
    let h = |range: Range, limit: usize| ids(&history(&conn, &c, &range, limit, false).unwrap());

    assert_eq!(h(Range::Latest { after: None }, 3), [80, 90, 100]);
    assert_eq!(h(Range::Latest { after: None }, 50).len(), 10);
    assert_eq!(h(Range::Latest { after: Some(80) }, 5), [90, 100]);
    assert_eq!(h(Range::Latest { after: Some(20) }, 3), [80, 90, 100]);
    assert_eq!(h(Range::Latest { after: Some(100) }, 3), Vec::<i64>::new());

    assert_eq!(h(Range::Before { before: 50 }, 2), [30, 40]);
    assert_eq!(h(Range::Before { before: 55 }, 2), [40, 50]);
    assert_eq!(h(Range::Before { before: 10 }, 2), Vec::<i64>::new());

    assert_eq!(h(Range::After { after: 50 }, 2), [60, 70]);
    assert_eq!(h(Range::After { after: 90 }, 5), [100]);
    assert_eq!(h(Range::After { after: 0 }, 1), [10]);

    assert_eq!(h(Range::Around { around: 50 }, 4), [30, 40, 50, 60]);
    assert_eq!(h(Range::Around { around: 50 }, 3), [40, 50, 60]);
    assert_eq!(h(Range::Around { around: 55 }, 4), [40, 50, 60, 70]);
    assert_eq!(h(Range::Around { around: 10 }, 4), [10, 20]);
    assert_eq!(h(Range::Around { around: 100 }, 4), [80, 90, 100]);
    assert_eq!(h(Range::Around { around: 50 }, 1), [50]);

    assert_eq!(h(Range::Between { from: 20, to: 70 }, 10), [30, 40, 50, 60]);
    assert_eq!(h(Range::Between { from: 20, to: 70 }, 2), [30, 40]);
    assert_eq!(h(Range::Between { from: 70, to: 20 }, 2), [50, 60]);
    assert_eq!(h(Range::Between { from: 70, to: 20 }, 10), [30, 40, 50, 60]);
    assert_eq!(
        h(Range::Between { from: 50, to: 50 }, 10),
        Vec::<i64>::new()
    );
    assert_eq!(
        h(Range::Between { from: 50, to: 60 }, 10),
        Vec::<i64>::new()
    );

    for range in [
        Range::Latest { after: None },
        Range::Before { before: 100 },
        Range::After { after: 0 },
        Range::Around { around: 50 },
        Range::Between { from: 0, to: 1000 },
    ] {
        assert!(h(range, 0).is_empty());
    }
    // Unfolded names find the same conversation.
    let upper = history(&conn, &chan("#C"), &Range::After { after: 0 }, 1, false);
    assert_eq!(ids(&upper.unwrap()), [10]);
}

#[test]
fn direct_history_is_shared_by_both_parties() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_db(dir.path());
    log(
        &conn,
        &[
            dm(1, "a:alice", "alice", "n:bob", "bob", "1"),
            dm(2, "n:bob", "bob", "a:alice", "alice", "2"),
            dm(3, "n:bob", "bob", "n:carol", "carol", "3"),
        ],
    )
    .unwrap();
    for conv in [
        Conv::Direct("a:alice".into(), "n:bob".into()),
        Conv::Direct("n:bob".into(), "a:alice".into()),
    ] {
        let got = history(&conn, &conv, &Range::Latest { after: None }, 10, false).unwrap();
        assert_eq!(ids(&got), [1, 2]);
    }
    // A party never sees another pair's conversation.
    let got = history(
        &conn,
        &Conv::Direct("a:alice".into(), "n:carol".into()),
        &Range::Latest { after: None },
        10,
        false,
    )
    .unwrap();
    assert!(got.is_empty());
}

#[test]
fn queue_full_and_stale() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_db(dir.path());
    let (bob, carol, dan, eve) = (1, 2, 3, 4);
    let q = |id: i64, account: AccountId, now: i64| {
        queue(
            &conn,
            account,
            &dm(id, "n:x", "x", "a:bob", "bob", "m"),
            now,
            3,
            60,
        )
        .unwrap()
    };
    assert_eq!(q(1, bob, 1_000), Ok(()));
    assert_eq!(q(2, bob, 2_000), Ok(()));
    assert_eq!(q(3, bob, 3_000), Ok(()));
    assert_eq!(q(4, bob, 4_000), Err(QueueRefusal::Full));
    // Refused messages are not logged by the queue.
    assert_eq!(last_id(&conn).unwrap(), 3);
    // Another account has its own limits.
    assert_eq!(q(5, carol, 5_000), Ok(()));

    // Age: oldest queued at 5_000; exactly 60 s later is still fine, later is stale.
    assert_eq!(q(6, carol, 65_000), Ok(()));
    assert_eq!(q(7, carol, 65_001), Err(QueueRefusal::Stale));

    // Delivering the old rows makes room again.
    let rows = fetch_queue(&conn, carol).unwrap();
    assert_eq!(rows.len(), 2);
    dequeue(&conn, &[rows[0].0]).unwrap();
    assert_eq!(q(8, carol, 65_001), Ok(()));

    // No age limit when it is 0; no queue at all when the count limit is 0.
    let m = dm(9, "n:x", "x", "a:dan", "dan", "m");
    assert_eq!(queue(&conn, dan, &m, 0, 5, 0).unwrap(), Ok(()));
    let m = dm(10, "n:x", "x", "a:dan", "dan", "m");
    assert_eq!(queue(&conn, dan, &m, i64::MAX / 2, 5, 0).unwrap(), Ok(()));
    let m = dm(11, "n:x", "x", "a:eve", "eve", "m");
    assert_eq!(
        queue(&conn, eve, &m, 0, 0, 60).unwrap(),
        Err(QueueRefusal::Full)
    );
}

#[test]
fn fetch_queue_order_and_dequeue() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_db(dir.path());
    let (bob, carol) = (1, 2);
    // Queue order is arrival order, whatever the message ids.
    let msgs = [
        dm(30, "n:x", "x", "a:bob", "bob", "first"),
        dm(10, "n:y", "y", "a:bob", "bob", "second"),
        dm(20, "n:x", "x", "a:bob", "bob", "third"),
    ];
    // The same message may also arrive in a Log batch.
    log(&conn, &msgs[1..2]).unwrap();
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(queue(&conn, bob, m, i as i64, 100, 3600).unwrap(), Ok(()));
    }
    queue(
        &conn,
        carol,
        &dm(40, "n:x", "x", "a:carol", "carol", "c"),
        0,
        100,
        3600,
    )
    .unwrap()
    .unwrap();
    let rows = fetch_queue(&conn, bob).unwrap();
    let texts: Vec<_> = rows.iter().map(|(_, m)| m.text.as_str()).collect();
    assert_eq!(texts, ["first", "second", "third"]);
    assert_eq!(rows[1].1, msgs[1]);
    assert!(rows.windows(2).all(|w| w[0].0 < w[1].0));

    dequeue(&conn, &[rows[0].0, rows[2].0, 9999]).unwrap();
    let left: Vec<_> = fetch_queue(&conn, bob).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].1.text, "second");
    assert_eq!(fetch_queue(&conn, carol).unwrap().len(), 1);
    assert!(fetch_queue(&conn, 99).unwrap().is_empty());
}

pub(crate) fn account(name: &str) -> Account {
    Account {
        id: 0,
        name: name.to_string(),
        hash: PasswordHash {
            iterations: 1,
            salt: vec![1, 2],
            hash: vec![3, 4],
        },
        email: Some(format!("{name}@example.org")),
        scram: None,
        created: 100,
        last_seen: 100,
    }
}

#[test]
fn accounts_create_seen_delete() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_db(dir.path());
    let alice_id = create_account(&conn, &account("Alice")).unwrap().unwrap();
    assert_eq!(
        create_account(&conn, &account("ALICE")).unwrap(),
        Err(RegisterError::Exists)
    );
    let mut bob = account("bob");
    bob.email = None;
    let bob_id = create_account(&conn, &bob).unwrap().unwrap();
    assert!(bob_id > alice_id);
    seen(&conn, "BOB", 500).unwrap();
    seen(&conn, "nobody", 500).unwrap();
    let all = load_accounts(&conn).unwrap();
    bob.last_seen = 500;
    bob.id = bob_id;
    let alice = Account {
        id: alice_id,
        ..account("Alice")
    };
    assert_eq!(all, vec![alice, bob]);

    queue(
        &conn,
        alice_id,
        &dm(1, "n:x", "x", "a:alice", "alice", "m"),
        0,
        10,
        0,
    )
    .unwrap()
    .unwrap();
    join(&conn, alice_id, "#Chan", 7, 0).unwrap();
    delete_account(&conn, alice_id).unwrap();
    assert_eq!(load_accounts(&conn).unwrap().len(), 1);
    assert!(fetch_queue(&conn, alice_id).unwrap().is_empty());
    assert!(fetch_memberships(&conn, alice_id, 10).unwrap().is_empty());
    // The logged message stays.
    assert_eq!(last_id(&conn).unwrap(), 1);
    // The name is free again, under a new id (issue 14: never the deleted one's,
    // even when it was the newest).
    let again = create_account(&conn, &account("alice")).unwrap().unwrap();
    assert!(again > bob_id, "{again}");
    delete_account(&conn, again).unwrap();
    let newest = create_account(&conn, &account("alice")).unwrap().unwrap();
    assert!(newest > again, "{newest}");
}

#[test]
fn memberships_and_missed_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_db(dir.path());
    let msgs: Vec<_> = (1..=10).map(|i| chan_msg(i, "#A", "n", "a")).collect();
    log(&conn, &msgs).unwrap();
    log(&conn, &[chan_msg(11, "#b", "n", "b")]).unwrap();

    let (alice, bob) = (1, 2);
    join(&conn, alice, "#A", 0, 3).unwrap();
    join(&conn, alice, "#b", 0, 11).unwrap();
    join(&conn, bob, "#A", 0, 0).unwrap();
    let got = fetch_memberships(&conn, alice, 4).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].channel, "#A");
    assert_eq!(ids(&got[0].missed), [7, 8, 9, 10]);
    assert_eq!(got[1].channel, "#b");
    assert!(got[1].missed.is_empty());

    let got = fetch_memberships(&conn, alice, 100).unwrap();
    assert_eq!(ids(&got[0].missed), [4, 5, 6, 7, 8, 9, 10]);
    assert!(fetch_memberships(&conn, alice, 0).unwrap()[0]
        .missed
        .is_empty());

    left(&conn, alice, &["#a".to_string(), "#b".to_string()], 8).unwrap();
    let got = fetch_memberships(&conn, alice, 4).unwrap();
    assert_eq!(ids(&got[0].missed), [9, 10]);
    assert_eq!(ids(&got[1].missed), [11]);

    // Joining again updates the display name and position.
    join(&conn, alice, "#a", 0, 9).unwrap();
    let got = fetch_memberships(&conn, alice, 4).unwrap();
    assert_eq!(got[0].channel, "#a");
    assert_eq!(ids(&got[0].missed), [10]);

    part(&conn, alice, "#B").unwrap();
    let got = fetch_memberships(&conn, alice, 4).unwrap();
    assert_eq!(got.len(), 1);
    // Bob is untouched.
    assert_eq!(
        fetch_memberships(&conn, bob, 100).unwrap()[0].missed.len(),
        10
    );
}

/// A channel message of `incarnation` (issue 14).
fn inc_msg(id: i64, channel: &str, incarnation: Incarnation, text: &str) -> StoredMessage {
    StoredMessage {
        conv: Conv::Channel {
            name: fold(channel),
            incarnation,
        },
        ..chan_msg(id, channel, "n", text)
    }
}

#[test]
fn channel_history_is_read_per_incarnation() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_db(dir.path());
    let mut msgs: Vec<_> = (101..=105).map(|i| inc_msg(i, "#c", 100, "old")).collect();
    msgs.extend((201..=203).map(|i| inc_msg(i, "#C", 200, "new")));
    msgs.push(inc_msg(204, "#other", 200, "elsewhere"));
    log(&conn, &msgs).unwrap();
    new_channel(&conn, "#C", 300, 0).unwrap();
    // Incarnation ids count as used ids: a restart starts above them.
    assert_eq!(last_id(&conn).unwrap(), 300);

    let at = |inc: Incarnation| Conv::Channel {
        name: "#c".into(),
        incarnation: inc,
    };
    let h = |inc: Incarnation, range: Range| {
        ids(&history(&conn, &at(inc), &range, 100, false).unwrap())
    };
    assert_eq!(h(200, Range::Latest { after: None }), [201, 202, 203]);
    assert_eq!(
        h(100, Range::Latest { after: None }),
        [101, 102, 103, 104, 105]
    );
    assert!(h(300, Range::Latest { after: None }).is_empty());
    assert!(h(7, Range::Latest { after: None }).is_empty());
    assert_eq!(h(200, Range::Before { before: i64::MAX }), [201, 202, 203]);
    assert_eq!(h(200, Range::After { after: 0 }), [201, 202, 203]);
    assert_eq!(h(200, Range::Around { around: 150 }), [201, 202, 203]);
    assert_eq!(
        h(
            200,
            Range::Between {
                from: 0,
                to: i64::MAX
            }
        ),
        [201, 202, 203]
    );
    assert_eq!(h(100, Range::After { after: 103 }), [104, 105]);
    assert_eq!(
        history(&conn, &at(200), &Range::Latest { after: None }, 1, false).unwrap()[0].conv,
        at(200)
    );

    // Missed messages are those of the membership's incarnation only.
    join(&conn, 1, "#c", 100, 103).unwrap();
    join(&conn, 2, "#c", 300, 300).unwrap();
    let got = fetch_memberships(&conn, 1, 10).unwrap();
    assert_eq!(
        (got[0].incarnation, ids(&got[0].missed)),
        (100, vec![104, 105])
    );
    assert!(fetch_memberships(&conn, 2, 10).unwrap()[0]
        .missed
        .is_empty());
    // Bans are kept with their incarnation, for the loop to cap the replay.
    channel_ban(&conn, 100, "bob!*@*", 104).unwrap();
    channel_ban(&conn, 200, "eve!*@*", 202).unwrap();
    let got = fetch_memberships(&conn, 1, 10).unwrap();
    assert_eq!(got[0].bans, vec![("bob!*@*".to_string(), 104)]);
    assert!(fetch_memberships(&conn, 2, 10).unwrap()[0].bans.is_empty());

    // TARGETS sees a channel only in the incarnation the reader is in.
    let t = |inc| targets(&conn, "n:x", &[("#c".to_string(), inc)], 0, i64::MAX, 10).unwrap();
    assert_eq!(t(200).len(), 1);
    assert_eq!(t(200)[0].latest_ms, 2030);
    assert!(t(300).is_empty());
}

#[test]
fn targets_lists_conversations_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_db(dir.path());
    log(
        &conn,
        &[
            // alice <-> bob (both registered): bob wrote, later as Bob_.
            dm(10, "a:bob", "bob", "a:alice", "alice", "hi"),
            dm(20, "a:alice", "Alice", "a:bob", "bob", "hey"),
            // alice -> carol: carol never wrote; alice called her Carol.
            dm(30, "a:alice", "Alice", "a:carol", "Carol", "ping"),
            chan_msg(40, "#Rust", "x", "channel"),
            dm(50, "a:bob", "Bob_", "a:alice", "alice", "renamed"),
            // An unregistered nick is its own identity: not alice's conversation.
            dm(55, "n:bob", "bob", "n:dave", "dave", "nick-only pair"),
            // Not alice's.
            dm(60, "a:bob", "Bob_", "a:carol", "carol", "other pair"),
            chan_msg(70, "#other", "x", "not asked"),
            dm(80, "a:alice", "Alice", "a:bob", "Bob_", "later"),
        ],
    )
    .unwrap();
    let chans = [
        ("#rust".to_string(), 0),
        ("#quiet".to_string(), 0),
        ("#RUST".to_string(), 0),
    ];
    let t = |from: i64, to: i64, limit: usize| {
        targets(&conn, "a:alice", &chans, from, to, limit)
            .unwrap()
            .into_iter()
            .map(|t| (t.name, t.latest_ms))
            .collect::<Vec<_>>()
    };
    let all = vec![
        ("Bob_".to_string(), 800),
        ("#Rust".to_string(), 400),
        ("Carol".to_string(), 300),
    ];
    assert_eq!(t(0, 1000, 10), all);
    // Either order of bounds.
    assert_eq!(t(1000, 0, 10), all);
    assert_eq!(t(0, 1000, 2), all[..2].to_vec());
    // Exclusive bounds: 80 is outside, so bob's latest in range is 50.
    assert_eq!(
        t(30, 80, 10),
        vec![("Bob_".to_string(), 500), ("#Rust".to_string(), 400)]
    );
    assert_eq!(t(0, 10, 10), vec![]);
    assert_eq!(t(0, 1000, 0), vec![]);
    // Bob's account sees its conversations with alice and carol; the nick-only
    // identity n:bob sees only its own.
    let bob = targets(&conn, "a:BOB", &[], 0, 1000, 10).unwrap();
    let names: Vec<_> = bob.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Alice", "carol"]);
    let nick_bob = targets(&conn, "n:bob", &[], 0, 1000, 10).unwrap();
    assert_eq!(
        nick_bob,
        vec![TargetActivity {
            name: "dave".into(),
            latest_ms: 550
        }]
    );
}
