//! `/more`: the previous page of a buffer, through IRCv3 draft/chathistory
//! (<https://ircv3.net/specs/extensions/chathistory>): the oldest message shown
//! per buffer, the `CHATHISTORY BEFORE` request for the page before it, and the
//! answer's `chathistory` batch counted so the user is told when it is complete.
//! With IRCv3 labeled-response the request carries a `label`, and its answer is
//! known by it; without, answers are matched to requests in order, by target.

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
    /// `/more` requests whose answer has not started, in order: their label
    /// (when labeled) and buffer.
    pending: VecDeque<(Option<String>, String)>,
    /// The `labeled-response` batches answering them: id → buffer.
    labeled: HashMap<String, String>,
    /// Open answer batches: id → (buffer, messages so far).
    open: HashMap<String, (String, usize)>,
    labels_sent: u32,
}

fn key(target: &str) -> String {
    target.to_ascii_lowercase()
}

impl Paging {
    /// The request for the `n` messages before the oldest one shown in `target`
    /// (the latest `n` when nothing was shown there yet).
    pub fn request(&mut self, target: &str, n: u32, labeled: bool) -> Message {
        if self.pending.len() == MAX_PENDING {
            self.pending.pop_front();
        }
        let label = labeled.then(|| {
            self.labels_sent += 1;
            format!("more-{}", self.labels_sent)
        });
        self.pending.push_back((label.clone(), key(target)));
        let msg = match self.oldest.get(&key(target)) {
            Some((_, msgid)) => chathistory("BEFORE", target, format!("msgid={msgid}"), n),
            None => chathistory("LATEST", target, "*".to_string(), n),
        };
        match label {
            Some(label) => msg.with_tag("label", label),
            None => msg,
        }
    }

    /// Takes the pending request `msg` answers (by its label, else the first
    /// unlabeled one for `target`), returning its buffer.
    fn answered(&mut self, msg: &Message, target: &str) -> Option<String> {
        let at = match msg.tag("label") {
            Some(label) => self
                .pending
                .iter()
                .position(|(l, _)| l.as_deref() == Some(label))?,
            None => self
                .pending
                .iter()
                .position(|(l, t)| l.is_none() && *t == key(target))?,
        };
        self.pending.remove(at).map(|(_, buffer)| buffer)
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
                self.answered(msg, msg.param(3));
                None
            }
            Event::Raw(msg) if msg.command == "BATCH" => {
                let id = msg.param(0);
                if let Some(id) = id.strip_prefix('+') {
                    let (kind, target) = (msg.param(1), msg.param(2));
                    if kind == "labeled-response" && msg.tag("label").is_some() {
                        if let Some(buffer) = self.answered(msg, target) {
                            self.labeled.insert(id.to_string(), buffer);
                        }
                    } else if kind == "chathistory" {
                        // Nested in the labeled batch, labeled itself, or in order.
                        let ours = match msg.tag("batch") {
                            Some(outer) => self.labeled.contains_key(outer),
                            None => self.answered(msg, target).is_some(),
                        };
                        if ours {
                            self.open.insert(id.to_string(), (target.to_string(), 0));
                        }
                    }
                    return None;
                }
                let id = id.strip_prefix('-')?;
                self.labeled.remove(id);
                let (target, n) = self.open.remove(id)?;
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
            p.request("#Rust", 5, false).to_string(),
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
            p.request("#rust", 5, false).to_string(),
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
            p.request("#rust", 5, false).to_string(),
            "CHATHISTORY BEFORE #rust msgid=m1 5"
        );
        p.on_event(&raw(":s BATCH +b4 chathistory #rust"));
        assert_eq!(
            p.on_event(&raw(":s BATCH -b4")).as_deref(),
            Some("no older messages in #rust")
        );
        // A refused request leaves no page waiting for a batch.
        p.request("#gone", 5, false);
        p.on_event(&raw(
            ":s FAIL CHATHISTORY INVALID_TARGET LATEST #gone :You are not on it",
        ));
        // A batch nobody asked for (a /history answer) is not counted.
        p.on_event(&raw(":s BATCH +b5 chathistory #gone"));
        assert_eq!(p.on_event(&raw(":s BATCH -b5")), None);
        p.on_event(&raw(":s BATCH +b3 chathistory #rust"));
        assert_eq!(p.on_event(&raw(":s BATCH -b3")), None);
    }

    /// IRCv3 labeled-response: the answer to a labeled request is known by its
    /// label, even behind another chathistory batch for the same target.
    #[test]
    fn a_labeled_request_is_answered_by_its_label() {
        let mut p = Paging::default();
        let request = p.request("#rust", 5, true);
        assert_eq!(request.tag("label"), Some("more-1"));
        // A /history answer for the same target first: not ours.
        p.on_event(&raw(":s BATCH +h chathistory #rust"));
        assert_eq!(p.on_event(&raw(":s BATCH -h")), None);
        p.on_event(&raw("@label=more-1 :s BATCH +L labeled-response"));
        p.on_event(&raw("@batch=L :s BATCH +c chathistory #rust"));
        p.on_event(&privmsg(
            "@batch=c;msgid=m1;time=2026-01-01T10:00:01.000Z :a!u@h PRIVMSG #rust :one",
        ));
        assert_eq!(
            p.on_event(&raw("@batch=L :s BATCH -c")).as_deref(),
            Some("1 older message in #rust above; /more for more")
        );
        assert_eq!(p.on_event(&raw(":s BATCH -L")), None);
        // Labeled and refused: nothing waits any more.
        p.request("#rust", 5, true);
        p.on_event(&raw(
            "@label=more-2 :s FAIL CHATHISTORY INVALID_TARGET BEFORE #rust :no",
        ));
        assert!(p.pending.is_empty());
    }
}
