//! The daemon's life as a service, on the real binary: systemd readiness
//! notifications, SIGHUP reload, SIGTERM during traffic (graceful, exit 0, nothing
//! queued is lost), and start-up errors with their exit codes.

use chatd_tests::process::{chatd_command, connect_retry, free_port, run_bounded, Running};
use chatd_tests::{Client, RELAXED_TOML};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

const CHATD: &str = env!("CARGO_BIN_EXE_chatd");
const TIMEOUT: Duration = Duration::from_secs(10);

fn write_config(dir: &Path, motd: &str) -> std::path::PathBuf {
    let conf = dir.join("chatd.toml");
    std::fs::write(
        &conf,
        format!("[server]\nauto_join = []\nmotd = {motd:?}\n\n{RELAXED_TOML}"),
    )
    .unwrap();
    conf
}

fn spawn(dir: &Path, port: u16, notify: Option<&Path>) -> Running {
    let conf = dir.join("chatd.toml");
    let mut cmd = chatd_command(CHATD, &conf, port, &dir.join("data"));
    if let Some(sock) = notify {
        cmd.env("NOTIFY_SOCKET", sock);
    }
    Running::spawn(&mut cmd)
}

/// A client registered as `nick` (connecting while the daemon starts).
fn connect(port: u16, nick: &str) -> Client {
    let mut c = Client::from_stream(connect_retry(port));
    c.register(nick);
    c
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
    let mut before = connect(port, "before");
    assert!(before.received().iter().any(|l| l.contains("first motd")));

    write_config(dir.path(), "second motd");
    chatd.signal(libc::SIGHUP);
    expect_notify(&notify, "RELOADING=1");
    expect_notify(&notify, "READY=1");
    let after = connect(port, "after");
    assert!(after.received().iter().any(|l| l.contains("second motd")));
    // The client from before the reload is still connected.
    before.send("PING still-here");
    before.expect_line("PONG still-here", |l| l.contains("still-here"));

    chatd.signal(libc::SIGTERM);
    expect_notify(&notify, "STOPPING=1");
    before.expect_line("ERROR on shutdown", |l| {
        l.starts_with("ERROR") && l.contains("Server shutting down")
    });
    assert_eq!(chatd.wait(), 0);
}

#[test]
fn sigterm_during_traffic_exits_0_and_loses_no_queued_message() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "hi");
    let port = free_port();
    let chatd = spawn(dir.path(), port, None);
    let mut bob = connect(port, "bob");
    bob.send("REGISTER bob * hunter2hunter2");
    bob.expect_line("REGISTER SUCCESS", |l| l.contains("REGISTER SUCCESS"));
    bob.send("QUIT");
    bob.expect_line("ERROR after QUIT", |l| l.starts_with("ERROR"));

    // alice keeps sending to offline bob; SIGTERM arrives in the middle of it.
    let mut alice = connect(port, "alice");
    let queued = |l: &str| l.contains("your message was queued");
    for i in 0..100 {
        alice.send(&format!("PRIVMSG bob :message {i}"));
    }
    let mut acked = 0;
    while acked < 50 {
        alice.expect_line("a queued notice", queued);
        acked += 1;
    }
    chatd.signal(libc::SIGTERM);
    for i in 100..200 {
        alice.send(&format!("PRIVMSG bob :message {i}"));
    }
    // Count the "queued" notices that arrived before the server closed.
    acked += alice.expect_closed().iter().filter(|l| queued(l)).count();
    assert_eq!(chatd.wait(), 0, "a graceful stop exits 0");
    assert!(acked > 0, "some messages were queued before the stop");

    let chatd = spawn(dir.path(), port, None);
    let mut bob = connect(port, "bob2");
    bob.send("LOGIN bob hunter2hunter2");
    bob.expect_line("900", |l| l.contains(" 900 "));
    let summary = bob.expect_line("the delivery summary", |l| {
        l.contains("delivered while you were away")
    });
    let got: Vec<usize> = bob
        .received()
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
    let out = run_bounded(chatd_command(CHATD, &conf, port, &dir.path().join("data")));
    assert_eq!(out.code, Some(5));
    let err = out.stderr;
    assert!(err.contains("/nonexistent/cert.pem"), "{err}");
}

#[test]
fn a_second_chatd_on_the_same_data_dir_is_refused_with_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "hi");
    let port = free_port();
    let first = spawn(dir.path(), port, None);
    let _c = connect(port, "first");
    let out = run_bounded(chatd_command(
        CHATD,
        &dir.path().join("chatd.toml"),
        free_port(),
        &dir.path().join("data"),
    ));
    assert_eq!(out.code, Some(4));
    let err = out.stderr;
    assert!(
        err.contains("admin socket") && err.contains("in use"),
        "{err}"
    );
    drop(first);
}
