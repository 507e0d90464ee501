//! `abuse`: the bounded abuse test. It holds `--clients` connections on a spawned
//! chatd that runs with its real flood control, RecvQ and SendQ, while some clients
//! flood, some stop reading and some drop their connection in the middle of a line.
//! It checks that:
//! - every well-behaved client got every message of every sender in its channel, in
//!   order and without duplicates;
//! - each flooder was cut off for "Excess Flood" and each slow reader for "SendQ
//!   exceeded" (the reason other members of their channels saw in the QUIT);
//! - a fresh client is still answered;
//! - the server's RSS came back near its baseline once everyone left.
//!
//! One thread drives every client through one mio `Poll`. The run goes through
//! these phases: warm-up (connect and disconnect `--warmup` clients, so the
//! allocator has seen the load once, then take the baseline), connect and join,
//! abuse while the senders send, drain, a fresh probe client, everyone leaves,
//! settle, then the memory check.

use crate::link::{Conn, Connected, Got, Link};
use crate::procfs::{self, Cpu};
use crate::report::{Latency, ServerInfo};
use crate::spawn::Spawned;
use crate::wire;
use clap::Args;
use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

/// Holds many connections on one chatd with its real flood control and SendQ while
/// some clients flood, some stop reading and some drop mid-line; checks that the
/// well-behaved ones got everything in order, that each abuser was cut off for the
/// right reason, and that the server's memory came back near its baseline.
///
/// Client `i` is nick PREFIX<i>, member of `#abuse<i mod channels>`. The first
/// senders-per-channel × channels clients send; then come the flooders, the slow
/// readers, the abrupt clients, and the rest only listen. Connection limits are
/// relaxed as in every scenario (all clients come from 127.0.0.1); flood_burst,
/// flood_rate, recvq_bytes and sendq_bytes stay at chatd's defaults unless --config
/// sets them.
///
/// Exit status: 0 every check passed; 1 the run could not be done; 2 usage error;
/// 3 a check failed (the report says which).
#[derive(Args, Debug)]
pub struct AbuseArgs {
    /// The chatd binary to start on a free loopback port with a temporary data dir.
    #[arg(long, value_name = "PATH")]
    spawn: PathBuf,
    /// Config file for the spawned chatd; see above for the keys the test sets.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Connections to hold, all roles together.
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// Clients per channel (each has its home channel `#abuse<i mod channels>`).
    #[arg(long, default_value_t = 200)]
    channel_size: usize,
    /// Well-behaved senders in each channel.
    #[arg(long, default_value_t = 4)]
    senders_per_channel: usize,
    /// Messages per second per sender; keep it under chatd's flood_rate (5).
    #[arg(long, default_value_t = 4.0)]
    rate: f64,
    /// Length of each message's text, in bytes (padding included).
    #[arg(long, default_value_t = 400)]
    message_bytes: usize,
    /// Clients that flood their channel as fast as the socket takes it.
    #[arg(long, default_value_t = 300)]
    flooders: usize,
    /// Clients that join several channels and stop reading when the sending starts.
    #[arg(long, default_value_t = 300)]
    slow_readers: usize,
    /// Channels each slow reader joins: its home channel and the next ones. The
    /// more it joins, the sooner its SendQ fills; each one also adds a member to a
    /// channel, so JOIN traffic grows with the square of the channel size.
    #[arg(long, default_value_t = 16)]
    slow_channels: usize,
    /// Clients that drop their connection in the middle of a line during the run.
    #[arg(long, default_value_t = 300)]
    abrupt: usize,
    /// Clients connected, joined and disconnected before the baseline is taken
    /// (default: as many as --clients). The server keeps some memory sized by the
    /// most connections it has held (the connection slab, hash tables); a warm-up
    /// as large as the test puts that in the baseline, so the check is about what
    /// the abuse leaves behind.
    #[arg(long)]
    warmup: Option<usize>,
    /// Seconds of sending, at least; flooders start in the first half, abrupt
    /// clients leave between 10% and 90% of it.
    #[arg(long, default_value_t = 15.0)]
    duration: f64,
    /// Seconds the sending may go on past --duration while flooders or slow readers
    /// are still connected (slow readers are only cut off while traffic flows).
    #[arg(long, default_value_t = 45.0)]
    cutoff_timeout: f64,
    /// Seconds to wait after the sending for the last deliveries.
    #[arg(long, default_value_t = 10.0)]
    drain: f64,
    /// Seconds to wait once the server is empty before the memory is read (both
    /// for the baseline and at the end).
    #[arg(long, default_value_t = 5.0)]
    settle: f64,
    /// New connections per second.
    #[arg(long, default_value_t = 2000.0)]
    connect_rate: f64,
    /// Seconds allowed for connecting, registering, joining and syncing (each of
    /// the warm-up and the main connect).
    #[arg(long, default_value_t = 60.0)]
    setup_timeout: f64,
    /// The RSS at the end may exceed the baseline by this percentage of it...
    #[arg(long, default_value_t = 20.0)]
    rss_tolerance_pct: f64,
    /// ...or by this many MiB, whichever is larger.
    #[arg(long, default_value_t = 8.0)]
    rss_tolerance_mib: f64,
    /// Nicks are PREFIX0, PREFIX1, ... (warm-up: PREFIXw0, ...).
    #[arg(long, default_value = "ab", value_name = "PREFIX")]
    nick_prefix: String,
    /// Print the report as one JSON object on one line.
    #[arg(long)]
    json: bool,
}

/// What the spawned server runs with unless --config sets it (spawn.rs relaxes
/// the connection limits on top):
/// - the limits under test at chatd's own defaults (`conf/chatd.toml`), instead of
///   the relaxed values other scenarios use;
/// - no history logging: the store's SQLite page cache (up to 32 MiB) grows with
///   every logged message and keeps it by design, which would hide what the
///   connections leave behind in the memory check.
fn test_settings() -> [(&'static str, &'static str, toml::Value); 5] {
    use toml::Value::{Boolean, Integer};
    [
        ("limits", "flood_burst", Integer(20)),
        ("limits", "flood_rate", Integer(5)),
        ("limits", "recvq_bytes", Integer(16 * 1024)),
        ("limits", "sendq_bytes", Integer(1 << 20)),
        ("history", "log_messages", Boolean(false)),
    ]
}

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

pub fn main(args: AbuseArgs) -> ExitCode {
    let layout = match Layout::new(&args) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("chatd-bench: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args, layout) {
        Ok(report) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string(&report).expect("a report always serializes")
                );
            } else {
                print!("{}", report.text());
            }
            if report.checks.iter().all(|c| c.ok) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Err(e) => {
            eprintln!("chatd-bench: {e}");
            ExitCode::from(1)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Sender,
    Listener,
    Flooder,
    SlowReader,
    Abrupt,
}

impl Role {
    fn well_behaved(self) -> bool {
        matches!(self, Role::Sender | Role::Listener)
    }
}

/// Who is who and who is where; no I/O.
#[derive(Debug)]
struct Layout {
    channels: usize,
    /// Channels each slow reader joins.
    slow_channels: usize,
    roles: Vec<Role>,
    /// The channels each client joins, its home channel first.
    joins: Vec<Vec<u32>>,
    /// Per channel: its senders, in slot order.
    senders: Vec<Vec<usize>>,
    /// Per channel: its well-behaved members.
    well_behaved: Vec<usize>,
    /// For an abrupt client: which way it leaves.
    abrupt_way: Vec<Option<Abrupt>>,
    /// For a flooder or an abrupt client: its rank among its kind (for its start time).
    rank: Vec<(usize, usize)>,
}

