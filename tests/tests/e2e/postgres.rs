//! The PostgreSQL store (`cluster.database`, docs/cluster.md): the same answers as
//! SQLite for one scenario run on both (accounts, channel and private history with
//! every CHATHISTORY selector, redaction, read markers, the offline queue and a
//! registered channel across a restart); two nodes on one database share accounts
//! and history and never give the same msgid, and `chatctl backup` points
//! at pg_dump; PostgreSQL stopped and started again:
//! offline messages are refused with a FAIL while it is down, delivered messages
//! are kept and saved once it is back; TLS to PostgreSQL, verified. A throwaway
//! server per test process
//! (`chatd_tests::postgres`), a fresh database per test.

use chatd_proto::Message;
use chatd_tests::postgres::{self, PgServer};
use chatd_tests::*;
use std::path::Path;
use std::time::{Duration, Instant};

const PW: &str = "hunter2hunter2";
const CAPS: &str = "batch server-time message-tags echo-message draft/chathistory \
                    draft/read-marker draft/message-redaction";
const QUEUED: &str = "is offline; your message was queued and will be delivered when they log in";

/// Where a server keeps what lasts.
#[derive(Clone)]
enum Engine {
    Sqlite,
    Pg { url: String, node: u16 },
}

fn start(data: &Path, engine: &Engine) -> TestServer {
    let engine = engine.clone();
    TestServer::start_in(data, move |c| {
        if let Engine::Pg { url, node } = engine {
            c.cluster.node_id = node;
            c.cluster.database = url;
        }
    })
}

fn say(c: &mut Client, target: &str, text: &str) -> String {
    c.send(&format!("PRIVMSG {target} :{text}"));
    let m = c.expect(
        |m| m.command == "PRIVMSG" && m.param(1) == text,
        &format!("echo of {text}"),
    );
    m.tag("msgid").expect("a msgid").to_string()
}

fn history(c: &mut Client, line: &str, target: &str) -> Vec<String> {
    c.send(line);
    c.expect_history_batch(target)
        .iter()
        .map(|m| format!("{} {}", m.source_nick().unwrap_or("?"), m.param(1)))
        .collect()
}

fn expect_queued(c: &mut Client) {
    c.expect(
        |m| is_server_notice(m) && m.param(1).ends_with(QUEUED),
        "the queued notice",
    );
}

