//! The PostgreSQL store in the real `chatd` process (docs/cluster.md): messages the
//! sender was told were queued survive `kill -9` of a cluster node, and
//! `chatd migrate` copies a single node's SQLite database into an empty PostgreSQL
//! database (refusing one that is not empty), after which a node on PostgreSQL
//! serves the same accounts, offline queue and history.

use chatd_proto::Message;
use chatd_tests::postgres::{self, PgServer};
use chatd_tests::process::{chatd_command, connect_retry, free_port, run_bounded, Running};
use chatd_tests::{Client, RELAXED_TOML};
use std::path::{Path, PathBuf};
use std::process::Command;

const PW: &str = "hunter2hunter2";
const CHATD: &str = env!("CARGO_BIN_EXE_chatd");
const QUEUED: &str =
    "bob is offline; your message was queued and will be delivered when they log in";

/// The config file in `dir`: the relaxed test config, with `[cluster]` on `url` when
/// given.
fn config(dir: &Path, url: Option<&str>) -> PathBuf {
    let conf = dir.join("chatd.toml");
    let cluster = url.map_or(String::new(), |url| {
        format!("[cluster]\nnode_id = 1\ndatabase = {url:?}\n")
    });
    std::fs::write(
        &conf,
        format!("[server]\nauto_join = []\n\n{RELAXED_TOML}\n{cluster}"),
    )
    .unwrap();
    conf
}

fn start(dir: &Path, port: u16, url: Option<&str>) -> Running {
    let conf = config(dir, url);
    Running::spawn(&mut chatd_command(CHATD, &conf, port, &dir.join("data")))
}

fn connect(port: u16, nick: &str, before: &[String]) -> Client {
    let mut c = Client::from_stream(connect_retry(port));
    for line in before {
        c.send(line);
    }
    c.register(nick);
    c
}

fn register(port: u16, name: &str) {
    let mut c = connect(port, name, &[]);
    c.send(&format!("REGISTER {name} * {PW}"));
    c.recv_until(
        |m| m.command == "REGISTER" && m.param(0) == "SUCCESS",
        "REGISTER SUCCESS",
    );
    c.quit();
}

/// Sends `n` offline messages to bob and waits until each is queued.
fn queue_for_bob(alice: &mut Client, n: usize, prefix: &str) {
    for i in 0..n {
        alice.send(&format!("PRIVMSG bob :{prefix} {i:02}"));
    }
    for i in 0..n {
        let got = alice.recv_until(
            |m| (m.command == "NOTICE" && m.param(1) == QUEUED) || m.command == "FAIL",
            &format!("queued notice {i}"),
        );
        let m = got.last().unwrap();
        assert_eq!(m.param(1), QUEUED, "message {i} was not queued: {m}");
    }
}

/// Bob's offline delivery at login: the texts, without their time prefix.
fn delivered_to_bob(port: u16) -> Vec<String> {
    let mut bob = connect(port, "bob", &[format!("PASS bob:{PW}")]);
    let got = bob.recv_until(
        |m: &Message| {
            m.command == "NOTICE" && m.param(1).ends_with("delivered while you were away")
        },
        "the delivery notice",
    );
    got.iter()
        .filter(|m| m.command == "PRIVMSG" && m.source_nick() == Some("alice"))
        .map(|m| {
            let t = m.param(1);
            t.split_once(" UTC] ")
                .map_or(t, |(_, rest)| rest)
                .to_string()
        })
        .collect()
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "PostgreSQL not installed")]
fn queued_messages_survive_kill_9_of_a_node_on_postgresql() {
    const N: usize = 20;
    let url = postgres::database();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let chatd = start(dir.path(), port, Some(&url));
    register(port, "bob");
    let mut alice = connect(port, "alice", &[]);
    queue_for_bob(&mut alice, N, "message");
    chatd.kill9();

    let port = free_port();
    let _chatd = start(dir.path(), port, Some(&url));
    let want: Vec<String> = (0..N).map(|i| format!("message {i:02}")).collect();
    assert_eq!(
        delivered_to_bob(port),
        want,
        "every queued message once, in order"
    );
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "PostgreSQL not installed")]
fn chatd_migrate_copies_a_single_node_into_an_empty_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let chatd = start(dir.path(), port, None);
    register(port, "alice");
    register(port, "bob");
    let mut alice = connect(port, "alice", &[format!("PASS alice:{PW}")]);
    queue_for_bob(&mut alice, 3, "before the move");
    alice.send("JOIN #c");
    alice.send("PRIVMSG #c :in the channel");
    alice.quit();
    assert_eq!(chatd.interrupt(), Some(0));

    let pg = PgServer::start();
    let url = pg.create_database();
    let conf = config(dir.path(), Some(&url));
    let migrate = || {
        let mut cmd = Command::new(CHATD);
        cmd.arg("--config")
            .arg(&conf)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("migrate");
        run_bounded(cmd)
    };
    let run = migrate().success();
    for line in [
        "accounts: 2 rows",
        "offline_queue: 3 rows",
        "memberships: 1 rows",
    ] {
        assert!(run.stdout.lines().any(|l| l == line), "{line:?} in\n{run}");
    }
    assert!(run.stdout.contains("counts checked"), "{run}");
    // The channel message, the queued ones, and the channel's events.
    let messages = PgServer::query(&url, "SELECT count(*) FROM messages WHERE kind < 2");
    assert_eq!(messages, ["4"]);
    // The direct messages keep their two parties (SQLite keeps them in `convs` since
    // its migration 9), and their conversation is listed for TARGETS.
    let direct = PgServer::query(
        &url,
        "SELECT count(*) FROM messages m JOIN conversations c ON c.conv = m.conv \
         WHERE m.party_a IS NOT NULL AND m.party_b IS NOT NULL AND m.party_a <> m.party_b",
    );
    assert_eq!(direct, ["3"]);
    // A second run finds the database in use and copies nothing.
    let again = migrate();
    assert_eq!(again.code, Some(4), "{again}");
    assert!(again.stderr.contains("not empty"), "{again}");
    assert_eq!(
        PgServer::query(&url, "SELECT count(*) FROM accounts"),
        ["2"]
    );

    // A node on PostgreSQL, with a data dir of its own: the same accounts and queue.
    let node = tempfile::tempdir().unwrap();
    std::fs::copy(&conf, node.path().join("chatd.toml")).unwrap();
    let port = free_port();
    let _chatd = start(node.path(), port, Some(&url));
    let want: Vec<String> = (0..3).map(|i| format!("before the move {i:02}")).collect();
    assert_eq!(delivered_to_bob(port), want);
    // A new account gets an id above the copied ones.
    register(port, "carol");
    assert_eq!(
        PgServer::query(&url, "SELECT id::text FROM accounts WHERE name = 'carol'"),
        ["3"]
    );
}
