//! The test bench: [`Daemon`] runs the real chatd in-process (loopback port 0, a
//! temporary data dir, its admin socket in that dir) and runs the built `chatctl`
//! binary against it; [`Irc`] is a blocking IRC client that checks what users see.
//! Waits are bounded by [`TIMEOUT`] and synchronised by PING/PONG, never by sleeps.

use chatd::{Config, Server, ServerHandle};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long any single expectation may wait.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The chatctl binary under test.
pub const CHATCTL: &str = env!("CARGO_BIN_EXE_chatctl");

/// A running chatd with its admin socket.
pub struct Daemon {
    pub addr: SocketAddr,
    pub socket: PathBuf,
    pub dir: tempfile::TempDir,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with(|_| {})
    }

    /// A daemon whose config `tweak` may change first.
    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("admin.sock");
        let mut config = Config::default();
        config.server.listen = vec!["127.0.0.1:0".parse().unwrap()];
        config.server.data_dir = dir.path().join("data");
        config.server.auto_join = Vec::new();
        config.accounts.pbkdf2_iterations = 1000;
        config.limits.conns_per_ip = 100_000;
        config.limits.connects_per_ip_per_minute = 1_000_000;
        config.limits.flood_burst = 1_000_000;
        config.limits.flood_rate = 1_000_000;
        config.admin.socket = Some(socket.clone());
        tweak(&mut config);
        let server = Server::bind(config).expect("chatd binds");
        let addr = server.local_addrs()[0];
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.run().expect("chatd loop runs"));
        Daemon {
            addr,
            socket,
            dir,
            handle,
            thread: Some(thread),
        }
    }

    /// An IRC client registered as `nick`.
    pub fn irc(&self, nick: &str) -> Irc {
        let mut c = Irc::connect(self.addr);
        c.register(nick);
        c
    }

    /// Runs `chatctl --socket <ours> <args>` to completion.
    pub fn chatctl(&self, args: &[&str]) -> Run {
        chatctl(&self.socket, args)
    }

    /// Runs `chatctl --json <args>`, checks it succeeded, and parses its output.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let run = self.chatctl(&all).success();
        serde_json::from_str(run.stdout.trim())
            .unwrap_or_else(|e| panic!("chatctl {args:?} printed no JSON ({e}):\n{run}"))
    }

    /// Waits until the daemon's loop has ended (after `shutdown`).
    pub fn join(mut self) {
        let thread = self.thread.take().expect("joined once");
        let deadline = Instant::now() + TIMEOUT;
        while !thread.is_finished() {
            assert!(Instant::now() < deadline, "chatd did not stop in time");
            std::thread::sleep(Duration::from_millis(20));
        }
        thread.join().expect("chatd loop ends without panicking");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A finished chatctl run.
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
        assert_eq!(self.code, Some(0), "chatctl failed:\n{self}");
        self
    }

    /// Panics unless it failed with exactly `line` on stderr.
    pub fn fails_with(self, line: &str) -> Run {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "chatctl should have failed:\n{self}"
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

/// Runs `chatctl --socket <socket> <args>` with a bounded wait.
pub fn chatctl(socket: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(CHATCTL);
    cmd.arg("--socket")
        .arg(socket)
        .args(args)
        .env_remove("CHATD_ADMIN_SOCKET");
    run_bounded(cmd)
}

/// Runs a prepared command to completion, killing it after [`TIMEOUT`].
pub fn run_bounded(mut cmd: Command) -> Run {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A binary copied just now (peer_uid.rs) may still be open for writing in a
    // child another test thread forked meanwhile: exec then fails with ETXTBSY until
    // that child has exec'd or exited.
    let mut tries = 0;
    let mut child = loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => break other.expect("chatctl starts"),
        }
    };
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().expect("wait for chatctl").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect chatctl output");
            panic!("chatctl did not finish in time:\n{}", Run::from(out));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Run::from(child.wait_with_output().expect("collect chatctl output"))
}

/// A blocking line-based IRC client.
/// An IRC client of the daemon under test: the end-to-end tests' own client.
pub use chatd_tests::Client as Irc;

/// A chatctl left running (`tail-log -f`), its stdout read line by line.
pub struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    /// Starts `chatctl --socket <socket> <args>`.
    pub fn start(socket: &Path, args: &[&str]) -> Running {
        let mut child = Command::new(CHATCTL)
            .arg("--socket")
            .arg(socket)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("chatctl starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for an output line containing `text`; returns it.
    pub fn expect_line(&mut self, text: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "chatctl printed no line with {text:?}; it printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Sends SIGINT (what Ctrl-C does) and returns the exit code.
    pub fn interrupt(mut self) -> Option<i32> {
        // SAFETY: kill has no memory preconditions; the pid is our own child's.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for chatctl") {
                return status.code();
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("chatctl did not stop after SIGINT");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
