//! Every admin command, run through the `chatctl` binary, with its effect checked
//! from IRC clients: `docs/admin.md` "Commands".

use crate::harness::{follow, Daemon};
use serde_json::Value;

#[test]
fn users_lists_a_connected_nick() {
    let d = Daemon::start();
    let mut alice = d.irc("alice");
    alice.join("#rust");
    let _bob = d.irc("bob");

    let out = d.chatctl(&["users"]).success().stdout;
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    for column in [
        "NICK",
        "ACCOUNT",
        "ADDRESS",
        "CONNECTED",
        "IDLE",
        "CHANNELS",
    ] {
        assert!(header.contains(column), "{column} in {header:?}");
    }
    let alice_row = out.lines().find(|l| l.starts_with("alice ")).expect(&out);
    assert!(alice_row.contains("#rust"), "{alice_row}");
    assert!(alice_row.contains("@127.0.0.1"), "{alice_row}");
    assert!(out.lines().any(|l| l.starts_with("bob ")), "{out}");
    // Columns line up: every row starts its second column where the header does.
    let at = header.find("ACCOUNT").unwrap();
    for row in out.lines().skip(1) {
        assert_eq!(&row[at - 2..at], "  ", "aligned: {row:?}\n{out}");
        assert_ne!(&row[at..at + 1], " ", "aligned: {row:?}\n{out}");
    }

    let users = d.json(&["users"]);
    let alice_json = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["nick"] == "alice")
        .expect("alice in --json users");
    assert_eq!(alice_json["channels"], serde_json::json!(["#rust"]));

    let only_rust = d.chatctl(&["users", "--channel", "#rust"]).success().stdout;
    assert!(only_rust.contains("alice"), "{only_rust}");
    assert!(!only_rust.contains("bob"), "{only_rust}");
    // Without the # that bash would take for a comment.
    let only_rust = d.json(&["users", "--channel", "rust"]);
    assert_eq!(only_rust.as_array().unwrap().len(), 1, "{only_rust}");
}

#[test]
fn kick_disconnects_and_peers_see_the_reason() {
    let d = Daemon::start();
    let mut alice = d.irc("alice");
    let mut bob = d.irc("bob");
    alice.join("#rust");
    bob.join("#rust");

    let out = d
        .chatctl(&["kick", "alice", "flooding", "the", "channel"])
        .success();
    assert_eq!(out.stdout, "disconnected alice\n");
    let error = alice.expect_error_and_close();
    assert!(
        error.param(0).contains("flooding the channel"),
        "ERROR carries the reason: {error}"
    );
    let quit = bob.expect(|m| m.command == "QUIT", "alice's QUIT");
    assert_eq!(quit.source_nick(), Some("alice"));
    assert_eq!(quit.param(0), "Killed by admin (flooding the channel)");
}

#[test]
fn kick_from_one_channel_keeps_the_connection() {
    let d = Daemon::start();
    let mut alice = d.irc("alice");
    alice.join("#rust");
    alice.join("#lobby");

    let out = d.chatctl(&["kick", "alice", "--channel", "#rust", "off", "topic"]);
    assert_eq!(out.success().stdout, "kicked alice from #rust\n");
    let kick = alice.expect(|m| m.command == "KICK", "KICK");
    assert_eq!(kick.param(0), "#rust");
    assert_eq!(kick.param(1), "alice");
    assert_eq!(kick.param(2), "off topic");
    alice.sync();
    let users = d.json(&["users"]);
    assert_eq!(users[0]["channels"], serde_json::json!(["#lobby"]));

    d.chatctl(&["kick", "alice", "--channel", "#rust"])
        .fails_with("alice is not on #rust");
}

#[test]
fn wall_arrives_as_a_notice() {
    let d = Daemon::start();
    let mut alice = d.irc("alice");
    let mut bob = d.irc("bob");

    let out = d.chatctl(&["wall", "restart", "at", "10:00"]).success();
    assert_eq!(out.stdout, "notice sent to 2 users\n");
    for client in [&mut alice, &mut bob] {
        let nick = client.nick.clone();
        let notice = client.expect(|m| m.command == "NOTICE" && m.param(0) == nick, "the wall");
        assert_eq!(notice.param(1), "[Server notice] restart at 10:00");
    }
}

