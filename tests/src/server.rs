//! [`TestServer`]: the real chatd run in-process on 127.0.0.1 port 0 with a temporary
//! data dir and relaxed limits ([`relax_limits`], the only place they are relaxed;
//! [`RELAXED_TOML`] is the same for a config file), its admin socket at hand.

use crate::client::{Client, TIMEOUT};
use chatd::{Config, Server, ServerHandle};
use chatd_proto::numeric;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// PBKDF2 iterations test servers use: the smallest value the config accepts, so
/// registering and logging in cost little. Tweaks may set it back.
pub const TEST_PBKDF2_ITERATIONS: u32 = 1000;

/// Every test connects from 127.0.0.1 and many send in bursts: the per-address and
/// flood limits are raised out of the way, and passwords hash cheaply. Tests of
/// those limits set their own.
pub fn relax_limits(config: &mut Config) {
    let l = &mut config.limits;
    l.conns_per_ip = 100_000;
    l.connects_per_ip_per_minute = 1_000_000;
    l.flood_burst = 1_000_000;
    l.flood_rate = 1_000_000;
    l.registrations_per_ip_per_hour = 1_000_000;
    // No exemption either, so that tests that set a per-address limit meet it.
    l.exempt.clear();
    config.accounts.pbkdf2_iterations = TEST_PBKDF2_ITERATIONS;
}

/// [`relax_limits`] as config file lines, for tests that start the `chatd` binary.
/// Put it after the file's other sections; a unit test keeps the two equal.
pub const RELAXED_TOML: &str = "[limits]\nconns_per_ip = 100000\n\
connects_per_ip_per_minute = 1000000\nflood_burst = 1000000\nflood_rate = 1000000\n\
registrations_per_ip_per_hour = 1000000\nexempt = []\n\n\
[accounts]\npbkdf2_iterations = 1000\n";

