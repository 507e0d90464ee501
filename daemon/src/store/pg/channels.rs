//! Remembered memberships (with what was missed) and registered channels.

use super::{messages, Pg, R};
use crate::store::{
    AccessRole, AccountId, ChannelRecord, HistoryScope, Incarnation, ListEntry, Membership,
};
use chatd_proto::fold;

pub(super) fn join(
    pg: &mut Pg,
    account: AccountId,
    channel: &str,
    incarnation: Incarnation,
    last_id: i64,
) -> R<()> {
    pg.exec(
        "INSERT INTO memberships (account_id, channel, display, incarnation, last_id) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, channel) \
         DO UPDATE SET display = excluded.display, incarnation = excluded.incarnation, \
         last_id = excluded.last_id",
        &[&account, &fold(channel), &channel, &incarnation, &last_id],
    )?;
    Ok(())
}

pub(super) fn part(pg: &mut Pg, account: AccountId, channel: &str) -> R<()> {
    pg.exec(
        "DELETE FROM memberships WHERE account_id = $1 AND channel = $2",
        &[&account, &fold(channel)],
    )?;
    Ok(())
}

pub(super) fn left(pg: &mut Pg, account: AccountId, channels: &[String], last_id: i64) -> R<()> {
    let folded: Vec<String> = channels.iter().map(|c| fold(c)).collect();
    pg.exec(
        "UPDATE memberships SET last_id = $3 WHERE account_id = $1 AND channel = ANY($2)",
        &[&account, &folded, &last_id],
    )?;
    Ok(())
}

/// See `db::fetch_memberships`.
pub(super) fn fetch_memberships(
    pg: &mut Pg,
    account: AccountId,
    missed: usize,
) -> R<Vec<Membership>> {
    let rows = pg.rows(
        "SELECT channel, display, incarnation, last_id FROM memberships \
         WHERE account_id = $1 ORDER BY channel",
        &[&account],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let (folded, display, incarnation, last_id): (String, String, Incarnation, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let bans = if incarnation == 0 {
            Vec::new()
        } else {
            pg.rows(
                "SELECT mask, set_id FROM channel_bans WHERE incarnation = $1 ORDER BY set_id",
                &[&incarnation],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
        };
        let missed = messages::messages_between(
            pg,
            &folded,
            (incarnation, false),
            last_id,
            i64::MAX,
            true,
            missed,
        )?;
        out.push(Membership {
            channel: display,
            incarnation,
            bans,
            missed,
        });
    }
    Ok(out)
}

/// The whole record replaces the stored one.
pub(super) fn save_channel(pg: &mut Pg, c: &ChannelRecord) -> R<()> {
    let key = fold(&c.name);
    let (topic, setter, time) = match &c.topic {
        Some((t, s, at)) => (Some(t.as_str()), Some(s.as_str()), Some(*at)),
        None => (None, None, None),
    };
    pg.exec(
        "INSERT INTO registered_channels (channel, name, founder, registered, last_used, \
         incarnation, history, topic, topic_setter, topic_time, modes, key, user_limit) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (channel) DO UPDATE SET name = excluded.name, \
         founder = excluded.founder, registered = excluded.registered, \
         last_used = excluded.last_used, incarnation = excluded.incarnation, \
         history = excluded.history, topic = excluded.topic, \
         topic_setter = excluded.topic_setter, topic_time = excluded.topic_time, \
         modes = excluded.modes, key = excluded.key, user_limit = excluded.user_limit",
        &[
            &key,
            &c.name,
            &c.founder,
            &c.registered,
            &c.last_used,
            &c.incarnation,
            &c.history.name(),
            &topic,
            &setter,
            &time,
            &c.modes,
            &c.key,
            &c.limit,
        ],
    )?;
    delete_rows(pg, &key)?;
    for e in &c.lists {
        pg.exec(
            "INSERT INTO registered_channel_lists (channel, list, mask, setter, set_at) \
             VALUES ($1, $2, $3, $4, $5)",
            &[&key, &e.list.to_string(), &e.mask, &e.setter, &e.time],
        )?;
    }
    for (account, role) in &c.access {
        pg.exec(
            "INSERT INTO channel_access (channel, account_id, role) VALUES ($1, $2, $3) \
             ON CONFLICT (channel, account_id) DO UPDATE SET role = excluded.role",
            &[&key, account, &role.name()],
        )?;
    }
    Ok(())
}

fn delete_rows(pg: &mut Pg, key: &str) -> R<()> {
    pg.exec(
        "DELETE FROM registered_channel_lists WHERE channel = $1",
        &[&key],
    )?;
    pg.exec("DELETE FROM channel_access WHERE channel = $1", &[&key])?;
    Ok(())
}

pub(super) fn drop_channel(pg: &mut Pg, name: &str) -> R<()> {
    let key = fold(name);
    pg.exec(
        "DELETE FROM registered_channels WHERE channel = $1",
        &[&key],
    )?;
    delete_rows(pg, &key)
}

/// Every registered channel, by name.
pub(super) fn load_channels(pg: &mut Pg) -> R<Vec<ChannelRecord>> {
    let rows = pg.rows(
        "SELECT channel, name, founder, registered, last_used, incarnation, history, \
         topic, topic_setter, topic_time, modes, key, user_limit \
         FROM registered_channels ORDER BY channel",
        &[],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let key: String = r.get(0);
        let topic: Option<String> = r.get(7);
        let setter: Option<String> = r.get(8);
        let time: Option<i64> = r.get(9);
        let history: String = r.get(6);
        let lists = pg
            .rows(
                "SELECT list, mask, setter, set_at FROM registered_channel_lists \
                 WHERE channel = $1 ORDER BY seq",
                &[&key],
            )?
            .iter()
            .map(|l| {
                let list: String = l.get(0);
                ListEntry {
                    list: list.chars().next().unwrap_or('b'),
                    mask: l.get(1),
                    setter: l.get(2),
                    time: l.get(3),
                }
            })
            .collect();
        let access = pg
            .rows(
                "SELECT account_id, role FROM channel_access WHERE channel = $1 \
                 ORDER BY account_id",
                &[&key],
            )?
            .iter()
            .filter_map(|a| {
                let role: String = a.get(1);
                AccessRole::parse(&role).map(|role| (a.get(0), role))
            })
            .collect();
        out.push(ChannelRecord {
            name: r.get(1),
            founder: r.get(2),
            registered: r.get(3),
            last_used: r.get(4),
            incarnation: r.get(5),
            history: HistoryScope::parse(&history).unwrap_or_default(),
            topic: topic.map(|t| (t, setter.unwrap_or_default(), time.unwrap_or(0))),
            modes: r.get(10),
            key: r.get(11),
            limit: r.get(12),
            lists,
            access,
        });
    }
    Ok(out)
}
