//! A worker thread: one mio `Poll` driving its share of the clients (client `i` lives
//! on worker `i % threads`) through the phases the coordinator in `run.rs` sets in
//! [`Shared`]: connect and register, join, sync, send, stop. Their sockets are a
//! [`Pool`]'s. Per-receiver checks (latency, loss, order) are kept in [`Stats`] and
//! merged at the end.

use crate::link::Conn;
use crate::plan::{Ack, Rate};
use crate::pool::{Driver, Pool, ReadUntil};
use crate::report::Latency;
use crate::shared::{Phase, Shared};
use crate::wire::{self, Bench};
use chatd_proto::numeric::{ERR_NOMOTD, RPL_WELCOME};
use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Poll, Token};
use std::io::{self, Write};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The token of each worker's `Waker`; client tokens are local indexes.
pub const WAKE: Token = Token(usize::MAX);

/// The token a client puts in its sync `PING`; the `PONG` carrying it back means every
/// line the server queued for this client before it (JOIN floods) has arrived.
const SYNC_TOKEN: &str = "chatd-bench-sync";

/// Longest a worker sleeps in `poll` without an event; phase changes also wake it.
const TICK: Duration = Duration::from_millis(20);

/// What one worker's receivers saw; merged over workers for the report.
pub struct Stats {
    /// Send-to-receipt time of each delivery, in nanoseconds.
    pub latency: Histogram<u64>,
    pub delivered: u64,
    /// Deliveries received before the end of the sending period.
    pub in_window: u64,
    /// Deliveries older than one already received from the same sender.
    pub reordered: u64,
    /// Sequence numbers jumped over on arrival (lost unless they come later).
    pub skipped: u64,
    pub echoes: u64,
    pub pings_answered: u64,
    pub closed: u64,
    /// `read` calls that returned data during the sending period, and their bytes: how
    /// much the server batches per write.
    pub reads: u64,
    pub bytes_read: u64,
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            latency: Latency::histogram(),
            delivered: 0,
            in_window: 0,
            reordered: 0,
            skipped: 0,
            echoes: 0,
            pings_answered: 0,
            closed: 0,
            reads: 0,
            bytes_read: 0,
        }
    }

    pub fn merge(&mut self, other: &Stats) {
        self.latency
            .add(&other.latency)
            .expect("histograms with the same bounds merge");
        self.delivered += other.delivered;
        self.in_window += other.in_window;
        self.reordered += other.reordered;
        self.skipped += other.skipped;
        self.echoes += other.echoes;
        self.pings_answered += other.pings_answered;
        self.closed += other.closed;
        self.reads += other.reads;
        self.bytes_read += other.bytes_read;
    }
}

struct Sender {
    /// `PRIVMSG <target> :b <id> `
    prefix: Vec<u8>,
    sent: u64,
    /// Highest acknowledged sequence number plus one, under `--ack echo`.
    acked: u64,
    /// When the next message is due, under a fixed rate.
    due: Instant,
}

/// One client's side of the run; its connection is the pool's link of the same index.
struct Client {
    id: usize,
    registered: bool,
    joined: bool,
    synced: bool,
    /// The `ERROR` line the server sent before closing, if any.
    last_error: Option<String>,
    /// Per tracked sender (by its slot): the sequence number expected next.
    next_seq: Vec<u64>,
    sender: Option<Sender>,
}

pub struct Worker {
    index: usize,
    pool: Pool,
    shared: Arc<Shared>,
    clients: Vec<Client>,
    senders: Vec<usize>,
    phase: Phase,
    registered: usize,
    t0: Option<Instant>,
    deadline: Option<Instant>,
    deadline_ns: u64,
    interval: Option<Duration>,
    stopped: bool,
    /// Senders whose window may have room.
    top_up: Vec<usize>,
    top_up_all: bool,
    /// Workers to wake at the end of this pass (an acknowledgement for their sender).
    wake: Vec<bool>,
    stats: Stats,
    published: u64,
}

