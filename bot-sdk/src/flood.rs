//! Outgoing flood control: the [`TokenBucket`] that paces lines, the [`Clock`] it
//! reads (injectable, so tests count lines over a controlled time), the [`Outbox`]
//! queue in front of the socket, and [`split_text`] for replies over the line limit.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where flood control reads the time. [`SystemClock`] in real use; [`ManualClock`]
/// in tests, where time moves only when the test says so.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that stands still until [`ManualClock::advance`] moves it. Clones share
/// the same time. After advancing a running bot's clock, call
/// [`Handle::wake`](crate::Handle::wake) so it looks at its queue again.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Instant>>,
}

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock {
            now: Arc::new(Mutex::new(Instant::now())),
        }
    }

    pub fn advance(&self, by: Duration) {
        *self.now.lock().expect("clock lock is never poisoned") += by;
    }
}

impl Default for ManualClock {
    fn default() -> ManualClock {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.now.lock().expect("clock lock is never poisoned")
    }
}

/// How fast a bot may send: `burst` lines at once, then one more line per
/// `interval`. The default (5 lines, then one a second) stays under the flood
/// limits of common IRC servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flood {
    pub burst: u32,
    /// Time to earn one more line; zero means no limit.
    pub interval: Duration,
    /// Lines that may wait in the queue; more are dropped (and logged).
    pub max_queue: usize,
}

impl Flood {
    pub fn new(burst: u32, interval: Duration) -> Flood {
        Flood {
            burst: burst.max(1),
            interval,
            ..Flood::default()
        }
    }

    /// No pacing at all: only for servers you run yourself.
    pub fn unlimited() -> Flood {
        Flood::new(1, Duration::ZERO)
    }
}

impl Default for Flood {
    fn default() -> Flood {
        Flood {
            burst: 5,
            interval: Duration::from_secs(1),
            max_queue: 1000,
        }
    }
}

/// A token bucket: holds up to `capacity` tokens, earns one per `interval`, and
/// each line sent spends one. Time comes in as an argument, so it is a pure
/// function of the instants it is shown.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: u32,
    interval: Duration,
    tokens: u32,
    /// When the partial token now being earned started.
    since: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(flood: Flood, now: Instant) -> TokenBucket {
        TokenBucket {
            capacity: flood.burst.max(1),
            interval: flood.interval,
            tokens: flood.burst.max(1),
            since: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        if self.tokens >= self.capacity {
            // A full bucket earns nothing: the next token starts counting now.
            self.since = now;
            return;
        }
        let elapsed = now.saturating_duration_since(self.since);
        let earned = (elapsed.as_nanos() / self.interval.as_nanos().max(1)) as u64;
        if earned == 0 {
            return;
        }
        let room = u64::from(self.capacity - self.tokens);
        if earned >= room {
            self.tokens = self.capacity;
            self.since = now;
        } else {
            self.tokens += earned as u32;
            self.since += self.interval * earned as u32;
        }
    }

    /// Spends a token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        if self.interval.is_zero() {
            return true;
        }
        self.refill(now);
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }

    /// Tokens available at `now`.
    pub fn available(&mut self, now: Instant) -> u32 {
        if self.interval.is_zero() {
            return u32::MAX;
        }
        self.refill(now);
        self.tokens
    }

    /// How long after `now` the next token arrives (zero when one is there).
    pub fn wait(&mut self, now: Instant) -> Duration {
        if self.interval.is_zero() {
            return Duration::ZERO;
        }
        self.refill(now);
        if self.tokens > 0 {
            return Duration::ZERO;
        }
        (self.since + self.interval).saturating_duration_since(now)
    }
}

/// Lines waiting for tokens. Registration, PONG and QUIT skip the queue
/// ([`Outbox::push_urgent`]): they must not wait behind a long reply.
#[derive(Debug)]
pub(crate) struct Outbox {
    urgent: VecDeque<Vec<u8>>,
    queue: VecDeque<Vec<u8>>,
    bucket: TokenBucket,
    flood: Flood,
    clock: Arc<dyn Clock>,
    /// Lines handed to the socket since the bot started.
    pub sent: u64,
    /// Lines dropped because the queue was full.
    pub dropped: u64,
}

impl Outbox {
    pub fn new(flood: Flood, clock: Arc<dyn Clock>) -> Outbox {
        let bucket = TokenBucket::new(flood, clock.now());
        Outbox {
            urgent: VecDeque::new(),
            queue: VecDeque::new(),
            bucket,
            flood,
            clock,
            sent: 0,
            dropped: 0,
        }
    }

    /// A new connection: nothing waiting, a full bucket.
    pub fn reset(&mut self) {
        self.urgent.clear();
        self.queue.clear();
        self.bucket = TokenBucket::new(self.flood, self.clock.now());
    }

    pub fn push(&mut self, line: Vec<u8>) {
        if self.queue.len() >= self.flood.max_queue {
            self.dropped += 1;
            log::warn!(
                "outgoing queue full ({} lines): line dropped",
                self.queue.len()
            );
            return;
        }
        self.queue.push_back(line);
    }

    /// Queues a line even when the queue is full (QUIT, after everything else).
    pub fn push_last(&mut self, line: Vec<u8>) {
        self.queue.push_back(line);
    }

    /// How long the queued lines need to go out at the flood rate.
    pub fn drain_time(&self) -> Duration {
        self.flood.interval * self.queue.len().min(u32::MAX as usize) as u32
    }

    pub fn push_urgent(&mut self, line: Vec<u8>) {
        self.urgent.push_back(line);
    }

