//! Tests of the SQL behind channel events (draft/event-playback), redaction, read
//! markers and registered channels, on a real file; the helpers are in `tests.rs`.

use super::tests::{chan, chan_msg, dm, ids, open_db};
use super::*;

#[test]
fn events_are_read_only_when_asked_for_and_never_as_missed() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_db(dir.path());
    let mut join_event = chan_msg(1, "#c", "bob", "");
    join_event.kind = Kind::Join;
    let mut kick = chan_msg(3, "#c", "op", "bob\nout");
    kick.kind = Kind::Kick;
    log(
        &conn,
        &[join_event, chan_msg(2, "#c", "bob", "hi"), kick.clone()],
    )
    .unwrap();
    let latest = Range::Latest { after: None };
    assert_eq!(
        ids(&history(&conn, &chan("#c"), &latest, 10, false).unwrap()),
        [2]
    );
    let all = history(&conn, &chan("#c"), &latest, 10, true).unwrap();
    assert_eq!(ids(&all), [1, 2, 3]);
    assert_eq!(all[2].kind, Kind::Kick);
    assert_eq!(all[2].event_params(), ["bob", "out"]);
    // The limit counts what is read: the newest two with events, one without.
    assert_eq!(
        ids(&history(&conn, &chan("#c"), &latest, 2, true).unwrap()),
        [2, 3]
    );
    join(&conn, 1, "#c", 0, 0).unwrap();
    let missed = fetch_memberships(&conn, 1, 10).unwrap();
    assert_eq!(ids(&missed[0].missed), [2]);
    assert_eq!(ids(&tail(&conn, 10, None).unwrap()), [2]);
}

#[test]
fn redact_checks_the_conversation_and_the_asker_and_deletes_queued_copies() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_db(dir.path());
    let mut from_alice = chan_msg(1, "#c", "alice", "oops");
    from_alice.account = Some("Alice".into());
    from_alice.time_ms = 5_000;
    log(&conn, &[from_alice, chan_msg(2, "#other", "alice", "x")]).unwrap();
    let alice = |since_ms| Redactor {
        any: false,
        account: Some(("alice".into(), since_ms)),
        party: None,
    };
    // Another channel's msgid is unknown here, whoever asks.
    let any = Redactor {
        any: true,
        ..Redactor::default()
    };
    assert_eq!(
        redact(&conn, &chan("#c"), 2, &any).unwrap(),
        Err(RedactRefusal::UnknownMsgid)
    );
    assert_eq!(
        redact(&conn, &chan("#c"), 1, &Redactor::default()).unwrap(),
        Err(RedactRefusal::Forbidden)
    );
    // An account of that name created after the message is not its sender.
    assert_eq!(
        redact(&conn, &chan("#c"), 1, &alice(6_000)).unwrap(),
        Err(RedactRefusal::Forbidden)
    );
    assert_eq!(
        redact(&conn, &chan("#c"), 1, &alice(1_000))
            .unwrap()
            .map(|m| m.id),
        Ok(1)
    );
    assert!(history(
        &conn,
        &chan("#c"),
        &Range::Latest { after: None },
        10,
        false
    )
    .unwrap()
    .is_empty());

    // A queued private message goes with its queue row.
    let m = dm(10, "n:eve", "eve", "a:7", "bob", "queued");
    queue(&conn, 7, &m, 0, 10, 0).unwrap().unwrap();
    let eve = Redactor {
        party: Some(("n:eve".into(), 0)),
        ..Redactor::default()
    };
    let bob = Redactor {
        party: Some(("a:7".into(), 0)),
        ..Redactor::default()
    };
    let conv = Conv::Direct("a:7".into(), "n:eve".into());
    assert_eq!(
        redact(&conn, &conv, 10, &bob).unwrap(),
        Err(RedactRefusal::Forbidden)
    );
    assert!(redact(&conn, &conv, 10, &eve).unwrap().is_ok());
    assert!(fetch_queue(&conn, 7).unwrap().is_empty());
}

