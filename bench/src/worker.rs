//! A worker thread: one mio `Poll` driving its share of the clients (client `i` lives
//! on worker `i % threads`) through the phases the coordinator in `run.rs` sets in
//! [`Shared`]: connect and register, join, sync, send, stop. Per-receiver checks
//! (latency, loss, order) are kept in [`Stats`] and merged at the end.

use crate::link::{Conn, Connected, Got, Link};
use crate::plan::{Ack, Plan, Rate};
use crate::wire::{self, Bench};
use chatd_proto::numeric::{ERR_NOMOTD, RPL_WELCOME};
use hdrhistogram::Histogram;
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Events, Poll, Token, Waker};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The token of each worker's `Waker`; client tokens are local indexes.
pub const WAKE: Token = Token(usize::MAX);

/// The token a client puts in its sync `PING`; the `PONG` carrying it back means every
/// line the server queued for this client before it (JOIN floods) has arrived.
const SYNC_TOKEN: &str = "chatd-bench-sync";

/// Failures kept word for word; the rest are only counted.
const FAILURES_KEPT: usize = 20;

/// Longest a worker sleeps in `poll` without an event; phase changes also wake it.
const TICK: Duration = Duration::from_millis(20);

#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Connect = 0,
    Join = 1,
    Sync = 2,
    Run = 3,
    Done = 4,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Connect,
            1 => Phase::Join,
            2 => Phase::Sync,
            3 => Phase::Run,
            _ => Phase::Done,
        }
    }
}

/// What the coordinator and the workers share: the phase, progress counters, what
/// each sender has sent (and, under `--ack receiver`, what was acknowledged).
pub struct Shared {
    phase: AtomicU8,
    pub addr: SocketAddr,
    pub plan: Plan,
    pub threads: usize,
    /// Connections started per second, over all workers.
    pub connect_rate: f64,
    /// Most connections between `connect` and `001` at once, over all workers, so a
    /// slow server sees a bounded backlog rather than a burst of thousands.
    pub max_pending: usize,
    t0: OnceLock<Instant>,
    run_for: OnceLock<Duration>,
    pub registered: AtomicUsize,
    pub joined: AtomicUsize,
    pub synced: AtomicUsize,
    /// Workers past the end of the sending period: once all are, `sent` is final.
    pub stopped: AtomicUsize,
    pub delivered: AtomicU64,
    pub sent: Vec<AtomicU64>,
    pub acked: Vec<AtomicU64>,
    wakers: Vec<Arc<Waker>>,
    failures: Mutex<Vec<String>>,
    pub failure_count: AtomicUsize,
}

impl Shared {
    pub fn new(
        plan: Plan,
        addr: SocketAddr,
        connect_rate: f64,
        max_pending: usize,
        wakers: Vec<Arc<Waker>>,
    ) -> Shared {
        let n = plan.clients;
        Shared {
            phase: AtomicU8::new(Phase::Connect as u8),
            addr,
            threads: wakers.len(),
            plan,
            connect_rate,
            max_pending,
            t0: OnceLock::new(),
            run_for: OnceLock::new(),
            registered: AtomicUsize::new(0),
            joined: AtomicUsize::new(0),
            synced: AtomicUsize::new(0),
            stopped: AtomicUsize::new(0),
            delivered: AtomicU64::new(0),
            sent: (0..n).map(|_| AtomicU64::new(0)).collect(),
            acked: (0..n).map(|_| AtomicU64::new(0)).collect(),
            wakers,
            failures: Mutex::new(Vec::new()),
            failure_count: AtomicUsize::new(0),
        }
    }

    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Relaxed))
    }

    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Relaxed);
        for w in &self.wakers {
            let _ = w.wake();
        }
    }

    /// Starts the measured part: senders send from `t0` for `run_for`.
    pub fn start_run(&self, t0: Instant, run_for: Duration) {
        let _ = self.t0.set(t0);
        let _ = self.run_for.set(run_for);
        self.set_phase(Phase::Run);
    }

    pub fn fail(&self, what: String) {
        self.failure_count.fetch_add(1, Relaxed);
        let mut kept = self.failures.lock().expect("no thread panics holding it");
        if kept.len() < FAILURES_KEPT {
            kept.push(what);
        }
    }

    pub fn failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .expect("no thread panics holding it")
            .clone()
    }

    /// Messages sent so far and the deliveries they should produce.
    pub fn sent_and_expected(&self) -> (u64, u64) {
        let mut sent = 0;
        let mut expected = 0;
        for (i, s) in self.sent.iter().enumerate() {
            let n = s.load(Relaxed);
            sent += n;
            expected += n * u64::from(self.plan.fanout[i]);
        }
        (sent, expected)
    }
}

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
            latency: Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
                .expect("constant histogram bounds are valid"),
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

