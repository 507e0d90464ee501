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
            loop {
                match tls.reader().read(scratch) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        lines.push(&scratch[..n]);
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
            if lines.pending() > LINES_HIGH_WATER {
                break;
            }
        }
        Ok(ReadOutcome {
            bytes: total,
            eof: false,
            more: Some(true),
        })
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
            while self.session.wants_write() {
                match self.session.write_tls(sock) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
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
