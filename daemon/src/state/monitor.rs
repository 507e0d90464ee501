//! [`Monitors`]: the MONITOR index, folded nick → the connections watching it, so a
//! nick coming or going costs O(watchers), not a walk over every client. Each
//! client's own list (as it spelled the nicks) is `User::monitoring`.

use std::collections::HashMap;

/// Folded nick → slots of the connections watching it (each at most once).
#[derive(Debug, Default)]
pub struct Monitors {
    watchers: HashMap<String, Vec<usize>>,
}

impl Monitors {
    /// Records that `slot` watches `folded`.
    pub fn watch(&mut self, folded: &str, slot: usize) {
        let list = self.watchers.entry(folded.to_string()).or_default();
        if !list.contains(&slot) {
            list.push(slot);
        }
    }

    /// Records that `slot` no longer watches `folded`; an empty entry is dropped.
    pub fn unwatch(&mut self, folded: &str, slot: usize) {
        if let Some(list) = self.watchers.get_mut(folded) {
            list.retain(|&s| s != slot);
            if list.is_empty() {
                self.watchers.remove(folded);
            }
        }
    }

    /// The slots watching `folded` (empty when none).
    pub fn watchers(&self, folded: &str) -> &[usize] {
        self.watchers.get(folded).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Folded nicks with at least one watcher.
    pub fn len(&self) -> usize {
        self.watchers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.watchers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_unwatch_and_cleanup() {
        let mut m = Monitors::default();
        m.watch("alice", 1);
        m.watch("alice", 1);
        m.watch("alice", 2);
        assert_eq!(m.watchers("alice"), &[1, 2]);
        m.unwatch("alice", 1);
        assert_eq!(m.watchers("alice"), &[2]);
        m.unwatch("alice", 2);
        assert!(m.watchers("alice").is_empty());
        assert!(m.is_empty(), "an unwatched nick leaves no entry behind");
        m.unwatch("nobody", 3);
        assert_eq!(m.len(), 0);
    }
}