#[test]
fn ban_disconnects_and_refuses_a_reconnect_until_unbanned() {
    let d = Daemon::start();
    let mut mallory = d.irc("mallory");

    let out = d
        .chatctl(&["ban", "127.0.0.1", "--duration", "1h", "spamming"])
        .success()
        .stdout;
    assert!(out.starts_with("banned 127.0.0.1 until "), "{out}");
    assert!(out.contains("(in 1h)") || out.contains("(in 59m)"), "{out}");
    let error = mallory.expect_error_and_close();
    assert!(error.param(0).contains("spamming"), "{error}");

    // A new connection from the banned address is told and closed.
    let mut again = crate::harness::Irc::connect(d.addr);
    again.send("NICK mallory2");
    again.send("USER m 0 * :m");
    again.expect_error_and_close();

    let bans = d.chatctl(&["bans"]).success().stdout;
    let row = bans
        .lines()
        .find(|l| l.starts_with("127.0.0.1 "))
        .expect(&bans);
    assert!(row.contains("spamming"), "{row}");
    assert!(row.contains("in 59m") || row.contains("in 1h"), "{row}");
    let bans = d.json(&["bans"]);
    let ban = &bans[0];
    assert_eq!(ban["mask"], "127.0.0.1");
    let (set_at, expires) = (
        ban["set_at"].as_i64().unwrap(),
        ban["expires"].as_i64().unwrap(),
    );
    assert_eq!(expires - set_at, 3600, "{ban}");

    assert_eq!(
        d.chatctl(&["unban", "127.0.0.1"]).success().stdout,
        "unbanned 127.0.0.1\n"
    );
    assert_eq!(d.chatctl(&["bans"]).success().stdout, "no bans\n");
    let mut back = d.irc("mallory");
    back.sync();
    d.chatctl(&["unban", "127.0.0.1"])
        .fails_with("no ban on 127.0.0.1");
}

#[test]
fn ban_by_mask_is_permanent_by_default() {
    let d = Daemon::start();
    let mut troll = d.irc("troll");
    let mut alice = d.irc("alice");
    let out = d.chatctl(&["ban", "troll!*@*"]).success().stdout;
    assert!(out.starts_with("banned troll!*@* permanently"), "{out}");
    troll.expect_error_and_close();
    alice.sync();
    let bans = d.json(&["bans"]);
    assert_eq!(bans[0]["expires"], Value::Null);
    assert!(d.chatctl(&["bans"]).success().stdout.contains("never"));
}

#[test]
fn tail_log_shows_the_last_messages() {
    let d = Daemon::start();
    let mut alice = d.irc("alice");
    alice.join("#rust");
    for n in 1..=3 {
        alice.send(&format!("PRIVMSG #rust :message {n}"));
    }
    alice.sync();

    let out = d
        .chatctl(&["tail-log", "-n", "2", "--target", "#rust"])
        .success()
        .stdout;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].ends_with("#rust  <alice> message 2"), "{out}");
    assert!(lines[1].ends_with("#rust  <alice> message 3"), "{out}");

    let json = d.json(&["tail-log", "-n", "1"]);
    assert_eq!(json[0]["text"], "message 3");
    assert_eq!(json[0]["kind"], "PRIVMSG");
}

#[test]
fn tail_log_follow_sees_a_message_sent_after_it_started() {
    let d = Daemon::start();
    let mut alice = d.irc("alice");
    alice.join("#rust");
    alice.send("PRIVMSG #rust :before");
    alice.sync();

    let mut follow = follow(&d.socket, &["tail-log", "-f", "--target", "#rust"]);
    // The backlog arrives with the reply, after which the stream is live.
    follow.expect_line("<alice> before");
    alice.send("PRIVMSG #rust :after");
    alice.send("PRIVMSG #other :elsewhere");
    alice.send("PRIVMSG #rust :last");
    alice.sync();
    follow.expect_line("<alice> after");
    let next = follow.expect_line("<alice>");
    assert!(
        next.ends_with("<alice> last"),
        "the --target filter holds: {next}"
    );
    assert_eq!(follow.interrupt(), Some(0), "Ctrl-C ends a stream cleanly");
}

