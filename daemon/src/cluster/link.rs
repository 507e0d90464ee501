//! The bus threads. The command thread owns one Redis connection: it refreshes this
//! node's heartbeat key, claims and releases nicks, publishes events (`XADD`, many
//! in one round trip), and watches the other nodes' heartbeats (a node whose key
//! expired is dead: its nicks are freed and the loop told). While Redis cannot be
//! reached it keeps what it could not publish, in order and within bounds, and
//! publishes it first when Redis is back. The listener thread (`stream.rs`) reads
//! the streams and hands each event to the loop. Both reconnect on their own, with
//! backoff.
//!
//! Keys: `chatd:alive:<id>` (the node's name and its run's token, expiring after
//! `node_timeout_secs`), `chatd:nodes` (the set of node ids), `chatd:nick:<folded
//! nick>` (the id of the node holding it), `chatd:nicks:<id>` (the nicks a node
//! holds). Streams (capped at about `stream_length` entries each): `chatd:all` and
//! `chatd:node:<id>`.

use super::stream::{self, connect, node_stream, Listener, Wake, ALL, MAX_BACKOFF};
use super::{Bus, Event, FromBus, Health, ToBus};
use redis::{Client, Commands, Connection};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most requests taken off the loop's channel at once (publications in one pipeline).
const MAX_BATCH: usize = 1024;
/// Most events kept while Redis cannot be reached (the oldest are dropped beyond)...
const MAX_PENDING: usize = 10_000;
/// ... and most bytes of them.
const MAX_PENDING_BYTES: usize = 16 << 20;
/// How often a node whose id is held checks whether the holder's key expired.
const ID_POLL: Duration = Duration::from_millis(250);

/// Refreshes `KEYS[1]` (this node's alive key) with `ARGV[1]` (its name and token)
/// for `ARGV[2]` ms if it holds that value or nothing; 0 if another run holds it.
const REFRESH_IF_MINE: &str = "local v = redis.call('GET', KEYS[1]) \
    if v == false or v == ARGV[1] then \
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end return 0";

/// Deletes `KEYS[1]` only if it still holds `ARGV[1]` (a nick this node holds).
const DEL_IF_MINE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

fn alive_key(node: u16) -> String {
    format!("chatd:alive:{node}")
}
fn nick_key(nick: &str) -> String {
    format!("chatd:nick:{nick}")
}
fn nicks_key(node: u16) -> String {
    format!("chatd:nicks:{node}")
}

/// What `start` needs of `[cluster]`: `node_id`, its name, `redis`,
/// `node_timeout_secs` and `stream_length`.
pub struct Settings<'a> {
    pub node: u16,
    pub name: String,
    pub url: &'a str,
    /// `cluster.redis_ca_file` (empty: the system's roots).
    pub ca_file: &'a str,
    pub timeout_secs: u64,
    pub stream_length: usize,
}

