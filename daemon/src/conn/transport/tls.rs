//! The TLS transport (rustls): records from the socket, plaintext lines out of
//! them; queued lines into rustls up to its buffer limit, records to the socket.
//! The handshake is driven by the same readiness events, never blocking.

use super::{ReadOutcome, LINES_HIGH_WATER};
use crate::conn::queue::OutQueue;
use crate::conn::sock::Sock;
use chatd_proto::LineBuffer;
use std::io::{self, Read, Write};

/// A TLS session and the plaintext it holds that has not reached the socket.
pub struct Tls {
    session: rustls::ServerConnection,
    /// Plaintext handed to rustls that has not yet all reached the socket.
    pending: u64,
}

impl Tls {
    pub(super) fn new(session: rustls::ServerConnection) -> Tls {
        Tls {
            session,
            pending: 0,
        }
    }

    pub(super) fn handshaking(&self) -> bool {
        self.session.is_handshaking()
    }

    pub(super) fn wants_write(&self) -> bool {
        self.session.wants_write()
    }

    pub(super) fn read(
        &mut self,
        sock: &mut Sock,
        lines: &mut LineBuffer,
        scratch: &mut [u8],
        budget: usize,
    ) -> io::Result<ReadOutcome> {
        self.read_plain(sock, scratch, budget, |bytes| {
            lines.push(bytes);
            lines.pending() > LINES_HIGH_WATER
        })
    }

    /// Reads records from the socket and hands the plaintext in them to `take`,
    /// up to `budget` bytes or until `take` says it has enough (returns `true`).
    /// The IRC lines of [`Tls::read`], and the HTTP and WebSocket bytes of the
    /// WebSocket transport over TLS.
    pub(super) fn read_plain(
        &mut self,
        sock: &mut Sock,
        scratch: &mut [u8],
        budget: usize,
        mut take: impl FnMut(&[u8]) -> bool,
    ) -> io::Result<ReadOutcome> {
        let tls = &mut self.session;
        let mut total = 0;
        let mut eof = false;
        while total < budget {
            let mut would_block = false;
            match tls.read_tls(sock) {
                Ok(0) => eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => would_block = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Err(e) = tls.process_new_packets() {
                // Tell the peer why (an alert), best effort, then give up on it.
                let _ = tls.write_tls(sock);
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("TLS error: {e}"),
                ));
            }
            let mut full = false;
            loop {
                match tls.reader().read(scratch) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        full |= take(&scratch[..n]);
                        total += n;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        eof = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if eof || would_block {
                return Ok(ReadOutcome {
                    bytes: total,
                    eof,
                    more: Some(false),
                });
            }
            if full {
                break;
            }
        }
        Ok(ReadOutcome {
            bytes: total,
            eof: false,
            more: Some(true),
        })
    }

    /// Hands plaintext to rustls, as much as its buffer takes; returns how much.
    pub(super) fn take_plain(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.session.writer().write(bytes)
    }

    /// Writes records until none is left (`true`) or the socket would block.
    pub(super) fn send_records(&mut self, sock: &mut Sock) -> io::Result<bool> {
        while self.session.wants_write() {
            match self.session.write_tls(sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Plaintext counts as written once rustls has sent every record.
    pub(super) fn flush(&mut self, sock: &mut Sock, out: &mut OutQueue) -> io::Result<bool> {
        loop {
            let before = out.bytes();
            while let Some(front) = out.front() {
                let n = self.session.writer().write(front)?;
                if n == 0 {
                    break;
                }
                self.pending += n as u64;
                out.consume(n, false);
            }
            if !self.send_records(sock)? {
                return Ok(false);
            }
            out.count_written(std::mem::take(&mut self.pending));
            if out.is_empty() {
                out.emptied();
                return Ok(true);
            }
            if out.bytes() == before {
                // rustls takes no more yet (handshake still under way).
                return Ok(false);
            }
        }
    }

    /// Sends a close_notify, best effort.
    pub(super) fn close(&mut self, sock: &mut Sock) {
        self.session.send_close_notify();
        let _ = self.session.write_tls(sock);
    }
}
