//! Messaging — RFC 2812 §3.3 (PRIVMSG, NOTICE), §4.1 (AWAY), §3.1.7 (QUIT), §3.1.2 (NICK);
//! IRCv3 server-time, message-tags (client-only tags, TAGMSG), echo-message, away-notify.

use chatd_proto::numeric::*;
use chatd_proto::Message;
use chatd_tests::*;
use std::time::{SystemTime, UNIX_EPOCH};

fn is_privmsg(m: &Message) -> bool {
    m.command == "PRIVMSG"
}

/// Numerics (three-digit commands) among `msgs`.
fn numerics(msgs: &[Message]) -> Vec<&Message> {
    msgs.iter()
        .filter(|m| m.command.len() == 3 && m.command.bytes().all(|b| b.is_ascii_digit()))
        .collect()
}

/// Milliseconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SS.mmmZ`, or `None` when the
/// text is not exactly that shape.
fn parse_server_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 24
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + ms)
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn privmsg_to_channel_reaches_every_other_member_and_not_the_sender() {
    let server = TestServer::start();
    let mut cs = channel_with(&server, "#c", &["alice", "bob", "carol"]);
    cs[0].send("PRIVMSG #c :hello all");
    for c in &mut cs[1..] {
        let m = c.expect_privmsg_from("alice", "hello all");
        assert_eq!(m.param(0), "#c", "{m}");
        assert_eq!(m.source.as_deref(), Some("alice!~alice@127.0.0.1"), "{m}");
    }
    let back = cs[0].sync();
    assert!(
        !back.iter().any(is_privmsg),
        "sender got its own message without echo-message: {back:?}"
    );
}

#[test]
fn channel_names_are_case_insensitive_and_shown_as_created() {
    let server = TestServer::start();
    let mut cs = channel_with(&server, "#Chat", &["alice", "bob"]);
    cs[0].send("PRIVMSG #CHAT :shout");
    let m = cs[1].expect_privmsg_from("alice", "shout");
    assert_eq!(m.param(0), "#Chat", "{m}");
}

#[test]
fn privmsg_to_a_nick_reaches_only_that_nick() {
    let server = TestServer::start();
    let mut cs = channel_with(&server, "#c", &["alice", "bob", "carol"]);
    cs[0].send("PRIVMSG BOB :just you");
    let m = cs[1].expect_privmsg_from("alice", "just you");
    assert_eq!(m.param(0), "bob", "the target is the recipient's nick: {m}");
    let carol = cs[2].sync();
    assert!(!carol.iter().any(is_privmsg), "{carol:?}");
    let alice = cs[0].sync();
    assert!(!alice.iter().any(is_privmsg), "{alice:?}");
}

#[test]
fn notice_to_channel_and_to_nick() {
    let server = TestServer::start();
    let mut cs = channel_with(&server, "#c", &["alice", "bob"]);
    cs[0].send("NOTICE #c :channel notice");
    cs[0].send("NOTICE bob :private notice");
    let m = cs[1].expect_command("NOTICE");
    assert_eq!(
        (m.source_nick(), m.param(0), m.param(1)),
        (Some("alice"), "#c", "channel notice")
    );
    let m = cs[1].expect_command("NOTICE");
    assert_eq!(
        (m.source_nick(), m.param(0), m.param(1)),
        (Some("alice"), "bob", "private notice")
    );
    let back = cs[0].sync();
    assert!(
        !back.iter().any(|m| m.command == "NOTICE"),
        "sender got its own notice: {back:?}"
    );
}

#[test]
fn several_targets_each_get_the_message() {
    let server = TestServer::start();
    let mut cs = channel_with(&server, "#c", &["alice", "bob"]);
    let mut carol = server.connect("carol");
    cs[0].send("PRIVMSG #c,carol :to many");
    cs[1].expect_privmsg_from("alice", "to many");
    let m = carol.expect_privmsg_from("alice", "to many");
    assert_eq!(m.param(0), "carol");
    cs[0].sync();
    let bob = cs[1].sync();
    assert!(!bob.iter().any(is_privmsg), "bob got two copies: {bob:?}");
}

