//! The cluster bus across a short Redis outage: what a node publishes while Redis is
//! down is kept and published when it is back (within the queue's bounds), and a
//! node whose reader lost its connection reads what it missed from the streams. Two
//! in-process nodes on a throwaway `redis-server`.

use super::cluster::{cluster, wait_ison};
use chatd_proto::Message;
use chatd_tests::redis::RedisServer;
use chatd_tests::{Client, TestServer};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// `ann` on node 1 (with echo-message, to learn her messages' ids) and `ben` on node
/// 2 (with message-tags if `tags`), both in `#o`.
fn ann_and_ben(ns: &[TestServer], tags: bool) -> (Client, Client) {
    let mut ann = ns[0].connect_with_caps("ann", "echo-message message-tags");
    let mut ben = if tags {
        ns[1].connect_with_caps("ben", "message-tags")
    } else {
        ns[1].connect("ben")
    };
    ann.send("JOIN #o");
    ann.expect(|m| m.command == "366", "end of NAMES");
    let deadline = Instant::now() + chatd_tests::TIMEOUT;
    loop {
        let names = ben.names("#o");
        if names.iter().any(|n| n.trim_start_matches('@') == "ann") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ben never saw ann in #o: {names:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ben.send("JOIN #o");
    ben.expect(|m| m.command == "366", "end of NAMES");
    ann.expect(
        |m| m.command == "JOIN" && m.source_nick() == Some("ben"),
        "ben's JOIN from node 2",
    );
    (ann, ben)
}

fn expect_notice(c: &mut Client, text: &str) {
    c.expect(
        |m| m.command == "NOTICE" && m.param(1).contains(text),
        &format!("the NOTICE {text:?}"),
    );
}

/// Sends `text` from `c` to `target` and returns its msgid (from the echo).
fn send_echoed(c: &mut Client, target: &str, text: &str) -> String {
    c.send(&format!("PRIVMSG {target} :{text}"));
    let echo = c.expect(
        |m| m.command == "PRIVMSG" && m.param(1) == text,
        "the echo of the message",
    );
    echo.tag("msgid").expect("a msgid").to_string()
}

/// Sends a marker from `from` to `#o` and returns what `to` received up to it.
fn up_to_marker(from: &mut Client, to: &mut Client, marker: &str) -> Vec<Message> {
    from.send(&format!("PRIVMSG #o :{marker}"));
    to.recv_until(
        |m| m.command == "PRIVMSG" && m.param(1) == marker,
        "the marker",
    )
}

#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn messages_sent_while_redis_is_down_arrive_once_when_it_is_back() {
    let mut redis = RedisServer::start();
    let ns = cluster(&redis, &[1, 2]);
    let (mut ann, mut ben) = ann_and_ben(&ns, true);
    redis.kill();
    expect_notice(&mut ann, "lost its link");
    expect_notice(&mut ben, "lost its link");
    let to_channel = send_echoed(&mut ann, "#o", "sent in the outage");
    let private = send_echoed(&mut ann, "ben", "a private word in the outage");
    redis.restart();

    let m = ben.expect(
        |m| m.command == "PRIVMSG" && m.param(1) == "sent in the outage",
        "the channel message sent while Redis was down",
    );
    assert_eq!(m.source_nick(), Some("ann"));
    assert_eq!(m.param(0), "#o");
    assert_eq!(m.tag("msgid"), Some(to_channel.as_str()), "{m:?}");
    let m = ben.expect(
        |m| m.command == "PRIVMSG" && m.param(1) == "a private word in the outage",
        "the private message sent while Redis was down",
    );
    assert_eq!(m.param(0), "ben");
    assert_eq!(m.tag("msgid"), Some(private.as_str()), "{m:?}");
    // Once: nothing came twice before a later message.
    let got = up_to_marker(&mut ann, &mut ben, "after");
    let again: Vec<_> = got
        .iter()
        .filter(|m| m.command == "PRIVMSG" && m.param(1).contains("outage"))
        .collect();
    assert!(again.is_empty(), "a message came twice: {again:?}");
}