impl Worker {
    pub fn new(index: usize, poll: Poll, shared: Arc<Shared>) -> Worker {
        let plan = &shared.plan;
        let threads = shared.threads;
        let mut clients = Vec::new();
        let mut senders = Vec::new();
        for id in (index..plan.clients).step_by(threads) {
            let sender = plan.message_prefix(id).map(|p| Sender {
                prefix: p.into_bytes(),
                sent: 0,
                acked: 0,
                due: Instant::now(),
            });
            if sender.is_some() {
                senders.push(clients.len());
            }
            clients.push(Client {
                id,
                registered: false,
                joined: false,
                synced: false,
                last_error: None,
                next_seq: vec![0; plan.tracked[id] as usize],
                sender,
            });
        }
        let interval = match plan.rate {
            Rate::Max => None,
            Rate::PerSec(r) => Some(Duration::from_secs_f64(1.0 / r)),
        };
        Worker {
            index,
            pool: Pool::new(poll, clients.len(), ReadUntil::WouldBlock),
            wake: vec![false; threads],
            shared,
            clients,
            senders,
            phase: Phase::Connect,
            registered: 0,
            t0: None,
            deadline: None,
            deadline_ns: u64::MAX,
            interval,
            stopped: false,
            top_up: Vec::new(),
            top_up_all: false,
            stats: Stats::new(),
            published: 0,
        }
    }

