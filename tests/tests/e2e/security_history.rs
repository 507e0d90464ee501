//! Issue 14, history data model — who may read what the store keeps:
//! - a channel that is created again is a new channel (a new incarnation): its
//!   members read nothing of an earlier one, whether it emptied, they were kicked and
//!   banned from it, or the server restarted (IRCv3 draft/chathistory: history is
//!   that of the target the client may read);
//! - history, offline queues and remembered channels belong to an account's stable
//!   id: an account registered under a deleted one's name starts empty;
//! - huge HISTORY durations and counts, and far-past or far-future CHATHISTORY
//!   timestamps, are clamped, never overflowed into an empty answer; what cannot be
//!   read is refused with `FAIL <cmd> INVALID_PARAMS` (draft/chathistory "Errors").

use chatd_proto::numeric::*;
use chatd_proto::Message;
use chatd_tests::*;

const PW: &str = "hunter2hunter2";
/// What a history-aware client negotiates.
const HIST_CAPS: &str = "batch server-time message-tags draft/chathistory";
const EVER: &str = "timestamp=2000-01-01T00:00:00.000Z";
const NEVER: &str = "timestamp=2100-01-01T00:00:00.000Z";

fn texts(msgs: &[Message]) -> Vec<String> {
    msgs.iter().map(|m| m.param(1).to_string()).collect()
}

/// Sends a CHATHISTORY/HISTORY line and returns the texts of its batch for `target`.
fn ask(c: &mut Client, line: &str, target: &str) -> Vec<String> {
    c.send(line);
    texts(&c.expect_history_batch(target))
}

/// Every way draft/chathistory and HISTORY read a channel, each answer's texts.
fn every_read(c: &mut Client, chan: &str) -> Vec<(String, Vec<String>)> {
    let around = "timestamp=2050-01-01T00:00:00.000Z";
    [
        format!("CHATHISTORY LATEST {chan} * 100"),
        format!("CHATHISTORY BEFORE {chan} {NEVER} 100"),
        format!("CHATHISTORY AFTER {chan} {EVER} 100"),
        format!("CHATHISTORY AROUND {chan} {around} 100"),
        format!("CHATHISTORY BETWEEN {chan} {EVER} {NEVER} 100"),
        format!("HISTORY {chan} 100"),
        format!("HISTORY {chan} 52w"),
    ]
    .into_iter()
    .map(|line| {
        let got = ask(c, &line, chan);
        (line, got)
    })
    .collect()
}

/// The names CHATHISTORY TARGETS lists for `c` over all time.
fn targets(c: &mut Client) -> Vec<String> {
    c.send(&format!("CHATHISTORY TARGETS {EVER} {NEVER} 100"));
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
    got.iter()
        .map(|m| m.param(1).to_ascii_lowercase())
        .collect()
}

/// Asserts `c` reads nothing of `chan` by any history command, nor sees it in TARGETS.
fn reads_nothing(c: &mut Client, chan: &str) {
    for (line, got) in every_read(c, chan) {
        assert!(got.is_empty(), "{line} answered {got:?}");
    }
    let listed = targets(c);
    assert!(!listed.contains(&chan.to_ascii_lowercase()), "{listed:?}");
}

#[test]
fn issue14_recreated_invite_only_channel_shows_nothing_of_the_one_before() {
    let server = TestServer::start();
    let mut alice = server.connect_with_caps("alice", HIST_CAPS);
    let mut dave = server.connect_with_caps("dave", HIST_CAPS);
    join(&mut alice, "#secret");
    alice.send("MODE #secret +ik key");
    alice.send("PRIVMSG #secret :the launch code is 1234");
    alice.send("PRIVMSG #secret :do not tell dave");
    alice.sync();
    dave.send("JOIN #secret key");
    dave.expect_numeric(ERR_INVITEONLYCHAN);
    alice.send("PART #secret");
    alice.sync();

    // The channel is gone; dave creates a new, empty #secret.
    join(&mut dave, "#secret");
    reads_nothing(&mut dave, "#secret");
    // What is said in the new channel is its history.
    dave.send("PRIVMSG #secret :mine now");
    dave.sync();
    assert_eq!(
        ask(&mut dave, "CHATHISTORY LATEST #secret * 100", "#secret"),
        ["mine now"]
    );
    // alice, back in it, reads the new channel's history, not her old one.
    join(&mut alice, "#secret");
    assert_eq!(
        ask(&mut alice, "CHATHISTORY LATEST #secret * 100", "#secret"),
        ["mine now"]
    );
}

