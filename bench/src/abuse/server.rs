//! The spawned server seen from outside: the config it runs with ([`server_config`]),
//! its memory ([`Server`], sampled every 100 ms), and a blocking [`probe`] client
//! that tells whether it answers and how many clients and channels it holds.

use crate::procfs;
use crate::spawn::Spawned;
use crate::wire::{parse_u64, split_line, trailing};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

/// What the spawned server runs with unless --config sets it (spawn.rs relaxes
/// the connection limits on top):
/// - the limits under test at chatd's own defaults (`conf/chatd.toml`), instead of
///   the relaxed values other scenarios use;
/// - no history logging: the store's SQLite page cache (up to 32 MiB) grows with
///   every logged message and keeps it by design, which would hide what the
///   connections leave behind in the memory check.
fn test_settings() -> [(&'static str, &'static str, toml::Value); 5] {
    use toml::Value::{Boolean, Integer};
    [
        ("limits", "flood_burst", Integer(20)),
        ("limits", "flood_rate", Integer(5)),
        ("limits", "recvq_bytes", Integer(16 * 1024)),
        ("limits", "sendq_bytes", Integer(1 << 20)),
        ("history", "log_messages", Boolean(false)),
    ]
}

/// The spawned server and the memory samples taken of it.
pub struct Server {
    pub spawned: Spawned,
    pub pid: u32,
    pub peak_kb: u64,
    pub last_sample: Instant,
}

impl Server {
    pub fn rss_kb(&self) -> Option<u64> {
        procfs::status_kb(self.pid, "VmRSS")
    }

    /// Every 100 ms: checks the server is alive and updates the peak RSS.
    pub fn tick(&mut self) -> Result<(), String> {
        if self.last_sample.elapsed() < Duration::from_millis(100) {
            return Ok(());
        }
        self.last_sample = Instant::now();
        self.spawned.check_alive()?;
        if let Some(kb) = self.rss_kb() {
            self.peak_kb = self.peak_kb.max(kb);
        }
        Ok(())
    }
}

/// What a fresh client learns: that it is served, and how full the server is.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// Connect to `001`.
    pub register_ms: f64,
    /// PING to PONG.
    pub ping_ms: f64,
    /// From LUSERS: registered clients (the probe included), unregistered ones,
    /// channels.
    pub clients: u64,
    pub unknown: u64,
    pub channels: u64,
}

/// Connects one blocking client: registers, PINGs, asks LUSERS, quits. Each probe
/// gets a nick of its own (`<prefix><n>`), so it never waits for an earlier one to
/// be gone.
pub fn probe(addr: SocketAddr, prefix: &str, timeout: Duration) -> Result<Probe, String> {
    static PROBES: AtomicUsize = AtomicUsize::new(0);
    let nick = format!("{prefix}{}", PROBES.fetch_add(1, Relaxed));
    let start = Instant::now();
    let deadline = start + timeout;
    let stream = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("probe: cannot connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut w = stream
        .try_clone()
        .map_err(|e| format!("probe: cannot clone the socket: {e}"))?;
    let mut r = BufReader::new(stream);
    let send = |w: &mut std::net::TcpStream, s: &str| {
        w.write_all(s.as_bytes())
            .map_err(|e| format!("probe: write failed: {e}"))
    };
    send(
        &mut w,
        &format!("NICK {nick}\r\nUSER {nick} 0 * :probe\r\n"),
    )?;
    let mut p = Probe {
        register_ms: 0.0,
        ping_ms: 0.0,
        clients: 0,
        unknown: 0,
        channels: 0,
    };
    let mut ping_at = None;
    let mut ponged = false;
    let mut line = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("probe: no answer in time".into());
        }
        let _ = r.get_ref().set_read_timeout(Some(left));
        line.clear();
        match r.read_until(b'\n', &mut line) {
            Ok(0) => return Err("probe: the server closed the connection".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("probe: read failed: {e}")),
        }
        let l = line.strip_suffix(b"\n").unwrap_or(&line);
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        let Some((_, command, params)) = split_line(l) else {
            continue;
        };
        let text = trailing(params);
        let first_number = || {
            params
                .split(|&b| b == b' ')
                .skip(1)
                .find_map(parse_u64)
                .or_else(|| text.split(|&b| b == b' ').find_map(parse_u64))
                .unwrap_or(0)
        };
        match command {
            b"PING" => {
                let reply = format!("PONG :{}\r\n", String::from_utf8_lossy(text));
                send(&mut w, &reply)?;
            }
            b"001" => p.register_ms = start.elapsed().as_secs_f64() * 1e3,
            // End of MOTD (or no MOTD): registration is over.
            b"376" | b"422" if ping_at.is_none() => {
                ping_at = Some(Instant::now());
                send(&mut w, "PING :abuse-probe\r\nLUSERS\r\n")?;
            }
            b"PONG" if text == b"abuse-probe" => {
                if let Some(t) = ping_at {
                    p.ping_ms = t.elapsed().as_secs_f64() * 1e3;
                    ponged = true;
                }
            }
            b"253" if ping_at.is_some() => p.unknown = first_number(),
            b"254" if ping_at.is_some() => p.channels = first_number(),
            // `I have N clients and 0 servers`: the last line of LUSERS.
            b"255" if ponged => {
                p.clients = text.split(|&b| b == b' ').find_map(parse_u64).unwrap_or(0);
                let _ = send(&mut w, "QUIT :probe done\r\n");
                return Ok(p);
            }
            b"ERROR" => {
                return Err(format!(
                    "probe: the server said ERROR :{}",
                    String::from_utf8_lossy(text)
                ))
            }
            _ => {}
        }
    }
}

