//! Test harness for chatd end-to-end tests: [`TestServer`] runs the real server
//! in-process on 127.0.0.1 port 0 with a temporary data dir; [`Client`] is a plain
//! blocking TCP client that sends lines and waits for replies, synchronising with
//! PING/PONG round trips rather than sleeps. On timeout it panics with the transcript.

use chatd::{Config, Server, ServerHandle};
use chatd_proto::{numeric, parse, Message};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long any single expectation may wait. Generous: CI machines are noisy.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A running chatd on a free loopback port.
pub struct TestServer {
    pub addr: SocketAddr,
    pub config: Config,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// A server with the default config, except no `auto_join` (tests join explicitly).
    pub fn start() -> TestServer {
        TestServer::start_with(|_| {})
    }

    /// A server whose config `tweak` may change first.
    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::default();
        config.server.listen = vec!["127.0.0.1:0".parse().unwrap()];
        config.server.data_dir = dir.path().join("data");
        config.server.auto_join = Vec::new();
        tweak(&mut config);
        let server = Server::bind(config.clone()).expect("server binds");
        let addr = server.local_addrs()[0];
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.run().expect("loop runs"));
        TestServer {
            addr,
            config,
            handle,
            thread: Some(thread),
            _dir: dir,
        }
    }

    /// A TCP connection that has sent nothing yet.
    pub fn connect_raw(&self) -> Client {
        Client::connect(self.addr)
    }

    /// A client registered as `nick` (NICK + USER), with the welcome burst read.
    pub fn connect(&self, nick: &str) -> Client {
        let mut c = self.connect_raw();
        c.register(nick);
        c
    }

    /// A client that negotiated `caps` (space-separated) before registering as `nick`.
    pub fn connect_with_caps(&self, nick: &str, caps: &str) -> Client {
        let mut c = self.connect_raw();
        c.send("CAP LS 302");
        c.send(&format!("CAP REQ :{caps}"));
        c.expect(|m| m.command == "CAP" && m.param(1) == "ACK", "CAP ACK");
        c.send("CAP END");
        c.register(nick);
        c
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The server closed the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// A blocking line-based IRC client for tests.
pub struct Client {
    pub nick: String,
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    transcript: Vec<String>,
    sync_counter: u64,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to test server");
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Client {
            nick: "*".into(),
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            transcript: Vec::new(),
            sync_counter: 0,
        }
    }

    /// Sends NICK and USER and reads the burst up to the end of the MOTD.
    pub fn register(&mut self, nick: &str) {
        self.nick = nick.to_string();
        self.send(&format!("NICK {nick}"));
        self.send(&format!("USER {nick} 0 * :Test user {nick}"));
        self.expect_numeric(numeric::RPL_WELCOME);
        self.expect(
            |m| m.command == numeric::RPL_ENDOFMOTD || m.command == numeric::ERR_NOMOTD,
            "end of MOTD",
        );
    }

    /// Sends one line (CRLF added).
    pub fn send(&mut self, line: &str) {
        self.transcript.push(format!(">> {line}"));
        self.send_bytes(format!("{line}\r\n").as_bytes());
    }

    /// Sends raw bytes; errors (peer closed) are ignored so tests can probe closes.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        let _ = self.writer.write_all(bytes);
    }

    /// The next line as text, or `None` at timeout; `Err(Closed)` when the server closed.
    pub fn recv_line(&mut self, deadline: Instant) -> Result<Option<String>, Closed> {
        let mut buf = Vec::new();
        loop {
            match self.reader.read_until(b'\n', &mut buf) {
                Ok(0) => return Err(Closed),
                Ok(_) if buf.ends_with(b"\n") => {
                    let line = String::from_utf8_lossy(&buf)
                        .trim_end_matches(['\r', '\n'])
                        .to_string();
                    self.transcript.push(format!("<< {line}"));
                    return Ok(Some(line));
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if Instant::now() >= deadline {
                        return Ok(None);
                    }
                }
                Err(_) => return Err(Closed),
            }
        }
    }

    /// The next message; panics with the transcript on timeout or close.
    pub fn recv(&mut self) -> Message {
        let deadline = Instant::now() + TIMEOUT;
        match self.recv_line(deadline) {
            Ok(Some(line)) => parse(&line)
                .unwrap_or_else(|e| self.fail(&format!("unparsable line {line:?}: {e}"))),
            Ok(None) => self.fail("a message (timed out)"),
            Err(Closed) => self.fail("a message (connection closed)"),
        }
    }

    /// Reads until a message satisfies `pred`, skipping others; returns it.
    pub fn expect(&mut self, pred: impl Fn(&Message) -> bool, what: &str) -> Message {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.recv_line(deadline) {
                Ok(Some(line)) => {
                    if let Ok(m) = parse(&line) {
                        if pred(&m) {
                            return m;
                        }
                    }
                }
                Ok(None) => self.fail(&format!("{what} (timed out)")),
                Err(Closed) => self.fail(&format!("{what} (connection closed)")),
            }
        }
    }

    pub fn expect_numeric(&mut self, code: &str) -> Message {
        let name = numeric::name(code).unwrap_or(code);
        self.expect(|m| m.command == code, &format!("numeric {code} {name}"))
    }

    pub fn expect_command(&mut self, command: &str) -> Message {
        self.expect(
            |m| m.command.eq_ignore_ascii_case(command),
            &format!("a {command}"),
        )
    }

    /// Waits for `PRIVMSG <anything> :text` from `nick`.
    pub fn expect_privmsg_from(&mut self, nick: &str, text: &str) -> Message {
        self.expect(
            |m| m.command == "PRIVMSG" && m.source_nick() == Some(nick) && m.param(1) == text,
            &format!("PRIVMSG from {nick}: {text:?}"),
        )
    }

    /// A PING/PONG round trip; returns every message that arrived before the PONG.
    /// Anything the server sent in answer to earlier lines has arrived by then.
    pub fn sync(&mut self) -> Vec<Message> {
        self.sync_counter += 1;
        let token = format!("sync-{}", self.sync_counter);
        self.send(&format!("PING {token}"));
        let deadline = Instant::now() + TIMEOUT;
        let mut got = Vec::new();
        loop {
            match self.recv_line(deadline) {
                Ok(Some(line)) => {
                    let m = parse(&line)
                        .unwrap_or_else(|e| self.fail(&format!("unparsable {line:?}: {e}")));
                    if m.command == "PONG"
                        && m.params.last().map(String::as_str) == Some(token.as_str())
                    {
                        return got;
                    }
                    got.push(m);
                }
                Ok(None) => self.fail(&format!("PONG {token} (timed out)")),
                Err(Closed) => self.fail(&format!("PONG {token} (connection closed)")),
            }
        }
    }

    /// Waits until the server closes the connection; returns the lines it sent first.
    pub fn expect_closed(&mut self) -> Vec<String> {
        let deadline = Instant::now() + TIMEOUT;
        let mut lines = Vec::new();
        loop {
            match self.recv_line(deadline) {
                Ok(Some(line)) => lines.push(line),
                Ok(None) => self.fail("the server to close the connection (timed out)"),
                Err(Closed) => return lines,
            }
        }
    }

    /// Sends QUIT and waits for the close.
    pub fn quit(mut self) {
        self.send("QUIT :bye");
        self.expect_closed();
    }

    /// Panics with what was expected and the whole transcript.
    pub fn fail(&self, expected: &str) -> ! {
        panic!(
            "[{}] expected {expected}\n--- transcript ---\n{}\n---",
            self.nick,
            self.transcript.join("\n")
        )
    }
}

