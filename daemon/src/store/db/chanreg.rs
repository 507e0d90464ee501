//! Registered channels: the whole record written at once (settings, lists, access
//! list), deleted, and loaded at start.

use super::*;
use crate::store::{AccessRole, ChannelRecord, HistoryScope, ListEntry};

/// [`super::Request::SaveChannel`]: insert or replace the record, its lists and its
/// access list. A record is small (the lists are bounded by the config), so writing
/// it whole keeps the rows and the loop's copy equal without diffing.
pub(in crate::store) fn save_channel(conn: &Connection, c: &ChannelRecord) -> Result<()> {
    let key = fold(&c.name);
    let (topic, setter, time) = match &c.topic {
        Some((t, s, at)) => (Some(t.as_str()), Some(s.as_str()), Some(*at)),
        None => (None, None, None),
    };
    conn.prepare_cached(
        "INSERT OR REPLACE INTO registered_channels (channel, name, founder, registered, \
         last_used, incarnation, history, topic, topic_setter, topic_time, modes, key, \
         user_limit) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        key,
        c.name,
        c.founder,
        c.registered,
        c.last_used,
        c.incarnation,
        c.history.name(),
        topic,
        setter,
        time,
        c.modes,
        c.key,
        c.limit
    ])?;
    delete_rows(conn, &key)?;
    let mut list = conn.prepare_cached(
        "INSERT INTO registered_channel_lists (channel, list, mask, setter, set_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for e in &c.lists {
        list.execute(params![key, e.list.to_string(), e.mask, e.setter, e.time])?;
    }
    let mut access = conn.prepare_cached(
        "INSERT OR REPLACE INTO channel_access (channel, account_id, role) VALUES (?1, ?2, ?3)",
    )?;
    for (account, role) in &c.access {
        access.execute(params![key, account, role.name()])?;
    }
    Ok(())
}

fn delete_rows(conn: &Connection, key: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM registered_channel_lists WHERE channel = ?1")?
        .execute([key])?;
    conn.prepare_cached("DELETE FROM channel_access WHERE channel = ?1")?
        .execute([key])?;
    Ok(())
}

/// [`super::Request::DropChannel`]: the record and its rows.
pub(in crate::store) fn drop_channel(conn: &Connection, name: &str) -> Result<()> {
    let key = fold(name);
    conn.prepare_cached("DELETE FROM registered_channels WHERE channel = ?1")?
        .execute([&key])?;
    delete_rows(conn, &key)
}

/// Every registered channel, by name.
pub(in crate::store) fn load_channels(conn: &Connection) -> Result<Vec<ChannelRecord>> {
    let mut channels: Vec<(String, ChannelRecord)> = conn
        .prepare_cached(
            "SELECT channel, name, founder, registered, last_used, incarnation, history, \
             topic, topic_setter, topic_time, modes, key, user_limit \
             FROM registered_channels ORDER BY channel",
        )?
        .query_map([], |r| {
            let topic: Option<String> = r.get(7)?;
            let setter: Option<String> = r.get(8)?;
            let time: Option<i64> = r.get(9)?;
            let history: String = r.get(6)?;
            Ok((
                r.get(0)?,
                ChannelRecord {
                    name: r.get(1)?,
                    founder: r.get(2)?,
                    registered: r.get(3)?,
                    last_used: r.get(4)?,
                    incarnation: r.get(5)?,
                    history: HistoryScope::parse(&history).unwrap_or_default(),
                    topic: topic.map(|t| (t, setter.unwrap_or_default(), time.unwrap_or(0))),
                    modes: r.get(10)?,
                    key: r.get(11)?,
                    limit: r.get(12)?,
                    lists: Vec::new(),
                    access: Vec::new(),
                },
            ))
        })?
        .collect::<Result<_>>()?;
    let mut lists = conn.prepare_cached(
        "SELECT list, mask, setter, set_at FROM registered_channel_lists \
         WHERE channel = ?1 ORDER BY rowid",
    )?;
    let mut access = conn.prepare_cached(
        "SELECT account_id, role FROM channel_access WHERE channel = ?1 ORDER BY account_id",
    )?;
    for (key, record) in &mut channels {
        record.lists = lists
            .query_map([&*key], |r| {
                let list: String = r.get(0)?;
                Ok(ListEntry {
                    list: list.chars().next().unwrap_or('b'),
                    mask: r.get(1)?,
                    setter: r.get(2)?,
                    time: r.get(3)?,
                })
            })?
            .collect::<Result<_>>()?;
        record.access = access
            .query_map([&*key], |r| {
                let role: String = r.get(1)?;
                Ok((r.get(0)?, AccessRole::parse(&role)))
            })?
            .filter_map(|row| match row {
                Ok((id, Some(role))) => Some(Ok((id, role))),
                Ok((_, None)) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<_>>()?;
    }
    Ok(channels.into_iter().map(|(_, c)| c).collect())
}
