//! [`Pool`]: the clients one mio `Poll` drives, as sockets: starting their
//! connections at a bounded rate, queueing and flushing their output, reading and
//! framing their input, closing them. The scenario workers (worker.rs) and the abuse
//! test (abuse/) each own a pool and implement [`Driver`]: what a client says, and
//! what it does with the lines it reads, is theirs.

use crate::link::{Conn, Connected, Got, Link};
use crate::wire;
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Poll, Token};
use std::io;
use std::time::Instant;

/// How far one readable event is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadUntil {
    /// Until the socket would block.
    WouldBlock,
    /// Until a read comes back shorter than the buffer: with edge-triggered
    /// readiness the socket is drained for now, and data arriving later brings a new
    /// event, which saves a `WouldBlock` read per delivery. After a close or an error
    /// the socket is read to the end all the same.
    ShortRead,
}

/// Client `i` is `links[i]`, registered under `Token(i)`.
pub struct Pool {
    pub poll: Poll,
    pub links: Vec<Link>,
    read_until: ReadUntil,
    /// Connections started so far; clients connect in index order.
    started: usize,
    connect_start: Option<Instant>,
    /// Clients with output to write at the end of this pass, in the order queued.
    dirty: Vec<usize>,
    /// The buffer every read goes through, so an idle client owns none.
    scratch: Vec<u8>,
}

impl Pool {
    pub fn new(poll: Poll, clients: usize, read_until: ReadUntil) -> Pool {
        Pool {
            poll,
            links: (0..clients).map(|_| Link::new()).collect(),
            read_until,
            started: 0,
            connect_start: None,
            dirty: Vec::new(),
            scratch: vec![0; 64 * 1024],
        }
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Whether every client's connection has been started.
    pub fn all_started(&self) -> bool {
        self.started == self.links.len()
    }

    /// Starts the connections due: `rate` per second since the first call, with at
    /// most `max_pending` of them not `registered` yet, so a slow server sees a
    /// bounded backlog rather than a burst of thousands. `connect(i)` opens client
    /// `i`'s socket. Returns the clients that could not connect (now closed), and
    /// why.
    pub fn connect_more(
        &mut self,
        now: Instant,
        rate: f64,
        max_pending: usize,
        registered: usize,
        mut connect: impl FnMut(usize) -> io::Result<TcpStream>,
    ) -> Vec<(usize, io::Error)> {
        let start = *self.connect_start.get_or_insert(now);
        let allowed = (now.duration_since(start).as_secs_f64() * rate) as usize + 1;
        let mut failed = Vec::new();
        while self.started < self.links.len()
            && self.started < allowed
            && self.started - registered < max_pending
        {
            let i = self.started;
            self.started += 1;
            let link = &mut self.links[i];
            if let Err(e) = link.connect(self.poll.registry(), Token(i), || connect(i)) {
                link.conn = Conn::Closed;
                failed.push((i, e));
            }
        }
        failed
    }

    /// Appends `bytes` to client `i`'s output, if its connection is open.
    pub fn queue(&mut self, i: usize, bytes: &[u8]) {
        if self.links[i].queue(bytes) {
            self.dirty.push(i);
        }
    }

    /// Appends `bytes` to the output of every client whose connection is open.
    pub fn queue_all(&mut self, bytes: &[u8]) {
        for i in 0..self.links.len() {
            self.queue(i, bytes);
        }
    }

    /// For a driver that wrote into `links[i].out` itself.
    pub fn mark_queued(&mut self, i: usize) {
        if self.links[i].mark_queued() {
            self.dirty.push(i);
        }
    }

    /// Closes client `i`'s socket and drops its buffers. The state the connection was
    /// in, or `None` if it was closed already.
    pub fn close(&mut self, i: usize) -> Option<Conn> {
        let link = &mut self.links[i];
        if link.conn == Conn::Closed {
            return None;
        }
        let was = std::mem::replace(&mut link.conn, Conn::Closed);
        if let Some(mut sock) = link.sock.take() {
            let _ = self.poll.registry().deregister(&mut sock);
        }
        link.out = Vec::new();
        link.partial = Vec::new();
        Some(was)
    }

    /// From now on client `i` reads nothing: what the server sends it piles up in the
    /// kernel's buffers, then in the server's SendQ.
    pub fn stop_reading(&mut self, i: usize) {
        let link = &mut self.links[i];
        link.reading = false;
        if let Some(sock) = link.sock.as_mut() {
            let _ = self
                .poll
                .registry()
                .reregister(sock, Token(i), Interest::WRITABLE);
        }
    }

    /// Closes client `i`'s socket without a word and without flushing: with an RST
    /// if `reset`, else with a FIN.
    pub fn hang_up(&mut self, i: usize, reset: bool) {
        let link = &mut self.links[i];
        if let Some(mut sock) = link.sock.take() {
            if reset {
                crate::link::set_linger_zero(&sock);
            }
            let _ = self.poll.registry().deregister(&mut sock);
        }
        link.conn = Conn::Closed;
        link.out = Vec::new();
    }

    /// Closes every socket (open connections count as closed; ones still connecting
    /// are left as they are).
    pub fn close_all(&mut self) {
        for link in &mut self.links {
            if let Some(mut sock) = link.sock.take() {
                let _ = self.poll.registry().deregister(&mut sock);
            }
            if link.conn == Conn::Open {
                link.conn = Conn::Closed;
            }
        }
    }
}

/// A scenario's side of a [`Pool`]: what its clients say when they connect, what
/// they do with what they read, and what a closed connection means to it. The
/// provided methods do the socket work.
pub trait Driver {
    fn pool(&mut self) -> &mut Pool;

