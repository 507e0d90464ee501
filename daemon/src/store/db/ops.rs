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
    let mut out: Vec<StoredMessage> = match filter {
        None => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.kind < 2 \
                 ORDER BY m.id DESC LIMIT ?1"
            ))?;
            let rows = stmt.query_map([limit], |row| message_from_row(row, 0))?;
            rows.collect::<Result<_>>()?
        }
        Some(TailFilter::Channel(name)) => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conv = ?1 AND m.kind < 2 \
                 ORDER BY m.id DESC LIMIT ?2"
            ))?;
            let rows =
                stmt.query_map(params![fold(name), limit], |row| message_from_row(row, 0))?;
            rows.collect::<Result<_>>()?
        }
        Some(TailFilter::Party { nick, account }) => {
            // An account id is never a nick, so `a:-` matches nothing.
            let a = account.map_or_else(|| "a:-".to_string(), |id| Party::account(id).into_key());
            let n = Party::nick(nick).into_key();
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m \
                 WHERE m.conv IN (SELECT conv FROM conversations \
                 WHERE party_a IN (?1, ?2) OR party_b IN (?1, ?2)) AND m.kind < 2 \
                 ORDER BY m.id DESC LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![a, n, limit], |row| message_from_row(row, 0))?;
            rows.collect::<Result<_>>()?
        }
    };
    out.reverse();
    Ok(out)
}
