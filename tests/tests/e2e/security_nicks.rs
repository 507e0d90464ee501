//! Nick protection under attack (issue 14, item 7): a registered account's nick held
//! by someone not logged in to it. Messages meant for the account reach the account
//! (its offline queue, or its sessions under other nicks), never the impostor; the
//! sender is told. A connection gets one grace period per protected nick: once it is
//! over, NICK to it again is refused with 433 (RFC 2812 §3.1.2, ERR_NICKNAMEINUSE)
//! until the connection logs in. Behaviour documented in docs/protocol.md "Nick
//! ownership".

use chatd_proto::numeric::*;
use chatd_proto::Message;
use chatd_tests::*;

const PW: &str = "hunter2hunter2";
const NICKSERV: &str = "NickServ!NickServ@services";

fn from_nickserv(m: &Message) -> bool {
    m.command == "NOTICE" && m.source.as_deref() == Some(NICKSERV)
}

fn is_queued_notice(m: &Message) -> bool {
    is_server_notice(m) && m.param(1).contains("queued")
}

/// Waits for the grace-period rename of `c`; follows it in `c.nick`.
fn expect_renamed(c: &mut Client) -> String {
    let got = c.recv_until(|m| m.command == "NICK", "the grace-period rename");
    let guest = got.last().unwrap().param(0).to_string();
    assert!(
        guest.starts_with("Guest"),
        "renamed to a guest nick: {got:?}"
    );
    c.nick = guest.clone();
    guest
}

#[test]
fn an_impostor_renamed_once_may_not_take_the_nick_again() {
    let server = TestServer::start_with(|c| c.accounts.nick_grace_secs = 1);
    server.create_account("bobby", PW);
    let mut impostor = server.connect("bobby");
    impostor.expect(from_nickserv, "the NickServ warning");
    let guest = expect_renamed(&mut impostor);

    impostor.send("NICK bobby");
    let refused = impostor.expect_numeric(ERR_NICKNAMEINUSE);
    assert_eq!(refused.param(1), "bobby", "{refused}");
    assert!(
        refused.param(2).contains("log in"),
        "the refusal says how to get the nick: {refused}"
    );
    // Any case of it: the same nick.
    impostor.send("NICK BOBBY");
    impostor.expect_numeric(ERR_NICKNAMEINUSE);
    let got = impostor.sync();
    assert!(!has(&got, "NICK"), "took the nick again: {got:?}");
    let mut whoiser = server.connect("whoiser");
    whoiser.send("WHOIS bobby");
    whoiser.expect_numeric(ERR_NOSUCHNICK);

    // Logging in to the account lifts the refusal.
    impostor.login("bobby", PW);
    impostor.send("NICK bobby");
    impostor.expect(
        |m| m.command == "NICK" && m.param(0) == "bobby",
        &format!("NICK {guest} -> bobby after logging in"),
    );
}

#[test]
fn leaving_and_retaking_a_protected_nick_gives_no_fresh_grace_period() {
    let server = TestServer::start_with(|c| c.accounts.nick_grace_secs = 1);
    server.create_account("bobby", PW);
    server.create_account("carol", PW);
    // The impostor takes bobby, then steps aside before the grace period ends.
    let mut impostor = server.connect("bobby");
    impostor.expect(from_nickserv, "the NickServ warning");
    impostor.send("NICK hopper");
    impostor.expect(
        |m| m.command == "NICK" && m.param(0) == "hopper",
        "NICK hopper",
    );
    impostor.nick = "hopper".into();
    // A witness whose grace period starts later: once it is renamed, the impostor's
    // grace period for bobby is over too.
    let mut witness = server.connect("carol");
    witness.expect(from_nickserv, "the NickServ warning");
    expect_renamed(&mut witness);

    impostor.send("NICK bobby");
    let refused = impostor.expect_numeric(ERR_NICKNAMEINUSE);
    assert_eq!(refused.param(1), "bobby", "{refused}");
}

#[test]
fn a_message_for_a_held_nick_goes_to_the_account_queue_not_the_impostor() {
    // A long grace period: the impostor holds the nick for the whole test.
    let server = TestServer::start_with(|c| c.accounts.nick_grace_secs = 600);
    server.create_account("bobby", PW);
    let mut impostor = server.connect("bobby");
    impostor.expect(from_nickserv, "the NickServ warning");
    let mut carol = server.connect("carol");
    carol.send("PRIVMSG bobby :the secret plan");
    let told = carol.expect(is_queued_notice, "the queued notice");
    assert!(
        told.param(1).contains("not logged in"),
        "the sender learns why: {told}"
    );
    carol.send("NOTICE bobby :a private notice");
    carol.expect(is_queued_notice, "the queued notice for the NOTICE");
    let got = impostor.sync();
    assert!(
        !got.iter()
            .any(|m| m.param(1).contains("secret plan") || m.param(1).contains("private")),
        "the impostor received the account's messages: {got:?}"
    );

    // The owner logs in elsewhere and gets both from the offline queue.
    let mut owner = server.connect("bob2");
    owner.login("bobby", PW);
    // Without server-time, a replayed line starts with its time in brackets.
    owner.expect(
        |m| {
            m.command == "PRIVMSG"
                && m.source_nick() == Some("carol")
                && m.param(1).ends_with("] the secret plan")
        },
        "the queued PRIVMSG from carol",
    );
    owner.expect(
        |m| m.command == "NOTICE" && m.param(1).ends_with("] a private notice"),
        "the queued NOTICE",
    );
    let got = impostor.sync();
    assert!(
        !got.iter().any(|m| m.param(1).contains("secret plan")),
        "the impostor received the account's messages: {got:?}"
    );
}

#[test]
fn while_the_owner_is_online_elsewhere_messages_reach_the_owner_live() {
    let server = TestServer::start_with(|c| c.accounts.nick_grace_secs = 600);
    server.create_account("bobby", PW);
    let mut owner = server.connect("bob2");
    owner.login("bobby", PW);
    let mut impostor = server.connect("bobby");
    impostor.expect(from_nickserv, "the NickServ warning");
    let mut carol = server.connect("carol");
    carol.send("PRIVMSG bobby :for the owner");
    let live = owner.expect_privmsg_from("carol", "for the owner");
    assert_eq!(
        live.param(0),
        "bob2",
        "retargeted to the owner's nick: {live}"
    );
    let got = impostor.sync();
    assert!(
        !got.iter().any(|m| m.param(1).contains("for the owner")),
        "the impostor received the owner's message: {got:?}"
    );
    // The impostor still talks as itself, and is answered by nick only through the
    // account: its own messages to others are delivered.
    impostor.send("PRIVMSG carol :hello from the impostor");
    carol.expect_privmsg_from("bobby", "hello from the impostor");
}