    /// Lines waiting for a token.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The lines that may go now: every urgent one, then as many queued ones as
    /// there are tokens.
    pub fn release(&mut self) -> Vec<Vec<u8>> {
        let now = self.clock.now();
        let mut out: Vec<Vec<u8>> = self.urgent.drain(..).collect();
        while !self.queue.is_empty() && self.bucket.try_take(now) {
            out.extend(self.queue.pop_front());
        }
        self.sent += out.len() as u64;
        out
    }

    /// How long until queued lines may go again; `None` when nothing waits.
    pub fn next_release(&mut self) -> Option<Duration> {
        if self.queue.is_empty() && self.urgent.is_empty() {
            return None;
        }
        if !self.urgent.is_empty() {
            return Some(Duration::ZERO);
        }
        Some(self.bucket.wait(self.clock.now()))
    }
}

/// Splits `text` into pieces of at most `max_bytes` bytes each, never inside a
/// UTF-8 character. A piece ends at the last space when one is in its second half
/// (the space is dropped); otherwise at the last character that fits. A single
/// character wider than `max_bytes` still makes a piece of its own.
pub fn split_text(text: &str, max_bytes: usize) -> Vec<&str> {
    let max = max_bytes.max(1);
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut == 0 {
            cut = rest
                .chars()
                .next()
                .map(char::len_utf8)
                .expect("rest is longer than max, so not empty");
        }
        let (piece, next) = match rest[..cut].rfind(' ') {
            Some(space) if space >= cut / 2 && space > 0 => (&rest[..space], &rest[space + 1..]),
            _ => (&rest[..cut], &rest[cut..]),
        };
        pieces.push(piece);
        rest = next;
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_releases_burst_then_one_per_interval() {
        let clock = ManualClock::new();
        let t0 = clock.now();
        let mut b = TokenBucket::new(Flood::new(3, Duration::from_secs(2)), t0);
        let taken = (0..10).filter(|_| b.try_take(t0)).count();
        assert_eq!(taken, 3);
        assert_eq!(b.wait(t0), Duration::from_secs(2));
        // Half an interval earns nothing; a whole one earns one line.
        assert!(!b.try_take(t0 + Duration::from_secs(1)));
        assert_eq!(b.wait(t0 + Duration::from_secs(1)), Duration::from_secs(1));
        assert!(b.try_take(t0 + Duration::from_secs(2)));
        assert!(!b.try_take(t0 + Duration::from_secs(2)));
        // Five intervals later the bucket is full again, but holds no more than 3.
        let later = t0 + Duration::from_secs(12);
        assert_eq!(b.available(later), 3);
        let taken = (0..10).filter(|_| b.try_take(later)).count();
        assert_eq!(taken, 3);
    }

    #[test]
    fn partial_tokens_are_kept() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(Flood::new(1, Duration::from_millis(100)), t0);
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0 + Duration::from_millis(60)));
        assert!(b.try_take(t0 + Duration::from_millis(100)));
        assert!(!b.try_take(t0 + Duration::from_millis(160)));
        assert!(b.try_take(t0 + Duration::from_millis(200)));
    }

    #[test]
    fn unlimited_never_waits() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(Flood::unlimited(), t0);
        assert!((0..10_000).all(|_| b.try_take(t0)));
        assert_eq!(b.wait(t0), Duration::ZERO);
    }

    #[test]
    fn outbox_counts_released_lines_over_controlled_time() {
        let clock = ManualClock::new();
        let mut out = Outbox::new(
            Flood::new(4, Duration::from_millis(500)),
            Arc::new(clock.clone()),
        );
        for i in 0..20 {
            out.push(format!("PRIVMSG #c :{i}\r\n").into_bytes());
        }
        out.push_urgent(b"PONG :x\r\n".to_vec());
        let first = out.release();
        assert_eq!(first.len(), 5, "the urgent line and a burst of 4");
        assert_eq!(first[0], b"PONG :x\r\n");
        assert!(out.release().is_empty());
        assert_eq!(out.next_release(), Some(Duration::from_millis(500)));
        clock.advance(Duration::from_millis(1500));
        assert_eq!(out.release().len(), 3);
        clock.advance(Duration::from_secs(60));
        assert_eq!(out.release().len(), 4, "never more than the burst at once");
        assert_eq!(out.queued(), 20 - 4 - 3 - 4);
        assert_eq!(out.sent, 12);
    }

    #[test]
    fn split_cases() {
        let cases: &[(&str, usize, &[&str])] = &[
            ("short", 10, &["short"]),
            ("", 10, &[""]),
            ("abcdefghij", 4, &["abcd", "efgh", "ij"]),
            ("hello world again", 12, &["hello world", "again"]),
            // No space in the second half: cut at the limit.
            ("a bcdefghijkl", 6, &["a bcde", "fghijk", "l"]),
            // Two-byte é and three-byte € never split.
            ("ééééé", 5, &["éé", "éé", "é"]),
            ("€€€", 4, &["€", "€", "€"]),
            ("€", 2, &["€"]),
        ];
        for (text, max, want) in cases {
            assert_eq!(&split_text(text, *max), want, "{text:?} at {max}");
        }
    }

    #[test]
    fn split_pieces_fit_and_rejoin() {
        let text = "Grüße aus Köln, 東京 und Zürich! ".repeat(40);
        for max in [7, 50, 100, 400] {
            let pieces = split_text(&text, max);
            assert!(pieces.iter().all(|p| p.len() <= max));
            let joined: String = pieces.concat();
            assert_eq!(
                joined.replace(' ', ""),
                text.replace(' ', ""),
                "only spaces at cuts are dropped"
            );
        }
    }
}
