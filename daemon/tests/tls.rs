//! TLS listeners, end to end with a real rustls client and a certificate generated
//! at test time: chatting with plaintext clients, WHOIS 671, certificate reload
//! without dropping a connected client, the handshake timeout, and peers speaking
//! the wrong protocol on each port, and the IRCv3 STS policy on each kind of connection.

use chatd::{Config, Server, ServerHandle};
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A self-signed certificate for `localhost`, written as PEM into `dir`.
fn make_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf, CertificateDer<'static>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_path = dir.join(format!("{name}.crt"));
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    (cert_path, key_path, cert.cert.der().clone())
}

struct Running {
    plain: SocketAddr,
    tls: SocketAddr,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    admin: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn config_text(dir: &Path, cert: &Path, key: &Path, motd: &str) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\ndata_dir = {:?}\nauto_join = []\nmotd = {motd:?}\n\n\
         [tls]\nlisten = [\"127.0.0.1:0\"]\ncert = {cert:?}\nkey = {key:?}\nhandshake_timeout_secs = 1\n\n\
         [accounts]\npbkdf2_iterations = 1000\n",
        dir.join("data")
    )
}

fn start(dir: &Path, cert: &Path, key: &Path) -> Running {
    let path = dir.join("chatd.toml");
    std::fs::write(&path, config_text(dir, cert, key, "hello")).unwrap();
    let config = Config::load(&path).unwrap();
    let mut server = Server::bind(config.clone()).expect("binds");
    server.set_config_file(path, config);
    let plain = server.local_addrs()[0];
    let tls = server.tls_addrs()[0];
    let admin = server.admin_socket().to_path_buf();
    let handle = server.handle();
    let thread = std::thread::spawn(move || server.run().unwrap());
    Running {
        plain,
        tls,
        handle,
        thread: Some(thread),
        admin,
    }
}

/// A line-oriented client over any stream.
struct Client<S: Read + Write> {
    stream: BufReader<S>,
    seen: Vec<String>,
}

impl<S: Read + Write> Client<S> {
    fn send(&mut self, line: &str) {
        let s = self.stream.get_mut();
        s.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        s.flush().unwrap();
    }

    /// Reads lines until one contains `needle`; panics with the transcript otherwise.
    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            let mut line = String::new();
            match self.stream.read_line(&mut line) {
                Ok(0) => panic!("closed while waiting for {needle:?}: {:?}", self.seen),
                Ok(_) => {
                    let line = line.trim_end().to_string();
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("read error waiting for {needle:?}: {e}; {:?}", self.seen),
            }
        }
        panic!("timed out waiting for {needle:?}: {:?}", self.seen);
    }

    fn register(&mut self, nick: &str) {
        self.send(&format!("NICK {nick}"));
        self.send(&format!("USER {nick} 0 * :{nick}"));
        self.expect(" 376 ");
    }
}

fn plain_client(addr: SocketAddr) -> Client<TcpStream> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    Client {
        stream: BufReader::new(s),
        seen: Vec::new(),
    }
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_client(addr: SocketAddr, root: &CertificateDer<'static>) -> Client<TlsStream> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    Client {
        stream: BufReader::new(rustls::StreamOwned::new(tls_session(root), s)),
        seen: Vec::new(),
    }
}

fn tls_session(root: &CertificateDer<'static>) -> rustls::ClientConnection {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
        .unwrap()
}

/// Whether a full TLS handshake with `root` as the only trusted root succeeds.
fn handshake_ok(addr: SocketAddr, root: &CertificateDer<'static>) -> bool {
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut conn = tls_session(root);
    while conn.is_handshaking() {
        if conn.complete_io(&mut sock).is_err() {
            return false;
        }
    }
    true
}

/// Sends one admin request, returns the reply line.
fn admin(path: &Path, request: &str) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    writeln!(s, "{request}").unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line
}

#[test]
fn a_tls_client_chats_with_a_plaintext_client_and_whois_shows_671() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, root) = make_cert(dir.path(), "a");
    let server = start(dir.path(), &cert, &key);
    let mut secure = tls_client(server.tls, &root);
    secure.register("secure");
    let mut plain = plain_client(server.plain);
    plain.register("plain");
    secure.send("JOIN #both");
    secure.expect(" 366 ");
    plain.send("JOIN #both");
    plain.expect(" 366 ");
    secure.expect("JOIN #both");
    plain.send("PRIVMSG #both :over plaintext");
    assert!(secure.expect("PRIVMSG #both").ends_with(":over plaintext"));
    secure.send("PRIVMSG #both :over TLS");
    assert!(plain.expect("PRIVMSG #both").ends_with(":over TLS"));
    plain.send("WHOIS secure");
    assert!(plain
        .expect(" 671 ")
        .contains("secure :is using a secure connection"));
    plain.send("WHOIS plain");
    let end = plain.expect(" 318 ");
    let plain_whois: Vec<&String> = plain.seen.iter().filter(|l| l.contains(" 671 ")).collect();
    assert_eq!(plain_whois.len(), 1, "only the TLS user has 671; {end}");
}

