//! IRCv3 labeled-response (https://ircv3.net/specs/extensions/labeled-response): a
//! labeled command's one reply carries its `label`, several replies come in a
//! `labeled-response` batch whose start carries it, none get `ACK`; replies that come
//! from the store (LOGIN, REGISTER, CHATHISTORY) too, with a `chathistory` batch
//! nested (https://ircv3.net/specs/extensions/batch, "Nested batches").

use chatd_proto::numeric::*;
use chatd_proto::Message;
use chatd_tests::*;

const CAPS: &str = "labeled-response batch";
const PW: &str = "hunter2hunter2";

/// One labeled response, as it arrived.
#[derive(Debug)]
enum Response {
    /// One line carrying the label.
    Line(Message),
    /// `ACK` with the label.
    Ack,
    /// A batch: its type and the lines inside it (with their own tags).
    Batch { kind: String, lines: Vec<Message> },
}

impl Response {
    fn lines(&self) -> Vec<&Message> {
        match self {
            Response::Line(m) => vec![m],
            Response::Ack => vec![],
            Response::Batch { lines, .. } => lines.iter().collect(),
        }
    }
}

/// Sends `@label=<label> <line>` (`label` as on the wire, escaped) and reads until
/// the response to it is complete, skipping unlabeled lines before it. Checks that
/// the label is in exactly one line.
fn labeled(c: &mut Client, label: &str, line: &str) -> Response {
    c.send(&format!("@label={label} {line}"));
    let first = c.expect(|m| m.tag("label").is_some(), &format!("label={label}"));
    let value = chatd_proto::message::unescape_tag_value(label);
    assert_eq!(first.tag("label"), Some(value.as_str()), "{first}");
    if first.command == "ACK" {
        assert!(first.params.is_empty(), "{first}");
        return Response::Ack;
    }
    if first.command != "BATCH" {
        return Response::Line(first);
    }
    let reference = first
        .param(0)
        .strip_prefix('+')
        .expect("a batch start")
        .to_string();
    let end = format!("-{reference}");
    let mut got = c.recv_until(
        |m| m.command == "BATCH" && m.param(0) == end,
        &format!("BATCH {end}"),
    );
    got.pop();
    let mut depth = Vec::new();
    for m in &got {
        assert!(m.tag("label").is_none(), "the label once only: {m}");
        // Lines of a nested batch carry the inner reference; every other line the
        // outer one (the nested batch's start and end included).
        let expected = depth
            .last()
            .map_or(reference.as_str(), |s: &String| s.as_str());
        if m.command == "BATCH" && m.param(0).starts_with('-') {
            assert_eq!(depth.pop().as_deref(), Some(&m.param(0)[1..]), "{m}");
            assert_eq!(m.tag("batch"), Some(reference.as_str()), "nested end: {m}");
            continue;
        }
        assert_eq!(m.tag("batch"), Some(expected), "batch tag of {m}");
        if m.command == "BATCH" && m.param(0).starts_with('+') {
            depth.push(m.param(0)[1..].to_string());
        }
    }
    assert!(depth.is_empty(), "nested batches left open: {depth:?}");
    Response::Batch {
        kind: first.param(1).to_string(),
        lines: got,
    }
}

#[test]
fn cap_ls_offers_labeled_response() {
    // labeled-response, "Capabilities".
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    let ls = c.expect_command("CAP");
    assert!(
        ls.param(2).split(' ').any(|c| c == "labeled-response"),
        "{ls}"
    );
}

#[test]
fn one_reply_carries_the_label() {
    // labeled-response, "Tags": the same tag and value in the response; example
    // "Failed PRIVMSG with ERR_NOSUCHNICK".
    let server = TestServer::start();
    let mut c = server.connect_with_caps("alice", CAPS);
    match labeled(&mut c, "dc11f13f11", "PRIVMSG nobody :Hello") {
        Response::Line(m) => assert_eq!(m.command, ERR_NOSUCHNICK, "{m}"),
        other => panic!("one labeled line, got {other:?}"),
    }
    match labeled(&mut c, r"p\:i\sn\\g", "PING tok") {
        Response::Line(m) => assert_eq!((m.command.as_str(), m.param(1)), ("PONG", "tok")),
        other => panic!("one labeled PONG, got {other:?}"),
    }
    // The unlabeled command after it gets no label.
    c.send("PING plain");
    let pong = c.expect_command("PONG");
    assert_eq!(pong.tag("label"), None, "{pong}");
}

#[test]
fn several_replies_come_in_a_labeled_response_batch() {
    // labeled-response, "Tags": "If a response consists of more than one message, a
    // batch MUST be used"; example "WHOIS response using a batch".
    let server = TestServer::start();
    let mut c = server.connect_with_caps("alice", CAPS);
    let _bob = server.connect("bob");
    match labeled(&mut c, "mGhe5V7RTV", "WHOIS bob") {
        Response::Batch { kind, lines } => {
            assert_eq!(kind, "labeled-response");
            assert_eq!(lines.first().unwrap().command, RPL_WHOISUSER);
            assert_eq!(lines.last().unwrap().command, RPL_ENDOFWHOIS);
        }
        other => panic!("a batch, got {other:?}"),
    }
    // A JOIN's echo, topic and names all go in one batch.
    match labeled(&mut c, "j1", "JOIN #room") {
        Response::Batch { lines, .. } => {
            assert_eq!(lines[0].command, "JOIN");
            assert!(lines.iter().any(|m| m.command == RPL_ENDOFNAMES));
        }
        other => panic!("a batch, got {other:?}"),
    }
}

