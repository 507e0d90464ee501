//! Unread counts per channel and query, kept in step with the server's read
//! markers (IRCv3 draft/read-marker): a message is unread while it is newer than
//! both the marker (set by this or another of the user's clients) and what this
//! client showed while its buffer was current. The prompt shows the counts; the
//! client sends `MARKREAD` when the user acts in a buffer, leaves it, or types
//! `/read`.

use chatd_bot::event::parse_time;
use chatd_bot::Event;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, VecDeque};

/// Message times kept per buffer: more than this unread show as this many.
const KEPT: usize = 1000;

#[derive(Debug, Default)]
struct Buffer {
    /// As first seen (display case).
    name: String,
    /// Times of others' messages, oldest first.
    times: VecDeque<DateTime<Utc>>,
    /// The server's read marker.
    marker: Option<DateTime<Utc>>,
    /// Shown while the buffer was current.
    seen: Option<DateTime<Utc>>,
}

impl Buffer {
    fn read_up_to(&self) -> Option<DateTime<Utc>> {
        self.marker.max(self.seen)
    }

    fn unread(&self) -> usize {
        let from = self.read_up_to();
        self.times.iter().filter(|t| Some(**t) > from).count()
    }
}

#[derive(Debug, Default)]
pub struct Unread {
    buffers: HashMap<String, Buffer>,
}

fn key(target: &str) -> String {
    target.to_ascii_lowercase()
}

impl Unread {
    fn buffer(&mut self, target: &str) -> &mut Buffer {
        self.buffers.entry(key(target)).or_insert_with(|| Buffer {
            name: target.to_string(),
            ..Buffer::default()
        })
    }

    /// Counts a message of someone else, or takes a `MARKREAD` from the server.
    /// Returns the buffer a message went to.
    pub fn on_event(&mut self, event: &Event) -> Option<String> {
        match event {
            Event::Message(m) | Event::Notice(m) if !m.own => {
                // A nick never holds a dot: a server's notice is nobody's buffer.
                if m.from.is_empty() || m.from.contains('.') {
                    return None;
                }
                let name = if m.is_private { &m.from } else { &m.target };
                let buffer = self.buffer(name);
                // An older page (`/more`) goes where it belongs: oldest first.
                let at = buffer.times.partition_point(|t| *t <= m.time);
                buffer.times.insert(at, m.time);
                if buffer.times.len() > KEPT {
                    buffer.times.pop_front();
                }
                Some(name.clone())
            }
            Event::Raw(msg) if msg.command == "MARKREAD" => {
                let time = msg.param(1).strip_prefix("timestamp=").and_then(parse_time);
                let buffer = self.buffer(msg.param(0));
                buffer.marker = buffer.marker.max(time);
                None
            }
            _ => None,
        }
    }

    /// Everything in `target` so far was shown (it is the current buffer).
    pub fn shown(&mut self, target: &str) {
        let buffer = self.buffer(target);
        buffer.seen = buffer.times.back().copied().max(buffer.seen);
    }

    /// The user has read `target`: the time to send in `MARKREAD`, if it moves the
    /// server's marker.
    pub fn read(&mut self, target: &str) -> Option<DateTime<Utc>> {
        let newest = self.newest(target)?;
        self.read_up_to(target, newest)
    }

    /// The time of `target`'s newest message from someone else, if any.
    pub fn newest(&mut self, target: &str) -> Option<DateTime<Utc>> {
        self.buffer(target).times.back().copied()
    }

    /// The user has read `target` up to `time` (what was on screen when they left
    /// it; later messages stay unread): the time to send in `MARKREAD`, if it moves
    /// the server's marker.
    pub fn read_up_to(&mut self, target: &str, time: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let buffer = self.buffer(target);
        if buffer.marker >= Some(time) {
            return None;
        }
        buffer.marker = Some(time);
        Some(time)
    }

    /// Buffers other than `current` with unread messages, by name.
    pub fn counts(&self, current: Option<&str>) -> Vec<(String, usize)> {
        let current = current.map(key);
        let mut out: Vec<(String, usize)> = self
            .buffers
            .iter()
            .filter(|(k, _)| Some(*k) != current.as_ref())
            .map(|(_, b)| (b.name.clone(), b.unread()))
            .filter(|(_, n)| *n > 0)
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatd_bot::Message;

    fn msg(from: &str, target: &str, secs: i64, private: bool) -> Event {
        Event::Message(Message {
            from: from.into(),
            target: target.into(),
            text: "x".into(),
            time: DateTime::from_timestamp(secs, 0).unwrap(),
            account: None,
            tags: Vec::new(),
            is_private: private,
            replayed: false,
            own: false,
            action: false,
        })
    }

    fn markread(target: &str, stamp: &str) -> Event {
        Event::Raw(chatd_bot::proto::Message::new(
            "MARKREAD",
            [target.to_string(), stamp.to_string()],
        ))
    }

    #[test]
    fn counts_follow_messages_markers_and_reading() {
        let mut u = Unread::default();
        u.on_event(&msg("alice", "#Rust", 10, false));
        u.on_event(&msg("alice", "#rust", 20, false));
        u.on_event(&msg("bob", "me", 30, true));
        u.on_event(&msg("chatd.local", "me", 40, true));
        assert_eq!(
            u.counts(None),
            [("#Rust".to_string(), 2), ("bob".to_string(), 1)]
        );
        assert_eq!(u.counts(Some("#RUST")), [("bob".to_string(), 1)]);
        // Another client read #rust up to the first message.
        u.on_event(&markread("#rust", "timestamp=1970-01-01T00:00:10.000Z"));
        assert_eq!(u.counts(None)[0], ("#Rust".to_string(), 1));
        // Reading here sends the newest time once.
        assert_eq!(u.read("#rust"), DateTime::from_timestamp(20, 0));
        assert_eq!(u.read("#rust"), None);
        assert_eq!(u.counts(None), [("bob".to_string(), 1)]);
        u.shown("bob");
        assert!(u.counts(None).is_empty());
        // `*`: no marker; nothing changes.
        u.on_event(&markread("#new", "*"));
        assert_eq!(u.read("#new"), None);
    }

    #[test]
    fn reading_up_to_a_time_leaves_later_messages_unread() {
        let mut u = Unread::default();
        u.on_event(&msg("alice", "#room", 10, false));
        let seen = u.newest("#room").unwrap();
        // A message arrives after the user left, before the switch is acted on.
        u.on_event(&msg("alice", "#room", 20, false));
        assert_eq!(u.read_up_to("#room", seen), Some(seen));
        assert_eq!(u.counts(None), [("#room".to_string(), 1)]);
        assert_eq!(u.read_up_to("#room", seen), None, "no news the second time");
    }
}
