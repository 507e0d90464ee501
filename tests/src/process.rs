//! Process helpers for tests that run a binary (`chatd`, `chatctl`, an example bot):
//! a child killed when the test ends ([`Running`]), signals and `kill -9`, bounded
//! waits, runs with a deadline ([`run_bounded`]), free ports and waiting for one.

use crate::client::TIMEOUT;
use std::borrow::BorrowMut;
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A `chatd` command line for a test: `--config <config> --listen 127.0.0.1:<port>
/// --data-dir <data>`, stdin and stderr closed. `bin` is
/// `env!("CARGO_BIN_EXE_chatd")` in the daemon's own tests.
pub fn chatd_command(bin: &str, config: &Path, port: u16, data: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("--config")
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data)
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// A running child; SIGKILLed and reaped when dropped, however the test ends.
pub struct Running {
    pub child: Child,
    /// Its stdout or stderr, line by line, when started reading one.
    lines: Option<mpsc::Receiver<String>>,
    seen: Vec<String>,
}

impl Running {
    /// Spawns `cmd`. A binary copied just now may still be open for writing in a
    /// child another test thread forked meanwhile: exec then fails with ETXTBSY
    /// until that child has exec'd or exited, so that is tried again (a bounded
    /// number of times).
    pub fn spawn(cmd: &mut Command) -> Running {
        Running::from(spawn_retrying(cmd))
    }

    /// Spawns `cmd` with its stdout read line by line ([`Running::expect_line`]).
    pub fn reading_stdout(cmd: &mut Command) -> Running {
        let mut child = spawn_retrying(cmd.stdout(Stdio::piped()));
        let stdout = child.stdout.take().expect("piped stdout");
        Running::reading(child, stdout)
    }

    /// Spawns `cmd` with its stderr read line by line ([`Running::expect_line`]).
    pub fn reading_stderr(cmd: &mut Command) -> Running {
        let mut child = spawn_retrying(cmd.stderr(Stdio::piped()));
        let stderr = child.stderr.take().expect("piped stderr");
        Running::reading(child, stderr)
    }

    fn reading(child: Child, output: impl Read + Send + 'static) -> Running {
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines: Some(lines),
            seen: Vec::new(),
        }
    }

    /// Sends `sig` (SIGTERM, SIGHUP, SIGINT...).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "signal {sig} sent");
    }

    /// `kill -9`, then reap.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL the child");
        self.child.wait().expect("reap the child");
    }

    /// Waits (at most [`TIMEOUT`]) for the process to exit; its exit code, `None`
    /// when a signal ended it. Kills it and panics when it does not exit in time.
    pub fn wait_code(mut self) -> Option<i32> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the child") {
                return status.code();
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("the child did not exit within {TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits (at most [`TIMEOUT`]) for the process to exit; its exit code.
    pub fn wait(self) -> i32 {
        self.wait_code().expect("exited, not killed by a signal")
    }

    /// Sends SIGINT (what Ctrl-C does) and waits for the exit; the exit code.
    pub fn interrupt(self) -> Option<i32> {
        self.signal(libc::SIGINT);
        self.wait_code()
    }

    /// Waits for a line of the output being read containing `text`; returns it.
    /// Panics with what was printed after [`TIMEOUT`].
    pub fn expect_line(&mut self, text: &str) -> String {
        let lines = self
            .lines
            .as_ref()
            .expect("started reading stdout or stderr");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {text:?}; the child printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Running {
    /// The lines of output read so far by [`Running::expect_line`].
    pub fn printed(&self) -> &[String] {
        &self.seen
    }
}

impl From<Child> for Running {
    fn from(child: Child) -> Running {
        Running {
            child,
            lines: None,
            seen: Vec::new(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_retrying(cmd: &mut Command) -> Child {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other.expect("the child starts"),
        }
    }
}

/// A finished run: exit code and output.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with the whole run unless it exited 0.
    pub fn success(self) -> Run {
        assert_eq!(self.code, Some(0), "the run failed:\n{self}");
        self
    }

    /// Panics unless it failed with exactly `line` on stderr.
    pub fn fails_with(self, line: &str) -> Run {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "the run should have failed:\n{self}"
        );
        assert_eq!(self.stderr.trim_end(), line, "stderr:\n{self}");
        assert_eq!(self.stderr.lines().count(), 1, "one line:\n{self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs a prepared command to completion (stdin closed, output collected), killing
/// it and panicking with what it printed after [`TIMEOUT`].
pub fn run_bounded(mut cmd: impl BorrowMut<Command>) -> Run {
    let cmd = cmd.borrow_mut();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn_retrying(cmd);
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().expect("wait for the child").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect the output");
            panic!("the run did not finish in time:\n{}", Run::from(out));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Run::from(child.wait_with_output().expect("collect the output"))
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Connects to 127.0.0.1:`port`, retrying for up to 20 s while the daemon starts.
pub fn connect_retry(port: u16) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("nothing ever listened on {port}: {e}"),
        }
    }
}