#[test]
fn tail_log_follow_json_prints_events_as_lines() {
    let d = Daemon::start();
    let mut alice = d.irc("alice");
    alice.join("#rust");

    let mut follow = follow(&d.socket, &["--json", "tail-log", "-f", "-n", "0"]);
    let backlog = follow.expect_line("[");
    assert_eq!(backlog, "[]");
    alice.send("PRIVMSG #rust :streamed");
    alice.sync();
    let line = follow.expect_line("streamed");
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["event"], "message");
    assert_eq!(event["data"]["text"], "streamed");
    assert_eq!(event["data"]["target"], "#rust");
    follow.interrupt();
}

#[test]
fn accounts_and_accounts_delete() {
    let d = Daemon::start();
    let mut alice = d.irc("alice");
    alice.send("REGISTER alice * correct-horse");
    alice.expect(
        |m| m.command == "REGISTER" && m.param(0) == "SUCCESS",
        "REGISTER SUCCESS",
    );
    alice.sync();

    let out = d.chatctl(&["accounts"]).success().stdout;
    assert!(out.starts_with("NAME "), "{out}");
    let row = out.lines().find(|l| l.starts_with("alice ")).expect(&out);
    assert!(row.contains("online"), "{row}");
    let accounts = d.json(&["accounts"]);
    assert_eq!(accounts[0]["name"], "alice");
    assert_eq!(accounts[0]["online"], true);

    let out = d.chatctl(&["accounts", "delete", "alice"]).success().stdout;
    assert_eq!(out, "deleted account alice\n");
    alice.sync();
    assert_eq!(d.chatctl(&["accounts"]).success().stdout, "no accounts\n");
    let gone = d.chatctl(&["accounts", "delete", "alice"]);
    assert_ne!(gone.code, Some(0), "{gone}");
    assert_eq!(gone.stderr.lines().count(), 1, "{gone}");
}

#[test]
fn channels_lists_members_modes_and_topic() {
    let d = Daemon::start();
    let mut alice = d.irc("alice");
    let mut bob = d.irc("bob");
    alice.join("#rust");
    bob.join("#rust");
    alice.send("TOPIC #rust :All about Rust");
    alice.expect(|m| m.command == "TOPIC", "TOPIC");

    let out = d.chatctl(&["channels"]).success().stdout;
    assert!(out.starts_with("NAME "), "{out}");
    let row = out.lines().find(|l| l.starts_with("#rust ")).expect(&out);
    assert!(row.ends_with("All about Rust"), "{row}");
    let channels = d.json(&["channels"]);
    assert_eq!(channels[0]["name"], "#rust");
    assert_eq!(channels[0]["members"], 2);
}

#[test]
fn stats_shows_people_and_json_numbers() {
    let d = Daemon::start();
    let mut alice = d.irc("alice");
    alice.sync();

    let out = d.chatctl(&["stats"]).success().stdout;
    for key in [
        "uptime",
        "connections",
        "messages/sec",
        "store size",
        "memory (RSS)",
    ] {
        assert!(out.lines().any(|l| l.starts_with(key)), "{key} in\n{out}");
    }
    assert!(
        out.contains("iB") || out.contains(" B"),
        "sizes are human: {out}"
    );
    let stats = d.json(&["stats"]);
    assert_eq!(stats["connections"], 1, "{stats}");
    assert!(stats["uptime_secs"].is_u64(), "{stats}");
}

#[test]
fn reload_answers_what_changed() {
    let d = Daemon::start();
    let out = d.chatctl(&["reload"]).success().stdout;
    assert!(out.starts_with("reloaded: "), "{out}");
    let reload = d.json(&["reload"]);
    assert!(
        reload["changed"].is_array() && reload["unchanged"].is_array(),
        "{reload}"
    );
}

