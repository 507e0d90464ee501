//! Offline delivery and remembered channels — a PRIVMSG/NOTICE to a registered
//! account with no connection is queued (the sender is told once it is stored) and
//! delivered at the account's next login, in order, with original times (`@time` with
//! IRCv3 server-time, a readable prefix without); channels a logged-in account joined
//! are rejoined at login with what it missed; all of it survives a graceful restart.

use chatd_proto::numeric::*;
use chatd_proto::Message;
use chatd_tests::*;

const PW: &str = "hunter2hunter2";
const HIST_CAPS: &str = "batch server-time message-tags";

fn queued_text(name: &str) -> String {
    format!("{name} is offline; your message was queued and will be delivered when they log in")
}

/// Waits for the server's "queued" notice about `name`.
fn expect_queued(c: &mut Client, name: &str) -> Message {
    let want = queued_text(name);
    c.expect(
        |m| is_server_notice(m) && m.param(1) == want,
        &format!("NOTICE {want:?}"),
    )
}

fn is_delivered_notice(m: &Message) -> bool {
    is_server_notice(m) && m.param(1).ends_with("delivered while you were away")
}

/// Reads a login's offline-queue delivery up to its closing notice; returns the
/// delivered messages (those from users) and the notice.
fn expect_delivery(c: &mut Client) -> (Vec<Message>, Message) {
    let mut got = c.recv_until(is_delivered_notice, "the offline queue delivery notice");
    let end = got.pop().unwrap();
    got.retain(is_from_user);
    (got, end)
}

/// A PRIVMSG/NOTICE from a user (not the server, not NickServ).
fn is_from_user(m: &Message) -> bool {
    matches!(m.command.as_str(), "PRIVMSG" | "NOTICE")
        && m.source
            .as_deref()
            .is_some_and(|s| s.contains('!') && !s.starts_with("NickServ!"))
}

fn texts<'a>(msgs: impl IntoIterator<Item = &'a Message>) -> Vec<&'a str> {
    msgs.into_iter().map(|m| m.param(1)).collect()
}

/// The channels `got` shows `nick` joining.
fn joins(got: &[Message], nick: &str) -> Vec<String> {
    got.iter()
        .filter(|m| m.command == "JOIN" && m.source_nick() == Some(nick))
        .map(|m| m.param(0).to_string())
        .collect()
}

#[test]
fn queued_messages_are_delivered_at_login_in_order_with_their_time() {
    let server = TestServer::start();
    server.create_account("bob", PW);
    let mut alice = server.connect_with_caps("alice", "echo-message server-time");
    let mut sent_times = Vec::new();
    for line in ["PRIVMSG bob :one", "NOTICE bob :two", "PRIVMSG Bob :three"] {
        alice.send(line);
        let echo = alice.expect(is_from_user, "the echo");
        sent_times.push(echo.tag("time").unwrap_or_default().to_string());
        expect_queued(&mut alice, "bob");
    }

    let mut bob = server.connect_with_caps("bobby", "server-time");
    bob.login("bob", PW);
    let (msgs, end) = expect_delivery(&mut bob);
    assert_eq!(texts(&msgs), ["one", "two", "three"], "{msgs:#?}");
    assert_eq!(commands(&msgs), ["PRIVMSG", "NOTICE", "PRIVMSG"]);
    for m in &msgs {
        assert_eq!(m.source.as_deref(), Some("alice!~alice@127.0.0.1"), "{m}");
        assert_eq!(m.param(0), "bobby", "addressed to the current nick: {m}");
    }
    let times: Vec<&str> = msgs.iter().map(|m| m.tag("time").unwrap_or("")).collect();
    assert_eq!(times, sent_times, "each with the time it was sent");
    assert_eq!(end.param(0), "bobby");
    assert_eq!(
        end.param(1),
        "3 messages were delivered while you were away"
    );
}

