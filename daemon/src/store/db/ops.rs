//! Server bans and what operators read: the account list, queue totals, the tail.

use super::*;
use crate::ids::Party;

// ---- admin ----

/// [`super::Request::AddBan`]: insert or replace.
pub(in crate::store) fn add_ban(conn: &Connection, ban: &Ban) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO bans (mask, reason, set_at, expires) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![ban.mask, ban.reason, ban.set_at, ban.expires])?;
    Ok(())
}

/// [`super::Request::RemoveBan`].
pub(in crate::store) fn remove_ban(conn: &Connection, mask: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM bans WHERE mask = ?1")?
        .execute([mask])?;
    Ok(())
}

/// Bans that have not expired at `now` (Unix seconds); expired ones are deleted.
pub(in crate::store) fn load_bans(conn: &Connection, now: i64) -> Result<Vec<Ban>> {
    conn.prepare_cached("DELETE FROM bans WHERE expires IS NOT NULL AND expires <= ?1")?
        .execute([now])?;
    let mut stmt =
        conn.prepare_cached("SELECT mask, reason, set_at, expires FROM bans ORDER BY set_at")?;
    let rows = stmt.query_map([], |row| {
        Ok(Ban {
            mask: row.get(0)?,
            reason: row.get(1)?,
            set_at: row.get(2)?,
            expires: row.get(3)?,
        })
    })?;
    rows.collect()
}

/// [`super::Request::ListAccounts`]: every account with its offline-queue depth.
pub(in crate::store) fn list_accounts(conn: &Connection) -> Result<Vec<AccountSummary>> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.name, a.email, a.created, a.last_seen,          (SELECT count(*) FROM offline_queue q WHERE q.account_id = a.id)          FROM accounts a ORDER BY a.folded",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(AccountSummary {
            name: row.get(0)?,
            email: row.get(1)?,
            created: row.get(2)?,
            last_seen: row.get(3)?,
            queue_depth: row.get(4)?,
        })
    })?;
    rows.collect()
}

/// Messages waiting in all offline queues.
pub(in crate::store) fn queue_total(conn: &Connection) -> Result<i64> {
    conn.prepare_cached("SELECT count(*) FROM offline_queue")?
        .query_row([], |row| row.get(0))
}

/// [`super::Request::Tail`]: the last `n` messages (not channel events), oldest first.
pub(in crate::store) fn tail(
    conn: &Connection,
    n: usize,
    filter: Option<&TailFilter>,
) -> Result<Vec<StoredMessage>> {
    let limit = limit_param(n);
    let ids: Vec<i64> = match filter {
        None => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m CROSS JOIN convs c ON c.id = m.conv \
                 WHERE m.kind < 2 ORDER BY m.id DESC LIMIT ?1"
            ))?;
            let rows = stmt.query_map([limit], |row| message_from_row(row, 0))?;
            let mut out = rows.collect::<Result<Vec<_>>>()?;
            out.reverse();
            return Ok(out);
        }
        Some(TailFilter::Channel(name)) => conn
            .prepare_cached("SELECT id FROM convs WHERE key = ?1")?
            .query_map([fold(name)], |r| r.get(0))?
            .collect::<Result<_>>()?,
        Some(TailFilter::Party { nick, account }) => {
            // An account id is never a nick, so `a:-` matches nothing.
            let a = account.map_or_else(|| "a:-".to_string(), |id| Party::account(id).into_key());
            let n = Party::nick(nick).into_key();
            conn.prepare_cached(
                "SELECT id FROM convs WHERE party_a IN (?1, ?2) OR party_b IN (?1, ?2)",
            )?
            .query_map(params![a, n], |r| r.get(0))?
            .collect::<Result<_>>()?
        }
    };
    // The newest `n` of each conversation, then the newest `n` of them all.
    let mut out = Vec::new();
    for id in ids {
        out.extend(rows_of(conn, id, (i64::MIN, i64::MAX), true, n, false)?);
    }
    out.sort_unstable_by_key(|m| std::cmp::Reverse(m.id));
    out.truncate(n);
    out.reverse();
    Ok(out)
}