#[test]
fn shutdown_tells_clients_and_stops() {
    let d = Daemon::start();
    let mut alice = d.irc("alice");
    let out = d
        .chatctl(&["shutdown", "--message", "back in five"])
        .success();
    assert_eq!(out.stdout, "chatd is shutting down\n");
    let error = alice.expect_error_and_close();
    assert!(error.param(0).contains("back in five"), "{error}");
    let socket = d.socket.clone();
    d.join();
    crate::harness::chatctl(&socket, &["stats"])
        .fails_with(&format!("chatd is not running at {}", socket.display()));
}

#[test]
fn backup_copies_the_database_while_chatd_runs() {
    let d = Daemon::start();
    let mut alice = d.irc("alice");
    alice.send("JOIN #kept");
    alice.send("PRIVMSG #kept :in the backup");
    // After this round trip the message was handled and handed to the store, which
    // answers the tail-log below after it.
    alice.send("PING kept");
    alice.expect(|m| m.command == "PONG", "PONG");
    let tail = d.json(&["tail-log", "-n", "5"]);
    assert!(tail.to_string().contains("in the backup"), "{tail}");
    let copy = d.dir().join("backup.db");
    let out = d
        .chatctl(&["backup", copy.to_str().unwrap()])
        .success()
        .stdout;
    assert!(out.starts_with("backed up to "), "{out}");
    // The copy is a complete SQLite database with the message in it.
    let bytes = std::fs::read(&copy).unwrap();
    assert!(bytes.starts_with(b"SQLite format 3\0"));
    assert!(
        bytes.windows(13).any(|w| w == b"in the backup"),
        "the logged message is in the copy"
    );
    // A second backup to the same path is refused, and names the file.
    d.chatctl(&["backup", copy.to_str().unwrap()])
        .fails_with(&format!("{} already exists", copy.display()));
}

/// `channels register/access/list/drop` (docs/admin.md, "Commands"; docs/roles.md):
/// a channel registered from chatctl gives its founder and the access list their
/// roles on join, and a dropped one gives none.
#[test]
fn channels_register_access_list_and_drop() {
    let d = Daemon::start();
    let mut irc = Vec::new();
    for name in ["alice", "bob"] {
        let mut c = d.irc(name);
        c.send(&format!("REGISTER {name} * correct-horse"));
        c.expect(
            |m| m.command == "REGISTER" && m.param(0) == "SUCCESS",
            "REGISTER SUCCESS",
        );
        c.sync();
        irc.push(c);
    }
    let out = d
        .chatctl(&["channels", "register", "team", "alice"])
        .success()
        .stdout;
    assert_eq!(out, "registered #team to alice\n");
    let out = d
        .chatctl(&["channels", "access", "#team", "add", "bob", "moderator"])
        .success()
        .stdout;
    assert!(out.contains("bob") && out.contains("moderator"), "{out}");
    let listed = d.json(&["channels", "list"]);
    assert_eq!(listed[0]["name"], "#team");
    assert_eq!(listed[0]["founder"], "alice");
    assert_eq!(listed[0]["access"][0]["account"], "bob");
    assert_eq!(listed[0]["access"][0]["role"], "moderator");
    // The roles apply on join, by account.
    let mut bob = irc.pop().unwrap();
    bob.send("CAP REQ multi-prefix");
    bob.join("#team");
    bob.send("NAMES #team");
    let names = bob.expect_numeric("353"); // RPL_NAMREPLY
    assert_eq!(names.param(3), "%bob");
    let out = d
        .chatctl(&["channels", "access", "#team", "del", "bob"])
        .success()
        .stdout;
    assert!(!out.contains("moderator"), "{out}");
    // A deleted account leaves the access list.
    d.chatctl(&["channels", "access", "#team", "add", "bob", "voice"])
        .success();
    d.chatctl(&["accounts", "delete", "bob"]).success();
    let access = d.json(&["channels", "access", "#team"]);
    assert_eq!(access["access"], serde_json::json!([]), "{access}");
    let out = d.chatctl(&["channels", "drop", "#team"]).success().stdout;
    assert_eq!(out, "dropped #team\n");
    let run = d.chatctl(&["channels", "access", "#team"]);
    assert!(run.stderr.contains("#team is not registered"), "{run}");
    let out = d.chatctl(&["channels", "list"]).success().stdout;
    assert_eq!(out, "no registered channels\n");
}
