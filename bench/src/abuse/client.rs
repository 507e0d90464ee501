//! The abuse test's clients, one state machine for every role: [`Gen`] drives one
//! generation of them (the warm-up's or the main run's) through a [`Pool`], phase by
//! phase: connect, join, sync, then senders send, flooders flood, slow readers stop
//! reading and abrupt clients drop out, then drain. What the well-behaved ones
//! receive is checked as it arrives ([`Seen`]); the phases' timing is run.rs's.

use super::layout::{channel_name, Abrupt, Layout, Role};
use super::AbuseArgs;
use crate::link::{self, Conn};
use crate::pool::{Driver, Pool, ReadUntil};
use crate::report::Latency;
use crate::wire::{padded_line, parse_u64, split_line, trailing};
use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Poll};
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A slow reader's socket: the MSS of an Ethernet peer and a small receive buffer,
/// set before it connects. Over loopback (MSS 64 KB) the kernel lets the server's
/// socket buffer about 3 MB for a peer that does not read; for a peer like this
/// one it is about 80 KB, as on a real network, and the SendQ starts to fill
/// almost at once.
const SLOW_MSS: libc::c_int = 1460;
const SLOW_RCVBUF: libc::c_int = 4096;

/// Most connections kept between `connect` and `001`.
const MAX_PENDING: usize = 256;

/// Failures kept word for word; the rest are only counted.
const FAILURES_KEPT: usize = 20;

const SYNC_TOKEN: &str = "abuse-sync";

/// How long a stalling abrupt client stops reading before it resets.
const STALL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Connect,
    Join,
    Sync,
    Run,
    Drain,
}

/// One client's side of the test; its connection is the pool's link of the same
/// index.
pub struct Client {
    nick: String,
    registered: bool,
    joins_seen: usize,
    synced: bool,
    /// Per sender slot of the home channel: the sequence number expected next.
    pub next_seq: Vec<u64>,
    /// Sender: messages sent. Flooder: lines queued.
    pub sent: u64,
    /// Sender: when the next message is due. Flooder, abrupt: when it acts.
    due: Option<Instant>,
    /// Abrupt clients: 0 before acting, 1 stalled, 2 gone.
    step: u8,
    /// The `ERROR` line the server sent it.
    error: Option<String>,
    /// Why this side saw the connection end, if it did not end it itself.
    pub closed: Option<String>,
    /// The reason in the QUIT other clients saw, and when (seconds since the start of
    /// the sending).
    pub quit: Option<(String, f64)>,
    /// When a flooder started flooding (seconds since the start of the sending).
    pub acted_at: Option<f64>,
}

/// What the well-behaved clients saw.
pub struct Seen {
    pub latency: Histogram<u64>,
    pub delivered: u64,
    /// Sum over receivers and senders of the next sequence number expected.
    pub progress: u64,
    pub gaps: u64,
    pub out_of_order: u64,
    /// Lines an abrupt client left unfinished that reached a well-behaved client
    /// as a message.
    pub partial_delivered: u64,
    /// Deliveries of flood lines to well-behaved clients: what the flood burst let
    /// through before the flooder was throttled, then cut off.
    pub flood_delivered: u64,
    pub pings_answered: u64,
}

pub struct Gen<'a> {
    pool: Pool,
    addr: SocketAddr,
    layout: &'a Layout,
    /// The layout applies (main run); warm-up clients are all plain listeners.
    main: bool,
    prefix: String,
    pub clients: Vec<Client>,
    phase: Phase,
    pub registered: usize,
    pub joined: usize,
    pub synced: usize,
    connect_rate: f64,
    t0: Option<Instant>,
    pub stop_at: Option<Instant>,
    interval: Duration,
    duration: Duration,
    message_bytes: usize,
    pub senders: Vec<usize>,
    flooders: Vec<usize>,
    abrupt: Vec<usize>,
    pub seen: Seen,
    pub failures: Vec<String>,
    pub failure_count: usize,
    /// Error numerics abusers got (not failures).
    abuser_numerics: u64,
}