/// The messages in `got` with this command or numeric.
pub fn all<'a>(got: &'a [Message], command: &str) -> Vec<&'a Message> {
    got.iter().filter(|m| m.command == command).collect()
}

/// The one message in `got` with this command or numeric; panics with `got` if not one.
pub fn one<'a>(got: &'a [Message], command: &str) -> &'a Message {
    match all(got, command).as_slice() {
        [m] => m,
        other => panic!("expected one {command}, got {}: {got:#?}", other.len()),
    }
}

/// Whether `got` holds a message with this command or numeric.
pub fn has(got: &[Message], command: &str) -> bool {
    got.iter().any(|m| m.command == command)
}

/// The commands of `got`, in order, for order and absence checks.
pub fn commands(got: &[Message]) -> Vec<&str> {
    got.iter().map(|m| m.command.as_str()).collect()
}

/// Sends `JOIN chan` and waits for the end of its NAMES reply.
pub fn join(c: &mut Client, chan: &str) {
    c.send(&format!("JOIN {chan}"));
    c.expect(
        |m| m.command == numeric::RPL_ENDOFNAMES && m.param(1).eq_ignore_ascii_case(chan),
        &format!("366 for {chan}"),
    );
}

/// Clients for `nicks`, all in `chan` (the first created it and is its operator),
/// with every JOIN and burst already read.
pub fn channel_with(server: &TestServer, chan: &str, nicks: &[&str]) -> Vec<Client> {
    let mut clients: Vec<Client> = Vec::new();
    for nick in nicks {
        let mut c = server.connect(nick);
        join(&mut c, chan);
        clients.push(c);
    }
    for c in &mut clients {
        c.sync();
    }
    clients
}
