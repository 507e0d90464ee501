//! What the process-level tests share: a `chatd` child that is killed when the test
//! ends, free ports, and connecting while the daemon starts.

#![allow(dead_code)] // Each test file uses its own part.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Config lines for tests: every test connects from 127.0.0.1 and some send in
/// bursts, so the per-address and flood limits are out of the way; passwords hash
/// cheaply.
pub const RELAXED: &str = "[limits]\nconns_per_ip = 100000\nconnects_per_ip_per_minute = 1000000\n\
flood_burst = 1000000\nflood_rate = 1000000\nregistrations_per_ip_per_hour = 1000000\n\n\
[accounts]\npbkdf2_iterations = 1000\n";

/// The binary under test.
pub fn chatd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chatd"))
}

/// A running chatd; SIGKILLed and reaped when dropped, however the test ends.
pub struct Running(pub Child);

impl Running {
    /// Sends `sig` (SIGTERM, SIGHUP...).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        let rc = unsafe { libc::kill(self.0.id() as i32, sig) };
        assert_eq!(rc, 0, "signal {sig} sent");
    }

    /// SIGKILL, then reap.
    pub fn kill9(mut self) {
        self.0.kill().expect("SIGKILL chatd");
        self.0.wait().expect("reap chatd");
    }

    /// Waits (at most 10 s) for the process to exit; its exit code.
    pub fn wait(mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status.code().expect("exited, not killed");
            }
            assert!(Instant::now() < deadline, "chatd did not exit in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Connects to `port`, retrying for up to 20 s while the daemon starts.
pub fn connect_retry(port: u16) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("chatd never listened on {port}: {e}"),
        }
    }
}