#[test]
fn issue14_kicked_and_banned_user_reads_nothing_after_the_channel_is_recreated() {
    let server = TestServer::start();
    let mut alice = server.connect_with_caps("alice", HIST_CAPS);
    let mut bob = server.connect_with_caps("bob", HIST_CAPS);
    let mut dave = server.connect_with_caps("dave", HIST_CAPS);
    join(&mut alice, "#c");
    join(&mut bob, "#c");
    join(&mut dave, "#c");
    alice.send("MODE #c +b dave!*@*");
    alice.send("KICK #c dave :out");
    dave.expect(|m| m.command == "KICK", "KICK");
    alice.send("PRIVMSG #c :now that dave is gone");
    bob.expect_privmsg_from("alice", "now that dave is gone");
    dave.send("JOIN #c");
    dave.expect_numeric(ERR_BANNEDFROMCHAN);
    alice.send("PART #c");
    bob.send("PART #c");
    alice.sync();
    bob.sync();

    join(&mut dave, "#c");
    reads_nothing(&mut dave, "#c");
}

#[test]
fn issue14_after_a_restart_every_channel_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = TestServer::start_in(&data, |_| {});
    let mut alice = server.connect_with_caps("alice", HIST_CAPS);
    join(&mut alice, "#secret");
    alice.send("MODE #secret +ik key");
    alice.send("PRIVMSG #secret :before the restart");
    alice.sync();
    server.stop();

    let server = TestServer::start_in(&data, |_| {});
    let mut dave = server.connect_with_caps("dave", HIST_CAPS);
    join(&mut dave, "#secret");
    reads_nothing(&mut dave, "#secret");
    server.stop();
}

#[test]
fn issue14_remembered_member_refused_by_a_recreated_channel_reads_nothing_of_it() {
    let server = TestServer::start();
    server.create_account("bob", PW);
    let mut bob = server.connect_sasl("bob", HIST_CAPS, "bob", PW);
    let mut alice = server.connect_with_caps("alice", HIST_CAPS);
    join(&mut bob, "#c");
    join(&mut alice, "#c");
    bob.quit();
    alice.send("PRIVMSG #c :bob missed this");
    alice.send("PART #c");
    alice.sync();
    // A new #c, invite-only, where bob never was.
    let mut dave = server.connect_with_caps("dave", HIST_CAPS);
    join(&mut dave, "#c");
    dave.send("MODE #c +i");
    dave.send("PRIVMSG #c :not for bob");
    dave.sync();

    let mut bob = server.connect_sasl("bob", HIST_CAPS, "bob", PW);
    let got = bob.store_sync();
    assert!(!got.iter().any(|m| m.param(1) == "not for bob"), "{got:#?}");
    assert!(
        !got.iter()
            .any(|m| m.command == "JOIN" && m.source_nick() == Some("bob")),
        "the new #c is invite-only and bob was not in it: {got:#?}"
    );
    // The old channel's membership is forgotten: the next login tries nothing.
    bob.quit();
    dave.send("MODE #c -i");
    dave.sync();
    let mut bob = server.connect_sasl("bob", HIST_CAPS, "bob", PW);
    let got = bob.store_sync();
    assert!(!has(&got, "JOIN"), "{got:#?}");
}

#[test]
fn issue14_remembered_member_banned_while_away_is_refused_and_replays_nothing() {
    let server = TestServer::start();
    server.create_account("bob", PW);
    let mut alice = server.connect_with_caps("alice", HIST_CAPS);
    let mut bob = server.connect_sasl("bob", HIST_CAPS, "bob", PW);
    join(&mut alice, "#c");
    join(&mut bob, "#c");
    bob.quit();
    alice.send("MODE #c +b bob!*@*");
    alice.send("PRIVMSG #c :after the ban");
    alice.sync();

    let mut bob = server.connect_sasl("bob", HIST_CAPS, "bob", PW);
    let got = bob.store_sync();
    assert!(has(&got, ERR_BANNEDFROMCHAN), "{got:#?}");
    assert!(!has(&got, "JOIN"), "{got:#?}");
    assert!(
        !got.iter().any(|m| m.param(1) == "after the ban"),
        "{got:#?}"
    );
}

#[test]
fn issue14_remembered_member_banned_while_away_misses_nothing_after_the_ban_once_the_channel_is_gone(
) {
    let server = TestServer::start();
    server.create_account("bob", PW);
    let mut alice = server.connect_with_caps("alice", HIST_CAPS);
    let mut bob = server.connect_sasl("bob", HIST_CAPS, "bob", PW);
    join(&mut alice, "#c");
    join(&mut bob, "#c");
    bob.quit();
    alice.send("PRIVMSG #c :before the ban");
    alice.send("MODE #c +b bob!*@*");
    alice.send("PRIVMSG #c :after the ban");
    alice.send("PART #c");
    alice.sync();

    // #c is gone with its ban list; bob creates a new one at login.
    let mut bob = server.connect_sasl("bob", HIST_CAPS, "bob", PW);
    let got = bob.store_sync();
    assert!(has(&got, "JOIN"), "{got:#?}");
    let missed = history_batch_in(&got, "#c").expect("a chathistory batch for #c");
    let missed: Vec<&str> = missed.iter().map(|m| m.param(1)).collect();
    assert_eq!(missed, ["before the ban"], "{got:#?}");
    reads_nothing(&mut bob, "#c");
}

