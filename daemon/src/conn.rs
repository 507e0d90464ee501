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

/// A connection's transport: a TCP socket, or (for in-process fuzzing of the command
/// layer) nothing: reads find no data and writes are kept in memory, bounded.
pub enum Sock {
    Tcp(TcpStream),
    Detached(Box<Vec<u8>>),
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
            Sock::Tcp(_) => Vec::new(),
            Sock::Detached(v) => std::mem::take(v),
        }
    }
}

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.read(buf),
            Sock::Detached(_) => Err(io::ErrorKind::WouldBlock.into()),
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
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.write_vectored(bufs),
            Sock::Detached(_) => {
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
            Sock::Detached(_) => Ok(()),
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
            Sock::Detached(_) => Ok(()),
        }
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => s.deregister(registry),
            Sock::Detached(_) => Ok(()),
        }
    }
}

/// Why a PROXY protocol header from anyone else than a configured proxy is refused.
pub const PROXY_NOT_LISTED: &str = "PROXY protocol header from an address not in server.proxy_from";

pub use crate::ids::ConnId;

/// Replayed lines on their way out.
#[derive(Default)]
struct Replay {
    /// Lines not yet moved to `out`: they are fed in as the client reads. Their bytes
    /// count against the SendQ like those in `out` (`backlog_bytes`), so a client
    /// that asks for history and never reads is closed, not a growing heap.
    backlog: VecDeque<(Bytes, Option<i64>)>,
    backlog_bytes: usize,
    /// The offline queue had more rows than fit in the SendQ: fetch the rest once
    /// this page is written (see [`Conns::queue_page_room`]).
    queue_more: bool,
    /// (value of `queued_total` after the line, offline-queue row id): the row may be
    /// deleted once `written_total` reaches the mark.
    write_marks: VecDeque<(u64, i64)>,
}

pub struct Conn {
    pub id: ConnId,
    pub sock: Sock,
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
    pub closing: Option<Box<str>>,
    /// When the connection was accepted (registration timeout).
    pub connected_at: Instant,
    /// Last time any line arrived.
    pub last_seen: Instant,
    /// When our PING went out, if unanswered.
    pub ping_sent: Option<Instant>,
    /// Set when reading stopped before `WouldBlock` (fairness); read again next pass.
    pub read_pending: bool,
    /// A replay under way (offline queue, missed messages, history); boxed because
    /// most connections never have one.
    replay: Option<Box<Replay>>,
    /// Offline-queue rows delivered by the pages replayed so far.
    pub queue_delivered: usize,
    /// A page of the offline queue was asked for and has not arrived.
    pub queue_fetching: bool,
    /// Bytes ever queued in `out`, and ever written to the socket.
    queued_total: u64,
    written_total: u64,
    /// TLS session on a TLS listener's connection.
    pub tls: Option<Box<rustls::ServerConnection>>,
    /// Plaintext handed to rustls that has not yet all reached the socket.
    tls_pending: u64,
    /// Bytes read from the socket so far (a plaintext port refuses a TLS hello).
    bytes_in: u64,
    /// Flood control: lines the client may still send now, refilled over time.
    flood_tokens: f64,
    flood_at: Instant,
    /// Lines are waiting for flood tokens (fakelag); a timer resumes them.
    pub throttled: bool,
    /// Answers from the store or the hasher this connection waits for (HISTORY,
    /// logins, REGISTER...). Its next lines wait with them, so that replies come in
    /// the order of the commands: `HISTORY #c 10` then `QUIT` gets its history first.
    pub awaiting: u16,
    /// Free the output queue once it is written out (see [`Conn::emptied`]).
    trim: bool,
    /// The connection counts toward its address's limit under this key.
    pub ip_key: Box<str>,
    /// From a proxy in `server.proxy_from`, and its PROXY header has not been read:
    /// until then the client is unknown (see `admission::read_proxy_header`).
    pub awaiting_proxy: bool,
}

