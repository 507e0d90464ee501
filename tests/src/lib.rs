//! The test kit of the whole workspace: the e2e suite (`tests/e2e/`), the daemon's
//! process tests, chatctl's and the bot SDK's tests all use it.
//!
//! - [`TestServer`] (`server.rs`) runs the real server in-process on 127.0.0.1 port 0
//!   with a temporary data dir and relaxed limits ([`relax_limits`]), its admin socket
//!   at hand; [`TestServer::start_in`] and [`TestServer::stop`] restart on kept data.
//! - [`Client`] (`client.rs`) is a blocking line client over TCP or TLS that syncs with
//!   PING/PONG round trips rather than sleeps and panics with its transcript.
//! - [`process`]: the `chatd` binary and other children, `kill -9`, bounded runs.
//! - [`redis`]: a throwaway `redis-server` for the cluster tests.
//! - [`tls`]: a certificate made at test time and a client that trusts it.
//! - [`browser`]: headless Chromium over WebDriver, for the web client's tests.
//! - [`ws`]: a WebSocket client (tungstenite) as a [`Transport`], so a [`Client`]
//!   speaks IRC over the web listener like over TCP.
//! - [`postgres`]: a throwaway PostgreSQL server (as `nobody`), a fresh database
//!   per test.
//! - [`scram`]: the client side of SASL SCRAM-SHA-256, to log in with it.
//! - Below: small helpers over received messages.

pub mod browser;
mod client;
pub mod postgres;
pub mod process;
pub mod redis;
pub mod scram;
mod server;
pub mod tls;
pub mod ws;

pub use client::{Client, Closed, TlsStream, Transport, TIMEOUT};
pub use server::{admin_line, relax_limits, TestServer, RELAXED_TOML, TEST_PBKDF2_ITERATIONS};

use chatd_proto::Message;

/// The messages in `got` with this command or numeric.
pub fn all<'a>(got: &'a [Message], command: &str) -> Vec<&'a Message> {
    got.iter().filter(|m| m.command == command).collect()
}

/// The one message in `got` with this command or numeric; panics with `got` if not one.
pub fn one<'a>(got: &'a [Message], command: &str) -> &'a Message {
    match all(got, command).as_slice() {
        [m] => m,
        other => panic!("expected one {command}, got {}: {got:#?}", other.len()),
    }
}

/// Whether `got` holds a message with this command or numeric.
pub fn has(got: &[Message], command: &str) -> bool {
    got.iter().any(|m| m.command == command)
}

/// The commands of `got`, in order, for order and absence checks.
pub fn commands(got: &[Message]) -> Vec<&str> {
    got.iter().map(|m| m.command.as_str()).collect()
}

/// Sends `JOIN chan` and waits for the end of its NAMES reply.
pub fn join(c: &mut Client, chan: &str) {
    c.join(chan);
}

/// Clients for `nicks`, all in `chan` (the first created it and is its operator),
/// with every JOIN and burst already read.
pub fn channel_with(server: &TestServer, chan: &str, nicks: &[&str]) -> Vec<Client> {
    let mut clients: Vec<Client> = Vec::new();
    for nick in nicks {
        let mut c = server.connect(nick);
        join(&mut c, chan);
        clients.push(c);
    }
    for c in &mut clients {
        c.sync();
    }
    clients
}

/// The SASL PLAIN response `base64(authz \0 authc \0 password)`.
pub fn sasl_plain(authz: &str, authc: &str, password: &str) -> String {
    base64(format!("{authz}\0{authc}\0{password}").as_bytes())
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Whether `s` is a chatd `msgid`: 16 lowercase hex digits.
pub fn is_msgid(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Splits the readable time prefix replayed text carries for clients without
/// server-time, `[YYYY-MM-DD HH:MM:SS UTC] `: returns (the time, the rest), or
/// `None` when `text` does not start with exactly that shape.
pub fn split_time_prefix(text: &str) -> Option<(&str, &str)> {
    let b = text.as_bytes();
    let shape = "[0000-00-00 00:00:00 UTC] ".as_bytes();
    if b.len() < shape.len() {
        return None;
    }
    let ok = shape.iter().zip(b).all(|(&want, &got)| {
        if want == b'0' {
            got.is_ascii_digit()
        } else {
            got == want
        }
    });
    ok.then(|| (&text[1..20], &text[shape.len()..]))
}

/// Whether `m` is a NOTICE from the server itself (a source without `nick!user@host`).
pub fn is_server_notice(m: &Message) -> bool {
    m.command == "NOTICE" && m.source.as_deref().is_some_and(|s| !s.contains('!'))
}

/// The messages of the `chathistory` batch for `target` among `got` (by their
/// `batch` tag), or `None` when `got` holds no such batch or it is not closed.
pub fn history_batch_in<'a>(got: &'a [Message], target: &str) -> Option<Vec<&'a Message>> {
    let start = got.iter().position(|m| {
        m.command == "BATCH"
            && m.param(0).starts_with('+')
            && m.param(1) == "chathistory"
            && m.param(2).eq_ignore_ascii_case(target)
    })?;
    let id = &got[start].param(0)[1..];
    let end = format!("-{id}");
    let rest = &got[start + 1..];
    let close = rest
        .iter()
        .position(|m| m.command == "BATCH" && m.param(0) == end)?;
    Some(
        rest[..close]
            .iter()
            .filter(|m| m.tag("batch") == Some(id))
            .collect(),
    )
}

/// The value of ISUPPORT token `key` (`Some("")` for a token without one), from the
/// 005 lines VERSION sends.
pub fn isupport(c: &mut Client, key: &str) -> Option<String> {
    c.send("VERSION");
    let got = c.sync();
    all(&got, chatd_proto::numeric::RPL_ISUPPORT)
        .iter()
        .flat_map(|m| &m.params[1..m.params.len().saturating_sub(1)])
        .find_map(|t| match t.split_once('=') {
            Some((k, v)) if k == key => Some(v.to_string()),
            None if t == key => Some(String::new()),
            _ => None,
        })
}
