//! The SQL: one function per request kind, each on a `&Connection` (a transaction or
//! savepoint derefs to one) with cached prepared statements. No function here
//! commits; the store thread decides the transaction.
//!
//! Keys: channels are folded with `chatd_proto::fold` here, so callers may pass either
//! form; accounts are their ids. See `schema.rs` for the columns.

use super::{
    Account, AccountId, AccountSummary, Ban, Conv, Incarnation, Kind, Membership, PasswordHash,
    QueueRefusal, Range, ReadMarker, RedactRefusal, Redactor, RegisterError, ScramCreds,
    StoredMessage, TailFilter, TargetActivity,
};
use chatd_proto::fold;
use chatd_proto::mask::split_source;
use rusqlite::{params, Connection, OptionalExtension, Result, Row};

mod accounts;
mod channels;
mod chanreg;
#[cfg(test)]
mod feature_tests;
pub(super) mod index;
#[cfg(test)]
mod index_tests;
mod markers;
mod messages;
mod ops;
mod queue;
mod targets;
#[cfg(test)]
pub(super) mod tests;
mod tokens;

pub(super) use accounts::*;
pub(super) use channels::*;
pub(super) use chanreg::*;
pub(super) use markers::*;
pub(super) use messages::*;
pub(super) use ops::*;
pub(super) use queue::*;
pub(super) use targets::*;
pub(super) use tokens::*;

/// Statements we keep prepared (the default cache of 16 is too small for all of them).
pub(super) const STATEMENT_CACHE: usize = 64;

/// How many of a direct conversation's newest messages [`targets`] reads to find the
/// other party's latest nick.
pub(in crate::store) const NAME_SCAN: usize = 256;

/// The columns [`message_from_row`] reads, in order, from `messages m` joined with
/// its conversation `convs c` (`dir` 1: the sender is the conversation's `party_b`).
const MESSAGE_COLUMNS: &str = "m.id, m.time_ms, m.kind, m.source, m.account, m.target, \
     c.key, CASE m.dir WHEN 0 THEN c.party_a ELSE c.party_b END, \
     CASE m.dir WHEN 0 THEN c.party_b ELSE c.party_a END, m.text, c.incarnation";

/// The `conv`, `party_a`, `party_b` columns of a conversation.
pub(in crate::store) fn conv_columns(conv: &Conv) -> (String, Option<String>, Option<String>) {
    match conv {
        Conv::Channel { name, .. } => (fold(name), None, None),
        Conv::Direct(a, b) => {
            let (a, b) = (fold(a), fold(b));
            let (lo, hi) = if a <= b { (&a, &b) } else { (&b, &a) };
            let mut key = String::with_capacity(lo.len() + 1 + hi.len());
            key.push_str(lo);
            key.push('|');
            key.push_str(hi);
            (key, Some(a), Some(b))
        }
    }
}

/// The conversation key alone.
pub(in crate::store) fn conv_key(conv: &Conv) -> String {
    conv_columns(conv).0
}

/// The `incarnation` column: the channel's, 0 for a direct conversation.
pub(in crate::store) fn incarnation_of(conv: &Conv) -> Incarnation {
    match conv {
        Conv::Channel { incarnation, .. } => *incarnation,
        Conv::Direct(..) => 0,
    }
}

fn kind_of(code: i64) -> Kind {
    Kind::from_code(code)
}

/// Reads [`MESSAGE_COLUMNS`] starting at column `at`.
fn message_from_row(row: &Row<'_>, at: usize) -> Result<StoredMessage> {
    let conv: String = row.get(at + 6)?;
    let party_a: Option<String> = row.get(at + 7)?;
    let party_b: Option<String> = row.get(at + 8)?;
    let conv = match (party_a, party_b) {
        (Some(a), Some(b)) => Conv::Direct(a, b),
        _ => Conv::Channel {
            name: conv,
            incarnation: row.get(at + 10)?,
        },
    };
    Ok(StoredMessage {
        id: row.get(at)?,
        time_ms: row.get(at + 1)?,
        kind: kind_of(row.get(at + 2)?),
        source: row.get(at + 3)?,
        account: row.get(at + 4)?,
        target: row.get(at + 5)?,
        conv,
        text: row.get(at + 9)?,
    })
}

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
