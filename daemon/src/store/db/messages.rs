//! Logging messages, channel incarnations and channel bans, and reading history.

use super::*;

// ---- messages ----

/// Inserts one message unless its id is already logged.
pub(in crate::store) fn insert_message(conn: &Connection, msg: &StoredMessage) -> Result<()> {
    log(conn, std::slice::from_ref(msg))
}

/// [`super::Request::Log`]: inserts each message unless its id is already logged, and
/// records each direct conversation the first time it is seen. The statements are
/// looked up once per call, not once per message.
pub(in crate::store) fn log(conn: &Connection, msgs: &[StoredMessage]) -> Result<()> {
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
/// incarnation: the `messages_conv` index then reads this incarnation's rows only.
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
    let sql = if newest { NEWEST_SQL } else { OLDEST_SQL };
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(
        params![conv, lo, hi, limit_param(limit), incarnation, events],
        |row| message_from_row(row, 0),
    )?;
    let mut out = rows.collect::<Result<Vec<_>>>()?;
    if newest {
        out.reverse();
    }
    Ok(out)
}

// `prepare_cached` keys on the text, so the two orders are two fixed strings.
pub(super) const OLDEST_SQL: &str =
    "SELECT m.id, m.time_ms, m.kind, m.source, m.account, m.target, \
     m.conv, m.party_a, m.party_b, m.text, m.incarnation FROM messages m \
     WHERE m.conv = ?1 AND m.id > ?2 AND m.id < ?3 AND m.incarnation = ?5 \
     AND (?6 OR m.kind < 2) ORDER BY m.id ASC LIMIT ?4";
pub(super) const NEWEST_SQL: &str =
    "SELECT m.id, m.time_ms, m.kind, m.source, m.account, m.target, \
     m.conv, m.party_a, m.party_b, m.text, m.incarnation FROM messages m \
     WHERE m.conv = ?1 AND m.id > ?2 AND m.id < ?3 AND m.incarnation = ?5 \
     AND (?6 OR m.kind < 2) ORDER BY m.id DESC LIMIT ?4";

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
    let (min, max) = (i64::MIN, i64::MAX);
    let between =
        |lo, hi, newest, limit| messages_between(conn, &key, (inc, events), lo, hi, newest, limit);
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
            "SELECT {MESSAGE_COLUMNS} FROM messages m \
             WHERE m.id = ?1 AND m.conv = ?2 AND m.incarnation = ?3 AND m.kind < 2"
        ))?
        .query_row(params![id, conv_key(conv), incarnation_of(conv)], |row| {
            message_from_row(row, 0)
        })
        .optional()?;
    let Some(msg) = found else {
        return Ok(Err(RedactRefusal::UnknownMsgid));
    };
    let by_account = match (&by.account, &msg.account) {
        (Some((name, since_ms)), Some(sender)) => {
            fold(name) == fold(sender) && msg.time_ms >= *since_ms
        }
        _ => false,
    };
    let by_party = match (&by.party, &msg.conv) {
        (Some((party, since_id)), Conv::Direct(sender, _)) => {
            fold(party) == *sender && msg.id > *since_id
        }
        _ => false,
    };
    if !(by.any || by_account || by_party) {
        return Ok(Err(RedactRefusal::Forbidden));
    }
    conn.prepare_cached("DELETE FROM offline_queue WHERE message_id = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM messages WHERE id = ?1")?
        .execute([id])?;
    Ok(Ok(msg))
}
