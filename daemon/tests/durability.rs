//! Durability of the offline queue in the real `chatd` process: messages the sender
//! was told were queued survive SIGKILL of the daemon right after, and are delivered
//! exactly once, in order, when the account logs in after a restart on the same data
//! dir. (The graceful restart is tested in-process: tests/tests/e2e/offline.rs.)

use chatd_proto::Message;
use chatd_tests::process::{chatd_command, connect_retry, free_port, Running};
use chatd_tests::{Client, RELAXED_TOML};
use std::path::Path;

const PW: &str = "hunter2hunter2";

/// Starts chatd on `port` with `dir/data` as its data dir and the relaxed test config.
fn start(dir: &Path, port: u16) -> Running {
    start_with(dir, port, "")
}

/// [`start`], with `extra` (whole TOML tables) added to the config.
fn start_with(dir: &Path, port: u16, extra: &str) -> Running {
    let conf = dir.join("chatd.toml");
    std::fs::write(
        &conf,
        format!("[server]\nauto_join = []\n\n{RELAXED_TOML}\n{extra}"),
    )
    .unwrap();
    let chatd = env!("CARGO_BIN_EXE_chatd");
    Running::spawn(&mut chatd_command(chatd, &conf, port, &dir.join("data")))
}

/// Connects (retrying while the daemon starts) and registers as `nick`, sending
/// `before` first (CAP, PASS...); reads up to the end of the MOTD.
fn connect(port: u16, nick: &str, before: &[String]) -> Client {
    let mut c = Client::from_stream(connect_retry(port));
    for line in before {
        c.send(line);
    }
    c.register(nick);
    c
}

fn is_delivered_notice(m: &Message) -> bool {
    m.command == "NOTICE" && m.param(1).ends_with("delivered while you were away")
}

fn from_alice(m: &Message) -> bool {
    m.command == "PRIVMSG" && m.source_nick() == Some("alice")
}

#[test]
fn queued_messages_survive_kill_9_and_are_delivered_exactly_once() {
    const N: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let chatd = start(dir.path(), port);

    let mut bob = connect(port, "bob", &[]);
    bob.send(&format!("REGISTER bob * {PW}"));
    bob.recv_until(|m| m.command == "900", "900 after REGISTER");
    bob.quit();

    let mut alice = connect(port, "alice", &[]);
    let queued = "bob is offline; your message was queued and will be delivered when they log in";
    for i in 0..N {
        alice.send(&format!("PRIVMSG bob :message {i:02}"));
    }
    for i in 0..N {
        let got = alice.recv_until(
            |m| (m.command == "NOTICE" && m.param(1) == queued) || m.command == "FAIL",
            &format!("queued notice {i}"),
        );
        let m = got.last().unwrap();
        assert_eq!(m.param(1), queued, "message {i} was not queued: {m}");
    }
    // Told queued: now the process dies without any chance to clean up.
    chatd.kill9();

    let port = free_port();
    let _chatd = start(dir.path(), port);
    let mut bob = connect(port, "bob", &[format!("PASS bob:{PW}")]);
    let got = bob.recv_until(is_delivered_notice, "the delivery notice");
    let texts: Vec<&str> = got
        .iter()
        .filter(|m| from_alice(m))
        .map(|m| m.param(1))
        .collect();
    let want: Vec<String> = (0..N).map(|i| format!("message {i:02}")).collect();
    // bob did not negotiate server-time: each text starts with its time.
    let stripped: Vec<&str> = texts
        .iter()
        .map(|t| match t.split_once(" UTC] ") {
            Some((when, rest)) if when.starts_with('[') && when.len() == 20 => rest,
            _ => panic!("no [YYYY-MM-DD HH:MM:SS UTC] prefix: {t:?}"),
        })
        .collect();
    assert_eq!(stripped, want, "every queued message once, in order");
    assert_eq!(
        got.last().unwrap().param(1),
        format!("{N} messages were delivered while you were away")
    );
    // Anything more would be a duplicate.
    let more = bob.store_sync();
    assert!(
        !more.iter().any(|m| from_alice(m) || is_delivered_notice(m)),
        "{more:#?}"
    );
    bob.quit();

    let mut again = connect(port, "bob", &[format!("PASS bob:{PW}")]);
    let got = again.store_sync();
    assert!(
        !got.iter().any(|m| from_alice(m) || is_delivered_notice(m)),
        "delivered again at the second login: {got:#?}"
    );
}

#[test]
fn accounts_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let chatd = start(dir.path(), port);
    let mut carol = connect(port, "carol", &[]);
    carol.send(&format!("REGISTER carol * {PW}"));
    carol.recv_until(
        |m| m.command == "REGISTER" && m.param(0) == "SUCCESS",
        "REGISTER SUCCESS",
    );
    chatd.kill9();

    let port = free_port();
    let _chatd = start(dir.path(), port);
    let mut c = connect(port, "someone", &[]);
    c.send("LOGIN carol wrong-password");
    c.recv_until(|m| m.command == "FAIL", "FAIL LOGIN");
    c.send(&format!("LOGIN carol {PW}"));
    let got = c.recv_until(|m| m.command == "900" || m.command == "FAIL", "900");
    let m = got.last().unwrap();
    assert_eq!((m.command.as_str(), m.param(2)), ("900", "carol"), "{m}");
}

