//! `--spawn`: starts a chatd binary on a free loopback port with a temporary data
//! directory, waits until it accepts connections, and stops it at the end (SIGTERM,
//! then SIGKILL if it is still there after a few seconds).

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A running chatd that this process started. Dropping it stops the server and
/// removes its data directory.
pub struct Spawned {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    // Declared last: removed after the child is gone.
    _dir: tempfile::TempDir,
}

impl Spawned {
    /// Starts `bin --listen 127.0.0.1:PORT --data-dir TMP --config TMP/chatd.toml`.
    ///
    /// The config is `user_config` (if any) plus [`RELAXED`] for every key that file
    /// does not set. With `data_dir`, the server keeps its data there instead of in
    /// the temporary directory.
    pub fn start(
        bin: &Path,
        user_config: Option<&Path>,
        data_dir: Option<&Path>,
    ) -> Result<Spawned, String> {
        let dir = tempfile::Builder::new()
            .prefix("chatd-bench-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let config_path = dir.path().join("chatd.toml");
        fs::write(&config_path, server_config(user_config)?)
            .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
        let port = free_port()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let log = dir.path().join("chatd.log");
        let log_file =
            fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| format!("cannot open the log twice: {e}"))?;
        let child = Command::new(bin)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(data_dir.map_or_else(|| dir.path().join("data"), Path::to_path_buf))
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut spawned = Spawned {
            child,
            addr,
            log,
            _dir: dir,
        };
        spawned.wait_ready(Duration::from_secs(15))?;
        Ok(spawned)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the server is still running; if not, what it said.
    pub fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "the spawned server exited ({status}); the end of its log:\n{}",
                self.log_tail()
            )),
            Err(e) => Err(format!("cannot check the spawned server: {e}")),
        }
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            self.check_alive()?;
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(format!(
                    "the spawned server did not accept connections on {} within {} s; its log:\n{}",
                    self.addr,
                    limit.as_secs(),
                    self.log_tail()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last 2 KB of the server's output.
    pub fn log_tail(&self) -> String {
        let Ok(mut f) = fs::File::open(&self.log) else {
            return String::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(2048)));
        let mut text = String::new();
        let _ = f.read_to_string(&mut text);
        text
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // SIGTERM first, so a wrapper (`valgrind --tool=callgrind chatd ...`) can
        // write its output before it exits.
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill only sends a signal to our own child, which has not been
            // reaped yet, so the pid cannot have been reused.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let start = Instant::now();
        while start.elapsed() < STOP_GRACE {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long a spawned server gets to exit after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A port nothing listens on right now (the kernel's pick for port 0).
fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("cannot find a free loopback port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free loopback port: {e}"))
}

/// What a spawned server runs with unless the `--config` file says otherwise.
///
/// - `server.auto_join = []`: chatd's default puts every client in `#lobby`, and
///   10,000 clients joining one channel would measure JOIN floods, not the scenario.
/// - Connection limits (clients, per address, connects per minute) and channel size
///   at chatd's maximum: every client of the generator comes from 127.0.0.1.
/// - Flood control (`flood_burst`, `flood_rate`) at chatd's maximum, 10,000,000
///   lines: the generator has no flood control of its own, and with the defaults
///   (20 lines, then 5 per second) fakelag would be measured instead of delivery.
pub const RELAXED: &[(&str, &str, i64)] = &[
    ("limits", "max_clients", 10_000_000),
    ("limits", "conns_per_ip", 10_000_000),
    ("limits", "connects_per_ip_per_minute", 10_000_000),
    ("limits", "members_per_channel", 10_000_000),
    ("limits", "flood_burst", 10_000_000),
    ("limits", "flood_rate", 10_000_000),
];

/// The config the spawned server runs with; see [`RELAXED`].
fn server_config(user_config: Option<&Path>) -> Result<String, String> {
    let mut table = match user_config {
        Some(path) => {
            let text = fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            text.parse::<toml::Table>()
                .map_err(|e| format!("{} is not valid TOML: {e}", path.display()))?
        }
        None => toml::Table::new(),
    };
    section(&mut table, "server")?
        .entry("auto_join")
        .or_insert_with(|| toml::Value::Array(Vec::new()));
    for &(name, key, value) in RELAXED {
        section(&mut table, name)?
            .entry(key)
            .or_insert(toml::Value::Integer(value));
    }
    toml::to_string(&table).map_err(|e| format!("cannot write the server config: {e}"))
}

fn section<'a>(table: &'a mut toml::Table, name: &str) -> Result<&'a mut toml::Table, String> {
    table
        .entry(name)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .ok_or_else(|| format!("the config's `{name}` is not a table"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_relaxed_unless_the_config_sets_them() {
        let cfg = server_config(None).unwrap();
        assert!(cfg.contains("auto_join = []"), "{cfg}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        fs::write(&path, "[history]\nlog_messages = false\n").unwrap();
        let cfg = server_config(Some(&path)).unwrap();
        assert!(
            cfg.contains("log_messages = false") && cfg.contains("auto_join = []"),
            "{cfg}"
        );
        fs::write(
            &path,
            "[server]\nauto_join = [\"#x\"]\n[limits]\nflood_rate = 7\n",
        )
        .unwrap();
        let cfg = server_config(Some(&path)).unwrap();
        assert!(
            cfg.contains("#x") && !cfg.contains("auto_join = []"),
            "{cfg}"
        );
        assert!(
            cfg.contains("flood_rate = 7") && cfg.contains("flood_burst = 10000000"),
            "{cfg}"
        );
    }
}