/// Connects to Redis, takes this node's id (waiting up to `node_timeout_secs` for
/// an earlier run's key to expire; refused while a live node has it), frees the
/// nicks an earlier run of this node left, and starts the bus threads.
pub fn start(settings: Settings<'_>, wake: Wake) -> Result<Bus, String> {
    let Settings {
        node,
        name,
        url,
        ca_file,
        timeout_secs,
        stream_length,
    } = settings;
    let client = client(url, ca_file)?;
    let mut con = connect(&client).map_err(|e| format!("cannot reach Redis: {e}"))?;
    let ttl = timeout_secs.max(1) * 1000;
    let mine = format!("{name} {:016x}", rand::random::<u64>());
    take_id(&mut con, node, &mine, ttl)?;
    free_nicks(&mut con, node).map_err(|e| format!("Redis: {e}"))?;
    let _: () = con
        .sadd("chatd:nodes", node)
        .map_err(|e| format!("Redis: {e}"))?;
    // Where this node starts reading, taken before its hello is published, so the
    // other nodes' answers (their bursts) are read even if the reader connects late.
    let cursors = stream::cursors_at_end(&mut con, node).map_err(|e| format!("Redis: {e}"))?;
    // This run's publisher token: in every entry it writes (with a sequence number),
    // so readers order and deduplicate, and its own reader skips its entries.
    let token = rand::random::<u64>() | 1 << 63;
    let (tx, requests) = mpsc::channel();
    // The hello goes first, before any of this node's users is announced: a node
    // that saw one of them has already answered it with its burst.
    let hello = Event::Hello {
        node,
        name: name.clone(),
    };
    let _ = tx.send(ToBus::Publish {
        to: None,
        event: hello,
    });
    let (events, rx) = mpsc::channel();
    let health = Arc::new(Health::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut commands = Commander {
        client: client.clone(),
        con: Some(con),
        node,
        mine,
        token,
        seq: 0,
        stream_length,
        ttl,
        events: events.clone(),
        wake: wake.clone(),
        peers: HashSet::new(),
        quiet_until: Instant::now(),
        retry_at: Instant::now(),
        backoff: Duration::from_millis(100),
        pending: VecDeque::new(),
        pending_bytes: 0,
        dropped: 0,
        silenced: false,
    };
    let listener = Listener {
        token,
        client,
        node,
        events,
        wake,
        health: health.clone(),
        stop: stop.clone(),
    };
    let threads = vec![
        std::thread::Builder::new()
            .name("chatd-bus".into())
            .spawn(move || commands.run(requests))
            .map_err(|e| format!("cannot start the bus thread: {e}"))?,
        std::thread::Builder::new()
            .name("chatd-bus-sub".into())
            .spawn(move || listener.run(cursors))
            .map_err(|e| format!("cannot start the bus thread: {e}"))?,
    ];
    log::info!("cluster: node {node} ({name}) joined the bus");
    Ok(Bus {
        node,
        name,
        tx,
        rx,
        health,
        threads,
        stop,
    })
}

/// Takes `chatd:alive:<node>` with `mine` (this run's name and token). When another
/// run holds it, waits (up to `ttl` and a second more) for its key to expire: an
/// earlier run killed without leaving stops refreshing it, a live node does not.
fn take_id(con: &mut Connection, node: u16, mine: &str, ttl: u64) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_millis(ttl + 1000);
    let mut told = false;
    loop {
        let taken: Option<String> = redis::cmd("SET")
            .arg(alive_key(node))
            .arg(mine)
            .arg("NX")
            .arg("PX")
            .arg(ttl)
            .query(con)
            .map_err(|e| format!("Redis: {e}"))?;
        if taken.is_some() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let holder: Option<String> = con.get(alive_key(node)).unwrap_or(None);
            let holder = holder.unwrap_or_default();
            let holder = holder.split(' ').next().unwrap_or_default();
            return Err(format!(
                "cluster.node_id {node} is in use by a live node ({holder}); each node \
                 needs its own id (a node that died frees its id within \
                 cluster.node_timeout_secs)"
            ));
        }
        if !told {
            told = true;
            log::info!(
                "cluster: waiting up to {} s for node id {node}'s earlier run to expire",
                ttl / 1000 + 1
            );
        }
        std::thread::sleep(ID_POLL);
    }
}

/// The Redis client for `url`; with `ca_file`, a TLS link checks Redis's certificate
/// against that PEM file alone.
fn client(url: &str, ca_file: &str) -> Result<Client, String> {
    // The URL may hold a password: never repeat it in an error.
    let unusable = |e: redis::RedisError| {
        format!("cluster.redis is not a usable Redis URL ({})", e.category())
    };
    // Small writes (a pipeline's last segment, a read request) go at once: with
    // Nagle's algorithm they could wait for a delayed ACK.
    let tcp = redis::io::tcp::TcpSettings::default().set_nodelay(true);
    let info = redis::IntoConnectionInfo::into_connection_info(url)
        .map_err(unusable)?
        .set_tcp_settings(tcp);
    if ca_file.is_empty() {
        return Client::open(info).map_err(unusable);
    }
    let pem =
        std::fs::read(ca_file).map_err(|e| format!("cluster.redis_ca_file {ca_file}: {e}"))?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!(
            "cluster.redis_ca_file {ca_file}: no PEM certificate in it"
        ));
    }
    let certs = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    };
    Client::build_with_tls(info, certs).map_err(unusable)
}

