//! The bus threads. The command thread owns one Redis connection: it refreshes this
//! node's heartbeat key, claims and releases nicks, publishes events, and watches the
//! other nodes' heartbeats (a node whose key expired is dead: its nicks are freed and
//! the loop told). The subscriber thread owns the subscribed connection and hands
//! each event to the loop. Both reconnect on their own, with backoff.
//!
//! Keys: `chatd:alive:<id>` (the node's name, expiring after `node_timeout_secs`),
//! `chatd:nodes` (the set of node ids), `chatd:nick:<folded nick>` (the id of the
//! node holding it), `chatd:nicks:<id>` (the nicks a node holds). Channels:
//! `chatd:all` and `chatd:node:<id>`.

use super::{Bus, Event, FromBus, Health, ToBus};
use redis::{Client, Commands, Connection};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long to wait for Redis to answer or accept a connection.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Most requests taken off the loop's channel at once (publications in one pipeline).
const MAX_BATCH: usize = 1024;
/// The longest pause between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Deletes `KEYS[1]` only if it still holds `ARGV[1]` (a nick this node holds).
const DEL_IF_MINE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

pub type Wake = Arc<dyn Fn() + Send + Sync>;

fn alive_key(node: u16) -> String {
    format!("chatd:alive:{node}")
}
fn nick_key(nick: &str) -> String {
    format!("chatd:nick:{nick}")
}
fn nicks_key(node: u16) -> String {
    format!("chatd:nicks:{node}")
}
pub(super) const ALL: &str = "chatd:all";
pub(super) fn node_channel(node: u16) -> String {
    format!("chatd:node:{node}")
}