#[test]
fn bad_targets_in_a_list_get_errors_and_the_good_ones_still_receive() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let mut bob = server.connect("bob");
    alice.send("PRIVMSG nobody,#nowhere,bob :partly");
    let e = alice.expect_numeric(ERR_NOSUCHNICK);
    assert_eq!((e.param(0), e.param(1)), ("alice", "nobody"), "{e}");
    let e = alice.expect_numeric(ERR_NOSUCHCHANNEL);
    assert_eq!((e.param(0), e.param(1)), ("alice", "#nowhere"), "{e}");
    bob.expect_privmsg_from("alice", "partly");
}

#[test]
fn privmsg_without_a_target_is_411() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.send("PRIVMSG");
    let e = alice.expect_numeric(ERR_NORECIPIENT);
    assert_eq!(e.param(0), "alice");
    assert!(e.param(1).contains("PRIVMSG"), "{e}");
}

#[test]
fn privmsg_without_text_is_412() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let mut bob = server.connect("bob");
    alice.send("PRIVMSG bob");
    alice.expect_numeric(ERR_NOTEXTTOSEND);
    alice.send("PRIVMSG bob :");
    alice.expect_numeric(ERR_NOTEXTTOSEND);
    alice.sync();
    let got = bob.sync();
    assert!(!got.iter().any(is_privmsg), "empty text delivered: {got:?}");
}

#[test]
fn privmsg_to_unknown_nick_is_401_and_unknown_channel_is_403() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.send("PRIVMSG ghost :boo");
    let e = alice.expect_numeric(ERR_NOSUCHNICK);
    assert_eq!(e.param(1), "ghost");
    alice.send("PRIVMSG #ghosts :boo");
    let e = alice.expect_numeric(ERR_NOSUCHCHANNEL);
    assert_eq!(e.param(1), "#ghosts");
}

#[test]
fn outsider_cannot_send_to_a_no_external_channel() {
    let server = TestServer::start();
    let mut cs = channel_with(&server, "#c", &["alice", "bob"]);
    let mut eve = server.connect("eve");
    eve.send("PRIVMSG #c :let me in");
    let e = eve.expect_numeric(ERR_CANNOTSENDTOCHAN);
    assert_eq!((e.param(0), e.param(1)), ("eve", "#c"), "{e}");
    eve.sync();
    for c in &mut cs {
        let got = c.sync();
        assert!(!got.iter().any(is_privmsg), "outsider got through: {got:?}");
    }
    // With -n the same outsider is heard.
    cs[0].send("MODE #c -n");
    cs[0].sync();
    eve.send("PRIVMSG #c :now?");
    cs[1].expect_privmsg_from("eve", "now?");
}

#[test]
fn too_many_targets_is_407_and_delivers_nothing() {
    let server = TestServer::start_with(|c| c.limits.targets_per_message = 2);
    let mut alice = server.connect("alice");
    let mut bob = server.connect("bob");
    let mut carol = server.connect("carol");
    let mut dave = server.connect("dave");
    alice.send("PRIVMSG bob,carol,dave :three");
    let e = alice.expect_numeric(ERR_TOOMANYTARGETS);
    assert_eq!(e.param(0), "alice");
    alice.sync();
    for c in [&mut bob, &mut carol, &mut dave] {
        let got = c.sync();
        assert!(!got.iter().any(is_privmsg), "407 but delivered: {got:?}");
    }
    // Exactly the limit is fine.
    alice.send("PRIVMSG bob,carol :two");
    bob.expect_privmsg_from("alice", "two");
    carol.expect_privmsg_from("alice", "two");
    let got = alice.sync();
    assert!(numerics(&got).is_empty(), "{got:?}");
}

