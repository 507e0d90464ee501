//! Issue 20, the live half: nodes sharing one Redis (`[cluster]`). Three in-process
//! nodes (ids 1 to 3, each with its own SQLite) and a throwaway `redis-server`:
//! cross-node channel chat and private messages, a nick race, NAMES/WHO/WHOIS across
//! nodes, channel modes and kicks, and a Redis restart. (A node killed with
//! `kill -9` is in `daemon/tests/cluster_node.rs`, which runs the binary.)

use chatd_tests::redis::RedisServer;
use chatd_tests::{Client, TestServer};

pub(crate) fn node(redis: &RedisServer, id: u16) -> TestServer {
    let url = redis.url();
    TestServer::start_with(move |c| {
        c.cluster.node_id = id;
        c.cluster.node_name = format!("n{id}");
        c.cluster.redis = url;
        c.cluster.node_timeout_secs = 2;
        c.web.listen = vec!["127.0.0.1:0".parse().unwrap()];
    })
}

/// `GET /ready` on a node's web listener: the status code.
fn ready_status(node: &TestServer) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(node.web_addr.expect("a web listener")).unwrap();
    s.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP answer: {answer:?}"))
}

/// Waits until `GET /ready` answers `status`.
fn wait_ready(node: &TestServer, status: u16) {
    let deadline = std::time::Instant::now() + chatd_tests::TIMEOUT;
    while ready_status(node) != status {
        assert!(
            std::time::Instant::now() < deadline,
            "/ready never {status}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Starts nodes `ids` on one Redis and waits until each sees every other: a probe
/// user on each node is seen (ISON) from every node.
pub(crate) fn cluster(redis: &RedisServer, ids: &[u16]) -> Vec<TestServer> {
    let nodes: Vec<TestServer> = ids.iter().map(|&id| node(redis, id)).collect();
    let mut probes: Vec<Client> = nodes
        .iter()
        .zip(ids)
        .map(|(n, id)| n.connect(&format!("probe{id}")))
        .collect();
    let all: Vec<String> = ids.iter().map(|id| format!("probe{id}")).collect();
    for probe in probes.iter_mut() {
        wait_ison(probe, &all);
    }
    for mut probe in probes {
        probe.send("QUIT");
        probe.expect(|m| m.command == "ERROR", "the close");
    }
    nodes
}

/// Asks ISON until every nick of `nicks` is online as `c`'s node sees it.
pub(crate) fn wait_ison(c: &mut Client, nicks: &[String]) {
    let deadline = std::time::Instant::now() + chatd_tests::TIMEOUT;
    loop {
        c.send(&format!("ISON {}", nicks.join(" ")));
        let m = c.expect(|m| m.command == "303", "ISON");
        if m.param(1).split(' ').filter(|n| !n.is_empty()).count() == nicks.len() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never saw {nicks:?}: {m:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Waits until `c` sees `nick` (someone on another node) in `channel`'s NAMES.
fn wait_for_member(c: &mut Client, channel: &str, nick: &str) {
    c.expect(
        |m| m.command == "JOIN" && m.source_nick() == Some(nick) && m.param(0) == channel,
        &format!("{nick} joining {channel}"),
    );
}

/// Registers on a node once the bus is up there (a nick claim needs it).
fn join_all(nodes: &[&TestServer], nick_channel: &[(&str, usize)], channel: &str) -> Vec<Client> {
    let mut clients = Vec::new();
    for (nick, i) in nick_channel {
        let mut c = nodes[*i].connect(nick);
        // The earlier members' JOINs have reached this node (else two nodes would
        // each create the channel, each with its own first operator).
        let deadline = std::time::Instant::now() + chatd_tests::TIMEOUT;
        loop {
            c.send(&format!("NAMES {channel}"));
            let got = c.recv_until(|m| m.command == "366", "end of NAMES");
            let names: String = got
                .iter()
                .filter(|m| m.command == "353")
                .map(|m| m.param(3).to_string())
                .collect::<Vec<_>>()
                .join(" ");
            let seen = names.split(' ').filter(|n| !n.is_empty()).count();
            if seen == clients.len() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{channel}: {names}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        c.send(&format!("JOIN {channel}"));
        c.expect(|m| m.command == "366", "end of NAMES");
        // Everyone already there sees the newcomer: the join went round the bus.
        for earlier in clients.iter_mut() {
            wait_for_member(earlier, channel, nick);
        }
        clients.push(c);
    }
    clients
}

#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn channel_messages_and_private_messages_cross_nodes_once() {
    let redis = RedisServer::start();
    let ns = cluster(&redis, &[1, 2, 3]);
    let mut cs = join_all(
        &[&ns[0], &ns[1], &ns[2]],
        &[("alice", 0), ("bob", 1), ("carol", 2)],
        "#c",
    );
    for i in 0..5 {
        cs[0].send(&format!("PRIVMSG #c :hello {i}"));
    }
    for c in cs.iter_mut().skip(1) {
        for i in 0..5 {
            // In the sender's order.
            let m = c.expect(
                |m| m.command == "PRIVMSG" && m.source_nick() == Some("alice"),
                "alice's message",
            );
            assert_eq!(m.param(1), format!("hello {i}"));
        }
    }
    cs[1].send("PRIVMSG #c :from bob");
    cs[2].expect(
        |m| m.command == "PRIVMSG" && m.param(1) == "from bob",
        "bob's message",
    );
    // A private message to a user of another node.
    cs[2].send("PRIVMSG alice :psst");
    let m = cs[0].expect(
        |m| m.command == "PRIVMSG" && m.param(0) == "alice",
        "carol's DM",
    );
    assert_eq!(m.source_nick(), Some("carol"));
    assert_eq!(m.param(1), "psst");
    // Exactly once: after a marker that went the same way, no second copy came.
    cs[0].send("PRIVMSG #c :marker");
    for c in cs.iter_mut().skip(1) {
        let got = c.recv_until(
            |m| m.command == "PRIVMSG" && m.param(1) == "marker",
            "the marker",
        );
        assert!(
            !got.iter()
                .any(|m| m.command == "PRIVMSG" && m.param(1).starts_with("hello")),
            "a message came twice: {got:?}"
        );
    }
}

#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn names_who_whois_ison_see_the_whole_cluster() {
    let redis = RedisServer::start();
    let ns = cluster(&redis, &[1, 2, 3]);
    let mut cs = join_all(
        &[&ns[0], &ns[1], &ns[2]],
        &[("alice", 0), ("bob", 1), ("carol", 2)],
        "#w",
    );
    let c = &mut cs[2];
    c.send("NAMES #w");
    let names = c.expect(|m| m.command == "353", "NAMES");
    for nick in ["alice", "bob", "carol"] {
        assert!(names.param(3).contains(nick), "{nick} in {names:?}");
    }
    c.send("WHOIS alice");
    let whois = c.expect(|m| m.command == "311", "WHOIS");
    assert_eq!(whois.param(1), "alice");
    c.expect(|m| m.command == "318", "end of WHOIS");
    c.send("WHO #w");
    let got = c.recv_until(|m| m.command == "315", "end of WHO");
    let who: Vec<&str> = got
        .iter()
        .filter(|m| m.command == "352")
        .map(|m| m.param(5))
        .collect();
    assert_eq!(who.len(), 3, "{who:?}");
    c.send("ISON alice bob nobody");
    let ison = c.expect(|m| m.command == "303", "ISON");
    assert_eq!(ison.param(1), "alice bob");
    // A node started later learns the others' users from their bursts, and the
    // topics, modes and lists of their channels.
    cs[0].send("TOPIC #w :set before node 4");
    cs[0].send("MODE #w +b spoiler!*@*");
    cs[0].send("MODE #w +m");
    cs[0].expect(|m| m.command == "MODE" && m.param(1) == "+m", "+m");
    let n4 = node(&redis, 4);
    let mut dave = n4.connect("dave");
    wait_ison(&mut dave, &["alice".into(), "bob".into(), "carol".into()]);
    dave.send("JOIN #w");
    let topic = dave.expect(|m| m.command == "332", "the topic");
    assert_eq!(topic.param(2), "set before node 4");
    let names = dave.expect(|m| m.command == "353", "NAMES");
    for nick in ["alice", "bob", "carol", "dave"] {
        assert!(names.param(3).contains(nick), "{nick} in {names:?}");
    }
    dave.send("MODE #w");
    let modes = dave.expect(|m| m.command == "324", "the modes");
    assert!(modes.param(2).contains('m'), "{modes:?}");
    dave.send("MODE #w +b");
    let ban = dave.expect(|m| m.command == "367", "the ban list");
    assert_eq!(ban.param(2), "spoiler!*@*");
    // And a nick of another node is in use there.
    let mut raw = n4.connect_raw();
    raw.send("NICK alice");
    raw.expect(|m| m.command == "433", "433 for another node's nick");
}

#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn a_nick_race_between_two_nodes_has_one_winner() {
    let redis = RedisServer::start();
    let ns = cluster(&redis, &[1, 2]);
    let (n1, n2) = (&ns[0], &ns[1]);
    for round in 0..5 {
        let nick = format!("prize{round}");
        let mut a = n1.connect_raw();
        let mut b = n2.connect_raw();
        // Both at once, before either is registered.
        a.send(&format!("NICK {nick}\r\nUSER a 0 * :a"));
        b.send(&format!("NICK {nick}\r\nUSER b 0 * :b"));
        let outcome = |c: &mut Client| {
            let m = c.expect(|m| m.command == "001" || m.command == "433", "001 or 433");
            m.command == "001"
        };
        let (wa, wb) = (outcome(&mut a), outcome(&mut b));
        assert!(
            wa ^ wb,
            "round {round}: exactly one winner (a {wa}, b {wb})"
        );
    }
    // Registered users racing for a nick change.
    let mut a = n1.connect("racer1");
    let mut b = n2.connect("racer2");
    a.send("NICK trophy");
    b.send("NICK trophy");
    let won_a = a
        .expect(|m| m.command == "NICK" || m.command == "433", "NICK or 433")
        .command
        == "NICK";
    let won_b = b
        .expect(|m| m.command == "NICK" || m.command == "433", "NICK or 433")
        .command
        == "NICK";
    assert!(won_a ^ won_b, "exactly one winner (a {won_a}, b {won_b})");
    // The loser may take it once the winner has gone.
    let (mut winner, mut loser) = if won_a { (a, b) } else { (b, a) };
    winner.send("QUIT :bye");
    let deadline = std::time::Instant::now() + chatd_tests::TIMEOUT;
    loop {
        loser.send("NICK trophy");
        let m = loser.expect(|m| m.command == "NICK" || m.command == "433", "NICK or 433");
        if m.command == "NICK" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "trophy never freed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn channel_modes_bans_and_kicks_take_effect_on_every_node() {
    let redis = RedisServer::start();
    let ns = cluster(&redis, &[1, 2]);
    let mut cs = join_all(&[&ns[0], &ns[1]], &[("op", 0), ("guest", 1)], "#m");
    let (mut op, mut guest) = (cs.remove(0), cs.remove(0));
    op.send("MODE #m +v guest");
    let m = guest.expect(|m| m.command == "MODE", "the voice");
    assert_eq!(m.params, ["#m", "+v", "guest"]);
    op.send("TOPIC #m :shared topic");
    guest.expect(
        |m| m.command == "TOPIC" && m.param(1) == "shared topic",
        "the topic",
    );
    // +m: the voiced guest may speak, as on one server.
    op.send("MODE #m +m");
    guest.expect(|m| m.command == "MODE" && m.param(1) == "+m", "+m");
    guest.send("PRIVMSG #m :voiced");
    op.expect(
        |m| m.command == "PRIVMSG" && m.param(1) == "voiced",
        "voiced message",
    );
    op.send("KICK #m guest :out");
    let kick = guest.expect(|m| m.command == "KICK", "the kick");
    assert_eq!(kick.param(1), "guest");
    op.send("MODE #m +b guest!*@*");
    op.expect(|m| m.command == "MODE" && m.param(1) == "+b", "ban echo");
    // The ban reached guest's node before guest's JOIN (op sent it first, and
    // guest's JOIN is checked on guest's node): a PING round trip of op's node
    // does not prove that, so wait for the ban in the list guest's node answers.
    let deadline = std::time::Instant::now() + chatd_tests::TIMEOUT;
    loop {
        guest.send("MODE #m +b");
        let got = guest.recv_until(|m| m.command == "368", "ban list end");
        if got.iter().any(|m| m.command == "367") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the ban never arrived"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    guest.send("JOIN #m");
    guest.expect(|m| m.command == "474", "banned");
    op.send("NAMES #m");
    let names = op.expect(|m| m.command == "353", "NAMES");
    assert!(!names.param(3).contains("guest"), "{names:?}");
}

#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn a_redis_restart_is_survived_and_recovered_from() {
    let mut redis = RedisServer::start();
    let ns = cluster(&redis, &[1, 2]);
    let mut cs = join_all(&[&ns[0], &ns[1]], &[("ann", 0), ("ben", 1)], "#r");
    assert_eq!(ready_status(&ns[0]), 200);
    redis.kill();
    for c in cs.iter_mut() {
        c.expect(
            |m| m.command == "NOTICE" && m.param(1).contains("lost its link"),
            "the degraded notice",
        );
    }
    // Local service goes on; a new nick cannot be granted safely.
    cs[0].send("NICK annie");
    cs[0].expect(|m| m.command == "437", "437 while the bus is down");
    // A load balancer sees the node as not ready meanwhile.
    assert_eq!(ready_status(&ns[0]), 503);
    redis.restart();
    for c in cs.iter_mut() {
        c.expect(
            |m| m.command == "NOTICE" && m.param(1).contains("is back"),
            "the recovery notice",
        );
    }
    // The nodes announced themselves again: chat crosses nodes, nicks are held.
    let deadline = std::time::Instant::now() + chatd_tests::TIMEOUT;
    let mut n = 0;
    loop {
        n += 1;
        cs[0].send(&format!("PRIVMSG #r :after {n}"));
        let got = cs[1].sync();
        if got.iter().any(|m| m.command == "PRIVMSG") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "chat never crossed again"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut raw = ns[1].connect_raw();
    raw.send("NICK ann");
    raw.expect(
        |m| m.command == "433",
        "ann is held again after the restart",
    );
    cs[0].send("NICK annie");
    cs[0].expect(|m| m.command == "NICK", "nick changes work again");
    wait_ready(&ns[0], 200);
}

/// Asks WHOIS `nick` until its answer has `numeric`; returns that line.
fn whois_until(c: &mut Client, nick: &str, numeric: &str) -> chatd_proto::Message {
    let deadline = std::time::Instant::now() + chatd_tests::TIMEOUT;
    loop {
        c.send(&format!("WHOIS {nick}"));
        let got = c.recv_until(|m| m.command == "318", "end of WHOIS");
        if let Some(m) = got.into_iter().find(|m| m.command == numeric) {
            return m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "WHOIS {nick} never had {numeric}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn monitor_accounts_away_and_a_graceful_stop_cross_nodes() {
    let redis = RedisServer::start();
    let mut ns = cluster(&redis, &[1, 2]);
    let mut watcher = ns[0].connect("watcher");
    watcher.send("MONITOR + zed");
    watcher.expect(|m| m.command == "731", "zed offline");
    let mut zed = ns[1].connect("zed");
    let online = watcher.expect(|m| m.command == "730", "zed online on the other node");
    assert!(online.param(1).starts_with("zed!"), "{online:?}");
    zed.register_account("zed", "hunter2hunter2");
    let account = whois_until(&mut watcher, "zed", "330");
    assert_eq!(account.param(2), "zed", "{account:?}");
    zed.send("AWAY :lunch");
    let away = whois_until(&mut watcher, "zed", "301");
    assert_eq!(away.param(2), "lunch");
    watcher.send("LUSERS");
    let lusers = watcher.expect(|m| m.command == "251", "LUSERS");
    assert!(lusers.param(1).contains("There are 2 users"), "{lusers:?}");
    // A node stopping gracefully: its users leave the others at once.
    ns.pop().expect("node 2").stop();
    watcher.expect(|m| m.command == "731", "zed offline again");
    let mut heir = ns[0].connect_raw();
    heir.register("zed");
}

#[test]
fn a_single_node_is_ready_when_its_database_is() {
    let server = TestServer::start_with(|c| c.web.listen = vec!["127.0.0.1:0".parse().unwrap()]);
    assert_eq!(ready_status(&server), 200);
    // Not the web client's 404: the path is the health check's.
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(server.web_addr.unwrap()).unwrap();
    s.write_all(b"HEAD /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
    assert!(answer.contains("Content-Length: 6\r\n"), "{answer:?}");
}

#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn an_operator_kills_a_user_of_another_node() {
    let redis = RedisServer::start();
    let url = redis.url();
    let n1 = TestServer::start_with(move |c| {
        c.cluster.node_id = 1;
        c.cluster.redis = url;
        c.oper = vec![chatd::config::OperConfig {
            name: "admin".into(),
            password: chatd::store::password::hash("opersecret", 1000).to_string(),
            ..Default::default()
        }];
    });
    let n2 = node(&redis, 2);
    let mut op = n1.connect("op");
    let mut victim = n2.connect("victim");
    wait_ison(&mut op, &["victim".into()]);
    op.send("OPER admin opersecret");
    op.expect(|m| m.command == "381", "381");
    op.send("KILL victim :spam");
    let error = victim.expect(|m| m.command == "ERROR", "closed by its own node");
    assert!(error.param(0).contains("Killed (op (spam))"), "{error:?}");
    // Its nick is free again on every node.
    let mut heir = n2.connect_raw();
    heir.register("victim");
}

/// IRCv3 draft/multiline (https://ircv3.net/specs/extensions/multiline): a batch sent
/// on one node reaches a member on another node as one batch, with the same msgid.
#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn a_multiline_batch_reaches_another_node_as_one_message() {
    const ML: &str = "draft/multiline batch echo-message message-tags server-time";
    let redis = RedisServer::start();
    let ns = cluster(&redis, &[1, 2]);
    let mut alice = ns[0].connect_with_caps("alice", ML);
    alice.send("JOIN #ml");
    alice.expect(|m| m.command == "366", "alice's NAMES");
    let mut bob = ns[1].connect_with_caps("bob", ML);
    // Node 2 knows the channel from alice's JOIN before bob joins it.
    let deadline = std::time::Instant::now() + chatd_tests::TIMEOUT;
    loop {
        bob.send("NAMES #ml");
        let m = bob.expect(|m| m.command == "353" || m.command == "366", "NAMES");
        let seen = m.command == "353" && m.param(3).contains("alice");
        if m.command == "353" {
            bob.expect(|m| m.command == "366", "end of NAMES");
        }
        if seen {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "node 2 never saw #ml");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    bob.send("JOIN #ml");
    bob.expect(|m| m.command == "366", "bob's NAMES");
    wait_for_member(&mut alice, "#ml", "bob");

    alice.send_bytes(
        b"BATCH +m1 draft/multiline #ml\r\n@batch=m1 PRIVMSG #ml :first line\r\n\
          @batch=m1;draft/multiline-concat PRIVMSG #ml :, continued\r\n\
          @batch=m1 PRIVMSG #ml :second line\r\nBATCH -m1\r\n",
    );
    let echo = alice.expect(
        |m| m.command == "BATCH" && m.param(0).starts_with('+'),
        "alice's echoed batch",
    );
    let start = bob.expect(
        |m| m.command == "BATCH" && m.param(0).starts_with('+'),
        "the batch on node 2",
    );
    assert_eq!(start.param(1), "draft/multiline");
    assert_eq!(start.param(2), "#ml");
    assert_eq!(
        start.tag("msgid"),
        echo.tag("msgid"),
        "one msgid on both nodes"
    );
    let end = format!("-{}", &start.param(0)[1..]);
    let lines = bob.recv_until(|m| m.command == "BATCH" && m.param(0) == end, "the end");
    let texts: Vec<&str> = lines
        .iter()
        .filter(|m| m.command == "PRIVMSG")
        .map(|m| m.param(1))
        .collect();
    assert_eq!(texts, ["first line", ", continued", "second line"]);
}

/// The operators of `channel` as `c`'s node sees them (NAMES with multi-prefix off:
/// `@nick`).
fn ops(c: &mut Client, channel: &str) -> Vec<String> {
    c.send(&format!("NAMES {channel}"));
    let got = c.recv_until(|m| m.command == "366", "end of NAMES");
    let mut ops: Vec<String> = got
        .iter()
        .filter(|m| m.command == "353")
        .flat_map(|m| {
            m.param(3)
                .split(' ')
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter_map(|n| n.strip_prefix('@').map(str::to_string))
        .collect();
    ops.sort();
    ops
}

/// Two users creating the same channels on two nodes at the same instant, before
/// either node has seen the other's JOIN: every node keeps the earlier creation and
/// its creator as the one operator (a channel's first member is its operator,
/// RFC 2811 §4.2.1), and the later creator's members see `MODE -o` from the server.
#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn a_channel_created_on_two_nodes_at_once_has_one_operator_everywhere() {
    let redis = RedisServer::start();
    let ns = cluster(&redis, &[1, 2]);
    let mut a = ns[0].connect("racer_a");
    let mut b = ns[1].connect("racer_b");
    wait_ison(&mut a, &["racer_b".to_string()]);
    wait_ison(&mut b, &["racer_a".to_string()]);
    // One JOIN line each, sent back to back: each node creates every channel before
    // the other node's JOIN reaches it over Redis.
    let channels: Vec<String> = (0..12).map(|i| format!("#race{i}")).collect();
    let list = channels.join(",");
    a.send(&format!("JOIN {list}"));
    b.send(&format!("JOIN {list}"));
    for channel in &channels {
        wait_for_member(&mut a, channel, "racer_b");
        wait_for_member(&mut b, channel, "racer_a");
    }
    for channel in &channels {
        let (seen_a, seen_b) = (ops(&mut a, channel), ops(&mut b, channel));
        assert_eq!(seen_a.len(), 1, "{channel} on node 1: {seen_a:?}");
        assert_eq!(
            seen_a, seen_b,
            "{channel}: the nodes disagree on its operator"
        );
    }
    // The one operator's powers hold on both nodes: a topic lock set by them takes.
    let holder = ops(&mut a, "#race0").remove(0);
    let (op, other) = if holder == "racer_a" {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    op.send("TOPIC #race0 :settled");
    other.expect(
        |m| m.command == "TOPIC" && m.param(1) == "settled",
        "the operator's TOPIC on the other node",
    );
}

/// An account that remembered its channels logs in again on its node: the users of
/// the other nodes see it join them again, as they would on one server.
#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn channels_rejoined_at_login_are_seen_on_every_node() {
    let redis = RedisServer::start();
    let ns = cluster(&redis, &[1, 2]);
    let mut clients = join_all(&[&ns[0], &ns[1]], &[("keeper", 0), ("remote", 1)], "#kept");
    let mut remote = clients.pop().expect("remote");
    let mut keeper = clients.pop().expect("keeper");
    keeper.register_account("keeper", "hunter2hunter2");
    keeper.quit();
    remote.expect(
        |m| m.command == "QUIT" && m.source_nick() == Some("keeper"),
        "keeper leaving",
    );
    let mut again = ns[0].connect("keeper");
    again.login("keeper", "hunter2hunter2");
    wait_for_member(&mut remote, "#kept", "keeper");
    again.send("PRIVMSG #kept :back");
    remote.expect_privmsg_from("keeper", "back");
}

/// An IRC operator of one node is one on every node (each with the same `[[oper]]`
/// blocks): WHOIS shows `313` everywhere, and its powers (KICK in a channel where it
/// holds no role, RFC 2812 §3.2.8) take effect on the node of the kicked user.
#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn operator_status_holds_on_every_node() {
    let redis = RedisServer::start();
    let with_oper = |id: u16| {
        let url = redis.url();
        TestServer::start_with(move |c| {
            c.cluster.node_id = id;
            c.cluster.redis = url;
            c.cluster.node_timeout_secs = 2;
            c.oper = vec![chatd::config::OperConfig {
                name: "admin".into(),
                password: chatd::store::password::hash("opersecret", 1000).to_string(),
                ..Default::default()
            }];
        })
    };
    let (n1, n2) = (with_oper(1), with_oper(2));
    let mut clients = join_all(&[&n2, &n1], &[("owner", 0), ("ircop", 1)], "#owned");
    let mut ircop = clients.pop().expect("ircop");
    let mut owner = clients.pop().expect("owner");
    let mut watcher = n2.connect("watcher");
    wait_ison(&mut watcher, &["ircop".into()]);
    ircop.send("OPER admin opersecret");
    ircop.expect(|m| m.command == "381", "381");
    let whois = whois_until(&mut watcher, "ircop", "313");
    assert_eq!(whois.param(1), "ircop", "{whois:?}");
    ircop.send("KICK #owned owner :operator's call");
    let kick = owner.expect(|m| m.command == "KICK", "the kick on the owner's node");
    assert_eq!(kick.param(1), "owner", "{kick:?}");
    assert!(!watcher.names("#owned").contains(&"owner".to_string()));
}
