//! The test harness: [`TestServer`] runs the real chatd in-process on 127.0.0.1
//! port 0 with a temporary data dir; [`Peer`] is a plain blocking IRC client that
//! talks to the bot; [`RunningBot`] runs a bot on a thread and hands its events
//! to the test. Waits are bounded and synchronise on replies, not on sleeps.

use chatd::{Config as ServerConfig, Server, ServerHandle};
use chatd_bot::proto::{parse, Message};
use chatd_bot::{Bot, Config, Error, Event, Flood, Handle, Reconnect};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long any single expectation may wait.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// A running chatd.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The TLS listener, when the config set one up.
    pub tls_addr: Option<SocketAddr>,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    pub fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = TestServer::launch(dir.path().join("data"), "127.0.0.1:0", |_| {});
        server._dir = Some(dir);
        server
    }

    /// A server on `data_dir` at `listen`, which the test keeps: stop it and start
    /// another on the same dir and port to restart it.
    pub fn start_in(data_dir: &Path, listen: &str) -> TestServer {
        TestServer::launch(data_dir.to_path_buf(), listen, |_| {})
    }

    /// A server whose config `tweak` may change first.
    pub fn start_with(tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = TestServer::launch(dir.path().join("data"), "127.0.0.1:0", tweak);
        server._dir = Some(dir);
        server
    }

    fn launch(
        data_dir: PathBuf,
        listen: &str,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let mut config = ServerConfig::default();
        config.server.listen = vec![listen.parse().expect("a socket address")];
        config.server.data_dir = data_dir;
        config.server.auto_join = Vec::new();
        config.accounts.pbkdf2_iterations = 1000;
        tweak(&mut config);
        let server = Server::bind(config).expect("server binds");
        let addr = server.local_addrs()[0];
        let tls_addr = server.tls_addrs().first().copied();
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.run().expect("loop runs"));
        TestServer {
            addr,
            tls_addr,
            handle,
            thread: Some(thread),
            _dir: None,
        }
    }

    /// Stops the server and waits for its loop to end.
    pub fn stop(mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            t.join().expect("the server loop ends without panicking");
        }
    }

    pub fn peer(&self, nick: &str) -> Peer {
        Peer::connect(self.addr, nick)
    }

    /// Registers account `name` and disconnects.
    pub fn create_account(&self, name: &str, password: &str) {
        let mut p = self.peer(&format!("{name}_maker"));
        p.send(&format!("REGISTER {name} * {password}"));
        p.expect(
            |m| m.command == "REGISTER" && m.param(0) == "SUCCESS",
            "REGISTER SUCCESS",
        );
        p.quit();
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

/// A bot config for tests: no pacing, quick reconnects.
pub fn bot_config(addr: SocketAddr, nick: &str) -> Config {
    let mut config = Config::new(addr.to_string(), nick).flood(Flood::unlimited());
    config.reconnect = Reconnect {
        enabled: true,
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
    };
    config.connect_timeout = Duration::from_secs(10);
    config
}

/// A bot running on its own thread; its events come to the test.
pub struct RunningBot {
    pub handle: Handle,
    events: mpsc::Receiver<Event>,
    thread: Option<JoinHandle<Result<(), Error>>>,
    seen: Vec<Event>,
}

impl RunningBot {
    /// Builds the bot, lets `setup` add commands and handlers, and runs it.
    pub fn start(config: Config, setup: impl FnOnce(&mut Bot)) -> RunningBot {
        let mut bot = Bot::new(config).expect("bot");
        let (tx, events) = mpsc::channel();
        bot.on(move |_, ev| {
            let _ = tx.send(ev.clone());
        });
        setup(&mut bot);
        let handle = bot.handle();
        let thread = std::thread::spawn(move || bot.run());
        RunningBot {
            handle,
            events,
            thread: Some(thread),
            seen: Vec::new(),
        }
    }

    /// Waits for an event that satisfies `pred`; panics with every event seen.
    pub fn expect(&mut self, pred: impl Fn(&Event) -> bool, what: &str) -> Event {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ev) => {
                    self.seen.push(ev.clone());
                    if pred(&ev) {
                        return ev;
                    }
                }
                Err(_) => panic!(
                    "bot: expected {what}; events so far:\n{}",
                    self.transcript()
                ),
            }
        }
    }

    pub fn expect_connected(&mut self) -> (String, Option<String>) {
        match self.expect(|e| matches!(e, Event::Connected { .. }), "Connected") {
            Event::Connected { nick, account } => (nick, account),
            _ => unreachable!(),
        }
    }

    /// Waits for the bot's own JOIN of `channel`.
    pub fn expect_joined(&mut self, channel: &str) {
        self.expect(
            |e| matches!(e, Event::Join { channel: c, own: true, .. } if c.eq_ignore_ascii_case(channel)),
            &format!("own JOIN {channel}"),
        );
    }

    /// Every event so far, one a line.
    pub fn transcript(&self) -> String {
        self.seen
            .iter()
            .map(|e| format!("  {e:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Events seen so far (and any that already arrived).
    pub fn seen(&mut self) -> &[Event] {
        while let Ok(ev) = self.events.try_recv() {
            self.seen.push(ev);
        }
        &self.seen
    }

    /// Waits for the bot's thread to end on its own; returns what `run` returned.
    pub fn join(mut self) -> Result<(), Error> {
        let t = self.thread.take().expect("joined once");
        let deadline = Instant::now() + TIMEOUT;
        // The events channel closes when `run` returns and drops the bot's handlers.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ev) => self.seen.push(ev),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the bot did not stop; events:\n{}", self.transcript())
                }
            }
        }
        t.join().expect("the bot does not panic")
    }

    /// Quits (QUIT sent) and waits for `run` to return.
    pub fn quit(self, reason: &str) -> Result<(), Error> {
        self.handle.quit(reason);
        self.join()
    }
}

