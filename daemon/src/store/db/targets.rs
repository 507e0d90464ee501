//! CHATHISTORY TARGETS: conversations with activity between two ids.

use super::*;

// ---- targets ----

/// [`super::Request::Targets`]: the direct conversations of `party` and the given
/// channel incarnations that have a message with `min(from, to) < id < max(from, to)`, newest
/// latest-activity first, at most `limit`. `latest_ms` is the time of the newest
/// message in that range.
///
/// Channel events (draft/event-playback) are not activity: only messages count.
///
/// Names: a channel is named by the target of its newest message in the range (as
/// that sender typed it; the loop may prefer the live channel's display name). A
/// direct conversation is named by the other party's latest nick: the nick of the
/// newest message the other party sent in it, or, if none of the newest
/// [`NAME_SCAN`] messages is theirs, the target of the newest message (which `party`
/// addressed to them).
pub(in crate::store) fn targets(
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

    let newest = |key: &str, inc: Incarnation| -> Result<Option<(i64, i64, String)>> {
        Ok(messages_between(conn, key, (inc, false), lo, hi, true, 1)?
            .pop()
            .map(|m| (m.id, m.time_ms, m.target)))
    };

    let mut convs = conn.prepare_cached(
        "SELECT key, party_a, party_b FROM convs WHERE party_a = ?1 \
         UNION SELECT key, party_a, party_b FROM convs WHERE party_b = ?1",
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
pub(super) fn direct_name(conn: &Connection, conv: &str, other: &str) -> Result<String> {
    // Newest first; a direct message's conversation is (sender, recipient).
    let recent = messages_between(conn, conv, (0, true), i64::MIN, i64::MAX, true, NAME_SCAN);
    let mut fallback = None;
    for msg in recent?.into_iter().rev() {
        if matches!(&msg.conv, Conv::Direct(sender, _) if sender == other) {
            return Ok(split_source(&msg.source).nick.to_string());
        }
        if fallback.is_none() {
            fallback = Some(msg.target);
        }
    }
    // Never empty: without any message the identity itself names them.
    Ok(fallback.unwrap_or_else(|| other.split_once(':').map_or(other, |(_, n)| n).to_string()))
}
