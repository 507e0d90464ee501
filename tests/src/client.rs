//! [`Client`]: the blocking line-based IRC client every test uses, over plain TCP or
//! TLS ([`Transport`]). It waits for replies with a deadline, synchronises with
//! PING/PONG round trips rather than sleeps, and on failure panics with its transcript.

use chatd_proto::{numeric, parse, Message};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long any single expectation may wait. Generous: CI machines are noisy.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How long one read waits before the client looks at its deadline again.
const READ_SLICE: Duration = Duration::from_millis(200);

/// A byte stream a [`Client`] speaks IRC over: plain TCP, or TLS on top of it.
pub trait Transport: Read + Write {
    /// The TCP socket underneath, for timeouts and non-blocking reads.
    fn tcp(&self) -> &TcpStream;
}

impl Transport for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

/// A TLS client stream (see [`crate::tls`]).
pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

impl Transport for TlsStream {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}

/// The server closed the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// A blocking line-based IRC client for tests.
pub struct Client<S: Transport = TcpStream> {
    pub nick: String,
    stream: BufReader<S>,
    transcript: Vec<String>,
    sync_counter: u64,
}

impl Client<TcpStream> {
    pub fn connect(addr: SocketAddr) -> Client {
        Client::from_stream(TcpStream::connect(addr).expect("connect to test server"))
    }

    /// A client on a stream the test connected itself (from another local address,
    /// or to a daemon process: [`crate::process::connect_retry`]).
    pub fn from_stream(stream: TcpStream) -> Client {
        stream.set_nodelay(true).unwrap();
        Client::over(stream)
    }
}

impl<S: Transport> Client<S> {
    /// A client over an established transport (a TLS stream, say).
    pub fn over(stream: S) -> Client<S> {
        stream.tcp().set_read_timeout(Some(READ_SLICE)).unwrap();
        Client {
            nick: "*".into(),
            stream: BufReader::new(stream),
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
                    || (crate::is_server_notice(m) && m.param(1).starts_with(&end_notice))
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

    /// The transport under the client (a WebSocket's frames, say).
    pub fn stream_mut(&mut self) -> &mut S {
        self.stream.get_mut()
    }

    /// Sends one line (CRLF added).
    pub fn send(&mut self, line: &str) {
        self.transcript.push(format!(">> {line}"));
        self.send_bytes(format!("{line}\r\n").as_bytes());
    }

    /// Sends raw bytes; errors (peer closed) are ignored so tests can probe closes.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        let s = self.stream.get_mut();
        let _ = s.write_all(bytes).and_then(|()| s.flush());
    }

    /// The next line as text, or `None` at timeout; `Err(Closed)` when the server closed.
    pub fn recv_line(&mut self, deadline: Instant) -> Result<Option<String>, Closed> {
        let mut buf = Vec::new();
        loop {
            match self.stream.read_until(b'\n', &mut buf) {
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
        self.stream.get_ref().tcp().set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let mut buf = Vec::new();
        while let Ok(n) = self.stream.read_until(b'\n', &mut buf) {
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
        self.stream.get_ref().tcp().set_nonblocking(false).unwrap();
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

    /// Reads until a raw line (without CRLF) satisfies `pred`, skipping others;
    /// returns it. For tests that look at the wire text rather than the message.
    pub fn expect_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.recv_line(deadline) {
                Ok(Some(line)) if pred(&line) => return line,
                Ok(Some(_)) => {}
                Ok(None) => self.fail(&format!("{what} (timed out)")),
                Err(Closed) => self.fail(&format!("{what} (connection closed)")),
            }
        }
    }

    /// Every line received so far, in order (the `<<` half of the transcript).
    pub fn received(&self) -> Vec<&str> {
        self.transcript
            .iter()
            .filter_map(|l| l.strip_prefix("<< "))
            .collect()
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

    /// Waits for a PRIVMSG from `from` to `target` (either in any case); its text.
    pub fn expect_privmsg(&mut self, from: &str, target: &str) -> String {
        let m = self.expect(
            |m| {
                m.command == "PRIVMSG"
                    && m.source_nick()
                        .is_some_and(|s| s.eq_ignore_ascii_case(from))
                    && m.param(0).eq_ignore_ascii_case(target)
            },
            &format!("PRIVMSG {target} from {from}"),
        );
        m.param(1).to_string()
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

    /// JOINs `chan` and waits for the end of its NAMES.
    pub fn join(&mut self, chan: &str) {
        self.send(&format!("JOIN {chan}"));
        self.expect(
            |m| m.command == numeric::RPL_ENDOFNAMES && m.param(1).eq_ignore_ascii_case(chan),
            &format!("366 for {chan}"),
        );
    }

    /// The nicks in `chan`, from NAMES, without their `@`/`+` prefixes.
    pub fn names(&mut self, chan: &str) -> Vec<String> {
        self.send(&format!("NAMES {chan}"));
        let mut names = Vec::new();
        loop {
            let m = self.expect(
                |m| m.command == numeric::RPL_NAMREPLY || m.command == numeric::RPL_ENDOFNAMES,
                &format!("NAMES {chan}"),
            );
            if m.command == numeric::RPL_ENDOFNAMES {
                return names;
            }
            names.extend(
                m.param(3)
                    .split(' ')
                    .map(|n| n.trim_start_matches(['@', '+']).to_string()),
            );
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
