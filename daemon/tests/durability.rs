//! Durability of the offline queue in the real `chatd` process: messages the sender
//! was told were queued survive SIGKILL of the daemon right after, and are delivered
//! exactly once, in order, when the account logs in after a restart on the same data
//! dir. (The graceful restart is tested in-process: tests/tests/e2e/offline.rs.)

mod common;

use chatd_proto::{parse, Message};
use common::{chatd, connect_retry, free_port, Running, RELAXED};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const PW: &str = "hunter2hunter2";
const TIMEOUT: Duration = Duration::from_secs(10);

/// Starts chatd on `port` with `dir/data` as its data dir and a config that hashes
/// passwords cheaply.
fn start(dir: &Path, port: u16) -> Running {
    let conf = dir.join("chatd.toml");
    std::fs::write(&conf, format!("[server]\nauto_join = []\n\n{RELAXED}")).unwrap();
    let child = chatd()
        .arg("--config")
        .arg(&conf)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.join("data"))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chatd starts");
    Running(child)
}

/// A blocking line client; panics with its transcript on timeout or close.
struct Client {
    nick: String,
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    transcript: Vec<String>,
}

impl Client {
    /// Connects (retrying while the daemon starts) and registers as `nick`, sending
    /// `before` first (CAP, PASS...); reads up to the end of the MOTD.
    fn connect(port: u16, nick: &str, before: &[String]) -> Client {
        let stream = connect_retry(port);
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut c = Client {
            nick: nick.to_string(),
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            transcript: Vec::new(),
        };
        for line in before {
            c.send(line);
        }
        c.send(&format!("NICK {nick}"));
        c.send(&format!("USER {nick} 0 * :{nick}"));
        c.until(|m| m.command == "376" || m.command == "422", "end of MOTD");
        c
    }

    fn send(&mut self, line: &str) {
        self.transcript.push(format!(">> {line}"));
        let _ = self.writer.write_all(format!("{line}\r\n").as_bytes());
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "[{}] expected {what}\n--- transcript ---\n{}\n---",
            self.nick,
            self.transcript.join("\n")
        )
    }

    /// Reads until `pred` matches; returns every message read, the match last.
    fn until(&mut self, pred: impl Fn(&Message) -> bool, what: &str) -> Vec<Message> {
        let deadline = Instant::now() + TIMEOUT;
        let mut got = Vec::new();
        let mut buf = Vec::new();
        loop {
            match self.reader.read_until(b'\n', &mut buf) {
                Ok(0) => self.fail(&format!("{what} (connection closed)")),
                Ok(_) if buf.ends_with(b"\n") => {
                    let line = String::from_utf8_lossy(&buf)
                        .trim_end_matches(['\r', '\n'])
                        .to_string();
                    buf.clear();
                    self.transcript.push(format!("<< {line}"));
                    let m = parse(&line)
                        .unwrap_or_else(|e| self.fail(&format!("parsable {line:?}: {e}")));
                    let done = pred(&m);
                    got.push(m);
                    if done {
                        return got;
                    }
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if Instant::now() >= deadline {
                        self.fail(&format!("{what} (timed out)"));
                    }
                }
                Err(e) => self.fail(&format!("{what} ({e})")),
            }
        }
    }

    /// A round trip through the store (`HISTORY <own nick> 1`, answered after
    /// everything this connection caused before); returns what arrived first.
    fn store_sync(&mut self) -> Vec<Message> {
        let nick = self.nick.clone();
        self.send(&format!("HISTORY {nick} 1"));
        let end = format!("End of HISTORY for {nick}:");
        let mut got = self.until(
            |m| m.command == "NOTICE" && m.param(1).starts_with(&end),
            "the answer to HISTORY",
        );
        got.pop();
        got
    }

    /// Sends QUIT and waits until the server closes the connection.
    fn quit(mut self) {
        self.send("QUIT :bye");
        let deadline = Instant::now() + TIMEOUT;
        let mut buf = Vec::new();
        loop {
            match self.reader.read_until(b'\n', &mut buf) {
                Ok(0) => return,
                Ok(_) => buf.clear(),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if Instant::now() >= deadline {
                        self.fail("the server to close the connection (timed out)");
                    }
                }
                Err(_) => return,
            }
        }
    }
}