#[test]
fn queued_messages_without_server_time_get_a_readable_time_prefix() {
    let server = TestServer::start();
    server.create_account("bob", PW);
    let mut alice = server.connect_with_caps("alice", "echo-message server-time");
    alice.send("PRIVMSG bob :hello");
    let sent = alice.expect(is_from_user, "the echo");
    let sent = sent.tag("time").unwrap_or_default().to_string();
    expect_queued(&mut alice, "bob");

    // Logged in with PASS account:password, as netcat users may.
    let mut bob = server.connect_raw();
    bob.send(&format!("PASS bob:{PW}"));
    bob.register("bob");
    let (msgs, end) = expect_delivery(&mut bob);
    assert_eq!(msgs.len(), 1, "{msgs:#?}");
    assert!(msgs[0].tags.is_empty(), "{}", msgs[0]);
    let (when, rest) = split_time_prefix(msgs[0].param(1))
        .unwrap_or_else(|| panic!("[YYYY-MM-DD HH:MM:SS UTC] prefix: {}", msgs[0]));
    assert_eq!(rest, "hello");
    assert_eq!(
        when,
        sent.get(..19).unwrap_or_default().replace('T', " "),
        "{sent}"
    );
    assert_eq!(end.param(1), "1 message was delivered while you were away");
}

#[test]
fn delivered_messages_are_removed_from_the_queue() {
    let server = TestServer::start();
    server.create_account("bob", PW);
    let mut alice = server.connect("alice");
    for i in 0..2 {
        alice.send(&format!("PRIVMSG bob :m{i}"));
        expect_queued(&mut alice, "bob");
    }
    let mut bob = server.connect_sasl("bob", "", "bob", PW);
    let (msgs, _) = expect_delivery(&mut bob);
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    bob.quit();

    let mut again = server.connect_sasl("bob", "", "bob", PW);
    let got = again.store_sync();
    assert!(
        !got.iter()
            .any(|m| is_from_user(m) || is_delivered_notice(m)),
        "delivered twice: {got:#?}"
    );
}

#[test]
fn every_login_door_delivers_the_queue() {
    let server = TestServer::start();
    let doors = ["vialogin", "viasasl", "viapass", "vianickserv"];
    for name in doors {
        server.create_account(name, PW);
    }
    let mut alice = server.connect("alice");
    for name in doors {
        alice.send(&format!("PRIVMSG {name} :for {name}"));
        expect_queued(&mut alice, name);
    }
    let mut clients = Vec::new();
    let mut c = server.connect("u1");
    c.send(&format!("LOGIN vialogin {PW}"));
    clients.push(("vialogin", c));
    clients.push(("viasasl", server.connect_sasl("u2", "", "viasasl", PW)));
    let mut c = server.connect_raw();
    c.send(&format!("PASS viapass:{PW}"));
    c.register("u3");
    clients.push(("viapass", c));
    let mut c = server.connect("u4");
    c.send(&format!("PRIVMSG NickServ :IDENTIFY vianickserv {PW}"));
    clients.push(("vianickserv", c));
    for (name, mut c) in clients {
        let (msgs, end) = expect_delivery(&mut c);
        // None of these negotiated server-time: each text has its time prefix.
        let unprefixed: Vec<Option<&str>> = texts(&msgs)
            .into_iter()
            .map(|t| split_time_prefix(t).map(|(_, rest)| rest))
            .collect();
        let want = format!("for {name}");
        assert_eq!(unprefixed, [Some(want.as_str())], "{name}: {msgs:#?}");
        assert_eq!(end.param(1), "1 message was delivered while you were away");
    }
}

