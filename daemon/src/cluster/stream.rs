//! The listener thread: reads the two Redis streams this node follows (`chatd:all`,
//! every node's events, and `chatd:node:<id>`, the events addressed to it) with
//! `XREAD BLOCK`, and hands each event to the loop in order. It starts at the
//! streams' ends (a new node learns the state from the bursts, not from history) and,
//! after a reconnection, resumes from the last entries it handled: what was published
//! while it was away is handed on then. Entries the streams' `MAXLEN` trimmed before
//! it could read them are counted in the log (the bursts exchanged at reconnection
//! repair the state; the messages among them are lost).
//!
//! Each entry holds the event (`e`, JSON), its publisher's run token (`p`) and the
//! publisher's sequence number (`s`): entries of the two streams are merged by entry
//! id, and two entries of one publisher in the order it published them.

use super::{Event, FromBus, Health};
use redis::{Client, Connection, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long to wait for Redis to answer or accept a connection.
pub(super) const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest pause between two reconnection attempts.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Most entries read from one stream at once.
const READ_COUNT: usize = 1024;
/// How long one `XREAD` waits for new entries (the stop flag is checked between).
const BLOCK_MS: u64 = 250;

pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// The stream every node reads.
pub(super) const ALL: &str = "chatd:all";
/// The stream of the events addressed to `node`.
pub(super) fn node_stream(node: u16) -> String {
    format!("chatd:node:{node}")
}

pub(super) fn connect(client: &Client) -> redis::RedisResult<Connection> {
    let con = client.get_connection_with_timeout(IO_TIMEOUT)?;
    con.set_read_timeout(Some(IO_TIMEOUT))?;
    con.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(con)
}

/// A stream entry id (`<ms>-<seq>`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Id {
    ms: u64,
    seq: u64,
}