/// Everything a client sees of the scenario, as text (msgids differ between
/// engines: a cluster node's carry its number).
fn scenario(engine: &Engine) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut seen = Vec::new();
    let server = start(&data, engine);
    server.create_account("alice", PW);
    server.create_account("bob", PW);
    let mut alice = server.connect_sasl("alice", CAPS, "alice", PW);
    alice.join("#c");
    alice.send("CHANNEL REGISTER #c");
    let ok = alice.expect_command("NOTICE");
    seen.push(ok.param(1).to_string());
    let ids: Vec<String> = (0..10)
        .map(|i| say(&mut alice, "#c", &format!("m{i}")))
        .collect();
    for text in ["queued 1", "queued 2"] {
        alice.send(&format!("PRIVMSG bob :{text}"));
        expect_queued(&mut alice);
    }
    alice.send(&format!("REDACT #c {} :typo", ids[3]));
    let r = alice.expect_command("REDACT");
    seen.push(format!("redacted {}", r.param(1) == ids[3]));
    alice.send("MARKREAD #c timestamp=2026-01-04T14:33:26.123Z");
    seen.push(alice.expect_command("MARKREAD").param(1).to_string());
    for line in [
        "CHATHISTORY LATEST #c * 50".to_string(),
        format!("CHATHISTORY BEFORE #c msgid={} 3", ids[6]),
        format!("CHATHISTORY AFTER #c msgid={} 2", ids[6]),
        format!("CHATHISTORY AROUND #c msgid={} 4", ids[6]),
        format!(
            "CHATHISTORY BETWEEN #c msgid={} msgid={} 10",
            ids[1], ids[5]
        ),
        format!("CHATHISTORY BETWEEN #c msgid={} msgid={} 2", ids[8], ids[1]),
    ] {
        seen.extend(history(&mut alice, &line, "#c"));
    }
    seen.extend(history(&mut alice, "CHATHISTORY LATEST bob * 10", "bob"));
    alice.quit();
    server.stop();

    let server = start(&data, engine);
    let mut bob = server.connect_with_caps("bob", "server-time");
    bob.login("bob", PW);
    let got = bob.recv_until(
        |m| is_server_notice(m) && m.param(1).ends_with("delivered while you were away"),
        "the offline delivery",
    );
    seen.extend(
        got.iter()
            .filter(|m| m.command == "PRIVMSG")
            .map(|m| m.param(1).to_string()),
    );
    let mut alice = server.connect_sasl("alice", CAPS, "alice", PW);
    alice.send("MARKREAD #c");
    seen.push(alice.expect_command("MARKREAD").param(1).to_string());
    // A registered channel keeps its incarnation, so its history, across restarts.
    alice.join("#c");
    seen.extend(history(&mut alice, "CHATHISTORY LATEST #c * 3", "#c"));
    seen
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "PostgreSQL not installed")]
fn one_scenario_gives_the_same_answers_on_sqlite_and_postgresql() {
    let on_sqlite = scenario(&Engine::Sqlite);
    let on_pg = scenario(&Engine::Pg {
        url: postgres::database(),
        node: 1,
    });
    assert_eq!(on_pg, on_sqlite);
    // And the answers are the right ones (not merely equal).
    let has = |s: &str| on_pg.iter().any(|l| l == s);
    for want in [
        "redacted true",
        "timestamp=2026-01-04T14:33:26.123Z",
        "alice m9",
        "alice queued 2",
        "queued 1",
    ] {
        assert!(has(want), "{want:?} in {on_pg:#?}");
    }
    assert!(!has("alice m3"), "a redacted message is gone: {on_pg:#?}");
    assert_eq!(
        &on_pg[on_pg.len() - 3..],
        ["alice m7", "alice m8", "alice m9"]
    );
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "PostgreSQL not installed")]
fn two_nodes_on_one_database_share_accounts_and_history() {
    let url = postgres::database();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one = start(
        d1.path(),
        &Engine::Pg {
            url: url.clone(),
            node: 1,
        },
    );
    one.create_account("alice", PW);
    one.create_account("bob", PW);
    let two = start(
        d2.path(),
        &Engine::Pg {
            url: url.clone(),
            node: 2,
        },
    );

    let mut alice = one.connect_sasl("alice", CAPS, "alice", PW);
    let first = say(&mut alice, "bob", "from node one");
    expect_queued(&mut alice);
    // Bob logs in on the other node: his queue and the conversation are there.
    let mut bob = two.connect_sasl("bob", CAPS, "bob", PW);
    bob.expect_privmsg_from("alice", "from node one");
    // Without the cluster bus, node two does not know alice is online on node one:
    // the message waits in her queue, in the shared database.
    let second = say(&mut bob, "alice", "from node two");
    expect_queued(&mut bob);
    assert_ne!(first, second);
    alice.quit();
    let mut alice = two.connect_sasl("alice", CAPS, "alice", PW);
    alice.expect_privmsg_from("bob", "from node two");
    for (c, other) in [(&mut alice, "bob"), (&mut bob, "alice")] {
        assert_eq!(
            history(c, &format!("CHATHISTORY LATEST {other} * 10"), other),
            ["alice from node one", "bob from node two"]
        );
    }
    // Node two registers a name node one took after it started: the database
    // decides, and the answer is "exists".
    one.create_account("carol", PW);
    let mut carol = two.connect("carol");
    carol.send(&format!("REGISTER carol * {PW}"));
    let fail = carol.expect_command("FAIL");
    assert_eq!(fail.param(1), "ACCOUNT_EXISTS", "{fail}");
    // A backup of PostgreSQL is pg_dump's work, and the answer says so.
    let backup = dir_path_reply(&one);
    assert!(backup.contains("pg_dump"), "{backup}");
    // Every id carries its node.
    let nodes = PgServer::query(
        &url,
        "SELECT string_agg(DISTINCT ((id & 65535) >> 10)::text, ',' ORDER BY \
         ((id & 65535) >> 10)::text) FROM messages",
    );
    assert_eq!(nodes, ["1,2"]);
}

/// The answer to `chatctl backup` on a node on PostgreSQL, as text.
fn dir_path_reply(server: &TestServer) -> String {
    let path = server.data_dir().join("backup.db");
    let reply = server.admin(format!(
        r#"{{"cmd":"backup","id":1,"path":{:?}}}"#,
        path.display().to_string()
    ));
    assert!(!path.exists(), "no file was made");
    reply.to_string()
}