#[test]
fn a_full_queue_refuses_with_fail_and_keeps_what_it_has() {
    let server = TestServer::start_with(|c| c.history.queue_max_messages = 2);
    server.create_account("bob", PW);
    let mut alice = server.connect("alice");
    for i in 0..2 {
        alice.send(&format!("PRIVMSG bob :kept {i}"));
        expect_queued(&mut alice, "bob");
    }
    alice.send("PRIVMSG bob :one too many");
    let f = alice.expect_command("FAIL");
    assert_eq!(
        (f.param(0), f.param(1), f.param(2)),
        ("PRIVMSG", "QUEUE_FULL", "bob"),
        "{f}"
    );
    assert!(!f.param(3).is_empty(), "{f}");
    let got = alice.store_sync();
    assert!(
        !got.iter().any(|m| m.param(1) == queued_text("bob")),
        "refused and queued: {got:#?}"
    );

    let mut bob = server.connect_sasl("bob", "server-time", "bob", PW);
    let (msgs, end) = expect_delivery(&mut bob);
    assert_eq!(texts(&msgs), ["kept 0", "kept 1"]);
    assert_eq!(
        end.param(1),
        "2 messages were delivered while you were away"
    );
}

#[test]
fn a_message_to_an_unknown_nick_is_still_401() {
    let server = TestServer::start();
    server.connect("passerby").quit();
    let mut alice = server.connect("alice");
    for nick in ["nobody", "passerby"] {
        alice.send(&format!("PRIVMSG {nick} :hello?"));
        let e = alice.expect_numeric(ERR_NOSUCHNICK);
        assert_eq!(e.param(1), nick, "{e}");
    }
    let got = alice.store_sync();
    assert!(
        !got.iter().any(|m| m.param(1).contains("queued")),
        "{got:#?}"
    );
}

#[test]
fn an_account_online_under_another_nick_gets_its_messages_at_once() {
    let server = TestServer::start();
    server.create_account("bob", PW);
    let mut bob = server.connect_sasl("bobby", "server-time", "bob", PW);
    let mut alice = server.connect("alice");
    alice.send("PRIVMSG bob :are you there");
    let m = bob.expect_privmsg_from("alice", "are you there");
    assert_eq!(m.param(0), "bobby", "{m}");
    let got = alice.store_sync();
    assert!(
        !got.iter()
            .any(|m| m.param(1).contains("queued") || m.command == ERR_NOSUCHNICK),
        "{got:#?}"
    );
    bob.quit();
    let mut again = server.connect_sasl("bobby", "", "bob", PW);
    let got = again.store_sync();
    assert!(!got.iter().any(is_from_user), "also queued: {got:#?}");
}

#[test]
fn a_live_message_to_an_account_under_another_nick_has_no_time_prefix() {
    let server = TestServer::start();
    server.create_account("bob", PW);
    // No server-time: a message that arrives as it is sent reads as it was typed.
    let mut bob = server.connect_sasl("bobby", "", "bob", PW);
    let mut alice = server.connect("alice");
    alice.send("PRIVMSG bob :are you there");
    let m = bob.expect(is_from_user, "alice's message");
    assert_eq!(
        (m.param(0), m.param(1)),
        ("bobby", "are you there"),
        "live delivery, not a replay: {m}"
    );
}