/// The id of `name`'s connection in `CLIENT LIST` of the Redis on `port`.
fn client_id(port: u16, name: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(chatd_tests::TIMEOUT)).unwrap();
    s.write_all(b"CLIENT LIST\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut head = String::new();
    r.read_line(&mut head).unwrap();
    let len: usize = head.trim().trim_start_matches('$').parse().unwrap();
    let mut body = vec![0u8; len + 2];
    r.read_exact(&mut body).unwrap();
    let list = String::from_utf8_lossy(&body).to_string();
    list.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        fields.contains(&format!("name={name}").as_str()).then(|| {
            fields
                .iter()
                .find_map(|f| f.strip_prefix("id="))
                .unwrap()
                .to_string()
        })
    })
}

/// Closes the connection node `node` reads the streams on (and only that one),
/// once it has one; waits until it is connected again.
fn cut_reader(port: u16, node: u16) {
    let name = format!("chatd-listen-{node}");
    let deadline = Instant::now() + chatd_tests::TIMEOUT;
    let id = loop {
        if let Some(id) = client_id(port, &name) {
            break id;
        }
        assert!(Instant::now() < deadline, "no {name} in CLIENT LIST");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(chatd_tests::TIMEOUT)).unwrap();
    s.write_all(format!("CLIENT KILL ID {id}\r\n").as_bytes())
        .unwrap();
    let mut answer = [0u8; 4];
    s.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b":1\r\n", "CLIENT KILL ID {id}");
}

#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn a_node_whose_reader_was_cut_reads_what_it_missed_once() {
    let redis = RedisServer::start();
    let ns = cluster(&redis, &[1, 2]);
    let (mut ann, mut ben) = ann_and_ben(&ns, true);
    // Node 2's reader is cut and messages go out at once, again and again: each
    // time, some are published before it is back.
    for round in 0..5 {
        cut_reader(redis.port, 2);
        for i in 0..20 {
            ann.send(&format!("PRIVMSG #o :r{round} m{i}"));
            ann.send(&format!("PRIVMSG ben :r{round} p{i}"));
        }
    }
    let got = up_to_marker(&mut ann, &mut ben, "the end");
    let texts = |target: &str| -> Vec<String> {
        got.iter()
            .filter(|m| m.command == "PRIVMSG" && m.param(0) == target)
            .map(|m| m.param(1).to_string())
            .filter(|t| t != "the end")
            .collect()
    };
    let want = |kind: char| -> Vec<String> {
        (0..5)
            .flat_map(|r| (0..20).map(move |i| format!("r{r} {kind}{i}")))
            .collect()
    };
    // Every one, once, in the order sent.
    assert_eq!(texts("#o"), want('m'));
    assert_eq!(texts("ben"), want('p'));
    // And the cluster is whole: both nodes still see each other's users.
    let mut probe = ns[1].connect("probe");
    wait_ison(&mut probe, &["ann".to_string(), "ben".to_string()]);
}

#[test]
#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]
fn beyond_the_queue_s_bound_the_newest_events_are_published() {
    let mut redis = RedisServer::start();
    let ns = cluster(&redis, &[1, 2]);
    let (mut ann, mut ben) = ann_and_ben(&ns, false);
    redis.kill();
    expect_notice(&mut ann, "lost its link");
    // More than the 10,000 events a node keeps while Redis is down.
    let sent = 10_500;
    for i in 0..sent {
        ann.send(&format!("PRIVMSG #o :n{i}"));
        if i % 500 == 499 {
            // Her echoes are read as she goes.
            ann.sync();
        }
    }
    ann.sync();
    redis.restart();
    let last = format!("n{}", sent - 1);
    let got = ben.recv_until(
        |m| m.command == "PRIVMSG" && m.param(1) == last,
        "the last message sent in the outage",
    );
    let numbers: Vec<usize> = got
        .iter()
        .filter(|m| m.command == "PRIVMSG" && m.param(0) == "#o")
        .map(|m| m.param(1)[1..].parse().unwrap())
        .collect();
    // The newest, without a gap, in order (the oldest were dropped).
    let first = *numbers.first().expect("some messages");
    assert!(first > 0, "the oldest message was kept");
    assert_eq!(numbers, (first..sent).collect::<Vec<_>>());
    assert!(
        sent - first >= 9_000,
        "only {} of the newest came",
        sent - first
    );
    // Chat goes on.
    let got = up_to_marker(&mut ann, &mut ben, "after");
    assert!(
        !got.iter()
            .any(|m| m.command == "PRIVMSG" && m.param(1) == last),
        "a message came twice"
    );
}
