//! IRCv3 account-tag, https://ircv3.net/specs/extensions/account-tag: "the server
//! SHOULD add the account tag to all messages the user sends" — every relayed
//! command, not only PRIVMSG and NOTICE; never to clients without the capability,
//! never for a client not logged in.

use chatd_tests::*;

/// https://ircv3.net/specs/extensions/account-tag ("attached to any message sent by
/// a logged-in user"): INVITE, TOPIC, MODE, TAGMSG, AWAY, NICK, KICK, PART, JOIN, QUIT.
#[test]
fn every_relayed_command_carries_the_account() {
    let server = TestServer::start();
    server.create_account("alice", "hunter22");
    let mut watcher = server.connect_with_caps("watcher", "account-tag message-tags away-notify");
    watcher.join("#c");
    let mut plain = server.connect("plain");
    plain.join("#c");
    let mut invitee = server.connect_with_caps("invitee", "account-tag");
    let mut alice = server.connect_sasl("alice", "message-tags", "alice", "hunter22");
    alice.join("#c");
    watcher.send("MODE #c +o alice");
    watcher.sync();
    alice.sync();
    let lines = [
        ("TOPIC #c :hello", "TOPIC"),
        ("MODE #c +m", "MODE"),
        ("@+typing=active TAGMSG #c", "TAGMSG"),
        ("AWAY :lunch", "AWAY"),
        ("NICK alice2", "NICK"),
        ("KICK #c plain :bye", "KICK"),
        ("PART #c :later", "PART"),
        ("JOIN #c", "JOIN"),
        ("QUIT :done", "QUIT"),
    ];
    alice.send("INVITE invitee #c");
    let m = invitee.expect_command("INVITE");
    assert_eq!(m.tag("account"), Some("alice"), "INVITE: {m}");
    for (line, cmd) in lines {
        alice.send(line);
        let m = watcher.expect_command(cmd);
        assert_eq!(m.tag("account"), Some("alice"), "{line}: {m}");
    }
    let got = plain.sync();
    assert!(
        got.iter().all(|m| m.tag("account").is_none()),
        "no tags without the cap: {got:?}"
    );
}

/// https://ircv3.net/specs/extensions/account-tag: no tag for a user not logged in.
#[test]
fn no_account_no_tag() {
    let server = TestServer::start();
    let mut watcher = server.connect_with_caps("watcher", "account-tag");
    watcher.join("#c");
    let mut guest = server.connect("guest");
    guest.join("#c");
    let got = watcher.sync();
    assert_eq!(one(&got, "JOIN").tag("account"), None);
}
