//! What chatctl's tests add to the workspace test kit (`chatd_tests`): [`Daemon`], a
//! [`TestServer`] with its admin socket in its temporary dir, and running the built
//! `chatctl` binary against it, to completion ([`chatctl`]) or left running
//! ([`follow`]). Waits are bounded and synchronised by PING/PONG, never by sleeps.

use chatd::Config;
use chatd_tests::process::Running;
pub use chatd_tests::process::{run_bounded, Run};
use chatd_tests::TestServer;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How long any single expectation may wait.
pub use chatd_tests::TIMEOUT;

/// An IRC client of the daemon under test: the kit's client.
pub use chatd_tests::Client as Irc;

/// The chatctl binary under test.
pub const CHATCTL: &str = env!("CARGO_BIN_EXE_chatctl");

/// A running chatd with its admin socket.
pub struct Daemon {
    server: TestServer,
    pub addr: SocketAddr,
    pub socket: PathBuf,
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with(|_| {})
    }

    /// A daemon whose config `tweak` may change first.
    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> Daemon {
        let server = TestServer::start_with_admin(tweak);
        Daemon {
            addr: server.addr,
            socket: server.admin_socket().to_path_buf(),
            server,
        }
    }

    /// The temporary dir holding the data dir and the admin socket.
    pub fn dir(&self) -> &Path {
        self.server.dir()
    }

    /// An IRC client registered as `nick`.
    pub fn irc(&self, nick: &str) -> Irc {
        self.server.connect(nick)
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
    pub fn join(self) {
        self.server.wait_stopped();
    }
}

/// `chatctl --socket <socket> <args>`, with no socket from the environment.
fn command(socket: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(CHATCTL);
    cmd.arg("--socket")
        .arg(socket)
        .args(args)
        .env_remove("CHATD_ADMIN_SOCKET");
    cmd
}

/// Runs `chatctl --socket <socket> <args>` with a bounded wait.
pub fn chatctl(socket: &Path, args: &[&str]) -> Run {
    run_bounded(command(socket, args))
}

/// Starts `chatctl --socket <socket> <args>` and leaves it running (`tail-log -f`),
/// its stdout read line by line.
pub fn follow(socket: &Path, args: &[&str]) -> Running {
    Running::reading_stdout(
        command(socket, args)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit()),
    )
}