#[test]
fn notice_never_gets_an_error_reply() {
    let server = TestServer::start_with(|c| c.limits.targets_per_message = 2);
    let _cs = channel_with(&server, "#c", &["alice", "bob"]);
    let mut eve = server.connect("eve");
    let mut carol = server.connect("carol");
    carol.send("AWAY :out");
    carol.expect_numeric(RPL_NOWAWAY);
    for line in [
        "NOTICE",
        "NOTICE ghost :hi",
        "NOTICE #ghosts :hi",
        "NOTICE #c :outsider",
        "NOTICE carol",
        "NOTICE carol :",
        "NOTICE a,b,c :too many",
        "NOTICE carol :you are away",
    ] {
        eve.send(line);
    }
    let got = eve.sync();
    assert!(numerics(&got).is_empty(), "NOTICE answered: {got:?}");
    // The valid one did arrive, so the server did run the notices.
    let m = carol.expect_command("NOTICE");
    assert_eq!(m.param(1), "you are away");
}

#[test]
fn echo_message_returns_the_senders_own_message_exactly_once() {
    let server = TestServer::start();
    let mut alice = server.connect_with_caps("alice", "echo-message");
    let mut bob = server.connect("bob");
    join(&mut alice, "#c");
    join(&mut bob, "#c");
    alice.sync();
    alice.send("PRIVMSG #c :echoed");
    alice.send("PRIVMSG bob :echoed dm");
    alice.send("NOTICE #c :echoed notice");
    bob.expect_privmsg_from("alice", "echoed");
    bob.expect_privmsg_from("alice", "echoed dm");
    let got = alice.sync();
    let own = |cmd: &str, target: &str, text: &str| {
        got.iter()
            .filter(|m| {
                m.command == cmd
                    && m.source_nick() == Some("alice")
                    && m.param(0) == target
                    && m.param(1) == text
            })
            .count()
    };
    assert_eq!(own("PRIVMSG", "#c", "echoed"), 1, "{got:?}");
    assert_eq!(own("PRIVMSG", "bob", "echoed dm"), 1, "{got:?}");
    assert_eq!(own("NOTICE", "#c", "echoed notice"), 1, "{got:?}");
    assert_eq!(got.len(), 3, "nothing else: {got:?}");
}

#[test]
fn message_to_yourself_arrives_once_with_or_without_echo_message() {
    let server = TestServer::start();
    let mut plain = server.connect("plain");
    let mut echo = server.connect_with_caps("echo", "echo-message");
    for c in [&mut plain, &mut echo] {
        let nick = c.nick.clone();
        c.send(&format!("PRIVMSG {nick} :note to self"));
        let got = c.sync();
        let copies = got
            .iter()
            .filter(|m| is_privmsg(m) && m.param(1) == "note to self")
            .count();
        assert_eq!(copies, 1, "[{nick}] {got:?}");
    }
}

#[test]
fn away_message_is_cut_to_awaylen() {
    let server = TestServer::start_with(|c| c.limits.away_len = 5);
    let mut alice = server.connect("alice");
    let mut bob = server.connect("bob");
    alice.send("AWAY :abcdefghij");
    alice.expect_numeric(RPL_NOWAWAY);
    bob.send("PRIVMSG alice :hi");
    let m = bob.expect_numeric(RPL_AWAY);
    assert_eq!(m.param(2), "abcde", "{m}");
}

#[test]
fn server_time_tag_only_for_clients_that_asked() {
    let server = TestServer::start();
    let mut timed = server.connect_with_caps("timed", "server-time");
    let mut plain = server.connect("plain");
    let mut sender = server.connect("sender");
    for c in [&mut timed, &mut plain, &mut sender] {
        join(c, "#c");
    }
    let before = now_millis();
    sender.send("PRIVMSG #c :tick");
    sender.send("PRIVMSG timed :direct tick");
    for text in ["tick", "direct tick"] {
        let m = timed.expect_privmsg_from("sender", text);
        let t = m.tag("time").unwrap_or_else(|| panic!("no time tag: {m}"));
        let ms = parse_server_time(t)
            .unwrap_or_else(|| panic!("time {t:?} is not RFC 3339 UTC with milliseconds"));
        let after = now_millis();
        assert!(
            ms >= before - 2_000 && ms <= after + 2_000,
            "time {t} far from now"
        );
        assert_eq!(m.tags.len(), 1, "only the time tag: {m}");
    }
    let m = plain.expect_privmsg_from("sender", "tick");
    assert!(m.tags.is_empty(), "tags without caps: {m}");
}

