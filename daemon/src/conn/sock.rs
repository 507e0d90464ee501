//! [`Sock`]: the socket under a connection's transport: a TCP stream, or (for the
//! detached server) nothing, with what it was sent kept in memory.

use mio::net::TcpStream;
use std::io::{self, IoSlice, Read, Write};

/// A connection's socket: TCP, or (for in-process fuzzing of the command
/// layer) nothing: reads find no data and writes are kept in memory, bounded.
pub enum Sock {
    Tcp(TcpStream),
    Detached(Box<Vec<u8>>),
    /// A user of another cluster node (`server/bus.rs`): nothing to read, and
    /// writes are dropped (its own node delivers to it).
    Remote,
}

/// Most bytes a detached connection keeps of what it was sent.
const DETACHED_KEEP: usize = 1 << 20;

impl Sock {
    pub fn shutdown(&self) {
        if let Sock::Tcp(s) = self {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    /// What a detached connection was sent (empty for TCP).
    pub fn take_sent(&mut self) -> Vec<u8> {
        match self {
            Sock::Tcp(_) | Sock::Remote => Vec::new(),
            Sock::Detached(v) => std::mem::take(v),
        }
    }
}

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.read(buf),
            Sock::Detached(_) | Sock::Remote => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.write(buf),
            Sock::Detached(v) => {
                let room = DETACHED_KEEP.saturating_sub(v.len());
                v.extend_from_slice(&buf[..buf.len().min(room)]);
                Ok(buf.len())
            }
            Sock::Remote => Ok(buf.len()),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.write_vectored(bufs),
            Sock::Detached(_) | Sock::Remote => {
                let mut n = 0;
                for b in bufs {
                    n += self.write(b)?;
                }
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl mio::event::Source for Sock {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => s.register(registry, token, interests),
            Sock::Detached(_) | Sock::Remote => Ok(()),
        }
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => s.reregister(registry, token, interests),
            Sock::Detached(_) | Sock::Remote => Ok(()),
        }
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => s.deregister(registry),
            Sock::Detached(_) | Sock::Remote => Ok(()),
        }
    }
}