#[test]
fn issue14_reregistered_account_inherits_nothing_of_a_deleted_one() {
    let server = TestServer::start();
    server.create_account("alice", PW);
    server.create_account("bob", PW);
    let mut alice = server.connect_sasl("alice", HIST_CAPS, "alice", PW);
    let mut bob = server.connect_sasl("bob", HIST_CAPS, "bob", PW);
    join(&mut bob, "#c");
    alice.send("PRIVMSG bob :our secret plan");
    bob.expect_privmsg_from("alice", "our secret plan");
    bob.send("PRIVMSG alice :agreed");
    alice.expect_privmsg_from("bob", "agreed");
    bob.quit();
    alice.send("PRIVMSG bob :queued for the real bob");
    alice.expect(
        |m| is_server_notice(m) && m.param(1).contains("queued"),
        "the queued notice",
    );

    let reply = server.admin(serde_json::json!({"id": 1, "cmd": "accounts-delete", "name": "bob"}));
    assert_eq!(reply["ok"], true, "{reply}");

    // Someone else registers the free name.
    let mut eve = server.connect_with_caps("bob", HIST_CAPS);
    eve.register_account("bob", "another-password");
    let got = eve.store_sync();
    assert!(
        !got.iter().any(
            |m| matches!(m.command.as_str(), "PRIVMSG" | "NOTICE" | "JOIN")
                && m.source_nick() != Some("NickServ")
                && !is_server_notice(m)
        ),
        "no queued message, no remembered channel: {got:#?}"
    );
    assert!(
        ask(&mut eve, "CHATHISTORY LATEST alice * 100", "alice").is_empty(),
        "the deleted bob's conversation with alice"
    );
    assert!(ask(&mut eve, "HISTORY alice 100", "alice").is_empty());
    assert!(targets(&mut eve).is_empty());
    // Logging in again later (a fresh session) changes nothing.
    eve.quit();
    let mut eve = server.connect_sasl("bob", HIST_CAPS, "bob", "another-password");
    let got = eve.store_sync();
    assert!(!has(&got, "JOIN") && !has(&got, "PRIVMSG"), "{got:#?}");
    assert!(targets(&mut eve).is_empty());
}

#[test]
fn issue14_huge_history_bounds_are_clamped_not_overflowed() {
    let server = TestServer::start();
    let mut alice = server.connect_with_caps("alice", HIST_CAPS);
    join(&mut alice, "#c");
    for text in ["one", "two", "three"] {
        alice.send(&format!("PRIVMSG #c :{text}"));
    }
    alice.sync();
    let all = ["one", "two", "three"];
    let far_past = "timestamp=0000-01-01T00:00:00Z";
    let far_future = "timestamp=9999-12-31T23:59:59.999Z";
    for line in [
        "HISTORY #c 153722867280912w".to_string(),
        "HISTORY #c 99999999999999999999999".to_string(),
        "HISTORY #c 99999999999999999999999d".to_string(),
        "CHATHISTORY LATEST #c * 99999999999999999999999".to_string(),
        format!("CHATHISTORY BEFORE #c {far_future} 100"),
        format!("CHATHISTORY AFTER #c {far_past} 100"),
        format!("CHATHISTORY BETWEEN #c {far_past} {far_future} 100"),
        format!("CHATHISTORY BETWEEN #c {far_future} {far_past} 100"),
        format!("CHATHISTORY AROUND #c {far_future} 100"),
    ] {
        assert_eq!(ask(&mut alice, &line, "#c"), all, "{line}");
    }
    // Nothing is later than the far future or earlier than the far past.
    assert!(ask(
        &mut alice,
        &format!("CHATHISTORY LATEST #c {far_future} 100"),
        "#c"
    )
    .is_empty());
    assert!(ask(
        &mut alice,
        &format!("CHATHISTORY BEFORE #c {far_past} 100"),
        "#c"
    )
    .is_empty());
    alice.send(&format!(
        "CHATHISTORY TARGETS {far_past} {far_future} 99999999999999999999999"
    ));
    let start = alice.expect(
        |m| m.command == "BATCH" && m.param(1) == "draft/chathistory-targets",
        "the targets batch",
    );
    let end = format!("-{}", &start.param(0)[1..]);
    let got = alice.recv_until(|m| m.command == "BATCH" && m.param(0) == end, "its end");
    assert_eq!(got.len(), 2, "#c and the batch end: {got:#?}");

    // What is not a count, a duration or a timestamp is refused.
    for (line, cmd) in [
        ("HISTORY #c -5", "HISTORY"),
        ("HISTORY #c -5m", "HISTORY"),
        ("CHATHISTORY LATEST #c * -1", "CHATHISTORY"),
        (
            "CHATHISTORY BEFORE #c timestamp=99999-01-01T00:00:00Z 10",
            "CHATHISTORY",
        ),
    ] {
        alice.send(line);
        let f = alice.expect_command("FAIL");
        assert_eq!(
            (f.param(0), f.param(1)),
            (cmd, "INVALID_PARAMS"),
            "{line}: {f}"
        );
    }
}
