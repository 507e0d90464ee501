//! The transport seam: what turns the bytes a socket gives into lines for the
//! [`LineBuffer`], and queued lines into bytes on the socket. Plain TCP
//! ([`plain`]) and TLS ([`tls`]) today; a WebSocket transport is one more variant
//! here and no change to the loop.
//!
//! An enum rather than a trait object: the variant is one predictable branch per
//! read or flush, with no allocation or indirection beyond what TLS already has.
//! A PROXY protocol header, when a configured proxy sends one, is taken off the
//! socket before any transport sees a byte (`admission::read_proxy_header`).

mod plain;
mod tls;

pub use plain::Plain;
pub use tls::Tls;

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

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
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
        }
    }

    /// Writes queued output until done or `WouldBlock`. Returns whether everything
    /// queued reached the socket.
    #[inline]
    pub fn flush(&mut self, sock: &mut Sock, out: &mut OutQueue) -> io::Result<bool> {
        match self {
            Transport::Plain(_) => plain::flush(sock, out),
            Transport::Tls(t) => t.flush(sock, out),
        }
    }

    /// Whether the transport's own handshake is still under way.
    pub fn handshaking(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.handshaking(),
        }
    }

    /// Whether the transport has bytes of its own to send (handshake, alerts) even
    /// with no output queued.
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.wants_write(),
        }
    }

    /// Says goodbye at the transport's level before the socket is shut (a TLS
    /// close_notify), best effort.
    pub fn close(&mut self, sock: &mut Sock) {
        if let Transport::Tls(t) = self {
            t.close(sock);
        }
    }
}