#[test]
fn a_command_with_no_reply_gets_ack() {
    // labeled-response, "The ACK response".
    let server = TestServer::start();
    let mut c = server.connect_with_caps("alice", CAPS);
    let mut bob = server.connect("bob");
    assert!(matches!(
        labeled(&mut c, "abc", "PONG :foobar"),
        Response::Ack
    ));
    // A PRIVMSG without echo-message answers nothing: ACK, and bob's copy is clean.
    assert!(matches!(
        labeled(&mut c, "m1", "PRIVMSG bob :hi"),
        Response::Ack
    ));
    let m = bob.expect_privmsg_from("alice", "hi");
    assert_eq!(m.tag("label"), None, "{m}");
}

#[test]
fn echo_message_echo_carries_the_label_and_the_delivery_does_not() {
    // labeled-response, "Tags" (echo-message) and example "echo-message".
    let server = TestServer::start();
    let mut c =
        server.connect_with_caps("alice", "labeled-response batch echo-message message-tags");
    let mut bob = server.connect_with_caps("bob", "labeled-response batch message-tags");
    c.join("#c");
    bob.join("#c");
    match labeled(&mut c, "pQraCjj82e", "PRIVMSG #c :Hello!") {
        Response::Line(m) => {
            assert_eq!((m.command.as_str(), m.param(1)), ("PRIVMSG", "Hello!"));
            assert!(m.tag("msgid").is_some(), "{m}");
        }
        other => panic!("the labeled echo, got {other:?}"),
    }
    let got = bob.expect_privmsg_from("alice", "Hello!");
    assert_eq!(got.tag("label"), None, "{got}");
}

#[test]
fn a_message_to_yourself_is_delivered_unlabeled_and_acked() {
    // labeled-response, "Tags": "When a client sends a message to itself, the server
    // MUST NOT include the label tag, except for any acknowledgment sent with the
    // echo-message mechanism."
    let server = TestServer::start();
    let mut c = server.connect_with_caps("alice", CAPS);
    c.send("@label=self PRIVMSG alice :me");
    let got = c.recv_until(|m| m.command == "ACK", "ACK");
    let delivered = got.iter().find(|m| m.command == "PRIVMSG");
    let delivered = delivered.unwrap_or_else(|| panic!("the message: {got:?}"));
    assert_eq!(delivered.tag("label"), None, "{delivered}");
    assert_eq!(got.last().unwrap().tag("label"), Some("self"));
    // With echo-message the one copy is the echo, and labeled.
    let mut e = server.connect_with_caps("echo", "labeled-response batch echo-message");
    match labeled(&mut e, "self2", "PRIVMSG echo :me") {
        Response::Line(m) => assert_eq!(m.command, "PRIVMSG", "{m}"),
        other => panic!("the labeled echo, got {other:?}"),
    }
}

#[test]
fn store_answers_carry_the_label() {
    // labeled-response, "Tags": "any response produced from this message": LOGIN and
    // REGISTER are answered after the hasher and the store.
    let server = TestServer::start();
    let mut c = server.connect_with_caps("alice", CAPS);
    let r = labeled(&mut c, "reg", &format!("REGISTER alice * :{PW}"));
    let lines = r.lines();
    assert!(
        lines
            .iter()
            .any(|m| m.command == "REGISTER" && m.param(0) == "SUCCESS"),
        "{r:?}"
    );
    assert!(lines.iter().any(|m| m.command == RPL_LOGGEDIN), "{r:?}");
    c.send("LOGOUT");
    c.expect_numeric(RPL_LOGGEDOUT);
    // A LOGIN and a PING in one write: the labeled answer comes whole, then the PONG.
    c.send_bytes(format!("@label=in LOGIN alice :{PW}\r\nPING after\r\n").as_bytes());
    let got = c.recv_until(|m| m.command == "PONG", "PONG after");
    let labeled_at = got
        .iter()
        .position(|m| m.tag("label") == Some("in"))
        .unwrap_or_else(|| panic!("label=in: {got:?}"));
    let answer = &got[labeled_at];
    if answer.command == "BATCH" {
        let end = format!("-{}", &answer.param(0)[1..]);
        let end_at = got
            .iter()
            .position(|m| m.command == "BATCH" && m.param(0) == end);
        let end_at = end_at.unwrap_or_else(|| panic!("{end} before the PONG: {got:?}"));
        assert!(got[labeled_at..end_at]
            .iter()
            .any(|m| m.command == RPL_LOGGEDIN));
    } else {
        assert_eq!(answer.command, RPL_LOGGEDIN, "{answer}");
    }
    // A wrong password is answered with the label too.
    c.send("LOGOUT");
    c.expect_numeric(RPL_LOGGEDOUT);
    let r = labeled(&mut c, "bad", "LOGIN alice wrong");
    assert!(
        r.lines()
            .iter()
            .any(|m| m.command == "FAIL" || m.command == ERR_SASLFAIL),
        "{r:?}"
    );
}