#[test]
fn remembered_channels_are_rejoined_with_what_was_missed() {
    let server = TestServer::start();
    server.create_account("bob", PW);
    let mut alice = server.connect("alice");
    join(&mut alice, "#c");
    let mut bob = server.connect_sasl("bob", "", "bob", PW);
    join(&mut bob, "#C");
    join(&mut bob, "#d");
    alice.send("PRIVMSG #c :seen live");
    bob.expect_privmsg_from("alice", "seen live");
    bob.quit();
    alice.expect_command("QUIT");
    alice.send("PRIVMSG #c :missed 1");
    alice.send("NOTICE #c :missed 2");
    alice.sync();

    let mut bob = server.connect_sasl("bob", HIST_CAPS, "bob", PW);
    let got = bob.store_sync();
    assert_eq!(joins(&got, "bob"), ["#c", "#d"], "{got:#?}");
    let join_c = got
        .iter()
        .find(|m| m.command == "JOIN" && m.param(0) == "#c")
        .unwrap();
    assert_eq!(join_c.source.as_deref(), Some("bob!~bob@127.0.0.1"));
    let ends: Vec<&str> = all(&got, RPL_ENDOFNAMES)
        .iter()
        .map(|m| m.param(1))
        .collect();
    assert_eq!(ends, ["#c", "#d"], "NAMES for each rejoined channel");
    let missed = history_batch_in(&got, "#c").expect("a chathistory batch for #c");
    assert_eq!(
        texts(missed.iter().copied()),
        ["missed 1", "missed 2"],
        "{got:#?}"
    );
    for m in &missed {
        assert_eq!(m.source.as_deref(), Some("alice!~alice@127.0.0.1"), "{m}");
        assert_eq!(m.param(0), "#c");
        assert!(
            m.tag("time").is_some() && m.tag("msgid").is_some_and(is_msgid),
            "{m}"
        );
    }
    assert!(
        history_batch_in(&got, "#d").is_none(),
        "nothing was missed in #d: {got:#?}"
    );
    let m = alice.expect_command("JOIN");
    assert_eq!((m.source_nick(), m.param(0)), (Some("bob"), "#c"));
    assert!(bob.sync().is_empty());

    // Caught up: the next login replays nothing.
    bob.quit();
    let mut bob = server.connect_sasl("bob", HIST_CAPS, "bob", PW);
    let got = bob.store_sync();
    assert_eq!(joins(&got, "bob"), ["#c", "#d"]);
    assert!(
        history_batch_in(&got, "#c").is_none() && !got.iter().any(is_from_user),
        "replayed twice: {got:#?}"
    );
}

#[test]
fn missed_messages_without_batch_or_server_time_have_readable_times() {
    let server = TestServer::start();
    server.create_account("bob", PW);
    let mut alice = server.connect_with_caps("alice", "echo-message server-time");
    join(&mut alice, "#c");
    let mut bob = server.connect("bobnc");
    bob.login("bob", PW);
    join(&mut bob, "#c");
    bob.quit();
    alice.send("PRIVMSG #c :while you were out");
    let sent = alice.expect(is_from_user, "the echo");
    let sent = sent.tag("time").unwrap_or_default().to_string();

    let mut bob = server.connect("bobnc");
    bob.login("bob", PW);
    let got = bob.store_sync();
    assert_eq!(joins(&got, "bobnc"), ["#c"], "{got:#?}");
    let msgs: Vec<&Message> = got.iter().filter(|m| is_from_user(m)).collect();
    assert_eq!(msgs.len(), 1, "{got:#?}");
    assert_eq!(msgs[0].param(0), "#c");
    let (when, rest) =
        split_time_prefix(msgs[0].param(1)).unwrap_or_else(|| panic!("a time prefix: {}", msgs[0]));
    assert_eq!(rest, "while you were out");
    assert_eq!(when, sent.get(..19).unwrap_or_default().replace('T', " "));
}

#[test]
fn missed_messages_are_bounded_per_channel_to_the_newest() {
    let server = TestServer::start_with(|c| c.history.missed_per_channel = 2);
    server.create_account("bob", PW);
    let mut alice = server.connect("alice");
    join(&mut alice, "#c");
    let mut bob = server.connect_sasl("bob", "", "bob", PW);
    join(&mut bob, "#c");
    bob.quit();
    for i in 1..=5 {
        alice.send(&format!("PRIVMSG #c :m{i}"));
    }
    alice.sync();
    let mut bob = server.connect_sasl("bob", HIST_CAPS, "bob", PW);
    let got = bob.store_sync();
    let missed = history_batch_in(&got, "#c").expect("a chathistory batch for #c");
    assert_eq!(texts(missed.iter().copied()), ["m4", "m5"], "{got:#?}");
}

#[test]
fn part_and_kick_forget_a_remembered_channel() {
    let server = TestServer::start();
    server.create_account("bob", PW);
    let mut alice = server.connect("alice");
    join(&mut alice, "#kick");
    let mut bob = server.connect_sasl("bob", "", "bob", PW);
    for chan in ["#kick", "#part", "#stay"] {
        join(&mut bob, chan);
    }
    bob.send("PART #part");
    bob.expect_command("PART");
    alice.send("KICK #kick bob :out");
    bob.expect_command("KICK");
    bob.quit();

    let mut bob = server.connect_sasl("bob", "", "bob", PW);
    let got = bob.store_sync();
    assert_eq!(joins(&got, "bob"), ["#stay"], "{got:#?}");
}