fn is_delivered_notice(m: &Message) -> bool {
    m.command == "NOTICE" && m.param(1).ends_with("delivered while you were away")
}

fn from_alice(m: &Message) -> bool {
    m.command == "PRIVMSG" && m.source_nick() == Some("alice")
}

#[test]
fn queued_messages_survive_kill_9_and_are_delivered_exactly_once() {
    const N: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let chatd = start(dir.path(), port);

    let mut bob = Client::connect(port, "bob", &[]);
    bob.send(&format!("REGISTER bob * {PW}"));
    bob.until(|m| m.command == "900", "900 after REGISTER");
    bob.quit();

    let mut alice = Client::connect(port, "alice", &[]);
    let queued = "bob is offline; your message was queued and will be delivered when they log in";
    for i in 0..N {
        alice.send(&format!("PRIVMSG bob :message {i:02}"));
    }
    for i in 0..N {
        let got = alice.until(
            |m| (m.command == "NOTICE" && m.param(1) == queued) || m.command == "FAIL",
            &format!("queued notice {i}"),
        );
        let m = got.last().unwrap();
        assert_eq!(m.param(1), queued, "message {i} was not queued: {m}");
    }
    // Told queued: now the process dies without any chance to clean up.
    chatd.kill9();

    let port = free_port();
    let _chatd = start(dir.path(), port);
    let mut bob = Client::connect(port, "bob", &[format!("PASS bob:{PW}")]);
    let got = bob.until(is_delivered_notice, "the delivery notice");
    let texts: Vec<&str> = got
        .iter()
        .filter(|m| from_alice(m))
        .map(|m| m.param(1))
        .collect();
    let want: Vec<String> = (0..N).map(|i| format!("message {i:02}")).collect();
    // bob did not negotiate server-time: each text starts with its time.
    let stripped: Vec<&str> = texts
        .iter()
        .map(|t| match t.split_once(" UTC] ") {
            Some((when, rest)) if when.starts_with('[') && when.len() == 20 => rest,
            _ => panic!("no [YYYY-MM-DD HH:MM:SS UTC] prefix: {t:?}"),
        })
        .collect();
    assert_eq!(stripped, want, "every queued message once, in order");
    assert_eq!(
        got.last().unwrap().param(1),
        format!("{N} messages were delivered while you were away")
    );
    // Anything more would be a duplicate.
    let more = bob.store_sync();
    assert!(
        !more.iter().any(|m| from_alice(m) || is_delivered_notice(m)),
        "{more:#?}"
    );
    bob.quit();

    let mut again = Client::connect(port, "bob", &[format!("PASS bob:{PW}")]);
    let got = again.store_sync();
    assert!(
        !got.iter().any(|m| from_alice(m) || is_delivered_notice(m)),
        "delivered again at the second login: {got:#?}"
    );
}

#[test]
fn accounts_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let chatd = start(dir.path(), port);
    let mut carol = Client::connect(port, "carol", &[]);
    carol.send(&format!("REGISTER carol * {PW}"));
    carol.until(
        |m| m.command == "REGISTER" && m.param(0) == "SUCCESS",
        "REGISTER SUCCESS",
    );
    chatd.kill9();

    let port = free_port();
    let _chatd = start(dir.path(), port);
    let mut c = Client::connect(port, "someone", &[]);
    c.send("LOGIN carol wrong-password");
    c.until(|m| m.command == "FAIL", "FAIL LOGIN");
    c.send(&format!("LOGIN carol {PW}"));
    let got = c.until(|m| m.command == "900" || m.command == "FAIL", "900");
    let m = got.last().unwrap();
    assert_eq!((m.command.as_str(), m.param(2)), ("900", "carol"), "{m}");
}
