//! The log, the offline queue, channel incarnations and bans, history, redaction,
//! TARGETS and the tail: the same reads and order as SQLite's (`store/db/`).

use super::{Pg, R};
use crate::ids::Party;
use crate::store::db::{conv_columns, conv_key, incarnation_of, NAME_SCAN};
use crate::store::{
    AccountId, Conv, Incarnation, Kind, QueueRefusal, Range, RedactRefusal, Redactor,
    StoredMessage, TailFilter, TargetActivity,
};
use chatd_proto::fold;
use chatd_proto::mask::split_source;
use postgres::Row;

/// The columns [`message_from_row`] reads, in order.
macro_rules! message_columns {
    () => {
        "m.id, m.time_ms, m.kind, m.source, m.account, m.target, \
         m.conv, m.party_a, m.party_b, m.text, m.incarnation"
    };
}

fn message_from_row(row: &Row, at: usize) -> StoredMessage {
    let conv: String = row.get(at + 6);
    let party_a: Option<String> = row.get(at + 7);
    let party_b: Option<String> = row.get(at + 8);
    let conv = match (party_a, party_b) {
        (Some(a), Some(b)) => Conv::Direct(a, b),
        _ => Conv::Channel {
            name: conv,
            incarnation: row.get(at + 10),
        },
    };
    StoredMessage {
        id: row.get(at),
        time_ms: row.get(at + 1),
        kind: Kind::from_code(row.get(at + 2)),
        source: row.get(at + 3),
        account: row.get(at + 4),
        target: row.get(at + 5),
        conv,
        text: row.get(at + 9),
    }
}

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Logs messages (each unless its id is already logged, by this node or another) and
/// lists each new direct conversation: one statement for the messages and one for
/// the conversations, whatever their number.
pub(super) fn log(pg: &mut Pg, msgs: &[StoredMessage]) -> R<()> {
    if msgs.is_empty() {
        return Ok(());
    }
    let n = msgs.len();
    let (mut ids, mut times, mut kinds) = (Vec::with_capacity(n), Vec::new(), Vec::new());
    let (mut sources, mut accounts, mut targets) = (Vec::new(), Vec::new(), Vec::new());
    let (mut convs, mut party_a, mut party_b) = (Vec::new(), Vec::new(), Vec::new());
    let (mut texts, mut incarnations) = (Vec::new(), Vec::new());
    let mut direct: Vec<(String, String, String)> = Vec::new();
    for msg in msgs {
        let (conv, a, b) = conv_columns(&msg.conv);
        if let (Some(a), Some(b)) = (&a, &b) {
            if !direct.iter().any(|(c, _, _)| *c == conv) {
                direct.push((conv.clone(), a.clone(), b.clone()));
            }
        }
        ids.push(msg.id);
        times.push(msg.time_ms);
        kinds.push(msg.kind as i64);
        sources.push(msg.source.as_str());
        accounts.push(msg.account.as_deref());
        targets.push(msg.target.as_str());
        convs.push(conv);
        party_a.push(a);
        party_b.push(b);
        texts.push(msg.text.as_str());
        incarnations.push(incarnation_of(&msg.conv));
    }
    pg.exec(
        "INSERT INTO messages \
         (id, time_ms, kind, source, account, target, conv, party_a, party_b, text, incarnation) \
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], \
         $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
         $11::bigint[]) ON CONFLICT (id) DO NOTHING",
        &[
            &ids,
            &times,
            &kinds,
            &sources,
            &accounts,
            &targets,
            &convs,
            &party_a,
            &party_b,
            &texts,
            &incarnations,
        ],
    )?;
    if !direct.is_empty() {
        let (c, (a, b)): (Vec<String>, (Vec<String>, Vec<String>)) =
            direct.into_iter().map(|(c, a, b)| (c, (a, b))).unzip();
        pg.exec(
            "INSERT INTO conversations (conv, party_a, party_b) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) \
             ON CONFLICT (conv) DO NOTHING",
            &[&c, &a, &b],
        )?;
    }
    Ok(())
}

/// The largest logged message id or channel incarnation of any node, 0 when none.
pub(super) fn last_id(pg: &mut Pg) -> R<i64> {
    let row = pg.row(
        "SELECT GREATEST((SELECT COALESCE(max(id), 0) FROM messages), \
                         (SELECT COALESCE(max(id), 0) FROM channel_incarnations))",
        &[],
    )?;
    Ok(row.map_or(0, |r| r.get(0)))
}

