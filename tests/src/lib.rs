//! Test harness for chatd end-to-end tests: [`TestServer`] runs the real server
//! in-process on 127.0.0.1 port 0 with a temporary data dir; [`Client`] is a plain
//! blocking TCP client that sends lines and waits for replies, synchronising with
//! PING/PONG round trips rather than sleeps. On timeout it panics with the transcript.
//!
//! [`TestServer::start_in`] and [`TestServer::stop`] run a server on a data dir the
//! test keeps, so a test can stop it gracefully and start it again on the same data.
//! Test servers hash passwords with the fewest PBKDF2 iterations the config accepts.

use chatd::{Config, Server, ServerHandle};
use chatd_proto::{numeric, parse, Message};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long any single expectation may wait. Generous: CI machines are noisy.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// PBKDF2 iterations test servers use: the smallest value the config accepts, so
/// registering and logging in cost little. Tweaks may set it back.
pub const TEST_PBKDF2_ITERATIONS: u32 = 1000;

/// A running chatd on a free loopback port.
pub struct TestServer {
    pub addr: SocketAddr,
    pub config: Config,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
    /// The temporary dir holding the data dir, when the server owns it.
    _dir: Option<tempfile::TempDir>,
}

/// Every test connects from 127.0.0.1 and many send in bursts: the per-address and
/// flood limits are raised out of the way. Tests of those limits set their own.
pub fn relax_limits(config: &mut Config) {
    let l = &mut config.limits;
    l.conns_per_ip = 100_000;
    l.connects_per_ip_per_minute = 1_000_000;
    l.flood_burst = 1_000_000;
    l.flood_rate = 1_000_000;
    l.registrations_per_ip_per_hour = 1_000_000;
    // No exemption either, so that tests that set a per-address limit meet it.
    l.exempt.clear();
}

impl TestServer {
    /// A server with the default config, except no `auto_join` (tests join explicitly).
    pub fn start() -> TestServer {
        TestServer::start_with(|_| {})
    }