#[test]
fn channels_joined_before_login_are_remembered_but_not_after_logout() {
    let server = TestServer::start();
    server.create_account("bob", PW);
    let mut bob = server.connect("bobby");
    join(&mut bob, "#before");
    bob.login("bob", PW);
    join(&mut bob, "#during");
    bob.send("LOGOUT");
    bob.expect_numeric(RPL_LOGGEDOUT);
    join(&mut bob, "#after");
    bob.quit();
    let mut bob = server.connect_sasl("bobby", "", "bob", PW);
    let got = bob.store_sync();
    assert_eq!(joins(&got, "bobby"), ["#before", "#during"], "{got:#?}");
}

#[test]
fn accounts_history_memberships_and_the_queue_survive_a_graceful_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = TestServer::start_in(&data, |_| {});
    server.create_account("alice", PW);
    server.create_account("bob", PW);
    let mut alice = server.connect_sasl("alice", HIST_CAPS, "alice", PW);
    join(&mut alice, "#c");
    let mut bob = server.connect_sasl("bob", "", "bob", PW);
    join(&mut bob, "#c");
    alice.send("PRIVMSG #c :before the restart");
    bob.expect_privmsg_from("alice", "before the restart");
    bob.quit();
    alice.send("PRIVMSG bob :queued across the restart");
    expect_queued(&mut alice, "bob");
    alice.send("PRIVMSG #c :missed across the restart");
    alice.sync();
    server.stop();

    let server = TestServer::start_in(&data, |_| {});
    assert!(data.join("chatd.db").is_file());
    // Accounts: names are taken, passwords still checked.
    let mut eve = server.connect("eve");
    eve.send(&format!("REGISTER bob * {PW}"));
    let f = eve.expect_command("FAIL");
    assert_eq!(
        (f.param(0), f.param(1)),
        ("REGISTER", "ACCOUNT_EXISTS"),
        "{f}"
    );
    eve.send("LOGIN alice wrong-password");
    let f = eve.expect_command("FAIL");
    assert_eq!((f.param(0), f.param(1)), ("LOGIN", "LOGIN_FAILED"), "{f}");

    // Memberships and history. After a restart #c is a new channel (issue 14: the
    // channel's modes, bans and members did not survive, so neither may its
    // history): the old messages stay in the log, but HISTORY reads this incarnation.
    let mut alice = server.connect_sasl("alice", HIST_CAPS, "alice", PW);
    let got = alice.store_sync();
    assert_eq!(joins(&got, "alice"), ["#c"], "{got:#?}");
    alice.send("HISTORY #c 10");
    let history = alice.expect_history_batch("#c");
    assert!(texts(&history).is_empty(), "{history:#?}");
    alice.send("PRIVMSG #c :after the restart");
    alice.sync();
    alice.send("HISTORY #c 10");
    let history = alice.expect_history_batch("#c");
    assert_eq!(texts(&history), ["after the restart"]);

    // The queue, and what bob missed in #c.
    let mut bob = server.connect_sasl("bob", HIST_CAPS, "bob", PW);
    let got = bob.store_sync();
    let delivered: Vec<&Message> = got
        .iter()
        .filter(|m| is_from_user(m) && m.param(0) == "bob")
        .collect();
    assert_eq!(
        texts(delivered.iter().copied()),
        ["queued across the restart"]
    );
    assert!(got.iter().any(is_delivered_notice), "{got:#?}");
    assert_eq!(joins(&got, "bob"), ["#c"], "{got:#?}");
    let missed = history_batch_in(&got, "#c").expect("a chathistory batch for #c");
    assert_eq!(texts(missed.iter().copied()), ["missed across the restart"]);
    server.stop();
}