#[test]
fn client_only_tags_are_relayed_to_message_tags_clients_only() {
    let server = TestServer::start();
    let mut tagged = server.connect_with_caps("tagged", "message-tags");
    let mut both = server.connect_with_caps("both", "message-tags server-time");
    let mut timed = server.connect_with_caps("timed", "server-time");
    let mut plain = server.connect("plain");
    let mut sender = server.connect_with_caps("sender", "message-tags");
    for c in [&mut tagged, &mut both, &mut timed, &mut plain, &mut sender] {
        join(c, "#c");
    }
    sender.send(r"@+typing=active;+example.com/x=a\sb;notclient=1 PRIVMSG #c :tagged");

    let m = tagged.expect_privmsg_from("sender", "tagged");
    assert_eq!(m.tag("+typing"), Some("active"), "{m}");
    assert_eq!(m.tag("+example.com/x"), Some("a b"), "escaped value: {m}");
    assert_eq!(m.tag("notclient"), None, "server tags are not relayed: {m}");
    assert_eq!(m.tag("time"), None, "no server-time cap: {m}");

    let m = both.expect_privmsg_from("sender", "tagged");
    assert_eq!(m.tag("+typing"), Some("active"), "{m}");
    assert!(m.tag("time").is_some(), "{m}");

    let m = timed.expect_privmsg_from("sender", "tagged");
    assert_eq!(m.tags.len(), 1, "only time: {m}");
    assert!(m.tag("time").is_some(), "{m}");

    let m = plain.expect_privmsg_from("sender", "tagged");
    assert!(m.tags.is_empty(), "{m}");

    // And to a nick.
    sender.send("@+typing=done PRIVMSG tagged :dm");
    let m = tagged.expect_privmsg_from("sender", "dm");
    assert_eq!(m.tag("+typing"), Some("done"), "{m}");
    sender.send("@+typing=done PRIVMSG plain :dm");
    let m = plain.expect_privmsg_from("sender", "dm");
    assert!(m.tags.is_empty(), "{m}");
}

#[test]
fn tagmsg_reaches_only_message_tags_clients() {
    let server = TestServer::start();
    let mut tagged = server.connect_with_caps("tagged", "message-tags");
    let mut plain = server.connect("plain");
    let mut sender = server.connect_with_caps("sender", "message-tags");
    for c in [&mut tagged, &mut plain, &mut sender] {
        join(c, "#c");
    }
    for c in [&mut tagged, &mut plain] {
        c.sync();
    }
    sender.send("@+typing=active TAGMSG #c");
    sender.send("@+typing=paused TAGMSG tagged");
    sender.send("@+typing=paused TAGMSG plain");
    let m = tagged.expect_command("TAGMSG");
    assert_eq!(
        (m.source_nick(), m.param(0), m.tag("+typing")),
        (Some("sender"), "#c", Some("active")),
        "{m}"
    );
    assert_eq!(m.params.len(), 1, "TAGMSG has no text: {m}");
    let m = tagged.expect_command("TAGMSG");
    assert_eq!((m.param(0), m.tag("+typing")), ("tagged", Some("paused")));
    let got = sender.sync();
    assert!(numerics(&got).is_empty(), "{got:?}");
    assert!(
        !got.iter().any(|m| m.command == "TAGMSG"),
        "no echo without echo-message: {got:?}"
    );
    let got = plain.sync();
    assert!(
        !got.iter().any(|m| m.command == "TAGMSG"),
        "TAGMSG to a client without message-tags: {got:?}"
    );
}

#[test]
fn away_sets_306_and_305_and_senders_get_301() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let mut bob = server.connect("bob");
    alice.send("AWAY :gone to lunch");
    let m = alice.expect_numeric(RPL_NOWAWAY);
    assert_eq!(m.param(0), "alice");

    bob.send("PRIVMSG alice :are you there?");
    let m = bob.expect_numeric(RPL_AWAY);
    assert_eq!(
        (m.param(0), m.param(1), m.param(2)),
        ("bob", "alice", "gone to lunch"),
        "{m}"
    );
    alice.expect_privmsg_from("bob", "are you there?");

    bob.send("NOTICE alice :notices get no 301");
    let got = bob.sync();
    assert!(numerics(&got).is_empty(), "{got:?}");

    alice.send("AWAY");
    alice.expect_numeric(RPL_UNAWAY);
    bob.send("PRIVMSG alice :back?");
    alice.expect_privmsg_from("bob", "back?");
    let got = bob.sync();
    assert!(
        !got.iter().any(|m| m.command == RPL_AWAY),
        "301 after AWAY cleared: {got:?}"
    );
}

