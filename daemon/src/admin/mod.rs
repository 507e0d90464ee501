//! The admin socket: a Unix stream socket served by the loop thread itself, one JSON
//! object per line each way (`docs/admin.md`). [`Admin`] owns the listener and the
//! admin connections; `commands.rs` runs each command against the server's state;
//! `peer.rs` checks who is connecting; `logtap.rs` streams daemon log lines.

mod accounts;
mod chanreg;
pub mod commands;
pub mod logtap;
mod peer;
mod reload;

use crate::config::Config;
use crate::conn::ConnId;
use crate::store::TailFilter;
use chatd_admin_proto::wire;
use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use serde_json::Value;
use slab::Slab;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Token of the admin listener.
pub const LISTENER: Token = Token(usize::MAX - 2);
/// Admin connection `i` has token `BASE + i`.
pub const BASE: usize = usize::MAX - 1024 - 4096;
/// Most admin connections at once.
const MAX_CONNS: usize = 64;
/// Longest request line (its `\n` aside); a longer one closes the connection.
pub const MAX_LINE: usize = 64 * 1024;
/// Output an admin client may leave unread (a stalled `tail-log -f`) before it is
/// disconnected.
const MAX_OUT: usize = 8 << 20;

/// A `tail-log -f` in progress on one admin connection.
#[derive(Debug, Clone)]
pub struct Stream {
    /// The request's `id`, echoed in every event.
    pub id: Value,
    pub filter: Option<TailFilter>,
    /// Daemon log lines at or above this level are streamed.
    pub level: log::LevelFilter,
}

pub struct AdminConn {
    pub id: ConnId,
    sock: UnixStream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    write_interest: bool,
    /// Close at the next flush, whatever is still owed (a broken socket).
    closing: bool,
    /// No more requests will be read (the peer half-closed, or sent a line too
    /// long): close once every request read before is answered and written.
    ending: bool,
    /// Requests of this connection waiting for the store.
    pub awaiting: usize,
    pub streams: Vec<Stream>,
}

/// What one read of an admin connection brought.
#[derive(Debug, Default)]
pub struct Requests {
    /// Complete request lines, in order.
    pub lines: Vec<String>,
    /// A line over [`MAX_LINE`] came after them: nothing more is read.
    pub too_long: bool,
}

/// Why the admin socket could not be set up.
#[derive(Debug)]
pub struct AdminError(pub String);

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub struct Admin {
    /// `None` for a server without an admin socket (in-process command fuzzing).
    listener: Option<UnixListener>,
    path: PathBuf,
    pub conns: Slab<AdminConn>,
    next_serial: u64,
    /// Who may connect besides our own uid and root.
    allowed: peer::Allowed,
}

/// The socket path the config names (default: `admin.sock` in the data dir).
pub fn socket_path(config: &Config) -> PathBuf {
    config
        .admin
        .socket
        .clone()
        .unwrap_or_else(|| config.server.data_dir.join("admin.sock"))
}