/// Sends an offline message to bob until it is queued (not refused), within a
/// bounded time; the number of refusals.
fn queue_until_accepted(alice: &mut Client, text: &str) -> usize {
    let deadline = Instant::now() + TIMEOUT;
    let mut refused = 0;
    loop {
        alice.send(&format!("PRIVMSG bob :{text}"));
        let got = alice.recv_until(
            |m| m.command == "FAIL" || (is_server_notice(m) && m.param(1).ends_with(QUEUED)),
            "queued or FAIL",
        );
        if got.last().is_some_and(|m| m.command != "FAIL") {
            return refused;
        }
        refused += 1;
        assert!(Instant::now() < deadline, "still refused after {TIMEOUT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "PostgreSQL not installed")]
fn postgresql_down_refuses_offline_messages_then_recovers() {
    let pg = PgServer::start();
    let url = pg.create_database();
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &Engine::Pg { url, node: 1 });
    server.create_account("bob", PW);
    let mut alice = server.connect_with_caps("alice", "echo-message message-tags");
    let mut carol = server.connect("carol");
    alice.join("#c");
    carol.join("#c");
    alice.sync();

    pg.stop();
    // Offline messages are refused while nothing can be written ...
    alice.send("PRIVMSG bob :while down");
    let fail: Message = alice.expect_command("FAIL");
    assert_eq!(fail.param(1), "TEMPORARILY_UNAVAILABLE", "{fail}");
    // ... live ones are delivered and kept.
    say(&mut alice, "#c", "said while down");
    carol.expect_privmsg_from("alice", "said while down");

    pg.run();
    queue_until_accepted(&mut alice, "after");
    let mut bob = server.connect_sasl("bob", CAPS, "bob", PW);
    bob.expect_privmsg_from("alice", "after");
    let mut carol2 = server.connect_with_caps("carol2", CAPS);
    carol2.join("#c");
    let said = history(&mut carol2, "CHATHISTORY LATEST #c * 10", "#c");
    assert!(
        said.iter().any(|l| l == "alice said while down"),
        "the kept message was saved: {said:?}"
    );
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "PostgreSQL not installed")]
fn a_node_talks_to_postgresql_over_verified_tls() {
    let pg = PgServer::start_tls();
    let db = pg.create_database_named();
    let dir = tempfile::tempdir().unwrap();
    let url = pg.tls_url(&db);
    let server = start(dir.path(), &Engine::Pg { url, node: 1 });
    server.create_account("alice", PW);
    let mut alice = server.connect_sasl("alice", CAPS, "alice", PW);
    alice.join("#c");
    say(&mut alice, "#c", "over tls");
    assert_eq!(
        history(&mut alice, "CHATHISTORY LATEST #c * 5", "#c"),
        ["alice over tls"]
    );
    let ssl = PgServer::query(
        &pg.url(&db),
        "SELECT string_agg(s.ssl::text, ',') FROM pg_stat_ssl s \
         JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'chatd'",
    );
    assert_eq!(ssl, ["true"], "chatd's connection uses TLS");
    server.stop();
    // A certificate chatd cannot verify is refused at start, with the reason.
    let other = tempfile::tempdir().unwrap();
    let (wrong, _, _) = chatd_tests::tls::make_cert(other.path(), "other");
    let url = format!(
        "host=localhost port={} user=postgres dbname={db} sslmode=require sslrootcert={}",
        pg.tls_url(&db)
            .split("port=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap(),
        wrong.display()
    );
    let mut config = chatd::Config::default();
    config.server.listen = vec!["127.0.0.1:0".parse().unwrap()];
    config.server.data_dir = dir.path().join("other");
    config.cluster.node_id = 1;
    config.cluster.database = url;
    let err = chatd::Server::bind(config).err().expect("refused");
    let err = err.to_string();
    assert!(err.contains("cannot connect to PostgreSQL"), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "PostgreSQL not installed")]
fn a_database_newer_than_the_code_is_refused() {
    let url = postgres::database();
    PgServer::query(
        &url,
        "CREATE TABLE schema_version (version BIGINT NOT NULL); \
         INSERT INTO schema_version VALUES (999)",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut config = chatd::Config::default();
    config.server.listen = vec!["127.0.0.1:0".parse().unwrap()];
    config.server.data_dir = dir.path().join("data");
    config.cluster.node_id = 1;
    config.cluster.database = url.clone();
    let err = chatd::Server::bind(config)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("version 999, newer than this chatd"), "{err}");
    // Nothing was created in it.
    let tables = PgServer::query(
        &url,
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    );
    assert_eq!(tables, ["1"]);
}
