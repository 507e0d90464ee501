//! TLS listeners, end to end with a real rustls client and a certificate generated
//! at test time: chatting with plaintext clients, WHOIS 671, certificate reload
//! without dropping a connected client, the handshake timeout, and peers speaking
//! the wrong protocol on each port, and the IRCv3 STS policy on each kind of connection.

use chatd::Config;
use chatd_tests::tls::{handshake_ok, make_cert, session as tls_session};
use chatd_tests::{admin_line, Client, TestServer, TlsStream};
use rustls::pki_types::CertificateDer;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);

fn config_text(dir: &Path, cert: &Path, key: &Path, motd: &str) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\ndata_dir = {:?}\nauto_join = []\nmotd = {motd:?}\n\n\
         [tls]\nlisten = [\"127.0.0.1:0\"]\ncert = {cert:?}\nkey = {key:?}\nhandshake_timeout_secs = 1\n\n\
         [accounts]\npbkdf2_iterations = 1000\n",
        dir.join("data")
    )
}

/// A server on `dir/chatd.toml` (which a reload reads again) with a plaintext and a
/// TLS listener.
fn start(dir: &Path, cert: &Path, key: &Path) -> TestServer {
    let path = dir.join("chatd.toml");
    std::fs::write(&path, config_text(dir, cert, key, "hello")).unwrap();
    TestServer::start_from_file(&path)
}

fn plain_client(addr: SocketAddr) -> Client {
    Client::connect(addr)
}

fn tls_client(addr: SocketAddr, root: &CertificateDer<'static>) -> Client<TlsStream> {
    chatd_tests::tls::connect(addr, root)
}

#[test]
fn a_tls_client_chats_with_a_plaintext_client_and_whois_shows_671() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, root) = make_cert(dir.path(), "a");
    let server = start(dir.path(), &cert, &key);
    let mut secure = tls_client(server.tls_addr.unwrap(), &root);
    secure.register("secure");
    let mut plain = plain_client(server.addr);
    plain.register("plain");
    secure.send("JOIN #both");
    secure.expect_line(" 366 ", |l| l.contains(" 366 "));
    plain.send("JOIN #both");
    plain.expect_line(" 366 ", |l| l.contains(" 366 "));
    secure.expect_line("JOIN #both", |l| l.contains("JOIN #both"));
    plain.send("PRIVMSG #both :over plaintext");
    assert!(secure
        .expect_line("PRIVMSG #both", |l| l.contains("PRIVMSG #both"))
        .ends_with(":over plaintext"));
    secure.send("PRIVMSG #both :over TLS");
    assert!(plain
        .expect_line("PRIVMSG #both", |l| l.contains("PRIVMSG #both"))
        .ends_with(":over TLS"));
    plain.send("WHOIS secure");
    assert!(plain
        .expect_line(" 671 ", |l| l.contains(" 671 "))
        .contains("secure :is using a secure connection"));
    plain.send("WHOIS plain");
    let end = plain.expect_line(" 318 ", |l| l.contains(" 318 "));
    let plain_whois: Vec<&str> = plain
        .received()
        .into_iter()
        .filter(|l| l.contains(" 671 "))
        .collect();
    assert_eq!(plain_whois.len(), 1, "only the TLS user has 671; {end}");
}