/// Probes until the server holds no client but the probe and no channel.
pub fn wait_empty(
    addr: SocketAddr,
    server: &mut Server,
    nick: &str,
    timeout: Duration,
) -> Result<Probe, String> {
    let deadline = Instant::now() + timeout;
    loop {
        server.spawned.check_alive()?;
        let p = probe(addr, nick, Duration::from_secs(10))?;
        if p.clients <= 1 && p.unknown == 0 && p.channels == 0 {
            return Ok(p);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the server still reports {} client(s), {} unregistered, {} channel(s) after everyone left",
                p.clients, p.unknown, p.channels
            ));
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// Waits `settle`, sampling the RSS; returns the last sample.
pub fn settle(server: &mut Server, settle: Duration) -> Result<u64, String> {
    let end = Instant::now() + settle;
    loop {
        server.tick()?;
        if Instant::now() >= end {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    server
        .rss_kb()
        .ok_or_else(|| "cannot read the server's RSS".to_string())
}

/// The config the server is started with: `--config` (if any) plus
/// [`test_settings`] for what it does not set; and those settings as they are.
pub fn server_config(
    user: Option<&Path>,
) -> Result<(toml::Table, BTreeMap<String, String>), String> {
    let mut table = match user {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .parse::<toml::Table>()
            .map_err(|e| format!("{} is not valid TOML: {e}", path.display()))?,
        None => toml::Table::new(),
    };
    let mut effective = BTreeMap::new();
    for (section, key, default) in test_settings() {
        let v = table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("the config's `{section}` is not a table"))?
            .entry(key)
            .or_insert(default);
        effective.insert(format!("{section}.{key}"), v.to_string());
    }
    Ok((table, effective))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_real_limits_unless_told() {
        let (_, s) = server_config(None).unwrap();
        assert_eq!(s["limits.flood_burst"], "20");
        assert_eq!(s["limits.sendq_bytes"], "1048576");
        assert_eq!(s["history.log_messages"], "false");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[limits]\nsendq_bytes = 65536\n[history]\nlog_messages = true\n",
        )
        .unwrap();
        let (t, s) = server_config(Some(&path)).unwrap();
        assert_eq!(s["limits.sendq_bytes"], "65536");
        assert_eq!(s["limits.flood_rate"], "5");
        assert_eq!(s["history.log_messages"], "true");
        let text = toml::to_string(&t).unwrap();
        assert!(text.contains("flood_rate = 5") && text.contains("log_messages = true"));
    }
}