#[test]
fn reload_swaps_the_certificate_and_keeps_connected_clients() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, old_root) = make_cert(dir.path(), "old");
    let server = start(dir.path(), &cert, &key);
    let mut kept = tls_client(server.tls, &old_root);
    kept.register("kept");
    kept.send("JOIN #r");
    kept.expect(" 366 ");

    // New certificate files, then a reload through the admin socket.
    let (new_cert, new_key, new_root) = make_cert(dir.path(), "new");
    std::fs::write(
        dir.path().join("chatd.toml"),
        config_text(dir.path(), &new_cert, &new_key, "hello again"),
    )
    .unwrap();
    let reply = admin(&server.admin, r#"{"id":1,"cmd":"reload"}"#);
    assert!(reply.contains(r#""ok":true"#), "{reply}");
    assert!(reply.contains("tls certificate"), "{reply}");

    // New handshakes get the new certificate; the old one is no longer served.
    assert!(handshake_ok(server.tls, &new_root));
    assert!(!handshake_ok(server.tls, &old_root));
    // The client connected before the reload still works both ways.
    let mut fresh = tls_client(server.tls, &new_root);
    fresh.register("fresh");
    assert!(
        fresh.seen.iter().any(|l| l.contains("hello again")),
        "new MOTD"
    );
    fresh.send("JOIN #r");
    fresh.expect(" 366 ");
    fresh.send("PRIVMSG #r :to the old session");
    assert!(kept.expect("PRIVMSG #r").ends_with(":to the old session"));
    kept.send("PRIVMSG #r :from the old session");
    assert!(fresh
        .expect("PRIVMSG #r")
        .ends_with(":from the old session"));
}

#[test]
fn a_bad_certificate_on_reload_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, root) = make_cert(dir.path(), "a");
    let server = start(dir.path(), &cert, &key);
    std::fs::write(&cert, "not a certificate").unwrap();
    let reply = admin(&server.admin, r#"{"id":1,"cmd":"reload"}"#);
    assert!(reply.contains(r#""ok":false"#), "{reply}");
    assert!(reply.contains("a.crt"), "the error names the file: {reply}");
    assert!(handshake_ok(server.tls, &root), "still serving the old one");
}

#[test]
fn wrong_protocols_are_closed_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, root) = make_cert(dir.path(), "a");
    let server = start(dir.path(), &cert, &key);

    // Plaintext IRC to the TLS port: closed.
    let mut s = TcpStream::connect(server.tls).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(b"NICK oops\r\nUSER oops 0 * :x\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains(" 001 "));

    // A TLS hello to the plaintext port: an ERROR line, then closed.
    let mut s = TcpStream::connect(server.plain).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut conn = tls_session(&root);
    let _ = conn.write_tls(&mut s);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    assert!(text.contains("TLS handshake on a plaintext port"), "{text}");

    // A client that never finishes its handshake is dropped after the timeout (1 s).
    let mut idle = TcpStream::connect(server.tls).unwrap();
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
    let mut ok = tls_client(server.tls, &root);
    ok.register("fine");
    let mut ok2 = plain_client(server.plain);
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
    let server = Server::bind(Config::load(&path).unwrap()).expect("binds");
    let (plain, tls) = (server.local_addrs()[0], server.tls_addrs()[0]);
    let handle = server.handle();
    let thread = std::thread::spawn(move || server.run().unwrap());

    let mut p = plain_client(plain);
    p.send("CAP LS 302");
    let ls = p.expect(" LS ");
    assert!(
        ls.contains(&format!("sts=port={}", tls.port())) && !ls.contains("duration"),
        "plaintext CAP LS names the TLS port: {ls}"
    );
    let mut t = tls_client(tls, &root);
    t.send("CAP LS 302");
    let ls = t.expect(" LS ");
    assert!(
        ls.contains("sts=duration=300") && !ls.contains("sts=port"),
        "TLS CAP LS carries the duration: {ls}"
    );
    // A policy, not a capability to request; and CAP LS without 302 has no values.
    p.send("CAP REQ :sts");
    assert!(p.expect(" NAK ").contains("sts"));
    let mut old = plain_client(plain);
    old.send("CAP LS");
    let ls = old.expect(" LS ");
    assert!(!ls.contains("sts"), "{ls}");

    handle.shutdown();
    thread.join().unwrap();
}

#[test]
fn sts_is_off_unless_configured_turns_on_with_a_reload_and_needs_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = make_cert(dir.path(), "nosts");
    let running = start(dir.path(), &cert, &key);
    let mut p = plain_client(running.plain);
    p.send("CAP LS 302");
    assert!(!p.expect(" LS ").contains("sts"));

    // Turned on by a reload, for the next CAP LS.
    let text = config_text(dir.path(), &cert, &key, "hello").replace(
        "handshake_timeout_secs = 1\n",
        "handshake_timeout_secs = 1\nsts_duration_secs = 60\nsts_port = 6697\n",
    );
    std::fs::write(dir.path().join("chatd.toml"), text).unwrap();
    let reply = admin(&running.admin, r#"{"id":1,"cmd":"reload"}"#);
    assert!(reply.contains("tls.sts"), "{reply}");
    p.send("CAP LS 302");
    assert!(p.expect(" LS ").contains("sts=port=6697"));

    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[tls]\nsts_duration_secs = 300\n").unwrap();
    let err = Config::load(&path).expect_err("STS without a certificate is refused");
    assert!(err.to_string().contains("tls.sts_duration_secs"), "{err}");
}
