//! IRCv3 draft/event-playback
//! (<https://ircv3.net/specs/extensions/chathistory#event-playback>, "draft/event-playback"
//! in the chathistory draft): JOIN, PART, QUIT, KICK, MODE, TOPIC and NICK kept in
//! channel history and replayed only to clients that negotiated the capability.

use chatd_proto::Message;
use chatd_tests::*;

const PLAYBACK: &str = "batch server-time message-tags draft/chathistory draft/event-playback";
const PLAIN: &str = "batch server-time message-tags draft/chathistory";

fn latest(c: &mut Client, target: &str) -> Vec<Message> {
    c.send(&format!("CHATHISTORY LATEST {target} * 100"));
    c.expect_history_batch(target)
}

/// `COMMAND param param` of each line, without source or tags.
fn lines(msgs: &[Message]) -> Vec<String> {
    msgs.iter()
        .map(|m| {
            let mut s = m.command.clone();
            for p in &m.params {
                s.push(' ');
                s.push_str(p);
            }
            s
        })
        .collect()
}

// "draft/event-playback": with the capability, history includes the channel's
// events with their source, msgid and time; without it, only messages.
#[test]
fn events_are_replayed_only_to_clients_that_asked_for_them() {
    let server = TestServer::start();
    let mut op = server.connect_with_caps("op", PLAYBACK);
    let mut plain = server.connect_with_caps("plain", PLAIN);
    join(&mut op, "#c");
    let mut bob = server.connect("bob");
    join(&mut bob, "#c");
    join(&mut plain, "#c");
    op.send("TOPIC #c :the topic");
    op.send("MODE #c +v bob");
    bob.send("PRIVMSG #c :hello");
    bob.send("NICK robert");
    bob.send("PART #c :bye now");
    bob.sync();
    bob.send("JOIN #c");
    bob.sync();
    op.send("KICK #c robert :out");
    bob.send("JOIN #c");
    bob.sync();
    bob.send("QUIT :gone");
    bob.expect_error_and_close();
    op.sync();

    let got = latest(&mut op, "#c");
    assert_eq!(
        lines(&got),
        [
            "JOIN #c",
            "JOIN #c",
            "JOIN #c",
            "TOPIC #c the topic",
            "MODE #c +v bob",
            "PRIVMSG #c hello",
            "NICK robert",
            "PART #c bye now",
            "JOIN #c",
            "KICK #c robert out",
            "JOIN #c",
            "QUIT Quit: gone",
        ],
        "{got:#?}"
    );
    let sources: Vec<&str> = got.iter().map(|m| m.source_nick().unwrap_or("")).collect();
    assert_eq!(
        sources,
        [
            "op", "bob", "plain", "op", "op", "bob", "bob", "robert", "robert", "op", "robert",
            "robert"
        ]
    );
    for m in &got {
        assert!(m.tag("msgid").is_some_and(is_msgid), "{m}");
        assert!(m.tag("time").is_some(), "{m}");
    }
    let mut ids: Vec<&str> = got.iter().filter_map(|m| m.tag("msgid")).collect();
    ids.dedup();
    assert_eq!(ids.len(), got.len(), "one msgid each");

    let got = latest(&mut plain, "#c");
    assert_eq!(lines(&got), ["PRIVMSG #c hello"], "{got:#?}");
    plain.send("HISTORY #c 10");
    let got = plain.expect_history_batch("#c");
    assert_eq!(lines(&got), ["PRIVMSG #c hello"], "{got:#?}");
    op.send("HISTORY #c 2");
    let got = op.expect_history_batch("#c");
    assert_eq!(lines(&got), ["JOIN #c", "QUIT Quit: gone"], "{got:#?}");
}

// A QUIT or NICK is kept in each channel the user was in, and only there.
#[test]
fn quit_and_nick_are_kept_in_every_channel_of_the_user() {
    let server = TestServer::start();
    let mut a = server.connect_with_caps("watcher", PLAYBACK);
    join(&mut a, "#one");
    join(&mut a, "#two");
    join(&mut a, "#three");
    let mut b = server.connect("b");
    join(&mut b, "#one");
    join(&mut b, "#two");
    b.send("NICK bee");
    b.send("QUIT :later");
    b.expect_error_and_close();
    a.sync();
    for chan in ["#one", "#two"] {
        let got = latest(&mut a, chan);
        assert_eq!(
            lines(&got)[1..],
            [
                "JOIN ".to_string() + chan,
                "NICK bee".into(),
                "QUIT Quit: later".into()
            ],
            "{chan}: {got:#?}"
        );
    }
    assert_eq!(lines(&latest(&mut a, "#three")), ["JOIN #three"]);
}

// The operator may keep events out of history (`history.log_events = false`).
#[test]
fn events_are_not_kept_when_turned_off() {
    let server = TestServer::start_with(|c| c.history.log_events = false);
    let mut a = server.connect_with_caps("a", PLAYBACK);
    join(&mut a, "#c");
    a.send("TOPIC #c :t");
    a.send("PRIVMSG #c :only this");
    a.sync();
    assert_eq!(lines(&latest(&mut a, "#c")), ["PRIVMSG #c only this"]);
}

// The limit counts what is returned: events count for clients that get them.
#[test]
fn the_limit_counts_events_only_for_clients_that_get_them() {
    let server = TestServer::start();
    let mut a = server.connect_with_caps("a", PLAYBACK);
    let mut p = server.connect_with_caps("p", PLAIN);
    join(&mut a, "#c");
    join(&mut p, "#c");
    a.send("PRIVMSG #c :m1");
    a.send("PRIVMSG #c :m2");
    for i in 0..5 {
        a.send(&format!("TOPIC #c :t{i}"));
    }
    a.sync();
    p.sync();
    p.send("CHATHISTORY LATEST #c * 2");
    assert_eq!(
        lines(&p.expect_history_batch("#c")),
        ["PRIVMSG #c m1", "PRIVMSG #c m2"]
    );
    a.send("CHATHISTORY LATEST #c * 2");
    assert_eq!(
        lines(&a.expect_history_batch("#c")),
        ["TOPIC #c t3", "TOPIC #c t4"]
    );
}

#[test]
fn the_capability_is_advertised() {
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    let ls = c.expect(|m| m.command == "CAP" && m.param(1) == "LS", "CAP LS");
    let caps = ls.params.last().unwrap().to_string();
    assert!(caps.split(' ').any(|c| c == "draft/event-playback"), "{ls}");
}