    /// Client `i`'s connection is open: queue what it says first.
    fn opened(&mut self, i: usize);

    /// A complete line client `i` read, without its line ending; `now` is when the
    /// read returned.
    fn on_line(&mut self, i: usize, line: &[u8], now: Instant);

    /// Client `i`'s connection failed or the server closed it: [`Pool::close`], then
    /// whatever the scenario counts.
    fn close(&mut self, i: usize, why: &str);

    /// A read gave `n` bytes, at `now`.
    fn on_read(&mut self, _n: usize, _now: Instant) {}

    /// One readiness event of client `i`: finish its connect, write, read.
    fn on_event(&mut self, i: usize, event: &Event) {
        let pool = self.pool();
        if i >= pool.len() {
            return;
        }
        if pool.links[i].conn == Conn::Connecting {
            match pool.links[i].finish_connect() {
                Connected::Now => self.opened(i),
                Connected::NotYet => return,
                Connected::Failed(e) => {
                    self.close(i, &format!("connect failed: {e}"));
                    return;
                }
            }
        }
        let link = &mut self.pool().links[i];
        if event.is_writable() && link.conn == Conn::Open {
            link.writable = true;
            self.flush(i);
        }
        let ended = event.is_read_closed() || event.is_error();
        if (event.is_readable() || ended) && self.pool().links[i].reading {
            self.read(i, ended);
        }
    }

    /// Reads what client `i`'s socket holds (see [`ReadUntil`]; to the end if
    /// `to_end`) and hands each complete line to [`Driver::on_line`].
    fn read(&mut self, i: usize, to_end: bool) {
        let to_end = to_end || self.pool().read_until == ReadUntil::WouldBlock;
        let mut scratch = std::mem::take(&mut self.pool().scratch);
        loop {
            let n = match self.pool().links[i].read(&mut scratch) {
                Got::Data(n) => n,
                Got::Drained | Got::Gone => break,
                Got::Closed => {
                    self.close(i, "closed by the server");
                    break;
                }
                Got::Failed(e) => {
                    self.close(i, &format!("read failed: {e}"));
                    break;
                }
            };
            let now = Instant::now();
            self.on_read(n, now);
            let mut partial = std::mem::take(&mut self.pool().links[i].partial);
            wire::frame(&mut partial, &scratch[..n], |line| {
                self.on_line(i, line, now)
            });
            self.pool().links[i].partial = partial;
            if n < scratch.len() && !to_end {
                break;
            }
        }
        self.pool().scratch = scratch;
    }

    /// Flushes the clients with output queued, in the order they were queued.
    fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.pool().dirty);
        for &i in &dirty {
            self.flush(i);
        }
        dirty.clear();
        self.pool().dirty = dirty;
    }

    /// Writes what client `i`'s socket takes now; a failed write closes it.
    fn flush(&mut self, i: usize) {
        if let Some(e) = self.pool().links[i].flush() {
            self.close(i, &format!("write failed: {e}"));
        }
    }
}
