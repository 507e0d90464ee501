//! What is kept of a registered channel (`ChanServ REGISTER`): its founder, settings,
//! lists and access list, as the store reads and writes it. The loop's view of it is
//! `state::registered`.

use super::{AccountId, Incarnation};

/// A role on a registered channel's access list, given on join to the account
/// whatever nick it uses. The founder is not on the list: it is
/// [`ChannelRecord::founder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AccessRole {
    Voice,
    /// Moderator (halfop `%`): may kick and voice, set bans and mutes.
    HalfOp,
    Op,
}

impl AccessRole {
    /// The word used in commands and in the database.
    pub fn name(self) -> &'static str {
        match self {
            AccessRole::Voice => "voice",
            AccessRole::HalfOp => "moderator",
            AccessRole::Op => "op",
        }
    }

    /// A role by name (any case), with the usual synonyms.
    pub fn parse(word: &str) -> Option<AccessRole> {
        match word.to_ascii_lowercase().as_str() {
            "voice" | "v" | "+" => Some(AccessRole::Voice),
            "moderator" | "mod" | "halfop" | "h" | "%" => Some(AccessRole::HalfOp),
            "op" | "operator" | "o" | "@" => Some(AccessRole::Op),
            _ => None,
        }
    }
}

/// Who may read a registered channel's history, as its founder chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistoryScope {
    /// Any member reads all of it, from before they joined too.
    #[default]
    Members,
    /// A member reads only what was said since they joined.
    SinceJoin,
}

impl HistoryScope {
    pub fn name(self) -> &'static str {
        match self {
            HistoryScope::Members => "members",
            HistoryScope::SinceJoin => "since-join",
        }
    }

    pub fn parse(word: &str) -> Option<HistoryScope> {
        match word.to_ascii_lowercase().as_str() {
            "members" | "all" => Some(HistoryScope::Members),
            "since-join" | "sincejoin" | "joined" => Some(HistoryScope::SinceJoin),
            _ => None,
        }
    }
}

/// One entry of a `+b`, `+e` or `+I` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// `b`, `e` or `I`.
    pub list: char,
    pub mask: String,
    pub setter: String,
    pub time: i64,
}

/// A registered channel as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRecord {
    /// The display name; the key is its folded form.
    pub name: String,
    pub founder: AccountId,
    /// Unix seconds.
    pub registered: i64,
    /// Unix seconds it last had members (or was changed): expiry counts from it.
    pub last_used: i64,
    /// The incarnation it keeps across empty periods and restarts.
    pub incarnation: Incarnation,
    pub history: HistoryScope,
    /// (text, setter, Unix seconds).
    pub topic: Option<(String, String, i64)>,
    /// The flag modes, e.g. `Cimnt`.
    pub modes: String,
    pub key: Option<String>,
    pub limit: Option<i64>,
    pub lists: Vec<ListEntry>,
    /// Sorted by account id.
    pub access: Vec<(AccountId, AccessRole)>,
}