/// Frees every nick `node` holds (a dead node, or this node's earlier run).
fn free_nicks(con: &mut Connection, node: u16) -> redis::RedisResult<usize> {
    let nicks: Vec<String> = con.smembers(nicks_key(node))?;
    let script = redis::Script::new(DEL_IF_MINE);
    for nick in &nicks {
        let _: i64 = script.key(nick_key(nick)).arg(node).invoke(con)?;
    }
    let _: () = con.del(nicks_key(node))?;
    Ok(nicks.len())
}

/// The command thread's state.
struct Commander {
    client: Client,
    /// `None` while Redis cannot be reached.
    con: Option<Connection>,
    node: u16,
    /// The alive key's value: this node's name and this run's token.
    mine: String,
    /// This run's token and the number of its last publication: each stream entry
    /// carries both, so a reader can keep one node's events in its order across
    /// the two streams.
    token: u64,
    seq: u64,
    /// `MAXLEN ~` of every `XADD`.
    stream_length: usize,
    ttl: u64,
    events: Sender<FromBus>,
    wake: Wake,
    /// Nodes seen alive: checked at every heartbeat until their key expires.
    peers: HashSet<u16>,
    /// No node is declared dead before this (just after a reconnection, when the
    /// others may not have refreshed their keys in a restarted Redis yet).
    quiet_until: Instant,
    retry_at: Instant,
    backoff: Duration,
    /// Publications not made yet (Redis was unreachable): (stream, entry), oldest
    /// first, published before anything newer.
    pending: VecDeque<(String, String)>,
    /// The bytes of `pending`'s entries.
    pending_bytes: usize,
    /// Publications dropped beyond the bounds of `pending` (logged when Redis is back).
    dropped: u64,
    /// Another node took this id: nothing more is published or freed (`lose_id`).
    silenced: bool,
}

