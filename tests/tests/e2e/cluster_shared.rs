//! Issue 20, both halves at once: nodes on one PostgreSQL database and one Redis, as
//! `docs/cluster.md` deploys them. A private message from a user of one node to a
//! user of another, and a channel message, is delivered once, with one msgid, and is
//! in the shared history once under that msgid, whichever node reads it (IRCv3
//! message-ids: "the same
//! message MUST have the same msgid for every recipient";
//! https://ircv3.net/specs/extensions/message-ids and
//! https://ircv3.net/specs/extensions/chathistory).

use chatd_tests::postgres;
use chatd_tests::redis::RedisServer;
use chatd_tests::{Client, TestServer};

const CAPS: &str = "batch server-time message-tags echo-message draft/chathistory";

fn node(redis: &RedisServer, database: &str, id: u16) -> TestServer {
    let (url, database) = (redis.url(), database.to_string());
    TestServer::start_with(move |c| {
        c.cluster.node_id = id;
        c.cluster.node_name = format!("n{id}");
        c.cluster.redis = url;
        c.cluster.database = database;
        c.cluster.node_timeout_secs = 2;
    })
}

/// Asks ISON until `nick` is online as `c`'s node sees it.
fn wait_online(c: &mut Client, nick: &str) {
    let deadline = std::time::Instant::now() + chatd_tests::TIMEOUT;
    loop {
        c.send(&format!("ISON {nick}"));
        let m = c.expect(|m| m.command == "303", "ISON");
        if !m.param(1).is_empty() {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "never saw {nick}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The msgids and texts of `c`'s CHATHISTORY LATEST with `target`.
fn history(c: &mut Client, target: &str) -> Vec<(String, String)> {
    c.send(&format!("CHATHISTORY LATEST {target} * 50"));
    let mut got = Vec::new();
    loop {
        let m = c.expect(
            |m| m.command == "PRIVMSG" || (m.command == "BATCH" && m.param(0).starts_with('-')),
            "history",
        );
        if m.command == "BATCH" {
            return got;
        }
        let id = m.tag("msgid").expect("a msgid").to_string();
        got.push((id, m.param(1).to_string()));
    }
}

#[test]
#[cfg_attr(
    not(all(has_redis, has_postgres)),
    ignore = "redis-server or PostgreSQL not installed"
)]
fn a_private_message_across_nodes_has_one_msgid_and_one_history_row() {
    let redis = RedisServer::start();
    let database = postgres::database();
    let a = node(&redis, &database, 1);
    let b = node(&redis, &database, 2);
    let mut alice = a.connect_with_caps("alice", CAPS);
    let mut bob = b.connect_with_caps("bob", CAPS);
    wait_online(&mut alice, "bob");
    wait_online(&mut bob, "alice");

    alice.send("PRIVMSG bob :across the nodes");
    let echo = alice.expect(|m| m.command == "PRIVMSG", "alice's echo");
    let got = bob.expect(|m| m.command == "PRIVMSG", "bob's copy");
    let id = echo.tag("msgid").expect("a msgid").to_string();
    assert_eq!(
        got.tag("msgid"),
        Some(id.as_str()),
        "one msgid: {echo:?} / {got:?}"
    );
    assert_eq!(got.param(1), "across the nodes");

    // bob answers from node 2: the same the other way.
    bob.send("PRIVMSG alice :and back");
    let echo2 = bob.expect(|m| m.command == "PRIVMSG", "bob's echo");
    let got2 = alice.expect(|m| m.command == "PRIVMSG", "alice's copy");
    let id2 = echo2.tag("msgid").expect("a msgid").to_string();
    assert_eq!(got2.tag("msgid"), Some(id2.as_str()));

    // Each side reads the conversation from its own node: one row per message, with
    // the live msgids, in order. A read ends its own node's commit window first
    // (docs/performance.md), so bob's first read makes node 2's row visible to
    // node 1, and alice's read node 1's to node 2.
    let want = vec![
        (id.clone(), "across the nodes".to_string()),
        (id2.clone(), "and back".to_string()),
    ];
    history(&mut bob, "alice");
    assert_eq!(history(&mut alice, "bob"), want);
    assert_eq!(history(&mut bob, "alice"), want);
    let rows = postgres::PgServer::query(
        &database,
        "SELECT count(*) FROM messages WHERE kind < 2 AND party_a IS NOT NULL",
    );
    assert_eq!(rows, ["2"], "each private message is logged once");
}

#[test]
#[cfg_attr(
    not(all(has_redis, has_postgres)),
    ignore = "redis-server or PostgreSQL not installed"
)]
fn a_channel_message_across_nodes_has_one_msgid_and_one_history_row() {
    let redis = RedisServer::start();
    let database = postgres::database();
    let a = node(&redis, &database, 1);
    let b = node(&redis, &database, 2);
    let mut alice = a.connect_with_caps("alice", CAPS);
    let mut bob = b.connect_with_caps("bob", CAPS);
    wait_online(&mut alice, "bob");
    wait_online(&mut bob, "alice");

    // alice creates the channel on node 1; node 2 creates it with the same
    // incarnation, so both read one history.
    alice.send("JOIN #shared");
    alice.expect(|m| m.command == "366", "alice's NAMES");
    // Node 2 learns of the channel from alice's JOIN. (Two nodes creating one
    // channel at the same instant give it two incarnations: docs/cluster.md.)
    let deadline = std::time::Instant::now() + chatd_tests::TIMEOUT;
    loop {
        bob.send("NAMES #shared");
        let names = bob.expect(|m| m.command == "353" || m.command == "366", "NAMES");
        if names.command == "353" && names.param(3).contains("alice") {
            bob.expect(|m| m.command == "366", "end of NAMES");
            break;
        }
        if names.command == "353" {
            bob.expect(|m| m.command == "366", "end of NAMES");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node 2 never saw #shared"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    bob.send("JOIN #shared");
    bob.expect(|m| m.command == "366", "bob's NAMES");
    alice.expect(
        |m| m.command == "JOIN" && m.source.as_deref().is_some_and(|s| s.starts_with("bob!")),
        "bob's JOIN on node 1",
    );

    alice.send("PRIVMSG #shared :to the channel");
    let echo = alice.expect(|m| m.command == "PRIVMSG", "alice's echo");
    let got = bob.expect(|m| m.command == "PRIVMSG", "bob's copy");
    let id = echo.tag("msgid").expect("a msgid").to_string();
    assert_eq!(
        got.tag("msgid"),
        Some(id.as_str()),
        "one msgid: {echo:?} / {got:?}"
    );

    let want = vec![(id, "to the channel".to_string())];
    assert_eq!(history(&mut alice, "#shared"), want);
    assert_eq!(history(&mut bob, "#shared"), want);
    let rows = postgres::PgServer::query(
        &database,
        "SELECT count(*) FROM messages WHERE kind < 2 AND conv = '#shared'",
    );
    assert_eq!(rows, ["1"], "the channel message is logged once");
    let incarnations = postgres::PgServer::query(
        &database,
        "SELECT count(*) FROM channel_incarnations WHERE channel = '#shared'",
    );
    assert_eq!(incarnations, ["1"], "one incarnation for the whole cluster");
}

/// Registered channels and roles across nodes (docs/cluster.md): ChanServ run on one
/// node gives roles on every node at once. The founder registering the channel
/// becomes `+q` and an access-list role `+o` for a member connected to the other
/// node, as both nodes' members see it.
#[test]
#[cfg_attr(
    not(all(has_redis, has_postgres)),
    ignore = "redis-server or PostgreSQL not installed"
)]
fn chanserv_roles_given_on_one_node_hold_on_every_node() {
    let redis = RedisServer::start();
    let database = postgres::database();
    let (one, two) = (node(&redis, &database, 1), node(&redis, &database, 2));
    let mut founder = one.connect("founder");
    founder.register_account("founder", "hunter2hunter2");
    let mut helper = two.connect("helper");
    helper.register_account("helper", "hunter2hunter2");
    wait_online(&mut founder, "helper");
    founder.join("#roles");
    let deadline = std::time::Instant::now() + chatd_tests::TIMEOUT;
    // Node two has seen the channel (else both nodes would create it).
    while !helper.names("#roles").contains(&"founder".to_string()) {
        assert!(
            std::time::Instant::now() < deadline,
            "node two never saw #roles"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    helper.join("#roles");
    founder.expect(
        |m| m.command == "JOIN" && m.source_nick() == Some("helper"),
        "helper joining",
    );
    founder.send("PRIVMSG ChanServ :REGISTER #roles");
    let q = helper.expect(|m| m.command == "MODE", "the founder's role on node two");
    assert_eq!((q.param(1), q.param(2)), ("+q", "founder"), "{q:?}");
    founder.send("CHANNEL ACCESS #roles ADD helper op");
    let o = helper.expect(|m| m.command == "MODE", "helper's role on node two");
    assert_eq!((o.param(1), o.param(2)), ("+o", "helper"), "{o:?}");
    let seen = founder.expect(|m| m.command == "MODE" && m.param(1) == "+o", "on node one");
    assert_eq!(seen.param(2), "helper");
    // The role works where the helper is: its TOPIC reaches node one.
    helper.send("TOPIC #roles :set by a ChanServ op");
    founder.expect(
        |m| m.command == "TOPIC" && m.param(1) == "set by a ChanServ op",
        "the topic on node one",
    );
}
