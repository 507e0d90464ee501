//! Framing and malformed input — modern.ircdocs.horse "Message format" (512-byte
//! lines, `417 ERR_INPUTTOOLONG`), IRCv3 message-tags (8191 bytes of tags), UTF8ONLY.
//! Bad input gets a numeric or a clean disconnect and never disturbs anyone else.

use chatd_proto::numeric::*;
use chatd_tests::TestServer;

#[test]
fn bare_lf_and_lowercase_commands_are_accepted() {
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send_bytes(b"nick netcat\nuser netcat 0 * :nc user\n");
    c.expect_numeric(RPL_WELCOME);
    c.send_bytes(b"ping :bare\n");
    assert_eq!(c.expect_command("PONG").param(1), "bare");
}

#[test]
fn over_long_line_gets_417_and_the_next_line_works() {
    let server = TestServer::start();
    let mut c = server.connect("longy");
    let text = "x".repeat(600);
    c.send(&format!("PRIVMSG longy :{text}"));
    c.expect_numeric(ERR_INPUTTOOLONG);
    // Exactly 512 bytes with CRLF is fine.
    let fits = format!(
        "PRIVMSG longy :{}",
        "y".repeat(510 - "PRIVMSG longy :".len())
    );
    assert_eq!(fits.len(), 510);
    c.send(&fits);
    let got = c.sync();
    assert!(
        !got.iter().any(|m| m.command == ERR_INPUTTOOLONG),
        "{got:?}"
    );
}

#[test]
fn tags_may_be_long_but_not_longer_than_8191_bytes() {
    let server = TestServer::start();
    let mut c = server.connect("tags");
    let ok_tags = format!("@+big={} ", "v".repeat(8191 - "@+big= ".len()));
    assert_eq!(ok_tags.len(), 8191);
    c.send(&format!("{ok_tags}PING :tagged"));
    assert_eq!(c.expect_command("PONG").param(1), "tagged");
    let long_tags = format!("@+big={} ", "v".repeat(8192 - "@+big= ".len()));
    c.send(&format!("{long_tags}PING :too-long"));
    c.expect_numeric(ERR_INPUTTOOLONG);
}

#[test]
fn unterminated_flood_disconnects_only_that_peer() {
    let server = TestServer::start();
    let mut bystander = server.connect("bystander");
    let mut bad = server.connect("bad");
    bad.send_bytes(&vec![b'A'; 9 * 1024]);
    let rest = bad.expect_closed();
    assert!(rest.iter().any(|l| l.starts_with("ERROR")), "{rest:?}");
    bystander.send("PRIVMSG bystander :still here");
    bystander.expect_privmsg_from("bystander", "still here");
}

#[test]
fn junk_lines_are_ignored_or_answered_and_the_session_goes_on() {
    let server = TestServer::start();
    let mut c = server.connect("junk");
    c.send_bytes(b"\r\n   \r\n:onlyprefix\r\n@a=b\r\nPRIVMSG junk :nul\0byte\r\n");
    let got = c.sync();
    assert!(got.is_empty(), "junk produced {got:?}");
    c.send_bytes(b"PRIVMSG junk :caf\xe9\r\n");
    let fail = c.expect_command("FAIL");
    assert_eq!((fail.param(0), fail.param(1)), ("PRIVMSG", "INVALID_UTF8"));
    c.send("PRIVMSG junk :ok after junk");
    c.expect_privmsg_from("junk", "ok after junk");
}

