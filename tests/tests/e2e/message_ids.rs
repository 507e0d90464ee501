//! IRCv3 message-ids, https://ircv3.net/specs/extensions/message-ids: every message
//! that can be referred to carries a unique `msgid` for clients with message-tags:
//! PRIVMSG, NOTICE, TAGMSG and the channel events (JOIN, PART, KICK, TOPIC, MODE,
//! NICK, QUIT) that event-playback keeps.

use chatd_tests::*;

/// https://ircv3.net/specs/extensions/message-ids ("msgid" on messages the server
/// relays; unique): TAGMSG included.
#[test]
fn tagmsg_and_channel_events_carry_unique_msgids() {
    let server = TestServer::start();
    let mut watcher = server.connect_with_caps("watcher", "message-tags");
    watcher.join("#c");
    let mut alice = server.connect_with_caps("alice", "message-tags");
    alice.join("#c");
    watcher.send("MODE #c +o alice");
    let mut got = watcher.sync();
    alice.send("@+react=x TAGMSG #c");
    alice.send("PRIVMSG #c :hi");
    alice.send("NOTICE #c :note");
    alice.send("TOPIC #c :t");
    alice.send("MODE #c +m");
    alice.send("NICK alice2");
    alice.send("PART #c");
    alice.send("JOIN #c");
    let mut ids = Vec::new();
    for cmd in [
        "TAGMSG", "PRIVMSG", "NOTICE", "TOPIC", "MODE", "NICK", "PART", "JOIN",
    ] {
        got.push(watcher.expect_command(cmd));
    }
    watcher.send("KICK #c alice2 :out");
    got.push(watcher.expect_command("KICK"));
    assert_eq!(got.len(), 11, "{got:#?}");
    for m in &got {
        let id = m.tag("msgid").unwrap_or_else(|| panic!("no msgid: {m}"));
        assert!(is_msgid(id), "{m}");
        ids.push(id.to_string());
    }
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "msgids are unique");
}

/// https://ircv3.net/specs/extensions/message-ids: the tag is a message tag, sent
/// only with message-tags.
#[test]
fn no_msgid_without_message_tags() {
    let server = TestServer::start();
    let mut plain = server.connect("plain");
    plain.join("#c");
    let mut alice = server.connect("alice");
    alice.join("#c");
    alice.send("PRIVMSG #c :hi");
    alice.sync();
    let got = plain.sync();
    assert!(got.iter().all(|m| m.tags.is_empty()), "{got:?}");
}
