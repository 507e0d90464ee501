//! Issue 14, admission and wire form: who may connect (expired bans, the exempt list,
//! the PROXY protocol), what a channel may be called, and free text relayed as a
//! trailing parameter with its `:` (RFC 1459 §2.3.1, modern.ircdocs.horse "Parameters").

use chatd::config::LimitsConfig;
use chatd_proto::numeric::*;
use chatd_tests::*;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One request on the admin socket (a JSON line); its answer, which must be ok.
fn admin(server: &TestServer, request: &str) -> serde_json::Value {
    let answer = server.admin(request);
    assert_eq!(answer["ok"], true, "{request} -> {answer}");
    answer
}

/// Connects and expects to be turned away; returns what the server sent.
fn refused(server: &TestServer, first: &[u8]) -> String {
    let mut c = server.connect_raw();
    c.send_bytes(first);
    c.expect_closed().join("\n")
}

/// A client that sends `header` (a PROXY protocol header) first, then registers.
fn via_proxy(server: &TestServer, header: &[u8], nick: &str) -> Client {
    let mut c = server.connect_raw();
    c.send_bytes(header);
    c.register(nick);
    c
}

/// The host WHOIS shows for `nick` (311 RPL_WHOISUSER).
fn whois_host(c: &mut Client, nick: &str) -> String {
    c.send(&format!("WHOIS {nick}"));
    let m = c.expect_numeric(RPL_WHOISUSER);
    m.param(3).to_string()
}

/// A v2 PROXY header (TCP over IPv4 when `v4`, else LOCAL) from `src`:`port`.
fn v2_header(src: [u8; 4], port: u16, local: bool) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(if local { 0x20 } else { 0x21 });
    h.push(if local { 0x00 } else { 0x11 });
    let body_len: u16 = if local { 0 } else { 12 };
    h.extend_from_slice(&body_len.to_be_bytes());
    if !local {
        h.extend_from_slice(&src);
        h.extend_from_slice(&[127, 0, 0, 1]);
        h.extend_from_slice(&port.to_be_bytes());
        h.extend_from_slice(&6667u16.to_be_bytes());
    }
    h
}

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

// ---- issue 14 item 15: an expired ban no longer refuses ----

/// A ban with `duration_secs` refuses at accept until it expires, and not after:
/// no `chatctl bans` and no restart needed.
#[test]
fn issue14_an_expired_ip_ban_no_longer_refuses_connections() {
    let server = TestServer::start();
    let answer = admin(
        &server,
        r#"{"id":1,"cmd":"ban","mask":"127.0.0.1","duration_secs":1,"reason":"cool off"}"#,
    );
    let expires = answer["result"]["expires"].as_i64().expect("an expiry");
    let text = refused(&server, b"NICK early\r\nUSER early 0 * :e\r\n");
    assert!(text.contains("Banned: cool off"), "{text}");
    // The state waited for is the clock passing the expiry (at most 2 s away).
    let at = UNIX_EPOCH + Duration::from_secs(expires as u64);
    if let Ok(left) = at.duration_since(SystemTime::now()) {
        std::thread::sleep(left + Duration::from_millis(50));
    }
    let mut late = server.connect("late");
    late.sync();
}

// ---- issue 14 item 17: the exempt list and the PROXY protocol ----

/// With the default limits, 20 clients from 127.0.0.1 (a class on one machine) are
/// all admitted: loopback is in `limits.exempt`.
#[test]
fn issue14_twenty_loopback_clients_are_admitted_by_default() {
    let server = TestServer::start_with(|c| c.limits = LimitsConfig::default());
    let mut clients: Vec<Client> = (0..20).map(|i| server.connect(&format!("u{i}"))).collect();
    for c in &mut clients {
        c.sync();
    }
    // They may also register more accounts than registrations_per_ip_per_hour (5).
    for (i, c) in clients.iter_mut().take(6).enumerate() {
        c.register_account(&format!("u{i}"), "correcthorsebattery");
    }
}

/// Without an exemption the per-address limits hold, and the refusal names the key.
#[test]
fn issue14_a_per_address_refusal_names_the_setting() {
    let server = TestServer::start_with(|c| c.limits.conns_per_ip = 2);
    let _a = server.connect("a");
    let _b = server.connect("b");
    let text = refused(&server, b"");
    assert!(
        text.contains("Too many connections from your address")
            && text.contains("limits.conns_per_ip = 2")
            && text.contains("limits.exempt"),
        "{text}"
    );
}

