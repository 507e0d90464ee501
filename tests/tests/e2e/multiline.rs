//! IRCv3 draft/multiline (https://ircv3.net/specs/extensions/multiline): the
//! capability and its limits, client batches relayed as one batch with one msgid or
//! as separate lines ("Fallback"), the errors ("Errors"), labeled-response with
//! echo-message, and one message in history and the offline queue.

use chatd_proto::Message;
use chatd_tests::*;
use std::time::Duration;

const ML: &str = "draft/multiline batch echo-message message-tags server-time labeled-response";

/// Sends a multiline batch of `lines` (text, concat) to `target` with reference `r`.
fn send_batch(c: &mut Client, r: &str, target: &str, lines: &[(&str, bool)]) {
    let mut wire = format!("BATCH +{r} draft/multiline {target}\r\n");
    for (text, concat) in lines {
        let tags = if *concat {
            format!("@batch={r};draft/multiline-concat")
        } else {
            format!("@batch={r}")
        };
        wire.push_str(&format!("{tags} PRIVMSG {target} :{text}\r\n"));
    }
    wire.push_str(&format!("BATCH -{r}\r\n"));
    c.send_bytes(wire.as_bytes());
}

/// Reads a `draft/multiline` batch: its start and its lines (text, concat).
fn expect_multiline(c: &mut Client) -> (Message, Vec<(String, bool)>) {
    let start = c.expect(
        |m| m.command == "BATCH" && m.param(1) == "draft/multiline",
        "BATCH +ref draft/multiline",
    );
    let reference = start.param(0)[1..].to_string();
    let end = format!("-{reference}");
    let mut got = c.recv_until(|m| m.command == "BATCH" && m.param(0) == end, "the end");
    got.pop();
    let lines = got
        .iter()
        .map(|m| {
            assert_eq!(m.tag("batch"), Some(reference.as_str()), "{m}");
            assert!(m.tag("msgid").is_none(), "msgid only on the BATCH: {m}");
            let concat = m.tags.iter().any(|t| t.key == "draft/multiline-concat");
            (m.param(1).to_string(), concat)
        })
        .collect();
    (start, lines)
}

fn owned(lines: &[(&str, bool)]) -> Vec<(String, bool)> {
    lines.iter().map(|(t, c)| (t.to_string(), *c)).collect()
}

const HELLO: &[(&str, bool)] = &[
    ("hello", false),
    ("", false),
    ("how is ", false),
    ("everyone?", true),
];

#[test]
fn cap_ls_advertises_the_limits() {
    // multiline, "Capabilities": a REQUIRED value with max-bytes (and max-lines).
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    let ls = c.expect_command("CAP");
    assert!(
        ls.param(2)
            .split(' ')
            .any(|c| c == "draft/multiline=max-bytes=4096,max-lines=32"),
        "{ls}"
    );
}

#[test]
fn a_batch_reaches_capable_clients_as_one_batch_and_others_as_lines() {
    // multiline, "Batch types" (one batch, concat kept) and "Fallback" (separate lines,
    // no blank line, the msgid on the first only: "Message ids").
    let server = TestServer::start();
    let mut alice = server.connect_with_caps("alice", ML);
    let mut ml = server.connect_with_caps("ml", "draft/multiline batch message-tags");
    let mut tags = server.connect_with_caps("tags", "message-tags batch");
    let mut plain = server.connect("plain");
    for c in [&mut alice, &mut ml, &mut tags, &mut plain] {
        c.join("#c");
    }
    alice.sync();
    ml.sync();
    tags.sync();
    plain.sync();
    send_batch(&mut alice, "123", "#c", HELLO);

    let (start, lines) = expect_multiline(&mut ml);
    assert_eq!(start.source_nick(), Some("alice"));
    assert_eq!(start.param(2), "#c");
    let msgid = start
        .tag("msgid")
        .expect("a msgid on the BATCH")
        .to_string();
    assert_eq!(lines, owned(HELLO));

    let got = tags.recv_until(|m| m.param(1) == "everyone?", "the last line");
    let texts: Vec<&str> = got.iter().map(|m| m.param(1)).collect();
    assert_eq!(texts, ["hello", "how is ", "everyone?"]);
    assert_eq!(got[0].tag("msgid"), Some(msgid.as_str()));
    assert!(got[1..].iter().all(|m| m.tag("msgid").is_none()), "{got:?}");
    assert!(got.iter().all(|m| m.tag("batch").is_none()), "{got:?}");

    let got = plain.recv_until(|m| m.param(1) == "everyone?", "the last line");
    assert_eq!(got.iter().filter(|m| m.command == "PRIVMSG").count(), 3);

    // The sender's echo is the batch too, labeled on its start when labeled.
    let (_, echoed) = expect_multiline(&mut alice);
    assert_eq!(echoed, owned(HELLO));
    alice.send_bytes(
        b"@label=ml1 BATCH +9 draft/multiline #c\r\n@batch=9 PRIVMSG #c :one\r\n\
          @batch=9 PRIVMSG #c :two\r\nBATCH -9\r\n",
    );
    let start = alice.expect(|m| m.command == "BATCH", "the labeled echo");
    assert_eq!(start.tag("label"), Some("ml1"), "{start}");
    assert_eq!(start.param(1), "draft/multiline", "{start}");
}