#[test]
fn away_notify_tells_channel_peers_with_the_cap() {
    let server = TestServer::start();
    let mut notified = server.connect_with_caps("notified", "away-notify");
    let mut plain = server.connect("plain");
    let mut leaver = server.connect("leaver");
    let mut stranger = server.connect_with_caps("stranger", "away-notify");
    for c in [&mut notified, &mut plain, &mut leaver] {
        join(c, "#c");
    }
    leaver.send("AWAY :brb");
    leaver.expect_numeric(RPL_NOWAWAY);
    let m = notified.expect_command("AWAY");
    assert_eq!(
        (m.source_nick(), m.param(0)),
        (Some("leaver"), "brb"),
        "{m}"
    );
    leaver.send("AWAY");
    leaver.expect_numeric(RPL_UNAWAY);
    let m = notified.expect_command("AWAY");
    assert_eq!(m.source_nick(), Some("leaver"));
    assert!(m.params.is_empty(), "back is AWAY without params: {m}");
    for c in [&mut plain, &mut stranger] {
        let got = c.sync();
        assert!(
            !got.iter().any(|m| m.command == "AWAY"),
            "AWAY to a client without the cap or a shared channel: {got:?}"
        );
    }
}

#[test]
fn auto_join_puts_everyone_in_the_lobby() {
    let server = TestServer::start_with(|c| c.server.auto_join = vec!["#lobby".into()]);
    let mut alice = server.connect("alice");
    let m = alice.expect_command("JOIN");
    assert_eq!((m.source_nick(), m.param(0)), (Some("alice"), "#lobby"));
    alice.expect_numeric(RPL_ENDOFNAMES);
    let mut bob = server.connect("bob");
    let m = alice.expect_command("JOIN");
    assert_eq!((m.source_nick(), m.param(0)), (Some("bob"), "#lobby"));
    let mut carol = server.connect("carol");
    carol.sync();
    bob.send("PRIVMSG #lobby :hi lobby");
    alice.expect_privmsg_from("bob", "hi lobby");
    carol.expect_privmsg_from("bob", "hi lobby");
}

#[test]
fn quit_is_seen_by_peers_with_its_reason_and_the_quitter_gets_error() {
    let server = TestServer::start();
    let mut cs = channel_with(&server, "#c", &["alice", "bob"]);
    let mut outsider = server.connect("outsider");
    let mut bob = cs.pop().unwrap();
    bob.send("QUIT :gone fishing");
    let lines = bob.expect_closed();
    assert!(
        lines.iter().any(|l| l.starts_with("ERROR ")),
        "no ERROR before close: {lines:?}"
    );
    let m = cs[0].expect_command("QUIT");
    assert_eq!(m.source_nick(), Some("bob"));
    assert!(m.param(0).contains("gone fishing"), "reason lost: {m}");
    let got = outsider.sync();
    assert!(
        !got.iter().any(|m| m.command == "QUIT"),
        "QUIT to a client sharing no channel: {got:?}"
    );
    // The nick is free again.
    cs[0].send("PRIVMSG bob :still there?");
    cs[0].expect_numeric(ERR_NOSUCHNICK);
}

#[test]
fn abrupt_disconnect_is_a_quit_and_the_others_keep_chatting() {
    let server = TestServer::start();
    let mut cs = channel_with(&server, "#c", &["alice", "bob", "carol"]);
    let bob = cs.remove(1);
    drop(bob);
    for c in &mut cs {
        let m = c.expect_command("QUIT");
        assert_eq!(m.source_nick(), Some("bob"), "{m}");
    }
    cs[0].send("PRIVMSG #c :bob left");
    cs[1].expect_privmsg_from("alice", "bob left");
    cs[1].send("PRIVMSG #c :so he did");
    cs[0].expect_privmsg_from("carol", "so he did");
    let got = cs[0].sync();
    assert!(numerics(&got).is_empty(), "{got:?}");
}

