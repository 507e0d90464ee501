//! The SQL: one function per request kind, each on a `&Connection` (a transaction or
//! savepoint derefs to one) with cached prepared statements. No function here
//! commits; the store thread decides the transaction.
//!
//! Keys: channels are folded with `chatd_proto::fold` here, so callers may pass either
//! form; accounts are their ids. See `schema.rs` for the columns.

use super::{
    Account, AccountId, AccountSummary, Ban, Conv, Incarnation, Kind, Membership, PasswordHash,
    QueueRefusal, Range, RegisterError, StoredMessage, TailFilter, TargetActivity,
};
use chatd_proto::fold;
use chatd_proto::mask::split_source;
use rusqlite::{params, Connection, OptionalExtension, Result, Row};

/// Statements we keep prepared (the default cache of 16 is too small for all of them).
pub(super) const STATEMENT_CACHE: usize = 64;

/// How many of a direct conversation's newest messages [`targets`] reads to find the
/// other party's latest nick.
const NAME_SCAN: i64 = 256;

/// The columns [`message_from_row`] reads, in order.
const MESSAGE_COLUMNS: &str = "m.id, m.time_ms, m.kind, m.source, m.account, m.target, \
     m.conv, m.party_a, m.party_b, m.text, m.incarnation";

/// The `conv`, `party_a`, `party_b` columns of a conversation.
fn conv_columns(conv: &Conv) -> (String, Option<String>, Option<String>) {
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
fn conv_key(conv: &Conv) -> String {
    conv_columns(conv).0
}

/// The `incarnation` column: the channel's, 0 for a direct conversation.
fn incarnation_of(conv: &Conv) -> Incarnation {
    match conv {
        Conv::Channel { incarnation, .. } => *incarnation,
        Conv::Direct(..) => 0,
    }
}

fn kind_of(code: i64) -> Kind {
    if code == Kind::Notice as i64 {
        Kind::Notice
    } else {
        Kind::Privmsg
    }
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

// ---- messages ----

/// Inserts one message unless its id is already logged.
pub(super) fn insert_message(conn: &Connection, msg: &StoredMessage) -> Result<()> {
    log(conn, std::slice::from_ref(msg))
}

/// [`super::Request::Log`]: inserts each message unless its id is already logged, and
/// records each direct conversation the first time it is seen. The statements are
/// looked up once per call, not once per message.
pub(super) fn log(conn: &Connection, msgs: &[StoredMessage]) -> Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO messages \
         (id, time_ms, kind, source, account, target, conv, party_a, party_b, text, incarnation) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    let mut conversation = None;
    // Each conversation is looked up once per batch, however many messages it has.
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for msg in msgs {
        let (conv, party_a, party_b) = conv_columns(&msg.conv);
        insert.execute(params![
            msg.id,
            msg.time_ms,
            msg.kind as i64,
            msg.source,
            msg.account,
            msg.target,
            conv,
            party_a,
            party_b,
            msg.text,
            incarnation_of(&msg.conv),
        ])?;
        if let (Some(a), Some(b)) = (&party_a, &party_b) {
            if !seen.contains(&conv) {
                if conversation.is_none() {
                    conversation = Some(conn.prepare_cached(
                        "INSERT OR IGNORE INTO conversations (conv, party_a, party_b) \
                         VALUES (?1, ?2, ?3)",
                    )?);
                }
                if let Some(stmt) = conversation.as_mut() {
                    stmt.execute(params![conv, a, b])?;
                }
                seen.insert(conv);
            }
        }
    }
    Ok(())
}

/// The largest logged message id or channel incarnation, 0 when there is none: both
/// come from the loop's id sequence, which must start above them.
pub(super) fn last_id(conn: &Connection) -> Result<i64> {
    conn.query_row(
        "SELECT max((SELECT COALESCE(max(id), 0) FROM messages), \
                    (SELECT COALESCE(max(id), 0) FROM channel_incarnations))",
        [],
        |r| r.get(0),
    )
}

/// [`super::Request::NewChannel`].
pub(super) fn new_channel(
    conn: &Connection,
    name: &str,
    incarnation: Incarnation,
    created_ms: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO channel_incarnations (id, channel, name, created_ms) \
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![incarnation, fold(name), name, created_ms])?;
    Ok(())
}

/// [`super::Request::ChannelBan`].
pub(super) fn channel_ban(
    conn: &Connection,
    incarnation: Incarnation,
    mask: &str,
    at_id: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO channel_bans (incarnation, mask, set_id) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![incarnation, mask, at_id])?;
    Ok(())
}

/// Messages of conversation `conv` (a key) in `incarnation` (0 for a direct one) with
/// `lo < id < hi`, at most `limit`: the newest ones if `newest` else the oldest ones.
/// Always returned oldest first.
///
/// Every message of a channel incarnation has a larger id than the incarnation, and
/// a channel's incarnations follow each other in time, so `lo` is raised to the
/// incarnation: the `messages_conv` index then reads this incarnation's rows only.
fn messages_between(
    conn: &Connection,
    conv: &str,
    incarnation: Incarnation,
    lo: i64,
    hi: i64,
    newest: bool,
    limit: usize,
) -> Result<Vec<StoredMessage>> {
    let lo = lo.max(incarnation);
    if limit == 0 || lo >= hi {
        return Ok(Vec::new());
    }
    let sql = if newest { NEWEST_SQL } else { OLDEST_SQL };
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(
        params![conv, lo, hi, limit_param(limit), incarnation],
        |row| message_from_row(row, 0),
    )?;
    let mut out = rows.collect::<Result<Vec<_>>>()?;
    if newest {
        out.reverse();
    }
    Ok(out)
}

