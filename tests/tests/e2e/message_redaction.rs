//! IRCv3 draft/message-redaction
//! (<https://ircv3.net/specs/extensions/message-redaction>): `REDACT`, who may, who
//! is told, and the message gone from history and from an undelivered offline queue.

use chatd::config::OperConfig;
use chatd::store::password;
use chatd_proto::Message;
use chatd_tests::*;

const PW: &str = "hunter2hunter2";
const CAPS: &str = "draft/message-redaction message-tags echo-message batch server-time";

/// Sends `line` and returns the msgid of its echo.
fn say(c: &mut Client, target: &str, text: &str) -> String {
    c.send(&format!("PRIVMSG {target} :{text}"));
    let m = c.expect(
        |m| m.command == "PRIVMSG" && m.param(1) == text,
        &format!("echo of {text}"),
    );
    m.tag("msgid").expect("a msgid").to_string()
}

fn fail(c: &mut Client) -> Message {
    c.expect_command("FAIL")
}

fn texts_of(c: &mut Client, target: &str) -> Vec<String> {
    c.send(&format!("CHATHISTORY LATEST {target} * 50"));
    c.expect_history_batch(target)
        .iter()
        .map(|m| m.param(1).to_string())
        .collect()
}

// "Command": the sender redacts its own message; recipients with the capability get
// the REDACT, others nothing (the "MUST not forward"); "Chat history": it is gone.
#[test]
fn the_sender_redacts_its_channel_message_for_everyone() {
    let server = TestServer::start();
    server.create_account("alice", PW);
    let mut alice = server.connect_sasl("alice", CAPS, "alice", PW);
    let mut bob = server.connect_with_caps("bob", CAPS);
    let mut plain = server.connect("plain");
    for c in [&mut alice, &mut bob, &mut plain] {
        join(c, "#c");
    }
    alice.sync();
    let id = say(&mut alice, "#c", "oops");
    say(&mut alice, "#c", "kept");
    bob.expect_privmsg_from("alice", "kept");
    alice.send(&format!("REDACT #c {id} :typo"));
    let r = alice.expect_command("REDACT");
    assert_eq!(
        (r.param(0), r.param(1), r.param(2)),
        ("#c", id.as_str(), "typo"),
        "{r}"
    );
    assert_eq!(r.source_nick(), Some("alice"));
    let r = bob.expect_command("REDACT");
    assert_eq!(r.param(1), id, "{r}");
    let got = plain.sync();
    assert!(got.iter().all(|m| m.command != "REDACT"), "{got:?}");
    assert_eq!(texts_of(&mut bob, "#c"), ["kept"]);
    plain.send("HISTORY #c 10");
    let got = plain.store_sync();
    assert!(got.iter().all(|m| !m.param(1).contains("oops")), "{got:?}");
    // Once gone, it is unknown.
    alice.send(&format!("REDACT #c {id}"));
    let f = fail(&mut alice);
    assert_eq!(
        (f.param(1), f.param(3)),
        ("UNKNOWN_MSGID", id.as_str()),
        "{f}"
    );
}

// "Errors": REDACT_FORBIDDEN for someone else's message; channel operators and IRC
// operators ("Server implementation considerations") may.
#[test]
fn only_the_sender_channel_operators_and_irc_operators_may_redact() {
    let server = TestServer::start_with(|c| {
        c.oper = vec![OperConfig {
            name: "admin".into(),
            password: password::hash("opersecret", 1000).to_string(),
            ..Default::default()
        }];
    });
    server.create_account("bob", PW);
    let mut op = server.connect_with_caps("op", CAPS);
    join(&mut op, "#c");
    let mut bob = server.connect_sasl("bob", CAPS, "bob", PW);
    let mut eve = server.connect_with_caps("eve", CAPS);
    let mut ircop = server.connect_with_caps("ircop", CAPS);
    join(&mut bob, "#c");
    join(&mut eve, "#c");
    let first = say(&mut bob, "#c", "one");
    let second = say(&mut bob, "#c", "two");
    eve.send(&format!("REDACT #c {first}"));
    let f = fail(&mut eve);
    assert_eq!(
        (f.param(0), f.param(1), f.param(2), f.param(3)),
        ("REDACT", "REDACT_FORBIDDEN", "#c", first.as_str()),
        "{f}"
    );
    op.send(&format!("REDACT #c {first} :spam"));
    let r = bob.expect_command("REDACT");
    assert_eq!(
        (r.source_nick(), r.param(1)),
        (Some("op"), first.as_str()),
        "{r}"
    );
    ircop.send("OPER admin opersecret");
    ircop.expect_numeric(chatd_proto::numeric::RPL_YOUREOPER);
    ircop.send(&format!("REDACT #c {second}"));
    let r = bob.expect_command("REDACT");
    assert_eq!(
        (r.source_nick(), r.param(1)),
        (Some("ircop"), second.as_str()),
        "{r}"
    );
    assert!(texts_of(&mut eve, "#c").is_empty());
}