#[test]
fn a_labeled_batch_without_echo_is_acked_once() {
    // labeled-response, "The ACK response", with multiline: one answer per batch.
    let server = TestServer::start();
    let mut alice = server.connect_with_caps("alice", "draft/multiline batch labeled-response");
    let mut bob = server.connect("bob");
    alice.send_bytes(
        b"@label=b1 BATCH +x draft/multiline bob\r\n@batch=x PRIVMSG bob :one\r\n\
          @batch=x PRIVMSG bob :two\r\nBATCH -x\r\n",
    );
    let got = alice.sync();
    let acks: Vec<&Message> = got.iter().filter(|m| m.command == "ACK").collect();
    assert_eq!(acks.len(), 1, "{got:?}");
    assert_eq!(acks[0].tag("label"), Some("b1"));
    bob.expect_privmsg_from("alice", "one");
    bob.expect_privmsg_from("alice", "two");
}

/// Sends `wire`, expects one `FAIL BATCH <code>` with `context`, and checks that `watcher`
/// got nothing.
fn expect_fail(c: &mut Client, watcher: &mut Client, wire: &str, code: &str, context: &[&str]) {
    c.send_bytes(wire.as_bytes());
    let got = c.sync();
    let fails: Vec<&Message> = got.iter().filter(|m| m.command == "FAIL").collect();
    assert_eq!(fails.len(), 1, "one FAIL for {wire:?}: {got:?}");
    assert_eq!(fails[0].param(0), "BATCH");
    assert_eq!(fails[0].param(1), code, "{}", fails[0]);
    assert_eq!(
        &fails[0].params[2..2 + context.len()],
        context,
        "{}",
        fails[0]
    );
    let seen = watcher.sync();
    assert!(!has(&seen, "PRIVMSG") && !has(&seen, "BATCH"), "{seen:?}");
}

#[test]
fn errors_drop_the_batch_and_deliver_nothing() {
    // multiline, "Errors": MULTILINE_MAX_BYTES, MULTILINE_MAX_LINES,
    // MULTILINE_INVALID_TARGET and MULTILINE_INVALID.
    let server = TestServer::start();
    let mut alice = server.connect_with_caps("alice", "draft/multiline batch");
    let mut bob = server.connect_with_caps("bob", "draft/multiline batch");
    alice.join("#c");
    bob.join("#c");
    bob.sync();

    let mut wire = String::from("BATCH +a draft/multiline #c\r\n");
    for _ in 0..33 {
        wire.push_str("@batch=a PRIVMSG #c :x\r\n");
    }
    wire.push_str("BATCH -a\r\n");
    expect_fail(&mut alice, &mut bob, &wire, "MULTILINE_MAX_LINES", &["32"]);

    let long = "y".repeat(400);
    let mut wire = String::from("BATCH +b draft/multiline #c\r\n");
    for _ in 0..11 {
        wire.push_str(&format!("@batch=b PRIVMSG #c :{long}\r\n"));
    }
    wire.push_str("BATCH -b\r\n");
    expect_fail(
        &mut alice,
        &mut bob,
        &wire,
        "MULTILINE_MAX_BYTES",
        &["4096"],
    );

    let wire = "BATCH +c draft/multiline #c\r\n@batch=c PRIVMSG #other :hi\r\nBATCH -c\r\n";
    expect_fail(
        &mut alice,
        &mut bob,
        wire,
        "MULTILINE_INVALID_TARGET",
        &["#c", "#other"],
    );

    let wire = "BATCH +d draft/multiline #c\r\n@batch=d PRIVMSG #c :\r\nBATCH -d\r\n";
    expect_fail(&mut alice, &mut bob, wire, "MULTILINE_INVALID", &[]);

    let wire = "BATCH +e draft/multiline #c\r\n@batch=e TOPIC #c :nope\r\nBATCH -e\r\n";
    expect_fail(&mut alice, &mut bob, wire, "MULTILINE_INVALID", &[]);

    let wire = "@batch=never PRIVMSG #c :stray\r\n";
    expect_fail(&mut alice, &mut bob, wire, "MULTILINE_INVALID", &[]);

    // After all that, a good batch still goes through.
    send_batch(&mut alice, "f", "#c", &[("fine", false), ("again", false)]);
    let (_, lines) = expect_multiline(&mut bob);
    assert_eq!(lines, owned(&[("fine", false), ("again", false)]));
}