/// Connects to Redis, takes this node's id (refused while a live node has it), frees
/// the nicks an earlier run of this node left, and starts the bus threads.
/// `node`, `name`, `url` and `timeout_secs` are `[cluster]`'s `node_id`, its name,
/// `redis` and `node_timeout_secs`.
pub fn start(
    node: u16,
    name: String,
    url: &str,
    timeout_secs: u64,
    wake: Wake,
) -> Result<Bus, String> {
    // The URL may hold a password: never repeat it in an error.
    let client = Client::open(url)
        .map_err(|e| format!("cluster.redis is not a usable Redis URL ({})", e.category()))?;
    let mut con = connect(&client).map_err(|e| format!("cannot reach Redis: {e}"))?;
    let ttl = timeout_secs.max(1) * 1000;
    let taken: Option<String> = redis::cmd("SET")
        .arg(alive_key(node))
        .arg(&name)
        .arg("NX")
        .arg("PX")
        .arg(ttl)
        .query(&mut con)
        .map_err(|e| format!("Redis: {e}"))?;
    if taken.is_none() {
        let holder: Option<String> = con.get(alive_key(node)).unwrap_or(None);
        return Err(format!(
            "cluster.node_id {node} is in use by a live node ({}); each node needs its \
             own id (a node that died frees its id within cluster.node_timeout_secs)",
            holder.unwrap_or_default()
        ));
    }
    free_nicks(&mut con, node).map_err(|e| format!("Redis: {e}"))?;
    let _: () = con
        .sadd("chatd:nodes", node)
        .map_err(|e| format!("Redis: {e}"))?;
    let (tx, requests) = mpsc::channel();
    let (events, rx) = mpsc::channel();
    let health = Arc::new(Health::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut commands = Commander {
        client: client.clone(),
        con: Some(con),
        node,
        name: name.clone(),
        ttl,
        events: events.clone(),
        wake: wake.clone(),
        peers: HashSet::new(),
        quiet_until: Instant::now(),
        retry_at: Instant::now(),
        backoff: Duration::from_millis(100),
        dropped: 0,
    };
    let listener = Listener {
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
            .spawn(move || listener.run())
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

fn connect(client: &Client) -> redis::RedisResult<Connection> {
    let con = client.get_connection_with_timeout(IO_TIMEOUT)?;
    con.set_read_timeout(Some(IO_TIMEOUT))?;
    con.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(con)
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
    name: String,
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
    /// Publications lost while Redis was unreachable (logged when it is back).
    dropped: u64,
}

impl Commander {
    fn run(&mut self, requests: mpsc::Receiver<ToBus>) {
        let beat = Duration::from_millis((self.ttl / 3).max(100));
        let mut next_beat = Instant::now() + beat;
        loop {
            let wait = next_beat.saturating_duration_since(Instant::now());
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
            if Instant::now() >= next_beat {
                self.heartbeat();
                next_beat = Instant::now() + beat;
            }
        }
        // Leaving: free this node's nicks and id at once.
        if let Some(con) = self.con.as_mut() {
            let _ = free_nicks(con, self.node);
            let _: redis::RedisResult<()> = con.del(alive_key(self.node));
            let _: redis::RedisResult<()> = con.srem("chatd:nodes", self.node);
        }
    }

    /// The connection, reconnecting (at most once per backoff period) if it was lost.
    fn con(&mut self) -> Option<&mut Connection> {
        if self.con.is_none() && Instant::now() >= self.retry_at {
            match connect(&self.client) {
                Ok(mut con) => {
                    let back: redis::RedisResult<()> = redis::cmd("SET")
                        .arg(alive_key(self.node))
                        .arg(&self.name)
                        .arg("PX")
                        .arg(self.ttl)
                        .query(&mut con);
                    let _: redis::RedisResult<()> = con.sadd("chatd:nodes", self.node);
                    if back.is_ok() {
                        log::info!("cluster: Redis is reachable again");
                        if self.dropped > 0 {
                            log::warn!(
                                "cluster: {} events could not be published while Redis was \
                                 unreachable (the other nodes get this node's state again \
                                 in its burst)",
                                self.dropped
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
        let mut pipe = redis::pipe();
        let mut queued = 0u64;
        for request in batch {
            match request {
                ToBus::Publish { to, event } => {
                    let channel = to.map_or_else(|| ALL.to_string(), node_channel);
                    match serde_json::to_string(&event) {
                        Ok(payload) => {
                            pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
                            queued += 1;
                        }
                        Err(e) => log::error!("cluster: cannot encode an event: {e}"),
                    }
                }
                other => {
                    self.publish(&mut pipe, &mut queued);
                    self.handle(other);
                }
            }
        }
        self.publish(&mut pipe, &mut queued);
    }

    /// Sends the publications queued in `pipe` (one round trip), and empties it.
    fn publish(&mut self, pipe: &mut redis::Pipeline, queued: &mut u64) {
        if *queued == 0 {
            return;
        }
        if self.with(|con| pipe.query::<()>(con)).is_err() {
            self.dropped += *queued;
        }
        pipe.clear();
        *queued = 0;
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

    /// Refreshes this node's key and looks for nodes whose key expired.
    fn heartbeat(&mut self) {
        let (node, name, ttl) = (self.node, self.name.clone(), self.ttl);
        let nodes = self.with(|con| {
            redis::cmd("SET")
                .arg(alive_key(node))
                .arg(&name)
                .arg("PX")
                .arg(ttl)
                .query::<()>(con)?;
            con.smembers::<_, Vec<u16>>("chatd:nodes")
        });
        let Ok(nodes) = nodes else {
            return;
        };
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

/// The subscriber thread's state.
struct Listener {
    client: Client,
    node: u16,
    events: Sender<FromBus>,
    wake: Wake,
    health: Arc<Health>,
    stop: Arc<AtomicBool>,
}

impl Listener {
    fn run(&self) {
        let mut backoff = Duration::from_millis(100);
        let mut told_down = false;
        while !self.stop.load(Ordering::SeqCst) {
            let why = match self.listen() {
                Ok(()) => return,
                Err(why) => why,
            };
            if self.health.up.swap(false, Ordering::SeqCst) || !told_down {
                log::warn!("cluster: the bus is down: {why}");
                let _ = self.events.send(FromBus::Down(why));
                (self.wake)();
                told_down = true;
            }
            let until = Instant::now() + backoff;
            while Instant::now() < until && !self.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
            if self.health.is_up() {
                backoff = Duration::from_millis(100);
            }
        }
    }

    /// Subscribes and hands on events until the connection fails (`Err`) or the bus
    /// stops (`Ok`).
    fn listen(&self) -> Result<(), String> {
        let mut con = connect(&self.client).map_err(|e| format!("cannot reach Redis: {e}"))?;
        let mut sub = con.as_pubsub();
        sub.subscribe(&[ALL.to_string(), node_channel(self.node)])
            .map_err(|e| format!("Redis: {e}"))?;
        sub.set_read_timeout(Some(Duration::from_millis(250)))
            .map_err(|e| format!("Redis: {e}"))?;
        self.health.up.store(true, Ordering::SeqCst);
        let _ = self.events.send(FromBus::Up);
        (self.wake)();
        loop {
            if self.stop.load(Ordering::SeqCst) {
                self.health.up.store(false, Ordering::SeqCst);
                return Ok(());
            }
            let msg = match sub.get_message() {
                Ok(msg) => msg,
                Err(e) if e.is_timeout() => continue,
                Err(e) => return Err(format!("Redis: {e}")),
            };
            let payload: String = match msg.get_payload() {
                Ok(p) => p,
                Err(e) => {
                    log::warn!("cluster: an unreadable bus message: {e}");
                    continue;
                }
            };
            match serde_json::from_str::<Event>(&payload) {
                Ok(event) if event.node() == self.node => {}
                Ok(event) => {
                    let _ = self.events.send(FromBus::Event(event));
                    (self.wake)();
                }
                Err(e) => log::warn!("cluster: a bus message not understood: {e}"),
            }
        }
    }
}
