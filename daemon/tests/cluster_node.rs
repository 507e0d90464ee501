//! The `chatd` process in a cluster (issue 20): a node killed with `kill -9` is
//! noticed by the others within `cluster.node_timeout_secs` (its users QUIT there,
//! their nicks are free), a node started again at once after `kill -9` rejoins (it
//! waits for its earlier run's key to expire), and a node refuses to start with the
//! id of a live node, or stops when another run takes its id; a node cut off from
//! Redis longer than the streams hold logs how many events it lost.

use chatd_tests::process::{chatd_command, connect_retry, free_port, Running};
use chatd_tests::redis::RedisServer;
use chatd_tests::{Client, TestServer, RELAXED_TOML};
use std::path::Path;
use std::time::{Duration, Instant};

/// The config of a node `id` on `redis`, with a one-second node timeout.
fn write_config(dir: &Path, redis: &RedisServer, id: u16) -> std::path::PathBuf {
    let conf = dir.join("chatd.toml");
    std::fs::write(
        &conf,
        format!(
            "[server]\nauto_join = []\n\n[cluster]\nnode_id = {id}\nredis = \"{}\"\n\
             node_timeout_secs = 1\n\n{RELAXED_TOML}",
            redis.url()
        ),
    )
    .unwrap();
    conf
}

fn in_process_node(redis: &RedisServer, id: u16) -> TestServer {
    let url = redis.url();
    TestServer::start_with(move |c| {
        c.cluster.node_id = id;
        c.cluster.redis = url;
        c.cluster.node_timeout_secs = 1;
    })
}

/// Asks NAMES until `channel` has `count` members as `c`'s node sees it.
fn wait_members(c: &mut Client, channel: &str, count: usize) {
    let deadline = Instant::now() + chatd_tests::TIMEOUT;
    loop {
        c.send(&format!("NAMES {channel}"));
        let got = c.recv_until(|m| m.command == "366", "end of NAMES");
        let seen: usize = got
            .iter()
            .filter(|m| m.command == "353")
            .map(|m| m.param(3).split(' ').filter(|n| !n.is_empty()).count())
            .sum();
        if seen >= count {
            return;
        }
        assert!(Instant::now() < deadline, "{channel} never had {count}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn a_killed_node_s_users_quit_elsewhere_and_their_nicks_are_freed() {
    let redis = RedisServer::start();
    let n1 = in_process_node(&redis, 1);
    let mut watcher = n1.connect("watcher");
    watcher.send("JOIN #k");
    watcher.expect(|m| m.command == "366", "end of NAMES");

    let dir = tempfile::tempdir().unwrap();
    let conf = write_config(dir.path(), &redis, 2);
    let port = free_port();
    let chatd = env!("CARGO_BIN_EXE_chatd");
    let node2 = Running::spawn(&mut chatd_command(
        chatd,
        &conf,
        port,
        &dir.path().join("data"),
    ));
    let mut victim = join_seen(port, "victim", "#k", &mut watcher);
    victim.send("PRIVMSG #k :last words");
    watcher.expect(|m| m.param(1) == "last words", "the victim's message");

    node2.kill9();
    let quit = watcher.expect(
        |m| m.command == "QUIT" && m.source_nick() == Some("victim"),
        "the victim's QUIT once its node's heartbeat expired",
    );
    assert!(quit.param(0).contains("left the network"), "{quit:?}");
    // Its nick is free: someone on the surviving node takes it.
    let mut heir = n1.connect_raw();
    heir.register("victim");
    watcher.send("NAMES #k");
    let names = watcher.expect(|m| m.command == "353", "NAMES");
    assert_eq!(names.param(3), "@watcher", "{names:?}");
}

/// Node 2 as the binary, on `port` with `conf`, its log read.
/// A user `nick` of the node on `port` joins `channel`, once the one member the
/// other node has there is seen from here, and `watcher` (that member) sees it join.
fn join_seen(port: u16, nick: &str, channel: &str, watcher: &mut Client) -> Client {
    let mut c = Client::from_stream(connect_retry(port));
    c.register(nick);
    wait_members(&mut c, channel, 1);
    c.send(&format!("JOIN {channel}"));
    watcher.expect(
        |m| m.command == "JOIN" && m.source_nick() == Some(nick),
        &format!("{nick}'s JOIN from the other node"),
    );
    c
}

fn spawn_node(conf: &Path, port: u16, data: &Path) -> Running {
    let chatd = env!("CARGO_BIN_EXE_chatd");
    Running::reading_stderr(&mut chatd_command(chatd, conf, port, data))
}

#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn a_node_killed_and_started_again_at_once_rejoins() {
    let redis = RedisServer::start();
    let n1 = in_process_node(&redis, 1);
    let mut watcher = n1.connect("watcher");
    watcher.send("JOIN #k");
    watcher.expect(|m| m.command == "366", "end of NAMES");

    let dir = tempfile::tempdir().unwrap();
    let conf = write_config(dir.path(), &redis, 2);
    // A timeout long enough that the killed run's key is still there at the restart.
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(
        &conf,
        text.replace("node_timeout_secs = 1", "node_timeout_secs = 3"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let mut first = spawn_node(&conf, port, &data);
    first.expect_line("joined the bus");
    let _victim = join_seen(port, "victim", "#k", &mut watcher);
    first.kill9();

    // Started again at once with the same id: it waits for its earlier run's key
    // to expire, then joins.
    let mut again = spawn_node(&conf, port, &data);
    again.expect_line("waiting up to 4 s for node id 2's earlier run to expire");
    again.expect_line("node 2 (node2) joined the bus");
    watcher.expect(
        |m| m.command == "QUIT" && m.source_nick() == Some("victim"),
        "the earlier run's user leaving",
    );
    let mut back = join_seen(port, "back", "#k", &mut watcher);
    back.send("PRIVMSG #k :hello again");
    watcher.expect(|m| m.param(1) == "hello again", "its message");
    watcher.send("PRIVMSG back :welcome back");
    back.expect(|m| m.param(1) == "welcome back", "a private answer");
}

#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn a_second_live_node_with_the_same_id_still_exits_6_after_waiting() {
    let redis = RedisServer::start();
    let _n1 = in_process_node(&redis, 1);
    let dir = tempfile::tempdir().unwrap();
    let conf = write_config(dir.path(), &redis, 1);
    let mut twin = spawn_node(&conf, free_port(), &dir.path().join("data"));
    twin.expect_line("waiting up to 2 s for node id 1's earlier run to expire");
    twin.expect_line("cluster.node_id 1 is in use by a live node");
    assert_eq!(twin.wait(), 6);
}

#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn a_node_whose_id_another_run_took_stops_with_exit_6() {
    use std::io::{Read, Write};
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let conf = write_config(dir.path(), &redis, 2);
    let port = free_port();
    let mut node = spawn_node(&conf, port, &dir.path().join("data"));
    node.expect_line("joined the bus");
    let mut user = Client::from_stream(connect_retry(port));
    user.register("stayer");
    // Another run's token in its alive key (as a second node with this id would
    // leave there).
    let mut s = std::net::TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
    s.write_all(b"SET chatd:alive:2 \"other 0000000000000001\" PX 60000\r\n")
        .unwrap();
    let mut ok = [0u8; 5];
    s.read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"+OK\r\n");
    node.expect_line("another node took cluster.node_id 2 (other)");
    // A graceful stop: its clients are told why.
    let error = user.expect(|m| m.command == "ERROR", "the closing ERROR");
    assert!(error.param(0).contains("cluster id is in use"), "{error:?}");
    assert_eq!(node.wait(), 6);
    // It freed nothing of the id's: the other run's key is still there.
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(b"GET chatd:alive:2\r\n").unwrap();
    let expected = b"$22\r\nother 0000000000000001\r\n";
    let mut answer = [0u8; 29];
    s.read_exact(&mut answer).unwrap();
    assert_eq!(&answer[..], &expected[..]);
}