impl Id {
    fn parse(s: &str) -> Option<Id> {
        let (ms, seq) = s.split_once('-')?;
        Some(Id {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Where the listener is in one stream.
pub(super) struct Cursor {
    key: String,
    /// The last entry handled (`0-0`: none, and the stream was empty at start).
    last: Id,
    /// How many entries the stream had received up to `last` (its `entries-added`
    /// then), to count the ones trimmed before they were read.
    seen: u64,
    /// Whether the start position was taken (at the first connection).
    placed: bool,
}

/// One entry read.
struct Entry {
    id: Id,
    /// The publisher's run token and sequence number.
    publisher: u64,
    seq: u64,
    payload: String,
}

/// The listener thread's state.
pub(super) struct Listener {
    pub client: Client,
    pub node: u16,
    pub events: Sender<FromBus>,
    pub wake: Wake,
    pub health: Arc<Health>,
    pub stop: Arc<AtomicBool>,
    /// This run's publisher token: its own entries are skipped unread.
    pub token: u64,
}

/// The two streams' cursors (`chatd:all`, `chatd:node:<node>`), placed at their
/// current ends. Taken at start, before the node's hello is published, so that
/// nothing published after it (the other nodes' bursts in answer) is missed even if
/// the reader's own connection comes later.
pub(super) fn cursors_at_end(con: &mut Connection, node: u16) -> redis::RedisResult<[Cursor; 2]> {
    let mut cursors = [ALL.to_string(), node_stream(node)].map(|key| Cursor {
        key,
        last: Id::default(),
        seen: 0,
        placed: false,
    });
    for cursor in cursors.iter_mut() {
        place(con, cursor)?;
    }
    Ok(cursors)
}

impl Listener {
    /// Reads from `cursors` (see [`cursors_at_end`]) until the bus stops.
    pub fn run(self, mut cursors: [Cursor; 2]) {
        let mut first = true;
        let mut delivered = Delivered::default();
        let mut backoff = Duration::from_millis(100);
        let mut told_down = false;
        while !self.stop.load(Ordering::SeqCst) {
            let why = match self.listen(&mut cursors, &mut delivered, &mut first) {
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

    /// Reads the streams and hands on events until the connection fails (`Err`) or
    /// the bus stops (`Ok`).
    fn listen(
        &self,
        cursors: &mut [Cursor; 2],
        delivered: &mut Delivered,
        first: &mut bool,
    ) -> Result<(), String> {
        let fail = |e: redis::RedisError| format!("Redis: {e}");
        let mut con = connect(&self.client).map_err(|e| format!("cannot reach Redis: {e}"))?;
        // A name operators (and tests) can find in CLIENT LIST.
        let _: redis::RedisResult<()> = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(format!("chatd-listen-{}", self.node))
            .query(&mut con);
        for cursor in cursors.iter_mut() {
            place(&mut con, cursor).map_err(fail)?;
        }
        self.health.up.store(true, Ordering::SeqCst);
        // The hello that went with the start; a reconnection says it again.
        let hello = !std::mem::take(first);
        let _ = self.events.send(FromBus::Up { hello });
        (self.wake)();
        loop {
            if self.stop.load(Ordering::SeqCst) {
                self.health.up.store(false, Ordering::SeqCst);
                return Ok(());
            }
            let reply: Value = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(READ_COUNT)
                .arg("BLOCK")
                .arg(BLOCK_MS)
                .arg("STREAMS")
                .arg(&cursors[0].key)
                .arg(&cursors[1].key)
                .arg(cursors[0].last.to_string())
                .arg(cursors[1].last.to_string())
                .query(&mut con)
                .map_err(fail)?;
            let mut batches: [Vec<Entry>; 2] = Default::default();
            for (key, entries) in streams(reply) {
                let Some(i) = cursors.iter().position(|c| c.key.as_bytes() == key) else {
                    continue;
                };
                batches[i] = entries_of(entries);
            }
            self.hand_on(cursors, batches, delivered);
        }
    }

    /// Hands on the entries read from both streams, merged: by entry id, except that
    /// two entries of one publisher go in the order it published them. A stream that
    /// gave a full batch may have more before the other's later entries: those wait
    /// for the next read.
    fn hand_on(
        &self,
        cursors: &mut [Cursor; 2],
        batches: [Vec<Entry>; 2],
        delivered: &mut Delivered,
    ) {
        let horizon = batches
            .iter()
            .filter(|b| b.len() >= READ_COUNT)
            .filter_map(|b| b.last().map(|e| e.id))
            .min();
        let mut next = [0usize; 2];
        loop {
            let heads = [batches[0].get(next[0]), batches[1].get(next[1])];
            let pick = match heads {
                [None, None] => return,
                [Some(_), None] => 0,
                [None, Some(_)] => 1,
                [Some(x), Some(y)] => {
                    let x_waits = earlier_of_same(&batches[1][next[1]..], x);
                    let y_waits = earlier_of_same(&batches[0][next[0]..], y);
                    match (x_waits, y_waits) {
                        (true, false) => 1,
                        (false, true) => 0,
                        _ if y.id.ms < x.id.ms => 1,
                        _ => 0,
                    }
                }
            };
            let entry = &batches[pick][next[pick]];
            if horizon.is_some_and(|h| entry.id > h) {
                return;
            }
            next[pick] += 1;
            cursors[pick].last = entry.id;
            cursors[pick].seen += 1;
            if entry.publisher != self.token && delivered.first_time(entry) {
                self.deliver(&entry.payload);
            }
        }
    }

    fn deliver(&self, payload: &str) {
        match serde_json::from_str::<Event>(payload) {
            Ok(event) if event.node() == self.node => {}
            Ok(event) => {
                let _ = self.events.send(FromBus::Event(event));
                (self.wake)();
            }
            Err(e) => log::warn!("cluster: a bus event not understood: {e}"),
        }
    }
}

/// The entries handed on lately, by publisher (run token) and sequence number: an
/// entry published twice (a pipeline Redis ran in part before the connection broke
/// is sent again, with the same numbers) is handed on once. A retry resends at most
/// one pipeline, so the last `REMEMBERED` entries are enough.
#[derive(Default)]
struct Delivered {
    seen: std::collections::HashSet<(u64, u64)>,
    order: std::collections::VecDeque<(u64, u64)>,
}

/// Entries [`Delivered`] remembers (16 pipelines' worth).
const REMEMBERED: usize = 16 * 1024;

impl Delivered {
    /// Whether `entry` was not handed on before (and is now counted as handed on).
    fn first_time(&mut self, entry: &Entry) -> bool {
        if entry.seq == 0 {
            return true;
        }
        let key = (entry.publisher, entry.seq);
        if !self.seen.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

/// Whether `rest` (another stream's unread entries) holds an entry `entry`'s
/// publisher published before it (only entries of the same millisecond or earlier
/// can be).
fn earlier_of_same(rest: &[Entry], entry: &Entry) -> bool {
    rest.iter()
        .take_while(|e| e.id.ms <= entry.id.ms)
        .any(|e| e.publisher == entry.publisher && e.seq < entry.seq)
}

/// What `XINFO STREAM` says of a stream.
struct Info {
    last_generated: Id,
    first: Option<Id>,
    length: u64,
    /// `entries-added` (Redis 7 and later).
    added: Option<u64>,
}

/// `XINFO STREAM key`; `None` when there is no such stream.
fn info(con: &mut Connection, key: &str) -> redis::RedisResult<Option<Info>> {
    let exists: bool = redis::cmd("EXISTS").arg(key).query(con)?;
    if !exists {
        return Ok(None);
    }
    let reply: Value = redis::cmd("XINFO").arg("STREAM").arg(key).query(con)?;
    let mut info = Info {
        last_generated: Id::default(),
        first: None,
        length: 0,
        added: None,
    };
    for (name, value) in pairs(reply) {
        match name.as_slice() {
            b"length" => info.length = int(&value).unwrap_or(0),
            b"entries-added" => info.added = int(&value),
            b"last-generated-id" => {
                info.last_generated = text(&value).and_then(|t| Id::parse(&t)).unwrap_or_default();
            }
            b"first-entry" => {
                info.first = items(value)
                    .into_iter()
                    .next()
                    .and_then(|v| text(&v))
                    .and_then(|t| Id::parse(&t));
            }
            _ => {}
        }
    }
    Ok(Some(info))
}

/// Takes a cursor's position at a (re)connection. The first time: the stream's end.
/// Later: where it was, saying in the log if entries after it were trimmed away or
/// the stream is new (Redis restarted empty).
fn place(con: &mut Connection, cursor: &mut Cursor) -> redis::RedisResult<()> {
    let info = info(con, &cursor.key)?;
    let key = &cursor.key;
    if !cursor.placed {
        cursor.placed = true;
        if let Some(info) = info {
            cursor.last = info.last_generated;
            cursor.seen = info.added.unwrap_or(0);
        }
        return Ok(());
    }
    let Some(info) = info else {
        if cursor.seen > 0 {
            log::info!(
                "cluster: Redis no longer has {key} (restarted empty?): reading the new \
                 one from its start"
            );
        }
        cursor.seen = 0;
        return Ok(());
    };
    if info.first.is_some_and(|first| first <= cursor.last) {
        return Ok(());
    }
    // The last entry handled is gone: trimmed (the stream went on without this
    // node), or the stream is a new one.
    let Some(added) = info.added else {
        log::warn!(
            "cluster: {key} was trimmed past the last event this node read (an unknown \
             number of events lost here; the bursts exchanged now repair who is where, \
             messages among them are lost): raise cluster.stream_length"
        );
        return Ok(());
    };
    let deleted = added.saturating_sub(info.length);
    let lost = if deleted >= cursor.seen && info.last_generated >= cursor.last {
        deleted - cursor.seen
    } else {
        log::info!(
            "cluster: {key} is a new stream (Redis restarted empty?): reading it from its start"
        );
        deleted
    };
    if lost > 0 {
        log::warn!(
            "cluster: {lost} events of {key} were trimmed (cluster.stream_length) before \
             this node could read them: the bursts exchanged now repair who is where; \
             the messages among them are lost here"
        );
    }
    cursor.seen = deleted;
    Ok(())
}

/// The (name, value) pairs of a map reply (a RESP3 map, or a RESP2 flat array).
fn pairs(reply: Value) -> Vec<(Vec<u8>, Value)> {
    match reply {
        Value::Map(map) => map
            .into_iter()
            .filter_map(|(k, v)| Some((bytes(k)?, v)))
            .collect(),
        Value::Array(items) => {
            let mut out = Vec::new();
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                out.extend(bytes(k).map(|k| (k, v)));
            }
            out
        }
        _ => Vec::new(),
    }
}

/// The (stream, entries) of an `XREAD` reply (`Nil` when nothing came).
fn streams(reply: Value) -> Vec<(Vec<u8>, Value)> {
    if let Value::Map(_) = reply {
        return pairs(reply);
    }
    items(reply)
        .into_iter()
        .filter_map(|pair| {
            let mut p = items(pair).into_iter();
            Some((bytes(p.next()?)?, p.next()?))
        })
        .collect()
}

/// The entries of one stream in an `XREAD` reply: `[[id, [field, value, ...]], ...]`.
fn entries_of(entries: Value) -> Vec<Entry> {
    let mut out = Vec::new();
    for entry in items(entries) {
        let mut parts = items(entry).into_iter();
        let Some(id) = parts
            .next()
            .and_then(|v| text(&v))
            .and_then(|t| Id::parse(&t))
        else {
            continue;
        };
        let mut e = Entry {
            id,
            publisher: 0,
            seq: 0,
            payload: String::new(),
        };
        for (name, value) in pairs(parts.next().unwrap_or(Value::Nil)) {
            match name.as_slice() {
                b"e" => e.payload = text(&value).unwrap_or_default(),
                b"p" => e.publisher = int(&value).unwrap_or(0),
                b"s" => e.seq = int(&value).unwrap_or(0),
                _ => {}
            }
        }
        out.push(e);
    }
    out
}

fn items(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) | Value::Set(items) => items,
        _ => Vec::new(),
    }
}

fn bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        other => text(other)?.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(node: u16) -> String {
        serde_json::to_string(&Event::Hello {
            node,
            name: format!("n{node}"),
        })
        .unwrap()
    }

    fn entry(ms: u64, publisher: u64, seq: u64, node: u16) -> Entry {
        Entry {
            id: Id { ms, seq: 0 },
            publisher,
            seq,
            payload: hello(node),
        }
    }

    fn listener() -> (Listener, std::sync::mpsc::Receiver<FromBus>) {
        let (events, rx) = std::sync::mpsc::channel();
        let listener = Listener {
            client: Client::open("redis://127.0.0.1:1/").unwrap(),
            node: 9,
            events,
            wake: Arc::new(|| {}),
            health: Arc::new(Health::default()),
            stop: Arc::new(AtomicBool::new(false)),
            token: 1,
        };
        (listener, rx)
    }

    fn nodes_handed_on(rx: &std::sync::mpsc::Receiver<FromBus>) -> Vec<u16> {
        rx.try_iter()
            .map(|e| match e {
                FromBus::Event(event) => event.node(),
                _ => 0,
            })
            .collect()
    }

    fn cursors() -> [Cursor; 2] {
        [ALL.to_string(), node_stream(9)].map(|key| Cursor {
            key,
            last: Id::default(),
            seen: 0,
            placed: true,
        })
    }

    /// An entry sent twice (a pipeline retried after a broken connection) is handed
    /// on once; another publisher's numbers are its own.
    #[test]
    fn a_publisher_s_entry_is_handed_on_once() {
        let mut d = Delivered::default();
        assert!(d.first_time(&entry(1, 7, 1, 1)));
        assert!(d.first_time(&entry(1, 7, 2, 1)));
        assert!(!d.first_time(&entry(2, 7, 2, 1)), "the same entry again");
        assert!(!d.first_time(&entry(2, 7, 1, 1)), "an earlier one again");
        assert!(d.first_time(&entry(2, 8, 1, 2)), "another run's first");
        assert!(
            d.first_time(&entry(3, 7, 5, 1)),
            "a gap (sent to other nodes)"
        );
        assert!(
            d.first_time(&entry(3, 7, 4, 1)),
            "an earlier one never seen"
        );
        for seq in 100..100 + REMEMBERED as u64 {
            assert!(d.first_time(&entry(4, 7, seq, 1)));
        }
        assert_eq!(d.seen.len(), REMEMBERED, "bounded");
    }

    /// The two streams merged: by time, but one publisher's entries in the order it
    /// published them even when the later one has the earlier time in the other
    /// stream (a burst to this node, then an event to everyone); duplicates dropped.
    #[test]
    fn the_streams_merge_in_each_publisher_s_order() {
        let (l, rx) = listener();
        let mut c = cursors();
        let mut d = Delivered::default();
        // Node 1 published seq 1 to this node and seq 2 to all in the same
        // millisecond; node 2 one event to all before them. Merged by time, node 2's
        // first, then node 1's burst before its later event.
        let all = vec![entry(3, 20, 1, 2), entry(4, 10, 2, 3)];
        let mine = vec![entry(4, 10, 1, 1)];
        l.hand_on(&mut c, [all, mine], &mut d);
        assert_eq!(nodes_handed_on(&rx), vec![2, 1, 3]);
        // Read again after a reconnection: nothing twice.
        l.hand_on(&mut c, [vec![entry(4, 10, 2, 3)], vec![]], &mut d);
        assert!(nodes_handed_on(&rx).is_empty());
    }
}
