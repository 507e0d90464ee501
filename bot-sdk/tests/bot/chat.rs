//! The `chat` terminal client, driven through a pseudo-terminal like a person at a
//! keyboard: it joins, receives a channel message while a line is half typed
//! (without breaking that line), sends the line to the current channel, sends a
//! /msg, and quits; and /quit typed while messages pour in still quits.

use crate::support::{TestServer, TIMEOUT};
use chatd_tests::Client;
use expectrl::process::unix::Signal;
use expectrl::session::OsSession;
use expectrl::{Eof, Expect, Regex, Session};
use std::process::Command;

/// `chat --nick carol` on `server` in a pty, joined to `#room` (alice, already
/// there, has seen the JOIN), its prompt naming the channel.
fn chat_in_room(server: &TestServer, alice: &mut Client) -> OsSession {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat"));
    cmd.args(["--nick", "carol", &server.addr.to_string()])
        .env("TERM", "xterm")
        .env_remove("NO_COLOR");
    let mut chat = Session::spawn(cmd).expect("chat starts in a pty");
    chat.set_expect_timeout(Some(TIMEOUT));
    chat.expect("connected as carol")
        .expect("the connect notice");
    chat.send_line("/join #room").unwrap();
    alice.expect(
        |m| m.command == "JOIN" && m.source_nick() == Some("carol"),
        "carol's JOIN",
    );
    chat.expect("[#room]")
        .expect("the prompt names the channel");
    chat
}

#[test]
fn chat_sends_and_receives_in_a_terminal() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.join("#room");

    let mut chat = chat_in_room(&server, &mut alice);

    // A message arrives while carol is halfway through typing a line: it shows
    // above the prompt, and her line goes on where she left it.
    chat.send("hi alice, typed").unwrap();
    chat.expect("hi alice, typed").expect("the typing echoes");
    alice.send("PRIVMSG #room :hello carol, are you there?");
    chat.expect("hello carol, are you there?")
        .expect("the message shows above the prompt");
    chat.send_line(" in the terminal").unwrap();
    assert_eq!(
        alice.expect_privmsg("carol", "#room"),
        "hi alice, typed in the terminal"
    );

    chat.send_line("/msg alice just between us").unwrap();
    assert_eq!(alice.expect_privmsg("carol", "alice"), "just between us");

    chat.send_line("/quit off now").unwrap();
    let quit = alice.expect(
        |m| m.command == "QUIT" && m.source_nick() == Some("carol"),
        "carol's QUIT",
    );
    assert!(quit.param(0).contains("off now"), "{quit}");
    chat.expect(Eof).expect("chat exits");
}

/// Regression: /quit typed while channel lines arrive hung the client for good.
/// rustyline's external printer hands a line to the prompt through a one-slot
/// queue while a prompt is open; a line queued just as the prompt returned stays
/// there until the next prompt, and the next line blocks behind it. The bot's
/// thread printed its events itself, so it blocked there and never ran the quit,
/// while the prompt, having read /quit, was never opened again: no QUIT, no exit.
/// Stopping the process makes the timing certain: the lines and the typed /quit
/// are both waiting when it resumes, and the prompt takes typed keys first.
#[test]
fn chat_quits_while_lines_arrive() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.join("#room");
    let mut chat = chat_in_room(&server, &mut alice);
    // Everything so far is on screen: the prompt is idle, its queue empty.
    alice.send("PRIVMSG #room :are you settled?");
    chat.expect("are you settled?").expect("the line shows");

    chat.get_process_mut()
        .signal(Signal::SIGSTOP)
        .expect("stop chat");
    for i in 0..10 {
        alice.send(&format!("PRIVMSG #room :line {i} of a busy channel"));
    }
    // RFC 2812 §3.7.2: the PONG comes after the lines above were relayed.
    alice.send("PING :relayed");
    alice.expect(|m| m.command == "PONG", "PONG after the lines");
    let reason = format!("off now {}", "and away ".repeat(20));
    chat.send_line(format!("/quit {reason}")).unwrap();
    chat.get_process_mut()
        .signal(Signal::SIGCONT)
        .expect("continue chat");

    let quit = alice.expect(
        |m| m.command == "QUIT" && m.source_nick() == Some("carol"),
        "carol's QUIT",
    );
    assert!(quit.param(0).contains("off now"), "{quit}");
    chat.expect(Eof).expect("chat exits");
}

/// The buddy list: `/buddy add` watches nicks with MONITOR (IRCv3 monitor), and the
/// client says when a buddy comes online and when it leaves.
#[test]
fn chat_buddy_list_tells_when_buddies_come_and_go() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.join("#room");
    let mut chat = chat_in_room(&server, &mut alice);
    chat.send_line("/buddy add bob").unwrap();
    chat.expect("offline: bob").expect("bob is not there yet");
    let bob = server.connect("bob");
    chat.expect("online: ").expect("bob arrives");
    chat.expect("(~bob@127.0.0.1)").expect("with his user@host");
    bob.quit();
    chat.expect("offline: bob").expect("bob leaves");
    chat.send_line("/buddy").unwrap();
    chat.expect("offline: bob").expect("the list's status");
    chat.send_line("/quit").unwrap();
    chat.expect(Eof).expect("chat exits");
}