/// A running chatd on a free loopback port.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The first TLS listener, when the config has one.
    pub tls_addr: Option<SocketAddr>,
    /// The first plain web listener (`[web] listen`), when the config has one.
    pub web_addr: Option<SocketAddr>,
    /// The first HTTPS web listener (`[web] tls_listen`), when the config has one.
    pub web_tls_addr: Option<SocketAddr>,
    pub config: Config,
    admin_socket: PathBuf,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
    /// Receives once the loop has ended.
    ended: mpsc::Receiver<()>,
    /// The temporary dir holding the data dir, when the server owns it.
    dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A server with the default config, except no `auto_join` (tests join explicitly).
    pub fn start() -> TestServer {
        TestServer::start_with(|_| {})
    }

    /// A server whose config `tweak` may change first.
    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = TestServer::launch(dir.path().join("data"), tweak);
        server.dir = Some(dir);
        server
    }

    /// A server whose admin socket is `admin.sock` in its temporary dir, beside (not
    /// in) the data dir, as an operator would place it; `tweak` may change it.
    pub fn start_with_admin(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("admin.sock");
        let mut server = TestServer::launch(dir.path().join("data"), |c| {
            c.admin.socket = Some(socket);
            tweak(c);
        });
        server.dir = Some(dir);
        server
    }

    /// A server on `data_dir`, which outlives it: stop it with [`TestServer::stop`]
    /// and start another on the same dir (and port, set by `tweak`) to check what
    /// survives a restart.
    pub fn start_in(data_dir: &Path, tweak: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::launch(data_dir.to_path_buf(), tweak)
    }

    /// A server run from a config file exactly as written (no relaxed limits), which
    /// a `reload` reads again.
    pub fn start_from_file(path: &Path) -> TestServer {
        let config = Config::load(path).expect("the test's config file loads");
        let mut server = Server::bind(config.clone()).expect("server binds");
        server.set_config_file(path.to_path_buf(), config.clone());
        TestServer::run(server, config)
    }

    fn launch(data_dir: PathBuf, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config::default();
        config.server.listen = vec!["127.0.0.1:0".parse().unwrap()];
        config.server.data_dir = data_dir;
        config.server.auto_join = Vec::new();
        relax_limits(&mut config);
        tweak(&mut config);
        let server = Server::bind(config.clone()).expect("server binds");
        TestServer::run(server, config)
    }

    fn run(server: Server, config: Config) -> TestServer {
        let addr = server.local_addrs()[0];
        let tls_addr = server.tls_addrs().first().copied();
        let web_addr = server.web_addrs(false).first().copied();
        let web_tls_addr = server.web_addrs(true).first().copied();
        let admin_socket = server.admin_socket().to_path_buf();
        let handle = server.handle();
        let (done, ended) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            server.run().expect("loop runs");
            let _ = done.send(());
        });
        TestServer {
            addr,
            tls_addr,
            web_addr,
            web_tls_addr,
            config,
            admin_socket,
            handle,
            thread: Some(thread),
            ended,
            dir: None,
        }
    }

    /// Graceful stop: asks the server to shut down and waits until its loop (and
    /// with it the store) has finished. Panics if the loop failed.
    pub fn stop(self) {
        self.handle.shutdown();
        self.wait_stopped();
    }

    /// Waits (at most [`TIMEOUT`]) for a loop told to stop some other way (an admin
    /// `shutdown`) to end. Panics if it does not, or if the loop failed.
    pub fn wait_stopped(mut self) {
        let ended = self.ended.recv_timeout(TIMEOUT);
        let thread = self.thread.take().expect("stopped once");
        if ended.is_err() && !thread.is_finished() {
            panic!("the server did not stop within {TIMEOUT:?}");
        }
        thread
            .join()
            .expect("the server loop ends without panicking");
    }

    /// Moves the server's clock `by` ahead (its loop wakes to notice): flood budgets
    /// refill and timers come due as if that time had passed, with no sleep.
    pub fn advance_clock(&self, by: std::time::Duration) {
        self.handle.advance_clock(by);
    }

    /// The server's data dir.
    pub fn data_dir(&self) -> &Path {
        &self.config.server.data_dir
    }

    /// The temporary dir the server's data dir is in (servers started with
    /// [`TestServer::start_in`] or [`TestServer::start_from_file`] have none).
    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .expect("a server with its own temp dir")
            .path()
    }

    /// Where the admin socket listens.
    pub fn admin_socket(&self) -> &Path {
        &self.admin_socket
    }

    /// One request on the admin socket (a JSON line, as `chatctl` sends it); the
    /// reply line, parsed.
    pub fn admin(&self, request: impl std::fmt::Display) -> serde_json::Value {
        let line = admin_line(&self.admin_socket, &request.to_string());
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("a JSON reply ({e}): {line:?}"))
    }

    /// A TCP connection that has sent nothing yet.
    pub fn connect_raw(&self) -> Client {
        Client::connect(self.addr)
    }

    /// A client registered as `nick` (NICK + USER), with the welcome burst read.
    pub fn connect(&self, nick: &str) -> Client {
        let mut c = self.connect_raw();
        c.register(nick);
        c
    }

    /// A client that negotiated `caps` (space-separated) before registering as `nick`.
    pub fn connect_with_caps(&self, nick: &str, caps: &str) -> Client {
        let mut c = self.connect_raw();
        c.send("CAP LS 302");
        c.send(&format!("CAP REQ :{caps}"));
        c.expect(|m| m.command == "CAP" && m.param(1) == "ACK", "CAP ACK");
        c.send("CAP END");
        c.register(nick);
        c
    }

    /// A client that logged in to `account` with SASL PLAIN during capability
    /// negotiation (also requesting `caps`, space-separated, may be empty), then
    /// registered as `nick`.
    pub fn connect_sasl(&self, nick: &str, caps: &str, account: &str, password: &str) -> Client {
        let mut c = self.connect_raw();
        c.send("CAP LS 302");
        c.send(&format!("CAP REQ :{}", format!("sasl {caps}").trim()));
        c.expect(|m| m.command == "CAP" && m.param(1) == "ACK", "CAP ACK");
        c.send("AUTHENTICATE PLAIN");
        c.expect(
            |m| m.command == "AUTHENTICATE" && m.param(0) == "+",
            "AUTHENTICATE +",
        );
        c.send(&format!(
            "AUTHENTICATE {}",
            crate::sasl_plain("", account, password)
        ));
        c.expect_numeric(numeric::RPL_SASLSUCCESS);
        c.send("CAP END");
        c.register(nick);
        c
    }

    /// Registers `name` as an account with `password` from a connection with that
    /// nick, then quits: the account exists and nobody is logged in to it.
    pub fn create_account(&self, name: &str, password: &str) {
        let mut c = self.connect(name);
        c.register_account(name, password);
        c.quit();
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

/// One request on the admin socket at `path`; the reply line as sent.
pub fn admin_line(path: &Path, request: &str) -> String {
    let mut sock = std::os::unix::net::UnixStream::connect(path)
        .unwrap_or_else(|e| panic!("admin socket {}: {e}", path.display()));
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    writeln!(sock, "{request}").unwrap();
    let mut line = String::new();
    BufReader::new(sock).read_line(&mut line).unwrap();
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The config file lines relax exactly what `relax_limits` relaxes.
    #[test]
    fn relaxed_toml_equals_relax_limits() {
        let from_file = Config::parse(RELAXED_TOML).expect("RELAXED_TOML parses");
        let mut relaxed = Config::default();
        relax_limits(&mut relaxed);
        assert_eq!(format!("{from_file:?}"), format!("{relaxed:?}"));
    }
}