/// How an abrupt client leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Abrupt {
    /// Two complete lines and half of a third, then a close with SO_LINGER 0 (RST).
    Reset,
    /// Half a line, then a plain close.
    Close,
    /// Stops reading for a while (the server queues for it), then half a line and RST.
    Stall,
}

impl Layout {
    fn new(a: &AbuseArgs) -> Result<Layout, String> {
        if a.channel_size < 2 || a.clients < a.channel_size {
            return Err(
                "--clients must be at least --channel-size, which must be at least 2".into(),
            );
        }
        let channels = a.clients.div_ceil(a.channel_size);
        let senders = a.senders_per_channel * channels;
        let abusers = a.flooders + a.slow_readers + a.abrupt;
        if a.senders_per_channel == 0 {
            return Err("--senders-per-channel must be at least 1".into());
        }
        if senders + abusers + channels > a.clients {
            return Err(format!(
                "{senders} senders and {abusers} abusers leave fewer than one listener per channel ({channels} channels) in {} clients",
                a.clients
            ));
        }
        let slow_channels = a.slow_channels;
        if a.slow_readers > 0 && (slow_channels == 0 || slow_channels > channels) {
            return Err(format!(
                "--slow-channels must be between 1 and the number of channels ({channels})"
            ));
        }
        if !(a.rate.is_finite() && a.rate > 0.0) {
            return Err("--rate must be a positive number".into());
        }
        if !(16..=400).contains(&a.message_bytes) {
            return Err("--message-bytes must be between 16 and 400".into());
        }
        for (name, v) in [
            ("--duration", a.duration),
            ("--connect-rate", a.connect_rate),
            ("--setup-timeout", a.setup_timeout),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be a positive number"));
            }
        }
        for (name, v) in [
            ("--cutoff-timeout", a.cutoff_timeout),
            ("--drain", a.drain),
            ("--settle", a.settle),
            ("--rss-tolerance-pct", a.rss_tolerance_pct),
            ("--rss-tolerance-mib", a.rss_tolerance_mib),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} must be a number of at least 0"));
            }
        }
        let n = a.clients;
        let mut l = Layout {
            channels,
            slow_channels,
            roles: Vec::with_capacity(n),
            joins: Vec::with_capacity(n),
            senders: vec![Vec::new(); channels],
            well_behaved: vec![0; channels],
            abrupt_way: vec![None; n],
            rank: vec![(0, 0); n],
        };
        let bounds = [
            (senders, Role::Sender),
            (senders + a.flooders, Role::Flooder),
            (senders + a.flooders + a.slow_readers, Role::SlowReader),
            (senders + abusers, Role::Abrupt),
            (n, Role::Listener),
        ];
        let mut start = 0;
        for (end, role) in bounds {
            for i in start..end {
                let home = i % channels;
                let k = i - start;
                l.roles.push(role);
                let joins = match role {
                    Role::SlowReader => (0..slow_channels)
                        .map(|d| ((home + d) % channels) as u32)
                        .collect(),
                    _ => vec![home as u32],
                };
                l.joins.push(joins);
                match role {
                    Role::Sender => l.senders[home].push(i),
                    Role::Flooder => l.rank[i] = (k, a.flooders),
                    Role::Abrupt => {
                        l.rank[i] = (k, a.abrupt);
                        l.abrupt_way[i] = Some(match k % 3 {
                            0 => Abrupt::Reset,
                            1 => Abrupt::Close,
                            _ => Abrupt::Stall,
                        });
                    }
                    _ => {}
                }
                if role.well_behaved() {
                    l.well_behaved[home] += 1;
                }
            }
            start = end;
        }
        Ok(l)
    }

    fn home(&self, i: usize) -> usize {
        self.joins[i][0] as usize
    }

    fn count(&self, role: Role) -> usize {
        self.roles.iter().filter(|&&r| r == role).count()
    }
}

fn channel_name(c: usize) -> String {
    format!("#abuse{c}")
}

// ---------------------------------------------------------------------------
// The clients

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Connect,
    Join,
    Sync,
    Run,
    Drain,
}

struct Client {
    nick: String,
    link: Link,
    registered: bool,
    joins_seen: usize,
    synced: bool,
    reading: bool,
    /// Per sender slot of the home channel: the sequence number expected next.
    next_seq: Vec<u64>,
    /// Sender: messages sent. Flooder: lines queued.
    sent: u64,
    /// Sender: when the next message is due. Flooder, abrupt: when it acts.
    due: Option<Instant>,
    /// Abrupt clients: 0 before acting, 1 stalled, 2 gone.
    step: u8,
    /// The `ERROR` line the server sent it.
    error: Option<String>,
    /// Why this side saw the connection end, if it did not end it itself.
    closed: Option<String>,
    /// The reason in the QUIT other clients saw, and when (seconds since the start of
    /// the sending).
    quit: Option<(String, f64)>,
    /// When a flooder started flooding (seconds since the start of the sending).
    acted_at: Option<f64>,
}

/// What the well-behaved clients saw.
struct Seen {
    latency: Histogram<u64>,
    delivered: u64,
    /// Sum over receivers and senders of the next sequence number expected.
    progress: u64,
    gaps: u64,
    out_of_order: u64,
    /// Lines an abrupt client left unfinished that reached a well-behaved client
    /// as a message.
    partial_delivered: u64,
    /// Deliveries of flood lines to well-behaved clients: what the flood burst let
    /// through before the flooder was throttled, then cut off.
    flood_delivered: u64,
    pings_answered: u64,
}

struct Gen<'a> {
    poll: Poll,
    addr: SocketAddr,
    layout: &'a Layout,
    /// The layout applies (main run); warm-up clients are all plain listeners.
    main: bool,
    prefix: String,
    clients: Vec<Client>,
    phase: Phase,
    started: usize,
    registered: usize,
    joined: usize,
    synced: usize,
    connect_rate: f64,
    connect_start: Option<Instant>,
    t0: Option<Instant>,
    stop_at: Option<Instant>,
    interval: Duration,
    duration: Duration,
    message_bytes: usize,
    senders: Vec<usize>,
    flooders: Vec<usize>,
    abrupt: Vec<usize>,
    dirty: Vec<usize>,
    scratch: Vec<u8>,
    seen: Seen,
    failures: Vec<String>,
    failure_count: usize,
    /// Error numerics abusers got (not failures).
    abuser_numerics: u64,
}