    /// Runs until the coordinator sets [`Phase::Done`]; the sockets close on return.
    pub fn run(mut self) -> Stats {
        let mut events = Events::with_capacity(1024);
        loop {
            let phase = self.shared.phase();
            if phase != self.phase {
                self.enter(phase);
            }
            if phase == Phase::Done {
                break;
            }
            let now = Instant::now();
            match phase {
                Phase::Connect => self.connect_more(now),
                Phase::Run => self.send(now),
                _ => {}
            }
            self.flush_dirty();
            self.publish();
            let timeout = self.timeout(now);
            if let Err(e) = self.pool.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                self.shared
                    .fail(format!("worker {}: poll failed: {e}", self.index));
                break;
            }
            for event in events.iter() {
                match event.token() {
                    WAKE => self.top_up_all = true,
                    Token(i) => self.on_event(i, event),
                }
            }
            for w in 0..self.wake.len() {
                if std::mem::take(&mut self.wake[w]) {
                    let _ = self.shared.wakers[w].wake();
                }
            }
        }
        self.publish();
        self.stats
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        match phase {
            Phase::Join => {
                for i in 0..self.clients.len() {
                    let id = self.clients[i].id;
                    if let Some(c) = self.shared.plan.channel_of[id] {
                        let line =
                            format!("JOIN {}\r\n", self.shared.plan.channels[c as usize].name);
                        self.pool.queue(i, line.as_bytes());
                    }
                }
            }
            Phase::Sync => self
                .pool
                .queue_all(format!("PING :{SYNC_TOKEN}\r\n").as_bytes()),
            Phase::Run => {
                let t0 = *self
                    .shared
                    .t0
                    .get()
                    .expect("t0 is set before the Run phase");
                let run_for = *self.shared.run_for.get().expect("set with t0");
                self.t0 = Some(t0);
                self.deadline = Some(t0 + run_for);
                self.deadline_ns = run_for.as_nanos() as u64;
                // Spread fixed-rate senders over one interval so they do not send in step.
                if let Some(interval) = self.interval {
                    let n = self.shared.plan.clients as f64;
                    for &i in &self.senders {
                        let c = &mut self.clients[i];
                        let offset = interval.mul_f64(c.id as f64 / n);
                        if let Some(s) = c.sender.as_mut() {
                            s.due = t0 + offset;
                        }
                    }
                }
                self.top_up_all = true;
            }
            Phase::Connect | Phase::Done => {}
        }
    }

    fn timeout(&self, now: Instant) -> Duration {
        let mut t = TICK;
        match self.phase {
            Phase::Connect if !self.pool.all_started() => {
                t = Duration::from_millis(1);
            }
            Phase::Run => {
                if let Some(deadline) = self.deadline.filter(|d| *d > now) {
                    t = t.min(deadline - now);
                    if self.interval.is_some() {
                        for &i in &self.senders {
                            if let Some(s) = &self.clients[i].sender {
                                t = t.min(s.due.saturating_duration_since(now));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        t
    }

    fn connect_more(&mut self, now: Instant) {
        let threads = self.shared.threads;
        let per_worker = self.shared.connect_rate / threads as f64;
        let max_pending = (self.shared.max_pending / threads).max(1);
        let (addr, also) = (self.shared.addr, self.shared.also);
        let clients = &self.clients;
        let failed =
            self.pool.connect_more(
                now,
                per_worker,
                max_pending,
                self.registered,
                |i| match also.filter(|_| clients[i].id % 2 == 1) {
                    Some(second) => TcpStream::connect(second),
                    None => TcpStream::connect(addr),
                },
            );
        for (i, e) in failed {
            let hint = match e.raw_os_error() {
                Some(libc::EMFILE) | Some(libc::ENFILE) => " (out of file descriptors)",
                Some(libc::EADDRNOTAVAIL) => " (out of local ports)",
                _ => "",
            };
            let nick = self.shared.plan.nick(self.clients[i].id);
            self.shared
                .fail(format!("{nick}: connect failed: {e}{hint}"));
        }
    }

    fn on_bench(&mut self, i: usize, b: Bench, now_ns: u64) {
        let shared = &self.shared;
        let plan = &shared.plan;
        let me = self.clients[i].id;
        let s = b.sender as usize;
        if s >= plan.clients {
            return;
        }
        if s == me {
            self.stats.echoes += 1;
            if plan.ack == Ack::Echo {
                if let Some(snd) = self.clients[i].sender.as_mut() {
                    if b.seq + 1 > snd.acked {
                        snd.acked = b.seq + 1;
                        self.top_up.push(i);
                    }
                }
            }
            return;
        }
        self.stats.delivered += 1;
        if now_ns < self.deadline_ns {
            self.stats.in_window += 1;
        }
        self.stats
            .latency
            .saturating_record(now_ns.saturating_sub(b.sent_ns).max(1));
        if let Some(next) = self.clients[i].next_seq.get_mut(plan.slot[s] as usize) {
            if b.seq >= *next {
                self.stats.skipped += b.seq - *next;
                *next = b.seq + 1;
            } else {
                self.stats.reordered += 1;
            }
        }
        if plan.ack == Ack::Receiver && plan.acker[s] as usize == me {
            shared.acked[s].fetch_max(b.seq + 1, Relaxed);
            let w = s % shared.threads;
            if w == self.index {
                self.top_up_all = true;
            } else {
                self.wake[w] = true;
            }
        }
    }

    /// Sends what the window and the rate allow, until the end of the sending period.
    fn send(&mut self, now: Instant) {
        if self.deadline.is_none_or(|d| now >= d) {
            self.top_up.clear();
            self.top_up_all = false;
            if !std::mem::replace(&mut self.stopped, true) {
                self.shared.stopped.fetch_add(1, Relaxed);
            }
            return;
        }
        if self.interval.is_some() {
            for k in 0..self.senders.len() {
                self.fill(self.senders[k], Some(now));
            }
        } else if std::mem::take(&mut self.top_up_all) {
            self.top_up.clear();
            for k in 0..self.senders.len() {
                self.fill(self.senders[k], None);
            }
        } else {
            let mut top_up = std::mem::take(&mut self.top_up);
            for &i in &top_up {
                self.fill(i, None);
            }
            top_up.clear();
            self.top_up = top_up;
        }
    }

    /// Queues messages for sender `i` while its window has room (and, with `due_by`,
    /// while they are due).
    fn fill(&mut self, i: usize, due_by: Option<Instant>) {
        let shared = &self.shared;
        let t0 = self.t0.expect("sending only happens in the Run phase");
        let window = shared.plan.window;
        let receiver_ack = shared.plan.ack == Ack::Receiver;
        let (c, link) = (&mut self.clients[i], &mut self.pool.links[i]);
        if link.conn != Conn::Open {
            return;
        }
        let Some(s) = c.sender.as_mut() else {
            return;
        };
        let acked = if receiver_ack {
            shared.acked[c.id].load(Relaxed)
        } else {
            s.acked
        };
        let stamp = Instant::now().saturating_duration_since(t0).as_nanos() as u64;
        let before = s.sent;
        while s.sent.saturating_sub(acked) < window {
            if let Some(now) = due_by {
                if s.due > now {
                    break;
                }
                s.due += self.interval.expect("a due time implies a rate");
            }
            link.out.extend_from_slice(&s.prefix);
            let _ = write!(link.out, "{} {stamp}\r\n", s.sent);
            s.sent += 1;
        }
        if s.sent != before {
            shared.sent[c.id].store(s.sent, Relaxed);
            self.pool.mark_queued(i);
        }
    }

    /// Nanoseconds from the start of the sending to `now`; 0 before it.
    fn since_t0_ns(&self, now: Instant) -> u64 {
        match self.t0 {
            Some(t0) => now.saturating_duration_since(t0).as_nanos() as u64,
            None => 0,
        }
    }

    fn publish(&mut self) {
        let new = self.stats.delivered - self.published;
        if new > 0 {
            self.shared.delivered.fetch_add(new, Relaxed);
            self.published = self.stats.delivered;
        }
    }
}

impl Driver for Worker {
    fn pool(&mut self) -> &mut Pool {
        &mut self.pool
    }

    fn opened(&mut self, i: usize) {
        let plan = &self.shared.plan;
        let nick = plan.nick(self.clients[i].id);
        let mut hello = String::new();
        if plan.wants_echo() {
            hello.push_str("CAP REQ :echo-message\r\n");
        }
        hello.push_str(&format!("NICK {nick}\r\nUSER {nick} 0 * :chatd-bench\r\n"));
        if plan.wants_echo() {
            hello.push_str("CAP END\r\n");
        }
        self.pool.queue(i, hello.as_bytes());
    }

    /// Counts the reads of the sending period and their bytes.
    fn on_read(&mut self, n: usize, now: Instant) {
        let now_ns = self.since_t0_ns(now);
        if now_ns > 0 && now_ns < self.deadline_ns {
            self.stats.reads += 1;
            self.stats.bytes_read += n as u64;
        }
    }

    fn on_line(&mut self, i: usize, line: &[u8], now: Instant) {
        if let Some(b) = wire::scan_bench(line) {
            let now_ns = self.since_t0_ns(now);
            self.on_bench(i, b, now_ns);
            return;
        }
        let Ok(text) = std::str::from_utf8(line) else {
            return;
        };
        let Ok(msg) = chatd_proto::parse(text) else {
            return;
        };
        let id = self.clients[i].id;
        match msg.command.as_str() {
            "PING" => {
                let reply = format!("PONG :{}\r\n", msg.param(0));
                self.pool.queue(i, reply.as_bytes());
                self.stats.pings_answered += 1;
            }
            "PONG"
                if msg.params.last().map(String::as_str) == Some(SYNC_TOKEN)
                    && !self.clients[i].synced =>
            {
                self.clients[i].synced = true;
                self.shared.synced.fetch_add(1, Relaxed);
            }
            RPL_WELCOME if !self.clients[i].registered => {
                self.clients[i].registered = true;
                self.registered += 1;
                self.shared.registered.fetch_add(1, Relaxed);
            }
            "JOIN" => {
                let plan = &self.shared.plan;
                let mine = plan.channel_of[id].map(|c| plan.channels[c as usize].name.as_str());
                let me = plan.nick(id);
                if msg
                    .source_nick()
                    .is_some_and(|n| chatd_proto::fold_eq(n, &me))
                    && mine.is_some_and(|c| chatd_proto::fold_eq(c, msg.param(0)))
                    && !std::mem::replace(&mut self.clients[i].joined, true)
                {
                    self.shared.joined.fetch_add(1, Relaxed);
                }
            }
            "CAP" if msg.param(1).eq_ignore_ascii_case("NAK") => {
                self.shared.fail(format!(
                    "the server refused `CAP REQ {}`; run with --ack receiver",
                    msg.param(2)
                ));
            }
            "ERROR" => self.clients[i].last_error = Some(msg.param(0).to_string()),
            code if is_error_numeric(code) && code != ERR_NOMOTD => {
                let nick = self.shared.plan.nick(id);
                self.shared
                    .fail(format!("{nick}: the server answered `{text}`"));
            }
            _ => {}
        }
    }

    fn close(&mut self, i: usize, why: &str) {
        let Some(was) = self.pool.close(i) else {
            return;
        };
        if was == Conn::Open {
            self.stats.closed += 1;
        }
        let c = &self.clients[i];
        let said = c
            .last_error
            .as_deref()
            .map(|e| format!(" (ERROR :{e})"))
            .unwrap_or_default();
        let nick = self.shared.plan.nick(c.id);
        self.shared.fail(format!("{nick}: {why}{said}"));
    }
}

fn is_error_numeric(code: &str) -> bool {
    code.len() == 3
        && code.bytes().all(|b| b.is_ascii_digit())
        && matches!(code.as_bytes()[0], b'4' | b'5')
}
