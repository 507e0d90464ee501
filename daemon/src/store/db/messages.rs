//! Logging messages, channel incarnations and channel bans, and reading history.

use super::*;

// ---- messages ----

/// Inserts one message unless its id is already logged.
pub(in crate::store) fn insert_message(conn: &Connection, msg: &StoredMessage) -> Result<()> {
    log(conn, std::slice::from_ref(msg))
}

/// [`super::Request::Log`]: inserts each message unless its id is already logged,
/// interning each conversation the first time it is seen (`convs`), and hands its
/// `(conv, id)` pair to the index written behind ([`super::index`]). Statements are
/// looked up once per call, each conversation once per call.
pub(in crate::store) fn log(conn: &Connection, msgs: &[StoredMessage]) -> Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO messages \
         (id, conv, dir, kind, time_ms, source, account, target, text) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let watermark = super::index::watermark(conn)?;
    // key, incarnation -> (conv id, the conversation's party_a)
    let mut seen: std::collections::HashMap<(String, Incarnation), (i64, Option<String>)> =
        std::collections::HashMap::new();
    for msg in msgs {
        let (key, party_a, party_b) = conv_columns(&msg.conv);
        let inc = incarnation_of(&msg.conv);
        let entry = match seen.entry((key, inc)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let (key, inc) = e.key();
                let id = intern(conn, key, *inc, party_a.as_deref(), party_b.as_deref())?;
                e.insert(id)
            }
        };
        let conv_id = entry.0;
        let dir = i64::from(party_a.is_some() && party_a != entry.1);
        let inserted = insert.execute(params![
            msg.id,
            conv_id,
            dir,
            msg.kind as i64,
            msg.time_ms,
            msg.source,
            msg.account,
            msg.target,
            msg.text,
        ])?;
        if inserted > 0 {
            super::index::note(conn, conv_id, msg.id, watermark)?;
        }
    }
    Ok(())
}

