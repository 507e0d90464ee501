//! History — every PRIVMSG/NOTICE is logged and carries `msgid` (IRCv3 message-ids);
//! `HISTORY <target> [<count>|<duration>]`; IRCv3 draft/chathistory (LATEST, BEFORE,
//! AFTER, AROUND, BETWEEN, TARGETS) in `chathistory` batches (IRCv3 batch); who may
//! read what; ISUPPORT `CHATHISTORY` and `MSGREFTYPES`.

use chatd_proto::numeric::*;
use chatd_proto::Message;
use chatd_tests::*;

/// What a history-aware client negotiates.
const HIST_CAPS: &str = "batch server-time message-tags draft/chathistory";

fn texts(msgs: &[Message]) -> Vec<&str> {
    msgs.iter().map(|m| m.param(1)).collect()
}

/// Sends a CHATHISTORY/HISTORY line and returns the texts of its batch for `target`.
fn ask(c: &mut Client, line: &str, target: &str) -> Vec<String> {
    c.send(line);
    let got = c.expect_history_batch(target);
    texts(&got).into_iter().map(str::to_string).collect()
}

/// The ISUPPORT tokens of a fresh registration.
fn isupport(server: &TestServer, nick: &str) -> Vec<String> {
    let mut c = server.connect_raw();
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :{nick}"));
    let got = c.recv_until(
        |m| m.command == RPL_ENDOFMOTD || m.command == ERR_NOMOTD,
        "end of MOTD",
    );
    all(&got, RPL_ISUPPORT)
        .iter()
        .flat_map(|m| m.params[1..m.params.len() - 1].to_vec())
        .collect()
}

#[test]
fn isupport_advertises_chathistory_and_msgreftypes() {
    let server = TestServer::start();
    let tokens = isupport(&server, "alice");
    for want in ["CHATHISTORY=100", "MSGREFTYPES=msgid,timestamp"] {
        assert!(
            tokens.iter().any(|t| t == want),
            "{want} missing: {tokens:?}"
        );
    }
    let small = TestServer::start_with(|c| c.history.page_size = 5);
    let tokens = isupport(&small, "alice");
    assert!(tokens.iter().any(|t| t == "CHATHISTORY=5"), "{tokens:?}");
}

#[test]
fn live_messages_carry_a_msgid_and_time_for_clients_that_asked() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let mut tagged = server.connect_with_caps("tagged", "message-tags server-time");
    let mut plain = server.connect("plain");
    for c in [&mut alice, &mut tagged, &mut plain] {
        join(c, "#c");
    }
    tagged.sync();
    plain.sync();
    alice.send("PRIVMSG #c :one");
    alice.send("NOTICE #c :two");
    alice.send("PRIVMSG tagged :three");
    let got = [
        tagged.expect_privmsg_from("alice", "one"),
        tagged.expect(
            |m| m.command == "NOTICE" && m.param(1) == "two",
            "NOTICE two",
        ),
        tagged.expect_privmsg_from("alice", "three"),
    ];
    let ids: Vec<&str> = got.iter().map(|m| m.tag("msgid").unwrap_or("")).collect();
    for (m, id) in got.iter().zip(&ids) {
        assert!(is_msgid(id), "msgid of 16 hex digits: {m}");
        assert!(m.tag("time").is_some_and(|t| t.ends_with('Z')), "{m}");
    }
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "msgids are unique: {ids:?}"
    );
    let m = plain.expect_privmsg_from("alice", "one");
    assert!(m.tags.is_empty(), "no tags without caps: {m}");
}

