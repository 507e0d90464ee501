//! The `chat` terminal client, driven through a pseudo-terminal like a person at a
//! keyboard: it joins, receives a channel message while a line is half typed
//! (without breaking that line), sends the line to the current channel, sends a
//! /msg, and quits.

use crate::support::{TestServer, TIMEOUT};
use expectrl::{Eof, Expect, Session};
use std::process::Command;

#[test]
fn chat_sends_and_receives_in_a_terminal() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.join("#room");

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