impl Admin {
    /// Binds the socket: replaces a stale file, refuses to take over a live one, and
    /// sets who may open it: `0600`, or `0660` with the configured group, plus an ACL
    /// entry for each of `allow_uids`. `SO_PEERCRED` stays the gate (`accept`).
    pub fn bind(config: &Config, registry: &Registry) -> Result<Admin, AdminError> {
        let path = socket_path(config);
        if path.exists() {
            if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                return Err(AdminError(format!(
                    "admin socket {} is in use: another chatd is running with this data",
                    path.display()
                )));
            }
            std::fs::remove_file(&path)
                .map_err(|e| AdminError(format!("cannot remove stale {}: {e}", path.display())))?;
            log::info!("replaced a stale admin socket at {}", path.display());
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| AdminError(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut listener = UnixListener::bind(&path)
            .map_err(|e| AdminError(format!("cannot bind {}: {e}", path.display())))?;
        let (uids, group) = (&config.admin.allow_uids, config.admin.group.as_deref());
        peer::set_mode(&path, group).map_err(AdminError)?;
        peer::grant_uids(&path, uids, group.is_some()).map_err(AdminError)?;
        for warning in peer::unreachable_warnings(&path, uids, group) {
            log::warn!("{warning}");
        }
        registry
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(|e| AdminError(format!("cannot watch {}: {e}", path.display())))?;
        Ok(Admin {
            listener: Some(listener),
            path,
            conns: Slab::new(),
            next_serial: 1,
            allowed: peer::Allowed::new(&config.admin.allow_uids, config.admin.group.as_deref()),
        })
    }

    /// An admin side with no socket.
    pub fn detached() -> Admin {
        Admin {
            listener: None,
            path: PathBuf::new(),
            conns: Slab::new(),
            next_serial: 1,
            allowed: peer::Allowed::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts waiting connections; refused peers get one error line.
    pub fn accept(&mut self, registry: &Registry) {
        let Some(listener) = &self.listener else {
            return;
        };
        loop {
            let mut sock = match listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("admin accept failed: {e}");
                    return;
                }
            };
            let (uid, gid) = match peer::cred_of(&sock) {
                Ok(cred) => cred,
                Err(e) => {
                    log::warn!("admin socket: cannot read peer credentials: {e}");
                    continue;
                }
            };
            if !self.allowed.admits(uid, gid) {
                log::warn!("admin socket: refused uid {uid}");
                let line = error_line(&wire::Error::new(
                    wire::ErrorCode::Forbidden,
                    format!("permission denied: uid {uid} is not allowed"),
                ));
                let _ = sock.write_all(line.as_bytes());
                continue;
            }
            if self.conns.len() >= MAX_CONNS {
                let line = error_line(&wire::Error::unavailable("too many admin connections"));
                let _ = sock.write_all(line.as_bytes());
                continue;
            }
            let entry = self.conns.vacant_entry();
            let slot = entry.key();
            let id = ConnId {
                slot,
                serial: self.next_serial,
            };
            self.next_serial += 1;
            if let Err(e) = registry.register(&mut sock, Token(BASE + slot), Interest::READABLE) {
                log::warn!("admin socket: register failed: {e}");
                continue;
            }
            entry.insert(AdminConn {
                id,
                sock,
                inbuf: Vec::new(),
                out: Vec::new(),
                write_interest: false,
                closing: false,
                ending: false,
                awaiting: 0,
                streams: Vec::new(),
            });
            log::info!("admin connection {slot} from uid {uid}");
        }
    }

    /// Reads what an admin connection sent; returns its complete request lines.
    /// At EOF the connection is `ending`: the requests read so far are still
    /// answered (a client that half-closes after writing gets every answer), then it
    /// closes. A line over [`MAX_LINE`] ends reading the same way.
    pub fn read(&mut self, slot: usize) -> Requests {
        let mut got = Requests::default();
        let Some(conn) = self.conns.get_mut(slot) else {
            return got;
        };
        let mut buf = [0u8; 8192];
        while !conn.ending && !conn.closing {
            match conn.sock.read(&mut buf) {
                Ok(0) => conn.ending = true,
                Ok(n) => {
                    conn.inbuf.extend_from_slice(&buf[..n]);
                    while let Some(pos) = conn.inbuf.iter().position(|&b| b == b'\n') {
                        if pos > MAX_LINE {
                            got.too_long = true;
                            break;
                        }
                        let line: Vec<u8> = conn.inbuf.drain(..=pos).collect();
                        let line = String::from_utf8_lossy(&line).trim().to_string();
                        if !line.is_empty() {
                            got.lines.push(line);
                        }
                    }
                    if got.too_long || conn.inbuf.len() > MAX_LINE {
                        got.too_long = true;
                        conn.inbuf = Vec::new();
                        conn.ending = true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => conn.closing = true,
            }
        }
        got
    }

    /// A request line over [`MAX_LINE`]: says so, and the connection closes once the
    /// requests before it are answered. A stream it had ends.
    pub fn refuse_long_line(&mut self, slot: usize) {
        if let Some(conn) = self.conns.get_mut(slot) {
            conn.streams.clear();
            conn.ending = true;
        }
        let message = format!("a request line over {} KiB; closing", MAX_LINE / 1024);
        self.error(slot, &Value::Null, &wire::Error::bad_request(message));
    }

    /// Queues one JSON line for `slot` and tries to write it at once.
    pub fn send(&mut self, slot: usize, value: &Value) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let mut line = value.to_string();
        line.push('\n');
        conn.out.extend_from_slice(line.as_bytes());
        if conn.out.len() > MAX_OUT {
            conn.out.clear();
            conn.closing = true;
        }
    }

    /// Sends `{"id", "ok": true, "result"}`.
    pub fn reply(&mut self, slot: usize, id: &Value, result: &impl serde::Serialize) {
        self.send(slot, &wire::reply(id, result));
    }

    /// Sends `{"error": {"code", "message"}, "id", "ok": false}`.
    pub fn error(&mut self, slot: usize, id: &Value, error: &wire::Error) {
        self.send(slot, &wire::error(id, error));
    }

    /// Writes pending output of every connection; closes finished ones.
    pub fn flush_all(&mut self, registry: &Registry) {
        let slots: Vec<usize> = self.conns.iter().map(|(s, _)| s).collect();
        for slot in slots {
            self.flush(slot, registry);
        }
    }

    pub fn flush(&mut self, slot: usize, registry: &Registry) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        while !conn.out.is_empty() {
            match conn.sock.write(&conn.out) {
                Ok(0) => {
                    conn.closing = true;
                    break;
                }
                Ok(n) => {
                    conn.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    conn.closing = true;
                    break;
                }
            }
        }
        let owed = !conn.out.is_empty() || conn.awaiting > 0 || !conn.streams.is_empty();
        if conn.closing || (conn.ending && !owed) {
            let mut conn = self.conns.remove(slot);
            let _ = registry.deregister(&mut conn.sock);
            log::info!("admin connection {slot} closed");
            return;
        }
        let want = !conn.out.is_empty();
        if want != conn.write_interest {
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if registry
                .reregister(&mut conn.sock, Token(BASE + slot), interest)
                .is_ok()
            {
                conn.write_interest = want;
            }
        }
    }

    /// Whether any connection follows the log.
    pub fn following(&self) -> bool {
        self.conns.iter().any(|(_, c)| !c.streams.is_empty())
    }

    /// The lowest log level any stream wants.
    pub fn follow_level(&self) -> log::LevelFilter {
        self.conns
            .iter()
            .flat_map(|(_, c)| c.streams.iter().map(|s| s.level))
            .max()
            .unwrap_or(log::LevelFilter::Off)
    }

    /// The admin connection `id` names, if it is still there.
    pub fn slot_of(&self, id: ConnId) -> Option<usize> {
        self.conns
            .get(id.slot)
            .filter(|c| c.id == id)
            .map(|_| id.slot)
    }

    /// Removes the socket file (at shutdown).
    pub fn remove_socket(&self) {
        if self.listener.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// An error line for a peer that never gets a connection slot.
fn error_line(error: &wire::Error) -> String {
    wire::line(&wire::error(&Value::Null, error))
}
