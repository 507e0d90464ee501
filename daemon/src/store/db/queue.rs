//! The offline queue: messages waiting for an account.

use super::*;

// ---- offline queue ----

/// [`super::Request::Queue`]: refuses when `max_messages` rows already wait for the
/// account (`Full`; 0 refuses all), or when the oldest waiting row was queued more
/// than `max_age_secs` before `now_ms` (`Stale`; 0 or less means no age limit).
/// Otherwise logs the message (if not already) and queues it.
pub(in crate::store) fn queue(
    conn: &Connection,
    account: AccountId,
    msg: &StoredMessage,
    now_ms: i64,
    max_messages: usize,
    max_age_secs: i64,
) -> Result<Result<(), QueueRefusal>> {
    let (waiting, oldest): (i64, Option<i64>) = conn
        .prepare_cached("SELECT count(*), min(queued_ms) FROM offline_queue WHERE account_id = ?1")?
        .query_row([account], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if usize::try_from(waiting).unwrap_or(usize::MAX) >= max_messages {
        return Ok(Err(QueueRefusal::Full));
    }
    if let Some(oldest) = oldest {
        if max_age_secs > 0 && now_ms.saturating_sub(oldest) > max_age_secs.saturating_mul(1000) {
            return Ok(Err(QueueRefusal::Stale));
        }
    }
    insert_message(conn, msg)?;
    conn.prepare_cached(
        "INSERT INTO offline_queue (account_id, message_id, queued_ms) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![account, msg.id, now_ms])?;
    Ok(Ok(()))
}

/// [`super::Request::FetchQueue`]: (queue row id, message), oldest first.
pub(in crate::store) fn fetch_queue(
    conn: &Connection,
    account: AccountId,
) -> Result<Vec<(i64, StoredMessage)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT q.id, {MESSAGE_COLUMNS} FROM offline_queue q \
         JOIN messages m ON m.id = q.message_id JOIN convs c ON c.id = m.conv \
         WHERE q.account_id = ?1 ORDER BY q.id"
    ))?;
    let rows = stmt.query_map([account], |row| {
        Ok((row.get(0)?, message_from_row(row, 1)?))
    })?;
    rows.collect()
}

/// [`super::Request::Dequeue`].
pub(in crate::store) fn dequeue(conn: &Connection, ids: &[i64]) -> Result<()> {
    let mut stmt = conn.prepare_cached("DELETE FROM offline_queue WHERE id = ?1")?;
    for id in ids {
        stmt.execute([id])?;
    }
    Ok(())
}