#[test]
fn channel_history_comes_in_a_chathistory_batch_with_original_sources() {
    let server = TestServer::start();
    let mut reader = server.connect_with_caps("reader", HIST_CAPS);
    let mut bob = server.connect("bob");
    join(&mut reader, "#Chan");
    join(&mut bob, "#chan");
    reader.sync();
    bob.send("PRIVMSG #chan :first");
    bob.send("NOTICE #chan :second");
    let live = [
        reader.expect_privmsg_from("bob", "first"),
        reader.expect(
            |m| m.command == "NOTICE" && m.param(1) == "second",
            "NOTICE second",
        ),
    ];
    reader.send("PRIVMSG #chan :third");
    reader.sync();

    reader.send("HISTORY #chan 10");
    let got = reader.expect_history_batch("#Chan");
    assert_eq!(texts(&got), ["first", "second", "third"], "{got:#?}");
    assert_eq!(commands(&got), ["PRIVMSG", "NOTICE", "PRIVMSG"]);
    let sources: Vec<_> = got
        .iter()
        .map(|m| m.source.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(
        sources,
        [
            "bob!~bob@127.0.0.1",
            "bob!~bob@127.0.0.1",
            "reader!~reader@127.0.0.1"
        ]
    );
    for m in &got {
        assert_eq!(m.param(0), "#Chan", "{m}");
        assert!(m.tag("msgid").is_some_and(is_msgid), "{m}");
    }
    for (old, new) in live.iter().zip(&got) {
        assert_eq!(
            old.tag("msgid"),
            new.tag("msgid"),
            "same msgid live and replayed"
        );
        assert_eq!(
            old.tag("time"),
            new.tag("time"),
            "same time live and replayed"
        );
    }
}

#[test]
fn history_count_and_duration_select_the_latest_in_order() {
    let server = TestServer::start();
    let mut reader = server.connect_with_caps("reader", HIST_CAPS);
    let mut bob = server.connect("bob");
    join(&mut reader, "#c");
    join(&mut bob, "#c");
    reader.sync();
    for i in 1..=5 {
        bob.send(&format!("PRIVMSG #c :m{i}"));
    }
    reader.expect_privmsg_from("bob", "m5");
    assert_eq!(ask(&mut reader, "HISTORY #c 2", "#c"), ["m4", "m5"]);
    let every = ["m1", "m2", "m3", "m4", "m5"];
    assert_eq!(ask(&mut reader, "HISTORY #c", "#c"), every);
    assert_eq!(ask(&mut reader, "HISTORY #c 1h", "#c"), every);
    assert_eq!(ask(&mut reader, "HISTORY #C 30m", "#c"), every);
    reader.send("HISTORY #c soon");
    let f = reader.expect_command("FAIL");
    assert_eq!(
        (f.param(0), f.param(1)),
        ("HISTORY", "INVALID_PARAMS"),
        "{f}"
    );
}

#[test]
fn history_answers_are_capped_by_the_page_size() {
    let server = TestServer::start_with(|c| c.history.page_size = 3);
    let mut reader = server.connect_with_caps("reader", HIST_CAPS);
    let mut bob = server.connect("bob");
    join(&mut reader, "#c");
    join(&mut bob, "#c");
    reader.sync();
    for i in 1..=5 {
        bob.send(&format!("PRIVMSG #c :m{i}"));
    }
    reader.expect_privmsg_from("bob", "m5");
    assert_eq!(ask(&mut reader, "HISTORY #c 50", "#c"), ["m3", "m4", "m5"]);
    assert_eq!(
        ask(&mut reader, "CHATHISTORY LATEST #c * 50", "#c"),
        ["m3", "m4", "m5"]
    );
}

#[test]
fn history_without_batch_or_server_time_has_readable_times_and_an_end_notice() {
    let server = TestServer::start();
    let mut nc = server.connect("nc");
    let mut timed = server.connect_with_caps("timed", "server-time");
    let mut bob = server.connect("bob");
    for c in [&mut nc, &mut timed, &mut bob] {
        join(c, "#c");
    }
    nc.sync();
    timed.sync();
    bob.send("PRIVMSG #c :hello");
    bob.send("PRIVMSG #c :\x01ACTION waves\x01");
    let live_time = timed
        .expect_privmsg_from("bob", "hello")
        .tag("time")
        .unwrap_or_default()
        .to_string();
    timed.expect_privmsg_from("bob", "\x01ACTION waves\x01");
    nc.expect_privmsg_from("bob", "\x01ACTION waves\x01");

    nc.send("HISTORY #c");
    let mut got = nc.recv_until(
        |m| is_server_notice(m) && m.param(1).starts_with("End of HISTORY"),
        "End of HISTORY",
    );
    let end = got.pop().unwrap();
    assert_eq!(end.param(1), "End of HISTORY for #c: 2 messages", "{end}");
    let lines = all(&got, "PRIVMSG");
    assert_eq!(lines.len(), 2, "{got:#?}");
    assert!(lines.iter().all(|m| m.tags.is_empty()), "{lines:?}");
    let (when, rest) = split_time_prefix(lines[0].param(1))
        .unwrap_or_else(|| panic!("[YYYY-MM-DD HH:MM:SS UTC] prefix: {}", lines[0]));
    assert_eq!(rest, "hello");
    // The prefix is the message's server time, to the second.
    assert_eq!(
        when,
        live_time.get(..19).unwrap_or_default().replace('T', " "),
        "{live_time}"
    );
    // A CTCP ACTION stays an action, with the time inside it.
    let action = lines[1].param(1);
    let inner = action
        .strip_prefix("\x01ACTION ")
        .and_then(|a| a.strip_suffix('\x01'))
        .unwrap_or_else(|| panic!("still an ACTION: {:?}", action));
    assert_eq!(
        split_time_prefix(inner).map(|(_, r)| r),
        Some("waves"),
        "{action:?}"
    );
}

#[test]
fn only_members_read_a_channels_history() {
    let server = TestServer::start();
    let mut cs = channel_with(&server, "#c", &["alice", "bob"]);
    let mut eve = server.connect_with_caps("eve", HIST_CAPS);
    cs[1].send("PRIVMSG #c :secret");
    cs[0].expect_privmsg_from("bob", "secret");

    eve.send("HISTORY #c");
    let e = eve.expect_numeric(ERR_NOTONCHANNEL);
    assert_eq!((e.param(0), e.param(1)), ("eve", "#c"), "{e}");
    eve.send("HISTORY #nowhere");
    let e = eve.expect_numeric(ERR_NOSUCHCHANNEL);
    assert_eq!(e.param(1), "#nowhere", "{e}");
    eve.send("CHATHISTORY LATEST #c * 10");
    let f = eve.expect_command("FAIL");
    assert_eq!(
        (f.param(0), f.param(1), f.param(3)),
        ("CHATHISTORY", "INVALID_TARGET", "#c"),
        "{f}"
    );
    // A member who left is an outsider again.
    cs[1].send("PART #c");
    cs[1].send("HISTORY #c");
    cs[1].expect_numeric(ERR_NOTONCHANNEL);
    for c in [&mut eve, &mut cs[1]] {
        let got = c.sync();
        assert!(
            !got.iter().any(|m| m.param(1).contains("secret")),
            "history leaked: {got:?}"
        );
    }
}

#[test]
fn private_history_is_shared_by_the_two_parties_only() {
    let server = TestServer::start();
    let mut alice = server.connect_with_caps("alice", HIST_CAPS);
    let mut bob = server.connect_with_caps("bob", HIST_CAPS);
    let mut carol = server.connect_with_caps("carol", HIST_CAPS);
    let mut dave = server.connect_with_caps("dave", HIST_CAPS);
    alice.send("PRIVMSG bob :a2b");
    bob.expect_privmsg_from("alice", "a2b");
    bob.send("PRIVMSG alice :b2a");
    alice.expect_privmsg_from("bob", "b2a");
    alice.send("PRIVMSG carol :a2c");
    carol.expect_privmsg_from("alice", "a2c");
    carol.send("NOTICE bob :c2b");
    bob.expect(|m| m.command == "NOTICE" && m.param(1) == "c2b", "c2b");

    assert_eq!(ask(&mut alice, "HISTORY bob", "bob"), ["a2b", "b2a"]);
    assert_eq!(ask(&mut bob, "HISTORY ALICE", "alice"), ["a2b", "b2a"]);
    assert_eq!(ask(&mut bob, "HISTORY alice 1h", "alice"), ["a2b", "b2a"]);
    assert_eq!(ask(&mut bob, "HISTORY alice 1", "alice"), ["b2a"]);
    assert_eq!(ask(&mut alice, "HISTORY carol", "carol"), ["a2c"]);
    assert_eq!(ask(&mut carol, "HISTORY alice", "alice"), ["a2c"]);
    assert_eq!(ask(&mut bob, "HISTORY carol", "carol"), ["c2b"]);
    assert_eq!(
        ask(&mut bob, "CHATHISTORY LATEST carol * 10", "carol"),
        ["c2b"]
    );
    assert!(ask(&mut dave, "HISTORY bob", "bob").is_empty());
    assert!(ask(&mut dave, "CHATHISTORY LATEST alice * 10", "alice").is_empty());
}

#[test]
fn chathistory_selects_by_msgid_and_timestamp() {
    let server = TestServer::start();
    let mut reader = server.connect_with_caps("reader", HIST_CAPS);
    let mut bob = server.connect("bob");
    join(&mut reader, "#c");
    join(&mut bob, "#c");
    reader.sync();
    for i in 0..10 {
        bob.send(&format!("PRIVMSG #c :m{i}"));
    }
    let ids: Vec<String> = (0..10)
        .map(|i| {
            let m = reader.expect_privmsg_from("bob", &format!("m{i}"));
            m.tag("msgid").unwrap_or_default().to_string()
        })
        .collect();
    let m = |range: std::ops::Range<usize>| range.map(|i| format!("m{i}")).collect::<Vec<_>>();
    let mut q = |line: &str| ask(&mut reader, line, "#c");

    assert_eq!(q("CHATHISTORY LATEST #c * 3"), m(7..10));
    assert_eq!(
        q(&format!("CHATHISTORY LATEST #c msgid={} 10", ids[7])),
        m(8..10)
    );
    assert_eq!(
        q(&format!("CHATHISTORY BEFORE #c msgid={} 2", ids[5])),
        m(3..5)
    );
    assert_eq!(
        q(&format!("CHATHISTORY AFTER #c msgid={} 2", ids[5])),
        m(6..8)
    );
    assert_eq!(
        q(&format!(
            "CHATHISTORY BETWEEN #c msgid={} msgid={} 10",
            ids[2], ids[6]
        )),
        m(3..6)
    );
    let mut reversed = q(&format!(
        "CHATHISTORY BETWEEN #c msgid={} msgid={} 10",
        ids[6], ids[2]
    ));
    reversed.sort();
    assert_eq!(
        reversed,
        m(3..6),
        "BETWEEN with the bounds the other way round"
    );
    assert_eq!(
        q("CHATHISTORY AFTER #c timestamp=2000-01-01T00:00:00.000Z 3"),
        m(0..3)
    );
    assert_eq!(
        q("CHATHISTORY BEFORE #c timestamp=2100-01-01T00:00:00.000Z 2"),
        m(8..10)
    );
    assert_eq!(
        q("CHATHISTORY BETWEEN #c timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 100"),
        m(0..10)
    );
    // AROUND: a run of at most 3 consecutive messages that straddles m5.
    let around = q(&format!("CHATHISTORY AROUND #c msgid={} 3", ids[5]));
    let idx: Vec<usize> = around.iter().map(|t| t[1..].parse().expect("mN")).collect();
    assert!(
        !idx.is_empty()
            && idx.len() <= 3
            && idx.windows(2).all(|w| w[1] == w[0] + 1)
            && idx[0] <= 5
            && *idx.last().unwrap() >= 5,
        "AROUND m5: {around:?}"
    );
    // The replayed msgids are the live ones.
    reader.send("CHATHISTORY LATEST #c * 3");
    let got = reader.expect_history_batch("#c");
    let replayed: Vec<&str> = got.iter().map(|m| m.tag("msgid").unwrap_or("")).collect();
    assert_eq!(replayed, ids[7..10]);
}

#[test]
fn chathistory_targets_lists_the_conversations_with_activity() {
    let server = TestServer::start();
    let mut reader = server.connect_with_caps("reader", HIST_CAPS);
    let mut bob = server.connect("bob");
    let mut carol = server.connect("carol");
    let mut dave = server.connect_with_caps("dave", HIST_CAPS);
    join(&mut reader, "#c");
    join(&mut bob, "#c");
    reader.sync();
    bob.send("PRIVMSG #c :in the channel");
    reader.expect_privmsg_from("bob", "in the channel");
    bob.send("PRIVMSG reader :from bob");
    reader.expect_privmsg_from("bob", "from bob");
    reader.send("PRIVMSG carol :to carol");
    carol.expect_privmsg_from("reader", "to carol");

    let targets = |c: &mut Client| {
        c.send(
            "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z \
             timestamp=2100-01-01T00:00:00.000Z 10",
        );
        let start = c.expect(
            |m| m.command == "BATCH" && m.param(1) == "draft/chathistory-targets",
            "BATCH +id draft/chathistory-targets",
        );
        let end = format!("-{}", &start.param(0)[1..]);
        let mut got = c.recv_until(
            |m| m.command == "BATCH" && m.param(0) == end,
            "the end of the targets batch",
        );
        got.pop();
        got
    };
    let got = targets(&mut reader);
    let mut names: Vec<String> = Vec::new();
    for m in &got {
        assert_eq!(
            (m.command.as_str(), m.param(0)),
            ("CHATHISTORY", "TARGETS"),
            "{m}"
        );
        assert!(
            m.param(2).starts_with("20") && m.param(2).ends_with('Z'),
            "a server-time timestamp: {m}"
        );
        names.push(m.param(1).to_ascii_lowercase());
    }
    names.sort();
    assert_eq!(names, ["#c", "bob", "carol"], "{got:#?}");
    assert!(targets(&mut dave).is_empty(), "dave has no conversations");
}

#[test]
fn chathistory_errors_are_fail_lines() {
    let server = TestServer::start();
    let mut reader = server.connect_with_caps("reader", HIST_CAPS);
    let mut owner = server.connect("owner");
    join(&mut reader, "#c");
    join(&mut owner, "#secret");
    for (line, code) in [
        ("CHATHISTORY FOO #c * 10", "INVALID_PARAMS"),
        ("CHATHISTORY LATEST #c *", "NEED_MORE_PARAMS"),
        ("CHATHISTORY BETWEEN #c * 10", "NEED_MORE_PARAMS"),
        ("CHATHISTORY LATEST #c bogus 10", "INVALID_PARAMS"),
        ("CHATHISTORY LATEST #c msgid=xyz 10", "INVALID_PARAMS"),
        ("CHATHISTORY LATEST #c * many", "INVALID_PARAMS"),
        ("CHATHISTORY LATEST #secret * 10", "INVALID_TARGET"),
        ("CHATHISTORY LATEST #nowhere * 10", "INVALID_TARGET"),
        // A limit sent as a trailing parameter with a space in it: echoed as `*`
        // (a middle parameter cannot hold a space; IRCv3 standard-replies).
        (
            "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00Z * :two words",
            "INVALID_PARAMS",
        ),
    ] {
        reader.send(line);
        let f = reader.expect_command("FAIL");
        assert_eq!(
            (f.param(0), f.param(1)),
            ("CHATHISTORY", code),
            "{line}: {f}"
        );
    }
    let got = reader.sync();
    assert!(!has(&got, "BATCH"), "no answer besides FAIL: {got:?}");
}

#[test]
fn history_then_quit_in_one_write_gets_the_history_before_the_close() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    join(&mut alice, "#c");
    alice.send("PRIVMSG #c :remember me");
    alice.store_sync();
    // A netcat user's script: the answer comes from the store, the QUIT right after.
    alice.send_bytes(b"HISTORY #c 10\r\nQUIT :done\r\n");
    let lines = alice.expect_closed();
    let history = lines.iter().position(|l| l.ends_with("remember me"));
    let error = lines.iter().position(|l| l.starts_with("ERROR"));
    assert!(
        matches!((history, error), (Some(h), Some(e)) if h < e),
        "the history line, then ERROR: {lines:#?}"
    );
}
