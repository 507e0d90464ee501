//! The transport seam: what turns the bytes a socket gives into lines for the
//! [`LineBuffer`], and queued lines into bytes on the socket. Plain TCP
//! ([`plain`]), TLS ([`tls`]), and WebSocket over either ([`ws`], which also serves
//! the web client's pages before the upgrade).
//!
//! An enum rather than a trait object: the variant is one predictable branch per
//! read or flush, with no allocation or indirection beyond what TLS already has.
//! A PROXY protocol header, when a configured proxy sends one, is taken off the
//! socket before any transport sees a byte (`admission::read_proxy_header`).

mod plain;
mod tls;
mod ws;

pub use plain::Plain;
pub use tls::Tls;
pub use ws::Ws;

use super::queue::OutQueue;
use super::sock::Sock;
use chatd_proto::LineBuffer;
use std::io;

/// Past this many bytes of unread lines a read stops, so that a huge burst is
/// handed over as lines rather than grow the buffer.
const LINES_HIGH_WATER: usize = 16 * 1024;

/// What one read did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Bytes of lines handed to the line buffer.
    pub bytes: usize,
    /// The peer closed its side.
    pub eof: bool,
    /// Whether the socket may hold more (the read stopped before `WouldBlock`):
    /// `Some(true)` read again next pass, `Some(false)` drained, `None` unknown.
    pub more: Option<bool>,
}

/// How a connection's bytes are framed on the wire.
pub enum Transport {
    /// Plain TCP: the bytes are the lines.
    Plain(Plain),
    /// TLS: records on the socket, the lines inside them (rustls).
    Tls(Box<Tls>),
    /// WebSocket (HTTP first), over plain TCP or TLS.
    Ws(Box<Ws>),
}

impl Transport {
    /// A plaintext connection.
    pub fn plain() -> Transport {
        Transport::Plain(Plain::default())
    }

    /// A TLS connection whose handshake has not started.
    pub fn tls(session: rustls::ServerConnection) -> Transport {
        Transport::Tls(Box::new(Tls::new(session)))
    }

    /// A web listener's connection: HTTP pages, then perhaps a WebSocket; over TLS
    /// when `tls` is given.
    pub fn ws(
        config: crate::config::WebConfig,
        peer: std::net::IpAddr,
        tls: Option<rustls::ServerConnection>,
        ready: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Transport {
        Transport::Ws(Box::new(Ws::new(config, peer, tls, ready)))
    }

    pub fn is_tls(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(_) => true,
            Transport::Ws(w) => w.is_tls(),
        }
    }

    /// The client a trusted reverse proxy named in a WebSocket upgrade
    /// (`X-Forwarded-For`, `Forwarded`), once: the loop admits it as that client.
    pub fn take_forwarded(&mut self) -> Option<std::net::IpAddr> {
        match self {
            Transport::Ws(w) => w.take_forwarded(),
            _ => None,
        }
    }

    /// Reads what the socket has, up to `budget` bytes of lines, into `lines`.
    #[inline]
    pub fn read(
        &mut self,
        sock: &mut Sock,
        lines: &mut LineBuffer,
        scratch: &mut [u8],
        budget: usize,
    ) -> io::Result<ReadOutcome> {
        match self {
            Transport::Plain(p) => p.read(sock, lines, scratch, budget),
            Transport::Tls(t) => t.read(sock, lines, scratch, budget),
            Transport::Ws(w) => w.read(sock, lines, scratch, budget),
        }
    }

    /// Writes queued output until done or `WouldBlock`. Returns whether everything
    /// queued reached the socket.
    #[inline]
    pub fn flush(&mut self, sock: &mut Sock, out: &mut OutQueue) -> io::Result<bool> {
        match self {
            Transport::Plain(_) => plain::flush(sock, out),
            Transport::Tls(t) => t.flush(sock, out),
            Transport::Ws(w) => w.flush(sock, out),
        }
    }

    /// Whether the transport's own handshake is still under way.
    pub fn handshaking(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.handshaking(),
            Transport::Ws(w) => w.handshaking(),
        }
    }

    /// Whether the transport has bytes of its own to send (handshake, alerts) even
    /// with no output queued.
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.wants_write(),
            Transport::Ws(w) => w.wants_write(),
        }
    }

    /// Says goodbye at the transport's level before the socket is shut (a TLS
    /// close_notify), best effort.
    pub fn close(&mut self, sock: &mut Sock) {
        match self {
            Transport::Plain(_) => {}
            Transport::Tls(t) => t.close(sock),
            Transport::Ws(w) => w.close(sock),
        }
    }
}
