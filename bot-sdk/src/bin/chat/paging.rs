//! `/more`: the previous page of a buffer, through IRCv3 draft/chathistory
//! (<https://ircv3.net/specs/extensions/chathistory>): the oldest message shown
//! per buffer, the `CHATHISTORY BEFORE` request for the page before it, and the
//! answer's `chathistory` batch counted so the user is told when it is complete.

use chatd_bot::proto::Message;
use chatd_bot::Event;
use chrono::{DateTime, Utc};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

/// Requests for older pages waiting for their batch: more than this and the
/// oldest is forgotten (its answer then shows without the closing line).
const MAX_PENDING: usize = 16;

#[derive(Debug, Default)]
pub struct Paging {
    /// Per buffer (lower case): the time and msgid of the oldest message shown.
    oldest: HashMap<String, (DateTime<Utc>, String)>,
    /// Buffers a `/more` was sent for whose batch has not started, in order.
    pending: VecDeque<String>,
    /// Open answer batches: id → (buffer, messages so far).
    open: HashMap<String, (String, usize)>,
}

fn key(target: &str) -> String {
    target.to_ascii_lowercase()
}

impl Paging {
    /// The request for the `n` messages before the oldest one shown in `target`
    /// (the latest `n` when nothing was shown there yet).
    pub fn request(&mut self, target: &str, n: u32) -> Message {
        if self.pending.len() == MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back(key(target));
        let from = match self.oldest.get(&key(target)) {
            Some((_, msgid)) => return chathistory("BEFORE", target, format!("msgid={msgid}"), n),
            None => "*".to_string(),
        };
        chathistory("LATEST", target, from, n)
    }

    /// Follows messages (the oldest per buffer) and the answers' batches. Returns
    /// what to tell the user when an answer is complete.
    pub fn on_event(&mut self, event: &Event) -> Option<String> {
        match event {
            Event::Message(m) | Event::Notice(m) => {
                // The first of a `/more` page is older than anything shown
                // (times may be equal: order decides, not the clock).
                let first_of_page = match m.tag("batch").and_then(|b| self.open.get_mut(b)) {
                    Some(entry) => {
                        entry.1 += 1;
                        entry.1 == 1
                    }
                    None => false,
                };
                let msgid = m.msgid()?;
                match self.oldest.entry(key(m.reply_target())) {
                    Entry::Occupied(mut e) if first_of_page || m.time < e.get().0 => {
                        e.insert((m.time, msgid.to_string()));
                    }
                    Entry::Vacant(e) => {
                        e.insert((m.time, msgid.to_string()));
                    }
                    _ => {}
                }
                None
            }
            // `FAIL CHATHISTORY <code> <subcommand> <target> ...`: no batch comes.
            Event::Raw(msg) if msg.command == "FAIL" && msg.param(0) == "CHATHISTORY" => {
                let target = key(msg.param(3));
                if let Some(at) = self.pending.iter().position(|p| *p == target) {
                    self.pending.remove(at);
                }
                None
            }
            Event::Raw(msg) if msg.command == "BATCH" => {
                let id = msg.param(0);
                if let Some(id) = id.strip_prefix('+') {
                    let target = key(msg.param(2));
                    if msg.param(1) == "chathistory" && self.pending.front() == Some(&target) {
                        self.pending.pop_front();
                        self.open
                            .insert(id.to_string(), (msg.param(2).to_string(), 0));
                    }
                    return None;
                }
                let (target, n) = self.open.remove(id.strip_prefix('-')?)?;
                Some(match n {
                    0 => format!("no older messages in {target}"),
                    1 => format!("1 older message in {target} above; /more for more"),
                    n => format!("{n} older messages in {target} above; /more for more"),
                })
            }
            _ => None,
        }
    }
}

fn chathistory(sub: &str, target: &str, from: String, n: u32) -> Message {
    Message::new(
        "CHATHISTORY",
        [sub.to_string(), target.to_string(), from, n.to_string()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatd_bot::proto::parse;

    fn privmsg(line: &str) -> Event {
        let msg = parse(line).unwrap();
        let m = chatd_bot::Message {
            from: msg.source_nick().unwrap_or("").to_string(),
            target: msg.param(0).to_string(),
            text: msg.param(1).to_string(),
            time: msg
                .tag("time")
                .and_then(chatd_bot::event::parse_time)
                .unwrap_or_else(Utc::now),
            account: None,
            tags: msg.tags.clone(),
            is_private: false,
            replayed: false,
            own: false,
            action: false,
        };
        Event::Message(m)
    }

    fn raw(line: &str) -> Event {
        Event::Raw(parse(line).unwrap())
    }

    #[test]
    fn pages_back_from_the_oldest_shown() {
        let mut p = Paging::default();
        assert_eq!(
            p.request("#Rust", 5).to_string(),
            "CHATHISTORY LATEST #Rust * 5"
        );
        assert_eq!(p.on_event(&raw(":s BATCH +b1 chathistory #rust")), None);
        p.on_event(&privmsg(
            "@batch=b1;msgid=m2;time=2026-01-01T10:00:02.000Z :a!u@h PRIVMSG #rust :two",
        ));
        p.on_event(&privmsg(
            "@msgid=m9;time=2026-01-01T10:00:09.000Z :a!u@h PRIVMSG #rust :live",
        ));
        p.on_event(&privmsg(
            "@batch=b1;msgid=m3;time=2026-01-01T10:00:03.000Z :a!u@h PRIVMSG #rust :three",
        ));
        assert_eq!(
            p.on_event(&raw(":s BATCH -b1")).as_deref(),
            Some("2 older messages in #rust above; /more for more")
        );
        assert_eq!(
            p.request("#rust", 5).to_string(),
            "CHATHISTORY BEFORE #rust msgid=m2 5"
        );
        p.on_event(&raw(":s BATCH +b2 chathistory #rust"));
        // Same millisecond as the page before: still older, by order.
        p.on_event(&privmsg(
            "@batch=b2;msgid=m1;time=2026-01-01T10:00:02.000Z :a!u@h PRIVMSG #rust :one",
        ));
        p.on_event(&privmsg(
            "@batch=b2;msgid=m1b;time=2026-01-01T10:00:02.000Z :a!u@h PRIVMSG #rust :one b",
        ));
        assert_eq!(
            p.on_event(&raw(":s BATCH -b2")).as_deref(),
            Some("2 older messages in #rust above; /more for more")
        );
        assert_eq!(
            p.request("#rust", 5).to_string(),
            "CHATHISTORY BEFORE #rust msgid=m1 5"
        );
        p.on_event(&raw(":s BATCH +b4 chathistory #rust"));
        assert_eq!(
            p.on_event(&raw(":s BATCH -b4")).as_deref(),
            Some("no older messages in #rust")
        );
        // A refused request leaves no page waiting for a batch.
        p.request("#gone", 5);
        p.on_event(&raw(
            ":s FAIL CHATHISTORY INVALID_TARGET LATEST #gone :You are not on it",
        ));
        // A batch nobody asked for (a /history answer) is not counted.
        p.on_event(&raw(":s BATCH +b5 chathistory #gone"));
        assert_eq!(p.on_event(&raw(":s BATCH -b5")), None);
        p.on_event(&raw(":s BATCH +b3 chathistory #rust"));
        assert_eq!(p.on_event(&raw(":s BATCH -b3")), None);
    }
}