// `prepare_cached` keys on the text, so the two orders are two fixed strings.
const OLDEST_SQL: &str = "SELECT m.id, m.time_ms, m.kind, m.source, m.account, m.target, \
     m.conv, m.party_a, m.party_b, m.text, m.incarnation FROM messages m \
     WHERE m.conv = ?1 AND m.id > ?2 AND m.id < ?3 AND m.incarnation = ?5 \
     ORDER BY m.id ASC LIMIT ?4";
const NEWEST_SQL: &str = "SELECT m.id, m.time_ms, m.kind, m.source, m.account, m.target, \
     m.conv, m.party_a, m.party_b, m.text, m.incarnation FROM messages m \
     WHERE m.conv = ?1 AND m.id > ?2 AND m.id < ?3 AND m.incarnation = ?5 \
     ORDER BY m.id DESC LIMIT ?4";

/// [`super::Request::History`]: see [`Range`]. Bounds are exclusive except that
/// `Around` includes the message at `around`; `Around` takes `limit / 2` messages
/// before `around` and up to the rest at or after it (a short side is not refilled
/// from the other); `Between` takes the `limit` messages nearest `from`. Oldest first.
/// A channel's history is that of its incarnation only.
pub(super) fn history(
    conn: &Connection,
    conv: &Conv,
    range: &Range,
    limit: usize,
) -> Result<Vec<StoredMessage>> {
    let key = conv_key(conv);
    let inc = incarnation_of(conv);
    let (min, max) = (i64::MIN, i64::MAX);
    let between = |lo, hi, newest, limit| messages_between(conn, &key, inc, lo, hi, newest, limit);
    match *range {
        Range::Latest { after } => between(after.unwrap_or(min), max, true, limit),
        Range::Before { before } => between(min, before, true, limit),
        Range::After { after } => between(after, max, false, limit),
        Range::Around { around } => {
            let before_n = limit / 2;
            let mut out = between(min, around, true, before_n)?;
            out.extend(between(
                around.saturating_sub(1),
                max,
                false,
                limit - before_n,
            )?);
            Ok(out)
        }
        Range::Between { from, to } => {
            if from <= to {
                between(from, to, false, limit)
            } else {
                between(to, from, true, limit)
            }
        }
    }
}

// ---- offline queue ----

/// [`super::Request::Queue`]: refuses when `max_messages` rows already wait for the
/// account (`Full`; 0 refuses all), or when the oldest waiting row was queued more
/// than `max_age_secs` before `now_ms` (`Stale`; 0 or less means no age limit).
/// Otherwise logs the message (if not already) and queues it.
pub(super) fn queue(
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
pub(super) fn fetch_queue(
    conn: &Connection,
    account: AccountId,
) -> Result<Vec<(i64, StoredMessage)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT q.id, {MESSAGE_COLUMNS} FROM offline_queue q \
         JOIN messages m ON m.id = q.message_id \
         WHERE q.account_id = ?1 ORDER BY q.id"
    ))?;
    let rows = stmt.query_map([account], |row| {
        Ok((row.get(0)?, message_from_row(row, 1)?))
    })?;
    rows.collect()
}

/// [`super::Request::Dequeue`].
pub(super) fn dequeue(conn: &Connection, ids: &[i64]) -> Result<()> {
    let mut stmt = conn.prepare_cached("DELETE FROM offline_queue WHERE id = ?1")?;
    for id in ids {
        stmt.execute([id])?;
    }
    Ok(())
}

// ---- accounts ----

/// [`super::Request::CreateAccount`]: the new account's id, or `Exists` when the
/// folded name is taken.
pub(super) fn create_account(
    conn: &Connection,
    account: &Account,
) -> Result<Result<AccountId, RegisterError>> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO accounts \
             (name, folded, email, hash, salt, iterations, created, last_seen) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (folded) DO NOTHING",
        )?
        .execute(params![
            account.name,
            fold(&account.name),
            account.email,
            account.hash.hash,
            account.hash.salt,
            account.hash.iterations,
            account.created,
            account.last_seen,
        ])?;
    Ok(if inserted == 0 {
        Err(RegisterError::Exists)
    } else {
        Ok(conn.last_insert_rowid())
    })
}

/// Every account, in creation order.
pub(super) fn load_accounts(conn: &Connection) -> Result<Vec<Account>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, email, hash, salt, iterations, created, last_seen, id \
         FROM accounts ORDER BY id",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(Account {
            id: row.get(7)?,
            name: row.get(0)?,
            email: row.get(1)?,
            hash: PasswordHash {
                hash: row.get(2)?,
                salt: row.get(3)?,
                iterations: row.get(4)?,
            },
            created: row.get(5)?,
            last_seen: row.get(6)?,
        })
    })?;
    rows.collect()
}