impl Conn {
    pub fn new(id: ConnId, sock: Sock, peer: SocketAddr, user: User, now: Instant) -> Conn {
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
            replay: None,
            queue_delivered: 0,
            queue_fetching: false,
            queued_total: 0,
            written_total: 0,
            tls: None,
            tls_pending: 0,
            bytes_in: 0,
            flood_tokens: f64::MAX,
            flood_at: now,
            throttled: false,
            awaiting: 0,
            trim: false,
            ip_key: Box::default(),
            awaiting_proxy: false,
        }
    }

    /// Takes one line's worth of flood budget (`burst` lines, refilled at `rate`
    /// per second). `Err(wait)` when there is none: try again after `wait`.
    pub fn take_flood_token(
        &mut self,
        now: Instant,
        burst: u32,
        rate: u32,
    ) -> Result<(), std::time::Duration> {
        let elapsed = now.saturating_duration_since(self.flood_at).as_secs_f64();
        self.flood_at = now;
        self.flood_tokens = (self.flood_tokens.min(f64::from(burst)) + elapsed * f64::from(rate))
            .min(f64::from(burst));
        if self.flood_tokens >= 1.0 {
            self.flood_tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.flood_tokens) / f64::from(rate.max(1));
            Err(std::time::Duration::from_secs_f64(wait))
        }
    }

    /// Whether a TLS handshake is still under way.
    pub fn tls_handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.is_handshaking())
    }

    /// Whether TLS has records to send (handshake, alerts) even with no output queued.
    pub fn tls_wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Offline-queue rows whose lines have all been handed to the kernel.
    pub fn take_written_rows(&mut self) -> Vec<i64> {
        let mut rows = Vec::new();
        let Some(replay) = self.replay.as_mut() else {
            return rows;
        };
        while let Some(&(mark, row)) = replay.write_marks.front() {
            if mark > self.written_total {
                break;
            }
            rows.push(row);
            replay.write_marks.pop_front();
        }
        self.drop_finished_replay();
        rows
    }

    /// Lines waiting in the replay backlog.
    pub fn backlog_len(&self) -> usize {
        self.replay.as_ref().map_or(0, |r| r.backlog.len())
    }

    /// Bytes held for this client and not yet accepted by the kernel: the output
    /// queue and the replay backlog. This is what the SendQ limits.
    pub fn sendq_used(&self) -> usize {
        self.out_bytes + self.replay.as_ref().map_or(0, |r| r.backlog_bytes)
    }

    /// Marks that the offline queue has rows beyond the page being replayed.
    pub fn set_queue_more(&mut self) {
        self.replay.get_or_insert_with(Box::default).queue_more = true;
    }

    /// Whether the replay is all written (nothing in the backlog, no row waiting for
    /// its bytes to reach the kernel).
    pub fn replay_written(&self) -> bool {
        self.replay
            .as_ref()
            .is_none_or(|r| r.backlog.is_empty() && r.write_marks.is_empty())
    }

    /// Once the page being replayed is all written: whether the offline queue has
    /// more rows to fetch (cleared by the call).
    pub fn take_queue_more(&mut self) -> bool {
        if !self.replay_written() {
            return false;
        }
        let more = self
            .replay
            .as_mut()
            .is_some_and(|r| std::mem::take(&mut r.queue_more));
        self.drop_finished_replay();
        more
    }

    fn drop_finished_replay(&mut self) {
        if self
            .replay
            .as_ref()
            .is_some_and(|r| r.backlog.is_empty() && r.write_marks.is_empty() && !r.queue_more)
        {
            self.replay = None;
        }
    }

    /// Drops everything queued and not yet written (the SendQ was exceeded), with
    /// the offline-queue rows those lines delivered: their rows stay in the store
    /// and are delivered at the next login.
    fn drop_unwritten(&mut self) {
        self.out.clear();
        self.out_offset = 0;
        self.out_bytes = 0;
        let written = self.written_total;
        if let Some(replay) = self.replay.as_mut() {
            replay.backlog = VecDeque::new();
            replay.backlog_bytes = 0;
            replay.queue_more = false;
            replay.write_marks.retain(|&(mark, _)| mark <= written);
        }
        // Bytes queued from now on (the ERROR line) must not reach a dropped mark.
        self.queued_total = written;
    }

    /// Reads what the socket has, up to `budget` bytes, into the line buffer.
    /// Returns bytes read, and whether the peer closed its side.
    pub fn read_some(&mut self, scratch: &mut [u8], budget: usize) -> io::Result<(usize, bool)> {
        if self.tls.is_some() {
            return self.read_tls(scratch, budget);
        }
        let mut total = 0;
        while total < budget {
            match self.sock.read(scratch) {
                Ok(0) => return Ok((total, true)),
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

    /// [`Conn::read_some`] through TLS: records from the socket, plaintext out.
    fn read_tls(&mut self, scratch: &mut [u8], budget: usize) -> io::Result<(usize, bool)> {
        let tls = self.tls.as_mut().expect("a TLS connection");
        let mut total = 0;
        let mut eof = false;
        while total < budget {
            let mut would_block = false;
            match tls.read_tls(&mut self.sock) {
                Ok(0) => eof = true,
                Ok(n) => self.bytes_in += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => would_block = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Err(e) = tls.process_new_packets() {
                // Tell the peer why (an alert), best effort, then give up on it.
                let _ = tls.write_tls(&mut self.sock);
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
                        self.lines.push(&scratch[..n]);
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
                self.read_pending = false;
                return Ok((total, eof));
            }
            if self.lines.pending() > 16 * 1024 {
                break;
            }
        }
        self.read_pending = true;
        Ok((total, false))
    }

    /// [`Conn::flush`] through TLS: plaintext into rustls (up to its buffer limit),
    /// records out to the socket. Plaintext counts as written once rustls has sent
    /// every record.
    fn flush_tls(&mut self) -> io::Result<bool> {
        loop {
            let before = self.out_bytes;
            while let Some(front) = self.out.front() {
                let tls = self.tls.as_mut().expect("a TLS connection");
                let n = tls.writer().write(&front[self.out_offset..])?;
                if n == 0 {
                    break;
                }
                self.tls_pending += n as u64;
                self.consume(n, false);
            }
            let tls = self.tls.as_mut().expect("a TLS connection");
            while tls.wants_write() {
                match tls.write_tls(&mut self.sock) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.written_total += self.tls_pending;
            self.tls_pending = 0;
            if self.out.is_empty() {
                self.emptied();
                return Ok(true);
            }
            if self.out_bytes == before {
                // rustls takes no more yet (handshake still under way).
                return Ok(false);
            }
        }
    }

    /// Sends a TLS close_notify (before the socket is shut), best effort.
    pub fn close_tls(&mut self) {
        if let Some(tls) = self.tls.as_mut() {
            tls.send_close_notify();
            let _ = tls.write_tls(&mut self.sock);
        }
    }

    /// Writes queued output until done or `WouldBlock`. Returns whether the queue is empty.
    pub fn flush(&mut self) -> io::Result<bool> {
        if self.tls.is_some() {
            return self.flush_tls();
        }
        // Linux takes up to 1024 (IOV_MAX); under load a connection has hundreds of
        // lines queued per pass, and each writev is a system call.
        const MAX_IOV: usize = 512;
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
            self.consume(written, true);
        }
        self.emptied();
        Ok(true)
    }

    /// The output queue was written out. A busy connection keeps its queue (16 bytes
    /// a line) rather than grow it again every pass; it is freed after an unusual
    /// burst, and after a one-off burst such as the welcome or a JOIN's NAMES, so
    /// that an idle connection holds no queue at all.
    fn emptied(&mut self) {
        if self.out.capacity() > 1024 || std::mem::take(&mut self.trim) {
            self.out = VecDeque::new();
        }
    }

    /// Drops `n` bytes from the front of the queue; `written` when they reached the
    /// socket (not just rustls).
    fn consume(&mut self, mut n: usize, written: bool) {
        self.out_bytes -= n;
        if written {
            self.written_total += n as u64;
        }
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

/// Most slots reserved up front (a larger `max_clients` grows the slab as needed).
const MAX_RESERVED_SLOTS: usize = 100_000;

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
    /// `max_clients` sizes the slab once: its pages are only touched as slots are
    /// used, so an idle slot costs no memory, and the slab never moves 10,000
    /// connections when it grows (nor keeps a doubled capacity afterwards).
    pub fn new(sendq_limit: usize, max_clients: usize) -> Conns {
        Conns {
            slab: Slab::with_capacity(max_clients.min(MAX_RESERVED_SLOTS)),
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
        if conn.sendq_used() + bytes.len() > limit {
            if conn.closing.is_none() {
                // Drop what is queued so the ERROR line still fits.
                conn.drop_unwritten();
                self.close(slot, "SendQ exceeded");
            }
            return;
        }
        conn.out_bytes += bytes.len();
        conn.queued_total += bytes.len() as u64;
        conn.out.push_back(bytes);
        if !conn.dirty {
            conn.dirty = true;
            self.dirty.push(slot);
        }
    }

    /// Frees `slot`'s output queue once it has been written: what was queued is a
    /// one-off burst, not the start of steady traffic.
    pub fn trim_after_flush(&mut self, slot: usize) {
        if let Some(conn) = self.slab.get_mut(slot) {
            conn.trim = true;
        }
    }

    /// Queues a replayed line behind the others in the backlog; `row` is the
    /// offline-queue row it delivers, deleted once the line is written. The backlog
    /// counts against the SendQ: past it the connection is closed ("SendQ
    /// exceeded"), as for any other line.
    pub fn send_replay(&mut self, slot: usize, bytes: Bytes, row: Option<i64>) {
        let limit = self.sendq_limit;
        let Some(conn) = self.slab.get_mut(slot) else {
            return;
        };
        if conn.closing.is_some() {
            return;
        }
        if conn.sendq_used() + bytes.len() > limit {
            conn.drop_unwritten();
            self.close(slot, "SendQ exceeded");
            return;
        }
        let replay = conn.replay.get_or_insert_with(Box::default);
        replay.backlog_bytes += bytes.len();
        replay.backlog.push_back((bytes, row));
        self.pump(slot);
    }

    /// Bytes a replay may still add for `slot` while leaving half the SendQ for live
    /// traffic (0 for a connection that is gone or going).
    pub fn replay_room(&self, slot: usize) -> usize {
        self.slab
            .get(slot)
            .filter(|c| c.closing.is_none())
            .map_or(0, |c| (self.sendq_limit / 2).saturating_sub(c.sendq_used()))
    }

    /// Moves backlog lines into the output queue while it is under half the SendQ.
    pub fn pump(&mut self, slot: usize) {
        let limit = self.sendq_limit / 2;
        loop {
            let Some(conn) = self.slab.get_mut(slot) else {
                return;
            };
            if conn.closing.is_some() || conn.out_bytes >= limit {
                return;
            }
            let Some((bytes, row)) = conn.replay.as_mut().and_then(|r| {
                let line = r.backlog.pop_front()?;
                r.backlog_bytes -= line.0.len();
                Some(line)
            }) else {
                conn.drop_finished_replay();
                return;
            };
            self.send(slot, bytes);
            if let Some(conn) = self.slab.get_mut(slot) {
                if conn.closing.is_some() {
                    // Not queued (SendQ exceeded): the row stays for the next login.
                    return;
                }
                if let (Some(row), Some(replay)) = (row, conn.replay.as_mut()) {
                    replay.write_marks.push_back((conn.queued_total, row));
                }
                conn.drop_finished_replay();
            }
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
                conn.closing = Some(reason.into());
                self.closing.push(slot);
            }
        }
    }

    /// Queues `slot` for a flush this pass even with nothing new queued (TLS
    /// handshake records).
    pub fn mark_dirty(&mut self, slot: usize) {
        if let Some(conn) = self.slab.get_mut(slot) {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(slot);
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
