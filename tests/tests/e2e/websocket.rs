//! IRC over WebSocket on the web listener (`[web] listen`): the IRCv3 `websocket`
//! extension (<https://ircv3.net/specs/extensions/websocket>) over RFC 6455, the
//! HTTP answers of the same listener (the web client's pages and their security
//! headers), the `Origin` check and reverse proxies' `X-Forwarded-For`.

use chatd_proto::numeric::*;
use chatd_tests::ws::{self, WsStream};
use chatd_tests::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use tungstenite::Message as WsMessage;

fn web_server(tweak: impl FnOnce(&mut chatd::Config)) -> TestServer {
    TestServer::start_with(|c| {
        c.web.listen = vec!["127.0.0.1:0".parse().unwrap()];
        tweak(c);
    })
}

/// One raw HTTP exchange: `request` sent as is, the whole response read until the
/// server closes (every request here asks for `Connection: close` or is refused).
fn http(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn ws_client(server: &TestServer, protocol: Option<&str>, nick: &str) -> Client<WsStream> {
    let mut c = ws::connect(server.web_addr.unwrap(), protocol);
    c.register(nick);
    c
}

/// websocket §"Protocol": one IRC line per message, without CR LF; text frames for
/// `text.ircv3.net`. A browser user and a TCP user chat in a channel and privately.
#[test]
fn text_subprotocol_one_line_per_message_with_a_tcp_user() {
    let server = web_server(|_| {});
    let mut web = ws_client(&server, Some("text.ircv3.net"), "webby");
    let mut tcp = server.connect("tcpy");
    web.join("#web");
    tcp.join("#web");
    web.sync();
    web.send("PRIVMSG #web :hello from the browser");
    tcp.expect_privmsg_from("webby", "hello from the browser");
    tcp.send("PRIVMSG #web :hello from the terminal");
    tcp.send("PRIVMSG webby :just you");
    web.expect_privmsg_from("tcpy", "hello from the terminal");
    web.expect_privmsg_from("tcpy", "just you");
    let frames = &web_stream(&mut web).frames;
    assert!(!frames.is_empty());
    for (text, payload) in frames {
        assert!(*text, "text.ircv3.net sends text frames");
        assert!(
            !payload.contains(&b'\n') && !payload.contains(&b'\r'),
            "one line per message, no CR LF: {:?}",
            String::from_utf8_lossy(payload)
        );
    }
}

fn web_stream(c: &mut Client<WsStream>) -> &mut WsStream {
    c.stream_mut()
}

/// websocket §"Protocol": binary frames for `binary.ircv3.net`; a client that names
/// no subprotocol is answered in text, without a `Sec-WebSocket-Protocol`.
#[test]
fn binary_subprotocol_and_none() {
    let server = web_server(|_| {});
    let addr = server.web_addr.unwrap();
    let (_, chosen) = ws::open(addr, Some("binary.ircv3.net"), &[]).unwrap();
    assert_eq!(chosen.as_deref(), Some("binary.ircv3.net"));
    let (_, chosen) = ws::open(addr, Some("foo, text.ircv3.net"), &[]).unwrap();
    assert_eq!(chosen.as_deref(), Some("text.ircv3.net"));
    let mut bin = ws_client(&server, Some("binary.ircv3.net"), "bin");
    bin.sync();
    assert!(web_stream(&mut bin).frames.iter().all(|(text, _)| !text));
    let (_, chosen) = ws::open(addr, None, &[]).unwrap();
    assert_eq!(chosen, None);
    let mut plain = ws_client(&server, None, "nosub");
    plain.sync();
    assert!(web_stream(&mut plain).frames.iter().all(|(text, _)| *text));
    assert_eq!(
        ws::open(addr, Some("irc, chat"), &[]).err(),
        Some(400),
        "no IRCv3 subprotocol offered"
    );
}

/// RFC 6455 §10.2 (origin considerations): a page from another origin may not open a
/// WebSocket, unless it is in `web.allowed_origins`; pages chatd serves may.
#[test]
fn origin_is_checked() {
    let server = web_server(|_| {});
    let addr = server.web_addr.unwrap();
    let own = format!("http://{addr}");
    assert!(ws::open(addr, None, &[("Origin", &own)]).is_ok());
    assert_eq!(
        ws::open(addr, None, &[("Origin", "https://evil.example")]).err(),
        Some(403)
    );
    let listed = web_server(|c| c.web.allowed_origins = vec!["https://chat.example.com".into()]);
    let addr = listed.web_addr.unwrap();
    assert!(ws::open(addr, None, &[("Origin", "https://chat.example.com")]).is_ok());
    assert_eq!(
        ws::open(addr, None, &[("Origin", &format!("http://{addr}"))]).err(),
        Some(403),
        "with a list, only the list"
    );
}

/// `X-Forwarded-For` and `Forwarded` (RFC 7239 §5.2) name the client only when the
/// connection comes from `web.trusted_proxies`; then bans see that client.
#[test]
fn forwarded_for_is_honoured_only_from_trusted_proxies() {
    let untrusted = web_server(|_| {});
    let (stream, _) = ws::open(
        untrusted.web_addr.unwrap(),
        None,
        &[("X-Forwarded-For", "203.0.113.9")],
    )
    .unwrap();
    let mut c = Client::over(stream);
    c.register("spoofer");
    c.send("WHOIS spoofer");
    assert_eq!(c.expect_numeric(RPL_WHOISUSER).param(3), "127.0.0.1");

    let server = web_server(|c| c.web.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]);
    let addr = server.web_addr.unwrap();
    let (stream, _) = ws::open(
        addr,
        None,
        &[("X-Forwarded-For", "198.51.100.1, 203.0.113.9")],
    )
    .unwrap();
    let mut c = Client::over(stream);
    c.register("proxied");
    c.send("WHOIS proxied");
    assert_eq!(c.expect_numeric(RPL_WHOISUSER).param(3), "203.0.113.9");
    let (stream, _) = ws::open(addr, None, &[("Forwarded", "for=\"[2001:db8::7]:4711\"")]).unwrap();
    let mut c6 = Client::over(stream);
    c6.register("proxied6");
    c6.send("WHOIS proxied6");
    assert_eq!(c6.expect_numeric(RPL_WHOISUSER).param(3), "2001:db8::7");

    let answer = server.admin(r#"{"id":1,"cmd":"ban","mask":"203.0.113.9","reason":"go"}"#);
    assert_eq!(answer["ok"], true, "{answer}");
    let (stream, _) = ws::open(addr, None, &[("X-Forwarded-For", "203.0.113.9")]).unwrap();
    let mut banned = Client::over(stream);
    banned.send("PING :x");
    let error = banned.expect_error_and_close();
    assert!(error.param(0).contains("Banned: go"), "{error:?}");
}

/// A TCP client's limits hold over WebSocket: a line over 512 bytes is 417
/// ERR_INPUTTOOLONG (modern.ircdocs.horse), and a message larger than any IRC line
/// closes the connection (RFC 6455 §7.4.1, status 1009).
#[test]
fn limits_hold_over_websocket() {
    let server = web_server(|_| {});
    let mut c = ws_client(&server, Some("text.ircv3.net"), "big");
    c.send(&format!("PRIVMSG big :{}", "x".repeat(600)));
    c.expect_numeric(ERR_INPUTTOOLONG);
    c.sync();
    let ws = web_stream(&mut c).socket();
    ws.send(WsMessage::Text("x".repeat(20_000).into())).unwrap();
    let mut closed = false;
    for _ in 0..100 {
        match ws.read() {
            Ok(WsMessage::Close(frame)) => {
                assert_eq!(u16::from(frame.unwrap().code), 1009);
                closed = true;
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(closed, "closed with 1009");
}

/// The web client's pages: the Content-Security-Policy forbids inline script and
/// third-party requests; nosniff; an ETag revalidates with 304; keep-alive serves
/// several requests; unknown paths, other methods, bodies and huge heads are refused.
#[test]
fn pages_carry_security_headers_and_bad_requests_are_refused() {
    let server = web_server(|_| {});
    let addr = server.web_addr.unwrap();
    let page = http(
        addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    let csp = header(&page, "Content-Security-Policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(header(&page, "X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(
        header(&page, "Strict-Transport-Security"),
        None,
        "not over plain HTTP"
    );
    assert!(header(&page, "Content-Type")
        .unwrap()
        .starts_with("text/html"));
    assert!(page.contains("<script type=\"module\" src=\"app.js\">"));
    assert!(!page.contains("<script>"), "no inline script");
    let etag = header(&page, "ETag").unwrap().to_string();
    let again = http(
        addr,
        &format!("GET /index.html HTTP/1.1\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"),
    );
    assert!(again.starts_with("HTTP/1.1 304 "), "{again}");

    // Keep-alive: two requests on one connection, answered in order.
    let two = http(
        addr,
        "HEAD /app.js HTTP/1.1\r\n\r\nGET /style.css HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(two.matches("HTTP/1.1 200 OK").count(), 2, "{two}");
    assert!(two.contains("text/javascript") && two.contains("text/css"));

    for (request, status) in [
        ("GET /nope HTTP/1.1\r\n\r\n", "404"),
        ("GET /../Cargo.toml HTTP/1.1\r\n\r\n", "404"),
        ("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "405"),
        ("GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", "413"),
        ("GARBAGE\r\n\r\n", "400"),
        (
            "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            "426",
        ),
    ] {
        let got = http(addr, request);
        assert!(
            got.starts_with(&format!("HTTP/1.1 {status} ")),
            "{request:?}: {got}"
        );
    }
    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(9000));
    assert!(http(addr, &huge).starts_with("HTTP/1.1 431 "));
    // The IRC port still turns HTTP away.
    let mut irc = server.connect_raw();
    irc.send("GET / HTTP/1.1");
    irc.expect_closed();
}

/// Over TLS (`[web] tls_listen`, the IRC certificate): pages carry HSTS, and IRC
/// over `wss:` works.
#[test]
fn https_pages_carry_hsts_and_wss_works() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, root) = tls::make_cert(dir.path(), "web");
    let server = TestServer::start_with(|c| {
        c.tls.cert = Some(cert);
        c.tls.key = Some(key);
        c.tls.listen = vec!["127.0.0.1:0".parse().unwrap()];
        c.web.tls_listen = vec!["127.0.0.1:0".parse().unwrap()];
    });
    let addr = server.web_tls_addr.unwrap();
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut s = rustls::StreamOwned::new(tls::session(&root), sock);
    s.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut page = Vec::new();
    let _ = s.read_to_end(&mut page);
    let page = String::from_utf8_lossy(&page);
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(header(&page, "Strict-Transport-Security").is_some());

    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    let stream = rustls::StreamOwned::new(tls::session(&root), sock);
    let (mut ws, _) = tungstenite::client("wss://localhost/", stream).unwrap();
    ws.send(WsMessage::Text("PING :over-wss".into())).unwrap();
    let mut got = String::new();
    for _ in 0..20 {
        if let Ok(WsMessage::Text(t)) = ws.read() {
            got = t.to_string();
            if got.contains("PONG") {
                break;
            }
        }
    }
    assert!(got.contains("PONG") && got.contains("over-wss"), "{got}");
}

/// A request head that does not come within `tls.handshake_timeout_secs` ends the
/// connection, as a slow TLS handshake does (the clock is moved, not waited for).
#[test]
fn a_slow_request_head_is_dropped() {
    let server = web_server(|_| {});
    let mut s = TcpStream::connect(server.web_addr.unwrap()).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    // A full request on another connection is answered: the loop has seen ours.
    let page = http(
        server.web_addr.unwrap(),
        "GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert!(page.starts_with("HTTP/1.1 200 OK"));
    server.advance_clock(std::time::Duration::from_secs(11));
    let mut rest = Vec::new();
    let n = s.read_to_end(&mut rest).expect("closed, not timed out");
    assert_eq!(
        n,
        0,
        "nothing is sent: {:?}",
        String::from_utf8_lossy(&rest)
    );
}