/// IRCv3 draft/read-marker (<https://ircv3.net/specs/extensions/read-marker>): chat
/// counts what arrives in other buffers in its prompt, and when the user goes back
/// and talks there it sends `MARKREAD`, which the account's other clients get
/// ("Command flows").
#[test]
fn chat_shows_unread_counts_and_shares_its_read_marker() {
    let server = TestServer::start();
    server.create_account("carol", "carol-password");
    let mut phone = server.connect_sasl("phone", "draft/read-marker", "carol", "carol-password");
    let mut alice = server.connect_with_caps("alice", "server-time");
    alice.join("#room");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat"));
    cmd.args([
        "--nick",
        "carol",
        "--password",
        "carol-password",
        &server.addr.to_string(),
    ])
    .env("TERM", "xterm")
    .env("NO_COLOR", "1");
    let mut chat = Session::spawn(cmd).expect("chat starts in a pty");
    chat.set_expect_timeout(Some(TIMEOUT));
    chat.expect("logged in as carol")
        .expect("the connect notice");
    chat.send_line("/join #room").unwrap();
    alice.expect(
        |m| m.command == "JOIN" && m.source_nick() == Some("carol"),
        "carol's JOIN",
    );
    chat.send_line("/query alice").unwrap();
    chat.expect("[alice]").expect("the prompt names the query");
    // The switch is done on the client's thread (which marks #room read as it is
    // left): wait for its answer, so alice's line comes after it.
    chat.expect("Talking to alice")
        .expect("the client's thread switched");
    alice.send("PRIVMSG #room :while you were away");
    chat.expect("while you were away").expect("the line shows");
    chat.send_line("").unwrap();
    chat.expect("unread: #room 1")
        .expect("the prompt counts it");
    chat.send_line("/join #room").unwrap();
    chat.expect("[#room] ")
        .expect("the prompt is back in #room");
    chat.send_line("back now").unwrap();
    assert_eq!(alice.expect_privmsg("carol", "#room"), "back now");
    let m = phone.expect(
        |m| m.command == "MARKREAD" && m.param(0).eq_ignore_ascii_case("#room"),
        "carol's MARKREAD #room",
    );
    assert!(m.param(1).starts_with("timestamp="), "{m}");
    chat.send_line("/quit").unwrap();
    chat.expect(Eof).expect("chat exits");
}

/// IRCv3 draft/chathistory (<https://ircv3.net/specs/extensions/chathistory>,
/// "BEFORE"): `/more` asks for the page before the oldest message shown, by its
/// msgid, and shows it oldest first under a marker; the next `/more` goes on from
/// the oldest of that page, until the server has nothing older (an empty batch).
#[test]
fn chat_pages_back_through_history_with_more() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.join("#room");
    for i in 0..12 {
        alice.send(&format!("PRIVMSG #room :old line {i:02}"));
    }
    let mut chat = chat_in_room(&server, &mut alice);
    // Shown by the client's thread, which has noted its msgid as the oldest here.
    alice.send("PRIVMSG #room :live now");
    chat.expect("live now").expect("the live line shows");

    for (page, first, count) in [(1, 7, 5), (2, 2, 5), (3, 0, 2)] {
        chat.send_line("/more 5").unwrap();
        // The marker, then the page oldest first, then its end: in that order.
        let lines: Vec<String> = (first..first + count)
            .map(|i| format!("old line {i:02}"))
            .collect();
        let pattern = format!(
            "(?s)--- older messages in #room ---.*{}.*--- {count} older messages in #room above",
            lines.join(".*")
        );
        chat.expect(Regex(pattern))
            .unwrap_or_else(|e| panic!("page {page}: lines {first}.. under the marker: {e}"));
    }
    chat.send_line("/more").unwrap();
    chat.expect("no older messages in #room")
        .expect("the start of the history");
    chat.send_line("/quit").unwrap();
    chat.expect(Eof).expect("chat exits");
}

/// IRCv3 bot-mode (<https://ircv3.net/specs/extensions/bot-mode>, "RPL_WHOISBOT"):
/// `/whois` of a `+B` user says it is a bot. And read markers are per account
/// (draft/read-marker): a client not logged in sends no `MARKREAD`, so acting in
/// a buffer with news brings no `ACCOUNT_REQUIRED` failure.
#[test]
fn chat_whois_shows_bots() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.join("#room");
    let mut botty = server.connect("botty");
    botty.send("MODE botty +B");
    botty.expect(|m| m.command == "MODE" && m.param(1) == "+B", "+B set");
    let mut chat = chat_in_room(&server, &mut alice);
    alice.send("PRIVMSG #room :news for you");
    chat.expect("news for you").expect("the line shows");
    // Talking here reads #room: no MARKREAD without an account.
    chat.send_line("thanks").unwrap();
    assert_eq!(alice.expect_privmsg("carol", "#room"), "thanks");
    chat.send_line("/whois botty").unwrap();
    let shown = chat
        .expect(Regex(r"botty(\x1b\[0m)? is a bot"))
        .expect("the 335 line");
    let before = String::from_utf8_lossy(shown.before()).into_owned();
    assert!(!before.contains("ACCOUNT_REQUIRED"), "{before}");
    chat.send_line("/whois alice").unwrap();
    // RPL_WHOISIDLE (317) comes after where a 335 would be: alice is no bot.
    let shown = chat
        .expect(Regex(r"alice(\x1b\[0m)? idle"))
        .expect("alice's 317 line");
    let before = String::from_utf8_lossy(shown.before()).into_owned();
    assert!(!before.contains("is a bot"), "{before}");
    chat.send_line("/quit").unwrap();
    chat.expect(Eof).expect("chat exits");
}