    /// A server whose config `tweak` may change first.
    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = TestServer::launch(dir.path().join("data"), tweak);
        server._dir = Some(dir);
        server
    }

    /// A server on `data_dir`, which outlives it: stop it with [`TestServer::stop`]
    /// and start another on the same dir to check what survives a restart.
    pub fn start_in(data_dir: &Path, tweak: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::launch(data_dir.to_path_buf(), tweak)
    }

    fn launch(data_dir: PathBuf, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config::default();
        config.server.listen = vec!["127.0.0.1:0".parse().unwrap()];
        config.server.data_dir = data_dir;
        config.server.auto_join = Vec::new();
        config.accounts.pbkdf2_iterations = TEST_PBKDF2_ITERATIONS;
        relax_limits(&mut config);
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
            _dir: None,
        }
    }

    /// Graceful stop: asks the server to shut down and waits until its loop (and
    /// with it the store) has finished. Panics if the loop failed.
    pub fn stop(mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            t.join().expect("the server loop ends without panicking");
        }
    }

    /// The server's data dir.
    pub fn data_dir(&self) -> &Path {
        &self.config.server.data_dir
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

    /// A client that logged in to `account` with SASL PLAIN during capability
    /// negotiation (also requesting `caps`, space-separated, may be empty), then
    /// registered as `nick`.
    pub fn connect_sasl(&self, nick: &str, caps: &str, account: &str, password: &str) -> Client {
        let mut c = self.connect_raw();
        c.send("CAP LS 302");
        c.send(&format!("CAP REQ :{}", format!("sasl {caps}").trim()));
        c.expect(|m| m.command == "CAP" && m.param(1) == "ACK", "CAP ACK");
        c.send("AUTHENTICATE PLAIN");
        c.expect(
            |m| m.command == "AUTHENTICATE" && m.param(0) == "+",
            "AUTHENTICATE +",
        );
        c.send(&format!(
            "AUTHENTICATE {}",
            sasl_plain("", account, password)
        ));
        c.expect_numeric(numeric::RPL_SASLSUCCESS);
        c.send("CAP END");
        c.register(nick);
        c
    }

    /// Registers `name` as an account with `password` from a connection with that
    /// nick, then quits: the account exists and nobody is logged in to it.
    pub fn create_account(&self, name: &str, password: &str) {
        let mut c = self.connect(name);
        c.register_account(name, password);
        c.quit();
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
        Client::from_stream(TcpStream::connect(addr).expect("connect to test server"))
    }

    /// A client on a stream the test connected itself (from another local address).
    pub fn from_stream(stream: TcpStream) -> Client {
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

    /// Sends `REGISTER <name> * <password>` and waits for `REGISTER SUCCESS` and the
    /// 900 that follows it; returns the SUCCESS line.
    pub fn register_account(&mut self, name: &str, password: &str) -> Message {
        self.send(&format!("REGISTER {name} * {password}"));
        let ok = self.expect(
            |m| m.command == "REGISTER" || m.command == "FAIL",
            &format!("REGISTER SUCCESS {name}"),
        );
        if ok.command != "REGISTER" || ok.param(0) != "SUCCESS" {
            self.fail(&format!("REGISTER SUCCESS {name}, not {ok}"));
        }
        self.expect_numeric(numeric::RPL_LOGGEDIN);
        ok
    }

    /// Sends `LOGIN <account> <password>` and waits for 900; returns it.
    pub fn login(&mut self, account: &str, password: &str) -> Message {
        self.send(&format!("LOGIN {account} {password}"));
        let m = self.expect(
            |m| m.command == numeric::RPL_LOGGEDIN || m.command == "FAIL",
            &format!("900 for LOGIN {account}"),
        );
        if m.command != numeric::RPL_LOGGEDIN {
            self.fail(&format!("900 for LOGIN {account}, not {m}"));
        }
        m
    }

    /// Reads until a message satisfies `pred`; returns every message read, the
    /// matching one last.
    pub fn recv_until(&mut self, pred: impl Fn(&Message) -> bool, what: &str) -> Vec<Message> {
        let deadline = Instant::now() + TIMEOUT;
        let mut got = Vec::new();
        loop {
            match self.recv_line(deadline) {
                Ok(Some(line)) => {
                    let m = parse(&line)
                        .unwrap_or_else(|e| self.fail(&format!("unparsable {line:?}: {e}")));
                    let done = pred(&m);
                    got.push(m);
                    if done {
                        return got;
                    }
                }
                Ok(None) => self.fail(&format!("{what} (timed out)")),
                Err(Closed) => self.fail(&format!("{what} (connection closed)")),
            }
        }
    }

    /// Waits for a `chathistory` batch for `target` (`BATCH +id chathistory target`)
    /// and returns the messages inside it, checking each carries `batch=id`.
    pub fn expect_history_batch(&mut self, target: &str) -> Vec<Message> {
        let start = self.expect(
            |m| {
                m.command == "BATCH"
                    && m.param(0).starts_with('+')
                    && m.param(1) == "chathistory"
                    && m.param(2).eq_ignore_ascii_case(target)
            },
            &format!("BATCH +id chathistory {target}"),
        );
        let id = start.param(0)[1..].to_string();
        let end = format!("-{id}");
        let mut got = self.recv_until(
            |m| m.command == "BATCH" && m.param(0) == end,
            &format!("BATCH {end}"),
        );
        got.pop();
        for m in &got {
            if m.tag("batch") != Some(id.as_str()) {
                self.fail(&format!("every line in batch {id} tagged batch={id}: {m}"));
            }
        }
        got
    }

    /// A round trip through the store: sends `HISTORY <own nick> 1` and waits for its
    /// answer (its batch end with `batch`, else its "End of HISTORY" notice). The
    /// store answers in order, so the answers to everything this connection caused
    /// before (a login's offline queue and remembered channels, queued notices) have
    /// arrived by then. Returns what arrived before the answer, without the answer.
    pub fn store_sync(&mut self) -> Vec<Message> {
        let target = self.nick.clone();
        self.send(&format!("HISTORY {target} 1"));
        let end_notice = format!("End of HISTORY for {target}:");
        let mut got = self.recv_until(
            |m| {
                (m.command == "BATCH"
                    && m.param(0).starts_with('+')
                    && m.param(1) == "chathistory"
                    && m.param(2).eq_ignore_ascii_case(&target))
                    || (is_server_notice(m) && m.param(1).starts_with(&end_notice))
            },
            &format!("the answer to HISTORY {target}"),
        );
        let answer = got.pop().expect("recv_until returns the match");
        if answer.command == "BATCH" {
            let end = format!("-{}", &answer.param(0)[1..]);
            self.expect(
                |m| m.command == "BATCH" && m.param(0) == end,
                &format!("BATCH {end}"),
            );
        } else {
            // Without batch, this connection's history with itself (normally
            // nothing) came as PRIVMSG/NOTICE lines just before the end notice.
            let mine = |m: &Message| {
                matches!(m.command.as_str(), "PRIVMSG" | "NOTICE")
                    && m.param(0).eq_ignore_ascii_case(&target)
                    && m.source_nick()
                        .is_some_and(|s| s.eq_ignore_ascii_case(&target))
            };
            got.retain(|m| !mine(m));
        }
        got
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

    /// The messages that have already arrived, without waiting for more.
    pub fn ready(&mut self) -> Vec<Message> {
        let stream = self.reader.get_ref().try_clone().unwrap();
        stream.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let mut buf = Vec::new();
        while let Ok(n) = self.reader.read_until(b'\n', &mut buf) {
            if n == 0 || !buf.ends_with(b"\n") {
                break;
            }
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\r', '\n'])
                .to_string();
            self.transcript.push(format!("<< {line}"));
            got.extend(parse(&line).ok());
            buf.clear();
        }
        stream.set_nonblocking(false).unwrap();
        got
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

    /// Waits for `ERROR` and then the close; returns the ERROR.
    pub fn expect_error_and_close(&mut self) -> Message {
        let error = self.expect_command("ERROR");
        self.expect_closed();
        error
    }

    /// JOINs `chan` and waits for the end of its NAMES (see [`join`]).
    pub fn join(&mut self, chan: &str) {
        join(self, chan);
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

/// The SASL PLAIN response `base64(authz \0 authc \0 password)`.
pub fn sasl_plain(authz: &str, authc: &str, password: &str) -> String {
    base64(format!("{authz}\0{authc}\0{password}").as_bytes())
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Whether `s` is a chatd `msgid`: 16 lowercase hex digits.
pub fn is_msgid(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Splits the readable time prefix replayed text carries for clients without
/// server-time, `[YYYY-MM-DD HH:MM:SS UTC] `: returns (the time, the rest), or
/// `None` when `text` does not start with exactly that shape.
pub fn split_time_prefix(text: &str) -> Option<(&str, &str)> {
    let b = text.as_bytes();
    let shape = "[0000-00-00 00:00:00 UTC] ".as_bytes();
    if b.len() < shape.len() {
        return None;
    }
    let ok = shape.iter().zip(b).all(|(&want, &got)| {
        if want == b'0' {
            got.is_ascii_digit()
        } else {
            got == want
        }
    });
    ok.then(|| (&text[1..20], &text[shape.len()..]))
}

/// Whether `m` is a NOTICE from the server itself (a source without `nick!user@host`).
pub fn is_server_notice(m: &Message) -> bool {
    m.command == "NOTICE" && m.source.as_deref().is_some_and(|s| !s.contains('!'))
}

/// The messages of the `chathistory` batch for `target` among `got` (by their
/// `batch` tag), or `None` when `got` holds no such batch or it is not closed.
pub fn history_batch_in<'a>(got: &'a [Message], target: &str) -> Option<Vec<&'a Message>> {
    let start = got.iter().position(|m| {
        m.command == "BATCH"
            && m.param(0).starts_with('+')
            && m.param(1) == "chathistory"
            && m.param(2).eq_ignore_ascii_case(target)
    })?;
    let id = &got[start].param(0)[1..];
    let end = format!("-{id}");
    let rest = &got[start + 1..];
    let close = rest
        .iter()
        .position(|m| m.command == "BATCH" && m.param(0) == end)?;
    Some(
        rest[..close]
            .iter()
            .filter(|m| m.tag("batch") == Some(id))
            .collect(),
    )
}
