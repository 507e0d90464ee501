//! Read markers (draft/read-marker) as the loop keeps them: every account's last
//! read time per target, loaded from the store at start and written through on
//! each change, so MARKREAD and JOIN answer without waiting for the database.

use crate::store::AccountId;
use chatd_proto::fold;
use std::collections::HashMap;

/// Most targets one account keeps a marker for; past it, its oldest marker goes.
pub const MAX_PER_ACCOUNT: usize = 1024;

/// What moving a marker did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advance {
    /// The marker moved to this time (Unix ms); `evicted` is a target whose marker
    /// was dropped to make room.
    Moved { evicted: Option<String> },
    /// The stored time is as new or newer: it stays (Unix ms).
    Kept(i64),
}

/// Account id → folded target → Unix ms.
#[derive(Debug, Default)]
pub struct ReadMarkers {
    by_account: HashMap<AccountId, HashMap<String, i64>>,
}

impl ReadMarkers {
    /// The marker of `account` in `target`, if it has one.
    pub fn get(&self, account: AccountId, target: &str) -> Option<i64> {
        self.by_account.get(&account)?.get(&fold(target)).copied()
    }

    /// Loads one marker as stored.
    pub fn load(&mut self, account: AccountId, target: &str, time_ms: i64) {
        self.by_account
            .entry(account)
            .or_default()
            .insert(fold(target), time_ms);
    }

    /// Moves the marker forward to `time_ms`; never back.
    pub fn advance(&mut self, account: AccountId, target: &str, time_ms: i64) -> Advance {
        let folded = fold(target);
        let markers = self.by_account.entry(account).or_default();
        if let Some(&stored) = markers.get(&folded) {
            if stored >= time_ms {
                return Advance::Kept(stored);
            }
        }
        let mut evicted = None;
        if !markers.contains_key(&folded) && markers.len() >= MAX_PER_ACCOUNT {
            if let Some(oldest) = markers
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(k, _)| k.clone())
            {
                markers.remove(&oldest);
                evicted = Some(oldest);
            }
        }
        markers.insert(folded, time_ms);
        Advance::Moved { evicted }
    }

    /// Forgets a deleted account's markers.
    pub fn forget(&mut self, account: AccountId) {
        self.by_account.remove(&account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_only_move_forward_and_fold_targets() {
        let mut m = ReadMarkers::default();
        assert_eq!(m.get(1, "#a"), None);
        assert_eq!(m.advance(1, "#A", 10), Advance::Moved { evicted: None });
        assert_eq!(m.get(1, "#a"), Some(10));
        assert_eq!(m.advance(1, "#a", 5), Advance::Kept(10));
        assert_eq!(m.advance(1, "#a", 10), Advance::Kept(10));
        assert_eq!(m.get(2, "#a"), None);
    }

    #[test]
    fn the_oldest_marker_makes_room() {
        let mut m = ReadMarkers::default();
        for i in 0..MAX_PER_ACCOUNT {
            m.advance(1, &format!("#c{i}"), 100 + i as i64);
        }
        assert_eq!(
            m.advance(1, "#new", 1),
            Advance::Moved {
                evicted: Some("#c0".to_string())
            }
        );
        assert_eq!(m.get(1, "#c0"), None);
        assert_eq!(m.get(1, "#new"), Some(1));
    }
}