impl<'a> Gen<'a> {
    fn new(
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
                link: Link::new(),
                registered: false,
                joins_seen: 0,
                synced: false,
                reading: true,
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
            poll: Poll::new()?,
            addr,
            layout,
            main,
            prefix,
            clients,
            phase: Phase::Connect,
            started: 0,
            registered: 0,
            joined: 0,
            synced: 0,
            connect_rate: a.connect_rate,
            connect_start: None,
            t0: None,
            stop_at: None,
            interval: Duration::from_secs_f64(1.0 / a.rate),
            duration: Duration::from_secs_f64(a.duration),
            message_bytes: a.message_bytes,
            senders: of(Role::Sender),
            flooders: of(Role::Flooder),
            abrupt: of(Role::Abrupt),
            dirty: Vec::new(),
            scratch: vec![0; 64 * 1024],
            seen: Seen {
                latency: Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
                    .expect("constant histogram bounds are valid"),
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

    fn role(&self, i: usize) -> Role {
        if self.main {
            self.layout.roles[i]
        } else {
            Role::Listener
        }
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

    fn since_t0(&self, now: Instant) -> f64 {
        self.t0
            .map(|t| now.saturating_duration_since(t).as_secs_f64())
            .unwrap_or(0.0)
    }

    fn set_phase(&mut self, phase: Phase, now: Instant) {
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
                    self.queue(i, line.as_bytes());
                }
            }
            Phase::Sync => {
                let line = format!("PING :{SYNC_TOKEN}\r\n");
                for i in 0..self.clients.len() {
                    self.queue(i, line.as_bytes());
                }
            }
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
                        self.stop_reading(i);
                    }
                }
            }
            Phase::Connect | Phase::Drain => {}
        }
    }

    /// One pass: start connections, send what is due, flush, poll, handle events.
    fn turn(&mut self, events: &mut Events) -> Result<(), String> {
        let now = Instant::now();
        let mut timeout = Duration::from_millis(10);
        match self.phase {
            Phase::Connect => {
                self.connect_more(now);
                if self.started < self.clients.len() {
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
        match self.poll.poll(events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(format!("poll failed: {e}")),
        }
        for event in events.iter() {
            let i = event.token().0;
            if i >= self.clients.len() {
                continue;
            }
            if self.clients[i].link.conn == Conn::Connecting && !self.finish_connect(i) {
                continue;
            }
            if event.is_writable() && self.clients[i].link.conn == Conn::Open {
                self.clients[i].link.writable = true;
                self.flush(i);
            }
            if (event.is_readable() || event.is_read_closed() || event.is_error())
                && self.clients[i].reading
            {
                self.read(i, event.is_read_closed() || event.is_error());
            }
        }
        self.flush_dirty();
        Ok(())
    }

    fn connect_more(&mut self, now: Instant) {
        let start = *self.connect_start.get_or_insert(now);
        let allowed = (now.duration_since(start).as_secs_f64() * self.connect_rate) as usize + 1;
        while self.started < self.clients.len()
            && self.started < allowed
            && self.started - self.registered < MAX_PENDING
        {
            let i = self.started;
            self.started += 1;
            let connect = if self.role(i) == Role::SlowReader {
                connect_small
            } else {
                TcpStream::connect
            };
            let addr = self.addr;
            let result = self.clients[i]
                .link
                .connect(self.poll.registry(), Token(i), || connect(addr));
            match result {
                Ok(()) => {}
                Err(e) => {
                    let nick = self.clients[i].nick.clone();
                    self.clients[i].link.conn = Conn::Closed;
                    self.fail(format!("{nick}: connect failed: {e}"));
                }
            }
        }
    }

    fn finish_connect(&mut self, i: usize) -> bool {
        match self.clients[i].link.finish_connect() {
            Connected::Now => {}
            Connected::NotYet => return false,
            Connected::Failed(e) => {
                self.close(i, &format!("connect failed: {e}"));
                return false;
            }
        }
        let nick = self.clients[i].nick.clone();
        let hello = format!("NICK {nick}\r\nUSER {nick} 0 * :chatd-bench abuse\r\n");
        self.queue(i, hello.as_bytes());
        true
    }

    /// The run phase: senders, flooders and abrupt clients do what is due.
    fn act(&mut self, now: Instant) {
        let t0 = self.t0.expect("acting only happens in the Run phase");
        let stamp = now.saturating_duration_since(t0).as_nanos() as u64;
        for k in 0..self.senders.len() {
            let i = self.senders[k];
            let home = self.layout.home(i);
            let c = &mut self.clients[i];
            if c.link.conn != Conn::Open {
                continue;
            }
            let mut queued = false;
            while c.due.is_some_and(|d| d <= now) {
                padded_line(
                    &mut c.link.out,
                    self.message_bytes,
                    format_args!("PRIVMSG {} :a {i} {} {stamp} ", channel_name(home), c.sent),
                );
                c.sent += 1;
                c.due = c.due.map(|d| d + self.interval);
                queued = true;
            }
            if queued && c.link.mark_queued() {
                self.dirty.push(i);
            }
        }
        for k in 0..self.flooders.len() {
            let i = self.flooders[k];
            let home = self.layout.home(i);
            if self.clients[i].link.conn != Conn::Open
                || self.clients[i].due.is_none_or(|d| d > now)
            {
                continue;
            }
            let at = self.since_t0(now);
            let c = &mut self.clients[i];
            c.acted_at.get_or_insert(at);
            if c.link.out.len() < 16 * 1024 {
                while c.link.out.len() < 64 * 1024 {
                    padded_line(
                        &mut c.link.out,
                        self.message_bytes,
                        format_args!("PRIVMSG {} :f {i} {} ", channel_name(home), c.sent),
                    );
                    c.sent += 1;
                }
                if c.link.mark_queued() {
                    self.dirty.push(i);
                }
            }
        }
        for k in 0..self.abrupt.len() {
            let i = self.abrupt[k];
            let c = &self.clients[i];
            if c.link.conn != Conn::Open || c.due.is_none_or(|d| d > now) {
                continue;
            }
            let at = self.since_t0(now);
            self.clients[i].acted_at.get_or_insert(at);
            let way = self.layout.abrupt_way[i].expect("abrupt clients have a way");
            match (way, self.clients[i].step) {
                (Abrupt::Stall, 0) => {
                    self.stop_reading(i);
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

    /// From now on the client reads nothing: what the server sends it piles up in
    /// the kernel's buffers, then in the server's SendQ.
    fn stop_reading(&mut self, i: usize) {
        let c = &mut self.clients[i];
        c.reading = false;
        if let Some(sock) = c.link.sock.as_mut() {
            let _ = self
                .poll
                .registry()
                .reregister(sock, Token(i), Interest::WRITABLE);
        }
    }

    /// Writes `lines` and half of one more, then closes: with SO_LINGER 0 (an RST) if
    /// `reset`.
    fn drop_mid_line(&mut self, i: usize, lines: &[u8], reset: bool) {
        let home = channel_name(self.layout.home(i));
        let c = &mut self.clients[i];
        c.link.out.extend_from_slice(lines);
        let _ = write!(c.link.out, "PRIVMSG {home} :p {i} this line never ends");
        self.flush(i);
        let c = &mut self.clients[i];
        if let Some(mut sock) = c.link.sock.take() {
            if reset {
                let linger = libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                };
                // SAFETY: the fd is open (we own the socket) and `linger` lives for the call.
                unsafe {
                    libc::setsockopt(
                        sock.as_raw_fd(),
                        libc::SOL_SOCKET,
                        libc::SO_LINGER,
                        (&linger as *const libc::linger).cast(),
                        std::mem::size_of::<libc::linger>() as libc::socklen_t,
                    );
                }
            }
            let _ = self.poll.registry().deregister(&mut sock);
        }
        c.link.conn = Conn::Closed;
        c.step = 2;
        c.link.out = Vec::new();
    }

    /// Reads what the socket holds. A short read means it is drained for now (with
    /// edge-triggered readiness, data arriving later brings a new event), which
    /// saves a `WouldBlock` read per delivery; after a close or an error (`to_end`),
    /// reads on until the end.
    fn read(&mut self, i: usize, to_end: bool) {
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
            let now = Instant::now();
            let mut partial = std::mem::take(&mut self.clients[i].link.partial);
            wire::frame(&mut partial, &scratch[..n], |line| {
                self.on_line(i, line, now)
            });
            self.clients[i].link.partial = partial;
            if n < scratch.len() && !to_end {
                break;
            }
        }
        self.scratch = scratch;
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
                self.queue(i, &reply);
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
        let role = self.role(i);
        let c = &mut self.clients[i];
        if c.link.conn == Conn::Closed {
            return;
        }
        c.link.conn = Conn::Closed;
        if let Some(mut sock) = c.link.sock.take() {
            let _ = self.poll.registry().deregister(&mut sock);
        }
        c.link.out = Vec::new();
        c.link.partial = Vec::new();
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

    /// QUIT and close every open connection.
    fn leave(&mut self) {
        for i in 0..self.clients.len() {
            self.queue(i, b"QUIT :done\r\n");
        }
        self.flush_dirty();
        for c in &mut self.clients {
            if let Some(mut sock) = c.link.sock.take() {
                let _ = self.poll.registry().deregister(&mut sock);
            }
            if c.link.conn == Conn::Open {
                c.link.conn = Conn::Closed;
            }
        }
    }

    /// Whether every flooder and slow reader has been cut off and every abrupt
    /// client has been noticed.
    fn abusers_done(&self) -> bool {
        (0..self.clients.len()).all(|i| match self.role(i) {
            Role::Flooder | Role::SlowReader => self.cut_reason(i).is_some(),
            Role::Abrupt => self.clients[i].quit.is_some(),
            _ => true,
        })
    }

    /// Why the server cut a client off: the QUIT reason its peers saw, else the
    /// reason in the ERROR it got.
    fn cut_reason(&self, i: usize) -> Option<String> {
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
    fn expected(&self) -> u64 {
        let mut total = 0;
        for &s in &self.senders {
            let home = self.layout.home(s);
            let receivers = self.layout.well_behaved[home].saturating_sub(1) as u64;
            total += self.clients[s].sent * receivers;
        }
        total
    }
}

/// Appends `line` to `out`, then 'x' until its text (after ` :`) is `len` bytes
/// long, then CRLF.
fn padded_line(out: &mut Vec<u8>, len: usize, line: std::fmt::Arguments) {
    let start = out.len();
    let _ = out.write_fmt(line);
    let text_start = memchr::memmem::find(&out[start..], b" :").map_or(start, |k| start + k + 2);
    while out.len() - text_start < len {
        out.push(b'x');
    }
    out.extend_from_slice(b"\r\n");
}

/// Sets an integer socket option, best effort.
fn set_int_opt(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) {
    // SAFETY: `fd` is an open socket of the caller's and `value` lives for the call.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Starts a non-blocking connect from a socket with [`SLOW_MSS`] and
/// [`SLOW_RCVBUF`], which only count if set before the handshake. IPv4 only
/// (spawned servers listen on 127.0.0.1); other addresses get a plain connect.
fn connect_small(addr: SocketAddr) -> io::Result<TcpStream> {
    let SocketAddr::V4(v4) = addr else {
        return TcpStream::connect(addr);
    };
    let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, flags, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new socket that nothing else owns; the stream closes it.
    let sock = unsafe { std::net::TcpStream::from_raw_fd(fd) };
    set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG, SLOW_MSS);
    set_int_opt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, SLOW_RCVBUF);
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sa` is a valid sockaddr_in that lives for the call.
    let r = unsafe {
        libc::connect(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    Ok(TcpStream::from_std(sock))
}

/// `[@tags] [:source] COMMAND params` → (source nick, command, params); no
/// allocation.
fn split_line(line: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let mut rest = line;
    if rest.first() == Some(&b'@') {
        rest = &rest[memchr::memchr(b' ', rest)? + 1..];
    }
    let mut source: &[u8] = b"";
    if rest.first() == Some(&b':') {
        let end = memchr::memchr(b' ', rest)?;
        let full = &rest[1..end];
        source = &full[..memchr::memchr(b'!', full).unwrap_or(full.len())];
        rest = &rest[end + 1..];
    }
    let end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    let command = &rest[..end];
    let params = rest.get(end + 1..).unwrap_or(b"");
    Some((source, command, params))
}

/// The last parameter: after ` :` (or a leading `:`), else the last word.
fn trailing(params: &[u8]) -> &[u8] {
    if let Some(p) = params.strip_prefix(b":") {
        return p;
    }
    if let Some(k) = memchr::memmem::find(params, b" :") {
        return &params[k + 2..];
    }
    params.rsplit(|&b| b == b' ').next().unwrap_or(b"")
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0')))
}

// ---------------------------------------------------------------------------
// The server side

/// The spawned server and the memory samples taken of it.
struct Server {
    spawned: Spawned,
    pid: u32,
    peak_kb: u64,
    last_sample: Instant,
}

impl Server {
    fn rss_kb(&self) -> Option<u64> {
        procfs::status_kb(self.pid, "VmRSS")
    }

    /// Every 100 ms: checks the server is alive and updates the peak RSS.
    fn tick(&mut self) -> Result<(), String> {
        if self.last_sample.elapsed() < Duration::from_millis(100) {
            return Ok(());
        }
        self.last_sample = Instant::now();
        self.spawned.check_alive()?;
        if let Some(kb) = self.rss_kb() {
            self.peak_kb = self.peak_kb.max(kb);
        }
        Ok(())
    }
}

/// Drives `g` until `done` holds, the deadline passes (an error naming `what`) or
/// the server dies.
fn run_until(
    g: &mut Gen,
    server: &mut Server,
    events: &mut Events,
    what: &str,
    deadline: Instant,
    done: impl Fn(&Gen) -> bool,
) -> Result<(), String> {
    let mut shown = Instant::now();
    loop {
        if done(g) {
            return Ok(());
        }
        server.tick()?;
        if Instant::now() > deadline {
            return Err(format!("{what}: not done in time ({})", progress(g)));
        }
        if shown.elapsed() > Duration::from_secs(2) {
            eprintln!("chatd-bench: {what}: {}", progress(g));
            shown = Instant::now();
        }
        g.turn(events)?;
    }
}

fn progress(g: &Gen) -> String {
    format!(
        "{} registered, {} joined, {} synced of {}; {} failure(s){}",
        g.registered,
        g.joined,
        g.synced,
        g.clients.len(),
        g.failure_count,
        g.failures
            .first()
            .map(|f| format!(", first: {f}"))
            .unwrap_or_default()
    )
}

/// Connects, registers, joins and syncs every client of `g`.
fn setup(
    g: &mut Gen,
    server: &mut Server,
    events: &mut Events,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let n = g.clients.len();
    let setup_ok = |g: &Gen| g.failure_count == 0;
    run_until(g, server, events, "connect", deadline, |g| {
        g.registered == n || !setup_ok(g)
    })?;
    check_setup(g)?;
    g.set_phase(Phase::Join, Instant::now());
    run_until(g, server, events, "join", deadline, |g| {
        g.joined == n || !setup_ok(g)
    })?;
    check_setup(g)?;
    g.set_phase(Phase::Sync, Instant::now());
    run_until(g, server, events, "sync", deadline, |g| {
        g.synced == n || !setup_ok(g)
    })?;
    check_setup(g)
}

fn check_setup(g: &Gen) -> Result<(), String> {
    if g.failure_count == 0 {
        return Ok(());
    }
    let mut text = format!("{} client failure(s) during setup:", g.failure_count);
    for f in &g.failures {
        text.push_str("\n  ");
        text.push_str(f);
    }
    Err(text)
}

/// What a fresh client learns: that it is served, and how full the server is.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// Connect to `001`.
    pub register_ms: f64,
    /// PING to PONG.
    pub ping_ms: f64,
    /// From LUSERS: registered clients (the probe included), unregistered ones,
    /// channels.
    pub clients: u64,
    pub unknown: u64,
    pub channels: u64,
}

/// Connects one blocking client: registers, PINGs, asks LUSERS, quits. Each probe
/// gets a nick of its own (`<prefix><n>`), so it never waits for an earlier one to
/// be gone.
fn probe(addr: SocketAddr, prefix: &str, timeout: Duration) -> Result<Probe, String> {
    static PROBES: AtomicUsize = AtomicUsize::new(0);
    let nick = format!("{prefix}{}", PROBES.fetch_add(1, Relaxed));
    let start = Instant::now();
    let deadline = start + timeout;
    let stream = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("probe: cannot connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut w = stream
        .try_clone()
        .map_err(|e| format!("probe: cannot clone the socket: {e}"))?;
    let mut r = BufReader::new(stream);
    let send = |w: &mut std::net::TcpStream, s: &str| {
        w.write_all(s.as_bytes())
            .map_err(|e| format!("probe: write failed: {e}"))
    };
    send(
        &mut w,
        &format!("NICK {nick}\r\nUSER {nick} 0 * :probe\r\n"),
    )?;
    let mut p = Probe {
        register_ms: 0.0,
        ping_ms: 0.0,
        clients: 0,
        unknown: 0,
        channels: 0,
    };
    let mut ping_at = None;
    let mut ponged = false;
    let mut line = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("probe: no answer in time".into());
        }
        let _ = r.get_ref().set_read_timeout(Some(left));
        line.clear();
        match r.read_until(b'\n', &mut line) {
            Ok(0) => return Err("probe: the server closed the connection".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("probe: read failed: {e}")),
        }
        let l = line.strip_suffix(b"\n").unwrap_or(&line);
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        let Some((_, command, params)) = split_line(l) else {
            continue;
        };
        let text = trailing(params);
        let first_number = || {
            params
                .split(|&b| b == b' ')
                .skip(1)
                .find_map(parse_u64)
                .or_else(|| text.split(|&b| b == b' ').find_map(parse_u64))
                .unwrap_or(0)
        };
        match command {
            b"PING" => {
                let reply = format!("PONG :{}\r\n", String::from_utf8_lossy(text));
                send(&mut w, &reply)?;
            }
            b"001" => p.register_ms = start.elapsed().as_secs_f64() * 1e3,
            // End of MOTD (or no MOTD): registration is over.
            b"376" | b"422" if ping_at.is_none() => {
                ping_at = Some(Instant::now());
                send(&mut w, "PING :abuse-probe\r\nLUSERS\r\n")?;
            }
            b"PONG" if text == b"abuse-probe" => {
                if let Some(t) = ping_at {
                    p.ping_ms = t.elapsed().as_secs_f64() * 1e3;
                    ponged = true;
                }
            }
            b"253" if ping_at.is_some() => p.unknown = first_number(),
            b"254" if ping_at.is_some() => p.channels = first_number(),
            // `I have N clients and 0 servers`: the last line of LUSERS.
            b"255" if ponged => {
                p.clients = text.split(|&b| b == b' ').find_map(parse_u64).unwrap_or(0);
                let _ = send(&mut w, "QUIT :probe done\r\n");
                return Ok(p);
            }
            b"ERROR" => {
                return Err(format!(
                    "probe: the server said ERROR :{}",
                    String::from_utf8_lossy(text)
                ))
            }
            _ => {}
        }
    }
}

/// Probes until the server holds no client but the probe and no channel.
fn wait_empty(
    addr: SocketAddr,
    server: &mut Server,
    nick: &str,
    timeout: Duration,
) -> Result<Probe, String> {
    let deadline = Instant::now() + timeout;
    loop {
        server.spawned.check_alive()?;
        let p = probe(addr, nick, Duration::from_secs(10))?;
        if p.clients <= 1 && p.unknown == 0 && p.channels == 0 {
            return Ok(p);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the server still reports {} client(s), {} unregistered, {} channel(s) after everyone left",
                p.clients, p.unknown, p.channels
            ));
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// Waits `settle`, sampling the RSS; returns the last sample.
fn settle(server: &mut Server, settle: Duration) -> Result<u64, String> {
    let end = Instant::now() + settle;
    loop {
        server.tick()?;
        if Instant::now() >= end {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    server
        .rss_kb()
        .ok_or_else(|| "cannot read the server's RSS".to_string())
}

/// The config the server is started with: `--config` (if any) plus
/// [`test_settings`] for what it does not set; and those settings as they are.
fn server_config(user: Option<&Path>) -> Result<(toml::Table, BTreeMap<String, String>), String> {
    let mut table = match user {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .parse::<toml::Table>()
            .map_err(|e| format!("{} is not valid TOML: {e}", path.display()))?,
        None => toml::Table::new(),
    };
    let mut effective = BTreeMap::new();
    for (section, key, default) in test_settings() {
        let v = table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("the config's `{section}` is not a table"))?
            .entry(key)
            .or_insert(default);
        effective.insert(format!("{section}.{key}"), v.to_string());
    }
    Ok((table, effective))
}

// ---------------------------------------------------------------------------
// The run

fn run(a: &AbuseArgs, layout: Layout) -> Result<Report, String> {
    let limit =
        procfs::raise_nofile().map_err(|e| format!("cannot raise the open-file limit: {e}"))?;
    let warmup = a.warmup.unwrap_or(a.clients);
    let needed = (a.clients.max(warmup) + 64) as u64;
    if limit < needed {
        return Err(format!(
            "{} clients need about {needed} open files but the hard limit is {limit}; raise it (ulimit -n) or use fewer clients",
            a.clients
        ));
    }
    let (table, settings) = server_config(a.config.as_deref())?;
    let dir = tempfile::Builder::new()
        .prefix("chatd-bench-abuse-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let config_path = dir.path().join("abuse.toml");
    std::fs::write(
        &config_path,
        toml::to_string(&table).map_err(|e| format!("cannot write the config: {e}"))?,
    )
    .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
    let spawned = Spawned::start(&a.spawn, Some(&config_path))?;
    let addr = spawned.addr;
    let pid = spawned.pid();
    let mut server = Server {
        spawned,
        pid,
        peak_kb: 0,
        last_sample: Instant::now(),
    };
    let rss_start = server.rss_kb().unwrap_or(0);
    let mut events = Events::with_capacity(4096);
    let setup_timeout = Duration::from_secs_f64(a.setup_timeout);
    let settle_for = Duration::from_secs_f64(a.settle);
    let empty_timeout = Duration::from_secs(20);
    let started = Instant::now();

    // Phase 0: warm-up, then the baseline.
    if warmup > 0 {
        let mut w = Gen::new(addr, &layout, a, Some(warmup))
            .map_err(|e| format!("cannot create a poll: {e}"))?;
        setup(&mut w, &mut server, &mut events, setup_timeout)
            .map_err(|e| format!("warm-up: {e}"))?;
        w.leave();
    }
    let probe_nick = format!("{}probe", a.nick_prefix);
    wait_empty(addr, &mut server, &probe_nick, empty_timeout)?;
    let rss_baseline = settle(&mut server, settle_for)?;
    server.peak_kb = 0;

    // Phase 1: connect and join everyone.
    let mut g =
        Gen::new(addr, &layout, a, None).map_err(|e| format!("cannot create a poll: {e}"))?;
    let setup_start = Instant::now();
    setup(&mut g, &mut server, &mut events, setup_timeout)?;
    let setup_s = setup_start.elapsed().as_secs_f64();
    let rss_connected = server.rss_kb().unwrap_or(0);

    // Phase 2: send and abuse, until --duration and every abuser dealt with, or
    // --cutoff-timeout more.
    let cpu_before = Cpu::take(Some(pid));
    let t0 = Instant::now();
    g.set_phase(Phase::Run, t0);
    let min_end = t0 + Duration::from_secs_f64(a.duration);
    let max_end = min_end + Duration::from_secs_f64(a.cutoff_timeout);
    let mut shown = Instant::now();
    loop {
        let now = Instant::now();
        if now >= max_end || (now >= min_end && g.abusers_done()) {
            break;
        }
        server.tick()?;
        if shown.elapsed() > Duration::from_secs(5) {
            let cut = (0..g.clients.len())
                .filter(|&i| !g.role(i).well_behaved() && g.clients[i].quit.is_some())
                .count();
            eprintln!(
                "chatd-bench: {:.0} s: {} messages sent, {} abusers gone; {} failure(s)",
                g.since_t0(now),
                g.senders.iter().map(|&s| g.clients[s].sent).sum::<u64>(),
                cut,
                g.failure_count
            );
            shown = Instant::now();
        }
        g.turn(&mut events)?;
    }
    let run_s = t0.elapsed().as_secs_f64();
    g.stop_at = Some(Instant::now());
    g.set_phase(Phase::Drain, Instant::now());
    let cpu_after = Cpu::take(Some(pid));

    // Drain: the last deliveries.
    let expected = g.expected();
    let drain_deadline = Instant::now() + Duration::from_secs_f64(a.drain);
    while g.seen.progress < expected && Instant::now() < drain_deadline {
        server.tick()?;
        g.turn(&mut events)?;
    }
    // A few more passes so late duplicates would show.
    let extra = Instant::now() + Duration::from_millis(200);
    while Instant::now() < extra {
        g.turn(&mut events)?;
    }
    let rss_loaded = server.rss_kb().unwrap_or(0);

    // A fresh client, with everyone still connected.
    let fresh = probe(
        addr,
        &format!("{}fresh", a.nick_prefix),
        Duration::from_secs(10),
    );

    // Everyone leaves; the memory should come back.
    g.leave();
    let rss_peak = server.peak_kb.max(rss_connected).max(rss_loaded);
    let hwm = procfs::status_kb(pid, "VmHWM").unwrap_or(0);
    let empty = wait_empty(addr, &mut server, &probe_nick, empty_timeout);
    let rss_after = settle(&mut server, settle_for)?;
    let total_s = started.elapsed().as_secs_f64();
    server.spawned.check_alive()?;

    Ok(build_report(
        a,
        &layout,
        &g,
        Inputs {
            addr,
            pid,
            settings,
            setup_s,
            run_s,
            total_s,
            expected,
            fresh,
            empty,
            memory: Memory {
                start_kb: rss_start,
                baseline_kb: rss_baseline,
                connected_kb: rss_connected,
                peak_kb: rss_peak,
                hwm_kb: hwm,
                after_kb: rss_after,
                allowed_kb: 0,
            },
            cpu: (cpu_before, cpu_after),
        },
    ))
}

struct Inputs {
    addr: SocketAddr,
    pid: u32,
    settings: BTreeMap<String, String>,
    setup_s: f64,
    run_s: f64,
    total_s: f64,
    expected: u64,
    fresh: Result<Probe, String>,
    empty: Result<Probe, String>,
    memory: Memory,
    cpu: (Cpu, Cpu),
}

// ---------------------------------------------------------------------------
// The report

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub target: String,
    pub server: ServerInfo,
    /// The settings under test, as the server ran with them.
    pub settings: BTreeMap<String, String>,
    pub clients: usize,
    pub channels: usize,
    pub channel_size: usize,
    pub roles: BTreeMap<String, usize>,
    pub rate: f64,
    pub message_bytes: usize,
    pub slow_channels: usize,
    pub warmup: usize,
    /// Connecting, registering, joining and syncing all clients.
    pub setup_s: f64,
    /// The sending period (at least --duration, longer while abusers were left).
    pub run_s: f64,
    /// The whole run, server start to the last memory sample.
    pub total_s: f64,
    pub messages_sent: u64,
    pub deliveries_expected: u64,
    pub deliveries_received: u64,
    pub lost: u64,
    pub out_of_order: u64,
    pub latency_ms: Option<Latency>,
    pub well_behaved_disconnected: usize,
    /// Deliveries of flood lines to well-behaved clients (the flood burst each
    /// flooder was allowed before fakelag).
    pub flood_deliveries: u64,
    /// Deliveries of the unfinished lines abrupt clients left behind (should be 0).
    pub partial_lines_delivered: u64,
    /// Per role: how many the server cut off, and for which reasons.
    pub cut_off: BTreeMap<String, CutOff>,
    pub fresh_client: Option<Probe>,
    pub memory: Memory,
    pub server_cpu_s: Option<f64>,
    pub bench_cpu_s: Option<f64>,
    pub other_cpu_s: Option<f64>,
    pub nproc: usize,
    pub loadavg: [f64; 3],
    pub pings_answered: u64,
    pub checks: Vec<Check>,
    pub failures: usize,
    pub failure_samples: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CutOff {
    pub clients: usize,
    pub gone: usize,
    pub reasons: BTreeMap<String, usize>,
    /// Seconds from the start of the abuse (flooders: their first flood line;
    /// slow readers: the start of the sending; abrupt: their close) to the QUIT
    /// others saw: median and max.
    pub seconds_p50: Option<f64>,
    pub seconds_max: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    /// VmRSS right after the server started.
    pub start_kb: u64,
    /// After the warm-up, the server empty again, and --settle seconds.
    pub baseline_kb: u64,
    /// With every client connected and joined.
    pub connected_kb: u64,
    /// The highest sample (every 100 ms) from connecting to everyone leaving.
    pub peak_kb: u64,
    /// VmHWM when everyone left.
    pub hwm_kb: u64,
    /// Once everyone left, the server was empty again and --settle seconds passed.
    pub after_kb: u64,
    /// The most `after_kb` may be.
    pub allowed_kb: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

fn build_report(a: &AbuseArgs, layout: &Layout, g: &Gen, mut x: Inputs) -> Report {
    let mut lost_tail = 0;
    for (i, c) in g.clients.iter().enumerate() {
        if !layout.roles[i].well_behaved() {
            continue;
        }
        let home = layout.home(i);
        for (slot, &s) in layout.senders[home].iter().enumerate() {
            if s != i {
                lost_tail += g.clients[s].sent.saturating_sub(c.next_seq[slot]);
            }
        }
    }
    let lost = g.seen.gaps + lost_tail;
    let sent: u64 = g.senders.iter().map(|&s| g.clients[s].sent).sum();
    let wb_closed = (0..g.clients.len())
        .filter(|&i| layout.roles[i].well_behaved() && g.clients[i].closed.is_some())
        .count();

    let mut cut_off = BTreeMap::new();
    for (role, name) in [
        (Role::Flooder, "flooder"),
        (Role::SlowReader, "slow-reader"),
        (Role::Abrupt, "abrupt"),
    ] {
        let members: Vec<usize> = (0..g.clients.len())
            .filter(|&i| layout.roles[i] == role)
            .collect();
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut times = Vec::new();
        for &i in &members {
            if let Some(r) = g.cut_reason(i) {
                *reasons.entry(r).or_default() += 1;
            }
            if let Some((_, at)) = &g.clients[i].quit {
                let from = g.clients[i].acted_at.unwrap_or(0.0);
                times.push((at - from).max(0.0));
            }
        }
        times.sort_by(f64::total_cmp);
        cut_off.insert(
            name.to_string(),
            CutOff {
                clients: members.len(),
                gone: reasons.values().sum(),
                reasons,
                seconds_p50: times.get(times.len() / 2).copied(),
                seconds_max: times.last().copied(),
            },
        );
    }

    let m = &mut x.memory;
    let tolerance =
        (m.baseline_kb as f64 * a.rss_tolerance_pct / 100.0).max(a.rss_tolerance_mib * 1024.0);
    m.allowed_kb = m.baseline_kb + tolerance as u64;

    let mut checks = Vec::new();
    let mut check =
        |name: &'static str, ok: bool, detail: String| checks.push(Check { name, ok, detail });
    check(
        "well-behaved clients got every message in order",
        lost == 0 && g.seen.out_of_order == 0 && g.seen.delivered == x.expected && sent > 0,
        format!(
            "{} of {} deliveries, {lost} lost, {} duplicated or out of order",
            g.seen.delivered, x.expected, g.seen.out_of_order
        ),
    );
    check(
        "no well-behaved client was disconnected",
        wb_closed == 0,
        format!("{wb_closed} disconnected"),
    );
    for (name, role, reason) in [
        (
            "flooders cut off for Excess Flood",
            "flooder",
            "Excess Flood",
        ),
        (
            "slow readers cut off for SendQ exceeded",
            "slow-reader",
            "SendQ exceeded",
        ),
    ] {
        let c = &cut_off[role];
        let right = c.reasons.get(reason).copied().unwrap_or(0);
        let mut detail = format!("{right} of {}; reasons seen: {:?}", c.clients, c.reasons);
        if role == "slow-reader" && c.gone < c.clients {
            let _ = write!(
                detail,
                "; {} still connected when the sending stopped (too little traffic to fill a SendQ in time? raise --slow-channels, --senders-per-channel or --cutoff-timeout)",
                c.clients - c.gone
            );
        }
        check(name, right == c.clients, detail);
    }
    let ab = &cut_off["abrupt"];
    check(
        "abrupt disconnects noticed",
        ab.gone == ab.clients,
        format!("{} of {}", ab.gone, ab.clients),
    );
    check(
        "no unfinished line was delivered",
        g.seen.partial_delivered == 0,
        format!("{} delivered", g.seen.partial_delivered),
    );
    match &x.fresh {
        Ok(p) => check(
            "a fresh client is served",
            true,
            format!(
                "registered in {:.1} ms, PING answered in {:.1} ms, with {} clients connected",
                p.register_ms, p.ping_ms, p.clients
            ),
        ),
        Err(e) => check("a fresh client is served", false, e.clone()),
    }
    match &x.empty {
        Ok(_) => check(
            "the server is empty once everyone left",
            true,
            "1 client (the probe), 0 channels".into(),
        ),
        Err(e) => check("the server is empty once everyone left", false, e.clone()),
    }
    check(
        "memory back near the baseline",
        m.after_kb <= m.allowed_kb,
        format!(
            "{} after, baseline {}, allowed up to {} (max of {}% and {} MiB over)",
            mib(m.after_kb),
            mib(m.baseline_kb),
            mib(m.allowed_kb),
            a.rss_tolerance_pct,
            a.rss_tolerance_mib
        ),
    );
    check(
        "no client failures",
        g.failure_count == 0,
        format!("{} failure(s)", g.failure_count),
    );

    let (before, after) = &x.cpu;
    let procfs::CpuSeconds {
        server: server_cpu_s,
        bench: bench_cpu_s,
        other: other_cpu_s,
    } = before.until(after);
    let h = &g.seen.latency;
    let latency_ms = (g.seen.delivered > 0).then(|| Latency {
        p50: h.value_at_quantile(0.50) as f64 / 1e6,
        p99: h.value_at_quantile(0.99) as f64 / 1e6,
        p999: h.value_at_quantile(0.999) as f64 / 1e6,
        max: h.max() as f64 / 1e6,
        mean: h.mean() / 1e6,
    });
    let mut roles = BTreeMap::new();
    for (role, name) in [
        (Role::Listener, "listener"),
        (Role::Sender, "sender"),
        (Role::Flooder, "flooder"),
        (Role::SlowReader, "slow-reader"),
        (Role::Abrupt, "abrupt"),
    ] {
        roles.insert(name.to_string(), layout.count(role));
    }
    Report {
        scenario: "abuse",
        target: x.addr.to_string(),
        server: ServerInfo {
            pid: Some(x.pid),
            spawned: Some(a.spawn.display().to_string()),
            config: a.config.as_ref().map(|c| c.display().to_string()),
        },
        settings: x.settings,
        clients: a.clients,
        channels: layout.channels,
        channel_size: a.channel_size,
        roles,
        rate: a.rate,
        message_bytes: a.message_bytes,
        slow_channels: layout.slow_channels,
        warmup: a.warmup.unwrap_or(a.clients),
        setup_s: x.setup_s,
        run_s: x.run_s,
        total_s: x.total_s,
        messages_sent: sent,
        deliveries_expected: x.expected,
        deliveries_received: g.seen.delivered,
        lost,
        out_of_order: g.seen.out_of_order,
        latency_ms,
        well_behaved_disconnected: wb_closed,
        flood_deliveries: g.seen.flood_delivered,
        partial_lines_delivered: g.seen.partial_delivered,
        cut_off,
        fresh_client: x.fresh.ok(),
        memory: x.memory,
        server_cpu_s,
        bench_cpu_s,
        other_cpu_s,
        nproc: thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        loadavg: procfs::loadavg(),
        pings_answered: g.seen.pings_answered,
        checks,
        failures: g.failure_count,
        failure_samples: g.failures.clone(),
    }
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

impl Report {
    pub fn text(&self) -> String {
        let mut o = String::new();
        let _ = self.write_text(&mut o);
        o
    }

    fn write_text(&self, o: &mut String) -> std::fmt::Result {
        let role = |r: &str| self.roles.get(r).copied().unwrap_or(0);
        writeln!(
            o,
            "chatd-bench abuse: {} connections in {} channels of {}: {} listeners, {} senders at {} msg/s, {} flooders, {} slow readers (in {} channels each), {} abrupt",
            self.clients,
            self.channels,
            self.channel_size,
            role("listener"),
            role("sender"),
            self.rate,
            role("flooder"),
            role("slow-reader"),
            self.slow_channels,
            role("abrupt"),
        )?;
        let settings: Vec<String> = self
            .settings
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        writeln!(
            o,
            "server       {}, pid {}, spawned {}; {}",
            self.target,
            self.server.pid.unwrap_or(0),
            self.server.spawned.as_deref().unwrap_or("?"),
            settings.join(", ")
        )?;
        writeln!(
            o,
            "timing       setup {:.1} s, sending {:.1} s, whole run {:.1} s",
            self.setup_s, self.run_s, self.total_s
        )?;
        writeln!(
            o,
            "delivery     {} messages sent; {} of {} deliveries to well-behaved clients, {} lost, {} out of order",
            self.messages_sent,
            self.deliveries_received,
            self.deliveries_expected,
            self.lost,
            self.out_of_order
        )?;
        if let Some(l) = &self.latency_ms {
            writeln!(
                o,
                "latency      p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
                l.p50, l.p99, l.p999, l.max
            )?;
        }
        for (name, c) in self.cut_off.iter().filter(|(_, c)| c.clients > 0) {
            let reasons: Vec<String> = c
                .reasons
                .iter()
                .map(|(r, n)| format!("{n} \"{r}\""))
                .collect();
            write!(
                o,
                "{:<12} {} of {} gone: {}",
                name,
                c.gone,
                c.clients,
                reasons.join(", ")
            )?;
            if let (Some(p50), Some(max)) = (c.seconds_p50, c.seconds_max) {
                write!(o, "; after {p50:.2} s (median), {max:.2} s (max)")?;
            }
            writeln!(o)?;
        }
        writeln!(
            o,
            "abuse        {} deliveries of flood lines (the flood burst); {} of unfinished lines",
            self.flood_deliveries, self.partial_lines_delivered
        )?;
        if let Some(p) = &self.fresh_client {
            writeln!(
                o,
                "fresh client registered in {:.1} ms, PING answered in {:.1} ms",
                p.register_ms, p.ping_ms
            )?;
        }
        let m = &self.memory;
        writeln!(
            o,
            "memory       server RSS {} at start, {} baseline (after {} warm-up clients), {} all connected, peak {} (VmHWM {}), {} after everyone left (allowed {})",
            mib(m.start_kb),
            mib(m.baseline_kb),
            self.warmup,
            mib(m.connected_kb),
            mib(m.peak_kb),
            mib(m.hwm_kb),
            mib(m.after_kb),
            mib(m.allowed_kb)
        )?;
        let d = self.run_s.max(1e-9);
        let cpu = |v: Option<f64>| {
            v.map(|s| format!("{s:.2} s ({:.2} cores)", s / d))
                .unwrap_or_else(|| "?".into())
        };
        writeln!(
            o,
            "cpu          during the sending: server {}, generator {}, other processes {}",
            cpu(self.server_cpu_s),
            cpu(self.bench_cpu_s),
            cpu(self.other_cpu_s)
        )?;
        writeln!(
            o,
            "machine      {} cores, load average {:.2} {:.2} {:.2}",
            self.nproc, self.loadavg[0], self.loadavg[1], self.loadavg[2]
        )?;
        for c in &self.checks {
            writeln!(
                o,
                "{}  {}: {}",
                if c.ok { "PASS" } else { "FAIL" },
                c.name,
                c.detail
            )?;
        }
        if self.failures > 0 {
            writeln!(o, "failures     {}:", self.failures)?;
            for f in &self.failure_samples {
                writeln!(o, "  {f}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: AbuseArgs,
    }

    fn args(extra: &[&str]) -> AbuseArgs {
        let mut v = vec!["abuse", "--spawn", "chatd"];
        v.extend_from_slice(extra);
        Cli::try_parse_from(v).unwrap().a
    }

    #[test]
    fn roles_are_spread_over_the_channels() {
        let l = Layout::new(&args(&[])).unwrap();
        assert_eq!(l.channels, 50);
        assert_eq!(l.count(Role::Sender), 200);
        assert_eq!(l.count(Role::Flooder), 300);
        assert_eq!(l.count(Role::SlowReader), 300);
        assert_eq!(l.count(Role::Abrupt), 300);
        assert_eq!(l.count(Role::Listener), 8900);
        assert!(l.senders.iter().all(|s| s.len() == 4));
        assert!(l.well_behaved.iter().all(|&n| n == 182));
        let slow = l.roles.iter().position(|&r| r == Role::SlowReader).unwrap();
        assert_eq!(l.joins[slow].len(), 16);
        assert_eq!(l.joins[slow][0] as usize, slow % 50);
        let ways: Vec<_> = (0..l.roles.len()).filter_map(|i| l.abrupt_way[i]).collect();
        assert_eq!(ways.iter().filter(|&&w| w == Abrupt::Stall).count(), 100);
    }

    #[test]
    fn refuses_layouts_without_listeners() {
        // Two channels of 200; the flags of `extra` replace these.
        let small = |extra: &[&str]| {
            let mut v = vec![];
            for (flag, value) in [
                ("--clients", "400"),
                ("--flooders", "10"),
                ("--slow-readers", "10"),
                ("--abrupt", "10"),
                ("--slow-channels", "2"),
            ] {
                if !extra.contains(&flag) {
                    v.extend([flag, value]);
                }
            }
            v.extend_from_slice(extra);
            Layout::new(&args(&v))
        };
        assert!(small(&[]).is_ok());
        // 8 senders, 380 flooders and 20 other abusers leave no room for a
        // listener in each of the two channels.
        assert!(small(&["--flooders", "370"]).is_ok());
        assert!(small(&["--flooders", "380"]).is_err());
        // There are only two channels.
        assert!(small(&["--slow-channels", "3"]).is_err());
        assert!(small(&["--message-bytes", "401"]).is_err());
    }

    #[test]
    fn splits_lines() {
        let (s, c, p) = split_line(b"@time=x :ab1!ab1@h QUIT :Excess Flood").unwrap();
        assert_eq!(
            (s, c, trailing(p)),
            (&b"ab1"[..], &b"QUIT"[..], &b"Excess Flood"[..])
        );
        let (s, c, p) = split_line(b"PING :tok").unwrap();
        assert_eq!((s, c, trailing(p)), (&b""[..], &b"PING"[..], &b"tok"[..]));
        let (_, c, p) = split_line(b":srv PONG srv :abuse-sync").unwrap();
        assert_eq!((c, trailing(p)), (&b"PONG"[..], &b"abuse-sync"[..]));
        let (_, c, p) = split_line(b":srv PONG srv abuse-sync").unwrap();
        assert_eq!((c, trailing(p)), (&b"PONG"[..], &b"abuse-sync"[..]));
        let (_, c, p) = split_line(b":a!b@c PRIVMSG #abuse1 :a 3 4 5 xxx").unwrap();
        assert_eq!((c, trailing(p)), (&b"PRIVMSG"[..], &b"a 3 4 5 xxx"[..]));
        assert_eq!(parse_u64(b"123"), Some(123));
        assert_eq!(parse_u64(b"12x"), None);
        assert_eq!(parse_u64(b""), None);
    }

    #[test]
    fn pads_texts_to_length() {
        let mut out = b"PING x\r\n".to_vec();
        padded_line(
            &mut out,
            40,
            format_args!("PRIVMSG #a :a {} {} {} ", 1, 2, 3),
        );
        assert!(out.starts_with(b"PING x\r\nPRIVMSG #a :a 1 2 3 x"));
        let text = &out[8 + 12..out.len() - 2];
        assert_eq!(text.len(), 40);
        assert!(out.ends_with(b"x\r\n"));
    }

    #[test]
    fn keeps_the_real_limits_unless_told() {
        let (_, s) = server_config(None).unwrap();
        assert_eq!(s["limits.flood_burst"], "20");
        assert_eq!(s["limits.sendq_bytes"], "1048576");
        assert_eq!(s["history.log_messages"], "false");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[limits]\nsendq_bytes = 65536\n[history]\nlog_messages = true\n",
        )
        .unwrap();
        let (t, s) = server_config(Some(&path)).unwrap();
        assert_eq!(s["limits.sendq_bytes"], "65536");
        assert_eq!(s["limits.flood_rate"], "5");
        assert_eq!(s["history.log_messages"], "true");
        let text = toml::to_string(&t).unwrap();
        assert!(text.contains("flood_rate = 5") && text.contains("log_messages = true"));
    }
}