#[test]
fn read_markers_move_forward_only_and_go_with_their_account() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_db(dir.path());
    let marker = |account, target: &str, time_ms| ReadMarker {
        account,
        target: target.into(),
        time_ms,
    };
    set_read_marker(&conn, &marker(1, "#Chan", 20)).unwrap();
    set_read_marker(&conn, &marker(1, "#chan", 10)).unwrap();
    set_read_marker(&conn, &marker(2, "bob", 5)).unwrap();
    assert_eq!(
        load_read_markers(&conn).unwrap(),
        [marker(1, "#chan", 20), marker(2, "bob", 5)]
    );
    drop_read_marker(&conn, 2, "BOB").unwrap();
    delete_account(&conn, 1).unwrap();
    assert!(load_read_markers(&conn).unwrap().is_empty());
}

#[test]
fn a_registered_channel_is_saved_whole_replaced_and_dropped() {
    use crate::store::{AccessRole, ChannelRecord, HistoryScope, ListEntry};
    let dir = tempfile::tempdir().unwrap();
    let conn = open_db(dir.path());
    let entry = |list, mask: &str| ListEntry {
        list,
        mask: mask.into(),
        setter: "alice!u@h".into(),
        time: 5,
    };
    let mut rec = ChannelRecord {
        name: "#Team".into(),
        founder: 1,
        registered: 10,
        last_used: 20,
        incarnation: 99,
        history: HistoryScope::SinceJoin,
        topic: Some(("hello".into(), "alice!u@h".into(), 11)),
        modes: "Cnt".into(),
        key: Some("k".into()),
        limit: Some(50),
        lists: vec![
            entry('b', "*!*@spam"),
            entry('e', "~a:bob"),
            entry('I', "*!*@friend"),
        ],
        access: vec![(2, AccessRole::HalfOp), (3, AccessRole::Voice)],
    };
    save_channel(&conn, &rec).unwrap();
    assert_eq!(load_channels(&conn).unwrap(), vec![rec.clone()]);
    // Saving again replaces the lists and the access list, not adds to them.
    rec.lists.truncate(1);
    rec.access = vec![(3, AccessRole::Op)];
    rec.topic = None;
    rec.key = None;
    save_channel(&conn, &rec).unwrap();
    assert_eq!(load_channels(&conn).unwrap(), vec![rec.clone()]);
    drop_channel(&conn, "#TEAM").unwrap();
    assert!(load_channels(&conn).unwrap().is_empty());
    let rows: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM registered_channel_lists) + \
             (SELECT count(*) FROM channel_access)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 0);
}

#[test]
fn an_account_is_fetched_by_name_with_its_tokens_and_markers_only() {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_db(dir.path());
    let alice = create_account(&conn, &super::tests::account("Alice"))
        .unwrap()
        .unwrap();
    let bob = create_account(&conn, &super::tests::account("bob"))
        .unwrap()
        .unwrap();
    for (id, account) in [("t1", alice), ("t2", bob)] {
        let token = crate::store::LoginToken {
            id: id.to_string(),
            account,
            hash: [id.as_bytes()[1]; 32],
            label: "web".into(),
            created: 1,
        };
        save_token(&conn, &token).unwrap();
    }
    for (account, target) in [(alice, "#c"), (bob, "#d")] {
        let marker = ReadMarker {
            account,
            target: target.into(),
            time_ms: 5,
        };
        set_read_marker(&conn, &marker).unwrap();
    }
    let rows = fetch_account(&conn, "ALICE").unwrap().expect("alice");
    assert_eq!(
        (rows.account.id, rows.account.name.as_str()),
        (alice, "Alice")
    );
    assert_eq!(rows.tokens.len(), 1);
    assert_eq!(rows.tokens[0].id, "t1");
    assert_eq!(rows.read_markers.len(), 1);
    assert_eq!(rows.read_markers[0].target, "#c");
    assert!(fetch_account(&conn, "carol").unwrap().is_none());
}
