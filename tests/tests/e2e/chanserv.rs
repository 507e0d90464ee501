//! ChanServ and `CHANNEL`: registering a channel, its information, access list,
//! transfer, drop, the history setting and expiry. chatd's own services commands
//! (docs/roles.md), shaped like those of Anope and Atheme that clients and users
//! know; answers are NOTICEs (https://modern.ircdocs.horse/#notice-message), the
//! `CHANNEL` form's errors standard replies
//! (https://ircv3.net/specs/extensions/standard-replies).

use chatd_proto::numeric::*;
use chatd_tests::*;
use std::time::Duration;

const PW: &str = "hunter22";

fn chanserv_says(c: &mut Client, command: &str) -> Vec<String> {
    c.send(&format!("PRIVMSG ChanServ :{command}"));
    c.sync()
        .into_iter()
        .filter(|m| m.command == "NOTICE" && m.source_nick() == Some("ChanServ"))
        .map(|m| m.param(1).to_string())
        .collect()
}

fn says(lines: &[String], part: &str) -> bool {
    lines.iter().any(|l| l.contains(part))
}

/// HELP lists the commands; the nick ChanServ is reserved.
/// https://modern.ircdocs.horse/#errnicknameinuse-433
#[test]
fn help_answers_in_notices_and_the_nick_is_reserved() {
    let server = TestServer::start();
    let mut c = server.connect("c");
    let help = chanserv_says(&mut c, "HELP");
    for command in ["REGISTER", "ACCESS", "TRANSFER", "DROP", "SET", "INFO"] {
        assert!(says(&help, command), "{command} in {help:?}");
    }
    let unknown = chanserv_says(&mut c, "FROB #c");
    assert!(says(&unknown, "Try HELP"), "{unknown:?}");
    c.send("NICK ChanServ");
    c.expect_numeric(ERR_NICKNAMEINUSE);
}

/// Registering needs an account and operator status in the channel; the CHANNEL
/// form answers errors as `FAIL CHANNEL <code>`.
/// https://ircv3.net/specs/extensions/standard-replies
#[test]
fn registering_needs_a_login_and_operator_status() {
    let server = TestServer::start();
    server.create_account("alice", PW);
    server.create_account("bob", PW);
    let mut guest = server.connect("guest");
    guest.join("#c");
    let said = chanserv_says(&mut guest, "REGISTER #c");
    assert!(says(&said, "must be logged in"), "{said:?}");
    guest.send("CHANNEL REGISTER #c");
    let fail = guest.expect_command("FAIL");
    assert_eq!(
        (fail.param(0), fail.param(1), fail.param(2)),
        ("CHANNEL", "ACCOUNT_REQUIRED", "#c")
    );
    let mut bob = server.connect_sasl("bob", "", "bob", PW);
    bob.join("#c");
    bob.send("CHANNEL REGISTER #c");
    let fail = bob.expect_command("FAIL");
    assert_eq!(fail.param(1), "NEED_OPERATOR", "{fail}");
    bob.send("CHANNEL REGISTER #nowhere");
    let fail = bob.expect_command("FAIL");
    assert_eq!(fail.param(1), "NO_SUCH_CHANNEL", "{fail}");
    // The operator registers it, once.
    let mut alice = server.connect_sasl("alice", "", "alice", PW);
    alice.join("#d");
    alice.send("CHANNEL REGISTER #d");
    let ok = alice.expect_command("NOTICE");
    assert!(ok.param(1).contains("is registered to alice"), "{ok}");
    alice.send("CHANNEL REGISTER #d");
    let fail = alice.expect_command("FAIL");
    assert_eq!(fail.param(1), "ALREADY_REGISTERED", "{fail}");
}

