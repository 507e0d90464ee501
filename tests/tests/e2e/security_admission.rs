//! Issue 14, admission and wire form: who may connect (expired bans, the exempt list,
//! the PROXY protocol), what a channel may be called, and free text relayed as a
//! trailing parameter with its `:` (RFC 1459 §2.3.1, modern.ircdocs.horse "Parameters").

use chatd_proto::numeric::*;
use chatd_tests::*;
use std::time::Instant;

/// The next raw line (as sent, without CRLF) that `pred` accepts; others are skipped.
fn expect_raw(c: &mut Client, pred: impl Fn(&str) -> bool, what: &str) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match c.recv_line(deadline) {
            Ok(Some(line)) if pred(&line) => return line,
            Ok(Some(_)) => {}
            Ok(None) => c.fail(&format!("{what} (timed out)")),
            Err(Closed) => c.fail(&format!("{what} (connection closed)")),
        }
    }
}

// ---- issue 14 item 18: free text is always a trailing parameter ----

/// RFC 1459 §2.3.1 allows `PRIVMSG #c word`, but bots that split on ` :` break on
/// it; established servers always write the text with its `:`, and so does chatd.
#[test]
fn issue14_one_word_texts_are_relayed_with_their_colon() {
    let server = TestServer::start();
    let mut c = channel_with(&server, "#c", &["alice", "bob"]);
    let (alice, rest) = c.split_first_mut().expect("two clients");
    let bob = &mut rest[0];
    alice.send("CAP REQ :away-notify");
    bob.send("CAP REQ :away-notify");
    alice.sync();
    bob.sync();
    let cases = [
        ("PRIVMSG #c word", " PRIVMSG #c :word"),
        ("NOTICE #c word", " NOTICE #c :word"),
        ("PRIVMSG bob word", " PRIVMSG bob :word"),
        ("TOPIC #c word", " TOPIC #c :word"),
        ("AWAY gone", " AWAY :gone"),
    ];
    for (sent, relayed) in cases {
        alice.send(sent);
        let line = expect_raw(bob, |l| l.ends_with(relayed), relayed);
        assert!(line.starts_with(":alice!"), "{line}");
    }
    bob.send("PART #c bye");
    expect_raw(alice, |l| l.ends_with(" PART #c :bye"), "PART #c :bye");
    // Without a reason PART stays `PART #c`: the channel is not text.
    bob.send("JOIN #c");
    bob.send("PART #c");
    expect_raw(alice, |l| l.ends_with(" PART #c"), "PART #c");
    bob.send("JOIN #c");
    bob.sync();
    alice.send("KICK #c bob word");
    expect_raw(bob, |l| l.ends_with(" KICK #c bob :word"), "KICK :word");
    // A QUIT reason is "Quit: <text>"; it keeps its colon too.
    bob.send("QUIT word");
    let error = expect_raw(bob, |l| l.starts_with("ERROR "), "ERROR");
    assert!(error.starts_with("ERROR :Closing Link: "), "{error}");
}

/// Replayed history lines (IRCv3 draft/chathistory) carry the text as a trailing
/// parameter like live ones.
#[test]
fn issue14_replayed_one_word_texts_keep_their_colon() {
    let server = TestServer::start();
    let mut alice = server.connect_with_caps("alice", "server-time");
    alice.join("#r");
    alice.send("PRIVMSG #r word");
    alice.sync();
    alice.store_sync();
    alice.send("HISTORY #r 5");
    expect_raw(
        &mut alice,
        |l| l.ends_with(" PRIVMSG #r :word"),
        "replay :word",
    );
}

// ---- issue 14 item 9: invisible characters in channel names ----

/// RFC 2812 §1.3 forbids only space, comma, ^G and ':' in channel names; chatd also
/// refuses zero-width, bidi-control and other invisible characters (476), so that
/// `#secret` and `#sec<U+200B>ret` cannot pass for each other.
#[test]
fn issue14_channel_names_with_invisible_characters_are_refused() {
    let server = TestServer::start();
    let mut c = server.connect("c");
    for name in [
        "#sec\u{200B}ret",
        "#\u{202E}terces",
        "#join\u{200D}er",
        "#iso\u{2066}late",
        "#nb\u{00A0}sp",
        "#bom\u{FEFF}",
    ] {
        c.send(&format!("JOIN {name}"));
        let got = c.sync();
        assert!(
            got.iter()
                .any(|m| m.command == ERR_BADCHANMASK && m.param(1) == name),
            "{name:?}: {got:?}"
        );
        assert!(!has(&got, "JOIN"), "{name:?} was created: {got:?}");
    }
    // Visible Unicode is still a channel name.
    c.send("JOIN #日本語");
    c.expect(
        |m| m.command == "JOIN" && m.param(0) == "#日本語",
        "JOIN #日本語",
    );
}