/// IRCv3 standard replies: the command of a `FAIL` may be `*`. A command made of
/// control bytes (a terminal escape, BEL) and invalid UTF-8 is not echoed back as is,
/// nor is one that is valid UTF-8 but not a plain word (RFC 2812 §2.3.1: a command is
/// letters or three digits), in `421`.
#[test]
fn replies_never_echo_control_bytes_of_the_command() {
    let server = TestServer::start();
    let mut c = server.connect("escaper");
    c.send_bytes(b"\x1b[2J\x07\xffX junk :caf\xe9\r\n");
    let fail = c.expect_command("FAIL");
    assert_eq!((fail.param(0), fail.param(1)), ("*", "INVALID_UTF8"));
    assert!(
        !fail
            .to_string()
            .chars()
            .any(|ch| ch.is_control() || ch == '\u{fffd}'),
        "{fail:?}"
    );
    c.send_bytes(b"\x1b]0;owned\x07 x\r\n");
    let unknown = c.expect_numeric(ERR_UNKNOWNCOMMAND);
    assert_eq!(unknown.param(1), "*");
    // A prefix and then a "command" that starts with ':' (found by the command
    // fuzzer): echoed, it would read as a trailing parameter and shift the others.
    c.send_bytes(b":pre\xe1fix :x\r\n");
    let fail = c.expect_command("FAIL");
    assert_eq!((fail.param(0), fail.param(1)), ("*", "INVALID_UTF8"));
    c.send(":prefix :x");
    let unknown = c.expect_numeric(ERR_UNKNOWNCOMMAND);
    assert_eq!(unknown.param(1), "*");
    c.send("PRIVMSG escaper :still fine");
    c.expect_privmsg_from("escaper", "still fine");
}

#[test]
fn unknown_command_is_421() {
    let server = TestServer::start();
    let mut c = server.connect("who");
    c.send("FROBNICATE a b");
    let m = c.expect_numeric(ERR_UNKNOWNCOMMAND);
    assert_eq!(m.param(1), "FROBNICATE");
}

#[test]
fn a_client_that_stops_reading_is_dropped_with_sendq_exceeded_and_nobody_else_waits() {
    let server = TestServer::start_with(|c| c.limits.sendq_bytes = 64 * 1024);
    let mut sender = server.connect("flooder");
    let mut watcher = server.connect("watcher");
    let mut sleeper = server.connect("sleeper");
    for c in [&mut sender, &mut watcher, &mut sleeper] {
        c.send("JOIN #busy");
        c.expect_numeric(RPL_ENDOFNAMES);
    }
    // The sleeper never reads again. Kernel buffers on loopback hold a few MB, so
    // keep sending (bounded) until the server gives up on it.
    let line = format!("PRIVMSG #busy :{}", "z".repeat(400));
    let mut dropped = None;
    // Small rounds, each drained by the watcher, so only the sleeper falls behind.
    'outer: for _round in 0..2000 {
        for _ in 0..40 {
            sender.send(&line);
        }
        sender.sync();
        for m in watcher.sync() {
            if m.command == "QUIT" && m.source_nick() == Some("sleeper") {
                dropped = Some(m);
                break 'outer;
            }
        }
    }
    let quit = dropped.expect("the sleeper was never dropped");
    assert_eq!(quit.param(0), "SendQ exceeded");
    // Everyone else is still served, in order.
    sender.send("PRIVMSG #busy :after the drop");
    watcher.expect_privmsg_from("flooder", "after the drop");
}

#[test]
#[cfg_attr(not(has_ipv6_loopback), ignore = "no IPv6 loopback here")]
fn ipv6_clients_get_a_safe_host() {
    let server = TestServer::start_with(|c| c.server.listen = vec!["[::1]:0".parse().unwrap()]);
    let mut c = server.connect("six");
    c.send("WHO six");
    let row = c.expect_numeric(RPL_WHOREPLY);
    assert_eq!(row.param(3), "0::1", "{row}");
}

/// RFC 1459 §2.3.1: a middle parameter is never empty and never holds a space (issue
/// 16). A client's trailing parameter echoed in a numeric before its text (`WHOIS :a
/// b`) would break the line; it is shown as `*`, and the connection goes on.
#[test]
fn trailing_input_echoed_in_a_numeric_keeps_the_line_valid() {
    let server = TestServer::start();
    let mut c = server.connect("alice");
    for (line, numeric) in [
        ("WHOIS :a b", ERR_NOSUCHNICK),
        ("PART :#a b", ERR_NOSUCHCHANNEL),
        ("INVITE alice :#a b", ERR_NOSUCHCHANNEL),
        ("TOPIC :#a b", ERR_NOSUCHCHANNEL),
    ] {
        c.send(line);
        let got = c.sync();
        let m = got
            .iter()
            .find(|m| m.command == numeric)
            .unwrap_or_else(|| panic!("{line}: no {numeric} in {got:?}"));
        assert_eq!(m.params.len(), 3, "{line}: {m}");
        assert_eq!(m.param(1), "*", "{line}: {m}");
    }
}