/// [`super::Request::DeleteAccount`]: the account, its queue and its memberships
/// (its logged messages stay, under an identity no later account has).
pub(super) fn delete_account(conn: &Connection, account: AccountId) -> Result<()> {
    conn.prepare_cached("DELETE FROM offline_queue WHERE account_id = ?1")?
        .execute([account])?;
    conn.prepare_cached("DELETE FROM memberships WHERE account_id = ?1")?
        .execute([account])?;
    conn.prepare_cached("DELETE FROM accounts WHERE id = ?1")?
        .execute([account])?;
    Ok(())
}

/// [`super::Request::Seen`].
pub(super) fn seen(conn: &Connection, account: &str, time: i64) -> Result<()> {
    conn.prepare_cached("UPDATE accounts SET last_seen = ?2 WHERE folded = ?1")?
        .execute(params![fold(account), time])?;
    Ok(())
}

// ---- admin ----

/// [`super::Request::AddBan`]: insert or replace.
pub(super) fn add_ban(conn: &Connection, ban: &Ban) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO bans (mask, reason, set_at, expires) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![ban.mask, ban.reason, ban.set_at, ban.expires])?;
    Ok(())
}

/// [`super::Request::RemoveBan`].
pub(super) fn remove_ban(conn: &Connection, mask: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM bans WHERE mask = ?1")?
        .execute([mask])?;
    Ok(())
}

/// Bans that have not expired at `now` (Unix seconds); expired ones are deleted.
pub(super) fn load_bans(conn: &Connection, now: i64) -> Result<Vec<Ban>> {
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
pub(super) fn list_accounts(conn: &Connection) -> Result<Vec<AccountSummary>> {
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
pub(super) fn queue_total(conn: &Connection) -> Result<i64> {
    conn.prepare_cached("SELECT count(*) FROM offline_queue")?
        .query_row([], |row| row.get(0))
}

/// [`super::Request::Tail`]: the last `n` messages, oldest first.
pub(super) fn tail(
    conn: &Connection,
    n: usize,
    filter: Option<&TailFilter>,
) -> Result<Vec<StoredMessage>> {
    let limit = limit_param(n);
    let mut out: Vec<StoredMessage> = match filter {
        None => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m ORDER BY m.id DESC LIMIT ?1"
            ))?;
            let rows = stmt.query_map([limit], |row| message_from_row(row, 0))?;
            rows.collect::<Result<_>>()?
        }
        Some(TailFilter::Channel(name)) => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conv = ?1 \
                 ORDER BY m.id DESC LIMIT ?2"
            ))?;
            let rows =
                stmt.query_map(params![fold(name), limit], |row| message_from_row(row, 0))?;
            rows.collect::<Result<_>>()?
        }
        Some(TailFilter::Party { nick, account }) => {
            // An account id is never a nick, so `a:-` matches nothing.
            let a = account.map_or_else(|| "a:-".to_string(), |id| format!("a:{id}"));
            let n = format!("n:{}", fold(nick));
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m \
                 WHERE m.conv IN (SELECT conv FROM conversations \
                 WHERE party_a IN (?1, ?2) OR party_b IN (?1, ?2)) \
                 ORDER BY m.id DESC LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![a, n, limit], |row| message_from_row(row, 0))?;
            rows.collect::<Result<_>>()?
        }
    };
    out.reverse();
    Ok(out)
}

// ---- memberships ----

/// [`super::Request::Join`]: insert or replace the membership.
pub(super) fn join(
    conn: &Connection,
    account: AccountId,
    channel: &str,
    incarnation: Incarnation,
    last_id: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO memberships (account_id, channel, display, incarnation, last_id) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (account_id, channel) \
         DO UPDATE SET display = excluded.display, incarnation = excluded.incarnation, \
         last_id = excluded.last_id",
    )?
    .execute(params![
        account,
        fold(channel),
        channel,
        incarnation,
        last_id
    ])?;
    Ok(())
}

/// [`super::Request::Part`].
pub(super) fn part(conn: &Connection, account: AccountId, channel: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM memberships WHERE account_id = ?1 AND channel = ?2")?
        .execute(params![account, fold(channel)])?;
    Ok(())
}

/// [`super::Request::Left`].
pub(super) fn left(
    conn: &Connection,
    account: AccountId,
    channels: &[String],
    last_id: i64,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE memberships SET last_id = ?3 WHERE account_id = ?1 AND channel = ?2",
    )?;
    for channel in channels {
        stmt.execute(params![account, fold(channel), last_id])?;
    }
    Ok(())
}

