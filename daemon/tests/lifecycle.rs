//! The daemon's life as a service, on the real binary: systemd readiness
//! notifications, SIGHUP reload, SIGTERM during traffic (graceful, exit 0, nothing
//! queued is lost), and start-up errors with their exit codes.

mod common;

use common::{chatd, connect_retry, free_port, Running, RELAXED};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

fn write_config(dir: &Path, motd: &str) -> std::path::PathBuf {
    let conf = dir.join("chatd.toml");
    std::fs::write(
        &conf,
        format!("[server]\nauto_join = []\nmotd = {motd:?}\n\n{RELAXED}"),
    )
    .unwrap();
    conf
}

fn spawn(dir: &Path, port: u16, notify: Option<&Path>) -> Running {
    let conf = dir.join("chatd.toml");
    let mut cmd = chatd();
    cmd.arg("--config")
        .arg(&conf)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.join("data"))
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    if let Some(sock) = notify {
        cmd.env("NOTIFY_SOCKET", sock);
    }
    Running(cmd.spawn().expect("chatd starts"))
}

struct Client {
    w: TcpStream,
    r: BufReader<TcpStream>,
    seen: Vec<String>,
}

impl Client {
    fn connect(port: u16, nick: &str) -> Client {
        let s = connect_retry(port);
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut c = Client {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
            seen: Vec::new(),
        };
        c.send(&format!("NICK {nick}"));
        c.send(&format!("USER {nick} 0 * :{nick}"));
        c.expect(|l| l.contains(" 376 ") || l.contains(" 422 "));
        c
    }

    fn send(&mut self, line: &str) {
        write!(self.w, "{line}\r\n").unwrap();
    }

    fn expect(&mut self, want: impl Fn(&str) -> bool) -> String {
        loop {
            let mut line = String::new();
            match self.r.read_line(&mut line) {
                Ok(0) | Err(_) => panic!("ended before the expected line: {:?}", self.seen),
                Ok(_) => {
                    let line = line.trim_end().to_string();
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
            }
        }
    }
}

/// Reads notifications until `want` arrives.
fn expect_notify(sock: &UnixDatagram, want: &str) {
    let mut buf = [0u8; 256];
    loop {
        let n = sock
            .recv(&mut buf)
            .expect("a notification before the timeout");
        if String::from_utf8_lossy(&buf[..n]).contains(want) {
            return;
        }
    }
}

#[test]
fn systemd_hears_ready_reloading_and_stopping_and_sighup_reloads_the_motd() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "first motd");
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(TIMEOUT)).unwrap();
    let port = free_port();
    let chatd = spawn(dir.path(), port, Some(&notify_path));
    expect_notify(&notify, "READY=1");
    let mut before = Client::connect(port, "before");
    assert!(before.seen.iter().any(|l| l.contains("first motd")));

    write_config(dir.path(), "second motd");
    chatd.signal(libc::SIGHUP);
    expect_notify(&notify, "RELOADING=1");
    expect_notify(&notify, "READY=1");
    let after = Client::connect(port, "after");
    assert!(after.seen.iter().any(|l| l.contains("second motd")));
    // The client from before the reload is still connected.
    before.send("PING still-here");
    before.expect(|l| l.contains("still-here"));

    chatd.signal(libc::SIGTERM);
    expect_notify(&notify, "STOPPING=1");
    before.expect(|l| l.starts_with("ERROR") && l.contains("Server shutting down"));
    assert_eq!(chatd.wait(), 0);
}

#[test]
fn sigterm_during_traffic_exits_0_and_loses_no_queued_message() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "hi");
    let port = free_port();
    let chatd = spawn(dir.path(), port, None);
    let mut bob = Client::connect(port, "bob");
    bob.send("REGISTER bob * hunter2hunter2");
    bob.expect(|l| l.contains("REGISTER SUCCESS"));
    bob.send("QUIT");
    bob.expect(|l| l.starts_with("ERROR"));

    // alice keeps sending to offline bob; SIGTERM arrives in the middle of it.
    let mut alice = Client::connect(port, "alice");
    let queued = |l: &str| l.contains("your message was queued");
    for i in 0..100 {
        alice.send(&format!("PRIVMSG bob :message {i}"));
    }
    let mut acked = 0;
    while acked < 50 {
        alice.expect(queued);
        acked += 1;
    }
    chatd.signal(libc::SIGTERM);
    for i in 100..200 {
        if write!(alice.w, "PRIVMSG bob :message {i}\r\n").is_err() {
            break;
        }
    }
    // Count the "queued" notices that arrived before the server closed.
    loop {
        let mut line = String::new();
        match alice.r.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line.contains("your message was queued") => acked += 1,
            Ok(_) => {}
        }
    }
    assert_eq!(chatd.wait(), 0, "a graceful stop exits 0");
    assert!(acked > 0, "some messages were queued before the stop");

    let chatd = spawn(dir.path(), port, None);
    let mut bob = Client::connect(port, "bob2");
    bob.send("LOGIN bob hunter2hunter2");
    bob.expect(|l| l.contains(" 900 "));
    let summary = bob.expect(|l| l.contains("delivered while you were away"));
    let got: Vec<usize> = bob
        .seen
        .iter()
        .filter(|l| l.contains("PRIVMSG bob2 :"))
        .map(|l| {
            l.rsplit("message ")
                .next()
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .collect();
    assert!(
        got.len() >= acked,
        "{} delivered, {acked} acked: {summary}",
        got.len()
    );
    assert_eq!(
        got,
        (0..got.len()).collect::<Vec<_>>(),
        "in order, no gaps, no repeats"
    );
    drop(chatd);
}

#[test]
fn an_unreadable_certificate_stops_start_up_with_exit_5() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("chatd.toml");
    std::fs::write(
        &conf,
        "[tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n",
    )
    .unwrap();
    let port = free_port();
    let out = chatd()
        .arg("--config")
        .arg(&conf)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path().join("data"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/cert.pem"), "{err}");
}

#[test]
fn a_second_chatd_on_the_same_data_dir_is_refused_with_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "hi");
    let port = free_port();
    let first = spawn(dir.path(), port, None);
    let _c = Client::connect(port, "first");
    let out = chatd()
        .arg("--config")
        .arg(dir.path().join("chatd.toml"))
        .args([
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("admin socket") && err.contains("in use"),
        "{err}"
    );
    drop(first);
}