impl Drop for RunningBot {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.handle.quit("test over");
            let _ = t.join();
        }
    }
}

/// A blocking line-based IRC client.
pub struct Peer {
    pub nick: String,
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    transcript: Vec<String>,
}

impl Peer {
    /// Connects and registers as `nick`, reading the welcome burst.
    pub fn connect(addr: SocketAddr, nick: &str) -> Peer {
        let stream = TcpStream::connect(addr).expect("connect to the test server");
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut p = Peer {
            nick: nick.to_string(),
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            transcript: Vec::new(),
        };
        p.send(&format!("NICK {nick}"));
        p.send(&format!("USER {nick} 0 * :{nick}"));
        p.expect(|m| m.command == "376" || m.command == "422", "end of MOTD");
        p
    }

    pub fn send(&mut self, line: &str) {
        self.transcript.push(format!(">> {line}"));
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("write to the server");
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "{}: expected {what}; transcript:\n{}",
            self.nick,
            self.transcript.join("\n")
        )
    }

    /// The next message, or `None` at the deadline.
    fn recv_until(&mut self, deadline: Instant) -> Option<Message> {
        let mut buf = Vec::new();
        loop {
            match self.reader.read_until(b'\n', &mut buf) {
                Ok(0) => self.fail("more lines (connection closed)"),
                Ok(_) if buf.ends_with(b"\n") => {
                    let line = String::from_utf8_lossy(&buf)
                        .trim_end_matches(['\r', '\n'])
                        .to_string();
                    self.transcript.push(format!("<< {line}"));
                    match parse(&line) {
                        Ok(m) => return Some(m),
                        Err(_) => buf.clear(),
                    }
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if Instant::now() >= deadline {
                        return None;
                    }
                }
                Err(e) => self.fail(&format!("more lines ({e})")),
            }
        }
    }

    /// Reads until a message satisfies `pred`; returns it.
    pub fn expect(&mut self, pred: impl Fn(&Message) -> bool, what: &str) -> Message {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.recv_until(deadline) {
                Some(m) if pred(&m) => return m,
                Some(_) => {}
                None => self.fail(what),
            }
        }
    }

    /// Waits for a PRIVMSG from `from` to `target` and returns its text.
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

    /// Joins and waits for the end of NAMES.
    pub fn join(&mut self, channel: &str) {
        self.send(&format!("JOIN {channel}"));
        self.expect(
            |m| m.command == "366",
            &format!("end of NAMES for {channel}"),
        );
    }

    /// The nicks in `channel`, from NAMES.
    pub fn names(&mut self, channel: &str) -> Vec<String> {
        self.send(&format!("NAMES {channel}"));
        let mut names = Vec::new();
        loop {
            let m = self.expect(
                |m| m.command == "353" || m.command == "366",
                &format!("NAMES {channel}"),
            );
            if m.command == "366" {
                return names;
            }
            names.extend(
                m.param(3)
                    .split(' ')
                    .map(|n| n.trim_start_matches(['@', '+']).to_string()),
            );
        }
    }

    pub fn quit(mut self) {
        self.send("QUIT :done");
        self.expect(|m| m.command == "ERROR", "ERROR after QUIT");
    }
}