#[test]
fn reload_swaps_the_certificate_and_keeps_connected_clients() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, old_root) = make_cert(dir.path(), "old");
    let server = start(dir.path(), &cert, &key);
    let mut kept = tls_client(server.tls_addr.unwrap(), &old_root);
    kept.register("kept");
    kept.send("JOIN #r");
    kept.expect_line(" 366 ", |l| l.contains(" 366 "));

    // New certificate files, then a reload through the admin socket.
    let (new_cert, new_key, new_root) = make_cert(dir.path(), "new");
    std::fs::write(
        dir.path().join("chatd.toml"),
        config_text(dir.path(), &new_cert, &new_key, "hello again"),
    )
    .unwrap();
    let reply = admin_line(server.admin_socket(), r#"{"id":1,"cmd":"reload"}"#);
    assert!(reply.contains(r#""ok":true"#), "{reply}");
    assert!(reply.contains("tls certificate"), "{reply}");

    // New handshakes get the new certificate; the old one is no longer served.
    assert!(handshake_ok(server.tls_addr.unwrap(), &new_root));
    assert!(!handshake_ok(server.tls_addr.unwrap(), &old_root));
    // The client connected before the reload still works both ways.
    let mut fresh = tls_client(server.tls_addr.unwrap(), &new_root);
    fresh.register("fresh");
    assert!(
        fresh.received().iter().any(|l| l.contains("hello again")),
        "new MOTD"
    );
    fresh.send("JOIN #r");
    fresh.expect_line(" 366 ", |l| l.contains(" 366 "));
    fresh.send("PRIVMSG #r :to the old session");
    assert!(kept
        .expect_line("PRIVMSG #r", |l| l.contains("PRIVMSG #r"))
        .ends_with(":to the old session"));
    kept.send("PRIVMSG #r :from the old session");
    assert!(fresh
        .expect_line("PRIVMSG #r", |l| l.contains("PRIVMSG #r"))
        .ends_with(":from the old session"));
}

#[test]
fn a_bad_certificate_on_reload_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, root) = make_cert(dir.path(), "a");
    let server = start(dir.path(), &cert, &key);
    std::fs::write(&cert, "not a certificate").unwrap();
    let reply = admin_line(server.admin_socket(), r#"{"id":1,"cmd":"reload"}"#);
    assert!(reply.contains(r#""ok":false"#), "{reply}");
    assert!(reply.contains("a.crt"), "the error names the file: {reply}");
    assert!(
        handshake_ok(server.tls_addr.unwrap(), &root),
        "still serving the old one"
    );
}

#[test]
fn wrong_protocols_are_closed_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, root) = make_cert(dir.path(), "a");
    let server = start(dir.path(), &cert, &key);

    // Plaintext IRC to the TLS port: closed.
    let mut s = TcpStream::connect(server.tls_addr.unwrap()).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(b"NICK oops\r\nUSER oops 0 * :x\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains(" 001 "));

    // A TLS hello to the plaintext port: an ERROR line, then closed.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut conn = tls_session(&root);
    let _ = conn.write_tls(&mut s);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    assert!(text.contains("TLS handshake on a plaintext port"), "{text}");

    // A client that never finishes its handshake is dropped after the timeout (1 s).
    let mut idle = TcpStream::connect(server.tls_addr.unwrap()).unwrap();
    idle.set_read_timeout(Some(TIMEOUT)).unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let ended = match idle.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(ended, "the server closed the idle handshake");
    assert!(started.elapsed() < TIMEOUT);
    // At most a TLS alert record, never a line of IRC.
    assert!(!String::from_utf8_lossy(&rest).contains("PING"));

    // Everyone else is still served.
    let mut ok = tls_client(server.tls_addr.unwrap(), &root);
    ok.register("fine");
    let mut ok2 = plain_client(server.addr);
    ok2.register("fine2");
}

#[test]
fn sts_sends_plaintext_clients_to_the_tls_port_and_gives_tls_clients_the_duration() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, root) = make_cert(dir.path(), "sts");
    let path = dir.path().join("chatd.toml");
    let text = config_text(dir.path(), &cert, &key, "hello").replace(
        "handshake_timeout_secs = 1\n",
        "handshake_timeout_secs = 1\nsts_duration_secs = 300\n",
    );
    std::fs::write(&path, text).unwrap();
    let server = TestServer::start_from_file(&path);
    let (plain, tls) = (server.addr, server.tls_addr.unwrap());

    let mut p = plain_client(plain);
    p.send("CAP LS 302");
    let ls = p.expect_line(" LS ", |l| l.contains(" LS "));
    assert!(
        ls.contains(&format!("sts=port={}", tls.port())) && !ls.contains("duration"),
        "plaintext CAP LS names the TLS port: {ls}"
    );
    let mut t = tls_client(tls, &root);
    t.send("CAP LS 302");
    let ls = t.expect_line(" LS ", |l| l.contains(" LS "));
    assert!(
        ls.contains("sts=duration=300") && !ls.contains("sts=port"),
        "TLS CAP LS carries the duration: {ls}"
    );
    // A policy, not a capability to request; and CAP LS without 302 has no values.
    p.send("CAP REQ :sts");
    assert!(p
        .expect_line(" NAK ", |l| l.contains(" NAK "))
        .contains("sts"));
    let mut old = plain_client(plain);
    old.send("CAP LS");
    let ls = old.expect_line(" LS ", |l| l.contains(" LS "));
    assert!(!ls.contains("sts"), "{ls}");

    server.stop();
}

#[test]
fn sts_is_off_unless_configured_turns_on_with_a_reload_and_needs_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = make_cert(dir.path(), "nosts");
    let running = start(dir.path(), &cert, &key);
    let mut p = plain_client(running.addr);
    p.send("CAP LS 302");
    assert!(!p
        .expect_line(" LS ", |l| l.contains(" LS "))
        .contains("sts"));

    // Turned on by a reload, for the next CAP LS.
    let text = config_text(dir.path(), &cert, &key, "hello").replace(
        "handshake_timeout_secs = 1\n",
        "handshake_timeout_secs = 1\nsts_duration_secs = 60\nsts_port = 6697\n",
    );
    std::fs::write(dir.path().join("chatd.toml"), text).unwrap();
    let reply = admin_line(running.admin_socket(), r#"{"id":1,"cmd":"reload"}"#);
    assert!(reply.contains("tls.sts"), "{reply}");
    p.send("CAP LS 302");
    assert!(p
        .expect_line(" LS ", |l| l.contains(" LS "))
        .contains("sts=port=6697"));

    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[tls]\nsts_duration_secs = 300\n").unwrap();
    let err = Config::load(&path).expect_err("STS without a certificate is refused");
    assert!(err.to_string().contains("tls.sts_duration_secs"), "{err}");
}
