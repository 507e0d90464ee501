//! One client connection of the generator: its socket, where it is in its life, the
//! unfinished line it read and the bytes waiting to go out. The scenario workers
//! (worker.rs) and the abuse test (abuse.rs) drive their clients through it; what a
//! client does with its lines is theirs.

use crate::wire;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::io::{self, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conn {
    /// Not connected yet.
    Waiting,
    /// `connect` was called; the first readiness event tells how it went.
    Connecting,
    Open,
    Closed,
}

pub struct Link {
    pub sock: Option<TcpStream>,
    pub conn: Conn,
    /// The unfinished line of the last read.
    pub partial: Vec<u8>,
    /// Bytes to write.
    pub out: Vec<u8>,
    /// The socket took everything so far (false after `WouldBlock` until the next
    /// writable event).
    pub writable: bool,
    /// On the owner's dirty list already.
    queued: bool,
}

/// What one read from a link gave.
pub enum Got {
    /// This many bytes, in the buffer given.
    Data(usize),
    /// Nothing more for now.
    Drained,
    /// The server closed the connection.
    Closed,
    Failed(io::Error),
    /// The link has no socket.
    Gone,
}

/// After a readiness event on a connecting socket.
pub enum Connected {
    Now,
    NotYet,
    Failed(io::Error),
}

impl Link {
    pub fn new() -> Link {
        Link {
            sock: None,
            conn: Conn::Waiting,
            partial: Vec::new(),
            out: Vec::new(),
            writable: false,
            queued: false,
        }
    }

    /// Connects with `connect` and registers the socket under `token`.
    pub fn connect(
        &mut self,
        registry: &Registry,
        token: Token,
        connect: impl FnOnce() -> io::Result<TcpStream>,
    ) -> io::Result<()> {
        let mut sock = connect()?;
        registry.register(&mut sock, token, Interest::READABLE | Interest::WRITABLE)?;
        self.sock = Some(sock);
        self.conn = Conn::Connecting;
        Ok(())
    }

    /// Whether a connecting socket is connected now. On success the link is open,
    /// writable, and has `TCP_NODELAY`.
    pub fn finish_connect(&mut self) -> Connected {
        let Some(sock) = self.sock.as_mut() else {
            return Connected::NotYet;
        };
        let status = match sock.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => sock.peer_addr().map(|_| ()),
        };
        match status {
            Ok(()) => {
                let _ = sock.set_nodelay(true);
                self.conn = Conn::Open;
                self.writable = true;
                Connected::Now
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Connected::NotYet,
            Err(e) => Connected::Failed(e),
        }
    }

    /// Appends `bytes` to the output of an open link. True if the link must go on the
    /// owner's dirty list (see [`Link::mark_queued`]).
    pub fn queue(&mut self, bytes: &[u8]) -> bool {
        if self.conn != Conn::Open {
            return false;
        }
        self.out.extend_from_slice(bytes);
        self.mark_queued()
    }

    /// For an owner that wrote into `out` itself: true the first time since the last
    /// flush, when the link must go on the owner's dirty list.
    pub fn mark_queued(&mut self) -> bool {
        !std::mem::replace(&mut self.queued, true)
    }

    /// Writes what the socket takes now (see [`wire::write_pending`]); the error
    /// that ends the connection, if any.
    pub fn flush(&mut self) -> Option<io::Error> {
        self.queued = false;
        let sock = self.sock.as_mut()?;
        wire::write_pending(sock, &mut self.out, &mut self.writable)
    }

    /// One read into `buf`.
    pub fn read(&mut self, buf: &mut [u8]) -> Got {
        let Some(sock) = self.sock.as_mut() else {
            return Got::Gone;
        };
        loop {
            return match sock.read(buf) {
                Ok(0) => Got::Closed,
                Ok(n) => Got::Data(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Got::Drained,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Got::Failed(e),
            };
        }
    }
}
