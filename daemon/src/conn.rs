//! [`Conn`]: one client socket with its line buffer and outbound queue; [`Conns`]: the
//! slab of them plus the lists of connections to flush and to close at the end of a
//! loop pass. Output is queued and written once per pass with `writev`.

use crate::outgoing::Bytes;
use crate::state::User;
use chatd_proto::{LineBuffer, Message};
use mio::net::TcpStream;
use slab::Slab;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

/// Names a connection across events: a slot may be reused, the serial never is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId {
    pub slot: usize,
    pub serial: u64,
}

pub struct Conn {
    pub id: ConnId,
    pub sock: TcpStream,
    pub peer: SocketAddr,
    pub lines: LineBuffer,
    out: VecDeque<Bytes>,
    /// Bytes of `out.front()` already written.
    out_offset: usize,
    out_bytes: usize,
    pub user: User,
    /// Queued in `Conns::dirty` for this pass.
    dirty: bool,
    /// Registered with WRITABLE interest (only while output is pending).
    pub write_interest: bool,
    /// Set once the connection is going away; its input is ignored from then on.
    pub closing: Option<String>,
    /// When the connection was accepted (registration timeout).
    pub connected_at: Instant,
    /// Last time any line arrived.
    pub last_seen: Instant,
    /// When our PING went out, if unanswered.
    pub ping_sent: Option<Instant>,
    /// Set when reading stopped before `WouldBlock` (fairness); read again next pass.
    pub read_pending: bool,
}

impl Conn {
    pub fn new(id: ConnId, sock: TcpStream, peer: SocketAddr, user: User, now: Instant) -> Conn {
        Conn {
            id,
            sock,
            peer,
            lines: LineBuffer::default(),
            out: VecDeque::new(),
            out_offset: 0,
            out_bytes: 0,
            user,
            dirty: false,
            write_interest: false,
            closing: None,
            connected_at: now,
            last_seen: now,
            ping_sent: None,
            read_pending: false,
        }
    }

    /// Reads what the socket has, up to `budget` bytes, into the line buffer.
    /// Returns bytes read, and whether the peer closed its side.
    pub fn read_some(&mut self, scratch: &mut [u8], budget: usize) -> io::Result<(usize, bool)> {
        let mut total = 0;
        while total < budget {
            match self.sock.read(scratch) {
                Ok(0) => return Ok((total, true)),
                Ok(n) => {
                    self.lines.push(&scratch[..n]);
                    total += n;
                    // Hand lines over as they come so a huge burst cannot grow the buffer.
                    if self.lines.pending() > 16 * 1024 {
                        self.read_pending = true;
                        return Ok((total, false));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.read_pending = false;
                    return Ok((total, false));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.read_pending = true;
        Ok((total, false))
    }

    /// Writes queued output until done or `WouldBlock`. Returns whether the queue is empty.
    pub fn flush(&mut self) -> io::Result<bool> {
        const MAX_IOV: usize = 64;
        while !self.out.is_empty() {
            let written = {
                let mut iov: [IoSlice<'_>; MAX_IOV] = [IoSlice::new(&[]); MAX_IOV];
                let mut n = 0;
                for (i, b) in self.out.iter().take(MAX_IOV).enumerate() {
                    let start = if i == 0 { self.out_offset } else { 0 };
                    iov[i] = IoSlice::new(&b[start..]);
                    n += 1;
                }
                match self.sock.write_vectored(&iov[..n]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(w) => w,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            self.consume(written);
        }
        if self.out.capacity() > 64 {
            self.out = VecDeque::new();
        }
        Ok(true)
    }

    fn consume(&mut self, mut n: usize) {
        self.out_bytes -= n;
        while n > 0 {
            let front_left =
                self.out.front().expect("written bytes were queued").len() - self.out_offset;
            if n >= front_left {
                n -= front_left;
                self.out.pop_front();
                self.out_offset = 0;
            } else {
                self.out_offset += n;
                n = 0;
            }
        }
    }
}

/// All connections, and what this loop pass must still do to them.
pub struct Conns {
    pub slab: Slab<Conn>,
    /// Slots with output queued this pass.
    pub dirty: Vec<usize>,
    /// Slots to tear down at the end of the pass.
    pub closing: Vec<usize>,
    /// SendQ limit: a connection with more queued is closed ("SendQ exceeded").
    pub sendq_limit: usize,
    next_serial: u64,
}

impl Conns {
    pub fn new(sendq_limit: usize) -> Conns {
        Conns {
            slab: Slab::new(),
            dirty: Vec::new(),
            closing: Vec::new(),
            sendq_limit,
            next_serial: 1,
        }
    }

    pub fn next_id(&mut self) -> ConnId {
        let serial = self.next_serial;
        self.next_serial += 1;
        ConnId {
            slot: self.slab.vacant_key(),
            serial,
        }
    }

    pub fn get(&self, slot: usize) -> Option<&Conn> {
        self.slab.get(slot)
    }

    pub fn get_mut(&mut self, slot: usize) -> Option<&mut Conn> {
        self.slab.get_mut(slot)
    }

    /// Queues shared bytes for `slot`. Past the SendQ limit the connection is closed
    /// instead, so one slow reader never holds memory or slows anyone else.
    pub fn send(&mut self, slot: usize, bytes: Bytes) {
        let limit = self.sendq_limit;
        let Some(conn) = self.slab.get_mut(slot) else {
            return;
        };
        if conn.out_bytes + bytes.len() > limit {
            if conn.closing.is_none() {
                // Drop what is queued so the ERROR line still fits.
                conn.out.clear();
                conn.out_offset = 0;
                conn.out_bytes = 0;
                self.close(slot, "SendQ exceeded");
            }
            return;
        }
        conn.out_bytes += bytes.len();
        conn.out.push_back(bytes);
        if !conn.dirty {
            conn.dirty = true;
            self.dirty.push(slot);
        }
    }

    /// Serializes `msg` (with all its tags) for one recipient.
    pub fn send_msg(&mut self, slot: usize, msg: &Message) {
        self.send(slot, msg.to_line().into());
    }

    /// Marks `slot` for teardown with `reason` (shown in QUIT and ERROR).
    pub fn close(&mut self, slot: usize, reason: &str) {
        if let Some(conn) = self.slab.get_mut(slot) {
            if conn.closing.is_none() {
                conn.closing = Some(reason.to_string());
                self.closing.push(slot);
            }
        }
    }

    /// Takes the dirty list, clearing each connection's flag.
    pub fn take_dirty(&mut self) -> Vec<usize> {
        let dirty = std::mem::take(&mut self.dirty);
        for &slot in &dirty {
            if let Some(c) = self.slab.get_mut(slot) {
                c.dirty = false;
            }
        }
        dirty
    }
}