impl<'a> Gen<'a> {
    pub fn new(
        addr: SocketAddr,
        layout: &'a Layout,
        a: &AbuseArgs,
        warmup: Option<usize>,
    ) -> io::Result<Gen<'a>> {
        let main = warmup.is_none();
        let n = warmup.unwrap_or(layout.roles.len());
        let prefix = if main {
            a.nick_prefix.clone()
        } else {
            format!("{}w", a.nick_prefix)
        };
        let clients = (0..n)
            .map(|i| Client {
                nick: format!("{prefix}{i}"),
                registered: false,
                joins_seen: 0,
                synced: false,
                next_seq: if main && layout.roles[i].well_behaved() {
                    vec![0; layout.senders[layout.home(i)].len()]
                } else {
                    Vec::new()
                },
                sent: 0,
                due: None,
                step: 0,
                error: None,
                closed: None,
                quit: None,
                acted_at: None,
            })
            .collect();
        let of = |role: Role| -> Vec<usize> {
            if !main {
                return Vec::new();
            }
            (0..n).filter(|&i| layout.roles[i] == role).collect()
        };
        Ok(Gen {
            pool: Pool::new(Poll::new()?, n, ReadUntil::ShortRead),
            addr,
            layout,
            main,
            prefix,
            clients,
            phase: Phase::Connect,
            registered: 0,
            joined: 0,
            synced: 0,
            connect_rate: a.connect_rate,
            t0: None,
            stop_at: None,
            interval: Duration::from_secs_f64(1.0 / a.rate),
            duration: Duration::from_secs_f64(a.duration),
            message_bytes: a.message_bytes,
            senders: of(Role::Sender),
            flooders: of(Role::Flooder),
            abrupt: of(Role::Abrupt),
            seen: Seen {
                latency: Latency::histogram(),
                delivered: 0,
                progress: 0,
                gaps: 0,
                out_of_order: 0,
                partial_delivered: 0,
                flood_delivered: 0,
                pings_answered: 0,
            },
            failures: Vec::new(),
            failure_count: 0,
            abuser_numerics: 0,
        })
    }

    pub fn role(&self, i: usize) -> Role {
        role_of(self.layout, self.main, i)
    }

    fn joins(&self, i: usize) -> &[u32] {
        if self.main {
            &self.layout.joins[i]
        } else {
            std::slice::from_ref(&self.layout.joins[i % self.layout.joins.len()][0])
        }
    }

    fn fail(&mut self, what: String) {
        self.failure_count += 1;
        if self.failures.len() < FAILURES_KEPT {
            self.failures.push(what);
        }
    }

    pub fn since_t0(&self, now: Instant) -> f64 {
        self.t0
            .map(|t| now.saturating_duration_since(t).as_secs_f64())
            .unwrap_or(0.0)
    }

    pub fn set_phase(&mut self, phase: Phase, now: Instant) {
        self.phase = phase;
        match phase {
            Phase::Join => {
                for i in 0..self.clients.len() {
                    let names: Vec<String> = self
                        .joins(i)
                        .iter()
                        .map(|&c| channel_name(c as usize))
                        .collect();
                    let line = format!("JOIN {}\r\n", names.join(","));
                    self.pool.queue(i, line.as_bytes());
                }
            }
            Phase::Sync => self
                .pool
                .queue_all(format!("PING :{SYNC_TOKEN}\r\n").as_bytes()),
            Phase::Run => {
                self.t0 = Some(now);
                let s = self.senders.len().max(1) as f64;
                for (k, &i) in self.senders.iter().enumerate() {
                    self.clients[i].due = Some(now + self.interval.mul_f64(k as f64 / s));
                }
                let half = self.duration / 2;
                for &i in &self.flooders {
                    let (k, of) = self.layout.rank[i];
                    self.clients[i].due = Some(now + half.mul_f64(k as f64 / of as f64));
                }
                for &i in &self.abrupt {
                    let (k, of) = self.layout.rank[i];
                    let at = 0.1 + 0.8 * k as f64 / of as f64;
                    self.clients[i].due = Some(now + self.duration.mul_f64(at));
                }
                for i in 0..self.clients.len() {
                    if self.role(i) == Role::SlowReader {
                        self.pool.stop_reading(i);
                    }
                }
            }
            Phase::Connect | Phase::Drain => {}
        }
    }

    /// One pass: start connections, send what is due, flush, poll, handle events.
    pub fn turn(&mut self, events: &mut Events) -> Result<(), String> {
        let now = Instant::now();
        let mut timeout = Duration::from_millis(10);
        match self.phase {
            Phase::Connect => {
                self.connect_more(now);
                if !self.pool.all_started() {
                    timeout = Duration::from_millis(1);
                }
            }
            Phase::Run if self.stop_at.is_none_or(|s| now < s) => {
                self.act(now);
                timeout = Duration::from_millis(2);
            }
            _ => {}
        }
        self.flush_dirty();
        match self.pool.poll.poll(events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(format!("poll failed: {e}")),
        }
        for event in events.iter() {
            self.on_event(event.token().0, event);
        }
        self.flush_dirty();
        Ok(())
    }

    fn connect_more(&mut self, now: Instant) {
        let (addr, layout, main) = (self.addr, self.layout, self.main);
        let failed =
            self.pool
                .connect_more(now, self.connect_rate, MAX_PENDING, self.registered, |i| {
                    if role_of(layout, main, i) == Role::SlowReader {
                        link::connect_small(addr, SLOW_MSS, SLOW_RCVBUF)
                    } else {
                        TcpStream::connect(addr)
                    }
                });
        for (i, e) in failed {
            let nick = self.clients[i].nick.clone();
            self.fail(format!("{nick}: connect failed: {e}"));
        }
    }

    /// The run phase: senders, flooders and abrupt clients do what is due.
    fn act(&mut self, now: Instant) {
        let t0 = self.t0.expect("acting only happens in the Run phase");
        let stamp = now.saturating_duration_since(t0).as_nanos() as u64;
        for k in 0..self.senders.len() {
            let i = self.senders[k];
            let home = self.layout.home(i);
            let (c, link) = (&mut self.clients[i], &mut self.pool.links[i]);
            if link.conn != Conn::Open {
                continue;
            }
            let mut queued = false;
            while c.due.is_some_and(|d| d <= now) {
                padded_line(
                    &mut link.out,
                    self.message_bytes,
                    format_args!("PRIVMSG {} :a {i} {} {stamp} ", channel_name(home), c.sent),
                );
                c.sent += 1;
                c.due = c.due.map(|d| d + self.interval);
                queued = true;
            }
            if queued {
                self.pool.mark_queued(i);
            }
        }
        for k in 0..self.flooders.len() {
            let i = self.flooders[k];
            let home = self.layout.home(i);
            if self.pool.links[i].conn != Conn::Open || self.clients[i].due.is_none_or(|d| d > now)
            {
                continue;
            }
            let at = self.since_t0(now);
            let (c, link) = (&mut self.clients[i], &mut self.pool.links[i]);
            c.acted_at.get_or_insert(at);
            if link.out.len() < 16 * 1024 {
                while link.out.len() < 64 * 1024 {
                    padded_line(
                        &mut link.out,
                        self.message_bytes,
                        format_args!("PRIVMSG {} :f {i} {} ", channel_name(home), c.sent),
                    );
                    c.sent += 1;
                }
                self.pool.mark_queued(i);
            }
        }
        for k in 0..self.abrupt.len() {
            let i = self.abrupt[k];
            if self.pool.links[i].conn != Conn::Open || self.clients[i].due.is_none_or(|d| d > now)
            {
                continue;
            }
            let at = self.since_t0(now);
            self.clients[i].acted_at.get_or_insert(at);
            let way = self.layout.abrupt_way[i].expect("abrupt clients have a way");
            match (way, self.clients[i].step) {
                (Abrupt::Stall, 0) => {
                    self.pool.stop_reading(i);
                    let c = &mut self.clients[i];
                    c.step = 1;
                    c.due = Some(now + STALL);
                }
                (Abrupt::Reset, _) => {
                    let home = channel_name(self.layout.home(i));
                    let lines = format!("PRIVMSG {home} :j {i} 0\r\nPRIVMSG {home} :j {i} 1\r\n");
                    self.drop_mid_line(i, lines.as_bytes(), true);
                }
                (Abrupt::Close, _) => self.drop_mid_line(i, b"", false),
                (Abrupt::Stall, _) => self.drop_mid_line(i, b"", true),
            }
        }
    }

    /// Writes `lines` and half of one more, then closes: with SO_LINGER 0 (an RST) if
    /// `reset`.
    fn drop_mid_line(&mut self, i: usize, lines: &[u8], reset: bool) {
        let home = channel_name(self.layout.home(i));
        let out = &mut self.pool.links[i].out;
        out.extend_from_slice(lines);
        let _ = write!(out, "PRIVMSG {home} :p {i} this line never ends");
        self.flush(i);
        self.pool.hang_up(i, reset);
        self.clients[i].step = 2;
    }

    /// A PRIVMSG text received by a well-behaved client.
    fn on_text(&mut self, i: usize, text: &[u8], now: Instant) {
        let mut words = text.split(|&b| b == b' ');
        let kind = words.next();
        match kind {
            Some(b"a") => {}
            Some(b"p") => {
                self.seen.partial_delivered += 1;
                return;
            }
            Some(b"f") => {
                self.seen.flood_delivered += 1;
                return;
            }
            _ => return,
        }
        let mut num = || words.next().and_then(parse_u64);
        let (Some(sender), Some(seq), Some(sent_ns)) = (num(), num(), num()) else {
            return;
        };
        let s = sender as usize;
        let layout = self.layout;
        let home = layout.home(i);
        if s >= layout.roles.len() || layout.roles[s] != Role::Sender || layout.home(s) != home {
            return;
        }
        let Some(slot) = layout.senders[home].iter().position(|&x| x == s) else {
            return;
        };
        self.seen.delivered += 1;
        if let Some(t0) = self.t0 {
            let now_ns = now.saturating_duration_since(t0).as_nanos() as u64;
            self.seen
                .latency
                .saturating_record(now_ns.saturating_sub(sent_ns).max(1));
        }
        let next = &mut self.clients[i].next_seq[slot];
        if seq >= *next {
            self.seen.gaps += seq - *next;
            self.seen.progress += seq + 1 - *next;
            *next = seq + 1;
        } else {
            self.seen.out_of_order += 1;
        }
    }

    /// The client a nick belongs to, in this generation.
    fn client_of(&self, nick: &[u8]) -> Option<usize> {
        let rest = nick.strip_prefix(self.prefix.as_bytes())?;
        let i = usize::try_from(parse_u64(rest)?).ok()?;
        (i < self.clients.len()).then_some(i)
    }

    /// QUIT and close every open connection.
    pub fn leave(&mut self) {
        self.pool.queue_all(b"QUIT :done\r\n");
        self.flush_dirty();
        self.pool.close_all();
    }

    /// Whether every flooder and slow reader has been cut off and every abrupt
    /// client has been noticed.
    pub fn abusers_done(&self) -> bool {
        (0..self.clients.len()).all(|i| match self.role(i) {
            Role::Flooder | Role::SlowReader => self.cut_reason(i).is_some(),
            Role::Abrupt => self.clients[i].quit.is_some(),
            _ => true,
        })
    }

    /// Why the server cut a client off: the QUIT reason its peers saw, else the
    /// reason in the ERROR it got.
    pub fn cut_reason(&self, i: usize) -> Option<String> {
        let c = &self.clients[i];
        if let Some((r, _)) = &c.quit {
            return Some(r.clone());
        }
        let e = c.error.as_deref()?;
        // `Closing Link: <host> (<reason>)`
        let r = e.find('(').map(|k| &e[k + 1..]).unwrap_or(e);
        Some(r.strip_suffix(')').unwrap_or(r).to_string())
    }

    /// Deliveries the well-behaved clients should get for what was sent.
    pub fn expected(&self) -> u64 {
        let mut total = 0;
        for &s in &self.senders {
            let home = self.layout.home(s);
            let receivers = self.layout.well_behaved[home].saturating_sub(1) as u64;
            total += self.clients[s].sent * receivers;
        }
        total
    }
}