#[test]
fn chathistory_batch_nests_in_the_labeled_response() {
    // labeled-response, "Tags" (a batch for the whole response) and batch, "Nested
    // batches": the chathistory batch's start and end carry the outer reference, its
    // messages the inner one.
    let server = TestServer::start();
    let caps = "labeled-response batch server-time message-tags draft/chathistory";
    let mut c = server.connect_with_caps("alice", caps);
    c.join("#h");
    for i in 0..3 {
        c.send(&format!("PRIVMSG #h :line {i}"));
    }
    c.store_sync();
    match labeled(&mut c, "hist", "CHATHISTORY LATEST #h * 10") {
        Response::Batch { kind, lines } => {
            assert_eq!(kind, "labeled-response");
            let start = &lines[0];
            assert_eq!(
                (start.command.as_str(), start.param(1)),
                ("BATCH", "chathistory")
            );
            let texts: Vec<&str> = lines
                .iter()
                .filter(|m| m.command == "PRIVMSG")
                .map(|m| m.param(1))
                .collect();
            assert_eq!(texts, ["line 0", "line 1", "line 2"]);
        }
        other => panic!("a labeled-response batch, got {other:?}"),
    }
    // An empty history is still one batch inside the labeled one (or labeled itself).
    let r = labeled(&mut c, "empty", "CHATHISTORY LATEST #nothing * 10");
    assert!(!matches!(r, Response::Ack), "{r:?}");
}

#[test]
fn a_history_through_the_replay_backlog_ends_its_batch_after_its_lines() {
    // labeled-response, "Tags" (one logical response) with a history larger than half
    // the SendQ: its lines wait in the replay backlog, and the labeled batch's end
    // must not overtake them.
    let server = TestServer::start_with(|c| c.limits.sendq_bytes = 16384);
    let caps = "labeled-response batch server-time message-tags draft/chathistory";
    let mut c = server.connect_with_caps("alice", caps);
    c.join("#big");
    let text = "z".repeat(150);
    for i in 0..60 {
        c.send(&format!("PRIVMSG #big :{i} {text}"));
    }
    c.store_sync();
    match labeled(&mut c, "big", "CHATHISTORY LATEST #big * 60") {
        Response::Batch { lines, .. } => {
            let n = lines.iter().filter(|m| m.command == "PRIVMSG").count();
            assert_eq!(n, 60);
            assert_eq!(
                lines.last().unwrap().command,
                "BATCH",
                "the nested end last"
            );
        }
        other => panic!("a labeled-response batch, got {other:?}"),
    }
}

#[test]
fn an_over_long_label_is_refused_and_the_command_not_run() {
    // labeled-response, "Tag value": "The value MUST NOT exceed 64 bytes."
    let server = TestServer::start();
    let mut c = server.connect_with_caps("alice", CAPS);
    let long = "x".repeat(65);
    c.send(&format!("@label={long} JOIN #never"));
    let fail = c.expect_command("FAIL");
    assert_eq!(
        (fail.param(0), fail.param(1)),
        ("JOIN", "INVALID_LABEL"),
        "{fail}"
    );
    let got = c.sync();
    assert!(!has(&got, "JOIN"), "{got:?}");
    let mut w = server.connect("watcher");
    assert!(w.names("#never").is_empty());
    // 64 bytes are fine.
    let ok = "y".repeat(64);
    assert!(matches!(labeled(&mut c, &ok, "PONG :x"), Response::Ack));
}

#[test]
fn labels_need_the_capability_and_batch() {
    // labeled-response, "Dependencies": batch MUST be negotiated to use labeled
    // responses; a client without the capability never sees a label.
    let server = TestServer::start();
    for caps in [None, Some("labeled-response"), Some("batch")] {
        let mut c = match caps {
            None => server.connect("plain"),
            Some(caps) => server.connect_with_caps("capped", caps),
        };
        c.send("@label=x PRIVMSG nobody :hi");
        let m = c.expect_numeric(ERR_NOSUCHNICK);
        assert_eq!(m.tag("label"), None, "{caps:?}: {m}");
        c.send("@label=y PONG :z");
        let got = c.sync();
        assert!(!has(&got, "ACK"), "{caps:?}: {got:?}");
        c.quit();
    }
}

#[test]
fn replies_before_registration_are_labeled_too() {
    // labeled-response, "Tags": "any messages" — CAP and NICK before 001.
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    c.send(&format!("CAP REQ :{CAPS}"));
    c.expect(|m| m.command == "CAP" && m.param(1) == "ACK", "CAP ACK");
    match labeled(&mut c, "ls", "CAP LIST") {
        Response::Line(m) => assert_eq!(m.param(1), "LIST", "{m}"),
        other => panic!("one labeled CAP LIST, got {other:?}"),
    }
    c.send("CAP END");
    c.register("alice");
}