// "Security considerations" of the spec: a msgid of another channel, or of a private
// conversation the asker is not in, is unknown through this target, and an unknown
// target is INVALID_TARGET.
#[test]
fn a_msgid_is_redactable_only_through_its_own_conversation() {
    let server = TestServer::start();
    let mut alice = server.connect_with_caps("alice", CAPS);
    let mut bob = server.connect_with_caps("bob", CAPS);
    let mut eve = server.connect_with_caps("eve", CAPS);
    join(&mut alice, "#secret");
    join(&mut eve, "#open");
    join(&mut alice, "#open");
    let in_secret = say(&mut alice, "#secret", "hidden");
    // eve is operator of #open: still not a way into #secret's messages.
    eve.send(&format!("REDACT #open {in_secret}"));
    let f = fail(&mut eve);
    assert_eq!(f.param(1), "UNKNOWN_MSGID", "{f}");
    eve.send(&format!("REDACT #secret {in_secret}"));
    let f = fail(&mut eve);
    assert_eq!(
        (f.param(1), f.param(2)),
        ("INVALID_TARGET", "#secret"),
        "{f}"
    );
    eve.send("REDACT #open nonsense");
    assert_eq!(fail(&mut eve).param(1), "UNKNOWN_MSGID");

    let private = say(&mut alice, "bob", "just us");
    bob.expect_privmsg_from("alice", "just us");
    // eve is not a party: through her own conversation with bob it is unknown.
    eve.send(&format!("REDACT bob {private}"));
    assert_eq!(fail(&mut eve).param(1), "UNKNOWN_MSGID");
    eve.send(&format!("REDACT alice {private}"));
    assert_eq!(fail(&mut eve).param(1), "UNKNOWN_MSGID");
    // bob is a party but not the sender.
    bob.send(&format!("REDACT alice {private}"));
    assert_eq!(fail(&mut bob).param(1), "REDACT_FORBIDDEN");
    // The sender may: bob is told, and the history is empty for both.
    alice.send(&format!("REDACT bob {private}"));
    let r = bob.expect_command("REDACT");
    assert_eq!((r.param(0), r.param(1)), ("bob", private.as_str()), "{r}");
    alice.expect_command("REDACT");
    assert!(texts_of(&mut bob, "alice").is_empty());
    assert!(texts_of(&mut alice, "bob").is_empty());
    // And the channel message is still there for #secret's member.
    assert_eq!(texts_of(&mut alice, "#secret"), ["hidden"]);
}

// A message redacted before its offline recipient logs in is never delivered.
#[test]
fn a_redacted_message_leaves_the_offline_queue() {
    let server = TestServer::start();
    server.create_account("alice", PW);
    server.create_account("bob", PW);
    let mut alice = server.connect_sasl("alice", CAPS, "alice", PW);
    let gone = say(&mut alice, "bob", "regret this");
    say(&mut alice, "bob", "but not this");
    alice.send(&format!("REDACT bob {gone}"));
    alice.expect_command("REDACT");
    let mut bob = server.connect_sasl("bob", "", "bob", PW);
    bob.expect(
        |m| m.command == "PRIVMSG" && m.param(1).ends_with("but not this"),
        "the queued message that stays",
    );
    let got = bob.store_sync();
    assert!(
        got.iter().all(|m| !m.param(1).contains("regret")),
        "{got:?}"
    );
    assert!(!bob.received().iter().any(|l| l.contains("regret")));
}

#[test]
fn the_capability_is_advertised() {
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    let ls = c.expect(|m| m.command == "CAP" && m.param(1) == "LS", "CAP LS");
    let caps = ls.params.last().unwrap().to_string();
    assert!(
        caps.split(' ').any(|c| c == "draft/message-redaction"),
        "{ls}"
    );
}

// "Command": forwarded "in the same way as PRIVMSG messages": a private message
// reaches every connection of the recipient's account, and so does its REDACT; the
// sender's other connections learn it too.
#[test]
fn a_private_redaction_reaches_every_connection_of_both_accounts() {
    let server = TestServer::start();
    server.create_account("alice", PW);
    server.create_account("bob", PW);
    let mut alice = server.connect_sasl("alice", CAPS, "alice", PW);
    let mut alice2 = server.connect_sasl("alice2", CAPS, "alice", PW);
    let mut bob = server.connect_sasl("bob", CAPS, "bob", PW);
    let mut bob2 = server.connect_sasl("bob2", CAPS, "bob", PW);
    let id = say(&mut alice, "bob", "to both of you");
    bob.expect_privmsg_from("alice", "to both of you");
    alice.send(&format!("REDACT bob {id}"));
    for c in [&mut alice, &mut alice2, &mut bob, &mut bob2] {
        let r = c.expect_command("REDACT");
        assert_eq!((r.param(0), r.param(1)), ("bob", id.as_str()), "{r}");
    }
}
