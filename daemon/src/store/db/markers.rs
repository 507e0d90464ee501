//! Read markers (draft/read-marker): the last read time per account and target.

use super::*;

/// Every read marker, for the loop to keep in memory (loaded at start).
pub(in crate::store) fn load_read_markers(conn: &Connection) -> Result<Vec<ReadMarker>> {
    let mut stmt = conn.prepare_cached(
        "SELECT account_id, target, time_ms FROM read_markers ORDER BY account_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(ReadMarker {
            account: r.get(0)?,
            target: r.get(1)?,
            time_ms: r.get(2)?,
        })
    })?;
    rows.collect()
}

/// [`super::Request::SetReadMarker`]: the marker moves forward only, even if
/// requests arrive out of order.
pub(in crate::store) fn set_read_marker(conn: &Connection, marker: &ReadMarker) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO read_markers (account_id, target, time_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (account_id, target) DO UPDATE SET time_ms = max(time_ms, excluded.time_ms)",
    )?
    .execute(params![
        marker.account,
        fold(&marker.target),
        marker.time_ms
    ])?;
    Ok(())
}

/// [`super::Request::DropReadMarker`].
pub(in crate::store) fn drop_read_marker(
    conn: &Connection,
    account: AccountId,
    target: &str,
) -> Result<()> {
    conn.prepare_cached("DELETE FROM read_markers WHERE account_id = ?1 AND target = ?2")?
        .execute(params![account, fold(target)])?;
    Ok(())
}
