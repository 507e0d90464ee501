//! The plain TCP transport: bytes read are the lines, and queued lines go out with
//! one `writev` of up to [`MAX_IOV`] slices at a time.

use super::{ReadOutcome, LINES_HIGH_WATER};
use crate::conn::queue::OutQueue;
use crate::conn::sock::Sock;
use crate::conn::PROXY_NOT_LISTED;
use chatd_proto::LineBuffer;
use std::io::{self, IoSlice, Read, Write};

/// Linux takes up to 1024 (IOV_MAX); under load a connection has hundreds of lines
/// queued per pass, and each writev is a system call.
const MAX_IOV: usize = 512;

/// A plaintext connection's state: how many bytes it has sent, since its first
/// bytes must not be a TLS hello or a PROXY header.
#[derive(Default)]
pub struct Plain {
    bytes_in: u64,
}

impl Plain {
    pub(super) fn read(
        &mut self,
        sock: &mut Sock,
        lines: &mut LineBuffer,
        scratch: &mut [u8],
        budget: usize,
    ) -> io::Result<ReadOutcome> {
        let mut total = 0;
        while total < budget {
            match sock.read(scratch) {
                Ok(0) => {
                    return Ok(ReadOutcome {
                        bytes: total,
                        eof: true,
                        more: None,
                    })
                }
                Ok(n) => {
                    if self.bytes_in == 0 && scratch[0] == 0x16 {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "TLS handshake on a plaintext port",
                        ));
                    }
                    if self.bytes_in == 0 && crate::proxy::starts_like_header(&scratch[..n]) {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, PROXY_NOT_LISTED));
                    }
                    self.bytes_in += n as u64;
                    lines.push(&scratch[..n]);
                    total += n;
                    // Hand lines over as they come so a huge burst cannot grow the buffer.
                    if lines.pending() > LINES_HIGH_WATER {
                        return Ok(ReadOutcome {
                            bytes: total,
                            eof: false,
                            more: Some(true),
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(ReadOutcome {
                        bytes: total,
                        eof: false,
                        more: Some(false),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(ReadOutcome {
            bytes: total,
            eof: false,
            more: Some(true),
        })
    }
}

/// Writes `out` with `writev` until it is empty or the socket would block.
///
/// The slice array is sized by what is queued: one line is one `write`, a few lines
/// fill a small array, and only a long queue pays for initializing [`MAX_IOV`]
/// slices (8 KiB), which would otherwise cost more than the message itself at
/// everyday rates, where most flushes carry one or two lines.
#[inline]
pub(super) fn flush(sock: &mut Sock, out: &mut OutQueue) -> io::Result<bool> {
    while !out.is_empty() {
        let result = match out.len() {
            1 => sock.write(out.front().unwrap_or_default()),
            2..=SMALL_IOV => write_some::<SMALL_IOV>(sock, out),
            _ => write_some::<MAX_IOV>(sock, out),
        };
        let written = match result {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(w) => w,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.consume(written, true);
    }
    out.emptied();
    Ok(true)
}

/// Slices for a short queue, on the stack without the cost of [`MAX_IOV`].
const SMALL_IOV: usize = 16;

/// One `writev` of up to `N` queued lines.
#[inline]
fn write_some<const N: usize>(sock: &mut Sock, out: &OutQueue) -> io::Result<usize> {
    let mut iov: [IoSlice<'_>; N] = [IoSlice::new(&[]); N];
    let n = out.fill(&mut iov);
    sock.write_vectored(&iov[..n])
}
