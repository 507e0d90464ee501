//! The `(conv, id)` index written behind the appends (migration 9).
//!
//! A logged message is appended to `messages` by id; its `(conv, id)` pair goes to
//! `temp.pending_index`, a table private to the store's connection and kept in
//! memory (`temp_store = MEMORY`), so logging writes no index page at scattered
//! places. [`flush`] moves the pending pairs, sorted, into `messages_by_conv` in one
//! statement and raises the watermark `history_state.indexed_to` to the largest
//! logged id: every message at or below it is in `messages_by_conv`. The store thread
//! flushes when enough pairs are pending and when it closes; at start, [`open`]
//! indexes whatever lies above the watermark (what a `kill -9` left pending), so a
//! committed message is never missing from the index for long.
//!
//! Reads take both parts ([`super::messages_between`]): the pending table is part of
//! the same transactions, so a rolled-back insert leaves no pending pair. A message
//! logged with an id at or below the watermark (one kept and retried, an offline
//! message logged late) is indexed at once.

use super::*;

/// Creates the connection's pending table and indexes every logged message above
/// the watermark. Call once per connection, before any other function here.
/// Returns how many messages it indexed.
pub(in crate::store) fn open(conn: &Connection) -> Result<usize> {
    conn.execute_batch(
        "PRAGMA temp_store = MEMORY;
         CREATE TEMP TABLE IF NOT EXISTS pending_index (
             conv INTEGER NOT NULL,
             id INTEGER NOT NULL,
             PRIMARY KEY (conv, id)
         ) WITHOUT ROWID;",
    )?;
    let tail = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO temp.pending_index (conv, id) \
             SELECT conv, id FROM messages WHERE id > ?1",
        )?
        .execute([watermark(conn)?])?;
    if tail > 0 {
        flush(conn)?;
    }
    Ok(tail)
}

/// Every message with an id at or below this is in `messages_by_conv`.
pub(in crate::store) fn watermark(conn: &Connection) -> Result<i64> {
    conn.prepare_cached("SELECT value FROM history_state WHERE name = 'indexed_to'")?
        .query_row([], |r| r.get(0))
        .optional()
        .map(|v| v.unwrap_or(0))
}

/// Records that message `id` of conversation `conv` (an interned id) was just
/// inserted, `watermark` being [`watermark`] in this transaction.
pub(super) fn note(conn: &Connection, conv: i64, id: i64, watermark: i64) -> Result<()> {
    let sql = if id <= watermark {
        "INSERT OR IGNORE INTO messages_by_conv (conv, id) VALUES (?1, ?2)"
    } else {
        "INSERT OR IGNORE INTO temp.pending_index (conv, id) VALUES (?1, ?2)"
    };
    conn.prepare_cached(sql)?.execute(params![conv, id])?;
    Ok(())
}

/// Forgets message `id` (it is being deleted) in both parts of the index.
pub(super) fn remove(conn: &Connection, conv: i64, id: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM messages_by_conv WHERE conv = ?1 AND id = ?2")?
        .execute(params![conv, id])?;
    conn.prepare_cached("DELETE FROM temp.pending_index WHERE conv = ?1 AND id = ?2")?
        .execute(params![conv, id])?;
    Ok(())
}

/// Writes the pending pairs into `messages_by_conv` in `(conv, id)` order and raises
/// the watermark to the largest logged id. Returns how many pairs it wrote.
pub(in crate::store) fn flush(conn: &Connection) -> Result<usize> {
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO messages_by_conv (conv, id) \
             SELECT conv, id FROM temp.pending_index ORDER BY conv, id",
        )?
        .execute([])?;
    conn.prepare_cached("DELETE FROM temp.pending_index")?
        .execute([])?;
    conn.prepare_cached(
        "INSERT INTO history_state (name, value) \
         SELECT 'indexed_to', COALESCE(max(id), 0) FROM messages WHERE true \
         ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
    )?
    .execute([])?;
    Ok(n)
}

/// Pairs waiting in the pending table.
#[cfg(test)]
pub(in crate::store) fn pending(conn: &Connection) -> Result<usize> {
    conn.prepare_cached("SELECT count(*) FROM temp.pending_index")?
        .query_row([], |r| r.get::<_, i64>(0))
        .map(|n| usize::try_from(n).unwrap_or(0))
}
