//! Per-address password state: the fair queue in front of the hasher thread, and
//! the per-address count of password checks (failed, or still under way).
//! No I/O here: the loop sends what [`HashQueue`] hands back.

use crate::ids::ConnId;
use crate::store::Request;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Password work (`Verify`, `Register`) waiting for the one hasher thread, fair
/// between addresses: each address key has at most one request on the hasher, and
/// its others wait here in order. A user's check therefore waits for at most one
/// check of each other address, however many one address sends.
#[derive(Debug, Default)]
pub struct HashQueue {
    /// Address key → its requests waiting their turn. A key is present while that
    /// address has a request on the hasher.
    waiting: HashMap<String, VecDeque<(ConnId, Request)>>,
    /// Connection whose request is on the hasher → its address key.
    running: HashMap<ConnId, String>,
}

impl HashQueue {
    /// Queues `request` from `conn` at address `key`. Returns it back when it may go
    /// to the hasher now (the address has nothing there).
    pub fn submit(&mut self, key: &str, conn: ConnId, request: Request) -> Option<Request> {
        if let Some(queue) = self.waiting.get_mut(key) {
            queue.push_back((conn, request));
            return None;
        }
        self.waiting.insert(key.to_string(), VecDeque::new());
        self.running.insert(conn, key.to_string());
        Some(request)
    }

    /// `conn`'s request was answered: the next request of its address, if any, to
    /// send to the hasher now.
    pub fn finished(&mut self, conn: ConnId) -> Option<Request> {
        let key = self.running.remove(&conn)?;
        match self.waiting.get_mut(&key).and_then(VecDeque::pop_front) {
            Some((next, request)) => {
                self.running.insert(next, key);
                Some(request)
            }
            None => {
                self.waiting.remove(&key);
                None
            }
        }
    }

    /// Requests waiting behind the one on the hasher, for all addresses.
    pub fn waiting(&self) -> usize {
        self.waiting.values().map(VecDeque::len).sum()
    }
}

/// Password checks per address key in the current minute: each counts from the
/// moment it starts, and is given back if it succeeds. So connections that pipeline
/// wrong passwords in parallel get no more real checks than the limit.
#[derive(Debug, Default)]
pub struct LoginAttempts {
    /// Address key → (checks failed or under way, start of the minute).
    per_ip: HashMap<String, (u32, Instant)>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl LoginAttempts {
    /// Counts a check starting from `key`; false (nothing counted) when `max` are
    /// already failed or under way this minute.
    pub fn start(&mut self, key: &str, max: u32, now: Instant) -> bool {
        super::within_rate(&mut self.per_ip, key, max, WINDOW, now)
    }

    /// The check from `key` succeeded: it no longer counts.
    pub fn succeeded(&mut self, key: &str) {
        if let Some(entry) = self.per_ip.get_mut(key) {
            entry.0 = entry.0.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(slot: usize) -> ConnId {
        ConnId {
            slot,
            serial: slot as u64,
        }
    }

    fn sync(n: usize) -> Request {
        Request::Sync {
            ticket: crate::store::Ticket(n as u64),
        }
    }

    fn what(r: Option<Request>) -> Option<String> {
        match r {
            Some(Request::Sync { ticket }) => Some(ticket.0.to_string()),
            _ => None,
        }
    }

    #[test]
    fn one_request_per_address_on_the_hasher_the_rest_in_order() {
        let mut q = HashQueue::default();
        assert_eq!(what(q.submit("a", id(1), sync(1))), Some("1".into()));
        assert_eq!(what(q.submit("a", id(2), sync(2))), None);
        assert_eq!(what(q.submit("a", id(3), sync(3))), None);
        // Another address is not held up by a's queue.
        assert_eq!(what(q.submit("b", id(4), sync(4))), Some("4".into()));
        assert_eq!(q.waiting(), 2);
        assert_eq!(what(q.finished(id(1))), Some("2".into()));
        assert_eq!(what(q.finished(id(4))), None);
        assert_eq!(what(q.finished(id(2))), Some("3".into()));
        assert_eq!(what(q.finished(id(3))), None);
        assert_eq!(what(q.finished(id(3))), None);
        assert_eq!(what(q.submit("a", id(5), sync(5))), Some("5".into()));
    }

    #[test]
    fn attempts_count_from_the_start_and_successes_are_given_back() {
        let mut a = LoginAttempts::default();
        let t = Instant::now();
        assert!(a.start("k", 2, t));
        assert!(a.start("k", 2, t));
        assert!(!a.start("k", 2, t));
        a.succeeded("k");
        assert!(a.start("k", 2, t));
        assert!(!a.start("k", 2, t));
        assert!(a.start("other", 2, t));
        assert!(a.start("k", 2, t + WINDOW));
    }

    #[test]
    fn attempts_from_one_ipv6_64_share_a_count() {
        let key = |s: &str| super::super::ip_key(s.parse().unwrap());
        let mut a = LoginAttempts::default();
        let t = Instant::now();
        assert!(a.start(&key("2001:db8:1:2::1"), 2, t));
        assert!(a.start(&key("2001:db8:1:2:ffff::9"), 2, t));
        assert!(!a.start(&key("2001:db8:1:2:1234::"), 2, t));
        assert!(a.start(&key("2001:db8:1:3::1"), 2, t));
    }
}