#[test]
fn nick_change_is_seen_by_channel_peers() {
    let server = TestServer::start();
    let mut cs = channel_with(&server, "#c", &["alice", "bob"]);
    let mut outsider = server.connect("outsider");
    cs[1].send("NICK robert");
    let m = cs[1].expect_command("NICK");
    assert_eq!((m.source_nick(), m.param(0)), (Some("bob"), "robert"));
    let m = cs[0].expect_command("NICK");
    assert_eq!((m.source_nick(), m.param(0)), (Some("bob"), "robert"));
    let got = outsider.sync();
    assert!(!got.iter().any(|m| m.command == "NICK"), "{got:?}");
    cs[0].send("PRIVMSG robert :new name");
    cs[1].expect_privmsg_from("alice", "new name");
    cs[1].send("PRIVMSG #c :as robert");
    cs[0].expect_privmsg_from("robert", "as robert");
    cs[0].send("PRIVMSG bob :old name");
    cs[0].expect_numeric(ERR_NOSUCHNICK);
}

/// The fan-out: everyone hears everyone else, once, in each sender's order.
#[test]
fn twenty_clients_each_hear_every_other_message_once_in_order() {
    const CLIENTS: usize = 20;
    const MESSAGES: usize = 20;
    let server = TestServer::start();
    let nicks: Vec<String> = (0..CLIENTS).map(|i| format!("user{i:02}")).collect();
    let nick_refs: Vec<&str> = nicks.iter().map(String::as_str).collect();
    let mut cs = channel_with(&server, "#fan", &nick_refs);
    // Interleave the senders so the server sees them mixed.
    for n in 0..MESSAGES {
        for (i, c) in cs.iter_mut().enumerate() {
            c.send(&format!("PRIVMSG #fan :from {i} number {n}"));
        }
    }
    for (me, c) in cs.iter_mut().enumerate() {
        let mut next = [0usize; CLIENTS];
        let expected = (CLIENTS - 1) * MESSAGES;
        let mut received = 0;
        while received < expected {
            let m = c.recv();
            if !is_privmsg(&m) {
                continue;
            }
            let words: Vec<&str> = m.param(1).split(' ').collect();
            let (sender, n): (usize, usize) = match words.as_slice() {
                ["from", s, "number", n] => (s.parse().unwrap(), n.parse().unwrap()),
                _ => c.fail(&format!("a numbered message, got {m}")),
            };
            assert_ne!(sender, me, "{} got its own message: {m}", nicks[me]);
            assert_eq!(m.source_nick(), Some(nicks[sender].as_str()), "{m}");
            assert_eq!(m.param(0), "#fan", "{m}");
            assert_eq!(
                n, next[sender],
                "{} got message {n} from {} out of order or twice",
                nicks[me], nicks[sender]
            );
            next[sender] += 1;
            received += 1;
        }
        let rest = c.sync();
        assert!(
            !rest.iter().any(is_privmsg),
            "{} got extra messages: {rest:?}",
            nicks[me]
        );
        for (sender, &count) in next.iter().enumerate() {
            let want = if sender == me { 0 } else { MESSAGES };
            assert_eq!(count, want, "{} from {}", nicks[me], nicks[sender]);
        }
    }
}

#[test]
fn server_time_parser_accepts_only_the_exact_shape() {
    assert_eq!(parse_server_time("1970-01-01T00:00:00.000Z"), Some(0));
    assert_eq!(
        parse_server_time("2000-03-01T00:00:01.500Z"),
        Some(951_868_801_500)
    );
    for bad in [
        "2000-03-01T00:00:01Z",
        "2000-03-01T00:00:01.500+00:00",
        "2000-03-01 00:00:01.500Z",
        "2000-13-01T00:00:01.500Z",
    ] {
        assert_eq!(parse_server_time(bad), None, "{bad}");
    }
}