/// A TCP relay to Redis that the test can cut (every connection through it closed,
/// new ones refused) and heal: one node's link to Redis alone goes down.
struct Relay {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Relay {
    fn start(to: u16) -> Relay {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let relay = Relay {
            port: listener.local_addr().unwrap().port(),
            cut: Default::default(),
            open: Default::default(),
        };
        let (cut, open) = (relay.cut.clone(), relay.open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                if cut.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", to)) else {
                    continue;
                };
                let mut list = open.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                for (mut from, mut into) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut into);
                        let _ = into.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        relay
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    fn heal(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Whether the newest entry of `stream` in the Redis on `port` contains `text`.
fn newest_entry_has(port: u16, stream: &str, text: &str) -> bool {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s.write_all(format!("XREVRANGE {stream} + - COUNT 1\r\n").as_bytes())
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).contains(text)
}

#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn a_node_cut_off_longer_than_the_streams_hold_counts_what_it_lost() {
    let redis = RedisServer::start();
    let url = redis.url();
    let n1 = TestServer::start_with(move |c| {
        c.cluster.node_id = 1;
        c.cluster.redis = url;
        c.cluster.node_timeout_secs = 30;
        c.cluster.stream_length = 1000;
    });
    let mut watcher = n1.connect("watcher");
    watcher.send("JOIN #t");
    watcher.expect(|m| m.command == "366", "end of NAMES");

    let relay = Relay::start(redis.port);
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("chatd.toml");
    std::fs::write(
        &conf,
        format!(
            "[server]\nauto_join = []\n\n[cluster]\nnode_id = 2\nredis = \"{}\"\n\
             node_timeout_secs = 30\nstream_length = 1000\n\n{RELAXED_TOML}",
            relay.url()
        ),
    )
    .unwrap();
    let port = free_port();
    let mut node2 = spawn_node(&conf, port, &dir.path().join("data"));
    node2.expect_line("joined the bus");
    let mut far = join_seen(port, "far", "#t", &mut watcher);
    // Node 2 has read everything up to now (its own JOIN included): what it misses
    // from here is the messages below, and only them.
    watcher.send("PRIVMSG #t :sync");
    far.expect(|m| m.param(1) == "sync", "the sync message on node 2");

    relay.cut();
    node2.expect_line("the bus is down");
    // Three times what the stream keeps, published while node 2 cannot read.
    let sent = 3000;
    for i in 0..sent {
        watcher.send(&format!("PRIVMSG #t :n{i}"));
    }
    let last = format!("n{}", sent - 1);
    let deadline = Instant::now() + chatd_tests::TIMEOUT;
    while !newest_entry_has(redis.port, "chatd:all", &last) {
        assert!(Instant::now() < deadline, "{last} never reached the stream");
    }
    relay.heal();
    let warning = node2.expect_line("events of chatd:all were trimmed");
    let lost: usize = warning
        .split("cluster: ")
        .nth(1)
        .and_then(|w| w.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count in {warning:?}"));
    assert!((1000..sent).contains(&lost), "{warning}");
    // What the stream still held arrives, the newest last.
    let got = far.recv_until(|m| m.param(1) == last, "the newest message");
    let first: usize = got
        .iter()
        .find(|m| m.command == "PRIVMSG")
        .map(|m| m.param(1)[1..].parse().unwrap())
        .unwrap();
    assert_eq!(first, lost, "the first message read follows the ones lost");
}