pub(super) fn new_channel(
    pg: &mut Pg,
    name: &str,
    incarnation: Incarnation,
    created_ms: i64,
) -> R<()> {
    pg.exec(
        "INSERT INTO channel_incarnations (id, channel, name, created_ms) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
        &[&incarnation, &fold(name), &name, &created_ms],
    )?;
    Ok(())
}

pub(super) fn channel_ban(pg: &mut Pg, incarnation: Incarnation, mask: &str, at_id: i64) -> R<()> {
    pg.exec(
        "INSERT INTO channel_bans (incarnation, mask, set_id) VALUES ($1, $2, $3)",
        &[&incarnation, &mask, &at_id],
    )?;
    Ok(())
}

/// See `db::messages_between`: messages of `conv` in `incarnation` with
/// `lo < id < hi`, the newest or oldest `limit`, oldest first.
pub(super) fn messages_between(
    pg: &mut Pg,
    conv: &str,
    (incarnation, events): (Incarnation, bool),
    lo: i64,
    hi: i64,
    newest: bool,
    limit: usize,
) -> R<Vec<StoredMessage>> {
    let lo = lo.max(incarnation);
    if limit == 0 || lo >= hi {
        return Ok(Vec::new());
    }
    let sql = if newest {
        concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m WHERE m.conv = $1 AND m.id > $2 AND m.id < $3 \
             AND m.incarnation = $5 AND ($6 OR m.kind < 2) ORDER BY m.id DESC LIMIT $4"
        )
    } else {
        concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m WHERE m.conv = $1 AND m.id > $2 AND m.id < $3 \
             AND m.incarnation = $5 AND ($6 OR m.kind < 2) ORDER BY m.id ASC LIMIT $4"
        )
    };
    let rows = pg.rows(
        sql,
        &[&conv, &lo, &hi, &limit_param(limit), &incarnation, &events],
    )?;
    let mut out: Vec<StoredMessage> = rows.iter().map(|r| message_from_row(r, 0)).collect();
    if newest {
        out.reverse();
    }
    Ok(out)
}

/// See `db::history`.
pub(super) fn history(
    pg: &mut Pg,
    conv: &Conv,
    range: &Range,
    limit: usize,
    events: bool,
) -> R<Vec<StoredMessage>> {
    let key = conv_key(conv);
    let inc = incarnation_of(conv);
    range.read(limit, |lo, hi, newest, n| {
        messages_between(pg, &key, (inc, events), lo, hi, newest, n)
    })
}

/// See `db::redact`.
pub(super) fn redact(
    pg: &mut Pg,
    conv: &Conv,
    id: i64,
    by: &Redactor,
) -> R<Result<StoredMessage, RedactRefusal>> {
    let found = pg.row(
        concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m WHERE m.id = $1 AND m.conv = $2 AND m.incarnation = $3 \
             AND m.kind < 2"
        ),
        &[&id, &conv_key(conv), &incarnation_of(conv)],
    )?;
    let Some(msg) = found.map(|r| message_from_row(&r, 0)) else {
        return Ok(Err(RedactRefusal::UnknownMsgid));
    };
    if !by.may_redact(&msg) {
        return Ok(Err(RedactRefusal::Forbidden));
    }
    pg.exec("DELETE FROM offline_queue WHERE message_id = $1", &[&id])?;
    pg.exec("DELETE FROM messages WHERE id = $1", &[&id])?;
    Ok(Ok(msg))
}

// ---- offline queue ----

/// See `db::queue`. Two nodes queueing for one account at once may each see one
/// place left: the limit can be passed by the number of nodes, never more.
pub(super) fn queue(
    pg: &mut Pg,
    account: AccountId,
    msg: &StoredMessage,
    now_ms: i64,
    max_messages: usize,
    max_age_secs: i64,
) -> R<Result<(), QueueRefusal>> {
    let row = pg.row(
        "SELECT count(*), min(queued_ms) FROM offline_queue WHERE account_id = $1",
        &[&account],
    )?;
    let (waiting, oldest): (i64, Option<i64>) = row.map_or((0, None), |r| (r.get(0), r.get(1)));
    if usize::try_from(waiting).unwrap_or(usize::MAX) >= max_messages {
        return Ok(Err(QueueRefusal::Full));
    }
    if let Some(oldest) = oldest {
        if max_age_secs > 0 && now_ms.saturating_sub(oldest) > max_age_secs.saturating_mul(1000) {
            return Ok(Err(QueueRefusal::Stale));
        }
    }
    log(pg, std::slice::from_ref(msg))?;
    pg.exec(
        "INSERT INTO offline_queue (account_id, message_id, queued_ms) VALUES ($1, $2, $3)",
        &[&account, &msg.id, &now_ms],
    )?;
    Ok(Ok(()))
}