#[test]
fn away_notify_peers_learn_that_a_joiner_is_away() {
    let server = TestServer::start();
    let mut watcher = server.connect_with_caps("watcher", "away-notify");
    let mut plain = server.connect("plainpeer");
    let mut away = server.connect("awayjoiner");
    for c in [&mut watcher, &mut plain] {
        c.send("JOIN #afk");
        c.expect_numeric(RPL_ENDOFNAMES);
    }
    away.send("AWAY :lunch");
    away.expect_numeric(RPL_NOWAWAY);
    away.send("JOIN #afk");
    away.expect_numeric(RPL_ENDOFNAMES);
    watcher.expect_command("JOIN");
    let note = watcher.expect_command("AWAY");
    assert_eq!(
        (note.source_nick(), note.param(0)),
        (Some("awayjoiner"), "lunch")
    );
    let got = plain.sync();
    assert!(
        !got.iter().any(|m| m.command == "AWAY"),
        "no away-notify, no AWAY: {got:?}"
    );
}

#[test]
fn client_tags_over_4094_bytes_get_417_and_are_not_relayed() {
    let server = TestServer::start();
    let mut alice = server.connect_with_caps("alice", "message-tags");
    let mut bob = server.connect_with_caps("bob", "message-tags");
    join(&mut alice, "#c");
    join(&mut bob, "#c");
    alice.sync();
    bob.sync();
    // 4,100 bytes of client tags: over the 4,094 IRCv3 gives the client, well under
    // the 8,191 of the whole tags section the line reader accepts.
    let big = "x".repeat(4100);
    alice.send(&format!("@+big={big} PRIVMSG #c :too many tags"));
    let e = alice.expect_numeric(ERR_INPUTTOOLONG);
    assert_eq!(e.param(0), "alice", "{e}");
    // Just under the limit is relayed, tags intact, after the refused one.
    let fits = "y".repeat(4000);
    alice.send(&format!("@+fits={fits} PRIVMSG #c :fits"));
    let got = bob.recv_until(
        |m| m.command == "PRIVMSG" && m.param(1) == "fits",
        "the message with tags that fit",
    );
    let relayed = got.last().unwrap();
    assert_eq!(relayed.tag("+fits"), Some(fits.as_str()));
    assert!(
        !got.iter().any(|m| m.param(1) == "too many tags"),
        "the refused message was relayed: {got:?}"
    );
}

#[test]
fn relayed_lines_are_cut_to_512_bytes_on_a_character_boundary() {
    let server = TestServer::start();
    let long_nick = "n".repeat(30);
    let mut cs = channel_with(&server, "#c", &[long_nick.as_str(), "bob"]);
    // The longest line the client may send: 510 bytes + CRLF, ending in 'é' (2 bytes)
    // so that a byte cut would split a character.
    let head = "PRIVMSG #c :";
    let mut text = "a".repeat(510 - head.len() - 2);
    text.push('é');
    assert_eq!(head.len() + text.len(), 510);
    cs[0].send(&format!("{head}{text}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let line = loop {
        match cs[1].recv_line(deadline) {
            Ok(Some(line)) if line.contains(" PRIVMSG #c ") => break line,
            Ok(Some(_)) => {}
            other => panic!("no relayed PRIVMSG: {:?}", other.is_ok()),
        }
    };
    assert!(line.len() + 2 <= 512, "{} bytes: {line}", line.len() + 2);
    // A trailing parameter without spaces may come without its ':'.
    let relayed = line.split_once(" PRIVMSG #c ").unwrap().1;
    let relayed = relayed.strip_prefix(':').unwrap_or(relayed);
    assert!(
        relayed.len() < text.len(),
        "not cut: {} bytes",
        relayed.len()
    );
    assert!(text.starts_with(relayed), "not a prefix of what was sent");
    // What history keeps is what was delivered.
    cs[1].send("HISTORY #c 1");
    let h = cs[1].expect(
        |m| m.command == "PRIVMSG" && m.param(1).ends_with(relayed),
        "the cut message in HISTORY",
    );
    assert!(h.param(1).ends_with(relayed), "{h}");
}