impl Driver for Gen<'_> {
    fn pool(&mut self) -> &mut Pool {
        &mut self.pool
    }

    fn opened(&mut self, i: usize) {
        let nick = &self.clients[i].nick;
        let hello = format!("NICK {nick}\r\nUSER {nick} 0 * :chatd-bench abuse\r\n");
        self.pool.queue(i, hello.as_bytes());
    }

    fn on_line(&mut self, i: usize, line: &[u8], now: Instant) {
        let Some((source, command, params)) = split_line(line) else {
            return;
        };
        match command {
            b"PRIVMSG" if self.role(i).well_behaved() => {
                self.on_text(i, trailing(params), now);
            }
            b"JOIN" if source.eq_ignore_ascii_case(self.clients[i].nick.as_bytes()) => {
                self.clients[i].joins_seen += 1;
                if self.clients[i].joins_seen == self.joins(i).len() {
                    self.joined += 1;
                }
            }
            b"QUIT" => {
                if let Some(who) = self.client_of(source) {
                    if self.clients[who].quit.is_none() {
                        let reason = String::from_utf8_lossy(trailing(params)).into_owned();
                        let at = self.since_t0(now);
                        self.clients[who].quit = Some((reason, at));
                    }
                }
            }
            b"PING" => {
                let mut reply = b"PONG :".to_vec();
                reply.extend_from_slice(trailing(params));
                reply.extend_from_slice(b"\r\n");
                self.pool.queue(i, &reply);
                self.seen.pings_answered += 1;
            }
            b"PONG" if trailing(params) == SYNC_TOKEN.as_bytes() && !self.clients[i].synced => {
                self.clients[i].synced = true;
                self.synced += 1;
            }
            b"001" if !self.clients[i].registered => {
                self.clients[i].registered = true;
                self.registered += 1;
            }
            b"ERROR" => {
                self.clients[i].error = Some(String::from_utf8_lossy(trailing(params)).into_owned())
            }
            code if code.len() == 3
                && code.iter().all(u8::is_ascii_digit)
                && matches!(code[0], b'4' | b'5')
                && code != b"422" =>
            {
                if self.role(i).well_behaved() {
                    let nick = self.clients[i].nick.clone();
                    self.fail(format!(
                        "{nick}: the server answered `{}`",
                        String::from_utf8_lossy(line)
                    ));
                } else {
                    self.abuser_numerics += 1;
                }
            }
            _ => {}
        }
    }

    fn close(&mut self, i: usize, why: &str) {
        if self.pool.close(i).is_none() {
            return;
        }
        let role = self.role(i);
        let c = &mut self.clients[i];
        let said = c
            .error
            .as_deref()
            .map(|e| format!(" (ERROR :{e})"))
            .unwrap_or_default();
        c.closed = Some(format!("{why}{said}"));
        if role.well_behaved() {
            let nick = c.nick.clone();
            self.fail(format!("{nick}: {why}{said}"));
        }
    }
}

/// Client `i`'s role: the layout's in the main run, a listener in the warm-up.
fn role_of(layout: &Layout, main: bool, i: usize) -> Role {
    if main {
        layout.roles[i]
    } else {
        Role::Listener
    }
}