/// [`super::Request::FetchMemberships`]: every membership (by folded channel name),
/// each with the newest `missed` messages of its incarnation after its `last_id`,
/// oldest first: what was said in a later incarnation, which the account was never
/// a member of, is not missed.
pub(super) fn fetch_memberships(
    conn: &Connection,
    account: AccountId,
    missed: usize,
) -> Result<Vec<Membership>> {
    let rows: Vec<(String, String, Incarnation, i64)> = conn
        .prepare_cached(
            "SELECT channel, display, incarnation, last_id FROM memberships \
             WHERE account_id = ?1 ORDER BY channel",
        )?
        .query_map([account], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_>>()?;
    let mut bans = conn.prepare_cached(
        "SELECT mask, set_id FROM channel_bans WHERE incarnation = ?1 ORDER BY set_id",
    )?;
    rows.into_iter()
        .map(|(folded, display, incarnation, last_id)| {
            let bans = if incarnation == 0 {
                Vec::new()
            } else {
                bans.query_map([incarnation], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_>>()?
            };
            Ok(Membership {
                channel: display,
                incarnation,
                bans,
                missed: messages_between(
                    conn,
                    &folded,
                    incarnation,
                    last_id,
                    i64::MAX,
                    true,
                    missed,
                )?,
            })
        })
        .collect()
}

// ---- targets ----

/// [`super::Request::Targets`]: the direct conversations of `party` and the given
/// channel incarnations that have a message with `min(from, to) < id < max(from, to)`, newest
/// latest-activity first, at most `limit`. `latest_ms` is the time of the newest
/// message in that range.
///
/// Names: a channel is named by the target of its newest message in the range (as
/// that sender typed it; the loop may prefer the live channel's display name). A
/// direct conversation is named by the other party's latest nick: the nick of the
/// newest message the other party sent in it, or, if none of the newest
/// [`NAME_SCAN`] messages is theirs, the target of the newest message (which `party`
/// addressed to them).
pub(super) fn targets(
    conn: &Connection,
    party: &str,
    channels: &[(String, Incarnation)],
    from: i64,
    to: i64,
    limit: usize,
) -> Result<Vec<TargetActivity>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let party = fold(party);
    let (lo, hi) = (from.min(to), from.max(to));

    enum Found {
        Channel(String),
        Direct { conv: String, other: String },
    }
    // (newest id in range, its time, what)
    let mut found: Vec<(i64, i64, Found)> = Vec::new();

    let mut newest_in = conn.prepare_cached(
        "SELECT id, time_ms, target FROM messages \
         WHERE conv = ?1 AND id > ?2 AND id < ?3 AND incarnation = ?4 \
         ORDER BY id DESC LIMIT 1",
    )?;
    let mut newest = |key: &str, inc: Incarnation| -> Result<Option<(i64, i64, String)>> {
        newest_in
            .query_row(params![key, lo.max(inc), hi, inc], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
    };

    let mut convs = conn.prepare_cached(
        "SELECT conv, party_a, party_b FROM conversations WHERE party_a = ?1 \
         UNION SELECT conv, party_a, party_b FROM conversations WHERE party_b = ?1",
    )?;
    let convs = convs
        .query_map(params![party], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>>>()?;
    for (conv, a, b) in convs {
        if let Some((id, time_ms, _)) = newest(&conv, 0)? {
            let other = if a == party { b } else { a };
            found.push((id, time_ms, Found::Direct { conv, other }));
        }
    }

    let mut seen = std::collections::HashSet::new();
    for (channel, inc) in channels {
        let key = fold(channel);
        if !seen.insert(key.clone()) {
            continue;
        }
        if let Some((id, time_ms, target)) = newest(&key, *inc)? {
            found.push((id, time_ms, Found::Channel(target)));
        }
    }

    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.truncate(limit);
    found
        .into_iter()
        .map(|(_, latest_ms, what)| {
            let name = match what {
                Found::Channel(name) => name,
                Found::Direct { conv, other } => direct_name(conn, &conv, &other)?,
            };
            Ok(TargetActivity { name, latest_ms })
        })
        .collect()
}

/// The other party's latest nick in a direct conversation; see [`targets`].
fn direct_name(conn: &Connection, conv: &str, other: &str) -> Result<String> {
    // `party_a` is the sender of a direct message.
    let mut stmt = conn.prepare_cached(
        "SELECT source, party_a, target FROM messages WHERE conv = ?1 \
         ORDER BY id DESC LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![conv, NAME_SCAN])?;
    let mut fallback = None;
    while let Some(row) = rows.next()? {
        let source: String = row.get(0)?;
        let sender: Option<String> = row.get(1)?;
        if sender.as_deref() == Some(other) {
            return Ok(split_source(&source).nick.to_string());
        }
        if fallback.is_none() {
            fallback = Some(row.get::<_, String>(2)?);
        }
    }
    // Never empty: without any message the identity itself names them.
    Ok(fallback.unwrap_or_else(|| other.split_once(':').map_or(other, |(_, n)| n).to_string()))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::store::schema;

    pub(crate) fn open_db(dir: &std::path::Path) -> Connection {
        let mut conn = Connection::open(dir.join("t.db")).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        schema::migrate(&mut conn).unwrap();
        conn
    }

    pub(crate) fn chan_msg(id: i64, channel: &str, nick: &str, text: &str) -> StoredMessage {
        StoredMessage {
            id,
            time_ms: id * 10,
            kind: Kind::Privmsg,
            source: format!("{nick}!u@h"),
            account: None,
            target: channel.to_string(),
            conv: chan(channel),
            text: text.to_string(),
        }
    }

    /// Incarnation 0 of a channel (as logged before incarnations).
    pub(crate) fn chan(name: &str) -> Conv {
        Conv::Channel {
            name: fold(name),
            incarnation: 0,
        }
    }

    /// A direct message from `from_nick` (identity `from`) to `to_nick` (identity `to`).
    pub(crate) fn dm(
        id: i64,
        from: &str,
        from_nick: &str,
        to: &str,
        to_nick: &str,
        text: &str,
    ) -> StoredMessage {
        StoredMessage {
            id,
            time_ms: id * 10,
            kind: Kind::Notice,
            source: format!("{from_nick}!u@h"),
            account: from.strip_prefix("a:").map(str::to_string),
            target: to_nick.to_string(),
            conv: Conv::Direct(from.to_string(), to.to_string()),
            text: text.to_string(),
        }
    }

    fn ids(msgs: &[StoredMessage]) -> Vec<i64> {
        msgs.iter().map(|m| m.id).collect()
    }

    #[test]
    fn log_round_trips_and_ignores_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_db(dir.path());
        let a = chan_msg(1, "#Chan", "alice", "hello");
        let mut b = dm(2, "a:alice", "Alice", "n:bob", "Bob", "hi bob");
        b.account = Some("Alice".into());
        log(&conn, &[a.clone(), b.clone()]).unwrap();
        let mut dup = a.clone();
        dup.text = "changed".into();
        log(&conn, &[dup]).unwrap();
        assert_eq!(last_id(&conn).unwrap(), 2);
        let got = history(&conn, &chan("#chan"), &Range::Latest { after: None }, 10).unwrap();
        assert_eq!(got, vec![a]);
        let got = history(
            &conn,
            &Conv::Direct("n:bob".into(), "a:alice".into()),
            &Range::Latest { after: None },
            10,
        )
        .unwrap();
        assert_eq!(got, vec![b]);
    }

    #[test]
    fn empty_log_last_id_is_zero() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_db(dir.path());
        assert_eq!(last_id(&conn).unwrap(), 0);
    }

    #[test]
    fn history_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_db(dir.path());
        let mut msgs: Vec<_> = (1..=10).map(|i| chan_msg(i * 10, "#c", "n", "x")).collect();
        // Noise in other conversations, interleaved.
        msgs.extend((1..=10).map(|i| chan_msg(i * 10 + 5, "#other", "n", "y")));
        msgs.push(dm(1000, "n:a", "a", "n:b", "b", "z"));
        log(&conn, &msgs).unwrap();
        let c = chan("#c");
        let h = |range: Range, limit: usize| ids(&history(&conn, &c, &range, limit).unwrap());

        assert_eq!(h(Range::Latest { after: None }, 3), [80, 90, 100]);
        assert_eq!(h(Range::Latest { after: None }, 50).len(), 10);
        assert_eq!(h(Range::Latest { after: Some(80) }, 5), [90, 100]);
        assert_eq!(h(Range::Latest { after: Some(20) }, 3), [80, 90, 100]);
        assert_eq!(h(Range::Latest { after: Some(100) }, 3), Vec::<i64>::new());

        assert_eq!(h(Range::Before { before: 50 }, 2), [30, 40]);
        assert_eq!(h(Range::Before { before: 55 }, 2), [40, 50]);
        assert_eq!(h(Range::Before { before: 10 }, 2), Vec::<i64>::new());

        assert_eq!(h(Range::After { after: 50 }, 2), [60, 70]);
        assert_eq!(h(Range::After { after: 90 }, 5), [100]);
        assert_eq!(h(Range::After { after: 0 }, 1), [10]);

        assert_eq!(h(Range::Around { around: 50 }, 4), [30, 40, 50, 60]);
        assert_eq!(h(Range::Around { around: 50 }, 3), [40, 50, 60]);
        assert_eq!(h(Range::Around { around: 55 }, 4), [40, 50, 60, 70]);
        assert_eq!(h(Range::Around { around: 10 }, 4), [10, 20]);
        assert_eq!(h(Range::Around { around: 100 }, 4), [80, 90, 100]);
        assert_eq!(h(Range::Around { around: 50 }, 1), [50]);

        assert_eq!(h(Range::Between { from: 20, to: 70 }, 10), [30, 40, 50, 60]);
        assert_eq!(h(Range::Between { from: 20, to: 70 }, 2), [30, 40]);
        assert_eq!(h(Range::Between { from: 70, to: 20 }, 2), [50, 60]);
        assert_eq!(h(Range::Between { from: 70, to: 20 }, 10), [30, 40, 50, 60]);
        assert_eq!(
            h(Range::Between { from: 50, to: 50 }, 10),
            Vec::<i64>::new()
        );
        assert_eq!(
            h(Range::Between { from: 50, to: 60 }, 10),
            Vec::<i64>::new()
        );

        for range in [
            Range::Latest { after: None },
            Range::Before { before: 100 },
            Range::After { after: 0 },
            Range::Around { around: 50 },
            Range::Between { from: 0, to: 1000 },
        ] {
            assert!(h(range, 0).is_empty());
        }
        // Unfolded names find the same conversation.
        let upper = history(&conn, &chan("#C"), &Range::After { after: 0 }, 1);
        assert_eq!(ids(&upper.unwrap()), [10]);
    }

    #[test]
    fn direct_history_is_shared_by_both_parties() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_db(dir.path());
        log(
            &conn,
            &[
                dm(1, "a:alice", "alice", "n:bob", "bob", "1"),
                dm(2, "n:bob", "bob", "a:alice", "alice", "2"),
                dm(3, "n:bob", "bob", "n:carol", "carol", "3"),
            ],
        )
        .unwrap();
        for conv in [
            Conv::Direct("a:alice".into(), "n:bob".into()),
            Conv::Direct("n:bob".into(), "a:alice".into()),
        ] {
            let got = history(&conn, &conv, &Range::Latest { after: None }, 10).unwrap();
            assert_eq!(ids(&got), [1, 2]);
        }
        // A party never sees another pair's conversation.
        let got = history(
            &conn,
            &Conv::Direct("a:alice".into(), "n:carol".into()),
            &Range::Latest { after: None },
            10,
        )
        .unwrap();
        assert!(got.is_empty());
    }

    #[test]
    fn queue_full_and_stale() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_db(dir.path());
        let (bob, carol, dan, eve) = (1, 2, 3, 4);
        let q = |id: i64, account: AccountId, now: i64| {
            queue(
                &conn,
                account,
                &dm(id, "n:x", "x", "a:bob", "bob", "m"),
                now,
                3,
                60,
            )
            .unwrap()
        };
        assert_eq!(q(1, bob, 1_000), Ok(()));
        assert_eq!(q(2, bob, 2_000), Ok(()));
        assert_eq!(q(3, bob, 3_000), Ok(()));
        assert_eq!(q(4, bob, 4_000), Err(QueueRefusal::Full));
        // Refused messages are not logged by the queue.
        assert_eq!(last_id(&conn).unwrap(), 3);
        // Another account has its own limits.
        assert_eq!(q(5, carol, 5_000), Ok(()));

        // Age: oldest queued at 5_000; exactly 60 s later is still fine, later is stale.
        assert_eq!(q(6, carol, 65_000), Ok(()));
        assert_eq!(q(7, carol, 65_001), Err(QueueRefusal::Stale));

        // Delivering the old rows makes room again.
        let rows = fetch_queue(&conn, carol).unwrap();
        assert_eq!(rows.len(), 2);
        dequeue(&conn, &[rows[0].0]).unwrap();
        assert_eq!(q(8, carol, 65_001), Ok(()));

        // No age limit when it is 0; no queue at all when the count limit is 0.
        let m = dm(9, "n:x", "x", "a:dan", "dan", "m");
        assert_eq!(queue(&conn, dan, &m, 0, 5, 0).unwrap(), Ok(()));
        let m = dm(10, "n:x", "x", "a:dan", "dan", "m");
        assert_eq!(queue(&conn, dan, &m, i64::MAX / 2, 5, 0).unwrap(), Ok(()));
        let m = dm(11, "n:x", "x", "a:eve", "eve", "m");
        assert_eq!(
            queue(&conn, eve, &m, 0, 0, 60).unwrap(),
            Err(QueueRefusal::Full)
        );
    }

    #[test]
    fn fetch_queue_order_and_dequeue() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_db(dir.path());
        let (bob, carol) = (1, 2);
        // Queue order is arrival order, whatever the message ids.
        let msgs = [
            dm(30, "n:x", "x", "a:bob", "bob", "first"),
            dm(10, "n:y", "y", "a:bob", "bob", "second"),
            dm(20, "n:x", "x", "a:bob", "bob", "third"),
        ];
        // The same message may also arrive in a Log batch.
        log(&conn, &msgs[1..2]).unwrap();
        for (i, m) in msgs.iter().enumerate() {
            assert_eq!(queue(&conn, bob, m, i as i64, 100, 3600).unwrap(), Ok(()));
        }
        queue(
            &conn,
            carol,
            &dm(40, "n:x", "x", "a:carol", "carol", "c"),
            0,
            100,
            3600,
        )
        .unwrap()
        .unwrap();
        let rows = fetch_queue(&conn, bob).unwrap();
        let texts: Vec<_> = rows.iter().map(|(_, m)| m.text.as_str()).collect();
        assert_eq!(texts, ["first", "second", "third"]);
        assert_eq!(rows[1].1, msgs[1]);
        assert!(rows.windows(2).all(|w| w[0].0 < w[1].0));

        dequeue(&conn, &[rows[0].0, rows[2].0, 9999]).unwrap();
        let left: Vec<_> = fetch_queue(&conn, bob).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].1.text, "second");
        assert_eq!(fetch_queue(&conn, carol).unwrap().len(), 1);
        assert!(fetch_queue(&conn, 99).unwrap().is_empty());
    }

    fn account(name: &str) -> Account {
        Account {
            id: 0,
            name: name.to_string(),
            hash: PasswordHash {
                iterations: 1,
                salt: vec![1, 2],
                hash: vec![3, 4],
            },
            email: Some(format!("{name}@example.org")),
            created: 100,
            last_seen: 100,
        }
    }

    #[test]
    fn accounts_create_seen_delete() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_db(dir.path());
        let alice_id = create_account(&conn, &account("Alice")).unwrap().unwrap();
        assert_eq!(
            create_account(&conn, &account("ALICE")).unwrap(),
            Err(RegisterError::Exists)
        );
        let mut bob = account("bob");
        bob.email = None;
        let bob_id = create_account(&conn, &bob).unwrap().unwrap();
        assert!(bob_id > alice_id);
        seen(&conn, "BOB", 500).unwrap();
        seen(&conn, "nobody", 500).unwrap();
        let all = load_accounts(&conn).unwrap();
        bob.last_seen = 500;
        bob.id = bob_id;
        let alice = Account {
            id: alice_id,
            ..account("Alice")
        };
        assert_eq!(all, vec![alice, bob]);

        queue(
            &conn,
            alice_id,
            &dm(1, "n:x", "x", "a:alice", "alice", "m"),
            0,
            10,
            0,
        )
        .unwrap()
        .unwrap();
        join(&conn, alice_id, "#Chan", 7, 0).unwrap();
        delete_account(&conn, alice_id).unwrap();
        assert_eq!(load_accounts(&conn).unwrap().len(), 1);
        assert!(fetch_queue(&conn, alice_id).unwrap().is_empty());
        assert!(fetch_memberships(&conn, alice_id, 10).unwrap().is_empty());
        // The logged message stays.
        assert_eq!(last_id(&conn).unwrap(), 1);
        // The name is free again, under a new id (issue 14: never the deleted one's,
        // even when it was the newest).
        let again = create_account(&conn, &account("alice")).unwrap().unwrap();
        assert!(again > bob_id, "{again}");
        delete_account(&conn, again).unwrap();
        let newest = create_account(&conn, &account("alice")).unwrap().unwrap();
        assert!(newest > again, "{newest}");
    }

    #[test]
    fn memberships_and_missed_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_db(dir.path());
        let msgs: Vec<_> = (1..=10).map(|i| chan_msg(i, "#A", "n", "a")).collect();
        log(&conn, &msgs).unwrap();
        log(&conn, &[chan_msg(11, "#b", "n", "b")]).unwrap();

        let (alice, bob) = (1, 2);
        join(&conn, alice, "#A", 0, 3).unwrap();
        join(&conn, alice, "#b", 0, 11).unwrap();
        join(&conn, bob, "#A", 0, 0).unwrap();
        let got = fetch_memberships(&conn, alice, 4).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].channel, "#A");
        assert_eq!(ids(&got[0].missed), [7, 8, 9, 10]);
        assert_eq!(got[1].channel, "#b");
        assert!(got[1].missed.is_empty());

        let got = fetch_memberships(&conn, alice, 100).unwrap();
        assert_eq!(ids(&got[0].missed), [4, 5, 6, 7, 8, 9, 10]);
        assert!(fetch_memberships(&conn, alice, 0).unwrap()[0]
            .missed
            .is_empty());

        left(&conn, alice, &["#a".to_string(), "#b".to_string()], 8).unwrap();
        let got = fetch_memberships(&conn, alice, 4).unwrap();
        assert_eq!(ids(&got[0].missed), [9, 10]);
        assert_eq!(ids(&got[1].missed), [11]);

        // Joining again updates the display name and position.
        join(&conn, alice, "#a", 0, 9).unwrap();
        let got = fetch_memberships(&conn, alice, 4).unwrap();
        assert_eq!(got[0].channel, "#a");
        assert_eq!(ids(&got[0].missed), [10]);

        part(&conn, alice, "#B").unwrap();
        let got = fetch_memberships(&conn, alice, 4).unwrap();
        assert_eq!(got.len(), 1);
        // Bob is untouched.
        assert_eq!(
            fetch_memberships(&conn, bob, 100).unwrap()[0].missed.len(),
            10
        );
    }

    /// A channel message of `incarnation` (issue 14).
    fn inc_msg(id: i64, channel: &str, incarnation: Incarnation, text: &str) -> StoredMessage {
        StoredMessage {
            conv: Conv::Channel {
                name: fold(channel),
                incarnation,
            },
            ..chan_msg(id, channel, "n", text)
        }
    }

    #[test]
    fn channel_history_is_read_per_incarnation() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_db(dir.path());
        let mut msgs: Vec<_> = (101..=105).map(|i| inc_msg(i, "#c", 100, "old")).collect();
        msgs.extend((201..=203).map(|i| inc_msg(i, "#C", 200, "new")));
        msgs.push(inc_msg(204, "#other", 200, "elsewhere"));
        log(&conn, &msgs).unwrap();
        new_channel(&conn, "#C", 300, 0).unwrap();
        // Incarnation ids count as used ids: a restart starts above them.
        assert_eq!(last_id(&conn).unwrap(), 300);

        let at = |inc: Incarnation| Conv::Channel {
            name: "#c".into(),
            incarnation: inc,
        };
        let h =
            |inc: Incarnation, range: Range| ids(&history(&conn, &at(inc), &range, 100).unwrap());
        assert_eq!(h(200, Range::Latest { after: None }), [201, 202, 203]);
        assert_eq!(
            h(100, Range::Latest { after: None }),
            [101, 102, 103, 104, 105]
        );
        assert!(h(300, Range::Latest { after: None }).is_empty());
        assert!(h(7, Range::Latest { after: None }).is_empty());
        assert_eq!(h(200, Range::Before { before: i64::MAX }), [201, 202, 203]);
        assert_eq!(h(200, Range::After { after: 0 }), [201, 202, 203]);
        assert_eq!(h(200, Range::Around { around: 150 }), [201, 202, 203]);
        assert_eq!(
            h(
                200,
                Range::Between {
                    from: 0,
                    to: i64::MAX
                }
            ),
            [201, 202, 203]
        );
        assert_eq!(h(100, Range::After { after: 103 }), [104, 105]);
        assert_eq!(
            history(&conn, &at(200), &Range::Latest { after: None }, 1).unwrap()[0].conv,
            at(200)
        );

        // Missed messages are those of the membership's incarnation only.
        join(&conn, 1, "#c", 100, 103).unwrap();
        join(&conn, 2, "#c", 300, 300).unwrap();
        let got = fetch_memberships(&conn, 1, 10).unwrap();
        assert_eq!(
            (got[0].incarnation, ids(&got[0].missed)),
            (100, vec![104, 105])
        );
        assert!(fetch_memberships(&conn, 2, 10).unwrap()[0]
            .missed
            .is_empty());
        // Bans are kept with their incarnation, for the loop to cap the replay.
        channel_ban(&conn, 100, "bob!*@*", 104).unwrap();
        channel_ban(&conn, 200, "eve!*@*", 202).unwrap();
        let got = fetch_memberships(&conn, 1, 10).unwrap();
        assert_eq!(got[0].bans, vec![("bob!*@*".to_string(), 104)]);
        assert!(fetch_memberships(&conn, 2, 10).unwrap()[0].bans.is_empty());

        // TARGETS sees a channel only in the incarnation the reader is in.
        let t = |inc| targets(&conn, "n:x", &[("#c".to_string(), inc)], 0, i64::MAX, 10).unwrap();
        assert_eq!(t(200).len(), 1);
        assert_eq!(t(200)[0].latest_ms, 2030);
        assert!(t(300).is_empty());
    }

    #[test]
    fn targets_lists_conversations_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_db(dir.path());
        log(
            &conn,
            &[
                // alice <-> bob (both registered): bob wrote, later as Bob_.
                dm(10, "a:bob", "bob", "a:alice", "alice", "hi"),
                dm(20, "a:alice", "Alice", "a:bob", "bob", "hey"),
                // alice -> carol: carol never wrote; alice called her Carol.
                dm(30, "a:alice", "Alice", "a:carol", "Carol", "ping"),
                chan_msg(40, "#Rust", "x", "channel"),
                dm(50, "a:bob", "Bob_", "a:alice", "alice", "renamed"),
                // An unregistered nick is its own identity: not alice's conversation.
                dm(55, "n:bob", "bob", "n:dave", "dave", "nick-only pair"),
                // Not alice's.
                dm(60, "a:bob", "Bob_", "a:carol", "carol", "other pair"),
                chan_msg(70, "#other", "x", "not asked"),
                dm(80, "a:alice", "Alice", "a:bob", "Bob_", "later"),
            ],
        )
        .unwrap();
        let chans = [
            ("#rust".to_string(), 0),
            ("#quiet".to_string(), 0),
            ("#RUST".to_string(), 0),
        ];
        let t = |from: i64, to: i64, limit: usize| {
            targets(&conn, "a:alice", &chans, from, to, limit)
                .unwrap()
                .into_iter()
                .map(|t| (t.name, t.latest_ms))
                .collect::<Vec<_>>()
        };
        let all = vec![
            ("Bob_".to_string(), 800),
            ("#Rust".to_string(), 400),
            ("Carol".to_string(), 300),
        ];
        assert_eq!(t(0, 1000, 10), all);
        // Either order of bounds.
        assert_eq!(t(1000, 0, 10), all);
        assert_eq!(t(0, 1000, 2), all[..2].to_vec());
        // Exclusive bounds: 80 is outside, so bob's latest in range is 50.
        assert_eq!(
            t(30, 80, 10),
            vec![("Bob_".to_string(), 500), ("#Rust".to_string(), 400)]
        );
        assert_eq!(t(0, 10, 10), vec![]);
        assert_eq!(t(0, 1000, 0), vec![]);
        // Bob's account sees its conversations with alice and carol; the nick-only
        // identity n:bob sees only its own.
        let bob = targets(&conn, "a:BOB", &[], 0, 1000, 10).unwrap();
        let names: Vec<_> = bob.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Alice", "carol"]);
        let nick_bob = targets(&conn, "n:bob", &[], 0, 1000, 10).unwrap();
        assert_eq!(
            nick_bob,
            vec![TargetActivity {
                name: "dave".into(),
                latest_ms: 550
            }]
        );
    }
}
