//! [`Whowas`]: the bounded history of nicks that quit or changed, newest last, for
//! `WHOWAS` (modern.ircdocs.horse). A ring: the oldest entry goes when it is full.

use chatd_proto::fold;
use std::collections::VecDeque;

/// One nick as it was when its holder left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhowasEntry {
    pub nick: String,
    pub folded: String,
    pub user: Box<str>,
    pub host: String,
    pub realname: Box<str>,
    /// Unix time the nick was left.
    pub left: i64,
}

#[derive(Debug, Default)]
pub struct Whowas {
    entries: VecDeque<WhowasEntry>,
}

impl Whowas {
    /// Remembers an entry, forgetting the oldest past `max` (0 keeps nothing).
    pub fn push(&mut self, entry: WhowasEntry, max: usize) {
        while self.entries.len() >= max.max(1) {
            self.entries.pop_front();
        }
        if max > 0 {
            self.entries.push_back(entry);
        }
    }

    /// The entries for `nick` (any case), newest first, at most `count`.
    pub fn lookup(&self, nick: &str, count: usize) -> Vec<&WhowasEntry> {
        let folded = fold(nick);
        self.entries
            .iter()
            .rev()
            .filter(|e| e.folded == folded)
            .take(count)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(nick: &str, left: i64) -> WhowasEntry {
        WhowasEntry {
            nick: nick.into(),
            folded: fold(nick),
            user: "~u".into(),
            host: "127.0.0.1".into(),
            realname: "R".into(),
            left,
        }
    }

    #[test]
    fn bounded_newest_first() {
        let mut w = Whowas::default();
        for (i, nick) in ["a", "B", "b", "c"].iter().enumerate() {
            w.push(entry(nick, i as i64), 3);
        }
        assert_eq!(w.len(), 3, "the oldest went");
        assert!(w.lookup("a", 10).is_empty());
        let b: Vec<i64> = w.lookup("b", 10).iter().map(|e| e.left).collect();
        assert_eq!(b, vec![2, 1]);
        assert_eq!(w.lookup("B", 1).len(), 1);
        let mut off = Whowas::default();
        off.push(entry("a", 0), 0);
        assert!(off.is_empty());
    }
}