impl Commander {
    fn run(&mut self, requests: mpsc::Receiver<ToBus>) {
        let beat = Duration::from_millis((self.ttl / 3).max(100));
        let mut next_beat = Instant::now() + beat;
        loop {
            // With publications waiting for Redis, wake up for the next attempt.
            let mut until = next_beat;
            if !self.pending.is_empty() {
                until = until.min(
                    self.retry_at
                        .max(Instant::now() + Duration::from_millis(20)),
                );
            }
            let wait = until.saturating_duration_since(Instant::now());
            match requests.recv_timeout(wait) {
                Ok(request) => {
                    // Everything already waiting goes too: consecutive publications
                    // in one pipeline (one round trip), the rest in order.
                    let mut batch = vec![request];
                    while batch.len() < MAX_BATCH {
                        match requests.try_recv() {
                            Ok(r) => batch.push(r),
                            Err(_) => break,
                        }
                    }
                    self.handle_batch(batch);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if !self.pending.is_empty() && Instant::now() >= self.retry_at {
                self.flush();
            }
            if Instant::now() >= next_beat {
                self.heartbeat();
                next_beat = Instant::now() + beat;
            }
        }
        // Leaving: publish what is left, free this node's nicks and id at once
        // (nothing, when another node took the id).
        if self.silenced {
            return;
        }
        if self.con.is_some() {
            self.flush();
        }
        if !self.pending.is_empty() {
            log::warn!(
                "cluster: {} events could not be published before leaving (Redis is \
                 unreachable)",
                self.pending.len()
            );
        }
        if let Some(con) = self.con.as_mut() {
            let _ = free_nicks(con, self.node);
            let _: redis::RedisResult<i64> = redis::Script::new(DEL_IF_MINE)
                .key(alive_key(self.node))
                .arg(&self.mine)
                .invoke(con);
            let _: redis::RedisResult<()> = con.srem("chatd:nodes", self.node);
        }
    }

    /// The connection, reconnecting (at most once per backoff period) if it was lost.
    fn con(&mut self) -> Option<&mut Connection> {
        if self.con.is_none() && Instant::now() >= self.retry_at {
            match connect(&self.client) {
                Ok(mut con) => {
                    let back = refresh(&mut con, self.node, &self.mine, self.ttl);
                    if back == Ok(false) {
                        self.lose_id(&mut con);
                    }
                    let _: redis::RedisResult<()> = con.sadd("chatd:nodes", self.node);
                    if back.is_ok() {
                        log::info!("cluster: Redis is reachable again");
                        if self.dropped > 0 {
                            log::warn!(
                                "cluster: {} events could not be published while Redis was \
                                 unreachable and were dropped (only the newest {MAX_PENDING} \
                                 or {} MiB are kept; the other nodes get this node's state \
                                 again in its burst)",
                                self.dropped,
                                MAX_PENDING_BYTES >> 20
                            );
                            self.dropped = 0;
                        }
                        self.backoff = Duration::from_millis(100);
                        self.quiet_until = Instant::now() + Duration::from_millis(self.ttl);
                        self.con = Some(con);
                    }
                }
                Err(_) => {
                    self.retry_at = Instant::now() + self.backoff;
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        self.con.as_mut()
    }

    /// Runs `f` on the connection; a failure drops the connection (to reconnect).
    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, String> {
        let Some(con) = self.con() else {
            return Err("Redis is unreachable".into());
        };
        match f(con) {
            Ok(v) => Ok(v),
            Err(e) => {
                log::warn!("cluster: Redis: {e}");
                if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                    self.con = None;
                    self.retry_at = Instant::now() + self.backoff;
                }
                Err(format!("Redis: {e}"))
            }
        }
    }

    /// Runs requests in order; consecutive publications go in one pipeline.
    fn handle_batch(&mut self, batch: Vec<ToBus>) {
        if self.silenced {
            // Stopping (`lose_id`): a claim is answered, the rest dropped.
            for request in batch {
                if let ToBus::Claim { ticket, .. } = request {
                    let result = Err("this node is stopping".to_string());
                    let _ = self.events.send(FromBus::Claimed { ticket, result });
                    (self.wake)();
                }
            }
            return;
        }
        let mut queued = false;
        for request in batch {
            match request {
                ToBus::Publish { to, event } => {
                    let stream = to.map_or_else(|| ALL.to_string(), node_stream);
                    match serde_json::to_string(&event) {
                        Ok(payload) => {
                            self.keep(stream, payload);
                            queued = true;
                        }
                        Err(e) => log::error!("cluster: cannot encode an event: {e}"),
                    }
                }
                other => {
                    if std::mem::take(&mut queued) {
                        self.flush();
                    }
                    self.handle(other);
                }
            }
        }
        if queued {
            self.flush();
        }
    }

    /// Adds a publication to the queue, dropping the oldest beyond its bounds.
    fn keep(&mut self, stream: String, payload: String) {
        self.pending_bytes += stream.len() + payload.len();
        self.pending.push_back((stream, payload));
        while self.pending.len() > MAX_PENDING || self.pending_bytes > MAX_PENDING_BYTES {
            let Some((stream, payload)) = self.pending.pop_front() else {
                break;
            };
            self.pending_bytes -= stream.len() + payload.len();
            if self.dropped == 0 {
                log::warn!(
                    "cluster: more than {MAX_PENDING} events or {} MiB wait for Redis: the \
                     oldest are dropped",
                    MAX_PENDING_BYTES >> 20
                );
            }
            self.dropped += 1;
        }
    }

    /// Publishes the queue (`XADD`s in pipelines, one round trip each), oldest first;
    /// what cannot be published stays queued.
    fn flush(&mut self) {
        while !self.pending.is_empty() {
            let n = self.pending.len().min(MAX_BATCH);
            let mut pipe = redis::pipe();
            for (i, (stream, payload)) in self.pending.iter().take(n).enumerate() {
                pipe.cmd("XADD")
                    .arg(stream)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(self.stream_length)
                    .arg("*")
                    .arg("e")
                    .arg(payload)
                    .arg("p")
                    .arg(self.token)
                    .arg("s")
                    .arg(self.seq + 1 + i as u64)
                    .ignore();
            }
            if let Err(e) = self.with(|con| pipe.query::<()>(con)) {
                if self.con.is_none() {
                    return;
                }
                // Redis answered but refused: trying again would not help.
                log::error!("cluster: {n} events could not be published ({e})");
            }
            self.seq += n as u64;
            for (stream, payload) in self.pending.drain(..n) {
                self.pending_bytes -= stream.len() + payload.len();
            }
        }
    }

    fn handle(&mut self, request: ToBus) {
        let node = self.node;
        match request {
            ToBus::Publish { .. } => self.handle_batch(vec![request]),
            ToBus::Claim { ticket, nick } => {
                let result = self.with(|con| claim(con, node, &nick));
                let _ = self.events.send(FromBus::Claimed { ticket, result });
                (self.wake)();
            }
            ToBus::Hold { nick } => {
                if let Ok(false) = self.with(|con| claim(con, node, &nick)) {
                    log::warn!("cluster: nick {nick} is held here and by another node");
                }
            }
            ToBus::Release { nick } => {
                let _ = self.with(|con| {
                    let _: i64 = redis::Script::new(DEL_IF_MINE)
                        .key(nick_key(&nick))
                        .arg(node)
                        .invoke(con)?;
                    con.srem::<_, _, ()>(nicks_key(node), &nick)
                });
            }
        }
    }

    /// Another live node took this node's id: every message id this node gives out
    /// could be the other's too. It publishes nothing more (its users' QUITs would
    /// name the other node's users: serials are per run) and frees nothing of the
    /// id's, and the loop stops the node (exit code 6, as at start).
    fn lose_id(&mut self, con: &mut Connection) {
        let holder: Option<String> = con.get(alive_key(self.node)).unwrap_or(None);
        let holder = holder.unwrap_or_default();
        let why = format!(
            "another node took cluster.node_id {} ({}): two live nodes share this id \
             (each node needs its own id)",
            self.node,
            holder.split(' ').next().unwrap_or_default()
        );
        log::error!("cluster: {why}; stopping");
        self.silenced = true;
        self.pending.clear();
        self.pending_bytes = 0;
        let _ = self.events.send(FromBus::IdTaken(why));
        (self.wake)();
    }

    /// Refreshes this node's key and looks for nodes whose key expired.
    fn heartbeat(&mut self) {
        if self.silenced {
            return;
        }
        let (node, mine, ttl) = (self.node, self.mine.clone(), self.ttl);
        let nodes = self.with(|con| {
            let ours = refresh(con, node, &mine, ttl)?;
            Ok((ours, con.smembers::<_, Vec<u16>>("chatd:nodes")?))
        });
        let Ok((ours, nodes)) = nodes else {
            return;
        };
        if !ours {
            if let Some(mut con) = self.con.take() {
                self.lose_id(&mut con);
                self.con = Some(con);
            }
            return;
        }
        let candidates: HashSet<u16> = nodes
            .into_iter()
            .chain(self.peers.iter().copied())
            .filter(|&n| n != node)
            .collect();
        for peer in candidates {
            let Ok(alive) = self.with(|con| con.exists::<_, bool>(alive_key(peer))) else {
                return;
            };
            if alive {
                self.peers.insert(peer);
                continue;
            }
            if Instant::now() < self.quiet_until {
                continue;
            }
            let freed = self.with(|con| {
                let n = free_nicks(con, peer)?;
                con.srem::<_, _, ()>("chatd:nodes", peer)?;
                Ok(n)
            });
            if freed.is_ok() {
                log::warn!("cluster: node {peer} stopped its heartbeat: its users are gone");
                self.peers.remove(&peer);
                let _ = self.events.send(FromBus::NodeDown { node: peer });
                (self.wake)();
            }
        }
    }
}

/// Refreshes this node's alive key (`mine`: its name and this run's token):
/// `Ok(false)` when another run holds it (two live nodes share this id).
fn refresh(con: &mut Connection, node: u16, mine: &str, ttl: u64) -> redis::RedisResult<bool> {
    let ours: i64 = redis::Script::new(REFRESH_IF_MINE)
        .key(alive_key(node))
        .arg(mine)
        .arg(ttl)
        .invoke(con)?;
    Ok(ours != 0)
}

/// `SET chatd:nick:<nick> <node> NX`: whether this node has the nick now.
fn claim(con: &mut Connection, node: u16, nick: &str) -> redis::RedisResult<bool> {
    con.sadd::<_, _, ()>(nicks_key(node), nick)?;
    let set: Option<String> = redis::cmd("SET")
        .arg(nick_key(nick))
        .arg(node)
        .arg("NX")
        .query(con)?;
    if set.is_some() {
        return Ok(true);
    }
    let holder: Option<u16> = con.get(nick_key(nick))?;
    if holder == Some(node) {
        return Ok(true);
    }
    con.srem::<_, _, ()>(nicks_key(node), nick)?;
    Ok(false)
}