#[test]
fn an_unended_batch_is_dropped_at_quit_and_after_a_minute() {
    // multiline, "Batch types": servers wait for the full batch before delivering; a
    // batch never ended delivers nothing.
    let server = TestServer::start();
    let mut alice = server.connect_with_caps("alice", "draft/multiline batch");
    let mut bob = server.connect("bob");
    alice.send_bytes(b"BATCH +q draft/multiline bob\r\n@batch=q PRIVMSG bob :half\r\n");
    alice.quit();
    let got = bob.sync();
    assert!(!has(&got, "PRIVMSG"), "{got:?}");

    let mut carol = server.connect_with_caps("carol", "draft/multiline batch");
    carol.send_bytes(b"BATCH +t draft/multiline bob\r\n@batch=t PRIVMSG bob :slow\r\n");
    carol.sync();
    server.advance_clock(Duration::from_secs(61));
    carol.send_bytes(b"@batch=t PRIVMSG bob :late\r\nBATCH -t\r\n");
    let got = carol.sync();
    assert!(
        got.iter()
            .any(|m| m.command == "FAIL" && m.param(1) == "MULTILINE_INVALID"),
        "{got:?}"
    );
    let got = bob.sync();
    assert!(!has(&got, "PRIVMSG"), "{got:?}");
}

#[test]
fn history_keeps_one_message_and_replays_it_by_capability() {
    // multiline with draft/chathistory: one stored message (one msgid), replayed as a
    // batch nested in the chathistory batch, or as separate lines (multiline,
    // "Fallback").
    let server = TestServer::start();
    let mut alice = server.connect_with_caps("alice", ML);
    alice.join("#h");
    send_batch(&mut alice, "h", "#h", HELLO);
    alice.store_sync();

    let mut ml = server.connect_with_caps(
        "ml",
        "draft/multiline batch message-tags server-time draft/chathistory",
    );
    ml.join("#h");
    ml.send("CHATHISTORY LATEST #h * 10");
    let outer = ml.expect(
        |m| m.command == "BATCH" && m.param(1) == "chathistory",
        "chathistory",
    );
    let (start, lines) = expect_multiline(&mut ml);
    assert_eq!(
        start.tag("batch"),
        Some(&outer.param(0)[1..]),
        "nested: {start}"
    );
    // History keeps the combined message: its lines as the line feeds split them (a
    // concatenated line comes back whole while it fits one line).
    assert_eq!(
        lines,
        owned(&[("hello", false), ("", false), ("how is everyone?", false)])
    );
    let end = format!("-{}", &outer.param(0)[1..]);
    let got = ml.recv_until(|m| m.command == "BATCH" && m.param(0) == end, "the end");
    assert!(!has(&got, "PRIVMSG"), "one message only: {got:?}");

    let mut old = server.connect_with_caps("old", "batch message-tags server-time");
    old.join("#h");
    old.send("HISTORY #h 10");
    let got = old.expect_history_batch("#h");
    let texts: Vec<&str> = got.iter().map(|m| m.param(1)).collect();
    assert_eq!(texts, ["hello", "how is everyone?"]);
    assert!(
        got[0].tag("msgid").is_some() && got[1].tag("msgid").is_none(),
        "{got:?}"
    );
}

#[test]
fn an_offline_account_gets_the_message_as_one_batch() {
    // multiline to a nick: the offline queue keeps it as one message.
    let server = TestServer::start();
    server.create_account("dana", "hunter2hunter2");
    let mut alice = server.connect_with_caps("alice", "draft/multiline batch");
    send_batch(
        &mut alice,
        "o",
        "dana",
        &[("first", false), ("second", false)],
    );
    alice.expect(
        |m| m.command == "NOTICE" && m.param(1).contains("queued"),
        "queued",
    );
    let mut dana = server.connect_with_caps("dana", "draft/multiline batch");
    dana.login("dana", "hunter2hunter2");
    let (_, lines) = expect_multiline(&mut dana);
    assert_eq!(lines, owned(&[("first", false), ("second", false)]));
}

/// A multiline batch is a PRIVMSG like any other: a muted sender (`~m:` extban,
/// modern.ircdocs.horse EXTBAN) gets 404 and nothing is delivered, and in a `+C`
/// channel a batch with a CTCP line is refused the same way.
#[test]
fn a_muted_sender_or_ctcp_under_plus_c_delivers_nothing() {
    let server = TestServer::start();
    let mut op = server.connect_with_caps("op", ML);
    op.join("#m");
    let mut pest = server.connect_with_caps("pest", ML);
    pest.join("#m");
    op.sync();
    op.send("MODE #m +b ~m:pest!*@*");
    pest.expect_command("MODE");
    send_batch(&mut pest, "a", "#m", HELLO);
    let refused = pest.expect_numeric(chatd_proto::numeric::ERR_CANNOTSENDTOCHAN);
    assert_eq!(refused.param(1), "#m");
    op.send("MODE #m -b+C ~m:pest!*@*");
    pest.expect_command("MODE");
    send_batch(
        &mut pest,
        "b",
        "#m",
        &[("\u{1}VERSION\u{1}", false), ("x", false)],
    );
    let refused = pest.expect_numeric(chatd_proto::numeric::ERR_CANNOTSENDTOCHAN);
    assert!(refused.param(2).contains("+C"), "{refused}");
    let got = op.sync();
    assert!(
        !got.iter()
            .any(|m| m.command == "BATCH" || m.command == "PRIVMSG"),
        "nothing delivered: {got:?}"
    );
}