pub(super) fn fetch_queue(pg: &mut Pg, account: AccountId) -> R<Vec<(i64, StoredMessage)>> {
    let rows = pg.rows(
        concat!(
            "SELECT q.id, ",
            message_columns!(),
            " FROM offline_queue q JOIN messages m ON m.id = q.message_id \
             WHERE q.account_id = $1 ORDER BY q.id"
        ),
        &[&account],
    )?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), message_from_row(r, 1)))
        .collect())
}

pub(super) fn dequeue(pg: &mut Pg, ids: &[i64]) -> R<()> {
    pg.exec("DELETE FROM offline_queue WHERE id = ANY($1)", &[&ids])?;
    Ok(())
}

// ---- TARGETS ----

/// See `db::targets`.
pub(super) fn targets(
    pg: &mut Pg,
    party: &str,
    channels: &[(String, Incarnation)],
    from: i64,
    to: i64,
    limit: usize,
) -> R<Vec<TargetActivity>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let party = fold(party);
    let (lo, hi) = (from.min(to), from.max(to));
    enum Found {
        Channel(String),
        Direct { conv: String, other: String },
    }
    let mut found: Vec<(i64, i64, Found)> = Vec::new();
    let newest = |pg: &mut Pg, key: &str, inc: Incarnation| -> R<Option<(i64, i64, String)>> {
        Ok(pg
            .row(
                "SELECT id, time_ms, target FROM messages \
                 WHERE conv = $1 AND id > $2 AND id < $3 AND incarnation = $4 AND kind < 2 \
                 ORDER BY id DESC LIMIT 1",
                &[&key, &lo.max(inc), &hi, &inc],
            )?
            .map(|r| (r.get(0), r.get(1), r.get(2))))
    };
    let convs = pg.rows(
        "SELECT conv, party_a, party_b FROM conversations WHERE party_a = $1 \
         UNION SELECT conv, party_a, party_b FROM conversations WHERE party_b = $1",
        &[&party],
    )?;
    for row in convs {
        let (conv, a, b): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        if let Some((id, time_ms, _)) = newest(pg, &conv, 0)? {
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
        if let Some((id, time_ms, target)) = newest(pg, &key, *inc)? {
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
                Found::Direct { conv, other } => direct_name(pg, &conv, &other)?,
            };
            Ok(TargetActivity { name, latest_ms })
        })
        .collect()
}

fn direct_name(pg: &mut Pg, conv: &str, other: &str) -> R<String> {
    let rows = pg.rows(
        "SELECT source, party_a, target FROM messages WHERE conv = $1 \
         ORDER BY id DESC LIMIT $2",
        &[&conv, &(NAME_SCAN as i64)],
    )?;
    let mut fallback = None;
    for row in &rows {
        let source: String = row.get(0);
        let sender: Option<String> = row.get(1);
        if sender.as_deref() == Some(other) {
            return Ok(split_source(&source).nick.to_string());
        }
        if fallback.is_none() {
            fallback = Some(row.get::<_, String>(2));
        }
    }
    Ok(fallback.unwrap_or_else(|| other.split_once(':').map_or(other, |(_, n)| n).to_string()))
}

/// See `db::tail`.
pub(super) fn tail(pg: &mut Pg, n: usize, filter: Option<&TailFilter>) -> R<Vec<StoredMessage>> {
    let limit = limit_param(n);
    let rows = match filter {
        None => pg.rows(
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages m WHERE m.kind < 2 ORDER BY m.id DESC LIMIT $1"
            ),
            &[&limit],
        )?,
        Some(TailFilter::Channel(name)) => pg.rows(
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages m WHERE m.conv = $1 AND m.kind < 2 \
                 ORDER BY m.id DESC LIMIT $2"
            ),
            &[&fold(name), &limit],
        )?,
        Some(TailFilter::Party { nick, account }) => {
            let a = account.map_or_else(|| "a:-".to_string(), |id| Party::account(id).into_key());
            let n = Party::nick(nick).into_key();
            pg.rows(
                concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM messages m WHERE m.conv IN (SELECT conv FROM conversations \
                     WHERE party_a IN ($1, $2) OR party_b IN ($1, $2)) AND m.kind < 2 \
                     ORDER BY m.id DESC LIMIT $3"
                ),
                &[&a, &n, &limit],
            )?
        }
    };
    let mut out: Vec<StoredMessage> = rows.iter().map(|r| message_from_row(r, 0)).collect();
    out.reverse();
    Ok(out)
}