/// The interned id of a conversation and its `party_a`, creating it (with these
/// parties, for a direct one) the first time.
fn intern(
    conn: &Connection,
    key: &str,
    incarnation: Incarnation,
    party_a: Option<&str>,
    party_b: Option<&str>,
) -> Result<(i64, Option<String>)> {
    if let Some(found) = conn
        .prepare_cached("SELECT id, party_a FROM convs WHERE key = ?1 AND incarnation = ?2")?
        .query_row(params![key, incarnation], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
    {
        return Ok(found);
    }
    conn.prepare_cached(
        "INSERT INTO convs (key, incarnation, party_a, party_b) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![key, incarnation, party_a, party_b])?;
    Ok((conn.last_insert_rowid(), party_a.map(str::to_string)))
}

/// The interned id of a conversation, if it has ever had a message.
pub(super) fn conv_id(
    conn: &Connection,
    key: &str,
    incarnation: Incarnation,
) -> Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM convs WHERE key = ?1 AND incarnation = ?2")?
        .query_row(params![key, incarnation], |r| r.get(0))
        .optional()
}

/// The largest logged message id or channel incarnation, 0 when there is none: both
/// come from the loop's id sequence, which must start above them.
pub(in crate::store) fn last_id(conn: &Connection) -> Result<i64> {
    conn.query_row(
        "SELECT max((SELECT COALESCE(max(id), 0) FROM messages), \
                    (SELECT COALESCE(max(id), 0) FROM channel_incarnations))",
        [],
        |r| r.get(0),
    )
}

/// [`super::Request::NewChannel`].
pub(in crate::store) fn new_channel(
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
pub(in crate::store) fn channel_ban(
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
/// Always returned oldest first. Channel events (JOIN, PART...) count only when
/// `events` (draft/event-playback); otherwise only PRIVMSG and NOTICE are read.
///
/// Every message of a channel incarnation has a larger id than the incarnation, and
/// a channel's incarnations follow each other in time, so `lo` is raised to the
/// incarnation.
pub(super) fn messages_between(
    conn: &Connection,
    conv: &str,
    (incarnation, events): (Incarnation, bool),
    lo: i64,
    hi: i64,
    newest: bool,
    limit: usize,
) -> Result<Vec<StoredMessage>> {
    let lo = lo.max(incarnation);
    if limit == 0 || lo >= hi {
        return Ok(Vec::new());
    }
    let Some(id) = conv_id(conn, conv, incarnation)? else {
        return Ok(Vec::new());
    };
    let mut out = rows_of(conn, id, (lo, hi), newest, limit, events)?;
    if newest {
        out.reverse();
    }
    Ok(out)
}

/// The messages of interned conversation `conv` with `lo < id < hi`, at most
/// `limit`, newest first if `newest` else oldest first: the indexed part
/// (`messages_by_conv`) and the part not indexed yet (`temp.pending_index`), each
/// read through its `(conv, id)` key with the limit, then merged.
pub(super) fn rows_of(
    conn: &Connection,
    conv: i64,
    (lo, hi): (i64, i64),
    newest: bool,
    limit: usize,
    events: bool,
) -> Result<Vec<StoredMessage>> {
    let mut out = Vec::new();
    let sqls = if newest {
        [NEWEST_SQL, NEWEST_PENDING_SQL]
    } else {
        [OLDEST_SQL, OLDEST_PENDING_SQL]
    };
    for sql in sqls {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![conv, lo, hi, limit_param(limit), events], |row| {
            message_from_row(row, 0)
        })?;
        for row in rows {
            out.push(row?);
        }
    }
    if newest {
        out.sort_unstable_by_key(|m| std::cmp::Reverse(m.id));
    } else {
        out.sort_unstable_by_key(|m| m.id);
    }
    out.dedup_by_key(|m| m.id);
    out.truncate(limit);
    Ok(out)
}

// `prepare_cached` keys on the text, so each order and part is one fixed string.
// CROSS JOIN keeps the index table outermost: it is read in key order and stops at
// the limit.
macro_rules! conv_rows_sql {
    ($index:literal, $order:literal) => {
        concat!(
            "SELECT m.id, m.time_ms, m.kind, m.source, m.account, m.target, \
             c.key, CASE m.dir WHEN 0 THEN c.party_a ELSE c.party_b END, \
             CASE m.dir WHEN 0 THEN c.party_b ELSE c.party_a END, m.text, c.incarnation \
             FROM ",
            $index,
            " i CROSS JOIN messages m ON m.id = i.id CROSS JOIN convs c ON c.id = m.conv \
             WHERE i.conv = ?1 AND i.id > ?2 AND i.id < ?3 AND (?5 OR m.kind < 2) \
             ORDER BY i.id ",
            $order,
            " LIMIT ?4"
        )
    };
}
pub(super) const OLDEST_SQL: &str = conv_rows_sql!("messages_by_conv", "ASC");
pub(super) const NEWEST_SQL: &str = conv_rows_sql!("messages_by_conv", "DESC");
const OLDEST_PENDING_SQL: &str = conv_rows_sql!("temp.pending_index", "ASC");
const NEWEST_PENDING_SQL: &str = conv_rows_sql!("temp.pending_index", "DESC");

/// [`super::Request::History`]: see [`Range`]. Bounds are exclusive except that
/// `Around` includes the message at `around`; `Around` takes `limit / 2` messages
/// before `around` and up to the rest at or after it (a short side is not refilled
/// from the other); `Between` takes the `limit` messages nearest `from`. Oldest first.
/// A channel's history is that of its incarnation only; its events only if `events`.
pub(in crate::store) fn history(
    conn: &Connection,
    conv: &Conv,
    range: &Range,
    limit: usize,
    events: bool,
) -> Result<Vec<StoredMessage>> {
    let key = conv_key(conv);
    let inc = incarnation_of(conv);
    range.read(limit, |lo, hi, newest, n| {
        messages_between(conn, &key, (inc, events), lo, hi, newest, n)
    })
}

// ---- redaction ----

/// [`super::Request::Redact`]: deletes message `id` of conversation `conv` (and its
/// offline-queue rows, so an undelivered copy is never delivered) if `by` may.
/// A message of another conversation, or an event, is `UnknownMsgid`, exactly like
/// one that does not exist: the answer tells nothing about other conversations.
pub(in crate::store) fn redact(
    conn: &Connection,
    conv: &Conv,
    id: i64,
    by: &Redactor,
) -> Result<Result<StoredMessage, RedactRefusal>> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS}, m.conv FROM messages m JOIN convs c ON c.id = m.conv \
             WHERE m.id = ?1 AND c.key = ?2 AND c.incarnation = ?3 AND m.kind < 2"
        ))?
        .query_row(params![id, conv_key(conv), incarnation_of(conv)], |row| {
            Ok((message_from_row(row, 0)?, row.get::<_, i64>(11)?))
        })
        .optional()?;
    let Some((msg, conv_id)) = found else {
        return Ok(Err(RedactRefusal::UnknownMsgid));
    };
    if !by.may_redact(&msg) {
        return Ok(Err(RedactRefusal::Forbidden));
    }
    conn.prepare_cached("DELETE FROM offline_queue WHERE message_id = ?1")?
        .execute([id])?;
    super::index::remove(conn, conv_id, id)?;
    conn.prepare_cached("DELETE FROM messages WHERE id = ?1")?
        .execute([id])?;
    Ok(Ok(msg))
}
