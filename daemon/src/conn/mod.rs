//! [`Conn`]: one client connection: its socket and transport, line buffer, output
//! queue and replay backlog, flood budget and liveness. [`Conns`] (`conns.rs`) is the
//! slab of them. The transport seam (plain TCP, TLS, WebSocket) is in `transport/`.

mod conns;
mod queue;
mod sock;
pub mod transport;

pub use conns::Conns;
pub use queue::OutQueue;
pub use sock::Sock;
pub use transport::Transport;

use crate::outgoing::Bytes;
use crate::state::User;
use chatd_proto::LineBuffer;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

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
    /// Output waiting for the transport.
    out: OutQueue,
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
    /// How bytes become lines and lines bytes: plain TCP or TLS.
    pub transport: Transport,
    /// Flood control: lines the client may still send now, refilled over time.
    flood_tokens: f64,
    flood_at: Instant,
    /// Lines are waiting for flood tokens (fakelag); a timer resumes them.
    pub throttled: bool,
    /// Answers from the store or the hasher this connection waits for (HISTORY,
    /// logins, REGISTER...). Its next lines wait with them, so that replies come in
    /// the order of the commands: `HISTORY #c 10` then `QUIT` gets its history first.
    pub awaiting: u16,
    /// The connection counts toward its address's limit under this key.
    pub ip_key: Box<str>,
    /// From a proxy in `server.proxy_from`, and its PROXY header has not been read:
    /// until then the client is unknown (see `admission::read_proxy_header`).
    pub awaiting_proxy: bool,
    /// From a trusted reverse proxy of a web listener (`web.trusted_proxies`) and not
    /// yet admitted: its WebSocket upgrade names the client
    /// (`admission::admit_forwarded`).
    pub awaiting_forwarded: bool,
    /// The cluster node this user is connected to: 0 for this node's own clients,
    /// else a remote user (`Sock::Remote`, see `server/bus.rs`).
    pub node: u16,
    /// A remote user's connection serial on its own node (its id there, with `node`).
    pub remote_serial: u64,
}

impl Conn {
    pub fn new(id: ConnId, sock: Sock, peer: SocketAddr, user: User, now: Instant) -> Conn {
        Conn {
            id,
            sock,
            peer,
            lines: LineBuffer::default(),
            out: OutQueue::default(),
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
            transport: Transport::plain(),
            flood_tokens: f64::MAX,
            flood_at: now,
            throttled: false,
            awaiting: 0,
            ip_key: Box::default(),
            awaiting_proxy: false,
            awaiting_forwarded: false,
            node: 0,
            remote_serial: 0,
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

    /// Whether this is a user of another cluster node.
    pub fn is_remote(&self) -> bool {
        self.node != 0
    }

    /// Whether the transport's handshake (TLS) is still under way.
    pub fn handshaking(&self) -> bool {
        self.transport.handshaking()
    }

    /// Whether the transport has bytes to send (TLS handshake, alerts) even with no
    /// output queued.
    pub fn transport_wants_write(&self) -> bool {
        self.transport.wants_write()
    }

    /// Offline-queue rows whose lines have all been handed to the kernel.
    pub fn take_written_rows(&mut self) -> Vec<i64> {
        let mut rows = Vec::new();
        let Some(replay) = self.replay.as_mut() else {
            return rows;
        };
        while let Some(&(mark, row)) = replay.write_marks.front() {
            if mark > self.out.written_total() {
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
    #[inline]
    pub fn sendq_used(&self) -> usize {
        self.out.bytes() + self.replay.as_ref().map_or(0, |r| r.backlog_bytes)
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
        let written = self.out.written_total();
        if let Some(replay) = self.replay.as_mut() {
            replay.backlog = VecDeque::new();
            replay.backlog_bytes = 0;
            replay.queue_more = false;
            replay.write_marks.retain(|&(mark, _)| mark <= written);
        }
        // Bytes queued from now on (the ERROR line) must not reach a dropped mark.
        self.out.drop_unwritten();
    }

    /// Reads what the socket has, up to `budget` bytes, into the line buffer through
    /// the transport. Returns bytes read, and whether the peer closed its side.
    #[inline]
    pub fn read_some(&mut self, scratch: &mut [u8], budget: usize) -> io::Result<(usize, bool)> {
        let read = self
            .transport
            .read(&mut self.sock, &mut self.lines, scratch, budget)?;
        if let Some(more) = read.more {
            self.read_pending = more;
        }
        Ok((read.bytes, read.eof))
    }

    /// Writes queued output through the transport until done or `WouldBlock`.
    /// Returns whether the queue is empty.
    #[inline]
    pub fn flush(&mut self) -> io::Result<bool> {
        self.transport.flush(&mut self.sock, &mut self.out)
    }

    /// Says goodbye at the transport's level (TLS close_notify), best effort.
    pub fn close_transport(&mut self) {
        self.transport.close(&mut self.sock);
    }
}
