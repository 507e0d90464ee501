//! The interactive shell (`chatctl` with no command) driven through a
//! pseudo-terminal as a person would: typing commands, Tab, Ctrl-C and Ctrl-D.

use crate::harness::{Daemon, CHATCTL, TIMEOUT};
use expectrl::process::unix::WaitStatus;
use expectrl::{ControlCode, Expect, Session};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const PROMPT: &str = "chatctl> ";

/// `chatctl --socket <socket>` in a terminal, with `home` as its home.
fn shell(socket: &Path, home: &Path) -> expectrl::session::OsSession {
    let mut cmd = Command::new(CHATCTL);
    cmd.arg("--socket")
        .arg(socket)
        .env("HOME", home)
        .env("TERM", "xterm")
        .env_remove("CHATD_ADMIN_SOCKET");
    let mut session = Session::spawn(cmd).expect("chatctl starts in a pty");
    session.set_expect_timeout(Some(TIMEOUT));
    session.expect(PROMPT).expect("the prompt");
    session
}

/// Types a line and presses Enter.
fn type_line(session: &mut expectrl::session::OsSession, line: &str) {
    session.send(line).unwrap();
    session.send("\r").unwrap();
}

/// Waits for the shell to exit; returns its exit code.
fn exit_code(session: &expectrl::session::OsSession) -> i32 {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match session.get_process().status() {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::StillAlive) | Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => panic!("the shell did not exit: {other:?}"),
        }
    }
}

#[test]
fn users_prints_the_table_and_history_is_saved() {
    let d = Daemon::start();
    let mut alice = d.irc("alice");
    alice.join("#rust");
    let home = tempfile::tempdir().unwrap();
    let mut sh = shell(&d.socket, home.path());

    type_line(&mut sh, "users");
    sh.expect("NICK").expect("the table header");
    sh.expect("alice").expect("alice's row");
    sh.expect("#rust").expect("her channel");
    sh.expect(PROMPT).unwrap();

    // Errors are printed and the shell goes on.
    type_line(&mut sh, "kick nobody");
    sh.expect("no such nick: nobody").unwrap();
    sh.expect(PROMPT).unwrap();
    type_line(&mut sh, "frobnicate");
    sh.expect("unrecognized subcommand").unwrap();
    sh.expect(PROMPT).unwrap();

    type_line(&mut sh, "quit");
    assert_eq!(exit_code(&sh), 0);
    let history = std::fs::read_to_string(home.path().join(".chatctl_history")).unwrap();
    assert!(history.lines().any(|l| l == "users"), "{history}");
    assert!(history.lines().any(|l| l == "kick nobody"), "{history}");
}

#[test]
fn tab_completes_an_online_nick() {
    let d = Daemon::start();
    let mut alice = d.irc("alice");
    let _bob = d.irc("bob");
    let home = tempfile::tempdir().unwrap();
    let mut sh = shell(&d.socket, home.path());

    sh.send("kick al\t").unwrap();
    sh.expect("alice").expect("the nick completed");
    sh.send("\r").unwrap();
    sh.expect("disconnected alice").unwrap();
    alice.expect_error_and_close();

    // Command names complete too.
    sh.send("sta\t").unwrap();
    sh.expect("stats").unwrap();
    sh.send("\r").unwrap();
    sh.expect("uptime").unwrap();
    sh.expect(PROMPT).unwrap();

    // Ctrl-D leaves.
    sh.send(ControlCode::EndOfTransmission).unwrap();
    assert_eq!(exit_code(&sh), 0);
}

#[test]
fn ctrl_c_stops_tail_log_follow_and_returns_to_the_prompt() {
    let d = Daemon::start();
    let mut alice = d.irc("alice");
    alice.join("#rust");
    alice.send("PRIVMSG #rust :before");
    alice.sync();
    let home = tempfile::tempdir().unwrap();
    let mut sh = shell(&d.socket, home.path());

    type_line(&mut sh, "tail-log -f --target #rust");
    sh.expect("<alice> before").expect("the backlog");
    alice.send("PRIVMSG #rust :during the stream");
    alice.sync();
    sh.expect("<alice> during the stream")
        .expect("a live message");

    sh.send(ControlCode::EndOfText).unwrap();
    sh.expect(PROMPT).expect("the prompt again after Ctrl-C");
    // The shell is still there and working, and the stream is gone.
    type_line(&mut sh, "stats");
    sh.expect("uptime").unwrap();
    sh.expect(PROMPT).unwrap();
    alice.send("PRIVMSG #rust :after the stream");
    alice.sync();

    // Ctrl-C at the prompt only clears the line.
    sh.send("wall never sent").unwrap();
    sh.send(ControlCode::EndOfText).unwrap();
    sh.expect(PROMPT).unwrap();
    type_line(&mut sh, "exit");
    assert_eq!(exit_code(&sh), 0);
    let seen = alice.sync();
    assert!(
        !seen.iter().any(|m| m.command == "NOTICE"),
        "the wall was not sent: {seen:?}"
    );
}