/// PROXY protocol v1 and v2 (haproxy proxy-protocol.txt §2.1, §2.2) from a listed
/// proxy: WHOIS shows the client's address, and the per-address limits and bans
/// apply to it, not to the proxy.
#[test]
fn issue14_proxy_headers_from_a_listed_proxy_name_the_client() {
    let server = TestServer::start_with(|c| {
        c.server.proxy_from = vec!["127.0.0.0/8".parse().unwrap()];
        c.limits.conns_per_ip = 2;
    });
    let mut a = via_proxy(
        &server,
        b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 6667\r\n",
        "a",
    );
    let mut b = via_proxy(&server, &v2_header([203, 0, 113, 7], 40001, false), "b");
    assert_eq!(whois_host(&mut a, "a"), "203.0.113.7");
    assert_eq!(whois_host(&mut a, "b"), "203.0.113.7");
    // The third from 203.0.113.7 is over limits.conns_per_ip...
    let text = refused(&server, b"PROXY TCP4 203.0.113.7 127.0.0.1 40002 6667\r\n");
    assert!(
        text.contains("Closing Link: 203.0.113.7 (Too many connections"),
        "{text}"
    );
    // ... and others behind the same proxy are not.
    let mut v6 = via_proxy(&server, b"PROXY TCP6 2001:db8::7 ::1 40003 6667\r\n", "v6");
    assert_eq!(whois_host(&mut b, "v6"), "2001:db8::7");
    // LOCAL (a health check) and UNKNOWN keep the proxy's own address.
    let mut hc = via_proxy(&server, &v2_header([0; 4], 0, true), "hc");
    assert_eq!(whois_host(&mut hc, "hc"), "127.0.0.1");
    let mut unknown = via_proxy(&server, b"PROXY UNKNOWN\r\n", "unknown");
    assert_eq!(whois_host(&mut unknown, "unknown"), "127.0.0.1");
    // A ban on the client's address refuses it through the proxy.
    admin(
        &server,
        r#"{"id":1,"cmd":"ban","mask":"203.0.113.9","reason":"go"}"#,
    );
    let text = refused(&server, &v2_header([203, 0, 113, 9], 40004, false));
    assert!(text.contains("Banned: go"), "{text}");
    v6.sync();
}

/// A listed proxy must send a header, and a good one.
#[test]
fn issue14_a_listed_proxy_without_a_good_header_is_refused() {
    let server = TestServer::start_with(|c| {
        c.server.proxy_from = vec!["127.0.0.1".parse().unwrap()];
    });
    let mut oversized = v2_header([203, 0, 113, 7], 1, false);
    oversized[14] = 0xff;
    oversized[15] = 0xff;
    let mut bad_version = v2_header([203, 0, 113, 7], 1, false);
    bad_version[12] = 0x11;
    let long_v1 = format!("PROXY TCP4 {}\r\n", "1".repeat(200));
    let cases: Vec<(&[u8], &str)> = vec![
        (
            b"NICK x\r\nUSER x 0 * :x\r\n",
            "expected a PROXY protocol header",
        ),
        (b"PROXY TCP4 bogus\r\n", "malformed PROXY protocol header"),
        (
            b"PROXY TCP4 203.0.113.7 127.0.0.1 99999 6667\r\n",
            "malformed",
        ),
        (b"PROXY TCP6 203.0.113.7 127.0.0.1 1 6667\r\n", "malformed"),
        (long_v1.as_bytes(), "too long"),
        (&bad_version, "malformed"),
        (&oversized, "too long"),
    ];
    for (first, why) in cases {
        let text = refused(&server, first);
        assert!(text.contains(why), "{first:?}: {text}");
    }
}

/// A PROXY header from an address not in `server.proxy_from` is refused: anyone could
/// otherwise claim any address.
#[test]
fn issue14_a_proxy_header_from_an_unlisted_address_is_refused() {
    let server = TestServer::start();
    for first in [
        b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 6667\r\nNICK x\r\nUSER x 0 * :x\r\n".to_vec(),
        v2_header([203, 0, 113, 7], 40000, false),
    ] {
        let text = refused(&server, &first);
        assert!(text.contains("not in server.proxy_from"), "{text}");
    }
    // Not in the first bytes read (after an empty line), the header is still caught.
    let mut c = server.connect_raw();
    c.send_bytes(b"\r\n");
    c.sync();
    c.send_bytes(b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 6667\r\n");
    let text = c.expect_closed().join("\n");
    assert!(text.contains("not in server.proxy_from"), "{text}");
}