/// INFO, TRANSFER and DROP: only the founder transfers or drops, and the old
/// founder stays an operator on the access list.
#[test]
fn the_founder_transfers_and_the_new_founder_drops() {
    let server = TestServer::start();
    server.create_account("alice", PW);
    server.create_account("bob", PW);
    let mut alice = server.connect_sasl("alice", "", "alice", PW);
    alice.join("#c");
    chanserv_says(&mut alice, "REGISTER #c");
    let info = chanserv_says(&mut alice, "INFO #c");
    assert!(says(&info, "Founder: alice"), "{info:?}");
    let mut bob = server.connect_sasl("bob", "multi-prefix", "bob", PW);
    bob.join("#c");
    let said = chanserv_says(&mut bob, "DROP #c");
    assert!(says(&said, "Only the founder"), "{said:?}");
    let said = chanserv_says(&mut alice, "TRANSFER #c bob");
    assert!(says(&said, "bob is now the founder"), "{said:?}");
    // bob's role changes at once, told to the channel by ChanServ.
    let mode = bob.expect(
        |m| m.command == "MODE" && m.source_nick() == Some("ChanServ"),
        "MODE from ChanServ",
    );
    assert!(mode.param(1).starts_with('+'), "{mode}");
    let list = chanserv_says(&mut bob, "ACCESS #c LIST");
    assert!(says(&list, "founder bob"), "{list:?}");
    assert!(says(&list, "op alice"), "{list:?}");
    let said = chanserv_says(&mut alice, "DROP #c");
    assert!(says(&said, "Only the founder"), "{said:?}");
    let said = chanserv_says(&mut bob, "DROP #c");
    assert!(says(&said, "no longer registered"), "{said:?}");
    let info = chanserv_says(&mut bob, "INFO #c");
    assert!(says(&info, "is not registered"), "{info:?}");
}

/// The founder chooses who reads history from before they joined: with
/// `since-join` a new member reads nothing older than its join.
/// https://ircv3.net/specs/extensions/chathistory (what a member may read is the
/// server's policy).
#[test]
fn the_founder_decides_how_far_back_members_read() {
    let server = TestServer::start();
    server.create_account("alice", PW);
    server.create_account("carol", PW);
    let mut alice = server.connect_sasl("alice", "", "alice", PW);
    alice.join("#c");
    chanserv_says(&mut alice, "REGISTER #c");
    alice.send("PRIVMSG #c :said before carol came");
    alice.sync();
    let mut carol = server.connect_sasl("carol", "batch", "carol", PW);
    carol.join("#c");
    carol.send("HISTORY #c 10");
    let got = carol.expect_history_batch("#c");
    assert!(
        got.iter()
            .any(|m| m.param(1).ends_with("said before carol came")),
        "members: {got:?}"
    );
    carol.send("PART #c");
    carol.sync();
    let said = chanserv_says(&mut alice, "SET #c HISTORY since-join");
    assert!(says(&said, "since-join"), "{said:?}");
    let said = chanserv_says(&mut carol, "SET #c HISTORY members");
    assert!(says(&said, "Only the founder"), "{said:?}");
    carol.join("#c");
    alice.send("PRIVMSG #c :said after carol came back");
    carol.expect_privmsg_from("alice", "said after carol came back");
    carol.send("HISTORY #c 10");
    let got = carol.expect_history_batch("#c");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].param(1).ends_with("said after carol came back"),
        "{got:?}"
    );
}

/// An unused registered channel is dropped after `channels.registered_expire_days`;
/// one with members is in use.
#[test]
fn an_unused_registered_channel_expires() {
    let server = TestServer::start_with(|c| c.channels.registered_expire_days = 30);
    server.create_account("alice", PW);
    let mut alice = server.connect_sasl("alice", "", "alice", PW);
    alice.join("#empty");
    alice.join("#busy");
    chanserv_says(&mut alice, "REGISTER #empty");
    chanserv_says(&mut alice, "REGISTER #busy");
    alice.send("PART #empty");
    alice.sync();
    server.advance_clock(Duration::from_secs(31 * 86_400));
    alice.sync();
    alice.sync();
    let info = chanserv_says(&mut alice, "INFO #empty");
    assert!(says(&info, "is not registered"), "{info:?}");
    let info = chanserv_says(&mut alice, "INFO #busy");
    assert!(says(&info, "Founder: alice"), "{info:?}");
}