/// With a commit window far longer than the test, live messages are held in memory,
/// but a queued message ends the window: once its sender is told it was queued, it
/// and every live message logged before it are on disk, and survive SIGKILL.
#[test]
fn a_queued_message_commits_the_live_messages_a_window_holds() {
    const LIVE: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let chatd = start_with(dir.path(), port, "[history]\ncommit_window_ms = 1000\n");

    let mut bob = connect(port, "bob", &[]);
    bob.send(&format!("REGISTER bob * {PW}"));
    bob.recv_until(|m| m.command == "900", "900 after REGISTER");
    bob.quit();

    let mut alice = connect(port, "alice", &[]);
    let mut carol = connect(port, "carol", &[]);
    alice.send("JOIN #room");
    alice.recv_until(|m| m.command == "366", "alice's JOIN");
    carol.send("JOIN #room");
    carol.recv_until(|m| m.command == "366", "carol's JOIN");
    for i in 0..LIVE {
        alice.send(&format!("PRIVMSG #room :live {i}"));
    }
    for i in 0..LIVE {
        carol.recv_until(
            |m| m.command == "PRIVMSG" && m.param(1) == format!("live {i}"),
            &format!("live message {i}"),
        );
    }
    alice.send("PRIVMSG bob :queued");
    let queued = "bob is offline; your message was queued and will be delivered when they log in";
    let got = alice.recv_until(
        |m| (m.command == "NOTICE" && m.param(1) == queued) || m.command == "FAIL",
        "queued notice",
    );
    assert_eq!(got.last().unwrap().param(1), queued);
    chatd.kill9();

    let db = rusqlite::Connection::open(dir.path().join("data").join("chatd.db")).unwrap();
    let texts: Vec<String> = db
        .prepare("SELECT text FROM messages ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut want: Vec<String> = (0..LIVE).map(|i| format!("live {i}")).collect();
    want.push("queued".into());
    let texts: Vec<String> = texts
        .into_iter()
        .filter(|t| t.starts_with("live ") || t == "queued")
        .collect();
    assert_eq!(texts, want);
}

/// Connects with the history capabilities (batch, message-tags, chathistory),
/// logged in to the account `nick` (password [`PW`]).
fn connect_hist(port: u16, nick: &str) -> Client {
    let caps = [
        "CAP LS 302".to_string(),
        "CAP REQ :batch server-time message-tags draft/chathistory".to_string(),
        "CAP END".to_string(),
        format!("PASS {nick}:{PW}"),
    ];
    connect(port, nick, &caps)
}

/// (msgid, text) of each message of `alice`'s `CHATHISTORY LATEST bob * 100`.
fn private_history(alice: &mut Client) -> Vec<(String, String)> {
    alice.send("CHATHISTORY LATEST bob * 100");
    alice
        .expect_history_batch("bob")
        .iter()
        .filter(|m| m.command == "PRIVMSG")
        .map(|m| {
            (
                m.tag("msgid").unwrap_or_default().to_string(),
                m.param(1).to_string(),
            )
        })
        .collect()
}

/// Logged private messages wait for the conversation index in memory (the store
/// writes it in large sorted batches). A SIGKILL loses those pending index entries
/// but none of the committed messages: at the next start everything above the
/// watermark is indexed, and history answers exactly as before the kill.
#[test]
fn private_history_with_an_unindexed_tail_survives_kill_9() {
    const N: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let chatd = start(dir.path(), port);
    for name in ["alice", "bob"] {
        let mut c = connect(port, name, &[]);
        c.send(&format!("REGISTER {name} * {PW}"));
        c.recv_until(|m| m.command == "900", "900 after REGISTER");
        c.quit();
    }
    let mut alice = connect_hist(port, "alice");
    let mut bob = connect_hist(port, "bob");
    for i in 0..N {
        alice.send(&format!("PRIVMSG bob :dm {i:02}"));
        bob.recv_until(
            |m| m.command == "PRIVMSG" && m.param(1) == format!("dm {i:02}"),
            &format!("dm {i}"),
        );
    }
    // A read ends any commit window: every message is committed when it is answered.
    let before = private_history(&mut alice);
    let want: Vec<String> = (0..N).map(|i| format!("dm {i:02}")).collect();
    let texts: Vec<&String> = before.iter().map(|(_, t)| t).collect();
    assert_eq!(texts, want.iter().collect::<Vec<_>>());
    chatd.kill9();

    let db = rusqlite::Connection::open(dir.path().join("data").join("chatd.db")).unwrap();
    let q = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    let indexed = q("SELECT value FROM history_state WHERE name = 'indexed_to'");
    let newest = q("SELECT max(id) FROM messages");
    assert!(
        indexed < newest,
        "the newest messages were not pending: {indexed} {newest}"
    );
    drop(db);

    let port = free_port();
    let _chatd = start(dir.path(), port);
    let mut alice = connect_hist(port, "alice");
    assert_eq!(
        private_history(&mut alice),
        before,
        "same messages, msgids and order"
    );
    let db = rusqlite::Connection::open(dir.path().join("data").join("chatd.db")).unwrap();
    let indexed: i64 = db
        .query_row(
            "SELECT value FROM history_state WHERE name = 'indexed_to'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexed, newest, "indexed at start");
}