struct Client {
    id: usize,
    link: Link,
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
    poll: Poll,
    shared: Arc<Shared>,
    clients: Vec<Client>,
    senders: Vec<usize>,
    phase: Phase,
    started: usize,
    registered: usize,
    connect_start: Option<Instant>,
    t0: Option<Instant>,
    deadline: Option<Instant>,
    deadline_ns: u64,
    interval: Option<Duration>,
    stopped: bool,
    /// Clients with output to write at the end of this pass.
    dirty: Vec<usize>,
    /// Senders whose window may have room.
    top_up: Vec<usize>,
    top_up_all: bool,
    /// Workers to wake at the end of this pass (an acknowledgement for their sender).
    wake: Vec<bool>,
    scratch: Vec<u8>,
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
                link: Link::new(),
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
            poll,
            wake: vec![false; threads],
            shared,
            clients,
            senders,
            phase: Phase::Connect,
            started: 0,
            registered: 0,
            connect_start: None,
            t0: None,
            deadline: None,
            deadline_ns: u64::MAX,
            interval,
            stopped: false,
            dirty: Vec::new(),
            top_up: Vec::new(),
            top_up_all: false,
            scratch: vec![0; 64 * 1024],
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
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
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
                        self.queue(i, line.as_bytes());
                    }
                }
            }
            Phase::Sync => {
                let line = format!("PING :{SYNC_TOKEN}\r\n");
                for i in 0..self.clients.len() {
                    self.queue(i, line.as_bytes());
                }
            }
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
            Phase::Connect if self.started < self.clients.len() => {
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
        let start = *self.connect_start.get_or_insert(now);
        let per_worker = self.shared.connect_rate / self.shared.threads as f64;
        let allowed = (now.duration_since(start).as_secs_f64() * per_worker) as usize + 1;
        let max_pending = (self.shared.max_pending / self.shared.threads).max(1);
        while self.started < self.clients.len()
            && self.started < allowed
            && self.started - self.registered < max_pending
        {
            let i = self.started;
            self.started += 1;
            let addr = self.shared.addr;
            let result = self.clients[i]
                .link
                .connect(self.poll.registry(), Token(i), || TcpStream::connect(addr));
            match result {
                Ok(()) => {}
                Err(e) => {
                    let hint = match e.raw_os_error() {
                        Some(libc::EMFILE) | Some(libc::ENFILE) => " (out of file descriptors)",
                        Some(libc::EADDRNOTAVAIL) => " (out of local ports)",
                        _ => "",
                    };
                    let nick = self.shared.plan.nick(self.clients[i].id);
                    self.shared
                        .fail(format!("{nick}: connect failed: {e}{hint}"));
                    self.clients[i].link.conn = Conn::Closed;
                }
            }
        }
    }

    fn on_event(&mut self, i: usize, event: &Event) {
        if i >= self.clients.len() {
            return;
        }
        if self.clients[i].link.conn == Conn::Connecting && !self.finish_connect(i) {
            return;
        }
        if event.is_writable() && self.clients[i].link.conn == Conn::Open {
            self.clients[i].link.writable = true;
            self.flush(i);
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.read(i);
        }
    }

    /// After a readiness event on a connecting socket: whether the connection is open.
    fn finish_connect(&mut self, i: usize) -> bool {
        match self.clients[i].link.finish_connect() {
            Connected::Now => {}
            Connected::NotYet => return false,
            Connected::Failed(e) => {
                self.close(i, &format!("connect failed: {e}"));
                return false;
            }
        }
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
        self.queue(i, hello.as_bytes());
        true
    }

    fn read(&mut self, i: usize) {
        let mut scratch = std::mem::take(&mut self.scratch);
        loop {
            let n = match self.clients[i].link.read(&mut scratch) {
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
            let now_ns = match self.t0 {
                Some(t0) => Instant::now().saturating_duration_since(t0).as_nanos() as u64,
                None => 0,
            };
            if now_ns > 0 && now_ns < self.deadline_ns {
                self.stats.reads += 1;
                self.stats.bytes_read += n as u64;
            }
            let mut partial = std::mem::take(&mut self.clients[i].link.partial);
            wire::frame(&mut partial, &scratch[..n], |line| {
                self.on_line(i, line, now_ns)
            });
            self.clients[i].link.partial = partial;
        }
        self.scratch = scratch;
    }

    fn on_line(&mut self, i: usize, line: &[u8], now_ns: u64) {
        if let Some(b) = wire::scan_bench(line) {
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
                self.queue(i, reply.as_bytes());
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
        let c = &mut self.clients[i];
        if c.link.conn != Conn::Open {
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
            c.link.out.extend_from_slice(&s.prefix);
            let _ = write!(c.link.out, "{} {stamp}\r\n", s.sent);
            s.sent += 1;
        }
        if s.sent != before {
            shared.sent[c.id].store(s.sent, Relaxed);
            if c.link.mark_queued() {
                self.dirty.push(i);
            }
        }
    }

    fn queue(&mut self, i: usize, bytes: &[u8]) {
        if self.clients[i].link.queue(bytes) {
            self.dirty.push(i);
        }
    }

    /// Flushes the clients with output queued, in the order they were queued.
    fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for &i in &dirty {
            self.flush(i);
        }
        dirty.clear();
        self.dirty = dirty;
    }

    fn flush(&mut self, i: usize) {
        if let Some(e) = self.clients[i].link.flush() {
            self.close(i, &format!("write failed: {e}"));
        }
    }

    fn close(&mut self, i: usize, why: &str) {
        let c = &mut self.clients[i];
        if c.link.conn == Conn::Closed {
            return;
        }
        let was_open = c.link.conn == Conn::Open;
        c.link.conn = Conn::Closed;
        if let Some(mut sock) = c.link.sock.take() {
            let _ = self.poll.registry().deregister(&mut sock);
        }
        if was_open {
            self.stats.closed += 1;
        }
        let said = c
            .last_error
            .as_deref()
            .map(|e| format!(" (ERROR :{e})"))
            .unwrap_or_default();
        let nick = self.shared.plan.nick(c.id);
        self.shared.fail(format!("{nick}: {why}{said}"));
    }

    fn publish(&mut self) {
        let new = self.stats.delivered - self.published;
        if new > 0 {
            self.shared.delivered.fetch_add(new, Relaxed);
            self.published = self.stats.delivered;
        }
    }
}

fn is_error_numeric(code: &str) -> bool {
    code.len() == 3
        && code.bytes().all(|b| b.is_ascii_digit())
        && matches!(code.as_bytes()[0], b'4' | b'5')
}
